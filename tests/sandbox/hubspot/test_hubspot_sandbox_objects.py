"""CRM objects through the real client: list, get, create, update, archived, associations."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.contacts import (
    SimplePublicObject,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ApiException, NotFoundException

from sandbox.hubspot.util import iso_ms
from tests.sandbox.hubspot.hs_sandbox_kit import START, Sandbox, contact


def test_given_250_contacts_list_paging_walks_every_record_exactly_once(hs: Sandbox) -> None:
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = hs.client.crm.contacts.basic_api.get_page(limit=100, after=after)
        seen.extend(r.id for r in page.results)
        pages += 1
        if page.paging is None:
            break
        after = page.paging.next.after
        assert page.paging.next.link.startswith(hs.url)
    assert pages == 3
    assert len(seen) == len(set(seen)) == 250
    assert seen == [str(i) for i in range(1, 251)]


def test_list_default_limit_is_ten_and_over_100_is_rejected(hs: Sandbox) -> None:
    assert len(hs.client.crm.contacts.basic_api.get_page().results) == 10
    with pytest.raises(ApiException) as err:
        hs.client.crm.contacts.basic_api.get_page(limit=101)
    assert err.value.status == 400
    assert json.loads(err.value.body)["category"] == "VALIDATION_ERROR"


def test_list_returns_default_properties_as_strings_with_iso_timestamps(hs: Sandbox) -> None:
    record = hs.client.crm.contacts.basic_api.get_page(limit=1).results[0]
    assert set(record.properties) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    assert record.properties["hs_object_id"] == record.id == "1"
    raw = hs.get("/crm/v3/objects/contacts", limit=1).json()["results"][0]
    assert raw["createdAt"].endswith("Z") and len(raw["createdAt"]) == 24
    assert raw["archived"] is False


def test_requested_properties_known_but_empty_are_null_unknown_are_omitted(hs: Sandbox) -> None:
    record = hs.client.crm.contacts.basic_api.get_by_id(
        "7", properties=["email", "jobtitle", "no_such_property"]
    )
    assert record.properties["email"] == "user7@example.com"
    assert record.properties["jobtitle"] is None
    assert "no_such_property" not in record.properties
    assert {"createdate", "hs_object_id", "lastmodifieddate"} <= set(record.properties)


def test_get_by_email_id_property_is_case_insensitive(hs: Sandbox) -> None:
    record = hs.client.crm.contacts.basic_api.get_by_id("USER9@Example.com", id_property="email")
    assert record.id == "9"


def test_missing_record_answers_404_object_not_found(hs: Sandbox) -> None:
    with pytest.raises(NotFoundException) as err:
        hs.client.crm.contacts.basic_api.get_by_id("999999")
    body = json.loads(err.value.body)
    assert body["status"] == "error" and body["category"] == "OBJECT_NOT_FOUND"
    assert body["correlationId"]


def test_get_with_associations_lists_primary_and_unlabeled(hs: Sandbox) -> None:
    record = hs.client.crm.contacts.basic_api.get_by_id("3", associations=["companies"])
    results = record.associations["companies"].results
    assert {(r.id, r.type) for r in results} == {
        ("4", "contact_to_company"),
        ("4", "contact_to_company_unlabeled"),
    }


def test_create_answers_201_and_client_returns_the_object(hs: Sandbox) -> None:
    created = hs.client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"email": "new@example.com", "firstname": "Nia"}
        )
    )
    assert isinstance(created, SimplePublicObject)
    assert created.id == "251"
    assert created.properties["firstname"] == "Nia"
    assert created.properties["createdate"] == created.properties["lastmodifieddate"]
    assert hs.sb.store.contacts.get(251).props["email"] == "new@example.com"


def test_create_with_existing_email_answers_409_with_existing_id(hs: Sandbox) -> None:
    with pytest.raises(ApiException) as err:
        hs.client.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": "User5@example.com"})
        )
    assert err.value.status == 409
    body = json.loads(err.value.body)
    assert body["category"] == "CONFLICT"
    assert body["message"] == "Contact already exists. Existing ID: 5"


@pytest.mark.parametrize(
    ("props", "error"),
    [
        ({"no_such": "x"}, "PROPERTY_DOESNT_EXIST"),
        ({"lifecyclestage": "hot"}, "INVALID_OPTION"),
        ({"email": "not-an-email"}, "INVALID_EMAIL"),
    ],
)
def test_create_with_invalid_property_answers_400(hs: Sandbox, props: dict, error: str) -> None:
    with pytest.raises(ApiException) as err:
        hs.client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties=props))
    assert err.value.status == 400
    body = json.loads(err.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert error in body["message"]


def test_update_answers_200_and_moves_the_modified_time_to_now(hs: Sandbox) -> None:
    hs.clock.advance(60)
    updated = hs.client.crm.contacts.basic_api.update(
        "10", SimplePublicObjectInput(properties={"jobtitle": "CTO"})
    )
    assert updated.properties["jobtitle"] == "CTO"
    record = hs.sb.store.contacts.get(10)
    assert record.mod_ms == hs.sb.now_ms()
    assert record.props["lastmodifieddate"] == record.props["hs_lastmodifieddate"]


def test_update_by_email_and_missing_update_404(hs: Sandbox) -> None:
    hs.client.crm.contacts.basic_api.update(
        "user11@example.com",
        SimplePublicObjectInput(properties={"jobtitle": "VP"}),
        id_property="email",
    )
    assert hs.sb.store.contacts.get(11).props["jobtitle"] == "VP"
    with pytest.raises(NotFoundException):
        hs.client.crm.contacts.basic_api.update("424242", SimplePublicObjectInput(properties={}))


def test_archived_records_are_listed_only_with_archived_true(make_sandbox) -> None:
    gone = contact(3)
    gone["archived"] = True
    # archived a day before the sandbox's clock (START): within the 90 days it can be restored
    gone["archivedAt"] = iso_ms(int((START - 86_400) * 1000))
    hs = make_sandbox({"contacts": [contact(1), contact(2), gone]})
    live = hs.client.crm.contacts.basic_api.get_page(limit=100)
    assert [r.id for r in live.results] == ["1", "2"]
    archived = hs.client.crm.contacts.basic_api.get_page(limit=100, archived=True)
    assert [r.id for r in archived.results] == ["3"]
    assert archived.results[0].archived is True
    with pytest.raises(NotFoundException):
        hs.client.crm.contacts.basic_api.get_by_id("3")


def test_companies_and_object_type_ids_share_the_routes(hs: Sandbox) -> None:
    page = hs.client.crm.companies.basic_api.get_page(limit=100)
    assert [r.id for r in page.results] == ["1", "2", "3", "4", "5"]
    assert set(page.results[0].properties) == {
        "createdate",
        "domain",
        "hs_lastmodifieddate",
        "hs_object_id",
        "name",
    }
    generic = hs.client.crm.objects.basic_api.get_page("0-2", limit=2)
    assert [r.id for r in generic.results] == ["1", "2"]
    meetings = hs.client.crm.objects.basic_api.get_page("meetings", associations=["contacts"])
    assert meetings.results[0].associations["contacts"].results[0].type == "meeting_to_contact"
