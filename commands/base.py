"""What every command shares: exit codes, the typed context, the error-to-exit-code guard,
JSON output and date options.

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
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from core.clock import NOW_VARIABLE, Clock, clock_from, parse_moment, system_clock
from core.errors import (
    ConfigError,
    ConnectorError,
    FatalAPIError,
    LockHeldError,
    RetriableAPIError,
)

if TYPE_CHECKING:
    from core.config import Settings

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_RECORDS_FAILED = 3
EXIT_LOCKED = 4
EXIT_STOPPED = 5

log = logging.getLogger("connector.cli")


class Context:
    """What the `connector` group hands every command: where the config is, how loud to be,
    and the one clock (`core.clock`) every command takes "now" from."""

    def __init__(
        self, config_path: Path | None, verbosity: int, clock: Clock = system_clock
    ) -> None:
        self.config_path = config_path
        self.verbosity = verbosity
        self.clock = clock

    def settings(self, *, salesforce: bool = True) -> Settings:
        """The settings; `salesforce=False` for commands that make no Salesforce call (the
        sign-in settings may then be missing)."""
        from core.config import find_config, load_settings

        return load_settings(find_config(self.config_path), salesforce=salesforce)


pass_context = click.make_pass_decorator(Context)


def fail(code: int, message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def run_guarded(fn: Callable[[], int]) -> None:
    """Call `fn`; map the connector's errors to messages and exit codes (no tracebacks)."""
    try:
        code = fn()
    except ConfigError as exc:
        fail(EXIT_USAGE, str(exc))
    except LockHeldError as exc:
        fail(EXIT_LOCKED, str(exc))
    except (FatalAPIError, RetriableAPIError) as exc:
        fail(EXIT_STOPPED, f"{exc} (the run stopped; rerun later to resume)")
    except ConnectorError as exc:
        fail(EXIT_STOPPED, str(exc))
    except KeyboardInterrupt:
        fail(130, "interrupted")
    except Exception as exc:  # a bug: say so plainly, keep the traceback for -vv
        log.debug("internal error", exc_info=True)
        from core.logs import redact

        fail(
            EXIT_INTERNAL,
            redact(f"internal error: {type(exc).__name__}: {exc} (run with -vv for the traceback)"),
        )
    sys.exit(code)


def echo_json(payload: Any) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False, indent=2, default=str))


def parse_date(value: str | None, option: str) -> datetime | None:
    """An option's ISO 8601 date or time (a bare date is midnight UTC), or a usage error."""
    if value is None:
        return None
    try:
        return parse_moment(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD or an ISO 8601 time", param_hint=option
        ) from None


def command_clock() -> Clock:
    """The system clock, or one starting at $CONNECTOR_NOW (replays and tests; core.clock)."""
    pinned = os.environ.get(NOW_VARIABLE)
    if not pinned:
        return system_clock
    try:
        return clock_from(parse_moment(pinned))
    except ValueError:
        fail(
            EXIT_USAGE,
            f"environment variable {NOW_VARIABLE}={pinned[:40]!r} is not an ISO 8601 time "
            "(e.g. 2026-11-20T09:00:00Z); unset it to use the system clock",
        )
