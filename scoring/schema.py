"""The shape of the rule files admins edit: `scoring.toml` and `segments.toml`.

Pydantic v2 models, strict and closed: an unknown key is an error, a number written as text
is an error. These models only describe the files; `scoring.compile` turns them into the
fast runtime form, after the cross-reference checks in `scoring.checks`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from core.regex import compile_glob, compile_regex
from scoring.account_schema import AccountSection
from scoring.fields import ACTIVITY_ATTRIBUTES

RuleId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]+$", min_length=1, max_length=80)]
FieldRef = Annotated[str, Field(pattern=r"^(contact|company)\.[A-Za-z0-9_]+$")]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# ---------------------------------------------------------------------------- value tests
class ValueTest(StrictModel):
    """Tests on one value; every test given must hold. Text tests ignore case by default."""

    equals: str | float | bool | None = None
    in_: list[str | int] | None = Field(default=None, alias="in", min_length=1)
    not_in: list[str | int] | None = Field(default=None, min_length=1)
    regex: str | None = None
    glob: str | None = None
    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None
    missing: bool | None = None
    case_sensitive: bool = False

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_regex(value)  # ValueError says why (size, nesting, syntax)
        return value

    @field_validator("glob")
    @classmethod
    def _glob_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_glob(value)
        return value

    @model_validator(mode="after")
    def _tests_make_sense(self) -> ValueTest:
        tests = [name for name in _VALUE_TESTS if getattr(self, name) is not None]
        if not tests:
            raise ValueError(
                "expected at least one test: equals, in, not_in, regex, glob, min, max, "
                "above, below or missing"
            )
        if self.missing is not None and len(tests) > 1:
            raise ValueError("`missing` cannot be combined with other tests")
        low = self.min if self.min is not None else self.above
        high = self.max if self.max is not None else self.below
        if low is not None and high is not None and low > high:
            raise ValueError(f"lower bound {low} is above upper bound {high}")
        return self


_VALUE_TESTS = ("equals", "in_", "not_in", "regex", "glob", "min", "max", "above", "below",
                "missing")


class Where(StrictModel):
    """Tests on an activity's attributes (as the adapters fill them in)."""

    url: ValueTest | None = None
    form_id: ValueTest | None = None
    form_name: ValueTest | None = None
    email_campaign_id: ValueTest | None = None
    attendance_percentage: ValueTest | None = None
    duration_seconds: ValueTest | None = None
    meeting_type: ValueTest | None = None
    outcome: ValueTest | None = None
    bounce_type: ValueTest | None = None
    attributes: dict[str, ValueTest] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _not_empty(self) -> Where:
        if not self.tests():
            raise ValueError("expected at least one attribute test, e.g. url = { glob = ... }")
        return self

    def tests(self) -> list[tuple[str, ValueTest]]:
        named = [(name, getattr(self, name)) for name in ACTIVITY_ATTRIBUTES]
        return [(n, t) for n, t in named if t is not None] + sorted(self.attributes.items())


# ------------------------------------------------------------------------------- clauses
class FieldClause(ValueTest):
    """`{ field = "company.industry", in = [...] }`: a contact or company property."""

    field: FieldRef


class ScoreClause(StrictModel):
    """`{ score = "total", min = 50 }`: total, engagement, fit, or a group name."""

    score: str
    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _has_bound(self) -> ScoreClause:
        if all(getattr(self, n) is None for n in ("min", "max", "above", "below")):
            raise ValueError("expected at least one of min, max, above, below")
        return self


class ActivityClause(StrictModel):
    """`{ activity = "webinar_attended", within_days = 60 }`: the lead did something."""

    activity: str | list[str]
    where: Where | None = None
    within_days: float | None = Field(default=None, gt=0)
    at_least: int = Field(default=1, ge=1, le=1000)
    not_followed_by: list[str] = Field(default_factory=list)

    def kinds(self) -> list[str]:
        return [self.activity] if isinstance(self.activity, str) else list(self.activity)


class AllClause(StrictModel):
    all: list[Clause] = Field(min_length=1)


class AnyClause(StrictModel):
    any: list[Clause] = Field(min_length=1)


class NotClause(StrictModel):
    not_: Clause = Field(alias="not")


class MqlFlagClause(StrictModel):
    """`{ is_mql = true }`: only in stage and segment rules (MQL is decided before them)."""

    is_mql: bool


# Tags are wrapped in <> so they can be told apart from keys in error locations.
CLAUSE_TAGS: dict[str, type[StrictModel]] = {
    "<field>": FieldClause,
    "<score>": ScoreClause,
    "<activity>": ActivityClause,
    "<all>": AllClause,
    "<any>": AnyClause,
    "<not>": NotClause,
    "<is_mql>": MqlFlagClause,
}


def _clause_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("field", "score", "activity", "all", "any", "not", "is_mql"):
            if key in value:
                return f"<{key}>"
    elif isinstance(value, StrictModel):
        for tag, cls in CLAUSE_TAGS.items():
            if type(value) is cls:
                return tag
    return None


