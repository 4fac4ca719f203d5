"""`mappings/hubspot.toml`: which computed values the connector writes back onto HubSpot
contact properties, and how each value is spelled for HubSpot. Pure: no I/O besides reading
the mapping file, no clock.

Every computed value has one HubSpot property type (`SOURCE_TYPES`): scores are `number`,
stage and MQL status are `enumeration` (select) whose options are every value the connector
may write, the MQL date is a `date`, the rest `string`. On the wire every value is a string
(HubSpot's CRM API takes and returns property values as text):

- number: the integer as decimal text ("42");
- enumeration: the option's internal value (after `value_map`); it must be an option of the
  property, or HubSpot refuses the whole batch (400 VALIDATION_ERROR, INVALID_OPTION);
- date: epoch milliseconds of midnight UTC of the day ("1763683200000"): HubSpot refuses a
  date that is not midnight UTC;
- a value that is not there (not an MQL: no MQL date) is "", which clears the property.

A missing `hubspot.toml` means the defaults below, so mapping folders written before the
write-back existed keep working.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.errors import ConfigError
from core.tomlfile import load_model, where
from sync.plan import MQL_STATUS_VALUES, STAGE_PICKLIST, LeadInput, computed_values

FILE_NAME = "hubspot.toml"
OBJECT_TYPE = "contacts"
# The state store's `written.sobject` under which HubSpot values are kept (never a
# Salesforce object name, so the Salesforce planner never reads them).
WRITTEN_SOBJECT = "HubSpot.contact"

Source = Literal[
    "score", "fit", "engagement", "grade", "segment", "stage", "mql_status", "mql_date",
    "mql_reason",
]
# source -> (HubSpot type, fieldType)
SOURCE_TYPES: dict[str, tuple[str, str]] = {
    "score": ("number", "number"),
    "fit": ("number", "number"),
    "engagement": ("number", "number"),
    "grade": ("string", "text"),
    "segment": ("string", "text"),
    "stage": ("enumeration", "select"),
    "mql_status": ("enumeration", "select"),
    "mql_date": ("date", "date"),
    "mql_reason": ("string", "textarea"),
}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# HubSpot-defined names a custom property may not take over.
_RESERVED_PREFIX = "hs_"


class PropertyMapping(BaseModel):
    """One `[[property]]`: a computed value and the HubSpot contact property it goes to."""

    model_config = ConfigDict(extra="forbid")

    source: Source
    name: str = Field(description="internal name of the HubSpot contact property")
    label: str | None = None
    description: str = ""
    value_map: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a HubSpot property name (lower-case letters, digits and _, "
                "starting with a letter)"
            )
        if value.startswith(_RESERVED_PREFIX):
            raise ValueError(f"{value!r}: names starting with hs_ are reserved by HubSpot")
        return value

    @model_validator(mode="after")
    def _value_map_only_for_enumerations(self) -> PropertyMapping:
        if self.value_map and self.type != "enumeration":
            raise ValueError(
                f"value_map only applies to stage and mql_status (a {self.type} property)"
            )
        return self

    @property
    def type(self) -> str:
        return SOURCE_TYPES[self.source][0]

    @property
    def field_type(self) -> str:
        return SOURCE_TYPES[self.source][1]


class PropertyGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "connector_scoring"
    label: str = "Lead scoring (connector)"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not a HubSpot property group name")
        return value


def _default_properties() -> list[PropertyMapping]:
    return [
        PropertyMapping(source="score", name="connector_lead_score", label="Lead score"),
        PropertyMapping(source="fit", name="connector_fit_score", label="Fit score"),
        PropertyMapping(
            source="engagement", name="connector_engagement_score", label="Engagement score"
        ),
        PropertyMapping(source="grade", name="connector_lead_grade", label="Lead grade"),
        PropertyMapping(source="segment", name="connector_segment", label="Segment"),
        PropertyMapping(source="stage", name="connector_lead_stage", label="Lead stage"),
        PropertyMapping(source="mql_status", name="connector_mql_status", label="MQL status"),
        PropertyMapping(source="mql_date", name="connector_mql_date", label="MQL date"),
    ]


class HubSpotMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group: PropertyGroup = Field(default_factory=PropertyGroup)
    property: list[PropertyMapping] = Field(default_factory=_default_properties)

    def by_name(self) -> dict[str, PropertyMapping]:
        return {p.name: p for p in self.property}


def load_hubspot_mapping(directory: Path) -> HubSpotMapping:
    """`directory/hubspot.toml`, or the defaults when there is none; ConfigError with
    file:line for every mistake."""
    path = directory / FILE_NAME
    if not path.exists():
        return HubSpotMapping()
    mapping = load_model(path, HubSpotMapping)
    text = path.read_text(encoding="utf-8")
    problems = []
    seen: set[str] = set()
    for index, prop in enumerate(mapping.property):
        if prop.name in seen:
            problems.append(
                f"{where(path, text, ('property', index, 'name'))}: property[{index}].name: "
                f"{prop.name!r} is mapped twice"
            )
        seen.add(prop.name)
    if problems:
        raise ConfigError(f"{path}: a HubSpot property is mapped twice", problems)
    return mapping


def validate_hubspot_mapping(directory: Path) -> list[str]:
    """The problems of `directory/hubspot.toml` (none when it is absent), one line each."""
    try:
        load_hubspot_mapping(directory)
    except ConfigError as exc:
        return exc.problems or [str(exc)]
    return []


# ---------------------------------------------------------------------- options and values


def stage_options(rules: Any | None) -> list[str]:
    """Every stage the connector may write, in funnel order: the stages of the scoring rules
    (Cold ... MQL) and the later ones a sales process reaches (SQL, Opportunity, Won, Lost)."""
    known = list(STAGE_PICKLIST)
    names = list(STAGE_PICKLIST.values())
    if rules is not None:
        custom = [rules.default_stage, *(stage for stage, _ in rules.stage_rules)]
        names += [s for s in custom if s.lower() not in known]
    return list(dict.fromkeys(STAGE_PICKLIST.get(n.lower(), n) for n in names))


def options_for(prop: PropertyMapping, rules: Any | None = None) -> list[tuple[str, str]]:
    """(value, label) of every option an enumeration property needs; [] for other types."""
    if prop.source == "stage":
        raw = stage_options(rules)
    elif prop.source == "mql_status":
        raw = list(MQL_STATUS_VALUES)
    else:
        return []
    pairs = [(prop.value_map.get(v, v), v) for v in raw]
    return list(dict.fromkeys(pairs))


def midnight_ms(moment: datetime) -> int:
    """Epoch milliseconds of midnight UTC of `moment`'s UTC day (a HubSpot date value)."""
    day = (moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)).date()
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def format_number(value: Any) -> str:
    if value is None or value == "":
        return ""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def hubspot_values(lead: LeadInput, mapping: HubSpotMapping) -> dict[str, str]:
    """Every mapped property's value for `lead`, as HubSpot stores it (text). The values are
    the ones the Salesforce planner writes (`sync.plan.computed_values`)."""
    computed = computed_values(lead)
    out: dict[str, str] = {}
    for prop in mapping.property:
        if prop.source == "mql_date":
            since = lead.score.mql_since if lead.score.is_mql else None
            out[prop.name] = str(midnight_ms(since)) if since is not None else ""
            continue
        value = computed.get(prop.source)
        if prop.type == "number":
            out[prop.name] = format_number(value)
        elif value is None:
            out[prop.name] = ""
        else:
            text = str(value)
            out[prop.name] = prop.value_map.get(text, text)
    return out


