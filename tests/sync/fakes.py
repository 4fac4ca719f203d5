"""Test doubles the sync tests share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass
class FakeScore:
    """What the planner reads from a score (`sync.plan.ScoredLead`), with plain defaults."""

    total: Decimal | float = Decimal("12.40")
    fit: Decimal | float = Decimal("10.00")
    engagement: Decimal | float = Decimal("2.40")
    grade: str = "B4"
    segment: str = "manufacturing/enterprise"
    stage: str = "interest"
    is_mql: bool = False
    mql_reason: str | None = None
    mql_since: datetime | None = None
    disqualified_by: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:  # points are Decimals, as scoring.LeadScore holds them
        for name in ("total", "fit", "engagement"):
            setattr(self, name, Decimal(str(getattr(self, name))))
