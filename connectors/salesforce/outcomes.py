"""Read what happened to leads after hand-off: changed Leads, Contacts, Opportunities and
OpportunityContactRoles, incrementally by `SystemModstamp`.

One SOQL query per object and run (`SELECT <few fields> FROM <Object> WHERE SystemModstamp >
<since>`), plus one `queryMore` call per further 2,000 changed records, all through
`SalesforceClient.query` (budget guard, call counting, retries). `SystemModstamp` is the
field Salesforce changes on every write, by users, automation or the system, and it is
indexed, so the filter stays cheap on large orgs.

How a lead's opportunity is found (Salesforce Object Reference, checked 2026-11):
- `Lead.ConvertedOpportunityId`: the opportunity created (or chosen) when the Lead was
  converted; with `Lead.ConvertedContactId` the Contact it became.
- `OpportunityContactRole` (`OpportunityId`, `ContactId`, `IsPrimary`): the documented link
  between a Contact and an Opportunity, also for opportunities not created by a conversion.
- `Opportunity.ContactId` is not used: it could not be confirmed in the reference available
  here, and contact roles carry the same link on every API version.

First touches (the hand-off SLA, `core.handoff`): one more query a run, on Task, since its
own cursor: `SELECT Id, WhoId, OwnerId, Status, IsClosed, TaskSubtype, CompletedDateTime,
CreatedDate, SystemModstamp FROM Task WHERE SystemModstamp > <since> AND WhoId != null AND
Connector_Key__c = null AND (IsClosed = true OR TaskSubtype = 'Call')` — completed Tasks and
logged calls on a Lead/Contact, without the connector's own follow-up Tasks (those carry
`Connector_Key__c`). Task fields (Object Reference, Task, v60.0,
developer.salesforce.com/docs/atlas.en-us.260.0.object_reference/sforce_api_objects_task.htm):
`WhoId` is the Lead or Contact (polymorphic), `IsClosed` (read-only) is true once the
status is a closed one, `TaskSubtype` (set on create) is `Call` for a logged call,
`CompletedDateTime` (read-only) is when the Task was saved closed. The touch time is
`CompletedDateTime`, else (a call logged open) `CreatedDate`, else `SystemModstamp`. SOQL
mixes AND and OR only with parentheses, hence the parentheses.

Rows become plain records (`core.outcomes`); a row that cannot be read (no Id, a date that
is not a date) is skipped and reported in `problems`, the rest goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from core.identity import canonical_email
from core.outcomes import ContactRole, OpportunityRecord, SalesforceRecord

from .client import check_name
from .constants import TASK_EXTERNAL_ID_FIELD
from .identity import QueryClient
from .records import field_value

PAGE = 2_000  # records per query batch: what Salesforce returns per call
OUTCOME_OBJECTS = ("Lead", "Contact", "Opportunity", "OpportunityContactRole")
TOUCH_OBJECT = "Task"  # sales' touches of a lead's record (the hand-off SLA)


@dataclass(frozen=True, slots=True)
class OutcomeFields:
    """The connector's custom fields read back (names from `mappings/funnel.toml`)."""

    mql_status: str = "MQL_Status__c"
    mql_date: str = "MQL_Date__c"
    stage: str = "Lead_Stage__c"
    hubspot_id: str = "HubSpot_Contact_Id__c"
    # Lead field with why sales rejected it (funnel.toml [rejection] reason_field); read in
    # the same Lead query, no extra call. None: not read.
    rejection_reason: str | None = None

    def names(self) -> list[str]:
        return [check_name(n, "field name") for n in (self.mql_status, self.mql_date, self.stage)]


class DescribingClient(QueryClient, Protocol):
    """A query client that can also describe an object (`GET sobjects/{Object}/describe`)."""

    def describe(self, sobject: str) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class TaskTouch:
    """A completed Task or a logged call on a Lead/Contact (`WhoId`)."""

    task_id: str
    who_id: str
    owner_id: str | None
    kind: str  # "call" (TaskSubtype = 'Call') or "task"
    touched_at: datetime


@dataclass
class Problem:
    source: str
    record_id: str | None
    reason: str


