"""Builders shared by the scoring tests: small rule files, leads and activities."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.models import Activity, AttributeValue, Company, Contact
from scoring import ExplanationEntry, LeadScore, MqlState, Rules, rules_from_toml, score_lead

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
NOW = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)

# A minimal scoring.toml: two groups and everything required, no rules. Tests append rules.
BASE_SCORING = """
[groups.behaviour]
axis = "engagement"

[groups.profile]
axis = "fit"

[grade]
fit_thresholds = [25, 15, 5]
engagement_thresholds = [50, 30, 10]

[stages]
default = "cold"
"""

BASE_SEGMENTS = """
[[dimensions]]
name = "all"
default = "everyone"
"""

_ids = itertools.count()


def rules(scoring: str = "", segments: str = BASE_SEGMENTS, *, base: str = BASE_SCORING) -> Rules:
    """Rules from BASE_SCORING plus `scoring` (TOML appended after the base tables)."""
    return rules_from_toml(base + scoring, segments)


def act(kind: str, days_ago: float = 0, *, source_id: str | None = None,
        **attributes: AttributeValue) -> Activity:
    """An activity `days_ago` days before NOW."""
    return Activity(
        source_id=source_id or f"{kind}:{next(_ids)}",
        kind=kind,
        occurred_at=NOW - timedelta(days=days_ago),
        contact_id="c1",
        attributes=attributes,
    )


def contact(email: str | None = "taro@acme.example", **properties: str | None) -> Contact:
    return Contact("c1", email, properties)


def company(**properties: str | None) -> Company:
    return Company("co1", properties)


def score(r: Rules, activities: Sequence[Activity] = (), *, lead: Contact | None = None,
          firm: Company | None = None, now: datetime = NOW,
          previous: MqlState | None = None) -> LeadScore:
    return score_lead(r, lead or contact(), firm, list(activities), now, previous)


def entry(result: LeadScore, rule_id: str) -> ExplanationEntry | None:
    return next((e for e in result.explanation if e.rule_id == rule_id), None)
