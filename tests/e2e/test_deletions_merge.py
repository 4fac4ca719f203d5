"""Issue #18 end to end, merge: two contacts of the same person, both MQLs with a Task each,
merged in the HubSpot sandbox (the 2026-09 merge API; HubSpot gives the result a new id and
both old ids point to it). The connector learns it by reconciliation or by the `contact.merge`
webhook the sandbox signs and sends to `connector serve`'s handler; after the next run the
survivor holds both contacts' activities exactly once (rows and points), the link and the MQL
episode are the survivor's, and no new Task is created."""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

import pytest
import requests

from app.demo_handoff import point_webhooks
from app.service.loop import incremental_pass
from sandbox.serve import Sandbox
from scoring import load_rules, score_lead
from sync.runner import open_store, run_once
from tests.clock import HISTORY_START
from tests.service.handler import webhook_handler

SECRET = "merge-app-client-secret"


def _two_mqls(settings: Any) -> list[tuple[str, str]]:
    """(lead key, HubSpot id) of two MQLs with a Task each, one contact each."""
    with open_store(settings) as store:
        rows = store._db.execute(
            "SELECT m.lead_key, c.hubspot_id FROM mql_state m JOIN contacts c "
            "ON c.email = m.lead_key WHERE m.qualified = 1 AND EXISTS (SELECT 1 FROM tasks t "
            "WHERE t.lead_key = m.lead_key) AND (SELECT count(*) FROM contacts o "
            "WHERE o.email = m.lead_key) = 1 ORDER BY m.lead_key"
        ).fetchall()
    assert len(rows) >= 2, "the seed has fewer than two MQLs with a Task"
    return [(r[0], r[1]) for r in rows[:2]]


def _connector_tasks(sandbox: Sandbox) -> Counter[str]:
    return Counter(str(t["Connector_Key__c"]) for t in sandbox.salesforce.store.records("Task")
                   if t.get("Connector_Key__c"))


@pytest.mark.parametrize("told_by", ["reconcile", "webhook"])
def test_given_two_mqls_merged_the_survivor_has_both_histories_once_and_no_new_task(
    sandbox: Sandbox, settings: Any, told_by: str
) -> None:
    settings.sync.reconcile_hours = 0  # only when asked: the webhook alone must do it
    run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
    (primary_key, primary_id), (merged_key, merged_id) = _two_mqls(settings)
    with open_store(settings) as store:
        link = store.links([primary_key])[primary_key]
        before = {a.source_id: a for cid, key in ((primary_id, primary_key),
                                                   (merged_id, merged_key))
                  for a in store.activities_for([cid], key)}
        tasks_before = _connector_tasks(sandbox)
        task_rows = store._db.execute(
            "SELECT count(*) FROM tasks WHERE lead_key IN (?, ?)", (primary_key, merged_key)
        ).fetchone()[0]
    assert len(tasks_before) >= 2 and set(tasks_before.values()) == {1}
    now = sandbox.clock()

    with ExitStack() as stack:
        if told_by == "webhook":
            handler = stack.enter_context(webhook_handler(settings, sandbox.clock, SECRET))
            point_webhooks(sandbox, handler.url, SECRET)
        answer = requests.post(
            f"{sandbox.hubspot_url}/crm/objects/2026-09/contacts/merge",
            json={"primaryObjectId": primary_id, "objectIdToMerge": merged_id},
            headers={"Authorization": f"Bearer {sandbox.hubspot.token}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        survivor_id = str(answer.json()["id"])
        later = now + timedelta(seconds=5)
        if told_by == "webhook":
            _wait_for_queued(settings, 2)
            summary = incremental_pass(settings, lambda: later)  # the loop's next pass
        else:
            summary = run_once(settings, kind="sync", clock=lambda: later, reconcile=True)
    assert summary.deletions["merged"] == 2  # both old ids point to the new record
    assert summary.tasks_created == 0
    assert _connector_tasks(sandbox) == tasks_before  # no second Task, none doubled

    with open_store(settings) as store:
        assert store.contact(primary_id) is None and store.contact(merged_id) is None
        survivor = store.contact(survivor_id)
        assert survivor is not None and survivor.email == primary_key
        rows = store._db.execute(
            "SELECT source_id FROM activities WHERE contact_id IN (?, ?, ?) OR email IN (?, ?)",
            (survivor_id, primary_id, merged_id, primary_key, merged_key),
        ).fetchall()
        assert len(rows) == len({r[0] for r in rows}) == len(before)  # each once
        assert {r[0] for r in rows} == set(before)
        after = store.activities_for([survivor_id], primary_key)
        # the MQL standing and the link are the survivor's; nothing is left on the merged key
        assert store.links([primary_key, merged_key]) == {primary_key: link}
        assert list(store.mql_states([primary_key, merged_key])) == [primary_key]
        assert store._db.execute(
            "SELECT count(*) FROM tasks WHERE lead_key = ?", (primary_key,)
        ).fetchone()[0] == task_rows and task_rows >= 2
        company = store.company(survivor.company_id)
    # points: what the survivor's record shows is the score of both histories counted once
    rules = load_rules(settings.resolve(settings.sync.mappings_dir))
    union = score_lead(rules, survivor, company, list(before.values()), later)
    stored = score_lead(rules, survivor, company, list(after), later)
    assert stored.total == union.total and stored.engagement == union.engagement
    record = sandbox.salesforce.store.get(link.sobject, link.record_id) or {}
    assert float(record["Lead_Score__c"]) == pytest.approx(union.total, abs=0.5)


def _wait_for_queued(settings: Any, count: int) -> None:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with open_store(settings) as store:
            if store.erasure.counts()["deletion_events_waiting"] >= count:
                return
        time.sleep(0.05)
    pytest.fail("the contact.merge webhook was not queued")
