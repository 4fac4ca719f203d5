"""Compound MQL rules with windows, disqualifiers, MQL episodes, stages and segments."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.models import ActivityKind as K
from scoring import MqlState, Rules, next_mql_state
from tests.scoring.scoring_helpers import DAY, NOW, act, company, contact, rules, score

POINTS = """
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

[[behaviour]]
id = "visit"
group = "behaviour"
kinds = ["page_view"]
points = 5
"""

ARTICLE_MQL = """
[[mql.rules]]
id = "article"
when.all = [
  { score = "total", min = 50 },
  { activity = "webinar_attended", within_days = 60 },
  { activity = "consultation_request", within_days = 90 },
]
"""


def mql_rules(mql: str = ARTICLE_MQL, extra: str = "", hold_days: float = 0) -> Rules:
    return rules(POINTS + f"\n[mql]\nhold_days = {hold_days}\n" + mql + extra)


def test_given_all_clauses_hold_in_their_windows_lead_is_mql() -> None:
    result = score(mql_rules(), [act(K.WEBINAR_ATTENDED, 59), act(K.CONSULTATION_REQUEST, 89),
                                 act(K.PAGE_VIEW), act(K.PAGE_VIEW, 1)])

    assert result.total == 60  # no decay in the base groups
    assert result.is_mql
    assert result.mql_reason == (
        "MQL by article: total 60.00 >= 50 AND webinar_attended in the last 60 days: 1 found "
        "AND consultation_request in the last 90 days: 1 found"
    )


def test_given_webinar_outside_its_window_lead_is_not_mql_and_reason_says_why() -> None:
    result = score(mql_rules(), [act(K.WEBINAR_ATTENDED, 61), act(K.CONSULTATION_REQUEST, 1)])

    assert result.total == 50
    assert not result.is_mql
    assert result.mql_reason == (
        "not MQL: article: webinar_attended in the last 60 days: 0 found")


def test_given_score_below_bar_reason_names_the_score_clause() -> None:
    result = score(mql_rules(), [act(K.WEBINAR_ATTENDED, 1)])

    assert result.mql_reason == "not MQL: article: total 20.00 is not >= 50"


def test_given_any_of_rule_one_clause_is_enough() -> None:
    any_mql = """
[[mql.rules]]
id = "either"
when.any = [
  { activity = "consultation_request", within_days = 30 },
  { score = "total", above = 100 },
]
"""
    assert score(mql_rules(any_mql), [act(K.CONSULTATION_REQUEST, 3)]).is_mql
    assert not score(mql_rules(any_mql), [act(K.CONSULTATION_REQUEST, 31)]).is_mql


def test_given_at_least_count_needs_that_many_recent_activities() -> None:
    busy = """
[[mql.rules]]
id = "busy"
when = { activity = "page_view", within_days = 7, at_least = 3 }
"""
    assert score(mql_rules(busy), [act(K.PAGE_VIEW, n) for n in (1, 2, 3)]).is_mql
    assert not score(mql_rules(busy), [act(K.PAGE_VIEW, n) for n in (1, 2, 8)]).is_mql


def test_given_several_mql_rules_first_that_holds_gives_the_reason() -> None:
    two = """
[[mql.rules]]
id = "big"
when = { score = "total", min = 100 }

[[mql.rules]]
id = "talked"
when = { activity = "consultation_request" }
"""
    result = score(mql_rules(two), [act(K.CONSULTATION_REQUEST, 400)])

    assert result.is_mql
    assert result.mql_reason.startswith("MQL by talked:")


def test_given_disqualifiers_hold_mql_is_blocked_and_all_are_reported() -> None:
    disqualifiers = """
[[disqualifiers]]
id = "competitor"
reason = "works for a competitor"
when = { field = "contact.email_domain", in = ["rival.example"] }

[[disqualifiers]]
id = "student"
when = { field = "contact.jobtitle", regex = "student" }

