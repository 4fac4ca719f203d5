"""The hot path: one pass over a lead's activities, reduced to per-rule tallies.

Activities are deduplicated by `source_id`, those after `as_of` are left out, and the rest
are visited in time order. Each activity costs one dict lookup by kind; for every rule or
probe its kind feeds (precompiled "slots"), a passing activity appends its timestamp to
that slot; a slot only used by conditions with `within_days` skips activities older than
that. Afterwards each rule turns its timestamps into a tally in one tight loop.

Ties in `occurred_at` may be visited in any order: everything a slot records about an
activity is its timestamp, so equal timestamps are interchangeable and the result does
not depend on the input order.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from operator import attrgetter

from core.models import Activity
from scoring.compile import HALF_LIFE, LINEAR, BehaviourSpec, Rules, to_timestamp
from scoring.result import ActivityAggregate, RuleTally

_BY_TIME = attrgetter("occurred_at")
_NO_TIMES: tuple[float, ...] = ()


def aggregate_activities(
    rules: Rules, activities: Iterable[Activity], as_of: datetime
) -> ActivityAggregate:
    ref = to_timestamp(as_of)
    if not isinstance(activities, list | tuple):
        activities = list(activities)
    if len({a.source_id for a in activities}) != len(activities):
        activities = list(_distinct(activities).values())

    ordered = sorted(activities, key=_BY_TIME)
    if ordered and ordered[-1].occurred_at > as_of:
        del ordered[bisect.bisect_right(ordered, as_of, key=_BY_TIME):]

    by_kind = rules.by_kind
    hits: list[list[float] | None] = [None] * rules.slots
    for activity in ordered:
        targets = by_kind.get(activity.kind)
        if targets is None:
            continue
        ts = activity.occurred_at.timestamp()
        for slot, where, horizon in targets:
            if ts + horizon < ref:
                continue  # older than any condition using this slot will look
            if where is None or where(activity.attributes):
                times = hits[slot]
                if times is None:
                    hits[slot] = [ts]
                else:
                    times.append(ts)

    tallies = {}
    for rule in rules.behaviour.values():
        times = hits[rule.slot]
        if times is not None:
            tallies[rule.id] = tally(rule, times, ref)
    return ActivityAggregate(
        as_of=as_of,
        rules_version=rules.version,
        tallies=tallies,
        probes=tuple([
            _NO_TIMES if (times := hits[probe.slot]) is None else tuple(times[-probe.keep:])
            for probe in rules.probes
        ]),
        activities=len(ordered),
    )


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
    activities. Sums run in time order, so they are the same for any input order."""
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
            return RuleTally(matched, total, points * weight, points * weight)
        weight = kept = 0.0
        for t, share in zip(times, earned, strict=True):
            factor = exp(rate * (t - ref))
            weight += factor
            kept += share * factor
        return RuleTally(matched, total, points * weight, kept)
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
