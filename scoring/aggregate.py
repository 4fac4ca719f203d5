"""The hot path: one pass over a lead's activities, reduced to per-rule tallies.

Activities are deduplicated by `source_id` and those after `as_of` are left out. The pass
touches each activity once, in input order, without sorting the history: one dict lookup
by kind (`Rules.plan.routes`), then its epoch timestamp (`Activity.occurred_ts`, computed
once when the activity was built) goes onto the timestamp list of its kind, and onto the
list of each attribute-tested slot (precompiled "slots": the distinct questions rules and
conditions ask) whose test it passes; a tested slot only used by conditions with
`within_days` skips activities older than that. Kinds nothing reads cost only the `as_of`
check. Then only these short float lists are sorted, and
`Rules.plan.finish` (straight-line code generated per rule set, see
scoring.program.build_finish) merges them into slots and turns each rule's timestamps into
a tally.

Results are exactly those of visiting the activities in time order: within a slot only
timestamps are kept, and a float sort orders them as `occurred_at` orders the activities
(`timestamp()` is monotonic; activities with equal floats are interchangeable, as
everything a slot records about them is that float), so the result does not depend on the
input order. Sums still run in time order, so they are the same floats.
tests/scoring/test_scoring_fast_path.py compares every result with the implementation this
replaced.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from operator import attrgetter

from core.models import Activity, DistinctActivities
from scoring.result import ActivityAggregate, RuleTally, fast_constructor
from scoring.rules import HALF_LIFE, LINEAR, BehaviourSpec, Rules, SlotPlan, to_timestamp

_NO_TIMES: tuple[float, ...] = ()
_tally = tuple.__new__  # RuleTally without its keyword-handling __new__
_new_aggregate = fast_constructor(ActivityAggregate)
_source_id = attrgetter("source_id")
_SEQUENCES = (list, tuple)  # (`list | tuple` would build a union object on every call)


def aggregate_activities(
    rules: Rules, activities: Iterable[Activity], as_of: datetime
) -> ActivityAggregate:
    return aggregate_at(rules, activities, as_of, to_timestamp(as_of))


def aggregate_at(rules: Rules, activities: Iterable[Activity], as_of: datetime,
                 ref: float) -> ActivityAggregate:
    """aggregate_activities for a caller that has `ref` = `to_timestamp(as_of)` already."""
    if type(activities) is not DistinctActivities:
        if not isinstance(activities, _SEQUENCES):
            activities = list(activities)
        if len(set(map(_source_id, activities))) != len(activities):
            activities = list(_distinct(activities).values())

    plan = rules.plan
    routes = plan.routes
    found: list[list[float] | None] = [None] * plan.lists
    late = 0  # activities after as_of: left out, but only they need a datetime comparison
    for activity in activities:
        ts = activity.occurred_ts
        if ts >= ref and activity.occurred_at > as_of:  # ts >= ref is implied, and cheap
            late += 1
            continue
        route = routes.get(activity.kind)
        if route is None:  # no rule or condition reads this kind
            continue
        index, tested = route
        if index >= 0:
            times = found[index]
            if times is None:
                found[index] = [ts]
            else:
                times.append(ts)
        if tested:
            for index, where, horizon in tested:
                if ts + horizon >= ref and where(activity.attributes):
                    times = found[index]
                    if times is None:
                        found[index] = [ts]
                    else:
                        times.append(ts)

    for times in found:
        if times is not None and len(times) > 1:
            times.sort()
    tallies, probes = plan.finish(found, ref)
    return _new_aggregate(as_of, rules.version, tallies, probes, len(activities) - late)


def slot_times(slot: SlotPlan, found: list[list[float] | None],
               ref: float) -> list[float] | None:
    """A slot that merges several kinds or has a horizon: its timestamps in ascending order
    (only its latest `keep` when only those are read), without those older than its
    horizon."""
    keep = slot.keep
    horizon = slot.horizon
    if keep == 1:  # the common probe: "did any of these kinds happen (lately)"
        latest = None
        for index in slot.kinds:
            more = found[index]
            if more is not None and (latest is None or more[-1] > latest):
                latest = more[-1]
        if latest is None or latest + horizon < ref:
            return None
        return [latest]
    times = None
    for index in slot.kinds:
        more = found[index]
        if more is None:
            continue
        if keep and len(more) > keep:
            more = more[-keep:]  # the latest `keep` of the union are among these
        if times is None:
            times = more
        else:
            times = times + more
            times.sort()
    if times is None:
        return None
    if horizon != math.inf and times[0] + horizon < ref:
        start = 1
        while start < len(times) and times[start] + horizon < ref:
            start += 1
        times = times[start:]
    return times


def _distinct(activities: Sequence[Activity]) -> dict[str, Activity]:
    """One activity per source_id. When two differ under one id, the same one wins
    whatever the input order."""
    seen: dict[str, Activity] = {}
    for activity in activities:
        kept = seen.setdefault(activity.source_id, activity)
        if kept is not activity and kept != activity:
            seen[activity.source_id] = min(kept, activity, key=_full_key)
    return seen


def _full_key(activity: Activity) -> tuple[object, ...]:
    return (activity.occurred_at, activity.kind, activity.contact_id or "",
            activity.email or "", repr(sorted(activity.attributes.items())))


def decay_factor(rule: BehaviourSpec, age: float) -> float:
    """Share of points left after `age` seconds: 1.0 at age 0, never above 1."""
    if age <= 0.0:
        return 1.0
    if rule.decay == HALF_LIFE:
        return math.exp(-rule.rate * age)
    if rule.decay == LINEAR:
        return max(0.0, 1.0 - age * rule.rate)
    return 1.0


def window_shares(times: Sequence[float], points: float, window: float,
                  cap: float) -> list[float]:
    """Greedy rolling cap over ascending `times`: each activity earns what is left of
    `cap` in the `window` seconds up to and including it, so no span of `window` seconds
    earns more than `cap` in size (negative points: in magnitude)."""
    size = abs(points)
    shares: list[float] = []
    head = 0
    used = 0.0
    for t in times:
        cutoff = t - window
        while times[head] <= cutoff:
            used -= shares[head]
            head += 1
        share = cap - used
        if share > size:
            share = size
        elif share < 0.0:
            share = 0.0
        shares.append(share)
        used += share
    return shares if points >= 0 else [-share for share in shares]


def tally(rule: BehaviourSpec, times: list[float], ref: float) -> RuleTally:
    """A rule's tally at `ref` from the ascending timestamps (all <= ref) of its matching
    activities. Sums run in time order, so they are the same for any input order.
    `Rules.plan.finish` writes the half-life case out per rule; keep the two in step."""
    matched = len(times)
    if rule.once:
        times = times[-1:]  # the latest match is the one that counts
    points = rule.points
    total = points * len(times)
    earned = window_shares(times, points, rule.window, rule.window_cap) if rule.window \
        else None
    decay = rule.decay
    if decay == HALF_LIFE:
        rate = rule.rate
        exp = math.exp
        if earned is None:
            weight = 0.0
            for t in times:
                weight += exp(rate * (t - ref))  # exactly 1.0 at t == ref
            return _tally(RuleTally, (matched, total, points * weight, points * weight, ()))
        weight = kept = 0.0
        for t, share in zip(times, earned, strict=True):
            factor = exp(rate * (t - ref))
            weight += factor
            kept += share * factor
        return _tally(RuleTally, (matched, total, points * weight, kept, ()))
    if decay == LINEAR:
        items = []
        weight = kept = 0.0
        shares = earned if earned is not None else [points] * len(times)
        for t, share in zip(times, shares, strict=True):
            factor = 1.0 - (ref - t) * rule.rate
            if factor > 0.0:
                weight += factor
                kept += share * factor
                items.append((t, points, share))
        return RuleTally(matched, total, points * weight, kept, tuple(items))
    return RuleTally(matched, total, total, total if earned is None else sum(earned))
