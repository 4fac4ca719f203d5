"""Issue #18 end to end: a Salesforce write of a deletion policy (`on_archive = "clear_mql"`,
`erase_in_salesforce = "clear_fields"`) that Salesforce refuses (the sandbox's fault
injection: a validation rule on that record) becomes a dead letter naming the lead by its
HubSpot id and record id, never by the address, and the next run writes it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests
from click.testing import CliRunner

import cli
from sandbox.serve import Sandbox
from sync.runner import open_store, run_once
from tests.clock import HISTORY_START
from tests.e2e.test_dead_letters import set_faults
from tests.e2e.test_deletions_archive import _archive, _lead, _qualified_lead


@pytest.mark.parametrize("policy", ["clear_mql", "clear_fields"])
def test_given_salesforce_refuses_a_policy_write_it_is_a_dead_letter_by_id_and_the_next_run_writes_it(  # noqa: E501
    sandbox: Sandbox, settings: Any, policy: str
) -> None:
    if policy == "clear_mql":
        settings.sync.on_archive = "clear_mql"
    else:
        settings.sync.erase_in_salesforce = "clear_fields"
    run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
    email, hubspot_id, record_id, _ = _qualified_lead(settings, sandbox)
    assert _lead(sandbox, record_id)["MQL_Status__c"]
    now = sandbox.clock()

    set_faults(sandbox, {"reject": [email]})  # a validation rule refuses this record
    if policy == "clear_mql":
        _archive(sandbox, hubspot_id)
        failed = run_once(settings, kind="sync", clock=lambda: now + timedelta(seconds=5))
    else:
        answer = requests.post(
            f"{sandbox.hubspot_url}/crm/objects/2026-09/contacts/gdpr-delete",
            json={"objectId": hubspot_id},
            headers={"Authorization": f"Bearer {sandbox.hubspot.token}"}, timeout=10,
        )
        assert answer.status_code == 204
        failed = run_once(settings, kind="sync", clock=lambda: now + timedelta(seconds=5),
                          reconcile=True)
        db = settings.resolve(settings.state.path)
        assert email.encode() not in db.read_bytes()  # the purge did not wait for Salesforce
    assert failed.write_failures >= 1
    assert _lead(sandbox, record_id)["MQL_Status__c"]  # refused: not cleared
    runner = CliRunner()
    config = str(settings.config_path)
    listed = runner.invoke(cli.main, ["--config", config, "dlq", "list", "--json"])
    letters = [d for d in json.loads(listed.output) if record_id in d["message"]]
    assert len(letters) == 1, listed.output
    assert hubspot_id in letters[0]["message"] and email not in listed.output
    assert letters[0]["lead_key"] is None

    set_faults(sandbox, {})  # the admin fixed the rule
    retried = run_once(settings, kind="sync", clock=lambda: now + timedelta(seconds=10))
    record = _lead(sandbox, record_id)
    assert record["MQL_Status__c"] is None and record["MQL_Date__c"] is None
    if policy == "clear_fields":
        assert record["Lead_Score__c"] is None
    assert retried.write_failures == 0
    listed = runner.invoke(cli.main, ["--config", config, "dlq", "list", "--json"])
    assert [d for d in json.loads(listed.output) if record_id in d["message"]] == []
    with open_store(settings) as store:
        assert store.deletion_writes.count() == 0
