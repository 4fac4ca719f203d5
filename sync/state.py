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
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.models import Activity, Company, Contact
from core.plan import TaskWrite
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
)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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
    """

    def __init__(self, target: Path | StateTarget) -> None:
        if isinstance(target, str | Path):
            target = SqliteTarget(Path(target))
        self.target = target
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

    def contacts_by_email(self, emails: Iterable[str]) -> dict[str, list[Contact]]:
        out: dict[str, list[Contact]] = {}
        for chunk in _chunks(list(emails), 500):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT * FROM contacts WHERE email IN ({marks}) ORDER BY hubspot_id", chunk
            )
            for row in rows:
                out.setdefault(row["email"], []).append(_contact(row))
        return out

    def contact_ids(self, ids: Iterable[str]) -> dict[str, Contact]:
        out: dict[str, Contact] = {}
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT * FROM contacts WHERE hubspot_id IN ({marks})", chunk
            ):
                out[row["hubspot_id"]] = _contact(row)
        return out

    def company_ids_known(self, ids: Iterable[str]) -> set[str]:
        known: set[str] = set()
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" * len(chunk))
            known.update(
                r[0]
                for r in self._db.execute(
                    f"SELECT hubspot_id FROM companies WHERE hubspot_id IN ({marks})", chunk
                )
            )
        return known

    def company(self, hubspot_id: str | None) -> Company | None:
        if hubspot_id is None:
            return None
        row = self._db.execute(
            "SELECT * FROM companies WHERE hubspot_id = ?", (hubspot_id,)
        ).fetchone()
        if row is None:
            return None
        return Company(row["hubspot_id"], json.loads(row["properties"]), _parse(row["updated_at"]))

    def activities_for(self, contact_ids: Iterable[str], email: str | None) -> list[Activity]:
        ids = list(contact_ids)
        marks = ",".join("?" * len(ids)) or "NULL"
        rows = self._db.execute(
            f"SELECT * FROM activities WHERE contact_id IN ({marks}) OR email = ?",
            [*ids, email],
        )
        return [
            Activity(
                source_id=r["source_id"],
                kind=r["kind"],
                occurred_at=datetime.fromisoformat(r["occurred_at"]),
                contact_id=r["contact_id"],
                email=r["email"],
                attributes=json.loads(r["attributes"]),
            )
            for r in rows
        ]

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
        out: dict[str, Link] = {}
        for chunk in _chunks(list(lead_keys), 500):
            marks = ",".join("?" * len(chunk))
            for r in self._db.execute(f"SELECT * FROM links WHERE lead_key IN ({marks})", chunk):
                out[r["lead_key"]] = Link(
                    r["lead_key"], r["sobject"], r["record_id"], r["owner_id"]
                )
        return out

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
            db.execute("DELETE FROM written WHERE lead_key = ?", (lead_key,))

    def written(self, lead_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Last written values per lead: {lead_key: {"<sobject>.<field>": value}}."""
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(lead_keys), 500):
            marks = ",".join("?" * len(chunk))
            for r in self._db.execute(f"SELECT * FROM written WHERE lead_key IN ({marks})", chunk):
                out.setdefault(r["lead_key"], {})[f"{r['sobject']}.{r['field']}"] = json.loads(
                    r["value"]
                )
        return out

    def record_written(self, lead_key: str, sobject: str, values: Mapping[str, Any]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO written VALUES (?, ?, ?, ?, ?) ON CONFLICT(lead_key, sobject, field) "
                "DO UPDATE SET value = excluded.value, written_at = excluded.written_at",
                [
                    (lead_key, sobject, name, json.dumps(value, ensure_ascii=False), _now_iso())
                    for name, value in values.items()
                ],
            )

    def mql_states(self, lead_keys: Iterable[str]) -> dict[str, MqlState]:
        out: dict[str, MqlState] = {}
        for chunk in _chunks(list(lead_keys), 500):
            marks = ",".join("?" * len(chunk))
            for r in self._db.execute(
                f"SELECT * FROM mql_state WHERE lead_key IN ({marks})", chunk
            ):
                out[r["lead_key"]] = MqlState(
                    r["episode"], bool(r["qualified"]), _parse(r["since"]), r["rule"]
                )
        return out

    def hot_states(self, lead_keys: Iterable[str]) -> dict[str, HotState]:
        out: dict[str, HotState] = {}
        for chunk in _chunks(list(lead_keys), 500):
            marks = ",".join("?" * len(chunk))
            for r in self._db.execute(
                f"SELECT * FROM hot_state WHERE lead_key IN ({marks})", chunk
            ):
                out[r["lead_key"]] = HotState(r["episode"], bool(r["hot"]), _parse(r["changed_at"]))
        return out

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
        out: dict[str, str] = {}
        for chunk in _chunks(list(keys), 500):
            marks = ",".join("?" * len(chunk))
            for r in self._db.execute(
                f"SELECT connector_key, status FROM tasks WHERE connector_key IN ({marks})", chunk
            ):
                out[r[0]] = r[1]
        return out

    def mark_task_done(self, connector_key: str, task_id: str | None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE tasks SET status = 'done', task_id = ?, updated_at = ? "
                "WHERE connector_key = ?",
                (task_id, _now_iso(), connector_key),
            )

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
        rows = self._db.execute(
            "SELECT ref FROM dirty WHERE ref > ? ORDER BY ref LIMIT ?", (after, limit)
        )
        return [r[0] for r in rows]

    def dirty_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM dirty").fetchone()[0])

    def clear_dirty(self, refs: Iterable[str]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM dirty WHERE ref = ?", [(r,) for r in refs])

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


def _contact(row: Row) -> Contact:
    return Contact(
        hubspot_id=row["hubspot_id"],
        email=row["email"],
        properties=json.loads(row["properties"]),
        company_id=row["company_id"],
        updated_at=_parse(row["updated_at"]),
        archived=bool(row["archived"]),
    )


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
