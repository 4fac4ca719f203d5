"""One run: extract -> normalise -> resolve identity -> score -> plan -> write -> checkpoint.

Two phases, both bounded in memory whatever the portal size:

1. Extract, stream by stream, page by page: each page of records is stored together with
   "dirty" marks for the leads it touches, in one transaction; when a stream is read to the end
   of its window its cursor moves. The marks are the durable promise that those leads will be
   processed, so a cursor never gets ahead of work that could be lost.
2. Process dirty leads in batches: score, plan, write, then clear their marks.

Crash safety, in order of the steps:
- HubSpot records and activities are stored as read (idempotent upserts; activities keyed by
  a stable source id, so overlapping windows never double-count); a crash before a stream's
  cursor moved re-reads that window, a crash after leaves its leads marked;
- MQL episodes and Task intents (with their payloads) are recorded in one transaction before
  anything is sent: a Task intent stays `pending` until Salesforce confirms it, and every run
  first sends what is still pending; Tasks are upserted on `Connector_Key__c`, so a resend
  after a crash can never create a second one;
- record writes are idempotent (update by Id, create = upsert on the HubSpot id external id);
  what was written is recorded after Salesforce confirmed it;
- marks are cleared only after the batch's writes: a crash mid-batch re-processes the batch,
  which the idempotent writes make harmless. The next run reaches the same final state.
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
from sync.plan import (
    HotState,
    LeadInput,
    SalesforceTarget,
    ScoredLead,
    advance_hot,
    plan_writes,
    task_keys,
)
from sync.state import Link, StateStore

log = logging.getLogger("connector.sync")

RunKind = Literal["sync", "backfill", "rescore"]
ACTIVITY_STREAMS = ("email_events", "form_submissions", "webinars", "page_views", "meetings")
STREAMS = ("contacts", "companies", *ACTIVITY_STREAMS)
BATCH_SIZE = 500  # leads scored, planned and written together
MAX_LOGGED_PROBLEMS = 200
GONE_ERRORS = frozenset(
    {
        "ENTITY_IS_DELETED",
        "NOT_FOUND",
        "INVALID_CROSS_REFERENCE_KEY",
        "CANNOT_UPDATE_CONVERTED_LEAD",
    }
)


class Source(Protocol):
    """The HubSpot side (connectors.hubspot.HubSpotSource satisfies it)."""

    problems: list[Any]

    def changed_contacts(self, since: datetime, until: datetime) -> Iterator[list[Contact]]: ...
    def contacts_by_ids(self, ids: Iterable[str]) -> list[Contact]: ...
    def contacts_by_emails(self, emails: Iterable[str]) -> list[Contact]: ...
    def companies(self, ids: Iterable[str]) -> dict[str, Company]: ...
    def changed_companies(self, since: datetime, until: datetime) -> Iterator[list[Company]]: ...
    def contact_ids_for_companies(self, company_ids: Iterable[str]) -> dict[str, list[str]]: ...
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
    limit: int | None = None  # at most this many leads scored and written (the rest wait)
    extract: bool = True  # False: only process leads already marked (rescore, resume)
    backfill_chunk: timedelta = timedelta(days=90)
    batch_size: int = BATCH_SIZE
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
    leads_waiting: int = 0  # still marked for processing after this run (--limit)
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
    problem_sample: list[str] = field(default_factory=list)
    api_budget: dict[str, int | None] = field(default_factory=dict)
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
    progress: Callable[[datetime, datetime, datetime], None] | None = None  # (done, since, until)
    budget: Callable[[], dict[str, int | None]] = dict  # API allowance as the last answers said

    def run(self, options: RunOptions) -> RunSummary:
        started = time.monotonic()
        calls_before = self.call_counts()
        now = self.clock()
        summary = RunSummary(kind=options.kind, dry_run=options.dry_run)
        if options.extract and options.kind == "backfill" and options.since is not None:
            self._backfill(options, now, summary)
        elif options.extract:
            windows = self._windows(options, now)
            summary.window_start = min(w[0] for w in windows.values()).isoformat()
            summary.window_end = now.isoformat()
            self._extract(windows, summary, advance=not options.dry_run)
        self._process_dirty(now, options, summary)
        summary.leads_waiting = self.store.dirty_count()
        summary.problems = len(self.source.problems)
        summary.problem_sample = [
            f"{p.source} {p.record_id or '-'}: {p.reason}" for p in self.source.problems[:20]
        ]
        for problem in self.source.problems[:MAX_LOGGED_PROBLEMS]:
            log.warning(
                "record skipped",
                extra={
                    "source": problem.source,
                    "record": problem.record_id,
                    "reason": problem.reason,
                },
            )
        hubspot_calls, salesforce_calls = self.call_counts()
        summary.hubspot_calls = hubspot_calls - calls_before[0]
        summary.salesforce_calls = salesforce_calls - calls_before[1]
        summary.duration_seconds = round(time.monotonic() - started, 3)
        summary.api_budget = self.budget()
        return summary

    def _backfill(self, options: RunOptions, now: datetime, summary: RunSummary) -> None:
        """Extract history in chunks; each extracted chunk is recorded, so rerunning the same
        command resumes after it. Leads are scored only once the whole history is read (by
        `run`, after this): scoring a partial history could start MQL episodes that the full
        history does not have."""
        assert options.since is not None
        until = min(options.until or now, now)
        progress_key = f"backfill:{options.since.isoformat()}"
        start = max(self.store.cursor(progress_key) or options.since, options.since)
        summary.window_start, summary.window_end = start.isoformat(), until.isoformat()
        while start < until:
            end = min(start + options.backfill_chunk, until)
            self._extract({stream: (start, end) for stream in STREAMS}, summary, advance=False)
            if not options.dry_run:
                self.store.set_cursors({progress_key: end})
            if self.progress is not None:
                self.progress(end, options.since, until)
            start = end
        if not options.dry_run:
            # The incremental cursors continue from here; never moved backwards.
            cursors = self.store.cursors()
            self.store.set_cursors(
                {s: until for s in STREAMS if s not in cursors or cursors[s] < until}
            )

    # ------------------------------------------------------------------ extract
    def _windows(self, options: RunOptions, now: datetime) -> dict[str, tuple[datetime, datetime]]:
        """Per stream: from its cursor minus the overlap (or the initial look-back) to now."""
        out: dict[str, tuple[datetime, datetime]] = {}
        for stream in STREAMS:
            cursor = self.store.cursor(stream)
            start = (cursor - options.overlap) if cursor else now - options.initial_lookback
            out[stream] = (start, now)
        return out

    def _extract(
        self,
        windows: dict[str, tuple[datetime, datetime]],
        summary: RunSummary,
        *,
        advance: bool,
    ) -> None:
        def done(stream: str) -> None:
            if advance:
                self.store.set_cursors({stream: windows[stream][1]})

        for page in self.source.changed_contacts(*windows["contacts"]):
            summary.contacts_read += len(page)
            self._store_contacts(page)
        done("contacts")
        for companies in self.source.changed_companies(*windows["companies"]):
            members = self.source.contact_ids_for_companies(c.hubspot_id for c in companies)
            self.store.store_page(
                companies=companies,
                dirty=[f"c:{cid}" for ids in members.values() for cid in ids],
            )
        done("companies")
        for stream in ACTIVITY_STREAMS:
            since, until = windows[stream]
            for batch in _batched(self.source.activity_stream(stream, since, until), 1000):
                summary.activities_read += len(batch)
                summary.activities_new += self.store.store_page(
                    activities=batch,
                    dirty=[
                        f"c:{a.contact_id}" if a.contact_id else f"e:{a.email}"
                        for a in batch
                        if a.contact_id or a.email
                    ],
                )
            done(stream)

    def _store_contacts(self, contacts: Sequence[Contact]) -> None:
        """Contacts, their companies when not stored yet, and their leads' marks."""
        wanted = {c.company_id for c in contacts if c.company_id}
        missing = wanted - self.store.company_ids_known(wanted)
        companies = self.source.companies(sorted(missing)).values() if missing else ()
        self.store.store_page(
            contacts=contacts,
            companies=companies,
            dirty=[f"c:{c.hubspot_id}" for c in contacts],
        )

    # ------------------------------------------------------------------ identity (名寄せ)
    def _leads_for(
        self, refs: Sequence[str], summary: RunSummary
    ) -> list[tuple[str, list[Contact]]]:
        """Leads behind marked refs: one per canonical email, with every HubSpot contact that
        shares it. Contacts the store does not know yet are read from HubSpot first."""
        ids = {r[2:] for r in refs if r.startswith("c:")}
        emails = {r[2:] for r in refs if r.startswith("e:")}
        known = self.store.contact_ids(ids)
        missing_ids = sorted(ids - known.keys())
        if missing_ids:
            fetched = self.source.contacts_by_ids(missing_ids)
            self._store_contacts(fetched)
            known.update(self.store.contact_ids(missing_ids))
        known_emails = self.store.contacts_by_email(emails)
        missing_emails = sorted(emails - known_emails.keys())
        if missing_emails:
            self._store_contacts(self.source.contacts_by_emails(missing_emails))
        keys = {c.email for c in known.values() if c.email} | emails
        summary.leads_without_email += sum(1 for c in known.values() if not c.email)
        by_email = self.store.contacts_by_email(keys)
        return [(key, members) for key, members in sorted(by_email.items()) if members]

    def _process_dirty(self, now: datetime, options: RunOptions, summary: RunSummary) -> None:
        budget = options.limit
        after = ""
        retry_later: set[str] = set()
        while budget is None or budget > 0:
            size = options.batch_size if budget is None else min(options.batch_size, budget)
            refs = self.store.dirty_refs(size, after)
            if not refs:
                break
            leads = self._leads_for(refs, summary)
            retry_later |= self._score_plan_write(leads, now, options, summary)
            if options.dry_run:
                after = refs[-1]  # leave the marks; look at the next batch
            else:
                # Every mark of a processed lead goes, not only the batch's: a lead marked by
                # contact id and by email is processed once.
                done = {f"e:{key}" for key, _ in leads}
                done |= {f"c:{c.hubspot_id}" for _, members in leads for c in members}
                self.store.clear_dirty(sorted(done | set(refs)))
            if budget is not None:
                budget -= len(refs)
        # Writes that failed for a passing reason (a row lock that outlasted the retries) are
        # tried again by the next run; rejections stay in the dead-letter list.
        self.store.mark_dirty(f"e:{key}" for key in sorted(retry_later))

    def _score_plan_write(
        self,
        leads: list[tuple[str, list[Contact]]],
        now: datetime,
        options: RunOptions,
        summary: RunSummary,
    ) -> set[str]:
        """Score, plan and write one batch; returns the leads whose writes should be retried."""
        keys = [key for key, _ in leads]
        previous = self.store.mql_states(keys)
        previous_hot = self.store.hot_states(keys)
        new_hot: dict[str, HotState] = {}
        scored: list[
            tuple[str, Contact, Company | None, ScoredLead, str, int | None, int | None]
        ] = []
        new_states: dict[str, MqlState] = {}
        for key, members in leads:
            primary = primary_contact(members)
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
            # Tracked whether or not the hot trigger is on, so turning it on later does not
            # alert every lead that is already hot.
            new_hot[key], hot_episode = advance_hot(
                previous_hot.get(key), score, now, self.field_map.task
            )
            scored.append((key, primary, company, score, breakdown, new_episode, hot_episode))

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
                hot_episode=hot_episode,
            )
            for key, contact, company, score, breakdown, episode, hot_episode in scored
        ]
        done = self.store.task_status(task_keys(inputs, self.field_map))
        plan = plan_writes(
            inputs, self.field_map, create_policy=options.create_policy, now=now, tasks_done=done
        )
        summary.records_unchanged += plan.unchanged
        summary.skipped_no_record += len(plan.skipped)
        summary.planned = _merge_plans(summary.planned, _describe_plan(plan.records, plan.tasks))
        if options.dry_run:
            return set()
        for rejected in plan.rejected:  # a value the mappings refuse: nothing sent for the lead
            summary.write_failures += 1
            self.store.add_dead_letter(
                lead_key=rejected.lead_key,
                stage=f"plan {rejected.sobject}",
                code=rejected.code,
                message=rejected.message,
                fields=(rejected.field,),
            )
        # Decisions first (episodes + Task intents), in one transaction, then the writes.
        self.store.record_decisions(new_states, plan.tasks, new_hot)
        created, retry = self._write_records(plan.records, summary)
        self._send_pending_tasks(created, summary)
        return retry

    def _targets(self, keys: list[str]) -> dict[str, SalesforceTarget]:
        links = self.store.links(keys)
        linked = {
            key: SalesforceTarget(link.sobject, link.record_id, link.owner_id)  # type: ignore[arg-type]
            for key, link in links.items()
        }
        targets = self.sink.resolve(keys, linked)
        for key, target in targets.items():
            if target.relinked:  # the old record is gone: what we wrote there no longer counts
                self.store.forget_link(key)
        self.store.save_links(
            Link(key, t.sobject, t.record_id, t.owner_id)
            for key, t in targets.items()
            if key not in links or links[key].record_id != t.record_id
        )
        return targets

    def _write_records(
        self, writes: list[RecordWrite], summary: RunSummary
    ) -> tuple[dict[str, str], set[str]]:
        created: dict[str, str] = {}
        retry: set[str] = set()
        if not writes:
            return created, retry
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
        return created, retry

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


def primary_contact(members: Sequence[Contact]) -> Contact:
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


def _merge_plans(total: dict[str, Any], batch: dict[str, Any]) -> dict[str, Any]:
    if not total:
        return batch
    fields = Counter(total["fields"]) + Counter(batch["fields"])
    return {
        "updates": total["updates"] + batch["updates"],
        "creates": total["creates"] + batch["creates"],
        "tasks": total["tasks"] + batch["tasks"],
        "fields": dict(sorted(fields.items())),
        "sample": (total["sample"] + batch["sample"])[:5],
    }


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
