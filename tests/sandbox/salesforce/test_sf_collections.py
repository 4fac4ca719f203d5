"""sObject Collections and Composite through `Salesforce.restful`, as the connector calls them."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce import SalesforceSandbox


def _task(key: str, **extra: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Task"}, "Subject": f"Email {key}",
            "Connector_Key__c": key, **extra}


def test_collection_create_returns_results_in_request_order(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    body = {"allOrNone": False, "records": [
        _task("k1"),
        {"attributes": {"type": "Lead"}, "Company": "no last name"},
        {"attributes": {"type": "Lead"}, "LastName": "Doe", "Company": "Acme"},
    ]}

    results = sf_client.restful("composite/sobjects", method="POST", json=body)

    assert [r["success"] for r in results] == [True, False, True]
    assert results[0]["id"].startswith("00T") and results[2]["id"].startswith("00Q")
    assert results[1]["errors"] == [{"statusCode": "REQUIRED_FIELD_MISSING",
                                     "message": "Required fields are missing: [LastName]",
                                     "fields": ["LastName"]}]
    assert "id" not in results[1]
    assert len(sf_sandbox.store.records("Task")) == 1


def test_all_or_none_rolls_back_every_record(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    body = {"allOrNone": True, "records": [
        _task("k1"), _task("k2", Priority="Urgent"), _task("k3"),
    ]}

    results = sf_client.restful("composite/sobjects", method="POST", json=body)

    assert [r["success"] for r in results] == [False, False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert results[2]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf_sandbox.store.records("Task") == []
    again = sf_client.restful("composite/sobjects", method="POST",
                              json={"allOrNone": True, "records": [_task("k1")]})
    assert again[0]["success"] is True  # the rolled-back k1 left no unique-index entry


def test_collection_update_needs_ids_and_reports_each_record(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    sf_sandbox.seed({"Lead": [{"LastName": "A", "Company": "X"},
                              {"LastName": "B", "Company": "X"}]})
    first, second = (r["Id"] for r in sf_sandbox.store.records("Lead"))
    body = {"records": [
        {"attributes": {"type": "Lead"}, "id": first, "Lead_Stage__c": "SQL"},
        {"attributes": {"type": "Lead"}, "Lead_Stage__c": "SQL"},
        {"attributes": {"type": "Lead"}, "id": "00Q-not-an-id", "Lead_Stage__c": "SQL"},
        {"attributes": {"type": "Lead"}, "id": second[:15], "MQL_Status__c": "MQL",
         "MQL_Date__c": "2024-05-01T12:00:00.000Z"},
    ]}

    results = sf_client.restful("composite/sobjects", method="PATCH", json=body)

    assert [r["success"] for r in results] == [True, False, False, True]
    assert results[1]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    assert results[2]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert results[3]["id"] == second
    stored = {r["Id"]: r for r in sf_sandbox.store.records("Lead")}
    assert stored[first]["Lead_Stage__c"] == "SQL"
    assert stored[second]["MQL_Date__c"] == "2024-05-01T12:00:00.000+0000"


def test_collection_upsert_by_external_id_reports_created(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    sf_sandbox.seed({"Task": [{"Subject": "old", "Connector_Key__c": "k1"}]})
    body = {"allOrNone": False, "records": [
        _task("k1", Status="Completed"), _task("k2"), _task("k3"), _task("k3"),
        {"attributes": {"type": "Task"}, "Subject": "no key"},
    ]}

    results = sf_client.restful("composite/sobjects/Task/Connector_Key__c", method="PATCH",
                                json=body)

    assert [(r["success"], r.get("created")) for r in results] == [
        (True, False), (True, True), (False, None), (False, None), (False, None)]
    assert results[2]["errors"][0]["statusCode"] == "DUPLICATE_EXTERNAL_ID"
    assert results[4]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    tasks = {t["Connector_Key__c"]: t for t in sf_sandbox.store.records("Task")}
    assert tasks["k1"]["Status"] == "Completed" and tasks["k1"]["IsClosed"] is True
    assert set(tasks) == {"k1", "k2"}


def test_collection_upsert_rejects_a_field_that_is_no_external_id(sf_client: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf_client.restful("composite/sobjects/Task/Subject", method="PATCH",
                          json={"records": [_task("k1")]})

    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_more_than_200_records_is_refused_whole(sf_client: Salesforce) -> None:
    body = {"records": [_task(f"k{i}") for i in range(201)]}

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf_client.restful("composite/sobjects", method="POST", json=body)

    assert caught.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_an_unknown_field_fails_the_whole_collection(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    body = {"records": [_task("k1"), _task("k2", Mood__c="happy")]}

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf_client.restful("composite/sobjects", method="POST", json=body)

    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert sf_sandbox.store.records("Task") == []


def test_missing_type_attribute_is_refused(sf_client: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf_client.restful("composite/sobjects", method="POST",
                          json={"records": [{"Subject": "x"}]})

    assert caught.value.content[0]["message"] == "Must send a concrete entity type."


def test_collection_retrieve_and_delete(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    sf_sandbox.seed({"Lead": [{"LastName": "A", "Company": "X"},
                              {"LastName": "B", "Company": "Y"}]})
    first, second = (r["Id"] for r in sf_sandbox.store.records("Lead"))

    got = sf_client.restful("composite/sobjects/Lead",
                            params={"ids": f"{first},{second}", "fields": "Company"})
    deleted = sf_client.restful("composite/sobjects", method="DELETE",
                                params={"ids": f"{first},{first}"})
    after = sf_client.restful("composite/sobjects/Lead",
                              params={"ids": f"{first},{second}", "fields": "Company,Id"})

    assert [g["Company"] for g in got] == ["X", "Y"]
    assert [d["success"] for d in deleted] == [True, False]
    assert deleted[1]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert after[0] is None and after[1]["Id"] == second


def test_composite_chains_references_in_one_call(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    body = {"allOrNone": False, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account",
         "referenceId": "acct", "body": {"Name": "Acme"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact",
         "referenceId": "ct", "body": {"LastName": "Doe", "AccountId": "@{acct.id}"}},
        {"method": "GET", "referenceId": "q",
         "url": "/services/data/v59.0/query/?q=SELECT+Id,Account.Name+FROM+Contact"},
        {"method": "PATCH", "url": "/services/data/v59.0/sobjects/Contact/@{q.records[0].Id}",
         "referenceId": "upd", "body": {"Title": "CTO"}},
    ]}

    answer = sf_client.restful("composite", method="POST", json=body)["compositeResponse"]

    assert [a["httpStatusCode"] for a in answer] == [201, 201, 200, 204]
    assert answer[2]["body"]["records"][0]["Account"]["Name"] == "Acme"
    assert answer[0]["httpHeaders"]["Location"].startswith(
        "/services/data/v59.0/sobjects/Account/001")
    contact = sf_sandbox.store.records("Contact")[0]
    assert contact["Title"] == "CTO" and contact["AccountId"] == answer[0]["body"]["id"]
    assert sf_client.api_usage["api-usage"].used == 1


def test_composite_all_or_none_rolls_back_and_halts(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    body = {"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account",
         "referenceId": "acct", "body": {"Name": "Acme"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact",
         "referenceId": "bad", "body": {"FirstName": "No last name"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account",
         "referenceId": "later", "body": {"Name": "Beta"}},
    ]}

    answer = sf_client.restful("composite", method="POST", json=body)["compositeResponse"]

    assert [a["httpStatusCode"] for a in answer] == [400, 400, 400]
    assert answer[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert answer[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert sf_sandbox.store.records("Account") == []
