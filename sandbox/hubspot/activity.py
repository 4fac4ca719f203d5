"""Marketing activity: forms and submissions, email events (v1), marketing events and their
participations, and web analytics events (v3), with their stores and handlers.

Behaviours reproduced, with sources (details in README.md):
- events v3 is Enterprise-only: HubSpot's spec (Events/Events/.../2026-09/events.json) has
  `x-hubspot-product-tier-requirements` ENTERPRISE for every hub; below it (tiers free and
  pro here) `GET /events/v3/events` and `/event-types` answer 403 `MISSING_SCOPES` with the
  body HubSpot sends for a scope a token lacks (PostHog/posthog issue #53339,
  HubSpot/hubspot-api-nodejs issue #268) naming `event-detail-read` and
  `web-analytics-api-access` (PipedreamHQ/pipedream issue #11810).
- forms list: `formTypes` (enum hubspot, captured, flow, blog_comment, all; the v3 forms spec)
  defaults to standard forms only (api-facts.md, "What changed by December 2026"); `limit` has
  no maximum in the spec, so none is enforced here.
- email events v1: bot-filtered opens and clicks (`filteredEvent: true`) are listed unless
  `excludeFilteredEvents=true` (api-facts.md, "What changed by December 2026").
- participations: one row per id; seeding a row with an id already held updates its state,
  occurredAt and duration in place and keeps its `createdAt` (DECIDED from HubSpot's model:
  one participation per contact and event, changed by the attendance endpoints).
- `GET /marketing/v3/marketing-events/participations/{marketingEventId}`: the event's
  `AttendanceCounters` {attended, cancelled, noShows, registered} (v3 marketing events spec);
  each row counts once, in its current state (DECIDED).

Orders and cursors (DECIDED where HubSpot's docs are silent; all cursors are opaque tokens):
- form submissions: newest `submittedAt` first (documented).
- email events v1: newest `created` first, ties by id; `offset` resumes the scan.
- participations: seed order; `total` counts the filtered set.
- events v3: newest `occurredAt` first unless `sort=ASCENDING` (or `occurredAt`);
  `occurredAfter` is inclusive and `occurredBefore` exclusive, so adjacent windows partition.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sandbox.httpbase import Request, Response, Router
from sandbox.hubspot.constants import (
    EMAIL_EVENTS_DEFAULT_LIMIT,
    EMAIL_EVENTS_MAX_LIMIT,
    EVENTS_DEFAULT_LIMIT,
    EVENTS_MAX_LIMIT,
    FORMS_DEFAULT_LIMIT,
    MARKETING_EVENTS_DEFAULT_LIMIT,
    MARKETING_EVENTS_MAX_LIMIT,
    PARTICIPATIONS_DEFAULT_LIMIT,
    PARTICIPATIONS_MAX_LIMIT,
    SUBMISSIONS_DEFAULT_LIMIT,
    SUBMISSIONS_MAX_LIMIT,
)
from sandbox.hubspot.errors import error_body, not_found, validation_error
from sandbox.hubspot.packed import Packer, Row, field_of, unpack
from sandbox.hubspot.routes_common import base_url, bool_arg, int_arg
from sandbox.hubspot.util import decode_cursor, encode_cursor, iso_ms, to_ms

STANDARD_EVENT_TYPES = ("e_visited_page",)
# Tiers with the events API (x-hubspot-product-tier-requirements: ENTERPRISE); `unlimited` is
# the sandbox's test tier, where everything is available.
EVENTS_API_TIERS = frozenset({"enterprise", "unlimited"})
EVENTS_REQUIRED_SCOPES = ["event-detail-read", "web-analytics-api-access"]
MISSING_SCOPES_MESSAGE = (
    "This app hasn't been granted all required scopes to make this call. Read more about "
    "required scopes here: https://developers.hubspot.com/scopes."
)
# The forms spec sets no maximum for `limit` (int32).
FORMS_LIMIT_MAX = 2**31 - 1
ATTENDANCE_STATES = ("REGISTERED", "ATTENDED", "NO_SHOW", "CANCELLED", "EMPTY")
# Filtered selections kept for paging (one per query being paged); see ActivityApi._selection.
SELECTIONS_KEPT = 16
T = TypeVar("T")


@dataclass
class ActivityStore:
    forms: list[dict[str, Any]] = field(default_factory=list)
    form_ids: set[str] = field(default_factory=set)
    # form guid -> submissions, newest first after `finish()`
    submissions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Email events and page views are kept packed (sandbox/hubspot/packed.py): there can be
    # tens of millions of them.
    packer: Packer = field(default_factory=Packer)
    # email events newest first; `email_neg_created` aligned (ascending) for bisecting
    # A GDPR delete leaves None in place of each of the person's email events (the indexes stay
    # valid without a rebuild); `finish` drops them.
    email_events: list[Row | None] = field(default_factory=list)
    email_tombstones: int = 0
    email_neg_created: list[int] = field(default_factory=list)
    email_by_recipient: dict[str, list[int]] = field(default_factory=dict)
    marketing_events: list[dict[str, Any]] = field(default_factory=list)
    marketing_event_ids: dict[str, dict[str, Any]] = field(default_factory=dict)
    participations: list[dict[str, Any]] = field(default_factory=list)
    participations_by_event: dict[str, list[int]] = field(default_factory=dict)
    participations_by_contact: dict[str, list[int]] = field(default_factory=dict)
    participation_ids: dict[str, int] = field(default_factory=dict)  # row id -> position
    # Contact ids whose page views were added since `take_page_view_contacts` last ran.
    page_view_contacts: set[str] = field(default_factory=set)
    # web analytics events: (occurred ms, sequence, event) ascending; per (type, id) likewise
    events: list[tuple[int, int, Row]] = field(default_factory=list)
    events_by_object: dict[tuple[str, str], list[tuple[int, int, Row]]] = field(
        default_factory=dict
    )
    event_types: set[str] = field(default_factory=set)
    # Tracking stops for GDPR-deleted people (deletions.py): page views of an erased contact
    # id and email events to an erased address that no contact holds again are not taken.
    # Set by the sandbox to look at the contact store; they must survive `clear`.
    erased_contact: Callable[[str], bool] = field(default=lambda _id: False, repr=False)
    erased_recipient: Callable[[str], bool] = field(default=lambda _email: False, repr=False)
    # A merged-away contact id -> the id of the record the merge made (itself otherwise):
    # page views seeded later for an old id are filed under the merged contact.
    current_contact: Callable[[str], str] = field(default=lambda cid: cid, repr=False)
    # Bumped by every change, so selections computed before it are never served after it.
    generation: int = 0

    def clear(self) -> None:
        generation = self.generation + 1
        fresh = ActivityStore(
            erased_contact=self.erased_contact,
            erased_recipient=self.erased_recipient,
            current_contact=self.current_contact,
        )
        self.__dict__.update(fresh.__dict__)
        self.generation = generation

    # ------------------------------------------------------------------ seeding

    def add_form(self, form: dict[str, Any]) -> None:
        self.generation += 1
        if not form.get("id"):
            raise ValueError("forms: each form needs an id")
        form_id = str(form["id"])
        if form_id in self.form_ids:
            raise ValueError(f"forms: duplicate id {form_id}")
        self.form_ids.add(form_id)
        self.forms.append(form)

    def add_submission(self, submission: dict[str, Any]) -> None:
        self.generation += 1
        form_id = submission.get("formId")
        if not form_id:
            raise ValueError("form_submissions: each submission needs a formId")
        clean = {k: v for k, v in submission.items() if k != "formId"}
        self.submissions.setdefault(str(form_id), []).append(clean)

    def add_email_event(self, event: dict[str, Any]) -> None:
        self.generation += 1
        if event.get("created") is None or not event.get("id"):
            raise ValueError("email_events: each event needs id and created")
        if self.erased_recipient(str(event.get("recipient") or "").lower()):
            return
        self.email_events.append(self.packer.pack(event))

    def add_marketing_event(self, event: dict[str, Any]) -> None:
        self.generation += 1
        object_id = event.get("objectId") or event.get("id")
        if not object_id:
            raise ValueError("marketing_events: each event needs an id or objectId")
        event = dict(event)
        event.setdefault("objectId", str(object_id))
        event.setdefault("id", str(object_id))
        event.setdefault("customProperties", [])
        self.marketing_events.append(event)
        self.marketing_event_ids[str(event["objectId"])] = event

    def add_participation(self, item: dict[str, Any]) -> None:
        self.generation += 1
        assoc = item.get("associations") or {}
        event_id = (assoc.get("marketingEvent") or {}).get("marketingEventId")
        contact = assoc.get("contact") or {}
        if not event_id:
            raise ValueError("participations: associations.marketingEvent.marketingEventId")
        row_id = str(item.get("id") or "")
        known = self.participation_ids.get(row_id) if row_id else None
        if known is not None:
            # One row per id: attendance recorded later changes the row's state in place;
            # its id and createdAt stay.
            held = self.participations[known]
            update = item.get("properties") or {}
            held["properties"] = {**(held.get("properties") or {}), **update}
            return
        position = len(self.participations)
        if row_id:
            self.participation_ids[row_id] = position
        self.participations.append(item)
        self.participations_by_event.setdefault(str(event_id), []).append(position)
        for key in (contact.get("contactId"), contact.get("email")):
            if key:
                self.participations_by_contact.setdefault(str(key).lower(), []).append(position)

    def add_page_view(self, event: dict[str, Any]) -> None:
        self.generation += 1
        occurred = to_ms(event.get("occurredAt"))
        if occurred is None or not event.get("eventType"):
            raise ValueError("page_views: each event needs eventType and occurredAt")
        event = dict(event)
        event["occurredAt"] = iso_ms(occurred)
        if event.get("objectId") is not None:
            event["objectId"] = str(event["objectId"])
            if str(event.get("objectType") or "contact") == "contact":
                if self.erased_contact(event["objectId"]):
                    return
                event["objectId"] = self.current_contact(event["objectId"])
        entry = (occurred, len(self.events), self.packer.pack(event))
        self.events.append(entry)
        key = (str(event.get("objectType") or "contact"), str(event.get("objectId")))
        self.events_by_object.setdefault(key, []).append(entry)
        self.event_types.add(str(event["eventType"]))
        if key[0] == "contact" and event.get("objectId") is not None:
            self.page_view_contacts.add(key[1])

    def take_page_view_contacts(self) -> set[str]:
        """Contacts with page views added since the last call (their analytics move)."""
        taken, self.page_view_contacts = self.page_view_contacts, set()
        return taken

    def contact_page_views(self, contact_id: str) -> list[tuple[int, str | None]]:
        """(occurred ms, url) of one contact's page views, oldest first (after `finish`)."""
        out: list[tuple[int, str | None]] = []
        for ms, _seq, row in self.events_by_object.get(("contact", contact_id), []):
            properties = field_of(row, "properties") or {}
            url = properties.get("hs_url") if isinstance(properties, dict) else None
            out.append((ms, str(url) if url else None))
        return out

    def finish(self) -> None:
        """Sort what seeding appended (once per seed call)."""
        self.generation += 1
        for items in self.submissions.values():
            items.sort(
                key=lambda s: (-(to_ms(s.get("submittedAt")) or 0), str(s.get("conversionId", "")))
            )
        if self.email_tombstones:
            self.email_events = [e for e in self.email_events if e is not None]
            self.email_tombstones = 0
        self.email_events.sort(key=lambda e: (-int(field_of(e, "created")), str(field_of(e, "id"))))
        self._index_email_events()
        self.events.sort(key=lambda e: (e[0], e[1]))
        for items in self.events_by_object.values():
            items.sort(key=lambda e: (e[0], e[1]))

    def _index_email_events(self) -> None:
        self.email_neg_created = [-int(field_of(e, "created")) for e in self.email_events]
        self.email_by_recipient = {}
        for position, event in enumerate(self.email_events):
            recipient = str(field_of(event, "recipient") or "").lower()
            if recipient:
                self.email_by_recipient.setdefault(recipient, []).append(position)

    def _index_participations(self) -> None:
        self.participation_ids = {}
        self.participations_by_event = {}
        self.participations_by_contact = {}
        for position, item in enumerate(self.participations):
            assoc = item.get("associations") or {}
            event_id = (assoc.get("marketingEvent") or {}).get("marketingEventId")
            contact = assoc.get("contact") or {}
            if item.get("id"):
                self.participation_ids[str(item["id"])] = position
            self.participations_by_event.setdefault(str(event_id), []).append(position)
            for key in (contact.get("contactId"), contact.get("email")):
                if key:
                    self.participations_by_contact.setdefault(str(key).lower(), []).append(position)

    @staticmethod
    def _participant(item: dict[str, Any]) -> tuple[str, str]:
        contact = (item.get("associations") or {}).get("contact") or {}
        return str(contact.get("contactId") or ""), str(contact.get("email") or "").lower()

    # ------------------------------------------------------------------ merges, erasure

    def move_contact(self, old_ids: list[str], new_id: str) -> None:
        """A merge: the old contacts' page views and participations now name `new_id`
        (email events v1 and form submissions name an address, which the merged contact
        keeps, so they stay as they are)."""
        self.generation += 1
        moved: dict[int, tuple[int, int, Row]] = {}
        entries = self.events_by_object.get(("contact", new_id), [])
        for old in old_ids:
            for ms, seq, row in self.events_by_object.pop(("contact", old), []):
                event = unpack(row)
                event["objectId"] = new_id
                moved[seq] = (ms, seq, self.packer.pack(event))
        if moved:
            entries = sorted([*entries, *moved.values()], key=lambda e: (e[0], e[1]))
            self.events_by_object[("contact", new_id)] = entries
            for seq, entry in moved.items():
                self.events[self._event_position(entry[0], seq)] = entry
            self.page_view_contacts.add(new_id)
        olds = set(old_ids)
        changed = False
        for position, item in enumerate(self.participations):
            contact_id, _ = self._participant(item)
            if contact_id in olds:
                assoc = dict(item.get("associations") or {})
                assoc["contact"] = {**(assoc.get("contact") or {}), "contactId": new_id}
                self.participations[position] = {**item, "associations": assoc}
                changed = True
        if changed:
            self._index_participations()

    def forget_contact(self, contact_ids: set[str], emails: set[str]) -> dict[str, int]:
        """A GDPR delete: every email event, form submission, participation and page view
        naming one of the person's ids or addresses (lower-cased) is removed from every
        API. Returns how many of each went."""
        self.generation += 1
        counts = {"email_events": 0, "form_submissions": 0, "participations": 0, "page_views": 0}
        for email in emails:
            for position in self.email_by_recipient.pop(email, []):
                self.email_events[position] = None
                counts["email_events"] += 1
        self.email_tombstones += counts["email_events"]
        for guid, items in self.submissions.items():
            kept_items = [s for s in items if not _names_any(s, emails)]
            counts["form_submissions"] += len(items) - len(kept_items)
            self.submissions[guid] = kept_items
        kept_rows = [
            item
            for item in self.participations
            if (who := self._participant(item))[0] not in contact_ids and who[1] not in emails
        ]
        if len(kept_rows) != len(self.participations):
            counts["participations"] = len(self.participations) - len(kept_rows)
            self.participations = kept_rows
            self._index_participations()
        for contact_id in contact_ids:
            for ms, seq, _row in self.events_by_object.pop(("contact", contact_id), []):
                del self.events[self._event_position(ms, seq)]
                counts["page_views"] += 1
            self.page_view_contacts.discard(contact_id)
        return counts

    def _event_position(self, ms: int, seq: int) -> int:
        """Where the page view (ms, seq) is in `events` (sorted by (ms, seq); seq unique)."""
        position = bisect.bisect_left(self.events, (ms, seq))
        if position >= len(self.events) or self.events[position][1] != seq:
            raise LookupError(f"page view {seq} is not in the events list")
        return position


