"""Sales feedback on MQLs: `connector score rejections` (why and where sales rejected MQLs),
`connector score suggest` (rule changes the stored history argues for, with measured lift),
and the report's `rejections` table.

Which leads count: every stored lead that was MQL (a stored MQL episode, else Salesforce's
`MQL_Date__c`, else a replay of its history under the current rules finds a qualification
in the period) and has a known outcome. *Rejected*: the lead's Salesforce Lead status is
one of `mappings/funnel.toml [rejection] lead_statuses` (default: `[lost] lead_statuses`)
and it was not converted; its reason is the `[rejection] reason_field` value the outcome
pull stored. *Accepted*: a positive `[backtest]` outcome.

The rules "behind" an MQL are those with positive points in the lead's score explanation at
its MQL moment (scored again at that moment from the stored activities up to it: the same
pure scoring the sync ran), and its segments are those of that score.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from app.decay_suggest import decay_suggestion
from app.leads import existing_store, read_leads
from app.rule_edits import SCORING_FILE, set_behaviour_points, unified_diff
from app.tables import ratio, table
from core.errors import ConfigError
from kpi.model import ExtraTable, KpiReport
from scoring import Rules, load_rules, rules_from_toml, score_lead
from scoring.simulate import LeadHistory, replay_lead, simulate, week_bounds
from sync.outcomes import Funnel, is_rejected, lead_verdict, load_funnel, outcome_labels
from sync.runner import mappings_dir

NO_OUTCOMES = (
    "no Salesforce outcomes stored yet: a sync pulls them (Lead status, rejection reason, "
    "opportunities) / Salesforce の結果がまだ取り込まれていません (sync を実行してください)"
)
NO_REASON = "(no reason)"
# A behaviour rule is suspect when it is behind this much larger a share of rejected MQLs
# than of accepted ones, and behind at least MIN_REJECTED rejected MQLs.
OVER_REPRESENTED = 0.25
MIN_REJECTED = 3


@dataclass(frozen=True, slots=True)
class MqlFeedback:
    key: str
    mql_at: datetime
    rules: frozenset[str]  # rules with positive points at the MQL moment
    segments: Mapping[str, str]
    rejected: bool
    accepted: bool
    reason: str | None


def mql_moment(rules: Rules, lead: LeadHistory, bounds: Sequence[datetime],
               stored: datetime | None) -> datetime | None:
    if stored is not None:
        return stored
    replay = replay_lead(rules, lead, bounds)
    if replay.mql_at_start:
        return bounds[0]
    return replay.first_qualified


def collect(
    settings: Any, since: datetime, until: datetime, *, decisive_only: bool = False
) -> tuple[Rules, Path, list[LeadHistory], list[MqlFeedback], dict[str, bool]]:
    """Every MQL with a known outcome (see the module docstring); ConfigError without any
    stored outcome. With `decisive_only`, only the MQLs that are rejected or accepted (what
    the rejection table counts): the leads read are those a Salesforce record could make
    so (`OutcomeStore.lead_keys_with_decisive_records`, set-based), not every lead."""
    folder, rules, funnel, bounds = _inputs(settings, since, until)
    with existing_store(settings) as store:
        if not store.outcomes.outcome_counts()["sf_records"]:
            raise ConfigError(NO_OUTCOMES)
        only = (
            store.outcomes.lead_keys_with_decisive_records(_deciding_statuses(funnel))
            if decisive_only
            else None
        )
        leads = list(read_leads(store, only))
        keys = [lead.key for lead in leads]
        outcomes = store.outcomes.outcomes_for(keys)
        states = store.mql_states(keys)
        reasons = store.rejections.reasons_by_email(keys)
    labels = outcome_labels(outcomes, funnel)
    found = _found(rules, bounds, leads, states, outcomes, reasons, funnel, labels,
                   decisive_only=decisive_only)
    return rules, folder, leads, found, labels


def _found(
    rules: Rules,
    bounds: Sequence[datetime],
    leads: Sequence[LeadHistory],
    states: Mapping[str, Any],
    outcomes: Mapping[str, Any],
    reasons: Mapping[str, str],
    funnel: Funnel,
    labels: Mapping[str, bool],
    *,
    decisive_only: bool,
) -> list[MqlFeedback]:
    """The MQLs among `leads` with a known outcome (only rejected or accepted ones with
    `decisive_only`), each scored again at its MQL moment (the replay path)."""
    rejected = _rejected(outcomes, funnel)
    found = []
    for lead in leads:
        if lead.key not in labels and lead.key not in rejected:
            continue
        if decisive_only and lead.key not in rejected and labels.get(lead.key) is not True:
            continue
        state = states.get(lead.key)
        outcome = outcomes.get(lead.key)
        stored = (state.since if state is not None and state.since else None) or (
            outcome.mql_date if outcome is not None else None
        )
        moment = mql_moment(rules, lead, bounds, stored)
        if moment is None:
            continue
        seen = [a for a in lead.activities if a.occurred_at <= moment]
        score = score_lead(rules, lead.contact, lead.company, seen, moment)
        found.append(
            MqlFeedback(
                key=lead.key,
                mql_at=moment,
                rules=frozenset(e.rule_id for e in score.explanation if e.contribution_cents > 0),
                segments=dict(score.segments),
                rejected=lead.key in rejected,
                accepted=labels.get(lead.key) is True,
                reason=reasons.get(lead.key) if lead.key in rejected else None,
            )
        )
    return found


def decisive_found(settings: Any, since: datetime, until: datetime) -> list[MqlFeedback]:
    """What `collect(..., decisive_only=True)` finds, read set-based: the leads whose KPI
    facts hold a sales verdict (`kpi_facts.verdict`), their MQL moment (`mql_state.since`)
    and the basis the sync stored when their MQL episode started (`mql_basis`: the rules
    with positive points, the segments), with the reasons of the rejected ones. Only the
    leads this cannot answer take the replay path, just them: no stored basis (a store
    from before it, an MQL known from Salesforce's `MQL_Date__c` only or from the replay),
    a basis of another moment than the state's, facts that may be out of date (a lead
    changed since the last refresh). Without usable facts (none yet, built under other
    rules, a rebuild unfinished) it is `collect`'s replay path for every lead. A lead both
    rejected and accepted counts as rejected (`sync.outcomes.lead_verdict`), as
    `rejection_rows` counts it. ConfigError without any stored outcome."""
    from app.kpi_facts import rules_hash
    from sync.mql_basis_store import parse_basis

    folder, rules, funnel, bounds = _inputs(settings, since, until)
    with existing_store(settings) as store:
        if not store.outcomes.outcome_counts()["sf_records"]:
            raise ConfigError(NO_OUTCOMES)
        meta = store.kpi.meta()
        if ("as_of" not in meta or "rebuild_cursor" in meta
                or meta.get("rules_hash") != rules_hash(folder)):
            return collect(settings, since, until, decisive_only=True)[3]
        stale = store.kpi.stale_keys()
        parsed: dict[tuple[str, str], Any] = {}  # the same few rule / segment texts recur
        found: list[MqlFeedback] = []
        rejected: list[str] = []
        replay: set[str] = set()
        for key, verdict, state_since, b_since, b_rules, b_segments in (
            store.mql_basis.decided()
        ):
            if key in stale:
                continue
            if state_since is None or b_since != state_since:
                replay.add(key)
                continue
            texts = (b_rules, b_segments)
            basis = parsed.get(texts)
            if basis is None:
                basis = parsed[texts] = parse_basis(0, b_since, b_rules, b_segments, None)
            is_rejected = verdict == "rejected"
            found.append(MqlFeedback(
                key=key, mql_at=datetime.fromisoformat(state_since), rules=basis.rules,
                segments=basis.segments, rejected=is_rejected,
                accepted=verdict == "accepted", reason=None,
            ))
            if is_rejected:
                rejected.append(key)
        reasons = store.rejections.reasons_by_email(rejected)
        found = [replace(f, reason=reasons.get(f.key)) if f.key in reasons else f
                 for f in found]
        if stale:  # their facts may be out of date: their outcomes say whether they count
            current = store.outcomes.outcomes_for(stale)
            replay |= {k for k, o in current.items() if lead_verdict(o, funnel) is not None}
        if replay:
            leads = list(read_leads(store, replay))
            keys = [lead.key for lead in leads]
            outcomes = store.outcomes.outcomes_for(keys)
            states = store.mql_states(keys)
            more = store.rejections.reasons_by_email(keys)
    if replay:
        labels = outcome_labels(outcomes, funnel)
        found += _found(rules, bounds, leads, states, outcomes, more, funnel, labels,
                        decisive_only=True)
    return found


def _inputs(
    settings: Any, since: datetime, until: datetime
) -> tuple[Path, Rules, Funnel, list[datetime]]:
    """The mappings folder, its rules and funnel, and the replay's week bounds."""
    folder = mappings_dir(settings)
    return folder, load_rules(folder), load_funnel(folder), week_bounds(since, until)


