"""Human-readable renderings of run summaries and status (pure: data in, text out)."""

from __future__ import annotations

from typing import Any


def format_summary(summary: dict[str, Any]) -> str:
    s = summary
    head = f"{s['kind']}{' (dry run: nothing written)' if s.get('dry_run') else ''}"
    window = (
        f"window {s['window_start']} .. {s['window_end']}"
        if s.get("window_start")
        else "no extraction (stored leads only)"
    )
    waiting = f", {s['leads_waiting']} waiting for the next run" if s.get("leads_waiting") else ""
    lines = [
        f"{head}: {window}",
        f"  HubSpot     contacts read {s['contacts_read']}, activities read "
        f"{s['activities_read']} ({s['activities_new']} new)",
        f"  scoring     leads scored {s['leads_scored']}, MQLs {s['mqls']} "
        f"({s['new_mql_episodes']} new), without usable email {s['leads_without_email']}"
        f"{waiting}",
    ]
    lines.extend(_stream_lines(s.get("streams") or {}, "  streams     "))
    if s.get("dry_run"):
        planned = s.get("planned", {})
        lines.append(
            f"  planned     updates {planned.get('updates', 0)}, Lead creates "
            f"{planned.get('creates', 0)}, Tasks {planned.get('tasks', 0)}"
        )
        for name, count in planned.get("fields", {}).items():
            lines.append(f"              {name}: {count}")
        for sample in planned.get("sample", []):
            lines.append(
                f"    e.g. {sample['object']} {sample['id'] or '(new)'} "
                f"{sample['lead']}: {sample['fields']}"
            )
    else:
        lines.append(
            f"  Salesforce  records updated {s['records_updated']}, Leads created "
            f"{s['leads_created']}, Tasks created {s['tasks_created']}, unchanged "
            f"{s['records_unchanged']}, failed {s['write_failures']}"
        )
    lines.extend(_hubspot_writeback_lines(s))
    lines.extend(_outcome_lines(s))
    lines.extend(_alert_summary_lines(s))
    lines.append(
        f"  API calls   HubSpot {s['hubspot_calls']}{_rate_limited(s)}, Salesforce "
        f"{s['salesforce_calls']}; problems reported {s['problems']}; {s['duration_seconds']} s"
    )
    for problem in s.get("problem_sample", [])[:10]:
        lines.append(f"    skipped: {problem}")
    return "\n".join(lines)


def _hubspot_writeback_lines(s: dict[str, Any]) -> list[str]:
    """The HubSpot write-back's line(s); none when it is off ([hubspot] write_back)."""
    planned = s.get("planned_hubspot") or {}
    if not planned:
        return []
    if not s.get("dry_run"):
        return [
            f"  HubSpot     contacts written back {s.get('hubspot_written', 0)} in "
            f"{s.get('hubspot_write_calls', 0)} call(s), unchanged "
            f"{s.get('hubspot_unchanged', 0)}, refused by the mappings {planned.get('rejected', 0)}"
        ]
    lines = [
        f"  planned     HubSpot contacts {planned.get('contacts', 0)} "
        f"({planned.get('calls', 0)} batch call(s)), unchanged {s.get('hubspot_unchanged', 0)}"
    ]
    for name, count in planned.get("properties", {}).items():
        lines.append(f"              contact.{name}: {count}")
    for sample in planned.get("sample", []):
        lines.append(f"    e.g. HubSpot contact {sample['contact']} {sample['lead']}: "
                     f"{sample['properties']}")
    return lines


def format_status(data: dict[str, Any]) -> str:
    lines = [f"state: {data['state_path']}"]
    lines.append("cursors:")
    for stream, value in data["cursors"].items():
        lines.append(f"  {stream:18} {value}")
    if not data["cursors"]:
        lines.append("  (none yet: the first sync reads the initial look-back window)")
    lines.append("stored: " + ", ".join(f"{k} {v}" for k, v in data["counts"].items()))
    lines.extend(rules_status_lines(data.get("rules")))
    lines.extend(_alert_status_lines(data["counts"]))
    if data.get("deletions"):
        d = data["deletions"]
        lines.append(
            f"contacts: {d.get('archived', 0)} archived, {d.get('merged', 0)} merged away, "
            f"{d.get('erased', 0)} erased, {d.get('deletion_events_waiting', 0)} deletion "
            "events waiting"
        )
    lines.extend(speed_to_lead_lines(data.get("speed_to_lead") or [], data.get("sla_hours")))
    lines.append("last runs:")
    for run in data["runs"]:
        summary = run.get("summary") or {}
        lines.append(
            f"  #{run['id']} {run['kind']:8} {run['started_at']} -> {run['outcome'] or 'running'}"
            f"  scored {summary.get('leads_scored', '-')}, written "
            f"{summary.get('records_updated', 0) + summary.get('leads_created', 0)}, tasks "
            f"{summary.get('tasks_created', '-')}, calls HubSpot "
            f"{summary.get('hubspot_calls', '-')} / Salesforce "
            f"{summary.get('salesforce_calls', '-')}{_rate_limited(summary)}"
        )
    if not data["runs"]:
        lines.append("  (no runs yet)")
    streams = next(
        (r["summary"]["streams"] for r in data["runs"]
         if r.get("summary") and r["summary"].get("streams")),
        None,
    )
    if streams:
        lines.append("activity streams (as the last run found them):")
        lines.extend(_stream_lines(streams, "  "))
    budget = next(
        (
            r["summary"]["api_budget"]
            for r in data["runs"]
            if r.get("summary") and r["summary"].get("api_budget")
        ),
        None,
    )
    if budget:
        hubspot = _fraction(budget.get("hubspot_daily_used"), budget.get("hubspot_daily_limit"))
        salesforce = _fraction(
            budget.get("salesforce_daily_used"), budget.get("salesforce_daily_limit")
        )
        lines.append(
            f"API budget (as the last run's answers said): HubSpot {hubspot} calls today; "
            f"Salesforce {salesforce} requests in the last 24 h"
        )
    return "\n".join(lines)


