"""Test doubles the sync tests share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class FakeScore:
    """What the planner reads from a score (`sync.plan.ScoredLead`), with plain defaults."""

    total: float = 12.4
    fit: float = 10.0
    engagement: float = 2.4
    grade: str = "B4"
    segment: str = "manufacturing/enterprise"
    stage: str = "interest"
    is_mql: bool = False
    mql_reason: str | None = None
    mql_since: datetime | None = None
    disqualified_by: list[str] = field(default_factory=list)
