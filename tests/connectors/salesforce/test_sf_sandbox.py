"""End to end against the Salesforce sandbox over TLS, through the real simple-salesforce.

Each test gets a fresh sandbox; API calls are counted from the sandbox's own `/_sandbox/stats`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce.format import quote_soql_value

from connectors.salesforce import (
    SalesforceClient,
    apply,
    bulk_upsert_leads,
    make_http_session,
    match_emails,
    write_records,
    write_tasks,
)
from connectors.salesforce.errors import SessionExpiredError
from core.config import Settings
from core.errors import BudgetExhaustedError, FatalAPIError
from core.plan import RecordWrite, TaskWrite
from core.retry import RetryPolicy
from sandbox.httpbase import FaultPlan, RunningServer
from sandbox.salesforce import DEFAULT_SALESFORCE_SESSION, JwtTrust, SalesforceSandbox
from sandbox.tls import CertificatePair, make_loopback_certificate
from tests.connectors.salesforce.sf_testkit import make_settings

CONSUMER_KEY = "3MVG9sandboxCONSUMER"
USERNAME = "integration@acme.example"
FAST = RetryPolicy(max_attempts=6, max_total_seconds=30, base_delay=0.0, max_delay=0.0)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> CertificatePair:
    return make_loopback_certificate(tmp_path_factory.mktemp("tls"))


@dataclass
class Org:
    sb: SalesforceSandbox
    server: RunningServer
    tls: CertificatePair
    key_path: Path

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "auth": "jwt",
            "login_url": self.server.url,
            "username": USERNAME,
            "consumer_key": CONSUMER_KEY,
            "private_key_file": self.key_path,
            "ca_bundle": self.tls.cert_path,
            "instance_url": None,
            "session_id": None,
        }
        values.update(overrides)
        return make_settings(**values)

    def client(self, **overrides: Any) -> SalesforceClient:
        return SalesforceClient(self.settings(**overrides), retry_policy=FAST, sleep=lambda s: None)

    def stats(self) -> dict[tuple[str, str, int], int]:
        answer = requests.get(
            f"{self.server.url}/_sandbox/stats", verify=str(self.tls.cert_path), timeout=10
        ).json()
        return {(c["method"], c["route"], c["status"]): c["count"] for c in answer["calls"]}

    def calls(self, method: str | None = None, route_part: str = "") -> int:
        return sum(
            n
            for (m, route, _), n in self.stats().items()
            if (method is None or m == method) and route_part in route
        )

    def set_faults(self, **faults: Any) -> None:
        self.sb.app.faults = FaultPlan(**faults)


@pytest.fixture(scope="module")
def running(tls: CertificatePair, rsa_pair: tuple[Path, Path]) -> Iterator[Org]:
    sb = SalesforceSandbox(jwt=JwtTrust(CONSUMER_KEY, rsa_pair[1].read_bytes(), [USERNAME]))
    server = RunningServer(sb.app, tls=tls.server_context(), max_uri_bytes=16384).start()
    sb.instance_url = server.url
    try:
        yield Org(sb, server, tls, rsa_pair[0])
    finally:
        server.stop()


@pytest.fixture
def org(running: Org) -> Org:
    """The module's sandbox, emptied: no records, sessions, usage, faults or statistics."""
    answer = requests.post(
        f"{running.server.url}/_sandbox/reset", verify=str(running.tls.cert_path), timeout=10
    )
    answer.raise_for_status()
    running.set_faults()
    running.sb.daily_api_limit = 100_000
    users = [
        {"Username": USERNAME, "LastName": "Integration", "Email": USERNAME, "Alias": "int"},
        {"Username": "rep@acme.example", "LastName": "Rep", "Email": "rep@x.com", "Alias": "rep"},
    ]
    running.sb.seed({"User": users})
    return running


@pytest.fixture
def small_org(org: Org) -> Org:
    org.sb.daily_api_limit = 10
    return org


def _ids(org: Org, sobject: str) -> dict[str, str]:
    """Email (lower) -> Id of the seeded records."""
    return {r["Email"].lower(): r["Id"] for r in org.sb.store.records(sobject) if r.get("Email")}


# ---------------------------------------------------------------------- auth


def test_jwt_login_against_the_sandbox_token_endpoint_with_the_configured_certificate(
    org: Org,
) -> None:
    client = org.client()

    limits = client.limits()

    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert client.login_count == 1
    assert client.instance_url == org.server.url
    assert client.api_usage == (1, 100_000)
    assert org.calls("POST", "oauth2/token") == 1


