"""The alert outbox on SQLite and PostgreSQL alike (set CONNECTOR_TEST_POSTGRES_URL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scoring import MqlState
from sync.alert_store import AlertIntent
from sync.state import StateStore

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
EPISODE = {"a@example.jp": MqlState(1, True, NOW, "mql")}


def intents(channels: tuple[str, ...] = ("slack", "email")) -> list[AlertIntent]:
    return [AlertIntent("a@example.jp", 1, c, {"score": "60.00"}) for c in channels]


def test_given_the_same_episode_decided_twice_one_row_per_channel(store: StateStore) -> None:
    store.record_decisions(EPISODE, [], None, intents())
    store.record_decisions(EPISODE, [], None, intents())
    due = store.alerts.due(NOW + timedelta(seconds=1))
    assert sorted(r.key for r in due) == ["a@example.jp#mql1#email", "a@example.jp#mql1#slack"]
    assert store.alerts.counts() == {"pending": 2, "sent": 0, "dead": 0}


def test_given_the_decision_transaction_fails_neither_episode_nor_alert_is_kept(
    store: StateStore,
) -> None:
    broken = [AlertIntent("a@example.jp", 1, "slack", {"score": object()})]
    with pytest.raises(TypeError):
        store.record_decisions(EPISODE, [], None, broken)
    assert store.mql_states(["a@example.jp"]) == {}
    assert store.alerts.counts()["pending"] == 0


def test_given_sent_failed_and_dead_rows_due_and_counts_follow(store: StateStore) -> None:
    store.record_decisions(EPISODE, [], None, intents())
    slack, email = sorted(store.alerts.due(NOW + timedelta(seconds=1)), key=lambda r: r.channel,
                          reverse=True)
    store.alerts.mark_sent(slack.key)
    store.alerts.mark_failed(email, "email: server answered 451", next_at=NOW + timedelta(hours=1),
                             lead_key=email.lead_key)
    assert store.alerts.due(NOW + timedelta(minutes=59)) == []
    [again] = store.alerts.due(NOW + timedelta(hours=1))
    assert again.attempts == 1
    store.alerts.mark_failed(again, "email: server answered 550", next_at=None,
                             lead_key=again.lead_key)
    assert store.alerts.counts() == {"pending": 0, "sent": 1, "dead": 1}
    assert store.counts()["alerts_dead"] == 1
    [letter] = [d for d in store.dead_letters() if d["stage"] == "alert email"]
    assert letter["message"] == "email: server answered 550"
    store.alerts.mark_sent(again.key)  # a late confirmation does not revive a dead row
    assert store.alerts.counts()["dead"] == 1
