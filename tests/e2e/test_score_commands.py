"""`connector score explain` and `connector score simulate` on a state store filled by a real
backfill against the sandbox, driven through the command line (click's CliRunner)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import cli
from core.config import load_settings
from sync.runner import open_store, run_once
from tests.clock import DATA_UNTIL, TEST_NOW, pinned_clock
from tests.e2e.conftest import settings_for, started
from tests.e2e.test_sync_end_to_end import SINCE

ROOT = Path(__file__).resolve().parents[2]
AT = DATA_UNTIL.isoformat()  # when the sandbox data were seeded (tests/e2e/conftest.py)
REPLAY_START = (TEST_NOW - timedelta(days=172)).date()  # a replay of about 25 weeks
REPLAY_FROM = REPLAY_START.isoformat()
REPLAY_FIRST_WEEK = "{}-W{:02d}".format(*REPLAY_START.isocalendar()[:2])
MQL_BAR = '{ score = "total", min = 50 },'


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A config whose state store holds a backfill of the sandbox's demo data."""
    folder = tmp_path_factory.mktemp("score")
    sandbox = started(folder, clock=pinned_clock())  # module-wide: not the test's clock
    try:
        run_once(settings_for(sandbox, folder), kind="backfill", since=SINCE, clock=sandbox.clock)
    finally:
        sandbox.stop()
    yield folder / "connector.toml"


def connector(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli.main, ["--config", str(config), "-q", *args])


def stored_leads(config: Path) -> tuple[list[str], dict[str, Any]]:
    with open_store(load_settings(config)) as store:
        emails = store.all_lead_emails()
        return emails, store.mql_states(emails)


