"""The pipeline's view of Salesforce: resolve leads to records, write records, write Tasks."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace

from connectors.salesforce.client import SalesforceClient, check_record_id
from connectors.salesforce.identity import MatchReport, bulk_identity, match_emails
from connectors.salesforce.records import fetch_by_ids, field_value
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
        self.gone: dict[str, str] = {}  # lead key -> linked record id found gone by resolve()

    def resolve(
        self, emails: Sequence[str], linked: Mapping[str, SalesforceTarget]
    ) -> dict[str, SalesforceTarget]:
        """The Salesforce record of every lead in `emails`: `linked` ones as known from state,
        the others matched by email (unmatched ones are absent from the answer).

        When the field map has `if_blank` / `unless_changed` rules, linked records are read
        (one query per 500 ids per object) for the current values of exactly those fields and
        their current owner. A linked record the read does not return (deleted, merged away)
        or a Lead converted since, is matched again by email at once: the answer's target
        then says `relinked=True` (state's written values describe the old record) and
        `self.gone` names the old id. Without such rules linked records are trusted as they
        are; an update to a vanished record fails and the pipeline forgets the link.
        """
        targets = {email: linked[email] for email in emails if email in linked}
        gone = self._refresh(targets) if targets else []
        to_match = [email for email in emails if email not in linked] + gone
        if to_match:
            matched = self.match(to_match)
            for email in gone:
                if email in matched:
                    targets[email] = replace(matched[email], relinked=True)
            targets.update((e, t) for e, t in matched.items() if e not in linked)
        return targets

    def _refresh(self, targets: dict[str, SalesforceTarget]) -> list[str]:
        """Read the watched fields of linked records in place; the lead keys whose record is
        gone are removed from `targets` and returned."""
        gone: list[str] = []
        for sobject in ("Lead", "Contact"):
            watched = self.field_map.watched_fields(sobject)
            keys = [k for k, t in targets.items() if t.sobject == sobject]
            if not watched or not keys:
                continue
            extra = ["OwnerId", "IsConverted"] if sobject == "Lead" else ["OwnerId"]
            found = fetch_by_ids(
                self.client, sobject, [targets[k].record_id for k in keys], [*extra, *watched]
            )
            for key in keys:
                target = targets[key]
                record = found.get(target.record_id)
                if record is None or field_value(record, "IsConverted"):
                    self.gone[key] = target.record_id
                    log.info(
                        "linked Salesforce record is gone or converted; matching again",
                        extra={"lead": key, "record": target.record_id, "object": sobject},
                    )
                    del targets[key]
                    gone.append(key)
                    continue
                targets[key] = replace(
                    target,
                    owner_id=field_value(record, "OwnerId") or target.owner_id,
                    current={name: field_value(record, name) for name in watched},
                )
        return gone

    def match(self, emails: Sequence[str]) -> dict[str, SalesforceTarget]:
        report = match_emails(
            self.client,
            emails,
            lead_fields=[m.target for m in self.field_map.for_object("Lead")],
            contact_fields=[m.target for m in self.field_map.for_object("Contact")],
            duplicate_rule=self.settings.sync.duplicate_rule,
            batched=True,
        )
        return self._targets_of(report)

    def match_all(self, emails: Sequence[str]) -> dict[str, SalesforceTarget]:
        """`match` for a whole backfill, through Bulk API 2.0 query jobs (a fixed dozen calls
        or so, whatever the number of emails); see `identity.bulk_identity`."""
        report = bulk_identity(
            self.client,
            emails,
            lead_fields=[m.target for m in self.field_map.for_object("Lead")],
            contact_fields=[m.target for m in self.field_map.for_object("Contact")],
            duplicate_rule=self.settings.sync.duplicate_rule,
        )
        return self._targets_of(report)

    def _targets_of(self, report: MatchReport) -> dict[str, SalesforceTarget]:
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
        return write_records(self.client, writes, bulk_threshold=self.settings.sync.bulk_threshold)

    def converted_leads(self, record_ids: Sequence[str]) -> set[str]:
        """Those of these Lead ids Salesforce says are converted (`IsConverted`)."""
        ids = sorted({check_record_id(i) for i in record_ids})
        found: set[str] = set()
        for start in range(0, len(ids), 200):
            quoted = ",".join(f"'{i}'" for i in ids[start : start + 200])
            soql = f"SELECT Id FROM Lead WHERE IsConverted = true AND Id IN ({quoted})"
            found |= {str(r["Id"]) for r in self.client.query(soql)}
        return found

    def delete_leads(self, record_ids: Sequence[str]) -> list[WriteResult]:
        """Delete Leads by Id (sObject Collections delete); one result per id, in order."""
        return [
            WriteResult(rid, r.success, record_id=rid, errors=r.errors)
            for rid, r in zip(record_ids, self.client.delete(list(record_ids)), strict=True)
        ]

    def write_tasks(self, tasks: Sequence[TaskWrite], created: dict[str, str]) -> list[WriteResult]:
        return write_tasks(
            self.client, tasks, created, bulk_threshold=self.settings.sync.bulk_threshold
        )
