"""Connector settings: a TOML file plus `CONNECTOR_*` environment variables.

Precedence (highest first): environment variables (`CONNECTOR_HUBSPOT__ACCESS_TOKEN`, nested
keys joined by `__`), then the TOML file, then defaults. Every secret is a `SecretStr` and can
also come from a file (`access_token_file = "/run/secrets/hubspot"`), so no secret has to sit in
the config file. Relative paths resolve against the config file's folder.

`load_settings` turns every validation problem into one line naming the key, what is wrong and
where it was set (file and line, or the environment variable) and raises one `ConfigError`:
unknown sections and keys (with the closest known one suggested, ignoring case: `[SYNC]` ->
"did you mean 'sync'?"), malformed environment variables (`core.envsource`; a list can be
written `email,firstname`), and paths that cannot be used (`core.paths`) included.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from core.business_hours import DEFAULT_EXTRA_CLOSED, BusinessCalendar, parse_month_day
from core.envsource import EnvReading, read_env
from core.errors import ConfigError
from core.paths import Expect, shape_problem, shown, use_problem
from core.suggest import unknown_key
from core.tomlfile import dotted, load_toml, where

ENV_PREFIX = "CONNECTOR_"
DEFAULT_CONFIG_NAME = "connector.toml"
NOT_FROM_FILES = ("config_path",)  # a field of Settings that no file or variable sets

log = logging.getLogger("connector.config")


def _usable(path: Path) -> Path:
    problem = shape_problem(path)
    if problem is not None:
        raise ValueError(f"path {problem}")
    return path


# A path the operating system can take at all (no NUL byte, within PATH_MAX and NAME_MAX);
# whether it names a file or a folder is checked once the config file's folder is known.
UsablePath = Annotated[Path, AfterValidator(_usable)]


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


# HubSpot's date-based API versions: `/api-name/YYYY-MM/resource`, one release each March and
# September (developer changelog, "Legacy APIs and Apps: What's Going Unsupported and When";
# the first dated release in HubSpot-public-api-spec-collection is 2025-09).
HUBSPOT_API_VERSION_DEFAULT = "2026-09"
HUBSPOT_FIRST_DATED_VERSION = "2025-09"


def _hubspot_api_version(value: str) -> str:
    text = value.strip()
    year, dash, month = text.partition("-")
    if not (dash and len(year) == 4 and year.isdigit() and len(month) == 2 and month.isdigit()):
        raise ValueError(
            f"must be a HubSpot API version written YYYY-MM, e.g. "
            f"{HUBSPOT_API_VERSION_DEFAULT!r} (got {value!r})"
        )
    if month not in ("03", "09"):
        raise ValueError(
            f"HubSpot releases API versions in March and September only: use {year}-03 or "
            f"{year}-09 (got {value!r})"
        )
    if text < HUBSPOT_FIRST_DATED_VERSION:
        raise ValueError(
            f"the first date-based HubSpot API version is {HUBSPOT_FIRST_DATED_VERSION} "
            f"(got {value!r})"
        )
    return text


class HubSpotStreams(_Section):
    """Which activity streams a run reads (`[hubspot.streams]`); each can be switched off.

    A stream HubSpot refuses with 403 (tier, missing scope) or 404 is skipped with a warning
    and the run goes on (connectors/hubspot/streams.py). Page views come from the events API
    (Enterprise only) or, below it, are derived from the contacts' analytics properties
    (connectors/hubspot/visits.py): `page_views_from` = "auto" tries the events API and falls
    back, "events" never derives, "analytics" never calls the events API.
    """

    email_events: bool = True
    form_submissions: bool = True
    webinars: bool = True
    page_views: bool = True
    meetings: bool = True
    page_views_from: Literal["auto", "events", "analytics"] = "auto"

    def enabled(self, stream: str) -> bool:
        return bool(getattr(self, stream))


class HubSpotSettings(_Section):
    access_token: SecretStr | None = Field(
        default=None,
        description="Service Key, legacy private-app token or project-based app token.",
    )
    access_token_file: UsablePath | None = None
    # The client secret of the project-based app whose webhooks `connector serve` receives:
    # it verifies each request's X-HubSpot-Signature-v3 (docs/service.md). Never logged.
    client_secret: SecretStr | None = None
    client_secret_file: UsablePath | None = None
    # What kind of credential `access_token` is: it changes only the advice given when HubSpot
    # refuses it (where to find it, which scopes to tick); all three are sent the same way,
    # as `Authorization: Bearer <token>`.
    auth_kind: Literal["service_key", "private_app", "app"] = "service_key"
    api_version: Annotated[str, AfterValidator(_hubspot_api_version)] = (
        HUBSPOT_API_VERSION_DEFAULT
    )
    base_url: str = "https://api.hubapi.com"
    tier: Literal["free", "pro", "enterprise", "unlimited"] = "pro"
    daily_budget_share: float = Field(default=0.8, gt=0, le=1)
    overlap_minutes: float = Field(default=5.0, ge=0)
    timeout_seconds: float = Field(default=30.0, gt=0)
    page_view_event_type: str = "e_visited_page"
    streams: HubSpotStreams = Field(default_factory=HubSpotStreams)
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


# The login hosts every org shares; the JWT bearer `aud` must be one of these two (or an
# Experience Cloud site URL), and the client-credentials flow is refused on them.
GENERIC_LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")
PRODUCTION_AUDIENCE = "https://login.salesforce.com"
SANDBOX_AUDIENCE = "https://test.salesforce.com"


def _host(url: str) -> str:
    return (urlsplit(url.strip()).hostname or "").lower()


def default_audience(login_url: str) -> str:
    """The JWT bearer `aud` for a login URL: https://test.salesforce.com for sandbox orgs
    (test.salesforce.com, `*.sandbox.my.salesforce.com` My Domains), else
    https://login.salesforce.com -- also for a production My Domain, which Salesforce does
    not accept as an audience ("audience is invalid")."""
    host = _host(login_url)
    if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com"):
        return SANDBOX_AUDIENCE
    return PRODUCTION_AUDIENCE


class SalesforceSettings(_Section):
    auth: Literal["jwt", "password", "client_credentials", "session"] = "jwt"
    login_url: str = "https://login.salesforce.com"
    # JWT bearer `aud`; unset: derived from login_url (`default_audience`). Set it only for an
    # Experience Cloud site (https://acme.my.site.com/customers).
    audience: str | None = None
    # Send `Sforce-Duplicate-Rule-Header: allowSave=true`, so active duplicate rules whose
    # action is "Alert" let the connector's Lead creates through ("Block" rules still refuse).
    duplicate_rule_allow_save: bool = False
    instance_url: str | None = None
    api_version: str = "59.0"
    username: str | None = None
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    consumer_secret_file: UsablePath | None = None
    private_key_file: UsablePath | None = None
    password: SecretStr | None = None
    password_file: UsablePath | None = None
    security_token: SecretStr | None = None
    session_id: SecretStr | None = None
    session_id_file: UsablePath | None = None
    ca_bundle: UsablePath | None = Field(
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
        if self.auth == "client_credentials" and _host(self.login_url) in GENERIC_LOGIN_HOSTS:
            raise ValueError(
                f"auth = 'client_credentials' needs login_url = your My Domain URL "
                f"(https://<MyDomainName>.my.salesforce.com, Setup > My Domain); Salesforce "
                f"refuses this flow on {_host(self.login_url)} "
                f'("request not supported on this domain")'
            )
        if self.audience is not None:
            aud_host = _host(self.audience)
            if not self.audience.startswith("https://") or not aud_host:
                raise ValueError(
                    f"audience must be an https:// URL ({PRODUCTION_AUDIENCE}, "
                    f"{SANDBOX_AUDIENCE} or an Experience Cloud site URL)"
                )
            if aud_host.endswith(".my.salesforce.com"):
                raise ValueError(
                    f"audience {self.audience!r} is a My Domain URL, which Salesforce refuses "
                    f"as a JWT audience; use {default_audience(self.audience)} "
                    "(or leave audience unset: it is derived from login_url)"
                )
        return self

    def jwt_audience(self) -> str:
        """The `aud` of JWT bearer assertions: `audience` if set, else from `login_url`."""
        return (self.audience or default_audience(self.login_url)).rstrip("/")


class StateSettings(_Section):
    """SQLite at `path` by default; PostgreSQL when `url` is set (then `path` is not used)."""

    path: UsablePath = Path("state/connector.db")
    url: SecretStr | None = Field(
        default=None,
        description="postgresql://user@host:5432/db; a password in it is never printed.",
    )
    password_file: UsablePath | None = Field(
        default=None, description="File holding the PostgreSQL password, kept out of `url`."
    )
    # deletions: raw activities older than this are deleted at the end of a run. None: the
    # minimum the scoring rules allow (`scoring.retention`); a value below it is refused when
    # the rules are loaded (`sync.deletions.retention_days`).
    activity_retention_days: int | None = Field(default=None, ge=1)

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
    mappings_dir: UsablePath = Path("mappings")
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
    # deletions (docs/deletions.md): what Salesforce gets when a contact is archived in
    # HubSpot, and when a person is erased; how often known ids are reconciled (hours).
    on_archive: Literal["keep", "clear_mql", "mark_disqualified"] = "keep"
    erase_in_salesforce: Literal["none", "clear_fields", "delete_created_leads"] = "none"
    reconcile_hours: float = Field(default=24.0, ge=0)


class ServeSettings(_Section):
    """`connector serve`: the webhook receiver, the sync loop, health and metrics."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # The URL HubSpot calls (the app's webhook targetUrl), when a reverse proxy stands between:
    # HubSpot signs that URL, not the one the request reaches this process with.
    webhook_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    # The full incremental sync, the safety net for webhooks that never came.
    poll_minutes: float = Field(default=15.0, gt=0)
    # A webhook's hand-off pass starts this long after the last webhook of a burst...
    debounce_seconds: float = Field(default=2.0, ge=0)
    # ...but never later than this after the burst's first one.
    debounce_max_seconds: float = Field(default=10.0, gt=0)
    # dashboard: the token a browser must show when `host` is not loopback (docs/dashboard.md).
    dashboard_token: SecretStr | None = None
    dashboard_token_file: UsablePath | None = None
    # dashboard (`connector dashboard`, no sync loop): how often the runs table is read for a
    # finished run to push to open pages.
    dashboard_poll_seconds: float = Field(default=2.0, gt=0, le=300)

    @model_validator(mode="after")
    def _one_token(self) -> ServeSettings:
        if self.dashboard_token is not None and self.dashboard_token_file is not None:
            raise ValueError("set dashboard_token or dashboard_token_file, not both")
        return self


