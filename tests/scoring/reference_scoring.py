"""The scoring hot path as it was before the fast path (scoring/aggregate.py and
scoring/engine.py at commit eb5e8eb), kept unchanged as the oracle that
test_scoring_fast_path.py compares the optimised package against. Not used by the product."""


from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from operator import attrgetter

from core.models import Activity, Company, Contact
from scoring.mql import next_mql_state
from scoring.result import (
    ActivityAggregate,
    ExplanationEntry,
    LeadScore,
    MqlState,
    RuleTally,
    money,
)
from scoring.rules import (
    HALF_LIFE,
    LINEAR,
    NO_DECAY,
    BehaviourSpec,
    Cond,
    Decision,
    Facts,
    GroupSpec,
    Rules,
    to_timestamp,
)

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




_NEVER = MqlState()


def score_lead(
    rules: Rules,
    contact: Contact,
    company: Company | None,
    activities: Iterable[Activity],
    now: datetime,
    previous: MqlState | None = None,
) -> LeadScore:
    """Score a lead from its whole activity history as of `now` (activities after `now`
    are ignored; duplicate source_ids count once; input order does not matter)."""
    aggregate = aggregate_activities(rules, activities, now)
    return score_aggregate(rules, contact, company, aggregate, now, previous)


def score_aggregate(
    rules: Rules,
    contact: Contact,
    company: Company | None,
    aggregate: ActivityAggregate,
    now: datetime,
    previous: MqlState | None = None,
) -> LeadScore:
    """Score a lead from an aggregate built at or before `now` with the same rules.

    Raises ValueError when the aggregate was built by other rules or after `now`.
    """
    if aggregate.rules_version != rules.version:
        raise ValueError(
            f"aggregate built with rules {aggregate.rules_version}, not {rules.version}"
        )
    if now < aggregate.as_of:
        raise ValueError("now is before the aggregate's as_of")
    now_ts = to_timestamp(now)
    facts = Facts(contact, company, aggregate.probes, now_ts)
    rows, sums = _points(rules, aggregate, facts)
    explanation = tuple([_entry(ExplanationEntry, row) for row in rows])
    total = sum(sums.values())
    fit = sum(sums[name] for name in rules.fit_groups)
    engagement = total - fit
    facts.scores.update(sums, total=total, engagement=engagement, fit=fit)

    disqualified_by = tuple(d.id for d in rules.disqualifiers if d.when.test(facts))
    qualifying = None if disqualified_by else _first(rules.mql_rules, facts)
    state = previous or _NEVER
    if qualifying is not None or state.qualified:  # otherwise nothing can change
        state = next_mql_state(
            state,
            qualifying_rule=None if qualifying is None else qualifying.id,
            disqualified=bool(disqualified_by),
            now=now,
            hold=rules.mql_hold,
        )
    facts.is_mql = state.qualified

    segments = {
        dimension.name: _first_label(dimension.rules, facts, dimension.default)
        for dimension in rules.dimensions
    }
    return LeadScore(
        contact_id=contact.hubspot_id,
        total=money(total),
        engagement=money(engagement),
        fit=money(fit),
        grade=_grade(rules, fit, engagement),
        groups={name: money(cents) for name, cents in sums.items()},
        segment=rules.separator.join(segments.values()),
        segments=segments,
        stage=_first_label(rules.stage_rules, facts, rules.default_stage),
        is_mql=state.qualified,
        mql_reason=_mql_reason(rules, facts, disqualified_by, qualifying, state),
        mql_since=state.since,
        mql_episode=state.episode,
        mql_state=state,
        disqualified_by=disqualified_by,
        explanation=explanation,
        scored_at=now,
        rules_version=rules.version,
    )


def _first(decisions: tuple[Decision, ...], facts: Facts) -> Decision | None:
    for decision in decisions:
        if decision.when.test(facts):
            return decision
    return None


def _first_label(rules: tuple[tuple[str, Cond], ...], facts: Facts, default: str) -> str:
    """Ordered rules: the first whose condition holds names the label."""
    for label, when in rules:
        if when.test(facts):
            return label
    return default


# ------------------------------------------------------------------------------ rows
# A row is [rule_id, group, axis, matched, points, decayed, capped, contribution], amounts
# in cents: the fields of an ExplanationEntry, still mutable while group caps are applied.
Row = list
_entry = tuple.__new__
_CAPPED, _CONTRIBUTION = 6, 7


def _points(rules: Rules, aggregate: ActivityAggregate,
            facts: Facts) -> tuple[list[Row], dict[str, int]]:
    """One row per matched rule (behaviour, then fit, in file order) and the weighted total
    per group, every group present, in file order."""
    sums = dict.fromkeys(rules.groups, 0)
    rows = _behaviour_rows(rules, aggregate, facts.now_ts, sums) if aggregate.tallies else []
    for fit_rule in rules.fit:
        if fit_rule.when.test(facts):
            cents = fit_rule.points_cents
            rows.append([fit_rule.id, fit_rule.group, "fit", 1, cents, cents, cents, cents])
            sums[fit_rule.group] += cents
    if rules.group_work:
        sums = _apply_groups(rules.groups, rows, sums)
    return rows, sums


