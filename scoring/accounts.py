"""Account scores and buying groups: contact scores rolled up to their company. Pure: no I/O,
no clock (`now` is an argument).

    model = AccountModel.from_section(rules.scoring.account)
    result = model.compute(members, now)      # members: the account's contacts' current scores

Definitions (`[account]` in `scoring.toml`, `scoring.account_schema`):
- score, by `method`, over the contacts' scores sorted high to low:
  `best` the highest; `diminishing` the sum with weights 1, 1/2, 1/3, ... (or 1, d, d², ...
  with `decay = d`); `formula` an arithmetic formula over `scoring.account_formula.VARIABLES`.
  Rounded half up to a whole number (the Salesforce field is Number(18, 0)).
- engaged contact: score >= `engaged_score`, or an activity at or after now - `engaged_days`.
- roles: `[[account.roles]]` whose `jobtitle_pattern` (a regex, case ignored, found anywhere
  in the job title) matches; a contact may hold several.
- buying group: every role of `[account.buying_group] roles` held by a contact whose last
  activity is at or after now - `within_days` (the edge itself counts).
- account MQL: the first `[[account.mql]]` rule whose tests all hold: at least `min_engaged`
  engaged contacts, its `roles` among the engaged contacts' roles, score >= `min_score`, and
  the buying group complete when `buying_group = true`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.regex import compile_regex
from scoring.account_formula import Formula, compile_formula
from scoring.account_schema import AccountMqlRule, AccountSection


@dataclass(frozen=True, slots=True)
class AccountMember:
    """One contact (lead) of an account as the roll-up needs it."""

    lead_key: str
    score: float
    jobtitle: str | None = None
    last_activity_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AccountResult:
    score: int
    contacts: int
    engaged: int
    engaged_roles: tuple[str, ...]  # distinct roles among the engaged contacts, config order
    buying_group: bool
    buying_group_roles: tuple[str, ...]  # the required roles present within the window
    mql: bool
    mql_rule: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "score": self.score, "contacts": self.contacts, "engaged": self.engaged,
            "engaged_roles": list(self.engaged_roles), "buying_group": self.buying_group,
            "buying_group_roles": list(self.buying_group_roles), "mql": self.mql,
            "mql_rule": self.mql_rule,
        }


@dataclass
class AccountModel:
    section: AccountSection
    roles: tuple[tuple[str, re.Pattern[str]], ...]
    formula: Formula | None
    _role_memo: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_section(cls, section: AccountSection) -> AccountModel:
        roles = tuple(
            (r.name, compile_regex(r.jobtitle_pattern, re.IGNORECASE)) for r in section.roles
        )
        formula = compile_formula(section.formula) if section.formula is not None else None
        return cls(section, roles, formula)

    @property
    def rules_hash(self) -> str:
        """A short hash of the `[account]` section: the account pass recomputes every account
        when it changes (the lead rules' version does not cover this section)."""
        text = json.dumps(self.section.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    @property
    def free_mail_domains(self) -> frozenset[str]:
        return frozenset(d.lower() for d in self.section.free_mail_domains)

    def roles_of(self, jobtitle: str | None) -> tuple[str, ...]:
        if not jobtitle:
            return ()
        found = self._role_memo.get(jobtitle)
        if found is None:
            found = tuple(name for name, pattern in self.roles if pattern.search(jobtitle))
            if len(self._role_memo) < 100_000:
                self._role_memo[jobtitle] = found
        return found

    def compute(self, members: Sequence[AccountMember], now: datetime) -> AccountResult:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        section = self.section
        engaged_since = now - timedelta(days=section.engaged_days)
        scores = sorted((m.score for m in members), reverse=True)
        engaged_roles: set[str] = set()
        engaged = 0
        for m in members:
            if m.score >= section.engaged_score or (
                m.last_activity_at is not None and m.last_activity_at >= engaged_since
            ):
                engaged += 1
                engaged_roles.update(self.roles_of(m.jobtitle))
        group_roles: tuple[str, ...] = ()
        complete = False
        if section.buying_group is not None:
            since = now - timedelta(days=section.buying_group.within_days)
            present: set[str] = set()
            for m in members:
                if m.last_activity_at is not None and m.last_activity_at >= since:
                    present.update(self.roles_of(m.jobtitle))
            group_roles = tuple(r for r in section.buying_group.roles if r in present)
            complete = len(group_roles) == len(set(section.buying_group.roles))
        ordered_roles = tuple(name for name, _ in self.roles if name in engaged_roles)
        score = _half_up(self._score(scores, len(members), engaged, ordered_roles, complete))
        rule = next(
            (r.id for r in section.mql
             if _holds(r, score, engaged, engaged_roles, complete)),
            None,
        )
        return AccountResult(
            score=score, contacts=len(members), engaged=engaged, engaged_roles=ordered_roles,
            buying_group=complete, buying_group_roles=group_roles, mql=rule is not None,
            mql_rule=rule,
        )

    def _score(self, scores: list[float], contacts: int, engaged: int,
               roles: tuple[str, ...], complete: bool) -> float:
        if not scores:
            return 0.0
        method = self.section.method
        if method == "best":
            return scores[0]
        if method == "diminishing":
            decay = self.section.decay
            if decay is None:
                return sum(s / (i + 1) for i, s in enumerate(scores))
            return sum(s * decay**i for i, s in enumerate(scores))
        assert self.formula is not None
        return self.formula({
            "best": scores[0],
            "second": scores[1] if len(scores) > 1 else 0.0,
            "third": scores[2] if len(scores) > 2 else 0.0,
            "sum": sum(scores),
            "mean": sum(scores) / len(scores),
            "contacts": contacts,
            "engaged": engaged,
            "roles": len(roles),
            "buying_group": 1.0 if complete else 0.0,
        })


def _holds(rule: AccountMqlRule, score: int, engaged: int, roles: set[str],
           complete: bool) -> bool:
    return (
        engaged >= rule.min_engaged
        and all(r in roles for r in rule.roles)
        and (rule.min_score is None or score >= rule.min_score)
        and (complete or not rule.buying_group)
    )


def _half_up(value: float) -> int:
    return math.floor(value + 0.5)


__all__ = ["AccountMember", "AccountModel", "AccountResult"]