def iana_zone(zone: str) -> str:
    """`zone` if it names an IANA time zone, else a ValueError that says what is expected."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {zone!r}: use an IANA name such as 'Asia/Tokyo'"
        ) from None
    return zone


def webhook_url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook URL, without echoing it (it holds the channel's token):
    https, or http to this machine only (a relay or a test receiver on loopback)."""
    parts = urlsplit(url.strip())
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1"):
        return None
    return "expected an https:// URL (http:// only to localhost); the value is not shown"


class UiSettings(_Section):
    """`[ui]`: the language and time zone of the dashboard, the report, the CLI summaries and
    (unless `[alerts]` sets its own) the alerts. Language default: the locale (LC_ALL,
    LC_MESSAGES, LANG starting with "ja" is Japanese, else English); time zone default:
    Asia/Tokyo in Japanese, UTC in English."""

    language: Literal["ja", "en"] = None  # type: ignore[assignment]  # from the locale
    timezone: str = None  # type: ignore[assignment]  # from the language

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: Any) -> Any:
        from core.i18n import language_from_locale

        return language_from_locale(os.environ) if value is None else value

    @field_validator("timezone", mode="before")
    @classmethod
    def _timezone(cls, value: Any, info: ValidationInfo) -> Any:
        from core.i18n import default_zone

        if value is None:
            return default_zone(info.data.get("language") or "en")
        return iana_zone(value) if isinstance(value, str) else value