[[disqualifiers]]
id = "customer"
when = { field = "contact.lifecyclestage", equals = "customer" }
"""
    result = score(mql_rules(extra=disqualifiers),
                   [act(K.WEBINAR_ATTENDED, 1), act(K.CONSULTATION_REQUEST, 1)],
                   lead=contact(email="a@rival.example", jobtitle="PhD student"))

    assert not result.is_mql
    assert result.disqualified_by == ("competitor", "student")
    assert result.mql_reason == (
        "not MQL: disqualified by competitor (works for a competitor); student")


def test_given_not_followed_by_later_activity_undoes_the_earlier_one() -> None:
    unsubscribed = """
[[disqualifiers]]
id = "unsubscribed"
when = { activity = "email_unsubscribe", not_followed_by = ["email_resubscribe"] }
"""
    r = mql_rules(extra=unsubscribed)

    assert score(r, [act(K.EMAIL_UNSUBSCRIBE, 5)]).disqualified_by == ("unsubscribed",)
    assert score(r, [act(K.EMAIL_UNSUBSCRIBE, 5),
                     act(K.EMAIL_RESUBSCRIBE, 4)]).disqualified_by == ()
    assert score(r, [act(K.EMAIL_RESUBSCRIBE, 6), act(K.EMAIL_UNSUBSCRIBE, 5)]
                 ).disqualified_by == ("unsubscribed",)


# ---------------------------------------------------------------------------- episodes
QUALIFYING = [act(K.WEBINAR_ATTENDED, 0), act(K.CONSULTATION_REQUEST, 0)]


def test_given_lead_qualifies_first_time_episode_1_starts_now() -> None:
    result = score(mql_rules(), QUALIFYING)

    assert result.mql_state == MqlState(1, True, NOW, "article")
    assert (result.mql_episode, result.mql_since) == (1, NOW)


def test_given_still_qualified_next_run_episode_and_since_stay() -> None:
    first = score(mql_rules(), QUALIFYING)
    second = score(mql_rules(), QUALIFYING, now=NOW + DAY, previous=first.mql_state)

    assert second.mql_state == first.mql_state


def test_given_lead_drops_out_and_requalifies_a_new_episode_starts() -> None:
    r = mql_rules()
    first = score(r, QUALIFYING)
    later = NOW + 61 * DAY  # the webinar is outside its 60-day window now
    dropped = score(r, QUALIFYING, now=later, previous=first.mql_state)
    back = score(r, [*QUALIFYING, act(K.WEBINAR_ATTENDED, -61)], now=later + DAY,
                 previous=dropped.mql_state)

    assert dropped.mql_state == MqlState(1, False, None, None)
    assert not dropped.is_mql
    assert back.mql_state == MqlState(2, True, later + DAY, "article")


def test_given_hold_days_lead_stays_mql_after_it_stops_qualifying_then_drops() -> None:
    r = mql_rules(hold_days=30)
    history = [act(K.WEBINAR_ATTENDED, 50), act(K.CONSULTATION_REQUEST, 50)]
    first = score(r, history)

    held = score(r, history, now=NOW + 15 * DAY, previous=first.mql_state)
    gone = score(r, history, now=NOW + 31 * DAY, previous=held.mql_state)

    assert held.is_mql
    assert held.mql_state == first.mql_state
    assert held.mql_reason.startswith("MQL held: qualified by article at 2026-01-07 09:00 UTC")
    assert "webinar_attended in the last 60 days: 0 found" in held.mql_reason
    assert not gone.is_mql
    assert gone.mql_state == MqlState(1, False, None, None)


def test_given_disqualified_during_hold_lead_drops_out_at_once() -> None:
    state = MqlState(1, True, NOW, "article")

    after = next_mql_state(state, qualifying_rule=None, disqualified=True, now=NOW + DAY,
                           hold=timedelta(days=30))

    assert after == MqlState(1, False, None, None)


@pytest.mark.parametrize(
    ("previous", "qualifying", "days_later", "expected"),
    [
        (MqlState(), None, 1, MqlState()),
        (MqlState(), "r", 1, MqlState(1, True, NOW + DAY, "r")),
        (MqlState(3, False), "r", 1, MqlState(4, True, NOW + DAY, "r")),
        (MqlState(1, True, NOW, "r"), "other", 1, MqlState(1, True, NOW, "r")),
        (MqlState(1, True, NOW, "r"), None, 29, MqlState(1, True, NOW, "r")),
        (MqlState(1, True, NOW, "r"), None, 30, MqlState(1, False, None, None)),
    ],
)
def test_next_mql_state_follows_the_episode_rules(
    previous: MqlState, qualifying: str | None, days_later: int, expected: MqlState,
) -> None:
    assert next_mql_state(previous, qualifying_rule=qualifying, disqualified=False,
                          now=NOW + days_later * DAY, hold=timedelta(days=30)) == expected


# ------------------------------------------------------------------------------ stages
STAGES = """
[[mql.rules]]
id = "talked"
when = { activity = "consultation_request", within_days = 30 }

