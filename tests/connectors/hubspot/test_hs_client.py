"""HubSpotClient: status table, retries, rate limiters, daily budget, token hygiene."""

from __future__ import annotations

import logging
import socket
from collections import deque

import pytest
import requests
import responses

from connectors.hubspot import constants as c
from connectors.hubspot.client import (
    Outcome,
    classify_status,
    error_for_response,
    parse_retry_after,
)
from core.errors import (
    BudgetExhaustedError,
    ConfigError,
    FatalAPIError,
    RecordError,
    RetriableAPIError,
)
from core.retry import RetryPolicy
from tests.connectors.hubspot.hs_helpers import TOKEN, Reply

SEARCH = c.search_endpoint("contacts")
BATCH = c.batch_read_endpoint("contacts")


# --------------------------------------------------------------------------- the status table


@pytest.mark.parametrize(
    ("status", "endpoint", "headers", "body", "error", "retry_after"),
    [
        (200, SEARCH, {}, {}, None, None),
        (207, BATCH, {}, {}, None, None),
        (200, BATCH, {}, {}, None, None),
        (201, SEARCH, {}, {}, FatalAPIError, None),  # SDK would return None
        (204, BATCH, {}, {}, FatalAPIError, None),
        (207, SEARCH, {}, {}, FatalAPIError, None),
        (429, SEARCH, {"Retry-After": "7"}, {"policyName": "SECONDLY"}, RetriableAPIError, 7.0),
        (429, SEARCH, {}, {"policyName": "TEN_SECONDLY_ROLLING"}, RetriableAPIError, None),
        (429, SEARCH, {}, {"policyName": "DAILY"}, BudgetExhaustedError, None),
        (500, SEARCH, {}, {}, RetriableAPIError, None),
        (502, SEARCH, {}, "<html>bad gateway</html>", RetriableAPIError, None),
        (503, SEARCH, {"Retry-After": "2"}, {}, RetriableAPIError, 2.0),
        (504, SEARCH, {}, {}, RetriableAPIError, None),
        (401, SEARCH, {}, {"category": "INVALID_AUTHENTICATION"}, FatalAPIError, None),
        (403, SEARCH, {}, {"category": "MISSING_SCOPES"}, FatalAPIError, None),
        (400, SEARCH, {}, {"category": "VALIDATION_ERROR"}, RecordError, None),
        (404, SEARCH, {}, {"category": "OBJECT_NOT_FOUND"}, RecordError, None),
        (409, SEARCH, {}, {"category": "CONFLICT"}, RecordError, None),
        (405, SEARCH, {}, {}, FatalAPIError, None),
        (414, SEARCH, {}, "<html>414</html>", FatalAPIError, None),
        (302, SEARCH, {}, "", FatalAPIError, None),
    ],
)
def test_status_table_maps_each_status_to_one_outcome(
    status, endpoint, headers, body, error, retry_after
):
    outcome = classify_status(status, endpoint.expected)
    if error is None:
        assert outcome is Outcome.OK
        return
    import json

    raw = body if isinstance(body, str) else json.dumps(body)
    exc = error_for_response(endpoint, "/crm/v3/objects/contacts/search", status, headers, raw)
    assert type(exc) is error
    assert exc.status == status
    if isinstance(exc, RetriableAPIError):
        assert exc.retry_after == retry_after
    if status == 201:
        assert "would return None" in exc.message


def test_retry_after_reads_seconds_and_http_dates():
    from datetime import UTC, datetime

    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("Wed, 01 May 2024 12:00:10 GMT", now=now) == 10.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None


# --------------------------------------------------------------------------- through the SDK


def test_given_search_sends_bearer_token_to_dated_path_and_reads_json(stub, make_client):
    stub.queue(200, {"total": 1, "results": [{"id": "1", "properties": {}}]})
    client = make_client(stub.url)
    page = client.search("contacts", {"filterGroups": [], "limit": 200})
    assert page["results"][0]["id"] == "1"
    seen = stub.seen[0]
    assert (seen.method, seen.path) == ("POST", "/crm/objects/2026-09/contacts/search")
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert client.calls == {"contacts.search": 1}
    assert client.total_calls == 1


