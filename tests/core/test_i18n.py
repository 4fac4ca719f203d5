"""`core.i18n` (the message catalogue and formats) and `[ui]` with its defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.config import load_settings
from core.errors import ConfigError
from core.i18n import MESSAGES, language_from_locale, moment, money, number, t


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "ja_JP.UTF-8"}, "ja"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "ja_JP.UTF-8"}, "en"),
        ({"LC_MESSAGES": "ja_JP", "LANG": "en_US"}, "ja"),
        ({"LC_ALL": "", "LANG": "ja"}, "ja"),
    ],
)
def test_given_locale_variables_the_first_set_decides_the_language(environ, expected) -> None:
    assert language_from_locale(environ) == expected


def test_given_the_seed_kpi_names_the_japanese_labels_are_theirs() -> None:
    assert [t(k, "ja") for k in ("mql_rate", "sql_rate", "win_rate", "opportunity_rate")] == [
        "MQL率", "SQL率", "受注率", "商談化率",
    ]  # fmt: skip
    assert t("cost_per_lead", "ja").startswith("CPL")
    assert all(en and ja for en, ja in MESSAGES.values())


def test_given_yen_the_amount_has_no_decimals_and_thousands_separators() -> None:
    assert money("1234567.40", "JPY") == "¥1,234,567"
    assert money("1234.5", "USD") == "1,234 USD"
    assert number(1234567) == "1,234,567"


def test_given_a_utc_moment_it_is_shown_in_the_users_zone() -> None:
    at = datetime(2026, 12, 6, 20, 30, tzinfo=UTC)
    assert moment(at, "ja", "Asia/Tokyo") == "2026/12/07 05:30 (JST)"
    assert moment(at, "en", "UTC") == "2026-12-06 20:30 UTC"


def _load(tmp_path: Path, body: str, monkeypatch: pytest.MonkeyPatch, lang: str):  # type: ignore[no-untyped-def]
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", lang)
    config = tmp_path / "connector.toml"
    config.write_text(body, encoding="utf-8")
    return load_settings(config, salesforce=False)


def test_given_a_japanese_locale_ui_and_alerts_default_to_ja_in_tokyo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _load(tmp_path, "", monkeypatch, "ja_JP.UTF-8")
    assert (s.ui.language, s.ui.timezone, s.alerts.language, s.alerts.zone) == (
        "ja", "Asia/Tokyo", "ja", "Asia/Tokyo",
    )  # fmt: skip
    s = _load(tmp_path, "", monkeypatch, "C.UTF-8")
    assert (s.ui.language, s.ui.timezone, s.alerts.language, s.alerts.zone) == (
        "en", "UTC", "en", "UTC",
    )  # fmt: skip


def test_given_alerts_settings_they_win_over_ui(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = '[ui]\nlanguage = "en"\ntimezone = "Europe/Paris"\n[alerts]\nlanguage = "ja"\n'
    s = _load(tmp_path, body, monkeypatch, "C")
    assert (s.ui.language, s.alerts.language, s.alerts.zone) == ("en", "ja", "Asia/Tokyo")
    s = _load(tmp_path, '[ui]\ntimezone = "Europe/Paris"\n', monkeypatch, "C")
    assert s.alerts.zone == "Europe/Paris"


def test_given_a_bad_ui_setting_the_error_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, '[ui]\ntimezone = "Asia/Tokio"\n', monkeypatch, "C")
    assert "ui.timezone" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, '[ui]\nlanguage = "fr"\n', monkeypatch, "C")
    assert "ui.language" in str(caught.value)
