"""Render plans as HubSpot records, in the shape each HubSpot read endpoint returns them.

Pure functions: no random numbers, no clock. Shapes and where they were checked:

- CRM objects (contacts, companies, meetings): `{"id", "properties": {name: str | None},
  "createdAt", "updatedAt", "archived"}` -- api-facts.md; hubspot-api-client 12.0.0
  `SimplePublicObject`.
- Forms: `GET /marketing/v3/forms` result -- developers.hubspot.com/docs/api-reference/legacy/
  marketing/forms/get-forms and the SDK's `HubSpotFormDefinition`, which requires
  `configuration`, `displayOptions` and `legalConsentOptions` besides what the brief listed;
  email fields require `validation`, phone fields `useCountryCodeSelect` and `validation`,
  every field `dependentFields`.
- Form submissions: `GET /form-integrations/v1/submissions/forms/{guid}` result (api-facts.md)
  plus `formId`, so one stream can carry every form.
- Email events: legacy v1 `GET /email/public/v1/events` -- developers.hubspot.com/docs/methods/
  email/email_events_overview (legacydocs.hubspot.com mirror) and Airbyte source-hubspot's
  `email_events.json` schema (built from real responses). Every event: `id`, `created` (epoch
  ms), `type`, `recipient`, `portalId`, `appId`, `appName`, `emailCampaignId`.
  OPEN/CLICK add `userAgent`, `browser`, `location`, `deviceType`, `filteredEvent`; CLICK adds
  `url` and `linkId`; OPEN adds `duration`. DELIVERED adds `response`.
  BOUNCE adds `category`, `response`, `status`: `category` is one of HubSpot's bounce
  categories (UNKNOWN_USER, MAILBOX_FULL, CONTENT, SPAM, POLICY, TEMPORARY_PROBLEM,
  THROTTLED, ...), *not* HARD_BOUNCE/SOFT_BOUNCE; hard vs soft is the reader's mapping
  (UNKNOWN_USER, SPAM, POLICY, CONTENT are permanent).
  STATUSCHANGE adds `source` (SOURCE_RECIPIENT = changed by the recipient; others:
  SOURCE_LIST_UNSUBSCRIBE, SOURCE_NON_DELIVERY_REPORT, SOURCE_SPAM_REPORT, SOURCE_IMPORT, ...),
  `portalSubscriptionStatus` (SUBSCRIBED | UNSUBSCRIBED), `subscriptions` (`[{"id", "status"}]`)
  and `bounced`. `changeType` belongs to the subscriptions *timeline* API
  (/email/public/v1/subscriptions/timeline), not to events, so it is not emitted here.
  `appName` is documented as a derived value that may change; 113/"Batch" is illustrative.
- Marketing events: `GET /marketing/v3/marketing-events/events/{externalEventId}` --
  developers.hubspot.com/docs/api-reference/legacy/marketing/marketing-events/
  get-marketing-event; the SDK's `MarketingEventPublicReadResponse` requires `registrants`,
  `attendees`, `noShows`, `cancellations` (counts) besides the ids, name and dates.
  `externalAccountId` is not in that response; it is kept because the brief's contract has it
  and the sandbox needs it to answer the external-id endpoints.
- Participations: `GET /marketing/v3/marketing-events/participations/{id}/breakdown` result
  -- developers.hubspot.com/docs/api-reference/legacy/marketing/marketing-events/
  participant-state/get-breakdown: `attendancePercentage` is a string, `occurredAt` epoch ms,
  `marketingEvent` also carries `externalAccountId`. One row per (contact, event) with the
  final state (UNVERIFIED whether HubSpot also lists superseded states).
- Page views: `GET /events/v3/events` result (`ExternalUnifiedEvent`: properties are
  `dict[str, str]`); the event type name `e_visited_page` is UNVERIFIED (api-facts.md).
  `hs_referrer` is absent when the visit came from an email click.
"""

from __future__ import annotations

from collections.abc import Iterator
from random import Random
from typing import Any

from . import vocab as V
from .ids import (
    DAY,
    MARKETING_EVENT_ID_BASE,
    MEETING_ID_BASE,
    PARTICIPATION_ID_BASE,
    iso,
    uuid_from_bits,
)
from .plan import (
    ATTENDED,
    BOUNCE,
    CANCELLED,
    CLICK,
    DELIVERED,
    NO_SHOW,
    OPEN,
    STATUSCHANGE,
    CompanyPlan,
    ContactPlan,
    original_source,
    timeline,
)

