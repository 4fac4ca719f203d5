"""The report's rejection table read set-based (`app.feedback.decisive_found`: the facts'
verdicts, the stored MQL bases) equals the replay path (`collect(..., decisive_only=True)`)
on a generated history (bench/report_data.py), replaying no lead when every basis is stored,
and only the leads whose basis is missing, of another moment, or whose facts are stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import app.feedback as feedback
from app.kpi_report import build_report
from bench.report_data import generate
from core.config import Settings, StateSettings, SyncSettings
from sync.state import StateStore

ROOT = Path(__file__).resolve().parents[2]
UNTIL = datetime(2026, 11, 20, 9, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=400)


@pytest.fixture
def history(tmp_path: Path) -> Settings:
    generate(tmp_path / "state.db", 900, until=UNTIL).close()
    settings = Settings.model_construct(
        state=StateSettings(path=str(tmp_path / "state.db")),
        sync=SyncSettings(mappings_dir=str(ROOT / "mappings")),
    )
    build_report(settings, until=UNTIL, since=SINCE, engine="store")  # the facts, refreshed
    return settings


def reference(settings: Settings) -> list[dict]:
    return feedback.rejection_rows(
        feedback.collect(settings, SINCE, UNTIL, decisive_only=True)[3]
    )


def set_based(settings: Settings) -> list[dict]:
    return feedback.rejection_rows(feedback.decisive_found(settings, SINCE, UNTIL))


def edit(settings: Settings, sql: str, params: tuple = ()) -> None:
    store = StateStore(Path(settings.state.path), clock=lambda: UNTIL)
    try:
        with store.transaction() as db:
            db.execute(sql, params)
    finally:
        store.close()


def a_rejected_lead(settings: Settings) -> str:
    store = StateStore(Path(settings.state.path), clock=lambda: UNTIL)
    try:
        return store._db.execute(
            "SELECT lead_key FROM kpi_facts WHERE verdict = 'rejected' ORDER BY lead_key"
        ).fetchone()[0]
    finally:
        store.close()


def test_given_every_basis_stored_the_table_equals_the_replay_and_replays_no_lead(
    history: Settings, replayed: list[str]
) -> None:
    rows = set_based(history)
    assert replayed == []
    assert rows == reference(history)
    assert sum(r["rejected"] for r in rows if r["kind"] == "rule") > 0
    assert any(r["accepted"] for r in rows)


def test_given_a_lead_without_a_basis_only_it_is_replayed_and_it_still_counts(
    history: Settings, replayed: list[str]
) -> None:
    key = a_rejected_lead(history)
    before = set_based(history)
    edit(history, "DELETE FROM mql_basis WHERE lead_key = ?", (key,))
    after = set_based(history)
    assert set(replayed) == {key}
    assert after == before == reference(history)


def test_given_a_basis_of_another_moment_than_the_state_the_lead_is_replayed(
    history: Settings, replayed: list[str]
) -> None:
    key = a_rejected_lead(history)
    edit(history, "UPDATE mql_basis SET since = '2020-01-01T00:00:00+00:00', rules = '[\"x\"]' "
                  "WHERE lead_key = ?", (key,))
    rows = set_based(history)
    assert set(replayed) == {key}
    assert rows == reference(history) and not any(r["name"] == "x" for r in rows)


def test_given_a_lead_whose_outcome_changed_since_the_facts_its_stored_verdict_is_not_trusted(
    history: Settings, replayed: list[str]
) -> None:
    key = a_rejected_lead(history)
    # sales took the lead back (a status that is no verdict); the pull marked it dirty
    edit(history, "UPDATE sf_records SET status = 'Open - Not Contacted' WHERE email = ?", (key,))
    edit(history, "INSERT INTO dirty VALUES (?, '2026-11-20T09:00:00+00:00')", (f"e:{key}",))
    rows = set_based(history)
    assert key not in replayed  # no verdict any more: not read at all
    assert rows == reference(history)


def test_given_no_facts_yet_the_table_takes_the_replay_path(
    tmp_path: Path, replayed: list[str]
) -> None:
    generate(tmp_path / "state.db", 300, until=UNTIL).close()
    settings = Settings.model_construct(
        state=StateSettings(path=str(tmp_path / "state.db")),
        sync=SyncSettings(mappings_dir=str(ROOT / "mappings")),
    )
    rows = set_based(settings)
    assert replayed and rows == reference(settings)
