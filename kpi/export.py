"""A `KpiReport` as JSON-ready data with stable keys, and as CSV tables. Pure: the caller
writes the text where it wants.

Amounts are strings with two decimals ("12500.00", exact), rates floats in [0, 1] rounded to
four places, dates ISO 8601; a KPI that cannot be computed (nothing to divide by, no costs
file) is null in JSON and empty in CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from kpi.compute import PROGRESSION_DAYS
from kpi.model import Agreement, CostRow, ExtraTable, KpiReport, Row

SCHEMA = "connector.kpi-report/1"

DEFINITIONS: Mapping[str, str] = {
    "new_leads": "leads (distinct normalised emails) created in the period (HubSpot createdate)",
    "mqls": "of the new leads, those that were MQL at any time up to the report's end",
    "mql_rate": "MQLs / new leads (cohort of the period)",
    "sqls": "of those MQLs, the ones sales accepted (a SQL Lead status, or any later step)",
    "sql_rate": "SQLs / MQLs",
    "opportunities": "of those SQLs, the ones with an opportunity (converted or on one)",
    "opportunity_rate": "opportunities / SQLs",
    "won": "of those opportunities, the ones closed won (lost: closed lost)",
    "win_rate": "won / (won + lost)",
    "new_mqls": "leads whose first MQL episode started in the period",
    "handoffs": "follow-up Tasks the connector created in the period (one per MQL episode)",
    "time_to_mql": "days from creation to the first MQL episode (cohort MQLs): median, mean",
    "mql_to_opportunity": "days from the first MQL episode to the opportunity: median, mean",
    "open_rate": "distinct emails opened / distinct emails delivered, in the period",
    "click_rate": "distinct emails clicked / distinct emails delivered, in the period",
    "webinar_registrations": "distinct (lead, webinar) participations in the period",
    "webinar_attended": "distinct (lead, webinar) attendances in the period",
    "whitepaper_downloads": "white-paper download form submissions in the period",
    "interest_to_comparison": (
        "leads that first reached the interest stage (or later) in the period; share = those "
        f"that reached comparison (or later) within {PROGRESSION_DAYS} days; open = still "
        "inside that window at the report's end"
    ),
    "cost": "costs.toml spend, each month spread evenly over its days",
    "cost_per_lead": "cost / new leads",
    "cost_per_mql": "cost / MQLs (cohort)",
    "agreement": (
        "leads linked to a Salesforce record: the connector's MQL decision against "
        "MQL_Status__c as Salesforce shows it"
    ),
    "speed_to_lead_handoffs": (
        "MQL episodes that started in the window, by the owner of the lead's record"
    ),
    "touched": (
        "hand-offs with a first touch: a completed Task, a logged call or a Lead status "
        "change on the record at or after the MQL"
    ),
    "median_first_touch_business_hours": (
        "median business hours ([sla] calendar: working days, Japanese holidays and closed "
        "days excluded) from MQL to first touch, touched hand-offs only"
    ),
    "breaches_open": "hand-offs still untouched after MQL + [sla] first_touch_hours",
    "breaches_closed": "hand-offs touched, but after the deadline",
}


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def row_dict(row: Row) -> dict[str, Any]:
    f, e, p = row.funnel, row.engagement, row.progression
    return {
        "label": row.label,
        "start": row.start.isoformat() if row.start else None,
        "end": row.end.isoformat() if row.end else None,
        "new_leads": f.new_leads,
        "mqls": f.mqls,
        "sqls": f.sqls,
        "opportunities": f.opportunities,
        "won": f.won,
        "lost": f.lost,
        "mql_rate": _rate(f.mql_rate),
        "sql_rate": _rate(f.sql_rate),
        "opportunity_rate": _rate(f.opportunity_rate),
        "win_rate": _rate(f.win_rate),
        "new_mqls": row.new_mqls,
        "handoffs": row.handoffs,
        "time_to_mql": {
            "count": row.time_to_mql.count,
            "median_days": row.time_to_mql.median_days,
            "mean_days": row.time_to_mql.mean_days,
        },
        "mql_to_opportunity": {
            "count": row.mql_to_opportunity.count,
            "median_days": row.mql_to_opportunity.median_days,
            "mean_days": row.mql_to_opportunity.mean_days,
        },
        "engagement": {
            "delivered": e.delivered,
            "opened": e.opened,
            "clicked": e.clicked,
            "open_rate": _rate(e.open_rate),
            "click_rate": _rate(e.click_rate),
            "webinar_registrations": e.webinar_registrations,
            "webinar_attended": e.webinar_attended,
            "attendance_rate": _rate(e.attendance_rate),
            "whitepaper_downloads": e.whitepaper_downloads,
        },
        "interest_to_comparison": {
            "reached_interest": p.reached_interest,
            "moved": p.moved,
            "open": p.open,
            "share": _rate(p.share),
        },
        "cost": _money(row.cost),
        "cost_per_lead": _money(row.cost_per_lead),
        "cost_per_mql": _money(row.cost_per_mql),
    }


def cost_dict(row: CostRow) -> dict[str, Any]:
    return {
        "month": row.month,
        "channel": row.channel,
        "campaigns": list(row.campaigns),
        "cost": _money(row.cost),
        "new_leads": row.new_leads,
        "mqls": row.mqls,
        "cost_per_lead": _money(row.cost_per_lead),
        "cost_per_mql": _money(row.cost_per_mql),
    }


def agreement_dict(agreement: Agreement | None) -> dict[str, Any] | None:
    if agreement is None:
        return None
    return {
        "connector_mqls": agreement.connector_mqls,
        "salesforce_mqls": agreement.salesforce_mqls,
        "both": agreement.both,
        "agree": not agreement.differing,
        "source": agreement.source,
        "differing": [
            {
                "lead": d.key,
                "sobject": d.sobject,
                "record_id": d.record_id,
                "connector_mql": d.connector_mql,
                "salesforce_status": d.salesforce_status,
                "written_status": d.written_status,
                "reason": d.reason,
                "explanation": d.explanation,
            }
            for d in agreement.differing
        ],
    }


def report_dict(report: KpiReport) -> dict[str, Any]:
    w = report.window
    return {
        "schema": SCHEMA,
        "window": {
            "since": w.since.isoformat(),
            "until": w.until.isoformat(),
            "period": w.period,
            "generated_at": w.generated_at.isoformat(),
            "segment": None if w.segment_filter is None else "=".join(w.segment_filter),
        },
        "currency": report.currency,
        "outcomes_known": report.outcomes_known,
        "totals": row_dict(report.totals),
        "periods": [row_dict(r) for r in report.periods],
        "segments": {d: [row_dict(r) for r in rows] for d, rows in report.segments.items()},
        "costs": [cost_dict(c) for c in report.costs],
        "agreement": agreement_dict(report.agreement),
        "sla_hours": report.sla_hours,
        "speed_to_lead": [r.as_dict() for r in report.speed_to_lead],
        "notes": list(report.notes),
        "definitions": dict(DEFINITIONS),
        "tables": {t.name: extra_table_dict(t) for t in report.extra_tables},
    }


def extra_table_dict(table: ExtraTable) -> dict[str, Any]:
    keys = table.keys()
    return {
        "title": dict(table.title),
        "columns": [dict(c) for c in table.columns],
        "note": dict(table.note),
        "rows": [dict(zip(keys, row, strict=True)) for row in table.rows],
    }


# ------------------------------------------------------------------------------ CSV
def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, name + "_"))
        elif isinstance(value, list):
            out[name] = ";".join(str(v) for v in value)
        else:
            out[name] = value
    return out


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    # A cell that a spreadsheet would run as a formula is quoted as text.
    formula = text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(text)
    return "'" + text if formula else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_tables(report: KpiReport) -> dict[str, str]:
    """File name -> CSV text: periods, segments (one row per dimension and value, totals
    first), costs and the agreement check's differing records."""
    data = report_dict(report)
    period_rows = [_flat(r) for r in data["periods"]]
    row_columns = list(_flat(data["totals"]))
    segment_rows = [{"dimension": "total", **_flat(data["totals"])}] + [
        {"dimension": d, **_flat(r)} for d, rows in data["segments"].items() for r in rows
    ]
    agreement = data["agreement"]
    tables = {
        "periods.csv": _csv(period_rows, row_columns),
        "segments.csv": _csv(segment_rows, ["dimension", *row_columns]),
        "costs.csv": _csv(
            [_flat(c) for c in data["costs"]],
            [
                "month",
                "channel",
                "campaigns",
                "cost",
                "new_leads",
                "mqls",
                "cost_per_lead",
                "cost_per_mql",
            ],
        ),
        "speed_to_lead.csv": _csv(
            data["speed_to_lead"],
            [
                "owner",
                "handoffs",
                "touched",
                "median_first_touch_business_hours",
                "breaches_open",
                "breaches_closed",
            ],
        ),
        "agreement.csv": _csv(
            [] if agreement is None else agreement["differing"],
            [
                "lead",
                "sobject",
                "record_id",
                "connector_mql",
                "salesforce_status",
                "written_status",
                "reason",
                "explanation",
            ],
        ),
    }
    for table in report.extra_tables:
        tables[f"{table.name}.csv"] = _csv(data["tables"][table.name]["rows"], table.keys())
    return tables