def test_given_unexpected_2xx_from_sdk_operation_raises_fatal(stub, make_client):
    stub.queue(201, {"results": []})
    client = make_client(stub.url)
    with pytest.raises(FatalAPIError, match="does not read"):
        client.search("contacts", {"limit": 1})


def test_given_batch_read_207_returns_partial_answer(stub, make_client):
    stub.queue(207, {"status": "COMPLETE", "results": [{"id": "1"}], "numErrors": 1})
    client = make_client(stub.url)
    answer = client.batch_read("contacts", ["1", "2"], properties=["email"])
    assert answer["numErrors"] == 1
    assert stub.seen[0].body["inputs"] == [{"id": "1"}, {"id": "2"}]


def test_given_429_with_retry_after_waits_that_long_then_succeeds(stub, make_client, clock):
    stub.queue(429, {"policyName": "TEN_SECONDLY_ROLLING"}, {"Retry-After": "3"})
    stub.queue(200, {"results": []})
    client = make_client(stub.url)
    client.search("contacts", {"limit": 1})
    assert clock.sleeps == [3.0]
    assert client.calls["contacts.search"] == 2
    assert client.retries["contacts.search"] == 1
    assert client.rate_limited == {"search": 1}


def test_given_429s_on_both_buckets_each_is_counted_in_its_own(stub, make_client, clock):
    stub.queue(429, {"policyName": "SECONDLY"}, {"Retry-After": "1"})
    stub.queue(429, {"policyName": "SECONDLY"}, {"Retry-After": "1"})
    stub.queue(200, {"results": []})
    stub.queue(429, {"policyName": "TEN_SECONDLY_ROLLING"})
    stub.queue(200, {"results": []})
    client = make_client(stub.url, tier="pro")
    client.search("contacts", {"limit": 1})
    client.list_page("contacts")
    assert client.rate_limited == {"search": 2, "burst": 1}


def test_given_5xx_without_retry_after_backs_off_exponentially(stub, make_client, clock):
    for _ in range(3):
        stub.queue(503, {"message": "unavailable"})
    stub.queue(200, {"results": []})
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=30.0)
    client = make_client(stub.url, policy=policy)
    client.batch_read("contacts", ["1"])
    assert len(clock.sleeps) == 3
    for attempt, wait in enumerate(clock.sleeps, start=1):
        step = 1.0 * 2 ** (attempt - 1)
        assert step / 2 <= wait <= step


def test_given_retries_exhausted_raises_the_last_retriable_error(stub, make_client, clock):
    stub.default = lambda _seen: Reply(500, {"message": "boom"})
    client = make_client(stub.url, policy=RetryPolicy(max_attempts=3))
    with pytest.raises(RetriableAPIError, match="answered 500"):
        client.search("contacts", {"limit": 1})
    assert client.calls["contacts.search"] == 3
    assert len(clock.sleeps) == 2


def test_given_4xx_never_retries(stub, make_client, clock):
    stub.queue(400, {"category": "VALIDATION_ERROR", "message": "bad filter"})
    client = make_client(stub.url)
    with pytest.raises(RecordError, match="bad filter"):
        client.search("contacts", {"limit": 1})
    assert client.calls["contacts.search"] == 1
    assert clock.sleeps == []


def test_given_connection_refused_is_retriable_and_retried(make_client, clock):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}", policy=RetryPolicy(max_attempts=3))
    with pytest.raises(RetriableAPIError, match="connection failed"):
        client.search("contacts", {"limit": 1})
    assert client.calls["contacts.search"] == 3


def test_given_urllib3_retries_disabled_sdk_makes_exactly_one_request_per_attempt(
    stub, make_client
):
    stub.queue(500, {})
    stub.queue(200, {"results": []})
    client = make_client(stub.url)
    client.list_page("contacts", limit=100)
    assert len(stub.seen) == 2 == client.calls["contacts.list"]


