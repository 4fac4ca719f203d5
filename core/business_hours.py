"""A business-hours calendar for the hand-off SLA (pure: no I/O, no clock; moments are
handed in and returned as aware datetimes).

Open hours are `start`–`end` (default 09:00–18:00) on Monday to Friday in one IANA time zone
(default Asia/Tokyo), except public holidays of `country` (default JP) and the configured
extra closed days (`MM-DD`, every year; default 年末年始, 12-29 to 01-03, the days most
Japanese companies close although only 01-01 is a public holiday).

Japanese holidays come from the `holidays` package (PyPI `holidays`, "Open World Holidays
Framework", pinned `>=0.108,<0.109` in pyproject.toml): its Japan calendar follows the
Cabinet Office's list (内閣府「国民の祝日について」) and includes 振替休日 (substitute
holidays: 2026-05-06) and 国民の休日 (a day between two holidays: 2026-09-22). `jpholiday` has
the same data but covers Japan only; `holidays` is the one more widely kept (monthly
releases) and can serve another `country` later. Asia/Tokyo has had no daylight saving time
since 1951, so open hours are always 9 real hours; other zones are handled by `zoneinfo`
(open hours are counted in real elapsed time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

DEFAULT_ZONE = "Asia/Tokyo"
DEFAULT_START = time(9, 0)
DEFAULT_END = time(18, 0)
# 年末年始: 12-29 .. 01-03 (01-01 is also a public holiday).
DEFAULT_EXTRA_CLOSED = ("12-29", "12-30", "12-31", "01-01", "01-02", "01-03")
# The longest run of closed days the walk in `add_business_hours` accepts before it gives up
# (a calendar closed every day would otherwise never end).
MAX_CLOSED_DAYS = 366


def parse_month_day(text: str) -> tuple[int, int]:
    """'12-29' -> (12, 29); ValueError when it is not a day of some year (02-29 is)."""
    month, sep, day = text.strip().partition("-")
    if not sep or not (month.isdigit() and day.isdigit()) or len(month) != 2 or len(day) != 2:
        raise ValueError(f"{text!r} is not a day written MM-DD")
    date(2024, int(month), int(day))  # a leap year: 02-29 is a valid closed day
    return int(month), int(day)


@lru_cache(maxsize=8)
def _public_holidays(country: str) -> holidays.HolidayBase:
    return holidays.country_holidays(country)  # years are filled in as they are asked for


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    zone: str = DEFAULT_ZONE
    start: time = DEFAULT_START
    end: time = DEFAULT_END
    extra_closed: tuple[tuple[int, int], ...] = tuple(
        parse_month_day(d) for d in DEFAULT_EXTRA_CLOSED
    )
    country: str = "JP"

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError("the working day must end after it starts")
        ZoneInfo(self.zone)  # raises for an unknown zone

    @classmethod
    def build(
        cls,
        zone: str = DEFAULT_ZONE,
        start: time = DEFAULT_START,
        end: time = DEFAULT_END,
        extra_closed: Iterable[str] = DEFAULT_EXTRA_CLOSED,
    ) -> BusinessCalendar:
        return cls(zone, start, end, tuple(parse_month_day(d) for d in extra_closed))

    def is_open_day(self, day: date) -> bool:
        if day.weekday() >= 5:
            return False
        if (day.month, day.day) in self.extra_closed:
            return False
        return day not in _public_holidays(self.country)

    def _window(self, day: date) -> tuple[datetime, datetime]:
        tz = ZoneInfo(self.zone)
        opens = datetime.combine(day, self.start, tzinfo=tz).astimezone(UTC)
        closes = datetime.combine(day, self.end, tzinfo=tz).astimezone(UTC)
        return opens, closes

    def _local_day(self, moment: datetime) -> date:
        if moment.tzinfo is None:
            raise ValueError("business hours need aware datetimes")
        return moment.astimezone(ZoneInfo(self.zone)).date()

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Open time from `start` to `end` (zero when `end` is not after `start`)."""
        total = timedelta(0)
        if end <= start:
            return total
        day, last = self._local_day(start), self._local_day(end)
        while day <= last:
            if self.is_open_day(day):
                opens, closes = self._window(day)
                lo, hi = max(opens, start), min(closes, end)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total

    def business_hours_between(self, start: datetime, end: datetime) -> float:
        """Open hours from `start` to `end`, as a float (0.0 when `end` is not after it)."""
        return self.business_time_between(start, end) / timedelta(hours=1)

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` open hours after `start` (UTC). Zero hours from a closed
        moment is the next opening; a deadline that ends exactly at closing time stays
        there (not the next morning)."""
        if hours < 0:
            raise ValueError("hours must not be negative")
        left = timedelta(hours=hours)
        day = self._local_day(start)
        closed_run = 0
        while True:
            if self.is_open_day(day):
                closed_run = 0
                opens, closes = self._window(day)
                lo = max(opens, start)
                if lo <= closes:
                    available = closes - lo
                    if left <= available:
                        return lo + left
                    left -= available
            else:
                closed_run += 1
                if closed_run > MAX_CLOSED_DAYS:
                    raise ValueError("the calendar has no open day within a year")
            day += timedelta(days=1)
