"""`connector report` end to end on the sandbox: the KPIs equal a hand count from the
sandboxes' own records, the agreement check finds a planted disagreement, and the HTML
renders its charts with data in a real headless Chromium (Debian package `chromium`).

Chromium comes from `CONNECTOR_TEST_CHROMIUM` (`.ci/run` installs it with
`scripts/ci-chromium.sh`), else `chromium` on PATH. Without it the browser test is skipped,
except under CI=true, where it fails: a broken install must not pass as green.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from app.kpi_report import build_report
from cli import main
from connectors.salesforce.client import SalesforceClient
from core.config import Settings, load_settings
from core.identity import canonical_email
from kpi.costs import load_costs
from kpi.export import report_dict
from kpi.html import render_html
from sync.runner import run_once
from tests.clock import DATA_UNTIL, HISTORY_START, REPORT_START
from tests.e2e.conftest import current_clock, settings_for, started

SINCE = HISTORY_START
REPORT_SINCE = REPORT_START
CHROMIUM_ENV = "CONNECTOR_TEST_CHROMIUM"


def cost_month() -> str:
    """A month inside every report window of these tests: the one before the data's end."""
    return (DATA_UNTIL.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def with_costs(tmp_path: Path, settings: Settings) -> Settings:
    """The shipped mappings with costs.toml spending in `cost_month()` (the shipped file's
    months are fixed; the tests' dates move with CONNECTOR_TEST_NOW), in the config file too."""
    mappings = tmp_path / "mappings-with-costs"
    shutil.copytree(settings.resolve(settings.sync.mappings_dir), mappings)
    entries = "".join(
        f'[[cost]]\nmonth = "{cost_month()}"\nchannel = "{channel}"\namount = {amount}\n\n'
        for channel, amount in (("PAID_SEARCH", 450000), ("PAID_SOCIAL", 200000))
    )
    (mappings / "costs.toml").write_text(f'currency = "JPY"\n\n{entries}', encoding="utf-8")
    config = tmp_path / "connector.toml"  # where settings_for wrote it
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r'mappings_dir = ".*"', f'mappings_dir = "{mappings}"', text))
    return load_settings(config)


@pytest.fixture
def synced(tmp_path: Path):
    sandbox = started(tmp_path)
    try:
        settings = with_costs(tmp_path, settings_for(sandbox, tmp_path))
        run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
        # The outcome pull of a run reads Salesforce before that run writes: the next sync
        # reads back what the backfill wrote (MQL_Status__c), for the agreement check.
        run_once(settings, kind="sync", clock=sandbox.clock)
        yield sandbox, settings
    finally:
        sandbox.stop()


def _month(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m")


def _hubspot_leads(sandbox: Any) -> dict[str, Any]:
    """Live sandbox contacts with a well-formed email, by contact id (no two share an email
    in the 120-contact seed; the first designed duplicate is contact 137)."""
    contacts = sandbox.hubspot.store.objects["contacts"]
    leads = {}
    for record in contacts.iter_live():
        email = contacts.value(record, "email") or ""
        if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email.strip()):  # not the malformed ones
            leads[str(record.id)] = record
    emails = [canonical_email(contacts.value(r, "email")) for r in leads.values()]
    assert len(emails) == len(set(emails))
    return leads


def test_report_numbers_equal_a_hand_count_from_the_sandboxes(synced) -> None:
    sandbox, settings = synced
    until = current_clock()() + timedelta(minutes=1)
    report = build_report(settings, until=until, since=REPORT_SINCE, period="month")
    periods = {p.label: p for p in report.periods}

    leads = _hubspot_leads(sandbox)
    new_by_month = Counter(_month(r.created_ms) for r in leads.values())
    assert {k: p.funnel.new_leads for k, p in periods.items() if p.funnel.new_leads} == dict(
        new_by_month
    )
    assert report.totals.funnel.new_leads == len(leads)

    attended = Counter()
    seen = set()
    for item in sandbox.hubspot.store.activity.participations:
        contact = str(item["associations"]["contact"].get("contactId"))
        event = item["associations"]["marketingEvent"]["marketingEventId"]
        if item["properties"]["attendanceState"] != "ATTENDED" or contact not in leads:
            continue
        if (contact, event) not in seen:
            seen.add((contact, event))
            attended[_month(int(item["properties"]["occurredAt"]))] += 1
    assert sum(attended.values()) > 0
    assert {
        k: p.engagement.webinar_attended
        for k, p in periods.items()
        if p.engagement.webinar_attended
    } == dict(attended)

    records = sandbox.salesforce.store.records
    mql_records = [
        r for obj in ("Lead", "Contact") for r in records(obj) if r.get("MQL_Status__c") == "MQL"
    ]
    tasks = [t for t in records("Task") if (t.get("Connector_Key__c") or "").startswith("mql:")]
    assert mql_records and tasks
    assert report.agreement is not None
    assert report.agreement.connector_mqls == report.agreement.salesforce_mqls == len(mql_records)
    assert report.agreement.differing == ()
    assert report.totals.handoffs == len(tasks)
    # Every lead MQL now was MQL at some time: the cohort counts at least those.
    assert report.totals.funnel.mqls >= len(mql_records)

    costs = load_costs(settings.resolve(settings.sync.mappings_dir))
    assert costs is not None
    month = cost_month()
    spent = sum((e.amount for e in costs.entries if e.month == month), Decimal(0))
    assert spent > 0 and periods[month].cost == spent
    assert report.currency == "JPY"

    # The JSON and the HTML carry the same numbers.
    data = report_dict(report)
    assert data["totals"]["new_leads"] == len(leads)
    page = render_html(report)
    assert 'data-differing="0"' in page


