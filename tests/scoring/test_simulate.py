"""Back-testing candidate rules on hand-built histories (scoring.simulate, pure)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from core.models import Activity, Contact
from core.models import ActivityKind as K
from scoring import MqlState, load_rules, score_lead
from scoring.simulate import (
    LeadHistory,
    replay_lead,
    simulate,
    time_can_qualify,
    week_bounds,
    week_label,
    weeks_back,
)
from tests.scoring.scoring_helpers import MAPPINGS, rules

DAY = timedelta(days=1)
START = datetime(2025, 12, 15, tzinfo=UTC)  # a Monday: ISO 2025-W51
END = datetime(2026, 1, 5, tzinfo=UTC)  # three full weeks later
BOUNDS = week_bounds(START, END)

VISITS = """
[[behaviour]]
id = "visit"
group = "behaviour"
kinds = ["page_view"]
points = 10
"""

WEBINAR_AND_CONSULTATION = """
[[behaviour]]
id = "webinar"
group = "behaviour"
kinds = ["webinar_attended"]
points = 20

[[behaviour]]
id = "consultation"
group = "behaviour"
kinds = ["consultation_request"]
points = 30
"""


def mql_bar(points: int, hold_days: int = 0) -> str:
    return f"""
[mql]
hold_days = {hold_days}

[[mql.rules]]
id = "bar"
when = {{ score = "total", min = {points} }}
"""


def activity(lead: str, kind: str, at: datetime, n: int = 0) -> Activity:
    return Activity(f"{lead}:{kind}:{at.isoformat()}:{n}", kind, at, contact_id=lead)


def lead(name: str, *activities: Activity) -> LeadHistory:
    return LeadHistory(
        f"{name}@acme.example", Contact(name, f"{name}@acme.example"), None, activities
    )


def visitor(name: str, visits: int) -> LeadHistory:
    """A lead with `visits` page views before the replay: 10 points each, no decay."""
    return lead(
        name, *(activity(name, K.PAGE_VIEW, START - (n + 1) * DAY, n) for n in range(visits))
    )


VISITORS = [visitor(f"v{visits}", visits) for visits in range(1, 10)]  # totals 10 .. 90


# ------------------------------------------------------------------------------ gains, losses
def test_given_a_higher_mql_bar_exactly_the_leads_between_the_bars_are_lost() -> None:
    result = simulate(VISITORS, rules(VISITS + mql_bar(40)), rules(VISITS + mql_bar(60)), BOUNDS)

    assert [change.key for change in result.lost] == ["v4@acme.example", "v5@acme.example"]
    assert result.gained == ()
    assert (result.current_mqls, result.candidate_mqls) == (6, 4)
    first = result.lost[0]
    assert (first.current.total, first.candidate.total) == (40, 40)
    assert first.current.is_mql and not first.candidate.is_mql
    assert first.candidate.reason == "not MQL: bar: total 40.00 is not >= 60"
    assert first.current.reason.startswith("MQL by bar: total 40.00 >= 40")


def test_given_a_lower_mql_bar_exactly_the_leads_between_the_bars_are_gained() -> None:
    result = simulate(VISITORS, rules(VISITS + mql_bar(60)), rules(VISITS + mql_bar(40)), BOUNDS)

    assert [change.key for change in result.gained] == ["v4@acme.example", "v5@acme.example"]
    assert result.lost == ()


def test_given_the_same_rules_nothing_changes_and_each_lead_is_replayed_once() -> None:
    same = rules(VISITS + mql_bar(40))
    result = simulate(VISITORS, same, same, BOUNDS)
    other = simulate(VISITORS, same, rules(VISITS + mql_bar(41)), BOUNDS)

    assert result.gained == result.lost == ()
    assert [(w.current_new, w.current_mqls) for w in result.weeks] == [
        (w.candidate_new, w.candidate_mqls) for w in result.weeks
    ]
    once = sum(replay_lead(same, item, BOUNDS).evaluations for item in VISITORS)
    assert result.evaluations == once < other.evaluations


# ------------------------------------------------------------------------------ weekly counts
def weekly_history() -> list[LeadHistory]:
    return [
        # MQL before the replay starts: counted at the start, not as new.
        lead(
            "a",
            activity("a", K.WEBINAR_ATTENDED, START - 9 * DAY),
            activity("a", K.CONSULTATION_REQUEST, START - 8 * DAY),
        ),
        # Qualifies on Wednesday of week 1.
        lead(
            "b",
            activity("b", K.WEBINAR_ATTENDED, START - 3 * DAY),
            activity("b", K.CONSULTATION_REQUEST, START + 2 * DAY + timedelta(hours=10)),
        ),
        # Webinar in week 2, consultation on Monday of week 3.
        lead(
            "c",
            activity("c", K.WEBINAR_ATTENDED, START + 10 * DAY),
            activity("c", K.CONSULTATION_REQUEST, START + 14 * DAY + timedelta(hours=1)),
        ),
        # Never reaches the bar.
        lead("d", activity("d", K.CONSULTATION_REQUEST, START + 4 * DAY)),
        # No activity at all.
        lead("e"),
    ]


def test_given_a_hand_built_history_new_mqls_are_counted_in_the_week_they_qualify() -> None:
    r = rules(WEBINAR_AND_CONSULTATION + mql_bar(50))

    result = simulate(weekly_history(), r, r, BOUNDS)

    assert [w.label for w in result.weeks] == ["2025-W51", "2025-W52", "2026-W01"]
    assert [w.current_new for w in result.weeks] == [1, 0, 1]
    assert [w.current_mqls for w in result.weeks] == [2, 2, 3]
    assert (result.current_mqls_at_start, result.current_mqls, result.leads) == (1, 3, 5)


def test_given_a_qualification_that_ends_mid_week_it_is_still_counted() -> None:
    consulted = """
