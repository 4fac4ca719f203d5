"""The run engine's promises: bounded batches, resumable work, nothing lost between stages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import requests

from sandbox.serve import Sandbox
from sync.runner import open_store, run_once
from tests.e2e.test_sync_end_to_end import SINCE, salesforce_state


def test_given_limit_the_rest_waits_and_the_next_run_finishes_it(sandbox: Sandbox, settings):
    first = run_once(settings, kind="backfill", since=SINCE, limit=30, clock=sandbox.clock)
    assert first.leads_waiting > 0
    second = run_once(settings, kind="sync", clock=sandbox.clock)
    assert second.leads_waiting == 0
    assert first.leads_scored + second.leads_scored >= 110


def test_given_crash_while_processing_marked_leads_are_processed_by_the_next_run(
    sandbox: Sandbox, settings, tmp_path: Path, monkeypatch
) -> None:
    from sync import sink

    def crash(self, writes):
        raise SystemExit("killed mid-run")

    monkeypatch.setattr(sink.SalesforceSink, "write_records", crash)
    with pytest.raises(SystemExit):
        run_once(settings, kind="sync", clock=sandbox.clock)
    monkeypatch.undo()
    with open_store(settings) as store:
        cursors, waiting = store.cursors(), store.dirty_count()
    assert "contacts" in cursors and waiting > 0  # cursors moved; the marks hold the work
    summary = run_once(settings, kind="sync", clock=sandbox.clock)
    assert summary.leads_waiting == 0 and summary.records_updated > 0
    assert salesforce_state(sandbox)["scored"]


def test_given_interrupted_backfill_rerunning_the_same_command_resumes(
    sandbox: Sandbox, settings, monkeypatch
) -> None:
    from sync.extraction import Extraction

    real = Extraction._extract
    calls = {"n": 0}

    def stop_in_third_chunk(self, windows, summary, *, advance):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("killed during the third chunk")
        return real(self, windows, summary, advance=advance)

    monkeypatch.setattr(Extraction, "_extract", stop_in_third_chunk)
    with pytest.raises(SystemExit):
        run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    monkeypatch.setattr(Extraction, "_extract", real)
    with open_store(settings) as store:
        done = store.cursor(f"backfill:{SINCE.isoformat()}")
    assert done == SINCE + timedelta(days=180)  # two 90-day chunks were finished
    resumed = run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    assert resumed.window_start == done.isoformat()
    assert resumed.leads_waiting == 0 and resumed.tasks_created >= 1


def test_given_a_company_grows_its_contacts_are_rescored(sandbox: Sandbox, settings) -> None:
    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    auth = {"Authorization": f"Bearer {sandbox.hubspot.token}"}
    page = requests.get(
        f"{sandbox.hubspot_url}/crm/v3/objects/companies",
        params={"limit": 100, "properties": "numberofemployees", "associations": "contacts"},
        headers=auth, timeout=10,
    ).json()
    company = next(
        c for c in page["results"]
        if int(c["properties"].get("numberofemployees") or 0) < 1000
        and c.get("associations", {}).get("contacts", {}).get("results")
    )
    members = {a["id"] for a in company["associations"]["contacts"]["results"]}
    response = requests.patch(
        f"{sandbox.hubspot_url}/crm/v3/objects/companies/{company['id']}",
        json={"properties": {"numberofemployees": "5000"}}, headers=auth, timeout=10,
    )
    assert response.status_code == 200
    later = sandbox.clock() + timedelta(seconds=2)
    summary = run_once(settings, kind="sync", clock=lambda: later)
    assert summary.leads_scored >= len(members) > 0
    with open_store(settings) as store:
        assert store.company(company["id"]).get("numberofemployees") == "5000"


def test_given_no_change_rescore_writes_nothing(sandbox: Sandbox, settings) -> None:
    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    before = salesforce_state(sandbox)
    summary = run_once(settings, kind="rescore", clock=sandbox.clock)
    assert summary.leads_scored >= 100
    assert summary.records_updated == summary.leads_created == 0
    assert salesforce_state(sandbox) == before


def test_given_daily_budget_nearly_spent_run_stops_cleanly_and_a_later_run_finishes(
    tmp_path: Path,
) -> None:
    from core.errors import BudgetExhaustedError
    from tests.e2e.conftest import settings_for, started

    sandbox = started(tmp_path, tier="pro")
    try:
        settings = settings_for(sandbox, tmp_path)
        requests.get(  # today's first call: the sandbox's daily window starts
            f"{sandbox.hubspot_url}/crm/v3/properties/contacts",
            headers={"Authorization": f"Bearer {sandbox.hubspot.token}"}, timeout=10,
        )
        daily = sandbox.hubspot.tier.daily
        sandbox.hubspot.limiter.daily_used = int(daily * settings.hubspot.daily_budget_share) - 3
        with pytest.raises(BudgetExhaustedError):
            run_once(settings, kind="sync", clock=sandbox.clock)
        assert salesforce_state(sandbox)["scored"] == []  # stopped before writing anything
        sandbox.hubspot.limiter.daily_used = 0  # a new day
        summary = run_once(settings, kind="sync", clock=sandbox.clock)
        assert summary.leads_scored >= 100 and summary.leads_waiting == 0
        assert salesforce_state(sandbox)["scored"]
    finally:
        sandbox.stop()


def test_given_hot_trigger_on_hot_leads_get_one_alert_task_each(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    import shutil

    from core.config import load_settings

    mappings = tmp_path / "mappings"
    shutil.copytree(Path(__file__).resolve().parents[2] / "mappings", mappings)
    fields = mappings / "fields.toml"
    text = fields.read_text()
    assert 'triggers = ["mql"]' in text
    fields.write_text(text.replace('triggers = ["mql"]', 'triggers = ["mql", "hot"]'))
    config = sandbox.write_config(tmp_path / "c.toml", tmp_path / "state" / "c.db")
    head = config.read_text().split("[sync]")[0]
    config.write_text(head + f'[sync]\nmappings_dir = "{mappings}"\n')
    settings = load_settings(config)
    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    tasks = [t["Connector_Key__c"] for t in sandbox.salesforce.store.records("Task")
             if t.get("Connector_Key__c")]
    hot = [k for k in tasks if k.startswith("hot:")]
    assert hot and len(tasks) == len(set(tasks))
    run_once(settings, kind="rescore", clock=sandbox.clock)
    again = [t["Connector_Key__c"] for t in sandbox.salesforce.store.records("Task")
             if t.get("Connector_Key__c")]
    assert sorted(again) == sorted(tasks)  # exactly once per episode


def test_a_run_exports_metrics_and_status_shows_the_api_budget(
    sandbox: Sandbox, settings, tmp_path: Path
) -> None:
    from app.texts import format_status
    from sync.runner import read_status

    settings.metrics.textfile = tmp_path / "metrics" / "connector.prom"
    summary = run_once(settings, kind="sync", clock=sandbox.clock)
    text = settings.metrics.textfile.read_text()
    assert f'connector_leads_scored{{kind="sync"}} {summary.leads_scored}' in text
    assert 'connector_last_run_success{kind="sync"} 1' in text
    status = format_status(read_status(settings), language="en", zone="UTC")
    assert "API budget" in status and "Salesforce" in status and "left" in status


def test_given_large_backfill_groups_writes_go_through_bulk_api_with_the_same_result(
    tmp_path: Path,
) -> None:
    from tests.e2e.conftest import settings_for, started

    states = []
    for bulk in (False, True):
        box = started(tmp_path / str(bulk))
        try:
            settings = settings_for(box, tmp_path / str(bulk))
            settings.sync.bulk_threshold = 10 if bulk else 1_000_000
            run_once(settings, kind="backfill", since=SINCE, clock=box.clock)
            states.append(salesforce_state(box))
            stats = requests.get(
                box.salesforce_url + "/_sandbox/stats",
                verify=str(box.certificate.cert_path), timeout=10,
            ).json()
            ingest = sum(c["count"] for c in stats["calls"] if "jobs/ingest" in c["route"])
            assert (ingest > 0) == bulk
        finally:
            box.stop()
    assert states[0] == states[1] and states[0]["scored"]


def test_given_dry_run_backfill_records_no_progress(sandbox: Sandbox, settings) -> None:
    summary = run_once(settings, kind="backfill", since=SINCE, dry_run=True, clock=sandbox.clock)
    assert summary.planned["updates"] > 0
    with open_store(settings) as store:
        assert store.cursors() == {}
