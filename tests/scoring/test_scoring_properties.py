"""Invariants over generated histories (hypothesis)."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from core.models import Activity, Company
from core.models import ActivityKind as K
from scoring import aggregate_activities, score_aggregate
from scoring.aggregate import window_shares
from tests.scoring.scoring_helpers import DAY, NOW, company, contact, rules, score

# Positive rules only, with every kind of decay and cap, two weighted and capped groups.
POSITIVE = rules(base="""
[groups.web]
axis = "engagement"
max = 60
decay = { type = "half_life", days = 20 }

[groups.mail]
axis = "engagement"
weight = 0.7
decay = { type = "linear", days = 45 }

[groups.profile]
axis = "fit"
weight = 1.5

[grade]
fit_thresholds = [25, 15, 5]
engagement_thresholds = [50, 30, 10]

[stages]
default = "cold"

[[behaviour]]
id = "visit"
group = "web"
kinds = ["page_view"]
points = 5
cap_window = { points = 7, days = 3 }
cap_total = 40

[[behaviour]]
id = "paper"
group = "web"
kinds = ["whitepaper_download"]
points = 10
decay = { type = "linear", days = 90 }

[[behaviour]]
id = "webinar"
group = "web"
kinds = ["webinar_attended"]
points = 20
once = true

[[behaviour]]
id = "open"
group = "mail"
kinds = ["email_open"]
points = 1.3
cap_window = { points = 3, days = 7 }

[[behaviour]]
id = "click"
group = "mail"
kinds = ["email_click"]
points = 3
decay = { type = "none" }
cap_total = 10

[[fit]]
id = "size"
group = "profile"
points = 10
when = { field = "company.numberofemployees", min = 1000 }

[[mql.rules]]
id = "reader"
when = { activity = "whitepaper_download", within_days = 30, at_least = 2 }

[[stages.rules]]
stage = "pricing"
when = { activity = "page_view", within_days = 10, where = { url = { glob = "*/pricing" } } }

[[stages.rules]]
stage = "opened"
when = { activity = "email_open", not_followed_by = ["email_click"] }
""")

KINDS = [K.PAGE_VIEW, K.WHITEPAPER_DOWNLOAD, K.WEBINAR_ATTENDED, K.EMAIL_OPEN, K.EMAIL_CLICK,
         K.EMAIL_DELIVERED]

histories = st.lists(
    st.tuples(st.sampled_from(KINDS), st.floats(min_value=0, max_value=400, allow_nan=False),
              st.sampled_from(["https://x.example/pricing", "https://x.example/blog"])),
    max_size=40,
).map(lambda events: [
    Activity(f"{kind}:{n}", kind, NOW - timedelta(days=days_ago), attributes={"url": url})
    for n, (kind, days_ago, url) in enumerate(events)
])
FIRMS = st.sampled_from([None, company(numberofemployees="5000"), company()])


@settings(deadline=None)
@given(history=histories, firm=FIRMS, first=st.floats(0, 200), step=st.floats(0, 200))
def test_given_no_new_activity_score_never_grows_as_time_passes(
    history: list[Activity], firm: Company | None, first: float, step: float,
) -> None:
    earlier = score(POSITIVE, history, firm=firm, now=NOW + first * DAY)
    later = score(POSITIVE, history, firm=firm, now=NOW + (first + step) * DAY)

    assert later.total <= earlier.total
    assert later.engagement <= earlier.engagement
    for entry in later.explanation:
        before = next(e for e in earlier.explanation if e.rule_id == entry.rule_id)
        assert entry.decayed <= before.decayed


@settings(deadline=None)
@given(history=histories, firm=FIRMS, seed=st.integers(0, 2**32 - 1))
def test_given_any_order_and_repeated_activities_the_score_is_the_same(
    history: list[Activity], firm: Company | None, seed: int,
) -> None:
    shuffled = history + history[: len(history) // 2]
    random.Random(seed).shuffle(shuffled)

    assert score(POSITIVE, shuffled, firm=firm) == score(POSITIVE, history, firm=firm)


@settings(deadline=None)
@given(history=histories, firm=FIRMS, days=st.floats(0, 300))
def test_explanation_adds_up_to_the_totals_exactly(
    history: list[Activity], firm: Company | None, days: float,
) -> None:
    result = score(POSITIVE, history, firm=firm, now=NOW + days * DAY)

    assert sum(e.contribution for e in result.explanation) == result.total
    assert sum(e.contribution for e in result.explanation if e.axis == "fit") == result.fit
    for group, total in result.groups.items():
        assert sum(e.contribution for e in result.explanation if e.group == group) == total
    for entry in result.explanation:
        assert 0 <= entry.capped <= entry.decayed <= entry.points


@settings(deadline=None)
@given(history=histories, days=st.floats(0, 300))
def test_caps_hold_for_rules_and_groups(history: list[Activity], days: float) -> None:
    result = score(POSITIVE, history, now=NOW + days * DAY)
    capped = {e.rule_id: e.capped for e in result.explanation}

    assert capped.get("visit", 0) <= 40
    assert capped.get("click", 0) <= 10
    assert capped.get("webinar", 0) <= 20
    assert sum(e.capped for e in result.explanation if e.group == "web") <= 60


@given(
    times=st.lists(st.floats(0, 100), max_size=30).map(sorted),
    points=st.floats(-20, 20).filter(lambda p: p != 0),
    window=st.floats(0.1, 30),
    cap=st.floats(0.1, 50),
)
def test_window_cap_holds_in_every_span_of_the_window(
    times: list[float], points: float, window: float, cap: float,
) -> None:
    shares = window_shares(times, points, window, cap)

    for share in shares:
        assert abs(share) <= abs(points)
        assert share * points >= 0
    for end in times:
        inside = [abs(s) for t, s in zip(times, shares, strict=True) if end - window < t <= end]
        assert sum(inside) <= cap + 1e-9


@settings(deadline=None)
@given(history=histories, firm=FIRMS, days=st.floats(0, 300))
def test_rescoring_an_aggregate_later_matches_scoring_the_history_later(
    history: list[Activity], firm: Company | None, days: float,
) -> None:
    later = NOW + days * DAY
    aggregate = aggregate_activities(POSITIVE, history, NOW)

    rescored = score_aggregate(POSITIVE, contact(), firm, aggregate, later)
    fresh = score(POSITIVE, history, firm=firm, now=later)

    assert abs(rescored.total - fresh.total) <= len(fresh.explanation) * Decimal("0.01")
    assert [e.rule_id for e in rescored.explanation] == [e.rule_id for e in fresh.explanation]
    assert (rescored.is_mql, rescored.stage) == (fresh.is_mql, fresh.stage)
