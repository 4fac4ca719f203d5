"""Issue #18 with the KPI report (issue #16): an archived, merged-away or erased contact
counts nowhere in the report, as HubSpot's own reports leave deleted records out (the
report's `deletions` table counts them); both engines (SQL facts and replay) agree after each
change, and a restore brings the lead back. Retention: a prune marks the facts it changes, so
the engines still agree, and the report says its earlier periods count only what is kept."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import requests
from click.testing import CliRunner

import cli
from app.kpi_report import build_report
from kpi.export import report_dict
from sandbox.serve import Sandbox
from scoring import load_rules
from scoring.retention import minimum_retention_days
from sync.runner import mappings_dir, open_store, run_once
from tests.clock import HISTORY_START


def _report(settings: Any, sandbox: Sandbox, *engine: str) -> dict[str, Any]:
    until = (sandbox.clock() + timedelta(days=1)).date().isoformat()
    result = CliRunner().invoke(cli.main, [
        "--config", str(settings.config_path), "report", "--json", "--since",
        HISTORY_START.date().isoformat(), "--until", until, *engine])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _both(settings: Any, sandbox: Sandbox) -> dict[str, Any]:
    sql = _report(settings, sandbox)
    assert sql == _report(settings, sandbox, "--engine", "replay")
    return sql


def _hubspot(sandbox: Sandbox, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{sandbox.hubspot_url}{path}", json=body, timeout=10,
                            headers={"Authorization": f"Bearer {sandbox.hubspot.token}"})


def _single_contact_leads(settings: Any, count: int) -> list[tuple[str, str]]:
    """(lead key, HubSpot id) of leads with one contact each and some activity."""
    with open_store(settings) as store:
        rows = store._db.execute(
            "SELECT c.email, c.hubspot_id FROM contacts c WHERE c.email IS NOT NULL AND "
            "(SELECT count(*) FROM contacts o WHERE o.email = c.email) = 1 AND EXISTS "
            "(SELECT 1 FROM kpi_facts k WHERE k.lead_key = c.email) ORDER BY c.email"
        ).fetchall()
    assert len(rows) >= count
    return [(r[0], r[1]) for r in rows[:count]]


def test_given_a_merge_the_report_counts_one_lead_where_it_counted_two(
    sandbox: Sandbox, settings: Any
) -> None:
    run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
    before = _both(settings, sandbox)
    (primary_key, primary_id), (merged_key, merged_id) = _single_contact_leads(settings, 2)
    answer = _hubspot(sandbox, "POST", "/crm/objects/2026-09/contacts/merge",
                      {"primaryObjectId": primary_id, "objectIdToMerge": merged_id})
    assert answer.status_code == 200, answer.text
    summary = run_once(settings, kind="sync", clock=sandbox.clock, reconcile=True)
    assert summary.deletions["merged"] >= 1
    after = _both(settings, sandbox)
    assert after["totals"]["new_leads"] == before["totals"]["new_leads"] - 1
    with open_store(settings) as store:
        assert merged_key not in set(store.kpi.all_keys())
        assert primary_key in set(store.kpi.all_keys())
        history = store.scores.history(primary_key)
        assert any("merged" in h["causes"] for h in history)


def test_given_an_archived_contact_both_engines_leave_it_out_and_a_restore_brings_it_back(
    sandbox: Sandbox, settings: Any
) -> None:
    run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
    before = _both(settings, sandbox)
    [(key, hubspot_id)] = _single_contact_leads(settings, 1)
    assert _hubspot(sandbox, "DELETE", f"/crm/objects/2026-09/contacts/{hubspot_id}"
                    ).status_code == 204
    summary = run_once(settings, kind="sync", clock=sandbox.clock)
    assert summary.deletions["archived"] == 1
    archived = _both(settings, sandbox)
    assert archived["totals"]["new_leads"] == before["totals"]["new_leads"] - 1
    first = archived["tables"]["deletions"]["rows"][0]  # the deletions table counts it
    assert list(first.values()) == ["archived / アーカイブ済み", 1]
    assert _hubspot(sandbox, "POST", f"/_sandbox/hubspot/contacts/{hubspot_id}/restore"
                    ).status_code in (200, 204)
    summary = run_once(settings, kind="sync", clock=sandbox.clock, reconcile=True)
    assert summary.deletions["restored"] == 1
    restored = _both(settings, sandbox)
    assert restored["totals"] == before["totals"]
    with open_store(settings) as store:
        assert key in set(store.kpi.all_keys())


def test_given_retention_prunes_old_activities_both_engines_agree_and_the_report_says_so(
    sandbox: Sandbox, settings: Any
) -> None:
    run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
    # the shipped rules' minimum retention, reached by running far enough in the future
    with open_store(settings) as store:
        first = min(a for (a,) in store._db.execute("SELECT occurred_at FROM activities"))
    days = minimum_retention_days(load_rules(mappings_dir(settings)))
    later = datetime.fromisoformat(first) + timedelta(days=days + 120)
    kwargs = {"since": HISTORY_START, "until": later}
    kept = report_dict(build_report(settings, engine="sql", **kwargs))
    summary = run_once(settings, kind="sync", clock=lambda: later)
    assert summary.activities_pruned > 0
    sql = report_dict(build_report(settings, engine="sql", **kwargs))
    assert sql == report_dict(build_report(settings, engine="replay", **kwargs))
    assert sql["periods"] != kept["periods"]  # the effect is there, and said
    assert any("activity_retention_days" in n for n in sql["notes"])
    assert not any("activity_retention_days" in n for n in kept["notes"])
