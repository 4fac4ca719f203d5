"""`connector score tune`: the MQL score threshold that would have made a target share of the
period's new leads MQLs (`--target-share P`), or that fits sales' weekly capacity
(`--capacity N`), back-tested against the stored sales outcomes (`scoring.tune`).

The population of `--target-share` is the period's new leads: HubSpot `createdate` within
`[since, until]` (a lead without a readable `createdate`: its first stored activity), the
same "new leads" as the report. Precision and recall are measured on them too, as
`score simulate` measures them (MQL at any time in the replay vs the `[backtest]` outcome
stages of `mappings/funnel.toml`). `--capacity` counts every stored lead's first
qualification in the period per ISO week and fits the **median full week** (see
`scoring.tune.typical_week`); the busiest week is reported beside it.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from app.kpi_report import CREATED_PROPERTY, parse_created
from app.leads import existing_store, read_leads
from app.rule_edits import SCORING_FILE, set_mql_threshold, unified_diff
from app.tables import ratio, when
from core.errors import ConfigError
from scoring import load_rules
from scoring.simulate import LeadHistory, week_bounds
from scoring.tune import (
    Backtest,
    Trajectory,
    Variants,
    backtest,
    threshold_for_capacity,
    threshold_for_share,
    trajectories,
    typical_week,
    variants,
    weekly_mqls,
)
from sync.outcomes import load_funnel, stored_outcome_labels
from sync.runner import mappings_dir

SEGMENTS_FILE = "segments.toml"
NO_OUTCOMES = (
    "no Salesforce outcomes stored yet: a sync pulls them (Lead status, conversion, "
    "opportunities); tuning needs them for precision/recall / Salesforce の商談結果がまだ"
    "取り込まれていません (sync を実行してください)"
)


def read_rule_files(folder: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """`scoring.toml` as text and both rule files parsed (checked by `load_rules` first)."""
    load_rules(folder)  # ConfigError with file:line for broken files
    text = (folder / SCORING_FILE).read_text(encoding="utf-8")
    segments = (folder / SEGMENTS_FILE).read_text(encoding="utf-8")
    return text, tomllib.loads(text), tomllib.loads(segments)


def check_share(share: float) -> float:
    if not 0 < share < 1:
        raise ConfigError(
            f"--target-share {share:g}: expected a fraction between 0 and 1, e.g. 0.05 for 5% "
            "/ 0 より大きく 1 より小さい割合で指定してください"
        )
    return share


def lead_created(lead: LeadHistory) -> datetime | None:
    created = parse_created(lead.contact.get(CREATED_PROPERTY))
    if created is None and lead.activities:
        created = min(a.occurred_at for a in lead.activities)
    return created


def new_lead_keys(leads: Sequence[LeadHistory], since: datetime, until: datetime) -> set[str]:
    out = set()
    for lead in leads:
        created = lead_created(lead)
        if created is not None and since <= created <= until:
            out.add(lead.key)
    return out


def run_tune(
    settings: Any,
    *,
    since: datetime,
    until: datetime,
    target_share: float | None = None,
    capacity: float | None = None,
) -> dict[str, Any]:
    """The JSON-ready tuning; ConfigError (exit 2) for a bad share or no stored outcomes."""
    if target_share is not None:
        check_share(target_share)
    if capacity is not None and capacity < 0:
        raise ConfigError(f"--capacity {capacity:g}: expected hand-offs a week, 0 or more")
    if until <= since:
        raise ConfigError(f"--since {since.date()} is not before the end {until.date()}")
    folder = mappings_dir(settings)
    text, scoring, segments = read_rule_files(folder)
    rules = variants(scoring, segments)
    if not rules.tunable:
        raise ConfigError(
            f"{folder / SCORING_FILE}: no MQL rule has a score condition (min or above) to "
            "tune / スコア条件を持つ MQL ルールがありません"
        )
    bounds = week_bounds(since, until)
    started = time.perf_counter()
    with existing_store(settings) as store:
        outcomes = stored_outcome_labels(store, load_funnel(folder))
        if outcomes is None:
            raise ConfigError(NO_OUTCOMES)
        leads = list(read_leads(store))
    paths = trajectories(rules, leads, bounds)
    fresh = new_lead_keys(leads, since, until)
    population = [p for p in paths if p.key in fresh]
    payload = tune_payload(
        rules, paths, population, outcomes, bounds,
        target_share=target_share, capacity=capacity,
    )
    payload["replay"]["seconds"] = round(time.perf_counter() - started, 3)
    payload["diff"] = (
        None
        if payload["threshold"] is None
        else "".join(
            unified_diff(text, _edited(text, rules, payload["threshold"]))
        )
    )
    return payload


def _edited(text: str, rules: Variants, threshold: float) -> str:
    for rule in rules.tunable:
        text = set_mql_threshold(text, rule.id, threshold)
    return text


def tune_payload(
    rules: Variants,
    paths: Sequence[Trajectory],
    population: Sequence[Trajectory],
    outcomes: Mapping[str, bool],
    bounds: Sequence[datetime],
    *,
    target_share: float | None,
    capacity: float | None,
) -> dict[str, Any]:
    current = rules.tunable[0].threshold
    if capacity is not None:
        threshold = threshold_for_capacity(paths, capacity, bounds)
        mode = "capacity"
    else:
        threshold = threshold_for_share(population, target_share or 0.0)
        mode = "target_share"

    def at(value: float | None) -> dict[str, Any] | None:
        if value is None:
            return None
        weekly = weekly_mqls(paths, value, bounds)
        return {
            **_backtest(backtest(population, value, outcomes)),
            "weekly_mqls": weekly,
            "median_full_week": typical_week(weekly, bounds),
            "busiest_week": max(weekly) if weekly else 0,
        }

    return {
        "mode": mode,
        "target_share": target_share,
        "capacity_per_week": capacity,
        "capacity_rule": "median full ISO week of first qualifications (busiest week shown)",
        "from": bounds[0].isoformat(),
        "to": bounds[-1].isoformat(),
        "weeks": len(bounds) - 1,
        "leads": len(paths),
        "new_leads": len(population),
        "tuned_rules": [
            {"id": r.id, "score": r.score, "bound": r.bound, "current": r.threshold}
            for r in rules.tunable
        ],
        "threshold": threshold,
        "current_threshold": current,
        "at_threshold": at(threshold),
        "at_current": at(current if rules.tunable[0].bound == "min" else current + 0.01),
        "replay": {"method": "one replay per lead; running maximum of the qualifying score"},
    }


def _backtest(result: Backtest) -> dict[str, Any]:
    return {
        "threshold": result.threshold,
        "new_lead_mqls": result.mqls,
        "share": result.share,
        "flagged": result.flagged,
        "hits": result.hits,
        "precision": result.precision,
        "recall": result.recall,
    }


def format_tune(data: dict[str, Any]) -> str:
    rules = ", ".join(f"{r['id']} ({r['score']} {r['bound']} {r['current']:g})"
                      for r in data["tuned_rules"])
    lines = [
        f"replay of {data['leads']} leads ({data['new_leads']} new) from {when(data['from'])} "
        f"to {when(data['to'])} / 期間内の新規リード {data['new_leads']} 件",
        f"tuned MQL rule(s) / 調整対象の MQL ルール: {rules}",
    ]
    if data["threshold"] is None:
        lines.append(
            "no threshold fits: rules that do not depend on the score already exceed it / "
            "条件に合うしきい値はありません"
        )
        return "\n".join(lines)
    goal = (
        f"target share {data['target_share']:.1%} of new leads"
        if data["mode"] == "target_share"
        else f"capacity {data['capacity_per_week']:g} hand-offs a week (median full week)"
    )
    lines.append(
        f"threshold for {goal}: {data['threshold']:g} (today {data['current_threshold']:g}) / "
        f"推奨しきい値: {data['threshold']:g} 点 (現在 {data['current_threshold']:g} 点)"
    )
    for name, label in (("at_threshold", "proposed / 推奨"), ("at_current", "today / 現在")):
        side = data[name]
        lines.append(
            f"  {label:14} share {ratio(side['share'])} ({side['new_lead_mqls']} of "
            f"{data['new_leads']} new leads), precision {ratio(side['precision'])} "
            f"({side['hits']} of {side['flagged']}), recall {ratio(side['recall'])}, "
            f"median week {side['median_full_week']:g}, busiest week {side['busiest_week']}"
        )
    if data.get("diff"):
        lines += ["", "as a mapping change (not applied; replay it with score simulate):",
                  data["diff"]]
    return "\n".join(lines)
