"""Bulk API 2.0 query jobs on the sandbox, raw over HTTPS: life cycle, paging by locator."""

from __future__ import annotations

import csv
import io

import requests

from sandbox.salesforce import DEFAULT_SALESFORCE_SESSION, SalesforceSandbox

HEADERS = {"Authorization": f"Bearer {DEFAULT_SALESFORCE_SESSION}"}


def _base(sandbox: SalesforceSandbox, version: str = "59.0") -> str:
    return f"{sandbox.instance_url}/services/data/v{version}/jobs/query"


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _seed_leads(sandbox: SalesforceSandbox, count: int) -> None:
    sandbox.seed({"Lead": [
        {"LastName": f"L{i:04d}", "Company": "Acme", "Email": f"l{i}@x.com"}
        for i in range(count)
    ]})


def _calls(sandbox: SalesforceSandbox, http: requests.Session) -> int:
    stats = http.get(f"{sandbox.instance_url}/_sandbox/stats").json()
    return sum(c["count"] for c in stats["calls"])


def test_query_job_runs_on_first_poll_and_pages_follow_the_locator_until_null(
    sf_sandbox: SalesforceSandbox, sf_http: requests.Session
) -> None:
    _seed_leads(sf_sandbox, 25)
    created = sf_http.post(_base(sf_sandbox), headers=HEADERS, json={
        "operation": "query", "query": "SELECT Id, Email, IsConverted FROM Lead",
        "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"})
    assert created.status_code == 200
    job = created.json()
    assert job["state"] == "UploadComplete" and job["jobType"] == "V2Query"
    assert job["id"].startswith("750") and len(job["id"]) == 18

    info = sf_http.get(f"{_base(sf_sandbox)}/{job['id']}", headers=HEADERS).json()
    assert info["state"] == "JobComplete"
    assert info["numberRecordsProcessed"] == 25

    seen: list[dict[str, str]] = []
    sizes: list[str] = []
    locator = ""
    while True:
        params = {"maxRecords": "10"} | ({"locator": locator} if locator else {})
        page = sf_http.get(f"{_base(sf_sandbox)}/{job['id']}/results", headers=HEADERS,
                           params=params)
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/csv")
        sizes.append(page.headers["Sforce-NumberOfRecords"])
        seen.extend(_rows(page.text))
        locator = page.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert sizes == ["10", "10", "5"]
    assert len(seen) == len({r["Id"] for r in seen}) == 25  # no overlap between pages
    assert list(seen[0]) == ["Id", "Email", "IsConverted"]
    assert {r["IsConverted"] for r in seen} == {"false"}
    # a locator can be read again while the job exists
    again = sf_http.get(f"{_base(sf_sandbox)}/{job['id']}/results", headers=HEADERS,
                        params={"maxRecords": "10"})
    assert _rows(again.text) == seen[:10]


def test_results_before_completion_and_bad_queries_are_refused(
    sf_sandbox: SalesforceSandbox, sf_http: requests.Session
) -> None:
    _seed_leads(sf_sandbox, 2)
    job = sf_http.post(_base(sf_sandbox), headers=HEADERS, json={
        "operation": "query", "query": "SELECT Id FROM Lead"}).json()
    early = sf_http.get(f"{_base(sf_sandbox)}/{job['id']}/results", headers=HEADERS)
    assert early.status_code == 400
    assert early.json()[0]["errorCode"] == "INVALIDJOBSTATE"

    malformed = sf_http.post(_base(sf_sandbox), headers=HEADERS, json={
        "operation": "query", "query": "SELECT FROM"})
    assert malformed.status_code == 400
    aggregate = sf_http.post(_base(sf_sandbox), headers=HEADERS, json={
        "operation": "query", "query": "SELECT COUNT() FROM Lead"})
    assert aggregate.status_code == 400
    bad_op = sf_http.post(_base(sf_sandbox), headers=HEADERS, json={
        "operation": "upsert", "query": "SELECT Id FROM Lead"})
    assert bad_op.status_code == 400 and bad_op.json()[0]["errorCode"] == "INVALIDJOB"


def test_abort_then_delete_and_every_call_counts_against_the_api_allowance(
    sf_sandbox: SalesforceSandbox, sf_http: requests.Session
) -> None:
    _seed_leads(sf_sandbox, 3)
    before = _calls(sf_sandbox, sf_http)
    job = sf_http.post(_base(sf_sandbox), headers=HEADERS, json={
        "operation": "query", "query": "SELECT Id FROM Lead"}).json()
    aborted = sf_http.patch(f"{_base(sf_sandbox)}/{job['id']}", headers=HEADERS,
                            json={"state": "Aborted"})
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    results = sf_http.get(f"{_base(sf_sandbox)}/{job['id']}/results", headers=HEADERS)
    assert results.status_code == 400
    deleted = sf_http.delete(f"{_base(sf_sandbox)}/{job['id']}", headers=HEADERS)
    assert deleted.status_code == 204
    gone = sf_http.get(f"{_base(sf_sandbox)}/{job['id']}", headers=HEADERS)
    assert gone.status_code == 404
    assert _calls(sf_sandbox, sf_http) - before == 5
    assert "api-usage=" in gone.headers["Sforce-Limit-Info"]


def test_results_must_be_read_with_the_api_version_of_the_job(
    sf_sandbox: SalesforceSandbox, sf_http: requests.Session
) -> None:
    _seed_leads(sf_sandbox, 1)
    job = sf_http.post(_base(sf_sandbox), headers=HEADERS, json={
        "operation": "query", "query": "SELECT Id, Email FROM Lead WHERE Email = 'l0@x.com'"}
    ).json()
    sf_http.get(f"{_base(sf_sandbox)}/{job['id']}", headers=HEADERS)
    other = sf_http.get(f"{_base(sf_sandbox, '60.0')}/{job['id']}/results", headers=HEADERS)
    assert other.status_code == 409
    same = sf_http.get(f"{_base(sf_sandbox)}/{job['id']}/results", headers=HEADERS)
    assert [r["Email"] for r in _rows(same.text)] == ["l0@x.com"]
    assert same.headers["Sforce-Locator"] == "null"
