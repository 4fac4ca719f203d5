"""`connector report`: the I/O side. Reads the state store (leads, activities, MQL decisions,
Tasks, stored Salesforce outcomes), the rules and `mappings/costs.toml`, builds the KPI
inputs (`kpi.model.LeadFacts`) and hands them to the pure core (`kpi.compute`).

Leads are read and turned into facts 500 at a time and consumed as a stream, so memory does
not grow with the number of leads (beyond the per-group counters and the day counts behind
the medians).

How one lead's timeline is known: the stored history is replayed under the current rules
with `scoring.simulate.replay_lead` (as `connector score simulate` does) from the lead's
creation to the report's end. That gives the first MQL episode (the `mql_state` table holds
only the current one; its start counts too when earlier), the start of each episode, the
first time the lead reached each stage (interest, comparison, ...) and its segments at the
report's end.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.models import Activity, ActivityKind
from kpi.compute import period_label
from kpi.model import (
    CHANNEL_DIMENSION,
    UNKNOWN_CHANNEL,
    Agreement,
    AgreementRow,
    Engagement,
    ExtraTable,
    LeadFacts,
    Outcome,
    Period,
    ReportWindow,
)

if TYPE_CHECKING:
    from core.config import Settings
    from core.handoff import Handoff, OwnerSpeed
    from core.i18n import Language
    from core.outcomes import LeadOutcome
    from kpi.model import KpiReport
    from scoring import MqlState, Rules
    from scoring.simulate import LeadHistory
    from sync.outcomes import Funnel as FunnelRules
    from sync.state import StateStore

log = logging.getLogger("connector.report")

BATCH = 500
SOURCE_PROPERTY = "hs_analytics_source"
CREATED_PROPERTY = "createdate"
INTEREST, COMPARISON = "interest", "comparison"
MAX_NOTES = 20
_EMAIL_KINDS = {
    ActivityKind.EMAIL_DELIVERED: "delivered",
    ActivityKind.EMAIL_OPEN: "opened",
    ActivityKind.EMAIL_CLICK: "clicked",
}
_WEBINAR_KINDS = frozenset(
    {
        ActivityKind.WEBINAR_REGISTERED,
        ActivityKind.WEBINAR_ATTENDED,
        ActivityKind.WEBINAR_NO_SHOW,
        ActivityKind.WEBINAR_CANCELLED,
    }
)


@dataclass
class Problems:
    """Leads that could not be read fully: one message each (the report goes on)."""

    messages: list[str] = field(default_factory=list)
    count: int = 0

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.messages) < MAX_NOTES:
            self.messages.append(message)
        log.warning("report: %s", message)

    def notes(self) -> list[str]:
        more = self.count - len(self.messages)
        return self.messages + ([f"... and {more} more such problems"] if more > 0 else [])


# ------------------------------------------------------------------------------ per lead
def parse_created(value: str | None) -> datetime | None:
    """HubSpot `createdate`: ISO 8601 (with Z) or epoch milliseconds; None when unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def engagement_by_period(activities: Iterable[Activity], period: Period) -> dict[str, Engagement]:
    """Distinct emails delivered/opened/clicked (lead x email campaign), webinar
    registrations and attendance (lead x webinar) and white-paper downloads, per period of
    when they happened."""
    sets: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    downloads: dict[str, int] = defaultdict(int)
    for a in activities:
        label = period_label(a.occurred_at, period)
        if a.kind in _EMAIL_KINDS:
            email = a.attributes.get("campaign_id") or a.source_id
            sets[label][_EMAIL_KINDS[a.kind]].add(str(email))
        elif a.kind in _WEBINAR_KINDS:
            webinar = str(a.attributes.get("marketing_event_id") or a.source_id)
            sets[label]["registered"].add(webinar)
            if a.kind == ActivityKind.WEBINAR_ATTENDED:
                sets[label]["attended"].add(webinar)
        elif a.kind == ActivityKind.WHITEPAPER_DOWNLOAD:
            downloads[label] += 1
    out = {}
    for label in set(sets) | set(downloads):
        s = sets.get(label, {})
        out[label] = Engagement(
            delivered=len(s.get("delivered", ())),
            opened=len(s.get("opened", ())),
            clicked=len(s.get("clicked", ())),
            webinar_registrations=len(s.get("registered", ())),
            webinar_attended=len(s.get("attended", ())),
            whitepaper_downloads=downloads.get(label, 0),
        )
    return out


