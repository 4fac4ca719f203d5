"""`connector accounts [--limit N] [--json]`: account scores and buying groups."""

from __future__ import annotations

import click

from app.accounts import format_accounts, list_accounts
from commands.base import EXIT_OK, Context, echo_json, run_guarded


@click.command()
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="How many accounts, best score first.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def accounts(obj: Context, limit: int, as_json: bool) -> None:
    """Account scores, engaged contacts, buying groups and account MQLs (best first)."""

    def go() -> int:
        settings = obj.settings()
        rows = list_accounts(settings, limit)
        if as_json:
            echo_json(rows)
        else:
            click.echo(format_accounts(rows, settings.accounts.enabled))
        return EXIT_OK

    run_guarded(go)
