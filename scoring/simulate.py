"""Back-test candidate rules: replay stored history under the current and the candidate rules.

Pure: the caller hands in plain data (per lead: contact, company, activities), two `Rules`
and the week boundaries; nothing here reads a file, a database or the clock.

    bounds = week_bounds(since, until)                  # [since, Monday, Monday, ..., until]
    result = simulate(leads, current, candidate, bounds, outcomes=None)

How a lead is replayed under one rule set (`replay_lead`). In production a sync scores a
lead soon after each of its activities (any kind: a new activity marks the lead for scoring)
and a rescore scores every lead; the replay scores it, in time order, at
- the replay start (`bounds[0]`): the baseline. A lead already MQL then counts as such, not
  as a new MQL of the first week;
- the last activity of every UTC day of the replay on which the lead had activity: a
  qualification is caught on its day, even when decay or a `within_days` window ends it
  before the week is over;
- every week end and the replay end (`bounds[1:]`), as a weekly rescore would: the MQLs
  standing then, and drop-outs once `hold_days` is over.
Each scoring sees only the activities up to its moment and is handed the MQL state of the
one before, so `hold_days` and episodes behave as in production. Per week it counts the
leads that first qualified in it, and the MQLs standing at its end.

What keeps it cheap: activities of kinds no rule reads are left out of the aggregates and the
rest are sorted once per lead; while no new activity arrives the activity aggregate is kept
and only re-valued at the later moment (`score_aggregate`), so history is aggregated once per
day with activity; and when `time_can_qualify(rules)` is False (the shipped rules: positive
points only fade, activity windows only close) a moment with no new activity since a scoring
that found the lead not MQL is skipped, because it cannot be MQL then. So only the leads that
are MQL, or get new activity, are scored at the week ends.

Known limits: the MQL state before the replay start is not known (the replay starts it
fresh, so a lead MQL only through `hold_days` at the start is not MQL there); moments between
those above are not looked at, so a lead that drops out and back in within one day keeps its
episode, a qualification is dated at the day's last activity rather than the one that caused
it, and with rules that time alone can satisfy, a qualification that comes and goes within a
week is not seen.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from operator import attrgetter

from core.models import Activity, Company, Contact
from scoring.aggregate import aggregate_activities
from scoring.engine import score_aggregate
from scoring.result import ActivityAggregate, LeadScore, MqlState
from scoring.rules import (
    NO_DECAY,
    ActivityCond,
    AllCond,
    AnyCond,
    Cond,
    FieldCond,
    MqlFlagCond,
    NotCond,
    Rules,
    ScoreCond,
)

WEEK = timedelta(days=7)
_BY_TIME = attrgetter("occurred_at")
_DAY_SECONDS = 86400


# ------------------------------------------------------------------------------ inputs
@dataclass(frozen=True, slots=True)
class LeadHistory:
    """One lead as the state store knows it: `key` is its normalised email, `contact` the
    contact whose properties represent it, `activities` everything stored for it."""

    key: str
    contact: Contact
    company: Company | None
    activities: Sequence[Activity]


# Sales outcomes by lead key: True when the lead converted (to an opportunity) or its
# opportunity was won; False when its outcome is known and is neither. Leads not in the
# mapping have no known outcome and count in neither precision nor recall.
Outcomes = Mapping[str, bool]


# ------------------------------------------------------------------------------ results
@dataclass(frozen=True, slots=True)
class LeadReplay:
    """One lead under one rule set."""

    final: LeadScore  # at the replay end, with the replayed MQL state
    mql_at_start: bool
    episode_starts: tuple[datetime, ...]  # qualifications after the start, in time order
    mql_at_week_end: tuple[bool, ...]  # one per week: MQL at bounds[i + 1]
    evaluations: int
    # (stage, first moment a scoring found the lead in it), in time order
    stages_reached: tuple[tuple[str, datetime], ...] = ()
    # What the replay end was scored from: the MQL state handed to that scoring and the
    # activity aggregate it re-valued (for `scoring.validity`: a later end, with no new
    # activity, is scored from the same two)
    end_previous: MqlState | None = None
    end_aggregate: ActivityAggregate | None = None

    @property
    def ever_mql(self) -> bool:
        return self.mql_at_start or bool(self.episode_starts)

    @property
    def first_qualified(self) -> datetime | None:
        """When the lead first became MQL in the replay; None when it never did, or already
        was at the start."""
        if self.mql_at_start or not self.episode_starts:
            return None
        return self.episode_starts[0]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Where a lead stands at the replay end under one rule set."""

    total: Decimal
    is_mql: bool
    reason: str  # the deciding clause (LeadScore.mql_reason)