[[stages.rules]]
stage = "mql"
when = { is_mql = true }

[[stages.rules]]
stage = "hot"
when = { score = "total", above = 50 }

[[stages.rules]]
stage = "interest"
when = { activity = "page_view", within_days = 30 }
"""


@pytest.mark.parametrize(
    ("activities", "stage"),
    [
        ([], "cold"),
        ([act(K.PAGE_VIEW, 40)], "cold"),
        ([act(K.PAGE_VIEW, 3)], "interest"),
        ([act(K.WEBINAR_ATTENDED, 100 + n) for n in range(3)] + [act(K.PAGE_VIEW, 2)], "hot"),
        ([act(K.CONSULTATION_REQUEST, 1), act(K.WEBINAR_ATTENDED, 1)], "mql"),
    ],
)
def test_given_ordered_stage_rules_first_that_holds_names_the_stage(
    activities: list, stage: str,
) -> None:
    assert score(rules(POINTS + STAGES), activities).stage == stage


# ---------------------------------------------------------------------------- segments
SEGMENTS = """
separator = "|"

[[dimensions]]
name = "industry"
default = "other"

[[dimensions.rules]]
value = "manufacturing"
when = { field = "company.industry", in = ["MACHINERY", "Manufacturing"] }

[[dimensions.rules]]
value = "unknown"
when = { field = "company.industry", missing = true }

[[dimensions]]
name = "size"
default = "small"

[[dimensions.rules]]
value = "enterprise"
when = { field = "company.numberofemployees", min = 1000 }

[[dimensions.rules]]
value = "mid"
when = { field = "company.numberofemployees", min = 100 }

[[dimensions]]
name = "behaviour"
default = "quiet"

[[dimensions.rules]]
value = "mql"
when = { is_mql = true }

[[dimensions.rules]]
value = "engaged"
when = { score = "engagement", min = 30 }
"""


@pytest.mark.parametrize(
    ("firm", "activities", "segment"),
    [
        ({"industry": "machinery", "numberofemployees": "5000"}, [],
         "manufacturing|enterprise|quiet"),
        ({"industry": "Retail", "numberofemployees": "150"}, [act(K.CONSULTATION_REQUEST, 40)],
         "other|mid|engaged"),
        ({}, [act(K.CONSULTATION_REQUEST, 1)], "unknown|small|mql"),
    ],
)
def test_given_ordered_segment_rules_first_match_per_dimension_builds_the_segment(
    firm: dict, activities: list, segment: str,
) -> None:
    r = rules(POINTS + STAGES, SEGMENTS)

    result = score(r, activities, firm=company(**firm))

    assert result.segment == segment
    assert list(result.segments) == ["industry", "size", "behaviour"]
    assert "|".join(result.segments.values()) == segment


def test_given_no_stage_rules_every_lead_has_the_default_stage() -> None:
    assert score(rules(POINTS), [act(K.CONSULTATION_REQUEST)]).stage == "cold"
