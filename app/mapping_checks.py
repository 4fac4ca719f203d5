"""`connector mappings validate [--online]`: the mapping files, on their own and against the
live schemas.

Offline validation (`validate_mappings`) checks the files on their own. Online,
every `[[field]]` of `fields.toml` is also checked against Salesforce describe (Lead,
Contact, Task: three calls) and every `contact.<prop>` / `company.<prop>` source against the
HubSpot properties API (one call per object type used), and the Task route owners against
Salesforce Users (one query). The same contact-property listing also checks every
`[[property]]` of `hubspot.toml` (the HubSpot write-back: exists, right type and options),
so the contact properties are listed once. Each problem names the file (and for
`fields.toml` the line) to fix:

- the field exists, is updateable (and createable on Lead, where the connector creates);
- the kind of value written (number, text, date, date-time, boolean; see `format`) suits
  the field type (`connectors.salesforce.fieldtypes`);
- every picklist value the connector may write is an active value: stages (from
  `scoring.toml`), MQL statuses, grades, HubSpot enumeration options, `value_map` outputs,
  `lead_creation.status` / `lead_source`, `task.status` / `priority` (an error on a restricted
  picklist, which refuses the record; a warning on an open one, which stores it anyway);
- text fits: `max_length` not above the field's length; values of unknown length without
  `max_length` are a warning (Salesforce refuses a too-long value with STRING_TOO_LONG);
- HubSpot properties exist, are not archived, and are read by the connector at all
  (`hubspot.contact_properties` / `company_properties` in the config).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from app.setup_hubspot import PropertyCheck, compare
from app.setup_salesforce import OBJECTS, active_values, describe_index, possible_values
from connectors.hubspot.streams import StreamStatus, probe_all, probe_lines, probe_text
from connectors.hubspot.writeback import list_properties
from connectors.salesforce.constants import LEAD_EXTERNAL_ID_FIELD, TASK_EXTERNAL_ID_FIELD
from connectors.salesforce.fieldtypes import (
    HUBSPOT_ENUMERATION,
    HUBSPOT_FORMATS,
    NUMBER_TYPES,
    accepts,
    is_picklist,
    is_text,
)
from core.config import Settings
from core.errors import ConfigError
from core.paths import shown, use_problem
from sync.fieldmap import FieldMap, FieldMapping
from sync.hubspot_fields import FILE_NAME as HUBSPOT_MAPPING_FILE
from sync.hubspot_fields import load_hubspot_mapping, property_specs
from sync.rule_versions import shadow_folder, shadow_problems
from sync.runner import mappings_dir

Severity = Literal["error", "warning"]
Locate = Callable[[tuple[str | int, ...]], str]
HUBSPOT_SCOPES = {"contact": "contacts", "company": "companies"}
# Upper bounds of computed text values whose set is open but whose length is not.
_KNOWN_MAX_LENGTH = {"hubspot_id": 20, "email": 254}
_CREATION_FIELDS = ("Email", "FirstName", "LastName", "Company", "Title", "LeadSource", "Status")
_FORMAT_FOR = {"date": "date", "datetime": "datetime", "boolean": "boolean"}  # by SF type
_TASK_FIELDS = ("Subject", "Description", "ActivityDate", "Status", "Priority", "OwnerId", "WhoId")


@dataclass(frozen=True)
class Problem:
    severity: Severity
    where: str  # fields.toml:LINE
    subject: str  # what it is about: "field[5] Lead.Lead_Stage__c"
    message: str

    def __str__(self) -> str:
        text = f"{self.where}: {self.subject}: {self.message}"
        return text if self.severity == "error" else text + " (warning)"


# ---------------------------------------------------------------------- HubSpot


def check_hubspot(
    field_map: FieldMap,
    properties: Mapping[str, Mapping[str, Mapping[str, Any]]],
    read_by_connector: Mapping[str, Sequence[str]],
    locate: Locate,
) -> list[Problem]:
    """`properties` and `read_by_connector` are keyed by scope ('contact', 'company')."""
    problems: list[Problem] = []
    for index, mapping in enumerate(field_map.field):
        scope, name = mapping.scope, mapping.property_name
        if scope is None or name is None:
            continue
        where = locate(("field", index, "source"))
        subject = f"field[{index}] {mapping.source}"

        def add(
            severity: Severity, message: str, where: str = where, subject: str = subject
        ) -> None:
            problems.append(Problem(severity, where, subject, message))

        known = properties.get(scope, {})
        definition = known.get(name)
        if definition is None:
            close = difflib.get_close_matches(name, list(known), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            add("error", f"HubSpot has no {scope} property {name!r}{hint}")
            continue
        if definition.get("archived"):
            add("error", f"the HubSpot {scope} property {name!r} is archived")
        if name not in read_by_connector.get(scope, ()):
            add(
                "error",
                f"the connector does not read {scope} property {name!r}: add it to "
                f"hubspot.{scope}_properties in the connector config",
            )
        hs_type = definition.get("type")
        wanted = HUBSPOT_FORMATS.get(str(hs_type))
        if mapping.format is not None and mapping.format != wanted and hs_type != "string":
            add(
                "warning",
                f"format = {mapping.format!r} on a HubSpot {hs_type} property",
                locate(("field", index, "format")),
            )
    return problems


def check_writeback(
    checks: Sequence[PropertyCheck], where: str, *, enabled: bool
) -> list[Problem]:
    """The `hubspot.toml` properties that are missing or wrong in the portal: errors while
    `hubspot.write_back` is on (its writes would be refused), warnings while it is off."""
    severity: Severity = "error" if enabled else "warning"
    problems = []
    for check in checks:
        subject = f"HubSpot contact property {check.name}"
        if check.status == "missing":
            problems.append(Problem(severity, where, subject,
                                    "does not exist (create it: `connector setup hubspot`)"))
        elif check.status == "wrong":
            problems.append(Problem(severity, where, subject, "; ".join(check.problems)))
    return problems


# ---------------------------------------------------------------------- Salesforce


class _Salesforce:
    """The checks of one field map against one org's describes."""

    def __init__(
        self,
        field_map: FieldMap,
        rules: Any,
        describes: Mapping[str, Mapping[str, Any]],
        hubspot: Mapping[str, Mapping[str, Mapping[str, Any]]],
        locate: Locate,
    ) -> None:
        self.field_map = field_map
        self.rules = rules
        self.fields = {obj: describe_index(describes.get(obj) or {}) for obj in OBJECTS}
        self.hubspot = hubspot
        self.locate = locate
        self.problems: list[Problem] = []

    def add(self, severity: Severity, loc: tuple[str | int, ...], subject: str, text: str) -> None:
        self.problems.append(Problem(severity, self.locate(loc), subject, text))

    def run(self) -> list[Problem]:
        for index, mapping in enumerate(self.field_map.field):
            for sobject in mapping.objects:
                self.mapping(index, mapping, sobject)
        self.lead_creation()
        self.task()
        return self.problems

    # -- one [[field]] on one object
    def mapping(self, index: int, mapping: FieldMapping, sobject: str) -> None:
        loc: tuple[str | int, ...] = ("field", index, "target")
        subject = f"field[{index}] {sobject}.{mapping.target}"
        described = self.fields[sobject].get(mapping.target.lower())
        if described is None:
            self.add("error", loc, subject, f"no such field on {sobject} in Salesforce "
                     "(create it: `connector setup salesforce` lists what to create)")
            return
        if not described.get("updateable"):
            self.add("error", loc, subject, "not updateable (read-only, formula, or hidden "
                     "from the connector's user by field-level security)")
        if sobject == "Lead" and not described.get("createable"):
            self.add("error", loc, subject, "not createable: Lead creation would fail")
        definition = self._hubspot_definition(mapping)
        sf_type = str(described.get("type"))
        kind = mapping.value_kind()
        if not accepts(kind, sf_type):
            hint = self._format_hint(mapping, definition, sf_type)
            self.add("error", ("field", index, "format") if mapping.format else loc, subject,
                     f"a {sf_type} field, but the connector writes {kind} values{hint}")
            return
        options = None
        if definition is not None and definition.get("type") == HUBSPOT_ENUMERATION:
            options = [o["value"] for o in definition.get("options") or () if "value" in o]
        values = possible_values(mapping, self.rules, options)
        if is_picklist(sf_type):
            self.picklist(index, mapping, subject, described, values)
        elif is_text(sf_type):
            self.length(index, mapping, subject, described, values)

    def _hubspot_definition(self, mapping: FieldMapping) -> Mapping[str, Any] | None:
        if mapping.scope is None or mapping.property_name is None:
            return None
        return self.hubspot.get(mapping.scope, {}).get(mapping.property_name)

    @staticmethod
    def _format_hint(
        mapping: FieldMapping, definition: Mapping[str, Any] | None, sf_type: str
    ) -> str:
        wanted = "number" if sf_type in NUMBER_TYPES else _FORMAT_FOR.get(sf_type)
        if wanted is None:
            return ""
        if mapping.source == "mql_date" and wanted in ("date", "datetime"):
            return f"; set format = {wanted!r}"
        if definition is not None:
            fits = HUBSPOT_FORMATS.get(str(definition.get("type")))
            if fits == wanted or (fits in ("date", "datetime") and wanted in ("date", "datetime")):
                return f"; set format = {wanted!r}"
            return f" (the HubSpot property is a {definition.get('type')})"
        return ""

    def picklist(
        self,
        index: int,
        mapping: FieldMapping,
        subject: str,
        described: Mapping[str, Any],
        values: list[str] | None,
    ) -> None:
        active = active_values(described)
        restricted = bool(described.get("restrictedPicklist"))
        severity: Severity = "error" if restricted else "warning"
        kind = "restricted picklist" if restricted else "picklist"
        checked = values if values is not None else list(dict.fromkeys(mapping.value_map.values()))
        missing: dict[tuple[str | int, ...], list[str]] = {}
        for value in checked:
            if value in active:
                continue
            mapped_from = [k for k, v in mapping.value_map.items() if v == value]
            loc: tuple[str | int, ...] = (
                ("field", index, "value_map", mapped_from[0])
                if mapped_from
                else ("field", index, "target")
            )
            missing.setdefault(loc, []).append(value)
        for loc, bad in missing.items():
            shown = ", ".join(repr(v) for v in bad)
            verb = "is not an active value" if len(bad) == 1 else "are not active values"
            self.add(severity, loc, subject, f"{shown} {verb} of the {kind} (active: "
                     f"{', '.join(active) or 'none'}); add them in Salesforce or map them "
                     "with value_map")
        if values is None and restricted:
            self.add("warning", ("field", index, "source"), subject,
                     f"{mapping.source} values outside value_map are written as they come; "
                     "the restricted picklist refuses any that is not an active value")

    def length(
        self,
        index: int,
        mapping: FieldMapping,
        subject: str,
        described: Mapping[str, Any],
        values: list[str] | None,
    ) -> None:
        size = int(described.get("length") or 0)
        if size <= 0:
            return
        if mapping.max_length is not None:
            if mapping.max_length > size:
                self.add("error", ("field", index, "max_length"), subject,
                         f"max_length = {mapping.max_length}, but the field holds {size} "
                         f"characters; set max_length = {size}")
            return
        kind = mapping.value_kind()
        if kind != "string":
            return  # dates, numbers and booleans are short
        longest = (
            max((len(v) for v in values), default=0)
            if values is not None
            else _KNOWN_MAX_LENGTH.get(mapping.source)
        )
        if longest is None:
            self.add("warning", ("field", index, "target"), subject,
                     f"values may be longer than the {size} characters the field holds; set "
                     f"max_length = {size} (with on_too_long = 'truncate' or 'reject')")
        elif longest > size:
            self.add("error", ("field", index, "target"), subject,
                     f"values reach {longest} characters, the field holds {size}")

    # -- what the connector writes besides [[field]]
    def lead_creation(self) -> None:
        lead = self.fields["Lead"]
        creation = self.field_map.lead_creation
        for name in _CREATION_FIELDS:
            described = lead.get(name.lower())
            if described is None or not described.get("createable"):
                self.add("error", ("lead_creation",), f"Lead.{name}",
                         "not createable: the connector sets it on every Lead it creates")
        for key, name, value in (
            ("status", "Status", creation.status),
            ("lead_source", "LeadSource", creation.lead_source),
        ):
            self._value(("lead_creation", key), "Lead", name, value)
        ext = lead.get(LEAD_EXTERNAL_ID_FIELD.lower())
        if ext is None or not ext.get("externalId"):
            self.add("error", ("lead_creation",), f"Lead.{LEAD_EXTERNAL_ID_FIELD}",
                     "missing or not an External ID: Lead creation upserts on it")

    def task(self) -> None:
        task_fields = self.fields["Task"]
        template = self.field_map.task
        if not template.triggers:
            return
        for name in (*_TASK_FIELDS, TASK_EXTERNAL_ID_FIELD):
            described = task_fields.get(name.lower())
            if described is None or not (described.get("createable")
                                         and described.get("updateable")):
                self.add("error", ("task",), f"Task.{name}",
                         "missing, or not createable and updateable: Tasks are upserted")
        ext = task_fields.get(TASK_EXTERNAL_ID_FIELD.lower())
        if ext is not None and not ext.get("externalId"):
            self.add("error", ("task",), f"Task.{TASK_EXTERNAL_ID_FIELD}",
                     "not an External ID: Tasks are upserted on it")
        self._value(("task", "status"), "Task", "Status", template.status)
        self._value(("task", "priority"), "Task", "Priority", template.priority)

    def _value(self, loc: tuple[str | int, ...], sobject: str, name: str, value: str) -> None:
        described = self.fields[sobject].get(name.lower())
        if described is None or not is_picklist(str(described.get("type"))):
            return
        active = active_values(described)
        if value not in active:
            restricted = bool(described.get("restrictedPicklist"))
            self.add("error" if restricted else "warning", loc, f"{sobject}.{name}",
                     f"{value!r} is not an active value of the "
                     f"{'restricted ' if restricted else ''}picklist "
                     f"(active: {', '.join(active)})")


