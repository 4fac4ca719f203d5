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
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from app.dashboard.access import listen
from app.dashboard.events import RunSignal
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
    bound = listen(settings, host, port)
    metrics = ServiceMetrics()
    signal = RunSignal()
    loop = SyncLoop(settings, clock, metrics, run_pass=run_pass, on_pass=signal.bump)
    try:
        loop.start()  # LockHeldError (exit 4) before any request is answered
    except BaseException:
        bound.socket.close()
        raise
    app = build_app(settings, loop, metrics, clock=clock, client_secret=secret.get_secret_value(),
                    signal=signal, dashboard_token=bound.token)
    config = uvicorn.Config(
        app, host=bound.host, port=bound.port, log_config=None, access_log=False, lifespan="off",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    log.info("serving", extra={"host": bound.host, "port": bound.port})
    try:
        with _stop_signals_recorded():
            server.run(sockets=[bound.socket])  # returns after SIGTERM/SIGINT (uvicorn's handlers)
    finally:
        log.info("stopping: the sync loop ends after the pass under way")
        loop.stop()
        bound.socket.close()
    log.info("stopped")
    return 0


@contextmanager
def _stop_signals_recorded() -> Iterator[None]:
    """After a graceful stop, uvicorn raises the signal that stopped it again under the
    handler that was there before it started; with the default one, SIGTERM would kill the
    process before the loop is stopped. Here that handler only logs, so `run_service` goes on
    to stop the loop and return 0."""
    def noted(signum: int, _frame: object) -> None:
        log.info("stop signal received", extra={"signal": signal.Signals(signum).name})

    previous = {sig: signal.signal(sig, noted) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["run_service"]
