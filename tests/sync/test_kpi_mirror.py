"""The DuckDB copy of the KPI facts (`sync.kpi_mirror`): the report it answers equals the
report aggregated on the store itself, after a full load and after each delta (changed
leads, new hand-off Tasks), and it reloads in full when the facts were rebuilt or the change
log was pruned past it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.kpi_report import build_report
from bench.report_data import generate
from core.config import Settings, StateSettings, SyncSettings
from kpi.export import report_dict
from sync.kpi_mirror import mirror_for
from sync.state import StateStore

pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parents[2]
UNTIL = datetime(2026, 11, 20, 9, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=400)
OWNER = "005OWNER0000003"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    generate(path, 500, until=UNTIL).close()
    return path


def settings_at(path: Path) -> Settings:
    return Settings.model_construct(
        state=StateSettings(path=str(path)),
        sync=SyncSettings(mappings_dir=str(ROOT / "mappings")),
    )


def assert_mirror_equals_store(path: Path, **kwargs) -> dict:
    settings = settings_at(path)
    mirrored = report_dict(build_report(settings, until=UNTIL, since=SINCE, **kwargs))
    stored = report_dict(build_report(settings, until=UNTIL, since=SINCE, engine="store", **kwargs))
    assert mirrored == stored, kwargs
    return mirrored


def last_refresh(path: Path) -> dict:
    store = StateStore(path, clock=lambda: UNTIL)
    try:
        return mirror_for(store).last_refresh
    finally:
        store.close()


def test_given_changed_leads_the_mirror_applies_only_them_and_equals_the_store(state) -> None:
    first = assert_mirror_equals_store(state)
    assert last_refresh(state)["mode"] == "full"
    assert first["totals"]["new_leads"] > 200 and first["totals"]["handoffs"] > 0
    store = StateStore(state, clock=lambda: UNTIL)
    keys = [r[0] for r in store._db.execute(
        "SELECT email FROM contacts WHERE email NOT IN (SELECT lead_key FROM mql_state) "
        "ORDER BY email LIMIT 5")]
    with store._db.transaction() as db:  # a run stored new activities and processed them
        db.executemany(
            "INSERT INTO activities VALUES (?, 'webinar_attended', ?, NULL, ?, '{}')",
            [(f"new:{k}:{n}", (UNTIL - timedelta(days=n + 1)).isoformat(), k)
             for k in keys for n in range(4)],
        )
    store.clear_dirty([f"e:{k}" for k in keys])
    store.close()
    second = assert_mirror_equals_store(state)
    assert last_refresh(state) == {"mode": "delta", "leads": 5}
    assert second["totals"]["engagement"] != first["totals"]["engagement"]


@pytest.mark.parametrize(
    "filters",
    [{"period": "week"}, {"segment": "size=enterprise"}, {"segment": "channel=PAID_SEARCH"},
     {"owner": OWNER}, {"owner": OWNER, "period": "week", "segment": "channel=PAID_SEARCH"}],
)
def test_given_filters_the_mirror_equals_the_store(state, filters) -> None:
    report = assert_mirror_equals_store(state, **filters)
    assert report["totals"]["new_leads"] > 0


def test_given_a_new_handoff_task_the_mirror_counts_it(state) -> None:
    first = assert_mirror_equals_store(state)
    store = StateStore(state, clock=lambda: UNTIL)
    key = store._db.execute(
        "SELECT email FROM contacts WHERE email NOT IN (SELECT lead_key FROM tasks) "
        "ORDER BY email LIMIT 1").fetchone()[0]
    stamp = (UNTIL - timedelta(days=2)).isoformat(timespec="seconds")
    with store._db.transaction() as db:
        db.execute("INSERT INTO tasks VALUES (?, ?, 'done', '{}', 'T1', ?, ?)",
                   (f"mql:{key}:1", key, stamp, stamp))
    store.close()
    second = assert_mirror_equals_store(state)
    assert second["totals"]["handoffs"] == first["totals"]["handoffs"] + 1


def test_given_a_rebuild_or_a_pruned_log_the_mirror_reloads_in_full(state) -> None:
    assert_mirror_equals_store(state)
    store = StateStore(state, clock=lambda: UNTIL)
    mirror = mirror_for(store)
    mirror.refresh(store)
    assert mirror.last_refresh == {"mode": "delta", "leads": 0}
    with store._db.transaction() as db:  # the log was pruned past the copy's position
        db.execute("INSERT INTO kpi_meta VALUES ('changes_floor', '999999999')")
    mirror.refresh(store)
    assert mirror.last_refresh["mode"] == "full"
    with store._db.transaction() as db:
        db.execute("DELETE FROM kpi_meta WHERE name = 'changes_floor'")
    meta = store.kpi.meta()
    store.kpi.write_facts(iter(()), keys=None, meta=meta)  # a rebuild that found no lead
    mirror.refresh(store)
    assert mirror.last_refresh == {"mode": "full", "leads": 0}
    store.close()


def copied(mirror, key: str) -> int:
    return sum(
        mirror._con.execute(f"SELECT count(*) FROM {t} WHERE lead_key = ?", [key]).fetchone()[0]
        for t in ("kpi_facts", "kpi_segments")
    )


def test_given_an_erasure_a_loaded_copy_reloads_without_the_person(state) -> None:
    assert_mirror_equals_store(state)  # the dashboard's copy, loaded in this process
    store = StateStore(state, clock=lambda: UNTIL)
    mirror = mirror_for(store)
    email, hubspot_id = store._db.execute(  # not the last change: a delta would miss it
        "SELECT email, hubspot_id FROM contacts ORDER BY email LIMIT 1").fetchone()
    assert copied(mirror, email) > 0
    store.erasure.erase([hubspot_id], [email])
    mirror.refresh(store)
    assert mirror.last_refresh["mode"] == "full"
    assert copied(mirror, email) == 0
    store.close()
    assert_mirror_equals_store(state)


def test_given_a_merge_the_copy_drops_the_merged_lead_by_a_delta(state) -> None:
    assert_mirror_equals_store(state)
    store = StateStore(state, clock=lambda: UNTIL)
    mirror = mirror_for(store)
    (old, old_id), (_, new_id) = store._db.execute(
        "SELECT email, hubspot_id FROM contacts ORDER BY email LIMIT 2").fetchall()
    store.erasure.merge_into(old_id, new_id)
    mirror.refresh(store)
    assert mirror.last_refresh == {"mode": "delta", "leads": 1}
    assert copied(mirror, old) == 0
    store.close()
    assert_mirror_equals_store(state)
