"""The hand-off SLA as plain data and pure functions (no I/O, no clock: `now` and the
business-hours calendar are handed in).

A hand-off is one MQL episode of a lead, owned by the owner of its Salesforce record. Its
first touch is the earliest sales action on the lead's record at or after the MQL moment:
a completed Task or a logged call (`TaskSubtype = 'Call'`) whose `WhoId` is the record, or a
Lead status change. Its deadline is the MQL moment plus `first_touch_hours` business hours
(`core.business_hours`). It is breached when the first touch came after the deadline (a
closed breach) or has not come and the deadline has passed (an open breach).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Literal

from core.business_hours import BusinessCalendar

TouchKind = Literal["task", "call", "status"]
NO_OWNER = "-"


@dataclass(frozen=True, slots=True)
class Touch:
    """One sales action on a lead's Salesforce record."""

    touch_id: str  # Task Id, or "status:<Lead Id>:<modstamp>"
    lead_key: str
    kind: TouchKind
    record_id: str  # the Lead/Contact touched
    touched_at: datetime


@dataclass(frozen=True, slots=True)
class Handoff:
    lead_key: str
    episode: int
    mql_at: datetime
    owner_id: str | None
    sobject: str | None
    record_id: str | None
    touched_at: datetime | None = None
    touch_kind: str | None = None
    escalated: bool = False


def first_touch(mql_at: datetime, touches: Iterable[Touch]) -> Touch | None:
    """The earliest touch at or after `mql_at` (ties: by id, so the answer is stable)."""
    after = [t for t in touches if t.touched_at >= mql_at]
    return min(after, key=lambda t: (t.touched_at, t.touch_id), default=None)


def deadline(handoff: Handoff, hours: float, calendar: BusinessCalendar) -> datetime:
    return calendar.add_business_hours(handoff.mql_at, hours)


def breach(
    handoff: Handoff, now: datetime, hours: float, calendar: BusinessCalendar
) -> Literal["open", "closed"] | None:
    """'open': untouched past the deadline; 'closed': touched after it; None: in time (or not
    due yet, or the SLA is off with `hours` 0)."""
    if hours <= 0:
        return None
    due = deadline(handoff, hours, calendar)
    if handoff.touched_at is None:
        return "open" if now >= due else None
    return "closed" if handoff.touched_at > due else None


@dataclass(frozen=True, slots=True)
class OwnerSpeed:
    """Speed-to-lead of one owner (KPI names in docs/reporting.md)."""

    owner: str
    handoffs: int
    touched: int
    median_hours: float | None  # business hours from MQL to first touch, touched ones
    breaches_open: int
    breaches_closed: int

    def as_dict(self) -> dict[str, object]:
        return {
            "owner": self.owner,
            "handoffs": self.handoffs,
            "touched": self.touched,
            "median_first_touch_business_hours": self.median_hours,
            "breaches_open": self.breaches_open,
            "breaches_closed": self.breaches_closed,
        }


def speed_by_owner(
    handoffs: Sequence[Handoff],
    now: datetime,
    hours: float,
    calendar: BusinessCalendar,
    names: dict[str, str] | None = None,
) -> list[OwnerSpeed]:
    """One row per owner (name when `names` has it, else the owner Id; "-" for none), most
    hand-offs first."""
    groups: dict[str, list[Handoff]] = {}
    for h in handoffs:
        owner = (names or {}).get(h.owner_id or "", h.owner_id or NO_OWNER)
        groups.setdefault(owner, []).append(h)
    rows = []
    for owner, items in groups.items():
        times = [
            calendar.business_hours_between(h.mql_at, h.touched_at)
            for h in items
            if h.touched_at is not None
        ]
        states = [breach(h, now, hours, calendar) for h in items]
        rows.append(
            OwnerSpeed(
                owner=owner,
                handoffs=len(items),
                touched=len(times),
                median_hours=round(median(times), 2) if times else None,
                breaches_open=states.count("open"),
                breaches_closed=states.count("closed"),
            )
        )
    rows.sort(key=lambda r: (-r.handoffs, r.owner))
    return rows