def stage_ranks(rules: Rules) -> dict[str, int]:
    """Funnel position of each stage: the default stage is 0, the last stage rule 1, ...,
    the first rule (the most advanced stage) highest."""
    ranks = {rules.default_stage: 0}
    for position, (stage, _) in enumerate(reversed(rules.stage_rules), start=1):
        ranks.setdefault(stage, position)
    return ranks


def outcome_of(lead: LeadOutcome | None, funnel: FunnelRules) -> Outcome | None:
    """The KPI view of a stored Salesforce outcome, staged by `sync.outcomes.outcome_stage`
    (funnel.toml); None when none is stored. A Lead sales disqualified without an
    opportunity ("lost" there) reached no step after MQL here."""
    from sync.outcomes import outcome_stage

    stage = outcome_stage(lead, funnel)
    if lead is None or stage is None:
        return None
    has_opportunity = stage in ("opportunity", "won") or (
        stage == "lost" and lead.opportunity_id is not None
    )
    if not has_opportunity:
        return Outcome(sql=stage == "sql")
    opportunity_at = lead.opportunity_created_at
    if opportunity_at is None and lead.converted_at is not None:
        opportunity_at = _midnight(lead.converted_at)
    closed = _midnight(lead.opportunity_close_date) if lead.opportunity_close_date else None
    if closed is None and stage in ("won", "lost"):
        closed = opportunity_at
    return Outcome(
        sql=True,
        opportunity_at=opportunity_at,
        won_at=closed if stage == "won" else None,
        lost_at=closed if stage == "lost" else None,
        amount=lead.opportunity_amount if stage == "won" else None,
    )


def _midnight(day: Any) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Context:
    rules: Rules
    until: datetime
    period: Period
    ranks: Mapping[str, int]
    funnel: FunnelRules
    time_sensitive: bool
    monotone: bool = False  # scoring.validity.monotone_in_time(rules)


def lead_facts(
    history: LeadHistory,
    ctx: _Context,
    *,
    state: MqlState | None,
    outcome: LeadOutcome | None,
    tasks: Sequence[tuple[str, str, datetime]],
    problems: Problems,
) -> LeadFacts | None:
    """One lead's KPI inputs; None (with a problem noted) when it cannot be dated."""
    return lead_facts_valid(
        history, ctx, state=state, outcome=outcome, tasks=tasks, problems=problems
    )[0]


