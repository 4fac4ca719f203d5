"""What a run is given and what it gives back: the ports the pipeline talks through (`Source`
for HubSpot, `Sink` and `BulkSink` for Salesforce, `Scorer`, the optional `OutcomePull`,
`WriteBack` and `Alerts` steps), a run's options, its summary, and the `Run` that carries
them through the stages.

Adapters implement the ports (`connectors.hubspot.HubSpotSource`, `sync.sink.SalesforceSink`,
`sync.scorer.RulesScorer`, `sync.outcomes.OutcomeSync`, `sync.hubspot_writeback.
HubSpotWriteBack`); `sync.runner` builds the options and reports the summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

from core.models import Activity, Company, Contact
from core.outcomes import LeadOutcome
from core.plan import RecordWrite, TaskWrite, WriteResult
from scoring import MqlState
from sync.alert_store import AlertIntent
from sync.plan import LeadInput, SalesforceTarget, ScoredLead

RunKind = Literal["sync", "backfill", "rescore"]
BATCH_SIZE = 500  # leads scored, planned and written together


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


class PulledOutcomes(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


class OutcomePull(Protocol):
    """Sales outcomes from Salesforce, pulled once a run after extraction; they move each
    scored stage past MQL (sync.outcomes.OutcomeSync satisfies it)."""

    pulled_at: datetime | None  # when the last pull started; None before any

    def pull(
        self, now: datetime, *, since: datetime, overlap: timedelta, advance: bool = True
    ) -> PulledOutcomes: ...
    def follow_writes(self, since: datetime) -> int: ...
    def outcomes_for(self, lead_keys: Iterable[str]) -> Mapping[str, LeadOutcome]: ...
    def advance(self, score: ScoredLead, outcome: LeadOutcome | None) -> ScoredLead: ...


class WriteBack(Protocol):
    """The HubSpot write-back of a batch (sync.hubspot_writeback.HubSpotWriteBack satisfies
    it): plans and, unless `dry_run`, writes; returns the leads to retry next run."""

    def run(
        self,
        inputs: Sequence[LeadInput],
        members: Sequence[tuple[str, Sequence[Contact]]],
        summary: RunSummary,
        *,
        dry_run: bool,
    ) -> set[str]: ...


class Alerts(Protocol):
    """Hot-lead alerts ([alerts]; sync.alerts.AlertOutbox satisfies it): the outbox rows a
    batch's new MQL episodes cause (stored with the episodes), and, once a run's Salesforce
    writes are done, the send of every row that is due."""

    def intents(self, inputs: Sequence[LeadInput], kind: RunKind) -> list[AlertIntent]: ...
    def send_pending(self, now: datetime, summary: RunSummary) -> None: ...


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
    reconcile: bool = False  # check every stored contact id against HubSpot this run


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
    # HubSpot 429 answers by bucket: with the client's limiters, each one means another app
    # of the account spent the budget (retried, so the run went on).
    hubspot_429_search: int = 0
    hubspot_429_burst: int = 0
    # When (epoch seconds) the run's searches still in HubSpot's 1-second window were made:
    # the next run's limiter counts them (sync.factory.previous_searches).
    hubspot_recent_searches: list[float] = field(default_factory=list)
    duration_seconds: float = 0.0
    dry_run: bool = False
    planned: dict[str, Any] = field(default_factory=dict)
    hubspot_written: int = 0  # HubSpot contacts the write-back updated
    hubspot_unchanged: int = 0  # HubSpot contacts whose written values were all current
    hubspot_write_calls: int = 0
    planned_hubspot: dict[str, Any] = field(default_factory=dict)
    # Per activity stream: "read", "switched off", "skipped: why", "derived: how"
    # (connectors.hubspot.streams.StreamStatus.describe).
    streams: dict[str, str] = field(default_factory=dict)
    # Sales outcomes pulled from Salesforce (sync.outcomes.PullReport.as_dict); {} when off.
    outcomes: dict[str, Any] = field(default_factory=dict)
    # Hot-lead alerts of the run (sync.alerts: sent, failed, dead, waiting) and the outbox's
    # rows per status after it (outbox_pending, outbox_sent, outbox_dead); {} when off.
    alerts: dict[str, int] = field(default_factory=dict)
    # The account pass (sync.account_pass: accounts computed, changed, written); {} when off.
    accounts: dict[str, int] = field(default_factory=dict)
    # Contacts archived, restored, merged and erased this run (sync.deletions), and raw
    # activities deleted by retention.
    deletions: dict[str, int] = field(default_factory=dict)
    activities_pruned: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Run:
    """One run as it goes through the stages: the moment it started (its clock's), what it was
    asked for, and what it has done so far. The `Pipeline` outlives runs; this does not."""

    now: datetime
    options: RunOptions
    summary: RunSummary
    # A large backfill: identity from one Bulk API match, writes spooled for Bulk API jobs.
    spooling: bool = False
