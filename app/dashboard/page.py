"""The dashboard's page: a shell (header, filters, language switch) whose script fetches
`/api/report` and puts in the report's own body (`kpi.html.render_body`, escaped on the
server) and charts (`kpi.html.CHARTS_JS`), so the page looks like `connector report`'s file.

No inline script or style: the page's Content-Security-Policy allows only this origin's
/static files and fetches (`CSP`). The script sets only textContent and attributes, except
the report body, which is server-rendered HTML with every value escaped. Values from HubSpot
(emails, segment values, owners) reach the page only through those two ways.
"""

from __future__ import annotations

from html import escape

from core.i18n import Language, t
from kpi.html import CSS as REPORT_CSS

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def page(language: Language, owners: list[str], period: str = "month") -> str:
    def label(key: str) -> str:
        return f'<span data-i18n="{key}">{_e(t(key, language))}</span>'

    owner_options = "".join(f'<option value="{_e(o)}">{_e(o)}</option>' for o in owners)
    return (
        f'<!DOCTYPE html><html lang="{language}" data-lang="{language}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width, '
        'initial-scale=1">'
        f'<title>{_e(t("dashboard", language))}</title>'
        '<link rel="stylesheet" href="/static/dashboard.css"></head><body>'
        f'<header><h1 data-i18n="dashboard">{_e(t("dashboard", language))}</h1>'
        '<p class="sub" id="subtitle"></p>'
        '<form id="filters" class="filters">'
        f'<label>{label("period")} <select name="period">'
        f'<option value="month"{" selected" if period == "month" else ""} data-i18n="month">'
        f'{_e(t("month", language))}</option>'
        f'<option value="week"{" selected" if period == "week" else ""} data-i18n="week">'
        f'{_e(t("week", language))}</option></select></label> '
        f'<label>{label("since")} <input type="date" name="since"></label> '
        f'<label>{label("until")} <input type="date" name="until"></label> '
        f'<label>{label("segment_is")} <select name="segment" id="segment">'
        f'<option value="" data-i18n="all">{_e(t("all", language))}</option></select></label> '
        f'<label>{label("owner")} <select name="owner" id="owner">'
        f'<option value="" data-i18n="all">{_e(t("all", language))}</option>{owner_options}'
        "</select></label> "
        f'<button type="submit" data-i18n="apply">{_e(t("apply", language))}</button>'
        '<span class="langs"><button type="button" class="lang" data-set-lang="ja">日本語'
        '</button><button type="button" class="lang" data-set-lang="en">English</button>'
        "</span></form>"
        f'<p class="live" id="live">{label("live")} <span id="updated"></span></p></header>'
        f'<main id="report" aria-live="polite"><p>{_e(t("loading", language))}</p></main>'
        '<aside id="drill" hidden><div class="drill-head"><h2 id="drill-title"></h2>'
        f'<button type="button" id="drill-close" data-i18n="close">{_e(t("close", language))}'
        '</button></div><p id="drill-count"></p><table id="drill-table"><thead></thead>'
        "<tbody></tbody></table></aside>"
        '<script src="/static/charts.js"></script><script src="/static/dashboard.js"></script>'
        "</body></html>"
    )


DASHBOARD_CSS = REPORT_CSS + """
.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:10px 0}
.filters label{font-size:12px;color:#5b6478}.langs{margin-left:auto}
.lang{margin-left:4px}.card.drill{cursor:pointer}.live{font-size:12px;color:#2aa57a;margin:0}
#drill{position:fixed;top:0;right:0;bottom:0;width:min(720px,95vw);overflow:auto;
background:#fff;border-left:1px solid #dde;box-shadow:-4px 0 16px rgba(0,0,0,.12);
padding:12px 16px}.drill-head{display:flex;justify-content:space-between;align-items:center}
#drill pre{white-space:pre-wrap;font-size:11px;background:#f5f6fa;padding:6px}
"""