def lead_facts_valid(
    history: LeadHistory,
    ctx: _Context,
    *,
    state: MqlState | None,
    outcome: LeadOutcome | None,
    tasks: Sequence[tuple[str, str, datetime]],
    problems: Problems,
) -> tuple[LeadFacts | None, datetime]:
    """`lead_facts`, and the last moment up to which a report's end can move later with
    these facts unchanged while no new data arrives (`facts_valid_until`)."""
    from scoring.simulate import replay_lead

    contact = history.contact
    raw = contact.get(CREATED_PROPERTY)
    created = parse_created(raw)
    first_activity = min((a.occurred_at for a in history.activities), default=None)
    if created is None:
        if first_activity is None:
            problems.add(
                f"lead {history.key} (HubSpot contact {contact.hubspot_id}): createdate "
                f"{raw!r} is not a date and it has no activity; left out"
            )
            return None, ctx.until
        problems.add(
            f"lead {history.key} (HubSpot contact {contact.hubspot_id}): createdate {raw!r} "
            "is not a date; dated by its first activity"
        )
        created = first_activity
    start = min(created, first_activity or created) - timedelta(seconds=1)
    if start >= ctx.until:
        start = ctx.until - timedelta(seconds=1)
    replay = replay_lead(ctx.rules, history, [start, ctx.until], time_sensitive=ctx.time_sensitive)
    episodes = list(replay.episode_starts)
    if replay.mql_at_start:
        episodes.insert(0, start)
    since = state.since if state is not None else None
    if since is not None and since <= ctx.until and (not episodes or since < episodes[0]):
        episodes.insert(0, since)
    interest_rank, comparison_rank = ctx.ranks.get(INTEREST), ctx.ranks.get(COMPARISON)
    first_interest = first_comparison = None
    for stage, moment in replay.stages_reached:
        rank = ctx.ranks.get(stage, 0)
        if interest_rank is not None and rank >= interest_rank and first_interest is None:
            first_interest = moment
        if comparison_rank is not None and rank >= comparison_rank and first_comparison is None:
            first_comparison = moment
    dimensions = dict(replay.final.segments)
    dimensions[CHANNEL_DIMENSION] = (contact.get(SOURCE_PROPERTY) or "").strip() or UNKNOWN_CHANNEL
    valid = facts_valid_until(history, ctx, replay, created, state)
    return LeadFacts(
        key=history.key,
        created=created,
        dimensions=dimensions,
        first_mql=episodes[0] if episodes else None,
        mql_episodes=tuple(episodes),
        first_interest=first_interest,
        first_comparison=first_comparison,
        outcome=outcome_of(outcome, ctx.funnel),
        engagement=engagement_by_period(history.activities, ctx.period),
        handoffs=tuple(at for key, _, at in tasks if key.startswith("mql:")),
    ), valid


_TICK = timedelta(microseconds=1)


def facts_valid_until(
    history: LeadHistory, ctx: _Context, replay: Any, created: datetime, state: MqlState | None
) -> datetime:
    """How long the facts `lead_facts_valid` found at `ctx.until` (T) hold as the report's
    end moves later with no new data (`scoring.validity`). A replay to a later end t, with no
    stored activity in (T, t], scores the same points as the replay to T and then t, from the
    same aggregate and from the MQL state the end scoring was handed (or, when an activity
    lies exactly at T, the state after it: T is then a point of its own). So the facts hold
    while that scoring answers every condition as at T; and never past the next stored
    activity or a stored episode start after T (data the replay to t would read). T itself
    (recompute whenever the end moves) when the rules are not monotone in time, for a lead
    created after T, or when an episode started at T without an activity there."""
    from scoring.validity import valid_until

    until = ctx.until
    if not ctx.monotone or created > until or replay.end_aggregate is None:
        return until
    activity_at_end = False
    limit: datetime | None = None
    for activity in history.activities:
        moment = activity.occurred_at
        if moment == until:
            activity_at_end = True
        elif moment > until and (limit is None or moment < limit):
            limit = moment
    since = state.since if state is not None else None
    if since is not None and since > until and (limit is None or since < limit):
        limit = since
    if not activity_at_end and replay.episode_starts and replay.episode_starts[-1] == until:
        return until
    previous = replay.final.mql_state if activity_at_end else replay.end_previous
    found = valid_until(
        ctx.rules, history.contact, history.company, replay.end_aggregate, previous, until,
        monotone=True,
    )
    return found if limit is None else min(found, limit - _TICK)


# ------------------------------------------------------------------------------ reading
def read_facts(
    store: StateStore,
    ctx: _Context,
    problems: Problems,
    *,
    outcomes: Callable[[list[str]], Mapping[str, LeadOutcome]],
) -> Iterator[LeadFacts]:
    """Every stored lead's facts, read in batches of `BATCH` leads."""
    from app.leads import read_leads  # the same lead assembly as `score simulate`

    batch: list[LeadHistory] = []
    for history in read_leads(store):
        batch.append(history)
        if len(batch) >= BATCH:
            yield from _facts_of(store, batch, ctx, problems, outcomes)
            batch = []
    if batch:
        yield from _facts_of(store, batch, ctx, problems, outcomes)


