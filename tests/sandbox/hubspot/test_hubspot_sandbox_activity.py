"""Marketing activity endpoints through `client.api_request` and the SDK where it has them."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.hubspot.util import iso_ms
from tests.sandbox.hubspot.hs_sandbox_kit import BASE_MS, Sandbox

FORM = "3b9c1a7e-0000-4000-8000-000000000001"
EVENT_ID = "58237167"


def _email_event(i: int) -> dict[str, Any]:
    kinds = ["DELIVERED", "OPEN", "CLICK", "STATUSCHANGE"]
    event = {
        "id": f"ev-{i:04d}",
        "created": BASE_MS + i * 1000,
        "type": kinds[i % 4],
        "recipient": f"user{i % 10}@example.com",
        "emailCampaignId": 100 + i % 2,
        "portalId": 62515,
        "appId": 113,
    }
    if event["type"] == "CLICK":
        event["url"] = "https://example.com/pricing"
    return event


@pytest.fixture
def act(make_sandbox) -> Sandbox:
    participations = [
        {
            "id": f"p{i}",
            "createdAt": iso_ms(BASE_MS + i),
            "properties": {
                "attendanceState": "ATTENDED" if i % 2 else "REGISTERED",
                "occurredAt": BASE_MS + i,
                "attendanceDurationSeconds": 1200,
            },
            "associations": {
                "marketingEvent": {
                    "marketingEventId": EVENT_ID,
                    "name": "Webinar",
                    "externalEventId": "w-1",
                    "externalAccountId": "acc",
                },
                "contact": {
                    "contactId": str(i),
                    "email": f"user{i}@example.com",
                    "firstname": f"F{i}",
                    "lastname": "L",
                },
            },
        }
        for i in range(1, 26)
    ]
    return make_sandbox(
        {
            "forms": [
                {
                    "id": FORM,
                    "name": "Demo request",
                    "formType": "hubspot",
                    "createdAt": iso_ms(BASE_MS),
                    "updatedAt": iso_ms(BASE_MS),
                    "archived": False,
                    "fieldGroups": [],
                }
            ]
            + [
                {"id": f"form-{i}", "name": f"F{i}", "formType": "hubspot", "archived": False}
                for i in range(30)
            ],
            "form_submissions": [
                {
                    "formId": FORM,
                    "conversionId": f"c{i}",
                    "submittedAt": BASE_MS + i * 60_000,
                    "values": [{"name": "email", "value": f"user{i}@example.com"}],
                    "pageUrl": "https://example.com/demo",
                }
                for i in range(120)
            ],
            "email_events": [_email_event(i) for i in range(2500)],
            "marketing_events": [
                {
                    "id": EVENT_ID,
                    "objectId": EVENT_ID,
                    "eventName": "Webinar",
                    "eventType": "WEBINAR",
                    "startDateTime": iso_ms(BASE_MS),
                    "createdAt": iso_ms(BASE_MS),
                    "updatedAt": iso_ms(BASE_MS),
                }
            ],
            "participations": participations,
            "page_views": [
                {
                    "id": f"pv{i}",
                    "eventType": "e_visited_page",
                    "objectType": "contact",
                    "objectId": str(i % 3 + 1),
                    "occurredAt": iso_ms(BASE_MS + i * 1000),
                    "properties": {"hs_url": f"https://example.com/p{i}"},
                }
                for i in range(30)
            ],
        }
    )


def _walk(fetch, key: str = "results") -> list[Any]:
    out: list[Any] = []
    after = None
    while True:
        body = fetch(after)
        out.extend(body[key])
        nxt = (body.get("paging") or {}).get("next")
        if not nxt:
            return out
        after = nxt["after"]


def test_email_events_walk_newest_first_once_with_opaque_offsets(act: Sandbox) -> None:
    seen: list[dict[str, Any]] = []
    offset = None
    while True:
        qs = {"limit": 1000, **({"offset": offset} if offset else {})}
        body = act.get("/email/public/v1/events", **qs).json()
        seen.extend(body["events"])
        assert not body["offset"].isdigit()
        offset = body["offset"]
        if not body["hasMore"]:
            break
    ids = [e["id"] for e in seen]
    assert len(ids) == len(set(ids)) == 2500
    created = [e["created"] for e in seen]
    assert created == sorted(created, reverse=True)


def test_email_events_filters(act: Sandbox) -> None:
    clicks = act.get("/email/public/v1/events", eventType="CLICK", limit=1000).json()["events"]
    assert clicks and {e["type"] for e in clicks} == {"CLICK"}
    assert all(e["url"] for e in clicks)
    window = act.get(
        "/email/public/v1/events", startTimestamp=BASE_MS + 10_000, endTimestamp=BASE_MS + 19_000
    ).json()["events"]
    assert sorted(e["created"] for e in window) == [BASE_MS + i * 1000 for i in range(10, 20)]
    mine = act.get("/email/public/v1/events", recipient="USER3@example.com", limit=1000).json()[
        "events"
    ]
    assert len(mine) == 250 and {e["recipient"] for e in mine} == {"user3@example.com"}
    campaign = act.get("/email/public/v1/events", campaignId=101, limit=1000).json()["events"]
    assert {e["emailCampaignId"] for e in campaign} == {101}
    assert act.get("/email/public/v1/events", limit=1001).status_code == 400


def test_forms_list_pages_through_every_form(act: Sandbox) -> None:
    forms = _walk(
        lambda after: act.get(
            "/marketing/v3/forms", limit=10, **({"after": after} if after else {})
        ).json()
    )
    assert len(forms) == 31 and forms[0]["id"] == FORM
    sdk = act.client.marketing.forms.forms_api.get_page(limit=50)
    assert len(sdk.results) == 31 and sdk.paging is None


def test_form_submissions_newest_first_limit_50(act: Sandbox) -> None:
    path = f"/form-integrations/v1/submissions/forms/{FORM}"
    submissions = _walk(
        lambda after: act.get(path, limit=50, **({"after": after} if after else {})).json()
    )
    assert [s["conversionId"] for s in submissions][:2] == ["c119", "c118"]
    assert len({s["conversionId"] for s in submissions}) == 120
    assert "formId" not in submissions[0]
    assert act.get(path, limit=51).status_code == 400
    assert act.get("/form-integrations/v1/submissions/forms/unknown").status_code == 404


def test_marketing_events_list_and_participation_breakdowns(act: Sandbox) -> None:
    events = act.client.marketing.events.basic_api.get_all()
    assert events.results[0].object_id == EVENT_ID
    breakdown = act.client.marketing.events.retrieve_participant_state_api
    page = breakdown.get_participations_breakdown_by_marketing_event_id(EVENT_ID, limit=10)
    assert page.total == 25 and len(page.results) == 10
    everyone = _walk(
        lambda after: act.get(
            f"/marketing/v3/marketing-events/participations/{EVENT_ID}/breakdown",
            limit=10,
            **({"after": after} if after else {}),
        ).json()
    )
    assert len({p["id"] for p in everyone}) == 25
    attended = breakdown.get_participations_breakdown_by_marketing_event_id(
        EVENT_ID, state="ATTENDED", limit=100
    )
    assert attended.total == 13
    assert {p.properties.attendance_state for p in attended.results} == {"ATTENDED"}
    by_contact = breakdown.get_participations_breakdown_by_contact_id("user3@example.com")
    assert by_contact.total == 1
    assert by_contact.results[0].associations.contact.contact_id == "3"


def test_web_events_by_contact_and_event_types(act: Sandbox) -> None:
    body = act.get(
        "/events/v3/events", objectType="contact", objectId="2", eventType="e_visited_page", limit=4
    ).json()
    assert len(body["results"]) == 4 and body["paging"]["next"]["after"]
    everything = _walk(
        lambda after: act.get(
            "/events/v3/events",
            objectType="contact",
            objectId="2",
            limit=4,
            **({"after": after} if after else {}),
        ).json()
    )
    assert len(everything) == 10
    times = [e["occurredAt"] for e in everything]
    assert times == sorted(times, reverse=True)
    window = act.get(
        "/events/v3/events",
        objectType="contact",
        objectId="1",
        occurredAfter=iso_ms(BASE_MS + 3000),
        occurredBefore=iso_ms(BASE_MS + 9000),
        sort="ASCENDING",
    ).json()["results"]
    assert [e["id"] for e in window] == ["pv3", "pv6"]
    sdk = act.client.events.events_api.get_page(object_type="contact", object_id="3")
    assert sdk.results and sdk.results[0].event_type == "e_visited_page"
    assert "e_visited_page" in act.get("/events/v3/events/event-types").json()["eventTypes"]


def test_web_event_pages_match_a_full_filter_and_see_events_seeded_between_pages(
    act: Sandbox,
) -> None:
    # Windows on exact event times: occurredAfter inclusive, occurredBefore exclusive.
    for low, high in [(0, 30), (3, 9), (5, 6), (5, 5), (29, 40)]:
        expected = [
            f"pv{i}" for i in reversed(range(30)) if low <= i < high
        ]  # newest first
        walked = _walk(
            lambda after, low=low, high=high: act.get(
                "/events/v3/events",
                objectType="contact",
                occurredAfter=iso_ms(BASE_MS + low * 1000),
                occurredBefore=iso_ms(BASE_MS + high * 1000),
                limit=2,
                **({"after": after} if after else {}),
            ).json()
        )
        assert [e["id"] for e in walked] == expected, (low, high)
    first = act.get("/events/v3/events", objectType="contact", limit=5).json()
    assert [e["id"] for e in first["results"]] == ["pv29", "pv28", "pv27", "pv26", "pv25"]
    act.sb.seed(
        {
            "page_views": [
                {
                    "id": "pv-late",
                    "eventType": "e_visited_page",
                    "objectType": "contact",
                    "objectId": "1",
                    "occurredAt": iso_ms(BASE_MS + 100_000),
                    "properties": {},
                }
            ]
        }
    )
    again = act.get("/events/v3/events", objectType="contact", limit=5).json()
    assert again["results"][0]["id"] == "pv-late"  # a remembered selection is not served


def test_participation_pages_by_state_match_a_full_filter(act: Sandbox) -> None:
    path = f"/marketing/v3/marketing-events/participations/{EVENT_ID}/breakdown"
    for state, expected in [("ATTENDED", [f"p{i}" for i in range(1, 26, 2)]), (None, None)]:
        walked = _walk(
            lambda after, state=state: act.get(
                path,
                limit=3,
                **({"state": state} if state else {}),
                **({"after": after} if after else {}),
            ).json()
        )
        ids = [p["id"] for p in walked]
        assert ids == (expected or [f"p{i}" for i in range(1, 26)])
