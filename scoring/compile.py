"""The compiler: validated rule files -> `Rules` (scoring.rules), the runtime form the hot
path reads.

Everything that can be decided once is decided here: regexes compiled, sets case-folded,
behaviour rules and condition probes indexed by activity kind, decay turned into rates,
the slots planned for one aggregation pass, and the conditions and the end of aggregation
generated as code (scoring.program). Holds the compiler only; the types it builds are in
scoring.rules.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from datetime import timedelta

from scoring.matchers import AttributesPredicate, compile_where
from scoring.program import build_finish, build_program
from scoring.rules import (
    DAY,
    HALF_LIFE,
    LINEAR,
    NO_DECAY,
    ActivityCond,
    AggregatePlan,
    AllCond,
    AnyCond,
    BehaviourSpec,
    Cond,
    Decision,
    DimensionSpec,
    FieldCond,
    FitSpec,
    GroupSpec,
    MqlFlagCond,
    NotCond,
    Probe,
    Rules,
    ScoreCond,
    SlotPlan,
    Targets,
)
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
    Where,
)


def compile_rules(scoring: ScoringFile, segments: SegmentsFile) -> Rules:
    """Assumes `scoring.checks` found no problems."""
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
