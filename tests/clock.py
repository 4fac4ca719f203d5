"""The tests' pinned "now" (see `core.clock`).

Every test that seeds data, runs the connector or builds a report takes its time from a clock
that starts at `TEST_NOW` — never from the machine's clock — so the suite passes on any date.
`CONNECTOR_TEST_NOW` (ISO 8601) moves that moment: CI runs the end-to-end tests again at a
leap day, a year's last seconds and a quarter's end, under a shifted machine clock
(libfaketime), so a stray read of the machine's clock fails the day it is written.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from core.clock import Clock, clock_from, parse_moment

# A Friday morning, mid-quarter: the moment the suite was written against.
DEFAULT_TEST_NOW = "2026-11-20T09:00:00Z"
TEST_NOW = parse_moment(os.environ.get("CONNECTOR_TEST_NOW") or DEFAULT_TEST_NOW)
# The moment the sandboxes' generated data runs up to: a little before the tests run, as in
# life. Not on TEST_NOW itself: the generator places activities whole days back from it, and
# with 30- and 90-day half-lives an exact age makes exact halves, so a score would sit on a
# rounding edge that the seconds a test takes push it over.
DATA_UNTIL = TEST_NOW - timedelta(hours=1, minutes=7, seconds=13)


def pinned_clock() -> Clock:
    """A fresh clock reading `TEST_NOW` now and advancing with real elapsed time."""
    return clock_from(TEST_NOW)


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


# Where the end-to-end backfills start: before the generated history begins (about a year
# back from TEST_NOW), on a midnight as a user would type it.
HISTORY_START = _midnight(TEST_NOW - timedelta(days=690))
# Where the end-to-end reports start: well inside the generated history.
REPORT_START = _midnight(TEST_NOW - timedelta(days=325))
