"""Salesforce writes of the deletion policies that failed, kept until a run gets them through
(migration 8's `deletion_writes`), and the Leads the connector created (`created_leads`).

A write `sync.on_archive` or `sync.erase_in_salesforce` asks for (clear the MQL fields, set a
Lead's Status, clear the mapped fields, delete a created Lead) that Salesforce refuses or that
does not reach it becomes one row here and one open dead letter. The dead letter names the
lead by its HubSpot id and the Salesforce record id, never by address (after an erasure the
address is gone from the state; its `lead_key` is empty, so `dlq retry` does not list it: the
retry is automatic). Each run retries every row first (`sync.deletions`); a row that gets
through is removed and its dead letter resolved.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.clock import Clock
from sync.db import Database
from sync.state_rows import seconds_iso


@dataclass(frozen=True, slots=True)
class PendingWrite:
    id: int
    reason: str  # "archive" | "restore" | "erase"
    hubspot_id: str | None
    lead_key: str | None  # archive / restore only: the `written` values to record
    sobject: str
    record_id: str
    action: str  # "update" | "delete"
    fields: Mapping[str, Any]
    dead_letter: int | None


class DeletionWriteStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._now_iso = seconds_iso(clock)

    # ------------------------------------------------------------------ failed writes
    def failed(self, write: PendingWrite, *, code: str | None, message: str,
               fields: Iterable[str] = ()) -> None:
        """Keep a failed write for the next run with one open dead letter (a write already
        kept keeps its dead letter)."""
        with self._db.transaction() as db:
            if write.id:
                return
            rows = db.execute(
                "INSERT INTO dead_letters (lead_key, stage, code, message, fields, created_at) "
                "VALUES (NULL, ?, ?, ?, ?, ?) RETURNING id",
                (f"{write.reason} {write.sobject}", code, message, json.dumps(list(fields)),
                 self._now_iso()),
            ).fetchall()
            db.execute(
                "INSERT INTO deletion_writes (reason, hubspot_id, lead_key, sobject, record_id, "
                "action, fields, dead_letter, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (write.reason, write.hubspot_id, write.lead_key, write.sobject, write.record_id,
                 write.action, json.dumps(dict(write.fields), ensure_ascii=False),
                 int(rows[0][0]), self._now_iso()),
            )

    def pending(self) -> list[PendingWrite]:
        return [
            PendingWrite(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]),
                         r[8])
            for r in self._db.execute(
                "SELECT id, reason, hubspot_id, lead_key, sobject, record_id, action, fields, "
                "dead_letter FROM deletion_writes ORDER BY id"
            )
        ]

    def done(self, write: PendingWrite) -> None:
        """A kept write got through: gone, its dead letter resolved."""
        with self._db.transaction() as db:
            db.execute("DELETE FROM deletion_writes WHERE id = ?", (write.id,))
            if write.dead_letter is not None:
                db.execute("UPDATE dead_letters SET resolved = 1 WHERE id = ?",
                           (write.dead_letter,))

    def drop_for(self, record_id: str, reason: str) -> None:
        """Forget kept writes of `reason` for a record (a restore supersedes its archive)."""
        with self._db.transaction() as db:
            for (letter,) in db.execute(
                "SELECT dead_letter FROM deletion_writes WHERE record_id = ? AND reason = ?",
                (record_id, reason),
            ).fetchall():
                if letter is not None:
                    db.execute("UPDATE dead_letters SET resolved = 1 WHERE id = ?", (letter,))
            db.execute("DELETE FROM deletion_writes WHERE record_id = ? AND reason = ?",
                       (record_id, reason))

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM deletion_writes").fetchone()[0])

    # ------------------------------------------------------------------ created Leads
    def record_created(self, created: Iterable[tuple[str, str | None]]) -> None:
        """(Lead id, HubSpot contact id) of Leads the connector has just created."""
        rows = [(rid, hid, self._now_iso()) for rid, hid in created if rid]
        if not rows:
            return
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO created_leads VALUES (?, ?, ?) ON CONFLICT DO NOTHING", rows
            )

    def created_by_connector(self, record_ids: Iterable[str]) -> set[str]:
        ids = sorted(set(record_ids))
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {r[0] for r in self._db.execute(
            f"SELECT record_id FROM created_leads WHERE record_id IN ({marks})", ids
        )}

    def forget_created(self, record_id: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM created_leads WHERE record_id = ?", (record_id,))
