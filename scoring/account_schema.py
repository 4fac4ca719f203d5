"""The `[account]` section of `scoring.toml`: how contact scores roll up to their company.

Strict and closed like the rest of the file (an unknown key is an error with the closest
name suggested; `scoring.loader` adds the file and line). `scoring.accounts` computes with it.

    [account]
    method = "diminishing"        # best | diminishing | formula
    decay = 0.5                   # diminishing: weights 1, d, d², ... (unset: 1, 1/2, 1/3, ...)
    formula = "best + 0.5 * second + 5 * engaged"   # method = "formula" (scoring.account_formula)
    engaged_score = 30            # a contact is engaged at or above this score,
    engaged_days = 30             # or with an activity in the last N days

    [[account.roles]]
    name = "director_plus"
    jobtitle_pattern = '部長|本部長|取締役|Director|VP|Head'

    [account.buying_group]        # every role needed, each by a contact active within N days
    roles = ["director_plus", "engineer"]
    within_days = 30

    [[account.mql]]               # the first rule that holds makes the account an MQL
    id = "two_engaged_with_director"
    min_engaged = 2
    roles = ["director_plus"]
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.regex import compile_regex
from core.suggest import closest
from scoring.account_formula import compile_formula

RoleName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]+$", min_length=1, max_length=40)]
RuleName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]+$", min_length=1, max_length=80)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class AccountRole(_Strict):
    name: RoleName
    jobtitle_pattern: str = Field(min_length=1)
    description: str | None = None

    @field_validator("jobtitle_pattern")
    @classmethod
    def _pattern_compiles(cls, value: str) -> str:
        compile_regex(value, re.IGNORECASE)  # ValueError says why (size, nesting, syntax)
        return value


class BuyingGroup(_Strict):
    roles: list[RoleName] = Field(min_length=1)
    within_days: float = Field(default=30, gt=0)


class AccountMqlRule(_Strict):
    id: RuleName
    min_engaged: int = Field(default=1, ge=0)
    roles: list[RoleName] = Field(default_factory=list)
    min_score: float | None = None
    buying_group: bool = False
    description: str | None = None


class AccountSection(_Strict):
    method: Literal["best", "diminishing", "formula"] = "best"
    decay: float | None = Field(default=None, gt=0, le=1)
    formula: str | None = None
    engaged_score: float = 30
    engaged_days: float = Field(default=30, gt=0)
    # Domains that never name a company (on top of `core.freemail.FREE_MAIL_DOMAINS`).
    free_mail_domains: list[str] = Field(default_factory=list)
    roles: list[AccountRole] = Field(default_factory=list)
    buying_group: BuyingGroup | None = None
    mql: list[AccountMqlRule] = Field(default_factory=list)

    @field_validator("formula")
    @classmethod
    def _formula_parses(cls, value: str | None) -> str | None:
        if value is not None:
            compile_formula(value)  # ValueError says why
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AccountSection:
        if self.method == "formula" and self.formula is None:
            raise ValueError('method = "formula" needs `formula = "..."`')
        if self.method != "formula" and self.formula is not None:
            raise ValueError('`formula` is used only with method = "formula"')
        if self.decay is not None and self.method != "diminishing":
            raise ValueError('`decay` is used only with method = "diminishing"')
        names = [r.name for r in self.roles]
        if len(names) != len(set(names)):
            raise ValueError("roles: each role name must be unique")
        for n, rule in enumerate(self.mql):
            if rule.buying_group and self.buying_group is None:
                raise ValueError(f"mql[{n}].buying_group: no [account.buying_group] is defined")
        ids = [rule.id for rule in self.mql]
        if len(ids) != len(set(ids)):
            raise ValueError("mql: rule ids must be unique")
        return self




def unknown_roles(section: dict[str, object]) -> list[tuple[tuple[str | int, ...], str]]:
    """(path under `account`, message) for each role a buying group or MQL rule names that
    `[[account.roles]]` does not define (raw TOML data, so the loader can give the line)."""
    roles = section.get("roles")
    names = [r.get("name") for r in roles if isinstance(r, dict)] if isinstance(roles, list) else []
    known = [n for n in names if isinstance(n, str)]
    wanted: list[tuple[tuple[str | int, ...], object]] = []
    group = section.get("buying_group")
    if isinstance(group, dict) and isinstance(group.get("roles"), list):
        wanted += [(("buying_group", "roles", i), r) for i, r in enumerate(group["roles"])]
    rules = section.get("mql")
    for n, rule in enumerate(rules if isinstance(rules, list) else []):
        if isinstance(rule, dict) and isinstance(rule.get("roles"), list):
            wanted += [(("mql", n, "roles", i), r) for i, r in enumerate(rule["roles"])]
    out = []
    for path, role in wanted:
        if isinstance(role, str) and role not in known:
            near = closest(role, known)
            hint = f" (did you mean {near!r}?)" if near else ""
            out.append((path, f"unknown role {role!r}{hint}; define it in [[account.roles]]"))
    return out


__all__ = ["AccountMqlRule", "AccountRole", "AccountSection", "BuyingGroup", "unknown_roles"]
