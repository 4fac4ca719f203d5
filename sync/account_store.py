"""Account roll-up state (the `accounts` migration in `sync.state`), `StateStore.accounts`.

- `account_members`: per scored lead, what its account needs: the HubSpot company id of its
  primary contact, its company e-mail domain (None for free mail), its score (decimal text),
  job title and last activity;
- `account_dirty`: the accounts whose members changed, as marks `company:<id>` or
  `domain:<domain>`, written in the same transaction as the members, so a crash before the
  account pass leaves them for the next run; cleared only after the account's writes;
- `accounts`: each account's roll-up (`scoring.accounts.AccountResult` as JSON), its
  Salesforce Account and owner, and the values last confirmed written to Salesforce
  (`sf_written`) and HubSpot (`hs_written`): a value is sent only when it differs.

On the state store's `Database`: the same connection and transactions. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.clock import Clock
from sync.db import Database
from sync.state_rows import parse, precise_iso, rows_in, seconds_iso

COMPANY = "company:"
DOMAIN = "domain:"


@dataclass(frozen=True, slots=True)
class MemberRow:
    lead_key: str
    company_id: str | None
    domain: str | None
    score: Decimal
    jobtitle: str | None
    last_activity_at: datetime | None

    @property
    def mark(self) -> str | None:
        if self.company_id:
            return COMPANY + self.company_id
        return DOMAIN + self.domain if self.domain else None


@dataclass(frozen=True, slots=True)
class StoredAccount:
    account_key: str
    company_id: str | None
    domain: str | None
    name: str | None
    result: dict[str, Any]
    sf_account_id: str | None
    owner_id: str | None
    sf_written: dict[str, Any] | None
    hs_written: dict[str, Any] | None
    computed_at: datetime | None


_ACCOUNT_COLUMNS = ("account_key, company_id, domain, name, result, sf_account_id, owner_id, "
                    "sf_written, hs_written, computed_at")


class AccountStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._now_iso = seconds_iso(clock)

    # ------------------------------------------------------------------ members
    def note_members(self, members: Iterable[MemberRow]) -> int:
        """Store the leads' account inputs; mark their accounts (and the one a lead left)
        for the account pass. Unchanged members mark nothing. Returns the marks made."""
        rows = list(members)
        if not rows:
            return 0
        before = {
            r[0]: tuple(r[i] for i in range(1, 6))
            for r in rows_in(self._db, "SELECT lead_key, company_id, domain, score, jobtitle, "
                             "last_activity_at FROM account_members WHERE lead_key IN ({marks})",
                             [m.lead_key for m in rows])
        }
        marks: set[str] = set()
        for m in rows:
            new = (m.company_id, m.domain, str(m.score), m.jobtitle,
                   precise_iso(m.last_activity_at) if m.last_activity_at else None)
            old = before.get(m.lead_key)
            if old is not None and tuple(old) == new:
                continue
            if m.mark:
                marks.add(m.mark)
            if old is not None:
                old_mark = COMPANY + old[0] if old[0] else (DOMAIN + old[1] if old[1] else None)
                if old_mark:
                    marks.add(old_mark)
        now = self._now_iso()
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO account_members VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(lead_key) DO UPDATE SET company_id = excluded.company_id, "
                "domain = excluded.domain, score = excluded.score, "
                "jobtitle = excluded.jobtitle, last_activity_at = excluded.last_activity_at, "
                "updated_at = excluded.updated_at",
                [(m.lead_key, m.company_id, m.domain, str(m.score), m.jobtitle,
                  precise_iso(m.last_activity_at) if m.last_activity_at else None, now)
                 for m in rows],
            )
            db.executemany(
                "INSERT INTO account_dirty VALUES (?, ?) ON CONFLICT(mark) DO NOTHING",
                [(mark, now) for mark in sorted(marks)],
            )
        return len(marks)

    def drop_members(self, db: Database, lead_keys: Iterable[str]) -> set[str]:
        """Inside the caller's transaction: these leads are no account's members any more
        (archived, merged away, erased); their accounts are marked for the next account pass,
        so a roll-up (engaged contacts, buying group) stops counting them. Returns the marks."""
        keys = sorted(set(lead_keys))
        marks: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            where = f"lead_key IN ({','.join('?' * len(chunk))})"
            for company_id, domain in db.execute(
                f"SELECT company_id, domain FROM account_members WHERE {where}", chunk
            ):
                mark = COMPANY + company_id if company_id else (DOMAIN + domain if domain else None)
                if mark:
                    marks.add(mark)
            db.execute(f"DELETE FROM account_members WHERE {where}", chunk)
        now = self._now_iso()
        db.executemany(
            "INSERT INTO account_dirty VALUES (?, ?) ON CONFLICT(mark) DO NOTHING",
            [(mark, now) for mark in sorted(marks)],
        )
        return marks

    def members(self, company_ids: Iterable[str], domains: Iterable[str]) -> list[MemberRow]:
        """Members of these companies, and members without a company at these domains."""
        sql = ("SELECT lead_key, company_id, domain, score, jobtitle, last_activity_at "
               "FROM account_members WHERE ")
        found = list(rows_in(self._db, sql + "company_id IN ({marks})", company_ids))
        found += rows_in(self._db, sql + "company_id IS NULL AND domain IN ({marks})", domains)
        return [MemberRow(r[0], r[1], r[2], Decimal(r[3]), r[4], parse(r[5])) for r in found]

    # ------------------------------------------------------------------ marks
    def dirty_marks(self, limit: int, after: str = "") -> list[str]:
        return [r[0] for r in self._db.execute(
            "SELECT mark FROM account_dirty WHERE mark > ? ORDER BY mark LIMIT ?", (after, limit)
        )]

    def dirty_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM account_dirty").fetchone()[0])

    def clear_marks(self, marks: Iterable[str]) -> None:
        with self._db.transaction() as db:
            db.executemany("DELETE FROM account_dirty WHERE mark = ?", [(m,) for m in marks])

    def mark_accounts(self, keys: Iterable[str]) -> None:
        """Mark these accounts (`company:ID` / `domain:NAME`) for the next account pass (a
        dead letter retried after its cause was fixed)."""
        now = self._now_iso()
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO account_dirty VALUES (?, ?) ON CONFLICT(mark) DO NOTHING",
                [(key, now) for key in sorted(set(keys))],
            )

    def mark_all(self) -> int:
        """Mark every known account (after a change of `[account]` rules)."""
        now = self._now_iso()
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO account_dirty SELECT DISTINCT 'company:' || company_id, ? "
                "FROM account_members WHERE company_id IS NOT NULL "
                "ON CONFLICT(mark) DO NOTHING", (now,))
            db.execute(
                "INSERT INTO account_dirty SELECT DISTINCT 'domain:' || domain, ? "
                "FROM account_members WHERE company_id IS NULL AND domain IS NOT NULL "
                "ON CONFLICT(mark) DO NOTHING", (now,))
        return self.dirty_count()

    def mark_aged(self, since: datetime, until: datetime) -> int:
        """Mark the accounts of members whose last activity is in [since, until): those that
        left an activity window (`engaged_days`, buying group `within_days`) between the last
        pass (since = its now - days) and this one (until = now - days). No member changed,
        yet their account's roll-up did."""
        if until <= since:
            return 0
        bounds = (precise_iso(since), precise_iso(until))
        now = self._now_iso()
        marks = {
            COMPANY + r[0] if r[0] else DOMAIN + r[1]
            for r in self._db.execute(
                "SELECT company_id, domain FROM account_members WHERE last_activity_at >= ? "
                "AND last_activity_at < ? AND (company_id IS NOT NULL OR domain IS NOT NULL)",
                bounds,
            )
        }
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO account_dirty VALUES (?, ?) ON CONFLICT(mark) DO NOTHING",
                [(mark, now) for mark in sorted(marks)],
            )
        return len(marks)

    # ------------------------------------------------------------------ pass bookkeeping
    def pass_value(self, name: str) -> str | None:
        """`last_pass` (ISO instant of the last account pass), `rules` (hash of `[account]`)."""
        row = self._db.execute("SELECT value FROM account_pass WHERE name = ?",
                               (name,)).fetchone()
        return str(row[0]) if row else None

    def set_pass_values(self, values: Mapping[str, str]) -> None:
        now = self._now_iso()
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO account_pass VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "value = excluded.value, updated_at = excluded.updated_at",
                [(k, v, now) for k, v in sorted(values.items())],
            )

    # ------------------------------------------------------------------ companies
    def company_domains(self) -> dict[str, str]:
        """Domain -> HubSpot company id, from the stored companies' `domain` property (the
        lowest id when two companies share a domain). One scan of the companies table, no
        API call; made once per account pass, and only when some lead has no company."""
        out: dict[str, str] = {}
        for hubspot_id, properties in self._db.execute(
            "SELECT hubspot_id, properties FROM companies ORDER BY hubspot_id"
        ):
            domain = (json.loads(properties) or {}).get("domain")
            if isinstance(domain, str) and domain.strip():
                out.setdefault(domain.strip().lower(), hubspot_id)
        return out

    # ------------------------------------------------------------------ accounts
    def accounts(self, keys: Iterable[str]) -> dict[str, StoredAccount]:
        return {
            r[0]: _account(r)
            for r in rows_in(self._db, f"SELECT {_ACCOUNT_COLUMNS} FROM accounts "
                             "WHERE account_key IN ({marks})", keys)
        }

    def save_accounts(self, accounts: Iterable[StoredAccount]) -> None:
        rows = [
            (a.account_key, a.company_id, a.domain, a.name, json.dumps(a.result, sort_keys=True),
             a.sf_account_id, a.owner_id, _json(a.sf_written), _json(a.hs_written),
             self._now_iso())
            for a in accounts
        ]
        if not rows:
            return
        with self._db.transaction() as db:
            db.executemany(
                f"INSERT INTO accounts ({_ACCOUNT_COLUMNS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(account_key) DO UPDATE SET "
                "company_id = excluded.company_id, domain = excluded.domain, "
                "name = excluded.name, result = excluded.result, "
                "sf_account_id = excluded.sf_account_id, owner_id = excluded.owner_id, "
                "sf_written = excluded.sf_written, hs_written = excluded.hs_written, "
                "computed_at = excluded.computed_at",
                rows,
            )

    def drop_accounts(self, keys: Iterable[str]) -> None:
        """Accounts left without members."""
        with self._db.transaction() as db:
            db.executemany("DELETE FROM accounts WHERE account_key = ?", [(k,) for k in keys])

    def top(self, limit: int | None = None) -> list[StoredAccount]:
        """Every account, best score first (then key)."""
        rows = [_account(r) for r in self._db.execute(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts")]
        rows.sort(key=lambda a: (-int(a.result.get("score", 0)), a.account_key))
        return rows if limit is None else rows[:limit]


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _account(r: Any) -> StoredAccount:
    return StoredAccount(
        r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6],
        json.loads(r[7]) if r[7] else None, json.loads(r[8]) if r[8] else None, parse(r[9]),
    )


__all__ = ["AccountStore", "MemberRow", "StoredAccount"]