def test_agreement_check_lists_exactly_the_record_changed_in_salesforce(synced) -> None:
    sandbox, settings = synced
    records = sandbox.salesforce.store.records
    planted = sorted(
        (r for r in records("Lead") if r.get("MQL_Status__c") == "MQL"), key=lambda r: r["Id"]
    )[0]
    results = SalesforceClient(settings).update(
        "Lead", [{"Id": planted["Id"], "MQL_Status__c": "Not MQL"}]
    )
    assert results[0].success
    # The outcome pull reads what Salesforce shows now.
    run_once(settings, kind="sync", clock=current_clock())

    report = build_report(
        settings, until=current_clock()() + timedelta(minutes=1), since=REPORT_SINCE
    )
    assert report.agreement is not None
    (row,) = report.agreement.differing
    assert row.record_id == planted["Id"] and row.sobject == "Lead"
    assert row.key == canonical_email(planted["Email"])
    assert row.connector_mql is True and row.salesforce_status == "Not MQL"
    assert row.reason == "changed_in_salesforce"
    page = render_html(report)
    assert planted["Id"] in page and 'data-differing="1"' in page


def test_sales_outcomes_flow_into_sql_opportunity_and_win_kpis(synced) -> None:
    from app.demo import sales_follow_up
    from sync.outcomes import Funnel

    sandbox, settings = synced
    until = current_clock()() + timedelta(minutes=5)
    before = build_report(settings, until=until, since=REPORT_SINCE).totals
    worked = sales_follow_up(sandbox)  # one deal won, one open, one lead contacted
    assert len(worked) == 3
    already_sql = sum(1 for lead in worked if lead.get("Status") in Funnel().sql.lead_statuses)
    run_once(settings, kind="sync", clock=current_clock())
    after = build_report(settings, until=until, since=REPORT_SINCE).totals
    assert after.funnel.won - before.funnel.won == 1
    assert after.funnel.opportunities - before.funnel.opportunities == 2
    assert after.funnel.sqls - before.funnel.sqls == 3 - already_sql
    assert after.funnel.win_rate == 1.0
    assert after.mql_to_opportunity.count == 2 and after.mql_to_opportunity.median_days is not None


