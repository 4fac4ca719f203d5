# ruff: noqa: F811  (pytest fixtures imported from test_state_postgres)
"""Erasure, merge, archive and retention beside the tables other features added (rule
versions and history, accounts, rejection feedback, KPI facts): every table of the schema has
an erasure decision, the person's rows go by key (never redacted into colliding junk), the
accounts they counted in are recomputed, a merged-away lead leaves the report's facts, and a
prune marks the facts it changes. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from core.models import Activity, Contact
from scoring import MqlState
from sync.account_store import MemberRow
from sync.db import SqliteTarget
from sync.erasure_store import KEYED, NOT_A_PERSON, PER_PERSON, SHARED, SKIPPED
from sync.kpi_store import FACT_COLUMNS
from sync.lead_refs import contact_ref
from sync.score_history import HistoryEntry, StoredScore
from sync.state import Link, StateStore
from tests.sync.test_state_postgres import pg_server, pg_url, store, target  # noqa: F401

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
GONE = "hanako.erased@example.co.jp"
ALSO = "jiro.erased@example.co.jp"
KEPT = "taro.kept@example.co.jp"
PERSON_COLUMNS = ("lead_key", "email", "hubspot_id", "contact_id")
NEW_TABLES = ("lead_scores", "score_history", "account_members", "kpi_facts", "kpi_segments",
              "kpi_engagement", "sf_rejections")


def unclassified(store: StateStore) -> list[str]:
    """Tables without an erasure decision, and person-key columns erasure does not key on."""
    columns: dict[str, list[str]] = {}
    for (table,) in store._db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ):
        columns[table] = [c[1] for c in store._db.execute(f"PRAGMA table_info({table})")]
    decided = PER_PERSON | set(SHARED) | set(SKIPPED)
    keyed = {(t, c) for t, c, _ in KEYED}
    out = [f"table {t}" for t in sorted(columns) if t not in decided]
    out += [
        f"{t}.{c}"
        for t, cols in sorted(columns.items())
        for c in cols
        if c in PERSON_COLUMNS and (t, c) not in keyed and (t, c) not in NOT_A_PERSON
    ]
    return out


def test_given_the_schema_every_table_and_person_column_has_an_erasure_decision(
    tmp_path: Path,
) -> None:
    store = StateStore(SqliteTarget(tmp_path / "state.db"))
    try:
        assert unclassified(store) == []
        assert not (PER_PERSON & set(SHARED)) and not (PER_PERSON & set(SKIPPED))
        assert not (set(SHARED) & set(SKIPPED))
        # a later migration's table with a person's key and no decision is caught
        store._db.execute("CREATE TABLE future_feature (lead_key TEXT PRIMARY KEY, note TEXT)")
        assert unclassified(store) == ["table future_feature", "future_feature.lead_key"]
    finally:
        store.close()


def _fill(store: StateStore, email: str, hubspot_id: str, company: str = "77") -> None:
    contact = Contact(hubspot_id, email, {"email": email, "jobtitle": "部長"}, company, T0)
    store.store_page(
        contacts=[contact],
        activities=[Activity(f"form:{hubspot_id}", "form_submission", T0, hubspot_id, email,
                             {})],
        dirty=[contact_ref(hubspot_id)],
    )
    store.save_links([Link(email, "Lead", f"00Q{hubspot_id}", "005X")])
    state = MqlState(1, True, T0, "r")
    score = StoredScore("v1", Decimal(60), "mql", "mql", state, 1, T0, T0, Decimal(60))
    entry = HistoryEntry(T0, "v1", Decimal(60), "mql", True, 1, ("first",), None)
    store.scores.save([(email, "live", score), (email, "shadow", score)],
                      [(email, "live", entry), (email, "shadow", entry)])
    store.accounts.note_members([MemberRow(email, company, "example.co.jp", Decimal(60),
                                           "部長", T0)])
    store.accounts.clear_marks(store.accounts.dirty_marks(100))
    with store.transaction() as db:
        db.execute("INSERT INTO sf_rejections VALUES (?, ?, ?)",
                   (f"00Q{hubspot_id}", f"no budget ({email})", "2026-11-01"))
    _facts(store, email, hubspot_id)


def _facts(store: StateStore, email: str, hubspot_id: str) -> None:
    row = {c: None for c in FACT_COLUMNS} | {
        "lead_key": email, "hubspot_id": hubspot_id, "created": 1, "created_month": "2026-11",
        "created_week": "2026-W44", "channel": "ORGANIC", "segkey": "x", "has_outcome": 0,
        "sql_flag": 0, "facts_at": 1, "valid_until": 2,
    }
    store.kpi.write_facts(
        [(tuple(row[c] for c in FACT_COLUMNS), [("industry", "x")],
          [(email, "month", "2026-11", 1, 1, 0, 0, 0, 0)])],
        keys=[email], meta={"as_of": "1"},
    )


def _rows(store: StateStore, table: str, text: str) -> int:
    cols = [c for c in ("lead_key", "record_id", "reason") if c in _columns(store, table)]
    where = " OR ".join(f"{c} LIKE ?" for c in cols)
    return int(store._db.execute(f"SELECT count(*) FROM {table} WHERE {where}",
                                 [f"%{text}%"] * len(cols)).fetchone()[0])


def _columns(store: StateStore, table: str) -> list[str]:
    return [d[0] for d in store._db.execute(f"SELECT * FROM {table} LIMIT 0").description]


def test_given_two_erased_people_their_rows_in_every_new_table_go_without_junk(
    store: StateStore,
) -> None:
    _fill(store, GONE, "101")
    _fill(store, ALSO, "102")
    _fill(store, KEPT, "202")
    store.erasure.erase(["101"], [GONE])
    store.erasure.erase(["102"], [ALSO])  # a redacted key would collide with the first
    for table in NEW_TABLES:
        for text in (GONE, ALSO, "[erased]", "00Q101", "00Q102"):
            assert _rows(store, table, text) == 0, (table, text)
        assert _rows(store, table, KEPT if table != "sf_rejections" else "00Q202"), table
    # the account they counted in is recomputed by the next account pass
    assert store.accounts.dirty_marks(10) == ["company:77"]


def test_given_an_unfinished_rebuild_whose_cursor_is_the_erased_lead_it_starts_over(
    store: StateStore,
) -> None:
    _fill(store, GONE, "101")
    with store.transaction() as db:
        db.execute("INSERT INTO kpi_meta VALUES ('rebuild_cursor', ?)", (GONE,))
        db.execute("INSERT INTO kpi_meta VALUES ('rebuild_hash', 'h')")
    store.erasure.erase(["101"], [GONE])
    assert store.kpi.rebuild_state() is None
    assert "[erased]" not in str(store.kpi.meta())


def test_given_a_merge_the_merged_lead_leaves_scores_accounts_and_facts_once(
    store: StateStore,
) -> None:
    _fill(store, KEPT, "202")
    _fill(store, GONE, "101", company="88")
    store.erasure.merge_into("101", "202")
    for table in ("lead_scores", "score_history", "account_members", "kpi_facts",
                  "kpi_segments", "kpi_engagement"):
        assert _rows(store, table, GONE) == 0, table
    assert store.kpi.fact_count() == 1 and KEPT in store.kpi.stale_keys()
    assert store.accounts.dirty_marks(10) == ["company:88"]  # the account it left
    for track in ("live", "shadow"):
        history = store.scores.history(KEPT, track)
        assert [h["causes"] for h in history] == [["first"], ["merged"]]
        assert history[-1]["merged_contact"] == "101" and history[-1]["total"] == "60"


def test_given_a_merged_lead_without_a_score_of_the_survivor_its_history_moves(
    store: StateStore,
) -> None:
    _fill(store, GONE, "101")
    store.store_page(contacts=[Contact("202", KEPT, {"email": KEPT}, None, T0)])
    store.erasure.merge_into("101", "202")
    assert [h["causes"] for h in store.scores.history(KEPT)] == [["first"], ["merged"]]
    assert store.scores.latest([KEPT], "live")[KEPT].total == Decimal(60)


def test_given_an_archived_lead_its_account_and_facts_follow_and_a_restore_brings_it_back(
    store: StateStore,
) -> None:
    _fill(store, GONE, "101")
    with store.transaction() as db:
        db.execute("DELETE FROM kpi_stale")
    assert store.erasure.set_archived("101", True) == GONE
    assert GONE in store.kpi.stale_keys()
    assert _rows(store, "account_members", GONE) == 0
    assert store.accounts.dirty_marks(10) == ["company:77"]
    with store.transaction() as db:
        db.execute("DELETE FROM kpi_stale")
    store.erasure.set_archived("101", False)
    assert GONE in store.kpi.stale_keys()


def test_given_a_prune_the_leads_that_lost_activities_are_marked_for_the_report(
    store: StateStore,
) -> None:
    old = T0 - timedelta(days=900)
    store.store_page(
        contacts=[Contact("1", GONE, {"email": GONE}), Contact("2", KEPT, {"email": KEPT})],
        activities=[Activity("a", "page_view", old, "1", GONE, {}),
                    Activity("b", "page_view", T0, "2", KEPT, {})],
    )
    with store.transaction() as db:
        db.execute("DELETE FROM kpi_stale")
        db.execute("DELETE FROM dirty")
    assert store.erasure.prune_activities(["page_view"], (T0 - timedelta(days=30)).isoformat())
    assert store.kpi.stale_keys() == {GONE}
