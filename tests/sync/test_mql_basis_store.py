# ruff: noqa: F811  (pytest fixtures imported from test_state_postgres)
"""The MQL basis store on SQLite and PostgreSQL: written with the MQL decisions, read back,
purged by an erasure, moved with the survivor's MQL state by a merge; the migration that adds
it gives `kpi_facts` a verdict column and makes the next report rebuild the facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.models import Contact
from scoring import MqlState
from sync import state as state_module
from sync.db import SqliteTarget
from sync.mql_basis_store import MqlBasis
from sync.state import MIGRATIONS, StateStore
from tests.sync.test_state_postgres import pg_server, pg_url, store, target  # noqa: F401

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def basis(since: datetime, episode: int = 1, rule: str = "webinar_attended") -> MqlBasis:
    return MqlBasis(episode, since, frozenset({rule, "job_title"}),
                    {"industry": "製造業", "role": "manager"}, "v1")


def decide(store: StateStore, key: str, since: datetime, episode: int = 1) -> None:
    store.record_decisions({key: MqlState(episode, True, since, "mql")}, [], None, (),
                           {key: basis(since, episode)})


def test_given_a_new_episode_recorded_its_basis_reads_back_with_the_state(store) -> None:
    decide(store, "a@x.co.jp", T0)
    store.record_decisions({"b@x.co.jp": MqlState(0, False, None, None)}, [])
    assert store.mql_basis.bases_for(["a@x.co.jp", "b@x.co.jp"]) == {"a@x.co.jp": basis(T0)}
    decided = store.mql_states(["a@x.co.jp"])["a@x.co.jp"]
    assert decided.since == T0
    later = T0 + timedelta(days=40)
    decide(store, "a@x.co.jp", later, episode=2)
    assert store.mql_basis.bases_for(["a@x.co.jp"])["a@x.co.jp"] == basis(later, 2)


def test_given_an_erased_person_their_basis_is_purged(store) -> None:
    for n, key in enumerate(("gone@x.co.jp", "kept@x.co.jp")):
        store.upsert_contacts([Contact(f"10{n}", key, {"email": key}, None, T0)])
        decide(store, key, T0)
    store.erasure.erase(["100"], ["gone@x.co.jp"])
    assert set(store.mql_basis.bases_for(["gone@x.co.jp", "kept@x.co.jp"])) == {"kept@x.co.jp"}


@pytest.mark.parametrize("survivor_qualified", [True, False])
def test_given_a_merge_the_basis_goes_where_the_mql_state_goes(
    store, survivor_qualified: bool
) -> None:
    old, new = "old@x.co.jp", "new@x.co.jp"
    store.upsert_contacts([Contact("201", old, {"email": old}, None, T0),
                           Contact("202", new, {"email": new}, None, T0)])
    decide(store, old, T0)
    if survivor_qualified:
        decide(store, new, T0 + timedelta(days=1))
    else:  # an unqualified standing with a basis of an earlier episode
        decide(store, new, T0 - timedelta(days=90))
        store.record_decisions({new: MqlState(1, False, None, None)}, [])
    store.erasure.merge_into("201", "202")
    state = store.mql_states([new])[new]
    bases = store.mql_basis.bases_for([old, new])
    assert old not in bases
    assert bases[new].since == state.since  # the survivor's basis is its state's
    assert state.since == (T0 + timedelta(days=1) if survivor_qualified else T0)


def test_given_a_store_of_the_previous_schema_the_migration_adds_the_verdict_and_clears_the_hash(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    monkeypatch.setattr(state_module, "MIGRATIONS", MIGRATIONS[:-1])
    old = StateStore(SqliteTarget(path))
    with old.transaction() as db:
        db.executemany("INSERT INTO kpi_meta VALUES (?, ?)",
                       [("rules_hash", "abc"), ("as_of", "1"), ("dimensions", "industry")])
    old.close()
    monkeypatch.setattr(state_module, "MIGRATIONS", MIGRATIONS)
    store = StateStore(SqliteTarget(path))
    try:
        version = store._db.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        assert version == len(MIGRATIONS)
        assert "rules_hash" not in store.kpi.meta()  # `ensure_facts` rebuilds every lead
        columns = [r[1] for r in store._db.execute("PRAGMA table_info(kpi_facts)")]
        assert columns[-1] == "verdict"
    finally:
        store.close()
