"""Sales outcomes end to end on the sandbox, through simple-salesforce: the pull stores what
Salesforce holds, reads only what changed, moves Lead_Stage__c past MQL when sales convert
a lead or win its opportunity, the agreement check finds a planted disagreement, and
`score simulate` reports precision/recall from the stored outcomes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import cli
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.outcomes import OutcomeReader
from core.config import Settings
from core.identity import canonical_email
from sandbox.salesforce.convert import convert_lead, edit
from sandbox.serve import Sandbox
from sync.agreement import agreement_from_store
from sync.outcomes import Funnel, OutcomeSync
from sync.runner import open_store, run_once
from tests.e2e.conftest import current_clock, settings_for, started
from tests.e2e.test_salesforce_write_path import promotable_leads, sync_later, touch_contact
from tests.e2e.test_score_commands import REPLAY_FROM
from tests.e2e.test_sync_end_to_end import SINCE


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Sandbox, Settings]]:
    """The demo sandbox after a backfill (outcomes pulled, scores written)."""
    sandbox = started(tmp_path)
    settings = settings_for(sandbox, tmp_path)
    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    yield sandbox, settings
    sandbox.stop()


def connector(settings: Settings, *args: str) -> Any:
    config = settings.base_dir / "connector.toml"  # where settings_for wrote it
    return CliRunner().invoke(cli.main, ["--config", str(config), "-q", *args])


def records(sandbox: Sandbox, sobject: str) -> list[dict[str, Any]]:
    return sandbox.salesforce.store.records(sobject)


def linked_leads(settings: Settings) -> dict[str, tuple[str, str]]:
    """lead key -> (sobject, record id) the connector writes to."""
    with open_store(settings) as store:
        keys = store.all_lead_emails()
        return {k: (link.sobject, link.record_id) for k, link in store.links(keys).items()}


def pause_past_the_second() -> None:
    """SOQL date-time literals have whole seconds: let the clock pass the last write's."""
    time.sleep(1.1)


def test_stored_outcomes_match_the_sandbox_records(world: tuple[Sandbox, Settings]) -> None:
    sandbox, settings = world
    # Its pull sees the backfill's writes.
    second = run_once(settings, kind="sync", clock=current_clock())

    assert second.outcomes["calls"] == 5  # Lead, Contact, contact roles, Opportunity, Task
    by_id = {r["Id"]: r for obj in ("Lead", "Contact") for r in records(sandbox, obj)}
    links = linked_leads(settings)
    assert len(links) > 20
    with open_store(settings) as store:
        outcomes = store.outcomes.outcomes_for(links)
    for key, (sobject, record_id) in links.items():
        got, record = outcomes[key], by_id[record_id]
        assert (got.sobject, got.record_id) == (sobject, record_id)
        assert got.mql_status == record["MQL_Status__c"], key
        assert got.stage == record["Lead_Stage__c"], key
        assert canonical_email(record["Email"]) == got.email == key
        if sobject == "Lead":
            assert got.status == record["Status"] or record["IsConverted"]


def test_a_second_pull_reads_only_the_records_changed_since(
    world: tuple[Sandbox, Settings],
) -> None:
    sandbox, settings = world
    client = SalesforceClient(settings)
    with open_store(settings) as store:
        step = OutcomeSync(store, OutcomeReader(client), Funnel(), lambda: client.total_calls)
        clock = sandbox.salesforce.clock

        def now() -> datetime:
            return datetime.fromtimestamp(clock(), tz=UTC)

        pause_past_the_second()  # after the backfill's writes
        first = step.pull(now(), since=now() - timedelta(days=365), overlap=timedelta(0))
        assert first.read["Lead"] > 10  # what the backfill wrote, read back once
        store.clear_dirty(store.dirty_refs(1000))
        lead = next(r for r in records(sandbox, "Lead") if r["Status"] == "Open - Not Contacted"
                    and canonical_email(r["Email"]) in store.all_lead_emails())  # fmt: skip
        edit(sandbox.salesforce, "Lead", lead["Id"], Status="Working - Contacted")

        report = step.pull(now(), since=now() - timedelta(days=365), overlap=timedelta(0))

        assert report.read == {"Lead": 1}
        assert report.calls == 5  # one query per object (Task included), whatever changed
        assert report.leads_marked == 1
        assert store.dirty_refs(10) == [f"e:{canonical_email(lead['Email'])}"]


def test_converting_a_lead_and_winning_its_opportunity_move_the_written_stage(
    world: tuple[Sandbox, Settings],
) -> None:
    sandbox, settings = world
    links = linked_leads(settings)
    key, (_, lead_id) = next(
        (k, link) for k, link in sorted(links.items())
        if link[0] == "Lead" and sandbox.salesforce.store.get("Lead", link[1])["Status"]
        == "Open - Not Contacted"
    )  # fmt: skip
    _, (_, other_id) = next(
        (k, link) for k, link in sorted(links.items())
        if k != key and link[0] == "Lead"
        and sandbox.salesforce.store.get("Lead", link[1])["Status"] == "Open - Not Contacted"
    )  # fmt: skip
    edit(sandbox.salesforce, "Lead", other_id, Status="Working - Contacted")
    conversion = convert_lead(sandbox.salesforce, lead_id, opportunity_stage="Qualification")

    summary = run_once(settings, kind="sync", clock=current_clock())

    # the pull saw the conversion: the lead is matched to its Contact before any write, so
    # nothing is sent to the converted Lead (which would refuse it)
    assert summary.write_failures == 0

    assert sandbox.salesforce.store.get("Lead", other_id)["Lead_Stage__c"] == "SQL"
    contact = sandbox.salesforce.store.get("Contact", conversion.contact_id)
    assert linked_leads(settings)[key] == ("Contact", conversion.contact_id)
    assert contact["Lead_Stage__c"] == "Opportunity"

    assert conversion.opportunity_id is not None
    edit(sandbox.salesforce, "Opportunity", conversion.opportunity_id, StageName="Closed Won")
    won = run_once(settings, kind="sync", clock=current_clock())

    assert won.outcomes["leads_marked"] >= 1
    assert sandbox.salesforce.store.get("Contact", conversion.contact_id)["Lead_Stage__c"] == "Won"
    result = connector(settings, "score", "explain", key, "--json")
    assert result.exit_code == 0, result.output
    explained = json.loads(result.stdout)
    assert explained["stage"] == "won" and explained["scored_stage"] != "won"
    assert explained["outcome"]["opportunity"]["won"] is True


