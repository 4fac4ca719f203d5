"""`[sla]` settings: defaults, the calendar they build, problems named by key (exit 2)."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from core.config import load_settings
from core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def load(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    config = tmp_path / "connector.toml"
    config.write_text("[sla]\n" + body, encoding="utf-8")
    return load_settings(config, salesforce=False)


def test_given_no_sla_section_four_business_hours_in_tokyo_apply(tmp_path: Path) -> None:
    sla = load(tmp_path, "").sla
    assert sla.first_touch_hours == 4.0
    cal = sla.calendar()
    assert (cal.zone, cal.start, cal.end) == ("Asia/Tokyo", time(9), time(18))
    assert not cal.is_open_day(date(2026, 12, 30))


def test_given_the_example_config_its_sla_section_validates() -> None:
    assert load_settings(ROOT / "config.example.toml").sla.extra_closed_days[0] == "12-29"


def test_given_custom_hours_and_days_the_calendar_follows_them(tmp_path: Path) -> None:
    sla = load(
        tmp_path,
        'first_touch_hours = 2\nworkday_start = "10:00"\nworkday_end = 17:30:00\n'
        'extra_closed_days = ["08-13"]\n',
    ).sla
    cal = sla.calendar()
    assert (cal.start, cal.end) == (time(10), time(17, 30))
    assert not cal.is_open_day(date(2026, 8, 13))
    assert cal.is_open_day(date(2026, 12, 29))


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('extra_closed_days = ["12/29"]\n', "extra_closed_days"),
        ('timezone = "Tokyo"\n', "timezone"),
        ('workday_start = "18:00"\nworkday_end = "09:00"\n', "sla"),
        ("first_touch_hours = -1\n", "first_touch_hours"),
    ],
)
def test_given_a_bad_value_the_error_names_the_key(tmp_path: Path, body: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body)
    assert key in str(caught.value)
