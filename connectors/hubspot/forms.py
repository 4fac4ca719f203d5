"""Which HubSpot forms count as which activity kind (`mappings/forms.toml`).

    [[form]]
    match_name = "(?i)white ?paper|ホワイトペーパー"
    kind = "whitepaper_download"

    [[form]]
    match_id = "5f0e0c4e-...."
    kind = "consultation_request"

Rules are tried in order; the first match wins. A form no rule matches is not read at all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.regex import compile_regex
from core.tomlfile import load_model

_KIND = re.compile(r"^[a-z][a-z0-9_]*$")


class FormRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    match_id: str | None = Field(default=None, description="The form's GUID (exact).")
    match_name: str | None = Field(
        default=None, description="A regular expression searched in the form's name."
    )
    kind: str

    @field_validator("match_name")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_regex(value)  # ValueError says why (size, nesting, syntax)
        return value

    @field_validator("match_id")
    @classmethod
    def _strip_id(cls, value: str | None) -> str | None:
        return value.strip().lower() if value is not None else None

    @field_validator("kind")
    @classmethod
    def _kind_shape(cls, value: str) -> str:
        if not _KIND.match(value):
            raise ValueError("kind must be lower_snake_case, e.g. whitepaper_download")
        return value

    @model_validator(mode="after")
    def _one_matcher(self) -> FormRule:
        if (self.match_id is None) == (self.match_name is None):
            raise ValueError("give exactly one of match_id or match_name")
        return self

    def matches(self, form_id: str, form_name: str) -> bool:
        if self.match_id is not None:
            return form_id.strip().lower() == self.match_id
        assert self.match_name is not None
        return compile_regex(self.match_name).search(form_name or "") is not None


class FormRules(BaseModel):
    """Ordered rules mapping a form (by GUID or name) to an activity kind."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    rules: tuple[FormRule, ...] = Field(default=(), alias="form")

    def kind_for(self, form_id: str, form_name: str) -> str | None:
        """The activity kind of this form, or None when no rule names it."""
        for rule in self.rules:
            if rule.matches(form_id, form_name):
                return rule.kind
        return None

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> FormRules:
        """From the parsed TOML (a `form` array of tables); raises pydantic's ValidationError."""
        return cls.model_validate(data)

    @classmethod
    def load(cls, path: Path) -> FormRules:
        """Read `path` (e.g. mappings/forms.toml); any problem raises one ConfigError."""
        return load_model(path, cls)
