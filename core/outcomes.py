"""What happened to a lead after hand-off, as plain data: the Salesforce records the
outcome pull reads (`SalesforceRecord`, `OpportunityRecord`, `ContactRole`) and one lead's
outcome assembled from them (`LeadOutcome`). No I/O here; `connectors.salesforce.outcomes`
builds the records from query rows and `sync.state` stores them and assembles outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class SalesforceRecord:
    """A Lead or Contact as the outcome pull reads it. Contacts have no status/conversion."""

    sobject: str  # "Lead" | "Contact"
    record_id: str
    email: str | None  # normalised (core.identity.canonical_email); None when unusable
    status: str | None = None  # Lead.Status
    is_converted: bool = False
    converted_at: date | None = None  # Lead.ConvertedDate
    converted_contact_id: str | None = None
    converted_opportunity_id: str | None = None
    mql_status: str | None = None  # MQL_Status__c as Salesforce shows it now
    mql_date: datetime | None = None  # MQL_Date__c
    stage: str | None = None  # Lead_Stage__c
    hubspot_id: str | None = None  # HubSpot_Contact_Id__c
    created_at: datetime | None = None
    modstamp: datetime | None = None  # SystemModstamp
    # Why sales rejected the Lead: the reason field named in funnel.toml [rejection]
    rejection_reason: str | None = None

    def outcome_fields(self) -> tuple[object, ...]:
        """What moves a lead's stage: a change here marks the lead for re-planning (the MQL
        fields the connector writes itself are left out, or every write would re-mark it)."""
        return (
            self.status,
            self.is_converted,
            self.converted_contact_id,
            self.converted_opportunity_id,
        )


@dataclass(frozen=True, slots=True)
class OpportunityRecord:
    opportunity_id: str
    stage: str | None
    is_closed: bool
    is_won: bool
    amount: Decimal | None
    close_date: date | None
    created_at: datetime | None
    account_id: str | None = None
    modstamp: datetime | None = None

    def outcome_fields(self) -> tuple[object, ...]:
        return (self.stage, self.is_closed, self.is_won, self.amount, self.close_date)


@dataclass(frozen=True, slots=True)
class ContactRole:
    """OpportunityContactRole: a Contact on an Opportunity (the documented link for
    opportunities that did not come from a Lead conversion)."""

    role_id: str
    opportunity_id: str
    contact_id: str
    is_primary: bool = False
    modstamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class LeadOutcome:
    """One lead's sales outcome, from all the person's Salesforce records: the one the
    connector writes to (or, when none is linked, the preferred one with its email: a
    Contact, an open Lead, a converted Lead) gives `sobject`, `record_id`, `status` and the
    MQL fields; conversions, Lead statuses and opportunities come from every record with the
    lead's email and the Contacts they are or became.

    `opportunity_*` describe the one opportunity that decides the stage: a won one, else the
    newest open one, else the newest closed one (None when the lead has none).
    `mql_status` / `mql_date` are what Salesforce shows on that record (for the agreement
    check), not what the connector decided.
    """

    lead_key: str
    sobject: str
    record_id: str
    email: str | None
    status: str | None
    is_converted: bool
    converted_at: date | None
    converted_contact_id: str | None
    # Status of each of the person's Leads that is not converted (duplicates included).
    lead_statuses: tuple[str, ...] = ()
    opportunity_id: str | None = None
    opportunity_stage: str | None = None
    opportunity_is_closed: bool = False
    opportunity_is_won: bool = False
    opportunity_amount: Decimal | None = None
    opportunity_close_date: date | None = None
    opportunity_created_at: datetime | None = None
    opportunities: int = 0  # how many opportunities the lead is linked to
    mql_status: str | None = None
    mql_date: datetime | None = None
    stage: str | None = None  # Lead_Stage__c as Salesforce shows it
    modstamp: datetime | None = None  # SystemModstamp of the record as last pulled


def pick_opportunity(opportunities: list[OpportunityRecord]) -> OpportunityRecord | None:
    """The opportunity that decides a lead's stage: won first, then the newest open one,
    then the newest closed one; ties by id so the answer never depends on order."""
    if not opportunities:
        return None

    epoch = datetime.min.replace(tzinfo=UTC)
    newest_first = sorted(
        opportunities, key=lambda o: (o.created_at or epoch, o.opportunity_id), reverse=True
    )
    # min() keeps the first of equals: the newest of the best kind
    return min(newest_first, key=lambda o: 0 if o.is_won else (1 if not o.is_closed else 2))
