"""A full rebuild of the KPI facts commits every batch of leads on its own: a sync's write
waits at most about one batch, and a rebuild that crashes resumes after its cursor."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import app.kpi_report as kpi_report
import sync.kpi_store as kpi_store
from app.kpi_report import build_report
from bench.report_data import generate
from core.config import Settings, StateSettings, SyncSettings
from kpi.export import report_dict
from sync.state import StateStore

ROOT = Path(__file__).resolve().parents[2]
UNTIL = datetime(2026, 11, 20, 9, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=400)


def settings_at(path: Path) -> Settings:
    return Settings.model_construct(
        state=StateSettings(path=str(path)),
        sync=SyncSettings(mappings_dir=str(ROOT / "mappings")),
    )


def test_given_a_rebuild_that_crashes_the_next_report_resumes_after_the_cursor(
    tmp_path, monkeypatch
) -> None:
    generate(tmp_path / "state.db", 500, until=UNTIL).close()
    settings = settings_at(tmp_path / "state.db")
    monkeypatch.setattr(kpi_store, "BATCH", 100)
    real = kpi_report.lead_facts_valid
    calls: list[str] = []
    crashed: list[bool] = []

    def crashing(history, *args, **kwargs):
        calls.append(history.key)
        if len(calls) == 260 and not crashed:
            crashed.append(True)
            raise RuntimeError("killed")
        return real(history, *args, **kwargs)

    monkeypatch.setattr(kpi_report, "lead_facts_valid", crashing)
    with pytest.raises(RuntimeError):
        build_report(settings, until=UNTIL, since=SINCE)
    store = StateStore(tmp_path / "state.db", clock=lambda: UNTIL)
    unfinished = store.kpi.rebuild_state()
    kept = store.kpi.fact_count()
    store.close()
    assert unfinished is not None and unfinished[1] == max(calls[:200])
    assert 150 <= kept <= 200  # two batches of leads committed (less the undatable ones)
    calls.clear()
    sql = report_dict(build_report(settings, until=UNTIL, since=SINCE))
    assert calls and min(calls) > unfinished[1]  # only the leads after the cursor
    assert sql == report_dict(build_report(settings, until=UNTIL, since=SINCE, engine="replay"))


def test_given_a_running_rebuild_a_concurrent_write_waits_at_most_about_one_batch(
    tmp_path, monkeypatch
) -> None:
    generate(tmp_path / "state.db", 800, until=UNTIL).close()
    settings = settings_at(tmp_path / "state.db")
    monkeypatch.setattr(kpi_store, "BATCH", 50)
    done = threading.Event()
    began = time.monotonic()

    def rebuild() -> None:
        try:
            build_report(settings, until=UNTIL, since=SINCE)
        finally:
            done.set()

    worker = threading.Thread(target=rebuild)
    worker.start()
    writer = StateStore(tmp_path / "state.db", clock=lambda: UNTIL)
    waits = []
    try:
        while not done.is_set():
            started = time.monotonic()
            with writer._db.transaction() as db:  # as a sync marking processed leads
                writer.kpi.mark(db, [f"e:sync{len(waits)}@example.jp"])
            waits.append(time.monotonic() - started)
            time.sleep(0.02)
    finally:
        worker.join()
        writer.close()
    total = time.monotonic() - began
    assert len(waits) > 10 and total > 1.0
    assert max(waits) < total / 5, (max(waits), total)  # ~16 batches; never the whole rebuild
