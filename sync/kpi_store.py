"""Per-lead KPI facts in the state store, and the report's numbers computed from them with
set-based SQL (GROUP BY on SQLite and PostgreSQL alike): `StateStore.kpi`.

Tables (migration "kpi facts" in `sync.state.MIGRATIONS`):

- `kpi_facts`: one row per lead as the replay under the current rules found it at the
  facts' moment (`kpi_meta.as_of`): creation, channel, first MQL, first interest / comparison
  stage, the Salesforce outcome as `app.kpi_report.outcome_of` reads it; instants are epoch
  microseconds (exact integer differences for the durations), and the ISO week / month labels
  of the instants the report groups by are stored beside them (`kpi.compute.period_label`);
  `segkey` is the segment values in the rules' dimension order, joined by U+001F, so one
  GROUP BY yields every breakdown and Python folds the few thousand groups; `verdict` is
  sales' verdict on the lead ('rejected' / 'accepted' / NULL, `sync.outcomes.lead_verdict`),
  which the report's rejection table selects its leads by (`app.feedback`);
- `kpi_segments`: the same values one row per dimension (the channel too), for filters,
  medians per segment and drill-downs;
- `kpi_engagement`: per lead and week / month label, the distinct engagement counts
  (`app.kpi_report.engagement_by_period`); summing them over leads is the report's count,
  distinctness being per lead;
- `kpi_stale`: dirty marks (`sync.lead_refs`) a run cleared and leads whose MQL decision it
  recorded since the facts were refreshed (written in the same transactions,
  `StateStore.clear_dirty` / `record_decisions`); with the marks still in `dirty`, the leads
  whose facts may be out of date;
- `kpi_meta`: the rules' content hash, the latest facts' moment and the dimensions, the
  facts' `generation` (new at every full rebuild) and `changes_floor` (see below);
- `kpi_changes`: the change log an in-process copy of the facts (`sync.kpi_mirror`) follows:
  every lead whose facts a write replaced or deleted, one row per lead and write, with a
  monotonically increasing `seq`, in the write's own transaction. A full rebuild empties it
  and starts a new `generation` (a copy of another generation reloads in full); once it
  holds more than `CHANGES_KEPT` rows the oldest are pruned and `changes_floor` records the
  last pruned `seq` (a copy that is further behind reloads in full).

Each facts row also carries `facts_at` (the report end it was replayed to) and `valid_until`
(the last moment time alone leaves it true, `app.kpi_report.facts_valid_until`): the row
holds for a report ending at any `until` in [facts_at, valid_until] while no new data
arrives (new data marks the lead stale).

Nothing here replays a lead: `app.kpi_facts` does, and writes the rows through `write_facts`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.clock import Clock
from sync.db import Database
from sync.lead_refs import CONTACT_PREFIX, EMAIL_PREFIX, email_ref
from sync.state_rows import chunks

BATCH = 5000  # leads per write transaction of a refresh or rebuild
CHANGES_KEPT = 200_000  # rows of `kpi_changes` kept after a prune (about a day at 1M leads)
SEP = "\x1f"  # between the segment values of `segkey`
MQL_TASK_PREFIX = "mql:"  # connector keys of the MQL follow-up Tasks (the hand-offs)
_US = 1_000_000
_DAY_US = 86_400 * _US

FACT_COLUMNS = (
    "lead_key",
    "hubspot_id",
    "created",
    "created_month",
    "created_week",
    "channel",
    "segkey",
    "first_mql",
    "mql_month",
    "mql_week",
    "first_interest",
    "interest_month",
    "interest_week",
    "first_comparison",
    "has_outcome",
    "sql_flag",
    "sql_at",
    "opportunity_at",
    "won_at",
    "lost_at",
    "amount",
    "facts_at",
    "valid_until",
    "verdict",  # sales' verdict (`sync.outcomes.lead_verdict`), for the rejection table
)
ENGAGEMENT_COLUMNS = (
    "lead_key",
    "period",
    "label",
    "delivered",
    "opened",
    "clicked",
    "registered",
    "attended",
    "downloads",
)
FUNNEL_METRICS = ("new_leads", "mqls", "sqls", "opportunities", "won", "lost", "new_mqls",
                  "handoffs")
# The speed-to-lead table's breaches of an owner: late or never, never (open), late (closed).
SLA_METRICS = {
    "sla_breaches": ("open", "closed"),
    "sla_breaches_open": ("open",),
    "sla_breaches_closed": ("closed",),
}
METRICS = (*FUNNEL_METRICS, *SLA_METRICS)


def micros(moment: datetime | None) -> int | None:
    """An instant as integer epoch microseconds (exact)."""
    if moment is None:
        return None
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def from_micros(value: int | None) -> datetime | None:
    if value is None:
        return None
    from datetime import timedelta

    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(value))


# A lead's Salesforce owner: the OwnerId the last outcome pull read for its linked record
# (`sf_owners`: a Lead the connector created gets its owner from Salesforce's assignment, and
# sales reassign records), else the one stored with the link (`StateStore.lead_owners`).
OWNERS_SQL = (
    "SELECT l.lead_key, COALESCE(o.owner_id, l.owner_id) AS owner_id FROM links l "
    "LEFT JOIN sf_owners o ON o.record_id = l.record_id"
)


@dataclass(frozen=True, slots=True)
class Filters:
    """Which leads count: a segment (dimension, value) and/or a Salesforce owner id (as
    `OWNERS_SQL` reads it); `cell` a second segment on top (a drill-down into a segment
    table's row: the value "unknown" is the leads without one, as the facts store them)."""

    segment: tuple[str, str] | None = None
    owner: str | None = None
    cell: tuple[str, str] | None = None

    def where(self) -> tuple[str, list[Any]]:
        parts, params = ["1 = 1"], []
        for segment in (self.segment, self.cell):
            if segment is not None:
                parts.append(
                    "EXISTS (SELECT 1 FROM kpi_segments s WHERE s.lead_key = k.lead_key "
                    "AND s.dimension = ? AND s.value = ?)"
                )
                params += list(segment)
        if self.owner is not None:
            parts.append(
                f"k.lead_key IN (SELECT lead_key FROM ({OWNERS_SQL}) w WHERE w.owner_id = ?)"
            )
            params.append(self.owner)
        return " AND ".join(parts), params


@dataclass(frozen=True, slots=True)
class LeadRow:
    """One line of a drill-down: a lead's stored facts and the moment counted (epoch
    microseconds)."""

    lead_key: str
    hubspot_id: str | None
    created: int
    first_mql: int | None
    at: int


@dataclass(frozen=True, slots=True)
class Window:
    since: int  # epoch microseconds
    until: int
    period: str  # "week" | "month"
    labels: tuple[str, ...]  # the window's period labels


class KpiStore:
    """Reads and writes of the KPI facts tables on the state store's connection."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._written: set[str] = set()

    # ------------------------------------------------------------------ staleness
    def mark(self, db: Database, refs: Iterable[str]) -> None:
        """Inside the caller's transaction: these leads' facts may be out of date."""
        db.executemany(
            "INSERT INTO kpi_stale VALUES (?) ON CONFLICT DO NOTHING", [(r,) for r in refs]
        )

    def mark_keys(self, db: Database, lead_keys: Iterable[str]) -> None:
        self.mark(db, (email_ref(k) for k in lead_keys))

    def stale_keys(self) -> set[str]:
        """Lead keys whose facts may be out of date: marks a run cleared or decided since the
        last refresh, and marks still waiting in `dirty` (stored, not yet processed)."""
        refs = [r[0] for r in self._db.execute("SELECT ref FROM kpi_stale")]
        refs += [r[0].lstrip("~") for r in self._db.execute("SELECT ref FROM dirty")]
        keys = {r[len(EMAIL_PREFIX) :] for r in refs if r.startswith(EMAIL_PREFIX)}
        contact_ids = sorted(
            {r[len(CONTACT_PREFIX) :] for r in refs if r.startswith(CONTACT_PREFIX)}
        )
        for chunk in chunks(contact_ids, 500):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT email FROM contacts WHERE hubspot_id IN ({marks}) AND email IS NOT NULL",
                chunk,
            )
            keys.update(r[0] for r in rows)
        return keys

    def stale_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM kpi_stale").fetchone()[0])

    def expired_keys(self, until: int) -> set[str]:
        """Lead keys whose stored facts do not hold for a report ending at `until` (epoch
        microseconds): computed after it, or time alone may have changed them by then
        (indexed on `valid_until` and `facts_at`)."""
        rows = self._db.execute(
            "SELECT lead_key FROM kpi_facts WHERE valid_until < ? UNION "
            "SELECT lead_key FROM kpi_facts WHERE facts_at > ?",
            (until, until),
        )
        return {r[0] for r in rows}

    def meta(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._db.execute("SELECT name, value FROM kpi_meta")}

    def fact_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM kpi_facts").fetchone()[0])

    # ------------------------------------------------------------------ writing
    def write_facts(
        self,
        facts: Iterable[tuple[Sequence[Any], Sequence[tuple[str, str]], Sequence[Sequence[Any]]]],
        *,
        keys: Iterable[str] | None,
        meta: Mapping[str, str],
        batch: int | None = None,
        resume: bool = False,
    ) -> int:
        """Replace the facts of `keys` (None: of every lead, a rebuild) with `facts` (fact
        row, segment pairs, engagement rows per lead, by lead key order for a rebuild) and
        set `meta`. Returns the number of leads written.

        Never one long write transaction (it would block a running sync): every `batch`
        leads are committed on their own. A refresh of `keys` deletes and rewrites each
        batch's leads in its transaction (a reader between two batches sees each lead
        either old or new). A rebuild first empties the tables and records a cursor
        (`rebuild_cursor`, the last lead key committed) with each batch; the rules' hash is
        set only at the end, so after a crash the next report resumes after the cursor
        (`resume=True`, `rebuild_state`) instead of starting over. Only the stale marks
        present when the refresh started are cleared: marks a run adds meanwhile stay."""
        batch = batch or BATCH
        marks_seen = [r[0] for r in self._db.execute("SELECT ref FROM kpi_stale")]
        if keys is None and not resume:
            with self._db.transaction() as db:
                for table in ("kpi_facts", "kpi_segments", "kpi_engagement"):
                    db.execute(f"DELETE FROM {table}")
                db.execute("DELETE FROM kpi_meta")
                db.execute("DELETE FROM kpi_changes")
                db.executemany(
                    "INSERT INTO kpi_meta VALUES (?, ?)",
                    [
                        ("rebuild_hash", meta["rules_hash"]),
                        ("rebuild_cursor", ""),
                        ("generation", uuid.uuid4().hex),
                    ],
                )
        written = 0
        pending: list[Any] = []

        def commit(items: list[Any]) -> int:
            with self._db.transaction() as db:
                if keys is not None:
                    self._delete(db, [i[0][0] for i in items])
                count = self._insert(db, items)
                self._log(db, [i[0][0] for i in items])
                if keys is None and items:
                    db.execute(
                        "UPDATE kpi_meta SET value = ? WHERE name = 'rebuild_cursor'",
                        (items[-1][0][0],),
                    )
            return count

        for item in facts:
            pending.append(item)
            if len(pending) >= batch:
                written += commit(pending)
                pending = []
        written += commit(pending)
        with self._db.transaction() as db:
            if keys is not None:  # leads that have no facts any more (e.g. archived)
                gone = sorted(set(keys) - set(self._written))
                self._delete(db, gone)
                self._log(db, gone)
            self._prune_changes(db)
            for chunk in chunks(marks_seen, 500):
                db.execute(
                    f"DELETE FROM kpi_stale WHERE ref IN ({','.join('?' * len(chunk))})", chunk
                )
            db.execute("DELETE FROM kpi_meta WHERE name IN ('rebuild_hash', 'rebuild_cursor')")
            db.executemany(
                "INSERT INTO kpi_meta VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
                "SET value = excluded.value",
                list(meta.items()),
            )
        self._written = set()
        return written

    def rebuild_state(self) -> tuple[str, str] | None:
        """(rules hash, last lead key written) of a rebuild that did not finish; None."""
        meta = self.meta()
        if "rebuild_cursor" not in meta:
            return None
        return meta.get("rebuild_hash", ""), meta["rebuild_cursor"]

    def changes_since(self, seq: int) -> tuple[int, list[str]]:
        """(the last `seq` logged, the lead keys whose facts changed after `seq`)."""
        rows = self._db.execute(
            "SELECT seq, lead_key FROM kpi_changes WHERE seq > ? ORDER BY seq", (seq,)
        ).fetchall()
        last = int(rows[-1][0]) if rows else self.last_change()
        return last, sorted({r[1] for r in rows})

    def last_change(self) -> int:
        row = self._db.execute("SELECT max(seq) FROM kpi_changes").fetchone()
        return int(row[0] or 0)

    @staticmethod
    def _log(db: Database, keys: Sequence[str]) -> None:
        db.executemany("INSERT INTO kpi_changes (lead_key) VALUES (?)", [(k,) for k in keys])

    @staticmethod
    def _prune_changes(db: Database) -> None:
        low, high = db.execute("SELECT min(seq), max(seq) FROM kpi_changes").fetchone()
        if low is None or int(high) - int(low) < 2 * CHANGES_KEPT:
            return
        floor = int(high) - CHANGES_KEPT
        db.execute("DELETE FROM kpi_changes WHERE seq <= ?", (floor,))
        db.execute(
            "INSERT INTO kpi_meta VALUES ('changes_floor', ?) ON CONFLICT(name) DO UPDATE "
            "SET value = excluded.value",
            (str(floor),),
        )

    @staticmethod
    def _delete(db: Database, keys: Sequence[str]) -> None:
        for chunk in chunks(list(keys), 500):
            marks = ",".join("?" * len(chunk))
            for table in ("kpi_facts", "kpi_segments", "kpi_engagement"):
                db.execute(f"DELETE FROM {table} WHERE lead_key IN ({marks})", chunk)

    def _insert(self, db: Database, items: list[Any]) -> int:
        if not items:
            return 0
        self._written.update(i[0][0] for i in items)
        marks = ",".join("?" * len(FACT_COLUMNS))
        db.executemany(f"INSERT INTO kpi_facts VALUES ({marks})", [i[0] for i in items])
        db.executemany(
            "INSERT INTO kpi_segments VALUES (?, ?, ?)",
            [(i[0][0], d, v) for i in items for d, v in i[1]],
        )
        marks = ",".join("?" * len(ENGAGEMENT_COLUMNS))
        db.executemany(
            f"INSERT INTO kpi_engagement VALUES ({marks})", [row for i in items for row in i[2]]
        )
        return len(items)

    # ------------------------------------------------------------------ aggregation
    def _leads(self, filters: Filters) -> tuple[str, list[Any]]:
        where, params = filters.where()
        return f"k AS (SELECT * FROM kpi_facts k WHERE {where})", params

    @staticmethod
    def _steps(u: int) -> str:
        """Per lead, how far it got by the report's end `u` (as `kpi.compute._steps`)."""

        def by_end(col: str) -> str:
            return f"({col} IS NOT NULL AND {col} <= {u})"

        m = by_end("first_mql")
        o = f"({m} AND has_outcome = 1)"
        opp = f"({o} AND ({by_end('opportunity_at')} OR {by_end('won_at')} OR {by_end('lost_at')}))"
        sql = f"({o} AND ({opp} OR (sql_flag = 1 AND sql_at IS NULL) OR {by_end('sql_at')}))"
        moment = (
            f"CASE WHEN NOT {o} THEN NULL WHEN {by_end('opportunity_at')} THEN opportunity_at "
            f"WHEN {by_end('won_at')} THEN won_at WHEN {by_end('lost_at')} THEN lost_at END"
        )
        return (
            f"s AS (SELECT k.*, CASE WHEN {m} THEN 1 ELSE 0 END AS m, "
            f"CASE WHEN {sql} THEN 1 ELSE 0 END AS q, CASE WHEN {opp} THEN 1 ELSE 0 END AS o, "
            f"CASE WHEN {o} AND {by_end('won_at')} THEN 1 ELSE 0 END AS w, "
            f"CASE WHEN {o} AND NOT {by_end('won_at')} AND {by_end('lost_at')} THEN 1 ELSE 0 END "
            f"AS l, {moment} AS opp_moment FROM k)"
        )

    def cohort(self, window: Window, filters: Filters) -> list[tuple[Any, ...]]:
        """Leads created in the window, per (period label, segkey, channel, month): new
        leads, MQLs, SQLs, opportunities, won, lost, to-MQL count and sum (microseconds),
        MQL-to-opportunity count and sum."""
        sql, params = self._cohort_sql(window, filters)
        return [tuple(r) for r in self._db.execute(sql, params)]

    def _cohort_sql(self, window: Window, filters: Filters) -> tuple[str, list[Any]]:
        leads, params = self._leads(filters)
        since, until, p = int(window.since), int(window.until), _period(window.period)
        to_mql = "CASE WHEN first_mql > created THEN first_mql - created ELSE 0 END"
        to_opp = "opp_moment - first_mql"
        has_opp = "m = 1 AND opp_moment IS NOT NULL AND opp_moment >= first_mql"
        sql = (
            f"WITH {leads}, {self._steps(until)} "
            f"SELECT created_{p}, segkey, channel, created_month, count(*), sum(m), sum(q), "
            f"sum(o), sum(w), sum(l), sum(CASE WHEN m = 1 THEN {to_mql} ELSE 0 END), "
            f"sum(CASE WHEN {has_opp} THEN 1 ELSE 0 END), "
            f"sum(CASE WHEN {has_opp} THEN {to_opp} ELSE 0 END) "
            f"FROM s WHERE created >= {since} AND created < {until} "
            f"GROUP BY created_{p}, segkey, channel, created_month"
        )
        return sql, params

    def medians(
        self, window: Window, filters: Filters, dimensions: Sequence[str]
    ) -> dict[tuple[str, str], dict[str, list[int]]]:
        """The middle value(s), in microseconds, of time to MQL ("mql") and MQL to
        opportunity ("opp") per group: ("period", label), ("total", ""), (dimension, value)."""
        leads, params = self._leads(filters)
        since, until, p = int(window.since), int(window.until), _period(window.period)
        values = {
            "mql": "CASE WHEN first_mql > created THEN first_mql - created ELSE 0 END",
            "opp": "CASE WHEN opp_moment IS NOT NULL AND opp_moment >= first_mql "
            "THEN opp_moment - first_mql END",
        }
        out: dict[tuple[str, str], dict[str, list[int]]] = {}
        if getattr(self._db, "dialect", "") == "duckdb":
            return self._duck_medians(window, filters, dimensions, values)
        for kind, expr in values.items():
            groups = [
                f"SELECT 'period' AS d, created_{p} AS g, v FROM c",
                "SELECT 'total' AS d, '' AS g, v FROM c",
                *(
                    "SELECT x.dimension AS d, x.value AS g, c.v FROM c "
                    "JOIN kpi_segments x ON x.lead_key = c.lead_key AND x.dimension = ?"
                    for _ in dimensions
                ),
            ]
            sql = (
                f"WITH {leads}, {self._steps(until)}, "
                f"c AS (SELECT lead_key, created_{p}, {expr} AS v FROM s "
                f"WHERE m = 1 AND created >= {since} AND created < {until}), "
                f"u AS ({' UNION ALL '.join(groups)}), "
                "r AS (SELECT d, g, v, row_number() OVER (PARTITION BY d, g ORDER BY v) AS n, "
                "count(*) OVER (PARTITION BY d, g) AS t FROM u WHERE v IS NOT NULL) "
                # the middle row(s): n = t/2 and t/2 + 1 for an even t, (t + 1)/2 for an odd
                # one; written without division (`/` is integer on SQLite and PostgreSQL,
                # fractional on DuckDB), so the same text runs on all three
                "SELECT d, g, v FROM r WHERE 2 * n BETWEEN t AND t + 2 ORDER BY d, g, n"
            )
            for d, g, v in self._db.execute(sql, [*params, *dimensions]):
                out.setdefault((d, g), {}).setdefault(kind, []).append(int(v))
        return out

    def _duck_medians(
        self, window: Window, filters: Filters, dimensions: Sequence[str],
        values: Mapping[str, str],
    ) -> dict[tuple[str, str], dict[str, list[int]]]:
        """`medians` in one DuckDB query: the lower middle value is `quantile_disc(v, 0.5)`
        and the upper one `-quantile_disc(-v, 0.5)` (the same two rows the window query
        ranks; one value when they are equal, whose mean is itself)."""
        leads, params = self._leads(filters)
        since, until, p = int(window.since), int(window.until), _period(window.period)
        cols = ", ".join(f"{expr} AS {kind}" for kind, expr in values.items())
        vals = ", ".join(values)
        # a lead's segment values are its `segkey`'s and its channel (how the copy derives
        # `kpi_segments`, `sync.kpi_mirror`): split here instead of joined, one scan less
        # of the segment rows per dimension
        groups = [
            f"SELECT 'period' AS d, created_{p} AS g, {vals} FROM c",
            f"SELECT 'total' AS d, '' AS g, {vals} FROM c",
            *(
                f"SELECT ? AS d, {_segment_value(dim, n)} AS g, {vals} FROM c"
                for n, dim in enumerate(_rules_first(dimensions), 1)
            ),
        ]
        middles = ", ".join(
            f"quantile_disc({kind}, 0.5), -quantile_disc(-{kind}, 0.5)" for kind in values
        )
        sql = (
            f"WITH {leads}, {self._steps(until)}, "
            f"c AS (SELECT lead_key, created_{p}, segkey, channel, {cols} FROM s "
            f"WHERE m = 1 AND created >= {since} AND created < {until}), "
            f"u AS ({' UNION ALL '.join(groups)}) "
            f"SELECT d, g, {middles} FROM u GROUP BY d, g"
        )
        out: dict[tuple[str, str], dict[str, list[int]]] = {}
        for d, g, *found in self._db.execute(sql, [*params, *_rules_first(dimensions)]):
            for n, kind in enumerate(values):
                lo, hi = found[2 * n], found[2 * n + 1]
                if lo is not None:
                    middle = [int(lo)] if lo == hi else [int(lo), int(hi)]
                    out.setdefault((d, g), {})[kind] = middle
        return out

    def new_mqls(self, window: Window, filters: Filters) -> list[tuple[Any, ...]]:
        """Leads whose first MQL episode started in the window, per (label, segkey, channel)."""
        sql, params = self._new_mqls_sql(window, filters)
        return [tuple(r) for r in self._db.execute(sql, params)]

    def _new_mqls_sql(self, window: Window, filters: Filters) -> tuple[str, list[Any]]:
        leads, params = self._leads(filters)
        p = _period(window.period)
        sql = (
            f"WITH {leads} SELECT mql_{p}, segkey, channel, count(*) FROM k "
            f"WHERE first_mql >= {int(window.since)} AND first_mql < {int(window.until)} "
            f"GROUP BY mql_{p}, segkey, channel"
        )
        return sql, params

    def progression(self, window: Window, filters: Filters, days: int) -> list[tuple[Any, ...]]:
        """Leads that first reached interest in the window, per (label, segkey, channel):
        reached, moved to comparison within `days`, still open at the report's end."""
        sql, params = self._progression_sql(window, filters, days)
        return [tuple(r) for r in self._db.execute(sql, params)]

    def _progression_sql(
        self, window: Window, filters: Filters, days: int
    ) -> tuple[str, list[Any]]:
        leads, params = self._leads(filters)
        since, until, p = int(window.since), int(window.until), _period(window.period)
        span = days * _DAY_US
        moved = (
            f"first_comparison IS NOT NULL AND first_comparison <= first_interest + {span} "
            f"AND first_comparison <= {until}"
        )
        sql = (
            f"WITH {leads} SELECT interest_{p}, segkey, channel, count(*), "
            f"sum(CASE WHEN {moved} THEN 1 ELSE 0 END), "
            f"sum(CASE WHEN NOT ({moved}) AND first_interest + {span} > {until} THEN 1 ELSE 0 END) "
            f"FROM k WHERE first_interest >= {since} AND first_interest < {until} "
            f"GROUP BY interest_{p}, segkey, channel"
        )
        return sql, params

    def engagement(self, window: Window, filters: Filters) -> list[tuple[Any, ...]]:
        """Engagement per (label, segkey, channel) for the window's period labels."""
        if not window.labels:
            return []
        sql, params = self._engagement_sql(window, filters)
        return [tuple(r) for r in self._db.execute(sql, params)]

    def _engagement_sql(self, window: Window, filters: Filters) -> tuple[str, list[Any]]:
        marks = ",".join("?" * len(window.labels))
        unfiltered = filters.segment is None and filters.cell is None and filters.owner is None
        if unfiltered and getattr(self._db, "dialect", "") == "duckdb":
            # the DuckDB copy's engagement rows carry their lead's segkey and channel
            # (`sync.kpi_mirror`; NULL without facts, as the join drops them)
            sql = (
                "SELECT label, segkey, channel, sum(delivered), sum(opened), sum(clicked), "
                "sum(registered), sum(attended), sum(downloads) FROM kpi_engagement "
                f"WHERE segkey IS NOT NULL AND period = ? AND label IN ({marks}) "
                "GROUP BY label, segkey, channel"
            )
            return sql, [window.period, *window.labels]
        leads, params = self._leads(filters)
        sql = (
            f"WITH {leads} SELECT e.label, k.segkey, k.channel, sum(e.delivered), "
            "sum(e.opened), sum(e.clicked), sum(e.registered), sum(e.attended), "
            "sum(e.downloads) FROM kpi_engagement e JOIN k ON k.lead_key = e.lead_key "
            f"WHERE e.period = ? AND e.label IN ({marks}) GROUP BY e.label, k.segkey, k.channel"
        )
        return sql, [*params, window.period, *window.labels]

    def handoffs(
        self, since: datetime, until: datetime, filters: Filters
    ) -> list[tuple[Any, ...]]:
        """MQL follow-up Tasks created in [since, until) per (UTC day, segkey, channel).
        `tasks.created_at` is the store clock's ISO text to the second, in UTC, so text
        order is time order."""
        sql, params = self._handoffs_sql(since, until, filters)
        return [
            (datetime.fromisoformat(day).replace(tzinfo=UTC), segkey, channel, int(count))
            for day, segkey, channel, count in self._db.execute(sql, params)
        ]

    def _handoffs_sql(
        self, since: datetime, until: datetime, filters: Filters
    ) -> tuple[str, list[Any]]:
        leads, params = self._leads(filters)
        sql = (
            f"WITH {leads} SELECT substr(t.created_at, 1, 10), k.segkey, k.channel, count(*) "
            "FROM tasks t JOIN k ON k.lead_key = t.lead_key WHERE t.connector_key LIKE ? "
            "AND t.created_at >= ? AND t.created_at < ? "
            "GROUP BY substr(t.created_at, 1, 10), k.segkey, k.channel"
        )
        bounds = [_second_iso(since), _second_iso(until)]
        return sql, [*params, MQL_TASK_PREFIX + "%", *bounds]

    # ------------------------------------------------------------------ folded (DuckDB)
    def folded(
        self, window: Window, filters: Filters, dimensions: Sequence[str], days: int,
        since: datetime, until: datetime,
    ) -> dict[str, list[tuple[Any, ...]]]:
        """The group queries above folded in the database into the report's own rows, as
        `kpi.grouped.assemble` folds them: per query, rows (group, dimension, value, sums...)
        with group "t" (the totals), "p" (per period label; per UTC day for the hand-offs),
        "s" (per segment value: the i-th value of `segkey` for the i-th rules dimension,
        the channel for `channel`; empty or missing is "unknown"), and for the cohort "m"
        (per channel, month: the cost table's counts). DuckDB only (`string_split`): the
        report on the process's copy (`sync.kpi_mirror`); the store itself is folded in
        Python."""
        from kpi.model import CHANNEL_DIMENSION

        rules_dims = [d for d in dimensions if d != CHANNEL_DIMENSION]
        channel = CHANNEL_DIMENSION in dimensions
        cohort, cparams = self._cohort_sql(window, filters)
        queries: dict[str, tuple[str, list[Any], int]] = {
            "cohort": (cohort, cparams, 9),
            "new_mqls": (*self._new_mqls_sql(window, filters), 1),
            "progression": (*self._progression_sql(window, filters, days), 3),
            "handoffs": (*self._handoffs_sql(since, until, filters), 1),
        }
        if window.labels:
            queries["engagement"] = (*self._engagement_sql(window, filters), 6)
        out: dict[str, list[tuple[Any, ...]]] = {}
        for name, (inner, params, n) in queries.items():
            extra = 1 if name == "cohort" else 0  # the cohort's month column
            cols = ["label", "segkey", "channel", *(["month"] * extra),
                    *(f"c{i}" for i in range(n))]
            sums = ", ".join(f"sum(c{i})" for i in range(n))
            parts = [f"SELECT 't' AS g, '' AS d, '' AS v, {sums} FROM q",
                     f"SELECT 'p', '', label, {sums} FROM q GROUP BY label"]
            unknown = "coalesce(nullif({}, ''), 'unknown')"
            for i, dim in enumerate(rules_dims, 1):
                value = unknown.format(f"string_split(segkey, chr(31))[{i}]")
                parts.append(f"SELECT 's', {_quote(dim)}, {value}, {sums} FROM q GROUP BY 3")
            if channel:
                parts.append(f"SELECT 's', {_quote(CHANNEL_DIMENSION)}, "
                             f"{unknown.format('channel')}, {sums} FROM q GROUP BY 3")
            if extra:
                parts.append(f"SELECT 'm', channel, month, {sums} FROM q GROUP BY 2, 3")
            sql = f"WITH q({', '.join(cols)}) AS ({inner}) " + " UNION ALL ".join(parts)
            out[name] = [
                tuple(r) for r in self._db.execute(sql, params) if r[3] is not None
            ]
        return out

    # ------------------------------------------------------------------ drill-down
    def lead_lines(
        self, metric: str, window: Window, filters: Filters, *, label: str | None, limit: int
    ) -> tuple[int, list[LeadRow]]:
        """(count, first `limit` rows by (moment counted, lead key)) of what one cell of the
        report counts, one row per counted moment: cohort metrics (new_leads ... lost) the
        leads created in the window (in period `label` when given) that reached the step by
        its end, at their creation; new_mqls the leads whose first MQL episode started in
        it, at that start; handoffs each MQL follow-up Task created in it, at its creation
        (a lead with two is two rows)."""
        if metric == "handoffs":
            return self._handoff_lines(window, filters, label, limit)
        leads, params = self._leads(filters)
        since, until, p = int(window.since), int(window.until), _period(window.period)
        cohort = {"new_leads": "1 = 1", "mqls": "m = 1", "sqls": "q = 1"}
        cohort |= {"opportunities": "o = 1", "won": "w = 1", "lost": "l = 1"}
        extra: list[Any] = []
        if metric in cohort:
            at = "created"
            where = f"created >= {since} AND created < {until} AND {cohort[metric]}"
            if label is not None:
                where += f" AND created_{p} = ?"
                extra.append(label)
        elif metric == "new_mqls":
            at = "first_mql"
            where = f"first_mql >= {since} AND first_mql < {until}"
            if label is not None:
                where += f" AND mql_{p} = ?"
                extra.append(label)
        else:
            raise ValueError(f"metric {metric!r}: expected one of {', '.join(FUNNEL_METRICS)}")
        base = f"WITH {leads}, {self._steps(until)} SELECT "
        count = self._db.execute(f"{base}count(*) FROM s WHERE {where}", [*params, *extra])
        total = int(count.fetchone()[0])
        rows = self._db.execute(
            f"{base}lead_key, hubspot_id, created, first_mql, {at} FROM s WHERE {where} "
            f"ORDER BY {at}, lead_key LIMIT {int(limit)}",
            [*params, *extra],
        )
        return total, [LeadRow(r[0], r[1], int(r[2]), _int(r[3]), int(r[4])) for r in rows]

    def _handoff_lines(
        self, window: Window, filters: Filters, label: str | None, limit: int
    ) -> tuple[int, list[LeadRow]]:
        """The MQL follow-up Tasks created in the window, or in period `label` of it (its
        bounds clipped to the window: `tasks.created_at` is UTC text to the second, so text
        order is time order and the bounds select exactly the Tasks of the period)."""
        bounds = _label_bounds(window, label)
        if bounds is None:
            return 0, []
        leads, params = self._leads(filters)
        base = (
            f"WITH {leads} SELECT {{}} FROM tasks t JOIN k ON k.lead_key = t.lead_key "
            "WHERE t.connector_key LIKE ? AND t.created_at >= ? AND t.created_at < ?"
        )
        args = [*params, MQL_TASK_PREFIX + "%", *(_second_iso(_instant(b)) for b in bounds)]
        total = int(self._db.execute(base.format("count(*)"), args).fetchone()[0])
        rows = self._db.execute(
            base.format("k.lead_key, k.hubspot_id, k.created, k.first_mql, t.created_at")
            + f" ORDER BY t.created_at, k.lead_key, t.connector_key LIMIT {int(limit)}",
            args,
        )
        return total, [
            LeadRow(r[0], r[1], int(r[2]), _int(r[3]), micros(_utc(r[4])) or 0) for r in rows
        ]

    def facts_of(self, keys: Sequence[str]) -> dict[str, LeadRow]:
        """The stored facts of these leads, `at` their creation (the leads without facts,
        e.g. archived since, are absent)."""
        found: dict[str, LeadRow] = {}
        for chunk in chunks(sorted(set(keys)), 500):
            marks = ",".join("?" * len(chunk))
            sql = (
                "SELECT lead_key, hubspot_id, created, first_mql FROM kpi_facts "
                f"WHERE lead_key IN ({marks})"
            )
            for r in self._db.execute(sql, chunk):
                found[r[0]] = LeadRow(r[0], r[1], int(r[2]), _int(r[3]), int(r[2]))
        return found

    def segments_of(self, keys: Sequence[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for chunk in chunks(sorted(set(keys)), 500):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT lead_key, dimension, value FROM kpi_segments WHERE lead_key IN ({marks})",
                chunk,
            )
            for key, dimension, value in rows:
                out.setdefault(key, {})[dimension] = value
        return out

    def owners_of(self, keys: Sequence[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for chunk in chunks(sorted(set(keys)), 500):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT lead_key, owner_id FROM ({OWNERS_SQL}) w WHERE lead_key IN ({marks})",
                chunk,
            )
            out.update((r[0], r[1]) for r in rows)
        return out

    def owned_keys(self, owner: str) -> set[str]:
        rows = self._db.execute(
            f"SELECT lead_key FROM ({OWNERS_SQL}) w WHERE owner_id = ?", (owner,)
        )
        return {r[0] for r in rows}

    def segment_values(
        self, filters: Filters, dimensions: Sequence[str] = ()
    ) -> list[tuple[str, str]]:
        """Every (dimension, value) among the leads that count."""
        unfiltered = filters.segment is None and filters.cell is None and filters.owner is None
        if unfiltered and dimensions and getattr(self._db, "dialect", "") == "duckdb":
            # the copy's segment rows are its facts' `segkey` values split, and the channel
            # (`sync.kpi_mirror`): without a filter every lead counts, and the few distinct
            # (segkey, channel) pairs give the same values as the million segment rows
            dims = _rules_first(dimensions)
            parts = " UNION ALL ".join(
                f"SELECT ? AS d, {_segment_value(dim, n)} AS v FROM c"
                for n, dim in enumerate(dims, 1)
            )
            rows = self._db.execute(
                f"WITH c AS (SELECT segkey, channel FROM kpi_facts GROUP BY 1, 2) "
                f"SELECT d, v FROM ({parts}) u GROUP BY 1, 2",
                list(dims),
            )
            return [(r[0], r[1]) for r in rows]
        leads, params = self._leads(filters)
        sql = (
            f"WITH {leads} SELECT x.dimension, x.value FROM kpi_segments x "
            "JOIN k ON k.lead_key = x.lead_key GROUP BY x.dimension, x.value"
        )
        return [(r[0], r[1]) for r in self._db.execute(sql, params)]

    def all_keys(self) -> Iterator[str]:
        yield from (r[0] for r in self._db.execute("SELECT lead_key FROM kpi_facts"))

    # ------------------------------------------------------------------ deletions (issue #18)
    def drop_leads(self, db: Database, lead_keys: Iterable[str]) -> None:
        """Inside the caller's transaction: these leads have no facts any more (merged into
        another lead): their facts, segments, engagement and stale marks go, and the change
        is logged (a copy deletes them too). Not for an erased person: see `forget_copies`."""
        keys = sorted(set(lead_keys))
        if not keys:
            return
        self._delete(db, keys)
        db.executemany("DELETE FROM kpi_stale WHERE ref = ?", [(email_ref(k),) for k in keys])
        self._log(db, keys)

    def forget_copies(self, db: Database) -> None:
        """Inside the caller's transaction (an erasure, whose purge deleted the person's
        facts and change-log rows): a new generation makes every copy of the facts
        (`sync.kpi_mirror`, in a process or on disk) load again in full. Logging the change
        instead would write the erased address into the log again."""
        db.execute(
            "INSERT INTO kpi_meta VALUES ('generation', ?) ON CONFLICT(name) DO UPDATE "
            "SET value = excluded.value",
            (uuid.uuid4().hex,),
        )

    def drop_rebuild_cursor(self, db: Database, lead_keys: Iterable[str]) -> bool:
        """Inside the caller's transaction: forget an unfinished rebuild whose cursor is one
        of `lead_keys` (an erased address must not stay as the cursor; the next report
        rebuilds from the start). Returns whether it did."""
        row = db.execute("SELECT value FROM kpi_meta WHERE name = 'rebuild_cursor'").fetchone()
        if row is None or row[0] not in set(lead_keys):
            return False
        db.execute("DELETE FROM kpi_meta WHERE name IN ('rebuild_hash', 'rebuild_cursor')")
        return True


def _quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _second_iso(moment: datetime) -> str:
    """`moment` as `tasks.created_at` text (UTC, to the second), rounded up so that a
    fraction of a second still compares as the instant does."""
    from datetime import timedelta

    utc = moment.astimezone(UTC)
    if utc.microsecond:
        utc = utc.replace(microsecond=0) + timedelta(seconds=1)
    return utc.isoformat(timespec="seconds")


def _instant(value: int) -> datetime:
    from datetime import timedelta

    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _label_bounds(window: Window, label: str | None) -> tuple[int, int] | None:
    """[since, until) of period `label` clipped to the window (epoch microseconds), the
    whole window for None; None when the window has no such period."""
    from kpi.compute import periods

    if label is None:
        return window.since, window.until
    if label not in window.labels:
        return None
    every = "week" if _period(window.period) == "week" else "month"
    for name, start, end in periods(_instant(window.since), _instant(window.until), every):
        if name == label:
            return micros(start) or 0, micros(end) or 0
    return None


def _period(period: str) -> str:
    if period not in ("week", "month"):
        raise ValueError(f"period {period!r}")
    return period


def _rules_first(dimensions: Sequence[str]) -> list[str]:
    """The rules' dimensions in `segkey` order, then the channel (when asked for)."""
    from kpi.model import CHANNEL_DIMENSION

    rules = [d for d in dimensions if d != CHANNEL_DIMENSION]
    return rules + ([CHANNEL_DIMENSION] if CHANNEL_DIMENSION in dimensions else [])


def _segment_value(dimension: str, n: int) -> str:
    """DuckDB: the value of the n-th of `_rules_first` for a row with `segkey` and
    `channel` (as `sync.kpi_mirror` derives the copy's `kpi_segments`)."""
    from kpi.model import CHANNEL_DIMENSION

    if dimension == CHANNEL_DIMENSION:
        return "channel"
    return f"string_split(segkey, chr(31))[{n}]"
