"""The connector forgets what HubSpot forgets (issue #18): archive, restore, merge and erasure,
applied once per run after extraction, and activity retention at the run's end.

Where the events come from:
- `contact_changes` queued by `connector serve` from the webhooks `contact.deletion`
  (archive), `contact.restore`, `contact.merge` and `contact.privacyDeletion` (erase);
- the archived listing (`GET /crm/objects/2026-09/contacts?archived=true`, records carry
  `archivedAt`; the spec has no filter or order on it, so each run reads the list and keeps
  what was archived since its cursor `archived_contacts` minus the overlap);
- merges noticed on read (`HubSpotSource.merged_ids`: a merged-away id answered with the
  survivor, which lists it in `hs_merged_object_ids`);
- reconciliation of every stored id (`connector sync --reconcile`, or when the last one is
  older than `sync.reconcile_hours`): a batch read, then a batch read with `archived=true` of
  the ids not found; not found there either = gone for good (GDPR delete, or archived more
  than 90 days ago), which is erased here too.

What Salesforce gets follows the settings (docs/deletions.md): `sync.on_archive` (`keep`,
`clear_mql`: the MQL status and date fields of mappings/funnel.toml set to empty,
`mark_disqualified`: a Lead's `Status` set to the first of funnel.toml's `[lost]
lead_statuses`, the status before kept to be put back on restore; a Contact has no Lead status
and is left as it is) and `sync.erase_in_salesforce` (`none`: the record is never written
again, since the lead is gone from the state; `clear_fields`: every field the field map writes
on that record set to empty first; `delete_created_leads`: the linked Lead deleted when the
connector created it (`created_leads`, recorded since this release) and it is not converted;
anything else left as with `none`). Only linked records (`links`) are ever touched. A policy
write Salesforce refuses is kept and retried by each run (`sync.deletion_writes`).
Logs name HubSpot ids, never an erased person's address.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from core.errors import ConfigError, RecordError, RetriableAPIError
from core.plan import RecordWrite, WriteError, WriteResult
from scoring import Rules
from scoring.retention import kinds_to_prune, minimum_retention_days
from sync.deletion_writes import PendingWrite
from sync.erasure_store import ERASED_TEXT
from sync.state import StateStore
from sync.state_rows import iso

log = logging.getLogger("connector.deletions")

ARCHIVED_CURSOR = "archived_contacts"
RECONCILE_CURSOR = "reconcile"
# The retention horizon of the last prune that dropped activities: what happened before it
# may be gone, so a report over earlier periods counts only what is left (its note says so).
RETENTION_CURSOR = "activity_retention"
PRIOR_STATUS = "Archive.Lead"  # `written` sobject holding a Lead's Status before archive


class ContactStates(Protocol):
    def archived_contacts(self, since: datetime | None) -> list[tuple[str, datetime | None]]: ...
    def contact_states(self, ids: Iterable[str]) -> dict[str, tuple[str, str | None]]: ...


class RecordWriter(Protocol):
    def write_records(self, writes: Any) -> Any: ...
    def converted_leads(self, record_ids: Any) -> set[str]: ...
    def delete_leads(self, record_ids: Any) -> Any: ...


def retention_days(configured: int | None, rules: Rules) -> int:
    """`state.activity_retention_days`, or the minimum the rules allow; ConfigError (exit 2)
    when it is set below that minimum."""
    minimum = minimum_retention_days(rules)
    if configured is None:
        return minimum
    if configured < minimum:
        raise ConfigError(
            "configuration is not valid",
            [
                f"state.activity_retention_days: {configured} is below the minimum {minimum} "
                "the scoring rules need (their longest window plus 30 days: "
                "mappings/scoring.toml); set it to at least that, or leave it unset"
            ],
        )
    return configured


@dataclass
class DeletionPolicy:
    on_archive: str = "keep"
    erase_in_salesforce: str = "none"
    reconcile_every: timedelta | None = timedelta(hours=24)
    mql_fields: tuple[str, ...] = ("MQL_Status__c", "MQL_Date__c")
    disqualified_status: str | None = None
    written_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # by sobject


@dataclass
class Deletions:
    store: StateStore
    source: ContactStates
    writer: RecordWriter | None
    policy: DeletionPolicy
    rules: Rules | None = None
    retention: int | None = None  # days
    merged_on_read: Callable[[], Mapping[str, str]] = dict
    _failures: int = field(default=0, init=False, repr=False)

    # ------------------------------------------------------------------ one run
    def run(self, now: datetime, overlap: timedelta, *, reconcile: bool,
            dry_run: bool) -> dict[str, int]:
        counts = {"archived": 0, "restored": 0, "merged": 0, "erased": 0}
        if dry_run:
            return counts
        self._failures = 0
        self._retry_kept()
        changes = self.store.erasure
        changes.add_changes(
            (old, "merge", new) for old, new in sorted(self.merged_on_read().items())
        )
        self._archived_listing(now, overlap)
        if reconcile or self._reconcile_due(now):
            self._reconcile()
            self.store.set_cursors({RECONCILE_CURSOR: now})
        for change in changes.pending_changes():
            kind = {"archive": "archived", "restore": "restored", "merge": "merged",
                    "erase": "erased"}[change.change]
            if self._apply(change.change, change.hubspot_id, change.other_id):
                counts[kind] += 1
            changes.drop_changes([change.id])
        if self._failures:
            counts["salesforce_failed"] = self._failures
        return counts

    def _reconcile_due(self, now: datetime) -> bool:
        every = self.policy.reconcile_every
        if every is None:
            return False
        last = self.store.cursor(RECONCILE_CURSOR)
        return last is None or now - last >= every

    def _archived_listing(self, now: datetime, overlap: timedelta) -> None:
        since = self.store.cursor(ARCHIVED_CURSOR)
        found = self.source.archived_contacts(since - overlap if since else None)
        known = self.store.contact_ids([i for i, _ in found])
        self.store.erasure.add_changes(
            (i, "archive", None) for i, _ in found if i in known and not known[i].archived
        )
        self.store.set_cursors({ARCHIVED_CURSOR: now})

    def _reconcile(self) -> None:
        ids = self.store.erasure.stored_ids()
        if not ids:
            return
        states = self.source.contact_states(ids)
        known = self.store.contact_ids(ids)
        queued: list[tuple[str, str, str | None]] = []
        for cid, (state, other) in sorted(states.items()):
            contact = known.get(cid)
            if state == "gone":
                queued.append((cid, "erase", None))
            elif state == "merged":
                queued.append((cid, "merge", other))
            elif state == "archived" and contact is not None and not contact.archived:
                queued.append((cid, "archive", None))
            elif state == "live" and contact is not None and contact.archived:
                queued.append((cid, "restore", None))
        self.store.erasure.add_changes(queued)

    # ------------------------------------------------------------------ each change
    def _apply(self, change: str, cid: str, other: str | None) -> bool:
        store = self.store
        if change == "erase":
            return self.erase([cid])
        if change == "merge" and other:
            if store.contact(cid) is None:
                return False
            store.erasure.merge_into(cid, other)
            log.info("contact merged", extra={"hubspot_id": cid, "survivor": other})
            return True
        if change in ("archive", "restore"):
            contact = store.contact(cid)
            if contact is None or contact.archived == (change == "archive"):
                return False  # unknown, or already so (a webhook and a read both said it)
            email = store.erasure.set_archived(cid, change == "archive")
            log.info(f"contact {change}d", extra={"hubspot_id": cid})
            if email and change == "archive" and store.erasure.live_members(email) == 0:
                self._on_archive(email)
            if email and change == "restore":
                self._on_restore(email)
                store.mark_dirty([f"c:{cid}"])
            return True
        return False

    def _on_archive(self, email: str) -> None:
        link = self.store.links([email]).get(email)
        if link is None or self.policy.on_archive == "keep" or self.writer is None:
            return
        cid = self._id_of(email)
        fields: dict[str, Any] = {}
        if self.policy.on_archive == "clear_mql":
            fields = {f: None for f in self.policy.mql_fields}
        elif link.sobject == "Lead" and self.policy.disqualified_status:
            prior = self.store.touches.lead_statuses([link.record_id]).get(link.record_id)
            if prior is not None:
                self.store.record_written(email, PRIOR_STATUS, {"Status": prior})
            fields = {"Status": self.policy.disqualified_status}
        if fields:
            self._write(PendingWrite(0, "archive", cid, email, link.sobject, link.record_id,
                                     "update", fields, None))

    def _on_restore(self, email: str) -> None:
        link = self.store.links([email]).get(email)
        if link is None or self.writer is None:
            return
        # an archive write still waiting is superseded: the lead is live again
        self.store.deletion_writes.drop_for(link.record_id, "archive")
        prior = self.store.written([email]).get(email, {}).get(f"{PRIOR_STATUS}.Status")
        if prior is not None and link.sobject == "Lead":
            self._write(PendingWrite(0, "restore", self._id_of(email), email, "Lead",
                                     link.record_id, "update", {"Status": prior}, None))
        # The MQL fields cleared on archive: the next scoring sees them as written empty
        # and writes the lead's standing again (the lead is marked).
        self.store.mark_dirty([f"e:{email}"])

    def erase(self, hubspot_ids: Iterable[str]) -> bool:
        ids = sorted(set(hubspot_ids))
        emails = self.store.erasure.emails_of(ids)
        for email in sorted(emails):
            link = self.store.links([email]).get(email)
            if link is not None and self.policy.erase_in_salesforce == "clear_fields":
                names = self.policy.written_fields.get(link.sobject, ())
                if names:
                    # named by ids only: the address is about to be purged
                    self._write(PendingWrite(0, "erase", self._id_of(email, ids), None,
                                             link.sobject, link.record_id, "update",
                                             {n: None for n in names}, None), email)
            elif link is not None and self.policy.erase_in_salesforce == "delete_created_leads":
                self._delete_if_created(link.sobject, link.record_id, self._id_of(email, ids),
                                        email)
        result = self.store.erasure.erase(ids, emails)
        for cid in ids:
            log.info("contact erased", extra={"hubspot_id": cid, "rows_purged": result.rows})
        if result.wal_truncated is False:
            log.warning("state database busy: its WAL was not truncated after an erasure; "
                        "the next erasure or run retries")
        return True

    def _delete_if_created(self, sobject: str, record_id: str, hubspot_id: str | None,
                           email: str) -> None:
        """`delete_created_leads`: only a Lead this connector created (recorded since this
        release: `created_leads`), never a Contact, never a Lead sales created or one created
        before the record was kept; the converted check happens at the delete."""
        created = self.store.deletion_writes.created_by_connector([record_id])
        if sobject != "Lead" or record_id not in created:
            log.info("erased person's Salesforce record kept: not a Lead the connector created",
                     extra={"hubspot_id": hubspot_id, "record_id": record_id})
            return
        self._write(PendingWrite(0, "erase", hubspot_id, None, "Lead", record_id, "delete",
                                 {}, None), email)

    def _id_of(self, email: str, among: Iterable[str] = ()) -> str | None:
        """The HubSpot id a write names its lead by (one of `among` when given)."""
        members = self.store.contacts_by_email([email]).get(email, [])
        ids = [m.hubspot_id for m in members]
        chosen = [i for i in ids if i in set(among)] or ids
        return chosen[0] if chosen else None

    def _write(self, write: PendingWrite, address: str | None = None) -> bool:
        """One policy write; a failure is kept for the next run with a dead letter naming the
        HubSpot id and record id (`sync.deletion_writes`). `address`: the erased address, cut
        from Salesforce's error message before it is stored."""
        assert self.writer is not None
        key = write.lead_key or f"hubspot:{write.hubspot_id or '-'}"
        try:
            if write.action == "delete":
                if self.writer.converted_leads([write.record_id]):
                    # converted since it was created: sales' record now, never deleted
                    log.info("erased person's Lead kept: converted in Salesforce",
                             extra={"hubspot_id": write.hubspot_id,
                                    "record_id": write.record_id})
                    self._forget_delete(write)
                    return True
                results = list(self.writer.delete_leads([write.record_id]) or ())
            else:
                results = list(self.writer.write_records(
                    [RecordWrite(key, write.sobject, write.record_id, dict(write.fields))]
                ) or ())
        except (RetriableAPIError, RecordError) as exc:  # did not reach Salesforce, or refused
            results = [WriteResult(key, False, errors=(WriteError("UNREACHED", str(exc)),))]
        if results and all(r.success for r in results):
            if write.action == "delete":
                self._forget_delete(write)
                log.info("erased person's Lead deleted in Salesforce (created by the connector)",
                         extra={"hubspot_id": write.hubspot_id, "record_id": write.record_id})
                return True
            if write.lead_key:
                self.store.record_written(write.lead_key, write.sobject, write.fields)
            if write.id:
                self.store.deletion_writes.done(write)
            return True
        self._failures += 1
        errors = [e for r in results for e in r.errors] or [WriteError("FAILED", "no result")]
        message = (f"HubSpot contact {write.hubspot_id or '-'}, Salesforce {write.sobject} "
                   f"{write.record_id}: {errors[0].message}")
        address = address or write.lead_key  # the dead letter names ids, never an address
        if address:
            message = message.replace(address, ERASED_TEXT)
        self.store.deletion_writes.failed(write, code=errors[0].code, message=message,
                                          fields=errors[0].fields)
        log.warning("deletion policy write failed; kept for the next run",
                    extra={"hubspot_id": write.hubspot_id, "record_id": write.record_id,
                           "reason": write.reason, "code": errors[0].code})
        return False

    def _forget_delete(self, write: PendingWrite) -> None:
        self.store.deletion_writes.forget_created(write.record_id)
        if write.id:
            self.store.deletion_writes.done(write)

    def _retry_kept(self) -> None:
        if self.writer is None:
            return
        for write in self.store.deletion_writes.pending():
            self._write(write)

    # ------------------------------------------------------------------ retention
    def prune(self, now: datetime) -> int:
        if self.rules is None or self.retention is None:
            return 0
        kinds = kinds_to_prune(self.rules, self.retention)
        known = set(self.rules.by_kind)
        # kinds no rule reads
        kinds += [k for k in self.store.erasure.activity_kinds() if k not in known]
        horizon = now - timedelta(days=self.retention)
        before = iso(horizon)
        assert before is not None and math.isfinite(self.retention)
        pruned = self.store.erasure.prune_activities(sorted(set(kinds)), before)
        if pruned:
            self.store.set_cursors({RETENTION_CURSOR: horizon})
        return pruned
