"""Extraction: contacts, companies and activities from HubSpot, streamed, in the fewest calls.

Every method is a generator (or answers a collection the size of its input), so memory
stays bounded by one page. Bad records never raise: they land on `HubSpotSource.problems`
and the run goes on. API failures that retrying cannot fix (auth, budget, broken contract)
do raise.

Calls per 1,000 changed contacts: 5 searches (200 a page) + 5 association reads (one per
search page; HubSpot takes up to 1,000 ids a call) = 10. Backfill (`all_contacts`): 10 list
pages with `associations=companies`, which name the primary company
(`type: contact_to_company`), so no association calls at all.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from connectors.hubspot import constants as c
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.forms import FormRules
from connectors.hubspot.normalize import (
    Problem,
    Skipped,
    associated_ids,
    company_from_record,
    contact_from_record,
    email_event_activity,
    iso_z,
    meeting_activities,
    page_view_activity,
    parse_timestamp,
    participation_activity,
    primary_company_from_list,
    primary_company_id,
    submission_activity,
    to_ms,
)
from connectors.hubspot.streams import StreamStatus, unavailable_reason
from connectors.hubspot.visits import ANALYTICS_PROPERTIES, derived_visits
from core.config import HubSpotSettings
from core.errors import FatalAPIError, RecordError
from core.identity import parse_email
from core.models import Activity, Company, Contact

log = logging.getLogger("connector.hubspot.extract")

T = TypeVar("T")
Record = dict[str, Any]


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def read_ahead(
    items: Iterator[T], work: Callable[[], None], depth: int, name: str
) -> Iterator[T]:
    """`items`, produced by a worker thread up to `depth` ahead of the caller; whenever the
    next item is not there yet, the caller's thread runs `work` once, then waits for it.

    An exception in the worker is raised to the caller at the point the worker reached.
    When the caller stops early (or `work` raises), the worker stops at its next item.
    """
    ready: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the caller's thread, raised there
            put(("error", exc))

    worker = threading.Thread(target=produce, name=f"read-ahead-{name}", daemon=True)
    worker.start()
    try:
        while True:
            try:
                kind, value = ready.get_nowait()
            except queue.Empty:
                work()
                kind, value = ready.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        worker.join(timeout=30)


def next_after(response: Mapping[str, Any]) -> str | None:
    """The `paging.next.after` cursor of a v3-style page, or None on the last page."""
    paging = response.get("paging")
    if not isinstance(paging, Mapping):
        return None
    nxt = paging.get("next")
    if not isinstance(nxt, Mapping):
        return None
    after = nxt.get("after")
    return str(after) if after not in (None, "") else None


def _results(response: Mapping[str, Any], key: str = "results") -> list[Any]:
    value = response.get(key)
    return value if isinstance(value, list) else []


def _check_window(since: datetime, until: datetime) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    if since > until:
        raise ValueError(f"empty window: since {since.isoformat()} > until {until.isoformat()}")


def _numeric_id(value: Any) -> int | None:
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() else None


class HubSpotSource:
    """Streams HubSpot data as core.models, recording unusable records on `problems`."""

    def __init__(
        self,
        client: HubSpotClient,
        forms: FormRules,
        settings: HubSpotSettings,
        *,
        max_problems: int = c.MAX_PROBLEMS,
    ) -> None:
        self.client = client
        self.forms = forms
        self.settings = settings
        self.problems: list[Problem] = []
        self.problem_counts: Counter[str] = Counter()  # by source, including ones not kept
        self.skipped: Counter[str] = Counter()  # well-formed records not used, by reason
        self.merged_ids: dict[str, str] = {}  # merged-away contact id -> surviving id
        self._max_problems = max_problems
        self._while_waiting: Callable[[], None] | None = None
        # What this run found per activity stream (read, skipped: why, switched off, derived).
        self.stream_states: dict[str, StreamStatus] = {}
        streams = settings.streams
        # Page views from the contacts' analytics properties: set when configured so, or when
        # the events API refuses (403/404) and `page_views_from = "auto"`.
        self.derives_visits = streams.page_views and streams.page_views_from == "analytics"

    def while_waiting(self, work: Callable[[], None] | None) -> None:
        """Work for the caller's thread while the next search page is not there yet.

        While set, search pages are read ahead (up to `SEARCH_READ_AHEAD_PAGES`) by a worker
        thread paced by the search limiter, and whenever the caller asks for a page that has
        not arrived, `work` runs once before waiting for it. None: pages are read in the
        caller's thread, one when asked for. Errors from `work` propagate to the caller.
        """
        self._while_waiting = work

    # ------------------------------------------------------------------ bookkeeping

    def _problem(self, problem: Problem) -> None:
        self.problem_counts[problem.source] += 1
        if len(self.problems) < self._max_problems:
            self.problems.append(problem)
        log.debug(
            "hubspot record problem",
            extra={"source": problem.source, "record_id": problem.record_id},
        )

    def _emit(self, outcome: Activity | Problem | Skipped) -> Activity | None:
        if isinstance(outcome, Problem):
            self._problem(outcome)
            return None
        if isinstance(outcome, Skipped):
            self.skipped[outcome.reason] += 1
            return None
        return outcome

    def _contact_properties(self, *extra: str) -> list[str]:
        streams = self.settings.streams
        analytics = (
            ANALYTICS_PROPERTIES
            if streams.page_views and streams.page_views_from != "events"
            else ()
        )
        names = list(
            dict.fromkeys([*self.settings.contact_properties, "email", *analytics, *extra])
        )
        if "lastmodifieddate" not in names:
            names.append("lastmodifieddate")
        return names

    def _company_properties(self) -> list[str]:
        names = list(dict.fromkeys(self.settings.company_properties))
        if "hs_lastmodifieddate" not in names:
            names.append("hs_lastmodifieddate")
        return names

    # ------------------------------------------------------------------ search partitioning

    def _search_window(
        self,
        object_type: str,
        modified_property: str,
        since: datetime,
        until: datetime,
        properties: Iterable[str],
    ) -> Iterator[list[Record]]:
        """`_search_pages`, read ahead while the caller has work (see `while_waiting`)."""
        pages = self._search_pages(object_type, modified_property, since, until, properties)
        work = self._while_waiting
        if work is None:
            return pages
        return read_ahead(pages, work, c.SEARCH_READ_AHEAD_PAGES, f"{object_type}-search")

    def _search_pages(
        self,
        object_type: str,
        modified_property: str,
        since: datetime,
        until: datetime,
        properties: Iterable[str],
    ) -> Iterator[list[Record]]:
        """Every record of `object_type` modified in [since, until], each exactly once.

        Keyset paging on `hs_object_id`: sorted ascending, and *every* page is a fresh query
        for `hs_object_id > last id seen` (never the `after` offset). So no query ever nears
        the 10,000-result cap, and a record modified during the run (dropping out of or
        entering the result set) cannot shift the offsets and make the next page skip a
        record. Same number of calls as offset paging: one per 200 records.
        """
        _check_window(since, until)
        window = [
            {"propertyName": modified_property, "operator": "GTE", "value": str(to_ms(since))},
            {"propertyName": modified_property, "operator": "LTE", "value": str(to_ms(until))},
        ]
        props = list(properties)
        last_id: int | None = None
        while True:
            filters = list(window)
            if last_id is not None:
                filters.append(
                    {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)}
                )
            body = {
                "filterGroups": [{"filters": filters}],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "properties": props,
                "limit": c.SEARCH_PAGE,
            }
            try:
                response = self.client.search(object_type, body)
            except RecordError as exc:
                raise FatalAPIError(
                    f"HubSpot refused the {object_type} search: {exc.message}",
                    status=exc.status,
                    url=exc.url,
                    error_code=exc.error_code,
                ) from exc
            results = _results(response)
            page: list[Record] = []
            highest = last_id
            for record in results:
                number = _numeric_id(record.get("id") if isinstance(record, Mapping) else None)
                if number is None:
                    self._problem(Problem(object_type, None, "search result without numeric id"))
                    continue
                if last_id is not None and number <= last_id:
                    continue  # the server ignored the keyset filter; never yield twice
                page.append(record)
                highest = number if highest is None else max(highest, number)
            if page:
                yield page
            if not results or next_after(response) is None:
                return
            if highest == last_id:
                raise FatalAPIError(
                    f"HubSpot {object_type} search did not advance past id {last_id} "
                    "(results not sorted by hs_object_id?)"
                )
            last_id = highest

    # ------------------------------------------------------------------ associations

    def _association_lists(
        self, from_type: str, to_type: str, ids: Iterable[str]
    ) -> dict[str, list[Any]]:
        """{from id: its `to` items} via v4 batch reads of up to 1,000, following per-record paging.

        Ids without associations are simply absent (HubSpot answers them in a 207's errors).
        """
        out: dict[str, list[Any]] = {}
        for chunk in chunked(dict.fromkeys(str(i) for i in ids), c.ASSOCIATIONS_BATCH):
            try:
                response = self.client.associations(from_type, to_type, chunk)
            except RecordError as exc:
                for record_id in chunk:
                    self._problem(
                        Problem(from_type, record_id, f"associations not read: {exc.message}")
                    )
                continue
            for result in _results(response):
                if not isinstance(result, Mapping):
                    continue
                source = result.get("from")
                from_id = str(source.get("id")) if isinstance(source, Mapping) else None
                if from_id is None:
                    continue
                items = list(result.get("to") or [])
                after = next_after(result)
                while after is not None:
                    try:
                        more = self.client.association_page(
                            from_type, from_id, to_type, after=after
                        )
                    except RecordError as exc:  # the record went away between the two calls
                        self._problem(Problem(from_type, from_id, f"associations: {exc.message}"))
                        break
                    items.extend(_results(more))
                    after = next_after(more)
                out.setdefault(from_id, []).extend(items)
        return out

    def _primary_companies(self, contact_ids: list[str]) -> dict[str, str | None]:
        lists = self._association_lists("contacts", "companies", contact_ids)
        return {contact_id: primary_company_id(items) for contact_id, items in lists.items()}

    def contact_ids_for_companies(self, company_ids: Iterable[str]) -> dict[str, list[str]]:
        """{company id: ids of its contacts} (companies without contacts are absent)."""
        lists = self._association_lists("companies", "contacts", company_ids)
        return {company_id: associated_ids(items) for company_id, items in lists.items()}

    # ------------------------------------------------------------------ contacts

    def _contacts(
        self, records: Iterable[Any], companies: Mapping[str, str | None]
    ) -> list[Contact]:
        out: list[Contact] = []
        for record in records:
            record_id = str(record.get("id")) if isinstance(record, Mapping) else ""
            contact, problems = contact_from_record(record, company_id=companies.get(record_id))
            for problem in problems:
                self._problem(problem)
            if contact is not None:
                out.append(contact)
        return out

    def changed_contacts(self, since: datetime, until: datetime) -> Iterator[list[Contact]]:
        """Contacts whose `lastmodifieddate` is in [since, until], pages of up to 200, each
        contact once, with `company_id` = primary company (one association read per 100)."""
        pages = self._search_window(
            "contacts", "lastmodifieddate", since, until, self._contact_properties()
        )
        for page in pages:
            companies = self._primary_companies([str(r["id"]) for r in page])
            yield self._contacts(page, companies)

    def all_contacts(self) -> Iterator[list[Contact]]:
        """Every (unarchived) contact, pages of 100, for backfills.

        The list endpoint with `associations=companies` names each association's type, and
        `contact_to_company` is the primary one: 10 calls per 1,000 contacts, against 15 for
        search + association reads and 20 for list + association reads. The list endpoint has
        no 10,000 cap and its `after` cursor is stable.
        """
        after: str | None = None
        properties = self._contact_properties()
        while True:
            response = self.client.list_page(
                "contacts",
                limit=c.LIST_PAGE,
                after=after,
                properties=properties,
                associations=["companies"],
            )
            records = _results(response)
            companies = {
                str(r.get("id")): primary_company_from_list(r)
                for r in records
                if isinstance(r, Mapping)
            }
            contacts = self._contacts(records, companies)
            if contacts:
                yield contacts
            after = next_after(response)
            if after is None:
                return

    def _batch_read(
        self,
        object_type: str,
        keys: list[str],
        properties: list[str],
        id_property: str | None = None,
    ) -> Iterator[tuple[list[str], list[Any]]]:
        for chunk in chunked(keys, c.BATCH_READ_MAX):
            try:
                response = self.client.batch_read(
                    object_type, chunk, properties=properties, id_property=id_property
                )
            except RecordError as exc:
                for key in chunk:
                    self._problem(Problem(object_type, key, f"batch read refused: {exc.message}"))
                continue
            yield chunk, _results(response)

    def contacts_by_ids(self, ids: Iterable[str], *, with_company: bool = True) -> list[Contact]:
        """The contacts with these ids (batch reads of 100), each once, in request order.

        A merged-away id answers with the surviving contact; `merged_ids` records the mapping
        (old id -> surviving id). Ids not found (deleted mid-run, never existed) are reported
        on `problems`.
        """
        wanted = list(dict.fromkeys(str(i).strip() for i in ids if str(i).strip()))
        properties = self._contact_properties("hs_merged_object_ids")
        found: dict[str, Contact] = {}
        for chunk, records in self._batch_read("contacts", wanted, properties):
            by_id: dict[str, Contact] = {}
            for contact in self._contacts(records, self._companies_for(records, with_company)):
                by_id[contact.hubspot_id] = contact
                for merged in (contact.get("hs_merged_object_ids") or "").split(";"):
                    if merged.strip() and merged.strip() != contact.hubspot_id:
                        by_id.setdefault(merged.strip(), contact)
            for key in chunk:
                contact = by_id.get(key)
                if contact is None:
                    self._problem(Problem("contacts", key, "contact not found (deleted?)"))
                    continue
                if contact.hubspot_id != key:
                    self.merged_ids[key] = contact.hubspot_id
                found.setdefault(contact.hubspot_id, contact)
        return list(found.values())

    # ------------------------------------------------------------------ deletions (#18)
    def archived_contacts(self, since: datetime | None) -> list[tuple[str, datetime | None]]:
        """(id, archivedAt) of the contacts archived at or after `since` (all when None).
        HubSpot's list of archived records has no filter nor order by `archivedAt`, so every
        page is read (archived contacts stay listed 90 days, then they are gone)."""
        out: list[tuple[str, datetime | None]] = []
        after: str | None = None
        while True:
            page = self.client.list_page("contacts", after=after, archived=True)
            for record in _results(page):
                if not isinstance(record, Mapping) or record.get("id") is None:
                    continue
                if record.get("archived") is not True:  # only what HubSpot says is archived
                    continue
                when = parse_timestamp(record.get("archivedAt"))
                if since is None or when is None or when >= since:
                    out.append((str(record["id"]), when))
            after = next_after(page)
            if after is None:
                return out

    def contact_states(self, ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """Per stored contact id: ("live", None), ("merged", survivor id), ("archived", None)
        or ("gone", None): not found even among the archived records (GDPR-deleted, or
        archived more than 90 days ago). A merged-away id is answered with the survivor's
        record, which lists it in `hs_merged_object_ids`."""
        wanted = sorted(set(ids))
        out: dict[str, tuple[str, str | None]] = {}
        missing: list[str] = []
        for chunk in chunked(wanted, c.BATCH_READ_MAX):
            answer = self.client.batch_read(
                "contacts", chunk, properties=["hs_merged_object_ids"]
            )
            for record in _results(answer):
                if not isinstance(record, Mapping) or record.get("id") is None:
                    continue
                rid = str(record["id"])
                props = record.get("properties") or {}
                merged = str(props.get("hs_merged_object_ids") or "").split(";")
                if rid in chunk:
                    out[rid] = ("live", None)
                for old in (m.strip() for m in merged):
                    if old and old != rid and old in chunk:
                        out[old] = ("merged", rid)
            missing += [i for i in chunk if i not in out]
        for chunk in chunked(missing, c.BATCH_READ_MAX):
            answer = self.client.batch_read("contacts", chunk, archived=True)
            found = {str(r.get("id")) for r in _results(answer) if isinstance(r, Mapping)}
            for key in chunk:
                out[key] = ("archived", None) if key in found else ("gone", None)
        return out

    def contacts_by_emails(
        self, emails: Iterable[str], *, with_company: bool = True
    ) -> list[Contact]:
        """The contacts with these emails (batch read, idProperty=email), each once. Emails
        are normalised first; invalid and unknown ones are reported on `problems`."""
        wanted: list[str] = []
        for raw in emails:
            check = parse_email(raw)
            if check.email is None:
                self._problem(Problem("contacts", str(raw)[:254], f"lookup email: {check.reason}"))
            elif check.email not in wanted:
                wanted.append(check.email)
        found: dict[str, Contact] = {}
        properties = self._contact_properties()
        for chunk, records in self._batch_read("contacts", wanted, properties, "email"):
            contacts = self._contacts(records, self._companies_for(records, with_company))
            by_email = {contact.email: contact for contact in contacts if contact.email}
            for key in chunk:
                contact = by_email.get(key)
                if contact is None:
                    self._problem(Problem("contacts", key, "no contact with this email"))
                else:
                    found.setdefault(contact.hubspot_id, contact)
        return list(found.values())

    def _companies_for(self, records: list[Any], wanted: bool) -> dict[str, str | None]:
        if not wanted:
            return {}
        ids = [str(r["id"]) for r in records if isinstance(r, Mapping) and r.get("id")]
        return self._primary_companies(ids) if ids else {}

    # ------------------------------------------------------------------ companies

    def _companies(self, records: Iterable[Any]) -> list[Company]:
        out: list[Company] = []
        for record in records:
            company, problems = company_from_record(record)
            for problem in problems:
                self._problem(problem)
            if company is not None:
                out.append(company)
        return out

    def companies(self, ids: Iterable[str]) -> dict[str, Company]:
        """{id: Company} by batch read (100 a call); missing ids reported on `problems`."""
        wanted = list(dict.fromkeys(str(i).strip() for i in ids if str(i).strip()))
        found: dict[str, Company] = {}
        for chunk, records in self._batch_read("companies", wanted, self._company_properties()):
            by_id = {company.hubspot_id: company for company in self._companies(records)}
            for key in chunk:
                if key in by_id:
                    found[key] = by_id[key]
                else:
                    self._problem(Problem("companies", key, "company not found (deleted?)"))
        return found

    def changed_companies(self, since: datetime, until: datetime) -> Iterator[list[Company]]:
        """Companies whose `hs_lastmodifieddate` is in [since, until], each once."""
        pages = self._search_window(
            "companies", "hs_lastmodifieddate", since, until, self._company_properties()
        )
        for page in pages:
            yield self._companies(page)

    # ------------------------------------------------------------------ activities

    ACTIVITY_STREAMS = ("email_events", "form_submissions", "webinars", "page_views", "meetings")

    def activity_stream(self, stream: str, since: datetime, until: datetime) -> Iterator[Activity]:
        """One activity source by name, over [since, until] (the pipeline's entry point).

        A stream switched off in `[hubspot.streams]` yields nothing; one HubSpot refuses with
        403 or 404 yields what it read before the refusal and is recorded as skipped (page
        views in "auto" mode then come from the contacts, see `derived_visits`). Every other
        error propagates. `stream_states[stream]` says which happened.
        """
        streams = self.settings.streams
        if stream in self.ACTIVITY_STREAMS and not streams.enabled(stream):
            self.stream_states[stream] = StreamStatus(stream, "off")
            return iter(())
        if stream == "page_views" and streams.page_views_from == "analytics":
            self.stream_states[stream] = StreamStatus(
                stream, "derived", "from contact analytics properties (page_views_from)"
            )
            return iter(())
        return self._guarded(stream, self._stream(stream, since, until))

    def _guarded(self, stream: str, items: Iterator[Activity]) -> Iterator[Activity]:
        try:
            yield from items
        except (FatalAPIError, RecordError) as exc:
            reason = unavailable_reason(stream, exc)
            if reason is None:
                raise
            if stream == "page_views" and self.settings.streams.page_views_from == "auto":
                self.derives_visits = True
                status = StreamStatus(
                    stream, "derived", f"from contact analytics properties; events API: {reason}"
                )
            else:
                status = StreamStatus(stream, "skipped", reason)
            log.warning(
                "hubspot stream skipped for this run",
                extra={"stream": stream, "state": status.describe()},
            )
            self.stream_states[stream] = status
            return
        self.stream_states[stream] = StreamStatus(stream, "read")

    def derived_visits(self, before: Contact | None, after: Contact) -> list[Activity]:
        """Visits of `after` not counted in `before` (its stored copy), when page views are
        derived from the analytics properties this run (connectors/hubspot/visits.py)."""
        if not self.derives_visits:
            return []
        return derived_visits(before, after)

    def _stream(self, stream: str, since: datetime, until: datetime) -> Iterator[Activity]:
        if stream == "email_events":
            return self.email_events(since, until)
        if stream == "form_submissions":
            return self.form_submissions(since, until)
        if stream == "webinars":
            return self.webinar_participations(since, until)
        if stream == "page_views":
            return self.page_views(since, until)
        if stream == "meetings":
            return self.meetings(since, until)
        raise ValueError(f"unknown activity stream {stream!r}; known: {self.ACTIVITY_STREAMS}")

    def email_events(self, since: datetime, until: datetime) -> Iterator[Activity]:
        """Marketing email events created in [since, until] (1,000 a call)."""
        _check_window(since, until)
        offset: str | None = None
        while True:
            # excludeFilteredEvents: HubSpot otherwise includes opens and clicks its bot
            # filter flagged (`filteredEvent: true`), which would score machines.
            response = self.client.email_events_page(
                start_ms=to_ms(since), end_ms=to_ms(until), offset=offset, exclude_filtered=True
            )
            for event in _results(response, "events"):
                activity = self._emit(email_event_activity(event))
                if activity is not None:
                    yield activity
            if not response.get("hasMore"):
                return
            new_offset = response.get("offset")
            if new_offset in (None, "") or str(new_offset) == offset:
                raise FatalAPIError("HubSpot email events: hasMore without a new offset")
            offset = str(new_offset)

    def _forms(self) -> Iterator[Mapping[str, Any]]:
        after: str | None = None
        while True:
            # formTypes=all: without it HubSpot lists only standard (`hubspot`) forms, and
            # pop-up (`flow`) and collected external (`captured`) forms would go unread.
            response = self.client.forms_page(after=after, form_types=("all",))
            for form in _results(response):
                if isinstance(form, Mapping) and form.get("id"):
                    yield form
            after = next_after(response)
            if after is None:
                return

    def form_submissions(
        self, since: datetime, until: datetime | None = None
    ) -> Iterator[Activity]:
        """Submissions since `since` (and up to `until` if given) of the forms `FormRules`
        maps to a kind. Forms list read once; each mapped form is paged newest first and
        paging stops at the first page that reaches submissions older than `since`."""
        if until is not None:
            _check_window(since, until)
        elif since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        for form in self._forms():
            form_id = str(form["id"])
            form_name = str(form.get("name") or "")
            kind = self.forms.kind_for(form_id, form_name)
            if kind is None:
                self.skipped["form not mapped"] += 1
                continue
            yield from self._submissions(form_id, form_name, kind, since, until)

    def _submissions(
        self, form_id: str, form_name: str, kind: str, since: datetime, until: datetime | None
    ) -> Iterator[Activity]:
        after: str | None = None
        while True:
            try:
                response = self.client.form_submissions_page(form_id, after=after)
            except RecordError as exc:
                self._problem(Problem("form_submissions", form_id, f"form: {exc.message}"))
                return
            reached_older = False
            for submission in _results(response):
                submitted = parse_timestamp(
                    submission.get("submittedAt") if isinstance(submission, Mapping) else None
                )
                if submitted is not None and submitted < since:
                    reached_older = True
                    continue
                if submitted is not None and until is not None and submitted > until:
                    self.skipped["form submission after window"] += 1
                    continue
                activity = self._emit(
                    submission_activity(submission, form_id=form_id, form_name=form_name, kind=kind)
                )
                if activity is not None:
                    yield activity
            if reached_older:
                return
            after = next_after(response)
            if after is None:
                return

    def _marketing_events(self) -> Iterator[Mapping[str, Any]]:
        after: str | None = None
        while True:
            response = self.client.marketing_events_page(after=after)
            for event in _results(response):
                if isinstance(event, Mapping):
                    yield event
            after = next_after(response)
            if after is None:
                return

    def webinar_participations(
        self,
        since: datetime,
        until: datetime,
        *,
        event_types: Collection[str] | None = None,
        skip_ended_before: timedelta | None = timedelta(days=30),
    ) -> Iterator[Activity]:
        """Participation states (registered, attended, no-show, cancelled) of the events
        that ended at most `skip_ended_before` before `since`, recorded up to `until`.

        HubSpot keeps one row per contact and event, keyed by its id: when the webinar
        integration records attendance after the event, the row's state changes to ATTENDED
        but its `createdAt` stays the registration's, and nothing on the row says when it
        changed. A window on `createdAt` (or `occurredAt`) would therefore never see
        late-recorded attendance. So there is no lower bound on the rows: every row of every
        recent event is read each run (the breakdown endpoint has no time filter anyway, so
        this costs no extra call), and each (row id, state) is one activity whose source id
        the store already holds after its first read: scored exactly once. Rows recorded
        after `until` wait for a later window (a backfill's end). Events whose end (or start)
        lies more than `skip_ended_before` before `since` are not read (None: every event);
        `event_types` (e.g. {"WEBINAR"}) limits which event types are read (None: all).
        """
        _check_window(since, until)
        types = {t.upper() for t in event_types} if event_types is not None else None
        cutoff = since - skip_ended_before if skip_ended_before is not None else None
        for event in self._marketing_events():
            event_id = str(event.get("objectId") or event.get("id") or "")
            if not event_id:
                self._problem(Problem("webinar_participations", None, "event without id"))
                continue
            if types is not None and str(event.get("eventType") or "").upper() not in types:
                self.skipped["marketing event type not read"] += 1
                continue
            ended = parse_timestamp(event.get("endDateTime") or event.get("startDateTime"))
            if cutoff is not None and ended is not None and ended < cutoff:
                self.skipped["marketing event ended before window"] += 1
                continue
            yield from self._participations(event_id, since, until)

    def _participations(
        self, event_id: str, since: datetime, until: datetime
    ) -> Iterator[Activity]:
        after: str | None = None
        while True:
            try:
                response = self.client.participations_page(event_id, after=after)
            except RecordError as exc:
                self._problem(Problem("webinar_participations", event_id, exc.message))
                return
            for row in _results(response):
                activity = self._emit(participation_activity(row, event_id=event_id))
                if activity is None:
                    continue
                # No lower bound (see the docstring): a row read again is deduplicated by the
                # store on its (row id, state) source id.
                recorded = _recorded_at(row) or activity.occurred_at
                if recorded > until:
                    self.skipped["participation after window"] += 1
                    continue
                yield activity
            after = next_after(response)
            if after is None:
                return

    def page_views(
        self, since: datetime, until: datetime, *, contact_ids: Iterable[str] | None = None
    ) -> Iterator[Activity]:
        """Page views (event type `settings.page_view_event_type`) in [since, until].

        HubSpot's reference lists `objectId` as optional, so by default one stream covers all
        contacts (1,000 a call). If a portal insists on `objectId`, pass `contact_ids` and
        the events are read per contact.
        """
        _check_window(since, until)
        if contact_ids is None:
            yield from self._page_views(since, until, None)
            return
        for contact_id in dict.fromkeys(str(i) for i in contact_ids):
            yield from self._page_views(since, until, contact_id)

    def _page_views(
        self, since: datetime, until: datetime, object_id: str | None
    ) -> Iterator[Activity]:
        after: str | None = None
        while True:
            try:
                response = self.client.events_page(
                    event_type=self.settings.page_view_event_type,
                    occurred_after=iso_z(since),
                    occurred_before=iso_z(until),
                    object_id=object_id,
                    after=after,
                )
            except RecordError as exc:
                if object_id is None:
                    raise  # the API itself is missing: the stream's guard decides
                self._problem(Problem("page_views", object_id, exc.message))
                return
            for event in _results(response):
                activity = self._emit(page_view_activity(event))
                if activity is not None:
                    yield activity
            after = next_after(response)
            if after is None:
                return

    def meetings(self, since: datetime, until: datetime) -> Iterator[Activity]:
        """One `meeting` activity per (meeting modified in [since, until], associated contact)."""
        pages = self._search_window(
            "meetings", "hs_lastmodifieddate", since, until, c.MEETING_PROPERTIES
        )
        for page in pages:
            contacts = self._association_lists("meetings", "contacts", [str(m["id"]) for m in page])
            for meeting in page:
                contact_ids = associated_ids(contacts.get(str(meeting["id"]), []))
                activities, problems = meeting_activities(meeting, contact_ids)
                for problem in problems:
                    self._problem(problem)
                if not activities and not problems:
                    self.skipped["meeting without contacts"] += 1
                yield from activities


__all__ = ["HubSpotSource", "Problem", "chunked", "next_after"]


def _recorded_at(row: Any) -> datetime | None:
    """When HubSpot recorded a participation row (`createdAt`), if it says."""
    if not isinstance(row, dict):
        return None
    return parse_timestamp(row.get("createdAt"))
