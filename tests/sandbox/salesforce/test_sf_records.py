"""sObject rows, describe, upsert by external id, and write validation via simple-salesforce."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)
from simple_salesforce.format import format_external_id

from sandbox.salesforce import SalesforceSandbox, ids


def _error(exc: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    return exc.value.content[0]


def test_create_get_update_delete_a_lead(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    created = sf_client.Lead.create({"LastName": "Doe", "Company": "Acme",
                                     "Email": "jo@acme.test", "Lead_Score__c": 42})

    assert created["success"] is True and created["errors"] == []
    lead_id = created["id"]
    assert len(lead_id) == 18 and lead_id.startswith("00Q")
    record = sf_client.Lead.get(lead_id)
    assert record["Status"] == "Open - Not Contacted"  # picklist default
    assert record["Name"] == "Doe"
    assert record["Lead_Score__c"] == 42.0
    assert record["OwnerId"] == sf_sandbox.default_user_id
    assert record["CreatedDate"].endswith("+0000")
    assert record["IsConverted"] is False

    assert sf_client.Lead.update(lead_id, {"FirstName": "Jo", "Lead_Stage__c": "MQL"}) == 204
    again = sf_client.Lead.get(lead_id)
    assert again["Name"] == "Jo Doe" and again["Lead_Stage__c"] == "MQL"
    fifteen = sf_client.Lead.get(lead_id[:15])
    assert fifteen["Id"] == lead_id

    assert sf_client.Lead.delete(lead_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as gone:
        sf_client.Lead.get(lead_id)
    assert _error(gone)["errorCode"] == "ENTITY_IS_DELETED"


def test_get_with_fields_returns_only_those(sf_client: Salesforce) -> None:
    lead_id = sf_client.Lead.create({"LastName": "Doe", "Company": "Acme"})["id"]

    record = sf_client.Lead.get(lead_id, params={"fields": "Company,LastName"})

    assert set(record) == {"attributes", "Company", "LastName", "Id"}


@pytest.mark.parametrize(
    ("record_id", "exc", "code"),
    [
        ("not-an-id", SalesforceResourceNotFound, "NOT_FOUND"),
        ("0038d0000000001AAA", SalesforceMalformedRequest, "MALFORMED_ID"),  # a Contact id
        ("00Q8d0000000001ZZZ", SalesforceMalformedRequest, "MALFORMED_ID"),  # bad checksum
        (ids.make_id("00Q", 999), SalesforceResourceNotFound, "NOT_FOUND"),
    ],
)
def test_bad_or_unknown_ids(sf_client: Salesforce, record_id: str, exc: type, code: str) -> None:
    with pytest.raises(exc) as caught:
        sf_client.Lead.get(record_id)

    assert _error(caught)["errorCode"] == code


def test_describe_and_sobject_list_come_from_the_schema(sf_client: Salesforce) -> None:
    describe = sf_client.Lead.describe()
    fields = {f["name"]: f for f in describe["fields"]}
    listed = {o["name"] for o in sf_client.describe()["sobjects"]}

    assert {"Lead", "Contact", "Account", "Task", "Opportunity", "User"} <= listed
    assert describe["keyPrefix"] == "00Q"
    stage = fields["Lead_Stage__c"]
    assert stage["restrictedPicklist"] is True
    assert [p["value"] for p in stage["picklistValues"]][:3] == ["Cold", "Interest",
                                                                  "Comparison"]
    ext = fields["HubSpot_Contact_Id__c"]
    assert (ext["externalId"], ext["unique"], ext["length"]) == (True, True, 64)
    assert fields["Email"]["type"] == "email"
    assert fields["ConvertedContactId"]["referenceTo"] == ["Contact"]
    task = {f["name"]: f for f in sf_client.Task.describe()["fields"]}
    assert task["WhoId"]["referenceTo"] == ["Contact", "Lead"]
    assert task["Description"]["length"] == 32000
    assert task["Connector_Key__c"]["caseSensitive"] is True


def test_upsert_by_external_id_creates_201_then_updates_200(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    key = format_external_id("HubSpot_Contact_Id__c", "hs/101a")
    body = {"LastName": "Doe", "Company": "Acme"}

    created = sf_client.Lead.upsert(key, body, raw_response=True)
    updated = sf_client.Lead.upsert(key, {"Company": "Acme 2"}, raw_response=True)

    assert created.status_code == 201
    assert created.json()["created"] is True
    assert updated.status_code == 200
    assert updated.json() == {"id": created.json()["id"], "success": True, "errors": [],
                              "created": False}
    leads = sf_sandbox.store.records("Lead")
    assert [(r["HubSpot_Contact_Id__c"], r["Company"]) for r in leads] == [("hs/101a",
                                                                            "Acme 2")]
    fetched = sf_client.Lead.get_by_custom_id("HubSpot_Contact_Id__c", "HS/101A")
    assert fetched["Id"] == created.json()["id"]


def test_upsert_with_several_matches_answers_300(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    sf_sandbox.seed({"Contact": [
        {"LastName": "A", "HubSpot_Contact_Id__c": "7"},
        {"LastName": "B", "HubSpot_Contact_Id__c": "7"},
    ]})

    with pytest.raises(SalesforceMoreThanOneRecord) as caught:
        sf_client.Contact.upsert("HubSpot_Contact_Id__c/7", {"LastName": "C"})

    assert caught.value.status == 300
    assert len(caught.value.content) == 2
    assert caught.value.content[0].startswith("/services/data/v59.0/sobjects/Contact/003")


def test_upsert_on_a_field_that_is_not_an_external_id_is_not_found(
    sf_client: Salesforce,
) -> None:
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf_client.Lead.upsert("Email/x@example.com", {"LastName": "C", "Company": "D"})

    assert "Provided external ID field does not exist" in _error(caught)["message"]


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({"Company": "Acme"}, "REQUIRED_FIELD_MISSING", ["LastName"]),
        ({}, "REQUIRED_FIELD_MISSING", ["LastName", "Company"]),
        ({"LastName": "D", "Company": "A", "Lead_Grade__c": "ABC"}, "STRING_TOO_LONG",
         ["Lead_Grade__c"]),
        ({"LastName": "D", "Company": "A", "Lead_Stage__c": "Lukewarm"},
         "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Lead_Stage__c"]),
        ({"LastName": "D", "Company": "A", "IsConverted": True, "ConvertedContactId": None},
         "INVALID_FIELD_FOR_INSERT_UPDATE", ["ConvertedContactId"]),
        ({"LastName": "D", "Company": "A", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS",
         ["Email"]),
        ({"LastName": "D", "Company": "A", "OwnerId": "nonsense"}, "MALFORMED_ID",
         ["OwnerId"]),
        ({"LastName": "D", "Company": "A", "OwnerId": ids.make_id("005", 77)},
         "INVALID_CROSS_REFERENCE_KEY", ["OwnerId"]),
        ({"LastName": "D", "Company": "A", "Lead_Score__c": 1e19},
         "NUMBER_OUTSIDE_VALID_RANGE", ["Lead_Score__c"]),
    ],
)
def test_lead_create_validation_follows_describe(
    sf_client: Salesforce, body: dict[str, Any], code: str, fields: list[str]
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf_client.Lead.create(body)

    assert caught.value.status == 400
    error = _error(caught)
    assert error["errorCode"] == code
    assert error["fields"] == fields


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        ({"LastName": "D", "Company": "A", "Shoe_Size__c": 9}, "INVALID_FIELD",
         "No such column 'Shoe_Size__c' on sobject of type Lead"),
        ({"LastName": "D", "Company": "A", "Lead_Score__c": "high"}, "JSON_PARSER_ERROR",
         "Cannot deserialize instance of double"),
        ({"LastName": "D", "Company": "A", "MQL_Date__c": "yesterday"}, "JSON_PARSER_ERROR",
         "dateTime"),
        ({"LastName": "D", "Company": "A", "HasOptedOutOfEmail": "maybe"}, "JSON_PARSER_ERROR",
         "boolean"),
    ],
)
def test_unknown_fields_and_wrong_types_fail_deserialisation(
    sf_client: Salesforce, body: dict[str, Any], code: str, fragment: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf_client.Lead.create(body)

    assert _error(caught)["errorCode"] == code
    assert fragment in _error(caught)["message"]


def test_unique_external_id_duplicates_are_refused(sf_client: Salesforce) -> None:
    sf_client.Lead.create({"LastName": "A", "Company": "X", "HubSpot_Contact_Id__c": "h1"})

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf_client.Lead.create({"LastName": "B", "Company": "X", "HubSpot_Contact_Id__c": "H1"})

    assert _error(caught)["errorCode"] == "DUPLICATE_VALUE"


def test_task_connector_key_is_case_sensitive(sf_client: Salesforce) -> None:
    sf_client.Task.create({"Subject": "Call", "Connector_Key__c": "abc"})
    sf_client.Task.create({"Subject": "Call", "Connector_Key__c": "ABC"})

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf_client.Task.create({"Subject": "Call", "Connector_Key__c": "abc"})

    assert _error(caught)["errorCode"] == "DUPLICATE_VALUE"


def test_task_references_are_checked(sf_sandbox: SalesforceSandbox, sf_client: Salesforce) -> None:
    sf_sandbox.seed({
        "Lead": [{"LastName": "Converted", "Company": "A", "IsConverted": True}],
        "Account": [{"Name": "Acme"}],
    })
    converted = sf_sandbox.store.records("Lead")[0]["Id"]
    account = sf_sandbox.store.records("Account")[0]["Id"]

    with pytest.raises(SalesforceMalformedRequest) as wrong_type:
        sf_client.Task.create({"Subject": "x", "WhoId": account})
    with pytest.raises(SalesforceMalformedRequest) as converted_lead:
        sf_client.Task.create({"Subject": "x", "WhoId": converted})
    with pytest.raises(SalesforceMalformedRequest) as update_converted:
        sf_client.Lead.update(converted, {"Company": "B"})
    task = sf_client.Task.create({"Subject": "x", "WhatId": account,
                                  "ActivityDate": "2024-05-01"})

    assert _error(wrong_type)["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert _error(converted_lead)["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert _error(update_converted)["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    stored = sf_client.Task.get(task["id"])
    assert (stored["Status"], stored["Priority"], stored["IsClosed"]) == (
        "Not Started", "Normal", False)


def test_update_cannot_null_a_required_field(sf_client: Salesforce) -> None:
    lead_id = sf_client.Lead.create({"LastName": "A", "Company": "X"})["id"]

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf_client.Lead.update(lead_id, {"Company": None})

    assert _error(caught)["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_limits_report_daily_api_requests(sf_client: Salesforce) -> None:
    limits = sf_client.limits()

    assert limits["DailyApiRequests"] == {"Max": 100_000, "Remaining": 99_999}


def test_updated_and_deleted_windows(
    sf_factory: object, sf_client_for: object
) -> None:
    now = [1_718_000_000.0]
    sandbox = sf_factory(clock=lambda: now[0])  # type: ignore[operator]
    client = sf_client_for(sandbox)  # type: ignore[operator]
    kept = client.Lead.create({"LastName": "Kept", "Company": "A"})["id"]
    doomed = client.Lead.create({"LastName": "Doomed", "Company": "A"})["id"]
    now[0] += 60
    client.Lead.delete(doomed)
    start = dt.datetime.fromtimestamp(now[0] - 3600, dt.UTC)
    end = dt.datetime.fromtimestamp(now[0] + 3600, dt.UTC)

    updated = client.Lead.updated(start, end)
    deleted = client.Lead.deleted(start, end)

    assert updated["ids"] == [kept]
    assert [d["id"] for d in deleted["deletedRecords"]] == [doomed]
