"""Sales' first touches and the hand-offs they close, in the state database (migration 7
in `sync.state`): `sf_touches` holds each touch the outcome pull read (a completed Task, a
logged call, a Lead status change) of a known lead; `handoffs` one row per MQL episode with
its owner, its first touch (time and kind) and whether it was escalated (`sync.alerts`).

`refresh` derives hand-offs from what the store already holds (`mql_state`, `links`,
`sf_owners`, `sf_touches`): it is idempotent and cheap to call after each pull and before
escalating.
A hand-off's owner follows the record's owner until it is touched, then stays.

`StateStore.touches`: on the state store's `Database`, the same connection and transactions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from core.clock import Clock
from core.handoff import Handoff, Touch, first_touch
from sync.db import Database, Row
from sync.state_rows import parse, precise_iso, rows_in, seconds_iso


class TouchStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._now_iso = seconds_iso(clock)

    def save_touches(self, touches: Iterable[Touch]) -> int:
        """Store touches; one read again is kept as first stored. Returns how many rows."""
        rows = [
            (t.touch_id, t.lead_key, t.kind, t.record_id, precise_iso(t.touched_at),
             self._now_iso())
            for t in touches
        ]
        if not rows:
            return 0
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO sf_touches (touch_id, lead_key, kind, record_id, touched_at, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                rows,
            )
        return len(rows)

    def save_owners(self, owners: dict[str, str]) -> None:
        """Record Id -> OwnerId as the pull read it (the Leads the connector creates come
        back with the owner Salesforce's assignment gave them)."""
        if not owners:
            return
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO sf_owners VALUES (?, ?, ?) ON CONFLICT(record_id) DO UPDATE SET "
                "owner_id = excluded.owner_id, updated_at = excluded.updated_at",
                [(rid, owner, self._now_iso()) for rid, owner in sorted(owners.items())],
            )

    def lead_keys_by_record(self, record_ids: Iterable[str]) -> dict[str, set[str]]:
        """Record Id -> the known leads it belongs to: linked to it, or sharing the email
        the pull stored for it."""
        out: dict[str, set[str]] = {}
        ids = set(record_ids)
        for r in rows_in(self._db, "SELECT record_id, lead_key FROM links "
                         "WHERE record_id IN ({marks})", ids):
            out.setdefault(r[0], set()).add(r[1])
        for r in rows_in(
            self._db,
            "SELECT s.record_id, c.email FROM sf_records s JOIN contacts c ON c.email = s.email "
            "WHERE s.record_id IN ({marks})",
            ids,
        ):
            out.setdefault(r[0], set()).add(r[1])
        return out

    def lead_statuses(self, record_ids: Iterable[str]) -> dict[str, str]:
        """The status each of these Leads had when last pulled (absent: never pulled)."""
        return {
            r[0]: r[1]
            for r in rows_in(
                self._db,
                "SELECT record_id, status FROM sf_records WHERE sobject = 'Lead' AND "
                "status IS NOT NULL AND record_id IN ({marks})",
                record_ids,
            )
        }

    def refresh(self) -> None:
        """New hand-offs for the qualified MQL episodes, owners of untouched ones from their
        links, first touches of untouched ones from the stored touches."""
        with self._db.transaction() as db:
            known = {(r[0], int(r[1])) for r in db.execute(
                "SELECT lead_key, episode FROM handoffs")}
            new = [
                (r["lead_key"], int(r["episode"]), precise_iso(parse(r["since"])),
                 self._now_iso())
                for r in db.execute(
                    "SELECT lead_key, episode, since FROM mql_state "
                    "WHERE qualified = 1 AND since IS NOT NULL"
                )
                if (r["lead_key"], int(r["episode"])) not in known
            ]
            db.executemany(
                "INSERT INTO handoffs (lead_key, episode, mql_at, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                new,
            )
            db.execute(
                "UPDATE handoffs SET "
                "owner_id = COALESCE((SELECT o.owner_id FROM sf_owners o JOIN links l "
                "ON o.record_id = l.record_id WHERE l.lead_key = handoffs.lead_key), "
                "(SELECT owner_id FROM links WHERE links.lead_key = handoffs.lead_key)), "
                "sobject = (SELECT sobject FROM links WHERE links.lead_key = handoffs.lead_key), "
                "record_id = (SELECT record_id FROM links "
                "WHERE links.lead_key = handoffs.lead_key) "
                "WHERE (touched_at IS NULL OR owner_id IS NULL) "
                "AND lead_key IN (SELECT lead_key FROM links)"
            )
            untouched = [_handoff(r) for r in db.execute(
                "SELECT * FROM handoffs WHERE touched_at IS NULL")]
            touches: dict[str, list[Touch]] = {}
            for r in rows_in(db, "SELECT * FROM sf_touches WHERE lead_key IN ({marks})",
                             {h.lead_key for h in untouched}):
                touches.setdefault(r["lead_key"], []).append(_touch(r))
            updates = []
            for h in untouched:
                touch = first_touch(h.mql_at, touches.get(h.lead_key, ()))
                if touch is not None:
                    updates.append((precise_iso(touch.touched_at), touch.kind, self._now_iso(),
                                    h.lead_key, h.episode))
            db.executemany(
                "UPDATE handoffs SET touched_at = ?, touch_kind = ?, updated_at = ? "
                "WHERE lead_key = ? AND episode = ? AND touched_at IS NULL",
                updates,
            )

    def handoffs(self, since: datetime | None = None, until: datetime | None = None
                 ) -> list[Handoff]:
        """Hand-offs whose MQL moment is in [since, until), oldest first."""
        rows = [_handoff(r) for r in self._db.execute(
            "SELECT * FROM handoffs ORDER BY mql_at, lead_key, episode")]
        return [
            h for h in rows
            if (since is None or h.mql_at >= since) and (until is None or h.mql_at < until)
        ]

    def unescalated(self) -> list[Handoff]:
        """Untouched hand-offs not escalated yet."""
        return [_handoff(r) for r in self._db.execute(
            "SELECT * FROM handoffs WHERE touched_at IS NULL AND escalated_at IS NULL "
            "ORDER BY mql_at, lead_key, episode")]

    def mark_escalated(self, db: Database, keys: Iterable[tuple[str, int]]) -> None:
        """Inside the caller's transaction (with the escalation alerts' outbox rows)."""
        now = self._now_iso()
        db.executemany(
            "UPDATE handoffs SET escalated_at = ?, updated_at = ? "
            "WHERE lead_key = ? AND episode = ?",
            [(now, now, key, episode) for key, episode in keys],
        )


def _handoff(row: Row) -> Handoff:
    return Handoff(
        lead_key=row["lead_key"],
        episode=int(row["episode"]),
        mql_at=datetime.fromisoformat(row["mql_at"]),
        owner_id=row["owner_id"],
        sobject=row["sobject"],
        record_id=row["record_id"],
        touched_at=parse(row["touched_at"]),
        touch_kind=row["touch_kind"],
        escalated=row["escalated_at"] is not None,
    )


def _touch(row: Row) -> Touch:
    return Touch(
        touch_id=row["touch_id"],
        lead_key=row["lead_key"],
        kind=row["kind"],
        record_id=row["record_id"],
        touched_at=datetime.fromisoformat(row["touched_at"]),
    )