def test_report_command_writes_html_json_and_csv(synced, tmp_path: Path) -> None:
    config = tmp_path / "connector.toml"
    out = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(
        main,
        ["--config", str(config), "report", "--out", str(out),
         "--since", REPORT_SINCE.date().isoformat(), "--period", "week",
         "--segment", "channel=PAID_SEARCH", "--json", "--csv", str(tmp_path / "csv")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["window"]["segment"] == "channel=PAID_SEARCH" and data["window"]["period"] == "week"
    assert [r["label"] for r in data["segments"]["channel"]] == ["PAID_SEARCH"]
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == [
        "agreement.csv", "costs.csv", "deletions.csv", "periods.csv", "rejections.csv",
        "segments.csv",
        "speed_to_lead.csv",
    ]  # fmt: skip


def test_report_needs_no_salesforce_settings_while_sync_still_does(
    synced, tmp_path: Path
) -> None:
    # An analyst's copy of the config: state and mappings, no Salesforce sign-in.
    text = (tmp_path / "connector.toml").read_text(encoding="utf-8")
    config = tmp_path / "analyst.toml"
    config.write_text(re.sub(r"\[salesforce\]\n(?:[^\[\n].*\n|\n)*", "", text), encoding="utf-8")
    assert "[salesforce]" not in config.read_text(encoding="utf-8")

    report = CliRunner().invoke(main, ["--config", str(config), "report", "--json"])
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["totals"]["new_leads"] > 0

    sync = CliRunner().invoke(main, ["--config", str(config), "sync"])
    assert sync.exit_code == 2 and "salesforce: auth = 'jwt' needs username" in sync.output


def test_report_command_gives_clear_errors_for_bad_options(synced, tmp_path: Path) -> None:
    config = str(tmp_path / "connector.toml")
    bad_segment = CliRunner().invoke(main, ["--config", config, "report", "--segment", "x=y"])
    assert bad_segment.exit_code == 2 and "no dimension 'x'" in bad_segment.output
    assert "Traceback" not in bad_segment.output
    bad_date = CliRunner().invoke(main, ["--config", config, "report", "--since", "soon"])
    assert bad_date.exit_code == 2 and "not a date" in bad_date.output


def test_a_broken_costs_file_stops_the_report_with_file_and_line(synced, tmp_path: Path) -> None:
    _, settings = synced
    folder = tmp_path / "mappings"
    shutil.copytree(settings.resolve(settings.sync.mappings_dir), folder)
    (folder / "costs.toml").write_text('currency = "JPY"\n[[cost]]\nmonth = "May"\n')
    config = tmp_path / "connector.toml"
    text = config.read_text(encoding="utf-8")
    assert 'mappings_dir = "' in text
    config.write_text(re.sub(r'mappings_dir = ".*"', f'mappings_dir = "{folder}"', text))
    result = CliRunner().invoke(main, ["--config", str(config), "report", "--json"])
    assert result.exit_code == 2
    assert f"{folder / 'costs.toml'}:3: cost[0].month" in result.output
    validate = CliRunner().invoke(main, ["mappings", "validate", "--dir", str(folder)])
    assert validate.exit_code == 2 and "costs.toml:3" in validate.output


# ------------------------------------------------------------------------------ browser
def _chromium() -> str:
    found = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium")
    if found and Path(found).exists():
        return found
    if os.environ.get("CI") == "true":
        pytest.fail(
            f"Chromium not found ({CHROMIUM_ENV}={os.environ.get(CHROMIUM_ENV)!r}, no chromium "
            "on PATH): under CI=true the browser test must run; install it with "
            "scripts/ci-chromium.sh"
        )
    pytest.skip(f"no Chromium: set {CHROMIUM_ENV} or install the Debian package chromium")


def _browser(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-dev-shm-usage", "--virtual-time-budget=5000", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


class _Svg(HTMLParser):
    """Collects the attributes of every SVG rect and text the charts drew."""

    def __init__(self) -> None:
        super().__init__()
        self.rects: list[dict[str, str]] = []
        self.texts: list[tuple[dict[str, str], str]] = []
        self.body: dict[str, str] = {}
        self._text: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "rect":
            self.rects.append(values)
        elif tag == "text":
            self._text = values
        elif tag == "body":
            self.body = values

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self.texts.append((self._text, data))
            self._text = None


def _png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB/RGBA PNG (Chromium's)."""
    blob = path.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(blob):
        (length,) = struct.unpack(">I", blob[pos : pos + 4])
        kind, chunk = blob[pos + 4 : pos + 8], blob[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6)
    bpp = 3 if color == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytes(width * bpp)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = bytes(line)
    return width, bpp, rows


@pytest.mark.slow
def test_report_charts_render_with_data_in_headless_chromium(synced, tmp_path: Path) -> None:
    binary = _chromium()
    _, settings = synced
    report = build_report(
        settings, until=current_clock()() + timedelta(minutes=1), since=REPORT_SINCE,
        period="month",
    )  # fmt: skip
    page = tmp_path / "report.html"
    page.write_text(render_html(report), encoding="utf-8")

    dom = _browser(binary, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = _Svg()
    parsed.feed(dom.stdout)
    assert parsed.body.get("data-charts") == "rendered"  # the chart script ran to its end

    totals = report.totals.funnel
    funnel = [r for r in parsed.rects if "funnel-bar" in r.get("class", "")]
    expected = [totals.new_leads, totals.mqls, totals.sqls, totals.opportunities, totals.won]
    assert [r["data-stage"] for r in funnel] == [
        "new_leads", "mqls", "sqls", "opportunities", "won",
    ]  # fmt: skip
    assert [int(r["data-value"]) for r in funnel] == expected
    widths = [float(r["width"]) for r in funnel]
    assert widths[0] > widths[1] > 0  # data-driven sizes: more leads than MQLs
    assert widths[1] == pytest.approx(widths[0] * totals.mqls / totals.new_leads, abs=1.0)
    labels = {
        a["data-stage"]: text for a, text in parsed.texts if "funnel-label" in a.get("class", "")
    }
    assert labels["new_leads"].startswith(f"{totals.new_leads:,}")
    assert labels["mqls"].startswith(f"{totals.mqls:,}")

    trend = [r for r in parsed.rects if "trend-bar" in r.get("class", "")]
    assert len(trend) == 4 * len(report.periods)
    new_leads = {
        r["data-period"]: int(r["data-value"]) for r in trend if r["data-series"] == "new_leads"
    }
    assert new_leads == {p.label: p.funnel.new_leads for p in report.periods}
    assert any(float(r["height"]) > 0 for r in trend)
    segments = [r for r in parsed.rects if "segment-bar" in r.get("class", "")]
    assert len(segments) == sum(len(rows) for rows in report.segments.values())

    shot = tmp_path / "shot.png"
    taken = _browser(binary, "--window-size=1200,900", f"--screenshot={shot}", page.as_uri())
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    width, bpp, rows = _png_pixels(shot)
    # The funnel chart sits below the header and the KPI cards; its blue "new leads" bar
    # (#3b6fd8) must be painted there.
    blue = sum(
        1
        for row in rows[250:700]
        for x in range(0, width * bpp, bpp)
        if abs(row[x] - 0x3B) < 24 and abs(row[x + 1] - 0x6F) < 24 and abs(row[x + 2] - 0xD8) < 24
    )
    assert blue > 2000
    assert re.search(r"Lead funnel report", dom.stdout)
