"""`[alerts]` settings: secrets as SecretStr or *_file, problems named without the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_settings
from core.errors import ConfigError

TOKEN = "T0/B0/very-secret-token"


def load(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    config = tmp_path / "connector.toml"
    config.write_text("[alerts]\n" + body, encoding="utf-8")
    return load_settings(config, salesforce=False)


def test_given_a_webhook_url_file_the_url_is_read_from_it_as_a_secret(tmp_path: Path) -> None:
    (tmp_path / "slack.url").write_text(f"https://hooks.slack.com/services/{TOKEN}\n")
    settings = load(tmp_path, 'slack_webhook_url_file = "slack.url"\nlanguage = "en"\n')
    url = settings.alert_secret("slack_webhook_url")
    assert url is not None and url.get_secret_value().endswith(TOKEN)
    assert TOKEN not in repr(settings.alerts) and settings.alerts.zone == "UTC"


def test_given_an_http_webhook_url_the_error_names_the_key_not_the_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f'teams_webhook_url = "http://example.com/{TOKEN}"\n')
    assert "alerts.teams_webhook_url" in str(caught.value) and TOKEN not in str(caught.value)
    assert "connector.toml" in str(caught.value)


def test_given_a_bad_url_in_a_file_the_error_names_the_file_key(tmp_path: Path) -> None:
    (tmp_path / "hook.url").write_text(f"ftp://example.com/{TOKEN}")
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, 'webhook_url_file = "hook.url"\n')
    assert "alerts.webhook_url_file" in str(caught.value) and TOKEN not in str(caught.value)


def test_given_smtp_host_without_recipients_it_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, 'smtp_host = "smtp.example.jp"\nsmtp_from = "a@example.jp"\n')
    assert "smtp_to" in str(caught.value)


def test_given_an_unknown_time_zone_it_is_refused_and_ja_defaults_to_tokyo(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, 'timezone = "Asia/Tokio"\n')
    assert "alerts.timezone" in str(caught.value)
    assert load(tmp_path, 'language = "ja"\n').alerts.zone == "Asia/Tokyo"
    assert load(tmp_path, 'smtp_security = "ssl"\n').alerts.port == 465