def candidate_rules(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "candidate"
    shutil.copytree(ROOT / "mappings", folder)
    scoring = folder / "scoring.toml"
    text = scoring.read_text(encoding="utf-8")
    assert old in text
    scoring.write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


# ------------------------------------------------------------------------------ explain
def test_given_stored_leads_explain_rows_add_up_to_the_totals(config: Path) -> None:
    emails, states = stored_leads(config)
    mql = next(email for email, state in states.items() if state.qualified)
    for email in (mql, *emails[:5]):
        result = connector(config, "score", "explain", email, "--json", "--at", AT)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        rows = data["rules"]
        assert sum(Decimal(r["contribution"]) for r in rows) == Decimal(data["total"])
        for axis in ("engagement", "fit"):
            assert sum(Decimal(r["contribution"]) for r in rows if r["axis"] == axis) == Decimal(
                data[axis]
            )
        assert sum(Decimal(v) for v in data["groups"].values()) == Decimal(data["total"])
        assert data["email"] == email and data["scored_at"] == AT
        assert data["mql"]["decision"].startswith(("MQL", "not MQL"))
        assert data["segment"] == "/".join(data["segments"].values())


def test_given_a_stored_lead_explain_prints_a_table_that_says_the_same_as_the_json(
    config: Path,
) -> None:
    _, states = stored_leads(config)
    email = next(email for email, state in states.items() if state.qualified)

    data = json.loads(connector(config, "score", "explain", email, "--json").stdout)
    text = connector(config, "score", "explain", email)

    assert text.exit_code == 0, text.output
    assert data["rules"] and data["mql"]["state_before"] == "stored by the last run"
    lines = text.stdout.splitlines()
    assert any(line.split()[:2] == ["rule", "group"] for line in lines)
    for row in data["rules"]:
        assert any(
            line.split()[0] == row["rule"] and line.split()[-1] == row["contribution"]
            for line in lines
            if line.strip()
        ), row
    assert any(line.split() == ["total", data["total"]] for line in lines)
    assert f"grade {data['grade']}" in text.stdout
    assert data["mql"]["decision"] in text.stdout and data["stage"] in text.stdout


def test_given_the_email_typed_differently_explain_finds_the_lead(config: Path) -> None:
    email = stored_leads(config)[0][0]

    result = connector(config, "score", "explain", f"  {email.upper()} ", "--json", "--at", AT)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["email"] == email


def test_given_an_unknown_email_explain_exits_2_with_a_clear_message(config: Path) -> None:
    result = connector(config, "score", "explain", "nobody@nowhere.example")

    assert result.exit_code == 2
    assert "no lead with email 'nobody@nowhere.example'" in result.stderr
    assert result.stdout == ""


def test_given_no_state_file_explain_exits_2_and_creates_none(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[salesforce]\nauth = "session"\ninstance_url = "https://x"\nsession_id = "s"\n'
        f'[state]\npath = "state/connector.db"\n[sync]\nmappings_dir = "{ROOT / "mappings"}"\n'
    )

    result = connector(config, "score", "explain", "taro@example.com")

    assert result.exit_code == 2 and "no state at" in result.stderr
    assert not (tmp_path / "state").exists()


# ------------------------------------------------------------------------------ simulate
def simulate(config: Path, rules: Path, *extra: str) -> Result:
    return connector(
        config,
        "score",
        "simulate",
        "--rules",
        str(rules),
        "--since",
        REPLAY_FROM,
        "--until",
        AT,
        *extra,
    )


def test_given_a_higher_mql_threshold_simulate_reports_losses_and_no_gains(
    config: Path,
    tmp_path: Path,
) -> None:
    higher = candidate_rules(tmp_path, MQL_BAR, MQL_BAR.replace("50", "1000"))

    result = simulate(config, higher, "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["current"]["mqls_at_end"] > 0
    assert data["gained"] == []
    assert len(data["lost"]) == data["current"]["mqls_at_end"]
    for lost in data["lost"]:
        assert lost["current"]["decision"].startswith("MQL")
        assert lost["current"]["total"] == lost["candidate"]["total"]
        assert lost["candidate"]["decision"] == (
            f"not MQL: score_webinar_consultation: total {lost['candidate']['total']} "
            "is not >= 1000"
        )
    assert data["candidate"]["new_mqls"] == data["candidate"]["mqls_at_end"] == 0
    weeks = data["weeks"]
    assert weeks[0]["week"] == REPLAY_FIRST_WEEK and weeks[-1]["end"] == AT
    assert sum(w["current"]["new_mqls"] for w in weeks) == data["current"]["new_mqls"] > 0
    assert weeks[-1]["current"]["mqls_at_end"] == data["current"]["mqls_at_end"]
    # the backfill pulled the Salesforce outcomes: precision/recall are computed from them
    assert data["outcomes"] is not None and data["outcomes_note"].startswith("MQL = MQL at any")


def test_given_the_current_rules_as_candidate_simulate_changes_nothing(config: Path) -> None:
    result = simulate(config, ROOT / "mappings")

    assert result.exit_code == 0, result.output
    assert "would gain MQL status: 0" in result.stdout
    assert "would lose MQL status: 0" in result.stdout
    assert REPLAY_FIRST_WEEK in result.stdout
    assert "precision / recall against " in result.stdout


def test_given_broken_candidate_rules_simulate_exits_2_with_every_problem_and_its_line(
    config: Path,
    tmp_path: Path,
) -> None:
    broken = candidate_rules(
        tmp_path, 'kinds = ["whitepaper_download"]', 'kinds = ["whitepaper_downlod"]'
    )
    segments = broken / "segments.toml"
    segments.write_text(
        segments.read_text(encoding="utf-8").replace(
            'separator = "/"', 'separator = "/"\nseperator = "-"', 1
        ),
        encoding="utf-8",
    )
    kind_line = (broken / "scoring.toml").read_text(encoding="utf-8").splitlines().index(
        'kinds = ["whitepaper_downlod"]'
    ) + 1
    key_line = segments.read_text(encoding="utf-8").splitlines().index('seperator = "-"') + 1

    result = simulate(config, broken)

    assert result.exit_code == 2
    assert "candidate rules" in result.stderr and "2 problem(s)" in result.stderr
    assert f"scoring.toml:{kind_line}:" in result.stderr and "whitepaper_downlod" in result.stderr
    assert f"segments.toml:{key_line}:" in result.stderr and "seperator" in result.stderr
    assert "Traceback" not in result.output


def test_given_since_after_until_simulate_exits_2(config: Path) -> None:
    result = connector(
        config,
        "score",
        "simulate",
        "--rules",
        str(ROOT / "mappings"),
        "--since",
        (TEST_NOW + timedelta(days=11)).date().isoformat(),
        "--until",
        AT,
    )

    assert result.exit_code == 2 and "--since" in result.stderr


def test_given_sales_outcomes_simulate_reports_precision_and_recall(config: Path) -> None:
    from datetime import datetime

    from app.simulate import format_simulation, run_simulation

    settings = load_settings(config)
    emails, states = stored_leads(config)
    mqls = [email for email, state in states.items() if state.qualified]
    others = [email for email in emails if email not in mqls]
    outcomes = {mqls[0]: True, others[0]: True, others[1]: False}
    since = datetime.fromisoformat(REPLAY_FROM + "T00:00:00+00:00")

    data = run_simulation(settings, ROOT / "mappings", since, datetime.fromisoformat(AT), outcomes)

    report = data["outcomes"]
    assert (report["known"], report["positives"]) == (3, 2)
    assert report["current"] == report["candidate"]
    stats = report["current"]
    assert stats["hits"] >= 1  # the lead that is MQL now was MQL in the replay
    assert stats["precision"] == stats["hits"] / stats["flagged"]
    assert stats["recall"] == stats["hits"] / 2
    text = format_simulation(data)
    assert "precision / recall against 3 known sales outcomes (2 converted or won)" in text