def _names_any(submission: dict[str, Any], emails: set[str]) -> bool:
    """Whether a form submission carries one of `emails` in any field."""
    for value in submission.get("values") or []:
        if isinstance(value, dict) and str(value.get("value") or "").strip().lower() in emails:
            return True
    return False


class ActivityApi:
    def __init__(
        self, store: ActivityStore, now_ms: Callable[[], int], tier: str = "unlimited"
    ) -> None:
        self.store = store
        self.now_ms = now_ms
        self.tier = tier
        self._selections: OrderedDict[Hashable, list[Any]] = OrderedDict()

    def register(self, router: Router) -> None:
        router.add("GET", "/email/public/v1/events", self.email_events)
        router.add("GET", "/marketing/v3/forms", self.forms)
        router.add("GET", "/marketing/v3/forms/{formId}", self.form)
        router.add("GET", "/form-integrations/v1/submissions/forms/{formGuid}", self.submissions)
        participations = "/marketing/v3/marketing-events/participations"
        router.add(
            "GET",
            participations + "/contacts/{contactIdentifier}/breakdown",
            self.participations_by_contact,
        )
        router.add(
            "GET", participations + "/{marketingEventId}/breakdown", self.participations_by_event
        )
        router.add("GET", participations + "/{marketingEventId}", self.attendance_counters)
        router.add("GET", "/marketing/v3/marketing-events", self.marketing_events)
        router.add("GET", "/marketing/v3/marketing-events/{objectId}", self.marketing_event)
        router.add("GET", "/events/v3/events/event-types", self.event_types)
        router.add("GET", "/events/v3/events", self.events)

    # ------------------------------------------------------------------ helpers

    def _cursor(self, req: Request, name: str, salt: str) -> int:
        try:
            return decode_cursor(req.arg(name), salt) or 0
        except ValueError as exc:
            raise validation_error(req, str(exc), code="INVALID_CURSOR") from exc

    def _selection(self, key: Hashable, select: Callable[[], list[T]]) -> list[T]:
        """`select()`, remembered for the next pages of the same query.

        Paging a filtered list by offset would otherwise filter every row again for each
        page (quadratic in the rows over a whole read). The answer is the same: the key holds
        every input of the filter and the store's generation, which every change bumps.
        """
        full_key = (self.store.generation, key)
        selected = self._selections.get(full_key)
        if selected is None:
            selected = select()
            self._selections[full_key] = selected
            while len(self._selections) > SELECTIONS_KEPT:
                self._selections.popitem(last=False)
        else:
            self._selections.move_to_end(full_key)
        return selected

    @staticmethod
    def _paging(req: Request, token: str) -> dict[str, Any]:
        return {"next": {"after": token, "link": f"{base_url(req)}{req.path}?after={token}"}}

    # ------------------------------------------------------------------ email events v1

    def email_events(self, req: Request) -> Response:
        store = self.store
        limit = int_arg(req, "limit", EMAIL_EVENTS_DEFAULT_LIMIT, EMAIL_EVENTS_MAX_LIMIT)
        start = self._cursor(req, "offset", "email-events")
        event_type = req.arg("eventType")
        campaign = req.arg("campaignId")
        recipient = req.arg("recipient")
        exclude_filtered = bool_arg(req, "excludeFilteredEvents")
        low = _ms_arg(req, "startTimestamp")
        high = _ms_arg(req, "endTimestamp")
        events = store.email_events
        # newest first: created <= high starts at bisect_left(neg, -high)
        if recipient is not None:
            positions: list[int] | range = store.email_by_recipient.get(recipient.lower(), [])
        else:
            first = bisect.bisect_left(store.email_neg_created, -high) if high is not None else 0
            last = (
                bisect.bisect_right(store.email_neg_created, -low)
                if low is not None
                else len(events)
            )
            positions = range(first, last)
        out: list[dict[str, Any]] = []
        cursor = start
        neg_created = store.email_neg_created
        while cursor < len(positions) and len(out) < limit:
            position = positions[cursor]
            event = events[position]
            cursor += 1
            if event is None:  # GDPR-deleted
                continue
            created = -neg_created[position]
            if (low is not None and created < low) or (high is not None and created > high):
                continue
            if event_type and field_of(event, "type") != event_type:
                continue
            if campaign and str(field_of(event, "emailCampaignId")) != campaign:
                continue
            if exclude_filtered and field_of(event, "filteredEvent", False) is True:
                continue
            out.append(unpack(event))
        body = {
            "events": out,
            "hasMore": cursor < len(positions),
            "offset": encode_cursor(cursor, "email-events"),
        }
        return Response.json(200, body)

    # ------------------------------------------------------------------ forms

    def forms(self, req: Request) -> Response:
        limit = int_arg(req, "limit", FORMS_DEFAULT_LIMIT, FORMS_LIMIT_MAX)
        start = self._cursor(req, "after", "forms")
        archived = bool_arg(req, "archived")
        # Without formTypes HubSpot lists standard forms only.
        form_types = {t.lower() for t in req.args("formTypes")} or {"hubspot"}
        selected = [
            f
            for f in self.store.forms
            if bool(f.get("archived", False)) == archived
            and ("all" in form_types or f.get("formType", "hubspot") in form_types)
        ]
        page = selected[start : start + limit]
        body: dict[str, Any] = {"results": page}
        if start + limit < len(selected):
            body["paging"] = self._paging(req, encode_cursor(start + limit, "forms"))
        return Response.json(200, body)

    def form(self, req: Request) -> Response:
        for form in self.store.forms:
            if str(form["id"]) == req.params["formId"]:
                return Response.json(200, form)
        raise not_found(req, f"Form {req.params['formId']} does not exist")

    def submissions(self, req: Request) -> Response:
        guid = req.params["formGuid"]
        items = self.store.submissions.get(guid)
        if items is None:
            if guid not in self.store.form_ids:
                raise not_found(req, f"Form {guid} does not exist")
            items = []
        limit = int_arg(req, "limit", SUBMISSIONS_DEFAULT_LIMIT, SUBMISSIONS_MAX_LIMIT)
        start = self._cursor(req, "after", f"submissions:{guid}")
        body: dict[str, Any] = {"results": items[start : start + limit]}
        if start + limit < len(items):
            body["paging"] = self._paging(req, encode_cursor(start + limit, f"submissions:{guid}"))
        return Response.json(200, body)

    # ------------------------------------------------------------------ marketing events

    def marketing_events(self, req: Request) -> Response:
        limit = int_arg(req, "limit", MARKETING_EVENTS_DEFAULT_LIMIT, MARKETING_EVENTS_MAX_LIMIT)
        start = self._cursor(req, "after", "marketing-events")
        items = self.store.marketing_events
        body: dict[str, Any] = {"results": items[start : start + limit]}
        if start + limit < len(items):
            body["paging"] = self._paging(req, encode_cursor(start + limit, "marketing-events"))
        return Response.json(200, body)

    def marketing_event(self, req: Request) -> Response:
        event = self.store.marketing_event_ids.get(req.params["objectId"])
        if event is None:
            raise not_found(req)
        return Response.json(200, event)

    def _breakdown(
        self, req: Request, positions: list[int], salt: str, contact_filter: str | None
    ) -> Response:
        limit = int_arg(req, "limit", PARTICIPATIONS_DEFAULT_LIMIT, PARTICIPATIONS_MAX_LIMIT)
        start = self._cursor(req, "after", salt)
        state = req.arg("state")
        if state is not None and state.upper() not in ATTENDANCE_STATES:
            raise validation_error(req, f"Unknown state {state!r}", code="INVALID_STATE")
        items = self.store.participations

        def select() -> list[dict[str, Any]]:
            selected = []
            for position in positions:
                item = items[position]
                properties = item.get("properties") or {}
                if state and properties.get("attendanceState") != state.upper():
                    continue
                if contact_filter is not None:
                    contact = (item.get("associations") or {}).get("contact") or {}
                    keys = {
                        str(contact.get("contactId", "")).lower(),
                        str(contact.get("email", "")).lower(),
                    }
                    if contact_filter.lower() not in keys:
                        continue
                selected.append(item)
            return selected

        selected = self._selection(("breakdown", salt, state, contact_filter), select)
        page = [_participation_json(item) for item in selected[start : start + limit]]
        body: dict[str, Any] = {"total": len(selected), "results": page}
        if start + limit < len(selected):
            body["paging"] = self._paging(req, encode_cursor(start + limit, salt))
        return Response.json(200, body)

    def _event_participations(self, req: Request) -> tuple[str, list[int]]:
        """The marketing event the path names and its participation rows' positions; 404
        for an event the portal does not have."""
        event_id = req.params["marketingEventId"]
        positions = self.store.participations_by_event.get(event_id)
        if positions is None:
            if event_id not in self.store.marketing_event_ids:
                raise not_found(req, f"Marketing event {event_id} does not exist")
            positions = []
        return event_id, positions

    def participations_by_event(self, req: Request) -> Response:
        event_id, positions = self._event_participations(req)
        return self._breakdown(
            req, positions, f"participations:{event_id}", req.arg("contactIdentifier")
        )

    def attendance_counters(self, req: Request) -> Response:
        _, positions = self._event_participations(req)
        counts = dict.fromkeys(("attended", "cancelled", "noShows", "registered"), 0)
        names = {
            "ATTENDED": "attended",
            "CANCELLED": "cancelled",
            "NO_SHOW": "noShows",
            "REGISTERED": "registered",
        }
        for position in positions:
            properties = self.store.participations[position].get("properties") or {}
            name = names.get(str(properties.get("attendanceState") or "").upper())
            if name is not None:
                counts[name] += 1
        return Response.json(200, counts)

    def participations_by_contact(self, req: Request) -> Response:
        key = req.params["contactIdentifier"]
        positions = self.store.participations_by_contact.get(key.lower(), [])
        return self._breakdown(req, positions, f"participations-contact:{key.lower()}", None)

    # ------------------------------------------------------------------ events v3

    def _events_refused(self, req: Request) -> Response | None:
        """403 MISSING_SCOPES below Enterprise, as HubSpot answers it."""
        if self.tier in EVENTS_API_TIERS:
            return None
        body = error_body(
            req,
            "MISSING_SCOPES",
            MISSING_SCOPES_MESSAGE,
            errors=[
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": list(EVENTS_REQUIRED_SCOPES)},
                }
            ],
            links={"scopes": "https://developers.hubspot.com/scopes"},
        )
        return Response.json(403, body)

    def event_types(self, req: Request) -> Response:
        refused = self._events_refused(req)
        if refused is not None:
            return refused
        names = sorted(set(STANDARD_EVENT_TYPES) | self.store.event_types)
        return Response.json(200, {"eventTypes": names})

    def events(self, req: Request) -> Response:
        refused = self._events_refused(req)
        if refused is not None:
            return refused
        limit = int_arg(req, "limit", EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT)
        object_type = req.arg("objectType")
        object_id = req.arg("objectId")
        event_type = req.arg("eventType")
        low = _ms_arg(req, "occurredAfter")
        high = _ms_arg(req, "occurredBefore")
        sort = (req.arg("sort") or "DESCENDING").upper()
        ascending = sort in ("ASCENDING", "OCCURREDAT", "ASC")
        if object_id is not None:
            source = self.store.events_by_object.get((object_type or "contact", object_id), [])
        else:
            source = self.store.events

        def select() -> list[Row]:
            # `source` is sorted by (occurred ms, sequence): bisect to [low, high) first.
            first = bisect.bisect_left(source, (low,)) if low is not None else 0
            last = bisect.bisect_left(source, (high,)) if high is not None else len(source)
            chosen = [
                event
                for _occurred, _seq, event in source[first:last]
                if (event_type is None or field_of(event, "eventType") == event_type)
                and (object_type is None or field_of(event, "objectType", "contact") == object_type)
            ]
            if not ascending:
                chosen.reverse()
            return chosen

        key = ("events", object_type, object_id, event_type, low, high, ascending)
        selected = self._selection(key, select)
        salt = "events"
        start = self._cursor(req, "after", salt)
        body: dict[str, Any] = {"results": [unpack(row) for row in selected[start : start + limit]]}
        if start + limit < len(selected):
            body["paging"] = self._paging(req, encode_cursor(start + limit, salt))
        return Response.json(200, body)


def _ms_arg(req: Request, name: str) -> int | None:
    value = req.arg(name)
    if value is None or value == "":
        return None
    parsed = to_ms(value)
    if parsed is None:
        raise validation_error(
            req,
            f"{name} must be epoch milliseconds or ISO 8601 (got {value!r})",
            code="INVALID_TIMESTAMP",
        )
    return parsed


def _participation_json(item: dict[str, Any]) -> dict[str, Any]:
    """A participation row as answered: a property without a value is left out, not `null`
    (ParticipationProperties: `attendanceDurationSeconds` integer, `attendancePercentage`
    string, both optional and non-nullable, in Marketing/Marketing Events/Rollouts/129888/
    2026-09/marketingEvents.json and its v3 file alike). A registration nobody attended has
    neither."""
    properties = item.get("properties")
    if not isinstance(properties, dict) or all(v is not None for v in properties.values()):
        return item
    present = {k: v for k, v in properties.items() if v is not None}
    return {**item, "properties": present}