@dataclass(frozen=True, slots=True)
class Change:
    """A lead whose MQL status at the replay end differs between the rule sets."""

    key: str
    contact_id: str
    current: Verdict
    candidate: Verdict


@dataclass(frozen=True, slots=True)
class WeekCount:
    """One ISO week (the first and last may be partial): `(start, end]`."""

    label: str  # ISO week of `start`, e.g. "2026-W21"
    start: datetime
    end: datetime
    current_new: int  # leads first qualifying in the week (not those MQL at the start)
    candidate_new: int
    current_mqls: int  # leads that are MQL at `end`
    candidate_mqls: int


@dataclass(frozen=True, slots=True)
class OutcomeScore:
    """MQL (at any time in the replay) as a predictor of a positive sales outcome."""

    flagged: int  # leads with a known outcome that were MQL in the replay
    hits: int  # of those, positive outcomes
    precision: float | None  # hits / flagged; None when nothing was flagged
    recall: float | None  # hits / positives; None when there is no positive outcome


@dataclass(frozen=True, slots=True)
class OutcomeReport:
    known: int  # replayed leads with a known outcome
    positives: int  # of those, converted or won
    current: OutcomeScore
    candidate: OutcomeScore


@dataclass(frozen=True, slots=True)
class SimulationResult:
    start: datetime
    end: datetime
    leads: int
    current_version: str
    candidate_version: str
    current_mqls: int  # MQL at the end
    candidate_mqls: int
    current_mqls_at_start: int
    candidate_mqls_at_start: int
    gained: tuple[Change, ...]  # MQL at the end under the candidate rules only, by key
    lost: tuple[Change, ...]  # MQL at the end under the current rules only, by key
    weeks: tuple[WeekCount, ...]
    outcomes: OutcomeReport | None  # None when no outcomes were given
    evaluations: int  # lead scorings made, both rule sets


