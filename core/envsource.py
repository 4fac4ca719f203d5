"""`CONNECTOR_*` environment variables, read into the shape of the settings.

    CONNECTOR_SYNC__CREATE_LEADS_FOR=all                 one key of a section
    CONNECTOR_HUBSPOT__CONTACT_PROPERTIES=email,jobtitle a list: comma-separated ...
    CONNECTOR_HUBSPOT__CONTACT_PROPERTIES='["email"]'    ... or JSON
    CONNECTOR_SYNC='{"create_leads_for": "all"}'         a whole section: a JSON object

Names are case-insensitive. Every mistake is one problem naming the variable and what is
expected; a value is never repeated in a message (it may be a token or a password).

Unknown names: a variable with `__` in it, or named after a section, is meant for the
connector, so one that names no setting is an error (with the closest setting suggested). Any
other `CONNECTOR_*` variable may belong to something else on the machine: it only gets a
warning when it is close to a setting's name. `CONNECTOR_CONFIG` (the config file),
`CONNECTOR_NOW` (the command's clock, `core.clock`) and `CONNECTOR_TEST_*` (the test suite)
are not settings and are skipped.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from core.suggest import closest
from core.tomlfile import MAX_DEPTH, too_deep

NOT_SETTINGS = ("CONFIG", "NOW")  # the config file; the command clock (core.clock)
NOT_SETTINGS_PREFIXES = ("TEST_",)


@dataclass
class EnvReading:
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[tuple[str, ...], str] = field(default_factory=dict)  # key path -> variable
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def origin(self, loc: tuple[str | int, ...]) -> str | None:
        """The variable that set `loc` or the section holding it, if one did."""
        key = tuple(str(p) for p in loc)
        while key:
            if key in self.origins:
                return self.origins[key]
            key = key[:-1]
        return None


def read_env(
    model: type[BaseModel], environ: Mapping[str, str], prefix: str, *, skip: tuple[str, ...]
) -> EnvReading:
    """The settings `environ` gives for `model` (sections are nested models), with every
    problem; `skip` names fields that are not settable (e.g. `config_path`)."""
    reading = EnvReading()
    sections = {name: info.annotation for name, info in model.model_fields.items()
                if name not in skip}
    known = _known_names(sections)
    ours = [(name, name[len(prefix):]) for name in environ if name.upper().startswith(prefix)]
    # Whole sections (JSON objects) first, so that single keys override them.
    for name, rest in sorted(ours, key=lambda item: (item[1].count("__"), item[1])):
        upper = rest.upper()
        if upper in NOT_SETTINGS or upper.startswith(NOT_SETTINGS_PREFIXES):
            continue
        parts = rest.lower().split("__")
        section = sections.get(parts[0])
        if section is None or len(parts) > 2 or (len(parts) == 2 and parts[1] not in
                                                 _model_of(section).model_fields):
            _unknown(reading, name, parts, known, prefix)
            continue
        value = environ[name]
        if len(parts) == 1:
            decoded = _json_object(value)
            if decoded is None:
                reading.problems.append(
                    f"environment variable {name}: expected a JSON object such as "
                    f'{{"key": "value"}}, or one variable per key: {name}__<KEY>'
                )
                continue
            reading.values.setdefault(parts[0], {}).update(decoded)
        else:
            target = _model_of(section).model_fields[parts[1]].annotation
            try:
                decoded = _decode(value, target)
            except ValueError as exc:
                reading.problems.append(f"environment variable {name}: {exc}")
                continue
            section_values = reading.values.setdefault(parts[0], {})
            if isinstance(section_values, dict):
                section_values[parts[1]] = decoded
        reading.origins[tuple(parts)] = name
    return reading


def _known_names(sections: dict[str, Any]) -> list[str]:
    """Every settable name after the prefix: SYNC, SYNC__BULK_THRESHOLD, ..."""
    names = []
    for section, annotation in sections.items():
        names.append(section.upper())
        names += [f"{section.upper()}__{key.upper()}" for key in _model_of(annotation).model_fields]
    return names


def _unknown(
    reading: EnvReading, name: str, parts: list[str], known: list[str], prefix: str
) -> None:
    match = closest("__".join(parts).upper(), known)
    hint = f"; did you mean {prefix}{match}?" if match else ""
    if len(parts) > 1:
        reading.problems.append(f"environment variable {name}: names no setting{hint}")
    elif match is not None:
        reading.warnings.append(
            f"environment variable {name} names no setting and is ignored{hint}"
        )


def _model_of(annotation: Any) -> type[BaseModel]:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) \
        else BaseModel


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_list(member) for member in typing.get_args(annotation))
    return typing.get_origin(annotation) in (list, tuple, set, frozenset)


def _decode(value: str, annotation: Any) -> Any:
    """A list for list settings (JSON or comma-separated), else the text as given."""
    if not _is_list(annotation):
        return value
    text = value.strip()
    if text.startswith("["):
        decoded = _json(text)
        if not isinstance(decoded, list):
            raise ValueError(
                'expected a list: comma-separated (email,firstname) or JSON (["email"])'
            )
        return decoded
    return [item.strip() for item in text.split(",") if item.strip()]


def _json_object(value: str) -> dict[str, Any] | None:
    decoded = _json(value)
    return decoded if isinstance(decoded, dict) else None


def _json(text: str) -> Any:
    """Parsed JSON, or None when it is not JSON or nests deeper than MAX_DEPTH."""
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return None if too_deep(decoded, MAX_DEPTH) else decoded


__all__ = ["EnvReading", "read_env"]
