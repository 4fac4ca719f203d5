"""Human-readable renderings of run summaries and status (pure: data in, text out), in
Japanese or English through `core.i18n` (`[ui] language`): moments in `[ui] timezone`,
numbers with thousands separators. The values that come from the APIs or the state store
(stream states, object names, problems) are shown as they are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.tables import table
from core.i18n import Language, moment, number, t


@dataclass(frozen=True, slots=True)
class _Say:
    """Texts in one language and time zone."""

    language: Language
    zone: str

    def __call__(self, key: str, **values: object) -> str:
        shown = {k: number(v) if isinstance(v, int) and not isinstance(v, bool) else v
                 for k, v in values.items()}
        return t(key, self.language, **shown) if shown else t(key, self.language)

    def when(self, value: str | None) -> str:
        if not value:
            return "-"
        try:
            return moment(value, self.language, self.zone)
        except (TypeError, ValueError):
            return value

    def word(self, prefix: str, value: str) -> str:
        """A run kind or outcome in the language, or the value itself when unknown."""
        try:
            return t(f"{prefix}_{value}", self.language)
        except KeyError:
            return value

def format_summary(summary: dict[str, Any], *, language: Language, zone: str) -> str:
    s, say = summary, _Say(language, zone)
    head = f"{say.word('kind', s['kind'])}{say('sum_dry') if s.get('dry_run') else ''}"
    window = (
        say("sum_window", start=say.when(s["window_start"]), end=say.when(s.get("window_end")))
        if s.get("window_start")
        else say("sum_no_window")
    )
    waiting = say("sum_waiting", n=s["leads_waiting"]) if s.get("leads_waiting") else ""
    lines = [
        f"{head}: {window}",
        say("sum_hubspot", contacts=s["contacts_read"], activities=s["activities_read"],
            new=s["activities_new"]),
        say("sum_scoring", scored=s["leads_scored"], mqls=s["mqls"], new=s["new_mql_episodes"],
            no_email=s["leads_without_email"], waiting=waiting),
    ]
    lines.extend(_stream_lines(s.get("streams") or {}, say("sum_streams")))
    if s.get("dry_run"):
        planned = s.get("planned", {})
        lines.append(say("sum_planned", updates=planned.get("updates", 0),
                         creates=planned.get("creates", 0), tasks=planned.get("tasks", 0)))
        for name, count in planned.get("fields", {}).items():
            lines.append(f"              {name}: {number(count)}")
        for sample in planned.get("sample", []):
            lines.append(say("sum_example", object=sample["object"],
                             id=sample["id"] or say("sum_new_record"), lead=sample["lead"],
                             fields=sample["fields"]))
    else:
        lines.append(say("sum_salesforce", updated=s["records_updated"],
                         created=s["leads_created"], tasks=s["tasks_created"],
                         unchanged=s["records_unchanged"], failed=s["write_failures"]))
    lines.extend(_hubspot_writeback_lines(s, say))
    lines.extend(_outcome_lines(s, say))
    lines.extend(_alert_summary_lines(s, say))
    lines.append(say("sum_calls", hubspot=s["hubspot_calls"], limited=_rate_limited(s, say),
                     salesforce=s["salesforce_calls"], problems=s["problems"],
                     seconds=s["duration_seconds"]))
    for problem in s.get("problem_sample", [])[:10]:
        lines.append(say("sum_skipped", problem=problem))
    return "\n".join(lines)


def _hubspot_writeback_lines(s: dict[str, Any], say: _Say) -> list[str]:
    """The HubSpot write-back's line(s); none when it is off ([hubspot] write_back)."""
    planned = s.get("planned_hubspot") or {}
    if not planned:
        return []
    if not s.get("dry_run"):
        return [say("sum_hs_written", written=s.get("hubspot_written", 0),
                    calls=s.get("hubspot_write_calls", 0),
                    unchanged=s.get("hubspot_unchanged", 0),
                    rejected=planned.get("rejected", 0))]
    lines = [say("sum_hs_planned", contacts=planned.get("contacts", 0),
                 calls=planned.get("calls", 0), unchanged=s.get("hubspot_unchanged", 0))]
    for name, count in planned.get("properties", {}).items():
        lines.append(f"              contact.{name}: {number(count)}")
    for sample in planned.get("sample", []):
        lines.append(say("sum_hs_example", contact=sample["contact"], lead=sample["lead"],
                         properties=sample["properties"]))
    return lines


