"""Runs as the CLI starts them: take the lock, record the run, build the stages, run, report.

This is the only module that knows how every stage is constructed from `Settings`; the
stages themselves take their collaborators as arguments (see `sync.pipeline.Pipeline`).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from core.clock import Clock, system_clock
from core.config import Settings
from core.errors import ConfigError, ConnectorError
from sync.db import PostgresTarget, database_errors, state_target
from sync.db import exists as state_exists
from sync.lock import state_lock
from sync.metrics import export as export_metrics
from sync.pipeline import Pipeline
from sync.ports import BATCH_SIZE, RunKind, RunOptions, RunSummary
from sync.rule_versions import finish_swap
from sync.state import StateStore

log = logging.getLogger("connector.run")

def mappings_dir(settings: Settings) -> Path:
    return settings.resolve(settings.sync.mappings_dir)


def state_path(settings: Settings) -> Path:
    """The SQLite state file (the flock file sits beside it); not used when `state.url` is
    set. For where the state lives whichever the database, see `sync.db.state_target`."""
    return settings.resolve(settings.state.path)


def read_status(settings: Settings, clock: Clock = system_clock) -> dict[str, Any]:
    """Cursors, counts and the last runs, speed-to-lead per owner (the hand-off SLA, open
    breaches as of `clock()`); creates nothing where no state is stored yet. `state_path`
    is the file, or the PostgreSQL URL without its password."""
    from core.handoff import speed_by_owner

    target = state_target(settings)
    status: dict[str, Any] = {"state_path": target.display, "backend": target.dialect}
    if not state_exists(target):
        return status | {"cursors": {}, "counts": {}, "runs": [],
                         "rules": rules_status(settings, None)}
    with open_store(settings) as store:
        return status | {
            "rules": rules_status(settings, store),
            "cursors": {k: v.isoformat() for k, v in store.cursors().items()},
            "counts": store.counts(),
            "deletions": store.erasure.counts(),
            "runs": store.runs(10),
            "sla_hours": settings.sla.first_touch_hours,
            "speed_to_lead": [
                r.as_dict()
                for r in speed_by_owner(
                    store.touches.handoffs(), clock(), settings.sla.first_touch_hours,
                    settings.sla.calendar(),
                )
            ],
        }


def rules_status(settings: Settings, store: StateStore | None) -> dict[str, Any]:
    """The live rule version and since when it is live (its last promotion or rollback,
    else the first run that used it), and the shadow's version and since when it runs
    (its first run; None before). A folder whose files cannot be read shows its error."""
    from sync.rule_versions import fingerprint, shadow_folder

    def side(folder: Path, shadow: bool) -> dict[str, Any]:
        try:
            version = fingerprint(folder).version
        except ConfigError as exc:
            return {"rules_dir": str(folder), "version": None, "error": str(exc)}
        row = store.scores.version(version) if store is not None else None
        if shadow:
            since = None if row is None else row["shadow_since"]
        else:
            since = store.scores.live_since(version) if store is not None else None
        return {"rules_dir": str(folder), "version": version, "since": since}

    live = side(mappings_dir(settings), shadow=False)
    folder = shadow_folder(settings)
    shadow = None if folder is None else side(folder, shadow=True)
    if shadow is not None and shadow["version"] == live["version"]:
        shadow["note"] = "the shadow rules are the live rules (promoted): no shadow runs"
    return {"live": live, "shadow": shadow}


@contextmanager
def open_store(
    settings: Settings, *, create: bool = True, clock: Clock = system_clock
) -> Iterator[StateStore]:
    """The state store; with `create=False`, a ConfigError where no state is stored yet
    (for commands that only read it)."""
    target = state_target(settings)
    if not create and not state_exists(target):
        raise ConfigError(
            f"no state at {target.display}: run `connector backfill --since DATE` (or `sync`) first"
        )
    store = StateStore(target, clock)
    try:
        yield store
    finally:
        store.close()


def _state_lost_message(store: StateStore, exc: BaseException) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(store.target, PostgresTarget):
        reason = store.target.redact(reason)
    return (
        f"state database {store.where} failed during the run ({reason}); the run stopped. "
        "Work is committed page by page and cursors move only after it, so rerunning once "
        "the database is reachable resumes"
    )


def run_once(
    settings: Settings,
    *,
    kind: RunKind,
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    limit: int | None = None,
    clock: Clock,
    lock_held: bool = False,
    reconcile: bool = False,
) -> RunSummary:
    """One locked, recorded run; returns its summary (recorded with the run as a dict).
    `lock_held`: the caller holds the run lock already (`connector serve` holds it for its
    whole life, see `sync.lock.state_lock`)."""
    target = state_target(settings)
    lock: AbstractContextManager[None] = (
        nullcontext()
        if lock_held
        else state_lock(target, wait_seconds=settings.sync.lock_wait_seconds)
    )
    lost = database_errors(target)
    with lock, open_store(settings, clock=clock) as store:
        # A promotion or rollback a crash interrupted between its renames: finished (or
        # rolled back) before the rules load (`sync.rule_versions`).
        finish_swap(mappings_dir(settings), store.scores)
        run_id = store.start_run(kind)
        outcome = "failed"
        summary: dict[str, Any] = {}  # as recorded in the run history
        try:
            from sync.factory import build_pipeline

            with build_pipeline(settings, store, clock=clock) as pipeline:
                if sys.stderr.isatty():
                    pipeline.progress = TerminalProgress()
                result = _run(
                    pipeline, settings, kind, since, until, dry_run, limit, reconcile=reconcile
                )
            summary = result.as_dict()
            outcome = "dry-run" if dry_run else ("partial" if result.write_failures else "ok")
            log.info(
                "run finished",
                extra={"run": run_id, "outcome": outcome}
                | {k: v for k, v in summary.items() if isinstance(v, int | float | str)},
            )
            return result
        except ConnectorError as exc:
            summary = {"error": str(exc)}
            outcome = "stopped"
            raise
        except lost as exc:  # the state database went away mid-run (server restart, network)
            summary = {"error": _state_lost_message(store, exc)}
            outcome = "stopped"
            raise ConnectorError(summary["error"]) from None
        finally:
            try:
                store.finish_run(run_id, outcome, summary)
            except lost as exc:
                if outcome != "stopped":  # else the error above is the one to report
                    raise ConnectorError(_state_lost_message(store, exc)) from None
            export_metrics(
                kind=kind,
                outcome=outcome,
                summary=summary,
                textfile=settings.resolve(settings.metrics.textfile)
                if settings.metrics.textfile
                else None,
                pushgateway=settings.metrics.pushgateway_url,
                at=clock(),
            )


class TerminalProgress:
    """`backfill  42% through 2025-06-01  3.1 days of history/s  ETA 0:01:12` on stderr."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, done: datetime, since: datetime, until: datetime) -> None:
        total = (until - since).total_seconds() or 1.0
        covered = (done - since).total_seconds()
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate_days = covered / 86_400 / elapsed
        remaining = (total - covered) / (covered / elapsed) if covered else 0.0
        sys.stderr.write(
            f"\rbackfill {covered / total:4.0%} through {done.date()}  "
            f"{rate_days:.1f} days of history/s  ETA {timedelta(seconds=round(remaining))}"
            + ("\n" if done >= until else "")
        )
        sys.stderr.flush()


def _run(
    pipeline: Pipeline,
    settings: Settings,
    kind: RunKind,
    since: datetime | None,
    until: datetime | None,
    dry_run: bool,
    limit: int | None,
    *,
    reconcile: bool = False,
) -> RunSummary:
    if kind == "rescore":
        pipeline.store.mark_all_dirty()
    options = RunOptions(
        kind=kind,
        extract=kind != "rescore",
        since=since,
        until=until,
        overlap=timedelta(minutes=settings.hubspot.overlap_minutes),
        initial_lookback=timedelta(days=settings.sync.initial_lookback_days),
        dry_run=dry_run,
        limit=limit,
        create_policy=settings.sync.create_leads_for,
        batch_size=settings.sync.backfill_batch_size if kind == "backfill" else BATCH_SIZE,
        reconcile=reconcile,
    )
    return pipeline.run(options)