# The dashboard's behaviour: filters, language switch, live updates, drill-down.
DASHBOARD_JS = r"""
(function () {
  "use strict";
  var root = document.documentElement;
  var lang = root.getAttribute("data-lang");
  var labels = {};
  var report = null;
  var form = document.getElementById("filters");
  var box = document.getElementById("report");
  function params(extra) {
    var q = new URLSearchParams();
    ["period", "since", "until", "segment", "owner"].forEach(function (k) {
      var v = form.elements[k].value; if (v) { q.set(k, v); } });
    q.set("lang", lang);
    for (var k in (extra || {})) {
      if (extra[k] !== null && extra[k] !== undefined) { q.set(k, extra[k]); } }
    return q.toString();
  }
  function relabel() {
    root.setAttribute("lang", lang); root.setAttribute("data-lang", lang);
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (n) {
      var text = labels[n.getAttribute("data-i18n")]; if (text) { n.textContent = text; } });
    document.title = labels.dashboard || document.title;
  }
  function segments(data) {
    var select = document.getElementById("segment"), keep = select.value;
    while (select.options.length > 1) { select.remove(1); }
    Object.keys(data.segments).forEach(function (dim) {
      data.segments[dim].forEach(function (row) {
        var o = document.createElement("option");
        o.value = dim + "=" + row.label; o.textContent = dim + ": " + row.label;
        select.appendChild(o); }); });
    select.value = keep;
  }
  function load() {
    return fetch("/api/report?" + params(), {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (body) {
        labels = body.labels; report = body.report;
        box.innerHTML = body.html;  // rendered and escaped by the server (kpi.html)
        document.getElementById("subtitle").innerHTML = body.subtitle;  // idem
        relabel();
        if (!form.elements.segment.value) { segments(report); }
        window.drawKpiCharts(report, labels);
        document.getElementById("updated").textContent = body.updated;
        document.body.setAttribute("data-version", String(body.version));
        document.body.setAttribute("data-loaded", String(Date.now()));
      })
      .catch(function (err) {
        document.getElementById("updated").textContent = (labels.error || "error") + " " + err;
      });
  }
  function cell(tr, text, tag) {
    var td = document.createElement(tag || "td"); td.textContent = text; tr.appendChild(td);
    return td;
  }
  function drill(node) {
    var metric = node.getAttribute("data-metric"), period = node.getAttribute("data-period");
    var segment = node.getAttribute("data-segment"), owner = node.getAttribute("data-owner");
    var panel = document.getElementById("drill");
    fetch("/api/leads?" + params({metric: metric, period_label: period || null,
                                  cell_segment: segment, owner: owner}),
          {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (body) {
        document.getElementById("drill-title").textContent =
          labels.leads_behind + ": " + (labels[metric] || metric) + " " +
          (segment || owner || period || labels.total);
        document.getElementById("drill-count").textContent =
          body.leads.length + " / " + body.count;
        panel.setAttribute("data-metric", metric); panel.setAttribute("data-period", period);
        panel.setAttribute("data-count", String(body.count));
        var head = panel.querySelector("thead"), rows = panel.querySelector("tbody");
        head.textContent = ""; rows.textContent = "";
        var h = document.createElement("tr");
        [labels.lead, labels.created, labels.first_mql, labels.owner, labels.explanation]
          .forEach(function (t) { cell(h, t, "th"); });
        head.appendChild(h);
        body.leads.forEach(function (lead) {
          var tr = document.createElement("tr"); tr.className = "drill-lead";
          tr.setAttribute("data-email", lead.email || "");
          cell(tr, lead.email || lead.key); cell(tr, lead.created_text);
          cell(tr, lead.first_mql_text || "–"); cell(tr, lead.owner_id || "–");
          var td = cell(tr, ""), det = document.createElement("details");
          var sum = document.createElement("summary"), pre = document.createElement("pre");
          sum.textContent = lead.score_text || labels.explanation;
          pre.textContent = lead.explanation || "–";
          det.appendChild(sum); det.appendChild(pre); td.appendChild(det);
          rows.appendChild(tr);
        });
        panel.hidden = false;
      })
      .catch(function (err) { window.alert((labels.error || "error") + " " + err); });
  }
  box.addEventListener("click", function (ev) {
    var node = ev.target.closest("[data-metric]"); if (node) { drill(node); } });
  box.addEventListener("keydown", function (ev) {
    var node = ev.target.closest("[data-metric]");
    if (node && ev.key === "Enter") { drill(node); } });
  document.getElementById("drill-close").addEventListener("click", function () {
    document.getElementById("drill").hidden = true; });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
  Array.prototype.forEach.call(document.querySelectorAll("[data-set-lang]"), function (b) {
    b.addEventListener("click", function () {
      lang = b.getAttribute("data-set-lang");
      // Remembered for a year: the next visit's page comes in this language (app.dashboard.web).
      document.cookie = "connector_lang=" + lang + "; Path=/; Max-Age=31536000; SameSite=Strict";
      load();
    });
  });
  var broken = false;
  function listen() {
    var source = new EventSource("/api/events");
    source.addEventListener("run", function () { load(); });
    source.onopen = function () { if (broken) { broken = false; load(); } };
    source.onerror = function () { broken = true; };  // EventSource reconnects by itself
  }
  load().then(listen);
})();
"""

__all__ = ["CSP", "DASHBOARD_CSS", "DASHBOARD_JS", "SECURITY_HEADERS", "page"]
