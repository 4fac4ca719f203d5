"""Field references, the names rules may use, and defensive value parsing.

HubSpot property values are strings or None; activity attributes may also be numbers or
booleans. Nothing here raises on odd input: a value that cannot be read as a number is
"missing" for numeric tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from core.models import AttributeValue, Company, Contact

# HubSpot internal property names the rules may name without declaring them. Others go in
# `custom_fields` in scoring.toml, so that a misspelt name is an error, not a silent miss.
CONTACT_FIELDS: frozenset[str] = frozenset(
    {
        "email", "email_domain", "firstname", "lastname", "jobtitle", "company",
        "lifecyclestage", "hs_lead_status", "phone", "mobilephone", "country", "state",
        "city", "website", "industry", "hs_persona", "hs_language", "salutation",
        "numemployees", "annualrevenue", "hs_analytics_source", "createdate",
    }
)
COMPANY_FIELDS: frozenset[str] = frozenset(
    {
        "name", "domain", "industry", "numberofemployees", "annualrevenue", "country",
        "state", "city", "type", "website", "lifecyclestage", "description", "phone",
        "hs_lead_status", "createdate",
    }
)

# Activity attributes a behaviour rule's `where` may test (see core.models.ActivityKind).
ACTIVITY_ATTRIBUTES: tuple[str, ...] = (
    "url", "form_id", "form_name", "email_campaign_id", "attendance_percentage",
    "duration_seconds", "meeting_type", "outcome", "bounce_type",
)

FieldGetter = Callable[[Contact, Company | None], str | None]


def field_getter(ref: str) -> FieldGetter:
    """A reader for `contact.<name>` or `company.<name>` (the ref is already validated)."""
    owner, _, name = ref.partition(".")
    if owner == "contact":
        if name == "email_domain":
            return _email_domain
        if name == "email":
            return _contact_email
        return lambda contact, _company: contact.properties.get(name)
    return lambda _contact, company: None if company is None else company.properties.get(name)


def _contact_email(contact: Contact, _company: Company | None) -> str | None:
    return contact.email or contact.properties.get("email")


def _email_domain(contact: Contact, company: Company | None) -> str | None:
    email = _contact_email(contact, company)
    if not email or "@" not in email:
        return None
    domain = email.rpartition("@")[2].strip().lower()
    return domain or None


def as_text(value: AttributeValue) -> str | None:
    """The text form used by string tests; None when missing."""
    if type(value) is str:
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e300 else repr(value)
    try:
        return str(value)
    except ValueError:  # an int too long to print (Python's digit limit)
        return None


def as_number(value: AttributeValue) -> float | None:
    """A finite number, or None. "1,200" reads as 1200; "n/a", "", True read as None."""
    if value is None or isinstance(value, bool):
        return None
    if type(value) is not str:
        try:
            number = float(value)
        except OverflowError:
            return None
    else:
        text = value.strip().replace(",", "")
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            return None
    return number if math.isfinite(number) else None