def check_salesforce(
    field_map: FieldMap,
    rules: Any,
    describes: Mapping[str, Mapping[str, Any]],
    locate: Locate,
    hubspot: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
) -> list[Problem]:
    """Problems of the field map against describes of Lead, Contact and Task."""
    return _Salesforce(field_map, rules, describes, hubspot or {}, locate).run()


def check_owners(
    field_map: FieldMap, users: Mapping[str, Mapping[str, Any]], locate: Locate
) -> list[Problem]:
    """Route owners that are Users (005...) must exist and be active; `users` by Id (15 and
    18 characters both work). Queue owners (00G...) are not checked."""
    problems = []
    for index, route in enumerate(field_map.task.route):
        if not route.owner_id.startswith("005"):
            continue
        user = users.get(route.owner_id) or users.get(route.owner_id[:15])
        subject = f"task.route[{index}]"
        where = locate(("task", "route", index, "owner_id"))
        if user is None:
            problems.append(Problem("error", where, subject,
                                    f"no Salesforce User has Id {route.owner_id}"))
        elif user.get("IsActive") is False:
            problems.append(Problem("error", where, subject,
                                    f"User {route.owner_id} is inactive"))
    return problems


# ---------------------------------------------------------------------- the whole check


def run_online_check(
    settings: Any, folder: Path
) -> tuple[list[Problem], dict[str, int], list[StreamStatus]]:
    """Fetch the schemas and check `folder`'s mappings, and probe each HubSpot activity stream
    once; returns problems, the API calls made per system and the streams' verdicts."""
    from app.setup_salesforce import load_inputs
    from connectors.hubspot.client import HubSpotClient
    from connectors.salesforce.client import SalesforceClient
    from connectors.salesforce.records import fetch_by_ids
    from core.errors import ConfigError

    field_map, rules, locate = load_inputs(folder)
    writeback_specs = property_specs(load_hubspot_mapping(folder), rules)
    token = settings.hubspot_token()
    if token is None:
        raise ConfigError("hubspot.access_token: not set (needed by --online)")
    hubspot_props: dict[str, dict[str, dict[str, Any]]] = {}
    with HubSpotClient(settings.hubspot, token) as hubspot:
        for scope, object_type in HUBSPOT_SCOPES.items():
            # one listing of the contact properties serves fields.toml and hubspot.toml
            if field_map.hubspot_properties(scope) or (scope == "contact" and writeback_specs):
                hubspot_props[scope] = list_properties(hubspot, object_type)
        streams = probe_all(hubspot, settings.hubspot)
        hubspot_calls = hubspot.total_calls
    read = {
        "contact": [*settings.hubspot.contact_properties, "email"],
        "company": list(settings.hubspot.company_properties),
    }
    salesforce = SalesforceClient(settings)
    describes = {obj: salesforce.describe(obj) for obj in OBJECTS}
    owners = sorted({r.owner_id for r in field_map.task.route if r.owner_id.startswith("005")})
    users = fetch_by_ids(salesforce, "User", owners, ["IsActive"]) if owners else {}
    problems = [
        *check_hubspot(field_map, hubspot_props, read, locate),
        *check_salesforce(field_map, rules, describes, locate, hubspot_props),
        *check_owners(field_map, users, locate),
    ]
    writeback = check_writeback(
        compare(writeback_specs, hubspot_props.get("contact", {})),
        str(folder / HUBSPOT_MAPPING_FILE),
        enabled=settings.hubspot.write_back,
    )
    calls = {"hubspot": hubspot_calls, "salesforce": salesforce.total_calls}
    return [*_sorted(problems), *writeback], calls, streams