def format_status(data: dict[str, Any], *, language: Language, zone: str) -> str:
    say = _Say(language, zone)
    lines = [say("st_state", path=data["state_path"]), say("st_cursors")]
    for stream, value in data["cursors"].items():
        lines.append(f"  {stream:18} {say.when(value)}")
    if not data["cursors"]:
        lines.append(say("st_no_cursors"))
    lines.append(say("st_stored", counts=", ".join(
        f"{k} {number(v) if isinstance(v, int) else v}" for k, v in data["counts"].items())))
    lines.extend(rules_status_lines(data.get("rules")))
    lines.extend(_alert_status_lines(data["counts"], say))
    if data.get("deletions"):
        d = data["deletions"]
        lines.append(say(
            "st_deletions", archived=number(d.get("archived", 0)),
            merged=number(d.get("merged", 0)), erased=number(d.get("erased", 0)),
            waiting=number(d.get("deletion_events_waiting", 0)),
        ))
    lines.extend(speed_to_lead_lines(data.get("speed_to_lead") or [], data.get("sla_hours"),
                                     language=language))
    lines.append(say("st_last_runs"))
    for run in data["runs"]:
        summary = run.get("summary") or {}
        written = summary.get("records_updated", 0) + summary.get("leads_created", 0)
        lines.append(say(
            "st_run", id=str(run["id"]), kind=f"{say.word('kind', run['kind']):8}",
            started=say.when(run["started_at"]),
            outcome=say.word("outcome", run["outcome"]) if run["outcome"] else say("st_running"),
            scored=summary.get("leads_scored", "-"), written=written,
            tasks=summary.get("tasks_created", "-"), hubspot=summary.get("hubspot_calls", "-"),
            salesforce=summary.get("salesforce_calls", "-"), limited=_rate_limited(summary, say),
        ))
    if not data["runs"]:
        lines.append(say("st_no_runs"))
    streams = next(
        (r["summary"]["streams"] for r in data["runs"]
         if r.get("summary") and r["summary"].get("streams")),
        None,
    )
    if streams:
        lines.append(say("st_streams"))
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
        hubspot = _fraction(budget.get("hubspot_daily_used"), budget.get("hubspot_daily_limit"),
                            say)
        salesforce = _fraction(
            budget.get("salesforce_daily_used"), budget.get("salesforce_daily_limit"), say
        )
        lines.append(say("st_budget", hubspot=hubspot, salesforce=salesforce))
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


def speed_to_lead_lines(
    rows: list[dict[str, Any]], sla_hours: float | None, *, language: Language
) -> list[str]:
    """The hand-off SLA per owner ([sla]): hand-offs (MQL episodes), touched ones, median
    business hours from MQL to first touch, breaches still open / touched late."""
    if not rows:
        return []
    say = _Say(language, "UTC")
    target = say("st_sla_target", hours=f"{sla_hours:g}") if sla_hours else say("st_sla_off")
    titles = [say(k) for k in
              ("owner", "handoffs", "touched", "st_median_h", "breaches_open", "st_closed")]
    cells = [
        [
            str(r["owner"]), number(r["handoffs"]), number(r["touched"]),
            "-" if r["median_first_touch_business_hours"] is None
            else f"{r['median_first_touch_business_hours']:.1f}",
            number(r["breaches_open"]), number(r["breaches_closed"]),
        ]
        for r in rows
    ]
    # lined up in terminal columns (Japanese headings are two columns a character)
    return [say("st_speed", target=target), *table(titles, cells, "<>>>>>")]


def _alert_status_lines(counts: dict[str, Any], say: _Say) -> list[str]:
    """The hot-lead alert outbox ([alerts]), once it holds a row."""
    if "alerts_pending" not in counts:
        return []
    line = say("st_alerts", sent=counts.get("alerts_sent", 0), pending=counts["alerts_pending"],
               dead=counts.get("alerts_dead", 0))
    if counts.get("alerts_dead"):
        line += say("st_alerts_dlq")
    return [line]


def _alert_summary_lines(s: dict[str, Any], say: _Say) -> list[str]:
    """The run's alert sends (sync.alerts), when alerts are on."""
    alerts = s.get("alerts") or {}
    if not alerts:
        return []
    return [say("sum_alerts", sent=alerts.get("sent", 0), failed=alerts.get("failed", 0),
                dead=alerts.get("dead", 0), waiting=alerts.get("waiting", 0),
                pending=alerts.get("outbox_pending", 0))]


def _stream_lines(streams: dict[str, str], indent: str) -> list[str]:
    """One line per activity stream: read / skipped: why / switched off / derived: how."""
    pad = " " * len(indent)
    return [
        f"{indent if n == 0 else pad}{name:17} {state}"
        for n, (name, state) in enumerate(streams.items())
    ]


def _rate_limited(summary: dict[str, Any], say: _Say) -> str:
    """HubSpot's 429 answers of a run, when it had any (another app spent the budget)."""
    search, burst = summary.get("hubspot_429_search", 0), summary.get("hubspot_429_burst", 0)
    if not (search or burst):
        return ""
    return say("sum_rate_limited", search=search, burst=burst)


def _fraction(used: int | None, limit: int | None, say: _Say) -> str:
    if used is None or not limit:
        return say("st_unknown")
    return say("st_fraction", used=used, limit=limit, left=limit - used)


def _outcome_lines(s: dict[str, Any], say: _Say) -> list[str]:
    """The sales-outcome pull of the run (sync.outcomes), when it ran."""
    pulled = s.get("outcomes") or {}
    if not pulled:
        return []
    read = pulled.get("read") or {}
    per_object = (", ".join(f"{name} {number(count)}" for name, count in read.items())
                  or say("sum_nothing_new"))
    problems = say("sum_unreadable", n=pulled["problems"]) if pulled.get("problems") else ""
    return [say("sum_outcomes", read=sum(read.values()), per_object=per_object,
                changed=pulled.get("changed", 0), marked=pulled.get("leads_marked", 0),
                calls=pulled.get("calls", 0), problems=problems)]
