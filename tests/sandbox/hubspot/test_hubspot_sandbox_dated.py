"""The sandbox's date-versioned HubSpot paths (2026-09 specs): shapes, statuses, the portal's
validation rules on dated writes, the 3,000-character search body, account and schema reads,
and the legacy v2 reads taps still call."""

from __future__ import annotations

import json

import pytest

from sandbox.hubspot.rules import parse_rules
from tests.sandbox.hubspot.hs_sandbox_kit import Sandbox

DATED = "/crm/objects/2026-09/contacts"
LEGACY = "/crm/v3/objects/contacts"
REQUIRED_WHEN_MQL = {
    "rules": [
        {
            "objectType": "contacts",
            "propertyName": "jobtitle",
            "required": True,
            "when": {"propertyName": "lifecyclestage", "value": "marketingqualifiedlead"},
        }
    ]
}


def _mql_update(*ids: int) -> dict:
    return {"inputs": [{"id": str(i), "properties": {"lifecyclestage": "marketingqualifiedlead"}}
                       for i in ids]}


def test_given_required_rule_dated_batch_update_is_refused_with_validation_error(
    hs: Sandbox,
) -> None:
    hs.sb.set_rules(parse_rules(REQUIRED_WHEN_MQL))
    response = hs.post(DATED + "/batch/update", _mql_update(1, 2))
    assert response.status_code == 400
    body = response.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid:")
    assert body["errors"][0]["context"]["propertyName"] == ["jobtitle"]
    assert hs.sb.store.contacts.get(1).props["lifecyclestage"] == "lead"  # nothing written


def test_given_required_rule_legacy_v3_batch_update_is_not_checked(hs: Sandbox) -> None:
    hs.sb.set_rules(parse_rules(REQUIRED_WHEN_MQL))
    response = hs.post(LEGACY + "/batch/update", _mql_update(1))
    assert response.status_code == 200
    assert hs.sb.store.contacts.get(1).props["lifecyclestage"] == "marketingqualifiedlead"


def test_given_required_rule_write_that_fills_it_passes_on_dated_path(hs: Sandbox) -> None:
    hs.sb.set_rules(parse_rules(REQUIRED_WHEN_MQL))
    body = {"inputs": [{"id": "1", "properties": {"lifecyclestage": "marketingqualifiedlead",
                                                  "jobtitle": "CTO"}}]}
    assert hs.post(DATED + "/batch/update", body).status_code == 200


def test_given_rules_posted_to_admin_endpoint_they_are_listed_back(hs: Sandbox) -> None:
    import requests

    answer = requests.post(hs.url + "/_sandbox/validation-rules", json=REQUIRED_WHEN_MQL,
                           timeout=10)
    assert answer.status_code == 200
    assert answer.json()["rules"][0]["propertyName"] == "jobtitle"
    bad = requests.post(hs.url + "/_sandbox/validation-rules", json={"rules": [{}]}, timeout=10)
    assert bad.status_code == 400


@pytest.mark.parametrize("path", [DATED + "/search", LEGACY + "/search"])
def test_given_search_body_over_3000_characters_answers_400(hs: Sandbox, path: str) -> None:
    properties = [f"custom_property_{i:04d}" for i in range(200)]
    body = {"filterGroups": [], "properties": properties, "limit": 10}
    assert len(json.dumps(body)) > 3000
    response = hs.post(path, body)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_given_search_body_just_under_3000_characters_is_answered(hs: Sandbox) -> None:
    body = {"filterGroups": [], "properties": ["email"] * 300, "limit": 1}
    while len(json.dumps(body, separators=(",", ":"))) > 3000:
        body["properties"].pop()
    raw = json.dumps(body, separators=(",", ":"))
    response = hs.client.api_request(
        {"method": "POST", "path": DATED + "/search", "body": raw, "default_json": False,
         "headers": {"Content-Type": "application/json"}}
    )
    assert response.status_code == 200


def test_given_missing_ids_dated_batch_read_answers_200_with_spec_shaped_errors(
    hs: Sandbox,
) -> None:
    response = hs.post(DATED + "/batch/read", {"inputs": [{"id": "1"}, {"id": "999999"}],
                                               "properties": ["email"]})
    assert response.status_code == 200
    body = response.json()
    assert [r["id"] for r in body["results"]] == ["1"]
    error = body["errors"][0]
    assert {"status", "category", "subCategory", "message", "errors", "context",
            "links"} <= set(error)
    assert isinstance(error["subCategory"], dict)
    assert error["context"] == {"ids": ["999999"]}
    legacy = hs.post(LEGACY + "/batch/read", {"inputs": [{"id": "999999"}]})
    assert legacy.status_code == 207


def test_given_dated_associations_read_to_object_ids_are_strings(hs: Sandbox) -> None:
    response = hs.post("/crm/associations/2026-09/contacts/companies/batch/read",
                       {"inputs": [{"id": "1"}]})
    assert response.status_code == 200
    assert response.json()["results"][0]["to"][0]["toObjectId"] == "2"


@pytest.mark.parametrize(
    "path", ["/crm/v3/schemas", "/crm-object-schemas/v3/schemas",
             "/crm-object-schemas/2026-09/schemas"]
)
def test_given_schemas_request_answers_200_with_results_not_404(hs: Sandbox, path: str) -> None:
    response = hs.get(path)
    assert response.status_code == 200
    assert response.json() == {"results": []}


def test_given_account_details_dated_answers_every_required_member(hs: Sandbox) -> None:
    body = hs.get("/account-info/2026-09/details").json()
    required = {"accountType", "additionalCurrencies", "companyCurrency", "dataHostingLocation",
                "portalId", "timeZone", "uiDomain", "utcOffset", "utcOffsetMilliseconds"}
    assert required <= set(body)
    assert isinstance(body["portalId"], int)


def test_given_legacy_v2_reads_they_answer_in_their_own_shapes(hs: Sandbox) -> None:
    props = hs.get("/properties/v2/contacts/properties")
    assert props.status_code == 200 and isinstance(props.json(), list)
    assert any(p["name"] == "email" for p in props.json())
    companies = hs.get("/companies/v2/companies/paged", limit=2, properties="name").json()
    assert companies["has-more"] is True and len(companies["companies"]) == 2
    first = companies["companies"][0]
    assert first["properties"]["name"]["value"] == "Company 1"
    following = hs.get("/companies/v2/companies/paged", limit=2,
                       offset=str(companies["offset"])).json()
    assert following["companies"][0]["companyId"] == 3
    forms = hs.get("/forms/v2/forms")
    assert forms.status_code == 200 and isinstance(forms.json(), list)