@dataclass
class OutcomeReader:
    """Changed outcome records of one object at a time, in pages of plain records."""

    client: QueryClient
    fields: OutcomeFields = field(default_factory=OutcomeFields)
    # False: the Lead query leaves the rejection-reason field out (the org lacks it;
    # `sync.outcomes.OutcomeSync` decides from a describe of Lead before each pull).
    read_reason: bool = True
    problems: list[Problem] = field(default_factory=list)
    # Lead/Contact Id -> OwnerId of the records read (the hand-off SLA's owner); the caller
    # takes them after each page.
    owners: dict[str, str] = field(default_factory=dict)

    @property
    def reason_field(self) -> str | None:
        """The rejection-reason field the Lead query reads this time (None: none)."""
        return self.fields.rejection_reason if self.read_reason else None

    def lead_field_names(self) -> set[str]:
        """Lower-cased API names of the org's Lead fields: one describe call."""
        client = self.client
        if not hasattr(client, "describe"):
            raise TypeError("the outcome reader's client cannot describe objects")
        described: DescribingClient = client  # type: ignore[assignment]
        fields = described.describe("Lead").get("fields") or ()
        return {str(f.get("name", "")).lower() for f in fields}

    def select(self, sobject: str) -> list[str]:
        custom = self.fields.names()
        if sobject == "Lead":
            reason = self.reason_field
            return [
                "Id", "Email", "Status", "IsConverted", "ConvertedDate", "ConvertedContactId",
                "ConvertedOpportunityId", *custom, check_name(self.fields.hubspot_id),
                "OwnerId", "CreatedDate", "SystemModstamp",
            ] + ([check_name(reason)] if reason else [])  # fmt: skip
        if sobject == "Contact":
            return ["Id", "Email", *custom, "OwnerId", "CreatedDate", "SystemModstamp"]
        if sobject == "Opportunity":
            return [
                "Id", "StageName", "IsClosed", "IsWon", "Amount", "CloseDate", "CreatedDate",
                "AccountId", "SystemModstamp",
            ]  # fmt: skip
        if sobject == "OpportunityContactRole":
            return ["Id", "OpportunityId", "ContactId", "IsPrimary", "SystemModstamp"]
        if sobject == TOUCH_OBJECT:
            return [
                "Id", "WhoId", "OwnerId", "Status", "IsClosed", "TaskSubtype",
                "CompletedDateTime", "CreatedDate", "SystemModstamp",
            ]  # fmt: skip
        raise ValueError(f"not an outcome object: {sobject}")

    def soql(self, sobject: str, since: datetime | None) -> str:
        terms = [f"SystemModstamp > {soql_datetime(since)}"] if since is not None else []
        if sobject == TOUCH_OBJECT:
            terms += [
                "WhoId != null",
                f"{TASK_EXTERNAL_ID_FIELD} = null",
                "(IsClosed = true OR TaskSubtype = 'Call')",
            ]
        where = f" WHERE {' AND '.join(terms)}" if terms else ""
        return f"SELECT {', '.join(self.select(sobject))} FROM {sobject}{where}"

    def changed(self, sobject: str, since: datetime | None) -> Iterator[list[Any]]:
        """Pages of parsed records of `sobject` changed after `since` (all when None)."""
        parse = _PARSERS[sobject]
        fields = self.fields if self.read_reason else replace(self.fields, rejection_reason=None)
        page: list[Any] = []
        for row in self.client.query(self.soql(sobject, since)):
            try:
                record = parse(row, fields)
                page.append(record)
                owner = _text(field_value(row, "OwnerId"))
                if owner is not None and sobject in ("Lead", "Contact"):
                    self.owners[record.record_id] = owner
            except (ValueError, TypeError, InvalidOperation) as exc:
                self.problems.append(
                    Problem(f"salesforce {sobject}", _text(row.get("Id")), f"unreadable: {exc}")
                )
                continue
            if len(page) >= PAGE:
                yield page
                page = []
        if page:
            yield page


def soql_datetime(moment: datetime) -> str:
    """A SOQL date-time literal (unquoted, UTC): 2026-11-22T01:02:03Z."""
    if moment.tzinfo is None:
        raise ValueError("a SOQL date-time needs a timezone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------ parsing
def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _required_id(row: dict[str, Any]) -> str:
    value = _text(field_value(row, "Id"))
    if value is None:
        raise ValueError("no Id")
    return value


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"not a boolean: {value!r}")


