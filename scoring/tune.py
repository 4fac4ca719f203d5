"""Tune the MQL score threshold to a target share of new leads or to sales' weekly capacity.

Pure: the caller hands in the parsed rule files (dicts, as `tomllib` reads them), the leads'
histories, their outcome labels and the replay bounds; nothing here reads a file, a database
or the clock.

Which threshold is tuned: the `score` condition of every MQL rule whose `when` is a score
condition with `min` or `above`, or an `all` holding exactly one such condition beside others
(the shipped rule: `total >= 50 AND webinar attended AND consultation requested`). Those are
the *tunable* rules; one threshold `T` (points, `>=`) replaces their bound. Other MQL rules do
not depend on `T`. Disqualifiers still block.

One replay per lead (`trajectory`), not one per threshold: the lead is scored, as
`scoring.simulate` does, at the replay start, after its last activity of each UTC day with
activity and at every week end, under a variant of the rules whose tunable score bounds are
lifted (so the rule holds whenever its other conditions do), with a fresh MQL state each
time (no `hold_days`: only whether a rule holds at that moment matters). At each moment the
lead's *qualifying score* is its score on the tunable rules' score (total, engagement, ...)
when one of them holds with the bound lifted, +inf when a rule that does not depend on `T`
holds, else nothing. The running maximum of those, as (moment, value) steps, answers for
every `T` at once: the lead becomes MQL at the first step whose value is `>= T`.

Known limits: only a lead's first qualification in the replay counts (a lead that drops out
and qualifies again is one hand-off here); with several tunable rules, one `T` is applied to
all of them.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from core.models import Activity
from scoring.aggregate import aggregate_activities
from scoring.compile import compile_rules
from scoring.engine import score_aggregate
from scoring.result import ActivityAggregate, LeadScore, MqlState
from scoring.rules import Rules
from scoring.schema import ScoringFile, SegmentsFile
from scoring.simulate import LeadHistory, _evaluation_points

LIFTED = -1_000_000_000.0  # a score bound no lead misses
_BY_TIME = attrgetter("occurred_at")


@dataclass(frozen=True, slots=True)
class TunableRule:
    id: str
    score: str  # total, engagement, fit or a group name
    bound: str  # "min" (>=) or "above" (>)
    threshold: float  # the bound in the file, in points


@dataclass(frozen=True, slots=True)
class Variants:
    """The rule sets a tuning replays with."""

    tunable: tuple[TunableRule, ...]
    lifted: Rules  # tunable bounds lifted
    fixed: Rules | None  # only the rules that do not depend on T (None: there are none)


@dataclass(frozen=True, slots=True)
class Trajectory:
    """One lead's running maximum of its qualifying score: ascending (moment, points)."""

    key: str
    steps: tuple[tuple[datetime, float], ...]

    @property
    def best(self) -> float | None:
        return self.steps[-1][1] if self.steps else None

    def qualified_at(self, threshold: float) -> datetime | None:
        """When the lead first qualifies with the threshold at `threshold`; None if never."""
        values = [value for _, value in self.steps]
        index = bisect.bisect_left(values, threshold)
        return self.steps[index][0] if index < len(values) else None


# ------------------------------------------------------------------------------ rules
def _score_part(clause: Any) -> tuple[str, str, float] | None:
    if isinstance(clause, Mapping) and "score" in clause:
        for bound in ("min", "above"):
            if clause.get(bound) is not None:
                return str(clause["score"]), bound, float(clause[bound])
    return None


def _tunable_part(when: Any) -> Mapping[str, Any] | None:
    """The score clause of a tunable `when` (itself, or the one score part of an `all`)."""
    if _score_part(when) is not None:
        return when
    if isinstance(when, Mapping) and isinstance(when.get("all"), list):
        found = [p for p in when["all"] if _score_part(p) is not None]
        if len(found) == 1:
            return found[0]
    return None


