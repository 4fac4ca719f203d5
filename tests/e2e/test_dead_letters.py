"""A record Salesforce rejects lands in the dead letters while its batch-mates are written;
after the cause is fixed, `connector dlq retry` gets it written by the next run."""

from __future__ import annotations

import json

import requests
from click.testing import CliRunner

import cli
from sandbox.serve import Sandbox
from sync.runner import run_once
from tests.e2e.test_sync_end_to_end import SINCE


def set_faults(sandbox: Sandbox, faults: dict) -> None:
    response = requests.post(
        sandbox.salesforce_url + "/_sandbox/faults", json=faults,
        verify=str(sandbox.certificate.cert_path), timeout=10,
    )
    assert response.status_code == 200


def test_given_a_validation_rule_rejects_one_record_the_rest_is_written_and_it_can_be_retried(
    sandbox: Sandbox, settings, tmp_path
) -> None:
    contacts = sandbox.hubspot.store.contacts
    hubspot_emails = {(contacts.value(c, "email") or "").lower() for c in contacts.iter_live()}
    victim = next(
        r["Email"].strip().lower() for r in sandbox.salesforce.store.records("Contact")
        if (r.get("Email") or "").strip().lower() in hubspot_emails
    )
    set_faults(sandbox, {"reject": [victim]})  # a validation rule that refuses this record
    summary = run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    assert summary.write_failures == 1
    assert summary.records_updated > 10  # its batch-mates were written

    config = str(tmp_path / "connector.toml")
    runner = CliRunner()
    listed = runner.invoke(cli.main, ["--config", config, "dlq", "list", "--json"])
    letters = json.loads(listed.output)
    assert [(d["lead_key"], d["code"]) for d in letters] == [
        (victim, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    ]

    set_faults(sandbox, {})  # the admin fixed the validation rule
    retried = runner.invoke(cli.main, ["--config", config, "dlq", "retry", victim])
    assert retried.exit_code == 0 and "1 lead(s) marked" in retried.output
    again = run_once(settings, kind="sync", clock=sandbox.clock)
    assert again.write_failures == 0 and again.records_updated >= 1
    written = [r for r in sandbox.salesforce.store.records("Contact")
               if (r.get("Email") or "").strip().lower() == victim]
    assert written[0].get("Lead_Score__c") is not None
    listed = runner.invoke(cli.main, ["--config", config, "dlq", "list", "--json"])
    assert json.loads(listed.output) == []


def test_dlq_retry_without_leads_or_all_is_a_usage_error(settings, tmp_path) -> None:
    result = CliRunner().invoke(
        cli.main, ["--config", str(tmp_path / "connector.toml"), "dlq", "retry"]
    )
    assert result.exit_code == 2 and "--all" in result.output


class _Killed(BaseException):
    """Stands in for kill -9: nothing after it in the run happens."""


def test_given_a_run_dies_after_a_passing_failure_the_next_run_still_retries_that_lead(
    sandbox: Sandbox, settings, monkeypatch
) -> None:
    from sync.pipeline import Pipeline
    from sync.runner import open_store
    from sync.salesforce_writes import SalesforceWrites

    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    real = Pipeline._score_plan_write
    failed: list[str] = []

    def one_lock_error(self, leads, run):  # a row lock outlasting retries
        retry = real(self, leads, run)
        if leads and not failed:
            failed.append(leads[0][0])
        return retry | set(failed[:1]) if leads and leads[0][0] == failed[0] else retry

    def killed(self, summary):
        raise _Killed

    with monkeypatch.context() as patch:
        patch.setattr(Pipeline, "_score_plan_write", one_lock_error)
        patch.setattr(SalesforceWrites, "send_pending_tasks", killed)  # dies before the end
        try:
            run_once(settings, kind="rescore", clock=sandbox.clock)
        except _Killed:
            pass
        else:
            raise AssertionError("the stand-in kill did not happen")
    with open_store(settings) as store:
        assert store.dirty_refs(100) == []  # left for the next run, not retried in a loop
        assert store.dirty_count() == 1
    # Nothing changed in HubSpot meanwhile.
    summary = run_once(settings, kind="sync", clock=sandbox.clock)
    assert summary.leads_scored == 1  # exactly the lead whose write failed
    with open_store(settings) as store:
        assert store.dirty_count() == 0