class AlertSettings(_Section):
    """Hot-lead alerts (`[alerts]`, docs/alerts.md): one per configured channel for each new
    MQL episode, exactly once. A channel is on when its URL (or `smtp_host`) is set."""

    # Unset: [ui]'s language and time zone (Settings fills them in).
    language: Literal["ja", "en"] = None  # type: ignore[assignment]
    # IANA time zone of the dates in the messages; default Asia/Tokyo for ja, UTC for en.
    timezone: str | None = None

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: Any) -> Any:
        from core.i18n import language_from_locale

        return language_from_locale(os.environ) if value is None else value
    slack_webhook_url: SecretStr | None = None
    slack_webhook_url_file: UsablePath | None = None
    teams_webhook_url: SecretStr | None = None
    teams_webhook_url_file: UsablePath | None = None
    webhook_url: SecretStr | None = None
    webhook_url_file: UsablePath | None = None
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)  # 587 / 465 / 25 by security
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_password_file: UsablePath | None = None
    smtp_from: str | None = None
    smtp_to: list[str] = Field(default_factory=list)
    smtp_ca_bundle: UsablePath | None = None
    max_attempts: int = Field(default=5, ge=1, le=100)
    retry_base_minutes: float = Field(default=5.0, ge=0)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    run_budget_seconds: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("slack_webhook_url", "teams_webhook_url", "webhook_url")
    @classmethod
    def _webhook_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None:
            problem = webhook_url_problem(url.get_secret_value())
            if problem is not None:
                raise ValueError(problem)
        return url

    @field_validator("timezone")
    @classmethod
    def _zone(cls, zone: str | None) -> str | None:
        return None if zone is None else iana_zone(zone)

    @model_validator(mode="after")
    def _smtp_complete(self) -> AlertSettings:
        if self.smtp_host and not (self.smtp_from and self.smtp_to):
            raise ValueError("smtp_host needs smtp_from and smtp_to (at least one address)")
        if not self.smtp_host and (self.smtp_to or self.smtp_from):
            raise ValueError("smtp_to/smtp_from are set but smtp_host is not")
        if self.smtp_password is not None and self.smtp_password_file is not None:
            raise ValueError("set smtp_password or smtp_password_file, not both")
        return self

    @property
    def zone(self) -> str:
        return self.timezone or ("Asia/Tokyo" if self.language == "ja" else "UTC")

    @property
    def port(self) -> int:
        return self.smtp_port or {"starttls": 587, "ssl": 465, "none": 25}[self.smtp_security]


