"""Every read the dashboard makes, in one place: the report for a set of filters and the
leads behind one of its numbers.

Implemented over today's report code (`app.kpi_report`): the report is `build_report`; the
owner filter and the drill-down go through every stored lead's facts (`lead_facts`), which
is slow on a large state store but counts exactly as the report does. When the set-based
`app.kpi_report.build_report(..., owner=)` and `leads_behind` land, this module becomes two
calls to them.

A lead's owner is the OwnerId the last outcome pull read for its linked Salesforce record
(`sf_owners`), else the one stored with the link (`StateStore.lead_owners`).

Every number the page lets one click lists exactly what it counts, one line per counted
moment (a lead with two hand-offs in the window is two lines of `handoffs`):
- the funnel metrics per period or for the whole window, as `kpi.compute.compute` counts;
- a segment table's row: the same with `cell_segment` "DIM=VALUE" on top of the filters
  (the leads without a value are the row "unknown", as compute groups them);
- the speed-to-lead table's breaches (`sla_breaches`: late or never; `_open`: never, past
  the deadline; `_closed`: touched after it): the hand-offs whose MQL moment is in the
  window, the owner being the hand-off's (`-` for none), breach as of the window's end, as
  `app.kpi_report.speed_to_lead` counts (no segment filter there, nor here).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError

if TYPE_CHECKING:
    from core.config import Settings
    from kpi.model import KpiReport, LeadFacts
    from scoring.simulate import LeadHistory
    from sync.state import StateStore

FUNNEL_METRICS = (
    "new_leads", "mqls", "sqls", "opportunities", "won", "lost", "new_mqls", "handoffs",
)
SLA_METRICS = {"sla_breaches": ("open", "closed"), "sla_breaches_open": ("open",),
               "sla_breaches_closed": ("closed",)}
METRICS = (*FUNNEL_METRICS, *SLA_METRICS)
LEAD_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Filters:
    until: datetime
    since: datetime | None = None
    period: str = "month"
    segment: str | None = None  # DIMENSION=VALUE
    owner: str | None = None  # Salesforce OwnerId


@dataclass(frozen=True, slots=True)
class LeadLine:
    key: str
    email: str | None
    hubspot_id: str | None
    created: datetime
    first_mql: datetime | None
    owner_id: str | None
    segments: Mapping[str, str]
    explanation: str | None = None  # as `connector score explain` prints it
    at: datetime | None = None  # the moment counted (creation, MQL, hand-off)


def report_for(settings: Settings, filters: Filters) -> KpiReport:
    from app.kpi_report import build_report

    if filters.owner is None:
        return build_report(settings, until=filters.until, since=filters.since,
                            period=filters.period, segment=filters.segment)
    return _owner_report(settings, filters)


def owners(settings: Settings) -> list[str]:
    """The owners the filter offers: every OwnerId a linked lead has."""
    from sync.runner import open_store

    with open_store(settings, create=False) as store:
        return sorted(set(store.lead_owners().values()))


def leads_for(
    settings: Settings, filters: Filters, metric: str, period_label: str | None,
    *, cell_segment: str | None = None, limit: int = LEAD_LIMIT, explain: bool = True,
) -> tuple[int, list[LeadLine]]:
    """What `metric` of period `period_label` (None: the whole window) counts, as the report
    counts it, within the segment row `cell_segment` when given: (how many, the first
    `limit` lines by the moment counted)."""
    from app.kpi_report import parse_segment

    if metric not in METRICS:
        raise ConfigError(f"metric {metric!r}: expected one of {', '.join(METRICS)}")
    env = _Env.of(settings, filters)
    wanted = parse_segment(filters.segment, env.dimensions)
    row = parse_segment(cell_segment, env.dimensions)
    with _open(settings) as store:
        if metric in SLA_METRICS:
            found = _breaches(store, settings, env, filters.owner, SLA_METRICS[metric])
        else:
            found = _funnel_lines(store, env, filters.owner, wanted, row, metric, period_label)
    found.sort(key=lambda line: (line.at or line.created, line.key))
    shown = found[:limit]
    if explain:
        texts: dict[str, str | None] = {}
        for line in shown:
            if line.key not in texts:
                texts[line.key] = _explain(settings, line.key, filters.until)
        shown = [replace(line, explanation=texts[line.key]) for line in shown]
    return len(found), shown


# ------------------------------------------------------------------------------ inside
def _open(settings: Settings) -> Any:
    from sync.runner import open_store

    return open_store(settings, create=False)


def _line(history: LeadHistory, facts: LeadFacts, owner: str | None, at: datetime
          ) -> LeadLine:
    return LeadLine(key=facts.key, email=history.key, hubspot_id=history.contact.hubspot_id,
                    created=facts.created, first_mql=facts.first_mql, owner_id=owner,
                    segments=dict(facts.dimensions), at=at)


def _funnel_lines(
    store: StateStore, env: _Env, owner: str | None, wanted: tuple[str, str] | None,
    row: tuple[str, str] | None, metric: str, period_label: str | None,
) -> list[LeadLine]:
    from kpi.compute import _in, _steps
    from kpi.compute import period_label as label_of

    found: list[LeadLine] = []
    owners_of = store.lead_owners()
    for history, facts in _facts(store, env):
        lead_owner = owners_of.get(facts.key)
        if owner is not None and lead_owner != owner:
            continue
        if wanted is not None and facts.dimensions.get(wanted[0]) != wanted[1]:
            continue
        if row is not None and (facts.dimensions.get(row[0]) or "unknown") != row[1]:
            continue
        for moment in _moments(facts, metric, env, _steps, _in):
            if period_label is None or label_of(moment, env.ctx.period) == period_label:
                found.append(_line(history, facts, lead_owner, moment))
    return found


def _breaches(
    store: StateStore, settings: Settings, env: _Env, owner: str | None,
    states: tuple[str, ...],
) -> list[LeadLine]:
    from core.handoff import NO_OWNER, breach

    sla = settings.sla
    calendar = sla.calendar()
    late = [
        h for h in store.touches.handoffs(env.since, env.until)
        if (owner is None or (h.owner_id or NO_OWNER) == owner)
        and breach(h, env.until, sla.first_touch_hours, calendar) in states
    ]
    keys = {h.lead_key for h in late}
    leads = {facts.key: (history, facts) for history, facts in _facts(store, env)
             if facts.key in keys}
    found = []
    for h in late:
        if h.lead_key in leads:
            history, facts = leads[h.lead_key]
            found.append(_line(history, facts, h.owner_id, h.mql_at))
        else:  # the lead's history is gone: still counted, as the table counts it
            found.append(LeadLine(key=h.lead_key, email=None, hubspot_id=None,
                                  created=h.mql_at, first_mql=None, owner_id=h.owner_id,
                                  segments={}, at=h.mql_at))
    return found


@dataclass(frozen=True, slots=True)
class _Env:
    ctx: Any  # app.kpi_report._Context
    since: datetime
    until: datetime
    dimensions: list[str]
    costs: Any

    @classmethod
    def of(cls, settings: Settings, filters: Filters) -> _Env:
        from app.kpi_report import _Context, default_since, stage_ranks
        from kpi.costs import load_costs
        from kpi.model import CHANNEL_DIMENSION
        from scoring import load_rules
        from scoring.simulate import time_can_qualify
        from sync.outcomes import load_funnel
        from sync.runner import mappings_dir

        if filters.period not in ("week", "month"):
            raise ConfigError(f"period {filters.period!r}: expected week or month")
        folder = mappings_dir(settings)
        rules = load_rules(folder)
        period = "week" if filters.period == "week" else "month"
        since = filters.since or default_since(filters.until, period)
        if since >= filters.until:
            raise ConfigError(f"since {since.date()} is not before until {filters.until.date()}")
        ctx = _Context(rules=rules, until=filters.until, period=period, ranks=stage_ranks(rules),
                       funnel=load_funnel(folder), time_sensitive=time_can_qualify(rules))
        dimensions = [d.name for d in rules.dimensions] + [CHANNEL_DIMENSION]
        return cls(ctx, since, filters.until, dimensions, load_costs(folder))


def _facts(store: StateStore, env: _Env) -> Iterator[tuple[LeadHistory, LeadFacts]]:
    from app.kpi_report import BATCH, Problems, lead_facts
    from app.leads import read_leads

    problems = Problems()
    batch: list[LeadHistory] = []

    def flush() -> Iterator[tuple[LeadHistory, LeadFacts]]:
        keys = [h.key for h in batch]
        states, known = store.mql_states(keys), store.outcomes.outcomes_for(keys)
        tasks = store.tasks_for(keys)
        for h in batch:
            facts = lead_facts(h, env.ctx, state=states.get(h.key), outcome=known.get(h.key),
                               tasks=tasks.get(h.key, ()), problems=problems)
            if facts is not None:
                yield h, facts

    for history in read_leads(store):
        batch.append(history)
        if len(batch) >= BATCH:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def _moments(facts: LeadFacts, metric: str, env: _Env, steps_of: Any, inside: Any
             ) -> list[datetime]:
    """When `facts` counts in `metric` (the moment that picks its period), as
    `kpi.compute.compute` counts: cohort metrics by creation, new MQLs by the first MQL,
    hand-offs by each Task."""
    since, until = env.since, env.until
    if metric == "new_mqls":
        return [facts.first_mql] if inside(facts.first_mql, since, until) else []
    if metric == "handoffs":
        return [m for m in facts.handoffs if inside(m, since, until)]
    if not inside(facts.created, since, until):
        return []
    steps = steps_of(facts, until)
    reached = {"new_leads": True, "mqls": steps.mql, "sqls": steps.sql,
               "opportunities": steps.opportunity, "won": steps.won, "lost": steps.lost}
    return [facts.created] if reached[metric] else []


def _owner_report(settings: Settings, filters: Filters) -> KpiReport:
    from app.kpi_report import agreement_check, parse_segment, speed_to_lead
    from kpi.compute import compute
    from kpi.model import ReportWindow
    from sync.runner import open_store

    env = _Env.of(settings, filters)
    wanted = parse_segment(filters.segment, env.dimensions)
    window = ReportWindow(env.since, env.until, env.ctx.period, generated_at=env.until,
                          segment_filter=wanted)
    with open_store(settings, create=False) as store:
        owners_of = store.lead_owners()
        leads = (f for _, f in _facts(store, env) if owners_of.get(f.key) == filters.owner)
        speed = [s for s in speed_to_lead(store, settings, since=env.since, until=env.until)
                 if s.owner == filters.owner]
        report = compute(
            leads, window, dimensions=env.dimensions, costs=env.costs,
            agreement=agreement_check(store, env.ctx.funnel),
            outcomes_known=bool(store.outcomes.outcome_counts().get("sf_records")),
            speed_to_lead=speed, sla_hours=settings.sla.first_touch_hours,
        )
    note = f"owner {filters.owner}: only the leads whose Salesforce record this owner holds"
    return replace(report, notes=(*report.notes, note))


def _explain(settings: Settings, key: str, until: datetime) -> str | None:
    from app.explain import explain_lead, format_explanation

    data = explain_lead(settings, key, clock=lambda: until)
    return None if data is None else format_explanation(data)


__all__ = ["FUNNEL_METRICS", "METRICS", "SLA_METRICS", "Filters", "LeadLine", "leads_for", "owners",
           "report_for"]
