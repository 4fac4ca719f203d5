"""costs.toml validation, the JSON/CSV export and the self-contained, escaped HTML."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from core.errors import ConfigError
from kpi.compute import compute
from kpi.costs import cost_problems, load_costs
from kpi.export import DEFINITIONS, csv_tables, report_dict
from kpi.html import embed_json, render_html
from kpi.model import Agreement, AgreementRow, CostEntry, Costs, LeadFacts, ReportWindow

REPO = Path(__file__).resolve().parents[2]
SINCE = datetime(2026, 9, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 1, tzinfo=UTC)
EVIL = '<script>alert("x")</script>'


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "costs.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_shipped_costs_file_is_valid() -> None:
    costs = load_costs(REPO / "mappings")
    assert costs is not None and costs.currency == "JPY" and costs.entries
    assert cost_problems(REPO / "mappings") == []


def test_missing_costs_file_means_no_costs(tmp_path: Path) -> None:
    assert load_costs(tmp_path) is None and cost_problems(tmp_path) == []


def test_every_costs_problem_names_file_line_and_key(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        'currency = "yen"\n'  # line 1
        "\n"
        "[[cost]]\n"  # line 3
        'month = "2026-13"\n'  # line 4
        'channel = "PAID_SERCH"\n'  # line 5
        "amount = -5\n"  # line 6
        "\n"
        "[[cost]]\n"
        'month = "2026-09"\n'
        'channel = "OFFLINE"\n'
        "amount = 1\n"
        "colour = 3\n",  # line 12
    )
    problems = cost_problems(folder)
    path = folder / "costs.toml"
    assert any(p.startswith(f"{path}:1: currency:") for p in problems)
    assert any(p.startswith(f"{path}:4: cost[0].month:") and "YYYY-MM" in p for p in problems)
    assert any(p.startswith(f"{path}:5: cost[0].channel:") and "PAID_SEARCH" in p for p in problems)
    assert any(p.startswith(f"{path}:6: cost[0].amount:") for p in problems)
    assert any(p.startswith(f"{path}:12: cost[1].colour:") for p in problems)


def test_the_same_month_channel_and_campaign_twice_is_an_error(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        'currency = "JPY"\n'
        '[[cost]]\nmonth = "2026-09"\nchannel = "OFFLINE"\namount = 1\n'
        '[[cost]]\nmonth = "2026-09"\nchannel = "OFFLINE"\namount = 2\n'
        '[[cost]]\nmonth = "2026-09"\nchannel = "OFFLINE"\ncampaign = "Expo"\namount = 3\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_costs(folder)
    assert caught.value.problems == [
        f"{folder / 'costs.toml'}:7: cost[1]: OFFLINE in 2026-09 is already listed in cost[0]; "
        "add the amounts up in one entry"
    ]


def test_broken_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    folder = write(tmp_path, "currency = \n")
    problems = cost_problems(folder)
    assert len(problems) == 1 and str(folder / "costs.toml") in problems[0]


def _report(**kw: object):
    lead = LeadFacts(
        key="evil@x.jp",
        created=datetime(2026, 9, 3, tzinfo=UTC),
        dimensions={"industry": EVIL, "channel": "PAID_SEARCH"},
        first_mql=datetime(2026, 9, 4, tzinfo=UTC),
    )
    agreement = Agreement(
        connector_mqls=1,
        salesforce_mqls=0,
        both=0,
        differing=(
            AgreementRow(
                key=f"{EVIL}@x.jp",
                sobject="Lead",
                record_id="00Q000000000001AAA",
                connector_mql=True,
                salesforce_status="Not MQL",
                written_status="MQL",
                reason="changed_in_salesforce",
                explanation="overwritten",
            ),
        ),
    )
    costs = Costs("JPY", (CostEntry("2026-09", "PAID_SEARCH", Decimal(1000), "=HYPERLINK()"),))
    return compute(
        [lead],
        ReportWindow(SINCE, UNTIL, "month", generated_at=UNTIL),
        dimensions=["industry", "channel"],
        costs=costs,
        agreement=agreement,
        **kw,  # type: ignore[arg-type]
    )


def test_json_has_stable_keys_exact_amounts_and_every_definition() -> None:
    data = report_dict(_report())
    assert list(data) == [
        "schema", "window", "currency", "outcomes_known", "totals", "periods", "segments",
        "costs", "agreement", "sla_hours", "speed_to_lead", "notes", "definitions", "tables",
    ]  # fmt: skip
    assert data["totals"]["cost"] == "1000.00" and data["totals"]["cost_per_lead"] == "1000.00"
    assert data["totals"]["mql_rate"] == 1.0
    assert data["agreement"]["differing"][0]["reason"] == "changed_in_salesforce"
    assert set(DEFINITIONS) >= {"mql_rate", "sql_rate", "win_rate", "cost_per_lead"}
    json.dumps(data)  # JSON-ready as is


def test_csv_has_one_table_each_and_defuses_spreadsheet_formulas() -> None:
    tables = csv_tables(_report())
    assert set(tables) == {
        "periods.csv", "segments.csv", "costs.csv", "agreement.csv", "speed_to_lead.csv"
    }
    periods = list(csv.DictReader(io.StringIO(tables["periods.csv"])))
    assert [p["label"] for p in periods] == ["2026-09", "2026-10"]
    assert periods[0]["new_leads"] == "1" and periods[0]["engagement_open_rate"] == ""
    costs = list(csv.DictReader(io.StringIO(tables["costs.csv"])))
    assert costs[0]["campaigns"] == "'=HYPERLINK()"
    segments = list(csv.DictReader(io.StringIO(tables["segments.csv"])))
    assert segments[0]["dimension"] == "total"
    assert {s["label"] for s in segments if s["dimension"] == "industry"} == {EVIL}


def test_html_is_self_contained_and_escapes_untrusted_values() -> None:
    page = render_html(_report())
    assert EVIL not in page  # neither in the tables nor in the embedded JSON
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert page.count("<script") == 3  # data, labels and chart code blocks, nothing injected
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    data = page.split('<script type="application/json" id="kpi-data">', 1)[1]
    data = data.split("</script>", 1)[0]
    assert json.loads(data)["segments"]["industry"][0]["label"] == EVIL


def test_embedded_json_cannot_close_its_script_element() -> None:
    text = embed_json({"a": "</script><b>&\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><b>&\u2028"}


def test_html_without_costs_or_agreement_says_why() -> None:
    report = compute(
        [], ReportWindow(SINCE, UNTIL, "week", generated_at=UNTIL), dimensions=["industry"]
    )
    page = render_html(report)
    assert "No costs file" in page and "No Salesforce records are stored yet" in page


def test_given_an_extra_table_it_appears_in_json_csv_and_escaped_html() -> None:
    from dataclasses import replace

    from kpi.model import ExtraTable

    table = ExtraTable(
        name="accounts",
        title={"en": "Accounts", "ja": "アカウント"},
        columns=({"en": "account", "ja": "アカウント"}, {"en": "score", "ja": "スコア"}),
        rows=(("<b>acme</b>", 42), ("=cmd()", None)),
    )
    report = replace(_report(), extra_tables=(table,))
    data = report_dict(report)
    assert data["tables"]["accounts"]["rows"] == [
        {"account": "<b>acme</b>", "score": 42},
        {"account": "=cmd()", "score": None},
    ]
    rows = list(csv.reader(io.StringIO(csv_tables(report)["accounts.csv"])))
    assert rows[0] == ["account", "score"]
    assert rows[1] == ["<b>acme</b>", "42"]
    assert rows[2][0].startswith("'")  # a formula is defused as in every other table
    page = render_html(report)
    assert '<section id="section-accounts"><h2>Accounts</h2>' in page
    assert "&lt;b&gt;acme&lt;/b&gt;" in page and "<b>acme</b></td>" not in page


def test_given_an_extra_table_with_a_ragged_row_it_is_refused() -> None:
    from kpi.model import ExtraTable

    with pytest.raises(ValueError, match="a row has 1 cells, not 2"):
        ExtraTable(
            name="x", title={"en": "X"}, columns=({"en": "a"}, {"en": "b"}), rows=(("1",),)
        )
    with pytest.raises(ValueError, match="use letters"):
        ExtraTable(name="../x", title={"en": "X"}, columns=(), rows=())
