"""Score one lead: behaviour tallies + fit rules -> groups, caps, weights -> grade,
disqualifiers, MQL, stage, segments. Pure: `now` is always passed in.

Amounts are carried in whole cents (ints) from the moment a rule's points are known, so
sums are exact and the explanation adds up to the total to the cent.

Conditions are answered by `Rules.program` (scoring.program: the rule set's conditions as
inline Python code, per-field test answers remembered per text); the `Cond` objects only
write the human reasons (`describe`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime

from core.models import Activity, Company, Contact
from scoring.aggregate import aggregate_at, decay_factor
from scoring.mql import next_mql_state
from scoring.result import (
    EXPLANATION_SLOT,
    MONEY,
    REASON_SLOT,
    ActivityAggregate,
    Later,
    LeadScore,
    MqlState,
    RuleTally,
    fast_constructor,
    money,
)
from scoring.rules import (
    HALF_LIFE,
    NO_DECAY,
    BehaviourSpec,
    Decision,
    Facts,
    GroupSpec,
    Rules,
    to_timestamp,
)

_NEVER = MqlState()
_later = tuple.__new__  # Later(...) without the named tuple's Python-level __new__


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
    now_ts = to_timestamp(now)  # checks that now is aware
    aggregate = aggregate_at(rules, activities, now, now_ts)
    return _score(rules, contact, company, aggregate, now, now_ts, 0.0, previous)


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
    return _score(rules, contact, company, aggregate, now, now_ts,
                  now_ts - aggregate.as_of.timestamp(), previous)


def _score(rules: Rules, contact: Contact, company: Company | None,
           aggregate: ActivityAggregate, now: datetime, now_ts: float, elapsed: float,
           previous: MqlState | None) -> LeadScore:
    """score_aggregate after its checks; `elapsed`: seconds from the aggregate's as_of."""
    program = rules.program
    answers = program.read(contact, company)
    holds = program.fit(answers)
    sums = _group_sums(rules, aggregate, holds, now_ts, elapsed)
    explanation: list[Row] | Later
    if sums is None:  # a group cap binds or a weight applies: the rows carry the shares
        explanation, sums = _points(rules, aggregate, holds, now_ts, elapsed)
    else:  # the rows are only read to explain: LeadScore builds them if that happens
        explanation = _later(Later, (_rows, (rules, aggregate, holds, now_ts, elapsed)))
    total = sum(sums.values())
    fit = 0
    for name in rules.fit_groups:
        fit += sums[name]
    engagement = total - fit
    scores = dict(sums)
    groups = {}
    for name, cents in sums.items():
        groups[name] = _MONEY_GET(cents) or money(cents)
    scores["total"] = total
    scores["engagement"] = engagement
    scores["fit"] = fit
    probes = aggregate.probes

    disqualified_by = program.disqualified(answers, probes, now_ts, scores)
    qualifying = None
    if not disqualified_by:
        index = program.qualifying(answers, probes, now_ts, scores)
        if index >= 0:
            qualifying = rules.mql_rules[index]
    state = previous or _NEVER
    if qualifying is not None or state.qualified:  # otherwise nothing can change
        state = next_mql_state(
            state,
            qualifying_rule=None if qualifying is None else qualifying.id,
            disqualified=bool(disqualified_by),
            now=now,
            hold=rules.mql_hold,
        )
    is_mql = state.qualified
    stage, segment, segments = program.labels(answers, probes, now_ts, scores, is_mql)
    reason = _later(Later, (_reason_text, (rules, contact, company, probes, now_ts, scores,
                                           is_mql, qualifying, state, disqualified_by)))
    return _new_score(
        contact.hubspot_id,
        _MONEY_GET(total) or money(total),
        _MONEY_GET(engagement) or money(engagement),
        _MONEY_GET(fit) or money(fit),
        _grade(rules, fit, engagement),
        groups,
        segment,
        segments,
        stage,
        is_mql,
        reason,
        state.since,
        state.episode,
        state,
        disqualified_by,
        explanation,  # LeadScore makes the ExplanationEntry tuple when it is first read
        now,
        rules.version,
    )


_new_score = fast_constructor(
    LeadScore, {"explanation": EXPLANATION_SLOT, "mql_reason": REASON_SLOT})
_MONEY_GET = MONEY.get  # money() without the call for the common amounts (never falsy:
# Decimal zero is, so zero goes through money(), which returns the same shared value)


# ------------------------------------------------------------------------------ rows
# A row is [rule_id, group, axis, matched, points, decayed, capped, contribution], amounts
# in cents: the fields of an ExplanationEntry, still mutable while group caps are applied;
# LeadScore turns them into its explanation when that is read.
Row = list
_CAPPED, _CONTRIBUTION = 6, 7


