"""Per-lead KPI facts kept current in the state store (`sync.kpi_store`), for the set-based
report: which leads to replay, and when every lead must be.

A lead's facts are what `app.kpi_report.lead_facts_valid` finds by replaying its history
under the current rules up to a moment T (the row's `facts_at`), with the last moment time
alone leaves them true (`valid_until`, `scoring.validity`). Before a report ending at `until`:

- all facts are rebuilt (every lead replayed to `until`) when there are none yet or when the
  rules' content hash (every mappings file but costs.toml) or the dimensions changed;
- otherwise only the leads whose facts may not hold at `until` are replayed to it: those a run
  processed or decided since the last refresh (`kpi_stale`, marked in the run's own
  transactions), those still marked dirty (stored, not processed yet), and those whose row
  does not cover `until` (`valid_until < until`, or `facts_at > until`: a report ending
  before the facts' moment). With the shipped rules (decaying scores, 30-day windows: all
  monotone in time) a dashboard whose "now" moves by an hour replays only the leads whose
  behaviour segment, MQL flag or stage flips in that hour; with rules of unknown direction
  in time every row has `valid_until = facts_at` and every lead is replayed when `until`
  moves, as before.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpi.compute import period_label
from kpi.model import CHANNEL_DIMENSION
from sync.kpi_store import SEP, micros
from sync.outcomes import lead_verdict

if TYPE_CHECKING:
    from datetime import datetime

    from kpi.model import LeadFacts
    from sync.state import StateStore

log = logging.getLogger("connector.report")

COSTS_FILE = "costs.toml"


@dataclass(frozen=True, slots=True)
class Refresh:
    mode: str  # "full" | "stale" | "current"
    leads: int  # replayed
    reason: str


def rules_hash(folder: Path) -> str:
    """SHA-256 of every mappings file the facts depend on (all but costs.toml)."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.toml")):
        if path.name != COSTS_FILE:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def fact_rows(
    facts: LeadFacts,
    hubspot_id: str | None,
    week: Any,
    month: Any,
    dims: Sequence[str],
    facts_at: datetime,
    valid_until: datetime,
    verdict: str | None = None,
):
    """`sync.kpi_store` rows of one lead: the facts row, its segment pairs, its engagement;
    `verdict` is sales' verdict on it (`sync.outcomes.lead_verdict`)."""
    values = [facts.dimensions.get(d) or "unknown" for d in dims]
    channel = facts.channel

    def labels(moment: datetime | None) -> tuple[str | None, str | None]:
        if moment is None:
            return None, None
        return period_label(moment, "month"), period_label(moment, "week")

    o = facts.outcome
    row = (
        facts.key,
        hubspot_id,
        micros(facts.created),
        *labels(facts.created),
        channel,
        SEP.join(values),
        micros(facts.first_mql),
        *labels(facts.first_mql),
        micros(facts.first_interest),
        *labels(facts.first_interest),
        micros(facts.first_comparison),
        int(o is not None),
        int(o is not None and o.sql),
        micros(o.sql_at) if o else None,
        micros(o.opportunity_at) if o else None,
        micros(o.won_at) if o else None,
        micros(o.lost_at) if o else None,
        str(o.amount) if o is not None and o.amount is not None else None,
        micros(facts_at),
        micros(valid_until),
        verdict,
    )
    segments = [*zip(dims, values, strict=True), (CHANNEL_DIMENSION, channel)]
    engagement = [
        (facts.key, period, label, e.delivered, e.opened, e.clicked, e.webinar_registrations,
         e.webinar_attended, e.whitepaper_downloads)
        for period, by_label in (("week", week), ("month", month))
        for label, e in sorted(by_label.items())
    ]
    return row, segments, engagement


