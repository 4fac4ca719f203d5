from pathlib import Path

import pytest

from core.config import load_settings
from core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

SESSION_CONFIG = """
[salesforce]
auth = "session"
instance_url = "https://example.my.salesforce.com"
session_id = "00Dxx!secret-session"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connector.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_given_shipped_example_config_it_validates() -> None:
    settings = load_settings(ROOT / "config.example.toml")
    assert settings.salesforce.auth == "jwt"
    assert settings.hubspot.tier == "pro"


def test_given_several_mistakes_each_is_reported_with_key_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[hubspot]\ntier = "gold"\nacess_token = "x"\n\n[salesforce]\nauth = "jwt"\n'
        'username = "u@example.com"\n\n[sync]\nbatch_size = 500\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    problems = caught.value.problems
    assert len(problems) == 4
    assert any("hubspot.tier" in p and f"{path}:2" in p for p in problems)
    assert any(
        "hubspot.acess_token" in p and "unknown setting" in p and f"{path}:3" in p for p in problems
    )
    assert any("consumer_key, private_key_file" in p and f"{path}:5" in p for p in problems)
    assert any("sync.batch_size" in p and f"{path}:10" in p for p in problems)


def test_given_toml_syntax_error_message_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[hubspot]\ntier = "pro\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value) and "line 2" in str(caught.value)


def test_given_environment_variable_it_overrides_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, SESSION_CONFIG + '\n[hubspot]\ntier = "free"\n')
    monkeypatch.setenv("CONNECTOR_HUBSPOT__TIER", "enterprise")
    monkeypatch.setenv("CONNECTOR_HUBSPOT__ACCESS_TOKEN", "pat-from-env")
    settings = load_settings(path)
    assert settings.hubspot.tier == "enterprise"
    assert settings.hubspot_token().get_secret_value() == "pat-from-env"


def test_given_bad_environment_value_message_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_HUBSPOT__TIER", "gold")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, SESSION_CONFIG))
    assert "environment variable CONNECTOR_HUBSPOT__TIER" in str(caught.value)


def test_given_secret_file_token_is_read_from_it(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("pat-in-file\n")
    settings = load_settings(
        write(tmp_path, SESSION_CONFIG + '\n[hubspot]\naccess_token_file = "token"\n')
    )
    assert settings.hubspot_token().get_secret_value() == "pat-in-file"


def test_given_missing_secret_file_error_names_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, SESSION_CONFIG + '\n[hubspot]\naccess_token_file = "nope"\n'))
    assert "hubspot.access_token_file" in str(caught.value)


def test_secrets_never_appear_in_settings_repr_or_dump(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, SESSION_CONFIG))
    assert "secret-session" not in repr(settings)
    assert "secret-session" not in settings.model_dump_json()


def test_given_no_salesforce_section_only_commands_without_salesforce_calls_load(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, '[hubspot]\ntier = "free"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)  # sync, backfill, ...: the sign-in settings are required
    assert any("salesforce" in p and "username" in p for p in caught.value.problems)

    settings = load_settings(path, salesforce=False)  # report: state and mappings only

    assert settings.hubspot.tier == "free" and settings.salesforce.username is None


def test_given_no_salesforce_calls_every_other_salesforce_key_is_still_checked(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, '[salesforce]\nauth = "oauth"\ntimeout_secs = 3\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, salesforce=False)
    text = "\n".join(caught.value.problems)
    assert "salesforce.auth" in text and "salesforce.timeout_secs: unknown setting" in text


def test_given_no_api_version_hubspot_defaults_to_2026_09(tmp_path: Path) -> None:
    path = write(tmp_path, SESSION_CONFIG)
    assert load_settings(path).hubspot.api_version == "2026-09"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-10", "March and September only"),
        ("2026-9", "YYYY-MM"),
        ("v3", "YYYY-MM"),
        ("2025-03", "first date-based"),
    ],
)
def test_given_bad_hubspot_api_version_config_error_names_the_key(
    tmp_path: Path, value: str, expected: str
) -> None:
    path = write(tmp_path, SESSION_CONFIG + f'\n[hubspot]\napi_version = "{value}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "hubspot.api_version" in str(caught.value) and expected in str(caught.value)
