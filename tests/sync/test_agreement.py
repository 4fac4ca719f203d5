"""The agreement check: the connector's MQLs against Salesforce's, with the reason for each
difference (pure function; the store-backed version here against the per-lead check on
SQLite and PostgreSQL, and end to end in tests/e2e/test_outcomes)."""

from __future__ import annotations

from typing import Any

from core.outcomes import LeadOutcome
from sync.agreement import check_agreement


def shows(key: str, status: str | None, sobject: str = "Lead") -> LeadOutcome:
    return LeadOutcome(
        lead_key=key,
        sobject=sobject,
        record_id=f"id-{key}",
        email=key,
        status=None,
        is_converted=False,
        converted_at=None,
        converted_contact_id=None,
        mql_status=status,
    )


def reasons(report: Any) -> dict[str, str]:
    return {d.lead_key: d.reason for d in report.differences}


def test_given_both_sides_agree_there_is_no_difference() -> None:
    report = check_agreement(
        {"a": True, "b": False},
        {"a": shows("a", "MQL"), "b": shows("b", "Not MQL")},
        {"a": "MQL", "b": "Not MQL"},
    )
    assert report.agree
    assert (report.connector_mqls, report.salesforce_mqls, report.both) == (1, 1, 1)


def test_each_kind_of_difference_is_named() -> None:
    decisions = {
        "overwritten": True,  # wrote MQL, a user changed it
        "never": True,  # record there, never written (dead letter, dry run)
        "pending": True,  # last wrote Not MQL, qualified since
        "missing": True,  # no Salesforce record read
        "by-hand": False,  # never written, Salesforce says MQL
        "dropped": False,  # wrote MQL, dropped out since, not written yet
        "reverted": False,  # wrote Not MQL, someone set MQL
    }
    salesforce = {
        "overwritten": shows("overwritten", "Not MQL"),
        "never": shows("never", None, "Contact"),
        "pending": shows("pending", "Not MQL"),
        "by-hand": shows("by-hand", "MQL"),
        "dropped": shows("dropped", "MQL"),
        "reverted": shows("reverted", "MQL"),
        "sf-only-unknown": shows("sf-only-unknown", "MQL"),  # a lead never scored
    }
    written = {
        "overwritten": "MQL",
        "pending": "Not MQL",
        "dropped": "MQL",
        "reverted": "Not MQL",
    }
    report = check_agreement(decisions, salesforce, written)
    assert reasons(report) == {
        "overwritten": "changed_in_salesforce",
        "never": "never_written",
        "pending": "not_written_yet",
        "missing": "record_missing",
        "by-hand": "set_in_salesforce",
        "dropped": "not_written_yet",
        "reverted": "changed_in_salesforce",
        "sf-only-unknown": "set_in_salesforce",
    }
    # 412 vs 280 in miniature: both counts, and the records behind the gap
    assert (report.connector_mqls, report.salesforce_mqls) == (4, 4)
    assert (report.connector_only, report.salesforce_only, report.both) == (4, 4, 0)
    first = report.differences[0]
    assert (first.lead_key, first.record_id, first.connector_mql, first.salesforce_status) == (
        "by-hand", "id-by-hand", False, "MQL",
    )  # fmt: skip


def test_the_json_view_lists_every_difference_with_its_explanation() -> None:
    report = check_agreement({"a": True}, {"a": shows("a", "Not MQL")}, {"a": "MQL"})
    data = report.as_dict()
    assert data["agree"] is False
    assert data["by_reason"] == {"changed_in_salesforce": 1}
    (row,) = data["differences"]
    assert row["lead_key"] == "a" and row["sobject"] == "Lead" and row["record_id"] == "id-a"
    assert "overwritten by a user" in row["explanation"]


def test_a_custom_mql_value_is_respected() -> None:
    report = check_agreement(
        {"a": True}, {"a": shows("a", "Marketing Qualified")}, {}, mql_value="Marketing Qualified"
    )
    assert report.agree and report.both == 1


# ---------------------------------------------------------------- the store-backed check
def _fill(store: Any, seed: int = 5) -> None:
    """Leads with every shape the check distinguishes: linked records (of the lead's email or
    another, or missing), several records of one email showing MQL and not, no record,
    written values matching or not, decisions either way."""
    import random
    from datetime import UTC, datetime

    from core.models import Contact
    from core.outcomes import SalesforceRecord
    from sync.state import Link

    rng = random.Random(seed)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    keys = [f"p{n}@example.jp" for n in range(80)]
    store.upsert_contacts(Contact(str(n), k, {}, None, now) for n, k in enumerate(keys))
    records, links = [], []
    for n, key in enumerate(keys):
        for r in range(rng.choice((0, 1, 1, 2, 3))):
            records.append(SalesforceRecord(
                rng.choice(("Lead", "Contact")), f"r{n}-{r}", key,
                status=rng.choice(("Open", None)), mql_status=rng.choice(("MQL", None, "SQL")),
                created_at=now, modstamp=now))
        if rng.random() < 0.5:
            target = rng.choice([f"r{n}-0", f"r{rng.randrange(80)}-0", f"gone{n}"])
            links.append(Link(key, rng.choice(("Lead", "Contact")), target, None))
        if rng.random() < 0.5:
            store.record_written(key, "Lead", {"MQL_Status__c": rng.choice(("MQL", "None"))})
    store.outcomes.save_salesforce_records(records)
    store.save_links(links)
    with store._db.transaction() as db:
        db.executemany("INSERT INTO mql_state VALUES (?, 1, ?, NULL, NULL, ?)",
                       [(k, rng.choice((0, 1)), now.isoformat()) for k in keys
                        if rng.random() < 0.7] + [("only@state.jp", 1, now.isoformat())])


def _every_lead_in_python(store: Any) -> Any:
    """The check as it was before it was set-based: every lead's outcome read in Python."""
    from sync.agreement import _written
    from sync.outcomes import Funnel

    decisions = {k: s.qualified for k, s in store.mql_decisions().items()}
    keys = sorted(set(decisions) | set(store.all_lead_emails()))
    outcomes = store.outcomes.outcomes_for(keys)
    return check_agreement(decisions, outcomes, _written(store, keys, outcomes, Funnel()))


def _assert_set_based_equals_python(store: Any) -> None:
    from sync.agreement import agreement_from_store

    _fill(store)
    expected = _every_lead_in_python(store)
    assert expected.differences and expected.both  # the data has both kinds
    assert agreement_from_store(store).as_dict() == expected.as_dict()


def test_given_a_sqlite_store_the_set_based_check_equals_the_per_lead_check(tmp_path) -> None:
    from sync.state import StateStore

    store = StateStore(tmp_path / "state.db")
    _assert_set_based_equals_python(store)
    store.close()


def test_given_postgresql_the_set_based_check_equals_the_per_lead_check() -> None:
    import os
    import uuid

    import pytest

    url = os.environ.get("CONNECTOR_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL")
    import psycopg
    from pydantic import SecretStr

    from sync.db import PostgresTarget
    from sync.state import StateStore

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in url else "?"
        scoped = f"{url}{sep}options=-csearch_path%3D{schema}"
        store = StateStore(PostgresTarget(url=SecretStr(scoped)))
        _assert_set_based_equals_python(store)
        store.close()
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
