"""The dashboard's language: `?lang=`, else the page's switch (its cookie), else `[ui]`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette

from app.dashboard.events import RunSignal
from app.dashboard.page import DASHBOARD_JS
from app.dashboard.web import LANG_COOKIE, dashboard_routes
from core.config import UiSettings, _OfflineSettings

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


class Client:
    """GET through the ASGI app itself (no HTTP client library needed)."""

    def __init__(self, language: str) -> None:
        settings = _OfflineSettings(ui=UiSettings(language=language))
        routes = dashboard_routes(settings, clock=lambda: NOW, signal=RunSignal(), token=None)
        self.app = Starlette(routes=routes)

    def get(self, target: str, cookies: dict[str, str] | None = None) -> str:
        path, _, query = target.partition("?")
        cookie = "; ".join(f"{k}={v}" for k, v in (cookies or {}).items())
        scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
                 "query_string": query.encode(), "root_path": "", "scheme": "http",
                 "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 5000),
                 "http_version": "1.1",
                 "headers": [(b"cookie", cookie.encode())] if cookie else []}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        asyncio.run(self.app(scope, receive, send))
        assert sent[0]["status"] == 200
        return b"".join(m.get("body", b"") for m in sent[1:]).decode()


def client(language: str) -> Client:
    return Client(language)


def test_given_no_choice_the_page_comes_in_the_configured_language() -> None:
    assert 'lang="en"' in client("en").get("/")
    assert 'lang="ja"' in client("ja").get("/")


def test_given_the_switch_cookie_the_page_comes_in_the_chosen_language() -> None:
    page = client("en").get("/", cookies={LANG_COOKIE: "ja"})
    assert 'lang="ja"' in page and "リードファネル・ダッシュボード" in page


def test_given_lang_in_the_address_it_wins_over_the_cookie() -> None:
    page = client("ja").get("/?lang=en", cookies={LANG_COOKIE: "ja"})
    assert 'lang="en"' in page and "Lead funnel dashboard" in page


def test_given_an_unknown_language_the_configured_one_is_used() -> None:
    assert 'lang="ja"' in client("ja").get("/", cookies={LANG_COOKIE: "fr"})


def test_given_the_switch_the_script_remembers_the_choice_in_that_cookie() -> None:
    assert f'document.cookie = "{LANG_COOKIE}=" + lang' in DASHBOARD_JS
