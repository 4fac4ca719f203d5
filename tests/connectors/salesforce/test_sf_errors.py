"""The status/errorCode -> outcome table, exercised through the real client on bare responses."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.errors import Outcome, SessionExpiredError, classify
from core.errors import (
    BudgetExhaustedError,
    FatalAPIError,
    RecordError,
    RetriableAPIError,
)
from core.retry import RetryPolicy
from tests.connectors.salesforce.sf_testkit import API, FAST, SESSION_ID, make_settings

ONE_TRY = RetryPolicy(max_attempts=1, base_delay=0, max_delay=0)


def _rest_error(code: str, message: str = "boom") -> str:
    return json.dumps([{"message": message, "errorCode": code}])


# status, body, error code seen, outcome, exception type
TABLE = [
    (500, _rest_error("UNKNOWN_EXCEPTION"), Outcome.RETRY, RetriableAPIError),
    (502, "<html>Bad Gateway</html>", Outcome.RETRY, RetriableAPIError),
    (503, _rest_error("SERVER_UNAVAILABLE"), Outcome.RETRY, RetriableAPIError),
    (400, _rest_error("UNABLE_TO_LOCK_ROW"), Outcome.RETRY, RetriableAPIError),
    (409, _rest_error("UNABLE_TO_LOCK_ROW"), Outcome.RETRY, RetriableAPIError),
    (429, _rest_error("REQUEST_LIMIT_EXCEEDED"), Outcome.RETRY, RetriableAPIError),
    (401, _rest_error("INVALID_SESSION_ID"), Outcome.REAUTH, SessionExpiredError),
    (401, _rest_error("INVALID_AUTH_HEADER"), Outcome.FATAL, FatalAPIError),
    (403, _rest_error("REQUEST_LIMIT_EXCEEDED"), Outcome.BUDGET, BudgetExhaustedError),
    (403, _rest_error("INSUFFICIENT_ACCESS"), Outcome.FATAL, FatalAPIError),
    (414, "<html><h1>414 Request-URI Too Large</h1></html>", Outcome.URI_TOO_LONG, FatalAPIError),
    (400, _rest_error("MALFORMED_QUERY"), Outcome.FATAL, FatalAPIError),
    (400, _rest_error("INVALID_FIELD"), Outcome.FATAL, FatalAPIError),
    (400, _rest_error("FIELD_CUSTOM_VALIDATION_EXCEPTION"), Outcome.RECORD, RecordError),
    (400, _rest_error("STRING_TOO_LONG"), Outcome.RECORD, RecordError),
    (400, _rest_error("DUPLICATES_DETECTED"), Outcome.RECORD, RecordError),
    (400, _rest_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"), Outcome.RECORD, RecordError),
    (300, json.dumps(["/services/data/v59.0/sobjects/Lead/00Q1"]), Outcome.RECORD, RecordError),
    (404, _rest_error("NOT_FOUND"), Outcome.FATAL, FatalAPIError),
]


def _code(body: str) -> str | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    first = payload[0] if isinstance(payload, list) and payload else None
    return first.get("errorCode") if isinstance(first, dict) else None


@pytest.mark.parametrize(("status", "body", "outcome", "exc_type"), TABLE)
@responses.activate
def test_given_status_and_code_the_client_raises_the_tabled_error(
    status: int, body: str, outcome: Outcome, exc_type: type[Exception]
) -> None:
    assert classify(status, _code(body)) is outcome
    responses.get(f"{API}/limits/", body=body, status=status)
    client = SalesforceClient(make_settings(), retry_policy=ONE_TRY, sleep=lambda s: None)

    with pytest.raises(exc_type) as info:
        client.limits()

    assert type(info.value) is exc_type
    assert info.value.status == status
    assert SESSION_ID not in str(info.value)
    if outcome is Outcome.URI_TOO_LONG:
        assert "URI too long" in str(info.value)


@pytest.mark.parametrize(
    "error",
    [requests.ConnectionError("reset by peer"), requests.Timeout("read timed out")],
    ids=["connection", "timeout"],
)
@responses.activate
def test_given_transport_failure_the_client_retries_then_succeeds(error: Exception) -> None:
    responses.get(f"{API}/limits/", body=error)
    responses.get(f"{API}/limits/", json={"DailyApiRequests": {"Max": 100, "Remaining": 90}})
    client = SalesforceClient(make_settings(), retry_policy=FAST, sleep=lambda s: None)

    assert client.limits()["DailyApiRequests"]["Max"] == 100
    assert client.total_calls == 2
    assert client.api_usage == (10, 100)


@responses.activate
def test_given_persistent_5xx_retries_are_bounded_by_the_policy() -> None:
    responses.get(f"{API}/limits/", body=_rest_error("SERVER_UNAVAILABLE"), status=503)
    client = SalesforceClient(make_settings(), retry_policy=FAST, sleep=lambda s: None)

    with pytest.raises(RetriableAPIError):
        client.limits()
    assert client.total_calls == FAST.max_attempts


@responses.activate
def test_given_an_error_body_echoing_the_session_id_the_message_does_not_carry_it() -> None:
    body = _rest_error("INSUFFICIENT_ACCESS", f"token {SESSION_ID} may not do this")
    responses.get(f"{API}/limits/", body=body, status=403)
    client = SalesforceClient(make_settings(), retry_policy=ONE_TRY)

    with pytest.raises(FatalAPIError) as info:
        client.limits()
    assert SESSION_ID not in str(info.value)
    assert SESSION_ID not in repr(info.value.args)
    assert "***" in str(info.value)