[[behaviour]]
id = "consultation"
group = "behaviour"
kinds = ["consultation_request"]
points = 30

[[mql.rules]]
id = "asked_lately"
when = { activity = "consultation_request", within_days = 2 }
"""
    history = [lead("b", activity("b", K.CONSULTATION_REQUEST, START + DAY))]  # Tuesday
    held = rules(consulted.replace("[[mql.rules]]", "[mql]\nhold_days = 30\n\n[[mql.rules]]"))

    result = simulate(history, rules(consulted), held, BOUNDS)

    assert [w.current_new for w in result.weeks] == [1, 0, 0]
    assert [w.current_mqls for w in result.weeks] == [0, 0, 0]  # out again by Monday
    assert [w.candidate_mqls for w in result.weeks] == [1, 1, 1]  # held for 30 days
    assert [change.key for change in result.gained] == ["b@acme.example"]


def test_given_a_lead_qualifies_twice_only_its_first_qualification_is_counted() -> None:
    consulted = (
        WEBINAR_AND_CONSULTATION
        + """
[[mql.rules]]
id = "asked_lately"
when = { activity = "consultation_request", within_days = 3 }
"""
    )
    history = [
        lead(
            "b",
            activity("b", K.CONSULTATION_REQUEST, START + DAY),
            activity("b", K.CONSULTATION_REQUEST, START + 15 * DAY),
        )
    ]
    r = rules(consulted)

    result = simulate(history, r, r, BOUNDS)

    assert [w.current_new for w in result.weeks] == [1, 0, 0]
    assert [w.current_mqls for w in result.weeks] == [0, 0, 0]
    replay = replay_lead(r, history[0], BOUNDS)
    assert replay.episode_starts == (START + DAY, START + 15 * DAY)
    assert replay.first_qualified == START + DAY


# ------------------------------------------------------------------------------ time
NEGATIVE_FADING = """
[[behaviour]]
id = "visit"
group = "behaviour"
kinds = ["page_view"]
points = 60

