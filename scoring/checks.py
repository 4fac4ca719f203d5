"""Cross-reference checks the schema alone cannot make: names that must exist, ids that
must be unique, conditions allowed only in some places. Each problem carries the key path
it is about, so the loader can point at the line."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from core.models import ActivityKind
from scoring.fields import COMPANY_FIELDS, CONTACT_FIELDS
from scoring.schema import (
    ActivityClause,
    AllClause,
    AnyClause,
    FieldClause,
    MqlFlagClause,
    NotClause,
    ScoreClause,
    ScoringFile,
    SegmentsFile,
    StrictModel,
)

Path = tuple[str | int, ...]
SCORE_AXES = ("total", "engagement", "fit")


@dataclass(frozen=True, slots=True)
class Problem:
    file: str  # "scoring" | "segments"
    path: Path
    message: str


@dataclass(frozen=True, slots=True)
class _Allowed:
    """Which condition kinds a place may use."""

    score: bool
    activity: bool
    is_mql: bool


_FIT = _Allowed(score=False, activity=False, is_mql=False)
_DECISION = _Allowed(score=True, activity=True, is_mql=False)  # MQL rules, disqualifiers
_LABEL = _Allowed(score=True, activity=True, is_mql=True)  # stages, segments


class Names:
    """The names rules may refer to, built from scoring.toml."""

    def __init__(self, scoring: ScoringFile) -> None:
        self.kinds = ActivityKind.ALL | frozenset(scoring.custom_activity_kinds)
        custom = {ref.partition(".") for ref in scoring.custom_fields}
        self.contact_fields = CONTACT_FIELDS | {n for o, _, n in custom if o == "contact"}
        self.company_fields = COMPANY_FIELDS | {n for o, _, n in custom if o == "company"}
        self.scores = frozenset(SCORE_AXES) | frozenset(scoring.groups)

    def field_known(self, ref: str) -> bool:
        owner, _, name = ref.partition(".")
        known = self.contact_fields if owner == "contact" else self.company_fields
        return name in known


def check_scoring(scoring: ScoringFile) -> list[Problem]:
    return [Problem("scoring", path, message) for path, message in _scoring(scoring)]


def check_segments(segments: SegmentsFile, scoring: ScoringFile) -> list[Problem]:
    names = Names(scoring)
    found: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for d, dimension in enumerate(segments.dimensions):
        where: Path = ("dimensions", d)
        if dimension.name in seen:
            found.append(((*where, "name"), f"dimension {dimension.name!r} is defined twice"))
        seen.add(dimension.name)
        values = [(("default",), dimension.default)] + [
            (("rules", r, "value"), rule.value) for r, rule in enumerate(dimension.rules)
        ]
        for sub, value in values:
            if segments.separator in value:
                found.append(
                    ((*where, *sub), f"value {value!r} contains the separator "
                     f"{segments.separator!r}; expected a value without it")
                )
        for r, rule in enumerate(dimension.rules):
            found += _clause(rule.when, (*where, "rules", r, "when"), names, _LABEL)
    return [Problem("segments", path, message) for path, message in found]


def _scoring(scoring: ScoringFile) -> Iterator[tuple[Path, str]]:
    names = Names(scoring)
    for name, group in scoring.groups.items():
        if name in SCORE_AXES:
            yield ("groups", name), f"group name {name!r} is reserved; choose another name"
        if group.axis == "fit" and group.decay is not None and group.decay.type != "none":
            yield ("groups", name, "decay"), "fit groups do not decay; remove `decay`"
    for index, kind in enumerate(scoring.custom_activity_kinds):
        if kind in ActivityKind.ALL:
            yield ("custom_activity_kinds", index), f"{kind!r} is a built-in kind already"

    ids: dict[str, Path] = {}
    for section, rules in (("behaviour", scoring.behaviour), ("fit", scoring.fit)):
        axis = "engagement" if section == "behaviour" else "fit"
        for index, rule in enumerate(rules):
            where: Path = (section, index)
            if rule.id in ids:
                yield (*where, "id"), f"rule id {rule.id!r} is used twice (rule ids are unique)"
            ids[rule.id] = where
            group = scoring.groups.get(rule.group)
            if group is None:
                yield (*where, "group"), (
                    f"unknown group {rule.group!r}; expected one of "
                    f"{', '.join(sorted(scoring.groups))}"
                )
            elif group.axis != axis:
                yield (*where, "group"), (
                    f"group {rule.group!r} has axis {group.axis!r}; {section} rules belong "
                    f"in {axis!r} groups"
                )
    for index, rule in enumerate(scoring.behaviour):
        for k, kind in enumerate(rule.kinds):
            if kind not in names.kinds:
                yield ("behaviour", index, "kinds", k), _unknown_kind(kind)
    for index, fit_rule in enumerate(scoring.fit):
        yield from _clause(fit_rule.when, ("fit", index, "when"), names, _FIT)

    yield from _unique_ids("mql", [r.id for r in scoring.mql.rules], ("mql", "rules"))
    for index, mql_rule in enumerate(scoring.mql.rules):
        yield from _clause(mql_rule.when, ("mql", "rules", index, "when"), names, _DECISION)
    yield from _unique_ids("disqualifier", [d.id for d in scoring.disqualifiers],
                           ("disqualifiers",))
    for index, disqualifier in enumerate(scoring.disqualifiers):
        yield from _clause(disqualifier.when, ("disqualifiers", index, "when"), names,
                           _DECISION)
    for index, stage_rule in enumerate(scoring.stages.rules):
        yield from _clause(stage_rule.when, ("stages", "rules", index, "when"), names, _LABEL)


def _unique_ids(what: str, ids: list[str], base: Path) -> Iterator[tuple[Path, str]]:
    seen: set[str] = set()
    for index, rule_id in enumerate(ids):
        if rule_id in seen:
            yield (*base, index, "id"), f"{what} id {rule_id!r} is used twice"
        seen.add(rule_id)


def _unknown_kind(kind: str) -> str:
    return (
        f"unknown activity kind {kind!r}; expected a core.models.ActivityKind value or a "
        "name listed in custom_activity_kinds"
    )


def _clause(
    clause: StrictModel, path: Path, names: Names, allowed: _Allowed
) -> Iterator[tuple[Path, str]]:
    if isinstance(clause, FieldClause):
        if not names.field_known(clause.field):
            yield (*path, "field"), (
                f"unknown field {clause.field!r}; expected a known HubSpot property or a "
                "name listed in custom_fields"
            )
    elif isinstance(clause, ScoreClause):
        if not allowed.score:
            yield (*path, "score"), "score conditions are not allowed here (fit rules only "\
                "test contact and company fields)"
        elif clause.score not in names.scores:
            yield (*path, "score"), (
                f"unknown score {clause.score!r}; expected total, engagement, fit or a group "
                "name"
            )
    elif isinstance(clause, ActivityClause):
        if not allowed.activity:
            yield (*path, "activity"), "activity conditions are not allowed in fit rules"
            return
        kinds = clause.kinds()
        if not kinds:
            yield (*path, "activity"), "expected at least one activity kind"
        for key, listed in (("activity", kinds), ("not_followed_by", clause.not_followed_by)):
            for index, kind in enumerate(listed):
                if kind not in names.kinds:
                    at = (*path, key) if isinstance(clause.activity, str) and key == "activity" \
                        else (*path, key, index)
                    yield at, _unknown_kind(kind)
    elif isinstance(clause, MqlFlagClause):
        if not allowed.is_mql:
            yield (*path, "is_mql"), "is_mql is only allowed in stage and segment rules"
    elif isinstance(clause, AllClause | AnyClause):
        key = "all" if isinstance(clause, AllClause) else "any"
        parts = clause.all if isinstance(clause, AllClause) else clause.any
        for index, part in enumerate(parts):
            yield from _clause(part, (*path, key, index), names, allowed)
    elif isinstance(clause, NotClause):
        yield from _clause(clause.not_, (*path, "not"), names, allowed)
