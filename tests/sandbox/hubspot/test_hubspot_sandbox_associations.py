"""Associations v4 and the properties API through the real client."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.associations.v4 import (
    BatchInputPublicAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    BatchResponseLabelsBetweenObjectPair,
    BatchResponsePublicAssociationMultiWithLabel,
    BatchResponsePublicAssociationMultiWithLabelWithErrors,
)
from hubspot.crm.properties import PropertyCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException

from tests.sandbox.hubspot.hs_sandbox_kit import Sandbox


def _read(hs: Sandbox, from_type: str, to_type: str, ids: list[str]):
    return hs.client.crm.associations.v4.batch_api.get_page(
        from_type,
        to_type,
        BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": i} for i in ids]),
    )


def test_batch_read_all_found_answers_200_with_primary_and_unlabeled(hs: Sandbox) -> None:
    result = _read(hs, "contacts", "companies", ["1", "2"])
    assert isinstance(result, BatchResponsePublicAssociationMultiWithLabel)
    first = result.results[0]
    assert first._from.id == "1"
    assert first.to[0].to_object_id == "2"
    types = {(t.type_id, t.label, t.category) for t in first.to[0].association_types}
    assert types == {(1, "Primary", "HUBSPOT_DEFINED"), (279, None, "HUBSPOT_DEFINED")}


def test_batch_read_some_without_associations_answers_207(hs: Sandbox) -> None:
    result = _read(hs, "contacts", "companies", ["1", "999999"])
    assert isinstance(result, BatchResponsePublicAssociationMultiWithLabelWithErrors)
    assert [r._from.id for r in result.results] == ["1"]
    assert result.num_errors == 1
    # StandardError.subCategory is an object (the SDK's model and the 2026-09 spec agree)
    assert result.errors[0].sub_category == {"code": "crm.associations.NO_ASSOCIATIONS_FOUND"}


def test_inverse_direction_uses_the_inverse_type_ids(hs: Sandbox) -> None:
    result = _read(hs, "companies", "contacts", ["2"])
    contacts = {int(t.to_object_id) for t in result.results[0].to}
    assert contacts == {i for i in range(1, 251) if i % 5 + 1 == 2}
    assert {t.type_id for t in result.results[0].to[0].association_types} == {2, 280}
    meetings = _read(hs, "contacts", "meetings", ["1"])
    assert meetings.results[0].to[0].association_types[0].type_id == 199


def test_batch_read_over_1000_inputs_answers_400(hs: Sandbox) -> None:
    response = hs.post(
        "/crm/v4/associations/contacts/companies/batch/read",
        {"inputs": [{"id": str(i)} for i in range(1001)]},
    )
    assert response.status_code == 400


def test_batch_create_answers_201_and_stores_both_directions(hs: Sandbox) -> None:
    result = hs.client.crm.associations.v4.batch_api.create(
        "contacts",
        "meetings",
        BatchInputPublicAssociationMultiPost(
            inputs=[
                {
                    "from": {"id": "10"},
                    "to": {"id": "901"},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 199}],
                }
            ]
        ),
    )
    assert isinstance(result, BatchResponseLabelsBetweenObjectPair)
    assert result.results[0].from_object_type_id == "0-1"
    assert hs.sb.store.associations.targets("meetings", "contacts", 901) == {1: (200,), 10: (200,)}


def test_put_default_association_creates_the_unlabeled_pair(hs: Sandbox) -> None:
    result = hs.client.crm.associations.v4.basic_api.create_default(
        "contacts", "20", "companies", "5"
    )
    assert {r.association_spec.association_type_id for r in result.results} == {279, 280}
    assert 279 in hs.sb.store.associations.targets("contacts", "companies", 20)[5]


def test_properties_list_has_realistic_standard_definitions(hs: Sandbox) -> None:
    contacts = {p.name: p for p in hs.client.crm.properties.core_api.get_all("contacts").results}
    for name in (
        "email",
        "firstname",
        "lastname",
        "jobtitle",
        "company",
        "lifecyclestage",
        "hs_lead_status",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
    ):
        assert name in contacts
    assert contacts["lastmodifieddate"].type == "datetime"
    assert "marketingqualifiedlead" in [o.value for o in contacts["lifecyclestage"].options]
    companies = {p.name: p for p in hs.client.crm.properties.core_api.get_all("companies").results}
    assert companies["industry"].type == "enumeration" and companies["industry"].options
    assert companies["numberofemployees"].type == "number"
    assert {"annualrevenue", "country", "domain", "name"} <= set(companies)


def test_property_create_answers_201_then_409_and_get_by_name(hs: Sandbox) -> None:
    definition = PropertyCreate(
        name="lead_score_sf",
        label="Lead score (SF)",
        type="number",
        field_type="number",
        group_name="contactinformation",
    )
    created = hs.client.crm.properties.core_api.create("contacts", definition)
    assert created.name == "lead_score_sf" and created.hubspot_defined is False
    with pytest.raises(PropertiesApiException) as err:
        hs.client.crm.properties.core_api.create("contacts", definition)
    assert err.value.status == 409
    assert json.loads(err.value.body)["category"] == "OBJECT_ALREADY_EXISTS"
    assert hs.client.crm.properties.core_api.get_by_name("contacts", "lead_score_sf").type == (
        "number"
    )
    with pytest.raises(PropertiesApiException) as missing:
        hs.client.crm.properties.core_api.get_by_name("contacts", "nope")
    assert missing.value.status == 404
    # the new property is writable at once
    hs.client.crm.contacts.basic_api.update("1", {"properties": {"lead_score_sf": "42"}})
    assert hs.sb.store.contacts.get(1).props["lead_score_sf"] == "42"