def _deciding_statuses(funnel: Funnel) -> set[str]:
    """Lead statuses that can make an MQL rejected or accepted (`_rejected`, a positive
    `[backtest]` stage); Contacts, conversions and opportunities decide by themselves."""
    statuses = set(funnel.rejected_statuses())
    if "sql" in funnel.backtest.positive:
        statuses |= set(funnel.sql.lead_statuses)
    if "lost" in funnel.backtest.positive:
        statuses |= set(funnel.lost.lead_statuses)
    return statuses


def _rejected(outcomes: Mapping[str, Any], funnel: Funnel) -> set[str]:
    return {key for key, o in outcomes.items() if is_rejected(o, funnel)}


# ------------------------------------------------------------------------------ rejections
def rejection_rows(found: Sequence[MqlFeedback]) -> list[dict[str, Any]]:
    """One row per rule and per segment value behind rejected MQLs: rejected, accepted,
    and the rejected ones by reason. (One pass with counters: the set-based table hands in
    tens of thousands of MQLs at 1M leads, most sharing a few bases.)"""
    rejected: Counter[tuple[str, str]] = Counter()
    accepted: Counter[tuple[str, str]] = Counter()
    reasons: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    names_of: dict[tuple[Any, ...], list[tuple[str, str]]] = {}
    for item in found:
        if not item.rejected and not item.accepted:
            continue
        ident = (item.rules, tuple(item.segments.items()))
        names = names_of.get(ident)
        if names is None:
            names = [("rule", r) for r in sorted(item.rules)]
            names += [("segment", f"{d}={v}") for d, v in item.segments.items()]
            names_of[ident] = names
        if item.rejected:
            rejected.update(names)
            reason = item.reason or NO_REASON
            for name in names:
                reasons[name][reason] += 1
        else:
            accepted.update(names)
    out = [
        {"kind": kind, "name": name, "rejected": count, "accepted": accepted.get((kind, name), 0),
         "reasons": dict(sorted(reasons[(kind, name)].items(), key=lambda kv: (-kv[1], kv[0])))}
        for (kind, name), count in rejected.items()
    ]
    return sorted(out, key=lambda r: (r["kind"], -r["rejected"], r["name"]))


