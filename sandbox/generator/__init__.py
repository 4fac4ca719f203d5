"""Deterministic synthetic B2B data for the HubSpot and Salesforce sandboxes.

    from datetime import UTC, datetime
    from sandbox.generator import generate

    data = generate(contacts=500, seed=7, now=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC))
    for name, records in data.hubspot_items():      # re-iterable streams, one per kind
        ...
    for name, record in data.hubspot_records():     # one pass over everything (large sets)
        ...
    for obj, record in data.salesforce_records():   # "User" | "Account" | "Contact" | ...
        ...
    body = hubspot_seed(data)                       # dict of lists, for POST /_sandbox/seed

Records are in each API's own read shape (see `hubspot.py` and `salesforce.py` for the shapes
and where they were checked). Same `seed` and `now`, same bytes; contact `i` does not depend on
how many contacts are generated (`data.window(start, stop)` streams a range on its own).
Ground truth for tests: `data.expected_counts()`, `data.ground_truth()`.
"""

from .plan import (
    MQL_POINTS_THRESHOLD,
    POINTS_CONSULTATION,
    POINTS_FIT_DIRECTOR,
    POINTS_FIT_LARGE_COMPANY,
    POINTS_FIT_MANUFACTURING,
    POINTS_PAGE_VIEW,
    POINTS_WEBINAR_ATTENDED,
    POINTS_WHITEPAPER,
)
from .seed import (
    HUBSPOT_KINDS,
    SALESFORCE_OBJECTS,
    ContactTruth,
    SeedData,
    Stream,
    generate,
    hubspot_seed,
    salesforce_seed,
    split_by_kind,
)

__all__ = [
    "HUBSPOT_KINDS",
    "MQL_POINTS_THRESHOLD",
    "POINTS_CONSULTATION",
    "POINTS_FIT_DIRECTOR",
    "POINTS_FIT_LARGE_COMPANY",
    "POINTS_FIT_MANUFACTURING",
    "POINTS_PAGE_VIEW",
    "POINTS_WEBINAR_ATTENDED",
    "POINTS_WHITEPAPER",
    "SALESFORCE_OBJECTS",
    "ContactTruth",
    "SeedData",
    "Stream",
    "generate",
    "hubspot_seed",
    "salesforce_seed",
    "split_by_kind",
]
