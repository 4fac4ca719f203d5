"""An in-process DuckDB copy of the KPI facts (`sync.kpi_store`) that the report's aggregation
queries run on: the state store (SQLite or PostgreSQL) stays the source of truth, DuckDB is
the column store that scans a million fact rows in milliseconds.

Why two engines: the state store is a row store tuned for the sync's many small
transactions (a lead's rows written together, looked up by key); the report reads a few
columns of every lead and groups them, which a columnar, vectorised engine does 20-100x
faster (docs/reporting.md, docs/benchmarks.md). DuckDB runs in the process (the `duckdb`
wheel, no server, no extension: nothing is downloaded).

What is copied (only the columns the aggregation reads):

- `kpi_facts`: the facts without `hubspot_id`, `amount`, `facts_at`, `valid_until`; the
  week / month labels are recomputed in DuckDB from the instants (UTC, as
  `kpi.compute.period_label`), so the load carries 13 columns instead of 23;
- `kpi_segments`: a view deriving the pairs from `segkey` and `channel` (the store's
  `kpi_segments` holds the same pairs), not read from the store nor copied;
- `kpi_engagement`: loaded per (period, label) when a report first asks for that label,
  each row given its lead's `segkey` and `channel` from the copied facts (so the report's
  engagement query needs no join when it has no filter);
- `tasks`: the MQL follow-up Tasks (`mql:` keys; lead key, creation time), the hand-offs;
- `links`: filled per query with the owner's leads (as the store resolves the owner: the
  pulled `sf_owners`, else the link's) when a report filters by owner; `sf_owners` is empty.

Kept current incrementally: `refresh` reads the store's change log (`kpi_changes`) after the
last `seq` applied, deletes those leads here and copies their rows again (a lead with no row
left in the store is gone here too). A new facts `generation` (full rebuild) or a log pruned
past the copy's last `seq` reloads in full. The Tasks are compared by (count, latest
creation time) and topped up from the latest time seen, reloaded when that does not add up.

Loading: rows are fetched from the store in one query per table and handed to DuckDB
through a CSV file in the temp directory (csv writer and DuckDB's CSV reader are both C);
small deltas go through multi-row INSERTs. One copy per state store per process
(`mirror_for`): the dashboard keeps it across requests.

Kept on disk between runs (`mirror_for(store, keep=True)`, what `connector report` asks
for): beside a SQLite state file, `<state file>.kpi.duckdb` (mode 0600, like the state),
so a report run pays only the delta since the last one instead of the full load (about
8 s at 1M leads, most of it reading a million rows out of SQLite: docs/benchmarks.md).
What the copy holds (generation, last `seq`, dimensions, engagement labels, the Tasks'
watermark) is in its own `copy_meta` table, written in the transaction that changes the
rows, so a run killed half way leaves the previous consistent copy (or none). Rules:

- every full load starts a **new file** (the old one and its WAL unlinked first), never a
  DELETE inside the old one: DuckDB does not overwrite freed blocks, and a full load
  follows a new facts generation, which is what erasing or merging a person starts
  (`KpiStore.drop_leads`); the erasure also unlinks the file at once
  (`discard_copy`, called by `sync.erasure_store`), so an erased person's bytes do not wait
  for the next report;
- a copy that cannot be opened (another process holds DuckDB's lock, a damaged file, a
  DuckDB version that cannot read it) is replaced by an in-memory copy for this run (the
  file is deleted when damaged, left alone when locked);
- only for SQLite stores: a PostgreSQL store may be read by a report on another machine
  than the sync's, where an erasure could not delete the copy; those copies stay in memory.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import json
import logging
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from kpi.model import CHANNEL_DIMENSION
from sync.kpi_copy_files import copy_path, discard_copy_file
from sync.kpi_store import MQL_TASK_PREFIX, SEP, Filters, KpiStore
from sync.state_rows import chunks

if TYPE_CHECKING:
    from sync.db import Database
    from sync.state import StateStore

LOAD_COLUMNS = (
    "lead_key",
    "created",
    "channel",
    "segkey",
    "first_mql",
    "first_interest",
    "first_comparison",
    "has_outcome",
    "sql_flag",
    "sql_at",
    "opportunity_at",
    "won_at",
    "lost_at",
)
ENGAGEMENT_LOAD = (
    "lead_key", "period", "label", "delivered", "opened", "clicked", "registered", "attended",
    "downloads",
)
_CSV_FROM = 2000  # rows: from this many on, a load goes through a CSV file
_MAX_MIRRORS = 4  # copies kept per process (one per state store)
# facts: from this many on, a full load reads the engagement rows in a second process
PARALLEL_FROM = 100_000
# The copy's own layout: a file written by another layout is loaded again in full.
COPY_LAYOUT = "2"

log = logging.getLogger(__name__)


def duckdb_connect(path: Path | None) -> Any:
    """A DuckDB connection to a new or existing file (mode 0600), or to memory."""
    import duckdb

    if path is None:
        return duckdb.connect()
    created = not path.exists()
    con = duckdb.connect(str(path))
    if created:
        os.chmod(path, 0o600)
    return con


def available() -> bool:
    """True when DuckDB can be imported (else the report aggregates on the store itself)."""
    import importlib.util

    return importlib.util.find_spec("duckdb") is not None


class _Rows:
    """What `KpiStore`'s aggregation methods read from `Database.execute`: rows to iterate."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._rows)

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows


