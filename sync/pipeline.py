"""One run: extract -> normalise -> resolve identity -> score -> plan -> write -> checkpoint.

Crash safety, in order of the steps:
- HubSpot records and activities are stored as read (idempotent upserts; activities keyed by
  a stable source id, so overlapping windows never double-count);
- MQL episodes and Task intents (with their payloads) are recorded in one transaction before
  anything is sent: a Task intent stays `pending` until Salesforce confirms it, and every run
  first sends what is still pending; Tasks are upserted on `Connector_Key__c`, so a resend
  after a crash can never create a second one;
- record writes are idempotent (update by Id, create = upsert on the HubSpot id external id);
  what was written is recorded after Salesforce confirmed it;
- cursors move last, and only to the start of this run's window end, so a crash anywhere means
  the next run reads the same window again and reaches the same final state.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from core.models import Activity, Company, Contact
from core.plan import RecordWrite, TaskWrite, WriteResult
from scoring import MqlState
from sync.fieldmap import FieldMap
from sync.plan import LeadInput, SalesforceTarget, ScoredLead, plan_writes
from sync.state import Link, StateStore

log = logging.getLogger("connector.sync")

RunKind = Literal["sync", "backfill", "rescore"]
ACTIVITY_STREAMS = ("email_events", "form_submissions", "webinars", "page_views", "meetings")
GONE_ERRORS = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY"})


class Source(Protocol):
    """The HubSpot side (connectors.hubspot.HubSpotSource satisfies it)."""

    problems: list[Any]

    def changed_contacts(self, since: datetime, until: datetime) -> Iterator[list[Contact]]: ...
    def contacts_by_ids(self, ids: Iterable[str]) -> list[Contact]: ...
    def contacts_by_emails(self, emails: Iterable[str]) -> list[Contact]: ...
    def companies(self, ids: Iterable[str]) -> dict[str, Company]: ...
    def activity_stream(
        self, stream: str, since: datetime, until: datetime
    ) -> Iterator[Activity]: ...


class Sink(Protocol):
    """The Salesforce side (connectors.salesforce adapter satisfies it)."""

    def resolve(
        self, emails: Sequence[str], linked: Mapping[str, SalesforceTarget]
    ) -> dict[str, SalesforceTarget]: ...
    def write_records(self, writes: Sequence[RecordWrite]) -> list[WriteResult]: ...
    def write_tasks(
        self, tasks: Sequence[TaskWrite], created: dict[str, str]
    ) -> list[WriteResult]: ...


class Scorer(Protocol):
    def score(
        self,
        contact: Contact,
        company: Company | None,
        activities: Sequence[Activity],
        now: datetime,
        previous: MqlState | None,
    ) -> tuple[ScoredLead, MqlState, str]: ...


@dataclass
class RunOptions:
    kind: RunKind = "sync"
    since: datetime | None = None  # backfill start; None for sync (cursors)
    until: datetime | None = None
    overlap: timedelta = timedelta(minutes=5)
    initial_lookback: timedelta = timedelta(days=365)
    dry_run: bool = False
    limit: int | None = None  # at most this many leads scored and written
    create_policy: Literal["mql", "hot", "all"] = "mql"


@dataclass
class RunSummary:
    kind: str
    window_start: str | None = None
    window_end: str | None = None
    contacts_read: int = 0
    activities_read: int = 0
    activities_new: int = 0
    leads_scored: int = 0
    leads_without_email: int = 0
    mqls: int = 0
    new_mql_episodes: int = 0
    records_updated: int = 0
    leads_created: int = 0
    tasks_created: int = 0
    records_unchanged: int = 0
    skipped_no_record: int = 0
    write_failures: int = 0
    problems: int = 0
    hubspot_calls: int = 0
    salesforce_calls: int = 0
    duration_seconds: float = 0.0
    dry_run: bool = False
    planned: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Pipeline:
    store: StateStore
    source: Source
    sink: Sink
    scorer: Scorer
    field_map: FieldMap
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    call_counts: Callable[[], tuple[int, int]] = lambda: (0, 0)

    def run(self, options: RunOptions) -> RunSummary:
        started = time.monotonic()
        calls_before = self.call_counts()
        now = self.clock()
        summary = RunSummary(kind=options.kind, dry_run=options.dry_run)
        windows = self._windows(options, now)
        summary.window_start = min(w[0] for w in windows.values()).isoformat()
        summary.window_end = now.isoformat() if options.until is None else options.until.isoformat()

        contact_ids, emails = self._extract(windows, summary)
        leads = self._leads(contact_ids, emails, summary)
        if options.limit is not None:
            leads = leads[: options.limit]
        self._score_plan_write(leads, now, options, summary)

        if not options.dry_run:
            end = options.until or now
            self.store.set_cursors({stream: end for stream in windows})
        summary.problems = len(self.source.problems)
        hubspot_calls, salesforce_calls = self.call_counts()
        summary.hubspot_calls = hubspot_calls - calls_before[0]
        summary.salesforce_calls = salesforce_calls - calls_before[1]
        summary.duration_seconds = round(time.monotonic() - started, 3)
        return summary

    # ------------------------------------------------------------------ extract
    def _windows(self, options: RunOptions, now: datetime) -> dict[str, tuple[datetime, datetime]]:
        until = options.until or now
        out: dict[str, tuple[datetime, datetime]] = {}
        for stream in ("contacts", *ACTIVITY_STREAMS):
            if options.kind == "backfill" and options.since is not None:
                start = options.since
            else:
                cursor = self.store.cursor(stream)
                start = (cursor - options.overlap) if cursor else now - options.initial_lookback
            out[stream] = (start, until)
        return out

    def _extract(
        self, windows: dict[str, tuple[datetime, datetime]], summary: RunSummary
    ) -> tuple[set[str], set[str]]:
        contact_ids: set[str] = set()
        emails: set[str] = set()
        since, until = windows["contacts"]
        for page in self.source.changed_contacts(since, until):
            self.store.upsert_contacts(page)
            summary.contacts_read += len(page)
            contact_ids.update(c.hubspot_id for c in page)
        for stream in ACTIVITY_STREAMS:
            since, until = windows[stream]
            for batch in _batched(self.source.activity_stream(stream, since, until), 1000):
                summary.activities_read += len(batch)
                summary.activities_new += self.store.add_activities(batch)
                for activity in batch:
                    if activity.contact_id:
                        contact_ids.add(activity.contact_id)
                    elif activity.email:
                        emails.add(activity.email)
        self._fetch_unknown_contacts(contact_ids, emails)
        return contact_ids, emails

    def _fetch_unknown_contacts(self, contact_ids: set[str], emails: set[str]) -> None:
        known = self.store.contact_ids(contact_ids)
        missing_ids = sorted(contact_ids - known.keys())
        if missing_ids:
            self.store.upsert_contacts(self.source.contacts_by_ids(missing_ids))
        known_emails = self.store.contacts_by_email(emails)
        missing_emails = sorted(emails - known_emails.keys())
        if missing_emails:
            self.store.upsert_contacts(self.source.contacts_by_emails(missing_emails))

    # ------------------------------------------------------------------ identity (名寄せ)
    def _leads(
        self, contact_ids: set[str], emails: set[str], summary: RunSummary
    ) -> list[tuple[str, list[Contact]]]:
        """Affected leads: one per normalised email, with all HubSpot contacts sharing it."""
        contacts = self.store.contact_ids(contact_ids)
        keys = {c.email for c in contacts.values() if c.email} | emails
        summary.leads_without_email = sum(1 for c in contacts.values() if not c.email)
        by_email = self.store.contacts_by_email(keys)
        leads = [(key, members) for key, members in sorted(by_email.items()) if members]
        self._fetch_companies([c for _, members in leads for c in members])
        return leads

    def _fetch_companies(self, contacts: Sequence[Contact]) -> None:
        wanted = {c.company_id for c in contacts if c.company_id}
        missing = wanted - self.store.company_ids_known(wanted)
        if missing:
            self.store.upsert_companies(self.source.companies(sorted(missing)).values())

    # ------------------------------------------------------------------ score, plan, write
    def _score_plan_write(
        self,
        leads: list[tuple[str, list[Contact]]],
        now: datetime,
        options: RunOptions,
        summary: RunSummary,
    ) -> None:
        keys = [key for key, _ in leads]
        previous = self.store.mql_states(keys)
        scored: list[tuple[str, Contact, Company | None, ScoredLead, str, int | None]] = []
        new_states: dict[str, MqlState] = {}
        for key, members in leads:
            primary = _primary(members)
            company = self.store.company(primary.company_id)
            activities = self.store.activities_for([c.hubspot_id for c in members], key)
            score, state, breakdown = self.scorer.score(
                primary, company, activities, now, previous.get(key)
            )
            summary.leads_scored += 1
            summary.mqls += int(score.is_mql)
            before = previous.get(key)
            new_episode = (
                state.episode
                if state.qualified and (before is None or state.episode != before.episode)
                else None
            )
            summary.new_mql_episodes += int(new_episode is not None)
            new_states[key] = state
            scored.append((key, primary, company, score, breakdown, new_episode))

        targets = self._targets(keys)
        written = self.store.written(keys)
        inputs = [
            LeadInput(
                lead_key=key,
                contact=contact,
                company=company,
                score=score,
                breakdown=breakdown,
                target=targets.get(key),
                written=written.get(key, {}),
                new_mql_episode=episode,
            )
            for key, contact, company, score, breakdown, episode in scored
        ]
        done = self.store.task_status(
            f"mql:{contact.hubspot_id}:{ep}" for _, contact, _, _, _, ep in scored if ep
        )
        plan = plan_writes(
            inputs, self.field_map, create_policy=options.create_policy, now=now, tasks_done=done
        )
        summary.records_unchanged = plan.unchanged
        summary.skipped_no_record = len(plan.skipped)
        summary.planned = _describe_plan(plan.records, plan.tasks)
        if options.dry_run:
            return
        # Decisions first (episodes + Task intents), in one transaction, then the writes.
        self.store.record_decisions(new_states, plan.tasks)
        created = self._write_records(plan.records, summary)
        self._send_pending_tasks(created, summary)

    def _targets(self, keys: list[str]) -> dict[str, SalesforceTarget]:
        links = self.store.links(keys)
        linked = {
            key: SalesforceTarget(link.sobject, link.record_id, link.owner_id)  # type: ignore[arg-type]
            for key, link in links.items()
        }
        targets = self.sink.resolve(keys, linked)
        self.store.save_links(
            Link(key, t.sobject, t.record_id, t.owner_id)
            for key, t in targets.items()
            if key not in links or links[key].record_id != t.record_id
        )
        return targets

    def _write_records(self, writes: list[RecordWrite], summary: RunSummary) -> dict[str, str]:
        created: dict[str, str] = {}
        if not writes:
            return created
        results = self.sink.write_records(writes)
        links: list[Link] = []
        for write, result in zip(writes, results, strict=True):
            if result.success:
                self.store.record_written(write.lead_key, write.sobject, write.fields)
                self.store.resolve_dead_letters(write.lead_key)
                if write.is_create:
                    summary.leads_created += 1
                    created[write.lead_key] = result.record_id or ""
                    links.append(Link(write.lead_key, "Lead", result.record_id or "", None))
                else:
                    summary.records_updated += 1
                continue
            summary.write_failures += 1
            if any(e.code in GONE_ERRORS for e in result.errors):
                self.store.forget_link(write.lead_key)  # resolve again next run
            for error in result.errors or (None,):
                self.store.add_dead_letter(
                    lead_key=write.lead_key,
                    stage=f"write {write.sobject}",
                    code=error.code if error else None,
                    message=error.message if error else "write failed without an error",
                    fields=error.fields if error else (),
                )
        self.store.save_links(links)
        return created

    def _send_pending_tasks(self, created: dict[str, str], summary: RunSummary) -> None:
        pending = self.store.pending_tasks()
        if not pending:
            return
        known = self.store.links(t.lead_key for t in pending if t.who_id is None)
        who = {key: link.record_id for key, link in known.items()} | created
        sendable = [t for t in pending if t.who_id or who.get(t.lead_key)]
        for task in pending:
            if task not in sendable:
                log.warning(
                    "task waits for its lead's Salesforce record", extra={"lead": task.lead_key}
                )
        if not sendable:
            return
        results = self.sink.write_tasks(sendable, who)
        for task, result in zip(sendable, results, strict=True):
            if result.success:
                self.store.mark_task_done(task.connector_key, result.record_id)
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


def _primary(members: Sequence[Contact]) -> Contact:
    """The contact whose properties represent a lead: the most recently updated one."""
    epoch = datetime.min.replace(tzinfo=UTC)
    return max(members, key=lambda c: (c.updated_at or epoch, c.hubspot_id))


def _batched(items: Iterable[Activity], size: int) -> Iterator[list[Activity]]:
    batch: list[Activity] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _describe_plan(records: Sequence[RecordWrite], tasks: Sequence[TaskWrite]) -> dict[str, Any]:
    per_field: Counter[str] = Counter()
    for write in records:
        for name in write.fields:
            per_field[f"{write.sobject}.{name}"] += 1
    return {
        "updates": sum(1 for w in records if not w.is_create),
        "creates": sum(1 for w in records if w.is_create),
        "tasks": len(tasks),
        "fields": dict(sorted(per_field.items())),
        "sample": [
            {"lead": w.lead_key, "object": w.sobject, "id": w.record_id, "fields": dict(w.fields)}
            for w in records[:5]
        ],
    }


__all__ = ["Pipeline", "RunOptions", "RunSummary"]
