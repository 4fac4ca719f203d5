"""The write planner: pure functions from scored leads to the fewest Salesforce writes.

No I/O and no clock: `now` comes in. For each lead it decides which fields change on its
Salesforce record (only values that differ from what was last written, under each field's
rule), whether a Lead is created (policy: MQL only, hot and above, or all), and whether a
follow-up Task is due (a new MQL episode), with an idempotency key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol

from core.models import Company, Contact
from core.plan import RecordWrite, TaskWrite
from sync.fieldmap import FieldMap, FieldMapping

CreatePolicy = Literal["mql", "hot", "all"]
STAGE_PICKLIST = {
    "cold": "Cold",
    "interest": "Interest",
    "comparison": "Comparison",
    "hot": "Hot",
    "mql": "MQL",
    "sql": "SQL",
    "opportunity": "Opportunity",
    "won": "Won",
    "lost": "Lost",
}


class ScoredLead(Protocol):
    """What the planner reads from a score (scoring.LeadScore satisfies it)."""

    total: float
    fit: float
    engagement: float
    grade: str
    segment: str
    stage: str
    is_mql: bool
    mql_reason: str | None
    mql_since: datetime | None
    disqualified_by: Sequence[str]


@dataclass(frozen=True, slots=True)
class SalesforceTarget:
    sobject: Literal["Lead", "Contact"]
    record_id: str
    owner_id: str | None = None
    current: Mapping[str, Any] | None = None  # field values read from Salesforce, if fetched


@dataclass(frozen=True, slots=True)
class LeadInput:
    lead_key: str
    contact: Contact
    company: Company | None
    score: ScoredLead
    breakdown: str  # the explanation, as text for the Task description
    target: SalesforceTarget | None
    written: Mapping[str, Any]  # "<sobject>.<field>" -> value last written
    new_mql_episode: int | None = None  # set when this run starts MQL episode N


@dataclass
class Plan:
    records: list[RecordWrite] = field(default_factory=list)
    tasks: list[TaskWrite] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (lead_key, reason)
    unchanged: int = 0


def computed_values(lead: LeadInput) -> dict[str, Any]:
    score = lead.score
    status = "Disqualified" if score.disqualified_by else ("MQL" if score.is_mql else "Not MQL")
    return {
        "score": round(score.total),
        "fit": round(score.fit),
        "engagement": round(score.engagement),
        "grade": score.grade,
        "segment": score.segment,
        "stage": STAGE_PICKLIST.get(score.stage.lower(), score.stage),
        "mql_status": status,
        "mql_date": _sf_datetime(score.mql_since) if score.is_mql else None,
        "mql_reason": score.mql_reason if score.is_mql else None,
        "hubspot_id": lead.contact.hubspot_id,
        "email": lead.lead_key,
    }


def _sf_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _source_value(mapping: FieldMapping, lead: LeadInput, computed: Mapping[str, Any]) -> Any:
    if mapping.source in computed:
        value = computed[mapping.source]
    else:
        scope, name = mapping.source.split(".", 1)
        record = lead.contact if scope == "contact" else lead.company
        value = record.get(name) if record is not None else None
    if isinstance(value, str):
        value = mapping.value_map.get(value, value)
        if mapping.max_length is not None and len(value) > mapping.max_length:
            value = value[: mapping.max_length] if mapping.on_too_long == "truncate" else value
    return value


def desired_fields(lead: LeadInput, sobject: str, field_map: FieldMap) -> dict[str, Any]:
    computed = computed_values(lead)
    return {m.target: _source_value(m, lead, computed) for m in field_map.for_object(sobject)}


def changed_fields(
    lead: LeadInput, sobject: str, desired: Mapping[str, Any], field_map: FieldMap
) -> dict[str, Any]:
    """The desired values that must be sent, by each field's rule."""
    rules = {m.target: m.rule for m in field_map.for_object(sobject)}
    current = lead.target.current if lead.target is not None else None
    out: dict[str, Any] = {}
    for name, value in desired.items():
        key = f"{sobject}.{name}"
        written = lead.written.get(key, _NEVER)
        rule = rules.get(name, "always")
        if rule == "if_blank":
            if current is not None and current.get(name) not in (None, ""):
                continue
            if current is None and written is _NEVER and lead.target is not None:
                continue  # not known to be blank: leave the field alone
        elif _changed_in_salesforce(rule, name, current, written):
            continue  # someone changed it in Salesforce after we wrote it
        if written is _NEVER or written != value:
            out[name] = value
    return out