class _DuckDatabase:
    """The slice of `sync.db.Database` the aggregation queries use, on a DuckDB connection."""

    dialect = "duckdb"

    def __init__(self, con: Any) -> None:
        self.con = con

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Rows:
        return _Rows(self.con.execute(sql, list(params)).fetchall())


_FACTS_SELECT = """
    SELECT lead_key, created, strftime(make_timestamp(created), '%Y-%m') AS created_month,
        printf('%04d-W%02d', isoyear(make_timestamp(created)), week(make_timestamp(created)))
            AS created_week,
        coalesce(channel, '') AS channel, coalesce(segkey, '') AS segkey, first_mql,
        CASE WHEN first_mql IS NOT NULL THEN strftime(make_timestamp(first_mql), '%Y-%m') END
            AS mql_month,
        CASE WHEN first_mql IS NOT NULL THEN printf('%04d-W%02d',
            isoyear(make_timestamp(first_mql)), week(make_timestamp(first_mql))) END AS mql_week,
        first_interest,
        CASE WHEN first_interest IS NOT NULL
            THEN strftime(make_timestamp(first_interest), '%Y-%m') END AS interest_month,
        CASE WHEN first_interest IS NOT NULL THEN printf('%04d-W%02d',
            isoyear(make_timestamp(first_interest)), week(make_timestamp(first_interest))) END
            AS interest_week,
        first_comparison, has_outcome, sql_flag, sql_at, opportunity_at, won_at, lost_at
    FROM staged_facts
"""


def _by_period(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for period, label in pairs:
        out.setdefault(period, []).append(label)
    return out


class _Aside:
    """One query's rows written to a temporary CSV file by a second process
    (`sync/csv_dump.py` run as a script)."""

    def __init__(self, process: subprocess.Popen[bytes], name: str) -> None:
        self._process, self.name = process, name

    @classmethod
    def start(cls, db_path: str, sql: str, params: Sequence[Any]) -> _Aside | None:
        import sys

        from sync import csv_dump

        fd, name = tempfile.mkstemp(prefix="connector-kpi-", suffix=".csv")
        os.close(fd)
        request = json.dumps({"db": db_path, "sql": sql, "params": list(params), "out": name})
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", csv_dump.__file__, request],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
        except OSError as exc:
            log.warning("KPI copy: no second process (%s); reading in this one", exc)
            os.unlink(name)
            return None
        return cls(process, name)

    def result(self) -> str | None:
        """The CSV file's name once written; None when the process failed."""
        _, err = self._process.communicate()
        if self._process.returncode != 0:
            last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            log.warning("KPI copy: the second process failed (%s); reading in this one",
                        last[0][:200])
            return None
        return self.name

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.communicate()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.name)