Record = dict[str, Any]

APP_ID, APP_NAME = 113, "Batch"
ORGANIZER = "Example Corp"


def portal_id(seed: int) -> int:
    return 20_000_000 + seed % 9_000_000


def form_guids(seed: int) -> dict[str, str]:
    """Stable form GUIDs derived from the seed."""
    return {
        key: uuid_from_bits(Random(f"{seed}:form:{key}").getrandbits(128)) for key in V.FORM_KEYS
    }


def subscription_ids(seed: int) -> tuple[int, int]:
    base = 1_000_000 + seed % 100_000 * 10
    return base + 1, base + 2  # "Marketing information", "Newsletter"


def external_account_id(seed: int) -> str:
    return f"zoom-{seed % 1_000_000:06d}"


def external_event_id(seed: int, w: int) -> str:
    return str(80_000_000_000 + (seed % 1000) * 1000 + w * 7)


# --- CRM objects ----------------------------------------------------------------------------


def contact_record(p: ContactPlan) -> Record:
    created, modified = iso(p.created_ms), iso(p.modified_ms)
    ident = p.ident
    return {
        "id": p.hubspot_id,
        "properties": {
            "email": p.email,
            "firstname": ident.firstname,
            "lastname": ident.lastname,
            "jobtitle": ident.jobtitle,
            "company": ident.company_prop,
            "phone": ident.phone,
            "lifecyclestage": p.lifecyclestage,
            "hs_lead_status": p.lead_status,
            "hs_analytics_source": original_source(p.index),
            "createdate": created,
            "lastmodifieddate": modified,
            "hs_lastmodifieddate": modified,
            "hs_object_id": p.hubspot_id,
        },
        "createdAt": created,
        "updatedAt": modified,
        "archived": False,
    }


def company_record(c: CompanyPlan) -> Record:
    created, modified = iso(c.created_ms), iso(c.modified_ms)
    return {
        "id": c.hubspot_id,
        "properties": {
            "name": c.name,
            "domain": c.domain,
            "industry": c.industry,
            "numberofemployees": str(c.employees),
            "annualrevenue": str(c.revenue),
            "country": c.country,
            "city": c.city,
            "createdate": created,
            "hs_lastmodifieddate": modified,
            "hs_object_id": c.hubspot_id,
        },
        "createdAt": created,
        "updatedAt": modified,
        "archived": False,
    }


