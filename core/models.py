"""Plain data that flows through the pipeline: extract -> normalise -> score -> plan -> write.

These are the only shapes the stages share. Adapters in `connectors/` build them from API
payloads; the pure core (`scoring/`) reads them; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

AttributeValue = str | int | float | bool | None


class ActivityKind:
    """Well-known activity kinds. Form kinds are configurable, so a kind is a plain str."""

    EMAIL_DELIVERED = "email_delivered"
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    EMAIL_BOUNCE = "email_bounce"  # attributes: bounce_type ("hard" | "soft")
    EMAIL_UNSUBSCRIBE = "email_unsubscribe"
    EMAIL_RESUBSCRIBE = "email_resubscribe"
    FORM_SUBMISSION = "form_submission"  # a form the mappings do not name more precisely
    WHITEPAPER_DOWNLOAD = "whitepaper_download"
    CONSULTATION_REQUEST = "consultation_request"
    CONTACT_US = "contact_us"
    EVENT_REGISTRATION = "event_registration"
    WEBINAR_REGISTERED = "webinar_registered"
    WEBINAR_ATTENDED = "webinar_attended"  # attributes: attendance_percentage, duration_seconds
    WEBINAR_NO_SHOW = "webinar_no_show"
    WEBINAR_CANCELLED = "webinar_cancelled"
    PAGE_VIEW = "page_view"  # attributes: url
    MEETING = "meeting"  # attributes: meeting_type, outcome

    ALL: frozenset[str] = frozenset(
        {
            EMAIL_DELIVERED,
            EMAIL_OPEN,
            EMAIL_CLICK,
            EMAIL_BOUNCE,
            EMAIL_UNSUBSCRIBE,
            EMAIL_RESUBSCRIBE,
            FORM_SUBMISSION,
            WHITEPAPER_DOWNLOAD,
            CONSULTATION_REQUEST,
            CONTACT_US,
            EVENT_REGISTRATION,
            WEBINAR_REGISTERED,
            WEBINAR_ATTENDED,
            WEBINAR_NO_SHOW,
            WEBINAR_CANCELLED,
            PAGE_VIEW,
            MEETING,
        }
    )


def _frozen(mapping: Mapping[str, AttributeValue] | None) -> Mapping[str, AttributeValue]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Company:
    hubspot_id: str
    properties: Mapping[str, str | None] = field(default_factory=dict)
    updated_at: datetime | None = None

    def get(self, name: str) -> str | None:
        return self.properties.get(name)


@dataclass(frozen=True, slots=True)
class Contact:
    """A HubSpot contact. `email` is normalised (see core.identity); None when unusable."""

    hubspot_id: str
    email: str | None
    properties: Mapping[str, str | None] = field(default_factory=dict)
    company_id: str | None = None
    updated_at: datetime | None = None
    archived: bool = False

    def get(self, name: str) -> str | None:
        return self.properties.get(name)


@dataclass(frozen=True, slots=True, init=False)
class Activity:
    """One thing a lead did, from any HubSpot source, in one shape.

    `source_id` is stable across re-reads (e.g. "email:<event id>", "form:<conversionId>") so
    the store can deduplicate. `occurred_at` is timezone-aware UTC. A lead is found by
    `contact_id` (HubSpot id) when the source gives one, else by normalised `email`.
    `occurred_ts` is `occurred_at.timestamp()`, computed once when the activity is built
    (scoring reads it for every activity of a lead, every time the lead is scored).
    """

    source_id: str
    kind: str
    occurred_at: datetime
    contact_id: str | None = None
    email: str | None = None
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    occurred_ts: float = field(init=False, repr=False, compare=False)

    def __init__(self, source_id: str, kind: str, occurred_at: datetime,
                 contact_id: str | None = None, email: str | None = None,
                 attributes: Mapping[str, AttributeValue] | None = None) -> None:
        # What the generated __init__ and a __post_init__ would do, each slot set once
        # through its descriptor (stores build an Activity per activity they read).
        if occurred_at.tzinfo is None:
            raise ValueError(f"activity {source_id}: occurred_at must be timezone-aware")
        _fill(self, source_id, kind, occurred_at, contact_id, email, _frozen(attributes))


_set_source_id = Activity.source_id.__set__
_set_kind = Activity.kind.__set__
_set_occurred_at = Activity.occurred_at.__set__
_set_contact_id = Activity.contact_id.__set__
_set_email = Activity.email.__set__
_set_attributes = Activity.attributes.__set__
_set_occurred_ts = Activity.occurred_ts.__set__
_new_activity = object.__new__


def _fill(activity: Activity, source_id: str, kind: str, occurred_at: datetime,
          contact_id: str | None, email: str | None,
          attributes: Mapping[str, AttributeValue]) -> Activity:
    _set_source_id(activity, source_id)
    _set_kind(activity, kind)
    _set_occurred_at(activity, occurred_at)
    _set_contact_id(activity, contact_id)
    _set_email(activity, email)
    _set_attributes(activity, attributes)
    _set_occurred_ts(activity, occurred_at.timestamp())
    return activity


def stored_activity(source_id: str, kind: str, occurred_at: datetime, contact_id: str | None,
                    email: str | None, attributes: Mapping[str, AttributeValue]) -> Activity:
    """An Activity from a state-store row, without the checks and the copy `Activity(...)`
    makes: `occurred_at` is aware (the store writes it with its offset) and `attributes` is
    already a read-only mapping nothing else can change (the store shares one per distinct
    attributes text)."""
    return _fill(_new_activity(Activity), source_id, kind, occurred_at, contact_id, email,
                 attributes)


class DistinctActivities(tuple[Activity, ...]):
    """Activities whose `source_id`s are known to be distinct: read from the state store,
    where `source_id` is the primary key. Scoring counts a repeated `source_id` once, which
    costs it a set of every id of the lead (about a twentieth of scoring it); for these it
    skips that check."""

    __slots__ = ()
