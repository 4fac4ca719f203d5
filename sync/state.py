"""The connector's state: cursors, leads and their activities, links, written values, MQL
episodes, the Task outbox, dead letters and the run history.

In SQLite by default (a file, WAL so `connector status` can read while a sync runs, created
owner-only (0600): it holds personal data), or in PostgreSQL by URL for teams that run workers
on several machines or keep state centrally. Both go through the same SQL here; what differs
is in `sync.db`. One run at a time (the run lock), one writing transaction at a time. Schema
changes are numbered migrations applied in order, each in a transaction, recorded in
`schema_version`; the same list serves both databases.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.models import Activity, Company, Contact, DistinctActivities
from core.outcomes import (
    ContactRole,
    LeadOutcome,
    OpportunityRecord,
    SalesforceRecord,
    pick_opportunity,
)
from core.plan import RecordWrite, TaskWrite
from scoring import MqlState
from sync.db import (
    Database,
    Row,
    SqliteTarget,
    StateTarget,
    connect,
    database_errors,
    unusable_message,
)
from sync.plan import HotState

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE cursors (stream TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE contacts (
        hubspot_id TEXT PRIMARY KEY, email TEXT, properties TEXT NOT NULL, company_id TEXT,
        updated_at TEXT, archived INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX contacts_email ON contacts(email);
    CREATE TABLE companies (
        hubspot_id TEXT PRIMARY KEY, properties TEXT NOT NULL, updated_at TEXT);
    CREATE TABLE activities (
        source_id TEXT PRIMARY KEY, kind TEXT NOT NULL, occurred_at TEXT NOT NULL,
        contact_id TEXT, email TEXT, attributes TEXT NOT NULL);
    CREATE INDEX activities_contact ON activities(contact_id);
    CREATE INDEX activities_email ON activities(email);
    CREATE TABLE links (
        lead_key TEXT PRIMARY KEY, sobject TEXT NOT NULL, record_id TEXT NOT NULL,
        owner_id TEXT, updated_at TEXT NOT NULL);
    CREATE TABLE written (
        lead_key TEXT NOT NULL, sobject TEXT NOT NULL, field TEXT NOT NULL, value TEXT,
        written_at TEXT NOT NULL, PRIMARY KEY (lead_key, sobject, field));
    CREATE TABLE mql_state (
        lead_key TEXT PRIMARY KEY, episode INTEGER NOT NULL, qualified INTEGER NOT NULL,
        since TEXT, rule TEXT, updated_at TEXT NOT NULL);
    CREATE TABLE tasks (
        connector_key TEXT PRIMARY KEY, lead_key TEXT NOT NULL, status TEXT NOT NULL,
        payload TEXT NOT NULL, task_id TEXT, created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL);
    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT, lead_key TEXT, stage TEXT NOT NULL,
        code TEXT, message TEXT NOT NULL, fields TEXT, created_at TEXT NOT NULL,
        resolved INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, started_at TEXT NOT NULL,
        finished_at TEXT, outcome TEXT, summary TEXT);
    """,
    # 2: leads waiting to be scored and written. A page of HubSpot records and the marks of
    # the leads it touches are stored in one transaction, so a stream's cursor can move as
    # soon as the stream is read: the marks are the durable promise that the leads will be
    # processed, by this run or, after a crash, by the next one.
    """
    CREATE TABLE dirty (ref TEXT PRIMARY KEY, marked_at TEXT NOT NULL);
    """,
    # 3: hot-lead episodes, for the optional hot-lead alert Task (`[task] triggers`).
    """
    CREATE TABLE hot_state (
        lead_key TEXT PRIMARY KEY, episode INTEGER NOT NULL, hot INTEGER NOT NULL,
        changed_at TEXT, updated_at TEXT NOT NULL);
    """,
    # 4: sales outcomes pulled from Salesforce (`sync.outcomes`): the Leads and Contacts of
    # known leads, opportunities and their contact roles. Amounts are decimal text (exact).
    """
    CREATE TABLE sf_records (
        record_id TEXT PRIMARY KEY, sobject TEXT NOT NULL, email TEXT, status TEXT,
        is_converted INTEGER NOT NULL DEFAULT 0, converted_at TEXT, converted_contact_id TEXT,
        converted_opportunity_id TEXT, mql_status TEXT, mql_date TEXT, stage TEXT,
        hubspot_id TEXT, created_at TEXT, modstamp TEXT, updated_at TEXT NOT NULL);
    CREATE INDEX sf_records_email ON sf_records(email);
    CREATE INDEX sf_records_converted_contact ON sf_records(converted_contact_id);
    CREATE INDEX sf_records_converted_opportunity ON sf_records(converted_opportunity_id);
    CREATE TABLE sf_opportunities (
        opportunity_id TEXT PRIMARY KEY, stage TEXT, is_closed INTEGER NOT NULL,
        is_won INTEGER NOT NULL, amount TEXT, close_date TEXT, created_at TEXT,
        account_id TEXT, modstamp TEXT, updated_at TEXT NOT NULL);
    CREATE TABLE sf_contact_roles (
        role_id TEXT PRIMARY KEY, opportunity_id TEXT NOT NULL, contact_id TEXT NOT NULL,
        is_primary INTEGER NOT NULL, modstamp TEXT, updated_at TEXT NOT NULL);
    CREATE INDEX sf_contact_roles_contact ON sf_contact_roles(contact_id);
    CREATE INDEX sf_contact_roles_opportunity ON sf_contact_roles(opportunity_id);
    CREATE INDEX links_record ON links(record_id);
    """,
    # 5: Salesforce-side bookkeeping of the write path (`sync.pipeline`):
    # - write_spool: a large backfill's planned record writes (one per lead, the latest plan
    #   wins), flushed at its end as a few Bulk API 2.0 jobs; a row goes once its result is
    #   recorded;
    # - sf_snapshot: that backfill's identity, read by Bulk API query jobs: each matched lead's
    #   record and the current values of its watched fields;
    # - sf_no_match: leads Salesforce had no record for, and when that was last checked (not
    #   matched again before `sync.no_match_recheck_hours`).
    """
    CREATE TABLE write_spool (
        lead_key TEXT PRIMARY KEY, sobject TEXT NOT NULL, record_id TEXT, external_id TEXT,
        fields TEXT NOT NULL, spooled_at TEXT NOT NULL);
    CREATE INDEX write_spool_kind ON write_spool(sobject, record_id);
    CREATE TABLE sf_snapshot (
        lead_key TEXT PRIMARY KEY, sobject TEXT NOT NULL, record_id TEXT NOT NULL,
        owner_id TEXT, current TEXT NOT NULL);
    CREATE TABLE sf_no_match (lead_key TEXT PRIMARY KEY, checked_at TEXT NOT NULL);
    """,
)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


