"""Today's Salesforce end to end: a duplicate rule's refusal is a dead letter that names the
setting (and the setting lets the Lead through), an org without API access stops the run with
exit 5 and what to buy, the concurrent-request limit is ridden out."""

from __future__ import annotations

import json

import requests
from click.testing import CliRunner

import cli
from sandbox.serve import Sandbox
from sync.runner import run_once
from tests.e2e.test_sync_end_to_end import SINCE


def set_org(sandbox: Sandbox, **settings: object) -> None:
    response = requests.post(
        sandbox.salesforce_url + "/_sandbox/org", json=settings,
        verify=str(sandbox.certificate.cert_path), timeout=10,
    )
    assert response.status_code == 200, response.text


def test_given_a_lead_duplicate_rule_the_refusal_is_a_dead_letter_until_allow_save_is_set(
    sandbox: Sandbox, settings, tmp_path
) -> None:
    set_org(sandbox, duplicate_rule={"sobject": "Lead", "field": "Company", "action": "alert"})
    leads_before = len(sandbox.salesforce.store.records("Lead"))

    first = run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    config = str(tmp_path / "connector.toml")
    runner = CliRunner()
    letters = json.loads(runner.invoke(cli.main, ["--config", config, "dlq", "list", "--json"])
                         .output)
    retried = runner.invoke(cli.main, ["--config", config, "dlq", "retry", "--all"])
    allowed = settings.model_copy(update={"salesforce": settings.salesforce.model_copy(
        update={"duplicate_rule_allow_save": True})})
    second = run_once(allowed, kind="sync", clock=sandbox.clock)

    assert first.write_failures >= 1 and first.leads_created == 0
    assert {d["code"] for d in letters} == {"DUPLICATES_DETECTED"}
    assert all("salesforce.duplicate_rule_allow_save = true" in d["message"] for d in letters)
    assert retried.exit_code == 0
    assert second.write_failures == 0 and second.leads_created == len(letters)
    assert len(sandbox.salesforce.store.records("Lead")) == leads_before + len(letters)


def test_given_an_org_without_api_access_sync_exits_5_saying_what_to_buy(
    sandbox: Sandbox, settings, tmp_path
) -> None:
    set_org(sandbox, api_enabled=False)

    result = CliRunner().invoke(cli.main, ["--config", str(tmp_path / "connector.toml"), "sync"])

    assert result.exit_code == 5
    assert "API_DISABLED_FOR_ORG" in result.output and "API add-on" in result.output
    assert "Traceback" not in result.output


def test_given_the_concurrent_request_limit_the_run_backs_off_and_finishes(
    sandbox: Sandbox, settings, tmp_path
) -> None:
    set_org(sandbox, concurrent_busy_calls=2)

    result = CliRunner().invoke(cli.main, ["--config", str(tmp_path / "connector.toml"), "sync"])

    assert result.exit_code in (0, 3), result.output
    refused = [c for c in requests.get(
        sandbox.salesforce_url + "/_sandbox/stats", verify=str(sandbox.certificate.cert_path),
        timeout=10).json()["calls"] if c["status"] == 403]
    assert sum(c["count"] for c in refused) == 2
