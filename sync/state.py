"""The connector's state: cursors, leads and their activities, links, written values, MQL
episodes, the Task outbox, dead letters and the run history. Two parts of it have modules of
their own, on the same database connection: the sales outcomes pulled from Salesforce
(`sync.outcome_store`, `StateStore.outcomes`) and a large backfill's write spool, identity
snapshot and no-match memo (`sync.spool_store`, `StateStore.spool`). The migrations of every
table are here; helpers the modules share are in `sync.state_rows`.

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
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from core.clock import Clock, system_clock
from core.errors import ConfigError
from core.models import Activity, Company, Contact, DistinctActivities, stored_activity
from core.plan import TaskWrite
from scoring import MqlState
from sync.account_store import AccountStore
from sync.alert_store import AlertIntent, AlertStore
from sync.db import (
    Database,
    Row,
    SqliteTarget,
    StateTarget,
    connect,
    database_errors,
    unusable_message,
)
from sync.deletion_writes import DeletionWriteStore
from sync.erasure_store import ErasureStore
from sync.kpi_store import KpiStore
from sync.lead_refs import EMAIL_PREFIX, contact_ref, email_ref, split_refs
from sync.mql_basis_store import MqlBasis, MqlBasisStore
from sync.outcome_store import OutcomeStore
from sync.plan import HotState
from sync.rejection_store import RejectionStore
from sync.score_store import ScoreStore
from sync.spool_store import SpoolStore
from sync.state_rows import (
    column_in,
    fetch,
    iso,
    parse,
    precise_iso,
    rows_in,
    seconds_iso,
)
from sync.touch_store import TouchStore

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
    # 5: Salesforce-side bookkeeping of the write path (`sync.pipeline`, `sync.salesforce_writes`):
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
    # 6: the hot-lead alert outbox (`sync.alert_store`): one row per (lead, MQL episode,
    # channel), written with the episode, `pending` until the channel confirms it (`sent`)
    # or it has failed `alerts.max_attempts` times (`dead`); `next_at` is the backoff.
    """
    CREATE TABLE alerts (
        alert_key TEXT PRIMARY KEY, lead_key TEXT NOT NULL, episode INTEGER NOT NULL,
        channel TEXT NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL,
        attempts INTEGER NOT NULL, next_at TEXT NOT NULL, last_error TEXT,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL, sent_at TEXT);
    CREATE INDEX alerts_due ON alerts(status, next_at);
    """,
    # 7: the hand-off SLA (`sync.touch_store`): sales' touches of known leads as the outcome
    # pull reads them, and one row per MQL episode with its owner, first touch and escalation;
    # sf_owners: the OwnerId of each pulled Lead/Contact of a known lead.
    """
    CREATE TABLE sf_touches (
        touch_id TEXT NOT NULL, lead_key TEXT NOT NULL, kind TEXT NOT NULL,
        record_id TEXT NOT NULL, touched_at TEXT NOT NULL, created_at TEXT NOT NULL,
        PRIMARY KEY (touch_id, lead_key));
    CREATE INDEX sf_touches_lead ON sf_touches(lead_key);
    CREATE TABLE handoffs (
        lead_key TEXT NOT NULL, episode INTEGER NOT NULL, mql_at TEXT NOT NULL, owner_id TEXT,
        sobject TEXT, record_id TEXT, touched_at TEXT, touch_kind TEXT, escalated_at TEXT,
        updated_at TEXT NOT NULL, PRIMARY KEY (lead_key, episode));
    CREATE INDEX handoffs_untouched ON handoffs(touched_at);
    CREATE TABLE sf_owners (
        record_id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, updated_at TEXT NOT NULL);
    """,
    # rule versions and shadow: every rule-set version met (content hash of the rule files,
    # who / when / why when recorded or promoted, when it first ran as a shadow); each lead's
    # latest score per track ('live', 'shadow') with the version that made it and its MQL
    # state; and the score history, a row only when a lead's score, stage, MQL status or
    # version changed; each promotion and rollback of the live rule files (`sync.score_store`).
    """
    CREATE TABLE rule_version_events (
        id TEXT PRIMARY KEY, at TEXT NOT NULL, action TEXT NOT NULL, version TEXT NOT NULL,
        previous TEXT, recorded_by TEXT, reason TEXT);
    CREATE TABLE rule_versions (
        version TEXT PRIMARY KEY, files TEXT NOT NULL, first_seen_at TEXT NOT NULL,
        recorded_at TEXT, recorded_by TEXT, reason TEXT, shadow_since TEXT,
        promoted_from TEXT);
    CREATE TABLE lead_scores (
        lead_key TEXT NOT NULL, track TEXT NOT NULL, version TEXT NOT NULL,
        total TEXT NOT NULL, stage TEXT NOT NULL, scored_stage TEXT NOT NULL,
        episode INTEGER NOT NULL, qualified INTEGER NOT NULL, since TEXT, rule TEXT,
        activities INTEGER NOT NULL, last_activity TEXT, scored_at TEXT NOT NULL,
        logged_total TEXT NOT NULL, PRIMARY KEY (lead_key, track));
    CREATE TABLE score_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT, lead_key TEXT NOT NULL, track TEXT NOT NULL,
        at TEXT NOT NULL, version TEXT NOT NULL, total TEXT NOT NULL, stage TEXT NOT NULL,
        is_mql INTEGER NOT NULL, episode INTEGER NOT NULL, causes TEXT NOT NULL,
        detail TEXT NOT NULL);
    CREATE INDEX score_history_lead ON score_history(lead_key, track, id);
    """,
    # rejection feedback: sales' reason for rejecting a Lead (`sync.rejection_store`), read by
    # the outcome pull from the field named in funnel.toml [rejection] reason_field.
    # sf_field_checks: whether the org has a field the outcome pull reads only when present
    # (the reason field), from a describe of the object, and when that was checked.
    """
    CREATE TABLE sf_rejections (
        record_id TEXT PRIMARY KEY, reason TEXT, updated_at TEXT NOT NULL);
    CREATE TABLE sf_field_checks (
        sobject TEXT NOT NULL, field TEXT NOT NULL, present INTEGER NOT NULL,
        checked_at TEXT NOT NULL, PRIMARY KEY (sobject, field));
    """,
    # accounts: account scores and buying groups (`sync.account_store`): each scored lead's
    # account inputs (HubSpot company, e-mail domain, score, job title, last activity), the
    # accounts whose members changed (`account_dirty`, marks `company:<id>`/`domain:<d>`) and
    # each account's roll-up with its Salesforce Account and what was last written where;
    # `account_pass`: the last pass's time and the `[account]` rules' hash.
    """
    CREATE TABLE account_members (
        lead_key TEXT PRIMARY KEY, company_id TEXT, domain TEXT, score TEXT NOT NULL,
        jobtitle TEXT, last_activity_at TEXT, updated_at TEXT NOT NULL);
    CREATE INDEX account_members_company ON account_members(company_id);
    CREATE INDEX account_members_domain ON account_members(domain);
    CREATE INDEX account_members_activity ON account_members(last_activity_at);
    CREATE TABLE account_dirty (mark TEXT PRIMARY KEY, marked_at TEXT NOT NULL);
    CREATE TABLE accounts (
        account_key TEXT PRIMARY KEY, company_id TEXT, domain TEXT, name TEXT,
        result TEXT NOT NULL, sf_account_id TEXT, owner_id TEXT, sf_written TEXT,
        hs_written TEXT, computed_at TEXT NOT NULL);
    CREATE TABLE account_pass (name TEXT PRIMARY KEY, value TEXT NOT NULL,
        updated_at TEXT NOT NULL);
    """,
    # deletions: archive, merge and erasure (`sync.erasure_store`, issue #18):
    # - state_secrets: the salt of the erasure hashes, generated once;
    # - erasures: one row per erased person and key kind ("email", "id"), holding only a
    #   salted hash and the day, so a later page or event about that person is dropped;
    # - contact_changes: archive / restore / merge / erase events (webhooks, the archived
    #   listing, reconciliation) waiting for the next run; a row goes once applied;
    # - merged_contacts: a merged-away contact id and its survivor;
    # - deletion_writes: Salesforce writes of the deletion policies (on_archive,
    #   erase_in_salesforce) that failed, retried by each run (`sync.deletion_writes`); named
    #   by HubSpot id and record id (lead_key only for archive/restore, never for an erasure);
    # - created_leads: the Leads the connector created (from this release on), the only ones
    #   `erase_in_salesforce = "delete_created_leads"` may delete.
    """
    CREATE TABLE state_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE erasures (
        subject_hash TEXT PRIMARY KEY, kind TEXT NOT NULL, erased_on TEXT NOT NULL);
    CREATE TABLE contact_changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT, hubspot_id TEXT NOT NULL, change TEXT NOT NULL,
        other_id TEXT, recorded_at TEXT NOT NULL);
    CREATE TABLE merged_contacts (
        merged_id TEXT PRIMARY KEY, survivor_id TEXT NOT NULL, merged_at TEXT NOT NULL);
    CREATE TABLE deletion_writes (
        id INTEGER PRIMARY KEY AUTOINCREMENT, reason TEXT NOT NULL, hubspot_id TEXT,
        lead_key TEXT, sobject TEXT NOT NULL, record_id TEXT NOT NULL, action TEXT NOT NULL,
        fields TEXT NOT NULL, dead_letter INTEGER, created_at TEXT NOT NULL);
    CREATE TABLE created_leads (
        record_id TEXT PRIMARY KEY, hubspot_id TEXT, created_at TEXT NOT NULL);
    """,
    # kpi facts: per-lead KPI facts kept current for the set-based report (`sync.kpi_store`):
    # the facts (instants as epoch microseconds, with their week / month labels), segment
    # values, engagement per lead and period, leads whose facts may be stale, and the rules'
    # hash and moment the facts were computed under; per lead, the moment its facts were
    # computed at and the last moment time alone leaves them true (`scoring.validity`).
    # kpi mirror: `kpi_changes` logs every lead whose facts a write replaced or deleted, in
    # order (`seq`), so an in-process DuckDB copy applies only what changed (`sync.kpi_mirror`).
    """
    CREATE TABLE kpi_facts (
        lead_key TEXT PRIMARY KEY, hubspot_id TEXT, created BIGINT NOT NULL,
        created_month TEXT NOT NULL, created_week TEXT NOT NULL, channel TEXT NOT NULL,
        segkey TEXT NOT NULL, first_mql BIGINT, mql_month TEXT, mql_week TEXT,
        first_interest BIGINT, interest_month TEXT, interest_week TEXT, first_comparison BIGINT,
        has_outcome INTEGER NOT NULL, sql_flag INTEGER NOT NULL, sql_at BIGINT,
        opportunity_at BIGINT, won_at BIGINT, lost_at BIGINT, amount TEXT,
        facts_at BIGINT NOT NULL, valid_until BIGINT NOT NULL);
    CREATE INDEX kpi_facts_created ON kpi_facts(created);
    CREATE INDEX kpi_facts_valid ON kpi_facts(valid_until);
    CREATE INDEX kpi_facts_at ON kpi_facts(facts_at);
    CREATE INDEX kpi_facts_mql ON kpi_facts(first_mql);
    CREATE TABLE kpi_segments (
        lead_key TEXT NOT NULL, dimension TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (lead_key, dimension));
    CREATE INDEX kpi_segments_value ON kpi_segments(dimension, value);
    CREATE TABLE kpi_engagement (
        lead_key TEXT NOT NULL, period TEXT NOT NULL, label TEXT NOT NULL,
        delivered INTEGER NOT NULL, opened INTEGER NOT NULL, clicked INTEGER NOT NULL,
        registered INTEGER NOT NULL, attended INTEGER NOT NULL, downloads INTEGER NOT NULL,
        PRIMARY KEY (lead_key, period, label));
    CREATE INDEX kpi_engagement_label ON kpi_engagement(period, label);
    CREATE TABLE kpi_stale (ref TEXT PRIMARY KEY);
    CREATE TABLE kpi_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE kpi_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, lead_key TEXT NOT NULL);
    CREATE INDEX tasks_lead ON tasks(lead_key);
    """,
    # mql basis: the basis of each MQL decision, written with the MQL state when a lead starts
    # a new episode (`sync.mql_basis_store`): the episode, its start, the rules with positive
    # points in the score that qualified and that score's segments, so the report's rejection
    # table reads them instead of replaying each lead. kpi_facts.verdict: sales' verdict on
    # the lead ('rejected' / 'accepted' / NULL, `sync.outcomes.lead_verdict`); the rules hash
    # is cleared so the next report rebuilds every lead's facts and fills it.
    """
    CREATE TABLE mql_basis (
        lead_key TEXT PRIMARY KEY, episode INTEGER NOT NULL, since TEXT NOT NULL,
        rules TEXT NOT NULL, segments TEXT NOT NULL, rules_version TEXT,
        updated_at TEXT NOT NULL);
    ALTER TABLE kpi_facts ADD COLUMN verdict TEXT;
    CREATE INDEX kpi_facts_verdict ON kpi_facts(verdict);
    DELETE FROM kpi_meta WHERE name = 'rules_hash';
    """,
)




# First character of a mark deferred to the next run (`StateStore.clear_dirty`), before the
# lead's own mark (`sync.lead_refs`).
DEFERRED = "~"
# Distinct stored attribute texts kept parsed (StateStore._attributes); then it starts again.
ATTRIBUTE_TEXTS_KEPT = 50_000


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
    `outcomes.outcomes_follow_writes` compares with an outcome pull's start
    (`OutcomeSync.clock`). `outcomes` (`sync.outcome_store.OutcomeStore`) and `spool`
    (`sync.spool_store.SpoolStore`) use the same `Database`: one connection, and their writes
    take the same write transactions as `transaction`.
    """

    def __init__(
        self, target: Path | StateTarget, clock: Clock | None = None
    ) -> None:
        if isinstance(target, str | Path):
            target = SqliteTarget(Path(target))
        self.target = target
        self._clock = clock or system_clock
        self._now_iso = seconds_iso(self._clock)
        self._attribute_texts: dict[str, Mapping[str, Any]] = {}
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
        self.outcomes = OutcomeStore(self._db, self._clock)
        self.spool = SpoolStore(self._db, self._clock, defer=self._defer)
        self.alerts = AlertStore(self._db, self._clock)
        self.touches = TouchStore(self._db, self._clock)
        self.scores = ScoreStore(self._db, self._clock)
        self.rejections = RejectionStore(self._db, self._clock)
        self.accounts = AccountStore(self._db, self._clock)
        self.kpi = KpiStore(self._db, self._clock)
        self.mql_basis = MqlBasisStore(self._db, self._clock)
        # archive, merge and erasure drop a lead's account inputs and KPI facts too
        self.erasure = ErasureStore(
            self._db, self._clock, kpi=self.kpi, accounts=self.accounts, state_path=self.path
        )
        self.deletion_writes = DeletionWriteStore(self._db, self._clock)

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
        return parse(row["value"]) if row else None

    def cursors(self) -> dict[str, datetime]:
        rows = self._db.execute("SELECT stream, value FROM cursors ORDER BY stream")
        return {r["stream"]: datetime.fromisoformat(r["value"]) for r in rows}

    def set_cursors(self, values: Mapping[str, datetime]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO cursors VALUES (?, ?, ?) ON CONFLICT(stream) DO UPDATE SET "
                "value = excluded.value, updated_at = excluded.updated_at",
                [(stream, iso(value), self._now_iso()) for stream, value in values.items()],
            )

    # ------------------------------------------------------------------ HubSpot data
    def upsert_contacts(self, contacts: Iterable[Contact]) -> None:
        with self.transaction() as db:
            self._upsert_contacts(db, contacts)

    def _upsert_contacts(self, db: Database, contacts: Iterable[Contact]) -> None:
        # An archived contact read live again was restored: it stays archived here and a
        # "restore" change is queued, which `sync.deletions` applies this run (scored again,
        # what `sync.on_archive` wrote undone).
        contacts = list(contacts)
        self.erasure.queue_restores(db, [c.hubspot_id for c in contacts if not c.archived])
        db.executemany(
            "INSERT INTO contacts VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(hubspot_id) DO UPDATE "
            "SET email = excluded.email, properties = excluded.properties, "
            "company_id = excluded.company_id, updated_at = excluded.updated_at, "
            "archived = CASE WHEN contacts.archived = 1 THEN 1 ELSE excluded.archived END",
            [
                (
                    c.hubspot_id,
                    c.email,
                    json.dumps(dict(c.properties), ensure_ascii=False),
                    c.company_id,
                    iso(c.updated_at),
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
                    iso(c.updated_at),
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
                    iso(a.occurred_at),
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
        for row in rows_in(
            self._db, "SELECT * FROM contacts WHERE email IN ({marks}) ORDER BY hubspot_id", emails
        ):
            out.setdefault(row["email"], []).append(_contact(row))
        return out

    def contact_ids(self, ids: Iterable[str]) -> dict[str, Contact]:
        rows = rows_in(self._db, "SELECT * FROM contacts WHERE hubspot_id IN ({marks})", ids)
        return {row["hubspot_id"]: _contact(row) for row in rows}

    def company_ids_known(self, ids: Iterable[str]) -> set[str]:
        sql = "SELECT hubspot_id FROM companies WHERE hubspot_id IN ({marks})"
        return column_in(self._db, sql, ids)

    def activity_ids_known(self, ids: Iterable[str]) -> set[str]:
        return column_in(
            self._db, "SELECT source_id FROM activities WHERE source_id IN ({marks})", ids
        )

    def company(self, hubspot_id: str | None) -> Company | None:
        if hubspot_id is None:
            return None
        return self.companies_by_id([hubspot_id]).get(hubspot_id)

    def companies_by_id(self, ids: Iterable[str]) -> dict[str, Company]:
        """The stored companies among `ids`, by id."""
        found = fetch(self._db, "companies", "hubspot_id", list(ids), _company)
        return {c.hubspot_id: c for c in found}

    def activities_for(self, contact_ids: Iterable[str], email: str | None) -> DistinctActivities:
        """The lead's activities; distinct by source_id, the table's primary key."""
        ids = list(contact_ids)
        marks = ",".join("?" * len(ids)) or "NULL"
        rows = self._db.execute(
            "SELECT source_id, kind, occurred_at, contact_id, email, attributes FROM activities "
            f"WHERE contact_id IN ({marks}) OR email = ?",
            [*ids, email],
        )
        parse, attributes = datetime.fromisoformat, self._attributes
        return DistinctActivities(
            stored_activity(source_id, kind, parse(when), contact_id, address, attributes(text))
            for source_id, kind, when, contact_id, address, text in rows
        )

    def _attributes(self, text: str) -> Mapping[str, Any]:
        """Stored attributes as a read-only mapping, one per distinct text: the same few
        texts (a campaign id, a page URL, `{}`) come back for most activities."""
        memo = self._attribute_texts
        found = memo.get(text)
        if found is None:
            if len(memo) >= ATTRIBUTE_TEXTS_KEPT:
                memo.clear()
            found = memo[text] = MappingProxyType(json.loads(text))
        return found

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
        alerts = self.alerts.counts()
        if any(alerts.values()):  # only once alerts are on: status stays as it was without
            out |= {f"alerts_{status}": count for status, count in alerts.items()}
        return out

    # ------------------------------------------------------------------ Salesforce side
    def links(self, lead_keys: Iterable[str]) -> dict[str, Link]:
        rows = rows_in(self._db, "SELECT * FROM links WHERE lead_key IN ({marks})", lead_keys)
        return {
            r["lead_key"]: Link(r["lead_key"], r["sobject"], r["record_id"], r["owner_id"])
            for r in rows
        }

    def lead_owners(self) -> dict[str, str]:
        """lead key -> its Salesforce owner: the OwnerId the last outcome pull read for the
        linked record (`sf_owners`), else the one stored with the link (read by the
        dashboard's owner filter)."""
        rows = self._db.execute(
            "SELECT l.lead_key, COALESCE(o.owner_id, l.owner_id) AS owner_id FROM links l "
            "LEFT JOIN sf_owners o ON o.record_id = l.record_id"
        )
        return {r["lead_key"]: r["owner_id"] for r in rows if r["owner_id"]}

    def save_links(self, links: Iterable[Link]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO links VALUES (?, ?, ?, ?, ?) ON CONFLICT(lead_key) DO UPDATE SET "
                "sobject = excluded.sobject, record_id = excluded.record_id, "
                "owner_id = excluded.owner_id, updated_at = excluded.updated_at",
                [(k.lead_key, k.sobject, k.record_id, k.owner_id, self._now_iso()) for k in links],
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
        for r in rows_in(self._db, "SELECT * FROM written WHERE lead_key IN ({marks})", lead_keys):
            out.setdefault(r["lead_key"], {})[f"{r['sobject']}.{r['field']}"] = json.loads(
                r["value"]
            )
        return out

    def record_written(self, lead_key: str, sobject: str, values: Mapping[str, Any]) -> None:
        now = precise_iso(self._clock())
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
        now = precise_iso(self._clock())
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
        rows = rows_in(self._db, "SELECT * FROM mql_state WHERE lead_key IN ({marks})", lead_keys)
        return {
            r["lead_key"]: MqlState(
                r["episode"], bool(r["qualified"]), parse(r["since"]), r["rule"]
            )
            for r in rows
        }

    def mql_decisions(self) -> dict[str, MqlState]:
        """Every lead's stored MQL standing (what the connector decided), by lead key."""
        return {
            r["lead_key"]: MqlState(
                r["episode"], bool(r["qualified"]), parse(r["since"]), r["rule"]
            )
            for r in self._db.execute("SELECT * FROM mql_state ORDER BY lead_key")
        }

    def hot_states(self, lead_keys: Iterable[str]) -> dict[str, HotState]:
        rows = rows_in(self._db, "SELECT * FROM hot_state WHERE lead_key IN ({marks})", lead_keys)
        return {
            r["lead_key"]: HotState(r["episode"], bool(r["hot"]), parse(r["changed_at"]))
            for r in rows
        }

    def record_decisions(
        self,
        states: Mapping[str, MqlState],
        tasks: Iterable[TaskWrite],
        hot: Mapping[str, HotState] | None = None,
        alerts: Iterable[AlertIntent] = (),
        bases: Mapping[str, MqlBasis] | None = None,
    ) -> None:
        """MQL and hot episodes and the Task and alert intents they cause, atomically; with
        `bases`, the basis of each new MQL episode (`sync.mql_basis_store`)."""
        with self.transaction() as db:
            self._save_mql_states(db, states)
            if bases:
                self.mql_basis.save(db, bases)
            self.kpi.mark_keys(db, states)  # their first MQL may have moved
            if hot:
                db.executemany(
                    "INSERT INTO hot_state VALUES (?, ?, ?, ?, ?) ON CONFLICT(lead_key) DO UPDATE "
                    "SET episode = excluded.episode, hot = excluded.hot, "
                    "changed_at = excluded.changed_at, updated_at = excluded.updated_at",
                    [
                        (key, h.episode, int(h.hot), iso(h.changed_at), self._now_iso())
                        for key, h in hot.items()
                    ],
                )
            self._record_task_intents(db, tasks)
            self.alerts.record(db, alerts)

    def _save_mql_states(self, db: Database, states: Mapping[str, MqlState]) -> None:
        db.executemany(
            "INSERT INTO mql_state VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(lead_key) DO UPDATE "
            "SET episode = excluded.episode, qualified = excluded.qualified, "
            "since = excluded.since, rule = excluded.rule, updated_at = excluded.updated_at",
            [
                (key, s.episode, int(s.qualified), iso(s.since), s.rule, self._now_iso())
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
                    self._now_iso(),
                    self._now_iso(),
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
        return {r[0]: r[1] for r in rows_in(self._db, sql, keys)}

    def mark_tasks_done(self, done: Iterable[tuple[str, str | None]]) -> None:
        """`mark_task_done` for many (connector_key, task_id) in one transaction."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE tasks SET status = 'done', task_id = ?, updated_at = ? "
                "WHERE connector_key = ?",
                [(task_id, self._now_iso(), key) for key, task_id in done],
            )

    def mark_task_done(self, connector_key: str, task_id: str | None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE tasks SET status = 'done', task_id = ?, updated_at = ? "
                "WHERE connector_key = ?",
                (task_id, self._now_iso(), connector_key),
            )

    def tasks_for(self, lead_keys: Iterable[str]) -> dict[str, list[tuple[str, str, datetime]]]:
        """Follow-up Tasks per lead: (connector_key, status, created_at), oldest first."""
        out: dict[str, list[tuple[str, str, datetime]]] = {}
        for r in rows_in(
            self._db,
            "SELECT lead_key, connector_key, status, created_at FROM tasks "
            "WHERE lead_key IN ({marks}) ORDER BY created_at, connector_key",
            lead_keys,
        ):
            out.setdefault(r[0], []).append((r[1], r[2], datetime.fromisoformat(r[3])))
        return out

    # ------------------------------------------------------------------ dirty leads
    # A ref is a `sync.lead_refs.LeadRef`: a contact id's or a canonical email's mark.
    def store_page(
        self,
        *,
        contacts: Iterable[Contact] = (),
        companies: Iterable[Company] = (),
        activities: Iterable[Activity] = (),
        dirty: Iterable[str] = (),
    ) -> int:
        """One page of extraction and the leads it touches, atomically. Returns how many
        activities were new. Records of an erased person (`sync.erasure_store`) are dropped
        here, before anything of them is stored."""
        if self.erasure.any_erased():
            contacts, activities, dirty = self._without_erased(contacts, activities, dirty)
        with self.transaction() as db:
            self._upsert_contacts(db, contacts)
            self._upsert_companies(db, companies)
            new = self._add_activities(db, activities)
            db.executemany(
                "INSERT INTO dirty VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(r, self._now_iso()) for r in dirty],
            )
            return new

    def _without_erased(
        self, contacts: Iterable[Contact], activities: Iterable[Activity], dirty: Iterable[str]
    ) -> tuple[list[Contact], list[Activity], list[str]]:
        contacts, activities, dirty = list(contacts), list(activities), list(dirty)
        ids = {c.hubspot_id for c in contacts} | {a.contact_id for a in activities if a.contact_id}
        ids |= split_refs(dirty).contact_ids
        emails = {c.email for c in contacts if c.email} | {a.email for a in activities if a.email}
        emails |= split_refs(dirty).emails
        gone_ids = self.erasure.erased_ids(ids)
        gone_emails = self.erasure.erased_emails(emails)
        if not gone_ids and not gone_emails:
            return contacts, activities, dirty
        gone_refs = {contact_ref(i) for i in gone_ids} | {email_ref(e) for e in gone_emails}
        return (
            [c for c in contacts if c.hubspot_id not in gone_ids and c.email not in gone_emails],
            [
                a
                for a in activities
                if (a.contact_id not in gone_ids) and (a.email not in gone_emails)
            ],
            [r for r in dirty if r not in gone_refs],
        )

    def mark_dirty(self, refs: Iterable[str]) -> None:
        self.store_page(dirty=refs)

    def mark_all_dirty(self) -> int:
        """Every stored lead with an email: for a rescore after rule changes or decay."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO dirty SELECT DISTINCT ? || email, ? FROM contacts "
                "WHERE email IS NOT NULL AND archived = 0 ON CONFLICT DO NOTHING",
                (EMAIL_PREFIX, self._now_iso()),
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
            refs = list(refs)
            db.executemany("DELETE FROM dirty WHERE ref = ?", [(r,) for r in refs])
            self.kpi.mark(db, refs)  # processed: their KPI facts are refreshed before a report
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

    def _defer(self, db: Database, lead_keys: Iterable[str]) -> None:
        db.executemany(
            "INSERT INTO dirty VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(DEFERRED + email_ref(key), self._now_iso()) for key in lead_keys],
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
                (lead_key, stage, code, message, json.dumps(list(fields)), self._now_iso()),
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
                (kind, self._now_iso()),
            ).fetchall()
            return int(rows[0][0])

    def finish_run(self, run_id: int, outcome: str, summary: Mapping[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, outcome = ?, summary = ? WHERE id = ?",
                (self._now_iso(), outcome, json.dumps(summary, default=str), run_id),
            )

    def runs(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        out = []
        for r in rows:
            item = dict(r)
            item["summary"] = json.loads(item["summary"]) if item["summary"] else None
            out.append(item)
        return out


def _company(row: Any) -> Company:
    return Company(row["hubspot_id"], json.loads(row["properties"]), parse(row["updated_at"]))


def _contact(row: Row) -> Contact:
    return Contact(
        hubspot_id=row["hubspot_id"],
        email=row["email"],
        properties=json.loads(row["properties"]),
        company_id=row["company_id"],
        updated_at=parse(row["updated_at"]),
        archived=bool(row["archived"]),
    )
