"""Hand-offs, first touches and escalations in the state store, on SQLite and PostgreSQL
alike (set CONNECTOR_TEST_POSTGRES_URL); the pure rules of core.handoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.alerts import Alert, AlertText
from core.business_hours import BusinessCalendar
from core.handoff import Handoff, Touch, breach, first_touch, speed_by_owner
from scoring import MqlState
from sync.alert_store import AlertIntent
from sync.alerts import AlertOutbox
from sync.ports import RunSummary
from sync.state import Link, StateStore

# Monday 2026-12-07 10:00 JST: 4 business hours later is 14:00 JST (05:00 UTC).
MQL_AT = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
DEADLINE = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
CAL = BusinessCalendar.build()


def decide(store: StateStore, *keys: str) -> None:
    store.record_decisions(
        {k: MqlState(1, True, MQL_AT, "mql") for k in keys},
        [],
        None,
        [AlertIntent(k, 1, "slack", {"first_name": "太郎", "last_name": "山田"}) for k in keys],
    )
    store.save_links(Link(k, "Lead", f"00Q00000000000{i}", f"005OWNER{i}") for i, k in
                     enumerate(keys))


def touch(key: str, moment: datetime, touch_id: str = "00T1") -> Touch:
    return Touch(touch_id, key, "task", "00Q000000000000", moment)


def test_given_touches_before_and_after_the_mql_the_first_after_counts(store: StateStore) -> None:
    decide(store, "a@example.jp")
    store.touches.save_touches([
        touch("a@example.jp", MQL_AT - timedelta(hours=1), "00Tbefore"),
        touch("a@example.jp", MQL_AT + timedelta(hours=2), "00Tlater"),
        touch("a@example.jp", MQL_AT + timedelta(hours=1), "00Tfirst"),
    ])
    store.touches.refresh()
    store.touches.refresh()  # idempotent

    [handoff] = store.touches.handoffs()
    assert (handoff.touched_at, handoff.touch_kind) == (MQL_AT + timedelta(hours=1), "task")
    assert handoff.owner_id == "005OWNER0" and handoff.record_id == "00Q000000000000"


def test_given_a_pulled_owner_it_replaces_the_links_unknown_one(store: StateStore) -> None:
    store.record_decisions({"a@example.jp": MqlState(1, True, MQL_AT, "mql")}, [], None, [])
    store.save_links([Link("a@example.jp", "Lead", "00Q000000000000", None)])
    store.touches.save_owners({"00Q000000000000": "005PULLED"})
    store.touches.refresh()
    assert store.touches.handoffs()[0].owner_id == "005PULLED"


class Recorder:
    name = "slack"

    def __init__(self) -> None:
        self.sent: list[tuple[Alert, AlertText]] = []

    def send(self, alert: Alert, text: AlertText) -> None:
        self.sent.append((alert, text))


def outbox(store: StateStore, channel: Any, hours: float = 4) -> AlertOutbox:
    return AlertOutbox(store, [channel], "ja", "Asia/Tokyo", sla_hours=hours, calendar=CAL)


def test_given_an_untouched_hand_off_past_its_deadline_one_escalation_is_sent_once(
    store: StateStore,
) -> None:
    decide(store, "a@example.jp", "b@example.jp")
    store.touches.save_touches([touch("b@example.jp", MQL_AT + timedelta(hours=1))])
    channel = Recorder()
    box = outbox(store, channel)
    box.send_pending(MQL_AT, RunSummary("sync"))  # the MQL alerts
    assert len(channel.sent) == 2

    box.send_pending(DEADLINE - timedelta(seconds=1), RunSummary("sync"))
    assert len(channel.sent) == 2  # not yet due
    box.send_pending(DEADLINE, RunSummary("sync"))
    box.send_pending(DEADLINE + timedelta(days=3), RunSummary("sync"))

    escalations = [(a, t) for a, t in channel.sent if a.kind == "sla"]
    assert [a.key for a, _ in escalations] == ["sla:a@example.jp:1:slack"]
    alert, text = escalations[0]
    assert "【SLA超過】" in text.title and alert.owner == "005OWNER0"
    assert alert.elapsed_hours == "4.0" and "山田 太郎 様" in text.title


def test_given_a_hand_off_never_alerted_it_is_not_escalated(store: StateStore) -> None:
    store.record_decisions({"a@example.jp": MqlState(1, True, MQL_AT, "mql")}, [], None, [])
    channel = Recorder()
    outbox(store, channel).send_pending(DEADLINE + timedelta(days=1), RunSummary("sync"))
    assert channel.sent == []


def test_given_the_sla_off_nothing_is_escalated(store: StateStore) -> None:
    decide(store, "a@example.jp")
    channel = Recorder()
    outbox(store, channel, hours=0).send_pending(DEADLINE + timedelta(days=1), RunSummary("sync"))
    assert [a.kind for a, _ in channel.sent] == ["mql"]


# ------------------------------------------------------------------ pure rules
def handoff(touched: datetime | None, owner: str = "005A") -> Handoff:
    return Handoff("a@example.jp", 1, MQL_AT, owner, "Lead", "00Q1", touched, None)


def test_given_no_touch_at_or_after_the_mql_there_is_no_first_touch() -> None:
    assert first_touch(MQL_AT, [touch("a", MQL_AT - timedelta(seconds=1))]) is None
    assert first_touch(MQL_AT, [touch("a", MQL_AT)]) is not None


def test_given_touch_times_breaches_are_open_closed_or_none() -> None:
    assert breach(handoff(None), DEADLINE - timedelta(seconds=1), 4, CAL) is None
    assert breach(handoff(None), DEADLINE, 4, CAL) == "open"
    assert breach(handoff(DEADLINE), DEADLINE + timedelta(days=9), 4, CAL) is None
    assert breach(handoff(DEADLINE + timedelta(seconds=1)), DEADLINE, 4, CAL) == "closed"
    assert breach(handoff(None), DEADLINE + timedelta(days=9), 0, CAL) is None


def test_given_hand_offs_of_two_owners_each_gets_its_numbers() -> None:
    rows = speed_by_owner(
        [
            handoff(MQL_AT + timedelta(hours=1)),
            handoff(MQL_AT + timedelta(hours=3)),
            handoff(None),
            handoff(DEADLINE + timedelta(hours=2), owner="005B"),
        ],
        DEADLINE + timedelta(hours=3),
        4,
        CAL,
        names={"005A": "佐藤"},
    )
    assert [r.as_dict() for r in rows] == [
        {"owner": "佐藤", "handoffs": 3, "touched": 2, "median_first_touch_business_hours": 2.0,
         "breaches_open": 1, "breaches_closed": 0},
        {"owner": "005B", "handoffs": 1, "touched": 1, "median_first_touch_business_hours": 6.0,
         "breaches_open": 0, "breaches_closed": 1},
    ]
