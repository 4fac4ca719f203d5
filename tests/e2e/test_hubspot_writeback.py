"""HubSpot write-back end to end: `setup hubspot` against the sandbox's properties API, then
syncs that leave HubSpot contacts holding what Salesforce holds, through the real clients."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from app.setup_hubspot import run_setup
from app.texts import format_summary
from cli import main
from core.config import Settings
from sandbox.serve import Sandbox
from sync.runner import open_store, run_once
from tests.clock import HISTORY_START
from tests.e2e.conftest import settings_for, started

SINCE = HISTORY_START
BATCH_UPDATE = ("POST", "/crm/objects/2026-09/{objectType}/batch/update")
PROPERTIES = (
    "connector_lead_score", "connector_fit_score", "connector_engagement_score",
    "connector_lead_grade", "connector_segment", "connector_lead_stage",
    "connector_mql_status", "connector_mql_date",
)


def with_write_back(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"hubspot": settings.hubspot.model_copy(update={"write_back": True})}
    )


def hubspot_calls(sandbox: Sandbox) -> Counter[tuple[str, str]]:
    stats = requests.get(sandbox.hubspot_url + "/_sandbox/stats", timeout=10).json()
    out: Counter[tuple[str, str]] = Counter()
    for call in stats["calls"]:
        out[(call["method"], call["route"])] += call["count"]
    return out


def hubspot_contacts(sandbox: Sandbox) -> dict[str, dict[str, str]]:
    """email -> properties of every live HubSpot contact (read from the sandbox's store)."""
    store = sandbox.hubspot.store.contacts
    return {
        r.props["email"].lower(): dict(r.props)
        for r in store.live.values()
        if r.props.get("email")
    }


def salesforce_scored(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    records = sandbox.salesforce.store.records
    return {
        r["Email"].lower(): r
        for obj in ("Lead", "Contact")
        for r in records(obj)
        if r.get("Lead_Score__c") is not None
    }


@pytest.fixture
def ready(sandbox: Sandbox, settings: Settings) -> Settings:
    """The sandbox with the write-back's properties created and write_back on."""
    run_setup(settings, check_only=False)
    return with_write_back(settings)


def test_given_missing_properties_setup_creates_them_and_a_second_run_creates_nothing(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = str(sandbox.write_config(tmp_path / "cli.toml", tmp_path / "state" / "c.db"))
    runner = CliRunner()
    check = runner.invoke(main, ["--config", config, "setup", "hubspot", "--check"])
    assert check.exit_code == 2, check.output
    assert "MISSING" in check.output and "connector_lead_stage" in check.output

    first = runner.invoke(main, ["--config", config, "setup", "hubspot"])
    assert first.exit_code == 0, first.output
    registry = sandbox.hubspot.store.contacts.properties
    assert all(name in registry for name in PROPERTIES)
    assert "connector_scoring" in registry.groups
    stage = registry.get("connector_lead_stage")
    assert stage is not None and stage["type"] == "enumeration"
    assert [o["value"] for o in stage["options"]] == [
        "Cold", "Interest", "Comparison", "Hot", "MQL", "SQL", "Opportunity", "Won", "Lost",
    ]
    assert registry.get("connector_mql_date")["type"] == "date"  # type: ignore[index]
    assert registry.get("connector_lead_score")["type"] == "number"  # type: ignore[index]
    creates = hubspot_calls(sandbox)[("POST", "/crm/properties/2026-09/{objectType}/batch/create")]
    assert creates == 1  # every missing property in one call

    second = runner.invoke(main, ["--config", config, "setup", "hubspot", "--json"])
    assert second.exit_code == 0, second.output
    assert '"status": "created"' not in second.output
    calls = hubspot_calls(sandbox)
    assert calls[("POST", "/crm/properties/2026-09/{objectType}/batch/create")] == 1
    assert calls[("POST", "/crm/properties/2026-09/{objectType}/groups")] == 1
    assert runner.invoke(main, ["--config", config, "setup", "hubspot", "--check"]).exit_code == 0


def test_given_a_property_with_the_wrong_type_setup_reports_it_and_leaves_it(
    sandbox: Sandbox, settings: Settings
) -> None:
    requests.post(
        sandbox.hubspot_url + "/crm/v3/properties/contacts",
        headers={"Authorization": f"Bearer {sandbox.hubspot.token}"},
        json={"name": "connector_lead_score", "label": "Score (text)", "type": "string",
              "fieldType": "text", "groupName": "contactinformation"},
        timeout=10,
    ).raise_for_status()
    result = run_setup(settings, check_only=False)
    by_name = {c.name: c for c in result["properties"]}
    assert by_name["connector_lead_score"].status == "wrong"
    assert "string" in by_name["connector_lead_score"].problems[0]
    assert by_name["connector_fit_score"].status == "created"
    kept = sandbox.hubspot.store.contacts.properties.get("connector_lead_score")
    assert kept is not None and kept["type"] == "string"


def test_given_write_back_on_hubspot_contacts_hold_the_score_and_stage_salesforce_holds(
    sandbox: Sandbox, ready: Settings
) -> None:
    summary = run_once(ready, kind="backfill", since=SINCE, clock=sandbox.clock)
    assert summary.write_failures == 0
    assert summary.hubspot_written > 0
    text = format_summary(summary.as_dict(), language="en", zone="UTC")
    assert f"contacts written back {summary.hubspot_written:,} in" in text
    contacts = hubspot_contacts(sandbox)
    scored = salesforce_scored(sandbox)
    assert scored
    for email, record in scored.items():
        hubspot = contacts[email]
        assert hubspot["connector_lead_score"] == str(int(record["Lead_Score__c"])), email
        assert hubspot["connector_lead_stage"] == record["Lead_Stage__c"], email
        assert hubspot["connector_mql_status"] == record["MQL_Status__c"], email
    # Leads without a Salesforce record are scored in HubSpot too: nurture branches on them.
    assert sum(1 for p in contacts.values() if "connector_lead_score" in p) > len(scored)


def test_given_nothing_changed_second_run_makes_no_hubspot_write_call(
    sandbox: Sandbox, ready: Settings
) -> None:
    run_once(ready, kind="backfill", since=SINCE, clock=sandbox.clock)
    before = hubspot_calls(sandbox)[BATCH_UPDATE]
    again = run_once(ready, kind="backfill", since=SINCE, clock=sandbox.clock)
    assert hubspot_calls(sandbox)[BATCH_UPDATE] == before
    assert again.hubspot_written == again.hubspot_write_calls == 0
    # Every lead planned again: each contact's values equal what was written, none is sent.
    rescored = run_once(ready, kind="rescore", clock=sandbox.clock)
    assert hubspot_calls(sandbox)[BATCH_UPDATE] == before
    assert rescored.hubspot_written == 0
    assert rescored.hubspot_unchanged == len(hubspot_contacts(sandbox)) - len(
        [p for p in hubspot_contacts(sandbox).values() if "connector_lead_score" not in p]
    ) > 0


def test_given_our_write_back_bumped_lastmodifieddate_next_sync_writes_nothing(
    sandbox: Sandbox, ready: Settings
) -> None:
    first = run_once(ready, kind="backfill", since=SINCE, clock=sandbox.clock)
    calls = hubspot_calls(sandbox)[BATCH_UPDATE]
    follow = run_once(ready, kind="sync", clock=sandbox.clock)
    assert hubspot_calls(sandbox)[BATCH_UPDATE] == calls
    assert follow.hubspot_written == 0 and follow.records_updated == 0
    assert follow.write_failures == 0
    # The written contacts come back from the search (their modified time moved) but only
    # that changed: none is scored again, so no Salesforce call but the outcome pull's reads.
    assert follow.contacts_read >= first.hubspot_written > 0
    assert follow.leads_scored == 0 and follow.outcomes["leads_marked"] == 0
    assert follow.salesforce_calls == follow.outcomes["calls"]


def test_given_many_changed_contacts_updates_go_100_per_call(
    sandbox: Sandbox, ready: Settings
) -> None:
    summary = run_once(ready, kind="backfill", since=SINCE, clock=sandbox.clock)
    calls = hubspot_calls(sandbox)[BATCH_UPDATE]
    assert summary.hubspot_written > 100
    assert calls == summary.hubspot_write_calls == math.ceil(summary.hubspot_written / 100)


def test_given_hubspot_refuses_one_value_that_contact_is_dead_lettered_and_the_rest_written(
    sandbox: Sandbox, ready: Settings
) -> None:
    # An admin removed the "Hot" option in HubSpot after setup: HubSpot refuses any batch
    # holding a hot lead (400 VALIDATION_ERROR, whole batch).
    stage = sandbox.hubspot.store.contacts.properties.get("connector_lead_stage")
    assert stage is not None
    stage["options"] = [o for o in stage["options"] if o["value"] != "Hot"]
    summary = run_once(ready, kind="backfill", since=SINCE, clock=sandbox.clock)
    contacts = hubspot_contacts(sandbox)
    with open_store(ready) as store:
        letters = [d for d in store.dead_letters() if d["stage"] == "hubspot_writeback"]
    assert letters, "the refused contacts are in the dead-letter list"
    assert all(d["code"] == "VALIDATION_ERROR" for d in letters)
    refused = {d["lead_key"] for d in letters}
    assert summary.write_failures >= len(refused)
    for email in refused:
        assert "connector_lead_stage" not in contacts[email]
    written = [e for e, p in contacts.items() if p.get("connector_lead_stage")]
    assert len(written) == summary.hubspot_written > 0
    assert not {p["connector_lead_stage"] for e, p in contacts.items() if e in written} & {"Hot"}


def test_given_dry_run_hubspot_writes_are_planned_not_sent(
    sandbox: Sandbox, ready: Settings
) -> None:
    summary = run_once(ready, kind="sync", dry_run=True, clock=sandbox.clock)
    planned = summary.planned_hubspot
    assert planned["contacts"] > 0 and planned["calls"] == math.ceil(planned["contacts"] / 100)
    assert planned["properties"]["connector_lead_score"] > 0
    assert hubspot_calls(sandbox)[BATCH_UPDATE] == 0
    text = format_summary(summary.as_dict(), language="en", zone="UTC")
    assert f"planned     HubSpot contacts {planned['contacts']:,} ({planned['calls']:,}" in text
    assert "contact.connector_lead_stage:" in text
    assert not any("connector_lead_score" in p for p in hubspot_contacts(sandbox).values())


def test_given_write_back_off_no_hubspot_write_is_planned(sandbox: Sandbox, tmp_path: Path) -> None:
    settings = settings_for(sandbox, tmp_path)
    summary = run_once(settings, kind="sync", clock=sandbox.clock)
    assert summary.planned_hubspot == {} and summary.hubspot_write_calls == 0
    assert hubspot_calls(sandbox)[BATCH_UPDATE] == 0


def test_write_back_without_properties_dead_letters_instead_of_crashing(tmp_path: Path) -> None:
    sandbox = started(tmp_path, contacts=20)
    try:
        settings = with_write_back(settings_for(sandbox, tmp_path))
        summary = run_once(settings, kind="sync", clock=sandbox.clock)
        assert summary.hubspot_written == 0 and summary.write_failures > 0
        with open_store(settings) as store:
            letters = [d for d in store.dead_letters() if d["stage"] == "hubspot_writeback"]
        assert letters and "does not exist" in letters[0]["message"]
    finally:
        sandbox.stop()


def test_mappings_validate_online_names_hubspot_toml_when_properties_are_missing(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = sandbox.write_config(tmp_path / "cli.toml", tmp_path / "state" / "c.db")
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[hubspot]\n", "[hubspot]\nwrite_back = true\n", 1))
    runner = CliRunner()
    missing = runner.invoke(main, ["--config", str(config), "mappings", "validate", "--online"])
    assert missing.exit_code == 2, missing.output
    assert "hubspot.toml: HubSpot contact property connector_lead_score: does not exist" in (
        missing.output
    )
    assert runner.invoke(main, ["--config", str(config), "setup", "hubspot"]).exit_code == 0
    fixed = runner.invoke(main, ["--config", str(config), "mappings", "validate", "--online"])
    assert "hubspot.toml" not in fixed.output, fixed.output


def test_mappings_validate_reports_hubspot_toml_mistakes_with_file_and_line(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "mappings"
    folder.mkdir()
    root = Path(__file__).resolve().parents[2] / "mappings"
    for name in ("scoring.toml", "segments.toml", "fields.toml", "forms.toml"):
        (folder / name).write_text((root / name).read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "hubspot.toml").write_text(
        '[[property]]\nsource = "score"\nname = "hs_score"\n', encoding="utf-8"
    )
    result = CliRunner().invoke(main, ["mappings", "validate", "--dir", str(folder)])
    assert result.exit_code == 2
    assert f"{folder / 'hubspot.toml'}:3: property[0].name" in result.output
    assert "reserved by HubSpot" in result.output