def _facts_of(
    store: StateStore,
    batch: list[LeadHistory],
    ctx: _Context,
    problems: Problems,
    outcomes: Callable[[list[str]], Mapping[str, LeadOutcome]],
) -> Iterator[LeadFacts]:
    keys = [h.key for h in batch]
    states = store.mql_states(keys)
    known = outcomes(keys)
    tasks = store.tasks_for(keys)
    for history in batch:
        facts = lead_facts(
            history,
            ctx,
            state=states.get(history.key),
            outcome=known.get(history.key),
            tasks=tasks.get(history.key, ()),
            problems=problems,
        )
        if facts is not None:
            yield facts


def stored_outcomes(store: StateStore) -> Callable[[list[str]], Mapping[str, LeadOutcome]]:
    """The Salesforce outcomes the outcome pull stored, per batch of lead keys."""
    return store.outcomes.outcomes_for


def agreement_check(store: StateStore, funnel: FunnelRules) -> Agreement | None:
    """`sync.agreement`'s check over the stored state, in the report's shape; None when no
    outcome pull has stored a Salesforce record yet."""
    from sync.agreement import agreement_from_store

    if not store.outcomes.outcome_counts().get("sf_records"):
        return None
    found = agreement_from_store(store, funnel)
    return Agreement(
        connector_mqls=found.connector_mqls,
        salesforce_mqls=found.salesforce_mqls,
        both=found.both,
        differing=tuple(
            AgreementRow(
                key=d.lead_key,
                sobject=d.sobject,
                record_id=d.record_id,
                connector_mql=d.connector_mql,
                salesforce_status=d.salesforce_status,
                written_status=d.written_status,
                reason=d.reason,
                explanation=d.explanation,
            )
            for d in found.differences
        ),
        source=f"{funnel.salesforce.mql_status_field} as the last outcome pull read it",
    )


def deletions_table(counts: Mapping[str, int]) -> ExtraTable:
    """Contacts HubSpot archived, merged away and erased, as the state holds them now
    (docs/deletions.md). Counts only: an erased person leaves nothing else behind."""
    rows = (
        ({"en": "archived", "ja": "アーカイブ済み"}, counts.get("archived", 0)),
        ({"en": "merged away", "ja": "統合（マージ）済み"}, counts.get("merged", 0)),
        ({"en": "erased (GDPR / APPI)", "ja": "完全削除（GDPR・個人情報保護法）"},
         counts.get("erased", 0)),
    )
    return ExtraTable(
        name="deletions",
        title={"en": "Deleted, merged and erased contacts",
               "ja": "削除・統合・完全削除されたコンタクト"},
        columns=({"en": "contacts", "ja": "コンタクト"}, {"en": "count", "ja": "件数"}),
        rows=tuple((f"{label['en']} / {label['ja']}", n) for label, n in rows),
        note={"en": "Archived contacts are not scored; erased people are purged from the state.",
              "ja": "アーカイブ済みのコンタクトはスコアリングされず、"
                    "完全削除された人のデータは状態DBから消去されます。"},
    )


def retention_note(store: StateStore, since: datetime) -> str | None:
    """When the report starts before the horizon of the last activity prune
    (`state.activity_retention_days`), say that its earlier periods count only the
    activities kept: both engines read what is stored (docs/deletions.md, Retention)."""
    from sync.deletions import RETENTION_CURSOR

    horizon = store.cursor(RETENTION_CURSOR)
    if horizon is None or since >= horizon:
        return None
    day = horizon.date().isoformat()
    return (
        f"Activities before {day} were deleted by state.activity_retention_days: periods "
        f"before {day} count only the activities kept (engagement, first interest and MQL "
        f"may be lower than reported then). / {day} より前の行動履歴は "
        f"state.activity_retention_days により削除済みです。それ以前の期間は残っている履歴"
        "だけで集計されます。"
    )


# ------------------------------------------------------------------------------ command
def speed_to_lead(
    store: StateStore, settings: Settings, *, since: datetime, until: datetime,
    owner: str | None = None,
) -> list[OwnerSpeed]:
    """The hand-off SLA per owner for the MQL episodes that started in [since, until),
    breaches as of `until` (the report's "now"); only `owner`'s when given."""
    from core.handoff import speed_by_owner

    sla = settings.sla
    handoffs = [
        h for h in store.touches.handoffs(since, until) if owner is None or h.owner_id == owner
    ]
    return speed_by_owner(handoffs, until, sla.first_touch_hours, sla.calendar())


