"""Log in to Salesforce: OAuth 2.0 JWT bearer, username-password, client credentials, or a
ready session.

The token endpoint is `{settings.salesforce.login_url}/services/oauth2/token`, so the same code
logs in to login.salesforce.com, test.salesforce.com, a My Domain or the local sandbox. TLS is
always verified: against `ca_bundle` when set (the sandbox's throw-away CA, a corporate proxy),
else the system store. No URL is rewritten.

Facts relied on (Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server
Integration" and "OAuth 2.0 Client Credentials Flow"; errors as reported in
forcedotcom/cli#3325, omniphx/forrest#302, pozil/pub-sub-api-node-client#58):
- the JWT `aud` is https://login.salesforce.com, https://test.salesforce.com or an Experience
  Cloud site URL -- also when the assertion is POSTed to a My Domain host; a My Domain `aud`
  is refused `invalid_grant` / `audience is invalid`. `SalesforceSettings.jwt_audience()`
  derives it from `login_url` unless `audience` is set;
- an assertion is valid for at most 3 minutes after `exp` is issued (`JWT_LIFETIME_SECONDS`);
- the client-credentials flow works only on the My Domain host: login.salesforce.com and
  test.salesforce.com answer `invalid_grant` / `request not supported on this domain` (the
  settings refuse that combination before any call, exit 2).

Errors never carry a secret: Salesforce's `error`/`error_description` are reported, and every
secret this module handled is scrubbed from the message as a second line of defence.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import requests

from core.config import SalesforceSettings, Settings
from core.errors import ConfigError, FatalAPIError, RetriableAPIError

from .constants import JWT_GRANT_TYPE, JWT_LIFETIME_SECONDS, TOKEN_PATH

# What to do about the token endpoint's refusals that have one clear fix, keyed by the
# `error_description` Salesforce sends (lower case). Salesforce gives no other signal.
LOGIN_HINTS: dict[str, str] = {
    "audience is invalid": (
        "; the JWT `aud` must be https://login.salesforce.com, https://test.salesforce.com or an"
        " Experience Cloud site URL, never a My Domain URL: leave salesforce.audience unset or"
        " correct it"
    ),
    "request not supported on this domain": (
        "; the client-credentials flow works only on your My Domain: set salesforce.login_url"
        " to https://<MyDomainName>.my.salesforce.com"
    ),
    "no client credentials user enabled": (
        "; set the Run As user of the client credentials flow in the External Client App's"
        " OAuth policies (Setup > External Client App Manager > the app > Policies)"
    ),
    "user hasn't approved this consumer": (
        "; pre-authorize the user for the External Client App (Policies: 'Admin approved users"
        " are pre-authorized' plus the user's profile or permission set), and check that"
        " login_url/audience point at the org (production or sandbox) the user belongs to"
    ),
    "api is not enabled for this organization or partner": (
        "; this org has no API access: Professional Edition needs the API add-on (ask your"
        " Salesforce account executive), and the user needs the 'API Enabled' permission"
    ),
}


@dataclass(frozen=True)
class SalesforceSession:
    """Where to send REST calls and the bearer token to send with them."""

    instance_url: str
    access_token: str = field(repr=False)


class CABundleSession(requests.Session):
    """A Session whose `verify` is not overridden by the environment.

    requests merges `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE` *over* `Session.verify` for every
    request that does not pass `verify=` itself, so a configured `ca_bundle` would silently
    lose to a system-wide bundle. Here an explicit per-request `verify` still wins; otherwise
    the session's own setting does. Proxies from the environment are kept.
    """

    def merge_environment_settings(  # type: ignore[override]
        self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and isinstance(self.verify, str):
            merged["verify"] = self.verify
        return merged


def make_http_session(settings: Settings) -> requests.Session:
    """A requests.Session that trusts `ca_bundle` when configured (else the system store)."""
    http = CABundleSession()
    ca_bundle = settings.salesforce.ca_bundle
    if ca_bundle is not None:
        path = settings.resolve(ca_bundle)
        if not path.is_file():
            raise ConfigError(
                "configuration is not valid", [f"salesforce.ca_bundle: no file at {path}"]
            )
        http.verify = str(path)
    return http


def token_url(login_url: str) -> str:
    return login_url.rstrip("/") + TOKEN_PATH


def jwt_assertion(
    *,
    consumer_key: str,
    username: str,
    audience: str,
    private_key: bytes | str,
    now: dt.datetime | None = None,
) -> str:
    """An RS256-signed JWT bearer assertion: iss=consumer key, sub=username, aud=login URL."""
    issued = now or dt.datetime.now(dt.UTC)
    claims = {
        "iss": consumer_key,
        "sub": username,
        "aud": audience.rstrip("/"),
        "exp": int((issued + dt.timedelta(seconds=JWT_LIFETIME_SECONDS)).timestamp()),
    }
    try:
        return jwt.encode(claims, private_key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        # The library's message names the key format problem, never the key itself.
        raise ConfigError(
            "configuration is not valid",
            [f"salesforce.private_key_file: not a usable RSA private key ({type(exc).__name__})"],
        ) from None


def authenticate(
    settings: Settings, http: requests.Session, *, now: dt.datetime | None = None
) -> SalesforceSession:
    """Log in once with the configured flow. Raises ConfigError (missing/invalid secret),
    FatalAPIError (login refused) or RetriableAPIError (token endpoint unreachable or 5xx)."""
    sf = settings.salesforce
    if sf.auth == "session":
        session_id = _secret(settings, "session_id")
        if not sf.instance_url or session_id is None:
            raise ConfigError(
                "configuration is not valid",
                ["salesforce: auth = 'session' needs instance_url and session_id"],
            )
        return SalesforceSession(sf.instance_url.rstrip("/"), session_id)

    form, secrets = _token_request(settings, sf, now)
    return _post_token(http, token_url(sf.login_url), form, secrets, sf.timeout_seconds)


def _token_request(
    settings: Settings, sf: SalesforceSettings, now: dt.datetime | None
) -> tuple[dict[str, str], list[str]]:
    """The form to POST and the secret values it contains."""
    consumer_key = _required(sf.consumer_key, "consumer_key")
    if sf.auth == "jwt":
        key_path = settings.resolve(Path(_required(sf.private_key_file, "private_key_file")))
        try:
            private_key = key_path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                "configuration is not valid",
                [f"salesforce.private_key_file: cannot read {key_path}: {exc.strerror}"],
            ) from None
        assertion = jwt_assertion(
            consumer_key=consumer_key,
            username=_required(sf.username, "username"),
            audience=sf.jwt_audience(),
            private_key=private_key,
            now=now,
        )
        return {"grant_type": JWT_GRANT_TYPE, "assertion": assertion}, [assertion]

    consumer_secret = _required(_secret(settings, "consumer_secret"), "consumer_secret")
    if sf.auth == "client_credentials":
        form = {
            "grant_type": "client_credentials",
            "client_id": consumer_key,
            "client_secret": consumer_secret,
        }
        return form, [consumer_secret]

    # auth == "password": OAuth username-password flow; the security token is appended to the
    # password unless the org trusts the caller's IP range.
    password = _required(_secret(settings, "password"), "password")
    token = _secret(settings, "security_token") or ""
    form = {
        "grant_type": "password",
        "client_id": consumer_key,
        "client_secret": consumer_secret,
        "username": _required(sf.username, "username"),
        "password": password + token,
    }
    return form, [consumer_secret, password, password + token, *([token] if token else [])]


def _post_token(
    http: requests.Session,
    url: str,
    form: dict[str, str],
    secrets: list[str],
    timeout: float,
) -> SalesforceSession:
    try:
        response = http.post(
            url, data=form, headers={"Accept": "application/json"}, timeout=timeout
        )
    except requests.exceptions.SSLError as exc:
        if is_certificate_error(exc):
            raise FatalAPIError(
                f"TLS certificate of {url} not trusted; check salesforce.ca_bundle", url=url
            ) from None
        raise RetriableAPIError(f"TLS failure talking to {url}", url=url) from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise RetriableAPIError(
            f"cannot reach the Salesforce token endpoint {url} ({type(exc).__name__})", url=url
        ) from None

    payload = _json_or_none(response)
    if response.status_code == 200 and isinstance(payload, dict):
        access_token = payload.get("access_token")
        instance_url = payload.get("instance_url")
        if isinstance(access_token, str) and isinstance(instance_url, str) and access_token:
            return SalesforceSession(instance_url.rstrip("/"), access_token)
        raise FatalAPIError(
            "Salesforce token response lacks access_token or instance_url", status=200, url=url
        )

    error = description = None
    if isinstance(payload, dict):
        error = payload.get("error")
        description = payload.get("error_description")
    status = response.status_code
    detail = f"{error}: {description}" if error else f"HTTP {status}"
    hint = LOGIN_HINTS.get(str(description or "").strip().lower(), "")
    message = _scrub(f"Salesforce login refused ({detail}){hint}", secrets)
    if status >= 500 or status in (408, 429):
        raise RetriableAPIError(message, status=status, url=url, error_code=error)
    raise FatalAPIError(message, status=status, url=url, error_code=error)


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _scrub(message: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def _secret(settings: Settings, name: str) -> str | None:
    try:
        value = settings.salesforce_secret(name)
    except ValueError as exc:
        raise ConfigError(
            "configuration is not valid", [f"salesforce.{name}_file: {exc}"]
        ) from None
    return value.get_secret_value() if value is not None else None


def _required(value: Any, name: str) -> Any:
    if value in (None, ""):
        raise ConfigError("configuration is not valid", [f"salesforce.{name}: required"])
    return value


def is_certificate_error(exc: BaseException) -> bool:
    """Whether a TLS failure is the peer's certificate not being trusted (not transient)."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        if isinstance(current, BaseException):
            stack.extend(current.args)
            stack.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
    return False
