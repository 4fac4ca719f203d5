# ruff: noqa: F811  (pytest fixtures imported from test_state_postgres)
"""Merge moves history once and keeps one MQL standing; retention changes no score and refuses
a value under the rules' minimum."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ConfigError
from core.models import Activity, Contact
from core.plan import TaskWrite
from scoring import MqlState, load_rules, score_lead
from scoring.retention import minimum_retention_days
from sync.deletions import retention_days
from sync.state import StateStore
from tests.sync.test_state_postgres import pg_server, pg_url, store, target  # noqa: F401

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_given_merge_activities_move_once_and_one_mql_standing_stays(store: StateStore) -> None:
    a, b = "a@example.com", "b@example.com"
    shared = Activity("form:1", "form_submission", T0, "2", b, {})
    store.store_page(
        contacts=[Contact("1", a), Contact("2", b)],
        activities=[shared, Activity("form:1", "form_submission", T0, "1", a, {}),
                    Activity("open:2", "email_open", T0, "2", b, {})],
    )
    store.record_decisions(
        {a: MqlState(1, True, T0, "r"), b: MqlState(1, True, T0, "r")},
        [TaskWrite(a, f"mql:{a}:1", {}, None), TaskWrite(b, f"mql:{b}:1", {}, None)],
    )
    store.erasure.merge_into("2", "1")
    activities = store.activities_for(["1"], a)
    assert sorted(x.source_id for x in activities) == ["form:1", "open:2"]
    assert store.contact("2") is None
    assert list(store.mql_states([a, b])) == [a]
    assert store.erasure.survivors(["2"]) == {"2": "1"}
    assert store.erasure.counts()["merged"] == 1


def test_given_default_rules_retention_changes_no_score() -> None:
    rules = load_rules("mappings")
    days = minimum_retention_days(rules)
    now = T0
    contact = Contact("1", "a@example.com", {"jobtitle": "部長"})
    old = [Activity(f"o{i}", kind, now - timedelta(days=days + 10 + i), "1", None, {})
           for i, kind in enumerate(["email_open", "email_click", "form_submission",
                                     "page_view", "webinar_registered"] * 4)]
    recent = [Activity("r1", "email_click", now - timedelta(days=3), "1", None, {}),
              Activity("r2", "whitepaper_download", now - timedelta(days=20), "1", None, {})]
    before = score_lead(rules, contact, None, old + recent, now)
    after = score_lead(rules, contact, None, recent, now)
    assert (before.total, before.engagement, before.fit) == (after.total, after.engagement,
                                                             after.fit)
    # and a retention shorter than the minimum would have changed it
    young = [Activity(f"y{i}", "form_submission", now - timedelta(days=200 + i), "1", None, {})
             for i in range(3)]
    assert score_lead(rules, contact, None, young + recent, now).total != after.total


def test_given_retention_below_the_rules_minimum_it_is_refused_naming_the_key() -> None:
    rules = load_rules("mappings")
    minimum = minimum_retention_days(rules)
    assert retention_days(None, rules) == minimum
    with pytest.raises(ConfigError) as caught:
        retention_days(minimum - 1, rules)
    assert "state.activity_retention_days" in str(caught.value.problems or caught.value)
    assert str(minimum) in str(caught.value.problems or caught.value)
