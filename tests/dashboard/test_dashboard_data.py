"""The dashboard's reads (`app.dashboard_data`) go through the set-based report: once the
stored KPI facts are current, neither an owner-filtered report nor a drill-down replays a
lead; the owner filter equals the replay engine's (the lead's current Salesforce owner); a
drill-down lists one line per counted moment, in the order of those moments. On a generated
history (bench/report_data.py), in SQLite and, with CONNECTOR_TEST_POSTGRES_URL, PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.dashboard_data import FUNNEL_METRICS, SLA_METRICS, Filters, leads_for, report_for
from app.kpi_report import build_report
from bench.report_data import generate
from core.config import Settings, StateSettings, SyncSettings
from kpi.export import report_dict
from sync.runner import open_store

ROOT = Path(__file__).resolve().parents[2]
UNTIL = datetime(2026, 11, 20, 9, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=400)
REASSIGNED_TO = "005REASSIGNED0001"  # an owner only `sf_owners` knows (sales reassigned)
TABLES = ("companies", "contacts", "activities", "mql_state", "tasks", "links")


def _settings(path: Path, url: str | None = None) -> Settings:
    from pydantic import SecretStr

    return Settings.model_construct(
        state=StateSettings(path=str(path), url=SecretStr(url) if url else None),
        sync=SyncSettings(mappings_dir=str(ROOT / "mappings")),
    )


def _prepare(settings: Settings) -> None:
    """Sales reassigned the three most recently created linked leads in Salesforce (the
    outcome pull read it into `sf_owners`; the links still hold the owner at link time); one
    of them got a second MQL follow-up Task; hand-offs derived from the MQL decisions (never
    touched: breaches)."""
    with open_store(settings, create=False) as store:
        linked = [tuple(r) for r in store._db.execute(
            "SELECT l.lead_key, l.record_id FROM links l JOIN contacts c ON c.email = l.lead_key "
            "ORDER BY c.updated_at DESC LIMIT 3")]
        key = linked[0][0]
        task = store._db.execute(
            "SELECT created_at FROM tasks WHERE lead_key = ?", (key,)).fetchone()[0]
        second = (datetime.fromisoformat(task) + timedelta(days=1)).isoformat(timespec="seconds")
        with store._db.transaction() as db:
            db.executemany("INSERT INTO sf_owners VALUES (?, ?, ?)",
                           [(record, REASSIGNED_TO, UNTIL.isoformat()) for _, record in linked])
            db.execute("INSERT INTO tasks VALUES (?, ?, 'open', '{}', 'T2', ?, ?)",
                       (f"mql:{key}:2", key, second, second))
        store.touches.refresh()


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, tmp_path: Path) -> Iterator[Settings]:
    source = generate(tmp_path / "state.db", 500, until=UNTIL)
    if request.param == "sqlite":
        source.close()
        found = _settings(tmp_path / "state.db")
        _prepare(found)
        yield found
        return
    url = os.environ.get("CONNECTOR_TEST_POSTGRES_URL")
    if not url:
        source.close()
        pytest.skip("no PostgreSQL (CONNECTOR_TEST_POSTGRES_URL)")
    import uuid

    import psycopg

    from sync.db import PostgresTarget
    from sync.state import StateStore

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        scoped = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
        from pydantic import SecretStr

        target = StateStore(PostgresTarget(url=SecretStr(scoped)), clock=lambda: UNTIL)
        for table in TABLES:
            rows = [tuple(r) for r in source._db.execute(f"SELECT * FROM {table}")]
            with target._db.transaction() as db:
                db.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})",
                               rows)
        source.close()
        target.close()
        found = _settings(tmp_path / "unused.db", scoped)
        _prepare(found)
        yield found
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _no_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    import scoring.simulate

    def refuse(*args, **kwargs):
        raise AssertionError("a lead was replayed")

    monkeypatch.setattr(scoring.simulate, "replay_lead", refuse)


def test_given_current_facts_the_drill_down_and_the_owner_report_replay_no_lead(
    settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    everyone = Filters(until=UNTIL, since=SINCE)
    data = report_dict(report_for(settings, everyone))  # the facts are current from here on
    _no_replay(monkeypatch)
    owned = report_dict(report_for(settings, Filters(until=UNTIL, since=SINCE,
                                                     owner=REASSIGNED_TO)))
    assert owned["totals"]["new_leads"] == 3
    cells = {**data["totals"], **{m: sum(r[f"breaches_{s}"] for r in data["speed_to_lead"]
                                         for s in states) for m, states in SLA_METRICS.items()}}
    for metric in (*FUNNEL_METRICS, *SLA_METRICS):
        count, lines = leads_for(settings, everyone, metric, None, limit=5, explain=False)
        assert count == cells[metric] and len(lines) == min(count, 5), metric
    assert all(cells[m] > 0 for m in ("new_leads", "mqls", "handoffs", "sla_breaches"))
    dimension, rows = next(iter(data["segments"].items()))
    count, lines = leads_for(settings, everyone, "new_leads", None, limit=3,
                             cell_segment=f"{dimension}={rows[0]['label']}")
    assert count == rows[0]["new_leads"] and all(line.explanation for line in lines)


def test_given_an_owner_the_dashboard_report_equals_the_replay_engines_owner_filter(
    settings: Settings,
) -> None:
    with open_store(settings, create=False) as store:
        linked_owner = store._db.execute(
            "SELECT owner_id FROM links GROUP BY owner_id ORDER BY count(*) DESC").fetchone()[0]
    everyone = report_dict(report_for(settings, Filters(until=UNTIL, since=SINCE)))
    for owner in (linked_owner, REASSIGNED_TO):
        shown = report_dict(report_for(settings, Filters(until=UNTIL, since=SINCE,
                                                         owner=owner)))
        replay = report_dict(build_report(settings, until=UNTIL, since=SINCE, owner=owner,
                                          engine="replay"))
        assert shown == replay, owner
        assert 0 < shown["totals"]["new_leads"] < everyone["totals"]["new_leads"]
    count, lines = leads_for(settings, Filters(until=UNTIL, since=SINCE, owner=REASSIGNED_TO),
                             "new_leads", None, explain=False)
    assert count == 3 and {line.owner_id for line in lines} == {REASSIGNED_TO}


def test_given_a_lead_with_two_hand_offs_the_drill_down_lists_each_at_its_moment(
    settings: Settings,
) -> None:
    filters = Filters(until=UNTIL, since=SINCE)
    data = report_dict(report_for(settings, filters))
    count, lines = leads_for(settings, filters, "handoffs", None, limit=100_000, explain=False)
    assert count == len(lines) == data["totals"]["handoffs"]
    moments = [(line.at, line.key) for line in lines]
    assert moments == sorted(moments) and all(line.at is not None for line in lines)
    twice = [line for line in lines if lines.count(line) == 1 and
             sum(other.key == line.key for other in lines) == 2]
    assert len(twice) == 2 and twice[0].at != twice[1].at
    for row in data["periods"]:
        count, _ = leads_for(settings, filters, "handoffs", row["label"], limit=1,
                             explain=False)
        assert count == row["handoffs"], row["label"]