def _datetime(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    moment = datetime.fromisoformat(str(value))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    return date.fromisoformat(str(value)[:10])


def _amount(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValueError(f"not an amount: {value!r}")
    return Decimal(str(value))


def parse_lead(row: dict[str, Any], fields: OutcomeFields) -> SalesforceRecord:
    return SalesforceRecord(
        sobject="Lead",
        record_id=_required_id(row),
        email=canonical_email(field_value(row, "Email") or ""),
        status=_text(field_value(row, "Status")),
        is_converted=_bool(field_value(row, "IsConverted")),
        converted_at=_date(field_value(row, "ConvertedDate")),
        converted_contact_id=_text(field_value(row, "ConvertedContactId")),
        converted_opportunity_id=_text(field_value(row, "ConvertedOpportunityId")),
        mql_status=_text(field_value(row, fields.mql_status)),
        mql_date=_datetime(field_value(row, fields.mql_date)),
        stage=_text(field_value(row, fields.stage)),
        hubspot_id=_text(field_value(row, fields.hubspot_id)),
        created_at=_datetime(field_value(row, "CreatedDate")),
        modstamp=_datetime(field_value(row, "SystemModstamp")),
        rejection_reason=_text(field_value(row, fields.rejection_reason))
        if fields.rejection_reason
        else None,
    )


def parse_contact(row: dict[str, Any], fields: OutcomeFields) -> SalesforceRecord:
    return SalesforceRecord(
        sobject="Contact",
        record_id=_required_id(row),
        email=canonical_email(field_value(row, "Email") or ""),
        mql_status=_text(field_value(row, fields.mql_status)),
        mql_date=_datetime(field_value(row, fields.mql_date)),
        stage=_text(field_value(row, fields.stage)),
        created_at=_datetime(field_value(row, "CreatedDate")),
        modstamp=_datetime(field_value(row, "SystemModstamp")),
    )


def parse_opportunity(row: dict[str, Any], fields: OutcomeFields) -> OpportunityRecord:
    return OpportunityRecord(
        opportunity_id=_required_id(row),
        stage=_text(field_value(row, "StageName")),
        is_closed=_bool(field_value(row, "IsClosed")),
        is_won=_bool(field_value(row, "IsWon")),
        amount=_amount(field_value(row, "Amount")),
        close_date=_date(field_value(row, "CloseDate")),
        created_at=_datetime(field_value(row, "CreatedDate")),
        account_id=_text(field_value(row, "AccountId")),
        modstamp=_datetime(field_value(row, "SystemModstamp")),
    )


def parse_contact_role(row: dict[str, Any], fields: OutcomeFields) -> ContactRole:
    opportunity = _text(field_value(row, "OpportunityId"))
    contact = _text(field_value(row, "ContactId"))
    if opportunity is None or contact is None:
        raise ValueError("contact role without OpportunityId or ContactId")
    return ContactRole(
        role_id=_required_id(row),
        opportunity_id=opportunity,
        contact_id=contact,
        is_primary=_bool(field_value(row, "IsPrimary")),
        modstamp=_datetime(field_value(row, "SystemModstamp")),
    )


def parse_task(row: dict[str, Any], fields: OutcomeFields) -> TaskTouch:
    who = _text(field_value(row, "WhoId"))
    if who is None:
        raise ValueError("a touch without WhoId")
    is_call = _text(field_value(row, "TaskSubtype")) == "Call"
    moment = (
        _datetime(field_value(row, "CompletedDateTime"))
        or (_datetime(field_value(row, "CreatedDate")) if is_call else None)
        or _datetime(field_value(row, "SystemModstamp"))
    )
    if moment is None:
        raise ValueError("a touch without CompletedDateTime, CreatedDate or SystemModstamp")
    return TaskTouch(
        task_id=_required_id(row),
        who_id=who,
        owner_id=_text(field_value(row, "OwnerId")),
        kind="call" if is_call else "task",
        touched_at=moment,
    )


_PARSERS: dict[str, Callable[[dict[str, Any], OutcomeFields], Any]] = {
    "Lead": parse_lead,
    "Contact": parse_contact,
    "Opportunity": parse_opportunity,
    "OpportunityContactRole": parse_contact_role,
    TOUCH_OBJECT: parse_task,
}
