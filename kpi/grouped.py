"""The report from group counts instead of one `LeadFacts` per lead: the same `KpiReport`
`kpi.compute.compute` makes (same definitions, same rounding), folded from the rows a
set-based query returns (`sync.kpi_store`): a few thousand (period label, segment values,
channel) groups, never a row per lead. Pure: no I/O, no clock.

A group row names its period label, `segkey` (the rules' dimension values in order, joined by
`SEP`) and channel; each row is added to its period, to the totals and to the row of each
of its segment values, as `compute` adds one lead. Medians cannot be folded: they come in
per group (the middle value or two, in microseconds, as the database ranked them).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from core.handoff import OwnerSpeed
from kpi.compute import (
    PROGRESSION_DAYS,
    _cost_entries,
    _cost_rows,
    _segment_cost,
    finished_report,
    period_label,
    periods,
    spend,
)
from kpi.model import (
    CHANNEL_DIMENSION,
    Agreement,
    Costs,
    Durations,
    Engagement,
    Funnel,
    KpiReport,
    Progression,
    ReportWindow,
    Row,
)

SEP = "\x1f"
_US = 1_000_000
_DAY = 86400.0

__all__ = ["PROGRESSION_DAYS", "SEP", "Folded", "Grouped", "assemble", "assemble_folded"]


@dataclass(frozen=True, slots=True)
class Grouped:
    """What the set-based queries return (see `sync.kpi_store.KpiStore`).

    cohort: (label, segkey, channel, month, new, mqls, sqls, opportunities, won, lost,
        to_mql_sum_us, to_opportunity_count, to_opportunity_sum_us)
    medians: (group kind, group value) -> {"mql": [us, ...], "opp": [us, ...]}; the kind is
        "period", "total" or a dimension name
    new_mqls: (label, segkey, channel, count)
    progression: (label, segkey, channel, reached, moved, open)
    engagement: (label, segkey, channel, delivered, opened, clicked, registered, attended,
        downloads)
    handoffs: (day, segkey, channel, count)
    values: every (dimension, value) among the leads that count
    """

    cohort: Sequence[tuple] = ()
    medians: Mapping[tuple[str, str], Mapping[str, Sequence[int]]] = field(default_factory=dict)
    new_mqls: Sequence[tuple] = ()
    progression: Sequence[tuple] = ()
    engagement: Sequence[tuple] = ()
    handoffs: Sequence[tuple] = ()
    values: Iterable[tuple[str, str]] = ()


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
    to_mql_sum: int = 0
    to_opp_count: int = 0
    to_opp_sum: int = 0
    engagement: Engagement = field(default_factory=Engagement)
    reached_interest: int = 0
    moved: int = 0
    open: int = 0

    def row(
        self,
        label: str,
        middles: Mapping[str, Sequence[int]],
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
            time_to_mql=_durations(self.mqls, self.to_mql_sum, middles.get("mql", ())),
            mql_to_opportunity=_durations(
                self.to_opp_count, self.to_opp_sum, middles.get("opp", ())
            ),
            engagement=self.engagement,
            progression=Progression(self.reached_interest, self.moved, self.open),
            cost=cost,
            start=start,
            end=end,
        )


def _days(us: int) -> float:
    return (us / _US) / _DAY  # as timedelta.total_seconds() / 86400


def _durations(count: int, total_us: int, middle: Sequence[int]) -> Durations:
    """As `kpi.compute._durations` over the same values: the median of an even count is the
    mean of the two middle values; the mean is the sum over the count."""
    if not count:
        return Durations(0, None, None)
    values = [_days(v) for v in middle]
    median = values[0] if len(values) == 1 else (values[0] + values[1]) / 2
    mean = math.fsum([_days(total_us)]) / count
    return Durations(count, round(median, 2), round(mean, 2))


def _accumulators(
    window: ReportWindow, dimensions: Sequence[str], values: Iterable[tuple[str, str]]
) -> tuple[list[tuple[str, datetime, datetime]], dict[str, _Acc], dict[str, dict[str, _Acc]],
           _Acc]:
    """The window's periods, and an empty accumulator per period, per segment value (every
    value among the leads that count, so a value with no lead in the window still gets its
    row) and for the total: what both `assemble` functions fill."""
    spans = periods(window.since, window.until, window.period)
    by_period = {label: _Acc() for label, _, _ in spans}
    by_segment: dict[str, dict[str, _Acc]] = {d: defaultdict(_Acc) for d in dimensions}
    for dimension, value in values:
        if dimension in by_segment:
            by_segment[dimension][value]
    return spans, by_period, by_segment, _Acc()


def assemble(
    grouped: Grouped,
    window: ReportWindow,
    *,
    dimensions: Sequence[str],
    costs: Costs | None = None,
    agreement: Agreement | None = None,
    outcomes_known: bool = True,
    speed_to_lead: Sequence[OwnerSpeed] = (),
    sla_hours: float = 0.0,
) -> KpiReport:
    """The `KpiReport` `kpi.compute.compute` would make of the same leads."""
    period = window.period
    spans, by_period, by_segment, total = _accumulators(window, dimensions, grouped.values)
    rules_dims = [d for d in dimensions if d != CHANNEL_DIMENSION]

    def groups(label: str | None, segkey: str, channel: str) -> list[_Acc]:
        values = dict(zip(rules_dims, segkey.split(SEP), strict=False)) if segkey else {}
        values[CHANNEL_DIMENSION] = channel
        out = [total, *(by_segment[d][values.get(d) or "unknown"] for d in dimensions)]
        if label is not None:
            out.append(by_period[label])
        return out

    cohort_by_month: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for label, segkey, channel, month, new, mqls, sqls, opp, won, lost, tm, oc, os_ in (
        grouped.cohort
    ):
        counts = cohort_by_month[(month, channel)]
        counts[0] += int(new)
        counts[1] += int(mqls)
        for acc in groups(label, segkey, channel):
            acc.new_leads += int(new)
            acc.mqls += int(mqls)
            acc.sqls += int(sqls)
            acc.opportunities += int(opp)
            acc.won += int(won)
            acc.lost += int(lost)
            acc.to_mql_sum += int(tm)
            acc.to_opp_count += int(oc)
            acc.to_opp_sum += int(os_)
    for label, segkey, channel, count in grouped.new_mqls:
        for acc in groups(label, segkey, channel):
            acc.new_mqls += int(count)
    for day, segkey, channel, count in grouped.handoffs:
        for acc in groups(period_label(day, period), segkey, channel):
            acc.handoffs += int(count)
    for label, segkey, channel, *numbers in grouped.engagement:
        engaged = Engagement(*(int(n) for n in numbers))
        for acc in groups(label, segkey, channel):
            acc.engagement = acc.engagement + engaged
    for label, segkey, channel, reached, moved, still_open in grouped.progression:
        for acc in groups(label, segkey, channel):
            acc.reached_interest += int(reached)
            acc.moved += int(moved)
            acc.open += int(still_open)

    return _report(
        window, spans, by_period, by_segment, total, cohort_by_month, grouped.medians,
        dimensions=dimensions, costs=costs, agreement=agreement, outcomes_known=outcomes_known,
        speed_to_lead=speed_to_lead, sla_hours=sla_hours,
    )


@dataclass(frozen=True, slots=True)
class Folded:
    """The group queries folded by the database itself (`sync.kpi_store.KpiStore.folded`):
    per query, rows (group, dimension, value, sums...) with group "t" (totals), "p" (per
    period label; per UTC day "YYYY-MM-DD" for the hand-offs), "s" (per segment value) and,
    for the cohort, "m" (per channel and month). The sums are in the order of the
    `Grouped` rows' numbers. O(periods + segment values) rows."""

    folded: Mapping[str, Sequence[tuple]]
    medians: Mapping[tuple[str, str], Mapping[str, Sequence[int]]] = field(default_factory=dict)
    values: Iterable[tuple[str, str]] = ()


