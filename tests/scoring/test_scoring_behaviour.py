"""Behaviour rules: conditions on activities, once, caps, negatives, decay, dedup."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.models import ActivityKind as K
from tests.scoring.scoring_helpers import BASE_SCORING, DAY, NOW, act, entry, rules, score


def rule(kinds: str, points: float, extra: str = "", *, rule_id: str = "r",
         group: str = "behaviour") -> str:
    return (f'\n[[behaviour]]\nid = "{rule_id}"\ngroup = "{group}"\nkinds = [{kinds}]\n'
            f"points = {points}\n{extra}\n")


@pytest.mark.parametrize(
    ("where", "matching", "other"),
    [
        ('where = { url = { glob = "https://*/pricing*" } }',
         {"url": "https://x.example/pricing?plan=pro"}, {"url": "https://x.example/blog"}),
        ("where = { url = { regex = '/(case|事例)' } }",
         {"url": "https://x.example/事例/acme"}, {"url": "https://x.example/about"}),
        ('where = { form_id = { equals = "f-123" } }', {"form_id": "F-123"}, {"form_id": "f-9"}),
        ('where = { form_name = { regex = "(?i)white ?paper" } }',
         {"form_name": "Whitepaper 2026"}, {"form_name": "Newsletter"}),
        ('where = { email_campaign_id = { in = ["77", 78] } }',
         {"email_campaign_id": 78}, {"email_campaign_id": 79}),
        ("where = { attendance_percentage = { min = 50 } }",
         {"attendance_percentage": 50}, {"attendance_percentage": 49.5}),
        ('where = { meeting_type = { in = ["demo", "discovery"] } }',
         {"meeting_type": "Demo"}, {"meeting_type": "support"}),
        ('where = { attributes.campaign = { equals = "spring" } }',
         {"campaign": "spring"}, {"campaign": "autumn"}),
    ],
    ids=["url-glob", "url-regex", "form-id", "form-name", "campaign-id", "attendance",
         "meeting-type", "custom-attribute"],
)
def test_given_where_condition_only_matching_activities_score(
    where: str, matching: dict, other: dict,
) -> None:
    r = rules(rule('"page_view"', 7, where))

    result = score(r, [act(K.PAGE_VIEW, 1, **matching), act(K.PAGE_VIEW, 2, **other)])

    assert entry(result, "r").matched == 1
    assert result.total == 7


def test_given_where_attribute_missing_activity_does_not_match() -> None:
    r = rules(rule('"webinar_attended"', 20, "where = { attendance_percentage = { min = 10 } }"))

    assert score(r, [act(K.WEBINAR_ATTENDED)]).total == 0


def test_given_rule_with_several_kinds_each_kind_counts() -> None:
    r = rules(rule('"contact_us", "consultation_request"', 10))

    result = score(r, [act(K.CONTACT_US, 1), act(K.CONSULTATION_REQUEST, 2), act(K.MEETING)])

    assert entry(result, "r").matched == 2


def test_given_once_rule_only_the_latest_activity_counts() -> None:
    r = rules(rule('"webinar_registered"', 10, 'once = true\ndecay = { type = "linear", '
                   "days = 100 }"))

    result = score(r, [act(K.WEBINAR_REGISTERED, 50), act(K.WEBINAR_REGISTERED, 10)])

    registered = entry(result, "r")
    assert registered.matched == 2
    assert registered.points == 10
    assert registered.decayed == 9  # the activity 10 days ago: 10 x (1 - 10/100)


def test_given_two_clicks_in_window_cap_limits_points() -> None:
    r = rules(rule('"email_click"', 3, "cap_window = { points = 4, days = 7 }"))

    result = score(r, [act(K.EMAIL_CLICK, 2), act(K.EMAIL_CLICK, 1)])

    clicks = entry(result, "r")
    assert (clicks.points, clicks.decayed, clicks.capped) == (6, 6, 4)
    assert result.total == 4


def test_given_clicks_further_apart_than_window_each_earns_in_full() -> None:
    r = rules(rule('"email_click"', 3, "cap_window = { points = 3, days = 7 }"))

    result = score(r, [act(K.EMAIL_CLICK, 20), act(K.EMAIL_CLICK, 10), act(K.EMAIL_CLICK, 0)])

    assert result.total == 9


def test_given_window_is_rolling_not_calendar_cap_holds_across_any_span() -> None:
    r = rules(rule('"email_click"', 3, "cap_window = { points = 3, days = 7 }"))

    # 6.5 days apart: inside one rolling 7-day span, whatever the calendar week.
    result = score(r, [act(K.EMAIL_CLICK, 6.5), act(K.EMAIL_CLICK, 0)])

    assert result.total == 3


def test_given_total_cap_rule_never_exceeds_it() -> None:
    r = rules(rule('"page_view"', 5, "cap_total = 12"))

    result = score(r, [act(K.PAGE_VIEW, n) for n in range(5)])

    page = entry(result, "r")
    assert (page.points, page.capped) == (25, 12)


def test_given_negative_rule_points_subtract_and_window_caps_their_size() -> None:
    r = rules(rule('"email_bounce"', -30, "cap_window = { points = 40, days = 30 }"))

    result = score(r, [act(K.EMAIL_BOUNCE, 3), act(K.EMAIL_BOUNCE, 2)])

    assert result.total == -40


def test_given_duplicate_source_ids_activity_counts_once() -> None:
    r = rules(rule('"whitepaper_download"', 10))
    download = act(K.WHITEPAPER_DOWNLOAD, 1, source_id="form:abc")

    result = score(r, [download, download, act(K.WHITEPAPER_DOWNLOAD, 1, source_id="form:abc")])

    assert entry(result, "r").matched == 1
    assert result.total == 10


def test_given_activity_after_now_it_is_ignored() -> None:
    r = rules(rule('"page_view"', 5))

    result = score(r, [act(K.PAGE_VIEW, -1), act(K.PAGE_VIEW, 1)])

    assert result.total == 5


def test_given_unknown_kinds_they_score_nothing() -> None:
    r = rules(rule('"page_view"', 5))

    assert score(r, [act("something_new"), act(K.EMAIL_DELIVERED)]).total == 0


def test_given_custom_activity_kind_declared_rule_scores_it() -> None:
    r = rules(rule('"demo_request"', 25),
              base='custom_activity_kinds = ["demo_request"]\n' + BASE_SCORING)

    assert score(r, [act("demo_request")]).total == 25


@pytest.mark.parametrize(
    ("decay", "days_ago", "expected"),
    [
        ('{ type = "half_life", days = 30 }', 30, "5.00"),
        ('{ type = "half_life", days = 30 }', 60, "2.50"),
        ('{ type = "half_life", days = 30 }', 0, "10.00"),
        ('{ type = "linear", days = 100 }', 25, "7.50"),
        ('{ type = "linear", days = 100 }', 100, "0.00"),
        ('{ type = "linear", days = 100 }', 150, "0.00"),
        ('{ type = "none" }', 3000, "10.00"),
    ],
)
def test_given_decay_points_fade_with_age(decay: str, days_ago: float, expected: str) -> None:
    r = rules(rule('"whitepaper_download"', 10, f"decay = {decay}"))

    result = score(r, [act(K.WHITEPAPER_DOWNLOAD, days_ago)])

    assert result.total == Decimal(expected)
    assert entry(result, "r").points == 10


def test_given_group_decay_rule_without_own_decay_uses_it() -> None:
    base = """
[groups.behaviour]
axis = "engagement"
decay = { type = "half_life", days = 10 }

[grade]
fit_thresholds = [25, 15, 5]
engagement_thresholds = [50, 30, 10]

[stages]
default = "cold"
"""
    r = rules(rule('"page_view"', 8, rule_id="inherits")
              + rule('"page_view"', 8, 'decay = { type = "none" }', rule_id="overrides"),
              base=base)

    result = score(r, [act(K.PAGE_VIEW, 10)])

    assert entry(result, "inherits").decayed == 4
    assert entry(result, "overrides").decayed == 8


def test_given_same_history_later_now_positive_score_has_not_grown() -> None:
    r = rules(rule('"page_view"', 5, 'decay = { type = "half_life", days = 7 }'))
    history = [act(K.PAGE_VIEW, n) for n in range(4)]

    today = score(r, history).total
    next_week = score(r, history, now=NOW + 7 * DAY).total

    assert next_week < today
