"""Funnel, cost and engagement KPIs per period and per segment: pure functions over
`kpi.model` data (no I/O; the report's end and "now" come in through `ReportWindow`).

Definitions (also in docs/reporting.md):

- Cohort view (funnel, rates, durations): a lead belongs to the period in which it was
  created (HubSpot `createdate`) and is followed up to the report's end (`until`).
  new leads = leads created in the period; MQLs = of those, the leads that were MQL at any
  time up to `until`; SQLs = of the MQLs, those sales accepted (a SQL Lead status, or any
  later step); opportunities = of the SQLs, those with an opportunity (converted, or an
  opportunity won or lost); won / lost = of the opportunities, those closed won / lost.
  MQL rate = MQLs / new leads; SQL rate = SQLs / MQLs; opportunity rate =
  opportunities / SQLs; win rate = won / (won + lost).
- time to MQL = days from creation to the first MQL episode; MQL to opportunity = days from
  the first MQL episode to the opportunity (leads whose opportunity came first are left out);
  medians and means over the cohort's leads that made both steps.
- Activity view: new MQLs = leads whose first MQL episode started in the period; hand-offs =
  follow-up Tasks the connector created in the period; engagement = email, webinar and
  white-paper activity that happened in the period.
- Interest -> comparison: leads that first reached the interest stage (or a later one) in the
  period; moved = reached comparison (or a later stage) within `PROGRESSION_DAYS` of that.
- Costs: spend of a period = every costs-file month prorated by the share of the month the
  period covers; cost per lead = spend / new leads, cost per MQL = spend / MQLs (cohort).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.handoff import OwnerSpeed
from kpi.model import (
    CHANNEL_DIMENSION,
    Agreement,
    CostEntry,
    CostRow,
    Costs,
    Durations,
    Engagement,
    Funnel,
    KpiReport,
    LeadFacts,
    Period,
    Progression,
    ReportWindow,
    Row,
)

PROGRESSION_DAYS = 183  # "within six months"
_DAY = 86400.0
_CENT = Decimal("0.01")


# ------------------------------------------------------------------------------ periods
def period_label(moment: datetime, period: Period) -> str:
    """ISO week ("2026-W21") or calendar month ("2026-09") of `moment`, in UTC."""
    utc = moment.astimezone(UTC)
    if period == "month":
        return f"{utc.year:04d}-{utc.month:02d}"
    year, week, _ = utc.isocalendar()
    return f"{year:04d}-W{week:02d}"


def period_start(moment: datetime, period: Period) -> datetime:
    utc = moment.astimezone(UTC)
    day = datetime(utc.year, utc.month, utc.day, tzinfo=UTC)
    if period == "month":
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())


def next_period(start: datetime, period: Period) -> datetime:
    if period == "week":
        return start + timedelta(days=7)
    return _next_month(start)


def periods(
    since: datetime, until: datetime, period: Period
) -> list[tuple[str, datetime, datetime]]:
    """`(label, start, end)` of every period from `since` to `until`, the first and last
    clipped to them."""
    if until <= since:
        raise ValueError("until must be after since")
    out = []
    start = period_start(since, period)
    while start < until:
        end = next_period(start, period)
        out.append((period_label(start, period), max(start, since), min(end, until)))
        start = end
    return out


def _next_month(moment: datetime) -> datetime:
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )


def _month_range(month: str) -> tuple[datetime, datetime]:
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=UTC)
    return start, _next_month(start)


# ------------------------------------------------------------------------------ costs
def spend(entries: Iterable[CostEntry], start: datetime, end: datetime) -> Decimal:
    """What `entries` spent between `start` and `end`: each month's amount times the share of
    the month inside the range (to the cent)."""
    total = Decimal(0)
    for entry in entries:
        month_start, month_end = _month_range(entry.month)
        overlap = (min(end, month_end) - max(start, month_start)).total_seconds()
        if overlap <= 0:
            continue
        share = Decimal(overlap) / Decimal((month_end - month_start).total_seconds())
        total += entry.amount * share
    return total.quantize(_CENT)


# ------------------------------------------------------------------------------ accumulating
@dataclass(slots=True)
class _Acc:
    new_leads: int = 0
    mqls: int = 0
    sqls: int = 0
    opportunities: int = 0
    won: int = 0
    lost: int = 0
    new_mqls: int = 0
    handoffs: int = 0
    to_mql: list[float] = field(default_factory=list)
    to_opportunity: list[float] = field(default_factory=list)
    engagement: Engagement = field(default_factory=Engagement)
    reached_interest: int = 0
    moved: int = 0
    open: int = 0

    def row(
        self,
        label: str,
        cost: Decimal | None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Row:
        return Row(
            label=label,
            funnel=Funnel(
                self.new_leads, self.mqls, self.sqls, self.opportunities, self.won, self.lost
            ),
            new_mqls=self.new_mqls,
            handoffs=self.handoffs,
            time_to_mql=_durations(self.to_mql),
            mql_to_opportunity=_durations(self.to_opportunity),
            engagement=self.engagement,
            progression=Progression(self.reached_interest, self.moved, self.open),
            cost=cost,
            start=start,
            end=end,
        )


def _durations(days: list[float]) -> Durations:
    if not days:
        return Durations(0, None, None)
    return Durations(len(days), round(statistics.median(days), 2), round(statistics.fmean(days), 2))


def _days(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / _DAY


@dataclass(frozen=True, slots=True)
class _Steps:
    """How far one lead got by the report's end (each step implies the ones before)."""

    mql: bool
    sql: bool
    opportunity: bool
    won: bool
    lost: bool
    opportunity_at: datetime | None


