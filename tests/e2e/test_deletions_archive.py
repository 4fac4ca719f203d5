"""Issue #18 end to end, archive and restore: an archived contact's lead is no longer scored
(its score on Salesforce no longer moves with decay), Salesforce follows `sync.on_archive`,
and restoring the contact (the sandbox's recycle-bin path) scores the lead again and undoes
what the policy wrote."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests

from sandbox.serve import Sandbox
from sync.runner import open_store, run_once
from tests.clock import HISTORY_START

DISQUALIFIED = "Closed - Not Converted"  # mappings/funnel.toml [lost] lead_statuses[0]


def _qualified_lead(settings: Any, sandbox: Sandbox) -> tuple[str, str, str, str]:
    """(lead key, HubSpot id, Lead id, its status) of an MQL linked to a Lead, one contact:
    the highest scored, so that ten days of decay leave it an MQL."""
    with open_store(settings) as store:
        rows = store._db.execute(
            "SELECT l.lead_key, c.hubspot_id, l.record_id FROM links l "
            "JOIN mql_state m ON m.lead_key = l.lead_key AND m.qualified = 1 "
            "JOIN contacts c ON c.email = l.lead_key WHERE l.sobject = 'Lead' "
            "AND (SELECT count(*) FROM contacts o WHERE o.email = l.lead_key) = 1 "
            "ORDER BY l.lead_key"
        ).fetchall()
        statuses = store.touches.lead_statuses([r[2] for r in rows])
    score = {r["Id"]: float(r.get("Lead_Score__c") or 0)
             for r in sandbox.salesforce.store.records("Lead")}
    for key, hubspot_id, record_id in sorted(rows, key=lambda r: -score.get(r[2], 0)):
        if record_id in statuses:
            return key, hubspot_id, record_id, statuses[record_id]
    pytest.fail("the seed has no qualified Lead whose status the outcome pull read")


def _lead(sandbox: Sandbox, record_id: str) -> dict[str, Any]:
    return dict(sandbox.salesforce.store.get("Lead", record_id) or pytest.fail("no Lead"))


def _archive(sandbox: Sandbox, hubspot_id: str) -> None:
    answer = requests.delete(
        f"{sandbox.hubspot_url}/crm/objects/2026-09/contacts/{hubspot_id}",
        headers={"Authorization": f"Bearer {sandbox.hubspot.token}"},
        timeout=10,
    )
    assert answer.status_code == 204, answer.text


def _restore(sandbox: Sandbox, hubspot_id: str) -> None:
    answer = requests.post(
        f"{sandbox.hubspot_url}/_sandbox/hubspot/contacts/{hubspot_id}/restore", timeout=10
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("policy", ["keep", "clear_mql", "mark_disqualified"])
def test_given_an_archived_contact_its_lead_stops_scoring_follows_the_policy_and_restore_undoes_it(
    sandbox: Sandbox, settings: Any, policy: str
) -> None:
    settings.sync.on_archive = policy
    run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
    _key, hubspot_id, record_id, status = _qualified_lead(settings, sandbox)
    before = _lead(sandbox, record_id)
    assert before["MQL_Status__c"] and before["MQL_Date__c"] and before["Status"] == status
    now = sandbox.clock()

    _archive(sandbox, hubspot_id)
    summary = run_once(settings, kind="sync", clock=lambda: now + timedelta(seconds=5))
    assert summary.deletions["archived"] == 1
    archived = _lead(sandbox, record_id)
    if policy == "keep":
        assert {k: archived[k] for k in ("MQL_Status__c", "MQL_Date__c", "Status")} == {
            k: before[k] for k in ("MQL_Status__c", "MQL_Date__c", "Status")
        }
    elif policy == "clear_mql":
        assert archived["MQL_Status__c"] is None and archived["MQL_Date__c"] is None
        assert archived["Status"] == status
    else:
        assert archived["Status"] == DISQUALIFIED
        assert archived["MQL_Status__c"] == before["MQL_Status__c"]

    # Decay moves every other score, not the archived lead's.
    later = now + timedelta(days=10)
    scores = {r["Id"]: r.get("Lead_Score__c") for r in sandbox.salesforce.store.records("Lead")}
    rescored = run_once(settings, kind="rescore", clock=lambda: later)
    assert rescored.records_updated > 0
    after = {r["Id"]: r.get("Lead_Score__c") for r in sandbox.salesforce.store.records("Lead")}
    assert after[record_id] == scores[record_id]
    assert sum(1 for i, s in after.items() if s != scores.get(i)) > 0

    _restore(sandbox, hubspot_id)
    back = run_once(settings, kind="sync", clock=lambda: later + timedelta(seconds=5))
    assert back.deletions["restored"] == 1
    restored = _lead(sandbox, record_id)
    assert restored["Lead_Score__c"] != scores[record_id]  # scored again, at the later moment
    assert restored["Status"] == status
    assert restored["MQL_Status__c"] == before["MQL_Status__c"]
    assert restored["MQL_Date__c"] == before["MQL_Date__c"]
