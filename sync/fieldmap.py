"""`mappings/fields.toml`: which computed value or HubSpot property goes to which Salesforce
field, on Lead and on Contact, and under which write rule. Loaded and validated here; every
mistake is reported with file, line, key and what was expected.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import ConfigError
from core.tomlfile import dotted, load_toml, where

COMPUTED_SOURCES = frozenset(
    {
        "score",
        "fit",
        "engagement",
        "grade",
        "segment",
        "stage",
        "mql_status",
        "mql_date",
        "mql_reason",
        "hubspot_id",
        "email",
    }
)
_PROPERTY_SOURCE = re.compile(r"^(contact|company)\.[A-Za-z0-9_]+$")
_SF_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

WriteRule = Literal["always", "if_blank", "unless_changed"]


class FieldMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="computed value name, or contact.<property> / company.<prop>")
    target: str
    objects: list[Literal["Lead", "Contact"]] = Field(default_factory=lambda: ["Lead", "Contact"])
    rule: WriteRule = "always"
    max_length: int | None = Field(default=None, gt=0)
    on_too_long: Literal["truncate", "reject"] = "truncate"
    value_map: dict[str, str] = Field(default_factory=dict)

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


class LeadCreation(BaseModel):
    """Fields a new Lead gets from HubSpot; Salesforce requires LastName and Company."""

    model_config = ConfigDict(extra="forbid")

    lead_source: str = "HubSpot"
    status: str = "Open - Not Contacted"
    default_company: str = "[not provided]"
    default_last_name: str = "[not provided]"


class TaskTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = "MQL: {first_name} {last_name} ({company}) scored {score}"
    description: str = (
        "{first_name} {last_name} ({email}) at {company} became a marketing-qualified lead.\n"
        "Reason: {mql_reason}\nScore {score} (fit {fit}, engagement {engagement}), grade {grade},"
        " segment {segment}.\n\nScore breakdown:\n{breakdown}"
    )
    priority: Literal["High", "Normal", "Low"] = "High"
    status: str = "Not Started"
    due_business_days: int = Field(default=2, ge=0, le=60)


class FieldMap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: list[FieldMapping] = Field(default_factory=list)
    lead_creation: LeadCreation = Field(default_factory=LeadCreation)
    task: TaskTemplate = Field(default_factory=TaskTemplate)

    def for_object(self, sobject: str) -> list[FieldMapping]:
        return [m for m in self.field if sobject in m.objects]


def load_field_map(directory: Path) -> FieldMap:
    path = directory / "fields.toml"
    data = load_toml(path)
    try:
        field_map = FieldMap.model_validate(data)
    except ValidationError as exc:
        text = path.read_text(encoding="utf-8")
        problems = [
            f"{where(path, text, tuple(e['loc']))}: {dotted(tuple(e['loc']))}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        raise ConfigError(f"{path}: {len(problems)} problem(s)", problems) from None
    duplicates = _duplicate_targets(field_map)
    if duplicates:
        raise ConfigError(
            f"{path}: a Salesforce field is mapped twice",
            [
                f"{path}: {obj}.{target} is the target of more than one [[field]]"
                for obj, target in duplicates
            ],
        )
    return field_map


def _duplicate_targets(field_map: FieldMap) -> list[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    dupes: list[tuple[str, str]] = []
    for mapping in field_map.field:
        for obj in mapping.objects:
            key = (obj, mapping.target)
            if key in seen:
                dupes.append(key)
            seen.add(key)
    return dupes
