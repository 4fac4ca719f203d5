"""Sales outcomes in the state database: the Leads and Contacts of known leads, their
opportunities and contact roles as the outcome pull reads them from Salesforce (`sync.outcomes`;
the tables of migration 4 in `sync.state`), which leads they belong to, and each lead's outcome.
To tie records to leads it reads, and never writes, the lead side's `contacts`, `links` and
`written`.

`StateStore.outcomes`: on the state store's `Database`, so the same connection and the same
write transactions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from core.clock import Clock
from core.outcomes import (
    ContactRole,
    LeadOutcome,
    OpportunityRecord,
    SalesforceRecord,
    pick_opportunity,
)
from sync.db import Database, Row
from sync.state_rows import (
    IN_CHUNK,
    chunks,
    column_in,
    fetch,
    iso,
    parse,
    precise_iso,
    seconds_iso,
)


class OutcomeStore:
    """Leads/Contacts of known leads, opportunities, contact roles. The `changed_*` reads say
    what would change a lead's stage before it is saved, so the caller can mark exactly those
    leads for re-planning first (crash-safe order)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._now_iso = seconds_iso(clock)

    def changed_salesforce_records(self, records: Iterable[SalesforceRecord]) -> set[str]:
        """Ids among `records` that are new to the store or whose outcome differs."""
        rows = list(records)
        before = {
            r.record_id: r
            for r in fetch(self._db, "sf_records", "record_id", _ids(rows), _sf_record)
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
        found = fetch(self._db, "sf_records", "record_id", ids, _sf_record)
        return {r.record_id for r in found if r.modstamp is not None}

    def changed_opportunities(self, opportunities: Iterable[OpportunityRecord]) -> set[str]:
        """Ids among `opportunities` that are new to the store or whose outcome differs."""
        rows = list(opportunities)
        ids = [o.opportunity_id for o in rows]
        before = {
            o.opportunity_id: o
            for o in fetch(self._db, "sf_opportunities", "opportunity_id", ids, _opportunity)
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
            for r in fetch(
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
        with self._db.transaction() as db:
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
                        iso(r.mql_date),
                        r.stage,
                        r.hubspot_id,
                        iso(r.created_at),
                        iso(r.modstamp),
                        self._now_iso(),
                    )
                    for r in rows
                ],
            )

    def save_opportunities(self, opportunities: Iterable[OpportunityRecord]) -> None:
        """Upsert opportunities as read."""
        rows = list(opportunities)
        with self._db.transaction() as db:
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
                        iso(o.created_at),
                        o.account_id,
                        iso(o.modstamp),
                        self._now_iso(),
                    )
                    for o in rows
                ],
            )

    def save_contact_roles(self, roles: Iterable[ContactRole]) -> None:
        """Upsert contact roles as read."""
        rows = list(roles)
        with self._db.transaction() as db:
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
                        iso(r.modstamp),
                        self._now_iso(),
                    )
                    for r in rows
                ],
            )

    def lead_keys_with_decisive_records(self, statuses: Iterable[str]) -> set[str]:
        """The stored leads one of whose Salesforce records can decide a sales outcome:
        a Contact, a converted Lead (or one with an opportunity), or a Lead whose status is
        one of `statuses`; by the record's email or the lead's link. A superset of the leads
        `outcomes_for` finds rejected or with an opportunity (set-based: the report's
        rejection table reads only these leads, not every lead)."""
        wanted = sorted(set(statuses))
        marks = ",".join("?" * len(wanted)) or "NULL"
        decisive = (
            "SELECT record_id, email FROM sf_records WHERE sobject <> 'Lead' OR is_converted = 1 "
            f"OR converted_opportunity_id IS NOT NULL OR status IN ({marks})"
        )
        sql = (
            f"SELECT d.email FROM ({decisive}) d WHERE d.email IS NOT NULL UNION "
            "SELECT l.lead_key FROM links l WHERE l.record_id IN "
            f"(SELECT record_id FROM ({decisive}) e)"
        )
        found = {r[0] for r in self._db.execute(sql, [*wanted, *wanted])}
        return self.known_lead_keys(found) if found else set()

    def mql_agreement_rows(self, mql_value: str) -> tuple[int, list[tuple[str, bool]]]:
        """Set-based part of the agreement check (`sync.agreement`): the number of leads the
        connector says are MQL whose Salesforce record shows `mql_value` for certain, and the
        other leads that may differ (key, connector says MQL): those whose record's MQL
        status differs from the decision, or whose record is not certain without
        `outcomes_for`'s preference (several records of the email, showing both)."""
        sql = (
            "WITH lk AS (SELECT l.lead_key AS k, CASE WHEN r.mql_status = ? THEN 1 ELSE 0 END "
            "AS s FROM links l JOIN sf_records r ON r.record_id = l.record_id), "
            "em AS (SELECT email AS k, MIN(CASE WHEN mql_status = ? THEN 1 ELSE 0 END) AS lo, "
            "MAX(CASE WHEN mql_status = ? THEN 1 ELSE 0 END) AS hi FROM sf_records "
            "WHERE email IS NOT NULL GROUP BY email), "
            # only the leads either side may call MQL (the others agree on "not MQL"):
            # decided MQL, or a record of theirs (by email or link) shows MQL; among the
            # leads the check covers (a stored decision, or a contact not archived)
            "ks AS (SELECT k FROM (SELECT lead_key AS k FROM mql_state WHERE qualified = 1 "
            "UNION SELECT email FROM sf_records WHERE mql_status = ? "
            "UNION SELECT l.lead_key FROM links l JOIN sf_records r "
            "ON r.record_id = l.record_id WHERE r.mql_status = ?) c "
            "WHERE k IN (SELECT lead_key FROM mql_state) OR k IN "
            "(SELECT email FROM contacts WHERE email IS NOT NULL AND archived = 0)), "
            "v AS (SELECT ks.k AS k, COALESCE(m.qualified, 0) AS says, "
            "CASE WHEN lk.k IS NOT NULL THEN lk.s WHEN em.k IS NULL THEN 0 "
            "WHEN em.lo = em.hi THEN em.hi ELSE NULL END AS shows FROM ks "
            "LEFT JOIN mql_state m ON m.lead_key = ks.k LEFT JOIN lk ON lk.k = ks.k "
            "LEFT JOIN em ON em.k = ks.k) "
        )
        args = [mql_value] * 5
        # One statement, `v` computed once (MATERIALIZED: SQLite 3.35+, PostgreSQL 12+): the
        # count of the leads both sides call MQL, then the others that may differ.
        rows = self._db.execute(
            sql.replace("v AS (", "v AS MATERIALIZED (")
            + "SELECT 0 AS part, NULL AS k, count(*) AS says FROM v WHERE says = 1 AND shows = 1 "
            "UNION ALL SELECT 1, k, says FROM v WHERE shows IS NULL OR shows <> says "
            "ORDER BY part, k",
            args,
        ).fetchall()
        both = rows[0][2]
        return int(both), [(r[1], bool(r[2])) for r in rows[1:]]

    def known_lead_keys(self, emails: Iterable[str]) -> set[str]:
        """Which of `emails` are stored leads (a contact that is not archived has it)."""
        sql = "SELECT DISTINCT email FROM contacts WHERE archived = 0 AND email IN ({marks})"
        return column_in(self._db, sql, (e for e in emails if e))

    def linked_record_ids(self, record_ids: Iterable[str]) -> set[str]:
        """Which of `record_ids` a lead is linked to (the records the connector writes)."""
        sql = "SELECT record_id FROM links WHERE record_id IN ({marks})"
        return column_in(self._db, sql, record_ids)

    def lead_keys_linked_to(self, record_ids: Iterable[str]) -> set[str]:
        """The leads whose link points at one of `record_ids`."""
        sql = "SELECT lead_key FROM links WHERE record_id IN ({marks})"
        return column_in(self._db, sql, record_ids)

    def record_ids_for_opportunities(self, opportunity_ids: Iterable[str]) -> set[str]:
        """Leads converted into, and Contacts with a role on, these opportunities."""
        ids = set(opportunity_ids)
        converted = "SELECT record_id FROM sf_records WHERE converted_opportunity_id IN ({marks})"
        roles = "SELECT contact_id FROM sf_contact_roles WHERE opportunity_id IN ({marks})"
        return column_in(self._db, converted, ids) | column_in(self._db, roles, ids)

    def lead_keys_for_records(self, record_ids: Iterable[str]) -> set[str]:
        """The leads these Salesforce records belong to: linked to the record (or to the
        Contact a Lead was converted into), or sharing its email."""
        ids = set(record_ids)
        linked = column_in(
            self._db,
            "SELECT lead_key FROM links WHERE record_id IN ({marks}) OR record_id IN "
            "(SELECT converted_contact_id FROM sf_records WHERE record_id IN ({marks}))",
            ids,
            repeat=2,
        )
        emails = column_in(
            self._db,
            "SELECT email FROM sf_records WHERE email IS NOT NULL AND record_id IN ({marks})",
            ids,
        )
        return linked | self.known_lead_keys(emails)

    def outcomes_for(self, lead_keys: Iterable[str]) -> dict[str, LeadOutcome]:
        """Each lead's outcome from the stored Salesforce records; leads without a stored
        record are absent. The record is the linked one (the one the connector writes),
        else the one with the lead's email (a Contact before a Lead, an open Lead before a
        converted one)."""
        out: dict[str, LeadOutcome] = {}
        for chunk in chunks(sorted(set(lead_keys)), IN_CHUNK):
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
            for r in fetch(db, "sf_records", "record_id", sorted(set(linked.values())), _sf_record)
        }
        # Every record of the person: the linked one and all with the lead's email (sales
        # may work any of a person's duplicate Leads).
        people: dict[str, list[SalesforceRecord]] = {}
        for r in fetch(db, "sf_records", "email", keys, _sf_record):
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
        for r in fetch(db, "sf_records", "converted_contact_id", all_contacts, _sf_record):
            converted_into.setdefault(r.converted_contact_id or "", []).append(r)
        roles: dict[str, set[str]] = {}
        for role in fetch(db, "sf_contact_roles", "contact_id", all_contacts, _role):
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
            for o in fetch(db, "sf_opportunities", "opportunity_id", opportunity_ids, _opportunity)
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
            [precise_iso(since), *columns],
        ).fetchall()
        updates: dict[str, tuple[str, str, dict[str, Any]]] = {}
        for key, sobject, name, value, record_id in rows:
            entry = updates.setdefault(record_id, (sobject, key, {}))
            loaded = json.loads(value) if value is not None else None
            if columns[name] == "mql_date" and loaded is not None:
                loaded = iso(datetime.fromisoformat(str(loaded)))
            entry[2][columns[name]] = loaded
        with self._db.transaction() as db:
            for record_id, (sobject, key, values) in updates.items():
                db.execute(
                    "INSERT INTO sf_records (record_id, sobject, email, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT(record_id) DO NOTHING",
                    (record_id, sobject, key, self._now_iso()),
                )
                sets = ", ".join(f"{column} = ?" for column in values)
                db.execute(
                    f"UPDATE sf_records SET {sets} WHERE record_id = ?",
                    [*values.values(), record_id],
                )
        return len(updates)

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
        mql_date=parse(row["mql_date"]),
        stage=row["stage"],
        hubspot_id=row["hubspot_id"],
        created_at=parse(row["created_at"]),
        modstamp=parse(row["modstamp"]),
    )


def _opportunity(row: Row) -> OpportunityRecord:
    return OpportunityRecord(
        opportunity_id=row["opportunity_id"],
        stage=row["stage"],
        is_closed=bool(row["is_closed"]),
        is_won=bool(row["is_won"]),
        amount=Decimal(row["amount"]) if row["amount"] is not None else None,
        close_date=_date(row["close_date"]),
        created_at=parse(row["created_at"]),
        account_id=row["account_id"],
        modstamp=parse(row["modstamp"]),
    )


def _role(row: Row) -> ContactRole:
    return ContactRole(
        role_id=row["role_id"],
        opportunity_id=row["opportunity_id"],
        contact_id=row["contact_id"],
        is_primary=bool(row["is_primary"]),
        modstamp=parse(row["modstamp"]),
    )
