"""The DuckDB copy of the KPI facts kept on disk between `connector report` runs
(`sync.kpi_mirror`, `mirror_for(store, keep=True)`): a later process applies only the
changes since the last run and answers what the store answers; an erasure deletes the file
at once and the next copy is a new file without the person; a copy another process holds,
a damaged file or a copy cut short before its meta was written are never read as they are.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.kpi_report import build_report
from bench.report_data import generate
from core.config import Settings, StateSettings, SyncSettings
from kpi.export import report_dict
from sync.kpi_mirror import copy_path, drop_mirrors, mirror_for
from sync.state import StateStore

duckdb = pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parents[2]
UNTIL = datetime(2026, 11, 20, 9, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=400)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    generate(path, 400, until=UNTIL).close()
    yield path
    drop_mirrors()


def settings_at(path: Path) -> Settings:
    return Settings.model_construct(
        state=StateSettings(path=str(path)),
        sync=SyncSettings(mappings_dir=str(ROOT / "mappings")),
    )


def kept_report(path: Path) -> tuple[dict, dict]:
    """The report as `connector report` builds it in a new process (the process's copies
    are dropped first: what is reused is the file), and how the copy was brought up to
    date."""
    drop_mirrors()
    report = report_dict(build_report(settings_at(path), until=UNTIL, since=SINCE,
                                      keep_copy=True))
    store = StateStore(path, clock=lambda: UNTIL)
    try:
        return report, mirror_for(store, keep=True).last_refresh
    finally:
        store.close()


def store_report(path: Path) -> dict:
    return report_dict(build_report(settings_at(path), until=UNTIL, since=SINCE,
                                    engine="store"))


def add_activities(path: Path, count: int) -> list[str]:
    store = StateStore(path, clock=lambda: UNTIL)
    keys = [r[0] for r in store._db.execute(
        "SELECT email FROM contacts ORDER BY email DESC LIMIT ?", (count,))]
    with store._db.transaction() as db:  # a run stored new activities and processed them
        db.executemany(
            "INSERT INTO activities VALUES (?, 'webinar_attended', ?, NULL, ?, '{}')",
            [(f"new:{k}", (UNTIL - timedelta(days=3)).isoformat(), k) for k in keys],
        )
    store.clear_dirty([f"e:{k}" for k in keys])
    store.close()
    return keys


def test_given_a_kept_copy_the_next_run_applies_only_the_changes(state) -> None:
    first, how = kept_report(state)
    assert how["mode"] == "full"
    kept = copy_path(state)
    assert kept.exists() and stat.S_IMODE(kept.stat().st_mode) == 0o600
    add_activities(state, 3)
    second, how = kept_report(state)
    assert how == {"mode": "delta", "leads": 3}
    assert second == store_report(state)
    assert second["totals"]["engagement"] != first["totals"]["engagement"]


def test_given_an_erasure_the_copy_file_is_deleted_and_the_next_one_lacks_the_person(
    state,
) -> None:
    kept_report(state)
    store = StateStore(state, clock=lambda: UNTIL)
    email, hubspot_id = store._db.execute(
        "SELECT email, hubspot_id FROM contacts ORDER BY email LIMIT 1").fetchone()
    assert copied_rows(store, email) > 0
    drop_mirrors()  # the report process ended
    kept = copy_path(state)
    assert kept.exists()
    store.erasure.erase([hubspot_id], [email])
    assert not kept.exists() and not kept.with_name(kept.name + ".wal").exists()  # at once
    store.close()
    report, how = kept_report(state)
    assert how["mode"] == "full"  # a new file
    assert report == store_report(state)
    store = StateStore(state, clock=lambda: UNTIL)
    assert copied_rows(store, email) == 0
    store.close()


def copied_rows(store: StateStore, email: str) -> int:
    """The person's rows in the process's copy (DuckDB compresses text on disk: the file's
    raw bytes do not show an address, so it is asked)."""
    con = mirror_for(store, keep=True)._con
    return sum(
        con.execute(f"SELECT count(*) FROM {table} WHERE lead_key = ?", [email]).fetchone()[0]
        for table in ("kpi_facts", "kpi_segments", "kpi_engagement", "tasks")
    )


def test_given_a_copy_held_by_another_process_the_run_uses_memory(state) -> None:
    kept_report(state)
    drop_mirrors()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
         " time.sleep(60)", str(copy_path(state))],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        add_activities(state, 2)
        store = StateStore(state, clock=lambda: UNTIL)
        mirror = mirror_for(store, keep=True)
        store.close()
        assert not mirror.on_disk
        report = report_dict(build_report(settings_at(state), until=UNTIL, since=SINCE,
                                          keep_copy=True))
        assert report == store_report(state)
    finally:
        holder.kill()
        holder.wait()
    assert copy_path(state).exists()  # another process's copy is left alone


@pytest.mark.parametrize("damage", ["garbage", "no meta"])
def test_given_a_damaged_or_unfinished_copy_it_is_loaded_again(state, damage) -> None:
    kept = copy_path(state)
    if damage == "garbage":
        kept.write_bytes(os.urandom(9000))
    else:  # a load cut short: tables, no meta
        kept_report(state)
        drop_mirrors()
        con = duckdb.connect(str(kept))
        con.execute("DELETE FROM copy_meta")
        con.close()
    report, how = kept_report(state)
    assert how["mode"] == "full"
    assert report == store_report(state)
    store = StateStore(state, clock=lambda: UNTIL)
    assert mirror_for(store, keep=True).on_disk
    store.close()


@pytest.mark.parametrize("child", ["works", "fails"])
def test_given_a_big_store_the_engagement_is_read_by_a_second_process(
    state, monkeypatch, tmp_path, child
) -> None:
    """(`PARALLEL_FROM` lowered: the generated store is small.) A second process that fails
    leaves the rows to this one, and the report is the same."""
    from sync import csv_dump, kpi_mirror

    monkeypatch.setattr(kpi_mirror, "PARALLEL_FROM", 0)
    if child == "fails":
        broken = tmp_path / "broken.py"
        broken.write_text("import sys\nsys.exit('no such table: kpi_engagement')\n")
        monkeypatch.setattr(csv_dump, "__file__", str(broken))
    report, how = kept_report(state)
    assert how["mode"] == "full"
    store = StateStore(state, clock=lambda: UNTIL)
    assert mirror_for(store, keep=True).engagement_aside is (child == "works")
    store.close()
    assert report == store_report(state)
    assert report["totals"]["engagement"]["delivered"] > 0


def test_given_a_folder_the_copy_cannot_be_written_to_the_run_uses_memory(
    state, monkeypatch
) -> None:
    from sync import kpi_mirror

    real = kpi_mirror.duckdb_connect

    def refused(path):
        if path is not None:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(kpi_mirror, "duckdb_connect", refused)
    report, how = kept_report(state)
    assert how["mode"] == "full" and report == store_report(state)
    store = StateStore(state, clock=lambda: UNTIL)
    assert not mirror_for(store, keep=True).on_disk
    store.close()
    assert not copy_path(state).exists()
