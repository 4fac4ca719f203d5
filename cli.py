"""`connector`: the entry point. The group, its global options, and one `add_command` per
command; each command lives in `commands/` (parse, call one application function, print,
exit code). `main` and the `EXIT_*` codes (listed in `commands.base`) stay importable from
here for scripts and tests.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click

from commands.accounts import accounts
from commands.base import (
    EXIT_INTERNAL,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_RECORDS_FAILED,
    EXIT_STOPPED,
    EXIT_USAGE,
    Context,
    command_clock,
)
from commands.dashboard import dashboard
from commands.dead_letters import dlq
from commands.mappings import mappings
from commands.report import report
from commands.runs import backfill, rescore, status, sync
from commands.sandbox import demo, sandbox
from commands.score import score
from commands.serve import serve
from commands.setup import setup
from core.clock import Clock

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_RECORDS_FAILED",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "main",
]


def _version() -> str:
    try:
        return version("hubspot-salesforce-connector")
    except PackageNotFoundError:
        return "0+unknown"


def _command_clock() -> Clock:
    """The clock every command of this process takes "now" from (tests replace this)."""
    return command_clock()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), prog_name="connector")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (default: $CONNECTOR_CONFIG, else ./connector.toml).",
)
@click.option("-v", "--verbose", count=True, help="More log detail (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, verbose: int, quiet: bool) -> None:
    """Score HubSpot leads and hand them to Salesforce, exactly once.

    Exit codes: 0 ok, 1 internal error, 2 usage/config error, 3 some records failed,
    4 another run holds the lock, 5 stopped by an API (credentials, budget, outage).
    """
    from core.logs import setup_logging

    verbosity = -1 if quiet else verbose
    setup_logging(verbosity)
    ctx.obj = Context(config_path, verbosity, _command_clock())


for command in (sync, backfill, rescore, status, report, dlq, score, mappings, setup, sandbox,
                demo, serve, accounts):
    main.add_command(command)
main.add_command(dashboard)

if __name__ == "__main__":  # pragma: no cover
    main()
