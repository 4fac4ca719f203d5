"""How long scoring answers stay true with time alone (scoring.validity, pure): the moment a
decaying score crosses a segment's bar, the moment an activity window closes, a rule of
unknown direction, and rules time cannot touch."""

from __future__ import annotations

import math
from datetime import timedelta

from scoring.aggregate import aggregate_activities
from scoring.validity import HORIZON, monotone_in_time, truth_vector, valid_until
from tests.scoring.scoring_helpers import DAY, NOW, act, contact, rules

DECAYING_VISITS = """
[[behaviour]]
id = "visit"
group = "behaviour"
kinds = ["page_view"]
points = 40
decay = { type = "half_life", days = 10 }
"""

ENGAGED_AT_20 = """
[[dimensions]]
name = "behaviour"
default = "cold"

[[dimensions.rules]]
value = "engaged"
when = { score = "engagement", min = 20 }
"""

ACTIVE_30_DAYS = """
[[dimensions]]
name = "behaviour"
default = "dormant"

[[dimensions.rules]]
value = "active"
when = { activity = ["page_view"], within_days = 30 }
"""

BETWEEN_10_AND_30 = """
[[dimensions]]
name = "behaviour"
default = "other"

[[dimensions.rules]]
value = "warm"
when = { score = "engagement", min = 10, max = 30 }
"""


def until_for(r, activities, now=NOW):
    aggregate = aggregate_activities(r, activities, now)
    return valid_until(r, contact(), None, aggregate, None, now), aggregate


def test_given_a_decaying_score_the_flip_is_where_the_half_life_crosses_the_bar() -> None:
    r = rules(DECAYING_VISITS, ENGAGED_AT_20)
    found, aggregate = until_for(r, [act("page_view")])
    # 40 points halve every 10 days; the bar is 20.00 (2000 cents) and a score is rounded to
    # the cent, so it holds while 4000 * 2^(-t / 10 days) >= 1999.5 cents.
    crossing = NOW + timedelta(days=10) * math.log2(4000 / 1999.5)
    assert crossing - timedelta(seconds=1) <= found <= crossing
    base = truth_vector(r, contact(), None, aggregate, None, NOW)
    assert truth_vector(r, contact(), None, aggregate, None, found) == base
    assert truth_vector(r, contact(), None, aggregate, None, found + timedelta(seconds=1)) != base


def test_given_an_activity_window_the_flip_is_thirty_days_after_the_activity() -> None:
    r = rules("", ACTIVE_30_DAYS)
    visit = act("page_view", days_ago=5)
    found, _ = until_for(r, [visit])
    edge = visit.occurred_at + 30 * DAY  # the window still holds the visit at this moment
    assert edge - timedelta(seconds=1) <= found <= edge


def test_given_a_rule_of_unknown_direction_the_facts_hold_only_at_their_moment() -> None:
    r = rules(DECAYING_VISITS, BETWEEN_10_AND_30)
    assert not monotone_in_time(r)
    found, _ = until_for(r, [act("page_view")])
    assert found == NOW


def test_given_rules_time_cannot_change_the_facts_hold_to_the_horizon() -> None:
    r = rules("")
    assert monotone_in_time(r)
    found, _ = until_for(r, [act("page_view")])
    assert found == NOW + HORIZON


def test_given_an_mql_held_after_its_score_fades_the_flip_is_when_the_hold_ends() -> None:
    held = DECAYING_VISITS + """
[mql]
hold_days = 40

[[mql.rules]]
id = "bar"
when = { score = "total", min = 30 }
"""
    r = rules(held, ENGAGED_AT_20.replace("min = 20", "min = 1"))
    aggregate = aggregate_activities(r, [act("page_view")], NOW)
    first = truth_vector(r, contact(), None, aggregate, None, NOW)
    assert first[0]  # MQL at NOW: qualified by the fresh 40 points
    from scoring import score_lead

    state = score_lead(r, contact(), None, [act("page_view")], NOW).mql_state
    found = valid_until(r, contact(), None, aggregate, state, NOW)
    # the score falls under 30 after ~4 days (the bar rule flips there first)
    crossing = NOW + timedelta(days=10) * math.log2(4000 / 2999.5)
    assert crossing - timedelta(seconds=1) <= found <= crossing
    later = valid_until(r, contact(), None, aggregate, state, crossing + timedelta(seconds=1))
    assert later <= NOW + 40 * DAY  # then the MQL flag drops when the hold ends
    assert later >= NOW + 40 * DAY - timedelta(seconds=1)
