"""What scoring returns, and the small state the caller keeps between runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class MqlState:
    """A lead's MQL standing, stored by the caller and handed back on the next run.

    `episode` counts qualifications: 0 = never qualified. A lead that drops out and later
    qualifies again starts episode + 1. `since` is the `now` of the run that started the
    current episode (None while not qualified); `rule` is the MQL rule that started it.
    """

    episode: int = 0
    qualified: bool = False
    since: datetime | None = None
    rule: str | None = None


@dataclass(frozen=True, slots=True)
class ExplanationEntry:
    """One rule that matched. Amounts are Decimals with two places; for every LeadScore,
    sum(contribution) == total exactly, and likewise per axis (engagement, fit)."""

    rule_id: str
    group: str
    axis: str  # "engagement" | "fit"
    matched: int  # matching activities (1 for a fit rule)
    points: Decimal  # before decay and caps
    decayed: Decimal  # after decay, before caps
    capped: Decimal  # after the rule's window and total caps and its share of the group cap
    contribution: Decimal  # capped x group weight: what the rule adds to the total


@dataclass(frozen=True, slots=True)
class LeadScore:
    contact_id: str
    total: Decimal  # engagement + fit, two decimal places
    engagement: Decimal
    fit: Decimal
    grade: str  # fit letter A-D + engagement band 1-4, e.g. "A1"
    groups: Mapping[str, Decimal]  # weighted total per score group
    segment: str  # e.g. "manufacturing/enterprise/executive/engaged"
    segments: Mapping[str, str]  # dimension -> value, in segments.toml order
    stage: str
    is_mql: bool
    mql_reason: str
    mql_since: datetime | None
    mql_episode: int
    mql_state: MqlState  # store this and pass it back as `previous` next time
    disqualified_by: tuple[str, ...]
    explanation: tuple[ExplanationEntry, ...]
    scored_at: datetime
    rules_version: str


@dataclass(frozen=True, slots=True)
class RuleTally:
    """What one behaviour rule collected from a lead's history, valued at the aggregate's
    `as_of`. Re-valued at a later `now` without the history (see ActivityAggregate)."""

    matched: int
    points: float  # sum of counted points, no decay, no caps
    decayed: float  # sum of points x decay at as_of (unused for linear decay)
    earned: float  # sum of window-capped points x decay at as_of (unused for linear decay)
    items: tuple[tuple[float, float, float], ...] = ()  # linear: (timestamp, points, earned)


@dataclass(frozen=True, slots=True)
class ActivityAggregate:
    """A lead's activity history reduced to what the rules need, as of `as_of`.

    Scoring it at any `now >= as_of` gives the same result as scoring the full history at
    `now` (up to float rounding in the last cent), so a daily re-score when only time has
    passed needs no history. New activities need a new aggregate.
    """

    as_of: datetime
    rules_version: str
    tallies: Mapping[str, RuleTally]  # behaviour rule id -> tally, matched rules only
    probes: tuple[tuple[float, ...], ...]  # per condition probe: latest match timestamps
    activities: int  # distinct activities up to as_of