def _behaviour_rows(rules: Rules, aggregate: ActivityAggregate, now_ts: float,
                    sums: dict[str, int]) -> list[Row]:
    rows = []
    specs = rules.behaviour
    elapsed = now_ts - aggregate.as_of.timestamp()
    for rule_id, tally in aggregate.tallies.items():
        rule = specs[rule_id]
        if elapsed > 0.0:
            decayed, earned = revalue(rule, tally, now_ts, elapsed)
        else:  # scored at the aggregate's as_of (every score_lead call): values as stored
            decayed, earned = tally.decayed, tally.earned
        if rule.cap_total is not None and abs(earned) > rule.cap_total:
            earned = math.copysign(rule.cap_total, earned)
        capped = round(earned * 100)
        rows.append([rule_id, rule.group, "engagement", tally.matched, round(tally.points * 100),
                     round(decayed * 100), capped, capped])
        sums[rule.group] += capped
    return rows


def revalue(rule: BehaviourSpec, tally: RuleTally, now_ts: float,
            elapsed: float) -> tuple[float, float]:
    """A tally's (decayed, earned) points at now; it holds them at its aggregate's as_of,
    `elapsed` (>= 0) seconds earlier."""
    if elapsed <= 0.0 or rule.decay == NO_DECAY:
        return tally.decayed, tally.earned
    if rule.decay == HALF_LIFE:
        factor = math.exp(-rule.rate * elapsed)
        return tally.decayed * factor, tally.earned * factor
    weight = kept = 0.0
    for ts, _, share in tally.items:
        factor = decay_factor(rule, now_ts - ts)
        weight += factor
        kept += share * factor
    return rule.points * weight, kept


def _apply_groups(specs: Mapping[str, GroupSpec], rows: list[Row],
                  sums: dict[str, int]) -> dict[str, int]:
    """Group caps (shared out over the group's rules in whole cents), then weights.
    Updates the rows' capped amounts and contributions; returns the weighted group sums."""
    changed = False
    for name, total in sums.items():
        spec = specs[name]
        if spec.max_cents is not None and total > spec.max_cents:
            _take(total - spec.max_cents, [r for r in rows if r[1] == name and r[_CAPPED] > 0])
            changed = True
        elif spec.min_cents is not None and total < spec.min_cents:
            _take(spec.min_cents - total, [r for r in rows if r[1] == name and r[_CAPPED] < 0])
            changed = True
        elif spec.weight != 1.0:
            changed = True
    if not changed:
        return sums
    weighted = dict.fromkeys(specs, 0)
    for row in rows:
        weight = specs[row[1]].weight
        row[_CONTRIBUTION] = row[_CAPPED] if weight == 1.0 else round(row[_CAPPED] * weight)
        weighted[row[1]] += row[_CONTRIBUTION]
    return weighted


def _take(amount: int, rows: list[Row]) -> None:
    """Remove `amount` cents of magnitude from `rows` in proportion to their size
    (largest remainder; ties go to the earlier rule)."""
    weights = [abs(row[_CAPPED]) for row in rows]
    whole = sum(weights)
    shares = [amount * w // whole for w in weights]
    left = amount - sum(shares)
    by_remainder = sorted(range(len(rows)), key=lambda i: (-(amount * weights[i] % whole), i))
    for i in by_remainder[:left]:
        shares[i] += 1
    for row, share in zip(rows, shares, strict=True):
        row[_CAPPED] -= share if row[_CAPPED] > 0 else -share


def _grade(rules: Rules, fit_cents: int, engagement_cents: int) -> str:
    letter = "D"
    for candidate, threshold in rules.fit_grades:
        if fit_cents >= threshold:
            letter = candidate
            break
    band = "4"
    for candidate, threshold in rules.engagement_grades:
        if engagement_cents >= threshold:
            band = candidate
            break
    return letter + band


def _mql_reason(
    rules: Rules,
    facts: Facts,
    disqualified_by: tuple[str, ...],
    qualifying: Decision | None,
    state: MqlState,
) -> str:
    if disqualified_by:
        texts = {d.id: d.text for d in rules.disqualifiers}
        return "not MQL: disqualified by " + "; ".join(
            f"{d} ({texts[d]})" if texts[d] != d else d for d in disqualified_by
        )
    if qualifying is not None:
        return f"MQL by {qualifying.id}: {qualifying.when.describe(facts)}"
    failing = "; ".join(f"{r.id}: {r.when.describe(facts)}" for r in rules.mql_rules)
    if state.qualified:
        return (
            f"MQL held: qualified by {state.rule} at {state.since:%Y-%m-%d %H:%M} UTC, "
            f"held for {rules.mql_hold.total_seconds() / 86400:g} days; now {failing}"
        )
    if not rules.mql_rules:
        return "not MQL: no MQL rules are configured"
    return f"not MQL: {failing}"