class SlaSettings(_Section):
    """The hand-off SLA (`[sla]`, docs/alerts.md "Hand-off SLA"): sales' first touch of an
    MQL within `first_touch_hours` business hours, else one escalation alert per channel.
    Business hours: `workday_start`-`workday_end`, Monday to Friday in `timezone`, without
    Japanese public holidays and `extra_closed_days` (MM-DD, every year; default 年末年始)."""

    first_touch_hours: float = Field(default=4.0, ge=0, le=1000)  # 0: no escalations
    timezone: str = "Asia/Tokyo"
    workday_start: time = time(9, 0)
    workday_end: time = time(18, 0)
    extra_closed_days: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EXTRA_CLOSED)
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, zone: str) -> str:
        return iana_zone(zone)

    @field_validator("extra_closed_days")
    @classmethod
    def _days(cls, days: list[str]) -> list[str]:
        for day in days:
            parse_month_day(day)  # ValueError names the day
        return days

    @model_validator(mode="after")
    def _day_order(self) -> SlaSettings:
        if self.workday_start >= self.workday_end:
            raise ValueError("workday_end must be after workday_start")
        return self

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar.build(
            self.timezone, self.workday_start, self.workday_end, self.extra_closed_days
        )


class MetricsSettings(_Section):
    """Optional Prometheus metrics of every run."""

    textfile: UsablePath | None = Field(
        default=None, description="node_exporter textfile collector file, e.g. .../connector.prom"
    )
    pushgateway_url: str | None = None


class ShadowSettings(_Section):
    """A candidate rule set scored beside the live one (docs/scoring-versions.md): stored,
    compared, never written. Unset: no shadow. The folder is checked when a run or a
    `score` command uses it (it must load as a rule set; problems name file:line)."""

    rules_dir: UsablePath | None = None


