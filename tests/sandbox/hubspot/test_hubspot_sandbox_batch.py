"""Batch endpoints: 200 vs 201 vs 207 as HubSpot answers them, limits, conflicts, upsert."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
    BatchResponseSimplePublicUpsertObject,
)
from hubspot.crm.contacts.exceptions import ApiException

from tests.sandbox.hubspot.hs_sandbox_kit import Sandbox


def _read(hs: Sandbox, ids: list[str], **kw):
    return hs.client.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(inputs=[{"id": i} for i in ids], **kw)
    )


def test_batch_read_all_found_answers_200_complete(hs: Sandbox) -> None:
    result = _read(hs, ["1", "2", "3"], properties=["email"])
    assert isinstance(result, BatchResponseSimplePublicObject)
    assert result.status == "COMPLETE"
    assert [r.id for r in result.results] == ["1", "2", "3"]
    assert result.results[0].properties["email"] == "user1@example.com"


def test_batch_read_with_missing_ids_answers_207_with_errors(hs: Sandbox) -> None:
    result = _read(hs, ["1", "7777", "8888"])
    assert isinstance(result, BatchResponseSimplePublicObjectWithErrors)
    assert [r.id for r in result.results] == ["1"]
    assert result.num_errors == 1
    error = result.errors[0]
    assert error.category == "OBJECT_NOT_FOUND"
    assert error.context == {"ids": ["7777", "8888"]}


def test_batch_read_by_email_id_property(hs: Sandbox) -> None:
    result = _read(
        hs,
        ["user4@example.com", "USER5@EXAMPLE.COM"],
        id_property="email",
        properties=["firstname"],
    )
    assert sorted(r.id for r in result.results) == ["4", "5"]


def test_batch_read_of_101_inputs_answers_400_validation_error(hs: Sandbox) -> None:
    with pytest.raises(ApiException) as err:
        _read(hs, [str(i) for i in range(1, 102)])
    assert err.value.status == 400
    assert json.loads(err.value.body)["category"] == "VALIDATION_ERROR"


def test_batch_create_answers_201_and_returns_every_object(hs: Sandbox) -> None:
    result = hs.client.crm.contacts.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[{"properties": {"email": f"b{i}@example.com"}} for i in range(3)]
        )
    )
    assert isinstance(result, BatchResponseSimplePublicObject)
    assert [r.id for r in result.results] == ["251", "252", "253"]
    assert len(hs.sb.store.contacts) == 253


def test_batch_create_with_an_existing_email_fails_whole_batch_409(hs: Sandbox) -> None:
    with pytest.raises(ApiException) as err:
        hs.client.crm.contacts.batch_api.create(
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[
                    {"properties": {"email": "fresh@example.com"}},
                    {"properties": {"email": "user2@example.com"}},
                ]
            )
        )
    assert err.value.status == 409
    assert json.loads(err.value.body)["message"] == "Contact already exists. Existing ID: 2"
    assert hs.sb.store.contacts.id_by_email("fresh@example.com") is None


def test_batch_create_with_association_links_the_company(hs: Sandbox) -> None:
    result = hs.client.crm.contacts.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                {
                    "properties": {"email": "linked@example.com"},
                    "associations": [
                        {
                            "to": {"id": "2"},
                            "types": [
                                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}
                            ],
                        }
                    ],
                }
            ]
        )
    )
    new_id = int(result.results[0].id)
    assert hs.sb.store.associations.targets("contacts", "companies", new_id) == {2: (1, 279)}
    assert new_id in hs.sb.store.associations.targets("companies", "contacts", 2)


def test_batch_update_answers_200_or_207_when_some_ids_are_missing(hs: Sandbox) -> None:
    ok = hs.client.crm.contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                {"id": "1", "properties": {"jobtitle": "A"}},
                {"id": "2", "properties": {"jobtitle": "B"}},
            ]
        )
    )
    assert isinstance(ok, BatchResponseSimplePublicObject)
    partial = hs.client.crm.contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                {"id": "3", "properties": {"jobtitle": "C"}},
                {"id": "4040", "properties": {"jobtitle": "D"}},
            ]
        )
    )
    assert isinstance(partial, BatchResponseSimplePublicObjectWithErrors)
    assert [r.id for r in partial.results] == ["3"]
    assert partial.errors[0].context == {"ids": ["4040"]}
    assert hs.sb.store.contacts.get(3).props["jobtitle"] == "C"


def test_batch_upsert_by_email_creates_and_updates(hs: Sandbox) -> None:
    result = hs.client.crm.contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                {
                    "id": "user6@example.com",
                    "idProperty": "email",
                    "properties": {"jobtitle": "Updated"},
                },
                {
                    "id": "brand.new@example.com",
                    "idProperty": "email",
                    "properties": {"firstname": "Brand"},
                },
            ]
        )
    )
    assert isinstance(result, BatchResponseSimplePublicUpsertObject)
    by_id = {r.id: r for r in result.results}
    assert by_id["6"].new is False
    created = next(r for r in result.results if r.id != "6")
    assert created.new is True
    assert hs.sb.store.contacts.id_by_email("brand.new@example.com") == int(created.id)
    assert hs.sb.store.contacts.get(6).props["jobtitle"] == "Updated"