def default_since(until: datetime, period: Period) -> datetime:
    """Start of the period holding `until` minus 26 weeks (week) or 6 months (month)."""
    from kpi.compute import period_start

    return period_start(until - timedelta(days=182), period)


def parse_segment(value: str | None, dimensions: Sequence[str]) -> tuple[str, str] | None:
    """`--segment DIM=VALUE` (e.g. industry=manufacturing, channel=PAID_SEARCH)."""
    from core.errors import ConfigError

    if not value:
        return None
    name, sep, wanted = value.partition("=")
    name, wanted = name.strip(), wanted.strip()
    if not sep or not name or not wanted:
        raise ConfigError(
            f"--segment {value!r}: write DIMENSION=VALUE, e.g. industry=manufacturing; "
            f"dimensions: {', '.join(dimensions)}"
        )
    if name not in dimensions:
        raise ConfigError(
            f"--segment {value!r}: no dimension {name!r}; dimensions: {', '.join(dimensions)}"
        )
    return name, wanted


Engine = Literal["sql", "store", "replay"]

_ID_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def owner_id(value: str | None) -> str | None:
    """`--owner`: a Salesforce User id as stored (`links.owner_id`, the API's 18-character
    form). Salesforce ids are 15 case-sensitive alphanumeric characters, or 18 with a
    3-character case-safe suffix (one character per 5-character block: bit i set when the
    block's i-th character is an upper-case letter, as an index into A-Z0-5); a 15-character
    id (as in a record's URL) is extended so. Anything else is a ConfigError."""
    from core.errors import ConfigError

    if value is None:
        return None
    text = value.strip()
    if len(text) not in (15, 18) or not text.isascii() or not text.isalnum():
        raise ConfigError(
            f"--owner {value!r}: expected a Salesforce User id, 15 or 18 letters and digits "
            "(e.g. 005J0000001AbCdEFG)"
        )
    if len(text) == 18:
        return text
    suffix = ""
    for block in range(0, 15, 5):
        bits = sum(1 << i for i, ch in enumerate(text[block : block + 5]) if ch.isupper())
        suffix += _ID_DIGITS[bits]
    return text + suffix


def build_report(
    settings: Settings,
    *,
    until: datetime,
    since: datetime | None = None,
    period: str = "month",
    segment: str | None = None,
    owner: str | None = None,
    engine: Engine = "sql",
    keep_copy: bool = False,
) -> KpiReport:
    """Every KPI from the stored state, `since` to `until` (the report's end and "now");
    `period` is "week" or "month"; `segment` "DIM=VALUE"; `owner` a Salesforce owner id:
    only the leads whose linked record that owner holds (the OwnerId the last outcome pull
    read, else the one stored with the link: `sync.kpi_store.OWNERS_SQL`) and the hand-offs
    that owner has (noted in the report).

    `engine="sql"` (the default) aggregates the per-lead facts the state store keeps
    (`app.kpi_facts`, refreshed first) with set-based SQL, run on the process's DuckDB copy
    of the facts (`sync.kpi_mirror`) when DuckDB can be imported, else on the store itself;
    `engine="store"` always on the store (the fallback); `engine="replay"` replays every
    lead (the reference the equality tests compare with). With `keep_copy` (`connector
    report`), the DuckDB copy of a SQLite store's facts is kept on disk for the next run
    (`sync.kpi_mirror`), so a run pays only the changes since the last one."""
    from dataclasses import replace

    from kpi.compute import compute

    plan = _plan(settings, until=until, since=since, period=period, segment=segment)
    problems = Problems()
    with open_report_store(settings) as store:
        outcomes_known = bool(store.outcomes.outcome_counts().get("sf_records"))
        common: dict[str, Any] = {
            "dimensions": plan.dimensions,
            "costs": plan.costs,
            "agreement": agreement_check(store, plan.ctx.funnel),
            "outcomes_known": outcomes_known,
            "speed_to_lead": speed_to_lead(
                store, settings, since=plan.window.since, until=until, owner=owner
            ),
            "sla_hours": settings.sla.first_touch_hours,
        }
        if engine == "replay":
            facts = read_facts(store, plan.ctx, problems, outcomes=stored_outcomes(store))
            if owner is not None:
                owned = store.kpi.owned_keys(owner)
                facts = (f for f in facts if f.key in owned)
            report = compute(facts, plan.window, **common)
        else:
            report = _sql_report(store, plan, problems, owner, common, engine, keep_copy)
        deletions = deletions_table(store.erasure.counts())
        retention = retention_note(store, plan.window.since)
    report = replace(report, extra_tables=(*report.extra_tables, deletions))
    if retention is not None:
        report = replace(report, notes=(*report.notes, retention))
    if problems.count:
        report = replace(report, notes=(*report.notes, *problems.notes()))
    if owner is not None:
        note = f"owner {owner}: only the leads whose Salesforce record this owner holds"
        report = replace(report, notes=(*report.notes, note))
    from app.account_report import with_accounts
    from app.feedback import with_rejection_table  # sales feedback (docs/scoring-feedback.md)

    report = with_rejection_table(
        report, settings, plan.window.since, until, replay=engine == "replay"
    )
    return with_accounts(report, settings)


