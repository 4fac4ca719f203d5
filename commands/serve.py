"""`connector serve`: the long-running alternative to cron (app.service, docs/service.md)."""

from __future__ import annotations

import click

from app.service import run_service
from commands.base import Context, run_guarded


@click.command()
@click.option("--host", help="Address to listen on (default: serve.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Port to listen on (default: serve.port, 8080).")
@click.pass_obj
def serve(obj: Context, host: str | None, port: int | None) -> None:
    """HubSpot webhooks in, hand-offs within seconds; /healthz and /metrics."""
    run_guarded(lambda: run_service(obj.settings(), clock=obj.clock, host=host, port=port))
