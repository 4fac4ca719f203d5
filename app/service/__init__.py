"""`connector serve`: HubSpot webhooks in, hand-offs within seconds, health and metrics, in one
long-running process (docs/service.md). The alternative to cron; cron keeps working.

`run_service` takes the run lock (through the loop: `app.service.loop`), starts the HTTP app
(`app.service.web`) on uvicorn in the main thread, and on SIGTERM/SIGINT lets uvicorn finish
the requests under way, then stops the loop after the pass under way. A kill -9 loses nothing:
webhook marks are committed before their 2xx, and the loop's first pass after a restart
processes what is marked.
"""

from __future__ import annotations

import logging
import socket

import uvicorn

from app.service.loop import RunPass, SyncLoop, incremental_pass
from app.service.metrics import ServiceMetrics
from app.service.web import build_app
from core.clock import Clock
from core.config import Settings
from core.errors import ConfigError
from core.logs import register_secret

log = logging.getLogger("connector.serve")


def run_service(
    settings: Settings,
    *,
    clock: Clock,
    host: str | None = None,
    port: int | None = None,
    run_pass: RunPass = incremental_pass,
) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code (0 after a clean stop)."""
    secret = settings.hubspot_client_secret()
    if secret is None or not secret.get_secret_value():
        raise ConfigError(
            "hubspot.client_secret is not set: `connector serve` needs the client secret of "
            "the HubSpot app that sends the webhooks (hubspot.client_secret, "
            "hubspot.client_secret_file or CONNECTOR_HUBSPOT__CLIENT_SECRET; docs/service.md)"
        )
    register_secret(secret.get_secret_value())
    host = host or settings.serve.host
    port = port or settings.serve.port
    metrics = ServiceMetrics()
    loop = SyncLoop(settings, clock, metrics, run_pass=run_pass)
    try:
        listening = socket.create_server((host, port))
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port or "
            "serve.port"
        ) from None
    try:
        loop.start()  # LockHeldError (exit 4) before any request is answered
    except BaseException:
        listening.close()
        raise
    app = build_app(settings, loop, metrics, clock=clock, client_secret=secret.get_secret_value())
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    log.info("serving", extra={"host": host, "port": port})
    try:
        server.run(sockets=[listening])  # returns after SIGTERM/SIGINT (uvicorn's handlers)
    finally:
        log.info("stopping: the sync loop ends after the pass under way")
        loop.stop()
        listening.close()
    log.info("stopped")
    return 0


__all__ = ["run_service"]
