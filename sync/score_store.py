"""Rule versions, each lead's latest score per track and the score history, in the state
database (the rule-versions migration in `sync.state`):

- `rule_version_events`: each promotion and rollback (who, when, why, from which version);
- `rule_versions`: one row per rule-set version met (`sync.rule_versions`): its files, when a
  run first used it, who recorded it when and why (`score promote`), and since when it runs
  as a shadow;
- `lead_scores`: per lead and track (`live`, `shadow`) the latest score, stage and MQL
  state with the version that made them; the shadow's MQL episodes live only here;
- `score_history`: a row per change (`sync.score_history`), never per run. Growth is bounded
  twice: a row only when the stage, MQL status, episode or version changed or the total
  moved by a point since the last row, and at most `HISTORY_KEEP` rows per lead and track
  (the oldest go first).

`StateStore.scores`: on the state store's `Database`, the same connection and transactions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core.clock import Clock
from scoring import MqlState
from sync.db import Database, Row
from sync.score_history import HistoryEntry, StoredScore
from sync.state_rows import chunks, parse, precise_iso, rows_in

if TYPE_CHECKING:
    from sync.rule_versions import Swap

LIVE = "live"
SHADOW = "shadow"
HISTORY_KEEP = 1000  # rows per lead and track


class ScoreStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    # ---------------------------------------------------------------- versions
    def record_version(
        self,
        version: str,
        manifest: Sequence[Mapping[str, Any]],
        at: datetime,
        *,
        shadow: bool = False,
        by: str | None = None,
        reason: str | None = None,
        promoted_from: str | None = None,
    ) -> None:
        """Note `version` (first seen at `at`); as a shadow: since `at` unless it already
        ran as one; with `by`/`reason`: recorded (promoted) at `at`."""
        with self._db.transaction() as db:
            _upsert_version(db, version, manifest, at, shadow=shadow, by=by, reason=reason,
                            promoted_from=promoted_from)

    def record_swap(self, swap: Swap) -> None:
        """A promotion or rollback (`sync.rule_versions.Swap`): both versions, the new one
        recorded with who, when, why and what it replaced, and the event (once per swap id,
        so finishing an interrupted swap twice records it once)."""
        with self._db.transaction() as db:
            _upsert_version(db, swap.previous, swap.previous_manifest, swap.at)
            _upsert_version(db, swap.version, swap.manifest, swap.at, by=swap.by,
                            reason=swap.reason, promoted_from=swap.previous)
            db.execute(
                "INSERT INTO rule_version_events (id, at, action, version, previous, "
                "recorded_by, reason) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (swap.id, precise_iso(swap.at), swap.action, swap.version, swap.previous,
                 swap.by, swap.reason),
            )

    def events(self) -> list[dict[str, Any]]:
        """Every promotion and rollback, oldest first."""
        rows = self._db.execute("SELECT * FROM rule_version_events ORDER BY at, id")
        return [dict(r) for r in rows]

    def version(self, version: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT * FROM rule_versions WHERE version = ?", (version,)
        ).fetchone()
        return None if row is None else _version_row(row)

    def live_since(self, version: str) -> str | None:
        """Since when `version` is live: when it was last promoted or put back, else when a
        run first used it; None when never met."""
        row = self.version(version)
        if row is None:
            return None
        return row["recorded_at"] or row["first_seen_at"]

    def versions(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM rule_versions ORDER BY first_seen_at, version")
        return [_version_row(r) for r in rows]

    # ---------------------------------------------------------------- latest scores
    def latest(self, lead_keys: Iterable[str], track: str) -> dict[str, StoredScore]:
        sql = "SELECT * FROM lead_scores WHERE lead_key IN ({marks}) AND track = ?"
        out: dict[str, StoredScore] = {}
        for row in rows_in(self._db, sql, lead_keys, _track(track)):
            out[row["lead_key"]] = _stored(row)
        return out

    def save(
        self,
        scores: Sequence[tuple[str, str, StoredScore]],
        entries: Sequence[tuple[str, str, HistoryEntry]],
    ) -> None:
        """Each (lead, track)'s latest score and the history entries of this batch, in one
        transaction; then the oldest rows beyond HISTORY_KEEP of those leads go."""
        if not scores and not entries:
            return
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO lead_scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(lead_key, track) DO UPDATE SET version = excluded.version, "
                "total = excluded.total, stage = excluded.stage, "
                "scored_stage = excluded.scored_stage, episode = excluded.episode, "
                "qualified = excluded.qualified, since = excluded.since, rule = excluded.rule, "
                "activities = excluded.activities, last_activity = excluded.last_activity, "
                "scored_at = excluded.scored_at, logged_total = excluded.logged_total",
                [
                    (
                        key, track, s.version, str(s.total), s.stage, s.scored_stage,
                        s.state.episode, int(s.state.qualified),
                        None if s.state.since is None else precise_iso(s.state.since),
                        s.state.rule, s.activities,
                        None if s.last_activity is None else precise_iso(s.last_activity),
                        precise_iso(s.scored_at), str(s.logged_total),
                    )
                    for key, track, s in scores
                ],
            )
            db.executemany(
                "INSERT INTO score_history (lead_key, track, at, version, total, stage, "
                "is_mql, episode, causes, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        key, track, precise_iso(e.at), e.version, str(e.total), e.stage,
                        int(e.is_mql), e.episode, json.dumps(list(e.causes)),
                        json.dumps(
                            {
                                "previous": e.previous,
                                "activities": e.activities,
                                "new_activities": e.new_activities,
                                **({"sales_outcome": e.sales_outcome}
                                   if e.sales_outcome is not None else {}),
                            },
                            ensure_ascii=False,
                        ),
                    )
                    for key, track, e in entries
                ],
            )
            self._prune(db, sorted({key for key, _, _ in entries}))

    @staticmethod
    def _prune(db: Database, keys: list[str]) -> None:
        for chunk in chunks(keys, 500):
            marks = ",".join("?" * len(chunk))
            db.execute(
                "DELETE FROM score_history WHERE id IN (SELECT id FROM (SELECT id, row_number() "
                "OVER (PARTITION BY lead_key, track ORDER BY id DESC) AS n FROM score_history "
                f"WHERE lead_key IN ({marks})) ranked WHERE n > ?)",
                [*chunk, HISTORY_KEEP],
            )

    # ---------------------------------------------------------------- history
    def history(self, lead_key: str, track: str = LIVE) -> list[dict[str, Any]]:
        """The lead's history rows under `track`, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM score_history WHERE lead_key = ? AND track = ? ORDER BY id",
            (lead_key, _track(track)),
        )
        return [
            {
                "at": r["at"],
                "version": r["version"],
                "total": r["total"],
                "stage": r["stage"],
                "is_mql": bool(r["is_mql"]),
                "episode": r["episode"],
                "causes": json.loads(r["causes"]),
                **json.loads(r["detail"]),
            }
            for r in rows
        ]

    def scored_since(self, track: str, since: datetime) -> set[str]:
        """Leads scored under `track` at or after `since`."""
        rows = self._db.execute(
            "SELECT lead_key FROM lead_scores WHERE track = ? AND scored_at >= ?",
            (_track(track), precise_iso(since)),
        )
        return {r[0] for r in rows}

    def mqls_since(self, track: str, since: datetime) -> dict[str, str]:
        """Leads that were MQL under `track` at any time from `since` on: MQL by the last row
        before `since`, or by a row after it. Lead key -> when (`since` for the former)."""
        stamp = precise_iso(since)
        out: dict[str, str] = {}
        for r in self._db.execute(
            "SELECT h.lead_key FROM score_history h WHERE h.track = ? AND h.is_mql = 1 AND "
            "h.id = (SELECT max(p.id) FROM score_history p WHERE p.lead_key = h.lead_key "
            "AND p.track = h.track AND p.at < ?)",
            (_track(track), stamp),
        ):
            out[r[0]] = stamp
        for r in self._db.execute(
            "SELECT lead_key, min(at) FROM score_history WHERE track = ? AND is_mql = 1 "
            "AND at >= ? GROUP BY lead_key",
            (_track(track), stamp),
        ):
            out.setdefault(r[0], r[1])
        return out