@dataclass(frozen=True)
class PropertySpec:
    """One contact property as `POST /crm/v3/properties/contacts` takes it."""

    name: str
    label: str
    type: str
    field_type: str
    group: str
    description: str
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    source: str = ""

    def create_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": self.group,
            "description": self.description,
            "formField": False,
        }
        if self.options:
            body["options"] = [
                {"value": value, "label": label, "displayOrder": order, "hidden": False}
                for order, (value, label) in enumerate(self.options)
            ]
        return body


def property_specs(mapping: HubSpotMapping, rules: Any | None = None) -> list[PropertySpec]:
    return [
        PropertySpec(
            name=prop.name,
            label=prop.label or prop.name,
            type=prop.type,
            field_type=prop.field_type,
            group=mapping.group.name,
            description=prop.description
            or f"Written by the lead-scoring connector ({prop.source}); do not edit by hand.",
            options=tuple(options_for(prop, rules)),
            source=prop.source,
        )
        for prop in mapping.property
    ]


def allowed_values(specs: Sequence[PropertySpec]) -> Mapping[str, frozenset[str]]:
    """Enumeration property -> the option values it takes."""
    return {s.name: frozenset(v for v, _ in s.options) for s in specs if s.type == "enumeration"}


__all__ = [
    "FILE_NAME",
    "SOURCE_TYPES",
    "WRITTEN_SOBJECT",
    "HubSpotMapping",
    "PropertyMapping",
    "PropertySpec",
    "allowed_values",
    "hubspot_values",
    "load_hubspot_mapping",
    "midnight_ms",
    "options_for",
    "property_specs",
    "validate_hubspot_mapping",
]
