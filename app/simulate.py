"""`connector score simulate`: the stored history replayed under candidate rules beside the
current ones, with precision and recall against sales outcomes once they are stored."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from app.leads import existing_store, read_leads
from app.tables import ratio, table, when
from core.config import Settings
from scoring import load_rules, validate_rules
from scoring.simulate import (
    Change,
    OutcomeReport,
    Outcomes,
    SimulationResult,
    simulate,
    week_bounds,
)
from sync.outcomes import load_funnel, stored_outcome_labels
from sync.runner import mappings_dir

DEFAULT_WEEKS = 26
TEXT_LIST_LIMIT = 50  # gains and losses listed in text; --json lists them all
NO_OUTCOMES = "no Salesforce outcomes stored yet (a sync pulls them)"
OUTCOMES_NOTE = (
    "MQL = MQL at any time in the replay; positive / negative = the outcome stages named in "
    "mappings/funnel.toml [backtest] (by default: an opportunity, open or won / lost or "
    "disqualified by sales); leads without a known outcome are left out"
)
REPLAY_METHOD = (
    "each lead is scored at the replay start, after its last activity of each UTC day with "
    "activity, and at every week end, seeing only the activities up to then, with the MQL "
    "state carried forward; the activity aggregate is reused while no activity the rules read "
    "arrives, and a lead found not MQL is not scored again until new activity when the rules "
    "let no lead qualify by time alone"
)


def candidate_problems(rules_dir: Path) -> list[str]:
    """Every problem in the candidate rule files, with file:line; [] when they are valid."""
    if not rules_dir.is_dir():
        return [f"{rules_dir}: rules folder not found"]
    return validate_rules(rules_dir)


def run_simulation(
    settings: Settings,
    rules_dir: Path,
    since: datetime,
    until: datetime,
    outcomes: Outcomes | None = None,
) -> dict[str, Any]:
    """Replay every stored lead from `since` to `until` under the current rules and the
    (valid) candidate rules in `rules_dir`; the JSON-ready comparison. `outcomes` (lead key
    -> positive or known negative sales outcome) default to the outcomes stored by the
    Salesforce pull, labelled by `mappings/funnel.toml [backtest]`; precision and recall are
    reported once any are stored.
    """
    folder = mappings_dir(settings)
    current = load_rules(folder)
    candidate = load_rules(rules_dir)
    bounds = week_bounds(since, until)
    started = time.perf_counter()
    with existing_store(settings) as store:
        if outcomes is None:
            outcomes = stored_outcome_labels(store, load_funnel(folder))
        result = simulate(read_leads(store), current, candidate, bounds, outcomes)
    seconds = time.perf_counter() - started
    return simulation_payload(result, current_dir=folder, candidate_dir=rules_dir, seconds=seconds)


def simulation_payload(
    result: SimulationResult, *, current_dir: Path, candidate_dir: Path, seconds: float
) -> dict[str, Any]:
    outcomes = result.outcomes
    return {
        "from": result.start.isoformat(),
        "to": result.end.isoformat(),
        "leads": result.leads,
        "current": {
            "rules_dir": str(current_dir),
            "rules_version": result.current_version,
            "mqls_at_end": result.current_mqls,
            "mqls_at_start": result.current_mqls_at_start,
            "new_mqls": sum(w.current_new for w in result.weeks),
        },
        "candidate": {
            "rules_dir": str(candidate_dir),
            "rules_version": result.candidate_version,
            "mqls_at_end": result.candidate_mqls,
            "mqls_at_start": result.candidate_mqls_at_start,
            "new_mqls": sum(w.candidate_new for w in result.weeks),
        },
        "gained": [_change(c) for c in result.gained],
        "lost": [_change(c) for c in result.lost],
        "weeks": [
            {
                "week": w.label,
                "start": w.start.isoformat(),
                "end": w.end.isoformat(),
                "current": {"new_mqls": w.current_new, "mqls_at_end": w.current_mqls},
                "candidate": {"new_mqls": w.candidate_new, "mqls_at_end": w.candidate_mqls},
            }
            for w in result.weeks
        ],
        "outcomes": None if outcomes is None else _outcomes(outcomes),
        "outcomes_note": NO_OUTCOMES if outcomes is None else OUTCOMES_NOTE,
        "replay": {
            "evaluations": result.evaluations,
            "seconds": round(seconds, 3),
            "method": REPLAY_METHOD,
        },
    }


def _change(change: Change) -> dict[str, Any]:
    return {
        "email": change.key,
        "contact_id": change.contact_id,
        "current": {
            "total": str(change.current.total),
            "is_mql": change.current.is_mql,
            "decision": change.current.reason,
        },
        "candidate": {
            "total": str(change.candidate.total),
            "is_mql": change.candidate.is_mql,
            "decision": change.candidate.reason,
        },
    }


def _outcomes(report: OutcomeReport) -> dict[str, Any]:
    return {
        "known": report.known,
        "positives": report.positives,
        **{
            name: {
                "flagged": stats.flagged,
                "hits": stats.hits,
                "precision": stats.precision,
                "recall": stats.recall,
            }
            for name, stats in (("current", report.current), ("candidate", report.candidate))
        },
    }


def format_simulation(data: dict[str, Any]) -> str:
    current, candidate = data["current"], data["candidate"]
    lines = [
        f"replay of {data['leads']} leads from {when(data['from'])} to {when(data['to'])} "
        f"({len(data['weeks'])} ISO weeks; {data['replay']['evaluations']} scorings in "
        f"{data['replay']['seconds']:.1f} s)",
    ]
    for name, side in (("current", current), ("candidate", candidate)):
        lines.append(
            f"  {name:9}  rules {side['rules_version']} from {side['rules_dir']}: "
            f"{side['mqls_at_end']} MQLs at the end, {side['mqls_at_start']} at the start, "
            f"{side['new_mqls']} new (first qualified in the replay)"
        )
    for title, changes in (
        ("would gain MQL status", data["gained"]),
        ("would lose MQL status", data["lost"]),
    ):
        lines += ["", f"{title}: {len(changes)}"]
        for change in changes[:TEXT_LIST_LIMIT]:
            lines += [
                f"  {change['email']} (contact {change['contact_id']}): total "
                f"{change['current']['total']} under the current rules, "
                f"{change['candidate']['total']} under the candidate rules",
                f"      current:   {change['current']['decision']}",
                f"      candidate: {change['candidate']['decision']}",
            ]
        if len(changes) > TEXT_LIST_LIMIT:
            lines.append(f"  ... and {len(changes) - TEXT_LIST_LIMIT} more (--json lists all)")
    lines += ["", "MQLs per ISO week (new: first qualified in the week / MQL at its end):"]
    rows = [
        [
            w["week"],
            when(w["start"])[:10],
            f"{w['current']['new_mqls']} / {w['current']['mqls_at_end']}",
            f"{w['candidate']['new_mqls']} / {w['candidate']['mqls_at_end']}",
        ]
        for w in data["weeks"]
    ]
    lines += table(["week", "from", "current", "candidate"], rows, "<<>>")
    lines.append("")
    outcomes = data["outcomes"]
    if outcomes is None:
        lines.append(f"precision / recall: {data['outcomes_note']}")
    else:
        lines.append(
            f"precision / recall against {outcomes['known']} known sales outcomes "
            f"({outcomes['positives']} converted or won):"
        )
        for name in ("current", "candidate"):
            stats = outcomes[name]
            lines.append(
                f"  {name:9}  precision {ratio(stats['precision'])} "
                f"({stats['hits']} of {stats['flagged']} MQLs), recall "
                f"{ratio(stats['recall'])}"
            )
        lines.append(f"  ({data['outcomes_note']})")
    return "\n".join(lines)
