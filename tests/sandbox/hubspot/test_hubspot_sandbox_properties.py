"""Properties API and batch-update validation as HubSpot answers them, through the real SDK:
groups, property creation (201, 409, 400), batch create (201/207), and batch updates that
HubSpot refuses as a whole (400) or in part (207)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInput
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.properties import (
    BatchInputPropertyCreate,
    BatchResponseProperty,
    BatchResponsePropertyWithErrors,
    PropertyCreate,
    PropertyGroupCreate,
)
from hubspot.crm.properties.exceptions import ApiException

from tests.sandbox.hubspot.hs_sandbox_kit import Sandbox

SCORE = {"name": "connector_lead_score", "label": "Lead score", "type": "number",
         "fieldType": "number", "groupName": "contactinformation"}
STAGE = {"name": "connector_lead_stage", "label": "Lead stage", "type": "enumeration",
         "fieldType": "select", "groupName": "contactinformation",
         "options": [{"label": "Cold", "value": "Cold"}, {"label": "MQL", "value": "MQL"}]}
MQL_DATE = {"name": "connector_mql_date", "label": "MQL date", "type": "date",
            "fieldType": "date", "groupName": "contactinformation"}


def _create(hs: Sandbox, body: dict[str, Any]) -> Any:
    return hs.client.crm.properties.core_api.create("contacts", PropertyCreate(**_snake(body)))


def _snake(body: dict[str, Any]) -> dict[str, Any]:
    names = {"fieldType": "field_type", "groupName": "group_name"}
    return {names.get(k, k): v for k, v in body.items()}


def _update(hs: Sandbox, inputs: list[dict[str, Any]]) -> Any:
    return hs.client.crm.contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(inputs=inputs)
    )


def _props(hs: Sandbox, contact_id: int) -> dict[str, str]:
    record = hs.sb.store.contacts.get(contact_id)
    assert record is not None
    return record.props


def test_groups_list_the_standard_groups_and_a_created_group_answers_201(hs: Sandbox) -> None:
    groups = hs.client.crm.properties.groups_api.get_all("contacts")
    assert "contactinformation" in {g.name for g in groups.results}
    created = hs.client.crm.properties.groups_api.create(
        "contacts", PropertyGroupCreate(name="connector_scoring", label="Lead scoring")
    )
    assert created.name == "connector_scoring"
    with pytest.raises(ApiException) as again:
        hs.client.crm.properties.groups_api.create(
            "contacts", PropertyGroupCreate(name="connector_scoring", label="Lead scoring")
        )
    assert again.value.status == 409


def test_creating_an_existing_property_answers_409_with_hubspots_error_body(hs: Sandbox) -> None:
    assert _create(hs, SCORE).type == "number"
    with pytest.raises(ApiException) as exists:
        _create(hs, SCORE)
    body = json.loads(exists.value.body)
    assert exists.value.status == 409
    assert body["status"] == "error" and "already exists" in body["message"]
    assert body["correlationId"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"groupName": "no_such_group"}, "INVALID_PROPERTY_GROUP"),
        ({"type": "number", "fieldType": "select"}, "INVALID_FIELD_TYPE"),
        ({"type": "enumeration", "fieldType": "text"}, "INVALID_FIELD_TYPE"),
        ({"name": "Bad Name"}, "INVALID_NAME"),
        ({"options": [{"label": "A", "value": "a"}, {"label": "B", "value": "a"}],
          "type": "enumeration", "fieldType": "select"}, "DUPLICATE_OPTION"),
    ],
)
def test_an_invalid_definition_answers_400_validation_error(
    hs: Sandbox, change: dict[str, Any], code: str
) -> None:
    with pytest.raises(ApiException) as refused:
        _create(hs, SCORE | change)
    body = json.loads(refused.value.body)
    assert refused.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["code"] == code
    assert "connector_lead_score" not in hs.sb.store.contacts.properties or change.get("name")


def test_batch_create_answers_201_and_207_when_a_name_exists(hs: Sandbox) -> None:
    api = hs.client.crm.properties.batch_api
    score = PropertyCreate(**_snake(SCORE))
    first = api.create("contacts", BatchInputPropertyCreate(inputs=[score]))
    assert isinstance(first, BatchResponseProperty)
    second = api.create(
        "contacts",
        BatchInputPropertyCreate(
            inputs=[PropertyCreate(**_snake(SCORE)), PropertyCreate(**_snake(STAGE))]
        ),
    )
    assert isinstance(second, BatchResponsePropertyWithErrors)
    assert [p.name for p in second.results] == ["connector_lead_stage"]
    assert second.errors[0].context == {"name": ["connector_lead_score"]}


def test_batch_update_with_valid_values_answers_200_and_stores_text(hs: Sandbox) -> None:
    for body in (SCORE, STAGE, MQL_DATE):
        _create(hs, body)
    result = _update(hs, [
        {"id": "1", "properties": {"connector_lead_score": "42", "connector_lead_stage": "MQL",
                                   "connector_mql_date": "1795132800000"}},
        {"id": "2", "properties": {"connector_lead_score": "7"}},
    ])
    assert result.status == "COMPLETE" and len(result.results) == 2
    assert _props(hs, 1)["connector_lead_stage"] == "MQL"
    assert _props(hs, 2)["connector_lead_score"] == "7"
    _update(hs, [{"id": "1", "properties": {"connector_mql_date": ""}}])  # "" clears
    assert "connector_mql_date" not in _props(hs, 1)


@pytest.mark.parametrize(
    ("properties", "error"),
    [
        ({"connector_lead_stage": "Hot"}, "INVALID_OPTION"),
        ({"connector_lead_score": "high"}, "INVALID_LONG"),
        ({"connector_mql_date": "1795132800001"}, "INVALID_DATE"),
        ({"connector_mql_date": "20-11-2026"}, "INVALID_DATE"),
        ({"no_such_property": "x"}, "PROPERTY_DOESNT_EXIST"),
    ],
)
def test_one_invalid_value_refuses_the_whole_batch_with_400(
    hs: Sandbox, properties: dict[str, str], error: str
) -> None:
    for body in (SCORE, STAGE, MQL_DATE):
        _create(hs, body)
    with pytest.raises(ContactsApiException) as refused:
        _update(hs, [
            {"id": "1", "properties": {"connector_lead_score": "5"}},
            {"id": "2", "properties": properties},
        ])
    body = json.loads(refused.value.body)
    assert refused.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert error in body["message"]
    assert "connector_lead_score" not in _props(hs, 1)  # its batch-mate was not written


def test_unknown_ids_answer_207_and_the_others_are_written(hs: Sandbox) -> None:
    _create(hs, SCORE)
    result = _update(hs, [
        {"id": "1", "properties": {"connector_lead_score": "5"}},
        {"id": "999999", "properties": {"connector_lead_score": "5"}},
    ])
    assert result.num_errors == 1 and result.errors[0].category == "OBJECT_NOT_FOUND"
    assert result.errors[0].context == {"ids": ["999999"]}
    assert _props(hs, 1)["connector_lead_score"] == "5"
