"""Issue #18 end to end, `erase_in_salesforce = "delete_created_leads"`: after a GDPR delete,
the erased person's Lead is deleted in Salesforce (sObject Collections delete) only when the
connector created it, as its state records since this release; a Lead sales created, a Lead
created before the record was kept, and a converted Lead are never deleted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests

from sandbox.salesforce.convert import convert_lead
from sandbox.serve import Sandbox
from sync.runner import open_store, run_once
from tests.clock import HISTORY_START


def _lead_of(settings: Any, *, created: bool) -> tuple[str, str]:
    """(HubSpot id, Lead id) of a linked lead whose Lead the connector created, or not."""
    with open_store(settings) as store:
        ours = "" if created else "NOT"
        row = store._db.execute(
            "SELECT c.hubspot_id, l.record_id FROM links l JOIN contacts c "
            "ON c.email = l.lead_key WHERE l.sobject = 'Lead' AND l.record_id "
            f"{ours} IN (SELECT record_id FROM created_leads) ORDER BY l.lead_key LIMIT 1"
        ).fetchone()
    assert row is not None, f"the seed has no linked Lead with created={created}"
    return row[0], row[1]


def _gdpr_delete(sandbox: Sandbox, hubspot_id: str) -> None:
    answer = requests.post(
        f"{sandbox.hubspot_url}/crm/objects/2026-09/contacts/gdpr-delete",
        json={"objectId": hubspot_id},
        headers={"Authorization": f"Bearer {sandbox.hubspot.token}"}, timeout=10,
    )
    assert answer.status_code == 204


@pytest.mark.parametrize("case", ["created", "converted", "sales", "before_this_release"])
def test_given_delete_created_leads_only_a_lead_the_connector_created_is_deleted(
    sandbox: Sandbox, settings: Any, case: str
) -> None:
    settings.sync.erase_in_salesforce = "delete_created_leads"
    run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
    hubspot_id, lead_id = _lead_of(settings, created=case != "sales")
    assert sandbox.salesforce.store.get("Lead", lead_id)["HubSpot_Contact_Id__c"] == (
        hubspot_id if case != "sales" else sandbox.salesforce.store.get("Lead", lead_id).get(
            "HubSpot_Contact_Id__c")
    )
    if case == "converted":
        convert_lead(sandbox.salesforce, lead_id, opportunity_stage=None)
    if case == "before_this_release":  # a store that did not record it yet
        with open_store(settings) as store:
            store._db.execute("DELETE FROM created_leads")
    now = sandbox.clock()

    _gdpr_delete(sandbox, hubspot_id)
    summary = run_once(settings, kind="sync", clock=lambda: now + timedelta(seconds=5),
                       reconcile=True)

    assert summary.deletions["erased"] == 1 and summary.write_failures == 0
    live = {r["Id"] for r in sandbox.salesforce.store.records("Lead")}
    if case == "created":
        assert lead_id not in live
        gone = sandbox.salesforce.store.get("Lead", lead_id)
        assert gone is None or gone.get("IsDeleted")
    else:
        assert lead_id in live  # never a Lead sales created, converted, or not recorded
    with open_store(settings) as store:
        assert store.deletion_writes.count() == 0
        assert not store.deletion_writes.created_by_connector([lead_id])
