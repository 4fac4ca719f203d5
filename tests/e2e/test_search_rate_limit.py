"""HubSpot's search limit against the sandbox at tier pro: back-to-back runs stay under it on
their own, and the 429s another app causes are counted in the run summary and `status`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.texts import format_status
from sandbox.httpbase import FaultPlan
from sandbox.serve import Sandbox
from sync.factory import previous_searches
from sync.runner import read_status, run_once
from tests.e2e.conftest import settings_for, started
from tests.e2e.test_sync_end_to_end import SINCE


def _answered_429(sandbox: Sandbox, *, search: bool) -> int:
    calls: list[dict[str, Any]] = sandbox.hubspot.app.stats.snapshot()["calls"]
    return sum(
        c["count"]
        for c in calls
        if c["status"] == 429 and c["route"].rstrip("/").endswith("/search") == search
    )


def test_given_back_to_back_idle_incremental_runs_at_pro_no_search_answers_429(
    tmp_path: Path,
) -> None:
    sandbox = started(tmp_path, tier="pro")
    try:
        settings = settings_for(sandbox, tmp_path)
        run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
        summaries = [run_once(settings, kind="sync", clock=sandbox.clock) for _ in range(4)]
        assert _answered_429(sandbox, search=True) == 0
        assert [s.hubspot_429_search for s in summaries] == [0, 0, 0, 0]
        assert all(s.hubspot_recent_searches for s in summaries)  # each run searched
    finally:
        sandbox.stop()


def test_given_injected_429s_the_run_summary_and_status_count_them(tmp_path: Path) -> None:
    sandbox = started(tmp_path, tier="pro")
    try:
        settings = settings_for(sandbox, tmp_path)
        run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
        sandbox.hubspot.app.faults = FaultPlan.parse("429=0.25,seed=3")  # another app's use
        summary = run_once(settings, kind="sync", clock=sandbox.clock)
        injected = _answered_429(sandbox, search=True), _answered_429(sandbox, search=False)
        assert sum(injected) > 0
        assert (summary.hubspot_429_search, summary.hubspot_429_burst) == injected
        status = read_status(settings)
        last = status["runs"][0]["summary"]
        assert (last["hubspot_429_search"], last["hubspot_429_burst"]) == injected
        assert f"HubSpot 429s search {injected[0]} / burst {injected[1]}" in format_status(
            status, language="en", zone="UTC")
    finally:
        sandbox.stop()


def test_given_the_last_run_stopped_without_a_summary_its_end_counts_as_a_full_second() -> None:
    runs = [
        {"id": 3, "finished_at": None, "summary": None},  # the run starting now
        {"id": 2, "finished_at": "2026-12-07T10:00:05+00:00", "summary": {"error": "x"}},
        {
            "id": 1,
            "finished_at": "2026-12-07T10:00:00+00:00",
            "summary": {"hubspot_recent_searches": [1.5]},
        },
    ]
    end = 1_796_637_605.0 + 1.0  # finished_at is to the second: searched before its next one
    assert previous_searches(runs, 5) == [end] * 5
    assert previous_searches(runs[::2], 5) == [1.5]
    assert previous_searches([], 5) == []
