"""The set-based report (`build_report(engine="sql")`, per-lead facts in the state store)
equals the replay report field by field on the sandbox's demo-like data, after a backfill
and again after an incremental run; and the drill-down count equals the report's cell for
every metric."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.kpi_report import build_report, leads_behind
from kpi.export import report_dict
from sync.kpi_store import METRICS, SLA_METRICS
from sync.runner import open_store, run_once
from tests.clock import HISTORY_START, REPORT_START
from tests.e2e.conftest import settings_for, started


@pytest.fixture
def synced(tmp_path: Path):
    sandbox = started(tmp_path)
    try:
        settings = settings_for(sandbox, tmp_path)
        run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
        run_once(settings, kind="sync", clock=sandbox.clock)
        yield sandbox, settings
    finally:
        sandbox.stop()


def both(settings, **kwargs):
    return (
        report_dict(build_report(settings, engine="sql", **kwargs)),
        report_dict(build_report(settings, engine="replay", **kwargs)),
    )


def test_given_the_demo_data_the_sql_report_equals_the_replay_report(synced) -> None:
    sandbox, settings = synced
    until = sandbox.clock()
    for kwargs in (
        {"since": REPORT_START},
        {"since": HISTORY_START, "period": "week"},
        {"since": REPORT_START, "segment": "industry=manufacturing"},
        {"since": REPORT_START, "segment": "channel=PAID_SEARCH", "period": "week"},
    ):
        sql, replay = both(settings, until=until, **kwargs)
        assert sql["totals"]["new_leads"] > 0 or kwargs.get("segment")
        assert sql == replay, kwargs


def test_given_a_report_before_the_facts_moment_the_facts_are_rebuilt_and_still_equal(
    synced,
) -> None:
    sandbox, settings = synced
    until = sandbox.clock()
    build_report(settings, until=until, since=REPORT_START)
    earlier = until - (until - REPORT_START) / 3
    sql, replay = both(settings, until=earlier, since=HISTORY_START)
    assert sql == replay


def test_given_an_owner_the_sql_report_counts_only_that_owners_leads(synced) -> None:
    sandbox, settings = synced
    until = sandbox.clock()
    with open_store(settings, create=False) as store:
        owners = [r[0] for r in store._db.execute(
            "SELECT owner_id FROM links WHERE owner_id IS NOT NULL GROUP BY owner_id")]
    assert owners
    sql, replay = both(settings, until=until, since=REPORT_START, owner=owners[0])
    assert sql == replay
    everyone = report_dict(build_report(settings, until=until, since=REPORT_START))
    assert sql["totals"]["new_leads"] < everyone["totals"]["new_leads"]


def cell(report: dict, metric: str, label: str | None) -> int:
    if metric in SLA_METRICS:
        return sum(r[f"breaches_{state}"] for r in report["speed_to_lead"]
                   for state in SLA_METRICS[metric])
    row = report["totals"] if label is None else next(
        p for p in report["periods"] if p["label"] == label)
    return row[metric]


def test_given_any_cell_the_drill_down_count_equals_the_report_number(synced) -> None:
    sandbox, settings = synced
    until = sandbox.clock()
    for segment in (None, "industry=manufacturing"):
        report = report_dict(
            build_report(settings, until=until, since=REPORT_START, segment=segment)
        )
        labels = [None, *(p["label"] for p in report["periods"])]
        nonzero = 0
        for metric in METRICS:
            for label in labels if metric not in SLA_METRICS else [None]:
                count, lines = leads_behind(
                    settings, until=until, since=REPORT_START, metric=metric,
                    period_label=label, segment=segment, limit=5,
                )
                assert count == cell(report, metric, label), (metric, label, segment)
                assert len(lines) == min(len(set(line.key for line in lines)), 5)
                nonzero += count > 0
        assert nonzero > 5


def test_given_the_reports_end_moves_later_the_kept_facts_still_equal_the_replay(synced) -> None:
    """Facts kept while they hold (`valid_until`), replayed once they may not: equal to the
    replay at several later ends, just before and just after one lead's computed flip."""
    from datetime import timedelta

    from sync.kpi_store import from_micros, micros

    sandbox, settings = synced
    until = sandbox.clock()
    build_report(settings, until=until, since=REPORT_START)
    with open_store(settings, create=False) as store:
        key, valid = store._db.execute(
            "SELECT lead_key, valid_until FROM kpi_facts WHERE valid_until > ? "
            "ORDER BY valid_until LIMIT 1", (micros(until + timedelta(hours=1)),)).fetchone()
        total = store.kpi.fact_count()
        moving = len(store.kpi.expired_keys(micros(until + timedelta(hours=1)) or 0))
    assert moving < total  # an hour later, most leads' facts still hold
    flip = from_micros(valid)
    assert flip is not None
    for later in (until + timedelta(hours=1), flip, flip + timedelta(seconds=2),
                  until + timedelta(days=10)):
        sql, replay = both(settings, until=later, since=REPORT_START)
        assert sql == replay, later
        with open_store(settings, create=False) as store:
            at = store._db.execute(
                "SELECT facts_at FROM kpi_facts WHERE lead_key = ?", (key,)).fetchone()[0]
        if later == flip:
            assert at == micros(until)
        if later == flip + timedelta(seconds=2):
            assert at == micros(later)


def test_given_report_owner_and_engine_options_the_command_filters_and_both_engines_agree(
    synced, tmp_path: Path
) -> None:
    import json

    from click.testing import CliRunner

    from cli import main

    sandbox, settings = synced
    with open_store(settings, create=False) as store:
        owner = store._db.execute(
            "SELECT owner_id FROM links WHERE owner_id IS NOT NULL LIMIT 1").fetchone()[0]
    assert len(owner) == 18
    config = str(tmp_path / "connector.toml")
    until = sandbox.clock().date().isoformat()

    def run(*args: str):
        return CliRunner().invoke(main, ["--config", config, "report", "--json", "--until",
                                         until, "--since", REPORT_START.date().isoformat(),
                                         *args])

    sql = run("--owner", owner)
    assert sql.exit_code == 0, sql.output
    replay = run("--owner", owner, "--engine", "replay")
    short = run("--owner", owner[:15])  # the 15-character id of a record's URL
    everyone = run()
    assert json.loads(sql.stdout) == json.loads(replay.stdout) == json.loads(short.stdout)
    assert 0 < json.loads(sql.stdout)["totals"]["new_leads"] < json.loads(
        everyone.stdout)["totals"]["new_leads"]
    bad = CliRunner().invoke(main, ["--config", config, "report", "--owner", "bob; drop"])
    assert bad.exit_code == 2 and "--owner" in bad.output and "Traceback" not in bad.output
    assert "--engine" not in CliRunner().invoke(main, ["report", "--help"]).output