class AccountSettings(_Section):
    """Account scores and buying groups (docs/accounts.md); the rules are `[account]` in
    `mappings/scoring.toml`."""

    enabled: bool = False
    # Write Account_Score__c, Engaged_Contacts__c, Buying_Group__c onto the Salesforce Account.
    write_salesforce: bool = True
    # Write connector_account_score, ... onto the HubSpot company (`setup hubspot` creates
    # them; needs crm.objects.companies.write).
    write_hubspot: bool = False
    batch_size: int = Field(default=200, ge=1, le=200)


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
    serve: ServeSettings = Field(default_factory=ServeSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    sla: SlaSettings = Field(default_factory=SlaSettings)
    shadow: ShadowSettings = Field(default_factory=ShadowSettings)
    accounts: AccountSettings = Field(default_factory=AccountSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
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
        return (_EnvSource(settings_cls), init_settings)

    @model_validator(mode="after")
    def _alerts_follow_ui(self) -> Settings:
        """[alerts] language/timezone default to [ui]'s when unset."""
        given = self.alerts.model_fields_set
        update: dict[str, Any] = {}
        if "language" not in given:
            update["language"] = self.ui.language
        if "timezone" not in given and (update or self.alerts.language == self.ui.language):
            update["timezone"] = self.ui.timezone
        if update:
            self.alerts = self.alerts.model_copy(update=update)
        return self

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

    def hubspot_client_secret(self) -> SecretStr | None:
        return self.hubspot.client_secret or _read_secret_file(
            self.hubspot.client_secret_file, self.base_dir
        )

    def salesforce_secret(self, name: str) -> SecretStr | None:
        direct = getattr(self.salesforce, name)
        if direct is not None:
            return direct
        return _read_secret_file(getattr(self.salesforce, f"{name}_file", None), self.base_dir)

    def dashboard_token(self) -> SecretStr | None:
        return self.serve.dashboard_token or _read_secret_file(
            self.serve.dashboard_token_file, self.base_dir
        )

    def alert_secret(self, name: str) -> SecretStr | None:
        """`slack_webhook_url`, `teams_webhook_url`, `webhook_url` or `smtp_password` of
        `[alerts]`, given directly or in its `*_file`."""
        direct = getattr(self.alerts, name)
        if direct is not None:
            return direct
        return _read_secret_file(getattr(self.alerts, f"{name}_file"), self.base_dir)


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
    model: type[Settings] = Settings if salesforce else _OfflineSettings
    environment = read_environment(model)
    for warning in environment.warnings:
        log.warning(warning)
    if environment.problems:
        raise ConfigError("configuration is not valid", environment.problems)
    data: dict[str, Any] = {}
    text: str | None = None
    problems: list[str] = []
    if path is not None:
        data = load_toml(path)
        text = path.read_text(encoding="utf-8")
        problems = _drop_unknown_keys(data, model, path, text)
    if "salesforce" not in data and "salesforce" not in environment.values:
        data["salesforce"] = {}
    try:
        settings = model(**data)
    except ValidationError as exc:
        problems += [_describe(err, path, text, environment) for err in exc.errors()]
    except SettingsError as exc:  # last resort: a settings source failed; name the variables
        names = ", ".join(sorted(set(environment.origins.values()))) or "none set"
        problems.append(f"the environment could not be read ({exc}; {ENV_PREFIX}* variables: "
                        f"{names})")
    except RecursionError:
        problems.append("values nested too deeply")
    if problems:
        raise ConfigError(f"configuration is not valid ({len(problems)} problem(s))", problems)
    settings.config_path = path.resolve() if path is not None else None

    def where_set(loc: tuple[str, str]) -> str:
        return _origin(loc, path, text, environment)

    _check_paths(settings, where_set)
    _check_secret_files(settings, where_set, salesforce=salesforce)
    return settings


def read_environment(model: type[BaseModel] = Settings) -> EnvReading:
    """The `CONNECTOR_*` variables as settings, with their problems (see core.envsource)."""
    return read_env(model, os.environ, ENV_PREFIX, skip=NOT_FROM_FILES)


class _EnvSource(PydanticBaseSettingsSource):
    """Settings from `CONNECTOR_*` variables (core.envsource): comma-separated lists, JSON
    sections, case-insensitive names. `load_settings` reports their problems first; here
    only the values are taken."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # not used: __call__ reads every variable at once

    def __call__(self) -> dict[str, Any]:
        return read_environment(self.settings_cls).values


def _drop_unknown_keys(
    data: dict[str, Any], model: type[BaseModel], path: Path, text: str
) -> list[str]:
    """A problem for each section and key of the file that names no setting (removed from
    `data`, so that each is reported once, with the closest known name)."""
    problems = []
    sections = {n: f.annotation for n, f in model.model_fields.items()
                if n not in NOT_FROM_FILES}
    for name in list(data):
        if name not in sections:
            problems.append(_unknown(name, sections, (name,), path, text))
            del data[name]
            continue
        section, keys = data[name], _fields_of(sections[name])
        if isinstance(section, dict) and keys:
            for key in list(section):
                if key not in keys:
                    problems.append(_unknown(key, keys, (name, key), path, text))
                    del section[key]
    return problems


def _fields_of(annotation: Any) -> list[str]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _unknown(name: str, known: Any, loc: tuple[str, ...], path: Path, text: str) -> str:
    hint = unknown_key(name, known).removeprefix(f"unknown key {name!r}")
    return f"{dotted(loc)}: unknown setting{hint} [{where(path, text, loc)}]"


def _describe(
    err: Any, path: Path | None, text: str | None, environment: EnvReading | None = None
) -> str:
    loc = tuple(err["loc"])
    key = dotted(loc) or "(top level)"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown setting (check the spelling against config.example.toml)"
    return f"{key}: {message} [{_origin(loc, path, text, environment)}]"


def _origin(
    loc: tuple[str | int, ...], path: Path | None, text: str | None,
    environment: EnvReading | None,
) -> str:
    """Where the setting at `loc` was given: the variable, else the file and line."""
    variable = environment.origin(loc) if environment is not None else None
    if variable is not None:
        return f"environment variable {variable}"
    if path is not None:
        return where(path, text, loc)
    return "defaults (no config file)"


# Each path setting and what it must name; the folder that holds a file the connector
# creates (the state file, the metrics file) must be a folder too.
_PATHS: tuple[tuple[str, str, Expect, bool], ...] = (
    ("hubspot", "access_token_file", "file", False),
    ("hubspot", "client_secret_file", "file", False),
    ("salesforce", "consumer_secret_file", "file", False),
    ("salesforce", "private_key_file", "file", False),
    ("salesforce", "password_file", "file", False),
    ("salesforce", "session_id_file", "file", False),
    ("salesforce", "ca_bundle", "file", False),
    ("state", "path", "file", True),
    ("state", "password_file", "file", False),
    ("sync", "mappings_dir", "folder", False),
    ("metrics", "textfile", "file", True),
    ("serve", "dashboard_token_file", "file", False),
    ("alerts", "slack_webhook_url_file", "file", False),
    ("alerts", "teams_webhook_url_file", "file", False),
    ("alerts", "webhook_url_file", "file", False),
    ("alerts", "smtp_password_file", "file", False),
    ("alerts", "smtp_ca_bundle", "file", False),
)


def _check_paths(settings: Settings, where_set: Callable[[tuple[str, str]], str]) -> None:
    """Every path setting checked before use, resolved against the config file's folder."""
    problems = []
    for section, key, expect, created in _PATHS:
        value = getattr(getattr(settings, section), key)
        if value is None or (section == "state" and key == "path" and settings.state.url):
            continue
        full = settings.resolve(value)
        problem = use_problem(full, expect)
        if problem is None and created:
            parent = use_problem(full.parent, "folder")
            problem = None if parent is None else f"its folder {parent}"
        if problem is not None:
            problems.append(f"{section}.{key}: {shown(full)} {problem} "
                            f"[{where_set((section, key))}]")
    if problems:
        raise ConfigError("configuration is not valid", problems)


def _check_secret_files(
    settings: Settings, where_set: Callable[[tuple[str, str]], str], *, salesforce: bool = True
) -> None:
    problems: list[str] = []
    checks: list[tuple[tuple[str, str], Callable[[], SecretStr | None]]] = [
        (("hubspot", "access_token_file"), settings.hubspot_token),
        (("hubspot", "client_secret_file"), settings.hubspot_client_secret),
    ]
    if salesforce:
        checks += [
            (("salesforce", "password_file"), lambda: settings.salesforce_secret("password")),
            (("salesforce", "session_id_file"), lambda: settings.salesforce_secret("session_id")),
            (
                ("salesforce", "consumer_secret_file"),
                lambda: settings.salesforce_secret("consumer_secret"),
            ),
        ]
    checks.append((("serve", "dashboard_token_file"), settings.dashboard_token))
    checks.append(
        (("alerts", "smtp_password_file"), lambda: settings.alert_secret("smtp_password"))
    )
    for loc, getter in checks:
        try:
            getter()
        except ValueError as exc:
            problems.append(f"{dotted(loc)}: {exc} [{where_set(loc)}]")
    for name in ("slack_webhook_url", "teams_webhook_url", "webhook_url"):
        loc = ("alerts", f"{name}_file")
        try:
            url = settings.alert_secret(name)
        except ValueError as exc:
            problems.append(f"{dotted(loc)}: {exc} [{where_set(loc)}]")
            continue
        problem = webhook_url_problem(url.get_secret_value()) if url is not None else None
        if problem is not None and getattr(settings.alerts, name) is None:
            problems.append(f"{dotted(loc)}: {problem} [{where_set(loc)}]")
    if problems:
        raise ConfigError("configuration is not valid", problems)


__all__ = [
    "ENV_PREFIX",
    "AlertSettings",
    "HubSpotSettings",
    "SalesforceSettings",
    "ServeSettings",
    "Settings",
    "StateSettings",
    "SyncSettings",
    "UiSettings",
    "find_config",
    "load_settings",
]
