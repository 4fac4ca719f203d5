"""Who may see the dashboard: anyone on this machine when it listens on loopback; a browser
or client showing `serve.dashboard_token` when it listens anywhere else.

The token comes as `Authorization: Bearer <token>`, or once as `?token=<token>`: that answer
is a redirect to the same address without the token, setting an HttpOnly SameSite=Strict
cookie that holds an HMAC of the token (not the token itself) for the requests after it.
Every comparison is constant-time (`hmac.compare_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from core.config import Settings
from core.errors import ConfigError
from core.logs import register_secret

COOKIE = "connector_dashboard"
Endpoint = Callable[[Request], Awaitable[Response]]


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def required_token(settings: Settings, host: str, flag: str = "serve.host") -> str | None:
    """The token requests must show; None on loopback without one. Bound beyond loopback
    without a token: ConfigError (exit 2) before anything listens."""
    secret = settings.dashboard_token()
    token = secret.get_secret_value() if secret is not None else ""
    if token:
        register_secret(token)
        return token
    if is_loopback(host):
        return None
    raise ConfigError(
        f"{flag} {host!r} is not a loopback address: the dashboard needs serve.dashboard_token "
        "(or serve.dashboard_token_file, CONNECTOR_SERVE__DASHBOARD_TOKEN) so that only people "
        "holding it see the KPIs (docs/dashboard.md)"
    )


@dataclass(frozen=True, slots=True)
class Listener:
    """Where the dashboard (alone or inside `connector serve`) listens, and the token it asks."""

    host: str
    port: int
    token: str | None
    socket: socket.socket


def listen(settings: Settings, host: str | None, port: int | None) -> Listener:
    """Bind `host`:`port` (default `serve.host`/`serve.port`) once the token rule is met;
    ConfigError (exit 2) when the token is missing beyond loopback or the port is taken."""
    host = host or settings.serve.host
    port = port or settings.serve.port
    token = required_token(settings, host, "--host" if host != settings.serve.host
                           else "serve.host")
    try:
        listening = socket.create_server((host, port))
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port or "
            "serve.port"
        ) from None
    return Listener(host, port, token, listening)


def cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"connector-dashboard-cookie", hashlib.sha256).hexdigest()


def guarded(token: str | None, endpoint: Endpoint) -> Endpoint:
    """`endpoint` behind the token (unchanged when `token` is None)."""
    if token is None:
        return endpoint
    expected_cookie = cookie_value(token)

    async def check(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode()):
            return await endpoint(request)
        cookie = request.cookies.get(COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), expected_cookie.encode()):
            return await endpoint(request)
        query = request.query_params.get("token")
        if query is not None and hmac.compare_digest(query.encode(), token.encode()):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            answer = RedirectResponse(target, status_code=303)
            answer.set_cookie(COOKIE, expected_cookie, httponly=True, samesite="strict",
                              path="/", secure=request.url.scheme == "https")
            answer.headers["Referrer-Policy"] = "no-referrer"
            return answer
        return JSONResponse(
            {"error": "dashboard token required"}, status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="connector dashboard"'},
        )

    return check


__all__ = ["COOKIE", "cookie_value", "guarded", "is_loopback", "required_token"]
