"""The account roll-up's state (sync.account_store) and the account pass's write outcomes
(sync.account_pass) on SQLite and PostgreSQL: marks survive a passing failure, a refused
request becomes dead letters that say what to do, windows age accounts out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from core.errors import FatalAPIError
from scoring.account_schema import AccountSection
from scoring.accounts import AccountModel
from sync.account_pass import AccountPass
from sync.account_store import MemberRow, StoredAccount
from sync.db import PostgresTarget, SqliteTarget
from sync.state import MIGRATIONS, StateStore
from tests.sync.test_state_postgres import pg_server, pg_url  # noqa: F401 (fixtures)

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        opened = StateStore(SqliteTarget(tmp_path / "state.db"), clock=lambda: NOW)
    else:
        opened = StateStore(PostgresTarget(SecretStr(request.getfixturevalue("pg_url"))),
                            clock=lambda: NOW)
    yield opened
    opened.close()


def member(key: str, company: str | None, score: int = 10, title: str | None = None,
           days_ago: float | None = 1, domain: str | None = "example.co.jp") -> MemberRow:
    last = NOW - timedelta(days=days_ago) if days_ago is not None else None
    return MemberRow(key, company, domain, Decimal(score), title, last)


def test_given_members_noted_their_accounts_are_marked_once_and_unchanged_members_mark_nothing(
    store: StateStore,
) -> None:
    accounts = store.accounts
    assert accounts.note_members([member("a@x.jp", "1"), member("b@x.jp", "1"),
                                  member("c@free.jp", None, domain="y.co.jp")]) == 2
    assert accounts.dirty_marks(10) == ["company:1", "domain:y.co.jp"]
    accounts.clear_marks(["company:1", "domain:y.co.jp"])
    assert accounts.note_members([member("a@x.jp", "1")]) == 0
    # Moving a lead to another company marks both.
    assert accounts.note_members([member("a@x.jp", "2")]) == 2
    assert accounts.dirty_marks(10) == ["company:1", "company:2"]
    assert {m.lead_key for m in accounts.members(["1"], [])} == {"b@x.jp"}


def test_given_stored_accounts_they_round_trip_and_list_best_first(store: StateStore) -> None:
    rows = [StoredAccount(f"company:{n}", str(n), "x.co.jp", f"会社{n}", {"score": n},
                          "001000000000001AAA" if n == 2 else None, None,
                          {"Id": "x", "values": {"score": n}} if n == 2 else None, None, NOW)
            for n in (1, 3, 2)]
    store.accounts.save_accounts(rows)
    assert [a.account_key for a in store.accounts.top()] == ["company:3", "company:2",
                                                           "company:1"]
    got = store.accounts.accounts(["company:2"])["company:2"]
    assert got.sf_written == {"Id": "x", "values": {"score": 2}} and got.name == "会社2"
    store.accounts.drop_accounts(["company:3"])
    assert len(store.accounts.top()) == 2


def test_given_members_whose_last_activity_left_the_window_mark_aged_marks_their_accounts(
    store: StateStore,
) -> None:
    accounts = store.accounts
    accounts.note_members([member("in@x.jp", "1", days_ago=25), member("out@x.jp", "2",
                                                                       days_ago=40)])
    accounts.clear_marks(accounts.dirty_marks(10))
    # Between a pass 6 days ago and now, the 30-day window moved past 25..31 days.
    window = timedelta(days=30)
    assert accounts.mark_aged(NOW - timedelta(days=6) - window, NOW - window) == 0
    assert accounts.mark_aged(NOW - window, NOW + timedelta(days=6) - window) == 1
    assert accounts.dirty_marks(10) == ["company:1"]


def test_given_the_schema_the_account_tables_exist_at_the_last_migration(
    store: StateStore,
) -> None:
    assert store._schema_version() == len(MIGRATIONS)
    store.accounts.set_pass_values({"rules": "abc"})
    store.accounts.set_pass_values({"rules": "def"})
    assert store.accounts.pass_value("rules") == "def"
    assert store.accounts.pass_value("last_pass") is None


# ------------------------------------------------------------------ the pass's write outcomes
@dataclass
class Record:
    record_id: str
    name: str | None = "会社"
    owner_id: str | None = None


@dataclass
class Answer:
    success: bool
    retriable: bool = False
    errors: Sequence[Any] = ()


@dataclass
class FakeSalesforce:
    """Accounts found by domain; `fail` answers the next update calls."""

    fail: list[str] = field(default_factory=list)
    sent: list[list[Mapping[str, Any]]] = field(default_factory=list)

    def find(self, contact_ids: Sequence[str], domains: Sequence[str]) -> tuple[
            Mapping[str, Record], Mapping[str, Record]]:
        return {}, {d: Record("0015g0000000001AAA") for d in domains}

    def update(self, records: Sequence[Mapping[str, Any]]) -> list[Answer]:
        how = self.fail.pop(0) if self.fail else "ok"
        if how == "refused":
            raise FatalAPIError("Salesforce 400 INVALID_FIELD: No such column "
                                "'Buying_Group__c' on sobject of type Account", status=400,
                                error_code="INVALID_FIELD")
        self.sent.append(list(records))
        if how == "locked":
            return [Answer(False, True, [type("E", (), {"code": "UNABLE_TO_LOCK_ROW",
                                                        "message": "locked"})()])] * len(records)
        return [Answer(True)] * len(records)


def account_pass(store: StateStore, salesforce: FakeSalesforce) -> AccountPass:
    model = AccountModel.from_section(AccountSection(method="best", engaged_score=30))
    return AccountPass(store, model, salesforce=salesforce)


def noted(store: StateStore) -> None:
    store.accounts.note_members([member("a@x.jp", None, 40, domain="x.co.jp")])


def test_given_a_retriable_account_write_failure_the_mark_stays_and_the_next_run_writes_once(
    store: StateStore,
) -> None:
    salesforce = FakeSalesforce(fail=["locked"])
    noted(store)
    first = account_pass(store, salesforce).run(NOW)
    assert first["write_failures"] == 1 and first["salesforce_written"] == 0
    assert store.accounts.dirty_marks(10) == ["domain:x.co.jp"]
    assert store.dead_letters() == []
    second = account_pass(store, salesforce).run(NOW)
    assert second["salesforce_written"] == 1
    assert store.accounts.dirty_marks(10) == []
    third = account_pass(store, salesforce).run(NOW)
    assert third["accounts_computed"] == 0
    assert [len(call) for call in salesforce.sent] == [1, 1]  # the failed try, then once


def test_given_the_org_lacks_an_account_field_each_account_is_a_dead_letter_naming_it_and_setup(
    store: StateStore,
) -> None:
    noted(store)
    stats = account_pass(store, FakeSalesforce(fail=["refused"])).run(NOW)
    assert stats["write_failures"] == 1
    [letter] = store.dead_letters()
    assert letter["lead_key"] == "account:domain:x.co.jp"
    assert letter["code"] == "INVALID_FIELD"
    assert "Buying_Group__c" in letter["message"]
    assert "connector setup salesforce" in letter["message"]
