"""`connector score explain`: one lead scored with the current rules, every point explained.

Reads the lead from the state store, hands it to the pure core (`scoring.score_aggregate`),
and renders one payload either as JSON or as text, so both outputs always say the same
thing. Amounts are two-place Decimals, rendered as strings ("12.50") in JSON so they stay
exact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.leads import Companies, existing_store, lead_history
from app.tables import table, when
from core.clock import Clock, system_clock
from core.config import Settings
from core.identity import canonical_email
from scoring import LeadScore, Rules, aggregate_activities, load_rules, score_aggregate
from scoring.simulate import LeadHistory
from sync.outcomes import describe_outcome, load_funnel, stage_after_mql
from sync.runner import mappings_dir


def explain_lead(
    settings: Settings, email: str, at: datetime | None = None, *, clock: Clock = system_clock
) -> dict[str, Any] | None:
    """Score one lead with the current rules and explain every point; None when the state
    store holds no lead with that (normalised) email.

    Without `at` the lead is scored now with its stored MQL state, as the next sync would
    score it. With `at` it is scored at that time from the activities up to then, without
    the stored state (which belongs to the latest run, not to `at`).
    """
    key = canonical_email(email)
    if key is None:
        return None
    folder = mappings_dir(settings)
    rules = load_rules(folder)
    with existing_store(settings) as store:
        members = store.contacts_by_email([key]).get(key)
        if not members:
            return None
        lead = lead_history(store, key, members, Companies(store))
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
        f"scored at {when(data['scored_at'])} with rules {data['rules_version']}"
        + (f" from {data['rules_dir']}" if "rules_dir" in data else "")
        + (f", {data['activities']} activities up to then" if "activities" in data else ""),
        "",
    ]
    rows = [[str(row[key]) for _, key, _ in _COLUMNS] for row in data["rules"]]
    lines += table(
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
        episode = f"{mql['episode']}, since {when(mql['since'])} by {mql['rule']}"
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
