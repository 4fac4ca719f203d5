"""Property definitions: realistic standard properties for contacts, companies and meetings.

`GET /crm/v3/properties/{objectType}` returns these; the search engine reads each property's
`type` to compare values (string, number, date, datetime, enumeration, bool).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_CREATED_AT = "2019-08-06T02:43:14.491Z"


def _options(values: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"label": label, "value": value, "displayOrder": order, "hidden": False}
        for order, (value, label) in enumerate(values)
    ]


LIFECYCLE_STAGES = _options(
    [
        ("subscriber", "Subscriber"),
        ("lead", "Lead"),
        ("marketingqualifiedlead", "Marketing Qualified Lead"),
        ("salesqualifiedlead", "Sales Qualified Lead"),
        ("opportunity", "Opportunity"),
        ("customer", "Customer"),
        ("evangelist", "Evangelist"),
        ("other", "Other"),
    ]
)
LEAD_STATUSES = _options(
    [
        ("NEW", "New"),
        ("OPEN", "Open"),
        ("IN_PROGRESS", "In Progress"),
        ("OPEN_DEAL", "Open Deal"),
        ("UNQUALIFIED", "Unqualified"),
        ("ATTEMPTED_TO_CONTACT", "Attempted to Contact"),
        ("CONNECTED", "Connected"),
        ("BAD_TIMING", "Bad Timing"),
    ]
)
INDUSTRIES = _options(
    [
        ("ACCOUNTING", "Accounting"),
        ("COMPUTER_SOFTWARE", "Computer Software"),
        ("INFORMATION_TECHNOLOGY_AND_SERVICES", "Information Technology and Services"),
        ("FINANCIAL_SERVICES", "Financial Services"),
        ("HOSPITAL_HEALTH_CARE", "Hospital & Health Care"),
        ("MARKETING_AND_ADVERTISING", "Marketing and Advertising"),
        ("MANUFACTURING", "Manufacturing"),
        ("RETAIL", "Retail"),
        ("EDUCATION_MANAGEMENT", "Education Management"),
        ("TELECOMMUNICATIONS", "Telecommunications"),
        ("CONSTRUCTION", "Construction"),
        ("REAL_ESTATE", "Real Estate"),
        ("LOGISTICS_AND_SUPPLY_CHAIN", "Logistics and Supply Chain"),
        ("AUTOMOTIVE", "Automotive"),
        ("INTERNET", "Internet"),
    ]
)
MEETING_OUTCOMES = _options(
    [
        ("SCHEDULED", "Scheduled"),
        ("COMPLETED", "Completed"),
        ("RESCHEDULED", "Rescheduled"),
        ("NO_SHOW", "No Show"),
        ("CANCELED", "Canceled"),
    ]
)

_FIELD_TYPES = {
    "string": "text",
    "number": "number",
    "date": "date",
    "datetime": "date",
    "enumeration": "select",
    "bool": "booleancheckbox",
}


def _prop(
    name: str,
    label: str,
    type_: str = "string",
    group: str = "contactinformation",
    *,
    field_type: str | None = None,
    options: list[dict[str, Any]] | None = None,
    read_only: bool = False,
    unique: bool = False,
) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type or _FIELD_TYPES[type_],
        "description": "",
        "groupName": group,
        "options": options or [],
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": unique,
        "hidden": False,
        "hubspotDefined": True,
        "modificationMetadata": {
            "archivable": False,
            "readOnlyDefinition": True,
            "readOnlyValue": read_only,
        },
        "formField": not read_only,
        "createdAt": _CREATED_AT,
        "updatedAt": _CREATED_AT,
        "archived": False,
    }


def _standard_contacts() -> list[dict[str, Any]]:
    g = "contactinformation"
    return [
        _prop("email", "Email", group=g, unique=False),
        _prop("firstname", "First Name", group=g),
        _prop("lastname", "Last Name", group=g),
        _prop("jobtitle", "Job Title", group=g),
        _prop("company", "Company Name", group=g),
        _prop("phone", "Phone Number", group=g, field_type="phonenumber"),
        _prop("website", "Website URL", group=g),
        _prop("city", "City", group=g),
        _prop("state", "State/Region", group=g),
        _prop("country", "Country/Region", group=g),
        _prop("industry", "Industry", group=g),
        _prop("numemployees", "Number of Employees", group=g),
        _prop(
            "lifecyclestage",
            "Lifecycle Stage",
            "enumeration",
            g,
            field_type="radio",
            options=LIFECYCLE_STAGES,
        ),
        _prop(
            "hs_lead_status",
            "Lead Status",
            "enumeration",
            "sales_properties",
            field_type="radio",
            options=LEAD_STATUSES,
        ),
        _prop("hubspot_owner_id", "Contact owner", "enumeration", "sales_properties"),
        _prop("hubspotscore", "HubSpot Score", "number", g, read_only=True),
        _prop(
            "hs_analytics_source",
            "Original Source",
            "enumeration",
            "analyticsinformation",
            read_only=True,
            options=_options(
                [
                    ("ORGANIC_SEARCH", "Organic Search"),
                    ("PAID_SEARCH", "Paid Search"),
                    ("EMAIL_MARKETING", "Email Marketing"),
                    ("SOCIAL_MEDIA", "Organic Social"),
                    ("REFERRALS", "Referrals"),
                    ("OTHER_CAMPAIGNS", "Other Campaigns"),
                    ("DIRECT_TRAFFIC", "Direct Traffic"),
                    ("OFFLINE", "Offline Sources"),
                    ("PAID_SOCIAL", "Paid Social"),
                ]
            ),
        ),
        # Web analytics, on every tier ("HubSpot's default contact properties").
        _prop(
            "hs_analytics_num_visits",
            "Number of Sessions",
            "number",
            "analyticsinformation",
            read_only=True,
        ),
        _prop(
            "hs_analytics_num_page_views",
            "Number of Pageviews",
            "number",
            "analyticsinformation",
            read_only=True,
        ),
        _prop(
            "hs_analytics_last_visit_timestamp",
            "Time of Last Session",
            "datetime",
            "analyticsinformation",
            read_only=True,
        ),
        _prop("hs_analytics_last_url", "Last Page Seen", "string", "analyticsinformation",
              read_only=True),
        _prop(
            "hs_email_optout",
            "Unsubscribed from all email",
            "bool",
            "emailinformation",
            read_only=True,
        ),
        _prop(
            "num_associated_deals",
            "Number of Associated Deals",
            "number",
            "deal_information",
            read_only=True,
        ),
        _prop("associatedcompanyid", "Primary Associated Company ID", "number", g, read_only=True),
        _prop("createdate", "Create Date", "datetime", g, read_only=True),
        _prop("lastmodifieddate", "Last Modified Date", "datetime", g, read_only=True),
        _prop(
            "hs_lastmodifieddate", "Object last modified date/time", "datetime", g, read_only=True
        ),
        _prop("hs_object_id", "Record ID", "number", g, read_only=True),
    ]


def _standard_companies() -> list[dict[str, Any]]:
    g = "companyinformation"
    return [
        _prop("name", "Company name", group=g),
        _prop("domain", "Company Domain Name", group=g),
        _prop("website", "Website URL", group=g),
        _prop("industry", "Industry", "enumeration", g, options=INDUSTRIES),
        _prop("numberofemployees", "Number of Employees", "number", g),
        _prop("annualrevenue", "Annual Revenue", "number", g),
        _prop("country", "Country/Region", group=g),
        _prop("city", "City", group=g),
        _prop("state", "State/Region", group=g),
        _prop("phone", "Phone Number", group=g, field_type="phonenumber"),
        _prop(
            "lifecyclestage",
            "Lifecycle Stage",
            "enumeration",
            g,
            field_type="radio",
            options=LIFECYCLE_STAGES,
        ),
        _prop("hubspot_owner_id", "Company owner", "enumeration", g),
        _prop(
            "num_associated_contacts", "Number of Associated Contacts", "number", g, read_only=True
        ),
        _prop("createdate", "Create Date", "datetime", g, read_only=True),
        _prop("hs_lastmodifieddate", "Last Modified Date", "datetime", g, read_only=True),
        _prop("hs_object_id", "Record ID", "number", g, read_only=True),
    ]


def _standard_meetings() -> list[dict[str, Any]]:
    g = "meeting"
    return [
        _prop("hs_meeting_title", "Meeting name", group=g),
        _prop("hs_meeting_body", "Meeting description", group=g, field_type="textarea"),
        _prop("hs_internal_meeting_notes", "Internal notes", group=g, field_type="textarea"),
        _prop("hs_meeting_location", "Location", group=g),
        _prop("hs_meeting_outcome", "Outcome", "enumeration", g, options=MEETING_OUTCOMES),
        _prop("hs_meeting_start_time", "Start Time", "datetime", g),
        _prop("hs_meeting_end_time", "End Time", "datetime", g),
        _prop("hs_timestamp", "Activity date", "datetime", g),
        _prop("hubspot_owner_id", "Activity assigned to", "enumeration", g),
        _prop("hs_createdate", "Create date", "datetime", g, read_only=True),
        _prop("hs_lastmodifieddate", "Last modified date", "datetime", g, read_only=True),
        _prop("hs_object_id", "Record ID", "number", g, read_only=True),
    ]


STANDARD_PROPERTIES = {
    "contacts": _standard_contacts,
    "companies": _standard_companies,
    "meetings": _standard_meetings,
}

VALID_TYPES = ("string", "number", "date", "datetime", "enumeration", "bool")
VALID_FIELD_TYPES = (
    "textarea",
    "text",
    "date",
    "file",
    "number",
    "select",
    "radio",
    "checkbox",
    "booleancheckbox",
    "calculation_equation",
    "phonenumber",
    "html",
)


# Which fieldType each type takes (HubSpot's property guide: a mismatch is a 400).
FIELD_TYPES_BY_TYPE: dict[str, frozenset[str]] = {
    "string": frozenset({"text", "textarea", "phonenumber", "html", "file"}),
    "number": frozenset({"number", "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "enumeration": frozenset({"select", "radio", "checkbox", "booleancheckbox"}),
    "bool": frozenset({"booleancheckbox"}),
}
_GROUP_LABELS = {
    "contactinformation": "Contact information",
    "companyinformation": "Company information",
    "sales_properties": "Sales properties",
    "analyticsinformation": "Web analytics history",
    "emailinformation": "Email information",
    "deal_information": "Deal information",
    "meeting": "Meeting information",
    "custom": "Custom properties",
}


def group_definition(name: str, label: str, display_order: int = -1) -> dict[str, Any]:
    """A property group as `GET /crm/v3/properties/{objectType}/groups` lists it."""
    return {"name": name, "label": label, "displayOrder": display_order, "archived": False}


class PropertyRegistry:
    """The property definitions (and property groups) of one object type, by name."""

    def __init__(self, object_type: str) -> None:
        self.object_type = object_type
        self._by_name: dict[str, dict[str, Any]] = {}
        for definition in STANDARD_PROPERTIES[object_type]():
            self._by_name[definition["name"]] = definition
        self.types: dict[str, str] = {n: d["type"] for n, d in self._by_name.items()}
        self.groups: dict[str, dict[str, Any]] = {}
        for definition in self._by_name.values():
            name = definition["groupName"]
            self.groups.setdefault(name, group_definition(name, _GROUP_LABELS.get(name, name)))

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> dict[str, Any] | None:
        return self._by_name.get(name)

    def all(self) -> list[dict[str, Any]]:
        return list(self._by_name.values())

    def add(self, definition: dict[str, Any]) -> None:
        self._by_name[definition["name"]] = definition
        self.types[definition["name"]] = definition["type"]

    def ensure(self, name: str) -> None:
        """Register a property seen on seeded data that is not standard (as a text property)."""
        if name not in self._by_name:
            definition = _prop(name, name, group="custom")
            definition["hubspotDefined"] = False
            self.add(definition)
            self.groups.setdefault("custom", group_definition("custom", _GROUP_LABELS["custom"]))

    def type_of(self, name: str) -> str:
        return self.types.get(name, "string")

    def is_read_only(self, name: str) -> bool:
        definition = self._by_name.get(name)
        return bool(definition and definition["modificationMetadata"]["readOnlyValue"])

    def allowed_options(self, name: str) -> list[str] | None:
        """Option values of an enumeration property with options (None when unrestricted)."""
        definition = self._by_name.get(name)
        if not definition or definition["type"] != "enumeration" or not definition["options"]:
            return None
        return [o["value"] for o in definition["options"]]
