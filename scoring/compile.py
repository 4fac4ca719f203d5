"""Validated rule files -> `Rules`, the runtime form the hot path reads.

Everything that can be decided once is decided here: regexes compiled, sets case-folded,
behaviour rules and condition probes indexed by activity kind, decay turned into rates.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.models import Company, Contact
from scoring.fields import FieldGetter, field_getter
from scoring.matchers import AttributesPredicate, compile_test, compile_where
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

DAY = 86400.0
NO_DECAY, HALF_LIFE, LINEAR = 0, 1, 2


# --------------------------------------------------------------------------- facts
class Facts:
    """What clauses read for one lead while it is being scored."""

    __slots__ = ("company", "contact", "is_mql", "now_ts", "probes", "scores")

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
        self.scores: dict[str, Decimal] = {}
        self.is_mql = False


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
        self.check = compile_test(clause)
        self.spec = _spec(clause)

    def test(self, facts: Facts) -> bool:
        return self.check(self.get(facts.contact, facts.company))

    def describe(self, facts: Facts) -> str:
        value = self.get(facts.contact, facts.company)
        verdict = "matches" if self.check(value) else "does not match"
        return f"{self.ref} {value!r} {verdict} {self.spec}"


class ScoreCond(Cond):
    __slots__ = ("bounds", "name")

    _OPS: tuple[tuple[str, str, Callable[[Decimal, Decimal], bool]], ...] = (
        ("min", ">=", operator.ge), ("max", "<=", operator.le),
        ("above", ">", operator.gt), ("below", "<", operator.lt),
    )

    def __init__(self, clause: ScoreClause) -> None:
        self.name = clause.score
        self.bounds = tuple(
            (symbol, holds, Decimal(repr(getattr(clause, key))))
            for key, symbol, holds in self._OPS
            if getattr(clause, key) is not None
        )

    def test(self, facts: Facts) -> bool:
        value = facts.scores[self.name]
        return all(holds(value, bound) for _, holds, bound in self.bounds)

    def describe(self, facts: Facts) -> str:
        value = facts.scores[self.name]
        failed = [f"{s} {b:g}" for s, holds, b in self.bounds if not holds(value, b)]
        if failed:
            return f"{self.name} {value} is not {' and '.join(failed)}"
        return f"{self.name} {value} " + " and ".join(f"{s} {b:g}" for s, _, b in self.bounds)


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
        """Matches in the window and, with not_followed_by, strictly after the latest
        activity of those kinds. Probes keep the latest `at_least` or more timestamps."""
        times = facts.probes[self.probe]
        if not times:
            return 0
        lower = -math.inf if self.within is None else facts.now_ts - self.within
        if self.followed is not None:
            later = facts.probes[self.followed]
            if later:
                latest = later[-1]
                return sum(1 for t in times if t >= lower and t > latest)
        return sum(1 for t in times if t >= lower)

    def test(self, facts: Facts) -> bool:
        return self.count(facts) >= self.at_least

    def describe(self, facts: Facts) -> str:
        found = self.count(facts)
        need = "" if self.at_least == 1 else f" (need {self.at_least})"
        return f"{self.label}: {found} found{need}"


class AllCond(Cond):
    __slots__ = ("parts",)

    def __init__(self, parts: tuple[Cond, ...]) -> None:
        self.parts = parts

    def test(self, facts: Facts) -> bool:
        return all(part.test(facts) for part in self.parts)

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
        return any(part.test(facts) for part in self.parts)

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
    index: int
    id: str
    group: str
    points: float
    where: AttributesPredicate | None
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
    points: float
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
    timestamps."""

    index: int
    where: AttributesPredicate | None
    keep: int


@dataclass(frozen=True, slots=True)
class KindIndex:
    """Everything one activity kind feeds: behaviour rules and condition probes."""

    rules: tuple[BehaviourSpec, ...]
    probes: tuple[Probe, ...]


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
    groups: tuple[GroupSpec, ...]
    behaviour: tuple[BehaviourSpec, ...]
    fit: tuple[FitSpec, ...]
    by_kind: Mapping[str, KindIndex]
    probes: tuple[Probe, ...]
    fit_thresholds: tuple[float, float, float]
    engagement_thresholds: tuple[float, float, float]
    mql_rules: tuple[Decision, ...]
    mql_hold_seconds: float
    disqualifiers: tuple[Decision, ...]
    stage_rules: tuple[tuple[str, Cond], ...]
    default_stage: str
    dimensions: tuple[DimensionSpec, ...]
    separator: str
    scoring: ScoringFile
    segments: SegmentsFile

    def group(self, name: str) -> GroupSpec:
        return next(g for g in self.groups if g.name == name)


