"""The HTTP side of `connector serve` (Starlette, served by uvicorn):

- `POST /hubspot/webhooks`: checks the v3 signature (`connectors.hubspot.webhooks`), marks the
  contacts in the state store in one transaction, wakes the sync loop and answers 204. The
  work happens in the loop, so the answer comes in milliseconds and a crash after it loses
  nothing (the marks are committed before the answer). A bad, missing or stale signature gets
  401 and changes nothing; a signed body that is no event batch gets 400.
- `GET /healthz`: 200 when the loop runs (holding the run lock) and the state store answers,
  503 otherwise; a small JSON body says which.
- `GET /metrics`: the Prometheus text exposition (`app.service.metrics`).
- `GET /` and `/api/...`: the KPI dashboard (`app.dashboard.web`), behind
  `serve.dashboard_token` when one is required; the webhook keeps its own signature check
  and `/healthz` stays open.

The signature's timestamp is a transport stamp HubSpot sets from real time, so it is checked
against the machine's clock (`wall_clock`), as `core.clock` says of such stamps; the marks are
stamped by the service's clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.dashboard.events import RunSignal
from app.dashboard.web import dashboard_routes
from app.service.loop import SyncLoop
from app.service.metrics import CONTENT_TYPE, ServiceMetrics
from connectors.hubspot.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    PayloadError,
    contact_changes,
    parse_events,
    signature_problem,
    triage,
)
from core.clock import Clock
from core.config import Settings
from sync.lead_refs import contact_ref
from sync.runner import open_store

log = logging.getLogger("connector.serve")

WEBHOOK_PATH = "/hubspot/webhooks"
MAX_BODY_BYTES = 2_000_000  # 100 events are a few tens of KB


def build_app(
    settings: Settings,
    loop: SyncLoop,
    metrics: ServiceMetrics,
    *,
    clock: Clock,
    client_secret: str,
    wall_clock: Callable[[], float] = time.time,
    signal: RunSignal | None = None,
    dashboard_token: str | None = None,
) -> Starlette:
    def signed_uri(request: Request) -> str:
        public = settings.serve.webhook_url
        if public is None:
            return str(request.url)
        query = request.url.query
        return public + (f"?{query}" if query else "")

    def mark(contact_ids: tuple[str, ...], changes: list[tuple[str, str, str | None]]) -> None:
        with open_store(settings, clock=clock) as store:
            # Archive / restore / merge / erase first: the loop's run applies them
            # (sync.deletions); a mark of an erased person is dropped by the store.
            store.erasure.add_changes(changes)
            store.mark_dirty(contact_ref(i) for i in contact_ids)  # one transaction

    async def webhooks(request: Request) -> Response:
        received = time.monotonic()
        body = await request.body()
        problem = signature_problem(
            secret=client_secret,
            method=request.method,
            uri=signed_uri(request),
            body=body,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
            now_ms=int(wall_clock() * 1000),
        )
        if problem is not None:
            metrics.webhook_requests.labels("unauthorized").inc()
            log.warning("webhook refused", extra={"reason": problem,
                                                  "client": request.client.host
                                                  if request.client else None})
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        if len(body) > MAX_BODY_BYTES:
            metrics.webhook_requests.labels("bad_request").inc()
            return JSONResponse({"error": "body too large"}, status_code=413)
        try:
            events = parse_events(body)
        except PayloadError as exc:
            metrics.webhook_requests.labels("bad_request").inc()
            log.warning("webhook body refused", extra={"reason": str(exc)})
            return JSONResponse({"error": str(exc)}, status_code=400)
        todo = triage(events)
        changes = contact_changes(events)
        if todo.contact_ids or changes:
            await run_in_threadpool(mark, todo.contact_ids, changes)
            loop.notify(received)
        metrics.webhook_requests.labels("accepted").inc()
        for event in events:
            metrics.webhook_events.labels(event.subscription_type).inc()
        log.info(
            "webhook batch accepted",
            extra={"events": len(events), "contacts_marked": len(todo.contact_ids),
                   "merges": todo.merges, "deletions": todo.deletions,
                   "ignored": todo.ignored},
        )
        if changes:
            log.info("contact deletions and merges queued for the next pass",
                     extra={"hubspot_ids": sorted({c[0] for c in changes})})
        return Response(status_code=204)

    def store_answers() -> bool:
        try:
            with open_store(settings, clock=clock) as store:
                store.dirty_count()
            return True
        except Exception as exc:
            log.warning("state store does not answer", extra={"error": str(exc)})
            return False

    async def healthz(request: Request) -> Response:
        loop_ok = loop.alive
        store_ok = await run_in_threadpool(store_answers)
        body = {
            "status": "ok" if loop_ok and store_ok else "unavailable",
            "loop": "running" if loop_ok else "stopped",
            "state_store": "ok" if store_ok else "unreachable",
            "passes": loop.passes,
            "last_pass": loop.last_outcome,
        }
        return JSONResponse(body, status_code=200 if loop_ok and store_ok else 503)

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, webhooks, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
            *dashboard_routes(settings, clock=clock, signal=signal or RunSignal(),
                              token=dashboard_token),
        ]
    )


__all__ = ["WEBHOOK_PATH", "build_app"]