def assemble_folded(
    grouped: Folded,
    window: ReportWindow,
    *,
    dimensions: Sequence[str],
    costs: Costs | None = None,
    agreement: Agreement | None = None,
    outcomes_known: bool = True,
    speed_to_lead: Sequence[OwnerSpeed] = (),
    sla_hours: float = 0.0,
) -> KpiReport:
    """`assemble`'s report from rows the database folded already: the same `KpiReport`."""
    period = window.period
    spans, by_period, by_segment, total = _accumulators(window, dimensions, grouped.values)

    def target(g: str, d: str, v: str) -> _Acc | None:
        if g == "t":
            return total
        if g == "p":
            return by_period[v]
        return by_segment[d][v] if d in by_segment else None

    def rows(name: str) -> Iterable[tuple[_Acc, list[int]]]:
        for g, d, v, *sums in grouped.folded.get(name, ()):
            if g == "p" and name == "handoffs":
                v = period_label(datetime.fromisoformat(v).replace(tzinfo=UTC), period)
            acc = target(g, d, v) if g != "m" else None
            if acc is not None:
                yield acc, [int(n or 0) for n in sums]

    cohort_by_month: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for g, channel, month, new, mqls, *_ in grouped.folded.get("cohort", ()):
        if g == "m":
            cohort_by_month[(month, channel)] = [int(new or 0), int(mqls or 0)]
    for acc, (new, mqls, sqls, opp, won, lost, tm, oc, os_) in rows("cohort"):
        acc.new_leads += new
        acc.mqls += mqls
        acc.sqls += sqls
        acc.opportunities += opp
        acc.won += won
        acc.lost += lost
        acc.to_mql_sum += tm
        acc.to_opp_count += oc
        acc.to_opp_sum += os_
    for acc, (count,) in rows("new_mqls"):
        acc.new_mqls += count
    for acc, (count,) in rows("handoffs"):
        acc.handoffs += count
    for acc, numbers in rows("engagement"):
        acc.engagement = acc.engagement + Engagement(*numbers)
    for acc, (reached, moved, still_open) in rows("progression"):
        acc.reached_interest += reached
        acc.moved += moved
        acc.open += still_open
    return _report(
        window, spans, by_period, by_segment, total, cohort_by_month, grouped.medians,
        dimensions=dimensions, costs=costs, agreement=agreement, outcomes_known=outcomes_known,
        speed_to_lead=speed_to_lead, sla_hours=sla_hours,
    )


