"""How long a lead's scoring answers stay true while time passes and nothing new arrives.

Pure: the caller hands in the lead, the activity aggregate and MQL state a scoring at `now`
used, and `now`; nothing here reads a file, a database or the clock.

A report's per-lead facts (segment values at the report's end, first MQL, first time each
stage was reached) come from scorings; between two activities of a lead, only time changes
what a scoring answers, through the conditions of the MQL rules, disqualifiers, stage rules
and segment dimensions and through the MQL flag (hold_days running out). When every one of
those conditions is monotone in time (`scoring.simulate._direction`: const, only rises or
only falls: positive points that decay make a score minimum only fall, an activity window
only closes, `is_mql = true` only falls when time cannot qualify a lead) and time cannot
qualify a lead (`time_can_qualify`), each of them flips at most once after `now`, and so
does the MQL flag. Then the vector of their truth values at a later moment equals the one at
`now` exactly when nothing flipped in between, so sampling it at now + 1 h, 2 h, 4 h, ...
finds the first interval holding a flip, and bisection narrows that to one second
(`valid_until` keeps the lower end: the last moment known unchanged). Past `horizon` (two
years) nothing is looked at: the answer is `now + horizon`. With any condition of unknown
direction the answer is `now` itself: recompute whenever the moment moves.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from core.models import Company, Contact
from scoring.engine import score_aggregate
from scoring.result import ActivityAggregate, MqlState
from scoring.rules import NO_DECAY, Cond, Facts, Rules
from scoring.simulate import _ANY, _FALLS, _direction, time_can_qualify

HORIZON = timedelta(days=730)
FIRST_STEP = timedelta(hours=1)
RESOLUTION = timedelta(seconds=1)


def time_conditions(rules: Rules) -> tuple[Cond, ...]:
    """Every condition whose answer a report's facts depend on, in a fixed order."""
    return (
        *(d.when for d in rules.mql_rules),
        *(d.when for d in rules.disqualifiers),
        *(c for _, c in rules.stage_rules),
        *(c for dimension in rules.dimensions for _, c in dimension.rules),
    )


def monotone_in_time(rules: Rules) -> bool:
    """Whether every condition of `time_conditions` flips at most once while time passes
    (and time cannot qualify a lead, so the MQL flag only falls)."""
    if time_can_qualify(rules):
        return False
    scores_rise = any(
        spec.points < 0 and spec.decay != NO_DECAY for spec in rules.behaviour.values()
    )
    fixed = frozenset({"fit", *rules.fit_groups})
    return all(
        _direction(c, scores_rise, fixed, mql_flag=_FALLS) != _ANY for c in time_conditions(rules)
    )


def truth_vector(
    rules: Rules,
    contact: Contact,
    company: Company | None,
    aggregate: ActivityAggregate,
    previous: MqlState | None,
    moment: datetime,
    conditions: tuple[Cond, ...] | None = None,
) -> tuple[bool, ...]:
    """The MQL flag and each condition's answer for a scoring at `moment` from `aggregate`
    and the MQL state `previous` (as the scoring itself reads them)."""
    score = score_aggregate(rules, contact, company, aggregate, moment, previous)
    facts = Facts(contact, company, aggregate.probes, moment.timestamp())
    scores = {name: _cents(value) for name, value in score.groups.items()}
    scores["total"] = _cents(score.total)
    scores["engagement"] = _cents(score.engagement)
    scores["fit"] = _cents(score.fit)
    facts.scores = scores
    facts.is_mql = score.is_mql
    conds = time_conditions(rules) if conditions is None else conditions
    return (score.is_mql, *(c.test(facts) for c in conds))


def valid_until(
    rules: Rules,
    contact: Contact,
    company: Company | None,
    aggregate: ActivityAggregate,
    previous: MqlState | None,
    now: datetime,
    *,
    monotone: bool | None = None,
    horizon: timedelta = HORIZON,
) -> datetime:
    """The last moment (to one second, rounded towards `now`) up to which a scoring from
    `aggregate` and `previous` answers every condition as it does at `now`; `now` when the
    rules are not monotone in time; at most `now + horizon`."""
    if monotone is None:
        monotone = monotone_in_time(rules)
    if not monotone:
        return now
    conds = time_conditions(rules)

    def vector(moment: datetime) -> tuple[bool, ...]:
        return truth_vector(rules, contact, company, aggregate, previous, moment, conds)

    base = vector(now)
    end = now + horizon
    known, step = now, FIRST_STEP
    while known < end:
        probe = min(now + step, end)
        if vector(probe) != base:
            return _bisect(vector, base, known, probe)
        known, step = probe, step * 2
    return end


def _bisect(vector, base: tuple[bool, ...], same: datetime, changed: datetime) -> datetime:
    while changed - same > RESOLUTION:
        middle = same + (changed - same) / 2
        if vector(middle) == base:
            same = middle
        else:
            changed = middle
    return same


def _cents(amount: Decimal) -> int:
    return int(amount * 100)