[[behaviour]]
id = "bounce"
group = "behaviour"
kinds = ["email_bounce"]
points = -40
decay = { type = "half_life", days = 7 }
"""


def test_given_shipped_rules_time_alone_cannot_qualify_a_lead() -> None:
    assert time_can_qualify(load_rules(MAPPINGS)) is False
    assert time_can_qualify(rules(WEBINAR_AND_CONSULTATION + mql_bar(50))) is False


@pytest.mark.parametrize(
    "extra",
    [
        NEGATIVE_FADING + mql_bar(50),  # a negative score fades: the total rises
        VISITS + '[[mql.rules]]\nid = "quiet"\nwhen = { score = "total", max = 30 }\n',
        VISITS + mql_bar(10) + '[[disqualifiers]]\nid = "recent_bounce"\n'
        'when = { activity = "email_bounce", within_days = 7 }\n',
        VISITS + '[[mql.rules]]\nid = "no_recent"\n'
        'when = { not = { activity = "page_view", within_days = 7 } }\n',
    ],
)
def test_given_rules_time_can_satisfy_the_analysis_says_so(extra: str) -> None:
    assert time_can_qualify(rules(extra)) is True


def test_given_a_fading_negative_score_the_week_end_replay_catches_the_late_qualification() -> None:
    r = rules(NEGATIVE_FADING + mql_bar(50))
    history = [
        lead(
            "f", activity("f", K.PAGE_VIEW, START - DAY), activity("f", K.EMAIL_BOUNCE, START - DAY)
        )
    ]

    result = simulate(history, r, r, BOUNDS)

    assert result.current_mqls_at_start == 0  # 60 - 40 = 20
    assert [w.current_new for w in result.weeks] == [0, 1, 0]  # -40 fades under -10 in week 2
    assert result.current_mqls == 1


def random_history(seed: int, leads: int = 40) -> list[LeadHistory]:
    rng = random.Random(seed)
    kinds = [K.PAGE_VIEW, K.WEBINAR_ATTENDED, K.CONSULTATION_REQUEST, K.EMAIL_DELIVERED]
    out = []
    for n in range(leads):
        name = f"r{n}"
        days = rng.sample(range(55), rng.randrange(0, 12))  # one activity a day at most
        acts = [
            activity(
                name,
                rng.choice(kinds),
                START - 30 * DAY + timedelta(days=day, hours=rng.randrange(24)),
                i,
            )
            for i, day in enumerate(days)
        ]
        out.append(lead(name, *acts))
    return out


BASE_WITHOUT_BEHAVIOUR = """
[groups.profile]
axis = "fit"

[grade]
fit_thresholds = [25, 15, 5]
engagement_thresholds = [50, 30, 10]

