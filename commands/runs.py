"""`connector sync`, `backfill`, `rescore` and `status`: one locked, recorded run each, or
what the runs left behind."""

from __future__ import annotations

from typing import Any

import click

from app.texts import format_status, format_summary
from commands.base import (
    EXIT_OK,
    EXIT_RECORDS_FAILED,
    Context,
    echo_json,
    parse_date,
    run_guarded,
)
from core.config import Settings
from sync.runner import read_status, run_once


def print_summary(summary: dict[str, Any], as_json: bool, settings: Settings) -> None:
    """The run summary as JSON, or as text in `[ui] language`, moments in `[ui] timezone`."""
    if as_json:
        echo_json(summary)
        return
    click.echo(format_summary(summary, language=settings.ui.language, zone=settings.ui.timezone))


@click.command()
@click.option("--dry-run", is_flag=True, help="Plan the writes and print them; write nothing.")
@click.option("--limit", type=click.IntRange(min=1), help="Score and write at most N leads.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.option(
    "--reconcile",
    is_flag=True,
    help="Check every stored contact id against HubSpot now (archived, merged, erased).",
)
@click.pass_obj
def sync(obj: Context, dry_run: bool, limit: int | None, as_json: bool, reconcile: bool) -> None:
    """Incremental run: what changed in HubSpot since the last run."""

    def go() -> int:
        summary = run_once(
            obj.settings(), kind="sync", dry_run=dry_run, limit=limit, clock=obj.clock,
            reconcile=reconcile,
        )
        print_summary(summary.as_dict(), as_json, obj.settings())
        return EXIT_RECORDS_FAILED if summary.write_failures else EXIT_OK

    run_guarded(go)


@click.command()
@click.option("--since", required=True, help="Start of the history to load (YYYY-MM-DD).")
@click.option("--until", help="End of the history to load (default: now).")
@click.option("--dry-run", is_flag=True, help="Plan the writes and print them; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.pass_obj
def backfill(obj: Context, since: str, until: str | None, dry_run: bool, as_json: bool) -> None:
    """Load history from --since (rerun the same command to resume)."""
    start = parse_date(since, "--since")
    end = parse_date(until, "--until")

    def go() -> int:
        summary = run_once(
            obj.settings(), kind="backfill", since=start, until=end, dry_run=dry_run,
            clock=obj.clock,
        )
        print_summary(summary.as_dict(), as_json, obj.settings())
        return EXIT_RECORDS_FAILED if summary.write_failures else EXIT_OK

    run_guarded(go)


@click.command()
@click.option("--dry-run", is_flag=True, help="Plan the writes and print them; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.pass_obj
def rescore(obj: Context, dry_run: bool, as_json: bool) -> None:
    """Score every stored lead again (rule changes, decay); write only what changed."""

    def go() -> int:
        summary = run_once(obj.settings(), kind="rescore", dry_run=dry_run, clock=obj.clock)
        print_summary(summary.as_dict(), as_json, obj.settings())
        return EXIT_RECORDS_FAILED if summary.write_failures else EXIT_OK

    run_guarded(go)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    """Last runs, cursors, dead letters and stored counts."""

    def go() -> int:

        settings = obj.settings()
        data = read_status(settings, clock=obj.clock)
        if as_json:
            echo_json(data)
        else:
            click.echo(format_status(data, language=settings.ui.language,
                                     zone=settings.ui.timezone))
        return EXIT_OK

    run_guarded(go)
