"""The agreement check: the connector's MQLs against Salesforce's, with the reason for each
difference (pure function; the store-backed version is covered in tests/e2e/test_outcomes)."""

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