def _group_sums(rules: Rules, aggregate: ActivityAggregate, fit_holds: tuple[bool, ...],
                now_ts: float, elapsed: float) -> dict[str, int] | None:
    """The group sums `_points` would give, without its rows, when no group cap binds and
    every weight is 1; None otherwise. Each rule's capped cents are the same floats rounded
    the same way as in `_behaviour_rows`."""
    limits = rules.group_limits
    if limits is None:
        return None
    sums = dict.fromkeys(rules.groups, 0)
    specs = rules.behaviour
    for rule_id, tally in aggregate.tallies.items():
        rule = specs[rule_id]
        earned = tally[3]
        if elapsed <= 0.0:
            pass
        elif rule.decay == HALF_LIFE:
            earned = earned * math.exp(-rule.rate * elapsed)
        else:
            earned = revalue(rule, tally, now_ts, elapsed)[1]
        cap = rule.cap_total
        if cap is not None and abs(earned) > cap:
            earned = math.copysign(cap, earned)
        sums[rule.group] += round(earned * 100)
    for fit_rule, holds in zip(rules.fit, fit_holds, strict=True):
        if holds:
            sums[fit_rule.group] += fit_rule.points_cents
    for name, low, high in limits:
        total = sums[name]
        if (high is not None and total > high) or (low is not None and total < low):
            return None
    return sums


def _rows(rules: Rules, aggregate: ActivityAggregate, fit_holds: tuple[bool, ...],
          now_ts: float, elapsed: float) -> list[Row]:
    return _points(rules, aggregate, fit_holds, now_ts, elapsed)[0]


def _points(rules: Rules, aggregate: ActivityAggregate, fit_holds: tuple[bool, ...],
            now_ts: float, elapsed: float) -> tuple[list[Row], dict[str, int]]:
    """One row per matched rule (behaviour, then fit, in file order) and the weighted total
    per group, every group present, in file order."""
    sums = dict.fromkeys(rules.groups, 0)
    rows = _behaviour_rows(rules, aggregate, now_ts, elapsed, sums) if aggregate.tallies \
        else []
    for fit_rule, holds in zip(rules.fit, fit_holds, strict=True):
        if holds:
            cents = fit_rule.points_cents
            rows.append([fit_rule.id, fit_rule.group, "fit", 1, cents, cents, cents, cents])
            sums[fit_rule.group] += cents
    if rules.group_work:
        sums = _apply_groups(rules.groups, rows, sums)
    return rows, sums


def _behaviour_rows(rules: Rules, aggregate: ActivityAggregate, now_ts: float,
                    elapsed: float, sums: dict[str, int]) -> list[Row]:
    # `_group_sums` repeats the earned-points steps below without the rows (the hot path has
    # no call per rule to spare): change them together; the fast-path tests compare both.
    rows = []
    specs = rules.behaviour
    for rule_id, tally in aggregate.tallies.items():
        rule = specs[rule_id]
        matched, points, decayed, earned, _ = tally
        if elapsed <= 0.0:  # scored at the aggregate's as_of (every score_lead call)
            pass
        elif rule.decay == HALF_LIFE:  # revalue(), inline for the common case
            factor = math.exp(-rule.rate * elapsed)
            decayed, earned = decayed * factor, earned * factor
        else:
            decayed, earned = revalue(rule, tally, now_ts, elapsed)
        cap = rule.cap_total
        if cap is not None and abs(earned) > cap:
            earned = math.copysign(cap, earned)
        capped = round(earned * 100)
        group = rule.group
        rows.append([rule_id, group, "engagement", matched, round(points * 100),
                     round(decayed * 100), capped, capped])
        sums[group] += capped
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


def _reason_text(rules: Rules, contact: Contact, company: Company | None,
                 probes: tuple[tuple[float, ...], ...], now_ts: float, scores: dict[str, int],
                 is_mql: bool, qualifying: Decision | None, state: MqlState,
                 disqualified_by: tuple[str, ...]) -> str:
    """The MQL reason; LeadScore calls it when the reason is first read."""
    if disqualified_by:
        return _disqualified_reason(rules, disqualified_by)
    facts = Facts(contact, company, probes, now_ts)  # the facts the program read
    facts.scores = scores
    facts.is_mql = is_mql
    return _mql_reason(rules, facts, qualifying, state)


def _disqualified_reason(rules: Rules, disqualified_by: tuple[str, ...]) -> str:
    texts = {d.id: d.text for d in rules.disqualifiers}
    return "not MQL: disqualified by " + "; ".join(
        f"{d} ({texts[d]})" if texts[d] != d else d for d in disqualified_by
    )


def _mql_reason(
    rules: Rules,
    facts: Facts,
    qualifying: Decision | None,
    state: MqlState,
) -> str:
    if qualifying is not None:
        return f"MQL by {qualifying.id}: {qualifying.when.describe(facts)}"
    failing = "; ".join([f"{r.id}: {r.when.describe(facts)}" for r in rules.mql_rules])
    if state.qualified:
        return (
            f"MQL held: qualified by {state.rule} at {state.since:%Y-%m-%d %H:%M} UTC, "
            f"held for {rules.mql_hold.total_seconds() / 86400:g} days; now {failing}"
        )
    if not rules.mql_rules:
        return "not MQL: no MQL rules are configured"
    return f"not MQL: {failing}"
