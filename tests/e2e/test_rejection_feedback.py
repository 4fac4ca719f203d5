"""The rejection-reason field on sandbox orgs with and without it: the outcome pull reads
`Lead.Rejection_Reason__c` only when the org's Lead describe has it (one warning naming the
field and `connector setup salesforce` otherwise, the Lead outcomes read all the same), and
`setup salesforce` lists and checks the picklist with its values."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import cli
from core.config import Settings
from core.identity import canonical_email
from sandbox.salesforce.convert import edit
from sandbox.serve import Sandbox
from sync.runner import open_store, run_once
from tests.e2e.conftest import settings_for, started
from tests.e2e.test_score_commands import REPLAY_FROM
from tests.e2e.test_sync_end_to_end import SINCE

FIELD = "Rejection_Reason__c"
REASONS = ["No budget", "Not now", "Competitor", "Not a fit"]


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    running = started(tmp_path, contacts=60)
    yield running
    running.stop()


def drop_reason_field(sandbox: Sandbox) -> None:
    """An admin deletes the field in Setup (or never created it)."""
    lead = sandbox.salesforce.schema.get("Lead")
    assert lead is not None
    lead.delete_field(FIELD)


def warnings_about_field(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and f"Lead.{FIELD}" in r.getMessage()
    ]


def connector(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(cli.main, ["--config", str(settings.config_path), *args])


def test_given_an_org_without_the_reason_field_the_lead_outcomes_are_read_with_one_warning(
    sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    drop_reason_field(sandbox)
    settings = settings_for(sandbox, tmp_path)
    caplog.set_level(logging.WARNING, logger="connector.outcomes")

    summary = run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)

    outcomes = summary.outcomes
    assert outcomes["read"].get("Lead", 0) > 0 and outcomes["problems"] == 0
    assert outcomes["missing_fields"] == [f"Lead.{FIELD}"]
    said = warnings_about_field(caplog)
    assert len(said) == 1 and "connector setup salesforce" in said[0]
    with open_store(settings) as store:
        assert store.outcomes.pulled_record_ids(
            r["Id"] for r in sandbox.salesforce.store.records("Lead")
        )  # the Lead outcomes are stored
        assert store.rejections.field_check("Lead", FIELD) is not None
        assert store.rejections.field_check("Lead", FIELD)[0] is False  # type: ignore[index]


def test_given_an_org_with_the_field_one_describe_serves_later_runs_and_reasons_are_stored(
    sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(sandbox, tmp_path)
    caplog.set_level(logging.WARNING, logger="connector.outcomes")
    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    with open_store(settings) as store:
        known = set(store.all_lead_emails())
    lead = next(r for r in sandbox.salesforce.store.records("Lead")
                if canonical_email(r["Email"]) in known)  # fmt: skip
    edit(sandbox.salesforce, "Lead", lead["Id"], **{FIELD: "Not now"})

    again = run_once(settings, kind="sync", clock=sandbox.clock)

    assert again.outcomes["calls"] == 5  # one query per object, no second describe
    assert "missing_fields" not in again.outcomes and not warnings_about_field(caplog)
    with open_store(settings) as store:
        check = store.rejections.field_check("Lead", FIELD)
        assert check is not None and check[0] is True
        email = canonical_email(lead["Email"])
        assert store.rejections.reasons_by_email([email]) == {email: "Not now"}


def test_given_the_field_deleted_after_it_was_found_the_pull_describes_again_and_reads_on(
    sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(sandbox, tmp_path)
    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    drop_reason_field(sandbox)
    caplog.set_level(logging.WARNING, logger="connector.outcomes")

    again = run_once(settings, kind="sync", clock=sandbox.clock)

    # the refused query, a describe, the query again without the field, 4 other objects
    assert again.outcomes["calls"] == 7 and again.outcomes["problems"] == 0
    assert again.outcomes["missing_fields"] == [f"Lead.{FIELD}"]
    assert len(warnings_about_field(caplog)) == 1


def test_given_the_shipped_funnel_setup_salesforce_lists_and_checks_the_reason_picklist(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = settings_for(sandbox, tmp_path)
    listed = connector(settings, "setup", "salesforce")
    assert listed.exit_code == 0, listed.output
    assert f"{FIELD}    Picklist: {', '.join(REASONS)}" in listed.output

    ok = connector(settings, "setup", "salesforce", "--check", "--json")
    checks = {(c["sobject"], c["name"]): c for c in json.loads(ok.output)["check"]}
    assert checks[("Lead", FIELD)]["status"] == "ok"

    drop_reason_field(sandbox)
    missing = connector(settings, "setup", "salesforce", "--check", "--json")
    assert missing.exit_code == 2
    checks = {(c["sobject"], c["name"]): c for c in json.loads(missing.output)["check"]}
    assert checks[("Lead", FIELD)]["status"] == "missing"


# ---------------------------------------------------------------------- sales rejects MQLs


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Sandbox]:
    """The demo seed at its usual size: several MQLs after a backfill."""
    running = started(tmp_path)
    yield running
    running.stop()


def test_given_sales_reject_mqls_with_reasons_they_are_counted_per_rule_segment_and_reason(
    demo: Sandbox, tmp_path: Path
) -> None:
    sandbox = demo
    settings = settings_for(sandbox, tmp_path)
    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    with open_store(settings) as store:
        known = set(store.all_lead_emails())
    mqls = [
        r
        for r in sandbox.salesforce.store.records("Lead")
        if r.get("MQL_Status__c") == "MQL" and canonical_email(r["Email"]) in known
    ]
    assert len(mqls) >= 2
    # Sales work two MQLs in Salesforce: Status to the funnel's rejected value, with a reason.
    rejected = {canonical_email(mqls[0]["Email"]): "Competitor",
                canonical_email(mqls[1]["Email"]): "No budget"}  # fmt: skip
    for lead, reason in zip(mqls, rejected.values(), strict=False):
        edit(sandbox.salesforce, "Lead", lead["Id"], Status="Closed - Not Converted",
             **{FIELD: reason})  # fmt: skip

    run_once(settings, kind="sync", clock=sandbox.clock)  # the outcome pull reads them

    result = connector(settings, "-q", "score", "rejections", "--since", REPLAY_FROM, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["rejected"] == 2
    assert data["by_reason"] == {"Competitor": 1, "No budget": 1}
    rows = {(r["kind"], r["name"]): r for r in data["rows"]}
    # each rejected MQL counts once per segment dimension, with its reason
    dimensions: dict[str, int] = {}
    for (kind, name), row in rows.items():
        if kind == "segment":
            dimension = name.split("=", 1)[0]
            dimensions[dimension] = dimensions.get(dimension, 0) + row["rejected"]
    assert dimensions and set(dimensions.values()) == {2}
    # every rejected MQL had points from some rule; the rule rows carry both reasons
    rule_rows = [r for (kind, _), r in rows.items() if kind == "rule"]
    assert max(r["rejected"] for r in rule_rows) == 2
    top = max(rule_rows, key=lambda r: r["rejected"])
    assert top["reasons"] == {"Competitor": 1, "No budget": 1}

    report = connector(settings, "-q", "report", "--since", REPLAY_FROM, "--json")
    assert report.exit_code == 0, report.output
    table = json.loads(report.output)["tables"]["rejections"]
    assert len(table["rows"]) == len(data["rows"])
    assert any("Competitor 1" in str(row) and "No budget 1" in str(row) for row in table["rows"])

    # the table read set-based (facts' verdicts, the MQL bases the sync stored) replays no
    # lead and equals the replay of every decided lead
    from datetime import UTC, datetime, time

    from app.kpi_report import build_report
    from kpi.export import report_dict
    from tests.e2e.test_score_commands import REPLAY_START

    until, since = sandbox.clock(), datetime.combine(REPLAY_START, time(), UTC)
    sql = report_dict(build_report(settings, until=until, since=since))["tables"]["rejections"]
    replay = report_dict(build_report(settings, until=until, since=since, engine="replay"))
    assert sql == replay["tables"]["rejections"] and sql["rows"]
    with open_store(settings) as store:
        decided = {r[0] for r in store._db.execute(
            "SELECT lead_key FROM kpi_facts WHERE verdict = 'rejected'")}
        assert decided == set(rejected)
        assert set(store.mql_basis.bases_for(decided)) == decided
