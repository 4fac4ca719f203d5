"""Plain data in and out of the KPI core (`kpi.compute`): no I/O, nothing read from a clock.

Inputs are one `LeadFacts` per lead (built by an adapter, e.g. `app.kpi_report`), the
`CostEntry`s of `mappings/costs.toml` and the `AgreementRow`s where the connector's MQL
decision and Salesforce differ. The output is one `KpiReport`; `kpi.export` turns it into
JSON and CSV, `kpi.html` into one HTML file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from core.handoff import OwnerSpeed

Period = Literal["week", "month"]
UNKNOWN_CHANNEL = "UNKNOWN"
CHANNEL_DIMENSION = "channel"  # the original source, beside the segments.toml dimensions


# ------------------------------------------------------------------------------ inputs
@dataclass(frozen=True, slots=True)
class Outcome:
    """What Salesforce says happened to a lead after the hand-off; each date is when the
    lead reached that step (None: not reached, or not known)."""

    sql: bool = False  # sales accepted it (a Lead status funnel.toml calls SQL), date unknown
    sql_at: datetime | None = None  # when it was accepted, where known
    opportunity_at: datetime | None = None  # converted / an opportunity was created
    won_at: datetime | None = None
    lost_at: datetime | None = None
    amount: Decimal | None = None  # of the won opportunity


@dataclass(frozen=True, slots=True)
class Engagement:
    """Marketing engagement counted in one period. Email counts are distinct emails (lead x
    email campaign): several opens of one email are one open. Webinar counts are distinct
    (lead x webinar): a participation in any state is one registration."""

    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    webinar_registrations: int = 0
    webinar_attended: int = 0
    whitepaper_downloads: int = 0

    @property
    def open_rate(self) -> float | None:
        return _ratio(self.opened, self.delivered)

    @property
    def click_rate(self) -> float | None:
        return _ratio(self.clicked, self.delivered)

    @property
    def attendance_rate(self) -> float | None:
        return _ratio(self.webinar_attended, self.webinar_registrations)

    def __add__(self, other: Engagement) -> Engagement:
        return Engagement(
            self.delivered + other.delivered,
            self.opened + other.opened,
            self.clicked + other.clicked,
            self.webinar_registrations + other.webinar_registrations,
            self.webinar_attended + other.webinar_attended,
            self.whitepaper_downloads + other.whitepaper_downloads,
        )


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """One lead (normalised email), reduced to what the KPIs need.

    `dimensions` holds the segment value per segments.toml dimension (as scored at the
    report's end) and the `channel` (HubSpot original source). `first_interest` is when the
    lead first reached the interest stage or a later one, `first_comparison` when it first
    reached comparison or a later one (hot, MQL). `engagement` is keyed by period label.
    """

    key: str
    created: datetime
    dimensions: Mapping[str, str]
    first_mql: datetime | None = None
    mql_episodes: tuple[datetime, ...] = ()  # start of every MQL episode
    first_interest: datetime | None = None
    first_comparison: datetime | None = None
    outcome: Outcome | None = None
    engagement: Mapping[str, Engagement] = field(default_factory=dict)
    handoffs: tuple[datetime, ...] = ()  # follow-up Tasks the connector created for it

    @property
    def channel(self) -> str:
        return self.dimensions.get(CHANNEL_DIMENSION) or UNKNOWN_CHANNEL


@dataclass(frozen=True, slots=True)
class CostEntry:
    """Spend of one month on one channel (optionally one campaign of that channel)."""

    month: str  # "2026-09"
    channel: str
    amount: Decimal
    campaign: str | None = None
    where: str = ""  # file:line, for messages


@dataclass(frozen=True, slots=True)
class Costs:
    currency: str
    entries: tuple[CostEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class AgreementRow:
    """A lead whose MQL status differs between the connector's decision and Salesforce."""

    key: str
    sobject: str | None
    record_id: str | None
    connector_mql: bool
    salesforce_status: str | None  # the MQL status field as Salesforce shows it
    written_status: str | None  # what the connector last wrote there (None: never)
    reason: str  # a short code, e.g. changed_in_salesforce
    explanation: str


@dataclass(frozen=True, slots=True)
class Agreement:
    """The MQLs the connector decided against the MQLs Salesforce shows."""

    connector_mqls: int
    salesforce_mqls: int
    both: int
    differing: tuple[AgreementRow, ...]
    source: str = ""  # where the Salesforce side was read from


# ------------------------------------------------------------------------------ outputs
@dataclass(frozen=True, slots=True)
class Funnel:
    """Cohort counts: of the leads created in a period (or segment), how many reached each
    step by the report's end. Each step counts only leads that reached the one before."""

    new_leads: int = 0
    mqls: int = 0
    sqls: int = 0
    opportunities: int = 0
    won: int = 0
    lost: int = 0

    @property
    def mql_rate(self) -> float | None:
        return _ratio(self.mqls, self.new_leads)

    @property
    def sql_rate(self) -> float | None:
        return _ratio(self.sqls, self.mqls)

    @property
    def opportunity_rate(self) -> float | None:
        return _ratio(self.opportunities, self.sqls)

    @property
    def win_rate(self) -> float | None:
        return _ratio(self.won, self.won + self.lost)


@dataclass(frozen=True, slots=True)
class Durations:
    """Days between two steps, over the leads that made both (None when none did)."""

    count: int
    median_days: float | None
    mean_days: float | None


@dataclass(frozen=True, slots=True)
class Progression:
    """Interest -> comparison within six months, for leads that first reached interest in
    the period: `moved` reached comparison (or later) within `window_days`; `open` have not
    moved yet and their window has not ended by the report's end."""

    reached_interest: int
    moved: int
    open: int

    @property
    def share(self) -> float | None:
        return _ratio(self.moved, self.reached_interest)


@dataclass(frozen=True, slots=True)
class Row:
    """All KPIs of one period, one segment value, or the totals."""

    label: str
    funnel: Funnel
    new_mqls: int  # leads whose first MQL episode started in the period (activity view)
    handoffs: int  # follow-up Tasks created in the period (delivered or not)
    time_to_mql: Durations
    mql_to_opportunity: Durations
    engagement: Engagement
    progression: Progression
    cost: Decimal | None  # spend of the period; None when no costs file entry covers it
    start: datetime | None = None  # periods only
    end: datetime | None = None

    @property
    def cost_per_lead(self) -> Decimal | None:
        return _per(self.cost, self.funnel.new_leads)

    @property
    def cost_per_mql(self) -> Decimal | None:
        return _per(self.cost, self.funnel.mqls)


@dataclass(frozen=True, slots=True)
class CostRow:
    """One channel's spend in one month against the leads it brought in that month."""

    month: str
    channel: str
    campaigns: tuple[str, ...]
    cost: Decimal
    new_leads: int
    mqls: int

    @property
    def cost_per_lead(self) -> Decimal | None:
        return _per(self.cost, self.new_leads)

    @property
    def cost_per_mql(self) -> Decimal | None:
        return _per(self.cost, self.mqls)


@dataclass(frozen=True, slots=True)
class ReportWindow:
    since: datetime
    until: datetime
    period: Period
    generated_at: datetime
    segment_filter: tuple[str, str] | None = None  # (dimension, value)


Cell = str | int | float | None


@dataclass(frozen=True, slots=True)
class ExtraTable:
    """A table another part of the product adds to the report (accounts, rejections, ...):
    rendered as-is in the HTML, under `tables.<name>` in the JSON and as `<name>.csv`.
    `title` and `columns` hold one text per language ("en", "ja"); the English column
    texts are also the JSON keys and the CSV header."""

    name: str  # a file-name-safe identifier: [a-z0-9_]+
    title: Mapping[str, str]
    columns: tuple[Mapping[str, str], ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or not all(c.isascii() and (c.isalnum() or c == "_") for c in self.name):
            raise ValueError(f"table name {self.name!r}: use letters, digits and _")
        width = len(self.columns)
        for row in self.rows:
            if len(row) != width:
                raise ValueError(f"table {self.name}: a row has {len(row)} cells, not {width}")

    def keys(self) -> list[str]:
        return [c.get("en") or next(iter(c.values()), "") for c in self.columns]


@dataclass(frozen=True, slots=True)
class KpiReport:
    window: ReportWindow
    currency: str | None
    periods: tuple[Row, ...]
    totals: Row
    segments: Mapping[str, tuple[Row, ...]]  # dimension -> one row per value
    costs: tuple[CostRow, ...]
    agreement: Agreement | None
    outcomes_known: bool  # False: no Salesforce outcomes were available (SQL and later are 0)
    notes: Sequence[str] = ()
    # The hand-off SLA per owner: MQL episodes in the window (core.handoff.speed_by_owner).
    speed_to_lead: tuple[OwnerSpeed, ...] = ()
    sla_hours: float = 0.0
    extra_tables: tuple[ExtraTable, ...] = ()


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _per(cost: Decimal | None, count: int) -> Decimal | None:
    if cost is None or not count:
        return None
    return (cost / count).quantize(Decimal("0.01"))