# --------------------------------------------------------------------------- requests path


@responses.activate
def test_given_unwrapped_endpoint_timeout_is_retried(make_client, clock):
    url = "https://hs.test/email/public/v1/events"
    responses.add(responses.GET, url, body=requests.Timeout("read timed out"))
    responses.add(responses.GET, url, json={"events": [], "hasMore": False})
    client = make_client("https://hs.test")
    answer = client.email_events_page(start_ms=1, end_ms=2)
    assert answer == {"events": [], "hasMore": False}
    assert client.calls["email_events.list"] == 2
    sent = responses.calls[1].request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "startTimestamp=1" in sent.url and "limit=1000" in sent.url


@responses.activate
def test_given_unwrapped_endpoint_404_is_a_record_error(make_client):
    responses.add(
        responses.GET,
        "https://hs.test/form-integrations/v1/submissions/forms/abc",
        status=404,
        json={"status": "error", "category": "OBJECT_NOT_FOUND", "message": "no form"},
    )
    client = make_client("https://hs.test")
    with pytest.raises(RecordError) as info:
        client.form_submissions_page("abc")
    assert info.value.status == 404 and info.value.error_code == "OBJECT_NOT_FOUND"


# --------------------------------------------------------------------------- rate limiting


def _record_times(clock, times):
    def callback(_request):
        times.append(clock.now)
        return (200, {}, '{"events": [], "hasMore": false}')

    return callback


@responses.activate
@pytest.mark.parametrize(("tier", "per_10s"), [("free", 90), ("pro", 180), ("enterprise", 180)])
def test_burst_limiter_keeps_calls_under_the_tier_with_margin(make_client, clock, tier, per_10s):
    times: list[float] = []
    responses.add_callback(
        responses.GET,
        "https://hs.test/email/public/v1/events",
        callback=_record_times(clock, times),
    )
    client = make_client("https://hs.test", tier=tier)
    for _ in range(per_10s * 3 + 5):
        client.email_events_page(start_ms=1, end_ms=2)
    window: deque[float] = deque()
    for t in times:
        window.append(t)
        while t - window[0] >= 10.0:
            window.popleft()
        assert len(window) <= per_10s
    # and it is not needlessly slow: about three windows for three windows' worth of calls
    assert times[-1] - times[0] < 10.0 * 3 + 1


def test_search_limiter_allows_five_per_second_and_skips_the_burst_bucket(stub, make_client, clock):
    times: dict[str, list[float]] = {"search": [], "list": []}

    def answer(seen):
        times["search" if seen.path.endswith("/search") else "list"].append(clock.now)
        return Reply(200, {"results": []})

    stub.default = answer
    client = make_client(stub.url, tier="free")
    for _ in range(90):  # fill the burst bucket (100 - margin 10)
        client.list_page("contacts")
    burst_full_at = clock.now
    for _ in range(12):
        client.search("contacts", {"limit": 1})
    searches = times["search"]
    assert searches[0] == burst_full_at  # a full burst bucket does not delay search
    for i in range(5, len(searches)):
        assert searches[i] - searches[i - 5] >= 1.0  # never 6 in one second
    assert searches[4] == searches[0]  # the first five go at once: HubSpot allows 5 a second
    assert searches[-1] - searches[0] < 2.5  # 12 searches in about 2.1 s, no slower
    client.list_page("contacts")  # the 91st burst call waits for the 10 s window
    assert times["list"][-1] - times["list"][0] >= 10.0


def test_given_a_run_that_just_searched_the_next_client_waits_out_its_second(
    stub, make_client, clock
):
    # HubSpot's search window is the account's: a run started right after another must not
    # spend the second the other one used (the demo's back-to-back runs answered 429).
    stub.default = lambda seen: Reply(200, {"results": []})
    first = make_client(stub.url, tier="pro")
    for _ in range(5):
        first.search("contacts", {"limit": 1})
    searched_until = clock.now
    handed_on = first.recent_searches()
    assert len(handed_on) == 5
    second = make_client(stub.url, tier="pro")
    second.assume_searches(handed_on)
    second.search("contacts", {"limit": 1})
    assert clock.now - searched_until >= 1.0 - 0.01


