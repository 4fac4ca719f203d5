"""Cross-reference checks the schema alone cannot make: names that must exist, ids that
must be unique, conditions allowed only in some places.

They read the parsed TOML (plain dicts and lists), not the validated models, so they still
run when the schema found problems elsewhere: one `validate` lists every mistake at once.
Values of the wrong shape are skipped here; the schema reports them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from core.models import ActivityKind
from scoring.account_schema import unknown_roles
from scoring.fields import COMPANY_FIELDS, CONTACT_FIELDS

Path = tuple[str | int, ...]
FIELD_REF = re.compile(r"(contact|company)\.[A-Za-z0-9_]+")  # the schema reports other shapes
SCORE_AXES = ("total", "engagement", "fit")


@dataclass(frozen=True, slots=True)
class Problem:
    file: str  # "scoring" | "segments"
    path: Path
    message: str


@dataclass(frozen=True, slots=True)
class _Place:
    """Which condition kinds a place may use."""

    what: str
    score: bool
    activity: bool
    is_mql: bool


_FIT = _Place("fit rules", score=False, activity=False, is_mql=False)
_MQL = _Place("MQL rules", score=True, activity=True, is_mql=False)
_DISQUALIFIER = _Place("disqualifiers", score=True, activity=True, is_mql=False)
_LABEL = _Place("stage and segment rules", score=True, activity=True, is_mql=True)


class _Names:
    """The names rules may refer to, from scoring.toml."""

    def __init__(self, scoring: dict[str, Any]) -> None:
        self.kinds = ActivityKind.ALL | frozenset(_strings(scoring.get("custom_activity_kinds")))
        self.contact_fields = set(CONTACT_FIELDS)
        self.company_fields = set(COMPANY_FIELDS)
        for ref in _strings(scoring.get("custom_fields")):
            owner, _, name = ref.partition(".")
            (self.contact_fields if owner == "contact" else self.company_fields).add(name)
        groups = scoring.get("groups")
        self.groups: dict[str, Any] = groups if isinstance(groups, dict) else {}
        self.scores = frozenset(SCORE_AXES) | frozenset(self.groups)

    def field_known(self, ref: str) -> bool:
        owner, _, name = ref.partition(".")
        if owner == "contact":
            return name in self.contact_fields
        return owner == "company" and name in self.company_fields


def check_scoring(scoring: dict[str, Any]) -> list[Problem]:
    return [Problem("scoring", path, text) for path, text in _scoring(scoring, _Names(scoring))]


def check_segments(segments: dict[str, Any], scoring: dict[str, Any]) -> list[Problem]:
    names = _Names(scoring)
    return [Problem("segments", path, text) for path, text in _segments(segments, names)]


def _scoring(scoring: dict[str, Any], names: _Names) -> Iterator[tuple[Path, str]]:
    for name, group in names.groups.items():
        if name in SCORE_AXES:
            yield ("groups", name), f"group name {name!r} is reserved; choose another name"
        if isinstance(group, dict) and group.get("axis") == "fit":
            decay = group.get("decay")
            if isinstance(decay, dict) and decay.get("type") != "none":
                yield ("groups", name, "decay"), "fit groups do not decay; remove `decay`"
    for index, kind in _items(scoring, "custom_activity_kinds", of=str):
        if kind in ActivityKind.ALL:
            yield ("custom_activity_kinds", index), f"{kind!r} is a built-in kind already"

    yield from _unique_ids("rule", [("behaviour",), ("fit",)], scoring)
    for section, axis in (("behaviour", "engagement"), ("fit", "fit")):
        for index, rule in _items(scoring, section):
            group = rule.get("group")
            if not isinstance(group, str):
                continue
            where = (section, index, "group")
            if group not in names.groups:
                yield where, (f"unknown group {group!r}{_suggest(group, names.groups)}; "
                              f"expected one of {', '.join(sorted(names.groups))}")
            elif isinstance(names.groups[group], dict) \
                    and names.groups[group].get("axis") not in (axis, None):
                yield where, (f"group {group!r} is on the {names.groups[group].get('axis')!r} "
                              f"axis; {section} rules belong in {axis!r} groups")
    for index, rule in _items(scoring, "behaviour"):
        for k, kind in _items(rule, "kinds", of=str):
            if kind not in names.kinds:
                yield ("behaviour", index, "kinds", k), _unknown_kind(kind, names)
    for index, rule in _items(scoring, "fit"):
        yield from _clause(rule.get("when"), ("fit", index, "when"), names, _FIT)

    mql = scoring.get("mql") if isinstance(scoring.get("mql"), dict) else {}
    yield from _unique_ids("MQL rule", [("mql", "rules")], scoring)
    for index, rule in _items(mql, "rules"):
        yield from _clause(rule.get("when"), ("mql", "rules", index, "when"), names, _MQL)
    yield from _unique_ids("disqualifier", [("disqualifiers",)], scoring)
    for index, rule in _items(scoring, "disqualifiers"):
        yield from _clause(rule.get("when"), ("disqualifiers", index, "when"), names,
                           _DISQUALIFIER)
    stages = scoring.get("stages") if isinstance(scoring.get("stages"), dict) else {}
    for index, rule in _items(stages, "rules"):
        yield from _clause(rule.get("when"), ("stages", "rules", index, "when"), names, _LABEL)
    if isinstance(scoring.get("account"), dict):  # roles named but not defined
        for path, text in unknown_roles(scoring["account"]):
            yield ("account", *path), text


def _segments(segments: dict[str, Any], names: _Names) -> Iterator[tuple[Path, str]]:
    separator = segments.get("separator", "/")
    seen: set[str] = set()
    for d, dimension in _items(segments, "dimensions"):
        base: Path = ("dimensions", d)
        name = dimension.get("name")
        if isinstance(name, str):
            if name in seen:
                yield (*base, "name"), f"dimension {name!r} is defined twice"
            seen.add(name)
        values: list[tuple[Path, Any]] = [(("default",), dimension.get("default"))]
        values += [(("rules", r, "value"), rule.get("value"))
                   for r, rule in _items(dimension, "rules")]
        for sub, value in values:
            if isinstance(value, str) and isinstance(separator, str) and separator \
                    and separator in value:
                yield (*base, *sub), (f"value {value!r} contains the separator {separator!r}; "
                                      "expected a value without it")
        for r, rule in _items(dimension, "rules"):
            yield from _clause(rule.get("when"), (*base, "rules", r, "when"), names, _LABEL)


def _clause(clause: Any, path: Path, names: _Names, place: _Place) -> Iterator[tuple[Path, str]]:
    if not isinstance(clause, dict):
        return
    if isinstance(clause.get("field"), str):
        if FIELD_REF.fullmatch(clause["field"]) and not names.field_known(clause["field"]):
            known = [f"contact.{n}" for n in names.contact_fields]
            known += [f"company.{n}" for n in names.company_fields]
            yield (*path, "field"), (
                f"unknown field {clause['field']!r}{_suggest(clause['field'], known)}; expected "
                "contact.<name> or company.<name> with a known HubSpot property, or a name "
                "listed in custom_fields"
            )
    elif "score" in clause:
        if not place.score:
            yield (*path, "score"), f"score conditions are not allowed in {place.what}"
        elif isinstance(clause["score"], str) and clause["score"] not in names.scores:
            yield (*path, "score"), (
                f"unknown score {clause['score']!r}{_suggest(clause['score'], names.scores)}; "
                "expected total, engagement, fit or a group name")
    elif "activity" in clause:
        if not place.activity:
            yield (*path, "activity"), f"activity conditions are not allowed in {place.what}"
            return
        kinds = clause["activity"]
        if isinstance(kinds, str):
            if kinds not in names.kinds:
                yield (*path, "activity"), _unknown_kind(kinds, names)
        else:
            for index, kind in _items(clause, "activity", of=str):
                if kind not in names.kinds:
                    yield (*path, "activity", index), _unknown_kind(kind, names)
        for index, kind in _items(clause, "not_followed_by", of=str):
            if kind not in names.kinds:
                yield (*path, "not_followed_by", index), _unknown_kind(kind, names)
    elif "is_mql" in clause:
        if not place.is_mql:
            yield (*path, "is_mql"), f"is_mql is not allowed in {place.what} (only in stage " \
                "and segment rules)"
    else:
        for key in ("all", "any"):
            for index, part in _items(clause, key, of=object):
                yield from _clause(part, (*path, key, index), names, place)
        if "not" in clause:
            yield from _clause(clause["not"], (*path, "not"), names, place)


def _unique_ids(what: str, sections: list[Path], scoring: dict[str, Any]
                ) -> Iterator[tuple[Path, str]]:
    seen: set[str] = set()
    for section in sections:
        table: Any = scoring
        for key in section[:-1]:
            table = table.get(key) if isinstance(table, dict) else None
        if not isinstance(table, dict):
            continue
        for index, rule in _items(table, str(section[-1])):
            rule_id = rule.get("id")
            if isinstance(rule_id, str):
                if rule_id in seen:
                    yield (*section, index, "id"), f"{what} id {rule_id!r} is used twice"
                seen.add(rule_id)


def _unknown_kind(kind: str, names: _Names) -> str:
    return (f"unknown activity kind {kind!r}{_suggest(kind, names.kinds)}; expected a "
            "core.models.ActivityKind value or a name listed in custom_activity_kinds")


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _items(table: Any, key: str, of: type = dict) -> Iterator[tuple[int, Any]]:
    """(index, element) of the list `table[key]` whose elements are `of` (dict by default;
    str for name lists, object for anything)."""
    value = table.get(key) if isinstance(table, dict) else None
    if not isinstance(value, list):
        return
    for index, element in enumerate(value):
        if isinstance(element, of):
            yield index, element


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
