"""`connector score explain` and `connector score simulate`: the I/O side.

Reads leads from the state store (its public read methods only), hands them to the pure core
(`scoring.score_aggregate`, `scoring.simulate`), and renders one payload either as JSON or as
text, so both outputs always say the same thing. Amounts are two-place Decimals, rendered as
strings ("12.50") in JSON so they stay exact.

`cli.py` imports this module to register the `score` group, so its top level stays light:
scoring (pydantic) and the store are imported when a command runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from core.clock import Clock, system_clock

if TYPE_CHECKING:
    from core.config import Settings
    from core.models import Company, Contact
    from scoring import LeadScore, Rules
    from scoring.simulate import (
        Change,
        LeadHistory,
        OutcomeReport,
        Outcomes,
        SimulationResult,
    )
    from sync.state import StateStore

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


# ------------------------------------------------------------------------------ reading
@contextmanager
def _existing_store(settings: Settings) -> Iterator[StateStore]:
    """The state store, refusing to create an empty one where none exists yet."""
    from sync.runner import open_store

    with open_store(settings, create=False) as store:
        yield store


class _Companies:
    """Companies by id, each read once per command."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.known: dict[str, Company | None] = {}

    def get(self, company_id: str | None) -> Company | None:
        if company_id is None:
            return None
        if company_id not in self.known:
            self.known[company_id] = self.store.company(company_id)
        return self.known[company_id]


def _lead(
    store: StateStore, key: str, members: Sequence[Contact], companies: _Companies
) -> LeadHistory:
    """One lead, built as the sync pipeline builds it: all contacts sharing the normalised
    email, the most recently updated one's properties, its company, everyone's activities."""
    from scoring.simulate import LeadHistory
    from sync.pipeline import primary_contact  # the pipeline's rule, not a copy of it

    primary = primary_contact(members)
    activities = store.activities_for([c.hubspot_id for c in members], key)
    return LeadHistory(key, primary, companies.get(primary.company_id), activities)


def read_leads(store: StateStore) -> Iterator[LeadHistory]:
    """Every stored lead (normalised email of a contact that is not archived), by email."""
    companies = _Companies(store)
    emails = store.all_lead_emails()
    for start in range(0, len(emails), 500):
        chunk = emails[start : start + 500]
        by_email = store.contacts_by_email(chunk)
        for key in chunk:
            members = by_email.get(key)
            if members:
                yield _lead(store, key, members, companies)


# ------------------------------------------------------------------------------ explain
def explain_lead(
    settings: Settings, email: str, at: datetime | None = None, *, clock: Clock = system_clock
) -> dict[str, Any] | None:
    """Score one lead with the current rules and explain every point; None when the state
    store holds no lead with that (normalised) email.

    Without `at` the lead is scored now with its stored MQL state, as the next sync would
    score it. With `at` it is scored at that time from the activities up to then, without
    the stored state (which belongs to the latest run, not to `at`).
    """
    from core.identity import canonical_email
    from scoring import aggregate_activities, load_rules, score_aggregate
    from sync.outcomes import describe_outcome, load_funnel, stage_after_mql
    from sync.runner import mappings_dir

    key = canonical_email(email)
    if key is None:
        return None
    folder = mappings_dir(settings)
    rules = load_rules(folder)
    with _existing_store(settings) as store:
        members = store.contacts_by_email([key]).get(key)
        if not members:
            return None
        lead = _lead(store, key, members, _Companies(store))
        previous = None if at is not None else store.mql_states([key]).get(key)
        # Sales outcomes are as of the last pull: they advance the stage of a score now only.
        outcome = None if at is not None else store.outcomes.outcomes_for([key]).get(key)
    now = at or clock()
    aggregate = aggregate_activities(rules, lead.activities, now)
    score = score_aggregate(rules, lead.contact, lead.company, aggregate, now, previous)
    payload = explanation(score, rules, lead)
    payload["contact_ids"] = sorted(c.hubspot_id for c in members)
    payload["rules_dir"] = str(folder)
    payload["activities"] = aggregate.activities
    payload["scored_stage"] = score.stage
    payload["stage"] = stage_after_mql(score.stage, outcome, load_funnel(folder))
    payload["outcome"] = describe_outcome(outcome)
    if previous is not None:
        before = "stored by the last run"
    elif at is not None:
        before = "not used (scored at --at: the stored MQL state belongs to the latest run)"
    else:
        before = "none stored (no run has scored this lead)"
    payload["mql"]["state_before"] = before
    return payload