@dataclass(frozen=True, slots=True)
class _Plan:
    ctx: _Context
    window: ReportWindow
    dimensions: list[str]
    costs: Any
    folder: Path


def _plan(
    settings: Settings, *, until: datetime, since: datetime | None, period: str,
    segment: str | None,
) -> _Plan:
    from core.errors import ConfigError
    from kpi.costs import load_costs
    from scoring import load_rules
    from scoring.simulate import time_can_qualify
    from scoring.validity import monotone_in_time
    from sync.outcomes import load_funnel
    from sync.runner import mappings_dir

    if period not in ("week", "month"):
        raise ConfigError(f"period {period!r}: expected week or month")
    every: Period = "week" if period == "week" else "month"
    folder = mappings_dir(settings)
    rules = load_rules(folder)
    costs = load_costs(folder)
    funnel = load_funnel(folder)
    dimensions = [d.name for d in rules.dimensions] + [CHANNEL_DIMENSION]
    wanted = parse_segment(segment, dimensions)
    start = since or default_since(until, every)
    if start >= until:
        raise ConfigError(f"--since {start.date()} is not before --until {until.date()}")
    window = ReportWindow(start, until, every, generated_at=until, segment_filter=wanted)
    ctx = _Context(
        rules=rules,
        until=until,
        period=every,
        ranks=stage_ranks(rules),
        funnel=funnel,
        time_sensitive=time_can_qualify(rules),
        monotone=monotone_in_time(rules),
    )
    return _Plan(ctx, window, dimensions, costs, folder)


def open_report_store(settings: Settings) -> Any:
    from sync.runner import open_store

    return open_store(settings, create=False)


def _sql_window(plan: _Plan) -> Any:
    from kpi.compute import periods
    from sync.kpi_store import Window, micros

    w = plan.window
    labels = tuple(label for label, _, _ in periods(w.since, w.until, w.period))
    return Window(micros(w.since) or 0, micros(w.until) or 0, w.period, labels)


def _sql_report(
    store: StateStore, plan: _Plan, problems: Problems, owner: str | None, common: dict,
    engine: Engine = "sql", keep_copy: bool = False,
) -> KpiReport:
    from app.kpi_facts import ensure_facts
    from kpi.grouped import assemble, assemble_folded
    from sync.kpi_mirror import available, mirror_for
    from sync.kpi_store import Filters

    ensure_facts(
            store, plan.ctx, plan.folder, problems, facts_of=lead_facts_valid,
            engagement=engagement_by_period,
        )
    window, filters = _sql_window(plan), Filters(plan.window.segment_filter, owner)
    if engine == "sql" and available():
        labels = [(window.period, label) for label in window.labels]
        with mirror_for(store, keep=keep_copy).session(store, filters, labels) as kpi:
            return assemble_folded(_folded(kpi, plan, window, filters), plan.window, **common)
    return assemble(_grouped(store.kpi, plan, window, filters), plan.window, **common)


