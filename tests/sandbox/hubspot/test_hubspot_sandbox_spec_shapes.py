"""Shapes found wrong by `scripts/check_hubspot_spec.py` against the 2026-09 OpenAPI specs:
an optional member without a value is left out, never `null`, where the spec's schema is not
nullable (sandbox/hubspot/README.md, "Checked against the 2026-09 specs")."""

from __future__ import annotations

from typing import Any

from sandbox.hubspot.util import iso_ms
from tests.sandbox.hubspot.conftest import SandboxFactory
from tests.sandbox.hubspot.hs_sandbox_kit import BASE_MS, Sandbox

EVENT_ID = "555"


def _types(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for r in body["results"] for to in r["to"] for t in to["associationTypes"]]


def test_given_unlabeled_association_dated_read_leaves_label_out(hs: Sandbox) -> None:
    body = hs.post("/crm/associations/2026-09/contacts/companies/batch/read",
                   {"inputs": [{"id": "1"}]}).json()
    types = {t["typeId"]: t for t in _types(body)}
    assert 279 in types, types  # the unlabeled contact -> company type
    assert "label" not in types[279]
    assert types[1]["label"] == "Primary"


def test_given_unlabeled_association_v4_read_keeps_label_null(hs: Sandbox) -> None:
    body = hs.post("/crm/v4/associations/contacts/companies/batch/read",
                   {"inputs": [{"id": "1"}]}).json()
    types = {t["typeId"]: t for t in _types(body)}
    assert types[279]["label"] is None


def _participation(i: int, duration: int | None, percentage: str | None) -> dict[str, Any]:
    return {
        "id": f"p{i}",
        "createdAt": iso_ms(BASE_MS + i),
        "properties": {
            "attendanceState": "ATTENDED" if duration else "REGISTERED",
            "occurredAt": BASE_MS + i,
            "attendanceDurationSeconds": duration,
            "attendancePercentage": percentage,
        },
        "associations": {
            "marketingEvent": {"marketingEventId": EVENT_ID, "name": "Webinar",
                               "externalEventId": "w-1", "externalAccountId": "acc"},
            "contact": {"contactId": str(i), "email": f"user{i}@example.com"},
        },
    }


def test_given_registration_without_attendance_breakdown_leaves_empty_members_out(
    make_sandbox: SandboxFactory,
) -> None:
    hs = make_sandbox({
        "marketing_events": [{"objectId": EVENT_ID, "eventName": "Webinar",
                              "externalEventId": "w-1"}],
        "participations": [_participation(1, 1200, "80.0"), _participation(2, None, None)],
    })
    for path in (f"/marketing/marketing-events/2026-09/participations/{EVENT_ID}/breakdown",
                 f"/marketing/v3/marketing-events/participations/{EVENT_ID}/breakdown"):
        rows = {r["id"]: r["properties"] for r in hs.get(path).json()["results"]}
        assert rows["p1"]["attendanceDurationSeconds"] == 1200
        assert rows["p1"]["attendancePercentage"] == "80.0"
        assert set(rows["p2"]) == {"attendanceState", "occurredAt"}, rows["p2"]
