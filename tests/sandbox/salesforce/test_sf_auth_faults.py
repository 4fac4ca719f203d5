"""Sessions, the token endpoint (JWT bearer, password, client credentials), limits, faults."""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)
from simple_salesforce.login import token_login

from sandbox.httpbase import FaultPlan
from sandbox.salesforce import JwtTrust, SalesforceSandbox

CONSUMER_KEY = "3MVG9sandbox.consumer.key"
USERNAME = "integration@sandbox.example.com"


def _key_and_cert() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "connector jwt")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return pem_key, cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def trusted_key() -> tuple[bytes, str]:
    return _key_and_cert()


@pytest.fixture
def jwt_sandbox(
    sf_factory: Callable[..., SalesforceSandbox], trusted_key: tuple[bytes, str]
) -> SalesforceSandbox:
    return sf_factory(
        jwt=JwtTrust(CONSUMER_KEY, trusted_key[1], [USERNAME]),
        password_logins={USERNAME: ("hunter2", "TOKEN123")},
        client_credentials={CONSUMER_KEY: "s3cret"},
    )


def _assertion(key: bytes, **overrides: Any) -> str:
    claims: dict[str, Any] = {
        "iss": CONSUMER_KEY, "sub": USERNAME, "aud": "https://login.salesforce.com",
        # as simple-salesforce builds it: exp as a string of seconds, 3 minutes ahead
        "exp": f"{time.time() + 180:.0f}",
    }
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="RS256")


def _token(sandbox: SalesforceSandbox, http: requests.Session, data: dict[str, str],
           headers: dict[str, str] | None = None) -> tuple[str, str]:
    """The real simple-salesforce token exchange, pointed at the sandbox."""
    return token_login(f"{sandbox.instance_url}/services/oauth2/token", data, "login",
                       CONSUMER_KEY, headers, None, http)


# --------------------------------------------------------------------------- sessions


def test_a_bad_session_is_refused_with_invalid_session_id(
    sf_sandbox: SalesforceSandbox, sf_client_for: Callable[..., Salesforce]
) -> None:
    client = sf_client_for(sf_sandbox, session_id="00Dnope!nope")

    with pytest.raises(SalesforceExpiredSession) as caught:
        client.query("SELECT Id FROM Lead")

    assert caught.value.status == 401
    assert caught.value.content == [{"message": "Session expired or invalid",
                                     "errorCode": "INVALID_SESSION_ID"}]


def test_jwt_bearer_exchange_issues_a_working_session(
    jwt_sandbox: SalesforceSandbox, sf_http: requests.Session,
    sf_client_for: Callable[..., Salesforce], trusted_key: tuple[bytes, str],
) -> None:
    data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": _assertion(trusted_key[0])}

    token, instance = _token(jwt_sandbox, sf_http, data)
    raw = sf_http.post(f"{jwt_sandbox.instance_url}/services/oauth2/token", data={
        "grant_type": data["grant_type"], "assertion": _assertion(trusted_key[0])}).json()

    assert instance == jwt_sandbox.instance_url.removeprefix("https://")
    assert raw["token_type"] == "Bearer" and raw["instance_url"] == jwt_sandbox.instance_url
    assert set(raw) >= {"access_token", "scope", "instance_url", "id", "token_type"}
    client = sf_client_for(jwt_sandbox, session_id=token)
    assert client.query("SELECT COUNT() FROM Lead")["totalSize"] == 0


@pytest.mark.parametrize(
    ("overrides", "error", "description"),
    [
        ({"aud": "https://evil.example.com"}, "invalid_grant", "audience is invalid"),
        ({"exp": int(time.time()) - 600}, "invalid_grant", "expired authorization code"),
        ({"sub": "stranger@example.com"}, "invalid_grant",
         "user hasn't approved this consumer"),
        ({"iss": "someone-else"}, "invalid_client_id", "client identifier invalid"),
    ],
)
@pytest.mark.filterwarnings("ignore::UserWarning:simple_salesforce.login")
def test_jwt_claims_are_checked(
    jwt_sandbox: SalesforceSandbox, sf_http: requests.Session, trusted_key: tuple[bytes, str],
    overrides: dict[str, Any], error: str, description: str,
) -> None:
    data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": _assertion(trusted_key[0], **overrides)}

    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        _token(jwt_sandbox, sf_http, data)

    assert (caught.value.code, caught.value.auth_message) == (error, description)


