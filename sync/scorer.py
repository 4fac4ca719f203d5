"""The scoring stage as the pipeline calls it: the pure core plus a text breakdown, formatted
only when read (a Task description needs it; most leads get no Task)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from core.models import Activity, Company, Contact
from scoring import LeadScore, MqlState, Rules, score_lead


def format_breakdown(score: LeadScore) -> str:
    """One line per rule that matched, then the totals: what a Task description shows."""
    lines = []
    for entry in sorted(score.explanation, key=lambda e: (-e.contribution, e.rule_id)):
        detail = f"{entry.points} pts"
        if entry.decayed != entry.points:
            detail += f", {entry.decayed} after decay"
        if entry.capped != entry.decayed:
            detail += f", {entry.capped} after caps"
        times = f" x{entry.matched}" if entry.matched > 1 else ""
        lines.append(f"{entry.contribution:+} {entry.rule_id}{times} ({entry.axis}; {detail})")
    lines.append(
        f"= {score.total} (engagement {score.engagement}, fit {score.fit}), grade {score.grade}"
    )
    return "\n".join(lines)


class RulesScorer:
    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def score(
        self,
        contact: Contact,
        company: Company | None,
        activities: Sequence[Activity],
        now: datetime,
        previous: MqlState | None,
    ) -> tuple[LeadScore, MqlState, Callable[[], str]]:
        result = score_lead(self.rules, contact, company, activities, now, previous=previous)
        return result, result.mql_state, partial(format_breakdown, result)