def _sorted(problems: Iterable[Problem]) -> list[Problem]:
    def line(problem: Problem) -> int:
        tail = problem.where.rsplit(":", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (line(p), p.severity != "error"))


@dataclass
class MappingCheck:
    """What `connector mappings validate` found: errors (exit 2), warnings, API calls made."""

    directory: Path
    online: bool
    errors: list[str]
    warnings: list[str]
    calls: dict[str, int]
    streams: list[StreamStatus]  # online: each HubSpot activity stream's probe
    # The `[shadow] rules_dir` rule set, checked with the configured mappings (not --dir).
    shadow: Path | None = None
    shadow_errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.shadow_errors)

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "directory": str(self.directory),
            "problems": self.errors,
            "warnings": self.warnings,
            "ok": not self.failed,
            "online": self.online,
        }
        if self.shadow is not None:
            payload["shadow"] = {"rules_dir": str(self.shadow), "problems": self.shadow_errors,
                                 "ok": not self.shadow_errors}
        if self.online:
            payload["api_calls"] = self.calls
            payload["streams"] = {s.stream: probe_text(s) for s in self.streams}
        return payload

    def text(self) -> str:
        lines: list[str] = []
        if self.errors:
            lines.append(f"{len(self.errors)} problem(s) in {self.directory}:")
            lines += [f"  - {problem}" for problem in self.errors]
        if self.warnings:
            lines.append(f"{len(self.warnings)} warning(s):")
            lines += [f"  - {warning}" for warning in self.warnings]
        if not self.errors:
            what = (
                "valid, and match the Salesforce and HubSpot schemas" if self.online else "valid"
            )
            lines.append(f"{self.directory}: all mapping files are {what}")
        if self.streams:
            lines += ["HubSpot activity streams:", *probe_lines(self.streams)]
        if self.shadow is not None and self.shadow_errors:
            lines.append(f"{len(self.shadow_errors)} problem(s) in the shadow rules "
                         f"{self.shadow} ([shadow] rules_dir) / シャドールールの問題:")
            lines += [f"  - {problem}" for problem in self.shadow_errors]
        elif self.shadow is not None:
            lines.append(f"{self.shadow}: the shadow rules ([shadow] rules_dir) are valid")
        return "\n".join(lines)


