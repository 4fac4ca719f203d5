"""The score history's causes (pure) and the score store on SQLite and PostgreSQL: latest
scores per track, history rows only on change, bounded per lead, MQLs since a moment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.models import Activity
from scoring import MqlState
from sync import score_store
from sync.db import StateTarget
from sync.score_history import StoredScore, history_entry, new_activities
from sync.score_store import LIVE, SHADOW
from sync.state import StateStore
from tests.sync.test_state_postgres import pg_server, pg_url, target  # noqa: F401

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def stored(total: str, *, at: datetime = T0, version: str = "v1", stage: str = "lead",
           mql: bool = False, activities: int = 3, logged: str | None = None,
           scored_stage: str | None = None) -> StoredScore:
    return StoredScore(
        version=version, total=Decimal(total), stage=stage, scored_stage=scored_stage or stage,
        state=MqlState(1 if mql else 0, mql, at if mql else None, "r" if mql else None),
        activities=activities, last_activity=T0 - timedelta(days=1), scored_at=at,
        logged_total=Decimal(logged or total),
    )


def activity(n: int, at: datetime, kind: str = "form_submission") -> Activity:
    return Activity(f"form:{n}", kind, at, "1")


# ------------------------------------------------------------------------------ causes
def test_given_no_previous_score_the_entry_is_the_first() -> None:
    entry = history_entry(None, stored("40"), [])
    assert entry is not None and entry.causes == ("first",)


def test_given_the_same_score_no_entry_is_made() -> None:
    assert history_entry(stored("40"), stored("40.4", at=T0 + timedelta(days=1)), []) is None


def test_given_new_activities_the_entry_names_them() -> None:
    before = stored("40")
    arrived = new_activities(before, [activity(n, T0 - timedelta(days=2)) for n in range(3)]
                             + [activity(9, T0 + timedelta(hours=1), "webinar_attended")])
    assert [a.kind for a in arrived] == ["webinar_attended"]
    entry = history_entry(before, stored("60", activities=4), arrived)
    assert entry is not None and entry.causes == ("activity",)
    assert entry.activities[0]["kind"] == "webinar_attended" and entry.new_activities == 1


def test_given_time_alone_lowering_the_score_by_a_point_the_cause_is_decay() -> None:
    later = stored("38.9", at=T0 + timedelta(days=7), logged="40")
    entry = history_entry(stored("40"), later, [])
    assert entry is not None and entry.causes == ("decay",)


def test_given_a_new_version_the_cause_is_the_rule_version() -> None:
    entry = history_entry(stored("40"), stored("40", version="v2"), [])
    assert entry is not None and entry.causes == ("rule_version",)
    assert entry.previous is not None and entry.previous["version"] == "v1"


def test_given_a_stage_moved_by_a_sales_outcome_the_cause_is_the_outcome() -> None:
    after = stored("40", stage="opportunity", scored_stage="lead")
    entry = history_entry(stored("40"), after, [])
    assert entry is not None and entry.causes == ("sales_outcome",)


def test_given_sales_disqualify_an_mql_the_cause_names_the_outcome_and_its_status() -> None:
    mql = stored("60", stage="mql", mql=True)
    lost = stored("60", stage="lost", scored_stage="mql", mql=True)
    entry = history_entry(mql, lost, [], "Closed - Not Converted")
    assert entry is not None and entry.causes == ("sales_outcome",)
    assert entry.sales_outcome == {"stage": "lost", "status": "Closed - Not Converted"}


def test_given_sales_recycle_a_lost_lead_back_the_cause_is_the_outcome_not_decay() -> None:
    lost = stored("60", stage="lost", scored_stage="mql", mql=True)
    recycled = stored("60", stage="mql", mql=True)
    entry = history_entry(lost, recycled, [], "Open - Not Contacted")
    assert entry is not None and entry.causes == ("sales_outcome",)
    assert entry.sales_outcome == {"stage": None, "status": "Open - Not Contacted"}


def test_given_the_scored_stage_moves_under_an_outcome_stage_no_outcome_is_named() -> None:
    before = stored("60", stage="lost", scored_stage="mql", mql=True)
    after = stored("30", stage="lost", scored_stage="warm")  # decayed; still lost
    entry = history_entry(before, after, [], "Closed - Not Converted")
    assert entry is not None and entry.causes == ("decay",) and entry.sales_outcome is None


def test_given_a_rise_without_activity_the_cause_is_the_profile() -> None:
    entry = history_entry(stored("40"), stored("55"), [])
    assert entry is not None and entry.causes == ("profile",)


# ------------------------------------------------------------------------------ store
@pytest.fixture
def db(target: StateTarget) -> Iterator[StateStore]:  # noqa: F811 (the imported fixture)
    opened = StateStore(target)
    yield opened
    opened.close()


def save(db: StateStore, key: str, track: str, before: StoredScore | None,
         after: StoredScore) -> None:
    entry = history_entry(before, after, [])
    if entry is not None:
        after = replace(after, logged_total=after.total)
    db.scores.save([(key, track, after)], [] if entry is None else [(key, track, entry)])


def test_given_scores_of_both_tracks_each_is_kept_with_its_version(db: StateStore) -> None:
    save(db, "a@x.jp", LIVE, None, stored("40"))
    save(db, "a@x.jp", SHADOW, None, stored("40", version="s1", mql=True))
    assert db.scores.latest(["a@x.jp"], LIVE)["a@x.jp"].version == "v1"
    shadow = db.scores.latest(["a@x.jp"], SHADOW)["a@x.jp"]
    assert shadow.version == "s1" and shadow.state.qualified
    assert [h["causes"] for h in db.scores.history("a@x.jp")] == [["first"]]


def test_given_mql_before_and_after_a_moment_both_count_since_it(db: StateStore) -> None:
    start = T0 + timedelta(days=1)
    save(db, "a@x.jp", LIVE, None, stored("60", mql=True))  # MQL before the start
    save(db, "b@x.jp", LIVE, None, stored("10"))
    b_later = stored("70", at=start + timedelta(hours=1), mql=True)
    save(db, "b@x.jp", LIVE, stored("10"), b_later)
    save(db, "c@x.jp", LIVE, None, stored("10"))
    mqls = db.scores.mqls_since(LIVE, start)
    assert set(mqls) == {"a@x.jp", "b@x.jp"}
    assert datetime.fromisoformat(mqls["b@x.jp"]) == start + timedelta(hours=1)


def test_given_more_changes_than_kept_the_oldest_rows_go(
    db: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(score_store, "HISTORY_KEEP", 3)
    before = None
    for n in range(6):
        after = stored(str(10 * n + 10), at=T0 + timedelta(days=n))
        save(db, "a@x.jp", LIVE, before, after)
        before = replace(after, logged_total=after.total)
    totals = [h["total"] for h in db.scores.history("a@x.jp")]
    assert totals == ["40", "50", "60"]


def test_given_a_version_promoted_who_when_and_why_are_recorded(db: StateStore) -> None:
    db.scores.record_version("s1", [{"name": "scoring.toml"}], T0, shadow=True)
    db.scores.record_version("s1", [], T0 + timedelta(days=1), shadow=True)
    db.scores.record_version("s1", [], T0 + timedelta(days=2), by="mori", reason="better",
                                promoted_from="v1")
    row = db.scores.version("s1")
    assert row is not None and datetime.fromisoformat(row["shadow_since"]) == T0
    assert row["recorded_by"] == "mori" and row["reason"] == "better"
    assert row["files"] == [{"name": "scoring.toml"}]
