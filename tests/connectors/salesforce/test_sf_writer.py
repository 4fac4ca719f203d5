"""The writer on bare responses: grouping, upserts, per-record failures, Tasks, Bulk API 2.0."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
import responses

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.writer import (
    NO_WHO_ID,
    _bulk_error,
    apply,
    bulk_upsert_leads,
    write_records,
    write_tasks,
)
from core.errors import FatalAPIError
from core.plan import RecordWrite, TaskWrite, WriteError
from tests.connectors.salesforce.sf_testkit import API, FAST, Sleeps, make_settings

COMPOSITE = f"{API}/composite"
COLLECTIONS = f"{API}/composite/sobjects"
LEAD_UPSERT = f"{COLLECTIONS}/Lead/HubSpot_Contact_Id__c"
TASK_UPSERT = f"{COLLECTIONS}/Task/Connector_Key__c"


def _client(sleeps: Sleeps | None = None) -> SalesforceClient:
    return SalesforceClient(
        make_settings(), retry_policy=FAST, sleep=sleeps if sleeps is not None else (lambda s: None)
    )


def _echo_ids(request):
    records = json.loads(request.body)["records"]
    out = []
    for r in records:
        rid = r.get("Id") or "00Q" + str(
            r.get("HubSpot_Contact_Id__c") or r.get("Connector_Key__c")
        )
        out.append({"id": rid, "success": True, "errors": [], "created": "Id" not in r})
    return 200, {}, json.dumps(out)


def _composite_echo(request):
    """A Composite call of Collections subrequests, each answered like `_echo_ids`."""
    subs = json.loads(request.body)["compositeRequest"]
    out = []
    for sub in subs:
        body = json.loads(_echo_ids(type("R", (), {"body": json.dumps(sub["body"])}))[2])
        out.append({"body": body, "httpHeaders": {}, "httpStatusCode": 200,
                    "referenceId": sub["referenceId"]})
    return 200, {}, json.dumps({"compositeResponse": out})


def _update(key: str, sobject: str, rid: str, **fields: object) -> RecordWrite:
    return RecordWrite(lead_key=key, sobject=sobject, record_id=rid, fields=fields)  # type: ignore[arg-type]


def _create(key: str, hubspot_id: str, **fields: object) -> RecordWrite:
    return RecordWrite(
        lead_key=key, sobject="Lead", record_id=None, fields=fields, external_id=hubspot_id
    )


@responses.activate
def test_1000_updates_take_one_composite_call_and_results_come_back_in_order() -> None:
    responses.add_callback(responses.POST, COMPOSITE, callback=_composite_echo)
    writes = [_update(f"{i}@x.com", "Lead", f"00Q{i:05d}", Rating="Hot") for i in range(1000)]
    client = _client()

    results = write_records(client, writes)

    assert client.total_calls == 1
    subs = json.loads(responses.calls[0].request.body)["compositeRequest"]
    assert [len(s["body"]["records"]) for s in subs] == [200] * 5
    assert {(s["method"], s["url"]) for s in subs} == {
        ("PATCH", "/services/data/v59.0/composite/sobjects")
    }
    assert [r.lead_key for r in results] == [w.lead_key for w in writes]
    assert [r.record_id for r in results] == [w.record_id for w in writes]
    assert all(r.success and not r.created for r in results)


@responses.activate
def test_updates_are_grouped_per_sobject_and_creates_are_upserted_on_the_hubspot_id() -> None:
    responses.add_callback(responses.POST, COMPOSITE, callback=_composite_echo)
    writes = [
        _update("a@x.com", "Lead", "00QA", Status="Working"),
        _create("new@x.com", "501", LastName="New", Company="N Inc", Email="new@x.com"),
        _update("b@x.com", "Contact", "003B", Title="CTO"),
        _update("c@x.com", "Lead", "00QC", Status="Working"),
    ]
    client = _client()

    results = write_records(client, writes)

    assert [r.record_id for r in results] == ["00QA", "00Q501", "003B", "00QC"]
    assert results[1].created
    assert client.total_calls == 1  # three Collections subrequests in one Composite call
    composite = json.loads(responses.calls[0].request.body)
    subs = [(s["url"].split("/v59.0/")[1], s["body"]) for s in composite["compositeRequest"]]
    assert [(url, [r["attributes"]["type"] for r in b["records"]]) for url, b in subs] == [
        ("composite/sobjects", ["Lead", "Lead"]),
        ("composite/sobjects", ["Contact"]),
        ("composite/sobjects/Lead/HubSpot_Contact_Id__c", ["Lead"]),
    ]
    assert subs[2][1]["records"][0]["HubSpot_Contact_Id__c"] == "501"
    assert all(b["allOrNone"] is False for _, b in subs)


@responses.activate
def test_a_subrequest_refused_as_a_whole_fails_exactly_its_records() -> None:
    def answer(request):
        subs = json.loads(request.body)["compositeRequest"]
        first = json.loads(_echo_ids(type("R", (), {"body": json.dumps(subs[0]["body"])}))[2])
        refused = [{"errorCode": "DUPLICATE_VALUE", "message": "duplicate value found"}]
        return 200, {}, json.dumps({"compositeResponse": [
            {"body": first, "httpHeaders": {}, "httpStatusCode": 200, "referenceId": "w0"},
            {"body": refused, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "w1"},
        ]})

    responses.add_callback(responses.POST, COMPOSITE, callback=answer)
    writes = [
        _update("a@x.com", "Lead", "00QA", Status="Working"),
        _update("b@x.com", "Contact", "003B", Title="CTO"),
    ]

    results = write_records(_client(), writes)

    assert results[0].success and results[0].record_id == "00QA"
    assert not results[1].success
    assert results[1].errors == (WriteError("DUPLICATE_VALUE", "duplicate value found"),)


@responses.activate
def test_a_subrequest_that_failed_for_a_passing_reason_resends_the_composite() -> None:
    busy = {"compositeResponse": [
        {"body": [{"errorCode": "SERVER_UNAVAILABLE", "message": "busy"}], "httpHeaders": {},
         "httpStatusCode": 503, "referenceId": "w0"},
        {"body": [], "httpHeaders": {}, "httpStatusCode": 200, "referenceId": "w1"},
    ]}
    responses.post(COMPOSITE, json=busy)
    responses.add_callback(responses.POST, COMPOSITE, callback=_composite_echo)
    writes = [
        _update("a@x.com", "Lead", "00QA", Status="Working"),
        _update("b@x.com", "Contact", "003B", Title="CTO"),
    ]
    client = _client()

    results = write_records(client, writes)

    assert all(r.success for r in results)
    assert client.total_calls == 2


@responses.activate
def test_a_rejected_record_is_a_failed_result_with_salesforce_code_message_and_fields() -> None:
    rejection = {
        "id": None,
        "success": False,
        "errors": [
            {
                "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "message": "Rating must be set",
                "fields": ["Rating"],
            }
        ],
    }
    responses.patch(
        COLLECTIONS,
        json=[
            {"id": "00Q1", "success": True, "errors": []},
            rejection,
            {"id": "00Q3", "success": True, "errors": []},
        ],
    )
    writes = [_update(f"{i}@x.com", "Lead", f"00Q{i}", Rating="Hot") for i in (1, 2, 3)]

    results = write_records(_client(), writes)

    assert [r.success for r in results] == [True, False, True]
    assert results[1].errors == (
        WriteError("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Rating must be set", ("Rating",)),
    )
    assert results[1].lead_key == "2@x.com"
    assert not results[1].retriable


def test_a_create_without_external_id_is_a_programming_error() -> None:
    bad = RecordWrite("a@x.com", "Lead", None, {"LastName": "A"}, external_id=None)
    with pytest.raises(ValueError):
        write_records(_client(), [bad])
    with pytest.raises(ValueError):
        write_records(_client(), [RecordWrite("a@x.com", "Contact", None, {}, external_id="1")])


@responses.activate
def test_tasks_are_upserted_on_the_connector_key_with_who_id_from_this_run() -> None:
    responses.add_callback(responses.PATCH, TASK_UPSERT, callback=_echo_ids)
    tasks = [
        TaskWrite("old@x.com", "k-old", {"Subject": "Call"}, who_id="003OLD"),
        TaskWrite("new@x.com", "k-new", {"Subject": "Call"}),
        TaskWrite("failed@x.com", "k-failed", {"Subject": "Call"}),
    ]

    results = write_tasks(_client(), tasks, {"new@x.com": "00QNEW"})

    sent = json.loads(responses.calls[0].request.body)["records"]
    assert [(r["WhoId"], r["Connector_Key__c"]) for r in sent] == [
        ("003OLD", "k-old"),
        ("00QNEW", "k-new"),
    ]
    assert [r.success for r in results] == [True, True, False]
    assert results[2].errors[0].code == NO_WHO_ID
    assert len(responses.calls) == 1


@responses.activate
def test_apply_feeds_created_lead_ids_to_the_tasks() -> None:
    responses.add_callback(responses.PATCH, LEAD_UPSERT, callback=_echo_ids)
    responses.add_callback(responses.PATCH, TASK_UPSERT, callback=_echo_ids)
    records = [_create("n@x.com", "77", LastName="N", Company="C")]
    tasks = [TaskWrite("n@x.com", "mql-77-1", {"Subject": "MQL"})]

    record_results, task_results = apply(_client(), records, tasks)

    assert record_results[0].record_id == "00Q77"
    assert json.loads(responses.calls[1].request.body)["records"][0]["WhoId"] == "00Q77"
    assert task_results[0].success


# ---------------------------------------------------------------------- Bulk API 2.0

JOBS = f"{API}/jobs/ingest"


def _register_bulk(job_states: list[str], successful: str, failed: str, unprocessed: str) -> None:
    responses.post(JOBS, json={"id": "750JOB", "state": "Open"})
    responses.put(f"{JOBS}/750JOB/batches", status=201)
    responses.patch(f"{JOBS}/750JOB", json={"id": "750JOB", "state": "UploadComplete"})
    for state in job_states:
        responses.get(
            f"{JOBS}/750JOB",
            json={
                "id": "750JOB",
                "state": state,
                "numberRecordsProcessed": 3,
                "numberRecordsFailed": 1,
                "errorMessage": "job failed" if state == "Failed" else None,
            },
        )
    responses.get(f"{JOBS}/750JOB/successfulResults/", body=successful)
    responses.get(f"{JOBS}/750JOB/failedResults/", body=failed)
    responses.get(f"{JOBS}/750JOB/unprocessedrecords/", body=unprocessed)


@responses.activate
def test_bulk_upsert_reads_results_back_record_by_record(sleeps: Sleeps) -> None:
    _register_bulk(
        ["UploadComplete", "InProgress", "JobComplete"],
        successful=(
            '"sf__Id","sf__Created","HubSpot_Contact_Id__c","Company","LastName"\n'
            '"00Q3","false","3","C3","L3"\n'
            '"00Q1","true","1","C1","L1"\n'
        ),
        failed=(
            '"sf__Id","sf__Error","HubSpot_Contact_Id__c","Company","LastName"\n'
            '"","STRING_TOO_LONG:Company: data value too large:Company --","2","CCC","L2"\n'
        ),
        unprocessed='"HubSpot_Contact_Id__c","Company","LastName"\n"4","C4","L4"\n',
    )
    writes = [
        _create("1@x.com", "1", LastName="L1", Company="C1"),
        _create("2@x.com", "2", LastName="L2", Company="CCC"),
        _create("3@x.com", "3", LastName="L3", Company="C3"),
        _create("4@x.com", "4", LastName="L4", Company="C4", Rating=None),
        _create("dup@x.com", "1", LastName="again", Company="C1"),
    ]
    client = _client(sleeps)

    results = bulk_upsert_leads(client, writes, poll_interval=0.5)

    assert [(r.lead_key, r.success, r.record_id, r.created) for r in results[:3]] == [
        ("1@x.com", True, "00Q1", True),
        ("2@x.com", False, None, False),
        ("3@x.com", True, "00Q3", False),
    ]
    assert results[1].errors == (
        WriteError("STRING_TOO_LONG", "Company: data value too large", ("Company",)),
    )
    assert results[3].errors[0].code == "CONNECTOR_UNPROCESSED"
    assert results[4].errors[0].code == "CONNECTOR_DUPLICATE_EXTERNAL_ID"
    job = json.loads(responses.calls[0].request.body)
    assert job == {
        "object": "Lead",
        "operation": "upsert",
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
        "externalIdFieldName": "HubSpot_Contact_Id__c",
    }
    upload = responses.calls[1].request
    assert upload.headers["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(upload.body.decode())))
    assert [r["HubSpot_Contact_Id__c"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[3]["Rating"] == "#N/A" and rows[0]["Rating"] == ""
    assert json.loads(responses.calls[2].request.body) == {"state": "UploadComplete"}
    assert sleeps == [0.5, 1.0]  # polls back off
    # create, upload, close, 3 polls, 3 result reads
    assert client.total_calls == 9


@responses.activate
def test_a_failed_bulk_job_is_fatal() -> None:
    _register_bulk(["Failed"], "", "", "")
    with pytest.raises(FatalAPIError, match="job failed"):
        bulk_upsert_leads(_client(), [_create("1@x.com", "1", LastName="L")])


@responses.activate
def test_a_bulk_job_that_outlives_the_timeout_is_aborted() -> None:
    responses.post(JOBS, json={"id": "750JOB", "state": "Open"})
    responses.put(f"{JOBS}/750JOB/batches", status=201)
    responses.patch(f"{JOBS}/750JOB", json={"id": "750JOB"})
    responses.get(f"{JOBS}/750JOB", json={"id": "750JOB", "state": "InProgress"})

    with pytest.raises(FatalAPIError, match="aborted"):
        bulk_upsert_leads(_client(), [_create("1@x.com", "1", LastName="L")], timeout=0)

    patches = [c for c in responses.calls if c.request.method == "PATCH"]
    assert json.loads(patches[-1].request.body) == {"state": "Aborted"}


@responses.activate
def test_write_records_routes_creates_through_bulk_at_the_threshold() -> None:
    _register_bulk(
        ["JobComplete"],
        successful='"sf__Id","sf__Created","HubSpot_Contact_Id__c","LastName"\n"00Q1","true","1","L"\n'
        '"00Q2","true","2","L"\n',
        failed='"sf__Id","sf__Error","HubSpot_Contact_Id__c","LastName"\n',
        unprocessed='"HubSpot_Contact_Id__c","LastName"\n',
    )
    writes = [_create("1@x.com", "1", LastName="L"), _create("2@x.com", "2", LastName="L")]

    results = write_records(_client(), writes, bulk_threshold=2)

    assert [r.record_id for r in results] == ["00Q1", "00Q2"]
    assert not any(re.search("composite", c.request.url) for c in responses.calls)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --",
            WriteError(
                "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", ("LastName",)
            ),
        ),
        (
            "DUPLICATE_VALUE:duplicate value found: --",
            WriteError("DUPLICATE_VALUE", "duplicate value found"),
        ),
        (
            "INVALID_EMAIL_ADDRESS:Email: invalid email address: x",
            WriteError("INVALID_EMAIL_ADDRESS", "Email: invalid email address: x"),
        ),
        ("something odd", WriteError("UNKNOWN", "something odd")),
    ],
)
def test_bulk_error_text_is_split_into_code_message_and_fields(
    text: str, expected: WriteError
) -> None:
    assert _bulk_error(text) == expected


# ---------------------------------------------------------------------- Bulk API 2.0 query

QUERY_JOBS = f"{API}/jobs/query"


@responses.activate
def test_bulk_query_follows_the_locator_until_it_reads_null(sleeps: Sleeps) -> None:
    responses.post(QUERY_JOBS, json={"id": "750Q", "state": "UploadComplete"})
    responses.get(f"{QUERY_JOBS}/750Q", json={"id": "750Q", "state": "InProgress"})
    responses.get(f"{QUERY_JOBS}/750Q", json={"id": "750Q", "state": "JobComplete"})
    responses.get(
        f"{QUERY_JOBS}/750Q/results",
        body='"Id","Email"\n"003A","a@x.com"\n"003B",""\n',
        headers={"Sforce-Locator": "MjAwMA", "Sforce-NumberOfRecords": "2"},
        match=[responses.matchers.query_param_matcher({"maxRecords": "2"})],
    )
    responses.get(
        f"{QUERY_JOBS}/750Q/results",
        body='"Id","Email"\n"003C","c@x.com"\n',
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"},
        match=[responses.matchers.query_param_matcher({"maxRecords": "2", "locator": "MjAwMA"})],
    )
    client = _client(sleeps)

    pages = list(client.bulk_query("SELECT Id, Email FROM Contact", page_records=2,
                                   poll_interval=1.5))

    assert pages == [
        [{"Id": "003A", "Email": "a@x.com"}, {"Id": "003B", "Email": ""}],
        [{"Id": "003C", "Email": "c@x.com"}],
    ]
    assert json.loads(responses.calls[0].request.body) == {
        "operation": "query",
        "query": "SELECT Id, Email FROM Contact",
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    assert sleeps == [1.5]
    assert client.total_calls == 5  # create, two polls, two pages


@responses.activate
def test_a_failed_bulk_query_is_fatal_and_names_the_reason() -> None:
    responses.post(QUERY_JOBS, json={"id": "750Q", "state": "UploadComplete"})
    responses.get(f"{QUERY_JOBS}/750Q", json={"id": "750Q", "state": "Failed",
                                             "errorMessage": "INVALID_FIELD: No such column"})
    with pytest.raises(FatalAPIError, match="No such column"):
        list(_client().bulk_query("SELECT Nope FROM Contact"))


@responses.activate
def test_composite_queries_come_back_in_order_and_a_refused_one_stops_the_call() -> None:
    def answer(request):
        subs = json.loads(request.body)["compositeRequest"]
        out = []
        for sub in subs:
            soql = sub["url"].split("q=", 1)[1]
            body = {"totalSize": 1, "done": True,
                    "records": [{"attributes": {"type": "Lead"}, "Id": soql[-1]}]}
            out.append({"body": body, "httpHeaders": {}, "httpStatusCode": 200,
                        "referenceId": sub["referenceId"]})
        return 200, {}, json.dumps({"compositeResponse": out})

    responses.add_callback(responses.POST, COMPOSITE, callback=answer)
    client = _client()

    answers = client.query_many([f"SELECT Id FROM Lead WHERE X = {i}" for i in range(3)])

    assert answers == [[{"Id": "0"}], [{"Id": "1"}], [{"Id": "2"}]]
    assert client.total_calls == 1

    responses.replace(responses.POST, COMPOSITE, json={"compositeResponse": [
        {"body": [{"errorCode": "MALFORMED_QUERY", "message": "unexpected token"}],
         "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "q0"},
        {"body": {"totalSize": 0, "done": True, "records": []}, "httpHeaders": {},
         "httpStatusCode": 200, "referenceId": "q1"},
    ]})
    with pytest.raises(FatalAPIError, match="unexpected token"):
        client.query_many(["SELECT", "SELECT Id FROM Lead"])


QUERY_JOBS = f"{API}/jobs/query"


@responses.activate
def test_a_bulk_query_job_that_fails_is_fatal_and_names_the_job() -> None:
    responses.post(QUERY_JOBS, json={"id": "750Q", "state": "UploadComplete"})
    responses.get(
        f"{QUERY_JOBS}/750Q", json={"id": "750Q", "state": "Failed", "errorMessage": "bad SOQL"}
    )
    with pytest.raises(FatalAPIError, match="bulk query 750Q ended Failed: bad SOQL"):
        list(_client().bulk_query("SELECT Id FROM Lead"))
    assert not [c for c in responses.calls if c.request.method == "PATCH"]  # already final


@responses.activate
def test_a_bulk_query_job_that_outlives_the_timeout_is_aborted() -> None:
    responses.post(QUERY_JOBS, json={"id": "750Q", "state": "UploadComplete"})
    responses.get(f"{QUERY_JOBS}/750Q", json={"id": "750Q", "state": "InProgress"})
    responses.patch(f"{QUERY_JOBS}/750Q", json={"id": "750Q", "state": "Aborted"})

    with pytest.raises(FatalAPIError, match="aborted"):
        list(_client().bulk_query("SELECT Id FROM Lead", timeout=0))

    patches = [c for c in responses.calls if c.request.method == "PATCH"]
    assert [json.loads(p.request.body) for p in patches] == [{"state": "Aborted"}]