def _grouped(kpi: Any, plan: _Plan, window: Any, filters: Any) -> Any:
    """The report's GROUP BY queries, on the store (`StateStore.kpi`) or its DuckDB copy."""
    from kpi.compute import PROGRESSION_DAYS
    from kpi.grouped import Grouped

    return Grouped(
        cohort=kpi.cohort(window, filters),
        medians=kpi.medians(window, filters, plan.dimensions),
        new_mqls=kpi.new_mqls(window, filters),
        progression=kpi.progression(window, filters, PROGRESSION_DAYS),
        engagement=kpi.engagement(window, filters),
        handoffs=kpi.handoffs(plan.window.since, plan.window.until, filters),
        values=kpi.segment_values(filters),
    )


def _folded(kpi: Any, plan: _Plan, window: Any, filters: Any) -> Any:
    """The report's GROUP BY queries folded into its rows by DuckDB (the copy's queries)."""
    from kpi.compute import PROGRESSION_DAYS
    from kpi.grouped import Folded

    return Folded(
        folded=kpi.folded(window, filters, plan.dimensions, PROGRESSION_DAYS,
                          plan.window.since, plan.window.until),
        medians=kpi.medians(window, filters, plan.dimensions),
        values=kpi.segment_values(filters, plan.dimensions),
    )


# ------------------------------------------------------------------------------ drill-down
@dataclass(frozen=True, slots=True)
class LeadLine:
    """One line behind a number of the report (the dashboard's drill-down): a lead and the
    moment it counts at (a lead with two hand-offs is two lines)."""

    key: str
    email: str | None
    hubspot_id: str | None
    created: datetime
    first_mql: datetime | None
    owner_id: str | None
    segments: Mapping[str, str]
    explanation: str | None = None  # as `connector score explain` prints it (the dashboard)
    at: datetime | None = None  # the moment counted (creation, MQL, hand-off)


def leads_behind(
    settings: Settings,
    *,
    until: datetime,
    since: datetime | None = None,
    period: str = "month",
    metric: str,
    period_label: str | None = None,
    segment: str | None = None,
    owner: str | None = None,
    cell_segment: str | None = None,
    limit: int = 200,
) -> tuple[int, list[LeadLine]]:
    """What one cell of `build_report(settings, until=..., since=..., period=...,
    segment=..., owner=...)` counts: (how many, the first `limit` lines by the moment
    counted, then lead key), one line per counted moment, read from the stored facts (no
    lead is replayed once they are current). `metric` is one of `sync.kpi_store.METRICS`:
    cohort metrics (new_leads ... lost) count the leads created in `period_label` (None: the
    whole window, the totals row), new_mqls those whose first MQL episode started in it,
    handoffs the MQL follow-up Tasks created in it; `cell_segment` "DIM=VALUE" is a segment
    table's row on top of the filters ("unknown": the leads without a value). The SLA
    metrics are the speed-to-lead table's: the hand-offs whose MQL moment is in the window,
    in breach at `until` (`sla_breaches`: late or never; `_open`: never, past the deadline;
    `_closed`: touched after it), `owner` the hand-off's (`-` for none); like the table, no
    segment filter and no period."""
    from core.errors import ConfigError
    from sync.kpi_store import METRICS, SLA_METRICS, Filters

    if metric not in METRICS:
        raise ConfigError(f"metric {metric!r}: expected one of {', '.join(METRICS)}")
    plan = _plan(settings, until=until, since=since, period=period, segment=segment)
    row = parse_segment(cell_segment, plan.dimensions)
    problems = Problems()
    with open_report_store(settings) as store:
        from app.kpi_facts import ensure_facts

        ensure_facts(
            store, plan.ctx, plan.folder, problems, facts_of=lead_facts_valid,
            engagement=engagement_by_period,
        )
        if metric in SLA_METRICS:
            return _breach_lines(store, settings, plan, owner, SLA_METRICS[metric], limit)
        filters = Filters(plan.window.segment_filter, owner, row)
        total, rows = store.kpi.lead_lines(
            metric, _sql_window(plan), filters, label=period_label, limit=limit
        )
        keys = [r.lead_key for r in rows]
        segments, owners = store.kpi.segments_of(keys), store.kpi.owners_of(keys)
    return total, [
        _line(r, owners.get(r.lead_key), segments.get(r.lead_key, {}), until) for r in rows
    ]


