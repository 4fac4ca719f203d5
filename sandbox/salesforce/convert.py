"""What sales reps do to records after hand-off, for tests and demos: convert a Lead, move
an opportunity's stage, edit a field by hand.

Lead conversion is not a REST resource in Salesforce (it is the SOAP `convertLead()` call,
Apex `Database.convertLead`, or the UI); this module does what it does, from the Salesforce
docs: a new Account (unless one is given) and Contact from the Lead's fields, an Opportunity
unless `opportunity_stage` is None, the Contact as the opportunity's primary contact role,
and on the Lead `IsConverted`, `ConvertedDate`, `ConvertedAccountId`, `ConvertedContactId`,
`ConvertedOpportunityId` and the converted status. Custom fields that exist on both objects
are copied to the Contact, as an org's lead field mapping does. Every record it touches gets
a new `SystemModstamp`. Nothing here is an API call (the sandbox's counters do not move).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.salesforce.dml import WriteOptions
from sandbox.salesforce.server import SalesforceSandbox
from sandbox.salesforce.values import from_epoch

CONVERTED_STATUS = "Closed - Converted"


@dataclass(frozen=True)
class Conversion:
    lead_id: str
    account_id: str
    contact_id: str
    opportunity_id: str | None


def convert_lead(
    sandbox: SalesforceSandbox,
    lead_id: str,
    *,
    opportunity_stage: str | None = "Prospecting",
    amount: float | None = 1_000_000.0,
    close_date: str = "2027-03-31",
    account_id: str | None = None,
    status: str = CONVERTED_STATUS,
) -> Conversion:
    """Convert `lead_id` as a sales rep would; returns the ids of what it created."""
    schema, dml = sandbox.schema, sandbox.dml
    opts = WriteOptions(user_id=sandbox.default_user_id)
    with sandbox.store.lock:
        lead = sandbox.store.get("Lead", lead_id)
        if lead is None or lead.get("IsDeleted"):
            raise KeyError(f"no Lead {lead_id}")
        if lead.get("IsConverted"):
            raise ValueError(f"Lead {lead_id} is already converted")
        if account_id is None:
            account_id = dml.create(
                schema.objects["Account"], {"Name": lead.get("Company") or "Unknown"}, opts
            )
        contact_fields = schema.objects["Contact"].fields
        copied = {
            name: lead.get(name)
            for name in ("FirstName", "LastName", "Email", "Title", "Phone", "LeadSource")
        }
        copied |= {
            name: value
            for name, value in lead.items()
            if name.endswith("__c") and name in contact_fields and value is not None
        }
        contact_id = dml.create(
            schema.objects["Contact"],
            {**{k: v for k, v in copied.items() if v is not None}, "AccountId": account_id},
            opts,
        )
        opportunity_id = None
        if opportunity_stage is not None:
            values: dict[str, Any] = {
                "Name": f"{lead.get('Company') or 'Unknown'} -",
                "AccountId": account_id,
                "StageName": opportunity_stage,
                "CloseDate": close_date,
            }
            if amount is not None:
                values["Amount"] = amount
            opportunity_id = dml.create(schema.objects["Opportunity"], values, opts)
            dml.create(
                schema.objects["OpportunityContactRole"],
                {"OpportunityId": opportunity_id, "ContactId": contact_id, "IsPrimary": True},
                opts,
            )
        now = from_epoch(sandbox.clock())
        converted = dict(lead)
        converted.update(
            {
                "IsConverted": True,
                "Status": status,
                "ConvertedDate": now[:10],
                "ConvertedAccountId": account_id,
                "ConvertedContactId": contact_id,
                "ConvertedOpportunityId": opportunity_id,
                "LastModifiedDate": now,
                "SystemModstamp": now,
                "LastModifiedById": opts.user_id,
            }
        )
        sandbox.store.put("Lead", converted)
    return Conversion(lead_id, account_id, contact_id, opportunity_id)


def edit(sandbox: SalesforceSandbox, sobject: str, record_id: str, **values: Any) -> None:
    """A user's edit in the UI: validated like an API update, SystemModstamp moves (e.g.
    an opportunity's `StageName`, or a user overwriting `MQL_Status__c`)."""
    with sandbox.store.lock:
        sandbox.dml.update(
            sandbox.schema.objects[sobject],
            record_id,
            dict(values),
            WriteOptions(user_id=sandbox.default_user_id),
        )
