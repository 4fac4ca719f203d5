"""`mappings/fields.toml`: which computed value or HubSpot property goes to which Salesforce
field, on Lead and on Contact, under which write rule and transforms; the new-Lead defaults;
the follow-up Tasks (triggers, templates, routing). Loaded and validated here; every mistake
is reported with file, line, key and what was expected.

Templates use `{{name}}` placeholders (`TASK_PLACEHOLDERS`). A template without any `{{`
is read in the older single-brace form (`{name}`), so files written for it keep working;
unknown placeholders are configuration errors in both forms.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from core.errors import ConfigError
from core.regex import compile_glob
from core.tomlfile import load_model, where

# Computed values and the kind of value each one is (see `sync.plan.computed_values`).
COMPUTED_KINDS: dict[str, str] = {
    "score": "number",
    "fit": "number",
    "engagement": "number",
    "grade": "string",
    "segment": "string",
    "stage": "string",
    "mql_status": "string",
    "mql_date": "datetime",
    "mql_reason": "string",
    "hubspot_id": "string",
    "email": "string",
}
COMPUTED_SOURCES = frozenset(COMPUTED_KINDS)
_PROPERTY_SOURCE = re.compile(r"^(contact|company)\.[A-Za-z0-9_]+$")
_SF_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# 15 or 18 characters; 005 = User, 00G = Group (queue).
_OWNER_ID = re.compile(r"^(005|00G)[a-zA-Z0-9]{12}(?:[a-zA-Z0-9]{3})?$")

WriteRule = Literal["always", "if_blank", "unless_changed"]
ValueFormat = Literal["date", "datetime", "number", "boolean"]
TaskTrigger = Literal["mql", "hot"]

# What a `format` turns a value into, and which source kinds it can read.
FORMAT_KINDS: dict[str, str] = {
    "date": "date",
    "datetime": "datetime",
    "number": "number",
    "boolean": "boolean",
}
_FORMAT_READS: dict[str, frozenset[str]] = {
    "date": frozenset({"date", "datetime", "string"}),
    "datetime": frozenset({"date", "datetime", "string"}),
    "number": frozenset({"number", "string"}),
    "boolean": frozenset({"boolean", "string"}),
}

TASK_PLACEHOLDERS = frozenset(
    {
        "first_name",
        "last_name",
        "company",
        "email",
        "score",
        "fit",
        "engagement",
        "grade",
        "segment",
        "stage",
        "mql_status",
        "mql_reason",
        "mql_date",
        "hubspot_id",
        "breakdown",
        "trigger",
        "episode",
        "due_date",
    }
)
_DOUBLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SINGLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _placeholder_pattern(template: str) -> re.Pattern[str]:
    return _DOUBLE if "{{" in template else _SINGLE


def template_placeholders(template: str) -> list[str]:
    """Placeholder names used in `template`, in order of appearance."""
    return _placeholder_pattern(template).findall(template)


def render_template(template: str, values: dict[str, Any]) -> str:
    """Fill `{{name}}` placeholders (or `{name}` in a template without `{{`); None is ''."""

    def fill(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in values:
            return found.group(0)
        value = values[name]
        return "" if value is None else str(value)

    return _placeholder_pattern(template).sub(fill, template)


def _check_template(value: str) -> str:
    unknown = sorted(set(template_placeholders(value)) - TASK_PLACEHOLDERS)
    if unknown:
        raise ValueError(
            f"unknown placeholder(s) {', '.join(unknown)}; expected "
            + ", ".join("{{" + p + "}}" for p in sorted(TASK_PLACEHOLDERS))
        )
    return value


def source_kind(source: str) -> str | None:
    """The kind of value a computed source gives; None for HubSpot properties (see the
    HubSpot property definition)."""
    return COMPUTED_KINDS.get(source)


class FieldMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="computed value name, or contact.<property> / company.<prop>")
    target: str
    objects: list[Literal["Lead", "Contact"]] = Field(default_factory=lambda: ["Lead", "Contact"])
    rule: WriteRule = "always"
    value_map: dict[str, str] = Field(default_factory=dict)
    format: ValueFormat | None = None
    max_length: int | None = Field(default=None, gt=0)
    on_too_long: Literal["truncate", "reject"] = "truncate"

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if value in COMPUTED_SOURCES or _PROPERTY_SOURCE.match(value):
            return value
        raise ValueError(
            f"unknown source {value!r}; expected one of {', '.join(sorted(COMPUTED_SOURCES))} "
            "or contact.<property> / company.<property>"
        )

    @field_validator("target")
    @classmethod
    def _sf_name(cls, value: str) -> str:
        if not _SF_FIELD.match(value):
            raise ValueError(f"{value!r} is not a Salesforce field API name")
        return value

    @field_validator("format")
    @classmethod
    def _format_fits_source(cls, value: str | None, info: Any) -> str | None:
        source = info.data.get("source")
        kind = source_kind(source) if source else None
        if value is not None and kind is not None and kind not in _FORMAT_READS[value]:
            raise ValueError(f"format {value!r} cannot be applied to {source!r} (a {kind})")
        return value

    @model_validator(mode="after")
    def _reject_needs_length(self) -> FieldMapping:
        if self.on_too_long == "reject" and self.max_length is None:
            raise ValueError("on_too_long = 'reject' needs max_length")
        return self

    @property
    def scope(self) -> str | None:
        """'contact' or 'company' for a HubSpot property source, else None."""
        return self.source.split(".", 1)[0] if "." in self.source else None

    @property
    def property_name(self) -> str | None:
        return self.source.split(".", 1)[1] if "." in self.source else None

    def value_kind(self) -> str:
        """The kind of value written: the format's, else the computed source's; a HubSpot
        property without a format is written as the text HubSpot sends."""
        if self.format is not None:
            return FORMAT_KINDS[self.format]
        return source_kind(self.source) or "string"


class LeadCreation(BaseModel):
    """Fields a new Lead gets from HubSpot; Salesforce requires LastName and Company."""

    model_config = ConfigDict(extra="forbid")

    lead_source: str = "HubSpot"
    status: str = "Open - Not Contacted"
    default_company: str = "[not provided]"
    default_last_name: str = "[not provided]"


class TaskRoute(BaseModel):
    """One routing rule: every condition given must hold; the first rule that holds names the
    Task owner. A rule without conditions matches every lead (a catch-all)."""

    model_config = ConfigDict(extra="forbid")

    segment: str | None = Field(default=None, description="glob on the segment string")
    stage: list[str] | None = Field(default=None, description="scoring stage name(s)")
    trigger: TaskTrigger | None = None
    owner_id: str

    @field_validator("segment")
    @classmethod
    def _glob_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_glob(value.lower())  # ValueError when too long
        return value

    @field_validator("stage", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("owner_id")
    @classmethod
    def _owner(cls, value: str) -> str:
        if not _OWNER_ID.match(value):
            raise ValueError(
                f"{value!r} is not a User (005...) or queue (00G...) Id of 15 or 18 characters"
            )
        return value


class TaskTemplate(BaseModel):
    """The follow-up Tasks: which events create one, how they read, who gets them."""

    model_config = ConfigDict(extra="forbid")

    triggers: list[TaskTrigger] = Field(default_factory=lambda: ["mql"])
    subject: str = "MQL: {{first_name}} {{last_name}} ({{company}}) scored {{score}}"
    description: str = (
        "{{first_name}} {{last_name}} ({{email}}) at {{company}} became a marketing-qualified "
        "lead.\nReason: {{mql_reason}}\nScore {{score}} (fit {{fit}}, engagement "
        "{{engagement}}), grade {{grade}}, segment {{segment}}.\n\nScore breakdown:\n"
        "{{breakdown}}"
    )
    hot_subject: str = "Hot lead: {{first_name}} {{last_name}} ({{company}}) scored {{score}}"
    hot_description: str = (
        "{{first_name}} {{last_name}} ({{email}}) at {{company}} became a hot lead "
        "(stage {{stage}}).\nScore {{score}} (fit {{fit}}, engagement {{engagement}}), grade "
        "{{grade}}, segment {{segment}}.\n\nScore breakdown:\n{{breakdown}}"
    )
    hot_stages: list[str] = Field(default_factory=lambda: ["hot", "mql"], min_length=1)
    hot_rearm_days: int = Field(default=14, ge=0, le=365)
    priority: Literal["High", "Normal", "Low"] = "High"
    status: str = "Not Started"
    due_business_days: int = Field(default=2, ge=0, le=60)
    route: list[TaskRoute] = Field(default_factory=list)

    @field_validator("subject", "description", "hot_subject", "hot_description")
    @classmethod
    def _templates(cls, value: str) -> str:
        return _check_template(value)

    @field_validator("triggers")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a trigger is listed twice")
        return value

    @field_validator("hot_stages")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.lower() for v in value]


class FieldMap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: list[FieldMapping] = Field(default_factory=list)
    lead_creation: LeadCreation = Field(default_factory=LeadCreation)
    task: TaskTemplate = Field(default_factory=TaskTemplate)

    def for_object(self, sobject: str) -> list[FieldMapping]:
        return [m for m in self.field if sobject in m.objects]

    def watched_fields(self, sobject: str) -> list[str]:
        """Fields whose rule needs the record's current value (if_blank, unless_changed)."""
        return [m.target for m in self.for_object(sobject) if m.rule != "always"]

    def hubspot_properties(self, scope: str) -> list[str]:
        """HubSpot properties the mappings read from `scope` ('contact' or 'company')."""
        return sorted({m.property_name for m in self.field if m.scope == scope and m.property_name})


def load_field_map(directory: Path) -> FieldMap:
    path = directory / "fields.toml"
    field_map = load_model(path, FieldMap)
    duplicates = _duplicate_targets(field_map)
    if duplicates:
        text = path.read_text(encoding="utf-8")
        raise ConfigError(
            f"{path}: a Salesforce field is mapped twice",
            [
                f"{where(path, text, ('field', index, 'target'))}: {obj}.{target} is the target "
                "of more than one [[field]]"
                for obj, target, index in duplicates
            ],
        )
    return field_map


def _duplicate_targets(field_map: FieldMap) -> list[tuple[str, str, int]]:
    seen: set[tuple[str, str]] = set()
    dupes: list[tuple[str, str, int]] = []
    for index, mapping in enumerate(field_map.field):
        for obj in mapping.objects:
            key = (obj, mapping.target)
            if key in seen:
                dupes.append((obj, mapping.target, index))
            seen.add(key)
    return dupes
