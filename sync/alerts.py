"""The hot-lead alert step of a run: one alert per configured channel for each new MQL
episode, exactly once, through the outbox in the state store (`sync.alert_store`).

How "exactly once" holds, step by step:
1. `intents` turns the batch's new MQL episodes into outbox rows; the pipeline stores them
   with the episodes in one transaction (`StateStore.record_decisions`). A crash before it
   loses both (the lead is still marked and is scored again, deciding the same episode); a
   crash after keeps both. A rerun deciding the same episode inserts nothing (primary key).
2. After the run's Salesforce writes (so the Lead a run creates is linked), `send_pending`
   reads what is due, adds the record link and owner, and sends each row; right after the
   channel's 2xx (SMTP: 250) the row is marked `sent` in its own transaction.
3. A failed send counts a try and waits (backoff, `retry_base_minutes` × 2^(tries-1), at most
   a day) for a later run; after `max_attempts` tries, or at once when the channel refuses
   for good (4xx, SMTP 5yz), the row is `dead` and in the dead-letter list.

The residual window: a crash (or a lost connection) after the channel accepted a message and
before step 2's mark commits sends that one alert again on the next run. Slack and Teams
webhooks cannot deduplicate, so there that alert can appear twice; the window is one local
SQLite/PostgreSQL commit long, and only the alert being sent at that moment is affected. The
generic webhook carries the outbox key as `Idempotency-Key` and e-mail a Message-ID derived
from it, so receivers that keep keys drop the resend.

A slow or failing channel never holds up the sync beyond its budget: each send is bounded by
`timeout_seconds` (its in-run retry included), a channel that fails is not tried again in the
same run, and a channel stops for the run after `run_budget_seconds`; what it did not reach
stays pending, no try counted. Other channels' rows are independent: a channel's success or
failure never resends or holds another's.

The hand-off SLA (`[sla]`, `core.handoff`): before each send, hand-offs still untouched when
their deadline (MQL moment + `first_touch_hours` business hours) has passed get one
escalation per configured channel, keyed `sla:<lead>:<episode>:<channel>`, recorded with the
hand-off's `escalated` mark in one transaction, then sent like any row (same retries, same
dead letters). Only episodes that had an MQL alert are escalated: a backfill's history and
a rescore never do. The escalation carries the MQL alert's facts plus the business hours
elapsed since the MQL when it was decided.

Only `sync` runs raise alerts: a backfill imports history (alerting every old MQL at once
would flood the channels), and a `rescore` re-applies rules to leads sales already knows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.alerts import Alert, Channel, Language, Reason, render
from core.business_hours import BusinessCalendar
from core.errors import ConnectorError, FatalAPIError
from core.handoff import breach
from sync.alert_store import MQL, SLA, AlertIntent, OutboxRow
from sync.plan import LeadInput, ScoredLead
from sync.ports import RunKind, RunSummary
from sync.state import StateStore

log = logging.getLogger("connector.alerts")

TOP_REASONS = 3
MAX_BACKOFF = timedelta(days=1)


def top_reasons(score: ScoredLead, count: int = TOP_REASONS) -> list[dict[str, str]]:
    """The rules that added most to the score (scoring.LeadScore.explanation), biggest
    first; none when the score carries no explanation."""
    entries = getattr(score, "explanation", ()) or ()
    positive = [e for e in entries if e.contribution_cents > 0]
    positive.sort(key=lambda e: (-e.contribution_cents, e.rule_id))
    return [{"rule": e.rule_id, "points": f"{e.contribution:+}"} for e in positive[:count]]


def alert_payload(lead: LeadInput) -> dict[str, Any]:
    """What the run knows when the episode starts (the record comes at send time)."""
    props = lead.contact.properties
    company_props = lead.company.properties if lead.company is not None else {}
    score = lead.score
    return {
        "first_name": str(props.get("firstname") or ""),
        "last_name": str(props.get("lastname") or ""),
        "company": str(company_props.get("name") or props.get("company") or ""),
        "title": str(props.get("jobtitle") or ""),
        "score": str(score.total),
        "grade": score.grade,
        "rule": score.mql_reason or "",
        "qualified_at": (score.mql_since.isoformat() if score.mql_since else None),
        "reasons": top_reasons(score),
    }


def next_attempt(
    now: datetime, tries: int, base: timedelta, max_attempts: int
) -> datetime | None:
    """When to try again after `tries` failed tries; None: no more tries (dead)."""
    if tries >= max_attempts:
        return None
    return now + min(base * 2 ** (tries - 1), MAX_BACKOFF)


def to_alert(
    row: OutboxRow,
    *,
    fallback_moment: datetime,
    sobject: str | None,
    record_id: str | None,
    url: str | None,
    owner: str | None,
) -> Alert:
    p = row.payload
    moment = datetime.fromisoformat(p["qualified_at"]) if p.get("qualified_at") else None
    return Alert(
        key=row.key,
        channel=row.channel,
        lead_key=row.lead_key,
        episode=row.episode,
        first_name=p.get("first_name", ""),
        last_name=p.get("last_name", ""),
        company=p.get("company", ""),
        title=p.get("title", ""),
        score=p.get("score", ""),
        grade=p.get("grade", ""),
        rule=p.get("rule", ""),
        qualified_at=moment or fallback_moment,
        reasons=tuple(Reason(r["rule"], r["points"]) for r in p.get("reasons", [])),
        sobject=sobject,
        record_id=record_id,
        record_url=url,
        owner=owner,
        kind=p.get("kind", MQL),
        elapsed_hours=p.get("elapsed_hours", ""),
        sla_hours=p.get("sla_hours", ""),
    )


@dataclass
class AlertOutbox:
    """Decides alert intents for new MQL episodes and sends the due ones (sync.ports.Alerts).

    `owner_names` maps (sobject, record Id) pairs to their owners' names by record Id (a
    failure falls back to the owner Ids state holds);
    `record_url` builds a record's link from (sobject, id); `monotonic` times the budgets."""

    store: StateStore
    channels: Sequence[Channel]
    language: Language
    zone: str
    max_attempts: int = 5
    retry_base: timedelta = timedelta(minutes=5)
    run_budget_seconds: float = 30.0
    owner_names: Callable[[Sequence[tuple[str, str]]], Mapping[str, str]] = lambda ids: {}
    record_url: Callable[[str, str], str | None] = lambda sobject, record_id: None
    monotonic: Callable[[], float] = time.monotonic
    # The hand-off SLA ([sla]): business hours to the first touch (0: no escalations).
    sla_hours: float = 0.0
    calendar: BusinessCalendar | None = None

    def intents(self, inputs: Sequence[LeadInput], kind: RunKind) -> list[AlertIntent]:
        if kind != "sync":
            return []
        out = []
        for lead in inputs:
            if lead.new_mql_episode is None:
                continue
            payload = alert_payload(lead)
            out += [
                AlertIntent(lead.lead_key, lead.new_mql_episode, channel.name, payload)
                for channel in self.channels
            ]
        return out

    def escalations(self, now: datetime) -> int:
        """Record one escalation per channel for each alerted hand-off untouched past its
        deadline (each once: the hand-off is marked in the same transaction)."""
        if self.sla_hours <= 0 or self.calendar is None or not self.channels:
            return 0
        store = self.store
        store.touches.refresh()
        intents: list[AlertIntent] = []
        escalated: list[tuple[str, int]] = []
        for handoff in store.touches.unescalated():
            if breach(handoff, now, self.sla_hours, self.calendar) != "open":
                continue
            payload = store.alerts.mql_payload(handoff.lead_key, handoff.episode)
            if payload is None:
                continue
            elapsed = self.calendar.business_hours_between(handoff.mql_at, now)
            payload = dict(payload) | {
                "kind": SLA,
                "qualified_at": handoff.mql_at.isoformat(),
                "elapsed_hours": f"{elapsed:.1f}",
                "sla_hours": f"{self.sla_hours:g}",
            }
            intents += [
                AlertIntent(handoff.lead_key, handoff.episode, channel.name, payload, SLA)
                for channel in self.channels
            ]
            escalated.append((handoff.lead_key, handoff.episode))
        if escalated:
            with store.transaction() as db:
                store.alerts.record(db, intents)
                store.touches.mark_escalated(db, escalated)
            log.info("hand-off SLA breached; escalating", extra={"hand_offs": len(escalated)})
        return len(escalated)

    def send_pending(self, now: datetime, summary: RunSummary) -> None:
        escalated = self.escalations(now)
        due = self.store.alerts.due(now)
        counts = {"sent": 0, "failed": 0, "dead": 0, "waiting": 0}
        if due:
            alerts = self._complete(due, now)
            by_channel = {c.name: c for c in self.channels}
            for name in dict.fromkeys(row.channel for row in due):
                rows = [(r, a) for r, a in zip(due, alerts, strict=True) if r.channel == name]
                channel = by_channel.get(name)
                if channel is None:  # a channel switched off since: its rows wait
                    counts["waiting"] += len(rows)
                    continue
                self._send_channel(channel, rows, now, counts)
        summary.alerts = counts | {"escalated": escalated} | {
            f"outbox_{status}": n for status, n in self.store.alerts.counts().items()
        }

    def _complete(self, rows: Sequence[OutboxRow], now: datetime) -> list[Alert]:
        links = self.store.links({r.lead_key for r in rows})
        records = sorted({(link.sobject, link.record_id) for link in links.values()})
        names: Mapping[str, str] = {}
        if records:
            try:
                names = self.owner_names(records)
            except ConnectorError as exc:
                log.warning("alert owners not read; their Ids are shown",
                            extra={"error": exc.message})
        out = []
        for row in rows:
            link = links.get(row.lead_key)
            owner = None
            if link is not None:
                owner = names.get(link.record_id) or link.owner_id
            out.append(
                to_alert(
                    row,
                    fallback_moment=now,
                    sobject=link.sobject if link else None,
                    record_id=link.record_id if link else None,
                    url=self.record_url(link.sobject, link.record_id) if link else None,
                    owner=owner,
                )
            )
        return out

    def _send_channel(
        self,
        channel: Channel,
        rows: Sequence[tuple[OutboxRow, Alert]],
        now: datetime,
        counts: dict[str, int],
    ) -> None:
        deadline = self.monotonic() + self.run_budget_seconds
        for done, (row, alert) in enumerate(rows):
            if self.monotonic() >= deadline:
                counts["waiting"] += len(rows) - done
                log.warning("alert channel out of time for this run; the rest waits",
                            extra={"channel": channel.name, "waiting": len(rows) - done})
                return
            try:
                channel.send(alert, render(alert, self.language, self.zone))
            except ConnectorError as exc:
                tries = row.attempts + 1
                retry_at = None if isinstance(exc, FatalAPIError) else next_attempt(
                    now, tries, self.retry_base, self.max_attempts
                )
                self.store.alerts.mark_failed(row, exc.message, next_at=retry_at,
                                              lead_key=row.lead_key)
                counts["dead" if retry_at is None else "failed"] += 1
                log.warning(
                    "alert not delivered" if retry_at else "alert dead",
                    extra={"channel": channel.name, "lead": row.lead_key, "tries": tries,
                           "error": exc.message,
                           "retry_at": retry_at.isoformat() if retry_at else None},
                )
                counts["waiting"] += len(rows) - done - 1
                return  # a failing channel is not tried again this run
            self.store.alerts.mark_sent(row.key)
            counts["sent"] += 1