# ------------------------------------------------------------------------------ weeks
def week_bounds(since: datetime, until: datetime) -> list[datetime]:
    """`[since, every Monday 00:00 UTC after since and before until, until]`: the boundaries
    of the ISO weeks from `since` to `until` (the first and last may be partial)."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    if until <= since:
        raise ValueError("until must be after since")
    start = since.astimezone(UTC)
    monday = datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(
        days=start.weekday()
    )
    bounds = [since]
    monday += WEEK
    while monday < until:
        bounds.append(monday)
        monday += WEEK
    bounds.append(until)
    return bounds


def weeks_back(until: datetime, weeks: int) -> datetime:
    """Monday 00:00 UTC of the ISO week `weeks` weeks before the one holding `until`."""
    day = until.astimezone(UTC)
    monday = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=day.weekday())
    return monday - weeks * WEEK


def week_label(moment: datetime) -> str:
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


# ------------------------------------------------------------------------------ replay
def replay_lead(
    rules: Rules,
    lead: LeadHistory,
    bounds: Sequence[datetime],
    *,
    time_sensitive: bool | None = None,
) -> LeadReplay:
    """Score `lead` under `rules` through the replay (see the module docstring).

    `time_sensitive` is `time_can_qualify(rules)`, computed here when not given. When it
    is False, a moment with no new activity the rules read since a scoring that found the
    lead not MQL is not scored: the lead cannot be MQL then (same result, only cheaper; the
    replay end is always scored).
    """
    _check_bounds(bounds)
    if time_sensitive is None:
        time_sensitive = time_can_qualify(rules)
    start, end = bounds[0], bounds[-1]
    read = rules.by_kind
    # Activities of kinds no rule reads change no score: they are left out of the aggregates
    # (the store keys activities by source_id, so this cannot drop a duplicate's twin), but a
    # sync still scores the lead when one arrives, so they still set evaluation moments.
    ordered = sorted((a for a in lead.activities if a.kind in read), key=_BY_TIME)
    times = [a.occurred_at for a in ordered]
    week_ends = bounds[1:]
    points = _evaluation_points(lead.activities, start, end, week_ends)

    contact, company = lead.contact, lead.company
    state = MqlState()
    aggregate: ActivityAggregate | None = None
    upto = -1
    mql_at_start = False
    starts: list[datetime] = []
    standing: list[bool] = []
    next_end = 0  # index into week_ends of the next week end to record
    score: LeadScore | None = None
    scored = 0
    reached: dict[str, datetime] = {}
    end_previous: MqlState | None = None
    for index, moment in enumerate(points):
        seen = bisect.bisect_right(times, moment)
        is_week_end = next_end < len(week_ends) and moment == week_ends[next_end]
        quiet = aggregate is not None and seen == upto
        if quiet and not state.qualified and not time_sensitive and moment != end:
            if is_week_end:  # nothing arrived since a scoring found the lead not MQL
                standing.append(False)
                next_end += 1
            continue
        if not quiet:
            aggregate = aggregate_activities(rules, ordered[:seen], moment)
            upto = seen
        assert aggregate is not None
        if moment == end:
            end_previous = state
        score = score_aggregate(rules, contact, company, aggregate, moment, state)
        scored += 1
        reached.setdefault(score.stage, moment)
        after = score.mql_state
        if index == 0:
            mql_at_start = after.qualified
        elif after.episode != state.episode:
            starts.append(moment)
        state = after
        if is_week_end:
            standing.append(state.qualified)
            next_end += 1
    assert score is not None  # the replay end is always scored
    return LeadReplay(
        score, mql_at_start, tuple(starts), tuple(standing), scored, tuple(reached.items()),
        end_previous, aggregate,
    )


# ------------------------------------------------------------------------------ time
# How a condition's truth can change while time passes and no activity arrives.
_CONST, _FALLS, _RISES, _ANY = "const", "falls", "rises", "any"


def time_can_qualify(rules: Rules) -> bool:
    """Whether time alone (no new activity) can make a lead that is not MQL qualify.

    False when every MQL rule can only turn false as time passes (score minimums while no
    score can rise, activity windows closing) and every disqualifier can only turn true;
    True otherwise, and for any condition this analysis does not know (the safe answer).
    Scores can rise with time only when negative behaviour points decay.
    """
    scores_rise = any(
        spec.points < 0 and spec.decay != NO_DECAY for spec in rules.behaviour.values()
    )
    fixed_scores = frozenset({"fit", *rules.fit_groups})
    mql = [_direction(d.when, scores_rise, fixed_scores) for d in rules.mql_rules]
    blocks = [_direction(d.when, scores_rise, fixed_scores) for d in rules.disqualifiers]
    return any(m in (_RISES, _ANY) for m in mql) or any(b in (_FALLS, _ANY) for b in blocks)


def _direction(
    cond: Cond, scores_rise: bool, fixed_scores: frozenset[str], mql_flag: str = _ANY
) -> str:
    """`mql_flag`: how the MQL flag moves with time (`is_mql = true` moves so, `false` the
    other way); unknown (`_ANY`) unless the caller knows."""
    if isinstance(cond, FieldCond):
        return _CONST
    if isinstance(cond, ScoreCond):
        if cond.name in fixed_scores:
            return _CONST
        if scores_rise:
            return _ANY
        lower = cond.min is not None or cond.above is not None
        upper = cond.max is not None or cond.below is not None
        return _ANY if lower and upper else _FALLS if lower else _RISES if upper else _CONST
    if isinstance(cond, ActivityCond):
        return _CONST if cond.within is None else _FALLS
    if isinstance(cond, NotCond):
        inner = _direction(cond.part, scores_rise, fixed_scores, mql_flag)
        return {_FALLS: _RISES, _RISES: _FALLS}.get(inner, inner)
    if isinstance(cond, AllCond | AnyCond):
        parts = {_direction(p, scores_rise, fixed_scores, mql_flag) for p in cond.parts}
        parts -= {_CONST}
        return _CONST if not parts else parts.pop() if len(parts) == 1 else _ANY
    if isinstance(cond, MqlFlagCond):
        return mql_flag if cond.wanted else {_FALLS: _RISES, _RISES: _FALLS}.get(mql_flag, mql_flag)
    return _ANY


def _check_bounds(bounds: Sequence[datetime]) -> None:
    if len(bounds) < 2:
        raise ValueError("bounds need a start and an end")
    if any(b.tzinfo is None for b in bounds):
        raise ValueError("bounds must be timezone-aware")
    if any(later <= earlier for earlier, later in pairwise(bounds)):
        raise ValueError("bounds must be strictly ascending")


def _evaluation_points(
    activities: Iterable[Activity], start: datetime, end: datetime, week_ends: Sequence[datetime]
) -> list[datetime]:
    """In time order: the start, the last activity of each UTC day of `(start, end]` with
    activity, and the week ends."""
    last_of_day: dict[int, datetime] = {}
    for activity in activities:
        moment = activity.occurred_at
        if start < moment <= end:
            day = int(moment.timestamp()) // _DAY_SECONDS
            known = last_of_day.get(day)
            if known is None or moment > known:
                last_of_day[day] = moment
    if not last_of_day:
        return [start, *week_ends]
    return sorted({start, *week_ends, *last_of_day.values()})


# ------------------------------------------------------------------------------ compare
def simulate(
    leads: Iterable[LeadHistory],
    current: Rules,
    candidate: Rules,
    bounds: Sequence[datetime],
    outcomes: Outcomes | None = None,
) -> SimulationResult:
    """Replay every lead under both rule sets and compare: MQL gains and losses at the end,
    first qualifications and standing MQLs per week, and, with `outcomes`, precision and
    recall."""
    _check_bounds(bounds)
    weeks = len(bounds) - 1
    new = {"current": [0] * weeks, "candidate": [0] * weeks}
    standing = {"current": [0] * weeks, "candidate": [0] * weeks}
    at_start = dict.fromkeys(new, 0)
    at_end = dict.fromkeys(new, 0)
    flagged = dict.fromkeys(new, 0)
    hits = dict.fromkeys(new, 0)
    known = positives = 0
    gained: list[Change] = []
    lost: list[Change] = []
    count = evaluations = 0
    same_rules = current.version == candidate.version
    sensitive = {"current": time_can_qualify(current), "candidate": time_can_qualify(candidate)}

    for lead in leads:
        count += 1
        replays = {
            "current": replay_lead(current, lead, bounds, time_sensitive=sensitive["current"])
        }
        replays["candidate"] = (
            replays["current"]
            if same_rules
            else replay_lead(candidate, lead, bounds, time_sensitive=sensitive["candidate"])
        )
        outcome = None if outcomes is None else outcomes.get(lead.key)
        if outcome is not None:
            known += 1
            positives += int(outcome)
        for name, replay in replays.items():
            evaluations += replay.evaluations if name == "current" or not same_rules else 0
            at_start[name] += int(replay.mql_at_start)
            at_end[name] += int(replay.final.is_mql)
            first = replay.first_qualified
            if first is not None:
                new[name][bisect.bisect_left(bounds, first) - 1] += 1
            for week, qualified in enumerate(replay.mql_at_week_end):
                standing[name][week] += int(qualified)
            if outcome is not None and replay.ever_mql:
                flagged[name] += 1
                hits[name] += int(outcome)
        before, after = replays["current"].final, replays["candidate"].final
        if before.is_mql != after.is_mql:
            change = Change(lead.key, lead.contact.hubspot_id, _verdict(before), _verdict(after))
            (gained if after.is_mql else lost).append(change)

    by_key = attrgetter("key")
    return SimulationResult(
        start=bounds[0],
        end=bounds[-1],
        leads=count,
        current_version=current.version,
        candidate_version=candidate.version,
        current_mqls=at_end["current"],
        candidate_mqls=at_end["candidate"],
        current_mqls_at_start=at_start["current"],
        candidate_mqls_at_start=at_start["candidate"],
        gained=tuple(sorted(gained, key=by_key)),
        lost=tuple(sorted(lost, key=by_key)),
        weeks=tuple(
            WeekCount(
                week_label(bounds[i]),
                bounds[i],
                bounds[i + 1],
                new["current"][i],
                new["candidate"][i],
                standing["current"][i],
                standing["candidate"][i],
            )
            for i in range(weeks)
        ),
        outcomes=None
        if outcomes is None
        else OutcomeReport(
            known,
            positives,
            outcome_score(flagged["current"], hits["current"], positives),
            outcome_score(flagged["candidate"], hits["candidate"], positives),
        ),
        evaluations=evaluations,
    )


def _verdict(score: LeadScore) -> Verdict:
    return Verdict(score.total, score.is_mql, score.mql_reason)


def outcome_score(flagged: int, hits: int, positives: int) -> OutcomeScore:
    return OutcomeScore(
        flagged=flagged,
        hits=hits,
        precision=hits / flagged if flagged else None,
        recall=hits / positives if positives else None,
    )
