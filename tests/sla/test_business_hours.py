"""The hand-off SLA's business-hours calendar (core.business_hours): JST working days,
Japanese public holidays, 年末年始, leap days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from core.business_hours import BusinessCalendar, parse_month_day

JST = timezone(timedelta(hours=9))
CAL = BusinessCalendar.build()


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=JST)


def test_given_a_friday_afternoon_four_hours_land_on_monday_morning() -> None:
    # Fri 2026-12-04 16:00 JST: 2 hours left that day, 2 more from Monday 09:00.
    assert CAL.add_business_hours(jst(2026, 12, 4, 16), 4) == jst(2026, 12, 7, 11)
    assert CAL.business_hours_between(jst(2026, 12, 4, 16), jst(2026, 12, 7, 11)) == 4.0


def test_given_a_weekend_between_no_hours_count_on_saturday_and_sunday() -> None:
    assert CAL.business_hours_between(jst(2026, 12, 5, 10), jst(2026, 12, 6, 17)) == 0.0


def test_given_a_public_holiday_it_is_closed() -> None:
    # 2026-11-23 (Mon) 勤労感謝の日: Friday 17:00 + 2h is Tuesday 10:00.
    assert not CAL.is_open_day(date(2026, 11, 23))
    assert CAL.add_business_hours(jst(2026, 11, 20, 17), 2) == jst(2026, 11, 24, 10)


def test_given_a_substitute_holiday_and_a_citizens_holiday_both_are_closed() -> None:
    assert not CAL.is_open_day(date(2026, 5, 6))  # 振替休日 (5/3 was a Sunday)
    assert not CAL.is_open_day(date(2026, 9, 22))  # 国民の休日, between two holidays
    assert CAL.is_open_day(date(2026, 5, 7))


def test_given_the_new_year_break_the_deadline_moves_to_january_fourth() -> None:
    # Mon 12-28 17:00 JST: 1h that day, 12-29..01-03 closed, then Mon 01-04.
    assert CAL.add_business_hours(jst(2026, 12, 28, 17), 4) == jst(2027, 1, 4, 12)
    assert CAL.business_hours_between(jst(2026, 12, 28, 18), jst(2027, 1, 4, 9)) == 0.0


def test_given_no_extra_closed_days_year_end_weekdays_are_open() -> None:
    plain = BusinessCalendar.build(extra_closed=())
    assert plain.is_open_day(date(2026, 12, 29))
    assert not plain.is_open_day(date(2027, 1, 1))  # 元日 is a public holiday anyway


def test_given_a_leap_day_it_counts_as_a_working_day() -> None:
    # 2028-02-29 is a Tuesday.
    assert CAL.add_business_hours(jst(2028, 2, 28, 17), 4) == jst(2028, 2, 29, 12)
    assert CAL.business_hours_between(jst(2028, 2, 28, 0), jst(2028, 3, 1, 0)) == 18.0


def test_given_a_closed_extra_leap_day_it_is_closed_only_in_leap_years() -> None:
    cal = BusinessCalendar.build(extra_closed=["02-29"])
    assert not cal.is_open_day(date(2028, 2, 29))
    assert cal.is_open_day(date(2028, 2, 28))


def test_given_utc_inputs_hours_are_counted_in_tokyo_time() -> None:
    # 2026-12-07 00:00 UTC is 09:00 JST Monday; JST has no DST: 9 hours a day all year.
    start = datetime(2026, 12, 7, 0, tzinfo=UTC)
    assert CAL.add_business_hours(start, 9) == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert CAL.business_hours_between(jst(2026, 7, 6, 0), jst(2026, 7, 7, 0)) == 9.0


def test_given_a_start_before_opening_counting_starts_at_nine() -> None:
    assert CAL.add_business_hours(jst(2026, 12, 7, 6), 1) == jst(2026, 12, 7, 10)
    assert CAL.add_business_hours(jst(2026, 12, 7, 18), 0) == jst(2026, 12, 7, 18)
    assert CAL.add_business_hours(jst(2026, 12, 7, 19), 0) == jst(2026, 12, 8, 9)


def test_given_custom_hours_the_window_follows_them() -> None:
    cal = BusinessCalendar.build(start=time(10), end=time(12))
    assert cal.add_business_hours(jst(2026, 12, 7, 11), 3) == jst(2026, 12, 8, 12)


def test_given_end_before_start_no_hours_pass() -> None:
    assert CAL.business_hours_between(jst(2026, 12, 8), jst(2026, 12, 7)) == 0.0


@pytest.mark.parametrize("text", ["1229", "13-01", "02-30", "12-1", "ab-cd"])
def test_given_a_malformed_closed_day_it_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_month_day(text)


def test_given_a_day_that_ends_before_it_starts_the_calendar_is_refused() -> None:
    with pytest.raises(ValueError):
        BusinessCalendar.build(start=time(18), end=time(9))


def test_given_naive_moments_they_are_refused() -> None:
    with pytest.raises(ValueError):
        CAL.business_hours_between(datetime(2026, 12, 7, 9), datetime(2026, 12, 7, 10))
