"""One run: extract -> normalise -> resolve identity -> score -> plan -> write -> checkpoint.

`Pipeline` runs the stages and does identity, scoring and planning itself; it composes the
extraction (`sync.extraction.Extraction`) and the Salesforce write side
(`sync.salesforce_writes.SalesforceWrites`). Its ports and run types are in `sync.ports`.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.clock import Clock, system_clock
from core.models import Company, Contact
from core.plan import RecordWrite, TaskWrite
from scoring import MqlState
from sync.account_pass import AccountPass, last_activity
from sync.deletions import Deletions
from sync.extraction import Extraction
from sync.fieldmap import FieldMap
from sync.lead_refs import contact_ref, email_ref, split_refs
from sync.mql_basis_store import MqlBasis, basis_of
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
from sync.ports import (
    Alerts,
    BulkSink,
    OutcomePull,
    Run,
    RunOptions,
    RunSummary,
    Scorer,
    Sink,
    Source,
    WriteBack,
)
from sync.salesforce_writes import SalesforceWrites
from sync.score_tracking import ScoreTracking
from sync.state import Link, StateStore

log = logging.getLogger("connector.sync")

MAX_LOGGED_PROBLEMS = 200


@dataclass
class Pipeline:
    store: StateStore
    source: Source
    sink: Sink
    scorer: Scorer
    field_map: FieldMap
    clock: Clock = system_clock
    call_counts: Callable[[], tuple[int, int]] = lambda: (0, 0)
    progress: Callable[[datetime, datetime, datetime], None] | None = None  # (done, since, until)
    budget: Callable[[], dict[str, int | None]] = dict  # API allowance as the last answers said
    # HubSpot 429 answers by bucket ("search", "burst"): HubSpotClient.rate_limited.
    rate_limited: Callable[[], Mapping[str, int]] = dict
    # When the searches still in HubSpot's window were made (HubSpotClient.recent_searches).
    recent_searches: Callable[[], list[float]] = list
    # Hands the source work to do while the contact search is held back by its rate limit
    # (HubSpotSource.while_waiting); None: extraction and processing run in series.
    while_waiting: Callable[[Callable[[], None] | None], None] | None = None
    # HubSpot write-back ([hubspot] write_back); None: off.
    write_back: WriteBack | None = None
    # A backfill with at least this many marked leads resolves identity by Bulk API query
    # and spools its record writes for a few Bulk API jobs at the end (None: never).
    bulk_backfill_from: int | None = None
    # A lead found without a Salesforce record is not matched again for this long (None:
    # every run); see `_targets`.
    no_match_recheck: timedelta | None = None
    # Sales outcomes, pulled once per run after extraction; they advance each scored stage
    # past MQL. None: stages are the scored ones.
    outcomes: OutcomePull | None = None
    # Hot-lead alerts ([alerts] with a channel); None: off.
    alerts: Alerts | None = None
    # The rule version of each stored score, the shadow rule set, the score history
    # (`sync.score_tracking`); None: not tracked.
    tracking: ScoreTracking | None = None
    # Account scores and buying groups ([accounts] enabled; sync.account_pass); None: off.
    accounts: AccountPass | None = None
    # Archive, merge, erasure and retention (sync.deletions); None: off.
    deletions: Deletions | None = None
    extraction: Extraction = field(init=False, repr=False)
    salesforce_writes: SalesforceWrites = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.extraction = Extraction(self.store, self.source, self.while_waiting)
        self.salesforce_writes = SalesforceWrites(self.store, self.sink)

    def run(self, options: RunOptions) -> RunSummary:
        started = time.monotonic()
        calls_before = self.call_counts()
        now = self.clock()
        run = Run(now, options, RunSummary(kind=options.kind, dry_run=options.dry_run))
        summary = run.summary
        if not options.dry_run and self.tracking is not None:
            self.tracking.start(self.store.scores, now)
        if not options.dry_run:
            # Leads an earlier run left for this one (see `StateStore.clear_dirty`), also
            # those of a run killed before its end.
            self.store.release_deferred()
        if options.extract and options.kind == "backfill" and options.since is not None:
            self.extraction.backfill(run, progress=self.progress)
        elif options.extract:
            self.extraction.incremental(run, while_waiting=self._work_while_waiting(run))
        if self.outcomes is not None and options.extract:
            since = options.since or now - options.initial_lookback
            summary.outcomes = self.outcomes.pull(
                now, since=since, overlap=options.overlap, advance=not options.dry_run
            ).as_dict()
        if self.deletions is not None and options.extract:
            summary.deletions = self.deletions.run(
                now, options.overlap, reconcile=options.reconcile, dry_run=options.dry_run
            )
            # a policy write Salesforce refused is a dead letter, retried by the next run
            summary.write_failures += summary.deletions.get("salesforce_failed", 0)
        self._process_dirty(run)
        if self.deletions is not None and not options.dry_run:
            summary.activities_pruned = self.deletions.prune(now)
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
        rate_limited = self.rate_limited()
        summary.hubspot_429_search = rate_limited.get("search", 0)
        summary.hubspot_429_burst = rate_limited.get("burst", 0)
        summary.hubspot_recent_searches = self.recent_searches()
        return summary

    def _work_while_waiting(self, run: Run) -> Callable[[], None] | None:
        """For an incremental run: process one full batch of the leads already marked.

        Their marks and pages are durable before this runs, and their marks are cleared only
        after their writes, so crash safety is that of processing after extraction. A lead
        marked again by a later page is simply processed again (writes are idempotent and
        unchanged values are not sent). Not for backfills (scored only on the whole
        history), dry runs (marks stay) or `--limit` (its budget counts the run's leads)."""
        options = run.options
        if options.kind != "sync" or options.dry_run or options.limit is not None:
            return None

        def work() -> None:
            refs = self.store.dirty_refs(options.batch_size)
            if len(refs) >= options.batch_size:  # a full batch: no extra Salesforce calls
                self._process_refs(refs, run)

        return work

    # ------------------------------------------------------------------ identity (名寄せ)
    def _leads_for(
        self, refs: Sequence[str], summary: RunSummary
    ) -> list[tuple[str, list[Contact]]]:
        """Leads behind marked refs: one per canonical email, with every HubSpot contact that
        shares it. Contacts the store does not know yet are read from HubSpot first."""
        marked = split_refs(refs)
        ids, emails = marked.contact_ids, marked.emails
        known = self.store.contact_ids(ids)
        missing_ids = sorted(ids - known.keys())
        if missing_ids:
            fetched = self.source.contacts_by_ids(missing_ids)
            self.extraction.store_contacts(fetched)
            known.update(self.store.contact_ids(missing_ids))
        known_emails = self.store.contacts_by_email(emails)
        missing_emails = sorted(emails - known_emails.keys())
        if missing_emails:
            self.extraction.store_contacts(self.source.contacts_by_emails(missing_emails))
        keys = {c.email for c in known.values() if c.email} | emails
        summary.leads_without_email += sum(1 for c in known.values() if not c.email)
        by_email = self.store.contacts_by_email(keys)
        # An archived contact is not scored; a lead whose contacts are all archived stops
        # being scored (sync.deletions says what Salesforce gets).
        live = {key: [m for m in members if not m.archived] for key, members in by_email.items()}
        return [(key, members) for key, members in sorted(live.items()) if members]

    def _process_dirty(self, run: Run) -> None:
        options, summary = run.options, run.summary
        run.spooling = self._bulk_backfill(options)
        if run.spooling:
            self._snapshot_identity()
        self._process_batches(run)
        if not options.dry_run:
            # Spooled writes (this backfill's, or an interrupted one's): a few Bulk API jobs.
            self.salesforce_writes.flush_spool(summary)
            # Task intents of every batch wait in the outbox: one send for the whole run.
            self.salesforce_writes.send_pending_tasks(summary)
            if self.alerts is not None:  # after the writes: the alerts carry the record link
                self.alerts.send_pending(run.now, summary)
            if self.accounts is not None:  # the accounts whose contacts changed
                summary.accounts = self.accounts.run(run.now)
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
        watched = {s: self.field_map.watched_fields(s) for s in ("Lead", "Contact")}
        save_identity(self.store, emails, self.sink.match_all(emails), watched, self.clock())

    def _process_batches(self, run: Run) -> None:
        options = run.options
        budget = options.limit
        after = ""
        while budget is None or budget > 0:
            size = options.batch_size if budget is None else min(options.batch_size, budget)
            refs = self.store.dirty_refs(size, after)
            if not refs:
                break
            self._process_refs(refs, run)
            if options.dry_run:
                after = refs[-1]  # leave the marks; look at the next batch
            if budget is not None:
                budget -= len(refs)

    def _process_refs(self, refs: list[str], run: Run) -> None:
        """Score, plan and write the leads behind `refs`, then (unless dry run) clear their
        marks. Leads whose writes failed for a passing reason (a row lock that outlasted the
        retries, a record gone) are left, in the same transaction, for the next run;
        rejections stay in the dead-letter list."""
        leads = self._leads_for(refs, run.summary)
        retry = self._score_plan_write(leads, run)
        if not run.options.dry_run:
            # Every mark of a processed lead goes, not only the batch's: a lead marked by
            # contact id and by email is processed once.
            done: set[str] = {email_ref(key) for key, _ in leads}
            done |= {contact_ref(c.hubspot_id) for _, members in leads for c in members}
            self.store.clear_dirty(sorted(done | set(refs)), defer=sorted(retry))

    def _score_plan_write(self, leads: list[tuple[str, list[Contact]]], run: Run) -> set[str]:
        """Score, plan and write one batch; returns the leads whose writes should be retried."""
        now, options, summary = run.now, run.options, run.summary
        if not run.spooling and not options.dry_run and self.store.spool.spool_count():
            # Writes an interrupted bulk backfill left spooled go before anything this run
            # plans: they are older, and this run's plans must see them as written.
            self.salesforce_writes.flush_spool(summary)
        keys = [key for key, _ in leads]
        previous = self.store.mql_states(keys)
        previous_hot = self.store.hot_states(keys)
        outcomes = self.outcomes.outcomes_for(keys) if self.outcomes is not None else {}
        new_hot: dict[str, HotState] = {}
        scored: list[
            tuple[str, Contact, Company | None, ScoredLead, str, int | None, int | None]
        ] = []
        new_states: dict[str, MqlState] = {}
        bases: dict[str, MqlBasis] = {}
        live_version = (
            self.tracking.live.version if self.tracking is not None else None
        )
        tracked = (
            self.tracking.batch(self.store.scores, keys, now)
            if self.tracking is not None and not options.dry_run
            else None
        )
        shadow = self.tracking.shadow if self.tracking is not None else None
        account_inputs: list[tuple[str, Contact, Any, datetime | None]] = []
        for key, members in leads:
            primary = primary_contact(members)
            company = self.store.company(primary.company_id)
            activities = self.store.activities_for([c.hubspot_id for c in members], key)
            score, state, breakdown = self.scorer.score(
                primary, company, activities, now, previous.get(key)
            )
            scored_stage = score.stage
            qualifying = score  # the live rules' own score: the basis of a new MQL episode
            if self.outcomes is not None:  # SQL, opportunity, won, lost from Salesforce
                score = self.outcomes.advance(score, outcomes.get(key))
            if tracked is not None:
                tracked.add(key, score, scored_stage, state, activities, outcomes.get(key))
                if shadow is not None:  # stored only: never planned, written or alerted
                    s_score, s_state, _ = shadow.scorer.score(
                        primary, company, activities, now, tracked.shadow_state(key)
                    )
                    s_stage = s_score.stage
                    if self.outcomes is not None:
                        s_score = self.outcomes.advance(s_score, outcomes.get(key))
                    tracked.add_shadow(key, s_score, s_stage, s_state, activities)
            summary.leads_scored += 1
            summary.mqls += int(score.is_mql)
            before = previous.get(key)
            new_episode = (
                state.episode
                if state.qualified and (before is None or state.episode != before.episode)
                else None
            )
            summary.new_mql_episodes += int(new_episode is not None)
            if new_episode is not None and state.since is not None:
                basis = basis_of(qualifying, state.episode, state.since, live_version)
                if basis is not None:
                    bases[key] = basis
            new_states[key] = state
            # Tracked whether or not the hot trigger is on, so turning it on later does not
            # alert every lead that is already hot.
            new_hot[key], hot_episode = advance_hot(
                previous_hot.get(key), score, now, self.field_map.task
            )
            scored.append((key, primary, company, score, breakdown, new_episode, hot_episode))
            if self.accounts is not None:
                account_inputs.append((key, primary, score.total, last_activity(activities)))

        would_create = {item[0] for item in scored if should_create(item[3], options.create_policy)}
        targets = self._targets(keys, now, would_create, spooling=run.spooling)
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
        # Decisions first (episodes + Task and alert intents), in one transaction, then the
        # writes.
        alerts = self.alerts.intents(inputs, options.kind) if self.alerts is not None else []
        self.store.record_decisions(new_states, plan.tasks, new_hot, alerts, bases)
        if tracked is not None:
            tracked.save()
        if self.accounts is not None:  # marks the accounts for the pass at the run's end
            self.accounts.note(account_inputs)
        retry = self.salesforce_writes.write_records(plan.records, summary, spool=run.spooling)
        if self.write_back is not None:  # HubSpot gets the values Salesforce got
            retry |= self.write_back.run(inputs, leads, summary, dry_run=False)
        return retry

    def _targets(
        self, keys: list[str], now: datetime, would_create: set[str], *, spooling: bool = False
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
        if spooling:
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


def save_identity(
    store: StateStore,
    emails: Sequence[str],
    targets: Mapping[str, SalesforceTarget],
    watched: Mapping[str, Sequence[str]],
    at: datetime,
) -> None:
    """What a whole-backfill match found, into state for the run's batches: the leads with
    no Salesforce record into the no-match memo, the others into the snapshot with the
    current values of their `watched` fields (per object). Rows are streamed."""
    store.spool.set_no_match((e for e in emails if e not in targets), targets, at)
    store.spool.save_snapshot(
        (
            key,
            t.sobject,
            t.record_id,
            t.owner_id,
            {n: _csv_number((t.current or {}).get(n)) for n in watched[t.sobject]},
        )
        for key, t in targets.items()
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


__all__ = ["Pipeline", "primary_contact"]
