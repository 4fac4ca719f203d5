"""Login flows against bare token-endpoint responses."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest
import responses
from cryptography import x509

from connectors.salesforce.auth import (
    SalesforceSession,
    authenticate,
    jwt_assertion,
    make_http_session,
)
from core.errors import ConfigError, FatalAPIError, RetriableAPIError
from tests.connectors.salesforce.sf_testkit import INSTANCE, make_settings

LOGIN = "https://login.example-sandbox.test"
TOKEN = f"{LOGIN}/services/oauth2/token"
CONSUMER_KEY = "3MVG9connectorKEY"
USERNAME = "integration@acme.example"
PASSWORD = "Pa55word-that-must-not-leak"
SECURITY_TOKEN = "SECTOKEN123456"
CONSUMER_SECRET = "CONSUMERSECRET987654"


def _form(call: responses.Call) -> dict[str, str]:
    body = call.request.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    return {k: v[0] for k, v in parse_qs(text).items()}


def _public_key(cert_path: Path):
    return x509.load_pem_x509_certificate(cert_path.read_bytes()).public_key()


def test_jwt_assertion_carries_the_claims_and_verifies_with_the_certificate(
    rsa_pair: tuple[Path, Path],
) -> None:
    key_path, cert_path = rsa_pair
    now = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)

    token = jwt_assertion(
        consumer_key=CONSUMER_KEY,
        username=USERNAME,
        audience="https://test.salesforce.com/",
        private_key=key_path.read_bytes(),
        now=now,
    )

    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(
        token,
        _public_key(cert_path),
        algorithms=["RS256"],
        audience="https://test.salesforce.com",
        options={"verify_exp": False},
    )
    assert claims == {
        "iss": CONSUMER_KEY,
        "sub": USERNAME,
        "aud": "https://test.salesforce.com",
        "exp": int(now.timestamp()) + 180,
    }


def test_jwt_assertion_signed_with_another_key_does_not_verify(
    rsa_pair: tuple[Path, Path], other_rsa_pair: tuple[Path, Path]
) -> None:
    token = jwt_assertion(
        consumer_key=CONSUMER_KEY,
        username=USERNAME,
        audience=LOGIN,
        private_key=other_rsa_pair[0].read_bytes(),
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, _public_key(rsa_pair[1]), algorithms=["RS256"], audience=LOGIN)


@responses.activate
def test_given_a_custom_login_host_jwt_posts_there_with_the_production_audience(
    rsa_pair: tuple[Path, Path],
) -> None:
    responses.post(
        TOKEN,
        json={"access_token": "00Dnew!token", "instance_url": INSTANCE + "/", "id": "x"},
    )
    settings = make_settings(
        auth="jwt",
        login_url=LOGIN + "/",
        username=USERNAME,
        consumer_key=CONSUMER_KEY,
        private_key_file=rsa_pair[0],
    )

    session = authenticate(settings, make_http_session(settings))

    assert session == SalesforceSession(INSTANCE, "00Dnew!token")
    assert "00Dnew!token" not in repr(session)
    form = _form(responses.calls[0])
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(
        form["assertion"],
        _public_key(rsa_pair[1]),
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
    )
    assert claims["iss"] == CONSUMER_KEY
    assert claims["sub"] == USERNAME


@responses.activate
def test_given_invalid_grant_login_fails_fatally_with_salesforce_description_only(
    rsa_pair: tuple[Path, Path],
) -> None:
    responses.post(
        TOKEN,
        status=400,
        json={"error": "invalid_grant", "error_description": "user hasn't approved this consumer"},
    )
    settings = make_settings(
        auth="jwt",
        login_url=LOGIN,
        username=USERNAME,
        consumer_key=CONSUMER_KEY,
        private_key_file=rsa_pair[0],
    )

    with pytest.raises(FatalAPIError) as info:
        authenticate(settings, make_http_session(settings))

    message = str(info.value)
    assert "invalid_grant" in message
    assert "user hasn't approved this consumer" in message
    assert info.value.error_code == "invalid_grant"
    assert _form(responses.calls[0])["assertion"] not in message
    assert "PRIVATE KEY" not in message


@responses.activate
def test_password_flow_appends_the_security_token_and_never_leaks_it() -> None:
    # A token endpoint that (wrongly) echoes the password back must not get it into the message.
    responses.post(
        TOKEN,
        status=400,
        json={
            "error": "invalid_grant",
            "error_description": f"authentication failure for {PASSWORD}{SECURITY_TOKEN}",
        },
    )
    settings = make_settings(
        auth="password",
        login_url=LOGIN,
        username=USERNAME,
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        password=PASSWORD,
        security_token=SECURITY_TOKEN,
    )

    with pytest.raises(FatalAPIError) as info:
        authenticate(settings, make_http_session(settings))

    form = _form(responses.calls[0])
    assert form == {
        "grant_type": "password",
        "client_id": CONSUMER_KEY,
        "client_secret": CONSUMER_SECRET,
        "username": USERNAME,
        "password": PASSWORD + SECURITY_TOKEN,
    }
    message = str(info.value)
    for secret in (PASSWORD, SECURITY_TOKEN, CONSUMER_SECRET):
        assert secret not in message
    assert "authentication failure" in message


@responses.activate
def test_client_credentials_flow_posts_the_client_pair() -> None:
    responses.post(TOKEN, json={"access_token": "tok", "instance_url": INSTANCE})
    settings = make_settings(
        auth="client_credentials",
        login_url=LOGIN,
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
    )

    assert authenticate(settings, make_http_session(settings)).access_token == "tok"
    assert _form(responses.calls[0]) == {
        "grant_type": "client_credentials",
        "client_id": CONSUMER_KEY,
        "client_secret": CONSUMER_SECRET,
    }


@responses.activate
def test_session_mode_makes_no_call() -> None:
    settings = make_settings()
    session = authenticate(settings, make_http_session(settings))
    assert session.instance_url == INSTANCE
    assert len(responses.calls) == 0


@pytest.mark.parametrize("status", [500, 503])
@responses.activate
def test_given_token_endpoint_5xx_login_is_retriable(status: int) -> None:
    responses.post(TOKEN, status=status, body="<html>down</html>")
    settings = make_settings(
        auth="client_credentials",
        login_url=LOGIN,
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
    )
    with pytest.raises(RetriableAPIError):
        authenticate(settings, make_http_session(settings))


def test_ca_bundle_is_what_the_session_verifies_against(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert make_http_session(make_settings(ca_bundle=bundle)).verify == str(bundle)
    assert make_http_session(make_settings()).verify is True
    with pytest.raises(ConfigError):
        make_http_session(make_settings(ca_bundle=tmp_path / "missing.pem"))


def test_given_an_unreadable_private_key_login_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "key.pem"
    bad.write_text("not a key")
    settings = make_settings(
        auth="jwt", username=USERNAME, consumer_key=CONSUMER_KEY, private_key_file=bad
    )
    with pytest.raises(ConfigError) as info:
        authenticate(settings, make_http_session(settings))
    assert "not a key" not in str(info.value)


def test_ca_bundle_wins_over_a_requests_ca_bundle_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests would otherwise let REQUESTS_CA_BUNDLE override Session.verify on every request.
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    http = make_http_session(make_settings(ca_bundle=bundle))

    merged = http.merge_environment_settings("https://x.test", {}, None, None, None)
    explicit = http.merge_environment_settings("https://x.test", {}, None, "/other.pem", None)

    assert merged["verify"] == str(bundle)
    assert explicit["verify"] == "/other.pem"
