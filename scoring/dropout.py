"""Whether an MQL is still an MQL when sales reach it (pure: no I/O, no clock).

`score suggest`'s decay check: a decay so fast that MQLs drop out of MQL (once `hold_days`
is over) before sales' first touch hands sales leads the connector no longer calls hot.
`stays_mql` scores the lead as the sync would, carrying its MQL state (so `hold_days` and
episodes behave as in production), with the activities it had at each moment, at evenly
spaced moments from its MQL moment to when sales reached it.
"""

from __future__ import annotations

from datetime import datetime

from scoring.engine import score_lead
from scoring.rules import Rules
from scoring.simulate import LeadHistory

STEPS = 16  # moments checked between the MQL moment and the first touch


def stays_mql(
    rules: Rules, lead: LeadHistory, mql_at: datetime, reached_at: datetime, steps: int = STEPS
) -> bool | None:
    """True: MQL at every checked moment up to `reached_at`; False: it dropped out before;
    None: not MQL at `mql_at` under `rules` (nothing to say)."""
    score = score_lead(rules, lead.contact, lead.company, lead.activities, mql_at)
    if not score.is_mql:
        return None
    state = score.mql_state
    span = (reached_at - mql_at) / steps
    for step in range(1, steps + 1):
        score = score_lead(
            rules, lead.contact, lead.company, lead.activities, mql_at + span * step, state
        )
        if not score.is_mql:
            return False
        state = score.mql_state
    return True
