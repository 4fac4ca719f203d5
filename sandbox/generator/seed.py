"""The seed contract: `generate()` -> `SeedData`, whose record streams the sandboxes load.

Every stream is lazy and re-iterable: iterating it again regenerates the same records, and
nothing is held in memory between records beyond small LRU caches. A per-kind stream
rebuilds each contact's plan, so reading all ten HubSpot kinds one by one costs about ten
times one pass; loaders of large data sets should use the single-pass `hubspot_records()` /
`salesforce_records()` instead.

Windows: `data.window(start, stop)` covers contacts `start <= i < stop` of the same data set
(same ids, same records). Companies belong to the window holding their first contact
(`company c` <-> contact `4c`), portal-wide records (forms, marketing events, Salesforce users)
to the window starting at 0, so the windows of a partition together hold each record once.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from . import hubspot as hs
from . import salesforce as sf
from . import vocab as V
from .ids import to_ms
from .plan import (
    CONTACTS_PER_COMPANY,
    DUPLICATE_AT,
    DUPLICATE_PERIOD,
    MALFORMED_AT,
    MALFORMED_PERIOD,
    NEWSLETTER_DAYS,
    CompanyPlan,
    ContactPlan,
    company_plan,
    contact_plan,
    identity,
    salesforce_plan,
)

Record = dict[str, Any]

HUBSPOT_KINDS: tuple[str, ...] = (
    "contacts",
    "companies",
    "associations",
    "forms",
    "form_submissions",
    "email_events",
    "marketing_events",
    "participations",
    "page_views",
    "meetings",
)
SALESFORCE_OBJECTS: tuple[str, ...] = ("User", "Account", "Contact", "Lead", "Opportunity")


class Stream(Iterable[Record]):
    """A lazily produced, re-iterable sequence of records (each `iter()` starts over)."""

    __slots__ = ("_factory", "name")

    def __init__(self, name: str, factory: Callable[[], Iterator[Record]]) -> None:
        self.name = name
        self._factory = factory

    def __iter__(self) -> Iterator[Record]:
        return self._factory()

    def __repr__(self) -> str:
        return f"Stream({self.name!r})"


@dataclass(frozen=True, slots=True)
class ContactTruth:
    """What the generator designed for one HubSpot contact (for tests, not for the sandbox)."""

    index: int
    hubspot_id: str
    email: str | None  # exactly as in HubSpot
    segment: str
    points: int
    mql_candidate: bool
    duplicate_of: str | None  # HubSpot id of the contact this one duplicates
    malformed_email: bool
    salesforce: tuple[tuple[str, str, str], ...]  # (object, Id, Email) of this person


@dataclass(frozen=True, slots=True)
class SeedData:
    """A deterministic synthetic data set; `contact_count` contacts, window `[start, stop)`."""

    seed: int
    now: datetime
    contact_count: int
    start: int = 0
    stop: int = -1  # -1: contact_count
    # Days between newsletters: 14 by default; 7 gives about 20 activities per contact.
    newsletter_days: int = NEWSLETTER_DAYS
    _now_ms: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.contact_count < 0:
            raise ValueError("contact_count must be >= 0")
        object.__setattr__(self, "_now_ms", to_ms(self.now))
        stop = self.contact_count if self.stop == -1 else self.stop
        if not 0 <= self.start <= stop <= self.contact_count:
            raise ValueError(f"window [{self.start}, {stop}) is outside 0..{self.contact_count}")
        if self.newsletter_days < 1:
            raise ValueError("newsletter_days must be >= 1")
        object.__setattr__(self, "stop", stop)

    # --- windows and plans --------------------------------------------------------------

    def window(self, start: int, stop: int) -> SeedData:
        """The same data set restricted to contacts `start <= i < stop` (see module doc)."""
        return replace(self, start=start, stop=stop)

    @property
    def is_full(self) -> bool:
        return self.start == 0 and self.stop == self.contact_count

    @property
    def holds_portal_records(self) -> bool:
        return self.start == 0

    def plans(self) -> Iterator[ContactPlan]:
        for i in range(self.start, self.stop):
            yield self._plan(i)

    def _plan(self, i: int) -> ContactPlan:
        return contact_plan(self.seed, i, self._now_ms, self.newsletter_days)

    def company_indexes(self) -> range:
        k = CONTACTS_PER_COMPANY
        return range(-(-self.start // k), -(-self.stop // k))

    def company_plans(self) -> Iterator[CompanyPlan]:
        for c in self.company_indexes():
            yield company_plan(self.seed, c, self._now_ms)

    def _company_id(self, p: ContactPlan) -> str | None:
        c = p.ident.company_index
        return None if c is None else company_plan(self.seed, c, self._now_ms).hubspot_id

    def _company_name(self, p: ContactPlan) -> str | None:
        c = p.ident.company_index
        if c is None:
            return p.ident.company_prop
        return company_plan(self.seed, c, self._now_ms).name

    # --- HubSpot ------------------------------------------------------------------------

    def _per_contact(self, render: Callable[[ContactPlan], Iterable[Record]]) -> Iterator[Record]:
        for p in self.plans():
            yield from render(p)

    def _hubspot_factories(self) -> dict[str, Callable[[], Iterator[Record]]]:
        seed, now = self.seed, self._now_ms
        guids = hs.form_guids(seed)
        portal, subs = hs.portal_id(seed), hs.subscription_ids(seed)
        return {
            "contacts": lambda: (hs.contact_record(p) for p in self.plans()),
            "companies": lambda: (hs.company_record(c) for c in self.company_plans()),
            "associations": lambda: self._per_contact(
                lambda p: hs.association_records(p, self._company_id(p))
            ),
            "forms": lambda: hs.form_records(seed, now) if self.holds_portal_records else iter(()),
            "form_submissions": lambda: self._per_contact(
                lambda p: hs.form_submission_records(p, guids)
            ),
            "email_events": lambda: self._per_contact(
                lambda p: hs.email_event_records(p, portal, subs)
            ),
            "marketing_events": self._marketing_events,
            "participations": lambda: self._per_contact(
                lambda p: hs.participation_records(p, seed)
            ),
            "page_views": lambda: self._per_contact(hs.page_view_records),
            "meetings": lambda: self._per_contact(
                lambda p: hs.meeting_records(p, self._company_name(p))
            ),
        }

    def _marketing_events(self, counts: list[dict[str, int]] | None = None) -> Iterator[Record]:
        if not self.holds_portal_records:
            return
        if counts is None:  # participation counts always cover the whole data set
            counts = hs.empty_event_counts()
            for p in self.window(0, self.contact_count).plans():
                hs.add_event_counts(counts, p)
        yield from hs.marketing_event_records(self.seed, self._now_ms, counts)

    def hubspot_payload(self) -> dict[str, Stream]:
        """Object kind -> re-iterable stream of HubSpot records (see HUBSPOT_KINDS)."""
        return {name: Stream(name, f) for name, f in self._hubspot_factories().items()}

    def hubspot_items(self) -> Iterator[tuple[str, Stream]]:
        """`for name, records in data.hubspot_items(): ...` (kinds in HUBSPOT_KINDS order)."""
        yield from self.hubspot_payload().items()

    def hubspot_records(self) -> Iterator[tuple[str, Record]]:
        """Every HubSpot record of the window in one pass: `(kind, record)` pairs.

        Order: forms; then, per contact, its company when the contact opens the company's
        block, the contact, its associations, form submissions, email events, participations,
        page views and meetings; marketing events (with participation counts) come last.
        """
        seed, now = self.seed, self._now_ms
        guids = hs.form_guids(seed)
        portal, subs = hs.portal_id(seed), hs.subscription_ids(seed)
        counts = hs.empty_event_counts()
        if self.holds_portal_records:
            for form in hs.form_records(seed, now):
                yield "forms", form
        for p in self.plans():
            if p.index % CONTACTS_PER_COMPANY == 0:
                company = company_plan(seed, p.index // CONTACTS_PER_COMPANY, now)
                yield "companies", hs.company_record(company)
            yield "contacts", hs.contact_record(p)
            for r in hs.association_records(p, self._company_id(p)):
                yield "associations", r
            for r in hs.form_submission_records(p, guids):
                yield "form_submissions", r
            for r in hs.email_event_records(p, portal, subs):
                yield "email_events", r
            for r in hs.participation_records(p, seed):
                yield "participations", r
            for r in hs.page_view_records(p):
                yield "page_views", r
            for r in hs.meeting_records(p, self._company_name(p)):
                yield "meetings", r
            hs.add_event_counts(counts, p)
        for r in self._marketing_events(counts if self.is_full else None):
            yield "marketing_events", r

    # attribute access: data.contacts, data.email_events, ...
    @property
    def contacts(self) -> Stream:
        return self.hubspot_payload()["contacts"]

    @property
    def companies(self) -> Stream:
        return self.hubspot_payload()["companies"]

    @property
    def associations(self) -> Stream:
        return self.hubspot_payload()["associations"]

    @property
    def forms(self) -> Stream:
        return self.hubspot_payload()["forms"]

    @property
    def form_submissions(self) -> Stream:
        return self.hubspot_payload()["form_submissions"]

    @property
    def email_events(self) -> Stream:
        return self.hubspot_payload()["email_events"]

    @property
    def marketing_events(self) -> Stream:
        return self.hubspot_payload()["marketing_events"]

    @property
    def participations(self) -> Stream:
        return self.hubspot_payload()["participations"]

    @property
    def page_views(self) -> Stream:
        return self.hubspot_payload()["page_views"]

    @property
    def meetings(self) -> Stream:
        return self.hubspot_payload()["meetings"]

    # --- Salesforce ---------------------------------------------------------------------

    def salesforce_records(self) -> Iterator[tuple[str, Record]]:
        """Every Salesforce record of the window in one pass: `(object name, record)`.

        Users first; an Account (then its Opportunities and Salesforce-only Contacts) comes
        before any Contact or Lead pointing at it; a converted Lead follows its Contact.
        """
        seed, now = self.seed, self._now_ms
        if self.holds_portal_records:
            for u in sf.user_records(now):
                yield "User", u
        for i in range(self.start, self.stop):
            if i % CONTACTS_PER_COMPANY == 0:
                yield from self._company_sf(company_plan(seed, i // CONTACTS_PER_COMPANY, now))
            people = salesforce_plan(seed, i, now)
            if people:
                ident = identity(seed, i, now)
                firm = (
                    None
                    if ident.company_index is None
                    else company_plan(seed, ident.company_index, now)
                )
                yield from sf.person_records(ident, people, firm)

    @staticmethod
    def _company_sf(c: CompanyPlan) -> Iterator[tuple[str, Record]]:
        if not c.in_salesforce:
            return
        yield "Account", sf.account_record(c)
        for o in sf.opportunity_records(c):
            yield "Opportunity", o
        extra = sf.role_mailbox_contact(c)
        if extra is not None:
            yield "Contact", extra

    def _sf_filtered(self, name: str, companies_only: bool) -> Iterator[Record]:
        if companies_only:
            for c in self.company_plans():
                for n, r in self._company_sf(c):
                    if n == name:
                        yield r
            return
        for n, r in self.salesforce_records():
            if n == name:
                yield r

    def salesforce_payload(self) -> dict[str, Stream]:
        """Object name -> re-iterable stream of Salesforce records (see SALESFORCE_OBJECTS)."""
        now = self._now_ms
        return {
            "User": Stream(
                "User", lambda: sf.user_records(now) if self.holds_portal_records else iter(())
            ),
            "Account": Stream("Account", lambda: self._sf_filtered("Account", True)),
            "Contact": Stream("Contact", lambda: self._sf_filtered("Contact", False)),
            "Lead": Stream("Lead", lambda: self._sf_filtered("Lead", False)),
            "Opportunity": Stream("Opportunity", lambda: self._sf_filtered("Opportunity", True)),
        }

    def salesforce_items(self) -> Iterator[tuple[str, Stream]]:
        yield from self.salesforce_payload().items()

    # --- ground truth -------------------------------------------------------------------

    def ground_truth(self) -> Iterator[ContactTruth]:
        for p in self.plans():
            people = tuple(
                (obj, rec["Id"], rec["Email"])
                for obj, rec in sf.person_records(
                    p.ident, salesforce_plan(self.seed, p.index, self._now_ms)
                )
            )
            yield ContactTruth(
                index=p.index,
                hubspot_id=p.hubspot_id,
                email=p.email,
                segment=p.segment,
                points=p.points,
                mql_candidate=p.mql_candidate,
                duplicate_of=(
                    None if p.duplicate_of is None else self._plan(p.duplicate_of).hubspot_id
                ),
                malformed_email=p.malformed,
                salesforce=people,
            )

    def expected_counts(self) -> dict[str, Any]:
        """Counts of everything the window holds, from the plans (one pass, no rendering).

        Keys: one per HubSpot kind and `salesforce` (per object), plus `email_events_by_type`,
        `participations_by_state`, `form_submissions_by_form`, `segments`, `activities`,
        `mql_candidates`, `duplicate_contacts`, `malformed_emails`, and Salesforce matching
        facts: `emails_in_salesforce`, `converted_leads`, `emails_with_duplicate_records` (two or
        more active records: Contacts and open Leads), `emails_with_other_case`.
        """
        by_type: Counter[str] = Counter()
        by_state: Counter[str] = Counter()
        by_form: Counter[str] = Counter()
        segments: Counter[str] = Counter()
        n = associations = page_views = meetings = mql = 0
        sf_objects: Counter[str] = Counter()
        in_sf = converted = duplicated = other_case = 0
        for p in self.plans():
            n += 1
            segments[p.segment] += 1
            by_type.update(e[1] for e in p.emails)
            by_state.update(x[1] for x in p.participations)
            by_form.update(f[1] for f in p.forms)
            associations += (p.ident.company_index is not None) + len(p.meetings)
            page_views += len(p.pages)
            meetings += len(p.meetings)
            mql += p.mql_candidate
            people = salesforce_plan(self.seed, p.index, self._now_ms)
            if people:
                in_sf += 1
                active = sum(
                    1
                    for r in people
                    if r.sobject == "Contact" or not (r.status or "").startswith("Closed")
                )
                duplicated += active > 1
                other_case += any(r.email != p.email for r in people)
                for r in people:
                    sf_objects[r.sobject] += 1
                    converted += r.converted_contact is not None
        companies = 0
        for c in self.company_plans():
            companies += 1
            if c.in_salesforce:
                sf_objects["Account"] += 1
                sf_objects["Opportunity"] += len(c.opportunities)
                sf_objects["Contact"] += c.role_mailbox is not None
        portal = self.holds_portal_records
        sf_objects["User"] = len(V.SF_USERS) if portal else 0
        participations = sum(by_state.values())
        form_submissions = sum(by_form.values())
        email_events = sum(by_type.values())
        return {
            "contacts": n,
            "companies": companies,
            "associations": associations,
            "forms": len(V.FORMS) if portal else 0,
            "form_submissions": form_submissions,
            "email_events": email_events,
            "marketing_events": len(V.WEBINARS) if portal else 0,
            "participations": participations,
            "page_views": page_views,
            "meetings": meetings,
            "activities": form_submissions + email_events + participations + page_views + meetings,
            "email_events_by_type": dict(sorted(by_type.items())),
            "participations_by_state": dict(sorted(by_state.items())),
            "form_submissions_by_form": dict(sorted(by_form.items())),
            "segments": dict(sorted(segments.items())),
            "mql_candidates": mql,
            "duplicate_contacts": _count_in(self.start, self.stop, DUPLICATE_PERIOD, DUPLICATE_AT),
            "malformed_emails": _count_in(self.start, self.stop, MALFORMED_PERIOD, MALFORMED_AT),
            "salesforce": {name: sf_objects[name] for name in SALESFORCE_OBJECTS},
            "emails_in_salesforce": in_sf,
            "converted_leads": converted,
            "emails_with_duplicate_records": duplicated,
            "emails_with_other_case": other_case,
        }


def _count_in(start: int, stop: int, period: int, at: int) -> int:
    """How many i in [start, stop) have i % period == at."""

    def below(x: int) -> int:
        return x // period + (x % period > at)

    return below(stop) - below(start)


def generate(
    *, contacts: int, seed: int, now: datetime, newsletter_days: int = NEWSLETTER_DAYS
) -> SeedData:
    """The synthetic data set of `contacts` contacts; same arguments, same bytes.

    `now` must be timezone-aware; every timestamp lies in the ~180 days before it (meetings
    and one webinar may be scheduled after it), some within its last hour.
    """
    return SeedData(seed=seed, now=now, contact_count=contacts, newsletter_days=newsletter_days)


def hubspot_seed(data: SeedData, *, max_contacts: int = 20_000) -> dict[str, list[Record]]:
    """The window's HubSpot records as JSON-ready lists, for `POST /_sandbox/seed`."""
    _check_small(data, max_contacts)
    out: dict[str, list[Record]] = {name: [] for name in HUBSPOT_KINDS}
    for name, record in data.hubspot_records():
        out[name].append(record)
    return out


