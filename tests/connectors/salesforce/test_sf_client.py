"""SalesforceClient on bare responses: paging, usage budget, re-auth, Collections, lock retries."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from responses import matchers

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.errors import SessionExpiredError
from core.errors import BudgetExhaustedError, FatalAPIError
from tests.connectors.salesforce.sf_testkit import (
    API,
    FAST,
    INSTANCE,
    SESSION_ID,
    Sleeps,
    make_settings,
)

LOGIN = "https://login.example.test"
TOKEN_URL = f"{LOGIN}/services/oauth2/token"
EXPIRED = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
LOCKED = {
    "id": None,
    "success": False,
    "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain lock"}],
}


def _ok(record_id: str, created: bool = False) -> dict[str, object]:
    return {"id": record_id, "success": True, "errors": [], "created": created}


def _jwt_client(rsa_pair: tuple[Path, Path], sleeps: Sleeps) -> SalesforceClient:
    settings = make_settings(
        auth="jwt",
        login_url=LOGIN,
        username="integration@acme.example",
        consumer_key="KEY",
        private_key_file=rsa_pair[0],
    )
    return SalesforceClient(settings, retry_policy=FAST, sleep=sleeps)


def _body(call: responses.Call) -> dict[str, object]:
    return json.loads(call.request.body)


@responses.activate
def test_query_follows_next_records_url_and_strips_attributes() -> None:
    first = {
        "totalSize": 3,
        "done": False,
        "nextRecordsUrl": "/services/data/v59.0/query/01gXX-2",
        "records": [
            {"attributes": {"type": "Lead"}, "Id": "00Q1"},
            {"attributes": {"type": "Lead"}, "Id": "00Q2"},
        ],
    }
    second = {"totalSize": 3, "done": True, "records": [{"attributes": {}, "Id": "00Q3"}]}
    responses.get(f"{API}/query/", json=first)
    responses.get(f"{API}/query/01gXX-2", json=second)
    client = SalesforceClient(make_settings(), retry_policy=FAST)

    records = list(client.query("SELECT Id FROM Lead"))

    assert records == [{"Id": "00Q1"}, {"Id": "00Q2"}, {"Id": "00Q3"}]
    assert client.total_calls == 2
    assert client.calls_by_endpoint == {"GET query": 1, "GET query_more": 1}
    sent = parse_qs(urlsplit(responses.calls[0].request.url).query)["q"]
    assert sent == ["SELECT Id FROM Lead"]
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {SESSION_ID}"


@responses.activate
def test_query_url_length_is_the_length_of_the_url_actually_sent() -> None:
    responses.get(f"{API}/query/", json={"done": True, "records": []})
    client = SalesforceClient(make_settings(), retry_policy=FAST)
    soql = "SELECT Id FROM Lead WHERE Email IN ('o\\'brien@x.com','ü@x.com','a b+c@x.com')"

    list(client.query(soql))

    assert client.query_url_length(soql) == len(responses.calls[0].request.url)


@responses.activate
def test_api_usage_is_read_from_every_response_including_errors() -> None:
    responses.get(
        f"{API}/limits/",
        status=400,
        json=[{"message": "bad", "errorCode": "INVALID_FIELD"}],
        headers={"Sforce-Limit-Info": "api-usage=42/5000"},
    )
    client = SalesforceClient(make_settings(), retry_policy=FAST)
    with pytest.raises(FatalAPIError):
        client.limits()
    assert client.api_usage == (42, 5000)


@responses.activate
def test_given_usage_past_the_budget_share_no_call_is_made() -> None:
    responses.get(
        f"{API}/query/",
        json={"done": True, "records": []},
        headers={"Sforce-Limit-Info": "api-usage=2500/5000; per-app-api-usage=9/250(appName=x)"},
    )
    client = SalesforceClient(make_settings(daily_budget_share=0.5), retry_policy=FAST)
    list(client.query("SELECT Id FROM Lead"))
    assert client.api_usage == (2500, 5000)

    with pytest.raises(BudgetExhaustedError) as info:
        list(client.query("SELECT Id FROM Lead"))

    assert len(responses.calls) == 1
    assert client.total_calls == 1
    assert "2500 of 5000" in str(info.value)


@responses.activate
def test_given_expired_session_refreshes_once_and_replays(
    rsa_pair: tuple[Path, Path], sleeps: Sleeps
) -> None:
    responses.post(TOKEN_URL, json={"access_token": "first-token", "instance_url": INSTANCE})
    responses.post(TOKEN_URL, json={"access_token": "second-token", "instance_url": INSTANCE})
    responses.get(f"{API}/limits/", status=401, json=EXPIRED)
    responses.get(
        f"{API}/limits/",
        json={"DailyApiRequests": {"Max": 10, "Remaining": 9}},
        match=[matchers.header_matcher({"Authorization": "Bearer second-token"})],
    )
    client = _jwt_client(rsa_pair, sleeps)

    assert client.limits()["DailyApiRequests"]["Max"] == 10

    assert client.login_count == 2
    assert client.reauth_count == 1
    assert client.total_calls == 2
    assert sleeps == []  # a refresh is not a retry: no backoff


@responses.activate
def test_given_a_second_401_right_after_a_fresh_login_the_call_fails_fatally(
    rsa_pair: tuple[Path, Path], sleeps: Sleeps
) -> None:
    responses.post(TOKEN_URL, json={"access_token": "first-token", "instance_url": INSTANCE})
    responses.post(TOKEN_URL, json={"access_token": "second-token", "instance_url": INSTANCE})
    responses.get(f"{API}/limits/", status=401, json=EXPIRED)
    client = _jwt_client(rsa_pair, sleeps)

    with pytest.raises(SessionExpiredError) as info:
        client.limits()

    assert isinstance(info.value, FatalAPIError)
    token_calls = [c for c in responses.calls if c.request.url == TOKEN_URL]
    assert len(token_calls) == 2  # first login + exactly one refresh
    assert client.reauth_count == 1
    assert "second-token" not in str(info.value)
    assert "first-token" not in str(info.value)


@responses.activate
def test_a_later_expiry_in_the_same_client_refreshes_again(
    rsa_pair: tuple[Path, Path], sleeps: Sleeps
) -> None:
    for token in ("t1", "t2", "t3"):
        responses.post(TOKEN_URL, json={"access_token": token, "instance_url": INSTANCE})
    ok = {"DailyApiRequests": {"Max": 10, "Remaining": 9}}
    responses.get(f"{API}/limits/", status=401, json=EXPIRED)
    responses.get(f"{API}/limits/", json=ok)
    responses.get(f"{API}/limits/", status=401, json=EXPIRED)
    responses.get(f"{API}/limits/", json=ok)
    client = _jwt_client(rsa_pair, sleeps)

    client.limits()
    client.limits()

    assert client.reauth_count == 2


@responses.activate
def test_collections_update_sends_200_a_call_with_all_or_none_false() -> None:
    def answer(request):
        records = json.loads(request.body)["records"]
        return 200, {}, json.dumps([_ok(r["Id"]) for r in records])

    responses.add_callback(responses.PATCH, f"{API}/composite/sobjects", callback=answer)
    client = SalesforceClient(make_settings(), retry_policy=FAST)
    records = [{"Id": f"00Q{i:05d}", "Status": "Working"} for i in range(450)]

    results = client.update("Lead", records)

    assert [r.id for r in results] == [r["Id"] for r in records]
    assert all(r.success for r in results)
    sizes = [len(_body(c)["records"]) for c in responses.calls]
    assert sizes == [200, 200, 50]
    first = _body(responses.calls[0])
    assert first["allOrNone"] is False
    assert first["records"][0] == {
        "Id": "00Q00000",
        "Status": "Working",
        "attributes": {"type": "Lead"},
    }
    assert client.calls_by_endpoint == {"PATCH composite/sobjects": 3}


@responses.activate
def test_given_per_record_lock_errors_only_those_records_are_resent(sleeps: Sleeps) -> None:
    url = f"{API}/composite/sobjects/Lead/HubSpot_Contact_Id__c"
    responses.patch(url, json=[_ok("00Q1", True), LOCKED, _ok("00Q3"), LOCKED])
    responses.patch(url, json=[_ok("00Q2", True), LOCKED])
    responses.patch(url, json=[_ok("00Q4", True)])
    client = SalesforceClient(make_settings(), retry_policy=FAST, sleep=sleeps)
    records = [{"HubSpot_Contact_Id__c": str(i), "LastName": f"L{i}"} for i in range(1, 5)]

    results = client.upsert("Lead", "HubSpot_Contact_Id__c", records)

    assert [r.id for r in results] == ["00Q1", "00Q2", "00Q3", "00Q4"]
    assert [r.created for r in results] == [True, True, False, True]
    resent = [[r["HubSpot_Contact_Id__c"] for r in _body(c)["records"]] for c in responses.calls]
    assert resent == [["1", "2", "3", "4"], ["2", "4"], ["4"]]
    assert len(sleeps) == 2  # backoff between the rounds, from the one retry policy


@responses.activate
def test_given_locks_that_never_clear_the_retries_stop_at_the_policy_bound(
    sleeps: Sleeps,
) -> None:
    responses.patch(f"{API}/composite/sobjects", json=[LOCKED])
    client = SalesforceClient(make_settings(), retry_policy=FAST, sleep=sleeps)

    [result] = client.update("Contact", [{"Id": "003X", "Title": "CTO"}])

    assert not result.success
    assert result.errors[0].code == "UNABLE_TO_LOCK_ROW"
    assert len(responses.calls) == FAST.max_attempts


@responses.activate
def test_given_a_whole_request_lock_error_the_request_is_retried(sleeps: Sleeps) -> None:
    url = f"{API}/composite/sobjects"
    responses.patch(url, status=400, json=[{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "x"}])
    responses.patch(url, json=[_ok("003X")])
    client = SalesforceClient(make_settings(), retry_policy=FAST, sleep=sleeps)

    [result] = client.update("Contact", [{"Id": "003X", "Title": "CTO"}])

    assert result.success
    assert client.total_calls == 2


@responses.activate
def test_a_collections_answer_of_the_wrong_length_is_a_contract_break() -> None:
    responses.patch(f"{API}/composite/sobjects", json=[_ok("1")])
    client = SalesforceClient(make_settings(), retry_policy=FAST)
    with pytest.raises(FatalAPIError):
        client.update("Lead", [{"Id": "1"}, {"Id": "2"}])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.describe("Lead; DROP"), "sObject"),
        (lambda c: c.upsert("Lead", "Ext__c", [{"LastName": "x"}]), "Ext__c"),
        (lambda c: c.update("Lead", [{"Status": "x"}]), "Id"),
    ],
)
def test_bad_arguments_are_refused_before_any_call(call, message: str) -> None:
    client = SalesforceClient(make_settings(), retry_policy=FAST)
    with pytest.raises(ValueError, match=message):
        call(client)
    assert client.total_calls == 0
