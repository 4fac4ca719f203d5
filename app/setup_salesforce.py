"""`connector setup salesforce`: the custom fields the current `fields.toml` needs in
Salesforce, and (`--check`) how the configured org compares.

What is derived from the field map (`expected_fields`):
- every mapped `__c` target, on each object it is mapped for: scores are Number(18, 0);
  stage and MQL status are picklists holding every value the connector may write (the stages
  of `scoring.toml` and the MQL statuses, through `value_map`); `format` gives Date,
  Date/Time, Number(18, 2) or Checkbox; text is Text(max_length, else 2 for the grade, 64
  for the HubSpot id, 255 otherwise); the email is Email;
- what the connector always needs: `Lead.HubSpot_Contact_Id__c` Text(64), External ID,
  unique (Lead creation is an upsert on it) and `Task.Connector_Key__c` Text(80), External
  ID, unique, case-sensitive (Task creation is an upsert on it);
- what it reads when `mappings/funnel.toml [rejection] reason_field` names it: that Lead
  picklist (default `Rejection_Reason__c`) with the `reason_values` (sales' reason for
  rejecting an MQL; standard Lead has no such field). The outcome pull leaves it out, with
  a warning, while the org lacks it.

`--check` describes Lead, Contact and Task (three API calls) and reports each field as ok,
missing or wrong (type, length, picklist values, External ID / unique flags).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from connectors.salesforce.constants import LEAD_EXTERNAL_ID_FIELD, TASK_EXTERNAL_ID_FIELD
from connectors.salesforce.fieldtypes import (
    NUMBER_TYPES,
    SETUP_NAMES,
    accepts,
    is_picklist,
    is_text,
)
from sync.fieldmap import FieldMap, FieldMapping
from sync.plan import MQL_STATUS_VALUES, STAGE_PICKLIST

OBJECTS = ("Lead", "Contact", "Task")
# With `[accounts] enabled`, the account roll-up's fields too (sync.account_pass).
ACCOUNT_OBJECT = "Account"
GRADES = tuple(letter + band for letter in "ABCD" for band in "1234")
_TEXT_LENGTHS = {"grade": 2, "hubspot_id": 64}
_SCORES = frozenset({"score", "fit", "engagement"})


@dataclass(frozen=True)
class FieldSpec:
    """One custom field as Setup asks for it."""

    sobject: str
    name: str
    type: str  # describe type: string, double, picklist, date, datetime, boolean, email
    kind: str  # the kind of value the connector writes (sync.fieldmap kinds)
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    picklist: tuple[str, ...] = ()
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    origin: str = ""  # fields.toml:LINE, or why the connector needs it

    @property
    def setup_type(self) -> str:
        name = SETUP_NAMES.get(self.type, self.type)
        if self.type == "string":
            name += f"({self.length})"
        elif self.type in NUMBER_TYPES:
            name += f"({self.precision}, {self.scale})"
        elif self.type == "picklist":
            name += ": " + ", ".join(self.picklist)
        flags = []
        if self.external_id:
            flags.append("External ID")
        if self.unique:
            flags.append("Unique (case-sensitive)" if self.case_sensitive else "Unique")
        return ", ".join([name, *flags])

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"setup_type": self.setup_type}


@dataclass
class FieldCheck:
    sobject: str
    name: str
    status: str  # ok | missing | wrong
    problems: list[str] = field(default_factory=list)
    origin: str = ""


# ---------------------------------------------------------------------- what the field map needs


def stage_names(rules: Any | None) -> list[str]:
    """Stage names scoring can give (from the compiled rules), else the known ones."""
    if rules is None:
        return list(STAGE_PICKLIST)
    names = [rules.default_stage, *(stage for stage, _ in rules.stage_rules)]
    return list(dict.fromkeys(names))


def possible_values(
    mapping: FieldMapping, rules: Any | None = None, options: Iterable[str] | None = None
) -> list[str] | None:
    """Every text value the connector may write through `mapping`, when they are a known
    set (stage, MQL status, grade, the options of a HubSpot enumeration): None otherwise."""
    source = mapping.source
    if source == "stage":
        known = list(STAGE_PICKLIST)  # funnel order
        names = sorted(
            stage_names(rules), key=lambda s: known.index(s.lower()) if s.lower() in known else 99
        )
        raw = [STAGE_PICKLIST.get(s.lower(), s) for s in names]
    elif source == "mql_status":
        raw = list(MQL_STATUS_VALUES)
    elif source == "grade":
        raw = list(GRADES)
    elif options is not None and mapping.format is None:
        raw = list(options)
    else:
        return None
    return list(dict.fromkeys(mapping.value_map.get(v, v) for v in raw))


def _spec(mapping: FieldMapping, sobject: str, rules: Any | None, origin: str) -> FieldSpec:
    kind = mapping.value_kind()
    source = mapping.source
    base = {"sobject": sobject, "name": mapping.target, "kind": kind, "origin": origin}
    if source in _SCORES:
        return FieldSpec(type="double", precision=18, scale=0, **base)
    if source in ("stage", "mql_status"):
        values = possible_values(mapping, rules) or []
        return FieldSpec(type="picklist", picklist=tuple(values), **base)
    if kind == "number":
        return FieldSpec(type="double", precision=18, scale=2, **base)
    if kind in ("date", "datetime", "boolean"):
        return FieldSpec(type=kind, **base)
    if source == "email":
        return FieldSpec(type="email", length=80, **base)
    length = mapping.max_length or _TEXT_LENGTHS.get(source, 255)
    return FieldSpec(type="string", length=length, **base)


def rejection_spec(funnel: Any) -> FieldSpec | None:
    """The Lead picklist `funnel.toml [rejection] reason_field` names (None: not read)."""
    rejection = funnel.rejection
    if rejection.reason_field is None:
        return None
    return FieldSpec(
        sobject="Lead",
        name=rejection.reason_field,
        type="picklist",
        kind="string",
        picklist=tuple(rejection.reason_values),
        origin="funnel.toml [rejection] reason_field: why sales rejected an MQL (read only)",
    )


def expected_fields(
    field_map: FieldMap,
    rules: Any | None = None,
    locate: Callable[[tuple[str | int, ...]], str] = lambda loc: "fields.toml",
    extra: Sequence[FieldSpec] = (),
) -> list[FieldSpec]:
    """The custom fields the field map writes, plus the two the connector always needs and
    the `extra` ones it reads; `locate(loc)` names where a mapping is written (file:line)."""
    specs: dict[tuple[str, str], FieldSpec] = {}
    for index, mapping in enumerate(field_map.field):
        if not mapping.target.endswith("__c"):
            continue
        for sobject in mapping.objects:
            key = (sobject, mapping.target.lower())
            if key not in specs:
                specs[key] = _spec(mapping, sobject, rules, locate(("field", index, "target")))
    needed = {
        ("Lead", LEAD_EXTERNAL_ID_FIELD): (64, False, "the Lead upsert key (Lead creation)"),
        ("Task", TASK_EXTERNAL_ID_FIELD): (80, True, "the Task upsert key (Tasks exactly once)"),
    }
    for (sobject, name), (length, case_sensitive, why) in needed.items():
        key = (sobject, name.lower())
        mapped = specs.get(key)
        specs[key] = FieldSpec(
            sobject=sobject,
            name=name,
            type="string",
            kind="string",
            length=max(length, mapped.length or 0) if mapped else length,
            external_id=True,
            unique=True,
            case_sensitive=case_sensitive,
            origin=f"{mapped.origin}; {why}" if mapped else f"connector: {why}",
        )
    for spec in extra:
        specs.setdefault((spec.sobject, spec.name.lower()), spec)
    order = {name: i for i, name in enumerate((*OBJECTS, ACCOUNT_OBJECT))}
    return sorted(specs.values(), key=lambda s: order[s.sobject])


def account_field_specs() -> list[FieldSpec]:
    """The three Account fields the account roll-up writes (docs/accounts.md)."""
    why = "connector: account roll-up ([accounts] enabled)"
    return [
        FieldSpec(ACCOUNT_OBJECT, "Account_Score__c", "double", "score", precision=18, scale=0,
                  origin=why),
        FieldSpec(ACCOUNT_OBJECT, "Engaged_Contacts__c", "double", "score", precision=18,
                  scale=0, origin=why),
        FieldSpec(ACCOUNT_OBJECT, "Buying_Group__c", "boolean", "boolean", origin=why),
    ]


# ---------------------------------------------------------------------- comparing with the org


def describe_index(describe: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """describe `fields[]` by lower-cased API name."""
    return {f["name"].lower(): f for f in describe.get("fields") or ()}


def active_values(described: Mapping[str, Any]) -> list[str]:
    return [p["value"] for p in described.get("picklistValues") or () if p.get("active", True)]


def check_spec(spec: FieldSpec, described: Mapping[str, Any] | None) -> FieldCheck:
    check = FieldCheck(spec.sobject, spec.name, "ok", origin=spec.origin)
    if described is None:
        check.status = "missing"
        return check
    sf_type = described.get("type", "")
    problems = check.problems
    if spec.type == "picklist":
        if not is_picklist(sf_type):
            problems.append(f"is {_setup_name(described)}, should be a Picklist")
        else:
            active = active_values(described)
            missing = [v for v in spec.picklist if v not in active]
            if missing:
                problems.append(f"picklist lacks active value(s): {', '.join(missing)}")
    elif spec.type in NUMBER_TYPES:
        if sf_type not in NUMBER_TYPES:
            problems.append(f"is {_setup_name(described)}, should be Number")
    elif spec.type in ("date", "datetime", "boolean"):
        if sf_type != spec.type:
            problems.append(
                f"is {_setup_name(described)}, should be {SETUP_NAMES[spec.type]}"
            )
    elif not (is_text(sf_type) and accepts(spec.kind, sf_type)):
        problems.append(f"is {_setup_name(described)}, should be {spec.setup_type.split(',')[0]}")
    elif spec.length and (described.get("length") or 0) < spec.length:
        problems.append(f"holds {described.get('length')} characters, should hold {spec.length}")
    if spec.external_id and not described.get("externalId"):
        problems.append("is not marked External ID")
    if spec.unique and not described.get("unique"):
        problems.append("is not marked Unique")
    if spec.case_sensitive and described.get("unique") and not described.get("caseSensitive"):
        problems.append("is unique case-insensitively, should be case-sensitive")
    if problems:
        check.status = "wrong"
    return check


def _setup_name(described: Mapping[str, Any]) -> str:
    sf_type = described.get("type", "?")
    name = SETUP_NAMES.get(sf_type, sf_type)
    return f"{name}({described.get('length')})" if sf_type == "string" else name


def check_org(
    specs: Sequence[FieldSpec], describes: Mapping[str, Mapping[str, Any]]
) -> list[FieldCheck]:
    out = []
    for spec in specs:
        index = describe_index(describes.get(spec.sobject) or {})
        out.append(check_spec(spec, index.get(spec.name.lower())))
    return out


# ---------------------------------------------------------------------- output


def format_specs(specs: Sequence[FieldSpec], source: str) -> str:
    lines = [
        f"Custom fields for {source}",
        "(Setup > Object Manager > <object> > Fields & Relationships > New)",
    ]
    width = max((len(s.name) for s in specs), default=10) + 2
    for sobject in (*OBJECTS, ACCOUNT_OBJECT):
        group = [s for s in specs if s.sobject == sobject]
        if not group:
            continue
        lines.append("")
        lines.append(sobject)
        for spec in group:
            lines.append(f"  {spec.name.ljust(width)}{spec.setup_type}")
            lines.append(f"  {''.ljust(width)}  from {spec.origin}")
    return "\n".join(lines)


def format_checks(checks: Sequence[FieldCheck]) -> str:
    lines = []
    for check in checks:
        head = f"{check.status.upper():8}{check.sobject}.{check.name}"
        if check.status == "missing":
            head += "  (create it; see the list above)"
        lines.append(head)
        lines.extend(f"          - {p}  [{check.origin}]" for p in check.problems)
    bad = sum(1 for c in checks if c.status != "ok")
    lines.append("")
    lines.append(
        "the org has every field the connector needs"
        if not bad
        else f"{bad} of {len(checks)} field(s) missing or wrong"
    )
    return "\n".join(lines)


# ---------------------------------------------------------------------- command


def load_inputs(folder: Path) -> tuple[FieldMap, Any, Callable[[tuple[str | int, ...]], str]]:
    """The field map, the scoring rules (for stage names) and a file:line locator."""
    from core.tomlfile import where
    from scoring import load_rules
    from sync.fieldmap import load_field_map

    field_map = load_field_map(folder)
    rules = load_rules(folder)
    path = folder / "fields.toml"
    text = path.read_text(encoding="utf-8")
    return field_map, rules, lambda loc: where(path, text, loc)


def run_setup(settings: Any, check: bool) -> dict[str, Any]:
    """The specs for the configured mappings and, with `check`, the org's comparison."""
    folder = settings.resolve(settings.sync.mappings_dir)
    field_map, rules, locate = load_inputs(folder)
    from sync.outcomes import load_funnel

    reason = rejection_spec(load_funnel(folder))
    specs = expected_fields(field_map, rules, locate, extra=[reason] if reason else [])
    if settings.accounts.enabled:
        specs += account_field_specs()
    result: dict[str, Any] = {"fields_toml": str(folder / "fields.toml"), "fields": specs}
    if check:
        from connectors.salesforce.client import SalesforceClient

        client = SalesforceClient(settings)
        objects = {s.sobject for s in specs} | set(OBJECTS)
        describes = {obj: client.describe(obj) for obj in (*OBJECTS, ACCOUNT_OBJECT)
                     if obj in objects}
        result["check"] = check_org(specs, describes)
        result["salesforce_calls"] = client.total_calls
    return result


def result_payload(result: Mapping[str, Any], check: bool) -> dict[str, Any]:
    """`connector setup salesforce --json`."""
    payload: dict[str, Any] = {
        "fields_toml": result["fields_toml"],
        "fields": [s.as_dict() for s in result["fields"]],
    }
    if check:
        checks: list[FieldCheck] = result.get("check", [])
        payload["check"] = [asdict(c) for c in checks]
        payload["ok"] = all(c.status == "ok" for c in checks)
    return payload


def result_text(result: Mapping[str, Any], check: bool) -> str:
    lines = [format_specs(result["fields"], result["fields_toml"])]
    if check:
        lines += ["", "Checked against the org:", format_checks(result.get("check", []))]
    return "\n".join(lines)


def setup_ok(result: Mapping[str, Any]) -> bool:
    return all(c.status == "ok" for c in result.get("check", []))
