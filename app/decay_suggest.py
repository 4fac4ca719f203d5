"""`score suggest`'s decay proposal: a decay that makes MQLs drop out before sales reach
them (docs/scoring-feedback.md).

Sales' reach comes from the hand-off SLA's table (`sync.touch_store`, `handoffs`): each
MQL episode's first touch, or for an untouched one its MQL moment plus the median time to
first touch of the touched ones. Each hand-off's lead is scored from its MQL moment to that
reach (`scoring.dropout.stays_mql`). When at least `DROPOUT_SHARE` of them dropped out of
MQL first, every decaying group's `days` in `scoring.toml` is multiplied by 2, 4, 8 in
turn; the smallest factor that brings the share to at most half of `DROPOUT_SHARE` is
proposed (else the one with the lowest share), with the drop-out share before and after
and the precision/recall of a replay (`score simulate`), as a diff. Never applied.
"""

from __future__ import annotations

import statistics
import tomllib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from app.rule_edits import set_group_decay_days, unified_diff
from core.handoff import Handoff
from scoring import Rules, rules_from_toml
from scoring.dropout import stays_mql
from scoring.simulate import LeadHistory, simulate

DROPOUT_SHARE = 0.2  # of hand-offs that dropped out of MQL before sales reached them
MIN_HANDOFFS = 3
FACTORS = (2, 4, 8)
DECAYING = ("half_life", "linear")


def decay_days(scoring_text: str) -> dict[str, float]:
    """`[groups.<name>] decay = { type = half_life|linear, days = N }`: name -> N."""
    groups = tomllib.loads(scoring_text).get("groups") or {}
    return {
        name: float(group["decay"]["days"])
        for name, group in groups.items()
        if isinstance(group.get("decay"), dict) and group["decay"].get("type") in DECAYING
    }


def median_first_touch(handoffs: Sequence[Handoff]) -> timedelta | None:
    delays = [h.touched_at - h.mql_at for h in handoffs if h.touched_at is not None]
    return statistics.median(delays) if delays else None


def dropout_share(
    rules: Rules, by_key: Mapping[str, LeadHistory], handoffs: Sequence[Handoff],
    median: timedelta,
) -> tuple[float, int]:
    """(share of the hand-offs that dropped out before sales reached them, hand-offs judged)."""
    judged = dropped = 0
    for h in handoffs:
        lead = by_key.get(h.lead_key)
        if lead is None:
            continue
        reached = h.touched_at if h.touched_at is not None else h.mql_at + median
        verdict = stays_mql(rules, lead, h.mql_at, reached)
        if verdict is None:
            continue
        judged += 1
        dropped += verdict is False
    return (dropped / judged if judged else 0.0), judged


def decay_suggestion(
    rules: Rules,
    scoring_text: str,
    segments_text: str,
    leads: Sequence[LeadHistory],
    labels: Mapping[str, bool],
    bounds: Sequence[datetime],
    handoffs: Sequence[Handoff],
    lift: Any,
) -> dict[str, Any] | None:
    """The proposal, or None (too few hand-offs, few drop-outs, nothing decays)."""
    median = median_first_touch(handoffs)
    days = decay_days(scoring_text)
    if median is None or not days:
        return None
    by_key = {lead.key: lead for lead in leads}
    share, judged = dropout_share(rules, by_key, handoffs, median)
    if judged < MIN_HANDOFFS or share < DROPOUT_SHARE:
        return None
    best: tuple[float, int, str] | None = None
    for factor in FACTORS:
        edited = scoring_text
        for group, current in days.items():
            edited = set_group_decay_days(edited, group, current * factor)
        candidate_share, _ = dropout_share(
            rules_from_toml(edited, segments_text), by_key, handoffs, median
        )
        if best is None or candidate_share < best[0]:
            best = (candidate_share, factor, edited)
        if candidate_share <= DROPOUT_SHARE / 2:
            break
    assert best is not None
    proposed_share, factor, edited = best
    if proposed_share >= share:
        return None
    result = simulate(leads, rules, rules_from_toml(edited, segments_text), bounds, labels)
    hours = round(median.total_seconds() / 3600, 1)
    return {
        "kind": "slower_decay",
        "groups": {g: {"current": d, "proposed": d * factor} for g, d in days.items()},
        "why": (f"{share:.0%} of {judged} hand-offs dropped out of MQL before sales reached "
                f"them (median first touch {hours} h after MQL)"),
        "why_ja": (f"ハンドオフ {judged} 件の {share:.0%} が営業の初回対応 (中央値 MQL 後 "
                   f"{hours} 時間) より前に MQL から外れました。減衰を緩めます"),
        "median_first_touch_hours": hours,
        "dropout": {"current": round(share, 4), "proposed": round(proposed_share, 4),
                    "handoffs": judged},
        "lift": lift(result.outcomes),
        "diff": unified_diff(scoring_text, edited),
    }