def _steps(lead: LeadFacts, until: datetime) -> _Steps:
    def by_end(moment: datetime | None) -> datetime | None:
        return moment if moment is not None and moment <= until else None

    mql = by_end(lead.first_mql) is not None
    o = lead.outcome
    if o is None or not mql:
        return _Steps(mql, False, False, False, False, None)
    won, lost = by_end(o.won_at), by_end(o.lost_at)
    opportunity_at = by_end(o.opportunity_at)
    has_opportunity = opportunity_at is not None or won is not None or lost is not None
    sql = has_opportunity or (o.sql and o.sql_at is None) or by_end(o.sql_at) is not None
    return _Steps(
        mql,
        sql,
        has_opportunity,
        won is not None,
        won is None and lost is not None,
        opportunity_at or won or lost,
    )


def _in(moment: datetime | None, since: datetime, until: datetime) -> bool:
    return moment is not None and since <= moment < until


def compute(
    leads: Iterable[LeadFacts],
    window: ReportWindow,
    *,
    dimensions: Sequence[str],
    costs: Costs | None = None,
    agreement: Agreement | None = None,
    outcomes_known: bool = True,
    speed_to_lead: Sequence[OwnerSpeed] = (),
    sla_hours: float = 0.0,
) -> KpiReport:
    """Every KPI of `leads` over `window` (one pass over `leads`; they may be a generator).

    `dimensions` are the segment dimensions to break down by, in order (the channel is one
    when the adapter puts it in `LeadFacts.dimensions`). With `window.segment_filter` only
    the leads with that value count.
    """
    since, until, period = window.since, window.until, window.period
    spans = periods(since, until, period)
    by_period: dict[str, _Acc] = {label: _Acc() for label, _, _ in spans}
    by_segment: dict[str, dict[str, _Acc]] = {d: defaultdict(_Acc) for d in dimensions}
    total = _Acc()
    cohort_by_month: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    wanted = window.segment_filter
    window_labels = set(by_period)

    for lead in leads:
        if wanted is not None and lead.dimensions.get(wanted[0]) != wanted[1]:
            continue
        groups = [total, *(by_segment[d][lead.dimensions.get(d) or "unknown"] for d in dimensions)]
        steps = _steps(lead, until)
        if _in(lead.created, since, until):
            cohort = [by_period[period_label(lead.created, period)], *groups]
            counts = cohort_by_month[(period_label(lead.created, "month"), lead.channel)]
            counts[0] += 1
            counts[1] += steps.mql
            for acc in cohort:
                _add_cohort(acc, lead, steps)
        if _in(lead.first_mql, since, until):
            assert lead.first_mql is not None
            for acc in (by_period[period_label(lead.first_mql, period)], *groups):
                acc.new_mqls += 1
        for moment in lead.handoffs:
            if _in(moment, since, until):
                for acc in (by_period[period_label(moment, period)], *groups):
                    acc.handoffs += 1
        for label, engaged in lead.engagement.items():
            if label in window_labels:
                for acc in (by_period[label], *groups):
                    acc.engagement = acc.engagement + engaged
        if _in(lead.first_interest, since, until):
            assert lead.first_interest is not None
            for acc in (by_period[period_label(lead.first_interest, period)], *groups):
                _add_progression(acc, lead, lead.first_interest, until)

    entries = _cost_entries(costs, wanted)
    period_rows = tuple(
        by_period[label].row(
            label, None if entries is None else spend(entries, start, end), start, end
        )
        for label, start, end in spans
    )
    segment_rows = {
        d: tuple(
            by_segment[d][value].row(value, _segment_cost(costs, d, value, since, until))
            for value in sorted(by_segment[d])
        )
        for d in dimensions
    }
    totals = total.row(
        "total", None if entries is None else spend(entries, since, until), since, until
    )
    return finished_report(
        window,
        costs=costs,
        entries=entries,
        outcomes_known=outcomes_known,
        period_rows=period_rows,
        totals=totals,
        segment_rows=segment_rows,
        cost_rows=_cost_rows(costs, cohort_by_month, since, until),
        agreement=agreement,
        speed_to_lead=speed_to_lead,
        sla_hours=sla_hours,
    )


