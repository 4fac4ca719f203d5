"""How long each activity kind can still change a score: what `state.activity_retention_days`
may drop without changing any score. Pure: the compiled rules in, seconds out.

Per kind, the longest of what reads it:
- a condition with `within_days` (MQL, disqualifier, stage, segment, compound rules): that
  window;
- a behaviour rule with linear decay: its span (points are 0 after it) plus its cap window;
- a behaviour rule with half-life decay: `HALF_LIVES` half-lives plus its cap window; an
  activity that old keeps under 2^-30 (about a billionth) of its points, far under the score's
  precision of a hundredth of a point however many such activities a lead has;
- a behaviour rule without decay, one that counts `once`, or a condition without a window:
  forever (`math.inf`): such kinds are never dropped.
Kinds nothing reads have horizon 0.
"""

from __future__ import annotations

import math

from scoring.rules import DAY, HALF_LIFE, LINEAR, Rules

HALF_LIVES = 30
MARGIN_DAYS = 30  # added to the longest finite horizon for the default retention


def kind_horizons(rules: Rules) -> dict[str, float]:
    """Seconds after which an activity of each kind read by the rules no longer counts."""
    probe_slots = {probe.slot for probe in rules.probes}
    by_slot: dict[int, list[float]] = {}
    for spec in rules.behaviour.values():
        if spec.once or spec.decay not in (HALF_LIFE, LINEAR) or spec.rate <= 0:
            horizon = math.inf
        elif spec.decay == LINEAR:
            horizon = 1.0 / spec.rate + spec.window
        else:
            horizon = HALF_LIVES * math.log(2) / spec.rate + spec.window
        by_slot.setdefault(spec.slot, []).append(horizon)
    out: dict[str, float] = {}
    for kind, targets in rules.by_kind.items():
        longest = 0.0
        for slot, _test, horizon in targets:
            if math.isfinite(horizon):
                longest = max(longest, horizon)
            elif slot in probe_slots or slot not in by_slot:
                longest = math.inf
            else:
                longest = max(longest, *by_slot[slot])
        out[kind] = longest
    return out


def minimum_retention_days(rules: Rules) -> int:
    """The shortest retention that changes no score: the longest finite horizon, in whole
    days, plus `MARGIN_DAYS`."""
    finite = [h for h in kind_horizons(rules).values() if math.isfinite(h)]
    return math.ceil(max(finite, default=0.0) / DAY) + MARGIN_DAYS


def kinds_to_prune(rules: Rules, retention_days: int) -> list[str]:
    """The kinds whose activities older than `retention_days` may go (finite horizon within
    it); a kind no rule reads is pruned too. Kinds absent from the rules but present in the
    store are the caller's to add."""
    limit = retention_days * DAY
    return sorted(k for k, h in kind_horizons(rules).items() if h <= limit)
