"""Finished runs as a signal the dashboard's event stream (`GET /api/events`) follows.

In `connector serve` the sync loop bumps the signal after each pass; `connector dashboard`
(no loop) reads the state store's `runs` table every `serve.dashboard_poll_seconds` and
bumps it when a finished run newer than the last one seen appears.
"""

from __future__ import annotations

import logging
import threading

from core.clock import Clock
from core.config import Settings

log = logging.getLogger("connector.dashboard")


class RunSignal:
    """A counter of finished runs, safe to bump from any thread and read from any."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0

    @property
    def version(self) -> int:
        with self._lock:
            return self._version

    def bump(self) -> None:
        with self._lock:
            self._version += 1


def last_finished_run(settings: Settings, clock: Clock) -> int:
    """The id of the newest finished run in the state store (0: none)."""
    from sync.runner import open_store

    with open_store(settings, clock=clock, create=False) as store:
        return max((int(r["id"]) for r in store.runs(limit=20) if r.get("finished_at")),
                   default=0)


class RunsWatcher:
    """A daemon thread that bumps `signal` when a run finishes (read from the runs table)."""

    def __init__(self, settings: Settings, clock: Clock, signal: RunSignal) -> None:
        self.settings, self.clock, self.signal = settings, clock, signal
        self.interval = settings.serve.dashboard_poll_seconds
        self._stop = threading.Event()
        self._seen = self._read()
        self._thread = threading.Thread(target=self._main, name="runs-watcher", daemon=True)

    def _read(self) -> int:
        try:
            return last_finished_run(self.settings, self.clock)
        except Exception as exc:  # the page keeps what it shows; the next read retries
            log.warning("runs table not read", extra={"error": str(exc)})
            return -1

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _main(self) -> None:
        while not self._stop.wait(self.interval):
            newest = self._read()  # -1 when the store did not answer: nothing changes
            if newest > self._seen:
                self.signal.bump()  # once more than needed after an outage: harmless
                self._seen = newest


__all__ = ["RunSignal", "RunsWatcher", "last_finished_run"]