def _upsert_version(
    db: Database,
    version: str,
    manifest: Sequence[Mapping[str, Any]],
    at: datetime,
    *,
    shadow: bool = False,
    by: str | None = None,
    reason: str | None = None,
    promoted_from: str | None = None,
) -> None:
    stamp = precise_iso(at)
    db.execute(
        "INSERT INTO rule_versions (version, files, first_seen_at) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (version, json.dumps(list(manifest)), stamp),
    )
    if shadow:
        db.execute(
            "UPDATE rule_versions SET shadow_since = ? WHERE version = ? AND shadow_since IS NULL",
            (stamp, version),
        )
    if by is not None or reason is not None:
        db.execute(
            "UPDATE rule_versions SET recorded_at = ?, recorded_by = ?, reason = ?, "
            "promoted_from = ? WHERE version = ?",
            (stamp, by, reason, promoted_from, version),
        )


def _track(track: str) -> str:
    if track not in (LIVE, SHADOW):
        raise ValueError(f"unknown score track {track!r}")
    return track


def _stored(row: Row) -> StoredScore:
    return StoredScore(
        version=row["version"],
        total=Decimal(row["total"]),
        stage=row["stage"],
        scored_stage=row["scored_stage"],
        state=MqlState(row["episode"], bool(row["qualified"]), parse(row["since"]), row["rule"]),
        activities=row["activities"],
        last_activity=parse(row["last_activity"]),
        scored_at=datetime.fromisoformat(row["scored_at"]),
        logged_total=Decimal(row["logged_total"]),
    )


def _version_row(row: Row) -> dict[str, Any]:
    item = dict(row)
    item["files"] = json.loads(item["files"])
    return item
