"""Re-scoring from a stored aggregate when only time has passed."""

from __future__ import annotations

import pickle

import pytest

from core.models import ActivityKind as K
from scoring import aggregate_activities, score_aggregate
from tests.scoring.scoring_helpers import DAY, NOW, act, contact, rules, score

RULES = """
[[behaviour]]
id = "halving"
group = "behaviour"
kinds = ["page_view"]
points = 5
cap_window = { points = 8, days = 7 }
decay = { type = "half_life", days = 30 }

[[behaviour]]
id = "fading"
group = "behaviour"
kinds = ["whitepaper_download"]
points = 10
decay = { type = "linear", days = 60 }

[[behaviour]]
id = "lasting"
group = "behaviour"
kinds = ["consultation_request"]
points = 30
cap_total = 45

[[mql.rules]]
id = "recent"
when = { activity = "consultation_request", within_days = 10, at_least = 2 }
"""

HISTORY = [act(K.PAGE_VIEW, d) for d in (0, 1, 2, 20, 40)] + [
    act(K.WHITEPAPER_DOWNLOAD, d) for d in (5, 50, 70)] + [
    act(K.CONSULTATION_REQUEST, d) for d in (3, 8, 100)]


@pytest.mark.parametrize("days_later", [0, 1, 7, 30, 365])
def test_given_aggregate_from_earlier_rescoring_later_equals_scoring_the_history(
    days_later: int,
) -> None:
    r = rules(RULES)
    aggregate = aggregate_activities(r, HISTORY, NOW)
    later = NOW + days_later * DAY

    from_aggregate = score_aggregate(r, contact(), None, aggregate, later)
    from_history = score(r, HISTORY, now=later)

    assert from_aggregate == from_history


def test_given_linear_decay_aggregate_keeps_only_activities_not_yet_faded() -> None:
    aggregate = aggregate_activities(rules(RULES), HISTORY, NOW)

    fading = aggregate.tallies["fading"]
    assert fading.matched == 3
    assert len(fading.items) == 2  # the download 70 days ago has faded to zero


def test_given_condition_needs_two_activities_aggregate_keeps_the_latest_two() -> None:
    r = rules(RULES)
    aggregate = aggregate_activities(r, HISTORY, NOW)

    kept = [times for times in aggregate.probes if times]
    assert [len(times) for times in kept] == [2]
    assert kept[0] == tuple(sorted(kept[0]))
    assert score_aggregate(r, contact(), None, aggregate, NOW + DAY).is_mql
    assert not score_aggregate(r, contact(), None, aggregate, NOW + 3 * DAY).is_mql


def test_given_aggregate_counts_distinct_activities_up_to_as_of() -> None:
    duplicate = act(K.PAGE_VIEW, 1, source_id="same")
    aggregate = aggregate_activities(rules(RULES), [duplicate, duplicate, act(K.PAGE_VIEW, -2)],
                                     NOW)

    assert aggregate.activities == 1


def test_given_aggregate_from_other_rules_scoring_it_is_refused() -> None:
    aggregate = aggregate_activities(rules(RULES), HISTORY, NOW)

    with pytest.raises(ValueError, match="aggregate built with rules"):
        score_aggregate(rules(RULES + "\n[mql]\nhold_days = 3\n"), contact(), None, aggregate,
                        NOW)


def test_given_now_before_the_aggregate_scoring_it_is_refused() -> None:
    r = rules(RULES)
    aggregate = aggregate_activities(r, HISTORY, NOW)

    with pytest.raises(ValueError, match="before the aggregate"):
        score_aggregate(r, contact(), None, aggregate, NOW - DAY)


def test_given_naive_now_scoring_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        score(rules(RULES), HISTORY, now=NOW.replace(tzinfo=None))


def test_given_score_and_aggregate_they_survive_pickling_for_worker_processes() -> None:
    r = rules(RULES)
    aggregate = aggregate_activities(r, HISTORY, NOW)
    result = score(r, HISTORY)

    assert pickle.loads(pickle.dumps(aggregate)) == aggregate
    assert pickle.loads(pickle.dumps(result)) == result