def ensure_facts(
    store: StateStore, ctx: Any, folder: Path, problems: Any, *, facts_of: Any, engagement: Any
) -> Refresh:
    """Bring the stored facts up to date for a report ending at `ctx.until` (see the module
    docstring); returns what was done. `facts_of` is `app.kpi_report.lead_facts_valid` and
    `engagement` `app.kpi_report.engagement_by_period` (passed in: that module calls this)."""
    build = (facts_of, engagement)
    dims = [d.name for d in ctx.rules.dimensions]
    meta = store.kpi.meta()
    wanted = {"rules_hash": rules_hash(folder), "dimensions": SEP.join(dims)}
    until = micros(ctx.until)
    assert until is not None
    as_of = int(meta["as_of"]) if "as_of" in meta else None
    reason = ""
    unfinished = store.kpi.rebuild_state()
    if unfinished is not None and unfinished[0] == wanted["rules_hash"]:
        after = unfinished[1]
        count = store.kpi.write_facts(
            _replayed(store, ctx, None, dims, problems, build, after=after),
            keys=None,
            meta={**wanted, "as_of": str(until)},
            resume=True,
        )
        log.info("report: KPI facts rebuild resumed after %r: %d leads", after, count)
        return Refresh("full", count, "an interrupted rebuild resumed")
    if as_of is None:
        reason = "no facts stored yet"
    elif any(meta.get(k) != v for k, v in wanted.items()):
        reason = "the rules changed"
    if reason:
        count = store.kpi.write_facts(
            _replayed(store, ctx, None, dims, problems, build),
            keys=None,
            meta={**wanted, "as_of": str(until)},
        )
        log.info("report: KPI facts rebuilt for %d leads (%s)", count, reason)
        return Refresh("full", count, reason)
    assert as_of is not None
    stale = store.kpi.stale_keys()
    expired = store.kpi.expired_keys(until)
    keys = stale | expired
    if not keys:
        return Refresh("current", 0, "")
    count = store.kpi.write_facts(
        _replayed(store, ctx, sorted(keys), dims, problems, build),
        keys=keys,
        meta={**wanted, "as_of": str(max(as_of, until))},
    )
    reason = (
        f"{len(stale)} leads changed since the last refresh, {len(expired)} leads' facts "
        "do not hold at the report's end"
    )
    log.info("report: KPI facts refreshed for %d leads (%s)", count, reason)
    return Refresh("stale", count, reason)


def _replayed(
    store: StateStore,
    ctx: Any,
    keys: list[str] | None,
    dims: Sequence[str],
    problems: Any,
    build: tuple[Any, Any],
    *,
    after: str | None = None,
) -> Iterator[tuple]:
    """The facts rows of `keys` (None: every lead, by key; only those after `after`)."""
    lead_facts, engagement_by_period = build
    from app.leads import Companies, lead_history

    if keys is None:  # every lead in Python's key order, the rebuild cursor's order
        keys = [k for k in sorted(store.all_lead_emails()) if after is None or k > after]

    def histories() -> Iterator[Any]:
        companies = Companies(store)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            by_email = store.contacts_by_email(chunk)
            for key in chunk:
                # archived contacts count nowhere in the report (as the replay reads them)
                members = [m for m in by_email.get(key, ()) if not m.archived]
                if members:
                    yield lead_history(store, key, members, companies)

    batch: list[Any] = []

    def flush() -> Iterator[tuple]:
        names = [h.key for h in batch]
        states = store.mql_states(names)
        known = store.outcomes.outcomes_for(names)
        tasks = store.tasks_for(names)
        for history in batch:
            facts, valid = lead_facts(
                history,
                ctx,
                state=states.get(history.key),
                outcome=known.get(history.key),
                tasks=tasks.get(history.key, ()),
                problems=problems,
            )
            if facts is not None:
                week = engagement_by_period(history.activities, "week")
                month = engagement_by_period(history.activities, "month")
                verdict = lead_verdict(known.get(history.key), ctx.funnel)
                yield fact_rows(
                    facts, history.contact.hubspot_id, week, month, dims, ctx.until, valid,
                    verdict,
                )

    for history in histories():
        batch.append(history)
        if len(batch) >= 500:
            yield from flush()
            batch = []
    if batch:
        yield from flush()
