"""The one clock (`core.clock`) and how the command line's entry sets it (`CONNECTOR_NOW`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import click
import pytest
from click.testing import CliRunner

import cli
from commands.base import Context
from core.clock import NOW_VARIABLE, clock_from, epoch_seconds, fixed_clock, parse_moment

MOMENT = datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)


def test_given_a_pinned_moment_the_clock_starts_there_and_advances_with_real_time() -> None:
    clock = clock_from(MOMENT)
    first = clock()
    time.sleep(0.02)
    second = clock()
    assert MOMENT <= first < MOMENT + timedelta(seconds=1)
    assert second - first >= timedelta(seconds=0.02)
    assert second.tzinfo is UTC


def test_given_a_moment_in_another_zone_the_clock_reads_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    clock = fixed_clock(datetime(2027, 1, 1, 8, 30, tzinfo=tokyo))
    assert clock() == datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert epoch_seconds(clock)() == clock().timestamp()


def test_given_a_naive_moment_the_clock_refuses_it() -> None:
    with pytest.raises(ValueError, match="time zone"):
        clock_from(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2028-02-29T23:59:59Z", MOMENT),
        ("2028-03-01T08:59:59+09:00", MOMENT),
        ("2028-02-29", datetime(2028, 2, 29, tzinfo=UTC)),
    ],
)
def test_given_iso_text_parse_moment_reads_an_aware_utc_time(text: str, expected: datetime) -> None:
    assert parse_moment(text) == expected


def test_given_connector_now_the_commands_clock_starts_at_that_moment(tmp_path) -> None:
    seen: list[datetime] = []

    @cli.main.command("clock-probe")
    @click.pass_obj
    def probe(obj: Context) -> None:
        seen.append(obj.clock())

    try:
        result = CliRunner().invoke(
            cli.main, ["clock-probe"], env={NOW_VARIABLE: "2028-02-29T23:59:59Z"}
        )
    finally:
        cli.main.commands.pop("clock-probe")
    assert result.exit_code == 0, result.output
    assert MOMENT <= seen[0] < MOMENT + timedelta(seconds=5)


def test_given_a_malformed_connector_now_the_command_exits_2_naming_the_variable() -> None:
    result = CliRunner().invoke(
        cli.main, ["status"], env={NOW_VARIABLE: "next tuesday"}
    )
    assert result.exit_code == 2
    assert NOW_VARIABLE in result.output and "ISO 8601" in result.output