def compile_rules(scoring: ScoringFile, segments: SegmentsFile) -> Rules:
    """Assumes `scoring.checks` found no problems."""
    probes = _ProbeRegistry()
    behaviour = tuple(
        _behaviour(index, rule, scoring.groups[rule.group].decay)
        for index, rule in enumerate(scoring.behaviour)
    )
    fit = tuple(
        FitSpec(rule.id, rule.group, float(rule.points), probes.cond(rule.when))
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
    compiled_probes = probes.compiled()

    kinds: dict[str, tuple[list[BehaviourSpec], list[Probe]]] = {}
    for spec, rule in zip(behaviour, scoring.behaviour, strict=True):
        for kind in dict.fromkeys(rule.kinds):
            kinds.setdefault(kind, ([], []))[0].append(spec)
    for probe, probe_kinds in zip(compiled_probes, probes.kinds, strict=True):
        for kind in probe_kinds:
            kinds.setdefault(kind, ([], []))[1].append(probe)

    groups = tuple(
        GroupSpec(
            name, group.axis, group.weight,
            None if group.max is None else round(group.max * 100),
            None if group.min is None else round(group.min * 100),
        )
        for name, group in scoring.groups.items()
    )
    return Rules(
        version=_version(scoring, segments),
        groups=groups,
        behaviour=behaviour,
        fit=fit,
        by_kind={k: KindIndex(tuple(r), tuple(p)) for k, (r, p) in kinds.items()},
        probes=compiled_probes,
        fit_thresholds=tuple(scoring.grade.fit_thresholds),  # type: ignore[arg-type]
        engagement_thresholds=tuple(scoring.grade.engagement_thresholds),  # type: ignore[arg-type]
        mql_rules=mql,
        mql_hold_seconds=scoring.mql.hold_days * DAY,
        disqualifiers=disqualifiers,
        stage_rules=stages,
        default_stage=scoring.stages.default,
        dimensions=dimensions,
        separator=segments.separator,
        scoring=scoring,
        segments=segments,
    )


def _behaviour(index: int, rule: BehaviourRule, group_decay: Decay | None) -> BehaviourSpec:
    decay = rule.decay if rule.decay is not None else group_decay
    kind, rate = NO_DECAY, 0.0
    if isinstance(decay, HalfLifeDecay):
        kind, rate = HALF_LIFE, math.log(2) / (decay.days * DAY)
    elif isinstance(decay, LinearDecay):
        kind, rate = LINEAR, 1.0 / (decay.days * DAY)
    window = rule.cap_window
    return BehaviourSpec(
        index=index,
        id=rule.id,
        group=rule.group,
        points=float(rule.points),
        where=compile_where(rule.where),
        once=rule.once,
        window=0.0 if window is None else window.days * DAY,
        window_cap=0.0 if window is None else window.points,
        cap_total=rule.cap_total,
        decay=kind,
        rate=rate,
    )


class _ProbeRegistry:
    """Activity conditions that ask the same question share one probe."""

    def __init__(self) -> None:
        self.keys: dict[str, int] = {}
        self.kinds: list[tuple[str, ...]] = []
        self.wheres: list[Where | None] = []
        self.keep: list[int] = []

    def probe(self, kinds: list[str], where: Where | None, keep: int) -> int:
        ordered = tuple(sorted(set(kinds)))
        key = json.dumps([ordered, None if where is None else where.model_dump(by_alias=True)],
                         sort_keys=True, default=str)
        index = self.keys.get(key)
        if index is None:
            index = self.keys[key] = len(self.kinds)
            self.kinds.append(ordered)
            self.wheres.append(where)
            self.keep.append(keep)
        else:
            self.keep[index] = max(self.keep[index], keep)
        return index

    def cond(self, clause: StrictModel) -> Cond:
        if isinstance(clause, FieldClause):
            return FieldCond(clause)
        if isinstance(clause, ScoreClause):
            return ScoreCond(clause)
        if isinstance(clause, ActivityClause):
            probe = self.probe(clause.kinds(), clause.where, clause.at_least)
            followed = (
                self.probe(clause.not_followed_by, None, 1) if clause.not_followed_by else None
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

    def compiled(self) -> tuple[Probe, ...]:
        return tuple(
            Probe(index, compile_where(where), keep)
            for index, (where, keep) in enumerate(zip(self.wheres, self.keep, strict=True))
        )


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