def test_an_assertion_signed_with_a_wrong_key_is_refused(
    org: Org, other_rsa_pair: tuple[Path, Path]
) -> None:
    client = org.client(private_key_file=other_rsa_pair[0])

    with pytest.raises(FatalAPIError) as info:
        client.limits()

    assert "invalid_grant: invalid assertion" in str(info.value)
    assert org.calls(route_part="/services/data") == 0


def test_without_the_sandbox_ca_the_tls_certificate_is_not_trusted(org: Org) -> None:
    client = org.client(ca_bundle=None)
    with pytest.raises(FatalAPIError, match="TLS"):
        client.limits()


def test_given_session_expiry_the_client_logs_in_once_more_and_carries_on(org: Org) -> None:
    org.sb.seed({"Lead": [{"LastName": "L", "Company": "C", "Email": "l@x.com"}]})
    org.set_faults(expire_after=3)
    client = org.client()

    for _ in range(4):
        assert len(list(client.query("SELECT Id FROM Lead"))) == 1

    assert client.reauth_count == 1
    assert client.login_count == 2
    assert org.calls("POST", "oauth2/token") == 2
    assert sum(n for (_, _, status), n in org.stats().items() if status == 401) == 1


def test_given_an_expired_ready_session_the_second_401_is_fatal(org: Org) -> None:
    org.set_faults(expire_after=1)
    client = org.client(
        auth="session", session_id=DEFAULT_SALESFORCE_SESSION, instance_url=org.server.url
    )
    client.limits()

    with pytest.raises(SessionExpiredError) as info:
        client.limits()

    assert client.reauth_count == 1
    assert DEFAULT_SALESFORCE_SESSION not in str(info.value)
    assert sum(n for (_, _, status), n in org.stats().items() if status == 401) == 2


# ---------------------------------------------------------------------- identity


def test_identity_matching_contact_lead_converted_duplicates_and_case(org: Org) -> None:
    org.sb.seed(
        {
            "Contact": [
                {"LastName": "Both", "Email": "Both@Example.com", "Title": "CTO"},
                {"LastName": "Conv", "Email": "moved@example.com", "Title": "VP"},
                {
                    "LastName": "Dup1",
                    "Email": "dup@example.com",
                    "CreatedDate": "2021-01-01T00:00:00.000+0000",
                },
                {
                    "LastName": "Dup2",
                    "Email": "DUP@example.com",
                    "CreatedDate": "2023-01-01T00:00:00.000+0000",
                },
            ]
        }
    )
    contacts = {r["LastName"]: r["Id"] for r in org.sb.store.records("Contact")}
    org.sb.seed(
        {
            "Lead": [
                {"LastName": "B", "Company": "C", "Email": "both@example.com"},
                {
                    "LastName": "Open",
                    "Company": "Acme",
                    "Email": "LEAD@Example.com",
                    "Status": "Open - Not Contacted",
                },
                {
                    "LastName": "Conv",
                    "Company": "C",
                    "Email": "old@example.com",
                    "IsConverted": True,
                    "ConvertedContactId": contacts["Conv"],
                },
            ]
        }
    )
    leads = {r["LastName"]: r["Id"] for r in org.sb.store.records("Lead")}
    client = org.client()
    client.limits()  # log in first so only matching is counted below
    before = client.total_calls

    report = match_emails(
        client,
        [
            "both@example.com",
            "lead@example.com",
            "Old@Example.com",
            "dup@example.com",
            "nobody@example.com",
        ],
        contact_fields=["Title"],
        lead_fields=["Status", "Company"],
        duplicate_rule="newest",
    )

    assert report.matches["both@example.com"].record_id == contacts["Both"]
    assert report.matches["both@example.com"].fields == {"Title": "CTO"}
    lead = report.matches["lead@example.com"]
    assert (lead.sobject, lead.record_id) == ("Lead", leads["Open"])
    assert lead.fields == {"Status": "Open - Not Contacted", "Company": "Acme"}
    assert lead.owner_id  # the sandbox fills OwnerId
    converted = report.matches["old@example.com"]
    assert (converted.sobject, converted.record_id) == ("Contact", contacts["Conv"])
    assert converted.converted_lead_id == leads["Conv"]
    assert converted.fields == {"Title": "VP"}
    assert report.matches["dup@example.com"].record_id == contacts["Dup2"]
    assert report.duplicates == {"dup@example.com": [contacts["Dup2"], contacts["Dup1"]]}
    assert report.unmatched == ["nobody@example.com"]
    # Contact by email, Lead by email, Contact by Id (for the converted lead): 3 calls.
    assert client.total_calls - before == 3
    assert org.calls("GET", "/query") == 3


