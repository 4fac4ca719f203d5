"""The basis of each MQL decision, in the state database (`mql_basis`, the "mql basis"
migration in `sync.state`): per lead, the episode the sync last started, its start (`since`,
the run's now, as `mql_state.since` stores it), the rule ids with positive points in the
score that qualified, that score's segments, and the live rule set's version when tracked.

Written in the transaction that records the MQL state (`StateStore.record_decisions`), only
when a lead starts a new episode under the live rules (never by the shadow rule set, never
on a re-qualification within the same episode). That score is the one a replay of the lead
at `since` computes from the activities then stored, so the report's rejection table
(`app.feedback`) reads the rules "behind" an MQL from here instead of replaying each lead;
a lead whose row is missing, or whose `since` differs from its `mql_state.since` (a store
from before this table, a merge), falls back to the replay.

`StateStore.mql_basis`: on the state store's `Database`, the same connection and
transactions. Erasure deletes a person's row (`sync.erasure_store.KEYED`); a merge moves it
with the survivor's MQL state (`ErasureStore._move_lead`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from core.clock import Clock
from scoring import LeadScore
from sync.db import Database
from sync.state_rows import iso, parse, rows_in, seconds_iso


@dataclass(frozen=True, slots=True)
class MqlBasis:
    episode: int
    since: datetime
    rules: frozenset[str]  # rule ids with positive points in the qualifying score
    segments: Mapping[str, str]
    rules_version: str | None = None


def basis_of(score: object, episode: int, since: datetime,
             version: str | None = None) -> MqlBasis | None:
    """The basis of an MQL decision from the score that made it; None for a scorer whose
    score does not explain its points (not a `scoring.LeadScore`): the report replays."""
    if not isinstance(score, LeadScore):
        return None
    return MqlBasis(
        episode=episode,
        since=since,
        rules=frozenset(e.rule_id for e in score.explanation if e.contribution_cents > 0),
        segments=dict(score.segments),
        rules_version=version,
    )


def basis_row(key: str, basis: MqlBasis, now: str) -> tuple:
    return (
        key,
        basis.episode,
        iso(basis.since),
        json.dumps(sorted(basis.rules), ensure_ascii=False),
        json.dumps(dict(basis.segments), ensure_ascii=False),
        basis.rules_version,
        now,
    )


UPSERT = (
    "INSERT INTO mql_basis VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(lead_key) DO UPDATE "
    "SET episode = excluded.episode, since = excluded.since, rules = excluded.rules, "
    "segments = excluded.segments, rules_version = excluded.rules_version, "
    "updated_at = excluded.updated_at"
)


def parse_basis(episode: int, since: str, rules: str, segments: str,
                version: str | None) -> MqlBasis:
    moment = parse(since)
    assert moment is not None
    return MqlBasis(int(episode), moment, frozenset(json.loads(rules)), json.loads(segments),
                    version)


class MqlBasisStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._now_iso = seconds_iso(clock)

    def save(self, db: Database, bases: Mapping[str, MqlBasis]) -> None:
        """Inside the caller's transaction (the one recording the MQL state)."""
        if bases:
            now = self._now_iso()
            db.executemany(UPSERT, [basis_row(k, b, now) for k, b in sorted(bases.items())])

    def bases_for(self, lead_keys: Iterable[str]) -> dict[str, MqlBasis]:
        sql = (
            "SELECT lead_key, episode, since, rules, segments, rules_version FROM mql_basis "
            "WHERE lead_key IN ({marks})"
        )
        return {r[0]: parse_basis(*tuple(r)[1:]) for r in rows_in(self._db, sql, lead_keys)}

    def decided(self) -> list[tuple[str, str, str | None, str | None, str | None, str | None]]:
        """Every lead with a sales verdict in its KPI facts (`kpi_facts.verdict`): (lead key,
        verdict, `mql_state.since`, this table's `since`, `rules`, `segments`), the last
        four NULL where the lead has no such row. One indexed read (`kpi_facts_verdict`)."""
        rows = self._db.execute(
            "SELECT f.lead_key, f.verdict, m.since, b.since, b.rules, b.segments "
            "FROM kpi_facts f LEFT JOIN mql_state m ON m.lead_key = f.lead_key "
            "LEFT JOIN mql_basis b ON b.lead_key = f.lead_key "
            "WHERE f.verdict IN (?, ?)",  # IN, not IS NOT NULL: SQLite then uses the index
            ("rejected", "accepted"),  # `sync.outcomes.VERDICTS`
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]
