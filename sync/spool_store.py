"""A large backfill's Salesforce-side bookkeeping in the state database (the tables of
migration 5 in `sync.state`, used by `sync.pipeline` and `sync.salesforce_writes`): the write
spool (planned record writes, flushed at the end as Bulk API jobs), the Salesforce identity
snapshot read by Bulk API query jobs, and the memo of leads Salesforce had no record for.

`StateStore.spool`: on the state store's `Database`, so the same connection and the same
write transactions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from core.clock import Clock
from core.plan import RecordWrite
from sync.db import Database
from sync.state_rows import column_in, iso, rows_in, seconds_iso


class SpoolStore:
    """The write spool, identity snapshot and no-match memo of one state database.

    `defer(db, lead_keys)` marks leads for the next run inside the caller's transaction (the
    state store's, as `StateStore.clear_dirty` does with its `defer`): `unspool` drops sent
    writes and defers the leads to retry in one transaction.
    """

    def __init__(
        self, db: Database, clock: Clock, defer: Callable[[Database, Iterable[str]], None]
    ) -> None:
        self._db = db
        self._now_iso = seconds_iso(clock)
        self._defer = defer

    def spool_writes(self, writes: Iterable[RecordWrite]) -> None:
        """Planned record writes, kept until `unspool` (one row per lead: the latest wins)."""
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO write_spool VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(lead_key) DO "
                "UPDATE SET sobject = excluded.sobject, record_id = excluded.record_id, "
                "external_id = excluded.external_id, fields = excluded.fields, "
                "spooled_at = excluded.spooled_at",
                [
                    (
                        w.lead_key,
                        w.sobject,
                        w.record_id,
                        w.external_id,
                        json.dumps(dict(w.fields), ensure_ascii=False, default=_iso_default),
                        self._now_iso(),
                    )
                    for w in writes
                ],
            )

    def spooled(
        self, limit: int, after: str = "", *, sobject: str | None = None, create: bool | None = None
    ) -> list[RecordWrite]:
        """Up to `limit` spooled writes with lead_key > `after`, in lead_key order; only of
        `sobject` and only creates (`create=True`) or updates (False) when given."""
        sql = "SELECT * FROM write_spool WHERE lead_key > ?"
        params: list[Any] = [after]
        if sobject is not None:
            sql += " AND sobject = ?"
            params.append(sobject)
        if create is not None:
            sql += " AND record_id IS NULL" if create else " AND record_id IS NOT NULL"
        rows = self._db.execute(sql + " ORDER BY lead_key LIMIT ?", (*params, limit))
        return [
            RecordWrite(
                r["lead_key"],
                r["sobject"],
                r["record_id"],
                json.loads(r["fields"]),
                r["external_id"],
            )
            for r in rows
        ]

    def spool_kinds(self) -> list[tuple[str, bool]]:
        """(sobject, is_create) of the spooled writes: updates first, then creates."""
        rows = self._db.execute(
            "SELECT DISTINCT sobject, record_id IS NULL FROM write_spool ORDER BY 2, 1"
        )
        return [(r[0], bool(r[1])) for r in rows]

    def spool_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM write_spool").fetchone()[0])

    def unspool(self, lead_keys: Iterable[str], *, defer: Iterable[str] = ()) -> None:
        """Drop sent writes from the spool; `defer` as in `StateStore.clear_dirty`."""
        with self._db.transaction() as db:
            db.executemany("DELETE FROM write_spool WHERE lead_key = ?", [(k,) for k in lead_keys])
            self._defer(db, defer)

    def save_snapshot(
        self, rows: Iterable[tuple[str, str, str, str | None, Mapping[str, Any]]]
    ) -> None:
        """(lead_key, sobject, record_id, owner_id, current values) of matched leads."""
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO sf_snapshot VALUES (?, ?, ?, ?, ?) ON CONFLICT(lead_key) DO UPDATE "
                "SET sobject = excluded.sobject, record_id = excluded.record_id, "
                "owner_id = excluded.owner_id, current = excluded.current",
                (
                    (k, o, i, w, json.dumps(dict(c), ensure_ascii=False, default=str))
                    for k, o, i, w, c in rows
                ),
            )

    def snapshot(
        self, lead_keys: Iterable[str]
    ) -> dict[str, tuple[str, str, str | None, dict[str, Any]]]:
        rows = rows_in(self._db, "SELECT * FROM sf_snapshot WHERE lead_key IN ({marks})", lead_keys)
        return {
            r["lead_key"]: (r["sobject"], r["record_id"], r["owner_id"], json.loads(r["current"]))
            for r in rows
        }

    def no_match_since(self, lead_keys: Iterable[str], since: datetime) -> set[str]:
        """The leads found without a Salesforce record at or after `since`."""
        sql = "SELECT lead_key FROM sf_no_match WHERE lead_key IN ({marks}) AND checked_at >= ?"
        return column_in(self._db, sql, lead_keys, iso(since))

    def set_no_match(self, unmatched: Iterable[str], matched: Iterable[str], at: datetime) -> None:
        """Remember `unmatched` as checked at `at`; forget `matched`."""
        checked_at = iso(at)
        with self._db.transaction() as db:  # rows streamed: a backfill passes a million keys
            db.executemany(
                "INSERT INTO sf_no_match VALUES (?, ?) ON CONFLICT(lead_key) DO UPDATE SET "
                "checked_at = excluded.checked_at",
                ((k, checked_at) for k in unmatched),
            )
            db.executemany("DELETE FROM sf_no_match WHERE lead_key = ?", ((k,) for k in matched))

    def clear_snapshot(self) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM sf_snapshot")


def _iso_default(value: Any) -> str:
    """JSON for the values a write plan may hold besides JSON's own: dates and times."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot store a {type(value).__name__} in the write spool")
