"""The alert outbox in the state database (table `alerts`, migration 6 in `sync.state`): one
row per (lead, MQL episode, channel), keyed `<lead>#mql<episode>#<channel>`, and one per
hand-off SLA breach and channel (the escalation, `sync.alerts`), keyed
`sla:<lead>:<episode>:<channel>`.

A row is written `pending` in the same transaction as the MQL episode that causes it
(`StateStore.record_decisions` calls `record`), so a crash can neither lose an alert (the
episode is stored only with its rows) nor double it (the key is the primary key: a rerun that
decides the same episode again inserts nothing). It becomes `sent` in a transaction of its own
right after the channel confirmed it, or, after `max_attempts` failed sends (or one
permanent refusal), `dead`, with the last error, and then shows in `connector status` and in
the dead-letter list (`dead_letters`, stage `alert <channel>`).

`StateStore.alerts`: on the state store's `Database`, the same connection and transactions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.clock import Clock
from sync.db import Database
from sync.state_rows import precise_iso, seconds_iso

PENDING, SENT, DEAD = "pending", "sent", "dead"


MQL, SLA = "mql", "sla"  # alert kinds: a new MQL; a hand-off not touched in time


def alert_key(lead_key: str, episode: int, channel: str, kind: str = MQL) -> str:
    if kind == SLA:
        return f"sla:{lead_key}:{episode}:{channel}"
    return f"{lead_key}#mql{episode}#{channel}"


@dataclass(frozen=True, slots=True)
class AlertIntent:
    """An alert decided (not yet sent): what the run knew when the episode started."""

    lead_key: str
    episode: int
    channel: str
    payload: Mapping[str, Any]
    kind: str = MQL

    @property
    def key(self) -> str:
        return alert_key(self.lead_key, self.episode, self.channel, self.kind)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    key: str
    lead_key: str
    episode: int
    channel: str
    payload: Mapping[str, Any]
    attempts: int


class AlertStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._now_iso = seconds_iso(clock)

    def record(self, db: Database, intents: Iterable[AlertIntent]) -> None:
        """Insert pending rows inside the caller's transaction (`record_decisions`); a key
        already there (sent or not) is left as it is."""
        now = self._now_iso()
        first_try = ""  # before every instant: due at the run's send, whatever its clock
        db.executemany(
            "INSERT INTO alerts (alert_key, lead_key, episode, channel, status, payload, "
            "attempts, next_at, last_error, created_at, updated_at, sent_at) "
            "VALUES (?, ?, ?, ?, 'pending', ?, 0, ?, NULL, ?, ?, NULL) ON CONFLICT DO NOTHING",
            [
                (i.key, i.lead_key, i.episode, i.channel,
                 json.dumps(dict(i.payload), ensure_ascii=False), first_try, now, now)
                for i in intents
            ],
        )

    def due(self, now: datetime, limit: int = 1000) -> list[OutboxRow]:
        """Pending rows whose backoff has passed at `now`, oldest first."""
        rows = self._db.execute(
            "SELECT alert_key, lead_key, episode, channel, payload, attempts FROM alerts "
            "WHERE status = 'pending' AND next_at <= ? ORDER BY created_at, alert_key LIMIT ?",
            (precise_iso(now), limit),
        )
        return [
            OutboxRow(r[0], r[1], int(r[2]), r[3], json.loads(r[4]), int(r[5])) for r in rows
        ]

    def mark_sent(self, key: str) -> None:
        """The channel confirmed: its own small transaction, right after the 2xx / 250."""
        with self._db.transaction() as db:
            db.execute(
                "UPDATE alerts SET status = 'sent', attempts = attempts + 1, sent_at = ?, "
                "updated_at = ?, last_error = NULL WHERE alert_key = ? AND status = 'pending'",
                (self._now_iso(), self._now_iso(), key),
            )

    def mark_failed(
        self, row: OutboxRow, error: str, *, next_at: datetime | None, lead_key: str
    ) -> None:
        """One more failed try: pending again from `next_at`, or, with `next_at` None, dead
        and in the dead-letter list (same transaction)."""
        now = self._now_iso()
        with self._db.transaction() as db:
            if next_at is not None:
                db.execute(
                    "UPDATE alerts SET attempts = attempts + 1, next_at = ?, last_error = ?, "
                    "updated_at = ? WHERE alert_key = ? AND status = 'pending'",
                    (precise_iso(next_at), error, now, row.key),
                )
                return
            db.execute(
                "UPDATE alerts SET status = 'dead', attempts = attempts + 1, last_error = ?, "
                "updated_at = ? WHERE alert_key = ? AND status = 'pending'",
                (error, now, row.key),
            )
            db.execute(
                "INSERT INTO dead_letters (lead_key, stage, code, message, fields, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (lead_key, f"alert {row.channel}", "ALERT_DEAD", error,
                 json.dumps([row.key]), now),
            )

    def mql_payload(self, lead_key: str, episode: int) -> Mapping[str, Any] | None:
        """What the MQL alert of this episode carried (any channel's); None: the episode was
        never alerted (decided by a backfill or a rescore, or before alerts were on)."""
        rows = self._db.execute(
            "SELECT alert_key, channel, payload FROM alerts WHERE lead_key = ? AND episode = ? "
            "ORDER BY alert_key",
            (lead_key, episode),
        )
        for key, channel, payload in rows:
            if key == alert_key(lead_key, episode, channel, MQL):
                return json.loads(payload)
        return None

    def counts(self) -> dict[str, int]:
        """Rows per status (every status present, zero when none)."""
        out = {PENDING: 0, SENT: 0, DEAD: 0}
        for status, count in self._db.execute(
            "SELECT status, count(*) FROM alerts GROUP BY status"
        ):
            out[status] = int(count)
        return out

    def dead(self) -> list[dict[str, Any]]:
        """Dead alerts: key, lead, channel, tries, last error, when."""
        rows = self._db.execute(
            "SELECT alert_key, lead_key, channel, attempts, last_error, updated_at FROM alerts "
            "WHERE status = 'dead' ORDER BY updated_at, alert_key"
        )
        return [dict(r) for r in rows]

    def statuses(self, lead_keys: Iterable[str] = ()) -> dict[str, str]:
        """alert_key -> status, of every row or of the leads `lead_keys`."""
        keys = sorted(set(lead_keys))
        if not keys:
            rows = self._db.execute("SELECT alert_key, status FROM alerts")
        else:
            marks = ",".join("?" * len(keys))
            rows = self._db.execute(
                f"SELECT alert_key, status FROM alerts WHERE lead_key IN ({marks})", keys
            )
        return {r[0]: r[1] for r in rows}
