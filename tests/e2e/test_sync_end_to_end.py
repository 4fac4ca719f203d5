"""The whole product on the sandbox, through the real hubspot-api-client and simple-salesforce."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.serve import Sandbox
from sync.runner import run_once
from tests.clock import DATA_UNTIL, HISTORY_START
from tests.e2e.conftest import current_clock, settings_for, started

SINCE = HISTORY_START
WRITE_ROUTES = ("composite/sobjects", "/sobjects/", "jobs/ingest")


def salesforce_state(sandbox: Sandbox) -> dict[str, Any]:
    """What a sales rep would see: scored records and follow-up Tasks (ids left out)."""
    records = sandbox.salesforce.store.records
    scored = sorted(
        (r["Email"].lower(), obj, r.get("Lead_Score__c"), r.get("MQL_Status__c"),
         r.get("Lead_Stage__c"))
        for obj in ("Lead", "Contact")
        for r in records(obj)
        if r.get("Lead_Score__c") is not None
    )
    tasks = sorted((t["Connector_Key__c"], t["Subject"]) for t in records("Task")
                   if t.get("Connector_Key__c"))
    leads = sorted(r["Email"].lower() for r in records("Lead") if r.get("HubSpot_Contact_Id__c"))
    return {"scored": scored, "tasks": tasks, "created_leads": leads}


def write_calls(sandbox: Sandbox) -> int:
    stats = requests.get(
        sandbox.salesforce_url + "/_sandbox/stats", verify=str(sandbox.certificate.cert_path),
        timeout=10,
    ).json()
    return sum(
        c["count"] for c in stats["calls"]
        if c["method"] in ("POST", "PATCH", "PUT", "DELETE") and any(r in c["route"] for r in
                                                                     WRITE_ROUTES)
    )


def test_given_demo_data_backfill_scores_leads_and_creates_one_task_per_mql(
    sandbox: Sandbox, settings
) -> None:
    summary = run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    state = salesforce_state(sandbox)
    assert summary.leads_scored >= 100
    assert summary.mqls >= 1 and summary.tasks_created == summary.new_mql_episodes
    keys = [key for key, _ in state["tasks"]]
    assert len(keys) == len(set(keys)) == summary.tasks_created
    # Every Task hangs off the Lead or Contact of its lead, and every MQL record says so.
    records = sandbox.salesforce.store.records
    by_id = {r["Id"]: r for obj in ("Lead", "Contact") for r in records(obj)}
    for task in records("Task"):
        assert by_id[task["WhoId"]]["MQL_Status__c"] == "MQL"
    assert summary.write_failures == 0


def test_given_nothing_changed_second_run_makes_no_salesforce_write_call(
    sandbox: Sandbox, settings
) -> None:
    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    before = salesforce_state(sandbox)
    calls_before = write_calls(sandbox)
    again = run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    assert write_calls(sandbox) == calls_before
    assert again.records_updated == again.leads_created == again.tasks_created == 0
    assert salesforce_state(sandbox) == before


def test_given_dry_run_nothing_is_written_and_cursors_stay(sandbox: Sandbox, settings) -> None:
    summary = run_once(settings, kind="sync", dry_run=True, clock=sandbox.clock)
    assert summary.planned["updates"] + summary.planned["creates"] > 0
    assert write_calls(sandbox) == 0
    assert salesforce_state(sandbox)["scored"] == []
    from sync.runner import read_status

    assert read_status(settings)["cursors"] == {}


def test_given_injected_faults_final_salesforce_state_equals_a_clean_run(tmp_path: Path) -> None:
    clean = started(tmp_path / "clean")
    try:
        run_once(
            settings_for(clean, tmp_path / "clean"), kind="backfill", since=SINCE,
            clock=current_clock(),
        )
        expected = salesforce_state(clean)
    finally:
        clean.stop()
    faults = "5xx=0.15,reset=0.1,lock=0.1,seed=11"
    faulty = started(tmp_path / "faulty", faults=faults)
    try:
        settings = settings_for(faulty, tmp_path / "faulty")
        summary = run_once(settings, kind="backfill", since=SINCE, clock=current_clock())
        # Per-record lock errors that outlast the retries are dead letters; a rerun finishes.
        if summary.write_failures:
            run_once(settings, kind="backfill", since=SINCE, clock=current_clock())
        assert salesforce_state(faulty) == expected
        seen: set[int] = set()
        for url, verify in ((faulty.hubspot_url, True),
                            (faulty.salesforce_url, str(faulty.certificate.cert_path))):
            stats = requests.get(url + "/_sandbox/stats", verify=verify, timeout=10).json()
            statuses = {c["status"] for c in stats["calls"]}
            assert statuses & {500, 502, 503}, (url, statuses)  # faults did fire on both sides
            seen |= statuses
        assert 0 in seen  # and at least one connection was reset (status 0)
    finally:
        faulty.stop()


def test_given_a_crash_after_tasks_were_sent_rerun_ends_as_a_clean_run_without_duplicates(
    tmp_path: Path, monkeypatch
) -> None:
    clean = started(tmp_path / "clean")
    try:
        run_once(
            settings_for(clean, tmp_path / "clean"), kind="backfill", since=SINCE,
            clock=current_clock(),
        )
        expected = salesforce_state(clean)
    finally:
        clean.stop()
    from sync import sink

    real = sink.SalesforceSink.write_tasks

    def crash_after_sending(self, tasks, created):
        real(self, tasks, created)  # Salesforce has the Tasks ...
        raise SystemExit("killed before the outbox was updated")  # ... the state never hears

    crashed = started(tmp_path / "crashed")
    try:
        settings = settings_for(crashed, tmp_path / "crashed")
        monkeypatch.setattr(sink.SalesforceSink, "write_tasks", crash_after_sending)
        with pytest.raises(SystemExit):
            run_once(settings, kind="backfill", since=SINCE, clock=current_clock())
        monkeypatch.setattr(sink.SalesforceSink, "write_tasks", real)
        assert salesforce_state(crashed)["tasks"]  # the crash came after Tasks reached Salesforce
        run_once(settings, kind="backfill", since=SINCE, clock=current_clock())
        assert salesforce_state(crashed) == expected
        keys = Counter(key for key, _ in salesforce_state(crashed)["tasks"])
        assert max(keys.values()) == 1
    finally:
        crashed.stop()


def test_given_new_activity_incremental_sync_picks_up_only_that(
    sandbox: Sandbox, settings
) -> None:
    from app.demo import inject_new_activity, pick_ready_leads

    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    leads = pick_ready_leads(120, DATA_UNTIL, 2)
    now = sandbox.clock()
    inject_new_activity(sandbox, leads, now)
    summary = run_once(settings, kind="sync", clock=lambda: now + timedelta(seconds=5))
    assert summary.activities_new == 2 * len(leads)
    assert summary.leads_scored == len(leads)
    assert summary.new_mql_episodes == len(leads) == summary.tasks_created
    assert settings.sync.pull_outcomes  # with the outcome pull on, as shipped

    # The same sync again: the cursor overlap reads those activities (and the Leads the run
    # created) again, but nothing changed, so no lead is scored and nothing is written.
    again = run_once(settings, kind="sync", clock=lambda: now + timedelta(seconds=6))
    assert again.activities_read > 0 and again.activities_new == 0
    assert again.outcomes["read"]["Lead"] > 0 and again.outcomes["leads_marked"] == 0
    assert again.leads_scored == 0
    assert again.records_updated == again.leads_created == again.tasks_created == 0


def _patch_company(sandbox: Sandbox, company_id: str, **properties: str) -> None:
    from sandbox.hubspot import DEFAULT_HUBSPOT_TOKEN

    answer = requests.patch(
        f"{sandbox.hubspot_url}/crm/v3/objects/companies/{company_id}",
        json={"properties": properties},
        headers={"Authorization": f"Bearer {DEFAULT_HUBSPOT_TOKEN}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def test_given_a_company_read_again_unchanged_its_leads_are_not_scored_again(
    sandbox: Sandbox, settings
) -> None:
    from sync.runner import open_store

    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    with open_store(settings) as store:
        members: dict[str, set[str]] = {}
        for email, contacts in store.contacts_by_email(store.all_lead_emails()).items():
            for contact in contacts:
                if contact.company_id:
                    members.setdefault(contact.company_id, set()).add(email)
        company_id, leads = max(members.items(), key=lambda item: (len(item[1]), item[0]))
        employees = (store.company(company_id) or pytest.fail("company not stored")).get(
            "numberofemployees"
        )
    now = sandbox.clock()

    # Only its modified time moves (an edit that sets the same value): nothing to score.
    _patch_company(sandbox, company_id, numberofemployees=employees or "")
    same = run_once(settings, kind="sync", clock=lambda: now + timedelta(seconds=5))
    assert same.leads_scored == 0 and same.records_updated == 0

    # A real change: each of its leads is scored again, no other.
    _patch_company(sandbox, company_id, numberofemployees=str(int(employees or 0) + 5000))
    changed = run_once(settings, kind="sync", clock=lambda: now + timedelta(seconds=10))
    assert changed.leads_scored == len(leads) > 0