MAPPING_FILES = ("scoring.toml", "segments.toml", "fields.toml", "forms.toml")


def validate_mappings(folder: Path) -> list[str]:
    """Every problem in every mapping file of `folder`, one message each (file:line: ...):
    the scoring rules, fields.toml, forms.toml, funnel.toml (outcomes), hubspot.toml (the
    HubSpot write-back) and costs.toml (`connector report`)."""
    from connectors.hubspot.forms import FormRules
    from kpi.costs import load_costs
    from scoring import validate_rules
    from sync.fieldmap import load_field_map
    from sync.hubspot_fields import load_hubspot_mapping
    from sync.outcomes import load_funnel

    unusable = use_problem(folder, "folder")
    if unusable is not None:
        return [f"{shown(folder)}: mappings folder {unusable}"]
    if not folder.is_dir():
        return [f"{folder}: mappings folder not found"]
    problems = list(validate_rules(folder))
    loaders: tuple[Callable[[Path], object], ...] = (
        load_field_map,
        lambda d: FormRules.load(d / "forms.toml"),
        load_funnel,
        load_hubspot_mapping,
        load_costs,
    )
    for load in loaders:
        try:
            load(folder)
        except ConfigError as exc:
            problems.extend(exc.problems or [str(exc)])
    return problems


def check_mappings(settings: Settings | None, directory: Path | None, online: bool) -> MappingCheck:
    """Every file of the mappings folder (`directory`, else the configured one); with
    `online`, also against the Salesforce and HubSpot schemas (only when the files are valid).
    `settings` may be None when neither the configured folder nor the APIs are needed."""
    shadow = None
    if directory is None:
        assert settings is not None, "the configured mappings folder needs the settings"
        directory = mappings_dir(settings)
        shadow = shadow_folder(settings)
    errors = list(validate_mappings(directory))
    shadow_errors = [] if shadow is None else shadow_problems(shadow)
    warnings: list[str] = []
    calls: dict[str, int] = {}
    streams: list[StreamStatus] = []
    if online and not errors:
        assert settings is not None, "an online check needs the settings"
        found, calls, streams = run_online_check(settings, directory)
        errors = [str(p) for p in found if p.severity == "error"]
        warnings = [str(p) for p in found if p.severity == "warning"]
    return MappingCheck(directory, online, errors, warnings, calls, streams, shadow,
                        shadow_errors)
