"""The v3 signature, the event batch and the loop's timing, as pure functions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from app.service.loop import Timing, next_pass_at
from app.service.metrics import remaining_budget
from connectors.hubspot.webhooks import (
    PayloadError,
    parse_events,
    signature_problem,
    signature_v3,
    signed_uri,
    triage,
)

SECRET = "client-secret-0123"
URI = "https://connector.example.com/hubspot/webhooks"
NOW_MS = 1_795_000_000_000


def _hubspot_signature(uri: str, body: bytes, ts: str) -> str:
    """HubSpot's recipe written out independently: base64(HMAC-SHA256(secret, POST+uri+body+ts))."""
    message = b"POST" + uri.encode() + body + ts.encode()
    return base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode()


def _check(body: bytes, *, ts: int = NOW_MS, signature: str | None = None, uri: str = URI):
    sent = signature if signature is not None else _hubspot_signature(URI, body, str(ts))
    return signature_problem(secret=SECRET, method="POST", uri=uri, body=body,
                             timestamp=str(ts), signature=sent, now_ms=NOW_MS)


def test_given_hubspot_signed_request_it_is_accepted() -> None:
    assert _check(b'[{"objectId":1}]') is None
    assert signature_v3(SECRET, "post", URI, b"x", "1") == _hubspot_signature(URI, b"x", "1")


def test_given_tampered_body_or_other_secret_the_signature_is_refused() -> None:
    signature = _hubspot_signature(URI, b'[{"objectId":1}]', str(NOW_MS))
    assert _check(b'[{"objectId":2}]', signature=signature) == "signature does not match"
    other = signature_problem(secret="other", method="POST", uri=URI, body=b"[]",
                              timestamp=str(NOW_MS), signature=_hubspot_signature(URI, b"[]",
                                                                                  str(NOW_MS)),
                              now_ms=NOW_MS)
    assert other == "signature does not match"


@pytest.mark.parametrize(("age_ms", "accepted"), [(299_000, True), (301_000, False),
                                                 (-301_000, False)])
def test_given_timestamp_age_only_five_minutes_are_accepted(age_ms: int, accepted: bool) -> None:
    assert (_check(b"[]", ts=NOW_MS - age_ms) is None) is accepted


def test_given_missing_headers_the_request_is_refused() -> None:
    problem = signature_problem(secret=SECRET, method="POST", uri=URI, body=b"[]",
                                timestamp=None, signature=None, now_ms=NOW_MS)
    assert problem is not None and "missing" in problem


def test_given_percent_escapes_in_the_uri_the_listed_ones_are_decoded_before_signing() -> None:
    assert signed_uri("https://h/p%3Fa%3Ab%2Fc%40d%2C?x=%2f%20") == "https://h/p?a:b/c@d,?x=/%20"
    body = b"[]"
    signature = _hubspot_signature("https://h/hook?a=b:c", body, str(NOW_MS))
    assert _check(body, signature=signature, uri="https://h/hook?a=b%3Ac") is None


def test_given_a_batch_contacts_are_marked_merges_mark_the_survivor_deletions_only_count() -> None:
    body = json.dumps([
        {"objectId": 11, "subscriptionType": "contact.creation", "eventId": 1, "portalId": 9,
         "occurredAt": NOW_MS, "attemptNumber": 0, "changeSource": "CRM"},
        {"objectId": 12, "subscriptionType": "contact.propertyChange",
         "propertyName": "num_conversion_events", "propertyValue": "3"},
        {"objectId": 13, "subscriptionType": "contact.merge", "primaryObjectId": 13,
         "mergedObjectIds": [14], "newObjectId": 15},
        {"objectId": 16, "subscriptionType": "contact.deletion"},
        {"objectId": 17, "subscriptionType": "company.creation"},
        {"objectId": "11", "subscriptionType": "contact.propertyChange"},
    ]).encode()
    events = parse_events(body)
    assert events[2].merged_object_ids == ("14",)
    todo = triage(events)
    assert todo.contact_ids == ("11", "12", "15")
    assert (todo.merges, todo.deletions, todo.ignored) == (1, 1, 1)


@pytest.mark.parametrize("body", [b"{}", b"not json", b'[{"objectId": 1}]',
                                  b'[{"subscriptionType": "contact.creation", "objectId": "x"}]'])
def test_given_a_body_that_is_no_event_batch_it_is_refused(body: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_events(body)


def test_given_a_burst_the_pass_waits_for_quiet_but_no_longer_than_the_maximum() -> None:
    timing = Timing(debounce=2, debounce_max=10, poll=900)
    assert next_pass_at(timing, first=100, last=101, next_poll=1000) == (103, "webhook")
    assert next_pass_at(timing, first=100, last=109, next_poll=1000) == (110, "webhook")
    assert next_pass_at(timing, first=None, last=None, next_poll=1000) == (1000, "poll")
    assert next_pass_at(timing, first=100, last=101, next_poll=102) == (102, "poll")


def test_given_run_budget_the_calls_left_are_limit_minus_used_per_platform() -> None:
    budget = {"hubspot_daily_used": 40, "hubspot_daily_limit": 650_000,
              "salesforce_daily_used": None, "salesforce_daily_limit": 15_000}
    assert remaining_budget(budget) == {"hubspot": 649_960}


def test_given_deletion_restore_privacy_and_merge_events_they_become_queued_changes() -> None:
    from connectors.hubspot.webhooks import contact_changes

    body = json.dumps([
        {"objectId": 21, "subscriptionType": "contact.deletion", "changeFlag": "DELETED"},
        {"objectId": 22, "subscriptionType": "contact.restore"},
        {"objectId": 23, "subscriptionType": "contact.privacyDeletion"},
        # a merge that created a new record: both old ids point to it
        {"objectId": 24, "subscriptionType": "contact.merge", "primaryObjectId": 24,
         "mergedObjectIds": [25], "newObjectId": 26},
        # a merge into the primary (no new record): only the merged-away id moves
        {"objectId": 27, "subscriptionType": "contact.merge", "primaryObjectId": 27,
         "mergedObjectIds": [28]},
        {"objectId": 29, "subscriptionType": "contact.propertyChange",
         "propertyName": "email", "propertyValue": "x@example.com"},
    ]).encode()
    assert contact_changes(parse_events(body)) == [
        ("21", "archive", None), ("22", "restore", None), ("23", "erase", None),
        ("25", "merge", "26"), ("24", "merge", "26"), ("28", "merge", "27"),
    ]
