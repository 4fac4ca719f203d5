"""What the write path costs in Salesforce API calls, and that the cheap paths stay exactly-once:
a large backfill resolves identity by Bulk API query jobs and writes through spooled Bulk API
ingest jobs; a crash while the spool is flushed, or injected faults, end in the same
Salesforce state with no duplicate Lead or Task."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.salesforce.client import SalesforceClient
from core.errors import RetriableAPIError
from sandbox.serve import Sandbox
from sync import sink as sink_module
from sync.runner import open_store, run_once
from tests.clock import HISTORY_START
from tests.e2e.conftest import current_clock, settings_for, started

SINCE = HISTORY_START
BULK_FROM = 10  # the demo's 120 contacts count as a large backfill


def routes(box: Sandbox) -> Counter[str]:
    stats = requests.get(
        box.salesforce_url + "/_sandbox/stats", verify=str(box.certificate.cert_path), timeout=10
    ).json()
    out: Counter[str] = Counter()
    for c in stats["calls"]:
        out[f"{c['method']} {c['route'].replace('/services/data/v{version}/', '')}"] += c["count"]
    return out


def org_state(box: Sandbox) -> dict[str, Any]:
    """What the connector wrote, comparable across orgs (no Ids, no timestamps)."""
    fields = ("Lead_Score__c", "Lead_Stage__c", "MQL_Status__c", "Segment__c", "Lead_Grade__c")
    records = {
        sobject: sorted(
            (str(r.get("Email")).lower(), *(str(r.get(f)) for f in fields))
            for r in box.salesforce.store.records(sobject)
        )
        for sobject in ("Lead", "Contact")
    }
    tasks = sorted(
        str(t.get("Connector_Key__c"))
        for t in box.salesforce.store.records("Task")
        if t.get("Connector_Key__c")
    )
    return {"records": records, "tasks": tasks}


def backfill(box: Sandbox, tmp_path: Path, bulk_from: int | None) -> dict[str, Any]:
    settings = settings_for(box, tmp_path)
    settings.sync.bulk_threshold = bulk_from or 1_000_000
    return run_once(settings, kind="backfill", since=SINCE, clock=box.clock)


@pytest.fixture
def twin(tmp_path: Path):
    """Two identically seeded orgs: one for the reference run, one for the run under test."""
    boxes = [started(tmp_path / name) for name in ("reference", "tested")]
    yield boxes
    for box in boxes:
        box.stop()


def test_given_large_backfill_identity_by_two_query_jobs_and_writes_by_spooled_ingest_jobs(
    twin: list[Sandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, tested = twin
    backfill(reference, tmp_path / "reference", None)
    matched_by_soql: list[int] = []
    real_match = sink_module.match_emails
    monkeypatch.setattr(
        sink_module,
        "match_emails",
        lambda *a, **k: matched_by_soql.append(1) or real_match(*a, **k),
    )
    before = routes(tested)

    summary = backfill(tested, tmp_path / "tested", BULK_FROM)

    calls = routes(tested) - before
    assert org_state(tested) == org_state(reference)
    assert org_state(tested)["tasks"]  # the seed has MQLs: Tasks were written
    assert summary.write_failures == 0
    # Identity: one query job for Leads, one for Contacts; no SOQL matching by email.
    assert matched_by_soql == []
    assert calls["POST jobs/query"] == 2
    assert calls["GET jobs/query/{job_id}/results"] == 2
    # Writes: every kind (Lead updates, Contact updates, Lead creates, Tasks) at or above the
    # threshold is one ingest job: create, upload, close, one poll, results only where needed;
    # a kind below it is one Collections call.
    jobs = calls["POST jobs/ingest"]
    assert 1 <= jobs <= 4
    assert calls["PUT jobs/ingest/{job_id}/batches"] == jobs
    assert calls["GET jobs/ingest/{job_id}"] == jobs
    collections = sum(n for r, n in calls.items() if "composite" in r)
    assert jobs + collections <= 4
    write_path = sum(n for route, n in calls.items() if "jobs/" in route or "composite" in route)
    assert write_path <= 2 * 3 + jobs * 6 + collections
    with open_store(settings_for(tested, tmp_path / "tested")) as store:
        assert store.spool.spool_count() == 0
        assert store.spool.snapshot(store.all_lead_emails()) == {}


def test_given_answers_lost_while_the_spool_is_flushed_a_rerun_leaves_no_duplicate(
    twin: list[Sandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, tested = twin
    backfill(reference, tmp_path / "reference", None)
    real = SalesforceClient.bulk_ingest
    lost: list[str] = []

    def lose_answer(self: SalesforceClient, sobject: str, *args: Any, **kwargs: Any) -> Any:
        job = real(self, sobject, *args, **kwargs)  # Salesforce did the work ...
        if not lost:
            lost.append(sobject)
            raise RetriableAPIError("connection reset")  # ... and the answer never came
        return job

    monkeypatch.setattr(SalesforceClient, "bulk_ingest", lose_answer)
    with pytest.raises(RetriableAPIError):
        backfill(tested, tmp_path / "tested", BULK_FROM)
    with open_store(settings_for(tested, tmp_path / "tested")) as store:
        assert store.spool.spool_count() > 0  # the writes wait in the spool

    backfill(tested, tmp_path / "tested", BULK_FROM)  # the operator reruns the command

    assert lost
    assert org_state(tested) == org_state(reference)
    keys = Counter(org_state(tested)["tasks"])
    assert keys and max(keys.values()) == 1
    hubspot_ids = Counter(
        r.get("HubSpot_Contact_Id__c")
        for r in tested.salesforce.store.records("Lead")
        if r.get("HubSpot_Contact_Id__c")
    )
    assert max(hubspot_ids.values()) == 1


def test_given_faults_a_bulk_backfill_ends_as_a_clean_one(tmp_path: Path) -> None:
    reference = started(tmp_path / "reference")
    faulty = started(tmp_path / "faulty", faults="5xx=0.05,lock=0.05,reset=0.02,seed=7")
    try:
        backfill(reference, tmp_path / "reference", None)
        backfill(faulty, tmp_path / "faulty", BULK_FROM)
        summary = backfill(faulty, tmp_path / "faulty", BULK_FROM)  # retries what was left

        assert org_state(faulty) == org_state(reference)
        assert summary.write_failures == 0
        keys = Counter(org_state(faulty)["tasks"])
        assert max(keys.values()) == 1
    finally:
        reference.stop()
        faulty.stop()


def test_incremental_sync_of_linked_leads_costs_one_composite_write_per_batch(
    twin: list[Sandbox], tmp_path: Path
) -> None:
    _, box = twin
    settings = settings_for(box, tmp_path)
    run_once(settings, kind="backfill", since=SINCE, clock=current_clock())
    with open_store(settings) as store:
        store.mark_all_dirty()  # every lead is processed again ...
    settings.sync.no_match_recheck_hours = 24
    before = routes(box)

    summary = run_once(settings, kind="rescore", clock=current_clock())  # ... with nothing changed

    calls = routes(box) - before
    # Linked leads need no matching; leads without a record were checked by the backfill
    # moments ago; unchanged values are not sent: no call at all from the write path.
    assert summary.leads_scored > 100
    write_path = {r: n for r, n in calls.items() if "query" not in r or "jobs" in r}
    assert write_path == {}, write_path


def test_given_writes_left_spooled_a_later_run_for_the_same_leads_is_not_overwritten(
    twin: list[Sandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, tested = twin
    later = current_clock()() + timedelta(days=120)  # decay moves every score

    ref_settings = settings_for(reference, tmp_path / "reference")
    ref_settings.sync.bulk_threshold = BULK_FROM
    run_once(ref_settings, kind="backfill", since=SINCE, clock=current_clock())
    run_once(ref_settings, kind="rescore", clock=lambda: later)

    def unreachable(self: SalesforceClient, *args: Any, **kwargs: Any) -> Any:
        raise RetriableAPIError("connection refused")  # before Salesforce saw anything

    settings = settings_for(tested, tmp_path / "tested")
    settings.sync.bulk_threshold = BULK_FROM
    with monkeypatch.context() as patch:
        patch.setattr(SalesforceClient, "bulk_ingest", unreachable)
        with pytest.raises(RetriableAPIError):
            run_once(settings, kind="backfill", since=SINCE, clock=current_clock())
    with open_store(settings) as store:
        spooled = store.spool.spool_count()
    assert spooled > 0

    summary = run_once(settings, kind="rescore", clock=lambda: later)

    assert org_state(tested) == org_state(reference)
    assert summary.write_failures == 0
    with open_store(settings) as store:
        assert store.spool.spool_count() == 0
