"""`connector`: the command line. Each command parses its options, calls one function, and
turns what comes back (or the error raised) into output and an exit code.

Exit codes:
  0  success
  1  internal error (a bug: please report it with the log)
  2  usage or configuration error (fix the command, the config file or a mapping file)
  3  finished, but some records failed (see `connector status` and the dead-letter list)
  4  another run holds the lock; nothing was done
  5  stopped early: an API refused to continue (credentials, API budget, unreachable host);
     cursors were not advanced past unfinished work, rerun later
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn

import click

from core.clock import NOW_VARIABLE, Clock, clock_from, parse_moment, system_clock
from core.errors import (
    ConfigError,
    ConnectorError,
    FatalAPIError,
    LockHeldError,
    RetriableAPIError,
)

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_RECORDS_FAILED = 3
EXIT_LOCKED = 4
EXIT_STOPPED = 5

log = logging.getLogger("connector.cli")


def _version() -> str:
    try:
        return version("hubspot-salesforce-connector")
    except PackageNotFoundError:
        return "0+unknown"


class Context:
    def __init__(
        self, config_path: Path | None, verbosity: int, clock: Clock = system_clock
    ) -> None:
        self.config_path = config_path
        self.verbosity = verbosity
        self.clock = clock  # the one "now" every command hands down (core.clock)

    def settings(self, *, salesforce: bool = True) -> Any:
        """The settings; `salesforce=False` for commands that make no Salesforce call (the
        sign-in settings may then be missing)."""
        from core.config import find_config, load_settings

        return load_settings(find_config(self.config_path), salesforce=salesforce)


def _fail(code: int, message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def run_guarded(fn: Callable[[], int]) -> None:
    """Call `fn`; map the connector's errors to messages and exit codes (no tracebacks)."""
    try:
        code = fn()
    except ConfigError as exc:
        _fail(EXIT_USAGE, str(exc))
    except LockHeldError as exc:
        _fail(EXIT_LOCKED, str(exc))
    except (FatalAPIError, RetriableAPIError) as exc:
        _fail(EXIT_STOPPED, f"{exc} (the run stopped; rerun later to resume)")
    except ConnectorError as exc:
        _fail(EXIT_STOPPED, str(exc))
    except KeyboardInterrupt:
        _fail(130, "interrupted")
    except Exception as exc:  # a bug: say so plainly, keep the traceback for -vv
        log.debug("internal error", exc_info=True)
        from core.logs import redact

        _fail(
            EXIT_INTERNAL,
            redact(f"internal error: {type(exc).__name__}: {exc} (run with -vv for the traceback)"),
        )
    sys.exit(code)


def _echo_json(payload: Any) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False, indent=2, default=str))


