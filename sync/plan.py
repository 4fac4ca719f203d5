"""The write planner: pure functions from scored leads to the fewest Salesforce writes.

No I/O and no clock: `now` comes in. For each lead it decides which fields change on its
Salesforce record (only values that differ from what was last written, under each field's
rule), whether a Lead is created (policy: MQL only, hot and above, or all), and which
follow-up Tasks are due (a new MQL episode, a new hot episode), each with an idempotency key.

Field rules, with `current` = the record's value read from Salesforce this run and
`written` = what the connector last wrote there:
- `always`: send when the value differs from `written` (or nothing was written yet);
- `if_blank`: send only while `current` is blank (unknown `current`: only when the connector
  wrote the field before, i.e. it was blank then);
- `unless_changed`: as `always`, except that a `current` different from `written` means
  someone edited the field in Salesforce: it is left alone from then on.

Transforms, in order: `value_map` (text values), `format` (date, datetime, number, boolean),
`max_length` (truncate, or reject). A value that cannot be transformed, or is too long under
`on_too_long = "reject"`, withholds the lead's whole record write and is reported in
`Plan.rejected` with the field and the reason; nothing is truncated silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, Protocol

from core.models import Company, Contact
from core.plan import RecordWrite, TaskWrite, WriteError, WriteResult
from core.regex import compile_glob
from sync.fieldmap import FieldMap, FieldMapping, TaskRoute, TaskTemplate, render_template

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
MQL_STATUS_VALUES = ("Not MQL", "MQL", "Disqualified")
VALUE_TOO_LONG = "CONNECTOR_VALUE_TOO_LONG"
VALUE_INVALID = "CONNECTOR_VALUE_INVALID"


class ScoredLead(Protocol):
    """What the planner reads from a score (scoring.LeadScore satisfies it)."""

    total: Decimal  # points, two decimal places
    fit: Decimal
    engagement: Decimal
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
    # Matched again this run because the linked record was gone (deleted, merged, converted):
    # what state says was written describes another record, so the planner ignores it.
    relinked: bool = False


@dataclass(frozen=True, slots=True)
class LeadInput:
    lead_key: str
    contact: Contact
    company: Company | None
    score: ScoredLead
    # The explanation as text for a Task description: formatted only for a lead that gets one
    breakdown: Callable[[], str]
    target: SalesforceTarget | None
    written: Mapping[str, Any]  # "<sobject>.<field>" -> value last written
    new_mql_episode: int | None = None  # set when this run starts MQL episode N
    hot_episode: int | None = None  # set when this run starts hot episode N (see advance_hot)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A value the field map refuses to write; the lead's record write is withheld."""

    lead_key: str
    sobject: str
    field: str  # the Salesforce field
    code: str  # VALUE_TOO_LONG | VALUE_INVALID
    message: str

    def as_write_result(self) -> WriteResult:
        """The same shape as a write Salesforce refused, for the dead-letter list."""
        return WriteResult(
            lead_key=self.lead_key,
            success=False,
            errors=(WriteError(self.code, self.message, (self.field,)),),
        )


@dataclass
class Plan:
    records: list[RecordWrite] = field(default_factory=list)
    tasks: list[TaskWrite] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (lead_key, reason)
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)


class ValueRejected(ValueError):
    def __init__(self, target: str, code: str, message: str) -> None:
        super().__init__(message)
        self.target = target
        self.code = code
        self.message = message


# ---------------------------------------------------------------------- values


_ONE = Decimal(1)


def whole_points(value: Decimal) -> int:
    """A score as the whole number people (and Salesforce's ROUND) expect: halves away from
    zero, 42.50 -> 43. `round()` on a Decimal rounds halves to even (42.50 -> 42), which made
    a +15 fit rule show as +14 on a lead whose score ended in .50."""
    return int(value.quantize(_ONE, rounding=ROUND_HALF_UP))


