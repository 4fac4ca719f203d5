"""Why sales rejected a Lead, in the state database (`sf_rejections`, the rejection-feedback
migration in `sync.state`): the value of the reason field named in `mappings/funnel.toml`
`[rejection] reason_field`, as the outcome pull's Lead query read it (no extra call).

`StateStore.rejections`: on the state store's `Database`, the same connection and
transactions. A Lead read again with the reason cleared keeps a row with `reason` NULL.

`sf_field_checks`: whether the org has the reason field, from a describe of Lead, and when
that was checked (`sync.outcomes.OutcomeSync` reads the field only when it is there).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from core.clock import Clock
from core.outcomes import SalesforceRecord
from sync.db import Database
from sync.state_rows import IN_CHUNK, chunks, seconds_iso


class RejectionStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._now_iso = seconds_iso(clock)

    def save_reasons(self, records: Iterable[SalesforceRecord]) -> None:
        """Upsert the reason of each pulled Lead (None clears it)."""
        rows = [
            (r.record_id, r.rejection_reason, self._now_iso())
            for r in records
            if r.sobject == "Lead"
        ]
        if not rows:
            return
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO sf_rejections VALUES (?, ?, ?) ON CONFLICT(record_id) DO UPDATE "
                "SET reason = excluded.reason, updated_at = excluded.updated_at",
                rows,
            )

    def reasons_by_email(self, emails: Iterable[str]) -> dict[str, str]:
        """Lead key -> the reason on one of the person's Leads (the latest updated; ties by
        record id); leads without one are absent."""
        out: dict[str, tuple[str, str, str]] = {}
        for chunk in chunks(sorted(set(emails)), IN_CHUNK):
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                "SELECT r.email, j.reason, j.updated_at, r.record_id FROM sf_records r "
                "JOIN sf_rejections j ON j.record_id = r.record_id "
                f"WHERE j.reason IS NOT NULL AND r.email IN ({marks})",
                chunk,
            ):
                email, reason, updated, record = row[0], row[1], row[2], row[3]
                known = out.get(email)
                if known is None or (updated, record) > (known[1], known[2]):
                    out[email] = (reason, updated, record)
        return {key: value[0] for key, value in out.items()}

    def field_check(self, sobject: str, name: str) -> tuple[bool, datetime] | None:
        """Whether `sobject.name` was found in the org's describe, and when; None: never
        checked. Names compare case-insensitively, as Salesforce's do."""
        for row in self._db.execute(
            "SELECT present, checked_at FROM sf_field_checks WHERE sobject = ? AND field = ?",
            (sobject, name.lower()),
        ):
            return bool(row[0]), datetime.fromisoformat(row[1])
        return None

    def save_field_check(self, sobject: str, name: str, present: bool) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO sf_field_checks VALUES (?, ?, ?, ?) "
                "ON CONFLICT(sobject, field) DO UPDATE "
                "SET present = excluded.present, checked_at = excluded.checked_at",
                (sobject, name.lower(), int(present), self._now_iso()),
            )

    def forget_field_check(self, sobject: str, name: str) -> None:
        with self._db.transaction() as db:
            db.execute(
                "DELETE FROM sf_field_checks WHERE sobject = ? AND field = ?",
                (sobject, name.lower()),
            )
