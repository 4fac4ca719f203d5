"""Today's Salesforce on bare responses: the JWT audience, My Domain-only client credentials,
the two REQUEST_LIMIT_EXCEEDED conditions, API_DISABLED_FOR_ORG and duplicate rules."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest
import responses

from connectors.salesforce.auth import authenticate, make_http_session
from connectors.salesforce.client import SalesforceClient
from core.config import load_settings
from core.errors import BudgetExhaustedError, ConfigError, FatalAPIError, RetriableAPIError
from tests.connectors.salesforce.sf_testkit import API, FAST, Sleeps, make_settings

CONCURRENT = [{"message": "ConcurrentPerOrgLongTxn Limit exceeded.",
               "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
DAILY = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
API_DISABLED = [{"message": "API is not enabled for this Organization or Partner",
                 "errorCode": "API_DISABLED_FOR_ORG"}]
LIMITS = {"DailyApiRequests": {"Max": 100, "Remaining": 90}}


def _jwt_settings(key: Path, login_url: str, **extra: object):
    return make_settings(auth="jwt", login_url=login_url, username="int@acme.example",
                         consumer_key="KEY", private_key_file=key, **extra)


def _assertion_claims(call: responses.Call) -> dict[str, object]:
    form = {k: v[0] for k, v in parse_qs(str(call.request.body)).items()}
    return jwt.decode(form["assertion"], options={"verify_signature": False})


# ---------------------------------------------------------------------- JWT audience


@pytest.mark.parametrize(
    ("login_url", "audience"),
    [
        ("https://login.salesforce.com", "https://login.salesforce.com"),
        ("https://test.salesforce.com/", "https://test.salesforce.com"),
        ("https://acme.my.salesforce.com", "https://login.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
    ],
)
@responses.activate
def test_given_a_login_url_the_assertion_is_posted_there_with_salesforces_audience(
    rsa_pair: tuple[Path, Path], login_url: str, audience: str
) -> None:
    token_url = login_url.rstrip("/") + "/services/oauth2/token"
    responses.post(token_url, json={"access_token": "00D!t", "instance_url": "https://x"})

    authenticate(_jwt_settings(rsa_pair[0], login_url), make_http_session(make_settings()))

    assert responses.calls[0].request.url == token_url
    assert _assertion_claims(responses.calls[0])["aud"] == audience


@responses.activate
def test_given_an_explicit_audience_it_wins_over_the_derived_one(
    rsa_pair: tuple[Path, Path],
) -> None:
    site = "https://acme.my.site.com/customers"
    responses.post("https://acme.my.salesforce.com/services/oauth2/token",
                   json={"access_token": "00D!t", "instance_url": "https://x"})
    settings = _jwt_settings(rsa_pair[0], "https://acme.my.salesforce.com", audience=site)

    authenticate(settings, make_http_session(settings))

    assert _assertion_claims(responses.calls[0])["aud"] == site


@responses.activate
def test_the_assertion_expires_within_three_minutes(rsa_pair: tuple[Path, Path]) -> None:
    responses.post("https://login.salesforce.com/services/oauth2/token",
                   json={"access_token": "00D!t", "instance_url": "https://x"})
    before = time.time()
    settings = _jwt_settings(rsa_pair[0], "https://login.salesforce.com")

    authenticate(settings, make_http_session(settings))

    assert 0 < float(_assertion_claims(responses.calls[0])["exp"]) - before <= 180 + 1


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "connector.toml"
    path.write_text("[salesforce]\n" + body, encoding="utf-8")
    return path


@pytest.mark.parametrize("host", ["login.salesforce.com", "test.salesforce.com"])
def test_given_client_credentials_on_a_generic_login_host_config_names_my_domain(
    tmp_path: Path, host: str
) -> None:
    path = _config(tmp_path, f'auth = "client_credentials"\nlogin_url = "https://{host}"\n'
                             'consumer_key = "K"\nconsumer_secret = "S3CRET-VALUE"\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    text = str(caught.value)
    assert "salesforce" in text and "My Domain" in text and host in text
    assert "S3CRET-VALUE" not in text


def test_given_client_credentials_on_my_domain_the_config_loads(tmp_path: Path) -> None:
    path = _config(tmp_path, 'auth = "client_credentials"\n'
                             'login_url = "https://acme.my.salesforce.com"\n'
                             'consumer_key = "K"\nconsumer_secret = "S"\n')

    assert load_settings(path).salesforce.login_url == "https://acme.my.salesforce.com"


def test_given_a_my_domain_audience_the_config_refuses_it(
    tmp_path: Path, rsa_pair: tuple[Path, Path]
) -> None:
    path = _config(tmp_path, f'login_url = "https://acme.my.salesforce.com"\n'
                             f'username = "u"\nconsumer_key = "K"\n'
                             f'private_key_file = "{rsa_pair[0]}"\n'
                             'audience = "https://acme.my.salesforce.com"\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    assert "audience" in str(caught.value) and "https://login.salesforce.com" in str(caught.value)


@pytest.mark.parametrize(
    ("description", "hint"),
    [
        ("audience is invalid", "salesforce.audience"),
        ("request not supported on this domain", "salesforce.login_url"),
        ("no client credentials user enabled", "Run As"),
    ],
)
@responses.activate
def test_given_a_refusal_with_one_fix_the_login_error_names_it(
    description: str, hint: str
) -> None:
    url = "https://acme.my.salesforce.com/services/oauth2/token"
    responses.post(url, status=400,
                   json={"error": "invalid_grant", "error_description": description})
    settings = make_settings(auth="client_credentials", login_url="https://acme.my.salesforce.com",
                             consumer_key="K", consumer_secret="S3CRET-VALUE")

    with pytest.raises(FatalAPIError) as caught:
        authenticate(settings, make_http_session(settings))

    assert description in str(caught.value) and hint in str(caught.value)
    assert "S3CRET-VALUE" not in str(caught.value)


# ---------------------------------------------------------------------- limits, API access


@responses.activate
def test_given_the_concurrent_request_limit_the_call_is_retried_with_backoff(
    sleeps: Sleeps,
) -> None:
    responses.get(f"{API}/limits/", json=CONCURRENT, status=403)
    responses.get(f"{API}/limits/", json=CONCURRENT, status=403)
    responses.get(f"{API}/limits/", json=LIMITS)
    client = SalesforceClient(make_settings(), retry_policy=FAST, sleep=sleeps)

    assert client.limits()["DailyApiRequests"]["Max"] == 100
    assert client.total_calls == 3
    assert len(sleeps) == 2


@responses.activate
def test_given_the_concurrent_limit_persists_the_retries_are_bounded() -> None:
    responses.get(f"{API}/limits/", json=CONCURRENT, status=403)
    client = SalesforceClient(make_settings(), retry_policy=FAST, sleep=lambda s: None)

    with pytest.raises(RetriableAPIError) as caught:
        client.limits()

    assert client.total_calls == FAST.max_attempts
    assert not isinstance(caught.value, BudgetExhaustedError)


@responses.activate
def test_given_the_daily_total_is_spent_the_run_stops_without_retrying() -> None:
    responses.get(f"{API}/limits/", json=DAILY, status=403)
    client = SalesforceClient(make_settings(), retry_policy=FAST, sleep=lambda s: None)

    with pytest.raises(BudgetExhaustedError):
        client.limits()
    assert client.total_calls == 1


@responses.activate
def test_given_an_org_without_api_access_the_error_says_what_to_buy_or_enable() -> None:
    responses.get(f"{API}/limits/", json=API_DISABLED, status=403)
    client = SalesforceClient(make_settings(), retry_policy=FAST, sleep=lambda s: None)

    with pytest.raises(FatalAPIError) as caught:
        client.limits()

    text = str(caught.value)
    assert client.total_calls == 1
    assert caught.value.error_code == "API_DISABLED_FOR_ORG"
    assert "Professional Edition" in text and "API add-on" in text and "API Enabled" in text


# ---------------------------------------------------------------------- duplicate rules

DUPLICATE = {
    "success": False,
    "errors": [{
        "statusCode": "DUPLICATES_DETECTED",
        "message": "Use one of these records?",
        "fields": [],
        "duplicateResult": {
            "allowSave": True,
            "duplicateRule": "Standard_Lead_Duplicate_Rule",
            "duplicateRuleEntityType": "Lead",
            "errorMessage": "Use one of these records?",
            "matchResults": [{"entityType": "Lead", "matchRecords": [
                {"record": {"Id": "00Q000000000001AAA"}}]}],
        },
    }],
}
UPSERT = f"{API}/composite/sobjects/Lead/HubSpot_Contact_Id__c"


@pytest.mark.parametrize("allow_save", [False, True])
@responses.activate
def test_the_duplicate_rule_header_is_sent_only_when_configured(allow_save: bool) -> None:
    responses.patch(UPSERT, json=[{"id": "00Q000000000002AAA", "success": True, "errors": [],
                                   "created": True}])
    client = SalesforceClient(make_settings(duplicate_rule_allow_save=allow_save),
                              retry_policy=FAST)

    client.upsert("Lead", "HubSpot_Contact_Id__c",
                  [{"HubSpot_Contact_Id__c": "1", "LastName": "Doe", "Company": "Acme"}])

    sent = responses.calls[0].request.headers.get("Sforce-Duplicate-Rule-Header")
    assert sent == ("allowSave=true" if allow_save else None)


@responses.activate
def test_given_a_duplicate_rule_refusal_the_error_names_the_setting_and_the_match() -> None:
    responses.patch(UPSERT, json=[DUPLICATE])
    client = SalesforceClient(make_settings(), retry_policy=FAST)

    [result] = client.upsert("Lead", "HubSpot_Contact_Id__c",
                             [{"HubSpot_Contact_Id__c": "1", "LastName": "D", "Company": "A"}])

    assert not result.success and not result.retriable
    [error] = result.errors
    assert error.code == "DUPLICATES_DETECTED"
    assert "salesforce.duplicate_rule_allow_save = true" in error.message
    assert "Standard_Lead_Duplicate_Rule" in error.message
    assert "00Q000000000001AAA" in error.message


@responses.activate
def test_given_allow_save_on_a_blocking_rule_the_error_says_the_header_cannot_help() -> None:
    blocked = json.loads(json.dumps(DUPLICATE))
    blocked["errors"][0]["duplicateResult"]["allowSave"] = False
    responses.patch(UPSERT, json=[blocked])
    client = SalesforceClient(make_settings(duplicate_rule_allow_save=True), retry_policy=FAST)

    [result] = client.upsert("Lead", "HubSpot_Contact_Id__c",
                             [{"HubSpot_Contact_Id__c": "1", "LastName": "D", "Company": "A"}])

    assert "Block" in result.errors[0].message
    assert "= true to save" not in result.errors[0].message