def run_rejections(settings: Any, since: datetime, until: datetime) -> dict[str, Any]:
    _, _, _, found, _ = collect(settings, since, until)
    rejected = [f for f in found if f.rejected]
    return {
        "from": since.isoformat(),
        "to": until.isoformat(),
        "mqls_with_outcome": len(found),
        "rejected": len(rejected),
        "by_reason": dict(Counter(f.reason or NO_REASON for f in rejected).most_common()),
        "rows": rejection_rows(found),
    }


def _reasons_text(reasons: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in reasons.items())


def format_rejections(data: dict[str, Any]) -> str:
    lines = [
        f"{data['rejected']} of {data['mqls_with_outcome']} MQLs with a sales outcome were "
        f"rejected / 営業が不適格とした MQL: {data['rejected']} 件",
        f"by reason / 理由別: {_reasons_text(data['by_reason']) or '-'}",
        "",
    ]
    rows = [
        [r["kind"], r["name"], str(r["rejected"]), str(r["accepted"]), _reasons_text(r["reasons"])]
        for r in data["rows"]
    ]
    lines += table(["kind", "rule / segment", "rejected", "accepted", "reasons"], rows, "<<>><")
    return "\n".join(lines)


TABLE_COLUMNS = (
    {"en": "kind", "ja": "種別"},
    {"en": "rule or segment", "ja": "ルール / セグメント"},
    {"en": "rejected MQLs", "ja": "不適格 MQL"},
    {"en": "accepted MQLs", "ja": "受け入れ MQL"},
    {"en": "reasons", "ja": "理由"},
)


def rejection_table(data: dict[str, Any]) -> ExtraTable:
    return ExtraTable(
        name="rejections",
        title={"en": "MQLs sales rejected, per rule and segment",
               "ja": "営業が不適格とした MQL (ルール別・セグメント別)"},
        columns=TABLE_COLUMNS,
        rows=tuple(
            (r["kind"], r["name"], r["rejected"], r["accepted"], _reasons_text(r["reasons"]))
            for r in data["rows"]
        ),
        note={"en": "rules with points at the MQL moment; reasons from the Lead's reason field "
                    "(mappings/funnel.toml [rejection])",
              "ja": "MQL 時点で加点されていたルール。"
                    "理由は Lead の理由項目 (funnel.toml [rejection])"},
    )


def with_rejection_table(
    report: KpiReport, settings: Any, since: datetime, until: datetime, *, replay: bool = False
) -> KpiReport:
    """`report` with the `rejections` table appended; unchanged while no outcome is stored.
    Read set-based from the stored facts and MQL bases (`decisive_found`: call it after the
    facts' refresh, as `build_report` does), or with `replay` by replaying every decided
    lead (`collect`, the reference the equality tests compare with)."""
    try:
        if replay:
            found = collect(settings, since, until, decisive_only=True)[3]
        else:
            found = decisive_found(settings, since, until)
    except ConfigError:
        return report
    data = {"rows": rejection_rows(found)}
    return replace(report, extra_tables=(*report.extra_tables, rejection_table(data)))