def tunable_rules(scoring: Mapping[str, Any]) -> tuple[TunableRule, ...]:
    """The MQL rules of `scoring.toml` (as parsed) whose score threshold is tuned."""
    out = []
    for rule in scoring.get("mql", {}).get("rules", []):
        found = _score_part(_tunable_part(rule.get("when")))
        if found is not None:
            out.append(TunableRule(str(rule["id"]), *found))
    return tuple(out)


def with_threshold(scoring: Mapping[str, Any], threshold: float | None) -> dict[str, Any]:
    """A copy of `scoring` whose tunable rules use `min = threshold` (None: lifted) and
    no `above`."""
    data = copy.deepcopy(dict(scoring))
    for rule in data.get("mql", {}).get("rules", []):
        part = _tunable_part(rule.get("when"))
        if isinstance(part, dict):
            part.pop("above", None)
            part["min"] = LIFTED if threshold is None else threshold
    return data


def compile_files(scoring: Mapping[str, Any], segments: Mapping[str, Any]) -> Rules:
    return compile_rules(ScoringFile.model_validate(scoring), SegmentsFile.model_validate(segments))


def variants(scoring: Mapping[str, Any], segments: Mapping[str, Any]) -> Variants:
    tunable = tunable_rules(scoring)
    lifted = compile_files(with_threshold(scoring, None), segments)
    ids = {t.id for t in tunable}
    rest = [r for r in scoring.get("mql", {}).get("rules", []) if r.get("id") not in ids]
    fixed = None
    if rest and tunable:
        data = copy.deepcopy(dict(scoring))
        data["mql"] = {**data.get("mql", {}), "rules": rest}
        fixed = compile_files(data, segments)
    return Variants(tunable, lifted, fixed)


# ------------------------------------------------------------------------------ replay
def score_value(score: LeadScore, name: str) -> float:
    if name == "total":
        return float(score.total)
    if name in ("engagement", "fit"):
        return float(getattr(score, name))
    return float(score.groups.get(name, Decimal(0)))


def trajectory(
    rules: Variants, lead: LeadHistory, bounds: Sequence[datetime]
) -> Trajectory:
    """Replay `lead` once (see the module docstring)."""
    start, end = bounds[0], bounds[-1]
    lifted = rules.lifted
    read = lifted.by_kind
    ordered = sorted((a for a in lead.activities if a.kind in read), key=_BY_TIME)
    times = [a.occurred_at for a in ordered]
    tunable = {t.id: t.score for t in rules.tunable}
    steps: list[tuple[datetime, float]] = []
    best = -math.inf
    aggregate: ActivityAggregate | None = None
    upto = -1
    for moment in _evaluation_points(lead.activities, start, end, bounds[1:]):
        seen = bisect.bisect_right(times, moment)
        if aggregate is None or seen != upto:
            aggregate = aggregate_activities(lifted, ordered[:seen], moment)
            upto = seen
        value = _qualifying(rules, tunable, lead, ordered[:seen], aggregate, moment)
        if value is not None and value > best:
            best = value
            steps.append((moment, value))
        if best == math.inf:
            break
    return Trajectory(lead.key, tuple(steps))


def _qualifying(
    rules: Variants,
    tunable: Mapping[str, str],
    lead: LeadHistory,
    seen: Sequence[Activity],
    aggregate: ActivityAggregate,
    moment: datetime,
) -> float | None:
    score = score_aggregate(rules.lifted, lead.contact, lead.company, aggregate, moment, MqlState())
    if not score.is_mql:
        return None
    rule = score.mql_state.rule
    if rule not in tunable:
        return math.inf
    if rules.fixed is not None:
        fixed = score_aggregate(
            rules.fixed, lead.contact, lead.company,
            aggregate_activities(rules.fixed, seen, moment), moment, MqlState(),
        )
        if fixed.is_mql:
            return math.inf
    return max(score_value(score, tunable[r.id]) for r in rules.tunable if r.id == rule)


