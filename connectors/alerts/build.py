"""The configured alert channels from `[alerts]`, and the owner-name lookup the messages use.

One retry policy for every channel (`core.retry`): two tries within `timeout_seconds`, each
request also bounded by it, so one send never holds a run up for much longer than that.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import requests

from connectors.alerts import Channel
from connectors.alerts.slack import SlackChannel
from connectors.alerts.smtp import EmailChannel, SmtpTarget
from connectors.alerts.teams import TeamsChannel
from connectors.alerts.transport import JsonPoster
from connectors.alerts.webhook import WebhookChannel
from core.config import Settings
from core.retry import RetryPolicy

SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def channel_policy(timeout: float) -> RetryPolicy:
    return RetryPolicy(max_attempts=2, max_total_seconds=timeout, base_delay=0.5,
                       max_delay=min(5.0, timeout))


def build_channels(
    settings: Settings, session: requests.Session | None = None
) -> list[Channel]:
    """Slack, Teams, webhook, e-mail: each one whose URL (or smtp_host) is set."""
    cfg = settings.alerts
    http = session or requests.Session()
    policy = channel_policy(cfg.timeout_seconds)
    channels: list[Channel] = []
    for name, build in (
        ("slack", SlackChannel),
        ("teams", TeamsChannel),
        ("webhook", WebhookChannel),
    ):
        key = "webhook_url" if name == "webhook" else f"{name}_webhook_url"
        url = settings.alert_secret(key)
        if url is not None:
            poster = JsonPoster(name, url.get_secret_value(), http, cfg.timeout_seconds, policy)
            channels.append(build(poster))
    if cfg.smtp_host:
        password = settings.alert_secret("smtp_password")
        target = SmtpTarget(
            host=cfg.smtp_host,
            port=cfg.port,
            security=cfg.smtp_security,
            sender=cfg.smtp_from or "",
            recipients=tuple(cfg.smtp_to),
            username=cfg.smtp_username,
            password=password.get_secret_value() if password is not None else None,
            ca_file=str(settings.resolve(cfg.smtp_ca_bundle)) if cfg.smtp_ca_bundle else None,
        )
        channels.append(EmailChannel(target, cfg.timeout_seconds, policy))
    return channels


def _in_list(ids: Sequence[str]) -> str:
    return ",".join(f"'{i}'" for i in ids)


def owner_reader(
    query: Callable[[str], Iterator[dict[str, Any]]],
) -> Callable[[Sequence[tuple[str, str]]], Mapping[str, str]]:
    """Record Id -> its owner's name, for (sobject, record Id) pairs: one SOQL query per
    object for the OwnerIds as they are now (a Lead the run created, reassigned records),
    then one on User for the names. Ids are checked before they go into a query; a record
    whose owner is not a User (a queue) is left out."""

    def names(records: Sequence[tuple[str, str]]) -> Mapping[str, str]:
        owners: dict[str, str] = {}
        for sobject in ("Lead", "Contact"):
            ids = sorted({i for s, i in records if s == sobject and SALESFORCE_ID.match(i)})
            if ids:
                soql = f"SELECT Id, OwnerId FROM {sobject} WHERE Id IN ({_in_list(ids)})"
                owners |= {r["Id"]: r["OwnerId"] for r in query(soql) if r.get("OwnerId")}
        users = sorted({o for o in owners.values() if SALESFORCE_ID.match(o)})
        if not users:
            return {}
        soql = f"SELECT Id, Name FROM User WHERE Id IN ({_in_list(users)})"
        name_of = {r["Id"]: r["Name"] for r in query(soql) if r.get("Name")}
        return {rid: name_of[o] for rid, o in owners.items() if o in name_of}

    return names
