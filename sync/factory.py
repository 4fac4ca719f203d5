"""Builds a `Pipeline` from `Settings`: the one place that knows every concrete adapter."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.constants import SEARCH_PER_SECOND
from connectors.hubspot.extract import HubSpotSource
from connectors.hubspot.forms import FormRules
from connectors.salesforce.client import SalesforceClient
from core.config import Settings
from core.errors import ConfigError
from core.logs import register_secret
from scoring import Rules, load_rules
from sync.alerts import AlertOutbox
from sync.fieldmap import FieldMap, load_field_map
from sync.pipeline import Pipeline
from sync.rule_versions import fingerprint, load_shadow, shadow_folder
from sync.score_tracking import ScoreTracking, ShadowRules
from sync.scorer import RulesScorer
from sync.sink import SalesforceSink
from sync.state import StateStore

log = logging.getLogger("connector.sync")
if TYPE_CHECKING:
    from sync.deletions import Deletions


def previous_searches(runs: list[dict[str, Any]], per_second: int) -> list[float]:
    """When (epoch seconds) the last finished run's searches may still count in HubSpot's
    1-second search window, from `StateStore.runs` (newest first; the current run, not
    finished, is skipped). A run that recorded them (`hubspot_recent_searches`) says; one
    that stopped without a summary counts as having searched `per_second` times as it
    finished (`finished_at` is to the second: at its end)."""
    for run in runs:
        if not run.get("finished_at"):
            continue
        summary = run.get("summary") or {}
        if "hubspot_recent_searches" in summary:
            return [float(s) for s in summary["hubspot_recent_searches"]]
        finished = datetime.fromisoformat(run["finished_at"]).timestamp() + 1.0
        return [finished] * per_second
    return []


def _union(first: list[str], more: list[str]) -> list[str]:
    return list(dict.fromkeys([*first, *more]))


def _register_url(url: str) -> None:
    """A webhook URL, and its path and query on their own (urllib3 logs the request line)."""
    parts = urlsplit(url)
    register_secret(url)
    register_secret(parts.path if len(parts.path) > 12 else None)
    register_secret(parts.query if len(parts.query) > 12 else None)


def _secrets(settings: Settings) -> None:
    token = settings.hubspot_token()
    if token is not None:
        register_secret(token.get_secret_value())
    for name in ("password", "security_token", "session_id", "consumer_secret"):
        secret = settings.salesforce_secret(name)
        if secret is not None:
            register_secret(secret.get_secret_value())
    for name in ("slack_webhook_url", "teams_webhook_url", "webhook_url"):
        url = settings.alert_secret(name)
        if url is not None:
            _register_url(url.get_secret_value())
    password = settings.alert_secret("smtp_password")
    if password is not None:
        register_secret(password.get_secret_value())


def build_alerts(
    settings: Settings, store: StateStore, salesforce: SalesforceClient
) -> AlertOutbox | None:
    """The alert step when `[alerts]` configures a channel; None otherwise."""
    from connectors.alerts.build import build_channels, owner_reader
    from connectors.alerts.message import record_url

    channels = build_channels(settings)
    if not channels:
        return None
    cfg = settings.alerts
    return AlertOutbox(
        store=store,
        channels=channels,
        language=cfg.language,
        zone=cfg.zone,
        max_attempts=cfg.max_attempts,
        retry_base=timedelta(minutes=cfg.retry_base_minutes),
        run_budget_seconds=cfg.run_budget_seconds,
        owner_names=owner_reader(salesforce.query),
        record_url=lambda sobject, record_id: record_url(
            salesforce.instance_url, sobject, record_id
        ),
        sla_hours=settings.sla.first_touch_hours if settings.sync.pull_outcomes else 0.0,
        calendar=settings.sla.calendar(),
    )


def build_tracking(settings: Settings, folder: Path) -> ScoreTracking:
    """The live rules' version and the shadow, if `[shadow] rules_dir` names one whose
    files differ from the live ones (once promoted, the same files: no shadow runs)."""
    live = fingerprint(folder)
    shadow_dir = shadow_folder(settings)
    if shadow_dir is None:
        return ScoreTracking(live)
    rules, version = load_shadow(shadow_dir)
    if version.version == live.version:
        log.info("shadow rules are the live rules (promoted): no shadow scoring",
                 extra={"version": version.version})
        return ScoreTracking(live)
    return ScoreTracking(live, ShadowRules(RulesScorer(rules), version))


@contextmanager
def build_pipeline(
    settings: Settings,
    store: StateStore,
    *,
    clock: Callable[[], datetime],
) -> Iterator[Pipeline]:
    _secrets(settings)
    folder = settings.resolve(settings.sync.mappings_dir)
    rules = load_rules(folder)
    field_map = load_field_map(folder)
    forms = FormRules.load(folder / "forms.toml")
    token = settings.hubspot_token()
    if token is None:
        raise ConfigError(
            "configuration is not valid",
            [
                "hubspot.access_token: not set (or set CONNECTOR_HUBSPOT__ACCESS_TOKEN, "
                "or hubspot.access_token_file)"
            ],
        )
    # Read every HubSpot property a field mapping names, not only the configured list.
    wanted = settings.hubspot.model_copy(
        update={
            "contact_properties": _union(
                settings.hubspot.contact_properties, field_map.hubspot_properties("contact")
            ),
            "company_properties": _union(
                settings.hubspot.company_properties, field_map.hubspot_properties("company")
            ),
        }
    )
    hubspot = HubSpotClient(wanted, token)
    hubspot.assume_searches(previous_searches(store.runs(3), SEARCH_PER_SECOND[wanted.tier] or 0))
    salesforce = SalesforceClient(settings)
    source = HubSpotSource(hubspot, forms, wanted)
    write_back = None
    if settings.hubspot.write_back:  # score, stage, ... onto HubSpot contacts too
        from connectors.hubspot.writeback import HubSpotContactWriter
        from sync.hubspot_writeback import HubSpotWriteBack

        write_back = HubSpotWriteBack.build(store, HubSpotContactWriter(hubspot), folder, rules)
    outcomes = None
    if settings.sync.pull_outcomes:  # the stages after MQL (mappings/funnel.toml)
        from connectors.salesforce.outcomes import OutcomeReader
        from sync.outcomes import OutcomeSync, load_funnel

        funnel = load_funnel(folder)
        outcomes = OutcomeSync(
            store,
            OutcomeReader(salesforce, funnel.outcome_fields()),
            funnel,
            call_count=lambda: salesforce.total_calls,
            clock=clock,
        )
    sink = SalesforceSink(salesforce, field_map, settings)
    deletions = _deletions(settings, store, source, sink, folder, rules, field_map)
    yield Pipeline(
        store=store,
        source=source,
        sink=sink,
        scorer=RulesScorer(rules),
        field_map=field_map,
        clock=clock,
        call_counts=lambda: (hubspot.total_calls, salesforce.total_calls),
        bulk_backfill_from=settings.sync.bulk_threshold,
        no_match_recheck=timedelta(hours=settings.sync.no_match_recheck_hours)
        if settings.sync.no_match_recheck_hours > 0
        else None,
        budget=lambda: {
            "hubspot_daily_used": hubspot.daily_used,
            "hubspot_daily_limit": hubspot.daily_limit,
            "salesforce_daily_used": (salesforce.api_usage or (None, None))[0],
            "salesforce_daily_limit": (salesforce.api_usage or (None, None))[1],
        },
        rate_limited=lambda: dict(hubspot.rate_limited),
        recent_searches=hubspot.recent_searches,
        while_waiting=source.while_waiting,
        write_back=write_back,
        outcomes=outcomes,
        alerts=build_alerts(settings, store, salesforce),
        tracking=build_tracking(settings, folder),
        accounts=build_accounts(settings, store, rules, salesforce, hubspot, folder),
        deletions=deletions,
    )


def build_accounts(settings: Settings, store: StateStore, rules: Any, salesforce: Any,
                   hubspot: Any, folder: Any) -> Any:
    """The account pass when `[accounts] enabled`; ConfigError when the rules lack
    `[account]`."""
    if not settings.accounts.enabled:
        return None
    from connectors.hubspot.writeback import HubSpotContactWriter
    from connectors.salesforce.accounts import SalesforceAccounts
    from scoring.accounts import AccountModel
    from sync.account_pass import AccountPass

    section = rules.scoring.account
    if section is None:
        raise ConfigError(
            f"accounts.enabled: {folder}/scoring.toml has no [account] section "
            "(see docs/accounts.md)"
        )
    return AccountPass(
        store,
        AccountModel.from_section(section),
        salesforce=SalesforceAccounts(salesforce) if settings.accounts.write_salesforce
        else None,
        hubspot=HubSpotContactWriter(hubspot, object_type="companies")
        if settings.accounts.write_hubspot else None,
        batch_size=settings.accounts.batch_size,
    )


def _deletions(
    settings: Settings,
    store: StateStore,
    source: HubSpotSource,
    sink: SalesforceSink,
    folder: Path,
    rules: Rules,
    field_map: FieldMap,
) -> Deletions:
    """Archive, merge, erasure and retention (sync.deletions) as the settings say."""
    from sync.deletions import DeletionPolicy, Deletions, retention_days
    from sync.outcomes import load_funnel

    funnel = load_funnel(folder)
    lost = list(funnel.lost.lead_statuses)
    hours = settings.sync.reconcile_hours
    policy = DeletionPolicy(
        on_archive=settings.sync.on_archive,
        erase_in_salesforce=settings.sync.erase_in_salesforce,
        reconcile_every=timedelta(hours=hours) if hours > 0 else None,
        mql_fields=(funnel.salesforce.mql_status_field, funnel.salesforce.mql_date_field),
        disqualified_status=lost[0] if lost else None,
        written_fields={
            s: tuple(m.target for m in field_map.for_object(s)) for s in ("Lead", "Contact")
        },
    )
    return Deletions(
        store=store,
        source=source,
        writer=sink,
        policy=policy,
        rules=rules,
        retention=retention_days(settings.state.activity_retention_days, rules),
        merged_on_read=lambda: dict(source.merged_ids),
    )
