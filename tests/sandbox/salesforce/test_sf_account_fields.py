"""The sandbox org has the account roll-up's Account fields (as after `setup salesforce`) and
refuses a write to a field the org does not have, as Salesforce does (INVALID_FIELD)."""

from __future__ import annotations

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce import SalesforceSandbox


def _account(sf_client: Salesforce) -> str:
    created = sf_client.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Account"}, "Name": "株式会社テスト", "Website": "https://www.t.example"}
    ]})
    return str(created[0]["id"])


def test_given_account_fields_an_update_by_id_stores_them(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    account_id = _account(sf_client)
    results = sf_client.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Account"}, "Id": account_id, "Account_Score__c": 42,
         "Engaged_Contacts__c": 2, "Buying_Group__c": True}
    ]})
    assert results[0]["success"] is True
    stored = sf_sandbox.store.records("Account")[0]
    assert (stored["Account_Score__c"], stored["Engaged_Contacts__c"],
            stored["Buying_Group__c"]) == (42, 2, True)


def test_given_a_field_the_org_lacks_the_account_write_is_refused(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    account_id = _account(sf_client)
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf_client.restful("composite/sobjects", method="PATCH", json={"records": [
            {"attributes": {"type": "Account"}, "Id": account_id, "Account_Scroe__c": 42}
        ]})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert sf_sandbox.store.records("Account")[0].get("Account_Score__c") is None
