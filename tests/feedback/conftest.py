"""The state-store fixtures of tests/sync (SQLite, and PostgreSQL when
CONNECTOR_TEST_POSTGRES_URL is set), for the rejection store's tests; and `replayed`, the
lead keys whose histories the feedback code reads (what a set-based path must avoid)."""

import pytest

from tests.sync.test_state_postgres import pg_server, pg_url, store, target  # noqa: F401


@pytest.fixture
def replayed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The lead keys `app.feedback` reads histories of (`read_leads`), in order."""
    import app.feedback as feedback

    read: list[str] = []
    real = feedback.read_leads

    def counting(state, only=None):
        for lead in real(state, only):
            read.append(lead.key)
            yield lead

    monkeypatch.setattr(feedback, "read_leads", counting)
    return read