def computed_values(lead: LeadInput) -> dict[str, Any]:
    score = lead.score
    status = "Disqualified" if score.disqualified_by else ("MQL" if score.is_mql else "Not MQL")
    return {
        "score": whole_points(score.total),
        "fit": whole_points(score.fit),
        "engagement": whole_points(score.engagement),
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
    moment = value.astimezone(UTC) if value.tzinfo else value
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


_EPOCH_MS = re.compile(r"^-?\d{9,}$")


def parse_moment(value: Any) -> date | datetime:
    """A date or an aware UTC datetime from what HubSpot and Salesforce send: ISO 8601 text
    (`Z`, `+00:00` or `+0000`; a bare date stays a date), epoch milliseconds (HubSpot
    sends those for date properties), or date/datetime objects. Naive times are UTC.
    Raises ValueError for anything else."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    text = value.strip()
    if _EPOCH_MS.match(text):
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    if len(text) == 10:
        return date.fromisoformat(text)
    moment = datetime.fromisoformat(text)
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_value(fmt: str, value: Any) -> Any:
    """Apply a field's `format`; '' and None become None. Raises ValueError."""
    if value is None or value == "":
        return None
    if fmt in ("date", "datetime"):
        moment = parse_moment(value)
        if fmt == "date":
            return (moment.date() if isinstance(moment, datetime) else moment).isoformat()
        if not isinstance(moment, datetime):
            moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        return _sf_datetime(moment)
    if fmt == "number":
        if isinstance(value, bool):
            raise ValueError(f"not a number: {value!r}")
        if isinstance(value, int | float):
            return value
        number = float(str(value).strip())  # HubSpot number properties: plain decimal text
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"not a number: {value!r}")
        return int(number) if number.is_integer() else number
    if fmt == "boolean":
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValueError(f"not a boolean: {value!r}")
    raise ValueError(f"unknown format {fmt!r}")


def transform(mapping: FieldMapping, value: Any) -> Any:
    """A source value as written to `mapping.target`: value_map, format, max_length.
    Raises ValueRejected (with the field and the reason) instead of writing a bad value."""
    if isinstance(value, str):
        value = mapping.value_map.get(value, value)
    if mapping.format is not None:
        try:
            value = format_value(mapping.format, value)
        except ValueError as exc:
            raise ValueRejected(
                mapping.target,
                VALUE_INVALID,
                f"{mapping.source} value {_preview(value)} is not a valid "
                f"{mapping.format} ({exc}) for {mapping.target}",
            ) from None
    limit = mapping.max_length
    if isinstance(value, str) and limit is not None and len(value) > limit:
        if mapping.on_too_long == "truncate":
            return value[:limit]
        raise ValueRejected(
            mapping.target,
            VALUE_TOO_LONG,
            f"{mapping.source} value is {len(value)} characters, {mapping.target} takes "
            f"{limit} (on_too_long = 'reject'): {_preview(value)}",
        )
    return value


