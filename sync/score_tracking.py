"""Score tracking in a run: the version of each stored score, the shadow rule set scored
beside the live one, and the score history (`sync.score_history`, `sync.score_store`).

The pipeline opens one `TrackedBatch` per batch of leads: it reads the stored scores of the
batch once, scores each lead with the shadow rules when there is a shadow (after the live
scoring; the shadow's result goes nowhere but the state store: no write, no Task, no alert),
and saves the latest scores and the history entries in one transaction after the batch's
decisions. Without a shadow the cost is one read and one write of the batch's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from operator import attrgetter

from core.models import Activity
from core.outcomes import LeadOutcome
from scoring import MqlState
from sync.plan import ScoredLead
from sync.ports import Scorer
from sync.rule_versions import RuleSetVersion
from sync.score_history import HistoryEntry, StoredScore, history_entry, new_activities
from sync.score_store import LIVE, SHADOW, ScoreStore


@dataclass(frozen=True)
class ShadowRules:
    scorer: Scorer
    version: RuleSetVersion


@dataclass
class ScoreTracking:
    live: RuleSetVersion
    shadow: ShadowRules | None = None

    def start(self, store: ScoreStore, now: datetime) -> None:
        """Note the versions this run scores with (a shadow's start is its first run)."""
        store.record_version(self.live.version, self.live.manifest(), now)
        if self.shadow is not None:
            version = self.shadow.version
            store.record_version(version.version, version.manifest(), now, shadow=True)

    def batch(self, store: ScoreStore, keys: Sequence[str], now: datetime) -> TrackedBatch:
        return TrackedBatch(
            self,
            store,
            now,
            store.latest(keys, LIVE),
            store.latest(keys, SHADOW) if self.shadow is not None else {},
        )


@dataclass
class TrackedBatch:
    tracking: ScoreTracking
    store: ScoreStore
    now: datetime
    live_before: dict[str, StoredScore]
    shadow_before: dict[str, StoredScore]
    scores: list[tuple[str, str, StoredScore]] = field(default_factory=list)
    _last: datetime | None = None
    _status: str | None = None
    entries: list[tuple[str, str, HistoryEntry]] = field(default_factory=list)

    def add(
        self,
        key: str,
        score: ScoredLead,
        scored_stage: str,
        state: MqlState,
        activities: Sequence[Activity],
        outcome: LeadOutcome | None = None,
    ) -> None:
        """The live score of one lead (`scored_stage`: before sales outcomes moved it;
        `outcome`: the stored Salesforce outcome, named when it changed the stage)."""
        self._last = max(map(_OCCURRED, activities), default=None)
        self._status = outcome_status(outcome)
        self._track(key, LIVE, self.tracking.live.version, score, scored_stage, state,
                    activities, self._last, self.live_before.get(key))

    def add_shadow(
        self,
        key: str,
        score: ScoredLead,
        scored_stage: str,
        state: MqlState,
        activities: Sequence[Activity],
    ) -> None:
        """The shadow score of the lead `add` was last given."""
        assert self.tracking.shadow is not None
        self._track(key, SHADOW, self.tracking.shadow.version.version, score, scored_stage,
                    state, activities, self._last, self.shadow_before.get(key))

    def shadow_state(self, key: str) -> MqlState | None:
        stored = self.shadow_before.get(key)
        return None if stored is None else stored.state

    def _track(
        self,
        key: str,
        track: str,
        version: str,
        score: ScoredLead,
        scored_stage: str,
        state: MqlState,
        activities: Sequence[Activity],
        last: datetime | None,
        before: StoredScore | None,
    ) -> None:
        total = Decimal(score.total)
        current = StoredScore(
            version=version,
            total=total,
            stage=score.stage,
            scored_stage=scored_stage,
            state=state,
            activities=len(activities),
            last_activity=last,
            scored_at=self.now,
            logged_total=before.logged_total if before is not None else total,
        )
        entry = history_entry(
            before, current, new_activities(before, activities), self._status
        )
        if entry is not None:
            current = replace(current, logged_total=total)
            self.entries.append((key, track, entry))
        elif track == LIVE and _same(before, current):
            return  # nothing the next run compares with changed: no write (the shadow's
            # rows are always written: `score compare` counts the leads it scored)
        self.scores.append((key, track, current))

    def save(self) -> None:
        self.store.save(self.scores, self.entries)



_OCCURRED = attrgetter("occurred_at")


def outcome_status(outcome: LeadOutcome | None) -> str | None:
    """What Salesforce shows of a lead's outcome, for a history entry: the opportunity's
    stage, else the Lead status(es), marked converted when it was."""
    if outcome is None:
        return None
    if outcome.opportunity_id and outcome.opportunity_stage:
        return f"Opportunity {outcome.opportunity_stage}"
    statuses = outcome.lead_statuses or ((outcome.status,) if outcome.status else ())
    text = ", ".join(dict.fromkeys(statuses)) or None
    if outcome.is_converted:
        return "converted" + (f" ({text})" if text else "")
    return text


def _same(before: StoredScore | None, current: StoredScore) -> bool:
    """Whether the stored row already says all the next run compares with (the total as
    last logged, the MQL state, stage, version, activity count and latest activity)."""
    return (
        before is not None
        and before.version == current.version
        and before.stage == current.stage
        and before.scored_stage == current.scored_stage
        and before.state == current.state
        and before.activities == current.activities
        and before.last_activity == current.last_activity
    )
