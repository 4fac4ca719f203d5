"""The pipeline's view of Salesforce: resolve leads to records, write records, write Tasks."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.identity import match_emails
from connectors.salesforce.writer import write_records, write_tasks
from core.config import Settings
from core.plan import RecordWrite, TaskWrite, WriteResult
from sync.fieldmap import FieldMap
from sync.plan import SalesforceTarget

log = logging.getLogger("connector.salesforce")


class SalesforceSink:
    """The pipeline's view of Salesforce: match by email, write records, write Tasks."""

    def __init__(self, client: SalesforceClient, field_map: FieldMap, settings: Settings) -> None:
        self.client = client
        self.field_map = field_map
        self.settings = settings
        self.duplicates: dict[str, list[str]] = {}

    def resolve(
        self, emails: Sequence[str], linked: Mapping[str, SalesforceTarget]
    ) -> dict[str, SalesforceTarget]:
        """The Salesforce record of every lead in `emails`: `linked` ones as known from state,
        the others matched by email (unmatched ones are absent from the answer)."""
        targets = {email: linked[email] for email in emails if email in linked}
        unlinked = [email for email in emails if email not in linked]
        if unlinked:
            targets.update(self.match(unlinked))
        return targets

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

    def write_tasks(self, tasks: Sequence[TaskWrite], created: dict[str, str]) -> list[WriteResult]:
        return write_tasks(self.client, tasks, created)