def explanation(score: LeadScore, rules: Rules, lead: LeadHistory) -> dict[str, Any]:
    """The JSON-ready explanation of `score`: one row per matched rule, amounts as strings;
    the rows' contributions add up to `total` exactly."""
    reasons = {d.id: d.text for d in rules.disqualifiers}
    company = lead.company
    return {
        "email": lead.key,
        "contact_id": lead.contact.hubspot_id,
        "company": (
            None if company is None else {"id": company.hubspot_id, "name": company.get("name")}
        ),
        "scored_at": score.scored_at.isoformat(),
        "rules_version": score.rules_version,
        "rules": [
            {
                "rule": e.rule_id,
                "group": e.group,
                "axis": e.axis,
                "matched": e.matched,
                "points": str(e.points),
                "decayed": str(e.decayed),
                "capped": str(e.capped),
                "contribution": str(e.contribution),
            }
            for e in score.explanation
        ],
        "engagement": str(score.engagement),
        "fit": str(score.fit),
        "total": str(score.total),
        "groups": {name: str(value) for name, value in score.groups.items()},
        "grade": score.grade,
        "segment": score.segment,
        "segments": dict(score.segments),
        "stage": score.stage,
        "mql": {
            "is_mql": score.is_mql,
            "decision": score.mql_reason,
            "disqualified_by": [
                {"id": d, "reason": reasons.get(d, d)} for d in score.disqualified_by
            ],
            "episode": score.mql_episode,
            "since": None if score.mql_since is None else score.mql_since.isoformat(),
            "rule": score.mql_state.rule,
        },
    }


_COLUMNS = (
    ("rule", "rule", "<"),
    ("group", "group", "<"),
    ("axis", "axis", "<"),
    ("matched", "matched", ">"),
    ("points", "points", ">"),
    ("after decay", "decayed", ">"),
    ("after caps", "capped", ">"),
    ("contribution", "contribution", ">"),
)


def format_explanation(data: dict[str, Any]) -> str:
    company = data["company"]
    firm = "none" if company is None else f"{company['name'] or '(no name)'} ({company['id']})"
    others = [i for i in data.get("contact_ids", []) if i != data["contact_id"]]
    shared = f"; merged with contacts {', '.join(others)}" if others else ""
    lines = [
        f"lead {data['email']} (HubSpot contact {data['contact_id']}{shared}); company {firm}",
        f"scored at {_when(data['scored_at'])} with rules {data['rules_version']}"
        + (f" from {data['rules_dir']}" if "rules_dir" in data else "")
        + (f", {data['activities']} activities up to then" if "activities" in data else ""),
        "",
    ]
    rows = [[str(row[key]) for _, key, _ in _COLUMNS] for row in data["rules"]]
    lines += _table(
        [title for title, _, _ in _COLUMNS],
        rows,
        [a for _, _, a in _COLUMNS],
        footer=["total", "", "", "", "", "", "", data["total"]],
    )
    if not rows:
        lines.append("  (no rule matched)")
    mql = data["mql"]
    disqualifiers = "; ".join(f"{d['id']} ({d['reason']})" for d in mql["disqualified_by"])
    if not mql["episode"]:
        episode = "none (never qualified)"
    elif mql["since"]:
        episode = f"{mql['episode']}, since {_when(mql['since'])} by {mql['rule']}"
    else:
        episode = f"{mql['episode']} (over; not qualified now)"
    lines += [
        "",
        f"engagement {data['engagement']}   fit {data['fit']}   total {data['total']}   "
        f"grade {data['grade']}",
        "groups      " + ", ".join(f"{k} {v}" for k, v in data["groups"].items()),
        f"segment     {data['segment']} ("
        + ", ".join(f"{k} {v}" for k, v in data["segments"].items())
        + ")",
        f"stage       {data['stage']}" + _stage_note(data),
        f"MQL         {mql['decision']}",
        f"disqualified by {disqualifiers or 'nothing'}",
        f"MQL episode {episode}"
        + (f"; state before: {mql['state_before']}" if "state_before" in mql else ""),
    ]
    return "\n".join(lines)


def _stage_note(data: dict[str, Any]) -> str:
    """Why the stage is past the scored one: the Salesforce outcome that moved it."""
    outcome = data.get("outcome")
    if not outcome or data.get("scored_stage") in (None, data["stage"]):
        return ""
    parts = [f"{outcome['object']} {outcome['id']}"]
    if outcome["status"]:
        parts.append(f"status {outcome['status']}")
    if outcome["converted"]:
        parts.append(f"converted {outcome['converted_at'] or ''}".rstrip())
    opportunity = outcome["opportunity"]
    if opportunity:
        parts.append(f"opportunity {opportunity['id']} {opportunity['stage']}")
    return f" (scored {data['scored_stage']}; Salesforce: {', '.join(parts)})"


