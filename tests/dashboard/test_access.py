"""`app.dashboard.access`: loopback detection, the start-up refusal, the token gate."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app.dashboard.access import COOKIE, cookie_value, guarded, is_loopback, required_token
from core.config import ServeSettings, _OfflineSettings
from core.errors import ConfigError

TOKEN = "s3cret-dashboard-token"


@pytest.mark.parametrize(("host", "loop"), [("127.0.0.1", True), ("::1", True),
                                            ("localhost", True), ("0.0.0.0", False),
                                            ("192.168.1.5", False), ("example.jp", False)])
def test_given_a_host_loopback_is_recognised(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def test_given_no_token_beyond_loopback_start_up_is_refused_naming_the_key() -> None:
    settings = _OfflineSettings()
    assert required_token(settings, "127.0.0.1") is None
    with pytest.raises(ConfigError) as caught:
        required_token(settings, "0.0.0.0", "--host")
    assert "serve.dashboard_token" in str(caught.value) and "--host" in str(caught.value)
    settings = _OfflineSettings(serve=ServeSettings(dashboard_token=SecretStr(TOKEN)))
    assert required_token(settings, "0.0.0.0") == TOKEN


def _call(headers: dict[str, str], query: str = "") -> Response:
    async def ok(request: Request) -> Response:
        return PlainTextResponse("in")

    scope: dict[str, Any] = {
        "type": "http", "method": "GET", "path": "/", "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "scheme": "http", "server": ("h", 80),
    }
    return asyncio.run(guarded(TOKEN, ok)(Request(scope)))


def test_given_requests_only_the_right_token_passes() -> None:
    assert _call({}).status_code == 401
    assert _call({"Authorization": "Bearer nope"}).status_code == 401
    assert _call({}, "token=nope").status_code == 401
    assert _call({"Cookie": f"{COOKIE}=forged"}).status_code == 401
    assert _call({"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert _call({"Cookie": f"{COOKIE}={cookie_value(TOKEN)}"}).status_code == 200
    once = _call({}, f"token={TOKEN}&lang=ja")
    assert once.status_code == 303 and once.headers["location"] == "/?lang=ja"
    cookie = once.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert TOKEN not in cookie