def salesforce_seed(data: SeedData, *, max_contacts: int = 20_000) -> dict[str, list[Record]]:
    """The window's Salesforce records as JSON-ready lists, per object name."""
    _check_small(data, max_contacts)
    out: dict[str, list[Record]] = {name: [] for name in SALESFORCE_OBJECTS}
    for name, record in data.salesforce_records():
        out[name].append(record)
    return out


def _check_small(data: SeedData, max_contacts: int) -> None:
    size = data.stop - data.start
    if size > max_contacts:
        raise ValueError(
            f"{size} contacts is too many to hold in memory (max_contacts={max_contacts}); "
            "stream data.hubspot_records() / data.salesforce_records() instead"
        )


def split_by_kind(
    pairs: Iterable[tuple[str, dict[str, Any]]], kinds: Iterable[str]
) -> dict[str, Iterator[dict[str, Any]]]:
    """One pass of `(kind, record)` pairs as one stream per kind (other kinds dropped).

    Records of a kind not being read yet wait in a queue, so the seed can read the kinds in
    any order while the generator runs once; the first kind read is never buffered.
    """
    source = iter(pairs)
    queues: dict[str, deque[dict[str, Any]]] = {kind: deque() for kind in kinds}

    def stream(kind: str) -> Iterator[dict[str, Any]]:
        queue = queues[kind]
        while True:
            while queue:
                yield queue.popleft()
            for name, record in source:
                if name == kind:
                    yield record
                    break
                if name in queues:
                    queues[name].append(record)
            else:
                if not queue:
                    return

    return {kind: stream(kind) for kind in queues}