def test_given_a_lead_converted_after_the_pull_its_refused_write_goes_to_the_contact_next_run(
    world: tuple[Sandbox, Settings],
) -> None:
    sandbox, settings = world
    lead = promotable_leads(sandbox)[0]
    key = canonical_email(lead["Email"])
    conversion = convert_lead(sandbox.salesforce, lead["Id"], opportunity_stage=None)
    touch_contact(sandbox, lead["HubSpot_Contact_Id__c"], jobtitle="CEO")  # fit +15
    # The race: sales convert the Lead after this run's outcome pull, before its write
    # (played by a run without the pull). Salesforce refuses CANNOT_UPDATE_CONVERTED_LEAD.
    racing = settings.model_copy(
        update={"sync": settings.sync.model_copy(update={"pull_outcomes": False})}
    )

    first = sync_later(racing)

    assert first.write_failures == 1
    with open_store(settings) as store:
        assert key not in store.links([key])  # matched again by the next run
        assert [d["code"] for d in store.dead_letters() if d["lead_key"] == key] == [
            "CANNOT_UPDATE_CONVERTED_LEAD"
        ]

    second = sync_later(settings, seconds=10)  # nothing changed in HubSpot since

    assert second.write_failures == 0 and second.records_updated == 1
    contact = sandbox.salesforce.store.get("Contact", conversion.contact_id)
    assert contact["Lead_Score__c"] == lead["Lead_Score__c"] + 15
    assert linked_leads(settings)[key] == ("Contact", conversion.contact_id)
    with open_store(settings) as store:  # resolved by the write, not left for an operator
        assert not [d for d in store.dead_letters() if d["lead_key"] == key]


def test_the_agreement_check_finds_a_planted_disagreement(
    world: tuple[Sandbox, Settings],
) -> None:
    sandbox, settings = world
    with open_store(settings) as store:
        before = agreement_from_store(store)
    assert before.agree, before.as_dict()
    assert before.connector_mqls >= 1
    links = linked_leads(settings)
    mql_key = next(
        k for k, (obj, rid) in sorted(links.items())
        if sandbox.salesforce.store.get(obj, rid)["MQL_Status__c"] == "MQL"
    )  # fmt: skip
    sobject, record_id = links[mql_key]
    edit(sandbox.salesforce, sobject, record_id, MQL_Status__c="Not MQL")  # a user's edit

    run_once(settings, kind="sync", clock=current_clock())
    with open_store(settings) as store:
        after = agreement_from_store(store)

    assert [(d.lead_key, d.record_id, d.reason) for d in after.differences] == [
        (mql_key, record_id, "changed_in_salesforce")
    ]
    assert after.connector_mqls == before.connector_mqls
    assert after.salesforce_mqls == before.salesforce_mqls - 1


def test_simulate_reports_precision_and_recall_from_stored_outcomes(
    world: tuple[Sandbox, Settings],
) -> None:
    sandbox, settings = world
    with open_store(settings) as store:
        states = store.mql_decisions()
    links = linked_leads(settings)
    on_leads = [k for k in sorted(states) if links.get(k, ("",))[0] == "Lead"]
    mqls = [k for k in on_leads if states[k].qualified]
    others = [
        k for k in on_leads
        if not states[k].qualified
        and not sandbox.salesforce.store.get("Lead", links[k][1])["IsConverted"]
    ]  # fmt: skip
    assert mqls and len(others) >= 2
    convert_lead(sandbox.salesforce, links[mqls[0]][1], opportunity_stage="Closed Won")
    convert_lead(sandbox.salesforce, links[others[0]][1], opportunity_stage="Prospecting")
    edit(sandbox.salesforce, "Lead", links[others[1]][1], Status="Closed - Not Converted")
    run_once(settings, kind="sync", clock=current_clock())

    mappings = Path(__file__).resolve().parents[2] / "mappings"
    result = connector(
        settings, "score", "simulate", "--rules", str(mappings), "--since", REPLAY_FROM, "--json"
    )
    assert result.exit_code == 0, result.output
    outcomes = json.loads(result.stdout)["outcomes"]
    # MQL + won: a hit; non-MQL with an opportunity: a miss for recall; disqualified: known
    assert outcomes["positives"] >= 2 and outcomes["known"] >= 3
    current = outcomes["current"]
    assert current["hits"] >= 1
    assert current["recall"] is not None and current["recall"] < 1
    assert current["precision"] == current["hits"] / current["flagged"]
