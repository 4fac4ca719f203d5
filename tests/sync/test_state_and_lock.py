import multiprocessing
import os
import stat
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import ConfigError, LockHeldError
from core.models import Activity, Contact, DistinctActivities
from core.plan import TaskWrite
from scoring import MqlState
from sync.lock import run_lock
from sync.state import StateStore

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_given_new_state_file_it_is_created_owner_only(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s" / "state.db")
    mode = stat.S_IMODE(os.stat(tmp_path / "s" / "state.db").st_mode)
    store.close()
    assert mode == 0o600


def test_given_corrupt_state_file_a_clear_config_error_is_raised(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ConfigError, match="not a usable SQLite database"):
        StateStore(path)


def test_given_reread_activities_duplicates_are_ignored(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    a = Activity("email:1", "email_open", T0, email="a@example.com")
    b = Activity("email:2", "email_click", T0, email="a@example.com", attributes={"url": "u"})
    assert store.add_activities([a, b]) == 2
    assert store.add_activities([a, b]) == 0
    got = store.activities_for([], "a@example.com")
    assert sorted(x.source_id for x in got) == ["email:1", "email:2"]
    assert {x.source_id: dict(x.attributes) for x in got}["email:2"] == {"url": "u"}


def test_activities_are_found_by_contact_id_or_email(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.add_activities(
        [
            Activity("pv:1", "page_view", T0, contact_id="101"),
            Activity("form:1", "whitepaper_download", T0, email="x@example.com"),
            Activity("pv:2", "page_view", T0, contact_id="999"),
        ]
    )
    got = store.activities_for(["101"], "x@example.com")
    assert sorted(a.source_id for a in got) == ["form:1", "pv:1"]


def test_activities_read_back_equal_the_stored_ones_and_share_read_only_attributes(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "state.db")
    stored = [
        Activity(f"email:{n}", "email_open", T0, contact_id="101",
                 attributes={"email_campaign_id": 7})
        for n in range(3)
    ] + [Activity("pv:1", "page_view", T0, contact_id="101", attributes={"url": "/pricing"})]
    store.add_activities(stored)
    got = sorted(store.activities_for(["101"], None), key=lambda a: a.source_id)
    assert got == sorted(stored, key=lambda a: a.source_id)
    assert [a.occurred_ts for a in got] == [T0.timestamp()] * 4
    opens = [a for a in got if a.kind == "email_open"]
    assert opens[0].attributes is opens[1].attributes is opens[2].attributes  # parsed once
    with pytest.raises(TypeError):
        opens[0].attributes["email_campaign_id"] = 8  # type: ignore[index]


def test_activities_read_back_are_marked_distinct_for_scoring(tmp_path: Path) -> None:
    """One activity found both by contact id and by email comes back once, and the result
    says so by its type, which lets scoring skip its duplicate check."""
    store = StateStore(tmp_path / "state.db")
    store.add_activities([Activity("pv:1", "page_view", T0, contact_id="101",
                                   email="x@example.com")])
    got = store.activities_for(["101"], "x@example.com")
    assert type(got) is DistinctActivities
    assert [a.source_id for a in got] == ["pv:1"]


def test_contacts_sharing_an_email_are_grouped(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.upsert_contacts(
        [Contact("1", "a@example.com"), Contact("2", "a@example.com"), Contact("3", None)]
    )
    grouped = store.contacts_by_email(["a@example.com"])
    assert [c.hubspot_id for c in grouped["a@example.com"]] == ["1", "2"]


def test_decisions_are_recorded_atomically_and_tasks_stay_pending_until_done(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "state.db")
    task = TaskWrite("a@example.com", "mql:1:1", {"Subject": "s"}, "00Q000000000001AAA")
    store.record_decisions({"a@example.com": MqlState(1, True, T0, "default")}, [task])
    assert store.pending_tasks() == [task]
    assert store.mql_states(["a@example.com"])["a@example.com"] == MqlState(1, True, T0, "default")
    store.record_decisions({}, [task])  # recording the same intent again changes nothing
    assert len(store.pending_tasks()) == 1
    store.mark_task_done("mql:1:1", "00T000000000001AAA")
    assert store.pending_tasks() == []
    assert store.task_status(["mql:1:1"]) == {"mql:1:1": "done"}


def test_cursors_round_trip_with_timezone(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.set_cursors({"contacts": T0})
    reopened = StateStore(tmp_path / "state.db")
    assert reopened.cursor("contacts") == T0
    assert reopened.cursor("missing") is None


def _hold_lock(path: str, ready: "multiprocessing.synchronize.Event") -> None:
    with run_lock(Path(path)):
        ready.set()
        time.sleep(30)


def test_given_lock_held_by_another_process_second_run_fails_fast(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(str(lock), ready))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(LockHeldError, match=str(holder.pid)), run_lock(lock):
            pass
    finally:
        holder.kill()
        holder.join()
    # The holder was killed (-9): the kernel released its lock, the next run proceeds.
    with run_lock(lock):
        pass