def test_jwt_signed_by_another_key_is_refused(
    jwt_sandbox: SalesforceSandbox, sf_http: requests.Session
) -> None:
    other_key, _ = _key_and_cert()
    data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": _assertion(other_key)}

    response = sf_http.post(f"{jwt_sandbox.instance_url}/services/oauth2/token", data=data)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


def test_password_and_client_credentials_grants(
    jwt_sandbox: SalesforceSandbox, sf_http: requests.Session
) -> None:
    good = {"grant_type": "password", "client_id": CONSUMER_KEY, "client_secret": "s3cret",
            "username": USERNAME, "password": "hunter2TOKEN123"}
    basic = base64.b64encode(f"{CONSUMER_KEY}:s3cret".encode()).decode()

    token, _ = _token(jwt_sandbox, sf_http, good)
    client_token, _ = _token(jwt_sandbox, sf_http, {"grant_type": "client_credentials"},
                             {"Authorization": f"Basic {basic}"})
    with pytest.raises(SalesforceAuthenticationFailed) as wrong_password:
        _token(jwt_sandbox, sf_http, {**good, "password": "hunter2"})
    with pytest.raises(SalesforceAuthenticationFailed) as wrong_secret:
        _token(jwt_sandbox, sf_http, {**good, "client_secret": "nope"})

    assert token != client_token
    assert {token, client_token} <= set(jwt_sandbox.sessions)
    assert wrong_password.value.auth_message == "authentication failure"
    assert wrong_secret.value.code == "invalid_client"


