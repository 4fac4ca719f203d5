"""`connector dashboard`: the dashboard alone (no sync loop, no webhooks), read-only; runs
that cron or another process finish reach open pages through the runs table
(`app.dashboard.events.RunsWatcher`)."""

from __future__ import annotations

import logging
import socket

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.dashboard.access import required_token
from app.dashboard.events import RunSignal, RunsWatcher
from app.dashboard.web import dashboard_routes
from core.clock import Clock
from core.config import Settings
from core.errors import ConfigError

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
    host = host or settings.serve.host
    port = port or settings.serve.port
    token = required_token(settings, host, "--host" if host != settings.serve.host
                           else "serve.host")
    from sync.runner import open_store

    with open_store(settings, clock=clock, create=False):
        pass  # a missing state store is a ConfigError now, not a 500 on every request
    try:
        listening = socket.create_server((host, port))
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port or "
            "serve.port"
        ) from None
    signal = RunSignal()
    watcher = RunsWatcher(settings, clock, signal)
    app = build_dashboard_app(settings, clock=clock, signal=signal, token=token)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            lifespan="off", timeout_graceful_shutdown=3)
    log.info("dashboard serving", extra={"host": host, "port": port,
                                         "token_required": token is not None})
    watcher.start()
    try:
        uvicorn.Server(config).run(sockets=[listening])
    finally:
        watcher.stop()
        listening.close()
    return 0


__all__ = ["build_dashboard_app", "run_dashboard"]
