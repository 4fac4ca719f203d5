"""What scoring returns, and the small state the caller keeps between runs; and
`fast_constructor`, which the hot path builds these frozen dataclasses with."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

MONEY: dict[int, Decimal] = {}  # shared values of money(), by cents


def money(cents: int) -> Decimal:
    """Whole cents as a two-place Decimal. Small amounts repeat a lot, so they are shared
    (Decimals are immutable)."""
    value = MONEY.get(cents)
    if value is None:
        value = Decimal(cents).scaleb(-2)
        if -20_000 <= cents <= 20_000:
            MONEY[cents] = value
    return value


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


class ExplanationEntry(NamedTuple):
    """One rule that matched. Amounts are exact whole cents (hundredths of a point); the
    properties give them as two-place Decimals. For every LeadScore,
    sum(e.contribution for e in explanation) == total exactly (and per axis, per group)."""

    rule_id: str
    group: str
    axis: str  # "engagement" | "fit"
    matched: int  # matching activities (1 for a fit rule)
    points_cents: int  # before decay and caps
    decayed_cents: int  # after decay, before caps
    capped_cents: int  # after the rule's window and total caps and its share of the group cap
    contribution_cents: int  # capped x group weight: what the rule adds to the total

    @property
    def points(self) -> Decimal:
        return money(self.points_cents)

    @property
    def decayed(self) -> Decimal:
        return money(self.decayed_cents)

    @property
    def capped(self) -> Decimal:
        return money(self.capped_cents)

    @property
    def contribution(self) -> Decimal:
        return money(self.contribution_cents)


@dataclass(frozen=True, slots=True)
class LeadScore:
    """Everything scoring decided about one lead at `scored_at`. Same input, same value:
    activity order and duplicate source_ids make no difference. Amounts are two-place
    Decimals (convert with float() or str() for JSON)."""

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
    mql_reason: str  # the clause that decided; written on first read (see _reason below)
    mql_since: datetime | None
    mql_episode: int
    mql_state: MqlState  # store this and pass it back as `previous` next time
    disqualified_by: tuple[str, ...]
    # One entry per matched rule; built on first read (see _explanation below)
    explanation: tuple[ExplanationEntry, ...]
    scored_at: datetime
    rules_version: str


class Later(NamedTuple):
    """A field's value not worked out yet: `write(*args)` gives it. The arguments are the
    score's own immutable inputs, so the value is the same whenever it is written."""

    write: Callable[..., object]
    args: tuple[object, ...]


# Two fields are worked out the first time they are read, then kept in their slot; a score
# nobody explains never pays for them. Every read, including ==, repr, replace(), asdict()
# and pickling, goes through the property, so it always sees the finished value.
#
# The explanation: the engine hands over rows (lists of an ExplanationEntry's fields) when
# it built them anyway to share out a group cap, or a `Later` that builds them.
EXPLANATION_SLOT = LeadScore.explanation  # the slot's own descriptor
_entry = tuple.__new__


def _explanation(score: LeadScore) -> tuple[ExplanationEntry, ...]:
    value = EXPLANATION_SLOT.__get__(score, LeadScore)
    if type(value) is Later:
        value = value.write(*value.args)
    if type(value) is list:
        value = tuple([_entry(ExplanationEntry, row) for row in value])
        EXPLANATION_SLOT.__set__(score, value)
    return value  # type: ignore[no-any-return]


LeadScore.explanation = property(  # type: ignore[method-assign,assignment]
    _explanation, EXPLANATION_SLOT.__set__,
    doc="One entry per matched rule (behaviour, then fit, in file order).")

# The MQL reason: the engine hands over a `Later` that describes the clauses from the facts
# the decision read. Describing every clause of every MQL rule costs about a tenth of
# scoring a lead, and most readers only want the reason of the leads that are MQL.
REASON_SLOT = LeadScore.mql_reason


def _reason(score: LeadScore) -> str:
    value = REASON_SLOT.__get__(score, LeadScore)
    if type(value) is Later:
        value = value.write(*value.args)
        REASON_SLOT.__set__(score, value)
    return value  # type: ignore[no-any-return]


LeadScore.mql_reason = property(  # type: ignore[method-assign,assignment]
    _reason, REASON_SLOT.__set__, doc="The clause that decided the MQL status.")


class RuleTally(NamedTuple):
    """What one behaviour rule collected from a lead's history, valued at the aggregate's
    `as_of`; re-valued at a later `now` without the history (see ActivityAggregate)."""

    matched: int
    points: float  # sum of counted points, no decay, no caps
    decayed: float  # sum of points x decay at as_of
    earned: float  # sum of window-capped points x decay at as_of
    # Linear decay only: (timestamp, points, window-capped points) of each counted activity
    # that has not yet faded to zero; empty for the other decays, whose sums re-decay as one.
    items: tuple[tuple[float, float, float], ...] = ()


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


def fast_constructor(cls: type, slots: Mapping[str, Any] | None = None) -> Callable[..., Any]:
    """`cls(*values)` for a frozen dataclass with slots, without its generated __init__
    (which sets every field through object.__setattr__): each slot is set directly. Only for
    dataclasses without __post_init__ or defaults that compute; the values are the same.
    `slots`: a field's own slot descriptor where the class has put a property over it."""
    names = [f.name for f in dataclasses.fields(cls)]
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    body = []
    for n, name in enumerate(names):
        namespace[f"set{n}"] = (slots or {}).get(name, getattr(cls, name)).__set__
        body.append(f"    set{n}(obj, {name})")
    source = (f"def make({', '.join(names)}):\n    obj = new(cls)\n" + "\n".join(body)
              + "\n    return obj\n")
    exec(compile(source, f"<fast {cls.__name__}>", "exec"), namespace)
    return namespace["make"]
