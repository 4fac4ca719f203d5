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
  sends all that is pending once, after its record writes; Tasks are upserted on
  `Connector_Key__c`, so a resend after a crash can never create a second one;
- record writes are idempotent (update by Id, create = upsert on the HubSpot id external id);
  what was written is recorded after Salesforce confirmed it;
- marks are cleared only after the batch's writes: a crash mid-batch re-processes the batch,
  which the idempotent writes make harmless. The next run reaches the same final state;
- a large backfill (`bulk_backfill_from` marked leads) matches every lead at once by Bulk API
  query jobs and spools each batch's record writes in state (in the batch's place above) to
  send them at the end as a few Bulk API jobs; a spooled row goes only once its result is
  recorded, so a crash re-sends it (idempotent, as above), and any later run sends what is
  left in the spool before it plans anything, so older values never land over newer ones.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

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
    should_create,
    task_keys,
)
from sync.state import Link, StateStore

log = logging.getLogger("connector.sync")

RunKind = Literal["sync", "backfill", "rescore"]
ACTIVITY_STREAMS = ("email_events", "form_submissions", "webinars", "page_views", "meetings")
STREAMS = ("contacts", "companies", *ACTIVITY_STREAMS)
# Streams whose APIs cannot filter by time (each read pages through everything down to the
# window's start): a backfill reads them once over its whole window, not once per chunk.
WHOLE_WINDOW_STREAMS = ("form_submissions", "webinars")
BATCH_SIZE = 500  # leads scored, planned and written together
SPOOL_FLUSH_ROWS = 250_000  # spooled writes of one kind sent together (one Bulk API job)
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


@runtime_checkable
class BulkSink(Protocol):
    """A sink that can match every lead at once (Bulk API query jobs), for large backfills."""

    def match_all(self, emails: Sequence[str]) -> dict[str, SalesforceTarget]: ...


