"""The describe-shaped schema the sandbox serves and validates every write against."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "salesforce_schema.json"

TEXT_TYPES = frozenset(
    {"string", "email", "phone", "url", "textarea", "picklist", "combobox", "multipicklist"}
)
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})


@dataclass(frozen=True)
class Field:
    """One field's describe entry, with the attributes the sandbox acts on lifted out."""

    raw: dict[str, Any]
    name: str
    label: str
    type: str
    length: int
    precision: int
    scale: int
    digits: int
    nillable: bool
    createable: bool
    updateable: bool
    defaulted_on_create: bool
    external_id: bool
    unique: bool
    case_sensitive: bool
    restricted_picklist: bool
    picklist_values: tuple[str, ...]
    default_picklist_value: str | None
    default_value: Any
    reference_to: tuple[str, ...]
    relationship_name: str | None

    @classmethod
    def from_describe(cls, raw: dict[str, Any]) -> Field:
        values = tuple(p["value"] for p in raw.get("picklistValues", []) if p.get("active"))
        default_pick = next(
            (p["value"] for p in raw.get("picklistValues", []) if p.get("defaultValue")), None
        )
        return cls(
            raw=raw,
            name=raw["name"],
            label=raw["label"],
            type=raw["type"],
            length=int(raw.get("length") or 0),
            precision=int(raw.get("precision") or 0),
            scale=int(raw.get("scale") or 0),
            digits=int(raw.get("digits") or 0),
            nillable=bool(raw.get("nillable")),
            createable=bool(raw.get("createable")),
            updateable=bool(raw.get("updateable")),
            defaulted_on_create=bool(raw.get("defaultedOnCreate")),
            external_id=bool(raw.get("externalId")),
            unique=bool(raw.get("unique")),
            case_sensitive=bool(raw.get("caseSensitive")),
            restricted_picklist=bool(raw.get("restrictedPicklist")),
            picklist_values=values,
            default_picklist_value=default_pick,
            default_value=raw.get("defaultValue"),
            reference_to=tuple(raw.get("referenceTo") or ()),
            relationship_name=raw.get("relationshipName"),
        )

    @property
    def required_on_create(self) -> bool:
        """What describe says makes a field required: createable, not nillable, no default."""
        return self.createable and not self.nillable and not self.defaulted_on_create

    @property
    def is_text(self) -> bool:
        return self.type in TEXT_TYPES

    @property
    def is_id(self) -> bool:
        return self.type in ID_TYPES


@dataclass
class SObject:
    raw: dict[str, Any]
    name: str
    label: str
    key_prefix: str
    fields: dict[str, Field]  # canonical name -> Field, in describe order
    _by_lower: dict[str, Field] = field(default_factory=dict)
    _by_relationship: dict[str, Field] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_lower = {name.lower(): f for name, f in self.fields.items()}
        self._by_relationship = {
            f.relationship_name.lower(): f for f in self.fields.values() if f.relationship_name
        }

    def field(self, name: str) -> Field | None:
        """The field named `name`, matched case-insensitively as Salesforce does."""
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> Field | None:
        return self._by_relationship.get(name.lower())

    def delete_field(self, name: str) -> None:
        """What an admin's Setup > Fields & Relationships > Delete does to the schema: the
        field leaves describe, SOQL (`INVALID_FIELD`) and DML. KeyError: no such field."""
        known = self.field(name)
        if known is None:
            raise KeyError(f"{self.name}.{name}")
        del self.fields[known.name]
        self.raw["fields"] = [f for f in self.raw["fields"] if f["name"] != known.name]
        self.__post_init__()

    def external_id_fields(self) -> list[Field]:
        return [f for f in self.fields.values() if f.external_id]

    def unique_fields(self) -> list[Field]:
        return [f for f in self.fields.values() if f.unique]


class Schema:
    """All objects of the schema file; object names match case-insensitively."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self._payload = payload
        self.objects: dict[str, SObject] = {}
        for name, raw in payload["sobjects"].items():
            fields = {f["name"]: Field.from_describe(f) for f in raw["fields"]}
            self.objects[name] = SObject(
                raw=raw, name=name, label=raw["label"], key_prefix=raw["keyPrefix"], fields=fields
            )
        self._by_lower = {name.lower(): obj for name, obj in self.objects.items()}
        self._by_prefix = {obj.key_prefix: obj for obj in self.objects.values()}

    @classmethod
    def load(cls, path: Path = SCHEMA_PATH) -> Schema:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def get(self, name: str) -> SObject | None:
        return self._by_lower.get(name.lower())

    def by_prefix(self, prefix: str) -> SObject | None:
        return self._by_prefix.get(prefix)

    # ------------------------------------------------------------------ describe answers

    def describe(self, obj: SObject, version: str) -> dict[str, Any]:
        """The full `GET /sobjects/{Object}/describe` answer."""
        raw = copy.deepcopy(obj.raw)
        raw.update(
            {
                "childRelationships": [],
                "recordTypeInfos": [],
                "supportedScopes": [{"label": "All records", "name": "everything"}],
                "urls": self._urls(obj, version, describe=True),
            }
        )
        return raw

    def basic_info(self, obj: SObject, version: str) -> dict[str, Any]:
        """One entry of `GET /sobjects/` (the describe without its fields)."""
        raw = {k: v for k, v in obj.raw.items() if k != "fields"}
        raw["urls"] = self._urls(obj, version, describe=False)
        return raw

    @staticmethod
    def _urls(obj: SObject, version: str, describe: bool) -> dict[str, str]:
        base = f"/services/data/v{version}/sobjects/{obj.name}"
        urls = {
            "rowTemplate": f"{base}/{{ID}}",
            "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
            "describe": f"{base}/describe",
            "sobject": base,
        }
        if describe:
            urls["uiDetailTemplate"] = "/{ID}"
            urls["uiEditTemplate"] = "/{ID}/e"
            urls["uiNewRecord"] = f"/{obj.key_prefix}/e"
        return urls
