"""Connector settings: a TOML file plus `CONNECTOR_*` environment variables.

Precedence (highest first): environment variables (`CONNECTOR_HUBSPOT__ACCESS_TOKEN`, nested
keys joined by `__`), then the TOML file, then defaults. Every secret is a `SecretStr` and can
also come from a file (`access_token_file = "/run/secrets/hubspot"`), so no secret has to sit in
the config file. Relative paths resolve against the config file's folder.

`load_settings` turns every validation problem into one line naming the key, what is wrong and
where it was set (file and line, or the environment variable) and raises one `ConfigError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.errors import ConfigError
from core.tomlfile import dotted, load_toml, where

ENV_PREFIX = "CONNECTOR_"
DEFAULT_CONFIG_NAME = "connector.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def _read_secret_file(path: Path | None, base: Path) -> SecretStr | None:
    if path is None:
        return None
    full = path if path.is_absolute() else base / path
    try:
        return SecretStr(full.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ValueError(f"cannot read secret file {full}: {exc.strerror}") from exc


class HubSpotSettings(_Section):
    access_token: SecretStr | None = Field(
        default=None, description="Private-app access token (pat-...)."
    )
    access_token_file: Path | None = None
    base_url: str = "https://api.hubapi.com"
    tier: Literal["free", "pro", "enterprise", "unlimited"] = "pro"
    daily_budget_share: float = Field(default=0.8, gt=0, le=1)
    overlap_minutes: float = Field(default=5.0, ge=0)
    timeout_seconds: float = Field(default=30.0, gt=0)
    page_view_event_type: str = "e_visited_page"
    # Write score, grade, segment, stage and MQL status/date back onto HubSpot contacts
    # (mappings/hubspot.toml). Off by default: it needs the properties (`connector setup
    # hubspot`) and the crm.objects.contacts.write scope.
    write_back: bool = False
    contact_properties: list[str] = Field(
        default_factory=lambda: [
            "email",
            "firstname",
            "lastname",
            "jobtitle",
            "company",
            "phone",
            "lifecyclestage",
            "hs_lead_status",
            "hs_analytics_source",
            "createdate",
            "lastmodifieddate",
        ]
    )
    company_properties: list[str] = Field(
        default_factory=lambda: [
            "name",
            "domain",
            "industry",
            "numberofemployees",
            "annualrevenue",
            "country",
            "hs_lastmodifieddate",
        ]
    )


class SalesforceSettings(_Section):
    auth: Literal["jwt", "password", "client_credentials", "session"] = "jwt"
    login_url: str = "https://login.salesforce.com"
    instance_url: str | None = None
    api_version: str = "59.0"
    username: str | None = None
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    consumer_secret_file: Path | None = None
    private_key_file: Path | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    security_token: SecretStr | None = None
    session_id: SecretStr | None = None
    session_id_file: Path | None = None
    ca_bundle: Path | None = Field(
        default=None, description="Extra CA certificate file to trust (corporate proxy, sandbox)."
    )
    timeout_seconds: float = Field(default=60.0, gt=0)
    daily_budget_share: float = Field(default=0.5, gt=0, le=1)

    @model_validator(mode="after")
    def _auth_fields_present(self) -> SalesforceSettings:
        needed: dict[str, tuple[str, ...]] = {
            "jwt": ("username", "consumer_key", "private_key_file"),
            "password": ("username", "consumer_key", "consumer_secret", "password"),
            "client_credentials": ("consumer_key", "consumer_secret"),
            "session": ("instance_url", "session_id"),
        }
        missing = [name for name in needed[self.auth] if getattr(self, name) in (None, "")]
        if missing:
            raise ValueError(
                f"auth = {self.auth!r} needs {', '.join(missing)} "
                f"(set them in the file or as {ENV_PREFIX}SALESFORCE__<NAME>)"
            )
        return self


class StateSettings(_Section):
    """SQLite at `path` by default; PostgreSQL when `url` is set (then `path` is not used)."""

    path: Path = Path("state/connector.db")
    url: SecretStr | None = Field(
        default=None,
        description="postgresql://user@host:5432/db; a password in it is never printed.",
    )
    password_file: Path | None = Field(
        default=None, description="File holding the PostgreSQL password, kept out of `url`."
    )

    @field_validator("url")
    @classmethod
    def _url_is_postgresql(cls, url: SecretStr | None) -> SecretStr | None:
        # The value is never echoed: it may hold a password.
        if url is not None and url.get_secret_value().partition("://")[0].lower() not in (
            "postgresql",
            "postgres",
        ):
            raise ValueError(
                "expected a postgresql://user@host/db URL (for SQLite leave url unset, set path)"
            )
        return url

    @model_validator(mode="after")
    def _password_file_needs_url(self) -> StateSettings:
        if self.url is None and self.password_file is not None:
            raise ValueError("password_file is only used with url (PostgreSQL)")
        return self


class SyncSettings(_Section):
    mappings_dir: Path = Path("mappings")
    create_leads_for: Literal["mql", "hot", "all"] = "mql"
    backfill_batch_size: int = Field(default=10_000, ge=100, le=100_000)
    bulk_threshold: int = Field(default=2_000, ge=200)
    initial_lookback_days: int = Field(default=365, ge=1)
    lock_wait_seconds: float = Field(default=0.0, ge=0)
    duplicate_rule: Literal["oldest", "newest", "most_recently_modified"] = "oldest"
    # A lead Salesforce had no record for is not matched again for this many hours (0: every
    # run), except when it is about to get a new Lead (then it is always matched first).
    no_match_recheck_hours: float = Field(default=24.0, ge=0)
    # Pull sales outcomes (Lead status, conversion, opportunities) every run: stages after
    # MQL, the agreement check, precision/recall in `score simulate` (mappings/funnel.toml).
    pull_outcomes: bool = True


class MetricsSettings(_Section):
    """Optional Prometheus metrics of every run."""

    textfile: Path | None = Field(
        default=None, description="node_exporter textfile collector file, e.g. .../connector.prom"
    )
    pushgateway_url: str | None = None


class Settings(BaseSettings):
    """Everything the connector reads from its config file and environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    hubspot: HubSpotSettings = Field(default_factory=HubSpotSettings)
    salesforce: SalesforceSettings
    state: StateSettings = Field(default_factory=StateSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    config_path: Path | None = Field(default=None, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first, then what load_settings read from the TOML file (passed as init).
        return (env_settings, init_settings)

    @property
    def base_dir(self) -> Path:
        return self.config_path.parent if self.config_path else Path.cwd()

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.base_dir / path

    # Secrets, whichever way they were given.
    def hubspot_token(self) -> SecretStr | None:
        return self.hubspot.access_token or _read_secret_file(
            self.hubspot.access_token_file, self.base_dir
        )

    def salesforce_secret(self, name: str) -> SecretStr | None:
        direct = getattr(self.salesforce, name)
        if direct is not None:
            return direct
        return _read_secret_file(getattr(self.salesforce, f"{name}_file", None), self.base_dir)


class _SalesforceUnchecked(SalesforceSettings):
    """The `[salesforce]` section for commands that make no Salesforce call: every key is
    still checked (types, unknown keys), only the sign-in settings may be incomplete."""

    def _auth_fields_present(self) -> _SalesforceUnchecked:  # replaces the parent's check
        return self


class _OfflineSettings(Settings):
    salesforce: _SalesforceUnchecked = Field(default_factory=_SalesforceUnchecked)


def find_config(explicit: Path | None) -> Path | None:
    """The config file to read: --config, else $CONNECTOR_CONFIG, else ./connector.toml."""
    if explicit is not None:
        return explicit
    env = os.environ.get(ENV_PREFIX + "CONFIG")
    if env:
        return Path(env)
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.exists() else None


def load_settings(path: Path | None, *, salesforce: bool = True) -> Settings:
    """Read and validate settings; raise ConfigError with one line per problem.

    `salesforce=False` is for commands that only read the state and the mappings (`report`):
    the Salesforce sign-in settings may then be missing; everything else is checked."""
    data: dict[str, Any] = {}
    text: str | None = None
    if path is not None:
        data = load_toml(path)
        text = path.read_text(encoding="utf-8")
    if "salesforce" not in data and not _env_has_section("SALESFORCE"):
        data["salesforce"] = {}
    try:
        settings = Settings(**data) if salesforce else _OfflineSettings(**data)
    except ValidationError as exc:
        raise ConfigError(
            f"configuration is not valid ({exc.error_count()} problem(s))",
            [_describe(err, path, text) for err in exc.errors()],
        ) from None
    settings.config_path = path.resolve() if path is not None else None
    _check_secret_files(settings, salesforce=salesforce)
    return settings


def _env_has_section(section: str) -> bool:
    prefix = f"{ENV_PREFIX}{section}__"
    return any(key.upper().startswith(prefix) for key in os.environ)


def _describe(err: Any, path: Path | None, text: str | None) -> str:
    loc = tuple(err["loc"])
    key = dotted(loc) or "(top level)"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown setting (check the spelling against config.example.toml)"
    env_name = ENV_PREFIX + "__".join(str(p).upper() for p in loc)
    if env_name in os.environ:
        origin = f"environment variable {env_name}"
    elif path is not None:
        origin = where(path, text, loc)
    else:
        origin = "defaults (no config file)"
    return f"{key}: {message} [{origin}]"


def _check_secret_files(settings: Settings, *, salesforce: bool = True) -> None:
    problems: list[str] = []
    checks: list[tuple[str, Callable[[], SecretStr | None]]] = [
        ("hubspot.access_token_file", settings.hubspot_token)
    ]
    if salesforce:
        checks += [
            ("salesforce.password_file", lambda: settings.salesforce_secret("password")),
            ("salesforce.session_id_file", lambda: settings.salesforce_secret("session_id")),
            (
                "salesforce.consumer_secret_file",
                lambda: settings.salesforce_secret("consumer_secret"),
            ),
        ]
    for label, getter in checks:
        try:
            getter()
        except ValueError as exc:
            problems.append(f"{label}: {exc}")
    if problems:
        raise ConfigError("configuration is not valid", problems)


__all__ = [
    "ENV_PREFIX",
    "HubSpotSettings",
    "SalesforceSettings",
    "Settings",
    "StateSettings",
    "SyncSettings",
    "find_config",
    "load_settings",
]
