"""Builds a `Pipeline` from `Settings`: the one place that knows every concrete adapter."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.extract import HubSpotSource
from connectors.hubspot.forms import FormRules
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.identity import match_emails
from connectors.salesforce.writer import write_records, write_tasks
from core.config import Settings
from core.errors import ConfigError
from core.logs import register_secret
from core.plan import RecordWrite, TaskWrite, WriteResult
from scoring import load_rules
from sync.fieldmap import FieldMap, load_field_map
from sync.pipeline import Pipeline
from sync.plan import SalesforceTarget
from sync.scorer import RulesScorer
from sync.state import StateStore

log = logging.getLogger("connector.salesforce")


class SalesforceSink:
    """The pipeline's view of Salesforce: match by email, write records, write Tasks."""

    def __init__(self, client: SalesforceClient, field_map: FieldMap, settings: Settings) -> None:
        self.client = client
        self.field_map = field_map
        self.settings = settings
        self.duplicates: dict[str, list[str]] = {}

    def match(self, emails: Sequence[str]) -> dict[str, SalesforceTarget]:
        lead_fields = [m.target for m in self.field_map.for_object("Lead")]
        contact_fields = [m.target for m in self.field_map.for_object("Contact")]
        report = match_emails(
            self.client,
            emails,
            lead_fields=lead_fields,
            contact_fields=contact_fields,
            duplicate_rule=self.settings.sync.duplicate_rule,
        )
        for email, ids in report.duplicates.items():
            log.warning(
                "several Salesforce records share one email; writing to the first",
                extra={"email": email, "records": ids, "rule": self.settings.sync.duplicate_rule},
            )
        self.duplicates.update(report.duplicates)
        return {
            email: SalesforceTarget(m.sobject, m.record_id, m.owner_id, dict(m.fields))
            for email, m in report.matches.items()
        }

    def write_records(self, writes: Sequence[RecordWrite]) -> list[WriteResult]:
        return write_records(self.client, writes)

    def write_tasks(
        self, tasks: Sequence[TaskWrite], created: dict[str, str]
    ) -> list[WriteResult]:
        return write_tasks(self.client, tasks, created)


def _secrets(settings: Settings) -> None:
    token = settings.hubspot_token()
    if token is not None:
        register_secret(token.get_secret_value())
    for name in ("password", "security_token", "session_id", "consumer_secret"):
        secret = settings.salesforce_secret(name)
        if secret is not None:
            register_secret(secret.get_secret_value())


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
            ["hubspot.access_token: not set (or set CONNECTOR_HUBSPOT__ACCESS_TOKEN, "
             "or hubspot.access_token_file)"],
        )
    hubspot = HubSpotClient(settings.hubspot, token)
    salesforce = SalesforceClient(settings)
    source = HubSpotSource(hubspot, forms, settings.hubspot)
    yield Pipeline(
        store=store,
        source=source,
        sink=SalesforceSink(salesforce, field_map, settings),
        scorer=RulesScorer(rules),
        field_map=field_map,
        clock=clock,
        call_counts=lambda: (hubspot.total_calls, salesforce.total_calls),
    )
