"""`connector dlq list|retry|drop`: the records Salesforce rejected."""

from __future__ import annotations

import click

from app.dead_letters import (
    drop_dead_letters,
    format_dead_letters,
    list_dead_letters,
    retry_dead_letters,
    self_retried,
)
from commands.base import EXIT_OK, Context, echo_json, run_guarded
from sync.runner import open_store


@click.group()
def dlq() -> None:
    """Records Salesforce rejected: list them, retry them after a fix, or drop them."""


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def dlq_list(obj: Context, as_json: bool) -> None:
    """Open dead letters with Salesforce's error code, message and fields."""

    def go() -> int:
        with open_store(obj.settings(), create=False) as store:
            rows = list_dead_letters(store)
        if as_json:
            echo_json(rows)
        else:
            click.echo(format_dead_letters(rows))
        return EXIT_OK

    run_guarded(go)


def _dlq_change(obj: Context, leads: tuple[str, ...], everything: bool, retry: bool) -> None:
    if not leads and not everything:
        raise click.UsageError("name the leads (emails) or pass --all")

    def go() -> int:
        change = retry_dead_letters if retry else drop_dead_letters
        with open_store(obj.settings(), create=False) as store:
            done = change(store, leads, everything=everything)
            by_itself = self_retried(store) if everything else 0
        verb = "marked for the next run" if retry else "dropped"
        click.echo(f"{len(done)} lead(s) {verb}" + (": " + ", ".join(done) if done else ""))
        if by_itself:
            click.echo(f"{by_itself} dead letter(s) of archive/erasure policy writes are retried "
                       "by every run by themselves / アーカイブ・完全削除の書き込みは毎回の実行で"
                       "自動的に再試行されます")
        return EXIT_OK

    run_guarded(go)


@dlq.command("retry")
@click.argument("leads", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every open dead letter.")
@click.pass_obj
def dlq_retry(obj: Context, leads: tuple[str, ...], everything: bool) -> None:
    """Write these leads again on the next run (after fixing the cause)."""
    _dlq_change(obj, leads, everything, retry=True)


@dlq.command("drop")
@click.argument("leads", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every open dead letter.")
@click.pass_obj
def dlq_drop(obj: Context, leads: tuple[str, ...], everything: bool) -> None:
    """Give up on these leads' failed writes."""
    _dlq_change(obj, leads, everything, retry=False)