class Scorer(Protocol):
    def score(
        self,
        contact: Contact,
        company: Company | None,
        activities: Sequence[Activity],
        now: datetime,
        previous: MqlState | None,
    ) -> tuple[ScoredLead, MqlState, Callable[[], str]]: ...


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
    hubspot_written: int = 0  # HubSpot contacts the write-back updated
    hubspot_unchanged: int = 0  # HubSpot contacts whose written values were all current
    hubspot_write_calls: int = 0
    planned_hubspot: dict[str, Any] = field(default_factory=dict)
    # Sales outcomes pulled from Salesforce (sync.outcomes.PullReport.as_dict); {} when off.
    outcomes: dict[str, Any] = field(default_factory=dict)

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
    # Hands the source work to do while the contact search is held back by its rate limit
    # (HubSpotSource.while_waiting); None: extraction and processing run in series.
    while_waiting: Callable[[Callable[[], None] | None], None] | None = None
    # HubSpot write-back ([hubspot] write_back): sync.hubspot_writeback.HubSpotWriteBack.
    write_back: Any = None
    # A backfill with at least this many marked leads resolves identity by Bulk API query
    # and spools its record writes for a few Bulk API jobs at the end (None: never).
    bulk_backfill_from: int | None = None
    # A lead found without a Salesforce record is not matched again for this long (None:
    # every run); see `_targets`.
    no_match_recheck: timedelta | None = None
    _spooling: bool = field(default=False, init=False, repr=False)
    # Sales outcomes (sync.outcomes.OutcomeSync): pulled once per run after extraction;
    # advance each scored stage past MQL. None: stages are the scored ones.
    outcomes: Any = None

    def run(self, options: RunOptions) -> RunSummary:
        started = time.monotonic()
        calls_before = self.call_counts()
        now = self.clock()
        summary = RunSummary(kind=options.kind, dry_run=options.dry_run)
        if not options.dry_run:
            # Leads an earlier run left for this one (see `StateStore.clear_dirty`), also
            # those of a run killed before its end.
            self.store.release_deferred()
        if options.extract and options.kind == "backfill" and options.since is not None:
            self._backfill(options, now, summary)
        elif options.extract:
            windows = self._windows(options, now)
            summary.window_start = min(w[0] for w in windows.values()).isoformat()
            summary.window_end = now.isoformat()
            work = self._work_while_waiting(now, options, summary)
            self._extract(windows, summary, advance=not options.dry_run, while_waiting=work)
        if self.outcomes is not None and options.extract:
            since = options.since or now - options.initial_lookback
            summary.outcomes = self.outcomes.pull(
                now, since=since, overlap=options.overlap, advance=not options.dry_run
            ).as_dict()
        self._process_dirty(now, options, summary)
        if self.outcomes is not None and self.outcomes.pulled_at and not options.dry_run:
            self.outcomes.follow_writes(self.outcomes.pulled_at)  # for the agreement check
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
        chunked = [s for s in STREAMS if s not in WHOLE_WINDOW_STREAMS]
        while start < until:
            end = min(start + options.backfill_chunk, until)
            self._extract({stream: (start, end) for stream in chunked}, summary, advance=False)
            if not options.dry_run:
                self.store.set_cursors({progress_key: end})
            if self.progress is not None:
                self.progress(end, options.since, until)
            start = end
        for stream in WHOLE_WINDOW_STREAMS:  # each with its own progress, so a rerun resumes
            key = f"{progress_key}:{stream}"
            done = max(self.store.cursor(key) or options.since, options.since)
            if done < until:
                self._extract({stream: (done, until)}, summary, advance=False)
                if not options.dry_run:
                    self.store.set_cursors({key: until})
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
        while_waiting: Callable[[], None] | None = None,
    ) -> None:
        """Read the streams named in `windows`: activities first, then companies, then
        contacts. The contact search is the longest rate-limited read; `while_waiting` (if
        given, and if the pipeline has a `while_waiting` hook) is the work this thread does
        while the next search page is not there yet. Reading the activities first means a lead
        processed that early is not marked again by its own activities later in the run."""

        def done(stream: str) -> None:
            if advance:
                self.store.set_cursors({stream: windows[stream][1]})

        for stream in ACTIVITY_STREAMS:
            if stream not in windows:
                continue
            since, until = windows[stream]
            for batch in _batched(self.source.activity_stream(stream, since, until), 1000):
                summary.activities_read += len(batch)
                # Only new activities mark their leads: one read again (the cursor overlap)
                # is stored already, and its lead was scored with it.
                known = self.store.activity_ids_known(a.source_id for a in batch)
                fresh = [a for a in batch if a.source_id not in known]
                summary.activities_new += self.store.store_page(
                    activities=fresh,
                    dirty=dict.fromkeys(
                        f"c:{a.contact_id}" if a.contact_id else f"e:{a.email}"
                        for a in fresh
                        if a.contact_id or a.email
                    ),
                )
            done(stream)
        if "companies" in windows:
            for companies in self.source.changed_companies(*windows["companies"]):
                # A company read again unchanged (the cursor overlap, a modified time alone)
                # changes no score: its contacts are not looked up nor marked.
                stored = self.store.companies_by_id(c.hubspot_id for c in companies)
                changed = [
                    c.hubspot_id
                    for c in companies
                    if c.hubspot_id not in stored
                    or _properties_changed(stored[c.hubspot_id].properties, c.properties)
                ]
                members = self.source.contact_ids_for_companies(changed) if changed else {}
                self.store.store_page(
                    companies=companies,
                    dirty=[f"c:{cid}" for ids in members.values() for cid in ids],
                )
            done("companies")
        if "contacts" in windows:
            hook = self.while_waiting if while_waiting is not None else None
            if hook is not None:
                hook(while_waiting)
            try:
                for page in self.source.changed_contacts(*windows["contacts"]):
                    summary.contacts_read += len(page)
                    self._store_contacts(page)
            finally:
                if hook is not None:
                    hook(None)
            done("contacts")

    def _work_while_waiting(
        self, now: datetime, options: RunOptions, summary: RunSummary
    ) -> Callable[[], None] | None:
        """For an incremental run: process one full batch of the leads already marked.

        Their marks and pages are durable before this runs, and their marks are cleared only
        after their writes, so crash safety is that of processing after extraction. A lead
        marked again by a later page is simply processed again (writes are idempotent and
        unchanged values are not sent). Not for backfills (scored only on the whole
        history), dry runs (marks stay) or `--limit` (its budget counts the run's leads)."""
        if options.kind != "sync" or options.dry_run or options.limit is not None:
            return None

        def work() -> None:
            refs = self.store.dirty_refs(options.batch_size)
            if len(refs) >= options.batch_size:  # a full batch: no extra Salesforce calls
                self._process_refs(refs, now, options, summary)

        return work

    def _store_contacts(self, contacts: Sequence[Contact]) -> None:
        """Contacts, their companies when not stored yet, and their leads' marks."""
        wanted = {c.company_id for c in contacts if c.company_id}
        missing = wanted - self.store.company_ids_known(wanted)
        companies = self.source.companies(sorted(missing)).values() if missing else ()
        # A contact whose only change is its modified time (e.g. the HubSpot write-back's
        # own update) changes no score: not marked again.
        stored = self.store.contact_ids([c.hubspot_id for c in contacts])
        self.store.store_page(
            contacts=contacts,
            companies=companies,
            dirty=[f"c:{c.hubspot_id}" for c in contacts if _changed(stored.get(c.hubspot_id), c)],
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
        self._spooling = self._bulk_backfill(options)
        if self._spooling:
            self._snapshot_identity()
        try:
            self._process_batches(now, options, summary)
        finally:
            self._spooling = False
        if not options.dry_run:
            # Spooled writes (this backfill's, or an interrupted one's): a few Bulk API jobs.
            self._flush_spool(summary)
            # Task intents of every batch wait in the outbox: one send for the whole run.
            self._send_pending_tasks(summary)
            self.store.spool.clear_snapshot()

    def _bulk_backfill(self, options: RunOptions) -> bool:
        """Whether this run is a backfill big enough for bulk identity and spooled writes."""
        return (
            options.kind == "backfill"
            and not options.dry_run
            and options.limit is None
            and self.bulk_backfill_from is not None
            and isinstance(self.sink, BulkSink)
            and self.store.dirty_count() >= self.bulk_backfill_from
        )

    def _snapshot_identity(self) -> None:
        """Match every stored lead at once (Bulk API query jobs) and keep the answer in state
        for this run's batches: leads absent from it have no Salesforce record."""
        self.store.spool.clear_snapshot()
        emails = self.store.all_lead_emails()
        assert isinstance(self.sink, BulkSink)
        targets = self.sink.match_all(emails)
        unmatched = [e for e in emails if e not in targets]
        self.store.spool.set_no_match(unmatched, targets, self.clock())
        watched = {s: self.field_map.watched_fields(s) for s in ("Lead", "Contact")}
        self.store.spool.save_snapshot(
            (
                key,
                t.sobject,
                t.record_id,
                t.owner_id,
                {n: _csv_number((t.current or {}).get(n)) for n in watched[t.sobject]},
            )
            for key, t in targets.items()
        )

    def _process_batches(self, now: datetime, options: RunOptions, summary: RunSummary) -> None:
        budget = options.limit
        after = ""
        while budget is None or budget > 0:
            size = options.batch_size if budget is None else min(options.batch_size, budget)
            refs = self.store.dirty_refs(size, after)
            if not refs:
                break
            self._process_refs(refs, now, options, summary)
            if options.dry_run:
                after = refs[-1]  # leave the marks; look at the next batch
            if budget is not None:
                budget -= len(refs)

    def _process_refs(
        self, refs: list[str], now: datetime, options: RunOptions, summary: RunSummary
    ) -> None:
        """Score, plan and write the leads behind `refs`, then (unless dry run) clear their
        marks. Leads whose writes failed for a passing reason (a row lock that outlasted the
        retries, a record gone) are left, in the same transaction, for the next run;
        rejections stay in the dead-letter list."""
        leads = self._leads_for(refs, summary)
        retry = self._score_plan_write(leads, now, options, summary)
        if not options.dry_run:
            # Every mark of a processed lead goes, not only the batch's: a lead marked by
            # contact id and by email is processed once.
            done = {f"e:{key}" for key, _ in leads}
            done |= {f"c:{c.hubspot_id}" for _, members in leads for c in members}
            self.store.clear_dirty(sorted(done | set(refs)), defer=sorted(retry))

    def _score_plan_write(
        self,
        leads: list[tuple[str, list[Contact]]],
        now: datetime,
        options: RunOptions,
        summary: RunSummary,
    ) -> set[str]:
        """Score, plan and write one batch; returns the leads whose writes should be retried."""
        if not self._spooling and not options.dry_run and self.store.spool.spool_count():
            # Writes an interrupted bulk backfill left spooled go before anything this run
            # plans: they are older, and this run's plans must see them as written.
            self._flush_spool(summary)
        keys = [key for key, _ in leads]
        previous = self.store.mql_states(keys)
        previous_hot = self.store.hot_states(keys)
        outcomes = self.outcomes.outcomes_for(keys) if self.outcomes is not None else {}
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
            if self.outcomes is not None:  # SQL, opportunity, won, lost from Salesforce
                score = self.outcomes.advance(score, outcomes.get(key))
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

        would_create = {item[0] for item in scored if should_create(item[3], options.create_policy)}
        targets = self._targets(keys, now, would_create)
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
            if self.write_back is not None:  # plan the HubSpot writes for the report
                self.write_back.run(inputs, leads, summary, dry_run=True)
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
        retry = self._write_records(plan.records, summary)
        if self.write_back is not None:  # HubSpot gets the values Salesforce got
            retry |= self.write_back.run(inputs, leads, summary, dry_run=False)
        return retry

    def _targets(
        self, keys: list[str], now: datetime, would_create: set[str]
    ) -> dict[str, SalesforceTarget]:
        """The Salesforce record of each lead: linked ones from state; the others matched by
        email, except those found without a record within `no_match_recheck` (unless the
        plan would create a Lead for them: then they are always matched first, so a Lead
        sales created meanwhile is found and not duplicated)."""
        links = self.store.links(keys)
        linked = {
            key: SalesforceTarget(link.sobject, link.record_id, link.owner_id)  # type: ignore[arg-type]
            for key, link in links.items()
        }
        if self._spooling:
            targets = _from_snapshot(keys, linked, self.store.spool.snapshot(keys))
        else:
            recent: set[str] = set()
            if self.no_match_recheck is not None:
                unlinked = [k for k in keys if k not in links and k not in would_create]
                recent = self.store.spool.no_match_since(unlinked, now - self.no_match_recheck)
            asked = [k for k in keys if k not in recent]
            targets = self.sink.resolve(asked, linked)
            self.store.spool.set_no_match(
                [k for k in asked if k not in targets],
                [k for k in asked if k in targets],
                now,
            )
        for key, target in targets.items():
            if target.relinked:  # the old record is gone: what we wrote there no longer counts
                self.store.forget_link(key)
        self.store.save_links(
            Link(key, t.sobject, t.record_id, t.owner_id)
            for key, t in targets.items()
            if key not in links or links[key].record_id != t.record_id
        )
        return targets

    def _write_records(self, writes: list[RecordWrite], summary: RunSummary) -> set[str]:
        retry: set[str] = set()
        if not writes:
            return retry
        if self._spooling:  # written by `_flush_spool` at the end of the run
            self.store.spool.spool_writes(writes)
            return retry
        return self._apply_results(writes, self.sink.write_records(writes), summary)

    def _flush_spool(self, summary: RunSummary) -> None:
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

    def _send_pending_tasks(self, summary: RunSummary) -> None:
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


def _from_snapshot(
    keys: Sequence[str],
    linked: Mapping[str, SalesforceTarget],
    snapshot: Mapping[str, tuple[str, str, str | None, dict[str, Any]]],
) -> dict[str, SalesforceTarget]:
    """Targets from a bulk backfill's identity snapshot. A lead the snapshot matched to
    another record than its link is relinked; a linked lead the snapshot does not hold keeps
    its link (its record may have another email now; a vanished one fails the write and is
    forgotten, as in any run); an unlinked lead the snapshot does not hold has no record."""
    out: dict[str, SalesforceTarget] = {}
    for key in keys:
        found = snapshot.get(key)
        link = linked.get(key)
        if found is not None:
            sobject, record_id, owner_id, current = found
            out[key] = SalesforceTarget(
                sobject,  # type: ignore[arg-type]
                record_id,
                owner_id,
                current,
                relinked=link is not None and link.record_id != record_id,
            )
        elif link is not None:
            out[key] = link
    return out


def _csv_number(value: Any) -> Any:
    """A Bulk API query value (CSV text) as the number it spells, else as it is, so that
    `unless_changed` compares 12 with 12.0 and not with '12'."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def primary_contact(members: Sequence[Contact]) -> Contact:
    """The contact whose properties represent a lead: the most recently updated one."""
    epoch = datetime.min.replace(tzinfo=UTC)
    return max(members, key=lambda c: (c.updated_at or epoch, c.hubspot_id))


_MODIFIED_TIMES = frozenset({"lastmodifieddate", "hs_lastmodifieddate"})


def _changed(before: Contact | None, after: Contact) -> bool:
    """Whether what scoring reads of a contact differs from what is stored."""
    if before is None:
        return True
    if (before.email, before.company_id, before.archived) != (
        after.email,
        after.company_id,
        after.archived,
    ):
        return True
    return _properties_changed(before.properties, after.properties)


def _properties_changed(
    before: Mapping[str, str | None], after: Mapping[str, str | None]
) -> bool:
    """Whether two versions of a HubSpot object's properties differ beyond modified times."""
    keys = (before.keys() | after.keys()) - _MODIFIED_TIMES
    return any(before.get(k) != after.get(k) for k in keys)


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
