"""The HubSpot sandbox's webhooks and Forms submission endpoint, against a raw receiver that
checks HubSpot's v3 signature with its own implementation."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
import requests

from sandbox.hubspot.routes_account import SANDBOX_PORTAL_ID
from sandbox.hubspot.webhooks import SUBSCRIPTIONS, WebhookConfig
from sandbox.serve import SandboxOptions
from tests.sandbox.hubspot.conftest import SandboxFactory
from tests.sandbox.hubspot.hs_sandbox_kit import Sandbox, contact
from tests.sandbox.hubspot.webhook_receiver import Receiver, running_receiver, v3_is_valid

SECRET = "app-client-secret-5d1f0c2e"
FORM = "3f0c6a1e-1111-4c4c-9a9a-000000000001"
EVENT_FIELDS = {
    "eventId",
    "subscriptionId",
    "portalId",
    "appId",
    "occurredAt",
    "subscriptionType",
    "attemptNumber",
    "objectId",
    "changeSource",
}


def _form() -> dict[str, Any]:
    field = {"objectTypeId": "0-1", "fieldType": "single_line_text", "hidden": False}
    return {
        "id": FORM,
        "name": "資料ダウンロード",
        "formType": "hubspot",
        "archived": False,
        "fieldGroups": [
            {"fields": [{**field, "name": "email", "required": True, "fieldType": "email"}]},
            {"fields": [{**field, "name": "firstname", "required": False}]},
            {"fields": [{**field, "name": "company", "required": True}]},
        ],
        "configuration": {"postSubmitAction": {"type": "thank_you", "value": ""}},
    }


def _config(receiver: Receiver, **kw: Any) -> WebhookConfig:
    return WebhookConfig(receiver.url, SECRET, retry_scale=kw.pop("retry_scale", 1e-4), **kw)


@pytest.fixture
def forms_sb(make_sandbox: SandboxFactory) -> Sandbox:
    return make_sandbox({"contacts": [contact(1)], "forms": [_form()]})


def _submit(
    hs: Sandbox, body: dict[str, Any], portal: int = SANDBOX_PORTAL_ID
) -> requests.Response:
    # no Authorization header: real sites post forms unauthenticated
    url = f"{hs.url}/submissions/v3/integration/submit/{portal}/{FORM}"
    return requests.post(url, json=body, timeout=10)


def _fields(**values: str) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in values.items()]


def test_given_a_form_submission_then_contact_submission_and_one_signed_batch(
    forms_sb: Sandbox,
) -> None:
    with running_receiver() as receiver:
        forms_sb.sb.webhooks.configure(_config(receiver))
        details = forms_sb.get("/account-info/2026-09/details").json()
        answer = _submit(
            forms_sb,
            {
                "fields": _fields(email="new@example.co.jp", firstname="花子", company="Acme"),
                "context": {"pageUri": "https://www.example.co.jp/wp", "pageName": "WP"},
            },
            portal=details["portalId"],
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"inlineMessage": "Thanks for submitting the form."}
        assert forms_sb.sb.webhooks.flush(5)

        contact_id = forms_sb.sb.store.contacts.id_by_email("new@example.co.jp")
        assert contact_id is not None
        props = forms_sb.sb.store.contacts.get(contact_id).props
        now = forms_sb.clock.now
        assert props["num_conversion_events"] == "1"
        assert props["recent_conversion_event_name"] == "資料ダウンロード"
        assert props["first_conversion_event_name"] == "資料ダウンロード"
        assert props["firstname"] == "花子"
        assert props["lastmodifieddate"].startswith(
            time.strftime("%Y-%m-%dT%H:%M", time.gmtime(now))
        )

        stored = forms_sb.get(f"/form-integrations/v1/submissions/forms/{FORM}").json()
        assert [r["pageUrl"] for r in stored["results"]] == ["https://www.example.co.jp/wp"]
        assert {"name": "email", "value": "new@example.co.jp"} in stored["results"][0]["values"]

        assert len(receiver.received) == 1
        request = receiver.received[0]
        assert v3_is_valid(SECRET, request, now_ms=int(time.time() * 1000))
        events = request.events
        kinds = [(e["subscriptionType"], e.get("propertyName")) for e in events]
        assert kinds == [
            ("contact.creation", None),
            ("contact.propertyChange", "num_conversion_events"),
            ("contact.propertyChange", "recent_conversion_date"),
            ("contact.propertyChange", "recent_conversion_event_name"),
        ]
        for event in events:
            assert set(event) >= EVENT_FIELDS
            assert event["objectId"] == contact_id
            assert event["portalId"] == details["portalId"]
            assert event["changeSource"] == "FORM"
            assert event["attemptNumber"] == 0
            assert event["subscriptionId"] == SUBSCRIPTIONS[event["subscriptionType"]]
        assert events[1]["propertyValue"] == "1"
        assert len({e["eventId"] for e in events}) == len(events)


def test_given_a_second_submission_then_existing_contact_counts_two_and_no_creation(
    forms_sb: Sandbox,
) -> None:
    with running_receiver() as receiver:
        forms_sb.sb.webhooks.configure(_config(receiver))
        body = {"fields": _fields(email="user1@example.com", company="Acme")}
        assert _submit(forms_sb, body).status_code == 200
        assert _submit(forms_sb, body).status_code == 200
        assert forms_sb.sb.webhooks.flush(5)
        assert forms_sb.sb.store.contacts.get(1).props["num_conversion_events"] == "2"
        events = [e for batch in receiver.batches() for e in batch]
        assert all(e["subscriptionType"] != "contact.creation" for e in events)
        counts = [
            e["propertyValue"] for e in events if e["propertyName"] == "num_conversion_events"
        ]
        assert counts == ["1", "2"]


@pytest.mark.parametrize(
    ("fields", "error_type"),
    [
        (_fields(email="not-an-email", company="Acme"), "INVALID_EMAIL"),
        (_fields(email="a@example.com"), "REQUIRED_FIELD"),
        (
            _fields(email="a@example.com", company="Acme", jobtitle="CEO"),
            "FIELD_NOT_IN_FORM_DEFINITION",
        ),
    ],
)
def test_given_an_invalid_submission_then_400_with_error_type_and_nothing_stored(
    forms_sb: Sandbox, fields: list[dict[str, str]], error_type: str
) -> None:
    answer = _submit(forms_sb, {"fields": fields})
    assert answer.status_code == 400
    body = answer.json()
    assert body["status"] == "error"
    assert error_type in [e["errorType"] for e in body["errors"]]
    assert forms_sb.sb.store.activity.submissions.get(FORM, []) == []
    assert forms_sb.sb.store.contacts.id_by_email("a@example.com") is None


def test_given_an_unknown_form_or_portal_then_404(forms_sb: Sandbox) -> None:
    body = {"fields": _fields(email="a@example.com", company="Acme")}
    assert _submit(forms_sb, body, portal=SANDBOX_PORTAL_ID + 1).status_code == 404
    url = f"{forms_sb.url}/submissions/v3/integration/submit/{SANDBOX_PORTAL_ID}/no-such-form"
    assert requests.post(url, json=body, timeout=10).status_code == 404


def test_given_250_watched_changes_then_three_batches_of_at_most_100(hs: Sandbox) -> None:
    with running_receiver() as receiver:
        hs.sb.webhooks.configure(_config(receiver, watched=("firstname",), linger_seconds=0.5))
        for start, stop in ((1, 101), (101, 201), (201, 251)):
            inputs = [
                {"id": str(i), "properties": {"firstname": f"N{i}"}} for i in range(start, stop)
            ]
            hs.client.crm.contacts.batch_api.update({"inputs": inputs})
        assert hs.sb.webhooks.flush(10)
        batches = receiver.batches()
        assert [len(b) for b in batches] == [100, 100, 50]
        events = [e for b in batches for e in b]
        assert sorted(e["objectId"] for e in events) == list(range(1, 251))
        assert len({e["eventId"] for e in events}) == 250
        assert {(e["propertyName"], e["changeSource"]) for e in events} == {("firstname", "API")}
        assert all(v3_is_valid(SECRET, r) for r in receiver.received)


def test_given_an_unwatched_change_then_no_event(hs: Sandbox) -> None:
    with running_receiver() as receiver:
        hs.sb.webhooks.configure(_config(receiver, watched=("firstname",), linger_seconds=0.0))
        hs.client.crm.contacts.basic_api.update("1", {"properties": {"lastname": "Other"}})
        hs.client.crm.contacts.basic_api.update("2", {"properties": {"firstname": "First2"}})
        assert hs.sb.webhooks.flush(5)
        assert receiver.received == []


def test_given_receiver_fails_twice_then_third_try_delivers_with_attempt_numbers(
    forms_sb: Sandbox,
) -> None:
    with running_receiver() as receiver:
        receiver.statuses = [500, 503]
        forms_sb.sb.webhooks.configure(_config(receiver, linger_seconds=0.0))
        forms_sb.client.crm.contacts.basic_api.create({"properties": {"email": "x@example.com"}})
        assert forms_sb.sb.webhooks.flush(5)
        tries = receiver.batches()
        assert len(tries) == 3
        assert [[e["attemptNumber"] for e in t] for t in tries] == [[0], [1], [2]]
        assert len({t[0]["eventId"] for t in tries}) == 1  # the same event, sent again
        assert all(v3_is_valid(SECRET, r) for r in receiver.received)
        state = forms_sb.get("/_sandbox/webhooks").json()
        assert state["sent"] == {"batches": 1, "events": 1}
        assert state["failed"] == {"batches": 0, "events": 0}
        assert state["pending"]["events"] == 0


def test_given_receiver_always_fails_then_ten_tries_and_failed(forms_sb: Sandbox) -> None:
    with running_receiver() as receiver:
        receiver.statuses = [502] * 20
        forms_sb.sb.webhooks.configure(_config(receiver, linger_seconds=0.0, retry_scale=1e-6))
        forms_sb.client.crm.contacts.basic_api.create({"properties": {"email": "x@example.com"}})
        assert forms_sb.sb.webhooks.flush(10)
        assert [t[0]["attemptNumber"] for t in receiver.batches()] == list(range(10))
        assert forms_sb.sb.webhooks.snapshot()["failed"] == {"batches": 1, "events": 1}


def test_given_receiver_answers_404_then_batch_dropped_without_retry(forms_sb: Sandbox) -> None:
    with running_receiver() as receiver:
        receiver.statuses = [404]
        forms_sb.sb.webhooks.configure(_config(receiver, linger_seconds=0.0))
        forms_sb.client.crm.contacts.basic_api.create({"properties": {"email": "x@example.com"}})
        assert forms_sb.sb.webhooks.flush(5)
        assert len(receiver.received) == 1
        assert forms_sb.sb.webhooks.snapshot()["failed"]["batches"] == 1


def test_given_admin_post_then_configured_at_run_time_and_secret_never_shown(
    forms_sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with running_receiver() as receiver:
        receiver.statuses = [500] * 20
        answer = requests.post(
            f"{forms_sb.url}/_sandbox/webhooks",
            json={"url": receiver.url, "secret": SECRET, "retryScale": 1e-6, "lingerSeconds": 0},
            timeout=10,
        )
        assert answer.status_code == 200
        assert SECRET not in answer.text
        _submit(forms_sb, {"fields": _fields(email="a@example.com", company="Acme")})
        assert forms_sb.sb.webhooks.flush(10)
        shown = forms_sb.get("/_sandbox/webhooks").text
        assert json.loads(shown)["config"]["url"] == receiver.url
        assert SECRET not in shown
        assert SECRET not in repr(forms_sb.sb.webhooks.config)
    assert any("dropped after 10 tries" in r.getMessage() for r in caplog.records)
    assert all(SECRET not in r.getMessage() for r in caplog.records)


def test_given_later_page_views_then_analytics_change_sent(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox({"contacts": [contact(1)]})
    with running_receiver() as receiver:
        sandbox.sb.webhooks.configure(_config(receiver, linger_seconds=0.0))
        view = {"eventType": "e_visited_page", "objectType": "contact", "objectId": "1"}
        sandbox.sb.seed({"page_views": [{**view, "occurredAt": int(sandbox.clock.now * 1000)}]})
        assert sandbox.sb.webhooks.flush(5)
        events = [e for batch in receiver.batches() for e in batch]
        assert {(e["propertyName"], e["changeSource"]) for e in events} == {
            ("hs_analytics_num_visits", "ANALYTICS"),
            ("hs_analytics_last_visit_timestamp", "ANALYTICS"),
        }


@pytest.mark.parametrize(
    ("url", "secret", "named"),
    [("http://127.0.0.1:9/h", None, "--webhook-secret"), (None, SECRET, "--webhook-url")],
)
def test_given_only_one_webhook_option_then_error_names_the_other(
    url: str | None, secret: str | None, named: str
) -> None:
    with pytest.raises(ValueError, match=named) as caught:
        SandboxOptions(webhook_url=url, webhook_secret=secret).webhook_config()
    assert SECRET not in str(caught.value)