[stages]
default = "cold"
"""


SHIPPED_LIKE = """
[groups.behaviour]
axis = "engagement"
decay = { type = "half_life", days = 20 }
"""


def naive_weekly(r, history: list[LeadHistory]) -> tuple[list[int], list[int]]:
    """The definition, scored from scratch at every activity and every week end: leads
    first qualifying per week, MQLs at each week end."""
    new, standing = [0] * (len(BOUNDS) - 1), [0] * (len(BOUNDS) - 1)
    for item in history:
        moments = sorted(
            {a.occurred_at for a in item.activities if a.occurred_at > START} | set(BOUNDS)
        )
        state = MqlState()
        for moment in moments:
            if moment > END:
                break
            before = state
            state = score_lead(r, item.contact, None, item.activities, moment, state).mql_state
            week = next(i for i in range(len(BOUNDS) - 1) if moment <= BOUNDS[i + 1])
            if moment != START and state.episode == 1 and before.episode == 0:
                new[week] += 1
            if moment in BOUNDS[1:]:
                standing[BOUNDS.index(moment) - 1] += int(state.qualified)
    return new, standing


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_given_random_histories_the_replay_matches_scoring_from_scratch_at_every_activity(
    seed: int,
) -> None:
    r = rules(
        WEBINAR_AND_CONSULTATION
        + mql_bar(40, hold_days=9)
        + '[[mql.rules]]\nid = "webinar_lately"\n'
        'when = { activity = "webinar_attended", within_days = 4 }\n',
        base=SHIPPED_LIKE + BASE_WITHOUT_BEHAVIOUR,
    )
    history = random_history(seed)

    result = simulate(history, r, r, BOUNDS)

    new, standing = naive_weekly(r, history)
    assert [w.current_new for w in result.weeks] == new
    assert [w.current_mqls for w in result.weeks] == standing
    assert sum(new) > 0
    for item in history:  # skipping quiet week ends changes nothing
        fast = replay_lead(r, item, BOUNDS)
        full = replay_lead(r, item, BOUNDS, time_sensitive=True)
        assert (fast.final, fast.episode_starts, fast.mql_at_week_end) == (
            full.final,
            full.episode_starts,
            full.mql_at_week_end,
        )
        from_scratch = score_lead(r, item.contact, None, item.activities, END)
        assert (fast.final.total, fast.final.explanation) == (
            from_scratch.total,
            from_scratch.explanation,
        )


# ------------------------------------------------------------------------------ outcomes
def test_given_sales_outcomes_precision_and_recall_are_reported_per_rule_set() -> None:
    outcomes = {
        "v9@acme.example": True,
        "v5@acme.example": True,
        "v4@acme.example": False,
        "v2@acme.example": True,
        "v1@acme.example": False,
    }

    result = simulate(
        VISITORS, rules(VISITS + mql_bar(40)), rules(VISITS + mql_bar(60)), BOUNDS, outcomes
    )

    assert result.outcomes is not None
    assert (result.outcomes.known, result.outcomes.positives) == (5, 3)
    current, candidate = result.outcomes.current, result.outcomes.candidate
    assert (current.flagged, current.hits) == (3, 2)  # v4, v5, v9
    assert current.precision == pytest.approx(2 / 3) and current.recall == pytest.approx(2 / 3)
    assert (candidate.flagged, candidate.hits) == (1, 1)  # v9
    assert candidate.precision == 1.0 and candidate.recall == pytest.approx(1 / 3)


def test_given_no_outcomes_none_are_reported() -> None:
    r = rules(VISITS + mql_bar(40))
    assert simulate(VISITORS, r, r, BOUNDS).outcomes is None
    nothing_flagged = simulate(
        VISITORS, r, rules(VISITS + mql_bar(1000)), BOUNDS, {"v1@acme.example": False}
    )
    assert nothing_flagged.outcomes is not None
    assert nothing_flagged.outcomes.candidate.precision is None
    assert nothing_flagged.outcomes.candidate.recall is None


# ------------------------------------------------------------------------------ weeks
def test_given_a_mid_week_start_the_first_and_last_weeks_are_partial() -> None:
    since = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)  # a Wednesday
    until = datetime(2026, 1, 21, 12, 0, tzinfo=UTC)  # the Wednesday two weeks later

    bounds = week_bounds(since, until)

    assert bounds == [
        since,
        datetime(2026, 1, 12, tzinfo=UTC),
        datetime(2026, 1, 19, tzinfo=UTC),
        until,
    ]
    assert [week_label(b) for b in bounds[:-1]] == ["2026-W02", "2026-W03", "2026-W04"]
    assert weeks_back(until, 26) == datetime(2025, 7, 21, tzinfo=UTC)
    assert weeks_back(until, 26).weekday() == 0


@pytest.mark.parametrize(
    "since, until",
    [
        (END, START),
        (START, START),
        (START.replace(tzinfo=None), END),
    ],
)
def test_given_bad_week_bounds_they_are_refused(since: datetime, until: datetime) -> None:
    with pytest.raises(ValueError):
        week_bounds(since, until)


def test_given_unordered_bounds_the_replay_is_refused() -> None:
    r = rules(VISITS + mql_bar(40))
    with pytest.raises(ValueError, match="ascending"):
        simulate(VISITORS, r, r, [START, END, END - DAY])
