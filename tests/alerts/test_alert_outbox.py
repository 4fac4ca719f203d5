"""The outbox's pure rules and the channels' status table, without a database or network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses

from connectors.alerts.transport import JsonPoster, outcome
from core.config import webhook_url_problem
from core.errors import FatalAPIError, RetriableAPIError
from core.retry import RetryPolicy
from sync.alerts import MAX_BACKOFF, next_attempt

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
URL = "https://hooks.slack.com/services/T0/B0/secret-token-abc"


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, "ok"), (202, "ok"), (204, "ok"), (400, "fatal"), (403, "fatal"), (404, "fatal"),
     (410, "fatal"), (408, "retry"), (425, "retry"), (429, "retry"), (500, "retry"),
     (503, "retry"), (301, "fatal")],
)
def test_given_a_status_the_table_says_what_to_do(status: int, expected: str) -> None:
    assert outcome(status) == expected


def test_given_tries_left_the_next_try_backs_off_exponentially_up_to_a_day() -> None:
    base = timedelta(minutes=5)
    assert next_attempt(NOW, 1, base, 5) == NOW + timedelta(minutes=5)
    assert next_attempt(NOW, 3, base, 5) == NOW + timedelta(minutes=20)
    assert next_attempt(NOW, 5, base, 5) is None  # the fifth failed try makes it dead
    assert next_attempt(NOW, 30, base, 100) == NOW + MAX_BACKOFF


@responses.activate
def test_given_a_429_then_200_the_post_is_retried_once_and_succeeds() -> None:
    responses.post(URL, status=429, headers={"Retry-After": "0"})
    responses.post(URL, status=200, body="ok")
    poster = JsonPoster("slack", URL, requests.Session(), 5, RetryPolicy(max_attempts=2),
                        sleep=lambda s: None)
    poster.post({"text": "x"})
    assert len(responses.calls) == 2


@responses.activate
def test_given_a_refusal_the_error_is_fatal_and_never_names_the_url() -> None:
    responses.post(URL, status=404, body="no_service")
    poster = JsonPoster("slack", URL, requests.Session(), 5, RetryPolicy(max_attempts=3),
                        sleep=lambda s: None)
    with pytest.raises(FatalAPIError) as caught:
        poster.post({"text": "x"})
    assert len(responses.calls) == 1
    assert str(caught.value) == "slack: HTTP 404 no_service"
    assert "secret-token-abc" not in repr(caught.value.__dict__)


@responses.activate
def test_given_a_connection_error_it_is_transient_without_the_url() -> None:
    responses.post(URL, body=requests.ConnectionError(f"cannot reach {URL}"))
    poster = JsonPoster("teams", URL, requests.Session(), 5, RetryPolicy(max_attempts=1),
                        sleep=lambda s: None)
    with pytest.raises(RetriableAPIError) as caught:
        poster.post({"type": "message"})
    assert "secret-token-abc" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "ok"),
    [(URL, True), ("http://127.0.0.1:8080/hook", True), ("http://localhost/x", True),
     ("http://hooks.slack.com/services/x", False), ("ftp://x/y", False), ("not a url", False)],
)
def test_given_a_webhook_url_only_https_or_loopback_http_is_accepted(url: str, ok: bool) -> None:
    problem = webhook_url_problem(url)
    assert (problem is None) == ok
    if problem is not None:
        assert url not in problem
