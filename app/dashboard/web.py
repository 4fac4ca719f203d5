"""The dashboard's routes, the same in `connector serve` and `connector dashboard`:

- `GET /`: the page (`app.dashboard.page`) in `?lang=`, else the language last chosen on
  the page (cookie `connector_lang`), else `[ui] language`; `GET /static/...`: its CSS and
  scripts;
- `GET /api/report?period=&since=&until=&segment=&owner=&lang=`: the report's JSON, its body
  as escaped HTML in the language asked for, the labels and the version of the last run seen;
- `GET /api/leads?<the same>&metric=&period_label=&cell_segment=`: the leads behind one
  number (a funnel cell, a segment row's cell, a card, a speed-to-lead breach count), each
  with its score explanation (`app.dashboard_data.leads_for`);
- `GET /api/events`: server-sent events, `event: run` when a run finished, a comment line
  every `HEARTBEAT_SECONDS` so proxies keep the stream, `retry:` for the client's reconnect.

Read-only: nothing here writes the state store. Every route is behind the token when one is
required (`app.dashboard.access`). A bad filter is a 400 with the message, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from app.dashboard.access import guarded
from app.dashboard.events import RunSignal
from app.dashboard.page import DASHBOARD_CSS, DASHBOARD_JS, SECURITY_HEADERS, page
from app.dashboard_data import Filters, leads_for, owners, report_for
from core.clock import Clock
from core.config import Settings
from core.errors import ConfigError
from core.i18n import Language, as_language, catalogue, moment
from kpi.export import report_dict
from kpi.html import CHARTS_JS, render_body, subtitle

HEARTBEAT_SECONDS = 15.0
LANG_COOKIE = "connector_lang"  # set by the page's language switch (DASHBOARD_JS)
RECONNECT_MS = 3000
CACHE_SECONDS = 60.0
_STATIC = {
    "dashboard.css": ("text/css", DASHBOARD_CSS),
    "charts.js": ("text/javascript", CHARTS_JS),
    "dashboard.js": ("text/javascript", DASHBOARD_JS),
}


def _day(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{name} {value!r}: expected a date YYYY-MM-DD") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def filters_of(request: Request, now: datetime) -> Filters:
    q = request.query_params
    return Filters(
        until=_day(q.get("until"), "until") or now,
        since=_day(q.get("since"), "since"),
        period=q.get("period") or "month",
        segment=q.get("segment") or None,
        owner=q.get("owner") or None,
    )


def dashboard_routes(
    settings: Settings, *, clock: Clock, signal: RunSignal, token: str | None
) -> list[Route]:
    default: Language = settings.ui.language
    zone = settings.ui.timezone
    cache: dict[tuple[Any, ...], tuple[float, Any]] = {}

    def cached_report(key: tuple[Any, ...], filters: Filters) -> Any:
        hit = cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        report = report_for(settings, filters)
        if len(cache) > 16:
            cache.clear()
        cache[key] = (time.monotonic(), report)
        return report

    def lang_of(request: Request) -> Language:
        """`?lang=`, else the page's language switch (its cookie), else `[ui] language`."""
        chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
        return as_language(chosen, default)

    def secure(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    async def index(request: Request) -> Response:
        known = await run_in_threadpool(_owners_or_none, settings)
        return secure(Response(page(lang_of(request), known), media_type="text/html"))

    async def static(request: Request) -> Response:
        found = _STATIC.get(request.path_params["name"])
        if found is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        media, text = found
        return secure(Response(text, media_type=media))

    async def api_report(request: Request) -> Response:
        lang = lang_of(request)
        version = signal.version
        q = request.query_params
        key = (version, *(q.get(k) for k in ("period", "since", "until", "segment", "owner")))
        try:
            filters = filters_of(request, clock())
            report = await run_in_threadpool(cached_report, key, filters)
        except ConfigError as exc:
            return secure(JSONResponse({"error": str(exc)}, status_code=400))
        data = report_dict(report)
        body = {
            "report": data,
            "html": render_body(data, lang, zone),
            "subtitle": subtitle(data, lang, zone),
            "labels": catalogue(lang),
            "lang": lang,
            "version": version,
            "updated": moment(clock(), lang, zone),
        }
        return secure(JSONResponse(body))

    async def api_leads(request: Request) -> Response:
        lang = lang_of(request)
        q = request.query_params
        try:
            filters = filters_of(request, clock())
            count, lines = await run_in_threadpool(
                lambda: leads_for(settings, filters, q.get("metric") or "",
                                  q.get("period_label") or None,
                                  cell_segment=q.get("cell_segment") or None)
            )
        except ConfigError as exc:
            return secure(JSONResponse({"error": str(exc)}, status_code=400))
        leads = [
            {
                "key": line.key,
                "email": line.email,
                "hubspot_id": line.hubspot_id,
                "created": line.created.isoformat(),
                "created_text": moment(line.created, lang, zone),
                "first_mql": line.first_mql.isoformat() if line.first_mql else None,
                "first_mql_text": moment(line.first_mql, lang, zone) if line.first_mql else None,
                "owner_id": line.owner_id,
                "at": line.at.isoformat() if line.at else None,
                "at_text": moment(line.at, lang, zone) if line.at else None,
                "segments": dict(line.segments),
                "explanation": line.explanation,
                "score_text": (line.explanation or "").split("\n")[0][:80] or None,
            }
            for line in lines
        ]
        return secure(JSONResponse({"count": count, "leads": leads}))

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            seen = signal.version
            last = time.monotonic()
            yield f"retry: {RECONNECT_MS}\n: connected\n\n"
            while not await request.is_disconnected():
                version = signal.version
                if version != seen:
                    seen, last = version, time.monotonic()
                    yield f"event: run\ndata: {json.dumps({'version': version})}\n\n"
                elif time.monotonic() - last >= HEARTBEAT_SECONDS:
                    last = time.monotonic()
                    yield ": heartbeat\n\n"
                await asyncio.sleep(0.25)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    return [
        Route("/", guarded(token, index), methods=["GET"]),
        Route("/static/{name}", guarded(token, static), methods=["GET"]),
        Route("/api/report", guarded(token, api_report), methods=["GET"]),
        Route("/api/leads", guarded(token, api_leads), methods=["GET"]),
        Route("/api/events", guarded(token, events), methods=["GET"]),
    ]


def _owners_or_none(settings: Settings) -> list[str]:
    try:
        return owners(settings)
    except ConfigError:
        return []


__all__ = ["HEARTBEAT_SECONDS", "LANG_COOKIE", "dashboard_routes", "filters_of"]