def _association(from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> Record:
    return {
        "fromObjectType": from_type,
        "toObjectType": to_type,
        "from": {"id": from_id},
        "to": {"id": to_id},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
    }


def association_records(p: ContactPlan, company_hubspot_id: str | None) -> Iterator[Record]:
    if company_hubspot_id is not None:
        yield _association("contacts", p.hubspot_id, "companies", company_hubspot_id, 1)
    for m in p.meetings:
        yield _association("meetings", str(MEETING_ID_BASE + m[0]), "contacts", p.hubspot_id, 200)


def meeting_records(p: ContactPlan, company_name: str | None) -> Iterator[Record]:
    who = company_name or " ".join(x for x in (p.ident.lastname, p.ident.firstname) if x)
    for number, kind, start, end, outcome, created, modified in p.meetings:
        mid = str(MEETING_ID_BASE + number)
        title = f"個別相談: {who} 様" if p.ident.lang == "ja" else f"{kind}: {who}"
        yield {
            "id": mid,
            "properties": {
                "hs_meeting_title": title,
                "hs_meeting_start_time": iso(start),
                "hs_meeting_end_time": iso(end),
                "hs_meeting_outcome": outcome,
                "hs_activity_type": kind,
                "hs_timestamp": iso(start),
                "hs_object_id": mid,
                "hs_createdate": iso(created),
                "hs_lastmodifieddate": iso(modified),
            },
            "createdAt": iso(created),
            "updatedAt": iso(modified),
            "archived": False,
        }


# --- Forms ----------------------------------------------------------------------------------


def _form_field(key: str, lang: str) -> Record:
    name, label_ja, label_en, field_type, required = V.FORM_FIELDS[key]
    field: Record = {
        "objectTypeId": "0-1",
        "name": name,
        "label": label_ja if lang == "ja" else label_en,
        "required": required,
        "hidden": False,
        "fieldType": field_type,
        "dependentFields": [],
    }
    if field_type == "email":
        field["validation"] = {"blockedEmailDomains": [], "useDefaultBlockList": False}
    elif field_type == "phone":
        field["useCountryCodeSelect"] = False
        field["validation"] = {"minAllowedDigits": 7, "maxAllowedDigits": 20}
    return field


def form_records(seed: int, now_ms: int) -> Iterator[Record]:
    guids = form_guids(seed)
    for n, (key, name, lang, _path, fields) in enumerate(V.FORMS):
        created = now_ms - (400 - n * 17) * DAY
        yield {
            "id": guids[key],
            "name": name,
            "formType": "hubspot",
            "createdAt": iso(created),
            "updatedAt": iso(created + (30 + n) * DAY),
            "archived": False,
            "fieldGroups": [
                {
                    "groupType": "default_group",
                    "richTextType": "text",
                    "fields": [_form_field(f, lang)],
                }
                for f in fields
            ],
            "configuration": {
                "language": lang,
                "cloneable": True,
                "postSubmitAction": {"type": "thank_you", "value": ""},
                "editable": True,
                "archivable": True,
                "recaptchaEnabled": False,
                "notifyContactOwner": False,
                "notifyRecipients": [],
                "createNewContactForNewEmail": False,
                "prePopulateKnownValues": True,
                "allowLinkToResetKnownValues": False,
                "lifecycleStages": [],
            },
            "displayOptions": {
                "renderRawHtml": False,
                "theme": "default_style",
                "submitButtonText": "送信" if lang == "ja" else "Submit",
                "style": {
                    "fontFamily": "arial, helvetica, sans-serif",
                    "backgroundWidth": "100%",
                    "labelTextColor": "#33475b",
                    "labelTextSize": "14px",
                    "helpTextColor": "#7C98B6",
                    "helpTextSize": "11px",
                    "legalConsentTextColor": "#33475b",
                    "legalConsentTextSize": "14px",
                    "submitColor": "#ff7a59",
                    "submitAlignment": "left",
                    "submitFontColor": "#ffffff",
                    "submitSize": "12px",
                },
            },
            "legalConsentOptions": {"type": "none"},
        }


def form_submission_records(p: ContactPlan, guids: dict[str, str]) -> Iterator[Record]:
    ident = p.ident
    for ms, key, bits, message in p.forms:
        _, _, _, path, fields = _FORMS_BY_KEY[key]
        values = []
        for f in fields:
            value = {
                "email": p.email,
                "firstname": ident.firstname,
                "lastname": ident.lastname,
                "company": ident.company_prop,
                "jobtitle": ident.jobtitle,
                "phone": ident.phone,
                "message": V.CONSULTATION_MESSAGES[message]
                if key in V.CONSULTATION_FORMS
                else None,
            }[f]
            if value:  # HubSpot leaves out fields submitted empty
                values.append({"name": f, "value": value})
        yield {
            "formId": guids[key],
            "conversionId": uuid_from_bits(bits),
            "submittedAt": ms,
            "values": values,
            "pageUrl": V.SITE + path,
        }


_FORMS_BY_KEY = {f[0]: f for f in V.FORMS}


# --- Email events ---------------------------------------------------------------------------


def _browser(ua: int) -> Record:
    family = V.USER_AGENTS[ua][1]
    return {
        "name": family,
        "family": family,
        "producer": "",
        "producerUrl": "",
        "type": "Browser" if ua != 3 else "Email client",
        "url": "",
        "version": [],
    }


def _location(loc: int) -> Record:
    country, state, city = V.LOCATIONS[loc]
    return {"country": country, "state": state, "city": city}


def email_event_records(
    p: ContactPlan, portal: int, subscriptions: tuple[int, int]
) -> Iterator[Record]:
    recipient = p.email
    for ms, kind, campaign, bits, detail in p.emails:
        event: Record = {
            "id": uuid_from_bits(bits),
            "created": ms,
            "type": kind,
            "recipient": recipient,
            "portalId": portal,
            "appId": APP_ID,
            "appName": APP_NAME,
            "emailCampaignId": campaign,
        }
        if kind == DELIVERED:
            event["response"] = "250 2.0.0 OK"
        elif kind in (OPEN, CLICK):
            ua, loc = detail[0], detail[1]
            event["userAgent"] = V.USER_AGENTS[ua][0]
            event["browser"] = _browser(ua)
            event["location"] = _location(loc)
            event["deviceType"] = V.USER_AGENTS[ua][2]
            event["filteredEvent"] = False
            if kind == OPEN:
                event["duration"] = detail[2]
            else:
                prefix = "/en" if p.ident.lang == "en" else ""
                event["url"] = (
                    f"{V.SITE}{prefix}{detail[2]}"
                    f"?utm_source=hs_email&utm_medium=email&utm_campaign={campaign}"
                )
                event["linkId"] = detail[3]
        elif kind == BOUNCE:
            category = detail[0]
            status, response = V.BOUNCE_RESPONSES[category]
            event["category"] = category
            event["response"] = response.format(recipient)
            event["status"] = status
        elif kind == STATUSCHANGE:
            status, source = detail
            event["source"] = source
            event["portalSubscriptionStatus"] = status
            event["subscriptions"] = [{"id": s, "status": status} for s in subscriptions]
            event["bounced"] = False
        yield event


# --- Marketing events, participations, page views -------------------------------------------


def marketing_event_records(
    seed: int, now_ms: int, counts: list[dict[str, int]]
) -> Iterator[Record]:
    tl = timeline(now_ms)
    account = external_account_id(seed)
    for w, (_, name) in enumerate(V.WEBINARS):
        start, end = tl.webinar_starts[w], tl.webinar_ends[w]
        ext = external_event_id(seed, w)
        created = start - 30 * DAY
        updated = min(now_ms, end + DAY) if end <= now_ms else created + DAY
        c = counts[w]
        yield {
            "id": str(MARKETING_EVENT_ID_BASE + w),
            "objectId": str(MARKETING_EVENT_ID_BASE + w),
            "eventName": name,
            "eventType": "WEBINAR",
            "startDateTime": iso(start),
            "endDateTime": iso(end),
            "eventOrganizer": ORGANIZER,
            "eventDescription": f"{name} ({ORGANIZER})",
            "eventUrl": f"https://zoom.us/j/{ext}",
            "eventCancelled": False,
            "eventCompleted": end <= now_ms,
            "externalAccountId": account,
            "externalEventId": ext,
            "customProperties": [],
            "registrants": c["registrants"],
            "attendees": c["attendees"],
            "noShows": c["noShows"],
            "cancellations": c["cancellations"],
            "createdAt": iso(created),
            "updatedAt": iso(max(created, updated)),
        }


def empty_event_counts() -> list[dict[str, int]]:
    return [
        {"registrants": 0, "attendees": 0, "noShows": 0, "cancellations": 0} for _ in V.WEBINARS
    ]


def add_event_counts(counts: list[dict[str, int]], p: ContactPlan) -> None:
    for w, state, *_ in p.participations:
        c = counts[w]
        c["registrants"] += 1
        if state == ATTENDED:
            c["attendees"] += 1
        elif state == NO_SHOW:
            c["noShows"] += 1
        elif state == CANCELLED:
            c["cancellations"] += 1


def participation_records(p: ContactPlan, seed: int) -> Iterator[Record]:
    account = external_account_id(seed)
    for w, state, occurred, registered, duration in p.participations:
        yield {
            "id": str(PARTICIPATION_ID_BASE + p.index * 8 + w),
            "createdAt": iso(registered),
            "properties": {
                "attendanceState": state,
                "occurredAt": occurred,
                "attendanceDurationSeconds": duration,
                "attendancePercentage": (
                    None if duration is None else f"{min(100.0, duration / 36):.1f}"
                ),
            },
            "associations": {
                "marketingEvent": {
                    "marketingEventId": str(MARKETING_EVENT_ID_BASE + w),
                    "name": V.WEBINARS[w][1],
                    "externalAccountId": account,
                    "externalEventId": external_event_id(seed, w),
                },
                "contact": {
                    "contactId": p.hubspot_id,
                    "email": p.email,
                    "firstname": p.ident.firstname,
                    "lastname": p.ident.lastname,
                },
            },
        }


def page_view_records(p: ContactPlan) -> Iterator[Record]:
    english = p.ident.lang == "en"
    for ms, page, bits, referrer in p.pages:
        path, title_ja, title_en = V.PAGES[page]
        props = {
            "hs_url": f"{V.SITE}/en{path}" if english else V.SITE + path,
            "hs_page_title": title_en if english else title_ja,
        }
        if referrer >= 0:
            props["hs_referrer"] = V.REFERRERS[referrer]
        yield {
            "id": uuid_from_bits(bits),
            "eventType": "e_visited_page",
            "objectType": "contact",
            "objectId": p.hubspot_id,
            "occurredAt": iso(ms),
            "properties": props,
        }