def _add_cohort(acc: _Acc, lead: LeadFacts, steps: _Steps) -> None:
    acc.new_leads += 1
    if not steps.mql:
        return
    assert lead.first_mql is not None
    acc.mqls += 1
    acc.to_mql.append(max(0.0, _days(lead.first_mql, lead.created)))
    acc.sqls += steps.sql
    acc.opportunities += steps.opportunity
    acc.won += steps.won
    acc.lost += steps.lost
    if steps.opportunity_at is not None and steps.opportunity_at >= lead.first_mql:
        acc.to_opportunity.append(_days(steps.opportunity_at, lead.first_mql))


def _add_progression(acc: _Acc, lead: LeadFacts, start: datetime, until: datetime) -> None:
    acc.reached_interest += 1
    deadline = start + timedelta(days=PROGRESSION_DAYS)
    reached = lead.first_comparison
    if reached is not None and reached <= min(deadline, until):
        acc.moved += 1
    elif deadline > until:
        acc.open += 1


def _cost_entries(
    costs: Costs | None, wanted: tuple[str, str] | None
) -> tuple[CostEntry, ...] | None:
    """The entries that belong to the leads counted; None when costs cannot be split so."""
    if costs is None:
        return None
    if wanted is None:
        return costs.entries
    if wanted[0] == CHANNEL_DIMENSION:
        return tuple(e for e in costs.entries if e.channel == wanted[1])
    return None


def _segment_cost(
    costs: Costs | None, dimension: str, value: str, since: datetime, until: datetime
) -> Decimal | None:
    if costs is None or dimension != CHANNEL_DIMENSION:
        return None
    return spend((e for e in costs.entries if e.channel == value), since, until)


def _cost_rows(
    costs: Costs | None,
    cohort: dict[tuple[str, str], list[int]],
    since: datetime,
    until: datetime,
) -> tuple[CostRow, ...]:
    """Per costs-file month and channel (months that overlap the window), the whole month's
    spend against the leads created in it inside the window."""
    if costs is None:
        return ()
    grouped: dict[tuple[str, str], list[CostEntry]] = defaultdict(list)
    for entry in costs.entries:
        start, end = _month_range(entry.month)
        if start < until and end > since:
            grouped[(entry.month, entry.channel)].append(entry)
    rows = []
    for (month, channel), entries in sorted(grouped.items()):
        new_leads, mqls = cohort.get((month, channel), (0, 0))
        rows.append(
            CostRow(
                month=month,
                channel=channel,
                campaigns=tuple(sorted({e.campaign for e in entries if e.campaign})),
                cost=sum((e.amount for e in entries), Decimal(0)).quantize(_CENT),
                new_leads=new_leads,
                mqls=mqls,
            )
        )
    return tuple(rows)


def finished_report(
    window: ReportWindow,
    *,
    costs: Costs | None,
    entries: object,
    outcomes_known: bool,
    period_rows: tuple[Row, ...],
    totals: Row,
    segment_rows: Mapping[str, tuple[Row, ...]],
    cost_rows: tuple[CostRow, ...],
    agreement: Agreement | None,
    speed_to_lead: Iterable[OwnerSpeed],
    sla_hours: float,
) -> KpiReport:
    """The report from its computed rows, with the notes that say what a reader may miss
    (both engines end here: this fold and `kpi.grouped`'s set-based one). `entries` is the
    costs of the filtered segment, None when a segment filter leaves costs per channel only."""
    notes = []
    wanted = window.segment_filter
    if costs is not None and entries is None and wanted is not None:
        notes.append(
            f"costs are kept per channel: with the {wanted[0]}={wanted[1]} filter, only the "
            "channel breakdown shows costs"
        )
    if not outcomes_known:
        notes.append(
            "no Salesforce outcomes are stored yet: SQL, opportunity and won counts are 0 until "
            "outcomes are pulled"
        )
    return KpiReport(
        window=window,
        currency=None if costs is None else costs.currency,
        periods=period_rows,
        totals=totals,
        segments=segment_rows,
        costs=cost_rows,
        agreement=agreement,
        outcomes_known=outcomes_known,
        notes=tuple(notes),
        speed_to_lead=tuple(speed_to_lead),
        sla_hours=sla_hours,
    )
