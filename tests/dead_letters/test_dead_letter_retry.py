"""`connector dlq retry` (`app.dead_letters`) on each kind of dead letter: a lead's is marked
for the next run, an account's (`account:company:ID`) marks the account for the next
account pass (not a lead named "account:..."), and those without a lead (archive / erasure
policy writes) are left to the runs that retry them by themselves."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from app.dead_letters import retry_dead_letters, self_retried
from sync.state import StateStore

NOW = datetime(2026, 12, 7, 9, tzinfo=UTC)


def store_with_letters(tmp_path: Path) -> StateStore:
    store = StateStore(tmp_path / "state.db", clock=lambda: NOW)
    store.add_dead_letter(lead_key="a@example.co.jp", stage="write", code="X", message="m")
    store.add_dead_letter(lead_key="account:company:42", stage="account", code="INVALID_FIELD",
                          message="no such field")
    store.add_dead_letter(lead_key=None, stage="erase_in_salesforce", code="Y", message="m")
    return store


def test_given_every_kind_of_dead_letter_retry_all_marks_each_where_it_is_retried(
    tmp_path: Path,
) -> None:
    store = store_with_letters(tmp_path)
    done = retry_dead_letters(store, [], everything=True)
    assert done == ["a@example.co.jp", "account:company:42"]
    dirty = [r[0] for r in store._db.execute("SELECT ref FROM dirty")]
    assert dirty == ["e:a@example.co.jp"]  # no lead named "account:..."
    assert store.accounts.dirty_marks(10) == ["company:42"]
    assert [d["lead_key"] for d in store.dead_letters()] == [None]
    assert self_retried(store) == 1
    store.close()


def test_given_an_account_named_retry_marks_only_it(tmp_path: Path) -> None:
    store = store_with_letters(tmp_path)
    assert retry_dead_letters(store, ["account:company:42"], everything=False) == [
        "account:company:42"]
    assert store.accounts.dirty_marks(10) == ["company:42"]
    assert [d["lead_key"] for d in store.dead_letters()] == ["a@example.co.jp", None]
    store.close()
