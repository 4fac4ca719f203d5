"""The compiled rule set: `Rules` and everything it is made of, as the hot path reads it.

Holds the runtime types `scoring.compile` builds from the validated rule files, and nothing
that builds them: the constants (`DAY`, the decay kinds `NO_DECAY`/`HALF_LIFE`/`LINEAR`), the
per-lead `Facts` conditions read, the compiled conditions (`Cond` and its kinds, with
`probe_count`), the behaviour/fit/group specs, the slots and the aggregation plan
(`Probe`, `SlotPlan`, `AggregatePlan`), the MQL/stage/segment decisions, the shape of the
generated `Program`, and `to_timestamp`.

The bottom layer of the compiled side of scoring/: it imports only the rule-file models
(`schema`), the field readers and matchers (`fields`, `matchers`) and the results (`result`);
`aggregate`, `program`, `compile`, `engine` and `simulate` import from it, never the reverse
(tests/scoring/test_module_layers.py).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.models import Company, Contact
from scoring.fields import FieldGetter, as_text, field_getter
from scoring.matchers import AttributesPredicate, compile_text_test
from scoring.result import RuleTally, money
from scoring.schema import (
    ActivityClause,
    FieldClause,
    ScoreClause,
    ScoringFile,
    SegmentsFile,
    ValueTest,
)

DAY = 86400.0
NO_DECAY, HALF_LIFE, LINEAR = 0, 1, 2


# --------------------------------------------------------------------------- facts
class Facts:
    """What clauses read for one lead while it is being scored. Field texts are read and
    stripped once per lead; scores are in whole cents."""

    __slots__ = ("company", "contact", "fields", "is_mql", "now_ts", "probes", "scores")

    def __init__(
        self,
        contact: Contact,
        company: Company | None,
        probes: tuple[tuple[float, ...], ...],
        now_ts: float,
    ) -> None:
        self.contact = contact
        self.company = company
        self.probes = probes
        self.now_ts = now_ts
        self.fields: dict[str, str | None] = {}
        self.scores: dict[str, int] = {}
        self.is_mql = False

    def field(self, ref: str, get: FieldGetter) -> str | None:
        fields = self.fields
        if ref in fields:
            return fields[ref]
        text = fields[ref] = as_text(get(self.contact, self.company))
        return text

    def load(self, ref: str, get: FieldGetter) -> str | None:
        text = self.fields[ref] = as_text(get(self.contact, self.company))
        return text


# --------------------------------------------------------------------------- clauses
class Cond:
    """A compiled condition: `test` is the fast answer, `describe` the human one."""

    __slots__ = ()

    def test(self, facts: Facts) -> bool:
        raise NotImplementedError

    def describe(self, facts: Facts) -> str:
        raise NotImplementedError


class FieldCond(Cond):
    __slots__ = ("check", "get", "ref", "spec")

    def __init__(self, clause: FieldClause) -> None:
        self.ref = clause.field
        self.get: FieldGetter = field_getter(clause.field)
        self.check = compile_text_test(clause)
        self.spec = _spec(clause)

    def test(self, facts: Facts) -> bool:
        fields = facts.fields
        ref = self.ref
        return self.check(fields[ref] if ref in fields else facts.load(ref, self.get))

    def describe(self, facts: Facts) -> str:
        value = facts.field(self.ref, self.get)
        verdict = "matches" if self.check(value) else "does not match"
        return f"{self.ref} {value!r} {verdict} {self.spec}"


class ScoreCond(Cond):
    """Scores are compared in cents: `min = 50` holds from 5000 cents up."""

    __slots__ = ("above", "below", "max", "min", "name", "texts")

    def __init__(self, clause: ScoreClause) -> None:
        self.name = clause.score
        self.min = None if clause.min is None else clause.min * 100
        self.max = None if clause.max is None else clause.max * 100
        self.above = None if clause.above is None else clause.above * 100
        self.below = None if clause.below is None else clause.below * 100
        self.texts = tuple(
            (f"{symbol} {bound:g}", holds, bound * 100)
            for symbol, holds, bound in ((">=", operator.ge, clause.min),
                                         ("<=", operator.le, clause.max),
                                         (">", operator.gt, clause.above),
                                         ("<", operator.lt, clause.below))
            if bound is not None
        )

    def test(self, facts: Facts) -> bool:
        cents = facts.scores[self.name]
        return not (
            (self.min is not None and cents < self.min)
            or (self.max is not None and cents > self.max)
            or (self.above is not None and cents <= self.above)
            or (self.below is not None and cents >= self.below)
        )

    def describe(self, facts: Facts) -> str:
        cents = facts.scores[self.name]
        shown = f"{self.name} {money(cents)}"
        failed = [text for text, holds, bound in self.texts if not holds(cents, bound)]
        if failed:
            return f"{shown} is not {' and '.join(failed)}"
        return f"{shown} " + " and ".join(text for text, _, _ in self.texts)


class ActivityCond(Cond):
    __slots__ = ("at_least", "followed", "label", "probe", "within")

    def __init__(self, clause: ActivityClause, probe: int, followed: int | None) -> None:
        self.probe = probe
        self.followed = followed
        self.within = None if clause.within_days is None else clause.within_days * DAY
        self.at_least = clause.at_least
        label = " or ".join(clause.kinds())
        if clause.where is not None:
            label += " where " + ", ".join(f"{n} {_spec(t)}" for n, t in clause.where.tests())
        if clause.within_days is not None:
            label += f" in the last {clause.within_days:g} days"
        if clause.not_followed_by:
            label += " not followed by " + " or ".join(clause.not_followed_by)
        self.label = label

    def count(self, facts: Facts) -> int:
        probes = facts.probes
        return probe_count(probes[self.probe],
                           None if self.followed is None else probes[self.followed],
                           self.within, facts.now_ts)

    def test(self, facts: Facts) -> bool:
        return self.count(facts) >= self.at_least

    def describe(self, facts: Facts) -> str:
        found = self.count(facts)
        need = "" if self.at_least == 1 else f" (need {self.at_least})"
        return f"{self.label}: {found} found{need}"


def probe_count(times: tuple[float, ...], later: tuple[float, ...] | None,
                within: float | None, now_ts: float) -> int:
    """Matches in the window and, with not_followed_by (`later`), strictly after the latest
    activity of those kinds. A probe keeps its latest `at_least` (or more) timestamps,
    ascending, which is all a count up to `at_least` needs."""
    if not times:
        return 0
    lower = -math.inf if within is None else now_ts - within
    if later and later[-1] >= lower:
        lower = math.nextafter(later[-1], math.inf)  # strictly after it
    if times[0] >= lower:
        return len(times)
    found = 0
    for t in reversed(times):
        if t < lower:
            break
        found += 1
    return found


class AllCond(Cond):
    __slots__ = ("parts",)

    def __init__(self, parts: tuple[Cond, ...]) -> None:
        self.parts = parts

    def test(self, facts: Facts) -> bool:
        for part in self.parts:  # noqa: SIM110 - a plain loop is faster than all(genexpr)
            if not part.test(facts):
                return False
        return True

    def describe(self, facts: Facts) -> str:
        for part in self.parts:
            if not part.test(facts):
                return part.describe(facts)
        return " AND ".join(part.describe(facts) for part in self.parts)


class AnyCond(Cond):
    __slots__ = ("parts",)

    def __init__(self, parts: tuple[Cond, ...]) -> None:
        self.parts = parts

    def test(self, facts: Facts) -> bool:
        for part in self.parts:  # noqa: SIM110 - a plain loop is faster than any(genexpr)
            if part.test(facts):
                return True
        return False

    def describe(self, facts: Facts) -> str:
        for part in self.parts:
            if part.test(facts):
                return part.describe(facts)
        return "none of: " + " OR ".join(part.describe(facts) for part in self.parts)


class NotCond(Cond):
    __slots__ = ("part",)

    def __init__(self, part: Cond) -> None:
        self.part = part

    def test(self, facts: Facts) -> bool:
        return not self.part.test(facts)

    def describe(self, facts: Facts) -> str:
        return f"NOT ({self.part.describe(facts)})"


class MqlFlagCond(Cond):
    __slots__ = ("wanted",)

    def __init__(self, wanted: bool) -> None:
        self.wanted = wanted

    def test(self, facts: Facts) -> bool:
        return facts.is_mql is self.wanted

    def describe(self, facts: Facts) -> str:
        return "is MQL" if facts.is_mql else "is not MQL"


def _spec(test: ValueTest) -> str:
    parts = []
    for key, attr in (("equals", "equals"), ("in", "in_"), ("not in", "not_in"),
                      ("regex", "regex"), ("glob", "glob"), (">=", "min"), ("<=", "max"),
                      (">", "above"), ("<", "below"), ("missing", "missing")):
        value = getattr(test, attr)
        if value is None:
            continue
        if isinstance(value, list):
            shown = ", ".join(str(v) for v in value[:4]) + (", ..." if len(value) > 4 else "")
            parts.append(f"{key} [{shown}]")
        elif isinstance(value, float):
            parts.append(f"{key} {value:g}")
        else:
            parts.append(f"{key} {value}")
    return " and ".join(parts)


# --------------------------------------------------------------------------- program
Answers = tuple[tuple[bool, ...], ...]  # per field: the answers of the tests on it
Probes = tuple[tuple[float, ...], ...]


@dataclass(frozen=True, slots=True)
class Program:
    """The rule set's conditions as generated functions (built by
    scoring.program.build_program); `Cond.describe` stays the source of the human reasons."""

    read: Callable[[Contact, Company | None], Answers]
    fit: Callable[[Answers], tuple[bool, ...]]  # per fit rule, in file order
    disqualified: Callable[[Answers, Probes, float, dict[str, int]], tuple[str, ...]]  # ids
    qualifying: Callable[[Answers, Probes, float, dict[str, int]], int]  # MQL rule index, or -1
    # (stage, segment: the dimension values joined, segments: dimension -> value in order)
    labels: Callable[[Answers, Probes, float, dict[str, int], bool],
                     tuple[str, str, dict[str, str]]]
    source: str  # the generated code, for reading and debugging


# --------------------------------------------------------------------------- rules
@dataclass(frozen=True, slots=True)
class BehaviourSpec:
    slot: int  # where the hot path collects this rule's matching timestamps
    id: str
    group: str
    points: float
    once: bool
    window: float  # seconds; 0 = no window cap
    window_cap: float
    cap_total: float | None
    decay: int  # NO_DECAY | HALF_LIFE | LINEAR
    rate: float  # HALF_LIFE: ln 2 / half-life in seconds; LINEAR: 1 / span in seconds


@dataclass(frozen=True, slots=True)
class FitSpec:
    id: str
    group: str
    points_cents: int
    when: Cond


@dataclass(frozen=True, slots=True)
class GroupSpec:
    name: str
    axis: str
    weight: float
    max_cents: int | None
    min_cents: int | None


@dataclass(frozen=True, slots=True)
class Probe:
    """Activities some condition asks about; the aggregate keeps their latest `keep`
    timestamps. A probe asking exactly what a behaviour rule matches shares its slot."""

    slot: int
    keep: int


# Per activity kind: (slot, attribute test or None, horizon in seconds) for every rule and
# probe it feeds.
Targets = tuple[tuple[int, AttributesPredicate | None, float], ...]


@dataclass(frozen=True, slots=True)
class SlotPlan:
    """How the hot path fills one slot. A slot without an attribute test is the union of
    per-kind timestamp lists (`kinds`: their indexes); one with a test gets its own list
    (`own`: its index), filled only by activities that pass the test."""

    kinds: tuple[int, ...]
    own: int  # -1 for a slot without an attribute test
    horizon: float
    keep: int  # how many of the latest timestamps anything reads; 0 = all (a behaviour rule)


@dataclass(frozen=True, slots=True)
class AggregatePlan:
    """The slots reorganised for one pass that touches each activity once: per kind, the
    index of its timestamp list (-1 when no untested slot reads the kind) and the tested
    slots it may feed as (list index, test, horizon)."""

    routes: Mapping[str, tuple[int, tuple[tuple[int, AttributesPredicate, float], ...]]]
    lists: int
    direct: tuple[int, ...]  # per slot: the list that is its timestamps as they are
    merged: tuple[tuple[int, SlotPlan], ...]  # the other slots: merged or cut by a horizon
    # (filled lists, ref) -> (tallies, probes): scoring.program.build_finish
    finish: Callable[[list[list[float] | None], float],
                     tuple[dict[str, RuleTally], tuple[tuple[float, ...], ...]]]


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    text: str  # description / reason from the file, or the id
    when: Cond


@dataclass(frozen=True, slots=True)
class DimensionSpec:
    name: str
    default: str
    rules: tuple[tuple[str, Cond], ...]


@dataclass(frozen=True, slots=True)
class Rules:
    """Compiled, validated rules. Build with `scoring.load_rules` or `rules_from_toml`."""

    version: str
    groups: Mapping[str, GroupSpec]  # in file order
    behaviour: Mapping[str, BehaviourSpec]  # by rule id, in file order
    fit: tuple[FitSpec, ...]
    by_kind: Mapping[str, Targets]
    slots: int
    probes: tuple[Probe, ...]
    fit_grades: tuple[tuple[str, float], ...]  # (letter, threshold in cents), descending
    engagement_grades: tuple[tuple[str, float], ...]  # (band, threshold in cents)
    fit_groups: tuple[str, ...]
    group_work: bool  # some group has a cap or a weight other than 1
    # (name, min cents or None, max cents or None) of the capped groups when every weight
    # is 1; None when some weight is not (then every lead's rows carry the weighting)
    group_limits: tuple[tuple[str, int | None, int | None], ...] | None
    mql_rules: tuple[Decision, ...]
    mql_hold: timedelta
    disqualifiers: tuple[Decision, ...]
    stage_rules: tuple[tuple[str, Cond], ...]
    default_stage: str
    dimensions: tuple[DimensionSpec, ...]
    separator: str
    scoring: ScoringFile
    segments: SegmentsFile
    plan: AggregatePlan  # the slots as the aggregation pass reads them
    program: Program  # the conditions above as inline code (scoring.program)


def to_timestamp(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return moment.timestamp()
