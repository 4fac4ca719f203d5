# ruff: noqa: F811  (pytest fixtures imported from test_state_postgres)
"""Erasure on SQLite and PostgreSQL: every row naming the person goes, the address leaves the
database file and its WAL, an erasure record holds no personal data, and a later page about the
person is dropped before it is stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.models import Activity, Company, Contact
from core.plan import TaskWrite
from scoring import MqlState
from sync.db import SqliteTarget, StateTarget
from sync.lead_refs import contact_ref, email_ref
from sync.state import MIGRATIONS, Link, StateStore
from tests.sync.test_state_postgres import pg_server, pg_url, store, target  # noqa: F401

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
GONE = "hanako.erased@example.co.jp"
KEPT = "taro.kept@example.co.jp"


def _fill(store: StateStore, email: str, hubspot_id: str) -> None:
    contact = Contact(hubspot_id, email, {"firstname": "Hanako", "email": email}, None, T0)
    store.store_page(
        contacts=[contact],
        activities=[
            Activity(f"form:{hubspot_id}", "form_submission", T0, hubspot_id, email, {"x": email}),
            Activity(f"email:{hubspot_id}", "email_open", T0, None, email, {}),
        ],
        dirty=[contact_ref(hubspot_id), email_ref(email)],
    )
    # an update leaves the older version of the row behind unless deletes are secure
    store.upsert_contacts([Contact(hubspot_id, email, {"firstname": "H", "email": email})])
    store.save_links([Link(email, "Lead", f"00Q{hubspot_id}", "005X")])
    store.record_written(email, "Lead", {"MQL_Status__c": "MQL"})
    store.record_decisions(
        {email: MqlState(1, True, T0, "r")},
        [TaskWrite(email, f"mql:{email}:1", {"Description": f"({email})"}, None)],
    )
    store.add_dead_letter(lead_key=email, stage="write Lead", code="X", message=f"bad {email}")
    store.add_dead_letter(lead_key=None, stage="plan", code="Y", message=f"about {email}")
    run = store.start_run("sync")
    store.finish_run(run, "ok", {"problem_sample": [f"contact 1: {email} refused"]})


def _mentions(store: StateStore, text: str) -> list[str]:
    hits = []
    for table, columns in store.erasure._text_columns(store._db).items():
        for column in columns:
            for row in store._db.execute(f"SELECT {column} FROM {table}"):
                if row[0] is not None and text in str(row[0]):
                    hits.append(f"{table}.{column}")
    return hits


def test_given_erased_person_no_table_mentions_the_address_and_others_stay(
    store: StateStore,
) -> None:
    _fill(store, GONE, "101")
    _fill(store, KEPT, "202")
    result = store.erasure.erase(["101"], [GONE])
    assert result.rows > 0
    assert _mentions(store, GONE) == []
    assert _mentions(store, KEPT)  # the other lead is untouched
    assert store.contact("202") is not None and store.contact("101") is None
    assert store.links([KEPT]) and not store.links([GONE])
    summary = store.runs(10)[-1]["summary"]
    assert "[erased]" in json.dumps(summary)
    assert store.erasure.counts()["erased"] == 1


def test_given_erasure_record_it_holds_hashes_and_a_day_only(store: StateStore) -> None:
    _fill(store, GONE, "101")
    store.erasure.erase(["101"], [GONE])
    rows = [tuple(r) for r in store._db.execute("SELECT * FROM erasures")]
    assert {r[1] for r in rows} == {"id", "email"}
    assert all(len(r[0]) == 64 and GONE not in r[0] and "101" not in r[0] for r in rows)
    assert {r[2] for r in rows} == {T0.date().isoformat()} or len({r[2] for r in rows}) == 1


def test_given_erased_person_a_later_page_about_them_is_dropped(store: StateStore) -> None:
    _fill(store, GONE, "101")
    store.erasure.erase(["101"], [GONE])
    new = store.store_page(
        contacts=[Contact("101", GONE, {"email": GONE})],
        activities=[
            Activity("email:late", "email_open", T0, None, GONE, {}),
            Activity("email:other", "email_open", T0, None, KEPT, {}),
        ],
        dirty=[contact_ref("101"), email_ref(GONE), email_ref(KEPT)],
    )
    assert new == 1
    assert _mentions(store, GONE) == []
    assert store.contact("101") is None
    assert store.dirty_refs(10) == [email_ref(KEPT)]


def test_given_two_stores_the_salts_differ_and_one_salt_stays(
    tmp_path: Path, target: StateTarget
) -> None:
    first = StateStore(target)
    salt = first.erasure.salt()
    first.close()
    again = StateStore(target)
    assert again.erasure.salt() == salt
    again.close()
    other = StateStore(SqliteTarget(tmp_path / "other.db"))
    assert other.erasure.salt() != salt
    other.close()


def test_given_sqlite_erasure_the_address_is_in_neither_the_file_nor_the_wal(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    store = StateStore(SqliteTarget(path))
    # as a build whose default is off, or a store written before this release
    store._db.execute("PRAGMA secure_delete=OFF")
    for n in range(40):  # enough rows for several pages and page splits
        _fill(store, f"user{n}@example.com", str(1000 + n))
    _fill(store, GONE, "101")
    store.erasure.erase(["101"], [GONE])
    wal = Path(str(path) + "-wal")
    needle = GONE.encode()
    assert needle not in path.read_bytes()
    assert not wal.exists() or needle not in wal.read_bytes()
    assert b"user7@example.com" in path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    # a second erasure, with secure_delete as every connection sets it
    store._db.execute("PRAGMA secure_delete=ON")
    store.erasure.erase(["1007"], ["user7@example.com"])
    assert b"user7@example.com" not in path.read_bytes()
    assert not wal.exists() or b"user7@example.com" not in wal.read_bytes()
    store.close()


def test_given_the_schema_the_erasure_migration_is_the_last(store: StateStore) -> None:
    version = store._db.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    assert version == len(MIGRATIONS)


@pytest.mark.parametrize("change", ["archive", "restore", "merge", "erase"])
def test_given_queued_changes_they_come_back_in_order_until_dropped(
    store: StateStore, change: str
) -> None:
    store.erasure.add_changes([("1", change, None), ("2", change, "1")])
    pending = store.erasure.pending_changes()
    assert [(c.hubspot_id, c.change, c.other_id) for c in pending] == [
        ("1", change, None),
        ("2", change, "1"),
    ]
    store.erasure.drop_changes([pending[0].id])
    assert [c.hubspot_id for c in store.erasure.pending_changes()] == ["2"]


def test_given_shared_rows_mention_the_address_they_are_redacted_not_deleted(
    store: StateStore,
) -> None:
    _fill(store, GONE, "1")
    _fill(store, KEPT, "2")
    # a company whose properties name the person (a contact note, the main address)
    store.upsert_companies([Company("77", {"name": "Kansai Kikai", "notes": f"ask {GONE}",
                                           "main_email": GONE})])
    store._db.execute("CREATE TABLE other_feature (id TEXT PRIMARY KEY, note TEXT)")
    store._db.execute("INSERT INTO other_feature VALUES ('x', ?)", (f"sent to {GONE}",))
    store.erasure.erase(["1"], [GONE])
    company = store.company("77")
    assert company is not None and company.get("name") == "Kansai Kikai"  # still there
    assert company.get("notes") == "ask [erased]" and company.get("main_email") == "[erased]"
    assert store._db.execute("SELECT note FROM other_feature").fetchall()[0][0] == (
        "sent to [erased]"
    )
    assert _mentions(store, GONE) == []
    # per-person rows that mentioned the address are gone, not rewritten
    letters = [d["message"] for d in store.dead_letters()]
    assert f"bad {KEPT}" in letters and all("[erased]" not in m for m in letters)
    assert store.runs(10)  # the run history stays


def test_given_postgresql_the_erased_rows_are_gone_and_the_touched_tables_vacuumed(
    store: StateStore,
) -> None:
    if store._db.dialect != "postgresql":
        pytest.skip("PostgreSQL only (SQLite: secure_delete and the WAL checkpoint, above)")
    _fill(store, GONE, "101")
    _fill(store, KEPT, "202")
    result = store.erasure.erase(["101"], [GONE])
    assert {"contacts", "activities", "links", "tasks", "dead_letters"} <= set(result.vacuumed)
    # gone from every table, as a query sees it
    assert _mentions(store, GONE) == []
    for table, column in (("contacts", "email"), ("activities", "email"), ("links", "lead_key")):
        assert store._db.execute(
            f"SELECT count(*) FROM {table} WHERE {column} = ?", (GONE,)
        ).fetchone()[0] == 0
    # VACUUM ran on each purged table (the dead row versions are removed from heap and
    # indexes): PostgreSQL's own statistics say when a table was last vacuumed by hand
    store._db.execute("SELECT pg_stat_clear_snapshot()")
    vacuumed = {
        r[0] for r in store._db.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() "
            "AND last_vacuum IS NOT NULL"
        )
    }
    assert set(result.vacuumed) <= vacuumed