# ------------------------------------------------------------------------------ simulate
def candidate_problems(rules_dir: Path) -> list[str]:
    """Every problem in the candidate rule files, with file:line; [] when they are valid."""
    from scoring import validate_rules

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
    from scoring import load_rules
    from scoring.simulate import simulate, week_bounds
    from sync.outcomes import load_funnel, stored_outcome_labels
    from sync.runner import mappings_dir

    folder = mappings_dir(settings)
    current = load_rules(folder)
    candidate = load_rules(rules_dir)
    bounds = week_bounds(since, until)
    started = time.perf_counter()
    with _existing_store(settings) as store:
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
        f"replay of {data['leads']} leads from {_when(data['from'])} to {_when(data['to'])} "
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
            _when(w["start"])[:10],
            f"{w['current']['new_mqls']} / {w['current']['mqls_at_end']}",
            f"{w['candidate']['new_mqls']} / {w['candidate']['mqls_at_end']}",
        ]
        for w in data["weeks"]
    ]
    lines += _table(["week", "from", "current", "candidate"], rows, "<<>>")
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
                f"  {name:9}  precision {_ratio(stats['precision'])} "
                f"({stats['hits']} of {stats['flagged']} MQLs), recall "
                f"{_ratio(stats['recall'])}"
            )
        lines.append(f"  ({data['outcomes_note']})")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ text helpers
def _when(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _table(
    titles: Sequence[str],
    rows: Sequence[Sequence[str]],
    align: Sequence[str],
    footer: Sequence[str] | None = None,
) -> list[str]:
    body = [*rows, *([footer] if footer else [])]
    widths = [max(len(str(cell)) for cell in column) for column in zip(titles, *body, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return (
            "  "
            + "  ".join(
                f"{cell:{a}{w}}" for cell, a, w in zip(cells, align, widths, strict=True)
            ).rstrip()
        )

    out = [line(titles), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    if footer:
        out += [line(["-" * w for w in widths]), line(footer)]
    return out


# ------------------------------------------------------------------------------ commands
@click.group("score")
def score() -> None:
    """Explain a lead's score; back-test candidate rules on the stored history."""


@score.command("explain")
@click.argument("email")
@click.option(
    "--at",
    "at",
    metavar="DATETIME",
    help="Score as of this time (ISO 8601; default: now, with the stored MQL state).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@click.pass_obj
def explain(obj: Any, email: str, at: str | None, as_json: bool) -> None:
    """Every point of one lead's score: rule by rule, totals, grade, segment, stage, MQL.

    EMAIL is compared in its normalised form (case, spaces, full-width letters).
    Exit code 2 when no stored lead has that email.
    """
    from cli import EXIT_OK, EXIT_USAGE, _echo_json, _parse_date, run_guarded

    moment = _parse_date(at, "--at")

    def go() -> int:
        payload = explain_lead(obj.settings(), email, moment, clock=obj.clock)
        if payload is None:
            click.echo(
                f"error: no lead with email {email.strip()!r} in the state store (emails are "
                "compared normalised; a lead is stored once a sync or backfill has read it)",
                err=True,
            )
            return EXIT_USAGE
        if as_json:
            _echo_json(payload)
        else:
            click.echo(format_explanation(payload))
        return EXIT_OK

    run_guarded(go)


@score.command("simulate")
@click.option(
    "--rules",
    "rules_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder with the candidate scoring.toml and segments.toml.",
)
@click.option(
    "--since",
    metavar="DATE",
    help=f"Start of the replay (default: {DEFAULT_WEEKS} ISO weeks back).",
)
@click.option("--until", metavar="DATETIME", help="End of the replay (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.pass_obj
def simulate_command(
    obj: Any, rules_dir: Path, since: str | None, until: str | None, as_json: bool
) -> None:
    """Replay the stored history under candidate rules and compare with the current ones.

    Reports the leads that would gain or lose MQL status (both scores and the deciding
    clause), new MQLs per ISO week under each rule set, and precision/recall against sales
    outcomes once they are stored. Exit code 2 lists every problem of broken candidate rules
    with file:line.
    """
    from cli import EXIT_OK, EXIT_USAGE, _echo_json, _parse_date, run_guarded
    from scoring.simulate import weeks_back

    end = _parse_date(until, "--until") or obj.clock()
    start = _parse_date(since, "--since") or weeks_back(end, DEFAULT_WEEKS)
    if start >= end:
        raise click.BadParameter("must be before --until (default: now)", param_hint="--since")

    def go() -> int:
        settings = obj.settings()
        problems = candidate_problems(rules_dir)
        if problems:
            if as_json:
                _echo_json({"rules_dir": str(rules_dir), "ok": False, "problems": problems})
            click.echo(
                f"error: candidate rules in {rules_dir} have {len(problems)} problem(s)", err=True
            )
            for problem in problems:
                click.echo(f"  - {problem}", err=True)
            return EXIT_USAGE
        payload = run_simulation(settings, rules_dir, start, end)
        if as_json:
            _echo_json(payload)
        else:
            click.echo(format_simulation(payload))
        return EXIT_OK

    run_guarded(go)
