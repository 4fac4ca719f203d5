"""Visits derived from a contact's analytics properties, for tiers without the events API.

Pure: contacts in, activities out; no I/O, no clock.

Every HubSpot tier keeps these contact properties up to date (HubSpot's "default contact
properties" article; all products and plans):
- `hs_analytics_num_visits` ("Number of Sessions"),
- `hs_analytics_num_page_views` ("Number of Pageviews"),
- `hs_analytics_last_visit_timestamp` ("Time of Last Session"),
- `hs_analytics_last_url` ("Last Page Seen").
A session ends after 30 minutes without activity (HubSpot knowledge base, "Analyzing
sessions, visitors, and page views"), so a visit here is a session, not a calendar day.

The increase of `hs_analytics_num_visits` since the stored copy of the contact becomes that
many `page_view` activities (the kind the scoring rules read), dated at the last session's
time. Each is keyed by its ordinal (`visit:{contact id}:{n}`), so a contact read again with
the same count adds nothing, and storing is idempotent whatever copy was stored.

What is lost against the events API: the URL of every visit but the latest (the latest gets
`hs_analytics_last_url`, the others none), the exact time of every visit but the latest (all
are dated at the latest), and page views within a visit (one activity per session). The first
time a contact is seen, all its past sessions arrive at once, dated at the last one. A count
that goes down (a merge, a HubSpot recount) adds nothing until it passes the stored count.
"""

from __future__ import annotations

from connectors.hubspot.normalize import parse_timestamp
from core.models import Activity, ActivityKind, Contact

NUM_VISITS = "hs_analytics_num_visits"
NUM_PAGE_VIEWS = "hs_analytics_num_page_views"
LAST_VISIT = "hs_analytics_last_visit_timestamp"
LAST_URL = "hs_analytics_last_url"
ANALYTICS_PROPERTIES = (NUM_VISITS, NUM_PAGE_VIEWS, LAST_VISIT, LAST_URL)


def visit_count(contact: Contact | None) -> int:
    """`hs_analytics_num_visits` as a whole number (0 when missing or unreadable)."""
    if contact is None:
        return 0
    raw = (contact.properties.get(NUM_VISITS) or "").strip()
    try:
        value = float(raw)
    except ValueError:
        return 0
    return int(value) if value == value and 0 < value < 1e12 else 0


def derived_visits(before: Contact | None, after: Contact) -> list[Activity]:
    """The visits `after` has that `before` (the stored copy, or None) had not counted."""
    old, new = visit_count(before), visit_count(after)
    if new <= old:
        return []
    last = parse_timestamp(after.properties.get(LAST_VISIT))
    if last is None:
        return []  # cannot be dated; counted again once HubSpot fills the time in
    url = after.properties.get(LAST_URL) or None
    return [
        Activity(
            source_id=f"visit:{after.hubspot_id}:{n}",
            kind=ActivityKind.PAGE_VIEW,
            occurred_at=last,
            contact_id=after.hubspot_id,
            email=after.email,
            attributes={"derived": "analytics", "visit": n}
            | ({"url": url} if url and n == new else {}),
        )
        for n in range(old + 1, new + 1)
    ]
