"""Pure functions: HubSpot payloads (the API's own JSON read shapes) -> core.models.

Nothing here does I/O or reads the clock. Bad data never raises: each function answers a
model, a `Problem` (this record is unusable, say why) or a `Skipped` (a record we do not use,
such as an email event type that scores nothing).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.hubspot import constants as c
from core.identity import parse_email
from core.models import Activity, ActivityKind, AttributeValue, Company, Contact

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Timestamps outside this range are data errors, not dates (e.g. seconds mistaken for ms).
_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Problem:
    """One record the run could not use as it was; reported, never raised."""

    source: str
    record_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A well-formed record the pipeline does not use (counted by reason)."""

    reason: str


# --------------------------------------------------------------------------- scalars


def parse_timestamp(value: Any) -> datetime | None:
    """A tz-aware UTC datetime from epoch milliseconds (int or digit string) or ISO 8601.

    None when missing, unparseable or implausible (before 1990 or after 2200).
    """
    if value is None or isinstance(value, bool):
        return None
    when: datetime | None = None
    if isinstance(value, int | float):
        when = _from_ms(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.lstrip("-").isdigit():
            when = _from_ms(int(text))
        else:
            try:
                parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
            except ValueError:
                return None
            when = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            when = when.astimezone(UTC)
    if when is None or not _EARLIEST <= when < _LATEST:
        return None
    return when


def _from_ms(ms: float) -> datetime | None:
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except (OverflowError, ValueError):
        return None


def to_ms(when: datetime) -> int:
    """Epoch milliseconds of a tz-aware datetime."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: pass timezone-aware datetimes")
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def iso_z(when: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as HubSpot writes datetimes."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _record_id(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    text = text.strip()
    return text or None


def clean_properties(
    raw: Any, *, source: str, record_id: str | None
) -> tuple[dict[str, str | None], list[Problem]]:
    """Property values as strings (HubSpot's own type), huge ones cut, NULs removed.

    Non-ASCII text is kept as is. A value over MAX_PROPERTY_CHARS is cut and reported.
    """
    problems: list[Problem] = []
    if not isinstance(raw, Mapping):
        if raw is not None:
            problems.append(Problem(source, record_id, "properties is not an object"))
        return {}, problems
    out: dict[str, str | None] = {}
    for name, value in raw.items():
        text = _text(value)
        if text is not None:
            if "\x00" in text:
                text = text.replace("\x00", "")
            if len(text) > c.MAX_PROPERTY_CHARS:
                problems.append(
                    Problem(
                        source,
                        record_id,
                        f"property {name} has {len(text)} characters; "
                        f"cut to {c.MAX_PROPERTY_CHARS}",
                    )
                )
                text = text[: c.MAX_PROPERTY_CHARS]
        out[str(name)] = text
    return out, problems


# --------------------------------------------------------------------------- CRM records


def contact_from_record(
    record: Any, *, company_id: str | None = None
) -> tuple[Contact | None, list[Problem]]:
    """A Contact from a CRM record; invalid email -> kept with email=None and a Problem."""
    source = "contacts"
    if not isinstance(record, Mapping):
        return None, [Problem(source, None, "record is not an object")]
    record_id = _record_id(record.get("id"))
    if record_id is None:
        return None, [Problem(source, None, "record has no id")]
    properties, problems = clean_properties(
        record.get("properties"), source=source, record_id=record_id
    )
    check = parse_email(properties.get("email"))
    if check.email is None and properties.get("email") not in (None, ""):
        problems.append(Problem(source, record_id, f"{check.reason}; contact kept without email"))
    updated_raw = properties.get("lastmodifieddate") or record.get("updatedAt")
    updated_at = parse_timestamp(updated_raw)
    if updated_at is None and updated_raw not in (None, ""):
        problems.append(Problem(source, record_id, f"unreadable lastmodifieddate {updated_raw!r}"))
    contact = Contact(
        hubspot_id=record_id,
        email=check.email,
        properties=properties,
        company_id=company_id,
        updated_at=updated_at,
        archived=bool(record.get("archived", False)),
    )
    return contact, problems


def company_from_record(record: Any) -> tuple[Company | None, list[Problem]]:
    source = "companies"
    if not isinstance(record, Mapping):
        return None, [Problem(source, None, "record is not an object")]
    record_id = _record_id(record.get("id"))
    if record_id is None:
        return None, [Problem(source, None, "record has no id")]
    properties, problems = clean_properties(
        record.get("properties"), source=source, record_id=record_id
    )
    updated_raw = properties.get("hs_lastmodifieddate") or record.get("updatedAt")
    updated_at = parse_timestamp(updated_raw)
    if updated_at is None and updated_raw not in (None, ""):
        problems.append(
            Problem(source, record_id, f"unreadable hs_lastmodifieddate {updated_raw!r}")
        )
    return Company(hubspot_id=record_id, properties=properties, updated_at=updated_at), problems


def associated_ids(to: Any) -> list[str]:
    """All `toObjectId`s of one associations v4 result's `to` list, in order, deduplicated."""
    out: list[str] = []
    for item in to if isinstance(to, list) else []:
        if isinstance(item, Mapping):
            target = _record_id(item.get("toObjectId"))
            if target is not None and target not in out:
                out.append(target)
    return out


def primary_company_id(to: Any) -> str | None:
    """From a v4 contacts->companies `to` list: the primary company (typeId 1), else the first."""
    first: str | None = None
    for item in to if isinstance(to, list) else []:
        if not isinstance(item, Mapping):
            continue
        target = _record_id(item.get("toObjectId"))
        if target is None:
            continue
        first = first or target
        for kind in item.get("associationTypes") or []:
            if (
                isinstance(kind, Mapping)
                and kind.get("typeId") == c.PRIMARY_CONTACT_TO_COMPANY
                and kind.get("category", "HUBSPOT_DEFINED") == "HUBSPOT_DEFINED"
            ):
                return target
    return first


def primary_company_from_list(record: Any) -> str | None:
    """From a v3 list record with `associations.companies.results[{id, type}]`: the primary
    company (`type == "contact_to_company"`), else the first listed."""
    if not isinstance(record, Mapping):
        return None
    associations = record.get("associations")
    if not isinstance(associations, Mapping):
        return None
    block = associations.get("companies")
    results = block.get("results") if isinstance(block, Mapping) else None
    first: str | None = None
    for item in results if isinstance(results, list) else []:
        if not isinstance(item, Mapping):
            continue
        target = _record_id(item.get("id"))
        if target is None:
            continue
        first = first or target
        if item.get("type") == c.PRIMARY_CONTACT_TO_COMPANY_NAME:
            return target
    return first


# --------------------------------------------------------------------------- activities


def _attributes(values: Mapping[str, Any]) -> dict[str, AttributeValue]:
    return {k: v for k, v in values.items() if v is not None}


def email_event_activity(event: Any) -> Activity | Problem | Skipped:
    """One marketing email event (`/email/public/v1/events`)."""
    source = "email_events"
    if not isinstance(event, Mapping):
        return Problem(source, None, "event is not an object")
    event_id = _record_id(event.get("id"))
    if event_id is None:
        return Problem(source, None, "event has no id")
    event_type = _text(event.get("type")) or ""
    kind: str | None = c.EMAIL_EVENT_KINDS.get(event_type.upper())
    attributes: dict[str, Any] = {"campaign_id": _text(event.get("emailCampaignId"))}
    if event_type.upper() == "STATUSCHANGE":
        kind = _subscription_kind(event)
        if kind is None:
            return Problem(source, event_id, "STATUSCHANGE without a subscription status")
    elif kind is None:
        return Skipped(f"email event type {event_type or '(none)'}")
    occurred_at = parse_timestamp(event.get("created"))
    if occurred_at is None:
        return Problem(source, event_id, f"unreadable created time {event.get('created')!r}")
    check = parse_email(event.get("recipient"))
    if check.email is None:
        return Problem(source, event_id, f"recipient: {check.reason}")
    if kind == ActivityKind.EMAIL_CLICK:
        attributes["url"] = _text(event.get("url"))
    elif kind == ActivityKind.EMAIL_BOUNCE:
        category = (_text(event.get("category")) or "").upper()
        attributes["bounce_type"] = "hard" if category in c.HARD_BOUNCE_CATEGORIES else "soft"
        attributes["bounce_category"] = category or None
    return Activity(
        source_id=f"email:{event_id}",
        kind=kind,
        occurred_at=occurred_at,
        email=check.email,
        attributes=_attributes(attributes),
    )


def _subscription_kind(event: Mapping[str, Any]) -> str | None:
    """STATUSCHANGE -> unsubscribe or resubscribe.

    Unsubscribed from everything (`portalSubscriptionStatus`) or from any one subscription type
    (`subscriptions[].status`) counts as an unsubscribe; otherwise a SUBSCRIBED status is a
    resubscribe. None when the event carries neither.
    """
    portal = (_text(event.get("portalSubscriptionStatus")) or "").upper()
    statuses = [
        (_text(s.get("status")) or "").upper()
        for s in event.get("subscriptions") or []
        if isinstance(s, Mapping)
    ]
    if portal == "UNSUBSCRIBED" or "UNSUBSCRIBED" in statuses:
        return ActivityKind.EMAIL_UNSUBSCRIBE
    if portal == "SUBSCRIBED" or "SUBSCRIBED" in statuses:
        return ActivityKind.EMAIL_RESUBSCRIBE
    return None


def form_values(values: Any) -> dict[str, str]:
    """A submission's `values` list as {name: value} (first value wins)."""
    out: dict[str, str] = {}
    for item in values if isinstance(values, list) else []:
        if isinstance(item, Mapping):
            name = _text(item.get("name"))
            value = _text(item.get("value"))
            if name and value is not None and name not in out:
                out[name] = value
    return out


def submission_activity(
    submission: Any, *, form_id: str, form_name: str, kind: str
) -> Activity | Problem:
    """One form submission (`/form-integrations/v1/submissions/forms/{guid}`)."""
    source = "form_submissions"
    if not isinstance(submission, Mapping):
        return Problem(source, None, f"submission of form {form_id} is not an object")
    conversion_id = _record_id(submission.get("conversionId"))
    if conversion_id is None:
        return Problem(source, None, f"submission of form {form_id} has no conversionId")
    occurred_at = parse_timestamp(submission.get("submittedAt"))
    if occurred_at is None:
        return Problem(
            source, conversion_id, f"unreadable submittedAt {submission.get('submittedAt')!r}"
        )
    check = parse_email(form_values(submission.get("values")).get("email"))
    if check.email is None:
        return Problem(source, conversion_id, f"email: {check.reason}")
    return Activity(
        source_id=f"form:{conversion_id}",
        kind=kind,
        occurred_at=occurred_at,
        email=check.email,
        attributes=_attributes(
            {
                "form_id": form_id,
                "form_name": form_name,
                "page_url": _text(submission.get("pageUrl")),
            }
        ),
    )


def participation_activity(row: Any, *, event_id: str) -> Activity | Problem | Skipped:
    """One row of `/marketing/v3/marketing-events/participations/{id}/breakdown`."""
    source = "webinar_participations"
    if not isinstance(row, Mapping):
        return Problem(source, None, f"participation of event {event_id} is not an object")
    row_id = _record_id(row.get("id"))
    properties = row.get("properties") if isinstance(row.get("properties"), Mapping) else {}
    state = (_text(properties.get("attendanceState")) or "").upper()
    kind = c.PARTICIPATION_KINDS.get(state)
    if kind is None:
        if state in ("", "EMPTY"):
            return Skipped("participation without attendance state")
        return Problem(source, row_id, f"unknown attendanceState {state!r}")
    occurred_at = parse_timestamp(properties.get("occurredAt") or row.get("createdAt"))
    if occurred_at is None:
        return Problem(source, row_id, f"unreadable occurredAt {properties.get('occurredAt')!r}")
    associations = row.get("associations") if isinstance(row.get("associations"), Mapping) else {}
    contact = (
        associations.get("contact") if isinstance(associations.get("contact"), Mapping) else {}
    )
    contact_id = _record_id(contact.get("contactId"))
    email = parse_email(contact.get("email")).email
    if contact_id is None and email is None:
        return Problem(source, row_id, "participation names no contact id and no valid email")
    attributes: dict[str, Any] = {"marketing_event_id": event_id}
    if kind == ActivityKind.WEBINAR_ATTENDED:
        attributes["attendance_percentage"] = _number(properties.get("attendancePercentage"))
        seconds = _number(properties.get("attendanceDurationSeconds"))
        attributes["duration_seconds"] = int(seconds) if seconds is not None else None
    # A row keeps its id while its state changes (registered -> attended), so the state is
    # part of the identity: each state is its own activity, and re-reads stay idempotent.
    key = row_id or f"{event_id}:{contact_id or email}"
    return Activity(
        source_id=f"webinar:{key}:{state.lower()}",
        kind=kind,
        occurred_at=occurred_at,
        contact_id=contact_id,
        email=email,
        attributes=_attributes(attributes),
    )


def page_view_activity(event: Any) -> Activity | Problem:
    """One `/events/v3/events` occurrence of the page-view event type."""
    source = "page_views"
    if not isinstance(event, Mapping):
        return Problem(source, None, "event is not an object")
    event_id = _record_id(event.get("id"))
    if event_id is None:
        return Problem(source, None, "event has no id")
    occurred_at = parse_timestamp(event.get("occurredAt"))
    if occurred_at is None:
        return Problem(source, event_id, f"unreadable occurredAt {event.get('occurredAt')!r}")
    contact_id = _record_id(event.get("objectId"))
    if contact_id is None:
        return Problem(source, event_id, "page view names no contact")
    properties = event.get("properties") if isinstance(event.get("properties"), Mapping) else {}
    url = next(
        (
            _text(properties.get(name))
            for name in ("hs_url", "hs_page_url", "url")
            if properties.get(name)
        ),
        None,
    )
    return Activity(
        source_id=f"pageview:{event_id}",
        kind=ActivityKind.PAGE_VIEW,
        occurred_at=occurred_at,
        contact_id=contact_id,
        attributes=_attributes({"url": url, "page_title": _text(properties.get("hs_page_title"))}),
    )


def meeting_activities(
    meeting: Any, contact_ids: Iterable[str]
) -> tuple[list[Activity], list[Problem]]:
    """One meeting -> one activity per associated contact."""
    source = "meetings"
    if not isinstance(meeting, Mapping):
        return [], [Problem(source, None, "meeting is not an object")]
    meeting_id = _record_id(meeting.get("id"))
    if meeting_id is None:
        return [], [Problem(source, None, "meeting has no id")]
    properties = meeting.get("properties") if isinstance(meeting.get("properties"), Mapping) else {}
    raw_time = properties.get("hs_timestamp") or properties.get("hs_meeting_start_time")
    occurred_at = parse_timestamp(raw_time)
    if occurred_at is None:
        return [], [Problem(source, meeting_id, f"unreadable hs_timestamp {raw_time!r}")]
    attributes = _attributes(
        {
            "meeting_type": _text(properties.get("hs_activity_type")),
            "outcome": _text(properties.get("hs_meeting_outcome")),
            "meeting_id": meeting_id,
        }
    )
    activities = [
        Activity(
            source_id=f"meeting:{meeting_id}:{contact_id}",
            kind=ActivityKind.MEETING,
            occurred_at=occurred_at,
            contact_id=contact_id,
            attributes=attributes,
        )
        for contact_id in contact_ids
    ]
    return activities, []