Clause = Annotated[
    Union[  # noqa: UP007 - Annotated members need the Union spelling
        Annotated[FieldClause, Tag("<field>")],
        Annotated[ScoreClause, Tag("<score>")],
        Annotated[ActivityClause, Tag("<activity>")],
        Annotated[AllClause, Tag("<all>")],
        Annotated[AnyClause, Tag("<any>")],
        Annotated[NotClause, Tag("<not>")],
        Annotated[MqlFlagClause, Tag("<is_mql>")],
    ],
    Discriminator(
        _clause_tag,
        custom_error_type="clause_kind",
        custom_error_message=(
            "expected a condition table with one of the keys field, score, activity, "
            "all, any, not, is_mql"
        ),
    ),
]

for _model in (AllClause, AnyClause, NotClause):
    _model.model_rebuild()


# --------------------------------------------------------------------------------- decay
class HalfLifeDecay(StrictModel):
    """Points halve every `days` days."""

    type: Literal["half_life"]
    days: float = Field(gt=0)


class LinearDecay(StrictModel):
    """Points fall in a straight line to zero after `days` days."""

    type: Literal["linear"]
    days: float = Field(gt=0)


class NoDecay(StrictModel):
    type: Literal["none"]


DECAY_TAGS: dict[str, type[StrictModel]] = {
    "<half_life>": HalfLifeDecay,
    "<linear>": LinearDecay,
    "<none>": NoDecay,
}


def _decay_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("type")
        return f"<{kind}>" if f"<{kind}>" in DECAY_TAGS else None
    for tag, cls in DECAY_TAGS.items():
        if type(value) is cls:
            return tag
    return None


Decay = Annotated[
    Union[  # noqa: UP007
        Annotated[HalfLifeDecay, Tag("<half_life>")],
        Annotated[LinearDecay, Tag("<linear>")],
        Annotated[NoDecay, Tag("<none>")],
    ],
    Discriminator(
        _decay_tag,
        custom_error_type="decay_kind",
        custom_error_message=(
            'expected a decay table: { type = "half_life", days = N }, '
            '{ type = "linear", days = N } or { type = "none" }'
        ),
    ),
]


# ------------------------------------------------------------------------- scoring.toml
class Group(StrictModel):
    axis: Literal["engagement", "fit"]
    weight: float = Field(default=1.0, ge=0)
    max: float | None = Field(default=None, ge=0)
    min: float | None = Field(default=None, le=0)
    decay: Decay | None = None
    description: str | None = None


class WindowCap(StrictModel):
    points: float = Field(gt=0)
    days: float = Field(gt=0)


class BehaviourRule(StrictModel):
    id: RuleId
    group: str
    kinds: list[str] = Field(min_length=1)
    points: float
    where: Where | None = None
    once: bool = False
    cap_window: WindowCap | None = None
    cap_total: float | None = Field(default=None, gt=0)
    decay: Decay | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _once_without_window(self) -> BehaviourRule:
        if self.once and self.cap_window is not None:
            raise ValueError("`cap_window` has no effect on a rule with `once = true`")
        return self


class FitRule(StrictModel):
    id: RuleId
    group: str
    points: float
    when: Clause
    description: str | None = None


class Grade(StrictModel):
    """Three descending thresholds each: fit A/B/C (else D), engagement 1/2/3 (else 4)."""

    fit_thresholds: list[float] = Field(min_length=3, max_length=3)
    engagement_thresholds: list[float] = Field(min_length=3, max_length=3)

    @field_validator("fit_thresholds", "engagement_thresholds")
    @classmethod
    def _descending(cls, value: list[float]) -> list[float]:
        if not (value[0] > value[1] > value[2]):
            raise ValueError("expected three thresholds in strictly descending order")
        return value


class MqlRule(StrictModel):
    id: RuleId
    when: Clause
    description: str | None = None


class Mql(StrictModel):
    hold_days: float = Field(default=0, ge=0)
    rules: list[MqlRule] = Field(default_factory=list)


class Disqualifier(StrictModel):
    id: RuleId
    when: Clause
    reason: str | None = None


class StageRule(StrictModel):
    stage: str = Field(min_length=1)
    when: Clause


class Stages(StrictModel):
    default: str = Field(min_length=1)
    rules: list[StageRule] = Field(default_factory=list)


class ScoringFile(StrictModel):
    custom_activity_kinds: list[str] = Field(default_factory=list)
    custom_fields: list[FieldRef] = Field(default_factory=list)
    groups: dict[str, Group] = Field(min_length=1)
    behaviour: list[BehaviourRule] = Field(default_factory=list)
    fit: list[FitRule] = Field(default_factory=list)
    grade: Grade
    mql: Mql = Field(default_factory=Mql)
    disqualifiers: list[Disqualifier] = Field(default_factory=list)
    stages: Stages
    # Account roll-up (scoring.accounts). Left out of the dump, so the lead rules' version
    # (`scoring.compile._version`) does not change with it: it scores no lead.
    account: AccountSection | None = Field(default=None, exclude=True)


# ------------------------------------------------------------------------ segments.toml
class SegmentRule(StrictModel):
    value: str = Field(min_length=1)
    when: Clause


class Dimension(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    default: str = Field(min_length=1)
    rules: list[SegmentRule] = Field(default_factory=list)
    description: str | None = None


class SegmentsFile(StrictModel):
    separator: str = Field(default="/", min_length=1)
    dimensions: list[Dimension] = Field(min_length=1)
