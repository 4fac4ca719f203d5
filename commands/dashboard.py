"""`connector dashboard`: the KPI dashboard alone, read-only (app.dashboard, docs/dashboard.md)."""

from __future__ import annotations

import click

from app.dashboard.serve import run_dashboard
from commands.base import Context, run_guarded


@click.command()
@click.option("--host", help="Address to listen on (default: serve.host, 127.0.0.1); beyond "
              "loopback serve.dashboard_token is required.")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Port to listen on (default: serve.port, 8080).")
@click.pass_obj
def dashboard(obj: Context, host: str | None, port: int | None) -> None:
    """The live KPI dashboard (no sync loop): filters, drill-down, Japanese and English."""
    run_guarded(lambda: run_dashboard(obj.settings(salesforce=False), clock=obj.clock,
                                      host=host, port=port))