def _preview(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _source_value(mapping: FieldMapping, lead: LeadInput, computed: Mapping[str, Any]) -> Any:
    if mapping.source in computed:
        value = computed[mapping.source]
    else:
        scope, name = mapping.source.split(".", 1)
        record = lead.contact if scope == "contact" else lead.company
        value = record.get(name) if record is not None else None
    return transform(mapping, value)


def desired_fields(lead: LeadInput, sobject: str, field_map: FieldMap) -> dict[str, Any]:
    """Every mapped field's value for `sobject`; raises ValueRejected for the first value the
    field map refuses."""
    computed = computed_values(lead)
    return {m.target: _source_value(m, lead, computed) for m in field_map.for_object(sobject)}


def same_value(a: Any, b: Any) -> bool:
    """Whether two field values are the same for Salesforce: '' is null, 12 is 12.0, and
    date-times compare as instants whatever their spelling."""
    return _comparable(a) == _comparable(b)


_DATETIME_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _comparable(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return ("boolean", value)  # True is not 1 here
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _DATETIME_TEXT.match(value):
        try:
            return parse_moment(value)
        except ValueError:
            return value
    return value


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


_NEVER = object()


def changed_fields(
    lead: LeadInput, sobject: str, desired: Mapping[str, Any], field_map: FieldMap
) -> dict[str, Any]:
    """The desired values that must be sent, by each field's rule (see the module docstring)."""
    rules = {m.target: m.rule for m in field_map.for_object(sobject)}
    target = lead.target
    current = target.current if target is not None else None
    written_values = {} if target is not None and target.relinked else lead.written
    out: dict[str, Any] = {}
    for name, value in desired.items():
        written = written_values.get(f"{sobject}.{name}", _NEVER)
        rule = rules.get(name, "always")
        in_sf = current[name] if current is not None and name in current else _NEVER
        if rule == "if_blank":
            if in_sf is not _NEVER:
                if _blank(in_sf) and not _blank(value):
                    out[name] = value
                continue
            if written is _NEVER and target is not None:
                continue  # not known to be blank: leave the field alone
        elif (
            rule == "unless_changed"
            and in_sf is not _NEVER
            and written is not _NEVER
            and not same_value(in_sf, written)
        ):
            continue  # someone changed it in Salesforce after we wrote it
        if written is _NEVER or not same_value(written, value):
            out[name] = value
    return out


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


# ---------------------------------------------------------------------- Tasks


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


def hot_task_key(lead: LeadInput, episode: int) -> str:
    return f"hot:{lead.contact.hubspot_id}:{episode}"


def task_keys(leads: Iterable[LeadInput], field_map: FieldMap) -> list[str]:
    """Connector keys of every Task `plan_writes` may plan for `leads`: what to look up in
    the outbox (`tasks_done`) before planning."""
    triggers = field_map.task.triggers
    keys: list[str] = []
    for lead in leads:
        if "mql" in triggers and lead.new_mql_episode is not None:
            keys.append(task_key(lead, lead.new_mql_episode))
        if "hot" in triggers and lead.hot_episode is not None:
            keys.append(hot_task_key(lead, lead.hot_episode))
    return keys


@dataclass(frozen=True, slots=True)
class HotState:
    """A lead's hot standing, stored by the caller next to its MQL state.

    `episode` counts hot episodes (0 = never hot); `changed_at` is when the lead last became
    hot (while `hot`) or stopped being hot (while not)."""

    episode: int = 0
    hot: bool = False
    changed_at: datetime | None = None


def is_hot(score: ScoredLead, template: TaskTemplate) -> bool:
    """Hot: in one of `task.hot_stages` (default hot and mql) and not disqualified."""
    return not score.disqualified_by and score.stage.lower() in template.hot_stages


def advance_hot(
    previous: HotState | None, score: ScoredLead, now: datetime, template: TaskTemplate
) -> tuple[HotState, int | None]:
    """The lead's next HotState, and the episode number when this run starts a new one.

    A lead that stops being hot and is hot again within `task.hot_rearm_days` continues its
    previous episode (scores decay and come back: no alert per wobble)."""
    before = previous or HotState()
    hot = is_hot(score, template)
    if hot == before.hot:
        return before, None
    if not hot:
        return HotState(before.episode, False, now), None
    rearm = timedelta(days=template.hot_rearm_days)
    if before.episode and before.changed_at is not None and now - before.changed_at < rearm:
        return HotState(before.episode, True, now), None
    return HotState(before.episode + 1, True, now), before.episode + 1


def route_owner(lead: LeadInput, trigger: str, routes: Sequence[TaskRoute]) -> str | None:
    """The Task owner: the first `[[task.route]]` whose conditions all hold, else the
    record's owner (None for a Lead created in this run: Salesforce then assigns the Task to
    the connector's user)."""
    segment = lead.score.segment.lower()
    stage = lead.score.stage.lower()
    for route in routes:
        if route.trigger is not None and route.trigger != trigger:
            continue
        if route.segment is not None and not compile_glob(route.segment.lower()).match(segment):
            continue
        if route.stage is not None and stage not in {s.lower() for s in route.stage}:
            continue
        return route.owner_id
    return lead.target.owner_id if lead.target is not None else None


def _task_values(lead: LeadInput, trigger: str, episode: int, due: date) -> dict[str, Any]:
    computed = computed_values(lead)
    company_name = lead.contact.get("company") or (
        lead.company.get("name") if lead.company else None
    )
    since = lead.score.mql_since if lead.score.is_mql else None
    return computed | {
        "first_name": lead.contact.get("firstname") or "",
        "last_name": lead.contact.get("lastname") or "",
        "company": company_name or "",
        "breakdown": lead.breakdown(),
        "mql_date": since.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if since else "",
        "trigger": trigger,
        "episode": episode,
        "due_date": due.isoformat(),
    }


def render_task(
    lead: LeadInput,
    episode: int,
    field_map: FieldMap,
    now: datetime,
    trigger: Literal["mql", "hot"] = "mql",
) -> TaskWrite:
    template = field_map.task
    due = add_business_days(now.date(), template.due_business_days)
    values = _task_values(lead, trigger, episode, due)
    subject, description = (
        (template.subject, template.description)
        if trigger == "mql"
        else (template.hot_subject, template.hot_description)
    )
    fields: dict[str, Any] = {
        "Subject": render_template(subject, values)[:255],
        "Description": render_template(description, values)[:32000],
        "ActivityDate": due.isoformat(),
        "Status": template.status,
        "Priority": template.priority,
    }
    owner = route_owner(lead, trigger, template.route)
    if owner:
        fields["OwnerId"] = owner
    key = task_key(lead, episode) if trigger == "mql" else hot_task_key(lead, episode)
    return TaskWrite(
        lead_key=lead.lead_key,
        connector_key=key,
        fields=fields,
        who_id=lead.target.record_id if lead.target is not None else None,
    )


def _due_tasks(lead: LeadInput, field_map: FieldMap, now: datetime) -> list[TaskWrite]:
    """The MQL Task of a new MQL episode and the hot alert of a new hot episode, as the
    triggers allow. A lead that becomes MQL in the run that makes it hot gets the MQL Task
    only: one call to action per moment."""
    triggers = field_map.task.triggers
    mql_episode = lead.new_mql_episode if "mql" in triggers else None
    if mql_episode is not None:
        return [render_task(lead, mql_episode, field_map, now, "mql")]
    if "hot" in triggers and lead.hot_episode is not None:
        return [render_task(lead, lead.hot_episode, field_map, now, "hot")]
    return []


# ---------------------------------------------------------------------- the plan


def plan_writes(
    leads: Sequence[LeadInput],
    field_map: FieldMap,
    *,
    create_policy: CreatePolicy,
    now: datetime,
    tasks_done: Mapping[str, str] | None = None,
) -> Plan:
    """Decide every write for `leads`. `tasks_done` maps connector keys already confirmed
    (look them up with `task_keys`)."""
    done = tasks_done or {}
    plan = Plan()
    for lead in leads:
        try:
            if lead.target is not None:
                desired = desired_fields(lead, lead.target.sobject, field_map)
                changes = changed_fields(lead, lead.target.sobject, desired, field_map)
                if changes:
                    plan.records.append(
                        RecordWrite(
                            lead.lead_key, lead.target.sobject, lead.target.record_id, changes
                        )
                    )
                else:
                    plan.unchanged += 1
            elif should_create(lead.score, create_policy):
                fields = creation_fields(lead, field_map) | {
                    k: v
                    for k, v in desired_fields(lead, "Lead", field_map).items()
                    if v is not None
                }
                plan.records.append(
                    RecordWrite(
                        lead.lead_key, "Lead", None, fields, external_id=lead.contact.hubspot_id
                    )
                )
            else:
                reason = create_policy_reason(create_policy)
                plan.skipped.append((lead.lead_key, f"no Salesforce record and {reason}"))
                continue
        except ValueRejected as rejected:
            # The record write is withheld; its Tasks are still planned (a Task for a Lead
            # not created yet waits in the outbox until the Lead exists).
            plan.rejected.append(
                Rejection(
                    lead.lead_key,
                    lead.target.sobject if lead.target is not None else "Lead",
                    rejected.target,
                    rejected.code,
                    rejected.message,
                )
            )
        for task in _due_tasks(lead, field_map, now):
            if done.get(task.connector_key) != "done":
                plan.tasks.append(task)
    return plan


def create_policy_reason(policy: CreatePolicy) -> str:
    return {
        "mql": "not an MQL (sync.create_leads_for = 'mql')",
        "hot": "not hot (sync.create_leads_for = 'hot')",
        "all": "creation disabled",
    }[policy]