class KpiMirror:
    """A DuckDB copy of one state store's KPI facts; `session` brings it up to date and
    hands out the aggregation queries (`KpiStore`'s, run on the copy). With `path`, the
    copy lives in that file and outlives the process (see the module docstring)."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._generation: str | None = None
        self._seq = 0
        self._dimensions: tuple[str, ...] = ()
        self._labels: set[tuple[str, str]] = set()
        self._tasks: tuple[int, str | None] = (0, None)
        self.last_refresh: dict[str, Any] = {}
        self.engagement_aside = False  # the last full load's engagement: a second process's
        self._open()

    @property
    def on_disk(self) -> bool:
        return self._path is not None

    def _open(self) -> None:
        """Connect to the file (reading what it holds) or to memory; create the tables. A
        file that cannot be read is replaced by a new one; one another process holds is
        left alone and this run's copy is in memory."""
        import duckdb

        path, self._path = self._path, None
        for attempt in range(2 if path is not None else 0):
            assert path is not None
            con = None
            try:
                if not path.exists():
                    discard_copy_file(path)  # a WAL left without its file
                created = not path.exists()
                con = self._con = duckdb_connect(path)
                self._path = path
                self._attach(fresh=created)
                return
            except (duckdb.Error, OSError) as exc:  # OSError: a folder not writable
                self._path = None
                if con is not None:
                    with contextlib.suppress(duckdb.Error):
                        con.close()
                if "lock" in str(exc).lower():
                    log.warning("KPI copy %s is in use by another process: this run copies "
                                "the facts into memory", path)
                    break
                if attempt:
                    log.warning("KPI copy %s: %s; this run copies the facts into memory",
                                path, type(exc).__name__)
                    break
                log.warning("KPI copy %s could not be read (%s): loading a new one",
                            path, type(exc).__name__)
                with contextlib.suppress(OSError):  # a second attempt says why
                    discard_copy_file(path)
        self._con = duckdb.connect()
        self._attach(fresh=True)

    def _attach(self, *, fresh: bool) -> None:
        self.queries = KpiStore(cast("Database", _DuckDatabase(self._con)), cast(Any, None))
        if not fresh and self._read_meta():
            self._create_temp()
        elif fresh:
            self._create_temp()  # first: the facts table is made from the staged one
            self._create()
        else:  # a file without a (readable) state: start it again
            self._reset()

    def _read_meta(self) -> bool:
        """The state a file copy was left in; False when it has none or another layout."""
        import duckdb

        try:
            rows = dict(self._con.execute("SELECT name, value FROM copy_meta").fetchall())
            if rows.get("layout") != COPY_LAYOUT or "generation" not in rows:
                return False
            seq = int(rows["seq"])
            dimensions = tuple(json.loads(rows["dimensions"]))
            labels = {(p, label) for p, label in json.loads(rows["labels"])}
            count, latest = json.loads(rows["tasks"])
        except (duckdb.Error, KeyError, ValueError, TypeError):  # another layout: load again
            return False
        self._generation, self._seq, self._dimensions = rows["generation"], seq, dimensions
        self._labels, self._tasks = labels, (int(count), latest)
        return True

    def _write_meta(self) -> None:
        if self._path is None:
            return
        values = {
            "layout": COPY_LAYOUT,
            "generation": self._generation or "",
            "seq": str(self._seq),
            "dimensions": json.dumps(list(self._dimensions)),
            "labels": json.dumps(sorted(self._labels)),
            "tasks": json.dumps(list(self._tasks)),
        }
        self._con.execute("DELETE FROM copy_meta")
        self._insert("copy_meta", ("name", "value"), sorted(values.items()))

    # ------------------------------------------------------------------ public
    @contextlib.contextmanager
    def session(
        self, store: StateStore, filters: Filters, labels: Sequence[tuple[str, str]] = ()
    ) -> Iterator[KpiStore]:
        """The copy brought up to date with `store` (and holding the engagement of the
        (period, label) pairs in `labels`, and the owner's leads of `filters`), locked for the
        caller's queries."""
        with self._lock:
            self.refresh(store, labels)
            self._ensure_labels(store, labels)
            self._owner(store, filters.owner)
            yield self.queries

    def refresh(self, store: StateStore, labels: Sequence[tuple[str, str]] = ()) -> None:
        """Apply the store's changes since the last refresh (a full load the first time,
        with the engagement of `labels` and of the labels held before)."""
        meta = store.kpi.meta()
        generation = meta.get("generation", "")
        floor = int(meta.get("changes_floor", "0") or 0)
        dimensions = tuple(d for d in meta.get("dimensions", "").split(SEP) if d)
        if (
            self._generation != generation
            or dimensions != self._dimensions
            or self._seq < floor
            or store.kpi.last_change() < self._seq
        ):
            self._load_all(store, generation, dimensions, labels)
        else:
            last, keys = store.kpi.changes_since(self._seq)
            with self._transaction():
                self._apply(store, keys)
                self._seq = last
                self._write_meta()
            self.last_refresh = {"mode": "delta", "leads": len(keys)}
        with self._transaction():
            if self._refresh_tasks(store):
                self._write_meta()

    def close(self) -> None:
        self._con.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """The copy's rows and its `copy_meta` change together (a file copy is never left
        with rows its meta does not describe)."""
        self._con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    # ------------------------------------------------------------------ loading
    def _create(self) -> None:
        """The copy's tables (kept in a file copy)."""
        con = self._con
        con.execute(f"CREATE TABLE kpi_facts AS {_FACTS_SELECT} LIMIT 0")
        con.execute(
            "CREATE TABLE kpi_engagement (lead_key VARCHAR, period VARCHAR, label VARCHAR, "
            "delivered BIGINT, opened BIGINT, clicked BIGINT, registered BIGINT, "
            "attended BIGINT, downloads BIGINT, segkey VARCHAR, channel VARCHAR)"
        )
        con.execute(
            "CREATE TABLE tasks (connector_key VARCHAR, lead_key VARCHAR, created_at VARCHAR)"
        )
        con.execute("CREATE TABLE copy_meta (name VARCHAR, value VARCHAR)")
        self._segments_view()

    def _create_temp(self) -> None:
        """The tables of one connection (in memory even for a file copy: staging is never
        written to disk): the staged rows, and the owner filter's leads. The owner filter's
        SQL (`sync.kpi_store.OWNERS_SQL`) joins the link to the owner the last outcome pull
        read; here `links` holds the owner's leads as the store resolved them (`_owner`) and
        `sf_owners` stays empty, so the same SQL text selects them."""
        con = self._con
        con.execute(
            "CREATE TEMP TABLE staged_facts (lead_key VARCHAR, created BIGINT, "
            "channel VARCHAR, segkey VARCHAR, first_mql BIGINT, first_interest BIGINT, "
            "first_comparison BIGINT, has_outcome INTEGER, sql_flag INTEGER, sql_at BIGINT, "
            "opportunity_at BIGINT, won_at BIGINT, lost_at BIGINT)"
        )
        con.execute(
            "CREATE TEMP TABLE staged_engagement (lead_key VARCHAR, period VARCHAR, "
            "label VARCHAR, delivered BIGINT, opened BIGINT, clicked BIGINT, "
            "registered BIGINT, attended BIGINT, downloads BIGINT)"
        )
        con.execute(
            "CREATE TEMP TABLE links (lead_key VARCHAR, record_id VARCHAR, owner_id VARCHAR)"
        )
        con.execute("CREATE TEMP TABLE sf_owners (record_id VARCHAR, owner_id VARCHAR)")

    def _segments_view(self) -> None:
        """`kpi_segments` (what the segment filter and the filtered segment values read) as
        a view over the facts: a lead's i-th rules dimension is the i-th value of its
        `segkey`, and its channel (the store's `kpi_segments` holds the same pairs). A view,
        not five million copied rows."""
        parts = [
            f"SELECT lead_key, {_literal(dim)} AS dimension, "
            f"string_split(segkey, chr(31))[{n}] AS value FROM kpi_facts"
            for n, dim in enumerate(self._dimensions, 1)
        ]
        parts.append(
            f"SELECT lead_key, {_literal(CHANNEL_DIMENSION)} AS dimension, channel AS value "
            "FROM kpi_facts"
        )
        self._con.execute(f"CREATE OR REPLACE VIEW kpi_segments AS {' UNION ALL '.join(parts)}")

    def _load_all(
        self, store: StateStore, generation: str, dimensions: tuple[str, ...],
        labels: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Everything again, into new tables (a new file when on disk: see the module
        docstring). The meta is written last: a load cut short leaves a copy that the next
        open loads again. A big SQLite store's engagement rows are read by a second process
        meanwhile (`sync.csv_dump`)."""
        seq = store.kpi.last_change()  # read first: a change written meanwhile comes again
        self._reset()
        self._dimensions = dimensions
        self._segments_view()
        wanted = sorted(self._labels | set(labels))
        self._labels = set()
        aside = self._engagement_aside(store, wanted)
        self.engagement_aside = False
        try:
            rows = store._db.execute(f"SELECT {', '.join(LOAD_COLUMNS)} FROM kpi_facts")
            count = self._stage("staged_facts", LOAD_COLUMNS, rows)
            self._from_staged()
            if aside is None or not self._staged_aside(aside):
                self._copy_labels(store, wanted)
        finally:
            if aside is not None:
                aside.close()
        self._labels.update(wanted)
        self._generation, self._seq = generation, seq
        self._tasks = (0, None)
        self._write_meta()
        self.last_refresh = {"mode": "full", "leads": count}

    def _engagement_aside(
        self, store: StateStore, wanted: Sequence[tuple[str, str]]
    ) -> _Aside | None:
        """The engagement rows of `wanted`, being written to a CSV file by a second process
        (`sync.csv_dump`), for a SQLite store with at least `PARALLEL_FROM` facts; None
        otherwise, or when the process cannot be started."""
        if store.path is None or not wanted:
            return None
        if int(store._db.execute("SELECT count(*) FROM kpi_facts").fetchone()[0]) < (
            PARALLEL_FROM
        ):
            return None
        by_period = _by_period(wanted)
        where = " OR ".join(
            f"(period = ? AND label IN ({','.join('?' * len(names))}))"
            for names in by_period.values()
        )
        params = [v for period, names in by_period.items() for v in (period, *names)]
        sql = f"SELECT {', '.join(ENGAGEMENT_LOAD)} FROM kpi_engagement WHERE {where}"
        return _Aside.start(str(store.path), sql, params)

    def _staged_aside(self, aside: _Aside) -> bool:
        """Copy what the second process wrote; False when it failed (the caller reads the
        rows itself)."""
        name = aside.result()
        if name is None:
            return False
        self._copy_csv("staged_engagement", ENGAGEMENT_LOAD, name)
        self._engagement_groups()
        self.engagement_aside = True
        return True

    def _reset(self) -> None:
        """A new, empty copy: a new connection (memory is given back) and, on disk, a new
        file (the old one and its WAL unlinked first)."""
        self._con.close()
        if self._path is not None:
            discard_copy_file(self._path)
        self._con = duckdb_connect(self._path)
        self.queries = KpiStore(cast("Database", _DuckDatabase(self._con)), cast(Any, None))
        self._create_temp()  # first: the facts table is made from the staged one
        self._create()

    def _from_staged(self) -> None:
        self._con.execute(f"INSERT INTO kpi_facts {_FACTS_SELECT}")
        self._con.execute("DELETE FROM staged_facts")

    def _apply(self, store: StateStore, keys: list[str]) -> None:
        """Replace the copied rows of `keys` with the store's (none: the lead is gone)."""
        if not keys:
            return
        con = self._con
        con.execute("CREATE OR REPLACE TEMP TABLE changed (lead_key VARCHAR)")
        self._insert("changed", ("lead_key",), [(k,) for k in keys])
        for table in ("kpi_facts", "kpi_engagement"):
            con.execute(f"DELETE FROM {table} WHERE lead_key IN (SELECT lead_key FROM changed)")
        facts: list[tuple[Any, ...]] = []
        engagement: list[tuple[Any, ...]] = []
        for chunk in chunks(keys, 500):
            marks = ",".join("?" * len(chunk))
            facts += store._db.execute(
                f"SELECT {', '.join(LOAD_COLUMNS)} FROM kpi_facts WHERE lead_key IN ({marks})",
                chunk,
            ).fetchall()
            if self._labels:
                engagement += [
                    r
                    for r in store._db.execute(
                        f"SELECT {', '.join(ENGAGEMENT_LOAD)} FROM kpi_engagement "
                        f"WHERE lead_key IN ({marks})",
                        chunk,
                    ).fetchall()
                    if (r[1], r[2]) in self._labels
                ]
        self._stage("staged_facts", LOAD_COLUMNS, facts)
        self._from_staged()
        self._stage("staged_engagement", ENGAGEMENT_LOAD, engagement)
        self._engagement_groups()

    def _ensure_labels(self, store: StateStore, labels: Sequence[tuple[str, str]]) -> None:
        """Copy the engagement rows of the (period, label) pairs not copied yet."""
        wanted = sorted(set(labels) - self._labels)
        if not wanted:
            return
        with self._transaction():
            self._copy_labels(store, wanted)
            self._labels.update(wanted)
            self._write_meta()

    def _copy_labels(self, store: StateStore, wanted: Sequence[tuple[str, str]]) -> None:
        for period in sorted({p for p, _ in wanted}):
            names = [label for p, label in wanted if p == period]
            for chunk in chunks(names, 500):
                marks = ",".join("?" * len(chunk))
                rows = store._db.execute(
                    f"SELECT {', '.join(ENGAGEMENT_LOAD)} FROM kpi_engagement "
                    f"WHERE period = ? AND label IN ({marks})",
                    [period, *chunk],
                )
                self._stage("staged_engagement", ENGAGEMENT_LOAD, rows)
        self._engagement_groups()

    def _engagement_groups(self) -> None:
        """Move the staged engagement rows into `kpi_engagement`, each with its lead's
        `segkey` and `channel` (the report's engagement query then groups them without
        joining the facts; `KpiStore._engagement_sql`). Rows whose lead has no facts get
        NULL: the join would drop them, the query skips them. A lead's facts and engagement
        are copied again together when it changes (`_apply`). (One join at copy time: an
        UPDATE of the copied rows took 22 s at 1M.)"""
        cols = ", ".join(f"e.{c}" for c in ENGAGEMENT_LOAD)
        self._con.execute(
            f"INSERT INTO kpi_engagement SELECT {cols}, f.segkey, f.channel "
            "FROM staged_engagement e LEFT JOIN kpi_facts f ON f.lead_key = e.lead_key"
        )
        self._con.execute("DELETE FROM staged_engagement")

    def _refresh_tasks(self, store: StateStore) -> bool:
        """The MQL follow-up Tasks: topped up from the latest creation time seen, reloaded
        when the count does not add up (a Task removed or dated earlier). Returns whether
        the copy changed."""
        like = MQL_TASK_PREFIX + "%"
        count, latest = store._db.execute(
            "SELECT count(*), max(created_at) FROM tasks WHERE connector_key LIKE ?", (like,)
        ).fetchone()
        found = (int(count), latest)
        if found == self._tasks:
            return False
        con = self._con
        if self._tasks[1] is not None and latest is not None and latest >= self._tasks[1]:
            since = self._tasks[1]
            rows = store._db.execute(
                "SELECT connector_key, lead_key, created_at FROM tasks "
                "WHERE connector_key LIKE ? AND created_at >= ?",
                (like, since),
            ).fetchall()
            con.execute("DELETE FROM tasks WHERE created_at >= ?", [since])
            self._insert("tasks", ("connector_key", "lead_key", "created_at"), rows)
            if con.execute("SELECT count(*) FROM tasks").fetchone()[0] == found[0]:
                self._tasks = found
                return True
        con.execute("DELETE FROM tasks")
        rows = store._db.execute(
            "SELECT connector_key, lead_key, created_at FROM tasks WHERE connector_key LIKE ?",
            (like,),
        )
        self._stage("tasks", ("connector_key", "lead_key", "created_at"), rows)
        self._tasks = found
        return True

    def _owner(self, store: StateStore, owner: str | None) -> None:
        self._con.execute("DELETE FROM links")
        if owner is not None:
            keys = sorted(store.kpi.owned_keys(owner))
            self._insert("links", ("lead_key", "owner_id"), [(k, owner) for k in keys])

    # ------------------------------------------------------------------ row transport
    def _stage(self, table: str, columns: Sequence[str], rows: Any) -> int:
        """Append `rows` (an iterable of tuples, read once) to `table`: through a CSV file
        when there are many, else multi-row INSERTs. Returns the number of rows."""
        head: list[tuple[Any, ...]] = []
        iterator = iter(rows)
        for row in iterator:
            head.append(tuple(row))
            if len(head) >= _CSV_FROM:
                break
        if len(head) < _CSV_FROM:
            self._insert(table, columns, head)
            return len(head)
        fd, name = tempfile.mkstemp(prefix="connector-kpi-", suffix=".csv")
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
                writer.writerows(head)
                writer.writerows(iterator)
            return self._copy_csv(table, columns, name)
        finally:
            os.unlink(name)

    def _copy_csv(self, table: str, columns: Sequence[str], name: str) -> int:
        """CSV → table. The CSV writer writes None and "" alike (an empty field): the text
        columns that are never NULL in the store are restored to "" by `_FACTS_SELECT`'s
        coalesce; the others are numbers or labels (never empty), read as NULL."""
        con = self._con
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE {table}").fetchall()}
        spec = ", ".join(f"'{c}': '{types[c]}'" for c in columns)
        before = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        con.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM read_csv("
            f"'{name.replace(chr(39), chr(39) * 2)}', header = false, auto_detect = false, "
            f"columns = {{{spec}}}, quote = '\"', escape = '\"', delim = ',')"
        )
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] - before)

    def _insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Small loads as multi-row INSERTs of SQL literals: DuckDB's Python parameter
        binding costs milliseconds per value (it probes for pandas/numpy types), literals
        do not. Values are the store's: text, integers or NULL."""
        for start in range(0, len(rows), 500):
            part = rows[start : start + 500]
            values = ",".join("(" + ",".join(_literal(v) for v in row) + ")" for row in part)
            self._con.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}")


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int):
        return str(int(value))
    return "'" + str(value).replace("'", "''") + "'"


_MIRRORS: dict[str, KpiMirror] = {}
_MIRRORS_LOCK = threading.Lock()


def mirror_for(store: StateStore, *, keep: bool = False) -> KpiMirror:
    """The process's copy of `store`'s facts (created on first use; the most recently used
    `_MAX_MIRRORS` are kept). With `keep` and a SQLite store, the copy is the file beside
    the state (`copy_path`), there for the next process too; else in memory. A copy this
    process already holds is used as it is."""
    key = store.where
    with _MIRRORS_LOCK:
        mirror = _MIRRORS.pop(key, None)
        if mirror is None:
            path = copy_path(store.path) if keep and store.path is not None else None
            mirror = KpiMirror(path)
        _MIRRORS[key] = mirror  # most recent last
        while len(_MIRRORS) > _MAX_MIRRORS:
            _MIRRORS.pop(next(iter(_MIRRORS))).close()
        return mirror


def drop_mirrors() -> None:
    """Forget every copy (tests; a process that wants its memory back)."""
    with _MIRRORS_LOCK:
        for mirror in _MIRRORS.values():
            mirror.close()
        _MIRRORS.clear()


atexit.register(drop_mirrors)  # a file copy is checkpointed and closed at exit
