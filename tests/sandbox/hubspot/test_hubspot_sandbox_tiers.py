"""The sandbox's tiers and activity semantics: the events API below Enterprise, analytics
properties moved by page views, forms types and page size, bot-filtered email events,
participation rows by id and their counters."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.hubspot.util import iso_ms
from tests.sandbox.hubspot.hs_sandbox_kit import BASE_MS, Sandbox, contact

EVENT_ID = "58237167"
MINUTE = 60_000


def _page_view(n: int, contact_id: int, ms: int) -> dict[str, Any]:
    return {
        "id": f"pv{n}",
        "eventType": "e_visited_page",
        "objectType": "contact",
        "objectId": str(contact_id),
        "occurredAt": iso_ms(ms),
        "properties": {"hs_url": f"https://example.com/p{n}"},
    }


@pytest.mark.parametrize(("tier", "status"), [("free", 403), ("pro", 403), ("enterprise", 200)])
def test_given_a_tier_the_events_api_answers_as_hubspot_does(make_sandbox, tier, status) -> None:
    sandbox: Sandbox = make_sandbox({}, tier=tier)
    answer = sandbox.get("/events/v3/events", objectType="contact", eventType="e_visited_page")
    assert answer.status_code == status
    if status == 403:
        body = answer.json()
        assert body["status"] == "error" and body["category"] == "MISSING_SCOPES"
        assert body["message"].startswith("This app hasn't been granted all required scopes")
        assert body["correlationId"]
        assert body["errors"][0]["context"]["requiredGranularScopes"] == [
            "event-detail-read",
            "web-analytics-api-access",
        ]


def test_given_page_views_seeded_and_added_later_contact_analytics_move(make_sandbox) -> None:
    start = BASE_MS + 3_600_000
    sandbox: Sandbox = make_sandbox(
        {
            "contacts": [contact(1), contact(2)],
            "page_views": [
                _page_view(1, 1, start),
                _page_view(2, 1, start + 20 * MINUTE),  # same session
                _page_view(3, 1, start + 51 * MINUTE),  # 31 minutes idle: a new session
            ],
        },
        tier="pro",
    )
    props = sandbox.sb.store.contacts.get(1).props
    assert props["hs_analytics_num_visits"] == "2"
    assert props["hs_analytics_num_page_views"] == "3"
    assert props["hs_analytics_last_visit_timestamp"] == iso_ms(start + 51 * MINUTE)
    assert props["hs_analytics_last_url"] == "https://example.com/p3"
    assert "hs_analytics_num_visits" not in sandbox.sb.store.contacts.get(2).props
    later = start + 5 * 3_600_000
    sandbox.sb.seed({"page_views": [_page_view(4, 1, later)]})
    record = sandbox.sb.store.contacts.get(1)
    assert record.props["hs_analytics_num_visits"] == "3"
    assert record.mod_ms == later  # the contact shows up in the next modified-time search
    read = sandbox.get(
        "/crm/v3/objects/contacts/1", properties="hs_analytics_num_visits"
    ).json()
    assert read["properties"]["hs_analytics_num_visits"] == "3"


def test_given_no_form_types_only_standard_forms_are_listed_and_limit_has_no_maximum(
    make_sandbox,
) -> None:
    forms = [
        {"id": f"f{i}", "name": f"F{i}", "formType": kind, "archived": False}
        for i, kind in enumerate(["hubspot"] * 60 + ["flow", "captured"])
    ]
    sandbox: Sandbox = make_sandbox({"forms": forms})
    standard = sandbox.get("/marketing/v3/forms", limit=100)
    assert standard.status_code == 200
    assert len(standard.json()["results"]) == 60
    every = sandbox.get("/marketing/v3/forms", limit=100, formTypes="all").json()
    assert {f["formType"] for f in every["results"]} == {"hubspot", "flow", "captured"}


def test_given_bot_filtered_email_events_they_are_listed_unless_excluded(make_sandbox) -> None:
    events = [
        {"id": "e1", "created": BASE_MS, "type": "OPEN", "recipient": "a@example.com"},
        {"id": "e2", "created": BASE_MS + 1, "type": "OPEN", "recipient": "b@example.com",
         "filteredEvent": True},
    ]
    sandbox: Sandbox = make_sandbox({"email_events": events})
    every = sandbox.get("/email/public/v1/events").json()["events"]
    assert {e["id"] for e in every} == {"e1", "e2"}
    human = sandbox.get("/email/public/v1/events", excludeFilteredEvents="true").json()["events"]
    assert [e["id"] for e in human] == ["e1"]


def _participation(row_id: str, contact_id: int, state: str, created: int) -> dict[str, Any]:
    return {
        "id": row_id,
        "createdAt": iso_ms(created),
        "properties": {"attendanceState": state, "occurredAt": BASE_MS},
        "associations": {
            "marketingEvent": {"marketingEventId": EVENT_ID},
            "contact": {"contactId": str(contact_id), "email": f"user{contact_id}@example.com"},
        },
    }


def test_given_attendance_recorded_later_the_row_keeps_its_id_and_created_at(
    make_sandbox,
) -> None:
    sandbox: Sandbox = make_sandbox(
        {
            "marketing_events": [{"id": EVENT_ID, "eventName": "W", "eventType": "WEBINAR"}],
            "participations": [
                _participation("p1", 1, "REGISTERED", BASE_MS),
                _participation("p2", 2, "REGISTERED", BASE_MS),
                _participation("p3", 3, "CANCELLED", BASE_MS),
            ],
        }
    )
    sandbox.sb.seed({"participations": [_participation("p1", 1, "ATTENDED", BASE_MS + 86_400_000)]})
    path = f"/marketing/v3/marketing-events/participations/{EVENT_ID}"
    rows = sandbox.get(path + "/breakdown").json()
    assert rows["total"] == 3
    row = next(r for r in rows["results"] if r["id"] == "p1")
    assert row["properties"]["attendanceState"] == "ATTENDED"
    assert row["createdAt"] == iso_ms(BASE_MS)
    counters = sandbox.get(path)
    assert counters.status_code == 200
    assert counters.json() == {"attended": 1, "cancelled": 1, "noShows": 0, "registered": 1}
    assert sandbox.get("/marketing/v3/marketing-events/participations/404404").status_code == 404
