"""The state-store fixtures of tests/sync (SQLite, and PostgreSQL when
CONNECTOR_TEST_POSTGRES_URL is set), for the rejection store's tests."""

from tests.sync.test_state_postgres import pg_server, pg_url, store, target  # noqa: F401