def test_expire_after_invalidates_the_session_until_a_new_token(
    jwt_sandbox: SalesforceSandbox, sf_http: requests.Session,
    sf_client_for: Callable[..., Salesforce], trusted_key: tuple[bytes, str],
) -> None:
    jwt_sandbox.app.faults = FaultPlan(expire_after=3)
    client = sf_client_for(jwt_sandbox)
    for _ in range(3):
        client.query("SELECT Id FROM Lead")

    with pytest.raises(SalesforceExpiredSession):
        client.query("SELECT Id FROM Lead")
    with pytest.raises(SalesforceExpiredSession):
        client.query("SELECT Id FROM Lead")  # stays expired
    token, _ = _token(jwt_sandbox, sf_http, {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": _assertion(trusted_key[0])})
    fresh = sf_client_for(jwt_sandbox, session_id=token)
    assert fresh.query("SELECT COUNT() FROM Lead")["totalSize"] == 0


# --------------------------------------------------------------------------- limits


def test_limit_info_header_feeds_api_usage_and_the_daily_limit_refuses(
    sf_factory: Callable[..., SalesforceSandbox], sf_client_for: Callable[..., Salesforce]
) -> None:
    sandbox = sf_factory(daily_api_limit=3)
    client = sf_client_for(sandbox)
    for expected in (1, 2, 3):
        client.query("SELECT Id FROM Lead")
        assert client.api_usage["api-usage"].used == expected
        assert client.api_usage["api-usage"].total == 3

    with pytest.raises(SalesforceRefusedRequest) as caught:
        client.query("SELECT Id FROM Lead")

    assert caught.value.status == 403
    assert caught.value.content == [{"message": "TotalRequests Limit exceeded.",
                                     "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


def test_usage_resets_on_a_new_day(
    sf_factory: Callable[..., SalesforceSandbox], sf_client_for: Callable[..., Salesforce]
) -> None:
    now = [1_700_000_000.0]
    sandbox = sf_factory(daily_api_limit=1, clock=lambda: now[0])
    client = sf_client_for(sandbox)
    client.query("SELECT Id FROM Lead")
    with pytest.raises(SalesforceRefusedRequest):
        client.query("SELECT Id FROM Lead")

    now[0] += 86_400
    client.query("SELECT Id FROM Lead")
    assert client.api_usage["api-usage"].used == 1


# --------------------------------------------------------------------------- faults


def _statuses(sandbox: SalesforceSandbox, client: Salesforce, calls: int) -> list[int]:
    out = []
    for _ in range(calls):
        try:
            client.query("SELECT Id FROM Lead")
            out.append(200)
        except (SalesforceGeneralError, SalesforceRefusedRequest) as exc:
            out.append(exc.status)
    return out


def test_faults_are_deterministic_under_the_seed(
    sf_factory: Callable[..., SalesforceSandbox], sf_client_for: Callable[..., Salesforce]
) -> None:
    plan = FaultPlan.parse("rate_limit=0.2,server_error=0.2,seed=11")
    runs = []
    for _ in range(2):
        sandbox = sf_factory(faults=plan)
        runs.append(_statuses(sandbox, sf_client_for(sandbox), 40))
    other = sf_factory(faults=FaultPlan.parse("rate_limit=0.2,server_error=0.2,seed=12"))

    assert runs[0] == runs[1]
    assert {403, 200} <= set(runs[0]) and ({500, 503} & set(runs[0]))
    assert _statuses(other, sf_client_for(other), 40) != runs[0]


def test_lock_fault_fails_single_writes_whole_and_collections_per_record(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    sf_sandbox.app.faults = FaultPlan(lock=1.0)
    with pytest.raises(SalesforceMalformedRequest) as single:
        sf_client.Lead.create({"LastName": "A", "Company": "X"})
    assert single.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"

    sf_sandbox.app.faults = FaultPlan(lock=0.5, seed=3)
    records = [{"attributes": {"type": "Task"}, "Subject": f"t{i}"} for i in range(20)]
    results = sf_client.restful("composite/sobjects", method="POST", json={"records": records})

    codes = {r["errors"][0]["statusCode"] for r in results if not r["success"]}
    assert codes == {"UNABLE_TO_LOCK_ROW"}
    assert 0 < sum(r["success"] for r in results) < 20
    assert len(sf_sandbox.store.records("Task")) == sum(r["success"] for r in results)


def test_reject_fault_is_a_validation_rule_per_record(
    sf_sandbox: SalesforceSandbox, sf_http: requests.Session, sf_client: Salesforce
) -> None:
    admin = sf_http.post(f"{sf_sandbox.instance_url}/_sandbox/faults",
                         json={"reject": ["blocked.example", "Spam"]})
    assert admin.status_code == 200
    records = [
        {"attributes": {"type": "Lead"}, "LastName": "Ok", "Company": "A",
         "Email": "ok@fine.example"},
        {"attributes": {"type": "Lead"}, "LastName": "No", "Company": "A",
         "Email": "x@BLOCKED.example"},
        {"attributes": {"type": "Task"}, "Subject": "spam offer"},
    ]

    results = sf_client.restful("composite/sobjects", method="POST", json={"records": records})

    assert [r["success"] for r in results] == [True, False, False]
    assert results[1]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"


def test_admin_endpoints_seed_dump_and_reset(
    sf_sandbox: SalesforceSandbox, sf_http: requests.Session, sf_client: Salesforce
) -> None:
    base = f"{sf_sandbox.instance_url}/_sandbox"
    seeded = sf_http.post(f"{base}/seed", json={"Lead": [{"LastName": "A", "Company": "X"}]})
    bad = sf_http.post(f"{base}/seed", json={"Lead": [{"Nope": 1}]})
    sf_client.query("SELECT Id FROM Lead")
    dumped = sf_http.get(f"{base}/records/Lead").json()
    stats = sf_http.get(f"{base}/stats").json()
    sf_http.post(f"{base}/reset")

    assert seeded.json() == {"counts": {"Lead": 1}}
    assert bad.status_code == 400
    assert dumped["count"] == 1 and dumped["records"][0]["LastName"] == "A"
    assert stats["total"] == 1
    assert sf_sandbox.store.records("Lead") == []
    assert sf_sandbox.api_used == 0
    assert len(sf_sandbox.store.records("User")) == 1


def test_old_api_versions_and_unknown_paths_are_not_found(
    sf_sandbox: SalesforceSandbox, sf_http: requests.Session
) -> None:
    headers = {"Authorization": f"Bearer {sf_sandbox.session_id}"}

    old = sf_http.get(f"{sf_sandbox.instance_url}/services/data/v45.0/limits", headers=headers)
    unknown = sf_http.get(f"{sf_sandbox.instance_url}/services/data/v59.0/nope",
                          headers=headers)
    versions = sf_http.get(f"{sf_sandbox.instance_url}/services/data")

    assert old.status_code == 404 and unknown.status_code == 404
    assert unknown.json()[0]["errorCode"] == "NOT_FOUND"
    assert "Sforce-Limit-Info" in unknown.headers
    assert any(v["version"] == "59.0" for v in versions.json())
