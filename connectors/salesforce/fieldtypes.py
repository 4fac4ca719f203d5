"""Salesforce field types as describe reports them, what each accepts, how Setup names them.

The connector writes values of five kinds (see `sync.fieldmap`): string, number, date,
datetime, boolean. `ACCEPTS[kind]` lists the describe `type`s a value of that kind can be
written to without Salesforce refusing the record. HubSpot sends every property value as
text; `HUBSPOT_FORMATS` names the `format` that turns a HubSpot property type into the kind
its Salesforce field wants.
"""

from __future__ import annotations

TEXT_TYPES = frozenset(
    {"string", "textarea", "email", "phone", "url", "encryptedstring", "combobox"}
)
PICKLIST_TYPES = frozenset({"picklist", "multipicklist"})
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int", "long"})

ACCEPTS: dict[str, frozenset[str]] = {
    "string": TEXT_TYPES | PICKLIST_TYPES,
    # Salesforce reads a JSON number into a text field as its decimal text.
    "number": NUMBER_TYPES | {"string", "textarea"},
    "date": frozenset({"date", "string", "textarea"}),
    "datetime": frozenset({"datetime", "string", "textarea"}),
    "boolean": frozenset({"boolean", "string", "textarea"}),
}

# HubSpot property `type` -> the `format` that writes it as its Salesforce kind.
HUBSPOT_FORMATS: dict[str, str] = {
    "number": "number",
    "date": "date",
    "datetime": "datetime",
    "bool": "boolean",
}
HUBSPOT_ENUMERATION = "enumeration"

# What a describe `type` is called in Setup > Object Manager > Fields & Relationships.
SETUP_NAMES: dict[str, str] = {
    "string": "Text",
    "textarea": "Text Area",
    "email": "Email",
    "phone": "Phone",
    "url": "URL",
    "picklist": "Picklist",
    "multipicklist": "Picklist (Multi-Select)",
    "double": "Number",
    "currency": "Currency",
    "percent": "Percent",
    "int": "Number",
    "date": "Date",
    "datetime": "Date/Time",
    "boolean": "Checkbox",
    "reference": "Lookup",
}


def accepts(kind: str, sf_type: str) -> bool:
    return sf_type in ACCEPTS.get(kind, frozenset())


def is_text(sf_type: str) -> bool:
    return sf_type in TEXT_TYPES


def is_picklist(sf_type: str) -> bool:
    return sf_type in PICKLIST_TYPES
