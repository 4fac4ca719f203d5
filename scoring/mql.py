"""MQL episodes as a pure state transition; the caller stores the state between runs."""

from __future__ import annotations

from datetime import datetime, timedelta

from scoring.result import MqlState


def next_mql_state(
    previous: MqlState,
    *,
    qualifying_rule: str | None,
    disqualified: bool,
    now: datetime,
    hold: timedelta,
) -> MqlState:
    """The lead's standing after this run.

    - A disqualified lead is not MQL, whatever else holds; its episode count stays.
    - A lead that meets an MQL rule stays in its episode, or starts episode + 1 at `now`.
    - A lead that no longer meets any rule stays MQL while `now < since + hold` (so decay
      does not make a lead flicker in and out), then drops out.
    """
    if qualifying_rule is not None and not disqualified:
        if previous.qualified:
            return previous
        return MqlState(previous.episode + 1, True, now, qualifying_rule)
    held = (
        not disqualified
        and previous.qualified
        and previous.since is not None
        and now - previous.since < hold
    )
    if held or not previous.qualified:
        return previous
    return MqlState(previous.episode, False, None, None)
