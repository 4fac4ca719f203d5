"""The sync loop of `connector serve`: one thread that holds the run lock for the process's
life and runs the passes.

- A **webhook pass** starts `debounce_seconds` after the last webhook of a burst, and at the
  latest `debounce_max_seconds` after its first, so a burst is one pass.
- A **poll pass** runs at start (it takes up what happened while the service was down, and
  the marks a killed process left) and then `poll_minutes` after the last pass: the safety net
  for a webhook HubSpot never delivered.

Both are the same incremental `sync` run (`sync.runner.run_once`, recorded in the run history
as `sync`): a webhook says *that* a contact changed, not *what* happened (a form submission,
a webinar attendance, an e-mail click are activities the contact record does not carry), so
the pass reads the activity streams since their cursors as every sync does, and the marks the
webhooks left make sure the contacts they name are processed even where HubSpot's search
index has not caught up yet. A pass costs a handful of HubSpot calls whatever the burst size
(measured in the tests: see docs/service.md), and the client's rate limiter keeps it under
the portal's limits.

Each pass's errors are logged and counted; the loop goes on (the next pass resumes, as a
rerun after exit 5 does). The lock is taken once, so a cron `connector sync` started meanwhile
exits 4.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.service.metrics import ServiceMetrics
from core.clock import Clock
from core.config import Settings
from core.errors import ConnectorError
from sync.db import state_target
from sync.lock import state_lock
from sync.ports import RunSummary
from sync.runner import open_store, run_once

log = logging.getLogger("connector.serve")

# After a pass that stopped (API down, state database gone): the next one this soon, without
# waiting for webhooks; the marks of the webhooks it had are durable and wait for it.
RETRY_SECONDS = 60.0

RunPass = Callable[[Settings, Clock], RunSummary]


def incremental_pass(settings: Settings, clock: Clock) -> RunSummary:
    return run_once(settings, kind="sync", clock=clock, lock_held=True)


@dataclass
class Timing:
    debounce: float
    debounce_max: float
    poll: float

    @classmethod
    def of(cls, settings: Settings) -> Timing:
        serve = settings.serve
        return cls(serve.debounce_seconds, serve.debounce_max_seconds, serve.poll_minutes * 60)


def next_pass_at(
    timing: Timing, *, first: float | None, last: float | None, next_poll: float
) -> tuple[float, str]:
    """When the next pass is due (monotonic seconds) and its trigger: the webhook burst's
    debounced moment if webhooks wait, else the poll."""
    if first is not None and last is not None:
        webhook = min(last + timing.debounce, first + timing.debounce_max)
        if webhook < next_poll:
            return webhook, "webhook"
    return next_poll, "poll"


class SyncLoop:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        metrics: ServiceMetrics,
        *,
        run_pass: RunPass = incremental_pass,
        on_pass: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self._on_pass = on_pass  # told after every pass (the dashboard's live updates)
        self.clock = clock
        self.metrics = metrics
        self.timing = Timing.of(settings)
        self._run_pass = run_pass
        self._cond = threading.Condition()
        self._received: list[float] = []  # monotonic times of webhook batches not handed off
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="sync-loop", daemon=True)
        self.passes = 0
        self.last_outcome: str | None = None

    # ------------------------------------------------------------------ control
    def start(self, timeout: float = 60.0) -> None:
        """Start the thread; returns once it holds the run lock. Raises what taking the lock
        raised (`LockHeldError`: another run holds it)."""
        self._thread.start()
        self._ready.wait(timeout)
        if self._error is not None:
            raise self._error

    def stop(self, timeout: float = 120.0) -> None:
        """Ask the loop to end after the pass under way, and wait for it."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self._ready.is_set() and self._error is None

    def notify(self, received: float) -> None:
        """Webhooks marked contacts (at monotonic time `received`): a pass is due soon."""
        with self._cond:
            self._received.append(received)
            self._cond.notify_all()

    # ------------------------------------------------------------------ the thread
    def _main(self) -> None:
        target = state_target(self.settings)
        try:
            with state_lock(target, wait_seconds=self.settings.sync.lock_wait_seconds):
                self._ready.set()
                self.metrics.loop_up.set(1)
                log.info("sync loop holds the run lock", extra={"state": target.display})
                try:
                    self._loop()
                finally:
                    self.metrics.loop_up.set(0)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            if not isinstance(exc, ConnectorError):
                log.exception("sync loop ended by an internal error")

    def _loop(self) -> None:
        next_poll = time.monotonic()  # a pass at start: catch up, finish what a kill left
        while not self._stop.is_set():
            with self._cond:
                received = list(self._received)
                first = received[0] if received else None
                due, trigger = next_pass_at(
                    self.timing, first=first, last=received[-1] if received else None,
                    next_poll=next_poll,
                )
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                self._received.clear()  # webhooks from now on wait for the next pass
            handed_off = self._pass(trigger, received)
            # Every pass is a full incremental sync: the poll timer starts again after it; after
            # a pass that did not finish, the next one comes sooner (and takes up its marks).
            delay = self.timing.poll if handed_off else min(self.timing.poll, RETRY_SECONDS)
            next_poll = time.monotonic() + delay

    def _pass(self, trigger: str, received: list[float]) -> bool:
        """One pass; whether it finished (its webhooks' contacts handed off)."""
        outcome, summary = "failed", {}
        try:
            result = self._run_pass(self.settings, self.clock)
            summary = result.as_dict()
            outcome = "partial" if result.write_failures else "ok"
        except ConnectorError as exc:
            outcome = "stopped"
            log.warning("pass stopped; the next one resumes", extra={"error": str(exc)})
        except Exception:
            log.exception("pass failed by an internal error; the next one resumes")
        finished = time.monotonic()
        self.passes += 1
        self.last_outcome = outcome
        self.metrics.record_pass(trigger, outcome, summary, self.clock().timestamp())
        handed_off = outcome in ("ok", "partial")
        if handed_off:
            for moment in received:
                self.metrics.latency.observe(finished - moment)
        self._refresh_store_gauges()
        if self._on_pass is not None:
            self._on_pass()
        log.info(
            "pass finished",
            extra={"trigger": trigger, "outcome": outcome, "webhook_batches": len(received)}
            | _counts(summary),
        )
        return handed_off

    def _refresh_store_gauges(self) -> None:
        try:
            with open_store(self.settings, clock=self.clock) as store:
                self.metrics.dead_letters.set(len(store.dead_letters()))
                self.metrics.waiting.set(store.dirty_count())
        except Exception as exc:  # a gauge is not worth a failed loop
            log.warning("state store gauges not read", extra={"error": str(exc)})


def _counts(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("leads_scored", "new_mql_episodes", "tasks_created", "records_updated",
            "leads_created", "write_failures", "hubspot_calls", "salesforce_calls")
    return {k: summary[k] for k in keys if k in summary}
