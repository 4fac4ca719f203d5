"""The Salesforce write side of a run: planned record writes sent (or, in a bulk backfill,
spooled in state and flushed at its end as a few Bulk API jobs), their results recorded in
state (values written, new Leads linked, failures in the dead-letter list), and the Task
outbox sent once per run.

Record writes are idempotent (update by Id, create = upsert on the HubSpot id external id)
and what was written is recorded only after Salesforce confirmed it; Tasks are upserted on
`Connector_Key__c`. A crash between a send and its record sends again, harmlessly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.plan import RecordWrite, WriteResult
from sync.ports import RunSummary, Sink
from sync.state import Link, StateStore

log = logging.getLogger("connector.sync")

SPOOL_FLUSH_ROWS = 250_000  # spooled writes of one kind sent together (one Bulk API job)
GONE_ERRORS = frozenset(
    {
        "ENTITY_IS_DELETED",
        "NOT_FOUND",
        "INVALID_CROSS_REFERENCE_KEY",
        "CANNOT_UPDATE_CONVERTED_LEAD",
    }
)


@dataclass
class SalesforceWrites:
    """Sends record writes and Tasks through `sink` and records their results in `store`."""

    store: StateStore
    sink: Sink

    def write_records(
        self, writes: list[RecordWrite], summary: RunSummary, *, spool: bool
    ) -> set[str]:
        """Send `writes` (or, with `spool`, keep them for `flush_spool` at the end of the
        run); returns the leads whose writes should be retried."""
        retry: set[str] = set()
        if not writes:
            return retry
        if spool:
            self.store.spool.spool_writes(writes)
            return retry
        return self._apply_results(writes, self.sink.write_records(writes), summary)

    def flush_spool(self, summary: RunSummary) -> None:
        """Send the spooled writes one kind at a time (Lead updates, Contact updates, Lead
        creates), SPOOL_FLUSH_ROWS rows per part: a part at or above the bulk threshold is one
        Bulk API job (more only past the upload size limit), a smaller one goes through
        Collections. Each part's results are recorded before its rows leave the spool; a crash
        in between sends the part again, which updates by Id and upserts on the external id
        make harmless."""
        for sobject, create in self.store.spool.spool_kinds():
            after = ""
            while True:
                writes = self.store.spool.spooled(
                    SPOOL_FLUSH_ROWS, after, sobject=sobject, create=create
                )
                if not writes:
                    break
                retry = self._apply_results(writes, self.sink.write_records(writes), summary)
                self.store.spool.unspool([w.lead_key for w in writes], defer=sorted(retry))
                after = writes[-1].lead_key

    def send_pending_tasks(self, summary: RunSummary) -> None:
        """Every Task intent still pending, in one send per run. A Task without a WhoId takes
        its lead's linked record (a Lead this run created was linked when it was created)."""
        pending = self.store.pending_tasks()
        if not pending:
            return
        known = self.store.links(t.lead_key for t in pending if t.who_id is None)
        who = {key: link.record_id for key, link in known.items()}
        sendable = [t for t in pending if t.who_id or who.get(t.lead_key)]
        for task in pending:
            if not (task.who_id or who.get(task.lead_key)):  # (not `in sendable`: O(n²))
                log.warning(
                    "task waits for its lead's Salesforce record", extra={"lead": task.lead_key}
                )
        if not sendable:
            return
        results = self.sink.write_tasks(sendable, who)
        self.store.mark_tasks_done(
            (task.connector_key, result.record_id)
            for task, result in zip(sendable, results, strict=True)
            if result.success
        )
        for task, result in zip(sendable, results, strict=True):
            if result.success:
                summary.tasks_created += int(result.created)
            else:
                summary.write_failures += 1
                for error in result.errors:
                    self.store.add_dead_letter(
                        lead_key=task.lead_key,
                        stage="write Task",
                        code=error.code,
                        message=error.message,
                        fields=error.fields,
                    )

    def _apply_results(
        self, writes: list[RecordWrite], results: list[WriteResult], summary: RunSummary
    ) -> set[str]:
        retry: set[str] = set()
        links: list[Link] = []
        self.store.record_writes(
            (w.lead_key, w.sobject, w.fields)
            for w, r in zip(writes, results, strict=True)
            if r.success
        )
        # The Leads this write created (not those an upsert found by external id): the only
        # ones `erase_in_salesforce = "delete_created_leads"` may delete (sync.deletion_writes).
        self.store.deletion_writes.record_created(
            (r.record_id or "", w.external_id)
            for w, r in zip(writes, results, strict=True)
            if w.is_create and r.success and r.created
        )
        for write, result in zip(writes, results, strict=True):
            if result.success:
                if write.is_create:
                    summary.leads_created += 1
                    links.append(Link(write.lead_key, "Lead", result.record_id or "", None))
                else:
                    summary.records_updated += 1
                continue
            summary.write_failures += 1
            if result.retriable:
                retry.add(write.lead_key)
            if any(e.code in GONE_ERRORS for e in result.errors):
                self.store.forget_link(write.lead_key)  # resolve again next run
                retry.add(write.lead_key)
            for error in result.errors or (None,):
                self.store.add_dead_letter(
                    lead_key=write.lead_key,
                    stage=f"write {write.sobject}",
                    code=error.code if error else None,
                    message=error.message if error else "write failed without an error",
                    fields=error.fields if error else (),
                )
        self.store.save_links(links)
        return retry