_NEVER = object()


def _changed_in_salesforce(
    rule: str, name: str, current: Mapping[str, Any] | None, written: Any
) -> bool:
    if rule != "unless_changed" or current is None or written is _NEVER:
        return False
    return name in current and current[name] != written


def should_create(score: ScoredLead, policy: CreatePolicy) -> bool:
    if score.disqualified_by:
        return False
    if policy == "all":
        return True
    if policy == "hot":
        return score.is_mql or score.stage.lower() in ("hot", "mql")
    return score.is_mql


def creation_fields(lead: LeadInput, field_map: FieldMap) -> dict[str, Any]:
    contact, company = lead.contact, lead.company
    creation = field_map.lead_creation
    company_name = contact.get("company") or (company.get("name") if company else None)
    values: dict[str, Any] = {
        "Email": lead.lead_key,
        "FirstName": _clip(contact.get("firstname"), 40),
        "LastName": _clip(contact.get("lastname"), 80) or creation.default_last_name,
        "Company": _clip(company_name, 255) or creation.default_company,
        "Title": _clip(contact.get("jobtitle"), 128),
        "LeadSource": creation.lead_source,
        "Status": creation.status,
    }
    return {k: v for k, v in values.items() if v not in (None, "")}


def _clip(value: str | None, length: int) -> str | None:
    return value[:length] if value else value


def add_business_days(start: date, days: int) -> date:
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    while current.weekday() >= 5:
        current += timedelta(days=1)
    return current


def task_key(lead: LeadInput, episode: int) -> str:
    return f"mql:{lead.contact.hubspot_id}:{episode}"


def render_task(lead: LeadInput, episode: int, field_map: FieldMap, now: datetime) -> TaskWrite:
    template = field_map.task
    computed = computed_values(lead)
    company_name = lead.contact.get("company") or (
        lead.company.get("name") if lead.company else None
    )
    values = _SafeDict({k: ("" if v is None else v) for k, v in computed.items()})
    values.update(
        first_name=lead.contact.get("firstname") or "",
        last_name=lead.contact.get("lastname") or "",
        company=company_name or "",
        breakdown=lead.breakdown,
    )
    fields: dict[str, Any] = {
        "Subject": template.subject.format_map(values)[:255],
        "Description": template.description.format_map(values)[:32000],
        "ActivityDate": add_business_days(now.date(), template.due_business_days).isoformat(),
        "Status": template.status,
        "Priority": template.priority,
    }
    if lead.target is not None and lead.target.owner_id:
        fields["OwnerId"] = lead.target.owner_id
    return TaskWrite(
        lead_key=lead.lead_key,
        connector_key=task_key(lead, episode),
        fields=fields,
        who_id=lead.target.record_id if lead.target is not None else None,
    )


class _SafeDict(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def plan_writes(
    leads: Sequence[LeadInput],
    field_map: FieldMap,
    *,
    create_policy: CreatePolicy,
    now: datetime,
    tasks_done: Mapping[str, str] | None = None,
) -> Plan:
    """Decide every write for `leads`. `tasks_done` maps connector keys already confirmed."""
    done = tasks_done or {}
    plan = Plan()
    for lead in leads:
        if lead.target is not None:
            desired = desired_fields(lead, lead.target.sobject, field_map)
            changes = changed_fields(lead, lead.target.sobject, desired, field_map)
            if changes:
                plan.records.append(
                    RecordWrite(lead.lead_key, lead.target.sobject, lead.target.record_id, changes)
                )
            else:
                plan.unchanged += 1
        elif should_create(lead.score, create_policy):
            fields = creation_fields(lead, field_map) | {
                k: v for k, v in desired_fields(lead, "Lead", field_map).items() if v is not None
            }
            plan.records.append(
                RecordWrite(
                    lead.lead_key, "Lead", None, fields, external_id=lead.contact.hubspot_id
                )
            )
        else:
            plan.skipped.append(
                (lead.lead_key, f"no Salesforce record and {create_policy_reason(create_policy)}")
            )
            continue
        if lead.new_mql_episode is not None:
            task = render_task(lead, lead.new_mql_episode, field_map, now)
            if done.get(task.connector_key) != "done":
                plan.tasks.append(task)
    return plan


def create_policy_reason(policy: CreatePolicy) -> str:
    return {
        "mql": "not an MQL (sync.create_leads_for = 'mql')",
        "hot": "not hot (sync.create_leads_for = 'hot')",
        "all": "creation disabled",
    }[policy]
