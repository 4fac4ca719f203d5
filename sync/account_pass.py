"""The account pass of a run: after the leads are scored, roll the changed accounts up and
write them to the Salesforce Account and the HubSpot company.

1. `note` (per lead batch, from the pipeline): each scored lead's account inputs go to
   `account_members`, and the accounts whose members changed are marked, in one transaction
   (`sync.account_store`).
2. `run` (once, after the run's lead writes): the marked accounts in batches of
   `batch_size`. An account is its HubSpot company (the primary contact's `company_id`); a
   lead without a company is matched by its e-mail domain (free mail never: `core.freemail`)
   to a HubSpot company's `domain` (stored companies; no API call), else it forms a domain
   account, which has a Salesforce Account only if one's `Website` has that domain.
   Per batch: one Salesforce Composite call finds the Accounts (linked Contacts' `AccountId`,
   else `Website` domain), one Collections call per 200 changed Accounts writes them, one
   HubSpot batch call per 100 changed companies writes them: O(batches) calls, not
   O(accounts). Only values that differ from the last confirmed write are sent; confirmed
   values are recorded after the answer; a passing failure keeps the account's mark for the
   next run; a refusal goes to the dead-letter list (lead key `account:<key>`). Updates by Id
   are idempotent, so a write repeated after a crash lands the same values once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from core.errors import FatalAPIError
from core.freemail import company_domain, site_domain
from core.models import Activity, Company, Contact
from core.writeback import ContactUpdate, UpdateResult
from scoring.accounts import AccountMember, AccountModel
from sync.account_store import COMPANY, DOMAIN, MemberRow, StoredAccount
from sync.state import StateStore
from sync.state_rows import precise_iso

log = logging.getLogger("connector.sync")

STAGE_SALESFORCE = "account salesforce"
STAGE_HUBSPOT = "account hubspot"
# Activities the contact did not do themselves: they do not make a contact active.
PASSIVE_KINDS = frozenset({"email_delivered", "email_bounce", "webinar_no_show",
                           "webinar_cancelled"})
_ONE = Decimal(1)
HUBSPOT_PROPERTIES: Mapping[str, str] = {
    "score": "connector_account_score",
    "engaged": "connector_engaged_contacts",
    "buying_group": "connector_buying_group",
}


class AccountRecordLike(Protocol):
    record_id: str
    name: str | None
    owner_id: str | None


class ResultLike(Protocol):
    success: bool

    @property
    def retriable(self) -> bool: ...

    @property
    def errors(self) -> Sequence[Any]: ...


class AccountSink(Protocol):
    """The Salesforce side (connectors.salesforce.accounts.SalesforceAccounts)."""

    def find(
        self, contact_ids: Sequence[str], domains: Sequence[str]
    ) -> tuple[Mapping[str, AccountRecordLike], Mapping[str, AccountRecordLike]]: ...

    def update(self, records: Sequence[Mapping[str, Any]]) -> Sequence[ResultLike]: ...


class CompanyWriter(Protocol):
    """The HubSpot side (HubSpotContactWriter with object_type="companies")."""

    def update(self, updates: Sequence[ContactUpdate]) -> list[UpdateResult]: ...


def last_activity(activities: Iterable[Activity]) -> datetime | None:
    return max((a.occurred_at for a in activities if a.kind not in PASSIVE_KINDS), default=None)


@dataclass
class AccountPass:
    store: StateStore
    model: AccountModel
    salesforce: AccountSink | None = None
    hubspot: CompanyWriter | None = None
    batch_size: int = 200
    stats: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ step 1
    def note(self, leads: Iterable[tuple[str, Contact, Decimal, datetime | None]]) -> int:
        """(lead key, primary contact, total score, last activity) of each scored lead. The
        score counts in whole points, rounded half up as Salesforce and HubSpot get it, so
        the account matches the lead scores sales sees."""
        free = self.model.free_mail_domains
        rows = [
            MemberRow(key, contact.company_id, company_domain(key, free),
                      Decimal(score).quantize(_ONE, rounding=ROUND_HALF_UP),
                      contact.get("jobtitle"), last)
            for key, contact, score, last in leads
        ]
        return self.store.accounts.note_members(r for r in rows if r.company_id or r.domain)

    # ------------------------------------------------------------------ step 2
    def run(self, now: datetime) -> dict[str, int]:
        """Every marked account; returns the counts for the run summary."""
        stats = {"accounts_computed": 0, "accounts_changed": 0, "salesforce_written": 0,
                 "salesforce_unmatched": 0, "hubspot_written": 0, "write_failures": 0,
                 "batches": 0}
        self._mark_changed_rules_and_aged(now, stats)
        domains_to_company: dict[str, str] | None = None
        after = ""
        while True:
            marks = self.store.accounts.dirty_marks(self.batch_size, after)
            if not marks:
                break
            after = marks[-1]
            if domains_to_company is None and any(m.startswith(DOMAIN) for m in marks):
                domains_to_company = self.store.accounts.company_domains()
            done = self._batch(marks, domains_to_company or {}, now, stats)
            self.store.accounts.clear_marks(done)
            stats["batches"] += 1
        self.store.accounts.set_pass_values({"last_pass": precise_iso(now),
                                             "rules": self.model.rules_hash})
        self.stats = stats
        return stats

    def _mark_changed_rules_and_aged(self, now: datetime, stats: dict[str, int]) -> None:
        """Accounts whose roll-up changed without a member changing: every account when the
        `[account]` rules changed since the last pass; else those with a member whose last
        activity left an activity window since the last pass (`engaged_days`, and the
        buying group's `within_days`)."""
        accounts = self.store.accounts
        if accounts.pass_value("rules") not in (None, self.model.rules_hash):
            stats["accounts_rules_changed"] = accounts.mark_all()
            log.info("account rules changed: every account is recomputed",
                     extra={"accounts": stats["accounts_rules_changed"]})
            return
        last = accounts.pass_value("last_pass")
        if last is None:
            return
        since = datetime.fromisoformat(last)
        section = self.model.section
        days = {section.engaged_days}
        if section.buying_group is not None:
            days.add(section.buying_group.within_days)
        for d in sorted(days):
            accounts.mark_aged(since - timedelta(days=d), now - timedelta(days=d))

    def _batch(self, marks: list[str], domain_company: Mapping[str, str], now: datetime,
               stats: dict[str, int]) -> list[str]:
        accounts = self.store.accounts
        companies: set[str] = set()
        domains: set[str] = set()
        for mark in marks:
            if mark.startswith(COMPANY):
                companies.add(mark.removeprefix(COMPANY))
            else:
                domain = mark.removeprefix(DOMAIN)
                if domain in domain_company:
                    companies.add(domain_company[domain])
                else:
                    domains.add(domain)
        company_rows = self.store.companies_by_id(companies)
        company_domains = {cid: site_domain(c.get("domain")) for cid, c in company_rows.items()}
        matched_domains = {d: cid for d, cid in domain_company.items() if cid in companies}
        members = accounts.members(companies, set(matched_domains) | domains)
        by_key: dict[str, list[MemberRow]] = {}
        for m in members:
            if m.company_id:
                key = COMPANY + m.company_id
            elif m.domain in matched_domains:
                key = COMPANY + matched_domains[m.domain]
            else:
                key = DOMAIN + (m.domain or "")
            by_key.setdefault(key, []).append(m)
        keys = sorted({COMPANY + c for c in companies} | {DOMAIN + d for d in domains})
        stored = accounts.accounts(keys)
        gone = [k for k in keys if k not in by_key and k in stored]
        accounts.drop_accounts(gone)
        links = self.store.links(m.lead_key for m in members)
        # Find the Salesforce Accounts: linked Contacts' AccountId, else Website domain.
        found_by_contact: Mapping[str, AccountRecordLike] = {}
        found_by_domain: Mapping[str, AccountRecordLike] = {}
        account_domain: dict[str, str | None] = {}
        for key, group in by_key.items():
            if key.startswith(COMPANY):
                cid = key.removeprefix(COMPANY)
                account_domain[key] = company_domains.get(cid) or _majority(
                    m.domain for m in group)
            else:
                account_domain[key] = key.removeprefix(DOMAIN)
        if self.salesforce is not None and by_key:
            contact_ids = [links[m.lead_key].record_id for m in members
                           if m.lead_key in links and links[m.lead_key].sobject == "Contact"]
            wanted = sorted({d for d in account_domain.values() if d})
            found_by_contact, found_by_domain = self.salesforce.find(contact_ids, wanted)
        results: dict[str, StoredAccount] = {}
        for key, group in sorted(by_key.items()):
            result = self.model.compute([_member(m) for m in group], now)
            stats["accounts_computed"] += 1
            before = stored.get(key)
            record = _sf_account(group, links, found_by_contact) or found_by_domain.get(
                account_domain[key] or "")
            cid = key.removeprefix(COMPANY) if key.startswith(COMPANY) else None
            company = company_rows.get(cid) if cid else None
            results[key] = StoredAccount(
                account_key=key, company_id=cid, domain=account_domain[key],
                name=_name(company, record), result=result.as_dict(),
                sf_account_id=record.record_id if record else (
                    before.sf_account_id if before and self.salesforce is None else None),
                owner_id=record.owner_id if record else None,
                sf_written=before.sf_written if before else None,
                hs_written=before.hs_written if before else None,
                computed_at=now,
            )
            if before is None or before.result != results[key].result:
                stats["accounts_changed"] += 1
        retry = self._write(results, stats)
        accounts.save_accounts(results.values())
        return [m for m in marks if _mark_key(m, domain_company) not in retry]

    def _write(self, results: dict[str, StoredAccount], stats: dict[str, int]) -> set[str]:
        """Send changed values; update `sf_written`/`hs_written` in `results` for what was
        confirmed. Returns the account keys to retry next run."""
        retry: set[str] = set()
        if self.salesforce is not None:
            sends = []
            for key, a in results.items():
                if a.sf_account_id is None:
                    stats["salesforce_unmatched"] += 1
                    continue
                values = _values(a.result)
                written = a.sf_written or {}
                if written.get("Id") == a.sf_account_id and written.get("values") == values:
                    continue
                sends.append((key, a.sf_account_id, values))
            try:
                answers = self.salesforce.update([
                    {"Id": rid, "Account_Score__c": v["score"],
                     "Engaged_Contacts__c": v["engaged"], "Buying_Group__c": v["buying_group"]}
                    for _, rid, v in sends
                ]) if sends else []
            except FatalAPIError as exc:
                if exc.error_code not in REFUSED_REQUEST_CODES:
                    raise
                # The whole request was refused (a field the org lacks): each account is a
                # dead letter; the run goes on with HubSpot and the leads.
                answers = [_Refused(exc.error_code, _setup_hint(exc.message))] * len(sends)
            for (key, rid, values), answer in zip(sends, answers, strict=True):
                a = results[key]
                if answer.success:
                    stats["salesforce_written"] += 1
                    results[key] = _replace(a, sf_written={"Id": rid, "values": values})
                else:
                    self._failed(key, STAGE_SALESFORCE, answer.errors, answer.retriable, retry,
                                 stats)
        if self.hubspot is not None:
            updates = []
            for key, a in results.items():
                if a.company_id is None:
                    continue
                props = _hubspot_values(a.result)
                if (a.hs_written or {}) == props:
                    continue
                updates.append(ContactUpdate(key, a.company_id, props))
            for update, outcome in zip(updates, self.hubspot.update(updates) if updates else [],
                                       strict=True):
                if outcome.success:
                    stats["hubspot_written"] += 1
                    results[update.lead_key] = _replace(results[update.lead_key],
                                                        hs_written=dict(update.properties))
                else:
                    errors = [outcome.error] if outcome.error else []
                    self._failed(update.lead_key, STAGE_HUBSPOT, errors, outcome.retriable,
                                 retry, stats)
        return retry

    def _failed(self, key: str, stage: str, errors: Sequence[Any], retriable: bool,
                retry: set[str], stats: dict[str, int]) -> None:
        stats["write_failures"] += 1
        first = errors[0] if errors else None
        code = getattr(first, "code", None) or "UNKNOWN"
        message = getattr(first, "message", None) or "write failed"
        if retriable:
            retry.add(key)
            log.warning("account write failed, retried next run",
                        extra={"account": key, "code": code})
            return
        self.store.add_dead_letter(lead_key=f"account:{key}", stage=stage, code=code,
                                   message=message, fields=())


# Salesforce refuses a whole sObject Collections request for these (a field the org does not
# have, or one the user may not write: sandbox/salesforce/README.md, "Account roll-up fields").
REFUSED_REQUEST_CODES = frozenset({"INVALID_FIELD", "INVALID_FIELD_FOR_INSERT_UPDATE"})


@dataclass(frozen=True, slots=True)
class _Error:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class _Refused:
    code: str | None
    message: str
    success: bool = False

    @property
    def retriable(self) -> bool:
        return False

    @property
    def errors(self) -> Sequence[Any]:
        return [_Error(self.code or "UNKNOWN", self.message)]


def _setup_hint(message: str) -> str:
    return (f"{message} — create the Account fields with `connector setup salesforce` "
            "(docs/accounts.md)")


def _member(m: MemberRow) -> AccountMember:
    return AccountMember(m.lead_key, float(m.score), m.jobtitle, m.last_activity_at)


def _values(result: Mapping[str, Any]) -> dict[str, Any]:
    return {"score": int(result["score"]), "engaged": int(result["engaged"]),
            "buying_group": bool(result["buying_group"])}


def _hubspot_values(result: Mapping[str, Any]) -> dict[str, str]:
    v = _values(result)
    return {HUBSPOT_PROPERTIES["score"]: str(v["score"]),
            HUBSPOT_PROPERTIES["engaged"]: str(v["engaged"]),
            HUBSPOT_PROPERTIES["buying_group"]: "true" if v["buying_group"] else "false"}


def _replace(a: StoredAccount, **changes: Any) -> StoredAccount:
    from dataclasses import replace

    return replace(a, **changes)


def _sf_account(group: Sequence[MemberRow], links: Mapping[str, Any],
                by_contact: Mapping[str, AccountRecordLike]) -> AccountRecordLike | None:
    """The Account of the account's linked Contacts (the most common one)."""
    counts: dict[str, int] = {}
    records: dict[str, AccountRecordLike] = {}
    for m in group:
        link = links.get(m.lead_key)
        if link is not None and link.sobject == "Contact" and link.record_id in by_contact:
            record = by_contact[link.record_id]
            counts[record.record_id] = counts.get(record.record_id, 0) + 1
            records[record.record_id] = record
    if not counts:
        return None
    best = sorted(counts, key=lambda rid: (-counts[rid], rid))[0]
    return records[best]


def _majority(values: Iterable[str | None]) -> str | None:
    counts: dict[str, int] = {}
    for v in values:
        if v:
            counts[v] = counts.get(v, 0) + 1
    return sorted(counts, key=lambda d: (-counts[d], d))[0] if counts else None


def _name(company: Company | None, record: AccountRecordLike | None) -> str | None:
    if company is not None and company.get("name"):
        return company.get("name")
    return record.name if record is not None else None


def _mark_key(mark: str, domain_company: Mapping[str, str]) -> str:
    if mark.startswith(DOMAIN) and mark.removeprefix(DOMAIN) in domain_company:
        return COMPANY + domain_company[mark.removeprefix(DOMAIN)]
    return mark


__all__ = ["AccountPass", "AccountSink", "CompanyWriter", "last_activity"]