def test_emails_crafted_to_break_soql_are_matched_exactly(org: Org) -> None:
    tricky = ["o'brien@x.com", "a\\b@x.com", '"q"@x.com', "zoë@bücher.de", "x'),('y@x.com"]
    org.sb.seed(
        {"Contact": [{"LastName": f"T{i}", "Email": e.upper()} for i, e in enumerate(tricky)]}
    )
    org.sb.seed({"Contact": [{"LastName": "Bystander", "Email": "y@x.com"}]})
    expected = {r["Email"].lower(): r["Id"] for r in org.sb.store.records("Contact")}

    report = match_emails(org.client(), tricky)

    assert {e: m.record_id for e, m in report.matches.items()} == {e: expected[e] for e in tricky}
    assert org.calls("GET", "/query") == 1


def test_long_email_lists_never_hit_the_uri_limit(org: Org) -> None:
    known = [f"known{i}@example.com" for i in range(50)]
    org.sb.seed({"Lead": [{"LastName": "K", "Company": "C", "Email": e} for e in known]})
    long_ones = [f"{i:04d}-" + "o'q\"ü\\" * 40 + "@example.com" for i in range(250)]
    client = org.client()

    report = match_emails(client, long_ones + known)

    assert sorted(report.matches) == sorted(known)
    stats = org.stats()
    assert not any(status == 414 for (_, _, status) in stats)
    queries = org.calls("GET", "/query")
    assert queries == client.calls_by_endpoint["GET query"]
    # Greedy packing: one query per ~12 KB of encoded literals, for Contact and for Lead.
    encoded = sum(len(quote_plus(quote_soql_value(e))) + 3 for e in long_ones + known)
    per_object = -(-encoded // (12_000 - 400)) + 1
    assert queries <= 2 * per_object


# ---------------------------------------------------------------------- writes


def _seed_leads(org: Org, n: int, **extra: Any) -> list[str]:
    org.sb.seed(
        {
            "Lead": [
                {"LastName": f"L{i}", "Company": "C", "Email": f"lead{i}@example.com", **extra}
                for i in range(n)
            ]
        }
    )
    return [r["Id"] for r in sorted(org.sb.store.records("Lead"), key=lambda r: r["LastName"])]


def test_1000_updates_take_one_composite_call_of_five_collections(org: Org) -> None:
    org.sb.seed(
        {
            "Lead": [
                {"LastName": f"L{i:04d}", "Company": "C", "Email": f"l{i}@x.com"}
                for i in range(1000)
            ]
        }
    )
    writes = [
        RecordWrite(r["Email"], "Lead", r["Id"], {"Rating": "Hot", "Lead_Score__c": 70})
        for r in org.sb.store.records("Lead")
    ]
    client = org.client()

    results = write_records(client, writes)

    assert all(r.success for r in results)
    assert client.total_calls == 1  # five Collections subrequests of 200 in one Composite
    assert org.calls("POST", "composite") == 1
    assert org.calls("PATCH", "composite/sobjects") == 0
    assert {r["Rating"] for r in org.sb.store.records("Lead")} == {"Hot"}
    assert [r.record_id for r in results] == [w.record_id for w in writes]


def test_a_rejected_record_fails_alone_and_its_batch_mates_are_written(org: Org) -> None:
    org.sb.seed(
        {
            "Lead": [
                {
                    "LastName": f"L{i}",
                    "Company": "C",
                    "Email": "reject-me@x.com" if i == 2 else f"ok{i}@x.com",
                }
                for i in range(5)
            ]
        }
    )
    org.set_faults(reject=("reject-me",))
    records = sorted(org.sb.store.records("Lead"), key=lambda r: r["LastName"])
    writes = [RecordWrite(r["Email"], "Lead", r["Id"], {"Rating": "Warm"}) for r in records]

    results = write_records(org.client(), writes)

    assert [r.success for r in results] == [True, True, False, True, True]
    error = results[2].errors[0]
    assert error.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert "reject-me" in error.message
    assert results[2].lead_key == "reject-me@x.com"
    stored = {r["Email"]: r["Rating"] for r in org.sb.store.records("Lead")}
    assert stored == {
        r["Email"]: (None if r["Email"].startswith("reject") else "Warm") for r in records
    }
    assert org.calls("PATCH", "composite/sobjects") == 1


def test_a_lead_create_retried_creates_one_lead(org: Org) -> None:
    write = RecordWrite(
        "new@x.com",
        "Lead",
        None,
        {"LastName": "New", "Company": "N Inc", "Email": "new@x.com", "Rating": "Hot"},
        external_id="hs-501",
    )
    client = org.client()

    first = write_records(client, [write])
    again = write_records(client, [write])  # the same intent sent again (lost answer, rerun)

    leads = org.sb.store.records("Lead")
    assert len(leads) == 1
    assert leads[0]["HubSpot_Contact_Id__c"] == "hs-501"
    assert first[0].created and first[0].record_id == leads[0]["Id"]
    assert again[0].success and not again[0].created and again[0].record_id == leads[0]["Id"]


class LoseFirstWriteAnswer(HTTPAdapter):
    """Delivers the first PATCH to the server, then drops its answer (a reset after commit)."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        if request.method == "PATCH" and not self.lost:
            self.lost += 1
            raise requests.ConnectionError("connection reset after the server acted")
        return response


def test_a_create_whose_answer_was_lost_is_retried_without_a_second_lead(org: Org) -> None:
    settings = org.settings()
    http = make_http_session(settings)
    adapter = LoseFirstWriteAnswer()
    http.mount("https://", adapter)
    client = SalesforceClient(settings, retry_policy=FAST, http=http, sleep=lambda s: None)
    write = RecordWrite(
        "lost@x.com",
        "Lead",
        None,
        {"LastName": "Lost", "Company": "L", "Email": "lost@x.com"},
        external_id="hs-lost",
    )

    [result] = write_records(client, [write])

    assert adapter.lost == 1
    [lead] = org.sb.store.records("Lead")
    assert result.success and result.record_id == lead["Id"]
    assert org.calls("PATCH", "composite/sobjects") == 2  # both reached the org
    assert client.total_calls == 2


def test_a_task_upserted_twice_is_one_task(org: Org) -> None:
    [lead_id] = _seed_leads(org, 1)
    task = TaskWrite(
        "lead0@example.com",
        "mql:lead0@example.com:1",
        {
            "Subject": "MQL: call within 2 days",
            "Status": "Not Started",
            "Priority": "High",
            "ActivityDate": "2030-01-03",
        },
        who_id=lead_id,
    )
    client = org.client()

    first = write_tasks(client, [task], {})
    second = write_tasks(client, [task], {})

    tasks = org.sb.store.records("Task")
    assert len(tasks) == 1
    assert tasks[0]["WhoId"] == lead_id
    assert first[0].created and not second[0].created
    assert first[0].record_id == second[0].record_id == tasks[0]["Id"]


def test_apply_creates_a_lead_and_its_task_in_two_calls(org: Org) -> None:
    records = [
        RecordWrite(
            "n@x.com",
            "Lead",
            None,
            {"LastName": "N", "Company": "C", "Email": "n@x.com"},
            external_id="hs-9",
        )
    ]
    tasks = [TaskWrite("n@x.com", "mql:n@x.com:1", {"Subject": "MQL"})]
    client = org.client()

    record_results, task_results = apply(client, records, tasks)

    [lead] = org.sb.store.records("Lead")
    [task] = org.sb.store.records("Task")
    assert record_results[0].record_id == lead["Id"] == task["WhoId"]
    assert task_results[0].success
    assert client.total_calls == 2


def test_row_locks_are_retried_for_just_the_locked_records(org: Org) -> None:
    ids = _seed_leads(org, 60)
    org.set_faults(lock=0.2, seed=3)
    writes = [RecordWrite(f"lead{i}", "Lead", rid, {"Rating": "Cold"}) for i, rid in enumerate(ids)]
    client = org.client()

    results = write_records(client, writes)

    assert all(r.success for r in results), [r.errors for r in results if not r.success]
    assert {r["Rating"] for r in org.sb.store.records("Lead")} == {"Cold"}
    calls = org.calls("PATCH", "composite/sobjects")
    assert 1 < calls <= FAST.max_attempts
    assert calls == client.total_calls


def test_transient_faults_are_retried_and_the_final_state_matches(org: Org) -> None:
    ids = _seed_leads(org, 30)
    org.set_faults(server_error=0.3, reset=0.1, seed=11)
    writes = [RecordWrite(f"lead{i}", "Lead", rid, {"Rating": "Hot"}) for i, rid in enumerate(ids)]
    client = org.client()

    report = match_emails(client, [f"lead{i}@example.com" for i in range(30)])
    results = write_records(client, writes)

    assert len(report.matches) == 30
    assert all(r.success for r in results)
    assert {r["Rating"] for r in org.sb.store.records("Lead")} == {"Hot"}


def test_the_budget_share_stops_the_client_before_the_org_limit(small_org: Org) -> None:
    client = small_org.client(daily_budget_share=0.5)

    with pytest.raises(BudgetExhaustedError):
        for _ in range(20):
            client.limits()

    assert client.api_usage == (5, 10)
    assert small_org.calls("GET", "limits") == 5


def test_the_org_limit_answer_is_a_budget_stop(small_org: Org) -> None:
    small_org.sb.api_used = 10  # another integration spent the allocation
    client = small_org.client(daily_budget_share=1.0)

    with pytest.raises(BudgetExhaustedError) as info:
        client.limits()
    assert info.value.error_code == "REQUEST_LIMIT_EXCEEDED"


# ---------------------------------------------------------------------- Bulk API 2.0


def test_bulk_upsert_creates_leads_once_and_reports_rejections(org: Org) -> None:
    org.set_faults(reject=("reject-me",))
    writes = [
        RecordWrite(
            f"b{i}@x.com",
            "Lead",
            None,
            {
                "LastName": f"B{i}",
                "Company": "C",
                "Email": "reject-me@x.com" if i == 3 else f"b{i}@x.com",
            },
            external_id=f"hs-{i}",
        )
        for i in range(25)
    ]
    client = org.client()

    first = bulk_upsert_leads(client, writes, poll_interval=0.01)
    second = bulk_upsert_leads(client, writes, poll_interval=0.01)

    assert [r.success for r in first] == [i != 3 for i in range(25)]
    assert first[3].errors[0].code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert all(r.created for i, r in enumerate(first) if i != 3)
    assert not any(r.created for r in second)
    leads = org.sb.store.records("Lead")
    assert len(leads) == 24
    by_ext = {r["HubSpot_Contact_Id__c"]: r["Id"] for r in leads}
    assert [r.record_id for i, r in enumerate(first) if i != 3] == [
        by_ext[f"hs-{i}"] for i in range(25) if i != 3
    ]


# ---------------------------------------------------------------------- today's Salesforce


def _org_settings(org: Org, **settings: Any) -> None:
    answer = requests.post(f"{org.server.url}/_sandbox/org", json=settings,
                           verify=str(org.tls.cert_path), timeout=10)
    answer.raise_for_status()


def test_given_the_concurrent_request_limit_the_client_backs_off_and_carries_on(
    org: Org,
) -> None:
    _org_settings(org, concurrent_busy_calls=2)
    sleeps: list[float] = []
    client = SalesforceClient(
        org.settings(),
        retry_policy=RetryPolicy(max_attempts=6, max_total_seconds=30, base_delay=0.5,
                                 max_delay=4.0),
        sleep=sleeps.append,
    )

    limits = client.limits()

    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert client.total_calls == 3 and len(sleeps) == 2 and all(s > 0 for s in sleeps)


def test_given_an_org_without_api_access_the_client_stops_with_what_to_buy(org: Org) -> None:
    _org_settings(org, api_enabled=False)

    with pytest.raises(FatalAPIError) as caught:
        org.client().limits()

    assert caught.value.error_code == "API_DISABLED_FOR_ORG"
    assert "API add-on" in str(caught.value)


def _new_lead(email: str, key: str) -> RecordWrite:
    return RecordWrite(email, "Lead", None,
                       {"LastName": "Dup", "Company": "D Inc", "Email": email},
                       external_id=key)


def test_given_a_lead_duplicate_rule_the_create_is_a_dead_letter_naming_the_setting(
    org: Org,
) -> None:
    org.sb.seed({"Lead": [{"LastName": "Old", "Company": "O", "Email": "dup@x.com"}]})
    _org_settings(org, duplicate_rule={"sobject": "Lead", "field": "Email"})

    [refused] = write_records(org.client(), [_new_lead("dup@x.com", "hs-901")])
    [allowed] = write_records(org.client(duplicate_rule_allow_save=True),
                              [_new_lead("dup@x.com", "hs-902")])

    assert not refused.success and refused.errors[0].code == "DUPLICATES_DETECTED"
    assert "salesforce.duplicate_rule_allow_save = true" in refused.errors[0].message
    assert allowed.success and allowed.created
    assert sorted(r["HubSpot_Contact_Id__c"] or "" for r in org.sb.store.records("Lead")) == [
        "", "hs-902"]