def trajectories(
    rules: Variants, leads: Iterable[LeadHistory], bounds: Sequence[datetime]
) -> list[Trajectory]:
    return [trajectory(rules, lead, bounds) for lead in leads]


# ------------------------------------------------------------------------------ search
@dataclass(frozen=True, slots=True)
class Backtest:
    threshold: float
    mqls: int  # of the population, qualified in the replay at this threshold
    share: float | None  # mqls / population
    flagged: int  # MQLs with a known outcome
    hits: int  # of those, positive
    precision: float | None
    recall: float | None


def backtest(
    paths: Sequence[Trajectory], threshold: float, outcomes: Mapping[str, bool] | None
) -> Backtest:
    """MQLs, share and precision/recall of `paths` (the population) at `threshold`."""
    mqls = [p for p in paths if p.best is not None and p.best >= threshold]
    known = outcomes or {}
    flagged = [p for p in mqls if p.key in known]
    hits = sum(1 for p in flagged if known[p.key])
    positives = sum(1 for p in paths if known.get(p.key) is True)
    return Backtest(
        threshold=threshold,
        mqls=len(mqls),
        share=len(mqls) / len(paths) if paths else None,
        flagged=len(flagged),
        hits=hits,
        precision=hits / len(flagged) if flagged else None,
        recall=hits / positives if positives else None,
    )


def candidates(paths: Iterable[Trajectory]) -> list[float]:
    """Every threshold at which some lead's verdict changes, ascending (finite ones)."""
    return sorted({p.best for p in paths if p.best is not None and math.isfinite(p.best)})


def threshold_for_share(paths: Sequence[Trajectory], share: float) -> float | None:
    """The threshold whose share of `paths` qualifying is closest to `share` (the higher
    threshold on a tie); None when no lead's verdict depends on the threshold."""
    values = candidates(paths)
    if not values or not paths:
        return None
    bests = sorted(p.best for p in paths if p.best is not None)
    total = len(paths)
    best_value, best_gap = values[-1], math.inf
    for value in values:
        qualified = len(bests) - bisect.bisect_left(bests, value)
        gap = abs(qualified / total - share)
        if gap <= best_gap:
            best_value, best_gap = value, gap
    return best_value


def weekly_mqls(
    paths: Iterable[Trajectory], threshold: float, bounds: Sequence[datetime]
) -> list[int]:
    """First qualifications per week `(bounds[i], bounds[i+1]]` (at the start: not counted)."""
    counts = [0] * (len(bounds) - 1)
    for path in paths:
        moment = path.qualified_at(threshold)
        if moment is None or moment <= bounds[0]:
            continue
        index = bisect.bisect_left(bounds, moment) - 1
        counts[min(max(index, 0), len(counts) - 1)] += 1
    return counts


def typical_week(counts: Sequence[int], bounds: Sequence[datetime]) -> float:
    """The median of the full weeks' counts (all weeks when none is full): how many
    hand-offs a usual week brings. The busiest week is reported beside it."""
    full = [c for c, (a, b) in zip(counts, itertools.pairwise(bounds), strict=True)
            if (b - a).days >= 7]
    return float(statistics.median(full or counts or [0]))


def threshold_for_capacity(
    paths: Sequence[Trajectory], capacity: float, bounds: Sequence[datetime]
) -> float | None:
    """The lowest threshold whose median full week has at most `capacity` new MQLs (binary
    search: the weekly counts only fall as the threshold rises); None when even the highest
    candidate is over (rules that do not depend on the threshold make too many)."""
    values = candidates(paths)
    if not values:
        return None
    lo = 0
    # also one step above the highest value (nobody qualifies by score)
    above = [*values, values[-1] + 0.01]
    hi = len(above) - 1
    if typical_week(weekly_mqls(paths, above[hi], bounds), bounds) > capacity:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if typical_week(weekly_mqls(paths, above[mid], bounds), bounds) <= capacity:
            hi = mid
        else:
            lo = mid + 1
    return above[lo]
