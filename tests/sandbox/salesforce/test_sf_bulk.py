"""Bulk API 2.0 ingest end to end through `sf.bulk2`, plus the raw job life cycle."""

from __future__ import annotations

import csv
import io

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from sandbox.httpbase import FaultPlan
from sandbox.salesforce import SalesforceSandbox


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_bulk2_upsert_end_to_end_with_failed_results(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    sf_sandbox.seed({"Lead": [{"LastName": "Old", "Company": "Acme",
                               "HubSpot_Contact_Id__c": "hs-1"}]})
    records = [
        {"HubSpot_Contact_Id__c": "hs-1", "LastName": "Updated", "Company": "Acme",
         "Lead_Score__c": "80"},
        {"HubSpot_Contact_Id__c": "hs-2", "LastName": "New", "Company": "Beta",
         "Lead_Stage__c": "MQL", "MQL_Date__c": "2024-05-01T10:00:00Z"},
        {"HubSpot_Contact_Id__c": "hs-3", "LastName": "Bad stage", "Company": "Gamma",
         "Lead_Stage__c": "Lukewarm"},
        {"HubSpot_Contact_Id__c": "hs-4", "LastName": "Bad score", "Company": "Delta",
         "Lead_Score__c": "lots"},
        {"HubSpot_Contact_Id__c": "hs-5", "LastName": "", "Company": "Epsilon"},
    ]

    summary = sf_client.bulk2.Lead.upsert(records=records,
                                          external_id_field="HubSpot_Contact_Id__c", wait=0)

    assert len(summary) == 1
    job = summary[0]
    assert (job["numberRecordsProcessed"], job["numberRecordsFailed"],
            job["numberRecordsTotal"]) == (5, 3, 5)
    successes = _rows(sf_client.bulk2.Lead.get_successful_records(job["job_id"]))
    failures = _rows(sf_client.bulk2.Lead.get_failed_records(job["job_id"]))
    assert {(r["HubSpot_Contact_Id__c"], r["sf__Created"]) for r in successes} == {
        ("hs-1", "false"), ("hs-2", "true")}
    errors = {r["HubSpot_Contact_Id__c"]: r["sf__Error"] for r in failures}
    assert errors["hs-3"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:")
    assert errors["hs-4"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:Lead Score")
    assert errors["hs-5"] == ("REQUIRED_FIELD_MISSING:Required fields are missing: "
                              "[LastName]:LastName --")
    leads = {r["HubSpot_Contact_Id__c"]: r for r in sf_sandbox.store.records("Lead")}
    assert leads["hs-1"]["LastName"] == "Updated" and leads["hs-1"]["Lead_Score__c"] == 80.0
    assert leads["hs-2"]["MQL_Date__c"] == "2024-05-01T10:00:00.000+0000"
    assert set(leads) == {"hs-1", "hs-2"}
    assert _rows(sf_client.bulk2.Lead.get_unprocessed_records(job["job_id"])) == []


def test_bulk2_insert_and_update_by_id(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    inserted = sf_client.bulk2.Task.insert(
        records=[{"Subject": f"Call {i}", "Connector_Key__c": f"k{i}"} for i in range(3)],
        wait=0)
    tasks = sf_sandbox.store.records("Task")
    updates = [{"Id": t["Id"], "Status": "Completed"} for t in tasks[:2]]
    updated = sf_client.bulk2.Task.update(records=updates, wait=0)

    assert inserted[0]["numberRecordsFailed"] == 0
    assert updated[0]["numberRecordsProcessed"] == 2
    statuses = sorted(t["Status"] for t in sf_sandbox.store.records("Task"))
    assert statuses == ["Completed", "Completed", "Not Started"]


def test_bulk2_job_with_an_unknown_column_fails(sf_client: Salesforce) -> None:
    with pytest.raises(SalesforceOperationError) as caught:
        sf_client.bulk2.Lead.insert(records=[{"LastName": "A", "Company": "B", "Mood": "x"}],
                                    wait=0)

    assert "Field name not found : Mood" in str(caught.value)


def test_bulk2_lock_faults_fail_rows_deterministically(
    sf_factory: object, sf_client_for: object
) -> None:
    outcomes = []
    for _ in range(2):
        sandbox = sf_factory(faults=FaultPlan(lock=0.3, seed=5))  # type: ignore[operator]
        client = sf_client_for(sandbox)  # type: ignore[operator]
        result = client.bulk2.Task.insert(
            records=[{"Subject": f"s{i}", "Connector_Key__c": f"k{i}"} for i in range(30)],
            wait=0)
        failed = _rows(client.bulk2.Task.get_failed_records(result[0]["job_id"]))
        assert {r["sf__Error"].split(":")[0] for r in failed} == {"UNABLE_TO_LOCK_ROW"}
        outcomes.append(sorted(r["Connector_Key__c"] for r in failed))
    assert outcomes[0] == outcomes[1] and outcomes[0]


def test_raw_job_life_cycle(sf_sandbox: SalesforceSandbox, sf_http: requests.Session) -> None:
    base = f"{sf_sandbox.instance_url}/services/data/v59.0/jobs/ingest"
    headers = {"Authorization": f"Bearer {sf_sandbox.session_id}"}

    created = sf_http.post(base, headers=headers, json={
        "object": "Contact", "operation": "upsert", "externalIdFieldName": "HubSpot_Contact_Id__c",
        "contentType": "CSV", "lineEnding": "LF"}).json()
    job = f"{base}/{created['id']}"
    upload = sf_http.put(f"{job}/batches", data=b"LastName,HubSpot_Contact_Id__c\nDoe,h1\n",
                         headers={**headers, "Content-Type": "text/csv"})
    second_upload = sf_http.put(f"{job}/batches", data=b"LastName\nX\n",
                                headers={**headers, "Content-Type": "text/csv"})
    closed = sf_http.patch(job, headers=headers, json={"state": "UploadComplete"}).json()
    polled = sf_http.get(job, headers=headers).json()
    listed = sf_http.get(base, headers=headers).json()
    deleted = sf_http.delete(job, headers=headers)
    no_ext = sf_http.post(base, headers=headers, json={"object": "Lead", "operation": "upsert"})

    assert created["state"] == "Open" and created["id"].startswith("750")
    assert created["contentUrl"] == f"services/data/v59.0/jobs/ingest/{created['id']}/batches"
    assert upload.status_code == 201 and second_upload.status_code == 409
    assert closed["state"] == "UploadComplete"
    assert (polled["state"], polled["numberRecordsProcessed"]) == ("JobComplete", 1)
    assert polled["jobType"] == "V2Ingest"
    assert [j["id"] for j in listed["records"]] == [created["id"]]
    assert deleted.status_code == 204
    assert no_ext.status_code == 400 and no_ext.json()[0]["errorCode"] == "INVALIDJOB"
    assert sf_sandbox.store.records("Contact")[0]["HubSpot_Contact_Id__c"] == "h1"


def test_aborted_job_reports_unprocessed_records(
    sf_sandbox: SalesforceSandbox, sf_http: requests.Session
) -> None:
    base = f"{sf_sandbox.instance_url}/services/data/v59.0/jobs/ingest"
    headers = {"Authorization": f"Bearer {sf_sandbox.session_id}"}
    job = f"{base}/{sf_http.post(base, headers=headers, json={'object': 'Lead', 'operation': 'insert'}).json()['id']}"  # noqa: E501
    sf_http.put(f"{job}/batches", data=b"LastName,Company\nA,B\nC,D\n",
                headers={**headers, "Content-Type": "text/csv"})

    aborted = sf_http.patch(job, headers=headers, json={"state": "Aborted"}).json()
    unprocessed = sf_http.get(f"{job}/unprocessedrecords/", headers=headers).text

    assert aborted["state"] == "Aborted"
    assert _rows(unprocessed) == [{"LastName": "A", "Company": "B"},
                                  {"LastName": "C", "Company": "D"}]
    assert sf_sandbox.store.records("Lead") == []
