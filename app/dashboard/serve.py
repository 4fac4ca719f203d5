"""`connector dashboard`: the dashboard alone (no sync loop, no webhooks), read-only; runs
that cron or another process finish reach open pages through the runs table
(`app.dashboard.events.RunsWatcher`)."""

from __future__ import annotations

import logging

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.dashboard.access import listen
from app.dashboard.events import RunSignal, RunsWatcher
from app.dashboard.web import dashboard_routes
from core.clock import Clock
from core.config import Settings

log = logging.getLogger("connector.dashboard")


def build_dashboard_app(
    settings: Settings, *, clock: Clock, signal: RunSignal, token: str | None
) -> Starlette:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[
        *dashboard_routes(settings, clock=clock, signal=signal, token=token),
        Route("/healthz", healthz, methods=["GET"]),
    ])


def run_dashboard(
    settings: Settings, *, clock: Clock, host: str | None = None, port: int | None = None
) -> int:
    """Serve the dashboard until SIGTERM/SIGINT; returns 0."""
    from sync.runner import open_store

    with open_store(settings, clock=clock, create=False):
        pass  # a missing state store is a ConfigError now, not a 500 on every request
    bound = listen(settings, host, port)
    signal = RunSignal()
    watcher = RunsWatcher(settings, clock, signal)
    app = build_dashboard_app(settings, clock=clock, signal=signal, token=bound.token)
    config = uvicorn.Config(app, host=bound.host, port=bound.port, log_config=None,
                            access_log=False, lifespan="off", timeout_graceful_shutdown=3)
    log.info("dashboard serving", extra={"host": bound.host, "port": bound.port,
                                         "token_required": bound.token is not None})
    watcher.start()
    try:
        uvicorn.Server(config).run(sockets=[bound.socket])
    finally:
        watcher.stop()
        bound.socket.close()
    return 0


__all__ = ["build_dashboard_app", "run_dashboard"]
