"""A `KpiReport` as ONE self-contained HTML file: inline CSS, inline JavaScript that draws the
charts as SVG from the report's own JSON (embedded in the page), tables rendered here. No
network, no CDN: it opens offline from disk.

Every value is escaped: lead emails, segment values and notes come from HubSpot and
Salesforce and are untrusted. Tables go through `html.escape`; the embedded JSON has `<`,
`>`, `&` and the JavaScript line separators escaped so it cannot close its script element;
the script only ever sets `textContent` and attributes, never markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from core.i18n import Language, catalogue, t
from core.i18n import day as _day
from core.i18n import moment as _moment
from core.i18n import money as _fmt_money
from kpi.export import DEFINITIONS, report_dict
from kpi.model import KpiReport

TITLE = "Lead funnel report"
# The funnel cells a dashboard can drill into: column key -> the metric of `leads_behind`.
DRILL_METRICS = ("new_leads", "mqls", "sqls", "opportunities", "won", "lost", "new_mqls",
                 "handoffs")


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _money(value: str | None, currency: str | None) -> str:
    return _fmt_money(value, currency)


def embed_json(data: Any) -> str:
    """JSON that is safe inside <script type="application/json">."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, code in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, code)
    return text


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    table_id: str,
    numeric_from: int = 1,
) -> str:
    head = "".join(
        f'<th class="{"num" if i >= numeric_from else ""}">{_e(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>" + "".join(_cell(c, i >= numeric_from) for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<table id="{_e(table_id)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(cell: Any, numeric: bool) -> str:
    """A table cell; a `(text, metric, period)` cell is a number the dashboard drills into
    (`period` "" = the whole window), `(text, metric, period, {"segment": "DIM=VALUE"})` or
    `{"owner": ...}` one of a segment's or an owner's row."""
    cls = "num" if numeric else ""
    if isinstance(cell, tuple):
        return f'<td class="{cls} drill" {_drill(*cell[1:])}>{_e(cell[0])}</td>'
    return f'<td class="{cls}">{_e(cell)}</td>'


def _drill(metric: str, period: str, more: dict[str, str] | None = None) -> str:
    """The attributes that make an element a number the dashboard drills into."""
    extra = "".join(f' data-{name}="{_e(value)}"' for name, value in (more or {}).items())
    return f'data-metric="{_e(metric)}" data-period="{_e(period)}"{extra} tabindex="0"'


_FUNNEL_KEYS = (
    "new_leads", "mqls", "mql_rate", "sqls", "sql_rate", "opportunities", "opportunity_rate",
    "won", "lost", "win_rate", "new_mqls", "handoffs", "days_to_mql", "days_mql_opp",
    "interest_comparison", "cost", "cost_per_lead", "cost_per_mql",
)


def _funnel_headers(lang: Language) -> list[str]:
    return ["", *(t(k, lang) for k in _FUNNEL_KEYS)]


def _funnel_cells(
    row: dict[str, Any], currency: str | None, period: str | None = None,
    segment: str | None = None,
) -> list[Any]:
    """`period`: the period label to drill into ("" for the totals); None: no drill-down.
    `segment` ("DIM=VALUE"): the row is that segment's (the whole window)."""
    p = row["interest_to_comparison"]

    def n(key: str) -> Any:
        text = _num(row[key])
        if period is None:
            return text
        return (text, key, period, {"segment": segment} if segment else None)

    return [
        row["label"],
        n("new_leads"),
        n("mqls"),
        _pct(row["mql_rate"]),
        n("sqls"),
        _pct(row["sql_rate"]),
        n("opportunities"),
        _pct(row["opportunity_rate"]),
        n("won"),
        n("lost"),
        _pct(row["win_rate"]),
        n("new_mqls"),
        n("handoffs"),
        _num(row["time_to_mql"]["median_days"]),
        _num(row["mql_to_opportunity"]["median_days"]),
        f"{_pct(p['share'])} ({p['moved']}/{p['reached_interest']}, {p['open']} open)",
        _money(row["cost"], currency),
        _money(row["cost_per_lead"], currency),
        _money(row["cost_per_mql"], currency),
    ]


_ENGAGEMENT_KEYS = (
    "delivered", "opened", "open_rate", "clicked", "click_rate", "webinar_registrations",
    "attended", "attendance_rate", "whitepaper_downloads",
)


def _engagement_headers(lang: Language) -> list[str]:
    return ["", *(t(k, lang) for k in _ENGAGEMENT_KEYS)]


def _engagement_cells(row: dict[str, Any]) -> list[str]:
    e = row["engagement"]
    return [
        row["label"],
        _num(e["delivered"]),
        _num(e["opened"]),
        _pct(e["open_rate"]),
        _num(e["clicked"]),
        _pct(e["click_rate"]),
        _num(e["webinar_registrations"]),
        _num(e["webinar_attended"]),
        _pct(e["attendance_rate"]),
        _num(e["whitepaper_downloads"]),
    ]


def _card(label: str, value: str, kpi: str, drill: bool = False) -> str:
    """A total; `drill`: a count of leads the dashboard drills into (the whole window)."""
    more = f' class="card drill" {_drill(kpi, "")}' if drill else ' class="card"'
    return (
        f'<div{more} data-kpi="{_e(kpi)}"><div class="v">{_e(value)}</div>'
        f'<div class="l">{_e(label)}</div></div>'
    )


def _head(title: str, lang: Language, csp: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        f"<title>{_e(title)}</title>"
    )


def subtitle(data: dict[str, Any], lang: Language, zone: str) -> str:
    """The window line under the title: dates and the counting moment in `zone`."""
    w = data["window"]
    period_word = t("per_week" if w["period"] == "week" else "per_month", lang)
    return (
        f"{_e(_day(w['since'], lang, zone))} – {_e(_day(w['until'], lang, zone))}, "
        f"{_e(period_word)}"
        + (f"; {_e(t('segment_is', lang))} <b>{_e(w['segment'])}</b>" if w["segment"] else "")
        + f"; {_e(t('counted_to', lang))} {_e(_moment(w['generated_at'], lang, zone))}"
    )


def render_html(report: KpiReport, language: Language = "en", zone: str = "UTC") -> str:
    """The offline report in `language`, its dates in time zone `zone`."""
    data = report_dict(report)
    lang = language
    parts = [
        _head(t("title", lang), lang, "default-src 'none'; style-src 'unsafe-inline'; "
              "script-src 'unsafe-inline'; img-src data:"),
        f"<style>{CSS}</style></head><body>",
        f'<header><h1>{_e(t("title", lang))}</h1><p class="sub">'
        f"{subtitle(data, lang, zone)}</p></header>",
        render_body(data, lang, zone),
        f'<script type="application/json" id="kpi-data">{embed_json(data)}</script>',
        f'<script type="application/json" id="kpi-labels">{embed_json(catalogue(lang))}'
        "</script>",
        f"<script>{CHARTS_JS}\n{_DRAW_EMBEDDED}</script></body></html>",
    ]
    return "".join(parts)


def render_body(data: dict[str, Any], language: Language = "en", zone: str = "UTC") -> str:
    """Everything under the header: cards, chart boxes, tables (all escaped here). The
    dashboard puts this into its page and draws the charts with `CHARTS_JS`."""
    lang = language
    cur = data["currency"]
    w = data["window"]
    t_ = data["totals"]
    rows = [*data["periods"], t_]
    drill = [*(r["label"] for r in data["periods"]), ""]
    parts: list[str] = []
    add = parts.append
    if data["notes"]:
        add(
            '<section class="notes"><ul>'
            + "".join(f"<li>{_e(n)}</li>" for n in data["notes"])
            + "</ul></section>"
        )
    add('<section class="cards">')
    add(_card(t("new_leads", lang), _num(t_["new_leads"]), "new_leads", drill=True))
    add(_card(t("mql_rate", lang), _pct(t_["mql_rate"]), "mql_rate"))
    add(_card(t("sql_rate", lang), _pct(t_["sql_rate"]), "sql_rate"))
    add(_card(t("opportunity_rate_long", lang), _pct(t_["opportunity_rate"]),
              "opportunity_rate"))
    add(_card(t("win_rate", lang), _pct(t_["win_rate"]), "win_rate"))
    add(_card(t("cost_per_lead", lang), _money(t_["cost_per_lead"], cur), "cost_per_lead"))
    add(_card(t("cost_per_mql", lang), _money(t_["cost_per_mql"], cur), "cost_per_mql"))
    add(_card(t("handoffs", lang), _num(t_["handoffs"]), "handoffs", drill=True))
    add(_card(t("mqls", lang), _num(t_["mqls"]), "mqls", drill=True))
    add("</section>")
    add(
        f'<section><h2>{_e(t("funnel", lang))}</h2><p class="hint">'
        f'{_e(t("funnel_hint", lang))}</p>'
        '<div class="chart" id="funnel-chart" role="img" aria-label="funnel"></div></section>'
    )
    period_word = t("per_week" if w["period"] == "week" else "per_month", lang)
    add(
        f"<section><h2>{_e(t('trends', lang))} ({_e(period_word)})</h2>"
        '<div class="chart" id="trend-chart" role="img" aria-label="new leads and MQLs"></div>'
        '<div class="chart" id="rate-chart" role="img" aria-label="rates"></div></section>'
    )
    add(f"<section><h2>{_e(t('funnel_per', lang))} ({_e(period_word)})</h2>")
    add(_table(_funnel_headers(lang),
               (_funnel_cells(r, cur, p) for r, p in zip(rows, drill, strict=True)),
               table_id="periods"))
    add("</section>")
    add(f"<section><h2>{_e(t('durations', lang))}</h2>")
    add(
        _table(
            ("", t("mqls", lang), t("days_to_mql", lang), t("mean", lang),
             t("opps_after_mql", lang), t("days_mql_opp", lang), t("mean", lang)),
            (
                [
                    r["label"],
                    _num(r["time_to_mql"]["count"]),
                    _num(r["time_to_mql"]["median_days"]),
                    _num(r["time_to_mql"]["mean_days"]),
                    _num(r["mql_to_opportunity"]["count"]),
                    _num(r["mql_to_opportunity"]["median_days"]),
                    _num(r["mql_to_opportunity"]["mean_days"]),
                ]
                for r in rows
            ),
            table_id="durations",
        )
    )
    add("</section>")
    add(f"<section><h2>{_e(t('progression', lang))}</h2>")
    add(
        _table(
            ("", t("reached_interest", lang), t("moved", lang), t("share", lang),
             t("still_open", lang)),
            (
                [
                    r["label"],
                    _num(r["interest_to_comparison"]["reached_interest"]),
                    _num(r["interest_to_comparison"]["moved"]),
                    _pct(r["interest_to_comparison"]["share"]),
                    _num(r["interest_to_comparison"]["open"]),
                ]
                for r in rows
            ),
            table_id="progression",
        )
    )
    add("</section>")
    add(f"<section><h2>{_e(t('engagement', lang))}</h2>")
    add(_table(_engagement_headers(lang), (_engagement_cells(r) for r in rows),
               table_id="engagement"))
    add("</section>")
    add(f"<section><h2>{_e(t('per_segment', lang))}</h2>")
    for dimension, seg_rows in data["segments"].items():
        add(f"<h3>{_e(dimension)}</h3>")
        add(
            '<div class="chart seg-chart" data-dimension="'
            f'{_e(dimension)}" role="img" aria-label="MQL rate per {_e(dimension)}"></div>'
        )
        add(
            _table(
                _funnel_headers(lang),
                (_funnel_cells(r, cur, "", f"{dimension}={r['label']}") for r in seg_rows),
                table_id=f"segment-{dimension}",
            )
        )
        add(
            _table(
                _engagement_headers(lang),
                (_engagement_cells(r) for r in seg_rows),
                table_id=f"segment-engagement-{dimension}",
            )
        )
    add("</section>")
    add(f"<section><h2>{_e(t('costs', lang))}</h2>")
    if cur is None:
        add(f"<p>{_e(t('no_costs', lang))}</p>")
    else:
        add(
            _table(
                (t("month", lang), t("channel", lang), t("campaigns", lang), t("cost", lang),
                 t("new_leads", lang), t("mqls", lang), t("cost_per_lead", lang),
                 t("cost_per_mql", lang)),
                (
                    [
                        c["month"],
                        c["channel"],
                        ", ".join(c["campaigns"]),
                        _money(c["cost"], cur),
                        _num(c["new_leads"]),
                        _num(c["mqls"]),
                        _money(c["cost_per_lead"], cur),
                        _money(c["cost_per_mql"], cur),
                    ]
                    for c in data["costs"]
                ),
                table_id="costs",
                numeric_from=3,
            )
        )
    add("</section>")
    add(_speed_to_lead(data["speed_to_lead"], data["sla_hours"], lang))
    add(_agreement(data["agreement"], lang))
    for name, table in data["tables"].items():
        add(_extra_table(name, table, lang))
    add(f"<section><h2>{_e(t('definitions', lang))}</h2><dl>")
    for name, text in DEFINITIONS.items():
        add(f"<dt>{_e(name)}</dt><dd>{_e(text)}</dd>")
    add("</dl></section>")
    add(f'<noscript><p class="notes">{_e(t("noscript", lang))}</p></noscript>')
    return "".join(parts)


def _extra_table(name: str, table: dict[str, Any], language: Language = "en") -> str:
    """A table another part of the product added (`kpi.model.ExtraTable`)."""
    title = table["title"].get(language) or next(iter(table["title"].values()), name)
    headers = [c.get(language) or c.get("en", "") for c in table["columns"]]
    keys = [c.get("en") or next(iter(c.values()), "") for c in table["columns"]]
    note = table["note"].get(language) or table["note"].get("en")
    rows = [[_num(r[k]) for k in keys] for r in table["rows"]]
    body = _table(headers, rows, table_id=f"table-{name}") if rows else (
        '<p class="notes">–</p>'
    )
    return (
        f'<section id="section-{_e(name)}"><h2>{_e(title)}</h2>'
        + (f'<p class="notes">{_e(note)}</p>' if note else "")
        + body
        + "</section>"
    )


def _speed_to_lead(rows: list[dict[str, Any]], sla_hours: float, lang: Language = "en") -> str:
    target = (
        f"first touch within {sla_hours:g} business hours of the MQL"
        if sla_hours
        else "no first-touch target ([sla] first_touch_hours = 0)"
    )
    head = (
        f'<section id="speed-to-lead"><h2>{_e(t("speed", lang))}</h2>'
        f'<p class="notes">Hand-offs are the MQL episodes that started in the window; '
        f"SLA: {_e(target)}.</p>"
    )
    if not rows:
        return head + f'<p class="notes">{_e(t("no_handoffs", lang))}</p></section>'
    def breaches(r: dict[str, Any], metric: str, count: int) -> Any:
        return (_num(count), metric, "", {"owner": r["owner"]})

    table = _table(
        (t("owner", lang), t("handoffs", lang), t("touched", lang), t("median_touch", lang),
         t("sla_breaches", lang), t("breaches_open", lang), t("breaches_closed", lang)),
        (
            [
                r["owner"],
                _num(r["handoffs"]),
                _num(r["touched"]),
                "-" if r["median_first_touch_business_hours"] is None
                else f"{r['median_first_touch_business_hours']:.1f}",
                breaches(r, "sla_breaches", r["breaches_open"] + r["breaches_closed"]),
                breaches(r, "sla_breaches_open", r["breaches_open"]),
                breaches(r, "sla_breaches_closed", r["breaches_closed"]),
            ]
            for r in rows
        ),
        table_id="speed-to-lead",
    )
    return head + table + "</section>"


def _agreement(agreement: dict[str, Any] | None, lang: Language = "en") -> str:
    head = f'<section id="agreement"><h2>{_e(t("agreement", lang))}</h2>'
    if agreement is None:
        return (
            head + "<p>No Salesforce records are stored yet: run a sync with the outcome "
            "pull first.</p></section>"
        )
    differing = agreement["differing"]
    summary = (
        f'<p class="agree-summary" data-connector="{agreement["connector_mqls"]}" '
        f'data-salesforce="{agreement["salesforce_mqls"]}" data-differing="{len(differing)}">'
        f"The connector decided {agreement['connector_mqls']:,} MQLs, Salesforce shows "
        f"{agreement['salesforce_mqls']:,}; {agreement['both']:,} on both sides, "
        f"{len(differing):,} records differ. Source: {_e(agreement['source'])}.</p>"
    )
    table = _table(
        (
            "lead",
            "Salesforce record",
            "connector decided",
            "Salesforce shows",
            "connector last wrote",
            "why",
        ),
        (
            [
                d["lead"],
                f"{d['sobject'] or ''} {d['record_id'] or ''}".strip() or "(none read)",
                "MQL" if d["connector_mql"] else "not MQL",
                d["salesforce_status"] or "(empty)",
                d["written_status"] or "(never)",
                d["explanation"],
            ]
            for d in differing
        ),
        table_id="agreement-differing",
        numeric_from=99,
    )
    return head + summary + table + "</section>"


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Hiragino Sans","Noto Sans JP",
sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#1d2433;background:#fff}
h1{margin:0;font-size:24px}h2{margin:28px 0 8px;font-size:18px;border-bottom:1px solid #dde;
padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}.sub,.hint{color:#5b6478;margin:4px 0}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-top:16px}.card{border:1px solid #dde;
border-radius:8px;padding:10px 14px;min-width:120px}.card .v{font-size:20px;font-weight:600}
.card .l{color:#5b6478;font-size:12px}table{border-collapse:collapse;margin:8px 0;
font-size:12px;display:block;overflow-x:auto}th,td{border-bottom:1px solid #eef;
padding:4px 8px;white-space:nowrap;text-align:left}th{background:#f5f6fa}.num{text-align:right}
.chart{margin:8px 0}.chart svg{max-width:100%;height:auto}.notes{background:#fff8e6;
border:1px solid #f0d9a0;border-radius:6px;padding:4px 12px;margin-top:12px}
dt{font-weight:600;margin-top:6px}dd{margin:0 0 0 16px;color:#3b4356}
.legend{font-size:12px}td.drill{cursor:pointer;text-decoration:underline dotted}
"""

# `drawKpiCharts(data, labels)` draws every chart of a report's JSON, with the catalogue's
# labels (`core.i18n.catalogue`). Only createElementNS, setAttribute and textContent.
CHARTS_JS = r"""
window.drawKpiCharts = function (data, L) {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var COLORS = ["#3b6fd8", "#2aa57a", "#e6a23c", "#b05fd0", "#d9534f", "#6c7a89"];
  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    for (var k in attrs) { node.setAttribute(k, String(attrs[k])); }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function svg(width, height) {
    return el("svg", {viewBox: "0 0 " + width + " " + height, width: width, height: height});
  }
  function pct(v) { return v === null ? "–" : (v * 100).toFixed(1) + "%"; }
  function fmt(v) { return v === null ? "–" : Number(v).toLocaleString("en-US"); }

  function funnel() {
    var t = data.totals, box = document.getElementById("funnel-chart");
    var steps = [["new_leads", L.stage_new_leads, t.new_leads, null],
                 ["mqls", L.stage_mql, t.mqls, t.mql_rate],
                 ["sqls", L.stage_sql, t.sqls, t.sql_rate],
                 ["opportunities", L.stage_opportunity, t.opportunities, t.opportunity_rate],
                 ["won", L.stage_won, t.won, t.win_rate]];
    var W = 760, bar = 34, gap = 10, left = 120, max = Math.max(1, t.new_leads);
    var s = svg(W, steps.length * (bar + gap) + 10);
    steps.forEach(function (st, i) {
      var y = 5 + i * (bar + gap);
      var width = Math.max(st[2] > 0 ? 2 : 0, Math.round((W - left - 190) * st[2] / max));
      s.appendChild(el("text", {x: left - 8, y: y + bar / 2 + 5, "text-anchor": "end",
                                "font-size": 13}, st[1]));
      s.appendChild(el("rect", {x: left, y: y, width: width, height: bar, rx: 3,
                                fill: COLORS[i], "class": "bar funnel-bar",
                                "data-stage": st[0], "data-value": st[2]}));
      var label = fmt(st[2]) +
        (st[3] === null ? "" : "  (" + L.of_previous + " " + pct(st[3]) + ")");
      s.appendChild(el("text", {x: left + width + 8, y: y + bar / 2 + 5, "font-size": 13,
                                "class": "funnel-label", "data-stage": st[0]}, label));
    });
    box.appendChild(s);
  }

  function bars(boxId, rows, series, title) {
    var box = document.getElementById(boxId);
    var W = 760, H = 240, left = 44, bottom = 40, top = 24;
    var max = 1;
    rows.forEach(function (r) { series.forEach(function (se) {
      max = Math.max(max, se.get(r) || 0); }); });
    var s = svg(W, H), slot = (W - left - 10) / Math.max(1, rows.length);
    var bw = Math.max(2, (slot - 6) / series.length);
    s.appendChild(el("text", {x: left, y: 14, "font-size": 12, "class": "legend"}, title));
    s.appendChild(el("line", {x1: left, y1: H - bottom, x2: W - 5, y2: H - bottom,
                              stroke: "#99a"}));
    s.appendChild(el("text", {x: left - 6, y: top + 4, "text-anchor": "end",
                              "font-size": 10}, fmt(max)));
    rows.forEach(function (r, i) {
      series.forEach(function (se, j) {
        var v = se.get(r) || 0, h = Math.round((H - top - bottom) * v / max);
        s.appendChild(el("rect", {x: left + i * slot + 3 + j * bw, y: H - bottom - h,
                                  width: bw - 1, height: h, fill: se.color,
                                  "class": "bar trend-bar", "data-series": se.key,
                                  "data-period": r.label, "data-value": v}));
      });
      if (rows.length <= 12 || i % Math.ceil(rows.length / 12) === 0) {
        s.appendChild(el("text", {x: left + i * slot + slot / 2, y: H - bottom + 14,
                                  "text-anchor": "middle", "font-size": 10}, r.label));
      }
    });
    series.forEach(function (se, j) {
      s.appendChild(el("rect", {x: left + j * 150, y: H - 14, width: 10, height: 10,
                                fill: se.color}));
      s.appendChild(el("text", {x: left + j * 150 + 14, y: H - 5, "font-size": 11},
                           se.name));
    });
    box.appendChild(s);
  }

  function lines(boxId, rows, series, title) {
    var box = document.getElementById(boxId);
    var W = 760, H = 220, left = 44, bottom = 40, top = 24, max = 0.0001;
    rows.forEach(function (r) { series.forEach(function (se) {
      var v = se.get(r); if (v !== null) { max = Math.max(max, v); } }); });
    var s = svg(W, H), step = (W - left - 20) / Math.max(1, rows.length - 1);
    s.appendChild(el("text", {x: left, y: 14, "font-size": 12, "class": "legend"}, title));
    s.appendChild(el("line", {x1: left, y1: H - bottom, x2: W - 5, y2: H - bottom,
                              stroke: "#99a"}));
    s.appendChild(el("text", {x: left - 6, y: top + 4, "text-anchor": "end",
                              "font-size": 10}, pct(max)));
    series.forEach(function (se, j) {
      var pts = [];
      rows.forEach(function (r, i) {
        var v = se.get(r);
        if (v === null) { return; }
        var x = left + i * step, y = H - bottom - (H - top - bottom) * v / max;
        pts.push(x.toFixed(1) + "," + y.toFixed(1));
        s.appendChild(el("circle", {cx: x, cy: y, r: 3, fill: se.color, "class": "point",
                                    "data-series": se.key, "data-period": r.label,
                                    "data-value": v}));
      });
      if (pts.length > 1) {
        s.appendChild(el("polyline", {points: pts.join(" "), fill: "none",
                                      stroke: se.color, "stroke-width": 2}));
      }
      s.appendChild(el("rect", {x: left + j * 150, y: H - 14, width: 10, height: 10,
                                fill: se.color}));
      s.appendChild(el("text", {x: left + j * 150 + 14, y: H - 5, "font-size": 11},
                           se.name));
    });
    box.appendChild(s);
  }

  function segment(box) {
    var rows = data.segments[box.getAttribute("data-dimension")] || [];
    var W = 760, bar = 16, gap = 6, left = 170, max = 0.0001;
    rows.forEach(function (r) { if (r.mql_rate !== null) { max = Math.max(max, r.mql_rate); } });
    var s = svg(W, rows.length * (bar + gap) + 8);
    rows.forEach(function (r, i) {
      var y = 4 + i * (bar + gap), v = r.mql_rate === null ? 0 : r.mql_rate;
      var width = Math.round((W - left - 200) * v / max);
      s.appendChild(el("text", {x: left - 8, y: y + bar - 3, "text-anchor": "end",
                                "font-size": 12}, r.label));
      s.appendChild(el("rect", {x: left, y: y, width: width, height: bar, fill: COLORS[0],
                                "class": "bar segment-bar", "data-segment": r.label,
                                "data-value": v}));
      s.appendChild(el("text", {x: left + width + 6, y: y + bar - 3, "font-size": 12},
                           L.mql_rate + " " + pct(r.mql_rate) + " (" + fmt(r.mqls) + " / " +
                           fmt(r.new_leads) + ")"));
    });
    box.appendChild(s);
  }

  funnel();
  bars("trend-chart", data.periods, [
    {key: "new_leads", name: L.new_leads, color: COLORS[0],
     get: function (r) { return r.new_leads; }},
    {key: "mqls", name: L.mqls_cohort, color: COLORS[1],
     get: function (r) { return r.mqls; }},
    {key: "new_mqls", name: L.new_mqls, color: COLORS[2],
     get: function (r) { return r.new_mqls; }},
    {key: "handoffs", name: L.handoffs, color: COLORS[3],
     get: function (r) { return r.handoffs; }}], L.trend_title);
  lines("rate-chart", data.periods, [
    {key: "mql_rate", name: L.mql_rate, color: COLORS[1],
     get: function (r) { return r.mql_rate; }},
    {key: "open_rate", name: L.email_open_rate, color: COLORS[0],
     get: function (r) { return r.engagement.open_rate; }},
    {key: "click_rate", name: L.email_click_rate, color: COLORS[2],
     get: function (r) { return r.engagement.click_rate; }},
    {key: "interest_to_comparison", name: L.interest_comparison, color: COLORS[3],
     get: function (r) { return r.interest_to_comparison.share; }}], L.rates);
  Array.prototype.forEach.call(document.querySelectorAll(".seg-chart"), segment);
  document.body.setAttribute("data-charts", "rendered");
};
"""

# The offline report: its data and labels are embedded in the page.
_DRAW_EMBEDDED = r"""
window.drawKpiCharts(JSON.parse(document.getElementById("kpi-data").textContent),
                     JSON.parse(document.getElementById("kpi-labels").textContent));
"""
