"""The one source of "now": every stage that needs the time is handed a `Clock`.

A `Clock` is a zero-argument callable returning an aware UTC `datetime`. Production code takes
`system_clock`; tests, replays and the demo take `clock_from(moment)`, which starts at a pinned
moment and advances with real elapsed time (monotonic), so everything that runs under it —
sandboxes, scoring, cursors, reports — agrees on the date whatever the wall clock says.

Durations (rate limiting, timeouts, backoff) are not "now": they keep `time.monotonic`. Nor are
transport stamps — a JWT bearer assertion's `exp`, a TLS certificate's validity, HubSpot's
rolling search window: the services check those against real time, so they read the machine's
clock, and so do the sandboxes where they check them (`sandbox/salesforce/oauth.py`).

`CONNECTOR_NOW` (ISO 8601, read by the command line's entry only) starts the command's clock
at that moment: for replaying a run as it would have happened then, and for tests that pin
the date. It is not for production runs against live APIs, whose cursors must follow real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]

NOW_VARIABLE = "CONNECTOR_NOW"


def system_clock() -> datetime:
    """The machine's clock, in UTC."""
    return datetime.now(UTC)


def clock_from(moment: datetime) -> Clock:
    """A clock that reads `moment` now and advances with real elapsed (monotonic) time."""
    if moment.tzinfo is None:
        raise ValueError("a pinned moment must carry a time zone (e.g. 2026-11-20T09:00:00Z)")
    start = moment.astimezone(UTC)
    origin = time.monotonic()

    def now() -> datetime:
        return start + timedelta(seconds=time.monotonic() - origin)

    return now


def fixed_clock(moment: datetime) -> Clock:
    """A clock that always reads `moment`: for comparing runs that must score at one instant."""
    if moment.tzinfo is None:
        raise ValueError("a pinned moment must carry a time zone (e.g. 2026-11-20T09:00:00Z)")
    pinned = moment.astimezone(UTC)
    return lambda: pinned


def epoch_seconds(clock: Clock) -> Callable[[], float]:
    """The same clock as POSIX seconds, for the sandboxes' servers."""
    return lambda: clock().timestamp()


def parse_moment(text: str) -> datetime:
    """An ISO 8601 moment (`Z` accepted; a bare date is midnight UTC); ValueError otherwise."""
    value = text.strip()
    if not value:
        raise ValueError("empty")
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
