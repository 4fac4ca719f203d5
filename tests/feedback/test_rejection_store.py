"""`sf_rejections` and `sf_field_checks` (sync.rejection_store) on SQLite and PostgreSQL
alike (set CONNECTOR_TEST_POSTGRES_URL)."""

from __future__ import annotations

from datetime import datetime

from core.outcomes import SalesforceRecord
from sync.state import MIGRATIONS, StateStore


def lead(record_id: str, email: str, reason: str | None) -> SalesforceRecord:
    return SalesforceRecord("Lead", record_id, email, "Closed - Not Converted",
                            rejection_reason=reason)  # fmt: skip


def test_given_the_rejection_migration_the_schema_is_at_the_last_version(
    store: StateStore,
) -> None:
    assert store._schema_version() == len(MIGRATIONS)


def test_given_reasons_saved_each_lead_key_gets_its_reason_and_a_cleared_one_disappears(
    store: StateStore,
) -> None:
    records = [lead("00Q1", "a@example.jp", "Competitor"), lead("00Q2", "b@example.jp", None),
               lead("00Q3", "c@example.jp", "Not now")]  # fmt: skip
    store.outcomes.save_salesforce_records(records)
    store.rejections.save_reasons(records)
    assert store.rejections.reasons_by_email(["a@example.jp", "b@example.jp", "c@example.jp"]) == {
        "a@example.jp": "Competitor",
        "c@example.jp": "Not now",
    }
    store.rejections.save_reasons([lead("00Q1", "a@example.jp", None)])  # sales cleared it
    assert store.rejections.reasons_by_email(["a@example.jp"]) == {}


def test_given_a_contact_record_no_reason_row_is_written(store: StateStore) -> None:
    contact = SalesforceRecord("Contact", "0031", "a@example.jp", None,
                               rejection_reason="Competitor")  # fmt: skip
    store.outcomes.save_salesforce_records([contact])
    store.rejections.save_reasons([contact])
    assert store.rejections.reasons_by_email(["a@example.jp"]) == {}


def test_given_a_field_check_it_is_read_back_case_insensitively_and_forgotten(
    store: StateStore,
) -> None:
    assert store.rejections.field_check("Lead", "Rejection_Reason__c") is None
    store.rejections.save_field_check("Lead", "Rejection_Reason__c", False)
    store.rejections.save_field_check("Lead", "rejection_reason__c", True)  # same field
    present, checked = store.rejections.field_check("Lead", "REJECTION_REASON__C") or (None, None)
    assert present is True and isinstance(checked, datetime) and checked.tzinfo is not None
    store.rejections.forget_field_check("Lead", "Rejection_Reason__c")
    assert store.rejections.field_check("Lead", "Rejection_Reason__c") is None
