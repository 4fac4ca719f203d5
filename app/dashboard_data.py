"""Every read the dashboard makes, in one place: the report for a set of filters and the
leads behind one of its numbers. Both are the set-based report's (`app.kpi_report`): the
report is `build_report(..., owner=)`, the drill-down `leads_behind`; no lead is replayed
while the stored KPI facts are current (`app.kpi_facts` refreshes the stale ones first).
Only the score explanations of the page of leads listed are computed per lead
(`app.explain`, as `connector score explain` prints them).

A lead's owner is the OwnerId the last outcome pull read for its linked Salesforce record
(`sf_owners`), else the one stored with the link (`StateStore.lead_owners`,
`sync.kpi_store.OWNERS_SQL`): the owner filter and `connector report --owner` alike.

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

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from app.kpi_report import LeadLine
from core.errors import ConfigError
from sync.kpi_store import FUNNEL_METRICS, METRICS, SLA_METRICS

if TYPE_CHECKING:
    from core.config import Settings
    from kpi.model import KpiReport

LEAD_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Filters:
    until: datetime
    since: datetime | None = None
    period: str = "month"
    segment: str | None = None  # DIMENSION=VALUE
    owner: str | None = None  # Salesforce OwnerId


def report_for(settings: Settings, filters: Filters) -> KpiReport:
    from app.kpi_report import build_report

    return build_report(settings, until=filters.until, since=filters.since,
                        period=filters.period, segment=filters.segment, owner=filters.owner)


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
    `limit` lines by the moment counted), each with its lead's score explanation at the
    window's end when `explain`."""
    from app.kpi_report import leads_behind

    if metric not in METRICS:
        raise ConfigError(f"metric {metric!r}: expected one of {', '.join(METRICS)}")
    count, shown = leads_behind(
        settings, until=filters.until, since=filters.since, period=filters.period,
        metric=metric, period_label=period_label, segment=filters.segment,
        owner=filters.owner, cell_segment=cell_segment, limit=limit,
    )
    if explain:
        texts: dict[str, str | None] = {}
        for line in shown:
            if line.key not in texts:
                texts[line.key] = _explain(settings, line.key, filters.until)
        shown = [replace(line, explanation=texts[line.key]) for line in shown]
    return count, shown


def _explain(settings: Settings, key: str, until: datetime) -> str | None:
    from app.explain import explain_lead, format_explanation

    data = explain_lead(settings, key, clock=lambda: until)
    return None if data is None else format_explanation(data)


__all__ = ["FUNNEL_METRICS", "METRICS", "SLA_METRICS", "Filters", "LeadLine", "leads_for", "owners",
           "report_for"]