def _line(row: Any, owner: str | None, segments: Mapping[str, str], until: datetime
          ) -> LeadLine:
    from sync.kpi_store import from_micros

    return LeadLine(
        key=row.lead_key, email=row.lead_key, hubspot_id=row.hubspot_id,
        created=from_micros(row.created) or until, first_mql=from_micros(row.first_mql),
        owner_id=owner, segments=segments, at=from_micros(row.at),
    )


def _breach_lines(
    store: StateStore, settings: Settings, plan: _Plan, owner: str | None,
    states: Sequence[str], limit: int,
) -> tuple[int, list[LeadLine]]:
    """One line per hand-off in breach (`breached_handoffs`), at its MQL moment, owned by
    the hand-off's owner; a lead whose facts are gone (archived since) still counts, as the
    table counts it, with what the hand-off knows."""
    found = breached_handoffs(
        store, settings, since=plan.window.since, until=plan.window.until, owner=owner,
        states=states,
    )
    found.sort(key=lambda h: (h.mql_at, h.lead_key))
    shown = found[:limit]
    keys = [h.lead_key for h in shown]
    facts, segments = store.kpi.facts_of(keys), store.kpi.segments_of(keys)
    lines = []
    for h in shown:
        stored = facts.get(h.lead_key)
        if stored is None:
            lines.append(LeadLine(key=h.lead_key, email=None, hubspot_id=None, created=h.mql_at,
                                  first_mql=None, owner_id=h.owner_id, segments={}, at=h.mql_at))
        else:
            line = _line(stored, h.owner_id, segments.get(h.lead_key, {}), plan.window.until)
            lines.append(dataclass_replace(line, at=h.mql_at))
    return len(found), lines


def breached_handoffs(
    store: StateStore, settings: Settings, *, since: datetime, until: datetime,
    owner: str | None, states: Sequence[str] = ("open", "closed"),
) -> list[Handoff]:
    """The hand-offs whose MQL moment is in [since, until) in one of the breach `states` of
    the SLA at `until` ("open": never touched, past the deadline; "closed": touched after
    it); `owner`'s only when given, `-` (`core.handoff.NO_OWNER`) the hand-offs without one,
    as the speed-to-lead table names them."""
    from core.handoff import NO_OWNER, breach

    sla = settings.sla
    calendar = sla.calendar()
    return [
        h
        for h in store.touches.handoffs(since, until)
        if (owner is None or (h.owner_id or NO_OWNER) == owner)
        and breach(h, until, sla.first_touch_hours, calendar) in states
    ]


def write_outputs(
    report: KpiReport, *, html_path: Path | None, csv_dir: Path | None,
    language: Language = "en", zone: str = "UTC",
) -> list[Path]:
    """Write the HTML file (in `language`, dates in `zone`) and/or one CSV per table; returns
    the files written. A file is written beside its target and renamed, so a reader never
    sees half a report."""
    from core.errors import ConfigError
    from kpi.export import csv_tables
    from kpi.html import render_html

    targets: list[tuple[Path, str]] = []
    if html_path is not None:
        targets.append((html_path, render_html(report, language, zone)))
    if csv_dir is not None:
        targets += [(csv_dir / name, text) for name, text in csv_tables(report).items()]
    written = []
    for path, text in targets:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            partial.write_text(text, encoding="utf-8")
            partial.replace(path)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot write the report: {exc.strerror or exc}") from None
        written.append(path)
    return written
