"""Portal validation rules an admin configures, and which CRM writes they bind.

Two kinds, each from a HubSpot source:
- **required** (optionally only `when` another property has a given value): "conditional
  required properties" and "required fields on the Create Record form". HubSpot's changelog
  "Breaking Change: CRM API Write Validation Enforcement Starting with the 2026-09 API Version"
  (2026-08-11): from `/2026-09/` on, these rules apply to API writes and a write that breaks
  one gets a 400 validation error (`"category": "VALIDATION_ERROR"`); before, "these rules were
  UI-only and the API ignored them". So they bind dated writes of version 2026-09 or later
  only; v3 writes and `/2026-03/` writes pass.
- **pattern** (the value must match a regular expression, like the property validation rules
  "only letters", "numeric only"): enforced on every API version since 2023-07-24 (changelog
  "Upcoming: Property Validations Rules will be enforced for APIs and Integrations"), with a
  400 "Property values were not valid: [{isValid, message, error, name}]".

A required rule is checked on the record as it would be after the write (stored values plus
the written ones), as the UI checks the record being saved. The error detail's code
(`REQUIRED_PROPERTY_MISSING`) and wording are DECIDED: the changelog's example body is not
quoted in full anywhere we could read.

Rules are configured with `POST /_sandbox/validation-rules` (see `server.py`) or
`HubSpotSandbox.set_rules`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.hubspot.constants import OBJECT_TYPE_ALIASES

ENFORCED_FROM = "2026-09"


@dataclass(frozen=True, slots=True)
class ValidationRule:
    object_type: str
    property_name: str
    required: bool = False
    pattern: re.Pattern[str] | None = None
    message: str = ""
    when_property: str | None = None
    when_value: str | None = None

    def applies_to(self, version: str | None) -> bool:
        """Pattern rules bind every version; required rules dated ones from 2026-09."""
        if self.pattern is not None:
            return True
        return version is not None and version >= ENFORCED_FROM

    def problem(self, after: Mapping[str, str | None], written: Mapping[str, Any]) -> str | None:
        """Why the record as it would be after the write breaks this rule, or None."""
        if self.when_property is not None:
            current = str(after.get(self.when_property) or "").lower()
            if current != str(self.when_value or "").lower():
                return None
        value = after.get(self.property_name)
        if self.required and value in (None, ""):
            if self.when_property is not None:
                return (
                    f"{self.property_name} is required when {self.when_property} is "
                    f"{self.when_value}"
                )
            return f"{self.property_name} is required"
        if (
            self.pattern is not None
            and self.property_name in written
            and value not in (None, "")
            and not self.pattern.fullmatch(str(value))
        ):
            return self.message or f"{value} does not match the required format"
        return None


def parse_rules(raw: Any) -> list[ValidationRule]:
    """Rules from the admin endpoint's JSON: `{"rules": [{"objectType", "propertyName",
    "required"?, "pattern"?, "message"?, "when"?: {"propertyName", "value"}}]}`."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("rules"), list):
        raise ValueError('expected {"rules": [...]}')
    return [_rule(item) for item in raw["rules"]]


def _rule(item: Any) -> ValidationRule:
    if not isinstance(item, Mapping):
        raise ValueError("each rule must be an object")
    object_type = OBJECT_TYPE_ALIASES.get(str(item.get("objectType", "")).lower())
    name = str(item.get("propertyName") or "")
    if object_type is None or not name:
        raise ValueError("each rule needs a known objectType and a propertyName")
    pattern = item.get("pattern")
    required = bool(item.get("required", False))
    if not required and not pattern:
        raise ValueError(f"rule on {name}: give required=true or a pattern")
    when = item.get("when")
    if when is not None and not (isinstance(when, Mapping) and when.get("propertyName")):
        raise ValueError(f"rule on {name}: when needs a propertyName and a value")
    try:
        compiled = re.compile(str(pattern)) if pattern else None
    except re.error as exc:
        raise ValueError(f"rule on {name}: bad pattern: {exc}") from exc
    return ValidationRule(
        object_type=object_type,
        property_name=name,
        required=required,
        pattern=compiled,
        message=str(item.get("message") or ""),
        when_property=str(when["propertyName"]) if when else None,
        when_value=str(when.get("value", "")) if when else None,
    )


def rules_json(rules: Iterable[ValidationRule]) -> list[dict[str, Any]]:
    out = []
    for rule in rules:
        item: dict[str, Any] = {
            "objectType": rule.object_type,
            "propertyName": rule.property_name,
            "required": rule.required,
        }
        if rule.pattern is not None:
            item["pattern"] = rule.pattern.pattern
        if rule.message:
            item["message"] = rule.message
        if rule.when_property is not None:
            item["when"] = {"propertyName": rule.when_property, "value": rule.when_value}
        out.append(item)
    return out
