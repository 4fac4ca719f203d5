"""What changed in a lead's score between two runs, and why: pure functions over the stored
score of the previous run (`StoredScore`) and this run's.

A history entry is made only when something a reader cares about changed: the stage, the
MQL status or episode, the rule version, or the total by at least `MIN_POINTS` since the
last entry (so a slow decay shows once it adds up to a point, not on every run). Its causes:
- `first`: the lead's first stored score (a backfill writes one entry per lead);
- `rule_version`: the version that scored it changed;
- `activity`: activities arrived since the previous run (named in `activities`);
- `sales_outcome`: the stage a Salesforce outcome gives changed (converted, won; sales
  disqualified the lead — `funnel.toml [lost] lead_statuses` — which ends its MQL stage; or
  recycled it: no outcome stage any more, back to the scored one); the entry names the
  outcome (`sales_outcome`: the stage and the Lead status or opportunity stage);
- `decay`: none of the above and the score fell or rose with time alone;
- `profile`: none of the above (a contact or company property the fit rules read changed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from core.models import Activity
from scoring import MqlState

MIN_POINTS = Decimal("1")
NAMED_ACTIVITIES = 10  # activities named per entry; the count says how many there were


@dataclass(frozen=True, slots=True)
class StoredScore:
    """A lead's score under one track (live or shadow) as the last run left it."""

    version: str
    total: Decimal
    stage: str
    scored_stage: str  # before sales outcomes advanced it
    state: MqlState
    activities: int
    last_activity: datetime | None
    scored_at: datetime
    logged_total: Decimal  # the total of the last history entry

    @property
    def is_mql(self) -> bool:
        return self.state.qualified


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    version: str
    total: Decimal
    stage: str
    is_mql: bool
    episode: int
    causes: tuple[str, ...]
    previous: dict[str, object] | None  # version, total, stage, is_mql before
    activities: list[dict[str, str]] = field(default_factory=list)
    new_activities: int = 0
    # With the `sales_outcome` cause: {"stage": the outcome's stage or None (recycled),
    # "status": the Lead status / opportunity stage Salesforce shows}.
    sales_outcome: dict[str, str | None] | None = None


def new_activities(
    previous: StoredScore | None, activities: Sequence[Activity]
) -> list[Activity]:
    """Activities that arrived since `previous`: those after its latest one; when the count
    grew by late arrivals only, the most recent ones up to the growth."""
    if previous is None:
        return []
    grown = len(activities) - previous.activities
    if grown <= 0:
        return []
    last = previous.last_activity
    newer = [a for a in activities if last is None or a.occurred_at > last]
    if not newer:
        newer = sorted(activities, key=lambda a: a.occurred_at)[-grown:]
    return sorted(newer, key=lambda a: (a.occurred_at, a.source_id))


def outcome_part(score: StoredScore) -> str | None:
    """The stage a sales outcome gave the lead (None: the scored stage stands)."""
    return score.stage if score.stage != score.scored_stage else None


def history_entry(
    previous: StoredScore | None,
    current: StoredScore,
    arrived: Sequence[Activity],
    outcome_status: str | None = None,
) -> HistoryEntry | None:
    """The entry `current` makes after `previous`; None when nothing worth one changed.
    `outcome_status`: what Salesforce shows of the lead's outcome (Lead status, opportunity
    stage), named when the outcome is a cause."""
    named = [
        {"kind": a.kind, "at": a.occurred_at.isoformat(), "id": a.source_id}
        for a in arrived[-NAMED_ACTIVITIES:]
    ]
    if previous is None:
        return _entry(current, ("first",), None, named, 0)
    changed = (
        previous.version != current.version
        or previous.stage != current.stage
        or previous.is_mql != current.is_mql
        or previous.state.episode != current.state.episode
        or abs(current.total - previous.logged_total) >= MIN_POINTS
    )
    if not changed:
        return None
    causes = []
    if previous.version != current.version:
        causes.append("rule_version")
    if arrived:
        causes.append("activity")
    sales = None
    if current.stage != previous.stage and outcome_part(current) != outcome_part(previous):
        # The stage moved to one a Salesforce outcome gave (lost: sales disqualified it), or
        # back from one to the scored stage (sales recycled the lead).
        causes.append("sales_outcome")
        sales = {"stage": outcome_part(current), "status": outcome_status}
    if not causes:
        # Time alone only lowers a score (decay) or ends an MQL hold; a rise without
        # activity, version or outcome is a property the fit rules read.
        causes.append("profile" if current.total > previous.logged_total else "decay")
    before = {
        "version": previous.version,
        "total": str(previous.logged_total),
        "stage": previous.stage,
        "is_mql": previous.is_mql,
    }
    return _entry(current, tuple(causes), before, named, len(arrived), sales)


def _entry(
    current: StoredScore,
    causes: tuple[str, ...],
    before: dict[str, object] | None,
    named: list[dict[str, str]],
    count: int,
    sales: dict[str, str | None] | None = None,
) -> HistoryEntry:
    return HistoryEntry(
        at=current.scored_at,
        version=current.version,
        total=current.total,
        stage=current.stage,
        is_mql=current.is_mql,
        episode=current.state.episode,
        causes=causes,
        previous=before,
        activities=named,
        new_activities=count,
        sales_outcome=sales,
    )