def test_unlimited_tier_never_waits(stub, make_client, clock):
    client = make_client(stub.url, tier="unlimited")
    for _ in range(300):
        client._burst.acquire()
        client._search.acquire()
    assert clock.sleeps == []


# --------------------------------------------------------------------------- daily budget


def _daily(limit: int, remaining: int) -> dict[str, str]:
    return {c.HEADER_DAILY: str(limit), c.HEADER_DAILY_REMAINING: str(remaining)}


def test_budget_guard_stops_before_the_configured_share(stub, make_client):
    # 1,000 a day, share 0.8 -> 800 allowed.
    stub.queue(200, {"results": []}, _daily(1000, 201))
    stub.queue(200, {"results": []}, _daily(1000, 200))
    client = make_client(stub.url, tier="pro", daily_budget_share=0.8)
    client.list_page("contacts")  # the first answer says 799 used
    assert client.daily_used == 799 and client.daily_limit == 1000
    client.list_page("contacts")  # call 800: allowed
    assert client.daily_used == 800
    with pytest.raises(BudgetExhaustedError, match="800"):
        client.list_page("contacts")
    assert len(stub.seen) == 2  # the refused call was never sent


def test_budget_guard_counts_calls_since_the_last_header(stub, make_client):
    stub.queue(200, {"results": []}, _daily(100, 55))
    client = make_client(stub.url, tier="pro", daily_budget_share=0.5)  # 50 allowed
    client.list_page("contacts")  # 45 used
    for _ in range(5):  # answers without headers (as search answers do)
        client.search("contacts", {"limit": 1})
    assert client.daily_used == 50
    with pytest.raises(BudgetExhaustedError):
        client.search("contacts", {"limit": 1})


def test_budget_guard_uses_the_tier_default_before_any_header(stub, make_client):
    client = make_client(stub.url, tier="free", daily_budget_share=0.8)
    assert client.daily_limit == 250_000
    client._daily_used = 200_000
    with pytest.raises(BudgetExhaustedError):
        client.list_page("contacts")
    assert stub.seen == []


def test_given_daily_429_the_run_stops_without_retrying(stub, make_client, clock):
    stub.queue(429, {"errorType": "RATE_LIMIT", "policyName": "DAILY", "message": "daily"})
    client = make_client(stub.url)
    with pytest.raises(BudgetExhaustedError):
        client.search("contacts", {"limit": 1})
    assert clock.sleeps == []


# --------------------------------------------------------------------------- token hygiene


def test_token_never_appears_in_errors_logs_or_repr(stub, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    stub.queue(401, {"message": f"bad token Bearer {TOKEN}", "category": "INVALID_AUTHENTICATION"})
    stub.queue(500, {"message": f"echo {TOKEN}"})
    stub.queue(500, {"message": f"echo {TOKEN}"})
    client = make_client(stub.url, policy=RetryPolicy(max_attempts=2))
    messages: list[str] = [repr(client), str(client)]
    with pytest.raises(FatalAPIError) as fatal:
        client.search("contacts", {"limit": 1})
    with pytest.raises(RetriableAPIError) as transient:
        client.list_page("contacts")
    for exc in (fatal.value, transient.value):
        messages += [str(exc), repr(exc), exc.message, str(exc.args)]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = make_client(f"http://127.0.0.1:{port}", policy=RetryPolicy(max_attempts=1))
    with pytest.raises(RetriableAPIError) as refused:
        dead.batch_read("contacts", ["1"])
    messages += [str(refused.value), repr(refused.value)]
    messages.append(caplog.text)
    assert not [m for m in messages if TOKEN in m]
    assert "[token]" in str(fatal.value)


def test_given_empty_token_refuses_to_start(make_client):
    with pytest.raises(ConfigError):
        make_client("http://127.0.0.1:1", token="")