def rules_status_lines(rules: dict[str, Any] | None) -> list[str]:
    """The live rule version and the shadow's (docs/scoring-versions.md), with since when."""
    if not rules:
        return []
    lines = []
    for name, label, waiting in (
        ("live", "live rules   / 本番ルール    ", "not run yet / 未実行"),
        ("shadow", "shadow rules / シャドールール",
         "not run yet: the next sync starts it / 次回の同期から"),
    ):
        side = rules.get(name)
        if side is None:
            continue
        if side.get("version") is None:
            lines.append(f"{label} {side['rules_dir']}: {side.get('error')}")
            continue
        since = f"since {side['since']}" if side.get("since") else waiting
        lines.append(f"{label} {side['version']} ({side['rules_dir']}), {since}")
        if side.get("note"):
            lines.append(f"  {side['note']}")
    return lines


def speed_to_lead_lines(rows: list[dict[str, Any]], sla_hours: float | None) -> list[str]:
    """The hand-off SLA per owner ([sla]): hand-offs (MQL episodes), touched ones, median
    business hours from MQL to first touch, breaches still open / touched late."""
    if not rows:
        return []
    target = f"first touch within {sla_hours:g} business hours" if sla_hours else "SLA off"
    lines = [f"speed-to-lead ({target}):"]
    lines.append(f"  {'owner':20} {'hand-offs':>9} {'touched':>7} {'median h':>8} "
                 f"{'breaches open':>13} {'closed':>6}")
    for r in rows:
        median = r["median_first_touch_business_hours"]
        lines.append(
            f"  {r['owner']:20} {r['handoffs']:>9} {r['touched']:>7} "
            f"{'-' if median is None else f'{median:.1f}':>8} {r['breaches_open']:>13} "
            f"{r['breaches_closed']:>6}"
        )
    return lines


def _alert_status_lines(counts: dict[str, Any]) -> list[str]:
    """The hot-lead alert outbox ([alerts]), once it holds a row."""
    if "alerts_pending" not in counts:
        return []
    line = (
        f"alerts: {counts.get('alerts_sent', 0)} sent, {counts['alerts_pending']} pending, "
        f"{counts.get('alerts_dead', 0)} dead"
    )
    if counts.get("alerts_dead"):
        line += " (in `connector dlq list`, stage 'alert <channel>')"
    return [line]


def _alert_summary_lines(s: dict[str, Any]) -> list[str]:
    """The run's alert sends (sync.alerts), when alerts are on."""
    alerts = s.get("alerts") or {}
    if not alerts:
        return []
    return [
        f"  alerts      sent {alerts.get('sent', 0)}, failed (retried next run) "
        f"{alerts.get('failed', 0)}, dead {alerts.get('dead', 0)}, waiting "
        f"{alerts.get('waiting', 0)}; outbox pending {alerts.get('outbox_pending', 0)}"
    ]


def _stream_lines(streams: dict[str, str], indent: str) -> list[str]:
    """One line per activity stream: read / skipped: why / switched off / derived: how."""
    pad = " " * len(indent)
    return [
        f"{indent if n == 0 else pad}{name:17} {state}"
        for n, (name, state) in enumerate(streams.items())
    ]


def _rate_limited(summary: dict[str, Any]) -> str:
    """HubSpot's 429 answers of a run, when it had any (another app spent the budget)."""
    search, burst = summary.get("hubspot_429_search", 0), summary.get("hubspot_429_burst", 0)
    if not (search or burst):
        return ""
    return f", HubSpot 429s search {search} / burst {burst}"


def _fraction(used: int | None, limit: int | None) -> str:
    if used is None or not limit:
        return "unknown"
    return f"{used:,} of {limit:,} used ({limit - used:,} left)"


def _outcome_lines(s: dict[str, Any]) -> list[str]:
    """The sales-outcome pull of the run (sync.outcomes), when it ran."""
    pulled = s.get("outcomes") or {}
    if not pulled:
        return []
    read = pulled.get("read") or {}
    per_object = ", ".join(f"{name} {count}" for name, count in read.items()) or "nothing new"
    problems = f", {pulled['problems']} unreadable" if pulled.get("problems") else ""
    return [
        f"  outcomes    Salesforce records read {sum(read.values())} ({per_object}), "
        f"changed {pulled.get('changed', 0)}, leads re-planned {pulled.get('leads_marked', 0)}, "
        f"{pulled.get('calls', 0)} calls{problems}"
    ]
