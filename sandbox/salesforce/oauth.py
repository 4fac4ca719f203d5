"""`POST /services/oauth2/token`: JWT bearer, username-password and client-credentials grants.

Failures answer 400 `{"error","error_description"}` with the descriptions Salesforce uses:
`invalid assertion` (unreadable JWT or bad signature), `audience is invalid`, `expired
authorization code` (an `exp` in the past), `user hasn't approved this consumer` (a `sub` that
is not an approved user), `client identifier invalid` (unknown `iss`/`client_id`),
`invalid client credentials`, `authentication failure` (wrong password + security token).

The JWT `aud` must be https://login.salesforce.com, https://test.salesforce.com or one of the
org's Experience Cloud site URLs (`OrgSettings.site_audiences`) -- never the host the token
request is sent to: Salesforce refuses a My Domain audience with `audience is invalid` even
when the assertion is POSTed to that My Domain (Salesforce Help, "OAuth 2.0 JWT Bearer Flow
for Server-to-Server Integration"; forcedotcom/cli#3325, omniphx/forrest#302). The sandbox's
own URL plays the My Domain, so it is refused too.

The client-credentials grant works only on the My Domain: on login.salesforce.com /
test.salesforce.com (a request with that Host, or `OrgSettings.generic_login_host`) it answers
`invalid_grant` / `request not supported on this domain` (pozil/pub-sub-api-node-client#58).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509

from sandbox.httpbase import Request, Response

if TYPE_CHECKING:
    from sandbox.salesforce.server import SalesforceSandbox

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
GENERIC_LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")
CLOCK_SKEW_SECONDS = 30


@dataclass(frozen=True)
class JwtTrust:
    """A connected app that may use the JWT bearer flow.

    `certificate_pem` is the X.509 certificate uploaded to the app ("Use digital
    signatures"); assertions must be RS256-signed by its key. `usernames` are the users who
    have approved the app (or are pre-authorised by profile).
    """

    consumer_key: str
    certificate_pem: str | bytes
    usernames: tuple[str, ...] | list[str] | frozenset[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if isinstance(self.usernames, str):  # one user given as a bare string
            object.__setattr__(self, "usernames", (self.usernames,))

    def public_key(self) -> Any:
        pem = self.certificate_pem
        data = pem.encode() if isinstance(pem, str) else pem
        return x509.load_pem_x509_certificate(data).public_key()


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return Response.json(status, {"error": error, "error_description": description})


class TokenEndpoint:
    def __init__(self, sandbox: SalesforceSandbox) -> None:
        self.sb = sandbox

    def handle(self, req: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        for key, values in req.query.items():  # Salesforce also reads the query string
            form.setdefault(key, values[0])
        grant = form.get("grant_type", "")
        handlers: dict[str, Callable[[Request, dict[str, str]], Response]] = {
            JWT_GRANT: self._jwt_bearer,
            "password": self._password,
            "client_credentials": self._client_credentials,
        }
        handler = handlers.get(grant)
        if handler is None:
            return _oauth_error("unsupported_grant_type", "grant type not supported")
        return handler(req, form)

    # ------------------------------------------------------------------ grants

    def _jwt_bearer(self, req: Request, form: dict[str, str]) -> Response:
        trust = self.sb.jwt
        assertion = form.get("assertion", "")
        if trust is None or not assertion:
            return _oauth_error("invalid_grant", "invalid assertion")
        try:
            header = jwt.get_unverified_header(assertion)
            if header.get("alg") != "RS256":
                return _oauth_error("invalid_grant", "invalid assertion")
            claims = jwt.decode(
                assertion,
                trust.public_key(),
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_aud": False, "verify_iss": False,
                         "verify_iat": False, "verify_nbf": False, "verify_sub": False,
                         "verify_jti": False},
            )
        except (jwt.PyJWTError, ValueError):
            return _oauth_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != trust.consumer_key:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        audiences = (*LOGIN_AUDIENCES, *self.sb.org.site_audiences)
        aud = claims.get("aud")
        aud_list = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(a, str) and a.rstrip("/") in audiences for a in aud_list):
            return _oauth_error("invalid_grant", "audience is invalid")
        try:
            exp = float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            return _oauth_error("invalid_grant", "invalid assertion")
        # Against the machine's clock, not the sandbox's injected one: Salesforce checks an
        # assertion's `exp` against real time, and so does the connector when it signs one.
        if exp + CLOCK_SKEW_SECONDS <= time.time():
            return _oauth_error("invalid_grant", "expired authorization code")
        username = claims.get("sub")
        if not isinstance(username, str) or username not in set(trust.usernames):
            return _oauth_error("invalid_grant", "user hasn't approved this consumer")
        return self._issue(req, self.sb.user_id_for(username), with_signature=False)

    def _password(self, req: Request, form: dict[str, str]) -> Response:
        client = self._client_check(form.get("client_id"), form.get("client_secret"))
        if client is not None:
            return client
        username = form.get("username", "")
        login = self.sb.password_logins.get(username)
        if login is None or form.get("password") != login[0] + login[1]:
            return _oauth_error("invalid_grant", "authentication failure")
        return self._issue(req, self.sb.user_id_for(username), with_signature=True)

    def _client_credentials(self, req: Request, form: dict[str, str]) -> Response:
        host = (req.header("host") or "").rsplit(":", 1)[0].lower()
        if self.sb.org.generic_login_host or host in GENERIC_LOGIN_HOSTS:
            return _oauth_error("invalid_grant", "request not supported on this domain")
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = req.header("authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(auth[6:].strip()).decode()
                client_id, _, secret = decoded.partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return _oauth_error("invalid_client", "invalid client credentials")
        client = self._client_check(client_id, secret)
        if client is not None:
            return client
        return self._issue(req, self.sb.default_user_id, with_signature=True)

    def _client_check(self, client_id: str | None, secret: str | None) -> Response | None:
        if not client_id or client_id not in self.sb.client_credentials:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if secret != self.sb.client_credentials[client_id]:
            return _oauth_error("invalid_client", "invalid client credentials")
        return None

    # ------------------------------------------------------------------ answers

    def _issue(self, req: Request, user_id: str, with_signature: bool) -> Response:
        token = f"{self.sb.org_prefix}!{secrets.token_urlsafe(48)}"
        self.sb.open_session(token, user_id)
        issued_at = str(int(time.time() * 1000))
        payload: dict[str, Any] = {
            "access_token": token,
            "scope": "api",
            "instance_url": self.sb.base_url(req),
            "id": f"https://login.salesforce.com/id/{self.sb.org_id}/{user_id}",
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
        if with_signature:
            payload["signature"] = base64.b64encode(secrets.token_bytes(32)).decode()
        return Response.json(200, payload)
