"""Render plans as Salesforce records: REST field maps (no `attributes`, no query envelope).

Pure functions. Ids are 18-character ids with the real key prefixes (User 005, Account 001,
Contact 003, Lead 00Q, Opportunity 006) and a correct case-safe checksum. Datetimes use the
REST format `2026-03-04T05:06:07.000+0000`, dates `2026-03-04`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import vocab as V
from .ids import (
    ACCOUNT_PREFIX,
    CONTACT_PREFIX,
    DAY,
    LEAD_PREFIX,
    OPPORTUNITY_PREFIX,
    USER_PREFIX,
    sf_date,
    sf_datetime,
    sf_id,
)
from .plan import CompanyPlan, Identity, SalesforceRecordPlan

Record = dict[str, Any]

TITLE_MAX = 128  # Contact.Title / Lead.Title length in Salesforce
SELLER_DOMAIN = "example-corp.jp"


def user_id(n: int) -> str:
    return sf_id(USER_PREFIX, n)


def account_id(c: int) -> str:
    return sf_id(ACCOUNT_PREFIX, c)


def contact_id(n: int) -> str:
    return sf_id(CONTACT_PREFIX, n)


def lead_id(n: int) -> str:
    return sf_id(LEAD_PREFIX, n)


def user_records(now_ms: int) -> Iterator[Record]:
    for n, (first, last, alias, title) in enumerate(V.SF_USERS):
        email = f"{alias}@{SELLER_DOMAIN}"
        created = now_ms - (1000 - n * 40) * DAY
        yield {
            "Id": user_id(n),
            "Username": f"{email}.sandbox",
            "FirstName": first,
            "LastName": last,
            "Name": f"{last} {first}" if not first.isascii() else f"{first} {last}",
            "Email": email,
            "Alias": alias[:8],
            "IsActive": True,
            "Title": title,
            "CreatedDate": sf_datetime(created),
            "LastModifiedDate": sf_datetime(created + 30 * DAY),
        }


def account_record(c: CompanyPlan) -> Record:
    return {
        "Id": account_id(c.index),
        "Name": c.name_ja if c.country == "Japan" else c.name_en,
        "Website": f"https://www.{c.domain}",
        "Industry": V.SF_INDUSTRY[c.industry],
        "NumberOfEmployees": c.employees,
        "AnnualRevenue": float(c.revenue),
        "BillingCountry": c.country,
        "BillingCity": c.city,
        "Phone": c.phone,
        "Type": c.sf_type,
        "OwnerId": user_id(c.sf_owner),
        "CreatedDate": sf_datetime(c.sf_created_ms),
        "LastModifiedDate": sf_datetime(c.sf_modified_ms),
    }


def opportunity_records(c: CompanyPlan) -> Iterator[Record]:
    for o in c.opportunities:
        yield {
            "Id": sf_id(OPPORTUNITY_PREFIX, o.number),
            "Name": o.name,
            "AccountId": account_id(c.index),
            "StageName": o.stage,
            "Probability": float(o.probability),
            "Amount": float(o.amount),
            "CloseDate": sf_date(o.close_ms),
            "IsClosed": o.stage.startswith("Closed"),
            "IsWon": o.stage == "Closed Won",
            "OwnerId": user_id(o.owner),
            "CreatedDate": sf_datetime(o.created_ms),
            "LastModifiedDate": sf_datetime(o.modified_ms),
        }


def role_mailbox_contact(c: CompanyPlan) -> Record | None:
    """A Salesforce-only Contact (e.g. info@) that no HubSpot contact matches."""
    if c.role_mailbox is None:
        return None
    local, label = V.SF_ROLE_MAILBOXES[c.role_mailbox]
    return {
        "Id": contact_id(4 * c.index + 2),
        "FirstName": None,
        "LastName": label,
        "Email": f"{local}@{c.domain}",
        "AccountId": account_id(c.index),
        "OwnerId": user_id(c.sf_owner),
        "Title": None,
        "Phone": c.phone,
        "LeadSource": "Other",
        "CreatedDate": sf_datetime(c.sf_created_ms),
        "LastModifiedDate": sf_datetime(c.sf_modified_ms),
    }


def converted_opportunity_id(company: CompanyPlan | None, number: int) -> str | None:
    """The opportunity a converted Lead was converted into: one of its Account's
    opportunities (chosen by the Lead's number, no random draw), None when it has none."""
    if company is None or not company.opportunities:
        return None
    chosen = company.opportunities[number % len(company.opportunities)]
    return sf_id(OPPORTUNITY_PREFIX, chosen.number)


def person_records(
    ident: Identity, plans: list[SalesforceRecordPlan], company: CompanyPlan | None = None
) -> Iterator[tuple[str, Record]]:
    """(object name, record) for each Salesforce Contact/Lead of one HubSpot contact.
    `company` (the contact's company) gives converted Leads their ConvertedOpportunityId."""
    title = ident.jobtitle[:TITLE_MAX] if ident.jobtitle else None
    for r in plans:
        common = {
            "FirstName": ident.firstname,
            "LastName": ident.lastname,
            "Email": r.email,
        }
        if r.sobject == "Contact":
            yield (
                "Contact",
                {
                    "Id": contact_id(r.number),
                    **common,
                    "AccountId": account_id(r.account) if r.account is not None else None,
                    "OwnerId": user_id(r.owner),
                    "Title": title,
                    "Phone": ident.phone,
                    "LeadSource": r.lead_source,
                    "CreatedDate": sf_datetime(r.created_ms),
                    "LastModifiedDate": sf_datetime(r.modified_ms),
                },
            )
        else:
            converted = r.converted_contact is not None
            yield (
                "Lead",
                {
                    "Id": lead_id(r.number),
                    **common,
                    "Company": ident.company_prop or "[not provided]",
                    "Title": title,
                    "Phone": ident.phone,
                    "Status": r.status,
                    "LeadSource": r.lead_source,
                    "OwnerId": user_id(r.owner),
                    "IsConverted": converted,
                    "ConvertedContactId": contact_id(r.converted_contact) if converted else None,
                    "ConvertedAccountId": (
                        account_id(r.converted_account) if r.converted_account is not None else None
                    ),
                    "ConvertedDate": sf_date(r.converted_ms)
                    if r.converted_ms is not None
                    else None,
                    "ConvertedOpportunityId": converted_opportunity_id(company, r.number)
                    if converted
                    else None,
                    "CreatedDate": sf_datetime(r.created_ms),
                    "LastModifiedDate": sf_datetime(r.modified_ms),
                },
            )
