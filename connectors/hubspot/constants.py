"""HubSpot constants in one place: endpoints, page sizes, limits, type maps.

Numbers come from /work/shared/reference/api-facts.md and HubSpot's developer docs; where a
value is a judgement call it says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Bucket = Literal["burst", "search"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One API operation as the client counts, limits and checks it.

    `expected` lists the 2xx statuses the hubspot-api-client deserialises for the operation
    (its `response_types_map`); any other 2xx makes the SDK return None, so the client treats
    it as a broken contract (FatalAPIError) instead of reading an empty answer.
    """

    name: str
    bucket: Bucket = "burst"
    expected: frozenset[int] = frozenset({200})


def search_endpoint(object_type: str) -> Endpoint:
    return Endpoint(f"{object_type}.search", "search")


def list_endpoint(object_type: str) -> Endpoint:
    return Endpoint(f"{object_type}.list")


def batch_read_endpoint(object_type: str) -> Endpoint:
    return Endpoint(f"{object_type}.batch_read", expected=frozenset({200, 207}))


def associations_endpoint(from_type: str, to_type: str) -> Endpoint:
    return Endpoint(
        f"associations.{from_type}.{to_type}.batch_read", expected=frozenset({200, 207})
    )


def association_page_endpoint(from_type: str, to_type: str) -> Endpoint:
    return Endpoint(f"associations.{from_type}.{to_type}.page")


FORMS_LIST = Endpoint("forms.list")
FORM_SUBMISSIONS = Endpoint("form_submissions.list")
MARKETING_EVENTS_LIST = Endpoint("marketing_events.list")
PARTICIPATIONS = Endpoint("marketing_events.participations")
WEB_EVENTS = Endpoint("events.list")
EMAIL_EVENTS = Endpoint("email_events.list")

ACCOUNT_DETAILS = Endpoint("account.details")
# Every path is built in `connectors/hubspot/paths.py` from `hubspot.api_version`.
CRM_OBJECT_TYPES = frozenset({"contacts", "companies", "meetings"})
# CRM search refuses request bodies over 3,000 characters with a 400 (api-facts, "What changed
# by December 2026"; the 2026-09 contacts spec gives the same bound for `query`). Counted on the
# JSON as sent (every page's body, keyset filter included, is checked before it goes).
SEARCH_BODY_MAX_CHARS = 3000

# Page sizes: each the API's maximum, so a page costs one call for as many records as allowed.
SEARCH_PAGE = 200
LIST_PAGE = 100
BATCH_READ_MAX = 100
# Associations batch read: HubSpot's changelog "Bug Fix: Batch Read Limit for HubSpot
# Associations API" sets at most 1,000 ids per request body (v3 and v4, every tier, from
# 2025-02-10); larger requests are refused. A 200-contact search page is then one call.
ASSOCIATIONS_BATCH = 1000
EMAIL_EVENTS_PAGE = 1000
FORMS_PAGE = 50
SUBMISSIONS_PAGE = 50
PARTICIPATIONS_PAGE = 100
MARKETING_EVENTS_PAGE = 100
WEB_EVENTS_PAGE = 1000
SEARCH_RESULT_CAP = 10_000  # paging past this in one query answers 400

# Client-side rate limits (private apps). Burst: per rolling 10 s; search: per second, its own
# bucket (search calls do not count toward the burst bucket but do count toward the daily one).
BURST_PER_10S: dict[str, int | None] = {
    "free": 100,
    "pro": 190,
    "enterprise": 190,
    "unlimited": None,
}
BURST_MARGIN = 10  # calls per window left for other clients of the same token
# Search: HubSpot's usage guide gives five requests a second per token for the CRM search
# endpoints (first one, then four, then five in the "Increasing our API limits" changelog).
# The bucket is the account's, shared with every app. We pace at it (SEARCH_MARGIN = 1 would
# leave one a second to other apps, at a fifth of search-bound throughput), count each call
# from when its answer came back (`SlidingWindowLimiter.settle`), so delays between sending a
# call and HubSpot counting it cannot squeeze an extra call into HubSpot's second, and a run
# starts with the searches of the run before it still in the window
# (`HubSpotClient.assume_searches`). A 429 that happens anyway (another app used the budget)
# is counted (`HubSpotClient.rate_limited`) and retried by the one retry policy.
SEARCH_PER_SECOND: dict[str, int | None] = {
    "free": 5,
    "pro": 5,
    "enterprise": 5,
    "unlimited": None,  # the sandbox's test tier: nothing limited
}
SEARCH_MARGIN = 0  # searches a second left for other apps (0: see docs/benchmarks.md, issue #6)
# Search pages read ahead by a worker thread while the caller works (HubSpotSource.while_waiting).
SEARCH_READ_AHEAD_PAGES = 4
# Daily allocation assumed until the first response tells the real one (X-HubSpot-RateLimit-Daily).
DAILY_DEFAULT: dict[str, int | None] = {
    "free": 250_000,
    "pro": 650_000,
    "enterprise": 1_000_000,
    "unlimited": None,
}
HEADER_DAILY = "X-HubSpot-RateLimit-Daily"
HEADER_DAILY_REMAINING = "X-HubSpot-RateLimit-Daily-Remaining"

# Association type ids (HubSpot-defined).
PRIMARY_CONTACT_TO_COMPANY = 1
# The v3 list endpoint names association types instead of numbering them.
PRIMARY_CONTACT_TO_COMPANY_NAME = "contact_to_company"

# Properties read for meetings.
MEETING_PROPERTIES = (
    "hs_timestamp",
    "hs_meeting_start_time",
    "hs_activity_type",
    "hs_meeting_outcome",
    "hs_meeting_title",
    "hs_lastmodifieddate",
)

# Marketing email events.
EMAIL_EVENT_KINDS = {
    "DELIVERED": "email_delivered",
    "OPEN": "email_open",
    "CLICK": "email_click",
    "BOUNCE": "email_bounce",
}
# BOUNCE `category` values that mean the address itself is unusable ("hard"); every other
# category (MAILBOX_FULL, THROTTLED, TIMEOUT, GREYLISTING, POLICY, SPAM, CONTENT, ...) is a
# property of one send and counts as "soft". Judgement call: HubSpot documents the categories
# but does not publish a hard/soft split; HARD_BOUNCE is accepted for hand-written data.
HARD_BOUNCE_CATEGORIES = frozenset(
    {"HARD_BOUNCE", "UNKNOWN_USER", "HUBSPOT_GLOBAL_BOUNCE", "DNS_FAILURE"}
)

# Marketing event participations.
PARTICIPATION_KINDS = {
    "REGISTERED": "webinar_registered",
    "ATTENDED": "webinar_attended",
    "NO_SHOW": "webinar_no_show",
    "CANCELLED": "webinar_cancelled",
}

# HubSpot stores property values up to 65,536 characters; anything longer is cut to this.
MAX_PROPERTY_CHARS = 65_536
# Kept Problem records per source run (the rest are only counted).
MAX_PROBLEMS = 10_000