# Values bound in one `IN (...)` (SQLite allows 32,766 parameters, PostgreSQL 65,535).
IN_CHUNK = 500

# First character of a mark deferred to the next run (`StateStore.clear_dirty`); "c:" and
# "e:" are the marks of contact ids and emails.
DEFERRED = "~"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _precise_iso(value: datetime) -> str:
    """To the microsecond, always with the fraction, so such texts order as the instants do
    (and a second-precision text `...:05+00:00` sorts before every `...:05.xxxxxx+00:00`)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class Link:
    lead_key: str
    sobject: str
    record_id: str
    owner_id: str | None


class StateStore:
    """A thin wrapper over one state database; every method is one small transaction.

    `target` is a SQLite file path (or a `sync.db.SqliteTarget`) or a `sync.db.PostgresTarget`.
    `clock` times the confirmed writes (`written.written_at`, to the microsecond), which
    `outcomes_follow_writes` compares with an outcome pull's start (`Outcomes.wall_clock`).
    """

    def __init__(
        self, target: Path | StateTarget, clock: Callable[[], datetime] | None = None
    ) -> None:
        if isinstance(target, str | Path):
            target = SqliteTarget(Path(target))
        self.target = target
        self._clock = clock or _wall_clock
        self.path = target.path if isinstance(target, SqliteTarget) else None
        db: Database | None = None
        try:
            db = connect(target)
            self._db = db
            self._migrate()
        except database_errors(target) as exc:
            if db is not None:
                db.close()
            raise ConfigError(unusable_message(target, exc)) from None

    @property
    def where(self) -> str:
        """The file, or the URL without its password: safe to print."""
        return self.target.display

    @property
    def dialect(self) -> str:
        return self._db.dialect

    def _schema_version(self) -> int:
        return int(self._db.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0)

    def _migrate(self) -> None:
        if self._db.table_exists("schema_version") and self._schema_version() >= len(MIGRATIONS):
            return  # up to date: no write transaction (`connector status` during a sync)
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        for number, script in enumerate(MIGRATIONS, start=1):
            with self.transaction() as db:
                # Read again under the write lock: another process may have just migrated.
                if number <= self._schema_version():
                    continue
                db.run_script(script)
                db.execute("INSERT INTO schema_version VALUES (?)", (number,))

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        with self._db.transaction() as db:
            yield db

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ cursors
    def cursor(self, stream: str) -> datetime | None:
        row = self._db.execute("SELECT value FROM cursors WHERE stream = ?", (stream,)).fetchone()
        return _parse(row["value"]) if row else None

    def cursors(self) -> dict[str, datetime]:
        rows = self._db.execute("SELECT stream, value FROM cursors ORDER BY stream")
        return {r["stream"]: datetime.fromisoformat(r["value"]) for r in rows}

    def set_cursors(self, values: Mapping[str, datetime]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO cursors VALUES (?, ?, ?) ON CONFLICT(stream) DO UPDATE SET "
                "value = excluded.value, updated_at = excluded.updated_at",
                [(stream, _iso(value), _now_iso()) for stream, value in values.items()],
            )

    # ------------------------------------------------------------------ HubSpot data
    def upsert_contacts(self, contacts: Iterable[Contact]) -> None:
        with self.transaction() as db:
            self._upsert_contacts(db, contacts)

    @staticmethod
    def _upsert_contacts(db: Database, contacts: Iterable[Contact]) -> None:
        db.executemany(
            "INSERT INTO contacts VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(hubspot_id) DO UPDATE "
            "SET email = excluded.email, properties = excluded.properties, "
            "company_id = excluded.company_id, updated_at = excluded.updated_at, "
            "archived = excluded.archived",
            [
                (
                    c.hubspot_id,
                    c.email,
                    json.dumps(dict(c.properties), ensure_ascii=False),
                    c.company_id,
                    _iso(c.updated_at),
                    int(c.archived),
                )
                for c in contacts
            ],
        )

    def upsert_companies(self, companies: Iterable[Company]) -> None:
        with self.transaction() as db:
            self._upsert_companies(db, companies)

    @staticmethod
    def _upsert_companies(db: Database, companies: Iterable[Company]) -> None:
        db.executemany(
            "INSERT INTO companies VALUES (?, ?, ?) ON CONFLICT(hubspot_id) DO UPDATE SET "
            "properties = excluded.properties, updated_at = excluded.updated_at",
            [
                (
                    c.hubspot_id,
                    json.dumps(dict(c.properties), ensure_ascii=False),
                    _iso(c.updated_at),
                )
                for c in companies
            ],
        )

    def add_activities(self, activities: Iterable[Activity]) -> int:
        """Store activities; a re-read `source_id` is ignored. Returns how many were new."""
        with self.transaction() as db:
            return self._add_activities(db, activities)

    @staticmethod
    def _add_activities(db: Database, activities: Iterable[Activity]) -> int:
        return db.executemany(
            "INSERT INTO activities VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                (
                    a.source_id,
                    a.kind,
                    _iso(a.occurred_at),
                    a.contact_id,
                    a.email,
                    json.dumps(dict(a.attributes), ensure_ascii=False),
                )
                for a in activities
            ],
        )

    def contact(self, hubspot_id: str) -> Contact | None:
        row = self._db.execute(
            "SELECT * FROM contacts WHERE hubspot_id = ?", (hubspot_id,)
        ).fetchone()
        return _contact(row) if row else None

    def _rows_in(self, sql: str, values: Iterable[str], *extra: Any) -> Iterator[Row]:
        return _rows_in(self._db, sql, values, extra)

    def _column_in(self, sql: str, values: Iterable[str], *extra: Any, repeat: int = 1) -> set[str]:
        """The first column of `_rows_in`, as a set."""
        return {r[0] for r in _rows_in(self._db, sql, values, extra, repeat)}

    def contacts_by_email(self, emails: Iterable[str]) -> dict[str, list[Contact]]:
        out: dict[str, list[Contact]] = {}
        for row in self._rows_in(
            "SELECT * FROM contacts WHERE email IN ({marks}) ORDER BY hubspot_id", emails
        ):
            out.setdefault(row["email"], []).append(_contact(row))
        return out

    def contact_ids(self, ids: Iterable[str]) -> dict[str, Contact]:
        rows = self._rows_in("SELECT * FROM contacts WHERE hubspot_id IN ({marks})", ids)
        return {row["hubspot_id"]: _contact(row) for row in rows}

    def company_ids_known(self, ids: Iterable[str]) -> set[str]:
        sql = "SELECT hubspot_id FROM companies WHERE hubspot_id IN ({marks})"
        return self._column_in(sql, ids)

    def activity_ids_known(self, ids: Iterable[str]) -> set[str]:
        return self._column_in("SELECT source_id FROM activities WHERE source_id IN ({marks})", ids)

    def company(self, hubspot_id: str | None) -> Company | None:
        if hubspot_id is None:
            return None
        return self.companies_by_id([hubspot_id]).get(hubspot_id)

    def companies_by_id(self, ids: Iterable[str]) -> dict[str, Company]:
        """The stored companies among `ids`, by id."""
        found = _fetch(self._db, "companies", "hubspot_id", list(ids), _company)
        return {c.hubspot_id: c for c in found}

    def activities_for(self, contact_ids: Iterable[str], email: str | None) -> DistinctActivities:
        """The lead's activities; distinct by source_id, the table's primary key."""
        ids = list(contact_ids)
        marks = ",".join("?" * len(ids)) or "NULL"
        rows = self._db.execute(
            f"SELECT * FROM activities WHERE contact_id IN ({marks}) OR email = ?",
            [*ids, email],
        )
        return DistinctActivities(
            Activity(
                source_id=r["source_id"],
                kind=r["kind"],
                occurred_at=datetime.fromisoformat(r["occurred_at"]),
                contact_id=r["contact_id"],
                email=r["email"],
                attributes=json.loads(r["attributes"]),
            )
            for r in rows
        )

    def all_lead_emails(self) -> list[str]:
        rows = self._db.execute(
            "SELECT DISTINCT email FROM contacts WHERE email IS NOT NULL AND archived = 0 "
            "ORDER BY email"
        )
        return [r[0] for r in rows]

    def counts(self) -> dict[str, int]:
        tables = ("contacts", "companies", "activities", "links", "tasks", "dead_letters", "dirty")
        out = {t: self._db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        out["open_dead_letters"] = self._db.execute(
            "SELECT count(*) FROM dead_letters WHERE resolved = 0"
        ).fetchone()[0]
        return out

    # ------------------------------------------------------------------ Salesforce side
    def links(self, lead_keys: Iterable[str]) -> dict[str, Link]:
        rows = self._rows_in("SELECT * FROM links WHERE lead_key IN ({marks})", lead_keys)
        return {
            r["lead_key"]: Link(r["lead_key"], r["sobject"], r["record_id"], r["owner_id"])
            for r in rows
        }

    def save_links(self, links: Iterable[Link]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO links VALUES (?, ?, ?, ?, ?) ON CONFLICT(lead_key) DO UPDATE SET "
                "sobject = excluded.sobject, record_id = excluded.record_id, "
                "owner_id = excluded.owner_id, updated_at = excluded.updated_at",
                [(k.lead_key, k.sobject, k.record_id, k.owner_id, _now_iso()) for k in links],
            )

    def forget_link(self, lead_key: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM links WHERE lead_key = ?", (lead_key,))
            # Only the Salesforce record's values: what was written to the lead's HubSpot
            # contacts (sobject "HubSpot.contact") still holds there.
            db.execute(
                "DELETE FROM written WHERE lead_key = ? AND sobject NOT LIKE 'HubSpot.%'",
                (lead_key,),
            )

    def written(self, lead_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Last written values per lead: {lead_key: {"<sobject>.<field>": value}}."""
        out: dict[str, dict[str, Any]] = {}
        for r in self._rows_in("SELECT * FROM written WHERE lead_key IN ({marks})", lead_keys):
            out.setdefault(r["lead_key"], {})[f"{r['sobject']}.{r['field']}"] = json.loads(
                r["value"]
            )
        return out

    def record_written(self, lead_key: str, sobject: str, values: Mapping[str, Any]) -> None:
        now = _precise_iso(self._clock())
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO written VALUES (?, ?, ?, ?, ?) ON CONFLICT(lead_key, sobject, field) "
                "DO UPDATE SET value = excluded.value, written_at = excluded.written_at",
                [
                    (lead_key, sobject, name, json.dumps(value, ensure_ascii=False), now)
                    for name, value in values.items()
                ],
            )

    def record_writes(self, writes: Iterable[tuple[str, str, Mapping[str, Any]]]) -> None:
        """`record_written` and `resolve_dead_letters` for many (lead_key, sobject, values) at
        once, in one transaction (a bulk flush confirms hundreds of thousands together)."""
        items = list(writes)
        now = _precise_iso(self._clock())
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO written VALUES (?, ?, ?, ?, ?) ON CONFLICT(lead_key, sobject, field) "
                "DO UPDATE SET value = excluded.value, written_at = excluded.written_at",
                [
                    (key, sobject, name, json.dumps(value, ensure_ascii=False), now)
                    for key, sobject, values in items
                    for name, value in values.items()
                ],
            )
            db.executemany(
                "UPDATE dead_letters SET resolved = 1 WHERE lead_key = ? AND resolved = 0",
                [(key,) for key in dict.fromkeys(key for key, _, _ in items)],
            )

    def mql_states(self, lead_keys: Iterable[str]) -> dict[str, MqlState]:
        rows = self._rows_in("SELECT * FROM mql_state WHERE lead_key IN ({marks})", lead_keys)
        return {
            r["lead_key"]: MqlState(
                r["episode"], bool(r["qualified"]), _parse(r["since"]), r["rule"]
            )
            for r in rows
        }

    def hot_states(self, lead_keys: Iterable[str]) -> dict[str, HotState]:
        rows = self._rows_in("SELECT * FROM hot_state WHERE lead_key IN ({marks})", lead_keys)
        return {
            r["lead_key"]: HotState(r["episode"], bool(r["hot"]), _parse(r["changed_at"]))
            for r in rows
        }

    def record_decisions(
        self,
        states: Mapping[str, MqlState],
        tasks: Iterable[TaskWrite],
        hot: Mapping[str, HotState] | None = None,
    ) -> None:
        """MQL and hot episodes and the Task intents they cause, atomically."""
        with self.transaction() as db:
            self._save_mql_states(db, states)
            if hot:
                db.executemany(
                    "INSERT INTO hot_state VALUES (?, ?, ?, ?, ?) ON CONFLICT(lead_key) DO UPDATE "
                    "SET episode = excluded.episode, hot = excluded.hot, "
                    "changed_at = excluded.changed_at, updated_at = excluded.updated_at",
                    [
                        (key, h.episode, int(h.hot), _iso(h.changed_at), _now_iso())
                        for key, h in hot.items()
                    ],
                )
            self._record_task_intents(db, tasks)

    def _save_mql_states(self, db: Database, states: Mapping[str, MqlState]) -> None:
        db.executemany(
            "INSERT INTO mql_state VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(lead_key) DO UPDATE "
            "SET episode = excluded.episode, qualified = excluded.qualified, "
            "since = excluded.since, rule = excluded.rule, updated_at = excluded.updated_at",
            [
                (key, s.episode, int(s.qualified), _iso(s.since), s.rule, _now_iso())
                for key, s in states.items()
            ],
        )

    # Task outbox: an intent is recorded (with its payload) before it is sent, and marked done
    # once Salesforce confirmed it. A crash in between leaves it pending: the next run sends it
    # again, and the upsert on Connector_Key__c makes that harmless.
    def _record_task_intents(self, db: Database, tasks: Iterable[TaskWrite]) -> None:
        db.executemany(
            "INSERT INTO tasks VALUES (?, ?, 'pending', ?, NULL, ?, ?) ON CONFLICT DO NOTHING",
            [
                (
                    t.connector_key,
                    t.lead_key,
                    json.dumps({"fields": dict(t.fields), "who_id": t.who_id}),
                    _now_iso(),
                    _now_iso(),
                )
                for t in tasks
            ],
        )

    def pending_tasks(self) -> list[TaskWrite]:
        rows = self._db.execute(
            "SELECT * FROM tasks WHERE status = 'pending' ORDER BY created_at, connector_key"
        )
        out = []
        for r in rows:
            payload = json.loads(r["payload"])
            out.append(
                TaskWrite(r["lead_key"], r["connector_key"], payload["fields"], payload["who_id"])
            )
        return out

    def task_status(self, keys: Iterable[str]) -> dict[str, str]:
        sql = "SELECT connector_key, status FROM tasks WHERE connector_key IN ({marks})"
        return {r[0]: r[1] for r in self._rows_in(sql, keys)}

    def mark_tasks_done(self, done: Iterable[tuple[str, str | None]]) -> None:
        """`mark_task_done` for many (connector_key, task_id) in one transaction."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE tasks SET status = 'done', task_id = ?, updated_at = ? "
                "WHERE connector_key = ?",
                [(task_id, _now_iso(), key) for key, task_id in done],
            )

    def mark_task_done(self, connector_key: str, task_id: str | None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE tasks SET status = 'done', task_id = ?, updated_at = ? "
                "WHERE connector_key = ?",
                (task_id, _now_iso(), connector_key),
            )

    def tasks_for(self, lead_keys: Iterable[str]) -> dict[str, list[tuple[str, str, datetime]]]:
        """Follow-up Tasks per lead: (connector_key, status, created_at), oldest first."""
        out: dict[str, list[tuple[str, str, datetime]]] = {}
        for r in self._rows_in(
            "SELECT lead_key, connector_key, status, created_at FROM tasks "
            "WHERE lead_key IN ({marks}) ORDER BY created_at, connector_key",
            lead_keys,
        ):
            out.setdefault(r[0], []).append((r[1], r[2], datetime.fromisoformat(r[3])))
        return out

    # ------------------------------------------------------------------ backfill spool
    def spool_writes(self, writes: Iterable[RecordWrite]) -> None:
        """Planned record writes, kept until `unspool` (one row per lead: the latest wins)."""
        with self.transaction() as db:
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
                        _now_iso(),
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
        """Drop sent writes from the spool; `defer` as in `clear_dirty`."""
        with self.transaction() as db:
            db.executemany("DELETE FROM write_spool WHERE lead_key = ?", [(k,) for k in lead_keys])
            self._defer(db, defer)

    def save_snapshot(
        self, rows: Iterable[tuple[str, str, str, str | None, Mapping[str, Any]]]
    ) -> None:
        """(lead_key, sobject, record_id, owner_id, current values) of matched leads."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO sf_snapshot VALUES (?, ?, ?, ?, ?) ON CONFLICT(lead_key) DO UPDATE "
                "SET sobject = excluded.sobject, record_id = excluded.record_id, "
                "owner_id = excluded.owner_id, current = excluded.current",
                [
                    (k, o, i, w, json.dumps(dict(c), ensure_ascii=False, default=str))
                    for k, o, i, w, c in rows
                ],
            )

    def snapshot(
        self, lead_keys: Iterable[str]
    ) -> dict[str, tuple[str, str, str | None, dict[str, Any]]]:
        rows = self._rows_in("SELECT * FROM sf_snapshot WHERE lead_key IN ({marks})", lead_keys)
        return {
            r["lead_key"]: (r["sobject"], r["record_id"], r["owner_id"], json.loads(r["current"]))
            for r in rows
        }

    def no_match_since(self, lead_keys: Iterable[str], since: datetime) -> set[str]:
        """The leads found without a Salesforce record at or after `since`."""
        sql = "SELECT lead_key FROM sf_no_match WHERE lead_key IN ({marks}) AND checked_at >= ?"
        return self._column_in(sql, lead_keys, _iso(since))

    def set_no_match(self, unmatched: Iterable[str], matched: Iterable[str], at: datetime) -> None:
        """Remember `unmatched` as checked at `at`; forget `matched`."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO sf_no_match VALUES (?, ?) ON CONFLICT(lead_key) DO UPDATE SET "
                "checked_at = excluded.checked_at",
                [(k, _iso(at)) for k in unmatched],
            )
            db.executemany("DELETE FROM sf_no_match WHERE lead_key = ?", [(k,) for k in matched])

    def clear_snapshot(self) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM sf_snapshot")

    # ------------------------------------------------------------------ dirty leads
    # A ref is "c:<HubSpot contact id>" or "e:<canonical email>".
    def store_page(
        self,
        *,
        contacts: Iterable[Contact] = (),
        companies: Iterable[Company] = (),
        activities: Iterable[Activity] = (),
        dirty: Iterable[str] = (),
    ) -> int:
        """One page of extraction and the leads it touches, atomically. Returns how many
        activities were new."""
        with self.transaction() as db:
            self._upsert_contacts(db, contacts)
            self._upsert_companies(db, companies)
            new = self._add_activities(db, activities)
            db.executemany(
                "INSERT INTO dirty VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(r, _now_iso()) for r in dirty],
            )
            return new

    def mark_dirty(self, refs: Iterable[str]) -> None:
        self.store_page(dirty=refs)

    def mark_all_dirty(self) -> int:
        """Every stored lead with an email: for a rescore after rule changes or decay."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO dirty SELECT DISTINCT 'e:' || email, ? FROM contacts "
                "WHERE email IS NOT NULL AND archived = 0 ON CONFLICT DO NOTHING",
                (_now_iso(),),
            )
            return max(cursor.rowcount, 0)

    def dirty_refs(self, limit: int, after: str = "") -> list[str]:
        """Marks to process, in order, after `after`; not those deferred to the next run."""
        rows = self._db.execute(
            "SELECT ref FROM dirty WHERE ref > ? AND substr(ref, 1, 1) <> ? ORDER BY ref LIMIT ?",
            (after, DEFERRED, limit),
        )
        return [r[0] for r in rows]

    def dirty_count(self) -> int:
        """Leads waiting, deferred ones included."""
        return int(self._db.execute("SELECT count(*) FROM dirty").fetchone()[0])

    def clear_dirty(self, refs: Iterable[str], *, defer: Iterable[str] = ()) -> None:
        """Clear processed marks and, in the same transaction, mark the leads `defer` (lead
        keys) for the next run: durable, so a crash right after cannot forget them, and
        skipped by `dirty_refs` until `release_deferred`, so this run does not retry them in a
        loop."""
        with self.transaction() as db:
            db.executemany("DELETE FROM dirty WHERE ref = ?", [(r,) for r in refs])
            self._defer(db, defer)

    def release_deferred(self) -> int:
        """Turn the marks deferred by an earlier run into ordinary ones (at a run's start)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO dirty SELECT substr(ref, 2), marked_at FROM dirty "
                "WHERE substr(ref, 1, 1) = ? ON CONFLICT DO NOTHING",
                (DEFERRED,),
            )
            cursor = db.execute("DELETE FROM dirty WHERE substr(ref, 1, 1) = ?", (DEFERRED,))
            return max(cursor.rowcount, 0)

    @staticmethod
    def _defer(db: Database, lead_keys: Iterable[str]) -> None:
        db.executemany(
            "INSERT INTO dirty VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(f"{DEFERRED}e:{key}", _now_iso()) for key in lead_keys],
        )

    # ------------------------------------------------------------------ dead letters, runs
    def add_dead_letter(
        self,
        *,
        lead_key: str | None,
        stage: str,
        code: str | None,
        message: str,
        fields: Iterable[str] = (),
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO dead_letters (lead_key, stage, code, message, fields, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (lead_key, stage, code, message, json.dumps(list(fields)), _now_iso()),
            )

    def dead_letters(self, *, include_resolved: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT * FROM dead_letters"
        if not include_resolved:
            sql += " WHERE resolved = 0"
        return [dict(r) for r in self._db.execute(sql + " ORDER BY id")]

    def resolve_dead_letters(self, lead_key: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE dead_letters SET resolved = 1 WHERE lead_key = ?", (lead_key,))

    def start_run(self, kind: str) -> int:
        with self.transaction() as db:
            rows = db.execute(
                "INSERT INTO runs (kind, started_at) VALUES (?, ?) RETURNING id",
                (kind, _now_iso()),
            ).fetchall()
            return int(rows[0][0])

    def finish_run(self, run_id: int, outcome: str, summary: Mapping[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, outcome = ?, summary = ? WHERE id = ?",
                (_now_iso(), outcome, json.dumps(summary, default=str), run_id),
            )

    def runs(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        out = []
        for r in rows:
            item = dict(r)
            item["summary"] = json.loads(item["summary"]) if item["summary"] else None
            out.append(item)
        return out

    # ------------------------------------------------------------------ sales outcomes
    # Leads/Contacts of known leads, opportunities, contact roles (migration 4). The
    # `changed_*` reads say what would change a lead's stage before it is saved, so the
    # caller can mark exactly those leads for re-planning first (crash-safe order).
    def changed_salesforce_records(self, records: Iterable[SalesforceRecord]) -> set[str]:
        """Ids among `records` that are new to the store or whose outcome differs."""
        rows = list(records)
        before = {
            r.record_id: r
            for r in _fetch(self._db, "sf_records", "record_id", _ids(rows), _sf_record)
        }
        return {
            r.record_id
            for r in rows
            if r.record_id not in before
            or before[r.record_id].outcome_fields() != r.outcome_fields()
        }

    def pulled_record_ids(self, record_ids: Iterable[str]) -> set[str]:
        """Which of `record_ids` (Leads/Contacts) a pull has stored already (not only the
        placeholder `outcomes_follow_writes` adds for a record the connector created)."""
        ids = sorted(set(record_ids))
        found = _fetch(self._db, "sf_records", "record_id", ids, _sf_record)
        return {r.record_id for r in found if r.modstamp is not None}

    def changed_opportunities(self, opportunities: Iterable[OpportunityRecord]) -> set[str]:
        """Ids among `opportunities` that are new to the store or whose outcome differs."""
        rows = list(opportunities)
        ids = [o.opportunity_id for o in rows]
        before = {
            o.opportunity_id: o
            for o in _fetch(self._db, "sf_opportunities", "opportunity_id", ids, _opportunity)
        }
        return {
            o.opportunity_id
            for o in rows
            if o.opportunity_id not in before
            or before[o.opportunity_id].outcome_fields() != o.outcome_fields()
        }

    def changed_role_contacts(self, roles: Iterable[ContactRole]) -> set[str]:
        """Contact ids whose opportunities `roles` change (new roles, moved roles: both
        the old and the new contact)."""
        rows = list(roles)
        before = {
            r.role_id: (r.opportunity_id, r.contact_id)
            for r in _fetch(
                self._db, "sf_contact_roles", "role_id", [r.role_id for r in rows], _role
            )
        }
        changed = [r for r in rows if before.get(r.role_id) != (r.opportunity_id, r.contact_id)]
        out = {r.contact_id for r in changed}
        out |= {before[r.role_id][1] for r in changed if r.role_id in before}
        return out

    def save_salesforce_records(self, records: Iterable[SalesforceRecord]) -> None:
        """Upsert Leads/Contacts as read."""
        rows = list(records)
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO sf_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(record_id) DO UPDATE SET sobject = excluded.sobject, "
                "email = excluded.email, status = excluded.status, "
                "is_converted = excluded.is_converted, converted_at = excluded.converted_at, "
                "converted_contact_id = excluded.converted_contact_id, "
                "converted_opportunity_id = excluded.converted_opportunity_id, "
                "mql_status = excluded.mql_status, mql_date = excluded.mql_date, "
                "stage = excluded.stage, hubspot_id = excluded.hubspot_id, "
                "created_at = excluded.created_at, modstamp = excluded.modstamp, "
                "updated_at = excluded.updated_at",
                [
                    (
                        r.record_id,
                        r.sobject,
                        r.email,
                        r.status,
                        int(r.is_converted),
                        r.converted_at.isoformat() if r.converted_at else None,
                        r.converted_contact_id,
                        r.converted_opportunity_id,
                        r.mql_status,
                        _iso(r.mql_date),
                        r.stage,
                        r.hubspot_id,
                        _iso(r.created_at),
                        _iso(r.modstamp),
                        _now_iso(),
                    )
                    for r in rows
                ],
            )

    def save_opportunities(self, opportunities: Iterable[OpportunityRecord]) -> None:
        """Upsert opportunities as read."""
        rows = list(opportunities)
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO sf_opportunities VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(opportunity_id) DO UPDATE SET stage = excluded.stage, "
                "is_closed = excluded.is_closed, is_won = excluded.is_won, "
                "amount = excluded.amount, close_date = excluded.close_date, "
                "created_at = excluded.created_at, account_id = excluded.account_id, "
                "modstamp = excluded.modstamp, updated_at = excluded.updated_at",
                [
                    (
                        o.opportunity_id,
                        o.stage,
                        int(o.is_closed),
                        int(o.is_won),
                        str(o.amount) if o.amount is not None else None,
                        o.close_date.isoformat() if o.close_date else None,
                        _iso(o.created_at),
                        o.account_id,
                        _iso(o.modstamp),
                        _now_iso(),
                    )
                    for o in rows
                ],
            )

    def save_contact_roles(self, roles: Iterable[ContactRole]) -> None:
        """Upsert contact roles as read."""
        rows = list(roles)
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO sf_contact_roles VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(role_id) "
                "DO UPDATE SET opportunity_id = excluded.opportunity_id, "
                "contact_id = excluded.contact_id, is_primary = excluded.is_primary, "
                "modstamp = excluded.modstamp, updated_at = excluded.updated_at",
                [
                    (
                        r.role_id,
                        r.opportunity_id,
                        r.contact_id,
                        int(r.is_primary),
                        _iso(r.modstamp),
                        _now_iso(),
                    )
                    for r in rows
                ],
            )

    def known_lead_keys(self, emails: Iterable[str]) -> set[str]:
        """Which of `emails` are stored leads (a contact that is not archived has it)."""
        sql = "SELECT DISTINCT email FROM contacts WHERE archived = 0 AND email IN ({marks})"
        return self._column_in(sql, (e for e in emails if e))

    def linked_record_ids(self, record_ids: Iterable[str]) -> set[str]:
        """Which of `record_ids` a lead is linked to (the records the connector writes)."""
        sql = "SELECT record_id FROM links WHERE record_id IN ({marks})"
        return self._column_in(sql, record_ids)

    def lead_keys_linked_to(self, record_ids: Iterable[str]) -> set[str]:
        """The leads whose link points at one of `record_ids`."""
        sql = "SELECT lead_key FROM links WHERE record_id IN ({marks})"
        return self._column_in(sql, record_ids)

    def record_ids_for_opportunities(self, opportunity_ids: Iterable[str]) -> set[str]:
        """Leads converted into, and Contacts with a role on, these opportunities."""
        ids = set(opportunity_ids)
        converted = "SELECT record_id FROM sf_records WHERE converted_opportunity_id IN ({marks})"
        roles = "SELECT contact_id FROM sf_contact_roles WHERE opportunity_id IN ({marks})"
        return self._column_in(converted, ids) | self._column_in(roles, ids)

    def lead_keys_for_records(self, record_ids: Iterable[str]) -> set[str]:
        """The leads these Salesforce records belong to: linked to the record (or to the
        Contact a Lead was converted into), or sharing its email."""
        ids = set(record_ids)
        linked = self._column_in(
            "SELECT lead_key FROM links WHERE record_id IN ({marks}) OR record_id IN "
            "(SELECT converted_contact_id FROM sf_records WHERE record_id IN ({marks}))",
            ids,
            repeat=2,
        )
        emails = self._column_in(
            "SELECT email FROM sf_records WHERE email IS NOT NULL AND record_id IN ({marks})", ids
        )
        return linked | self.known_lead_keys(emails)

    def outcomes_for(self, lead_keys: Iterable[str]) -> dict[str, LeadOutcome]:
        """Each lead's outcome from the stored Salesforce records; leads without a stored
        record are absent. The record is the linked one (the one the connector writes),
        else the one with the lead's email (a Contact before a Lead, an open Lead before a
        converted one)."""
        out: dict[str, LeadOutcome] = {}
        for chunk in _chunks(sorted(set(lead_keys)), IN_CHUNK):
            out.update(self._outcomes_chunk(chunk))
        return out

    def _outcomes_chunk(self, keys: list[str]) -> dict[str, LeadOutcome]:
        db = self._db
        marks = ",".join("?" * len(keys))
        linked = {
            r["lead_key"]: r["record_id"]
            for r in db.execute(
                f"SELECT lead_key, record_id FROM links WHERE lead_key IN ({marks})", keys
            )
        }
        records = {
            r.record_id: r
            for r in _fetch(db, "sf_records", "record_id", sorted(set(linked.values())), _sf_record)
        }
        # Every record of the person: the linked one and all with the lead's email (sales
        # may work any of a person's duplicate Leads).
        people: dict[str, list[SalesforceRecord]] = {}
        for r in _fetch(db, "sf_records", "email", keys, _sf_record):
            records.setdefault(r.record_id, r)
            people.setdefault(r.email or "", []).append(r)
        chosen: dict[str, SalesforceRecord] = {}
        for key in keys:
            mine = people.setdefault(key, [])
            record = records.get(linked.get(key, ""))
            if record is not None and all(r.record_id != record.record_id for r in mine):
                mine.append(record)
            if record is None and mine:
                record = min(mine, key=_preference)
            if record is not None:
                chosen[key] = record
        contacts_of = {key: _contact_ids(people[key]) for key in chosen}
        all_contacts = sorted(set().union(*contacts_of.values())) if contacts_of else []
        # Leads converted into those Contacts (also those with another email), and roles.
        converted_into: dict[str, list[SalesforceRecord]] = {}
        for r in _fetch(db, "sf_records", "converted_contact_id", all_contacts, _sf_record):
            converted_into.setdefault(r.converted_contact_id or "", []).append(r)
        roles: dict[str, set[str]] = {}
        for role in _fetch(db, "sf_contact_roles", "contact_id", all_contacts, _role):
            roles.setdefault(role.contact_id, set()).add(role.opportunity_id)
        conversions: dict[str, SalesforceRecord | None] = {}
        wanted: dict[str, set[str]] = {}
        for key in chosen:
            found = [r for r in people[key] if r.is_converted]
            found += [r for c in contacts_of[key] for r in converted_into.get(c, ())]
            conversions[key] = max(found, key=_conversion_order) if found else None
            ids = {i for c in contacts_of[key] for i in roles.get(c, ())}
            ids |= {r.converted_opportunity_id for r in found if r.converted_opportunity_id}
            wanted[key] = ids
        opportunity_ids = sorted(set().union(*wanted.values())) if wanted else []
        opportunities = {
            o.opportunity_id: o
            for o in _fetch(db, "sf_opportunities", "opportunity_id", opportunity_ids, _opportunity)
        }
        out: dict[str, LeadOutcome] = {}
        for key, record in chosen.items():
            conversion = conversions[key]
            mine = [opportunities[i] for i in sorted(wanted[key]) if i in opportunities]
            best = pick_opportunity(mine)
            open_statuses = sorted(
                {
                    r.status
                    for r in people[key]
                    if r.sobject == "Lead" and r.status and not r.is_converted
                }
            )
            status = record.status if record.sobject == "Lead" else None
            if status is None and conversion is not None:
                status = conversion.status
            out[key] = LeadOutcome(
                lead_key=key,
                sobject=record.sobject,
                record_id=record.record_id,
                email=record.email,
                status=status,
                is_converted=conversion is not None,
                converted_at=conversion.converted_at if conversion else None,
                converted_contact_id=conversion.converted_contact_id if conversion else None,
                lead_statuses=tuple(open_statuses),
                opportunity_id=best.opportunity_id if best else None,
                opportunity_stage=best.stage if best else None,
                opportunity_is_closed=best.is_closed if best else False,
                opportunity_is_won=best.is_won if best else False,
                opportunity_amount=best.amount if best else None,
                opportunity_close_date=best.close_date if best else None,
                opportunity_created_at=best.created_at if best else None,
                opportunities=len(mine),
                mql_status=record.mql_status,
                mql_date=record.mql_date,
                stage=record.stage,
                modstamp=record.modstamp,
            )
        return out

    def outcomes_follow_writes(self, since: datetime, columns: Mapping[str, str]) -> int:
        """Bring the stored Salesforce records up to what the connector wrote at or after
        `since` (Salesforce confirmed those writes; the outcome pull ran before them):
        `columns` maps a written field (e.g. MQL_Status__c) to its `sf_records` column
        (`mql_status`, `stage`, `mql_date`). A record created by the connector is added with
        what is known of it; the next pull completes it. Returns the records touched."""
        if not columns:
            return 0
        marks = ",".join("?" * len(columns))
        rows = self._db.execute(
            "SELECT w.lead_key, w.sobject, w.field, w.value, l.record_id FROM written w "
            "JOIN links l ON l.lead_key = w.lead_key AND l.sobject = w.sobject "
            f"WHERE w.written_at >= ? AND w.field IN ({marks}) ORDER BY l.record_id",
            [_precise_iso(since), *columns],
        ).fetchall()
        updates: dict[str, tuple[str, str, dict[str, Any]]] = {}
        for key, sobject, name, value, record_id in rows:
            entry = updates.setdefault(record_id, (sobject, key, {}))
            loaded = json.loads(value) if value is not None else None
            if columns[name] == "mql_date" and loaded is not None:
                loaded = _iso(datetime.fromisoformat(str(loaded)))
            entry[2][columns[name]] = loaded
        with self.transaction() as db:
            for record_id, (sobject, key, values) in updates.items():
                db.execute(
                    "INSERT INTO sf_records (record_id, sobject, email, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT(record_id) DO NOTHING",
                    (record_id, sobject, key, _now_iso()),
                )
                sets = ", ".join(f"{column} = ?" for column in values)
                db.execute(
                    f"UPDATE sf_records SET {sets} WHERE record_id = ?",
                    [*values.values(), record_id],
                )
        return len(updates)

    def mql_decisions(self) -> dict[str, MqlState]:
        """Every lead's stored MQL standing (what the connector decided), by lead key."""
        return {
            r["lead_key"]: MqlState(
                r["episode"], bool(r["qualified"]), _parse(r["since"]), r["rule"]
            )
            for r in self._db.execute("SELECT * FROM mql_state ORDER BY lead_key")
        }

    def outcome_counts(self) -> dict[str, int]:
        tables = ("sf_records", "sf_opportunities", "sf_contact_roles")
        return {t: int(self._db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}


def _preference(record: SalesforceRecord) -> tuple[int, float, str]:
    """Which record with a lead's email stands for it: a Contact, an open Lead, a converted
    Lead; then the newest; then the id."""
    kind = 0 if record.sobject == "Contact" else (2 if record.is_converted else 1)
    created = record.created_at.timestamp() if record.created_at else 0.0
    return (kind, -created, record.record_id)


def _conversion_order(record: SalesforceRecord) -> tuple[date, str]:
    """The latest conversion wins (then the highest id, so the answer is stable)."""
    return (record.converted_at or date.min, record.record_id)


def _contact_ids(records: list[SalesforceRecord]) -> set[str]:
    """The Contacts among a person's records, and those their Leads were converted into."""
    out = {r.record_id for r in records if r.sobject == "Contact"}
    return out | {r.converted_contact_id for r in records if r.converted_contact_id}


def _ids(records: list[SalesforceRecord]) -> list[str]:
    return [r.record_id for r in records]


def _company(row: Any) -> Company:
    return Company(row["hubspot_id"], json.loads(row["properties"]), _parse(row["updated_at"]))


def _fetch(db: Database, table: str, column: str, values: list[str], build: Any) -> list[Any]:
    out: list[Any] = []
    for chunk in _chunks([v for v in values if v], IN_CHUNK):
        marks = ",".join("?" * len(chunk))
        rows = db.execute(f"SELECT * FROM {table} WHERE {column} IN ({marks})", chunk)
        out.extend(build(r) for r in rows)
    return out


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _sf_record(row: Row) -> SalesforceRecord:
    return SalesforceRecord(
        sobject=row["sobject"],
        record_id=row["record_id"],
        email=row["email"],
        status=row["status"],
        is_converted=bool(row["is_converted"]),
        converted_at=_date(row["converted_at"]),
        converted_contact_id=row["converted_contact_id"],
        converted_opportunity_id=row["converted_opportunity_id"],
        mql_status=row["mql_status"],
        mql_date=_parse(row["mql_date"]),
        stage=row["stage"],
        hubspot_id=row["hubspot_id"],
        created_at=_parse(row["created_at"]),
        modstamp=_parse(row["modstamp"]),
    )


def _opportunity(row: Row) -> OpportunityRecord:
    return OpportunityRecord(
        opportunity_id=row["opportunity_id"],
        stage=row["stage"],
        is_closed=bool(row["is_closed"]),
        is_won=bool(row["is_won"]),
        amount=Decimal(row["amount"]) if row["amount"] is not None else None,
        close_date=_date(row["close_date"]),
        created_at=_parse(row["created_at"]),
        account_id=row["account_id"],
        modstamp=_parse(row["modstamp"]),
    )


def _role(row: Row) -> ContactRole:
    return ContactRole(
        role_id=row["role_id"],
        opportunity_id=row["opportunity_id"],
        contact_id=row["contact_id"],
        is_primary=bool(row["is_primary"]),
        modstamp=_parse(row["modstamp"]),
    )


def _iso_default(value: Any) -> str:
    """JSON for the values a write plan may hold besides JSON's own: dates and times."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot store a {type(value).__name__} in the write spool")


def _contact(row: Row) -> Contact:
    return Contact(
        hubspot_id=row["hubspot_id"],
        email=row["email"],
        properties=json.loads(row["properties"]),
        company_id=row["company_id"],
        updated_at=_parse(row["updated_at"]),
        archived=bool(row["archived"]),
    )


def _rows_in(
    db: Database, sql: str, values: Iterable[str], extra: Sequence[Any] = (), repeat: int = 1
) -> Iterator[Row]:
    """The rows of `sql`, whose `IN ({marks})` (`repeat` times) takes `values` IN_CHUNK at a
    time, followed by the parameters `extra`."""
    for chunk in _chunks(sorted(set(values)), IN_CHUNK):
        marks = ",".join("?" * len(chunk))
        yield from db.execute(sql.format(marks=marks), [*chunk * repeat, *extra])


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
