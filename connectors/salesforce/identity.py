"""Find the Salesforce record behind each email: a Contact first, else a Lead.

Per chunk of emails: one Contact query; one Lead query for the emails no Contact holds; and,
only when a converted Lead points at a Contact not already read, one Contact-by-Id query. With
`batched=True` (a client with `query_many`, which sends up to five queries in one Composite
call) the Lead queries cover every email and travel with the Contact queries: Leads of emails
a Contact holds are read for nothing, but 1,000 emails cost two calls instead of six. Every
literal is escaped (`simple_salesforce.format.quote_soql_value`) and every chunk is sized by the
exact length of the GET URL it becomes, so no request comes near the 16,384-byte URI limit.

Choice per email:
1. Contacts whose Email matches (case-insensitively);
2. else the Contacts that converted Leads with that Email were converted into;
3. else unconverted Leads with that Email.
When one step finds several records, `duplicate_rule` picks one and `MatchReport.duplicates`
lists them all (the chosen one first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast
from urllib.parse import quote_plus

from simple_salesforce.format import quote_soql_value

from core.identity import canonical_email

from .client import check_name
from .constants import QUERY_URL_BUDGET

log = logging.getLogger("connector.salesforce.identity")

DuplicateRule = Literal["oldest", "newest", "most_recently_modified"]
_RULES: frozenset[str] = frozenset({"oldest", "newest", "most_recently_modified"})
_CONTACT_BASE = ("Id", "Email", "OwnerId", "CreatedDate", "LastModifiedDate")
_LEAD_BASE = (*_CONTACT_BASE, "IsConverted", "ConvertedContactId")
_OWN_CELLS = frozenset({"Id", "Email"})  # texts of one record only: not worth sharing


class QueryClient(Protocol):
    def query(self, soql: str) -> Iterator[dict[str, Any]]: ...

    def query_url_length(self, soql: str) -> int: ...


class BatchQueryClient(QueryClient, Protocol):
    def query_many(self, soqls: Sequence[str]) -> list[list[dict[str, Any]]]: ...


class BulkQueryClient(Protocol):
    def bulk_query(self, soql: str) -> Iterator[list[dict[str, str]]]: ...


@dataclass(frozen=True, slots=True)
class Match:
    sobject: Literal["Lead", "Contact"]
    record_id: str
    owner_id: str | None
    fields: Mapping[str, Any]  # current values of the requested fields, by requested name
    converted_lead_id: str | None = None  # set when found through a converted Lead


@dataclass
class MatchReport:
    matches: dict[str, Match] = field(default_factory=dict)
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # email -> ids, chosen first
    unmatched: list[str] = field(default_factory=list)


def match_emails(
    client: QueryClient,
    emails: Iterable[str],
    *,
    lead_fields: Sequence[str] = (),
    contact_fields: Sequence[str] = (),
    duplicate_rule: DuplicateRule = "oldest",
    url_budget: int = QUERY_URL_BUDGET,
    batched: bool = False,
) -> MatchReport:
    """Match normalised emails to Salesforce Contacts and Leads (see the module docstring).

    `lead_fields` / `contact_fields` name the extra fields whose current values each Match
    carries in `fields`, so callers can write only into blank fields or notice manual edits.
    """
    if duplicate_rule not in _RULES:
        raise ValueError(f"duplicate_rule must be one of {sorted(_RULES)}")
    wanted: list[str] = []
    seen: set[str] = set()
    for raw in emails:
        email = canonical_email(raw)
        if email and email not in seen:
            seen.add(email)
            wanted.append(email)
    contact_select = _select_list(_CONTACT_BASE, contact_fields)
    lead_select = _select_list(_LEAD_BASE, lead_fields)

    contacts_by_email: dict[str, list[dict[str, Any]]] = {}
    leads_by_email: dict[str, list[dict[str, Any]]] = {}
    if batched:
        contact_soql = in_queries(client, contact_select, "Contact", "Email", wanted, url_budget)
        lead_soql = in_queries(client, lead_select, "Lead", "Email", wanted, url_budget)
        answers = cast(BatchQueryClient, client).query_many([*contact_soql, *lead_soql])
        for records in answers[: len(contact_soql)]:
            for record in records:
                _index(contacts_by_email, record)
        for records in answers[len(contact_soql) :]:
            for record in records:
                _index(leads_by_email, record)
    else:
        for record in _query_in(client, contact_select, "Contact", "Email", wanted, url_budget):
            _index(contacts_by_email, record)
        without_contact = [e for e in wanted if e not in contacts_by_email]
        for record in _query_in(client, lead_select, "Lead", "Email", without_contact, url_budget):
            _index(leads_by_email, record)

    # Contacts behind converted Leads that the email query did not return.
    known_contacts = {r["Id"]: r for rs in contacts_by_email.values() for r in rs}
    converted_ids = sorted(
        {
            lead["ConvertedContactId"]
            for leads in leads_by_email.values()
            for lead in leads
            if lead.get("IsConverted") and lead.get("ConvertedContactId")
        }
        - known_contacts.keys()
    )
    if batched:
        by_id = in_queries(client, contact_select, "Contact", "Id", converted_ids, url_budget)
        fetched = [r for rs in cast(BatchQueryClient, client).query_many(by_id) for r in rs]
    else:
        fetched = list(
            _query_in(client, contact_select, "Contact", "Id", converted_ids, url_budget)
        )
    for record in fetched:
        known_contacts[record["Id"]] = record

    return choose_matches(
        wanted,
        contacts_by_email,
        leads_by_email,
        known_contacts,
        duplicate_rule=duplicate_rule,
        contact_fields=contact_fields,
        lead_fields=lead_fields,
    )


def choose_matches(
    wanted: Iterable[str],
    contacts_by_email: Mapping[str, list[dict[str, Any]]],
    leads_by_email: Mapping[str, list[dict[str, Any]]],
    known_contacts: Mapping[str, dict[str, Any]],
    *,
    duplicate_rule: DuplicateRule = "oldest",
    contact_fields: Sequence[str] = (),
    lead_fields: Sequence[str] = (),
) -> MatchReport:
    """The choice per email (see the module docstring) over records already read: Contacts and
    Leads by canonical email, and every Contact by Id that a converted Lead may point at.
    Pure: `match_emails` reads by SOQL, a backfill reads by Bulk API query jobs."""
    report = MatchReport()
    pick = _picker(duplicate_rule)
    for email in wanted:
        match, candidates = _choose(
            email,
            contacts_by_email,
            leads_by_email,
            known_contacts,
            pick,
            contact_fields,
            lead_fields,
        )
        if match is None:
            report.unmatched.append(email)
            continue
        report.matches[email] = match
        if len(candidates) > 1:
            report.duplicates[email] = candidates
    return report


def _choose(
    email: str,
    contacts_by_email: Mapping[str, list[dict[str, Any]]],
    leads_by_email: Mapping[str, list[dict[str, Any]]],
    known_contacts: Mapping[str, dict[str, Any]],
    pick: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    contact_fields: Sequence[str],
    lead_fields: Sequence[str],
) -> tuple[Match | None, list[str]]:
    contacts = contacts_by_email.get(email, [])
    if contacts:
        ranked = pick(contacts)
        return _match("Contact", ranked[0], contact_fields), [r["Id"] for r in ranked]
    leads = leads_by_email.get(email, [])
    converted = [lead for lead in leads if lead.get("IsConverted")]
    via: dict[str, str] = {}  # contact id -> the converted lead that led to it
    for lead in pick(converted):
        contact_id = lead.get("ConvertedContactId")
        if contact_id in known_contacts and contact_id not in via:
            via[contact_id] = lead["Id"]
    if via:
        ranked = pick([known_contacts[cid] for cid in via])
        best = ranked[0]
        match = _match("Contact", best, contact_fields, converted_lead_id=via[best["Id"]])
        return match, [r["Id"] for r in ranked]
    open_leads = [lead for lead in leads if not lead.get("IsConverted")]
    if open_leads:
        ranked = pick(open_leads)
        return _match("Lead", ranked[0], lead_fields), [r["Id"] for r in ranked]
    return None, []


def _match(
    sobject: Literal["Lead", "Contact"],
    record: Mapping[str, Any],
    names: Sequence[str],
    converted_lead_id: str | None = None,
) -> Match:
    lowered = {k.lower(): v for k, v in record.items()}
    return Match(
        sobject=sobject,
        record_id=record["Id"],
        owner_id=record.get("OwnerId"),
        fields={name: lowered.get(name.lower()) for name in names},
        converted_lead_id=converted_lead_id,
    )


def _picker(rule: str) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Rank candidates best first; ties (and missing dates) fall back to the Id."""

    def rank(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_id = sorted(records, key=lambda r: r["Id"])
        if rule == "oldest":
            return sorted(by_id, key=lambda r: r.get("CreatedDate") or "\uffff")
        key = "CreatedDate" if rule == "newest" else "LastModifiedDate"
        return sorted(by_id, key=lambda r: r.get(key) or "", reverse=True)

    return rank


def _index(target: dict[str, list[dict[str, Any]]], record: dict[str, Any]) -> None:
    email = canonical_email(record.get("Email"))
    if email is not None:
        target.setdefault(email, []).append(record)


def _query_in(
    client: QueryClient,
    select: Sequence[str],
    sobject: str,
    field_name: str,
    values: Sequence[str],
    url_budget: int,
) -> Iterator[dict[str, Any]]:
    """`SELECT .. FROM sobject WHERE field IN (values)`: one query per URL-sized chunk."""
    for soql in in_queries(client, select, sobject, field_name, values, url_budget):
        yield from client.query(soql)


def in_queries(
    client: QueryClient,
    select: Sequence[str],
    sobject: str,
    field_name: str,
    values: Sequence[str],
    url_budget: int,
) -> list[str]:
    """The `SELECT .. FROM sobject WHERE field IN (values)` queries, one per URL-sized chunk."""
    prefix = f"SELECT {', '.join(select)} FROM {sobject} WHERE {field_name} IN ("
    return [
        prefix + ",".join(quote_soql_value(v) for v in chunk) + ")"
        for chunk in chunk_literals(client, prefix, ")", values, url_budget)
    ]


def bulk_identity(
    client: BulkQueryClient,
    emails: Iterable[str],
    *,
    lead_fields: Sequence[str] = (),
    contact_fields: Sequence[str] = (),
    duplicate_rule: DuplicateRule = "oldest",
) -> MatchReport:
    """`match_emails` for a whole backfill, in two Bulk API 2.0 query jobs
    (`client.bulk_query`, results paged by locator) whatever the number of emails:
    1. every Lead with an Email, keeping those of `emails`;
    2. every Contact, keeping those of `emails` and those the kept converted Leads point at
       (which may have no or another email).
    About ten calls for a million leads, against thousands of SOQL queries. Values come back
    as CSV text: an empty cell reads as None, `IsConverted` as a boolean."""
    if duplicate_rule not in _RULES:
        raise ValueError(f"duplicate_rule must be one of {sorted(_RULES)}")
    # A million leads' emails are held here at once: an address that is canonical already (as
    # the state store keeps them) is kept as the caller's own string, not a copy.
    keep: set[str] = set()
    wanted: list[str] = []
    for raw in emails:
        canonical = canonical_email(raw)
        if canonical and canonical not in keep:
            canonical = raw if canonical == raw else canonical
            keep.add(canonical)
            wanted.append(canonical)
    contact_select = _select_list(_CONTACT_BASE, contact_fields)
    lead_select = _select_list(_LEAD_BASE, lead_fields)
    leads_by_email: dict[str, list[dict[str, Any]]] = {}
    cells: dict[str, str] = {}  # repeated cell texts (owners, dates, picklists) kept once
    soql = f"SELECT {', '.join(lead_select)} FROM Lead WHERE Email != null"
    for page in client.bulk_query(soql):
        for row in page:
            if canonical_email(row.get("Email")) in keep:
                _index(leads_by_email, _from_csv(row, cells))
    converted = {
        lead["ConvertedContactId"]
        for leads in leads_by_email.values()
        for lead in leads
        if lead.get("IsConverted") and lead.get("ConvertedContactId")
    }
    contacts_by_email: dict[str, list[dict[str, Any]]] = {}
    known_contacts: dict[str, dict[str, Any]] = {}
    for page in client.bulk_query(f"SELECT {', '.join(contact_select)} FROM Contact"):
        for row in page:
            in_set = canonical_email(row.get("Email")) in keep
            if in_set or row.get("Id") in converted:
                record = _from_csv(row, cells)
                known_contacts[record["Id"]] = record
                if in_set:
                    _index(contacts_by_email, record)
    return choose_matches(
        wanted,
        contacts_by_email,
        leads_by_email,
        known_contacts,
        duplicate_rule=duplicate_rule,
        contact_fields=contact_fields,
        lead_fields=lead_fields,
    )


def _from_csv(row: Mapping[str, str], cells: dict[str, str]) -> dict[str, Any]:
    """A CSV row as a record: an empty cell reads as None; a text other than the Id and the
    Email is kept once in `cells` (owners, dates and picklist values repeat across rows)."""
    out: dict[str, Any] = {
        k: (None if v == "" else v if k in _OWN_CELLS else cells.setdefault(v, v))
        for k, v in row.items()
    }
    if "IsConverted" in out:
        out["IsConverted"] = (row.get("IsConverted") or "").lower() == "true"
    return out


def _select_list(base: Sequence[str], extra: Sequence[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for name in (*base, *extra):
        check_name(name, "field name")
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return out


def chunk_literals(
    client: QueryClient,
    prefix: str,
    suffix: str,
    values: Sequence[str],
    url_budget: int,
) -> Iterator[list[str]]:
    """Split `values` so that `prefix + quoted values joined by ',' + suffix`, as a query URL,
    stays within `url_budget` bytes. URL encoding is per character, so lengths add up.

    A value too long to fit even alone is left out (it could not be an email Salesforce
    stores: the Email field holds 80 characters), so it ends up unmatched.
    """
    if not values:
        return
    base = client.query_url_length(prefix + suffix)
    comma = len(quote_plus(","))
    chunk: list[str] = []
    size = base
    for value in values:
        cost = len(quote_plus(quote_soql_value(value)))
        if base + cost > url_budget:
            log.warning("value too long to query, left out", extra={"length": len(value)})
            continue
        extra = cost + (comma if chunk else 0)
        if chunk and size + extra > url_budget:
            yield chunk
            chunk, size, extra = [], base, cost
        chunk.append(value)
        size += extra
    if chunk:
        yield chunk
