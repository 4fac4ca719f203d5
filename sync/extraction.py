"""Extraction: what changed in HubSpot, read into the state store stream by stream, page by page.

Each page of records is stored together with the "dirty" marks of the leads it touches, in one
transaction; a stream's cursor moves only when the stream is read to the end of its window. The
marks are the durable promise that those leads will be processed, so a cursor never gets ahead
of work that could be lost. Records are upserted as read and activities keyed by a stable
source id, so a window read again (the cursor overlap, a rerun after a crash) adds nothing twice.

Activity streams are optional (`[hubspot.streams]`): one switched off, or refused by HubSpot
with 403/404 (`connectors.hubspot.streams`), is skipped for the run; its cursor stays where it
was, and the run summary's `streams` says per stream what happened (read / skipped: why /
switched off / derived: how). Below Enterprise, page views are derived from the contacts'
analytics properties as the contacts are stored (`Source.derived_visits`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.models import Activity, Contact
from sync.lead_refs import activity_ref, contact_ref
from sync.ports import Run, RunOptions, RunSummary, Source
from sync.state import StateStore

ACTIVITY_STREAMS = ("email_events", "form_submissions", "webinars", "page_views", "meetings")
STREAMS = ("contacts", "companies", *ACTIVITY_STREAMS)
# Streams whose APIs cannot filter by time (each read pages through everything down to the
# window's start): a backfill reads them once over its whole window, not once per chunk.
WHOLE_WINDOW_STREAMS = ("form_submissions", "webinars")

Windows = dict[str, tuple[datetime, datetime]]  # per stream: (since, until)


@dataclass
class Extraction:
    """Reads `source` (HubSpot) into `store`, marking the leads each page touches."""

    store: StateStore
    source: Source
    # Hands the source work to do while the contact search is held back by its rate limit
    # (HubSpotSource.while_waiting); None: extraction and processing run in series.
    while_waiting: Callable[[Callable[[], None] | None], None] | None = None

    def incremental(self, run: Run, *, while_waiting: Callable[[], None] | None = None) -> None:
        """Every stream from its cursor (minus the overlap) to now; cursors move unless dry
        run. `while_waiting`: the work to do while the contact search waits (see `_extract`)."""
        options, now, summary = run.options, run.now, run.summary
        windows = self._windows(options, now)
        summary.window_start = min(w[0] for w in windows.values()).isoformat()
        summary.window_end = now.isoformat()
        self._extract(windows, summary, advance=not options.dry_run, while_waiting=while_waiting)

    def backfill(
        self, run: Run, *, progress: Callable[[datetime, datetime, datetime], None] | None = None
    ) -> None:
        """Extract history in chunks; each extracted chunk is recorded, so rerunning the same
        command resumes after it. Leads are scored only once the whole history is read (by
        `Pipeline.run`, after this): scoring a partial history could start MQL episodes that
        the full history does not have. `progress` is told (done, since, until) per chunk."""
        options, now, summary = run.options, run.now, run.summary
        assert options.since is not None
        until = min(options.until or now, now)
        progress_key = f"backfill:{options.since.isoformat()}"
        start = max(self.store.cursor(progress_key) or options.since, options.since)
        summary.window_start, summary.window_end = start.isoformat(), until.isoformat()
        chunked = [s for s in STREAMS if s not in WHOLE_WINDOW_STREAMS]
        while start < until:
            end = min(start + options.backfill_chunk, until)
            self._extract({stream: (start, end) for stream in chunked}, summary, advance=False)
            if not options.dry_run:
                self.store.set_cursors({progress_key: end})
            if progress is not None:
                progress(end, options.since, until)
            start = end
        for stream in WHOLE_WINDOW_STREAMS:  # each with its own progress, so a rerun resumes
            key = f"{progress_key}:{stream}"
            done = max(self.store.cursor(key) or options.since, options.since)
            if done < until:
                self._extract({stream: (done, until)}, summary, advance=False)
                if not options.dry_run:
                    self.store.set_cursors({key: until})
        if not options.dry_run:
            # The incremental cursors continue from here; never moved backwards.
            cursors = self.store.cursors()
            self.store.set_cursors(
                {s: until for s in STREAMS if s not in cursors or cursors[s] < until}
            )

    def store_contacts(self, contacts: Sequence[Contact]) -> int:
        """Contacts, their companies when not stored yet, the visits derived from their
        analytics properties (when page views are derived), and their leads' marks, in one
        transaction. Returns how many derived visits were new."""
        wanted = {c.company_id for c in contacts if c.company_id}
        missing = wanted - self.store.company_ids_known(wanted)
        companies = self.source.companies(sorted(missing)).values() if missing else ()
        # A contact whose only change is its modified time (e.g. the HubSpot write-back's
        # own update) changes no score: not marked again.
        stored = self.store.contact_ids([c.hubspot_id for c in contacts])
        derive = getattr(self.source, "derived_visits", None)
        visits: list[Activity] = []
        if derive is not None:
            for contact in contacts:
                visits.extend(derive(stored.get(contact.hubspot_id), contact))
        if visits:  # the stored count is the one counted: only the increase is new
            known = self.store.activity_ids_known(v.source_id for v in visits)
            visits = [v for v in visits if v.source_id not in known]
        return self.store.store_page(
            contacts=contacts,
            companies=companies,
            activities=visits,
            dirty=[
                contact_ref(c.hubspot_id) for c in contacts if _changed(stored.get(c.hubspot_id), c)
            ],
        )

    def _windows(self, options: RunOptions, now: datetime) -> Windows:
        """Per stream: from its cursor minus the overlap (or the initial look-back) to now."""
        out: Windows = {}
        for stream in STREAMS:
            cursor = self.store.cursor(stream)
            start = (cursor - options.overlap) if cursor else now - options.initial_lookback
            out[stream] = (start, now)
        return out

    def _extract(
        self,
        windows: Windows,
        summary: RunSummary,
        *,
        advance: bool,
        while_waiting: Callable[[], None] | None = None,
    ) -> None:
        """Read the streams named in `windows`: activities first, then companies, then
        contacts. The contact search is the longest rate-limited read; `while_waiting` (if
        given, and if this extraction has a `while_waiting` hook) is the work this thread does
        while the next search page is not there yet. Reading the activities first means a lead
        processed that early is not marked again by its own activities later in the run."""

        def done(stream: str) -> None:
            if advance:
                self.store.set_cursors({stream: windows[stream][1]})

        for stream in ACTIVITY_STREAMS:
            if stream not in windows:
                continue
            since, until = windows[stream]
            for batch in _batched(self.source.activity_stream(stream, since, until), 1000):
                summary.activities_read += len(batch)
                # Only new activities mark their leads: one read again (the cursor overlap)
                # is stored already, and its lead was scored with it.
                known = self.store.activity_ids_known(a.source_id for a in batch)
                fresh = [a for a in batch if a.source_id not in known]
                summary.activities_new += self.store.store_page(
                    activities=fresh,
                    dirty=dict.fromkeys(
                        ref
                        for ref in (activity_ref(a.contact_id, a.email) for a in fresh)
                        if ref is not None
                    ),
                )
            status = _stream_state(self.source, stream)
            if status is not None:
                summary.streams[stream] = status.describe()
            if status is None or status.state in ("read", "derived"):
                done(stream)  # a stream skipped or switched off keeps its cursor
        if "companies" in windows:
            for companies in self.source.changed_companies(*windows["companies"]):
                # A company read again unchanged (the cursor overlap, a modified time alone)
                # changes no score: its contacts are not looked up nor marked.
                stored = self.store.companies_by_id(c.hubspot_id for c in companies)
                changed = [
                    c.hubspot_id
                    for c in companies
                    if c.hubspot_id not in stored
                    or _properties_changed(stored[c.hubspot_id].properties, c.properties)
                ]
                members = self.source.contact_ids_for_companies(changed) if changed else {}
                self.store.store_page(
                    companies=companies,
                    dirty=[contact_ref(cid) for ids in members.values() for cid in ids],
                )
            done("companies")
        if "contacts" in windows:
            hook = self.while_waiting if while_waiting is not None else None
            if hook is not None:
                hook(while_waiting)
            try:
                for page in self.source.changed_contacts(*windows["contacts"]):
                    summary.contacts_read += len(page)
                    visits = self.store_contacts(page)
                    summary.activities_read += visits
                    summary.activities_new += visits
            finally:
                if hook is not None:
                    hook(None)
            done("contacts")


def _stream_state(source: Source, stream: str) -> Any:
    """The source's `StreamStatus` for `stream` this run, if it keeps them."""
    states = getattr(source, "stream_states", None)
    return states.get(stream) if isinstance(states, dict) else None


_MODIFIED_TIMES = frozenset({"lastmodifieddate", "hs_lastmodifieddate"})


def _changed(before: Contact | None, after: Contact) -> bool:
    """Whether what scoring reads of a contact differs from what is stored."""
    if before is None:
        return True
    if (before.email, before.company_id, before.archived) != (
        after.email,
        after.company_id,
        after.archived,
    ):
        return True
    return _properties_changed(before.properties, after.properties)


def _properties_changed(before: Mapping[str, str | None], after: Mapping[str, str | None]) -> bool:
    """Whether two versions of a HubSpot object's properties differ beyond modified times."""
    keys = (before.keys() | after.keys()) - _MODIFIED_TIMES
    return any(before.get(k) != after.get(k) for k in keys)


def _batched(items: Iterable[Activity], size: int) -> Iterator[list[Activity]]:
    batch: list[Activity] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