def _report(
    window: ReportWindow,
    spans: Sequence[tuple[str, datetime, datetime]],
    by_period: Mapping[str, _Acc],
    by_segment: Mapping[str, Mapping[str, _Acc]],
    total: _Acc,
    cohort_by_month: Mapping[tuple[str, str], list[int]],
    middles: Mapping[tuple[str, str], Mapping[str, Sequence[int]]],
    *,
    dimensions: Sequence[str],
    costs: Costs | None,
    agreement: Agreement | None,
    outcomes_known: bool,
    speed_to_lead: Sequence[OwnerSpeed],
    sla_hours: float,
) -> KpiReport:
    since, until = window.since, window.until
    entries = _cost_entries(costs, window.segment_filter)
    period_rows = tuple(
        by_period[label].row(
            label,
            middles.get(("period", label), {}),
            None if entries is None else spend(entries, start, end),
            start,
            end,
        )
        for label, start, end in spans
    )
    segment_rows = {
        d: tuple(
            by_segment[d][value].row(
                value, middles.get((d, value), {}), _segment_cost(costs, d, value, since, until)
            )
            for value in sorted(by_segment[d])
        )
        for d in dimensions
    }
    totals = total.row(
        "total",
        middles.get(("total", ""), {}),
        None if entries is None else spend(entries, since, until),
        since,
        until,
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
