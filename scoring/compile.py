"""Validated rule files -> `Rules`, the runtime form the hot path reads.

Everything that can be decided once is decided here: regexes compiled, sets case-folded,
behaviour rules and condition probes indexed by activity kind, decay turned into rates.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from core.models import Company, Contact
from scoring.fields import FieldGetter, as_text, field_getter
from scoring.matchers import AttributesPredicate, compile_text_test, compile_where
from scoring.result import RuleTally, money
from scoring.schema import (
    ActivityClause,
    AllClause,
    AnyClause,
    BehaviourRule,
    Decay,
    FieldClause,
    HalfLifeDecay,
    LinearDecay,
    MqlFlagClause,
    NotClause,
    ScoreClause,
    ScoringFile,
    SegmentsFile,
    StrictModel,
    ValueTest,
    Where,
)

if TYPE_CHECKING:
    from scoring.program import Program

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


def compile_rules(scoring: ScoringFile, segments: SegmentsFile) -> Rules:
    """Assumes `scoring.checks` found no problems."""
    from scoring.program import build_program  # it builds on the conditions defined here

    probes = _ProbeRegistry()
    slots = _Slots()
    behaviour = tuple(
        _behaviour(slots.slot(rule.kinds, rule.where), rule, scoring.groups[rule.group].decay)
        for rule in scoring.behaviour
    )
    fit = tuple(
        FitSpec(rule.id, rule.group, round(rule.points * 100), probes.cond(rule.when))
        for rule in scoring.fit
    )
    mql = tuple(
        Decision(r.id, r.description or r.id, probes.cond(r.when)) for r in scoring.mql.rules
    )
    disqualifiers = tuple(
        Decision(d.id, d.reason or d.id, probes.cond(d.when)) for d in scoring.disqualifiers
    )
    stages = tuple((r.stage, probes.cond(r.when)) for r in scoring.stages.rules)
    dimensions = tuple(
        DimensionSpec(d.name, d.default, tuple((r.value, probes.cond(r.when)) for r in d.rules))
        for d in segments.dimensions
    )
    compiled_probes = tuple(
        Probe(slots.slot(kinds, where, horizon), keep)
        for kinds, where, keep, horizon in zip(probes.kinds, probes.wheres, probes.keep,
                                               probes.horizons, strict=True)
    )
    groups = {
        name: GroupSpec(
            name, group.axis, group.weight,
            None if group.max is None else round(group.max * 100),
            None if group.min is None else round(group.min * 100),
        )
        for name, group in scoring.groups.items()
    }
    return Rules(
        version=_version(scoring, segments),
        groups=groups,
        behaviour={spec.id: spec for spec in behaviour},
        fit=fit,
        by_kind=slots.targets(),
        slots=len(slots.keys),
        probes=compiled_probes,
        fit_grades=tuple(zip("ABC", [t * 100 for t in scoring.grade.fit_thresholds],
                             strict=True)),
        engagement_grades=tuple(zip("123", [t * 100 for t in
                                            scoring.grade.engagement_thresholds], strict=True)),
        fit_groups=tuple(name for name, g in groups.items() if g.axis == "fit"),
        group_work=any(g.weight != 1.0 or g.max_cents is not None or g.min_cents is not None
                       for g in groups.values()),
        group_limits=None if any(g.weight != 1.0 for g in groups.values()) else tuple(
            (g.name, g.min_cents, g.max_cents) for g in groups.values()
            if g.max_cents is not None or g.min_cents is not None),
        mql_rules=mql,
        mql_hold=timedelta(days=scoring.mql.hold_days),
        disqualifiers=disqualifiers,
        stage_rules=stages,
        default_stage=scoring.stages.default,
        dimensions=dimensions,
        separator=segments.separator,
        scoring=scoring,
        segments=segments,
        plan=slots.plan(compiled_probes, behaviour),
        program=build_program(
            [rule.when for rule in fit], [(d.id, d.when) for d in disqualifiers],
            [rule.when for rule in mql], stages, scoring.stages.default,
            [(d.name, d.rules, d.default) for d in dimensions], segments.separator,
        ),
    )


def _behaviour(slot: int, rule: BehaviourRule, group_decay: Decay | None) -> BehaviourSpec:
    decay = rule.decay if rule.decay is not None else group_decay
    kind, rate = NO_DECAY, 0.0
    if isinstance(decay, HalfLifeDecay):
        kind, rate = HALF_LIFE, math.log(2) / (decay.days * DAY)
    elif isinstance(decay, LinearDecay):
        kind, rate = LINEAR, 1.0 / (decay.days * DAY)
    window = rule.cap_window
    return BehaviourSpec(
        slot=slot,
        id=rule.id,
        group=rule.group,
        points=float(rule.points),
        once=rule.once,
        window=0.0 if window is None else window.days * DAY,
        window_cap=0.0 if window is None else window.points,
        cap_total=rule.cap_total,
        decay=kind,
        rate=rate,
    )


def _where_key(kinds: Sequence[str], where: Where | None) -> str:
    return json.dumps(
        [sorted(set(kinds)), None if where is None else where.model_dump(by_alias=True)],
        sort_keys=True, default=str,
    )


class _Slots:
    """One slot per distinct question (kinds + attribute test) the hot path must answer.

    A slot's horizon is how far back it needs to look: behaviour rules need everything,
    a condition `within_days = 30` only the last 30 days before the aggregate's as_of (a
    later `now` only narrows the window), so older activities skip its attribute test.
    """

    def __init__(self) -> None:
        self.keys: dict[str, int] = {}
        self.kinds: list[tuple[str, ...]] = []
        self.tests: list[AttributesPredicate | None] = []
        self.horizons: list[float] = []

    def slot(self, kinds: Sequence[str], where: Where | None, horizon: float = math.inf) -> int:
        key = _where_key(kinds, where)
        slot = self.keys.get(key)
        if slot is None:
            slot = self.keys[key] = len(self.keys)
            self.kinds.append(tuple(dict.fromkeys(kinds)))
            self.tests.append(compile_where(where))
            self.horizons.append(horizon)
        else:
            self.horizons[slot] = max(self.horizons[slot], horizon)
        return slot

    def plan(self, probes: Sequence[Probe], behaviour: Sequence[BehaviourSpec]) -> AggregatePlan:
        from scoring.program import build_finish

        counted = {spec.slot for spec in behaviour}  # slots read in full
        kind_list: dict[str, int] = {}
        for slot, kinds in enumerate(self.kinds):
            if self.tests[slot] is None:
                for kind in kinds:
                    kind_list.setdefault(kind, len(kind_list))
        lists = len(kind_list)
        tested: dict[str, list[tuple[int, AttributesPredicate, float]]] = {}
        plans = []
        for slot, kinds in enumerate(self.kinds):
            keep = 0 if slot in counted else max(
                (p.keep for p in probes if p.slot == slot), default=0)
            test = self.tests[slot]
            if test is None:
                plans.append(SlotPlan(tuple(kind_list[k] for k in kinds), -1,
                                      self.horizons[slot], keep))
                continue
            for kind in kinds:
                tested.setdefault(kind, []).append((lists, test, self.horizons[slot]))
            plans.append(SlotPlan((), lists, self.horizons[slot], keep))
            lists += 1
        routes = {kind: (kind_list.get(kind, -1), tuple(tested.get(kind, ())))
                  for kind in {*kind_list, *tested}}
        empty = lists  # one more list, never filled: the placeholder for merged slots
        direct = tuple(
            plan.own if plan.own >= 0
            else plan.kinds[0] if len(plan.kinds) == 1 and plan.horizon == math.inf
            else empty
            for plan in plans
        )
        merged = tuple((slot, plan) for slot, plan in enumerate(plans) if direct[slot] == empty)
        return AggregatePlan(routes, lists + 1, direct, merged,
                             build_finish(behaviour, probes, direct, merged))

    def targets(self) -> dict[str, Targets]:
        by_kind: dict[str, list[tuple[int, AttributesPredicate | None, float]]] = {}
        for slot, kinds in enumerate(self.kinds):
            for kind in kinds:
                by_kind.setdefault(kind, []).append(
                    (slot, self.tests[slot], self.horizons[slot]))
        return {kind: tuple(targets) for kind, targets in by_kind.items()}


class _ProbeRegistry:
    """Activity conditions that ask the same question share one probe."""

    def __init__(self) -> None:
        self.keys: dict[str, int] = {}
        self.kinds: list[tuple[str, ...]] = []
        self.wheres: list[Where | None] = []
        self.keep: list[int] = []
        self.horizons: list[float] = []

    def probe(self, kinds: list[str], where: Where | None, keep: int, horizon: float) -> int:
        key = _where_key(kinds, where)
        index = self.keys.get(key)
        if index is None:
            index = self.keys[key] = len(self.kinds)
            self.kinds.append(tuple(sorted(set(kinds))))
            self.wheres.append(where)
            self.keep.append(keep)
            self.horizons.append(horizon)
        else:
            self.keep[index] = max(self.keep[index], keep)
            self.horizons[index] = max(self.horizons[index], horizon)
        return index

    def cond(self, clause: StrictModel) -> Cond:
        if isinstance(clause, FieldClause):
            return FieldCond(clause)
        if isinstance(clause, ScoreClause):
            return ScoreCond(clause)
        if isinstance(clause, ActivityClause):
            horizon = math.inf if clause.within_days is None else clause.within_days * DAY
            probe = self.probe(clause.kinds(), clause.where, clause.at_least, horizon)
            followed = (
                self.probe(clause.not_followed_by, None, 1, math.inf)
                if clause.not_followed_by else None
            )
            return ActivityCond(clause, probe, followed)
        if isinstance(clause, AllClause):
            return AllCond(tuple(self.cond(c) for c in clause.all))
        if isinstance(clause, AnyClause):
            return AnyCond(tuple(self.cond(c) for c in clause.any))
        if isinstance(clause, NotClause):
            return NotCond(self.cond(clause.not_))
        if isinstance(clause, MqlFlagClause):
            return MqlFlagCond(clause.is_mql)
        raise TypeError(f"not a clause: {clause!r}")


def _version(scoring: ScoringFile, segments: SegmentsFile) -> str:
    canonical = json.dumps(
        [scoring.model_dump(mode="json", by_alias=True),
         segments.model_dump(mode="json", by_alias=True)],
        sort_keys=True, ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def to_timestamp(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return moment.timestamp()
