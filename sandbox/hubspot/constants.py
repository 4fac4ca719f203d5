"""What the sandbox reproduces of HubSpot, as data: tiers, limits, object and association types.

Sources are named next to each number; where HubSpot's documentation was unclear the choice is
marked DECIDED and explained.
"""

from __future__ import annotations

from dataclasses import dataclass

# The bearer token every sandbox accepts unless another is given (a private-app style token).
DEFAULT_HUBSPOT_TOKEN = "pat-sandbox-hubspot-token"


@dataclass(frozen=True)
class Tier:
    """Private-app limits of one HubSpot subscription tier (None = not limited)."""

    name: str
    burst_per_10s: int | None
    daily: int | None
    search_per_second: int | None


# developers.hubspot.com "API usage guidelines and limits" and the changelog "Increasing our API
# limits": private apps get 100 / 10 s and 250,000 a day on Free and Starter, 190 / 10 s and
# 650,000 on Professional, 190 / 10 s and 1,000,000 on Enterprise. CRM search: five requests per
# second per account/token (search guide, "Limitations"), not part of the burst bucket.
TIERS: dict[str, Tier] = {
    "free": Tier("free", 100, 250_000, 5),
    "pro": Tier("pro", 190, 650_000, 5),
    "enterprise": Tier("enterprise", 190, 1_000_000, 5),
    "unlimited": Tier("unlimited", None, None, None),
}

BURST_WINDOW_MS = 10_000
SECONDLY_WINDOW_MS = 1_000

# CRM objects the sandbox serves, with the object type ids HubSpot also accepts in paths.
OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "meetings": "0-47"}
OBJECT_TYPE_ALIASES = {
    "contacts": "contacts",
    "contact": "contacts",
    "0-1": "contacts",
    "companies": "companies",
    "company": "companies",
    "0-2": "companies",
    "meetings": "meetings",
    "meeting": "meetings",
    "0-47": "meetings",
}
SINGULAR = {"contacts": "contact", "companies": "company", "meetings": "meeting"}

# The property that holds the last-modified time of each type (contacts also carry
# `hs_lastmodifieddate`; the two are equal unless a seed says otherwise).
MODIFIED_PROPERTY = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "meetings": "hs_lastmodifieddate",
}
MODIFIED_ALIASES = {"contacts": ("hs_lastmodifieddate",), "companies": (), "meetings": ()}
CREATED_PROPERTY = {
    "contacts": "createdate",
    "companies": "createdate",
    "meetings": "hs_createdate",
}

# Returned when a read names no properties (search guide: contacts return createdate, email,
# firstname, hs_object_id, lastmodifieddate, lastname; companies createdate, domain,
# hs_lastmodifieddate, hs_object_id, name; engagements hs_createdate, hs_lastmodifieddate,
# hs_object_id).
DEFAULT_PROPERTIES = {
    "contacts": (
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "meetings": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
}
# Returned on every read whatever was asked for.
ALWAYS_PROPERTIES = {
    "contacts": ("createdate", "hs_object_id", "lastmodifieddate"),
    "companies": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "meetings": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
}

# Page sizes and other request limits (api-facts.md table; HubSpot docs per endpoint).
LIST_DEFAULT_LIMIT = 10
LIST_MAX_LIMIT = 100
SEARCH_DEFAULT_LIMIT = 10
SEARCH_MAX_LIMIT = 200
SEARCH_MAX_RESULTS = 10_000
SEARCH_MAX_GROUPS = 5
SEARCH_MAX_FILTERS_PER_GROUP = 10
SEARCH_MAX_FILTERS_TOTAL = 25
BATCH_MAX_INPUTS = 100
ASSOCIATIONS_BATCH_MAX_INPUTS = 1_000
EMAIL_EVENTS_DEFAULT_LIMIT = 100
EMAIL_EVENTS_MAX_LIMIT = 1_000
FORMS_DEFAULT_LIMIT = 20
FORMS_MAX_LIMIT = 50
SUBMISSIONS_DEFAULT_LIMIT = 20
SUBMISSIONS_MAX_LIMIT = 50
PARTICIPATIONS_DEFAULT_LIMIT = 10
PARTICIPATIONS_MAX_LIMIT = 100
EVENTS_DEFAULT_LIMIT = 100
EVENTS_MAX_LIMIT = 1_000
MARKETING_EVENTS_DEFAULT_LIMIT = 10
MARKETING_EVENTS_MAX_LIMIT = 100


@dataclass(frozen=True)
class AssociationType:
    type_id: int
    from_type: str
    to_type: str
    name: str  # the v3 `type` string in object responses
    label: str | None  # the v4 label (None = unlabeled)
    inverse: int
    implies: int | None = None  # a labelled association always carries the unlabeled one


# HubSpot-defined association type ids (associations v4 guide, "Association type id values").
ASSOCIATION_TYPES: dict[int, AssociationType] = {
    t.type_id: t
    for t in (
        AssociationType(1, "contacts", "companies", "contact_to_company", "Primary", 2, 279),
        AssociationType(279, "contacts", "companies", "contact_to_company_unlabeled", None, 280),
        AssociationType(2, "companies", "contacts", "company_to_contact", "Primary", 1, 280),
        AssociationType(280, "companies", "contacts", "company_to_contact_unlabeled", None, 279),
        AssociationType(199, "contacts", "meetings", "contact_to_meeting", None, 200),
        AssociationType(200, "meetings", "contacts", "meeting_to_contact", None, 199),
        AssociationType(187, "companies", "meetings", "company_to_meeting", None, 188),
        AssociationType(188, "meetings", "companies", "meeting_to_company", None, 187),
    )
}
# The unlabeled ("default") type for each pair.
DEFAULT_ASSOCIATION = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("contacts", "meetings"): 199,
    ("meetings", "contacts"): 200,
    ("companies", "meetings"): 187,
    ("meetings", "companies"): 188,
}

# Archived (deleted) records can be restored for 90 days, then they are gone: the 2026-09
# contacts spec on DELETE and batch/archive ("Archived contacts can be restored within 90 days
# of deletion"); knowledge base "Understand restorable and permanent contact deletions".
RESTORE_DAYS = 90
# Lifecycle stages in funnel order: a merge keeps the one furthest down (knowledge base
# "Merge records").
LIFECYCLE_ORDER = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