# ------------------------------------------------------------------------------ suggest
def run_suggest(settings: Any, since: datetime, until: datetime) -> dict[str, Any]:
    """Proposed rule changes with their lift measured by replaying the stored history
    (`scoring.simulate`) under the current and the changed rules. Nothing is applied."""
    rules, folder, leads, found, labels = collect(settings, since, until)
    text = (folder / SCORING_FILE).read_text(encoding="utf-8")
    segments = (folder / "segments.toml").read_text(encoding="utf-8")
    bounds = week_bounds(since, until)
    rejected = [f for f in found if f.rejected]
    accepted = [f for f in found if f.accepted]
    suggestions = []
    for rule_id, spec in rules.behaviour.items():
        if spec.points <= 0:
            continue
        in_rejected = sum(1 for f in rejected if rule_id in f.rules)
        in_accepted = sum(1 for f in accepted if rule_id in f.rules)
        rej_share = in_rejected / len(rejected) if rejected else 0.0
        acc_share = in_accepted / len(accepted) if accepted else 0.0
        if in_rejected < MIN_REJECTED or rej_share - acc_share < OVER_REPRESENTED:
            continue
        best = None
        for points in (spec.points / 2, 0.0):
            edited = set_behaviour_points(text, rule_id, round(points, 2))
            candidate = rules_from_toml(edited, segments)
            result = simulate(leads, rules, candidate, bounds, labels)
            assert result.outcomes is not None
            lift = _lift(result.outcomes)
            if lift["precision_change"] is not None and lift["precision_change"] > 0 and (
                best is None or lift["precision_change"] > best[2]["precision_change"]
            ):
                best = (points, edited, lift)
        if best is None:
            continue
        points, edited, lift = best
        suggestions.append({
            "kind": "lower_points",
            "rule": rule_id,
            "why": (f"behind {rej_share:.0%} of rejected MQLs ({in_rejected}) but "
                    f"{acc_share:.0%} of accepted ones ({in_accepted})"),
            "why_ja": (f"不適格 MQL の {rej_share:.0%} に加点、受け入れ MQL では "
                       f"{acc_share:.0%}"),
            "points": {"current": spec.points, "proposed": points},
            "lift": lift,
            "diff": unified_diff(text, edited),
        })
    with existing_store(settings) as store:
        handoffs = store.touches.handoffs(since, until)
    decay = decay_suggestion(rules, text, segments, leads, labels, bounds, handoffs, _lift)
    if decay is not None:
        suggestions.append(decay)
    return {
        "from": since.isoformat(),
        "to": until.isoformat(),
        "mqls_with_outcome": len(found),
        "rejected": len(rejected),
        "accepted": len(accepted),
        "suggestions": suggestions,
        "note": "never applied: save a diff into a copy of mappings/ and replay it with "
                "`connector score simulate --rules DIR`",
    }


def _lift(outcomes: Any) -> dict[str, Any]:
    def change(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(b - a, 4)

    cur, cand = outcomes.current, outcomes.candidate
    return {
        "precision": {"current": cur.precision, "proposed": cand.precision},
        "recall": {"current": cur.recall, "proposed": cand.recall},
        "precision_change": change(cur.precision, cand.precision),
        "recall_change": change(cur.recall, cand.recall),
    }


def format_suggest(data: dict[str, Any]) -> str:
    lines = [
        f"{len(data['suggestions'])} suggestion(s) from {data['mqls_with_outcome']} MQLs with a "
        f"sales outcome ({data['rejected']} rejected, {data['accepted']} accepted) / "
        f"提案 {len(data['suggestions'])} 件 (自動では適用しません)",
    ]
    for s in data["suggestions"]:
        lift = s["lift"]
        if s["kind"] == "slower_decay":
            change = ", ".join(f"{g} decay {d['current']:g} -> {d['proposed']:g} days"
                               for g, d in s["groups"].items())
            head = (f"- {change}: {s['why']} / {s['why_ja']}; drop-outs "
                    f"{ratio(s['dropout']['current'])} -> {ratio(s['dropout']['proposed'])}")
        else:
            head = (f"- {s['rule']}: points {s['points']['current']:g} -> "
                    f"{s['points']['proposed']:g}: {s['why']} / {s['why_ja']}")
        lines += [
            "",
            head,
            f"  precision {ratio(lift['precision']['current'])} -> "
            f"{ratio(lift['precision']['proposed'])}, recall "
            f"{ratio(lift['recall']['current'])} -> {ratio(lift['recall']['proposed'])}",
            s["diff"],
        ]
    lines += ["", data["note"]]
    return "\n".join(lines)