def _parse_date(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD or an ISO 8601 time", param_hint=option
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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


def _command_clock() -> Clock:
    """The system clock, or one starting at $CONNECTOR_NOW (replays and tests; core.clock)."""
    pinned = os.environ.get(NOW_VARIABLE)
    if not pinned:
        return system_clock
    try:
        return clock_from(parse_moment(pinned))
    except ValueError:
        _fail(
            EXIT_USAGE,
            f"environment variable {NOW_VARIABLE}={pinned[:40]!r} is not an ISO 8601 time "
            "(e.g. 2026-11-20T09:00:00Z); unset it to use the system clock",
        )


# ---------------------------------------------------------------------------- sync, backfill


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _echo_json(summary)
        return
    from sync.report import format_summary

    click.echo(format_summary(summary))


@main.command()
@click.option("--dry-run", is_flag=True, help="Plan the writes and print them; write nothing.")
@click.option("--limit", type=click.IntRange(min=1), help="Score and write at most N leads.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.pass_obj
def sync(obj: Context, dry_run: bool, limit: int | None, as_json: bool) -> None:
    """Incremental run: what changed in HubSpot since the last run."""

    def go() -> int:
        from sync.runner import run_once

        summary = run_once(
            obj.settings(), kind="sync", dry_run=dry_run, limit=limit, clock=obj.clock
        )
        _print_summary(summary, as_json)
        return EXIT_RECORDS_FAILED if summary["write_failures"] else EXIT_OK

    run_guarded(go)


@main.command()
@click.option("--since", required=True, help="Start of the history to load (YYYY-MM-DD).")
@click.option("--until", help="End of the history to load (default: now).")
@click.option("--dry-run", is_flag=True, help="Plan the writes and print them; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.pass_obj
def backfill(obj: Context, since: str, until: str | None, dry_run: bool, as_json: bool) -> None:
    """Load history from --since (rerun the same command to resume)."""
    start = _parse_date(since, "--since")
    end = _parse_date(until, "--until")

    def go() -> int:
        from sync.runner import run_once

        summary = run_once(
            obj.settings(), kind="backfill", since=start, until=end, dry_run=dry_run,
            clock=obj.clock,
        )
        _print_summary(summary, as_json)
        return EXIT_RECORDS_FAILED if summary["write_failures"] else EXIT_OK

    run_guarded(go)


@main.command()
@click.option("--dry-run", is_flag=True, help="Plan the writes and print them; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.pass_obj
def rescore(obj: Context, dry_run: bool, as_json: bool) -> None:
    """Score every stored lead again (rule changes, decay); write only what changed."""

    def go() -> int:
        from sync.runner import run_once

        summary = run_once(obj.settings(), kind="rescore", dry_run=dry_run, clock=obj.clock)
        _print_summary(summary, as_json)
        return EXIT_RECORDS_FAILED if summary["write_failures"] else EXIT_OK

    run_guarded(go)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    """Last runs, cursors, dead letters and stored counts."""

    def go() -> int:
        from sync.report import format_status
        from sync.runner import read_status

        data = read_status(obj.settings())
        if as_json:
            _echo_json(data)
        else:
            click.echo(format_status(data))
        return EXIT_OK

    run_guarded(go)


# ---------------------------------------------------------------------------- report


@main.command()
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="HTML file to write (default report.html; not written with only --json/--csv).",
)
@click.option("--since", help="Start (YYYY-MM-DD; default: 26 weeks before --until).")
@click.option("--until", help="End, the moment KPIs are counted to (default: now).")
@click.option(
    "--period", type=click.Choice(["week", "month"]), default="month", show_default=True
)
@click.option("--segment", help="Only leads of one segment: DIMENSION=VALUE, e.g. "
              "industry=manufacturing or channel=PAID_SEARCH.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option(
    "--csv",
    "csv_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also write one CSV per table into this folder.",
)
@click.pass_obj
def report(
    obj: Context,
    out: Path | None,
    since: str | None,
    until: str | None,
    period: str,
    segment: str | None,
    as_json: bool,
    csv_dir: Path | None,
) -> None:
    """Funnel KPIs per period and segment from the stored state: one offline HTML file."""
    start = _parse_date(since, "--since")
    end = _parse_date(until, "--until") or obj.clock()

    def go() -> int:
        from kpi.export import report_dict
        from sync.kpi_source import build_report, write_outputs

        data = build_report(  # state and mappings only: no Salesforce sign-in needed
            obj.settings(salesforce=False), until=end, since=start, period=period,
            segment=segment,
        )
        html_path = out if out is not None or as_json or csv_dir else Path("report.html")
        written = write_outputs(data, html_path=html_path, csv_dir=csv_dir)
        if as_json:
            _echo_json(report_dict(data))
        for path in written:
            click.echo(f"wrote {path}", err=as_json)
        return EXIT_OK

    run_guarded(go)


# ---------------------------------------------------------------------------- dead letters


@main.group()
def dlq() -> None:
    """Records Salesforce rejected: list them, retry them after a fix, or drop them."""


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def dlq_list(obj: Context, as_json: bool) -> None:
    """Open dead letters with Salesforce's error code, message and fields."""

    def go() -> int:
        from sync.dlq import format_dead_letters, list_dead_letters
        from sync.runner import open_store

        with open_store(obj.settings(), create=False) as store:
            rows = list_dead_letters(store)
        if as_json:
            _echo_json(rows)
        else:
            click.echo(format_dead_letters(rows))
        return EXIT_OK

    run_guarded(go)


def _dlq_change(obj: Context, leads: tuple[str, ...], everything: bool, retry: bool) -> None:
    if not leads and not everything:
        raise click.UsageError("name the leads (emails) or pass --all")

    def go() -> int:
        from sync.dlq import drop_dead_letters, retry_dead_letters
        from sync.runner import open_store

        change = retry_dead_letters if retry else drop_dead_letters
        with open_store(obj.settings(), create=False) as store:
            done = change(store, leads, everything=everything)
        verb = "marked for the next run" if retry else "dropped"
        click.echo(f"{len(done)} lead(s) {verb}" + (": " + ", ".join(done) if done else ""))
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


# ---------------------------------------------------------------------------- mappings


@main.group()
def mappings() -> None:
    """Check the rule and field-mapping files admins edit."""


# ---------------------------------------------------------------------------- sandbox, demo


@main.group()
def sandbox() -> None:
    """Local HubSpot and Salesforce API servers for tests and demos."""


@sandbox.command("serve")
@click.option("--hubspot-port", type=int, default=8090, show_default=True)
@click.option("--salesforce-port", type=int, default=8091, show_default=True)
@click.option(
    "--seed", "seed_kind", type=click.Choice(["demo", "none"]), default="demo", show_default=True
)
@click.option("--contacts", type=click.IntRange(min=0), default=500, show_default=True)
@click.option(
    "--hubspot-tier",
    type=click.Choice(["free", "pro", "enterprise", "unlimited"]),
    default="pro",
    show_default=True,
)
@click.option("--faults", default=None, help="e.g. '429=0.05,5xx=0.02,reset=0.01,seed=7'.")
@click.option(
    "--hubspot-token",
    default=None,
    help="Token the HubSpot server accepts (default: pat-sandbox-hubspot-token).",
)
@click.option(
    "--salesforce-session",
    default=None,
    help="Session id the Salesforce server accepts (default: see README).",
)
@click.option(
    "--write-config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a connector config file that points at these servers.",
)
@click.option(
    "--random-seed", type=int, default=42, show_default=True, help="Seed of the synthetic data."
)
@click.option(
    "--now",
    "seed_now",
    default=None,
    help="The moment the synthetic data is generated up to (ISO 8601; default: now). With "
    "--random-seed, two sandboxes given the same --now hold the same data.",
)
@click.pass_obj
def sandbox_serve(
    obj: Context,
    hubspot_port: int,
    salesforce_port: int,
    seed_kind: str,
    contacts: int,
    hubspot_tier: str,
    faults: str | None,
    hubspot_token: str | None,
    salesforce_session: str | None,
    write_config: Path | None,
    random_seed: int,
    seed_now: str | None,
) -> None:
    """Serve both sandboxes until SIGINT or SIGTERM."""
    now = _parse_date(seed_now, "--now")

    def go() -> int:
        from sandbox.serve import SandboxOptions, serve_forever

        return serve_forever(
            SandboxOptions(
                hubspot_port=hubspot_port,
                salesforce_port=salesforce_port,
                seed=seed_kind,
                contacts=contacts,
                tier=hubspot_tier,
                faults=faults,
                hubspot_token=hubspot_token,
                salesforce_session=salesforce_session,
                write_config=write_config,
                random_seed=random_seed,
                now=now,
                clock=obj.clock,
            ),
            announce=click.echo,
        )

    run_guarded(go)


@main.command()
@click.option("--contacts", type=click.IntRange(min=1), default=500, show_default=True)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("demo-out"),
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def demo(obj: Context, contacts: int, workdir: Path, as_json: bool) -> None:
    """Start the sandbox, seed demo data, backfill, then sync incrementally; print a summary."""

    def go() -> int:
        from sandbox.demo import run_demo

        result = run_demo(
            contacts=contacts,
            workdir=workdir,
            echo=None if as_json else click.echo,
            clock=obj.clock,
        )
        if as_json:
            _echo_json(result)
        return EXIT_OK if result["ok"] else EXIT_INTERNAL

    run_guarded(go)


# Commands that live beside the code they drive (imported after `main` exists).
from sync.explain import score as score_commands  # noqa: E402
from sync.online_check import validate as mappings_validate  # noqa: E402
from sync.setup_hubspot import setup_hubspot  # noqa: E402
from sync.setup_salesforce import setup as setup_commands  # noqa: E402

main.add_command(score_commands)
main.add_command(setup_commands)
setup_commands.add_command(setup_hubspot)
mappings.add_command(mappings_validate)

if __name__ == "__main__":  # pragma: no cover
    main()
