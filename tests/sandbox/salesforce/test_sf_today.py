"""Today's Salesforce in the sandbox, through simple-salesforce: JWT audiences, client
credentials only on My Domain, duplicate rules, the concurrent-request limit, an org without
API access, composite/sobjects retrieve by POST and the full resource list."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)
from simple_salesforce.login import token_login

from sandbox.salesforce import JwtTrust, SalesforceSandbox
from sandbox.salesforce.org import DuplicateRule, OrgSettings
from tests.sandbox.salesforce.test_sf_auth_faults import _key_and_cert

KEY = "3MVG9today.key"
USER = "integration@sandbox.example.com"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ALLOW_SAVE = {"Sforce-Duplicate-Rule-Header": "allowSave=true"}


@pytest.fixture(scope="module")
def key_pair() -> tuple[bytes, str]:
    return _key_and_cert()


def _token(sb: SalesforceSandbox, http: requests.Session, data: dict[str, str],
           headers: dict[str, str] | None = None) -> str:
    token, _ = token_login(f"{sb.instance_url}/services/oauth2/token", data, "login", KEY,
                           headers, None, http)
    return token


def _assertion(key: bytes, aud: str) -> str:
    claims: dict[str, Any] = {"iss": KEY, "sub": USER, "aud": aud, "exp": int(time.time()) + 180}
    return jwt.encode(claims, key, algorithm="RS256")


def _org(sf_http: requests.Session, sb: SalesforceSandbox, **settings: Any) -> dict[str, Any]:
    answer = sf_http.post(f"{sb.instance_url}/_sandbox/org", json=settings, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


# ---------------------------------------------------------------------- login


@pytest.mark.filterwarnings("ignore::UserWarning:simple_salesforce.login")
def test_given_the_token_hosts_own_url_as_audience_jwt_is_refused(
    sf_factory: Callable[..., SalesforceSandbox], sf_http: requests.Session,
    key_pair: tuple[bytes, str],
) -> None:
    sb = sf_factory(jwt=JwtTrust(KEY, key_pair[1], [USER]))
    assert sb.instance_url is not None

    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        _token(sb, sf_http, {"grant_type": JWT_GRANT,
                             "assertion": _assertion(key_pair[0], sb.instance_url)})

    assert (caught.value.code, caught.value.auth_message) == ("invalid_grant",
                                                             "audience is invalid")


@pytest.mark.parametrize("aud", ["https://login.salesforce.com", "https://test.salesforce.com",
                                 "https://acme.my.site.com/customers"])
def test_given_a_login_or_site_audience_jwt_is_accepted_on_the_my_domain(
    sf_factory: Callable[..., SalesforceSandbox], sf_http: requests.Session,
    key_pair: tuple[bytes, str], aud: str,
) -> None:
    sb = sf_factory(jwt=JwtTrust(KEY, key_pair[1], [USER]),
                    org=OrgSettings(site_audiences=("https://acme.my.site.com/customers",)))
    form = {"grant_type": JWT_GRANT, "assertion": _assertion(key_pair[0], aud)}

    token = _token(sb, sf_http, form)

    assert token in sb.sessions


@pytest.mark.filterwarnings("ignore::UserWarning:simple_salesforce.login")
def test_given_a_generic_login_host_client_credentials_are_refused(
    sf_factory: Callable[..., SalesforceSandbox], sf_http: requests.Session,
) -> None:
    sb = sf_factory(client_credentials={KEY: "s3cret"})
    form = {"grant_type": "client_credentials", "client_id": KEY, "client_secret": "s3cret"}
    assert _token(sb, sf_http, form) in sb.sessions  # the My Domain accepts it
    _org(sf_http, sb, generic_login_host=True)

    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        _token(sb, sf_http, form)

    assert (caught.value.code, caught.value.auth_message) == (
        "invalid_grant", "request not supported on this domain")


def test_given_the_login_salesforce_com_host_header_client_credentials_are_refused(
    sf_factory: Callable[..., SalesforceSandbox], sf_http: requests.Session,
) -> None:
    sb = sf_factory(client_credentials={KEY: "s3cret"})

    answer = sf_http.post(f"{sb.instance_url}/services/oauth2/token",
                          headers={"Host": "login.salesforce.com"},
                          data={"grant_type": "client_credentials", "client_id": KEY,
                                "client_secret": "s3cret"})

    assert answer.status_code == 400
    assert answer.json()["error_description"] == "request not supported on this domain"


# ---------------------------------------------------------------------- duplicate rules


def _lead(email: str) -> dict[str, str]:
    return {"LastName": "Doe", "Company": "Acme", "Email": email}


def test_given_an_active_lead_duplicate_rule_a_create_is_refused_with_the_duplicate_result(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, sf_http: requests.Session,
) -> None:
    existing = sf_client.Lead.create(_lead("dup@example.com"))["id"]
    _org(sf_http, sf_sandbox, duplicate_rule={"sobject": "Lead", "field": "Email"})

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf_client.Lead.create(_lead("DUP@example.com"))

    [error] = caught.value.content
    assert error["errorCode"] == "DUPLICATES_DETECTED"
    assert error["message"] == "Use one of these records?"
    result = error["duplicateResult"]
    assert result["allowSave"] is True and result["duplicateRuleEntityType"] == "Lead"
    [match] = result["matchResults"]
    assert [r["record"]["Id"] for r in match["matchRecords"]] == [existing]
    assert len(sf_sandbox.store.records("Lead")) == 1


def test_given_allow_save_an_alert_rule_lets_the_create_through_and_a_block_rule_does_not(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, sf_http: requests.Session,
) -> None:
    sf_client.Lead.create(_lead("dup@example.com"))
    _org(sf_http, sf_sandbox, duplicate_rule={"action": "alert"})

    sf_client.Lead.create(_lead("dup@example.com"), headers=ALLOW_SAVE)
    _org(sf_http, sf_sandbox, duplicate_rule={"action": "block"})
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf_client.Lead.create(_lead("dup@example.com"), headers=ALLOW_SAVE)

    assert len(sf_sandbox.store.records("Lead")) == 2
    assert caught.value.content[0]["duplicateResult"]["allowSave"] is False


def test_given_a_duplicate_rule_collections_refuse_per_record_and_upserts_too(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, sf_http: requests.Session,
) -> None:
    sf_client.Lead.create(_lead("old@example.com"))
    sf_sandbox.dml.duplicate_rule = DuplicateRule()
    records = [{"attributes": {"type": "Lead"}, **_lead(e), "HubSpot_Contact_Id__c": str(n)}
               for n, e in enumerate(["old@example.com", "new@example.com", "new@example.com"])]

    created = sf_client.restful("composite/sobjects/Lead/HubSpot_Contact_Id__c", method="PATCH",
                                json={"allOrNone": False, "records": records})

    assert [r["success"] for r in created] == [False, True, True]  # saved together: no match
    assert created[0]["errors"][0]["statusCode"] == "DUPLICATES_DETECTED"
    assert "duplicateResult" in created[0]["errors"][0]


# ---------------------------------------------------------------------- limits, API access


def test_given_the_concurrent_limit_calls_are_refused_then_served_and_not_counted(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, sf_http: requests.Session,
) -> None:
    _org(sf_http, sf_sandbox, concurrent_busy_calls=2)

    refusals = []
    for _ in range(2):
        with pytest.raises(SalesforceRefusedRequest) as caught:
            sf_client.query("SELECT Id FROM Lead")
        refusals.append(caught.value.content[0])
    answer = sf_client.query("SELECT Id FROM Lead")

    assert refusals == [{"message": "ConcurrentPerOrgLongTxn Limit exceeded.",
                         "errorCode": "REQUEST_LIMIT_EXCEEDED"}] * 2
    assert answer["totalSize"] == 0
    assert sf_sandbox.api_used == 1


def test_given_an_org_without_api_access_every_call_is_refused(
    sf_factory: Callable[..., SalesforceSandbox], sf_client_for: Callable[..., Salesforce],
) -> None:
    sb = sf_factory(org=OrgSettings(api_enabled=False))

    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf_client_for(sb).query("SELECT Id FROM Lead")

    assert caught.value.status == 403
    assert caught.value.content == [{"message": "API is not enabled for this Organization or "
                                                "Partner", "errorCode": "API_DISABLED_FOR_ORG"}]


def test_a_reset_restores_the_constructors_org(
    sf_sandbox: SalesforceSandbox, sf_http: requests.Session,
) -> None:
    _org(sf_http, sf_sandbox, api_enabled=False, duplicate_rule={})

    sf_http.post(f"{sf_sandbox.instance_url}/_sandbox/reset", timeout=10).raise_for_status()

    assert sf_sandbox.org == OrgSettings() and sf_sandbox.dml.duplicate_rule is None
    bad = sf_http.post(f"{sf_sandbox.instance_url}/_sandbox/org", json={"api_enable": False})
    assert bad.status_code == 400 and "api_enable" in bad.json()["error"]


# ---------------------------------------------------------------------- resources


def test_composite_sobjects_retrieve_by_post_answers_records_in_id_order(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce,
) -> None:
    first = sf_client.Lead.create(_lead("a@example.com"))["id"]
    second = sf_client.Lead.create(_lead("b@example.com"))["id"]
    missing = first[:-6] + "ZZZZZZ"

    answer = sf_client.restful("composite/sobjects/Lead", method="POST",
                               json={"ids": [second, first], "fields": ["Email"]})

    assert [r["Email"] for r in answer] == ["b@example.com", "a@example.com"]
    assert answer[0]["attributes"]["type"] == "Lead"
    with pytest.raises(SalesforceMalformedRequest):
        sf_client.restful("composite/sobjects/Lead", method="POST", json={"ids": [missing]})


def test_the_resource_list_has_identity_and_the_documented_resources(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce,
) -> None:
    resources = sf_client.restful("")

    assert resources["identity"] == (
        f"{sf_sandbox.instance_url}/id/{sf_sandbox.org_id}/{sf_sandbox.default_user_id}")
    assert resources["sobjects"] == "/services/data/v59.0/sobjects"
    assert {"tooling", "metadata", "search", "parameterizedSearch", "jobs", "limits",
            "composite", "query", "queryAll", "recent", "actions"} <= set(resources)
    assert len(resources) == 48
