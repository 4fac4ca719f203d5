"""Rule versions, the shadow rule set and the score history through the real pipeline on
both sandboxes: several syncs with activities added between them, then `score compare`,
`score promote` and `score history` through the command line.

The shadow's MQL rule is the live one without its score bar and consultation: a webinar
attended within 60 days is enough. After a backfill (no shadow yet), four warm leads attend a
webinar; two of them (C, D) also ask for a consultation. The first sync with the shadow
processes only those four, so by hand: live MQLs {C, D}, shadow MQLs {A, B, C, D}: agreement
both = {C, D}, shadow only = {A, B}, live only = none. Sales outcomes set in the Salesforce
sandbox (opportunities for A, B, C; D disqualified) give the precision/recall by hand.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import cli
from app.demo import DEMO_SEED, attend_webinar, inject_new_activity, pick_ready_leads
from app.score_versions import promote_shadow
from core.config import Settings, load_settings
from core.identity import canonical_email
from sandbox.generator.hubspot import form_guids
from sandbox.salesforce.convert import convert_lead, edit
from sandbox.salesforce.dml import WriteOptions
from sandbox.serve import Sandbox
from sync import rule_versions
from sync.rule_versions import fingerprint
from sync.runner import open_store, run_once
from sync.score_store import LIVE, SHADOW
from sync.state import MIGRATIONS
from tests.clock import DATA_UNTIL, HISTORY_START
from tests.e2e.conftest import settings_for, started

ROOT = Path(__file__).resolve().parents[2]
LIVE_MQL = """when.all = [
  { score = "total", min = 50 },
  { activity = "webinar_attended", within_days = 60 },
  { activity = "consultation_request", within_days = 90 },
]"""
SHADOW_MQL = 'when.all = [{ activity = "webinar_attended", within_days = 60 }]'


def shadow_rules(tmp_path: Path) -> Path:
    folder = tmp_path / "mappings-shadow"
    shutil.copytree(ROOT / "mappings", folder)
    scoring = folder / "scoring.toml"
    text = scoring.read_text(encoding="utf-8")
    assert LIVE_MQL in text
    scoring.write_text(text.replace(LIVE_MQL, SHADOW_MQL, 1), encoding="utf-8")
    return folder


def own_mappings(sandbox: Sandbox, tmp_path: Path) -> Settings:
    """The sandbox config with a copy of the project's mappings: a promotion replaces the
    live rule files, and must not replace the project's."""
    settings_for(sandbox, tmp_path)
    live = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", live)
    config = tmp_path / "connector.toml"
    text = config.read_text(encoding="utf-8")
    assert f'mappings_dir = "{ROOT / "mappings"}"' in text
    config.write_text(
        text.replace(f'mappings_dir = "{ROOT / "mappings"}"', f'mappings_dir = "{live}"'),
        encoding="utf-8",
    )
    return load_settings(config)


def with_shadow(tmp_path: Path, folder: Path) -> Settings:
    config = tmp_path / "connector.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + f'\n[shadow]\nrules_dir = "{folder}"\n',
        encoding="utf-8",
    )
    return load_settings(config)


def connector(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli.main, ["--config", str(tmp_path / "connector.toml"), "-q",
                                         *args])


def sync_at(settings: Settings, moment: datetime, kind: Any = "sync") -> Any:
    return run_once(settings, kind=kind, clock=lambda: moment)


@pytest.fixture
def shadow_setup(tmp_path: Path) -> Any:
    sandbox = started(tmp_path)
    try:
        settings = own_mappings(sandbox, tmp_path)
        run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
        folder = shadow_rules(tmp_path)
        settings = with_shadow(tmp_path, folder)
        leads = pick_ready_leads(120, DATA_UNTIL, 4)
        now = sandbox.clock()
        attend_webinar(sandbox, leads[:2], now, event_id="49000000077",
                       external_id="80000077001", first=500)
        inject_new_activity(sandbox, leads[2:], now)
        first = now + timedelta(seconds=5)
        sync_at(settings, first)
        emails = [canonical_email(lead.email) for lead in leads]
        yield sandbox, settings, folder, emails, first
    finally:
        sandbox.stop()


def compare(tmp_path: Path) -> dict[str, Any]:
    result = connector(tmp_path, "score", "compare", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_given_a_lower_shadow_bar_compare_reports_its_extra_mqls_and_only_live_reaches_salesforce(
    shadow_setup: Any, tmp_path: Path
) -> None:
    sandbox, settings, folder, (a, b, c, d), _ = shadow_setup
    data = compare(tmp_path)
    assert data["leads_compared"] == 4
    agreement = data["agreement"]
    assert agreement["both_leads"] == sorted([c, d])
    assert agreement["shadow_only_leads"] == sorted([a, b])
    assert agreement["live_only_leads"] == [] and agreement["neither"] == 0
    assert data["live"]["mqls"] == 2 and data["shadow"]["mqls"] == 4
    assert data["shadow"]["version"] == fingerprint(folder).version
    assert data["live"]["version"] == fingerprint(tmp_path / "mappings").version
    # Both scores are stored, with their versions and MQL states; only the live one is written.
    with open_store(settings) as store:
        live = store.scores.latest([a, b, c, d], LIVE)
        shadow = store.scores.latest([a, b, c, d], SHADOW)
        assert {k for k, s in shadow.items() if s.is_mql} == {a, b, c, d}
        assert {k for k, s in live.items() if s.is_mql} == {c, d}
        assert all(s.version == data["shadow"]["version"] for s in shadow.values())
        assert store.tasks_for([a, b]) == {}
        assert not any(state.qualified for state in store.mql_states([a, b]).values())
    records = [r for obj in ("Lead", "Contact") for r in sandbox.salesforce.store.records(obj)]
    by_email = {canonical_email(r.get("Email")): r for r in records if r.get("Email")}
    for key in (a, b):
        record = by_email.get(key)
        assert record is None or record.get("MQL_Status__c") != "MQL"
    for key in (c, d):
        assert by_email[key]["MQL_Status__c"] == "MQL"
        assert float(by_email[key]["Lead_Score__c"]) == round(live[key].total)  # whole points


def test_given_a_second_sync_where_live_catches_up_compare_moves_the_lead_to_both(
    shadow_setup: Any, tmp_path: Path
) -> None:
    sandbox, settings, _, (a, b, c, d), first = shadow_setup
    later = first + timedelta(hours=2)
    consultation = form_guids(DEMO_SEED)["consultation_ja"]
    sandbox.hubspot.seed({"form_submissions": [{
        "formId": consultation,
        "conversionId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"shadow-test:{a}")),
        "submittedAt": int((later - timedelta(minutes=30)).timestamp() * 1000),
        "values": [{"name": "email", "value": a}],
        "pageUrl": "https://www.example-corp.jp/consultation",
    }]})
    sync_at(settings, later)
    data = compare(tmp_path)
    assert data["agreement"]["both_leads"] == sorted([a, c, d])
    assert data["agreement"]["shadow_only_leads"] == [b]
    assert data["live"]["mqls"] == 3 and data["shadow"]["mqls"] == 4


def test_given_promote_the_version_is_recorded_and_the_next_run_stores_it(
    shadow_setup: Any, tmp_path: Path
) -> None:
    _, settings, folder, emails, first = shadow_setup
    a = emails[0]
    old = fingerprint(tmp_path / "mappings").version
    new = fingerprint(folder).version
    result = connector(tmp_path, "score", "promote", "--reason", "webinar is enough", "--by",
                       "mori", "--json")
    assert result.exit_code == 0, result.output
    recorded = json.loads(result.stdout)
    assert recorded["version"] == new and recorded["previous"] == old
    live_dir = settings.resolve(settings.sync.mappings_dir)
    assert fingerprint(live_dir).version == new
    assert fingerprint(live_dir / ".versions" / old).version == old  # can be undone
    later = first + timedelta(hours=1)
    sync_at(settings, later, "rescore")
    with open_store(settings) as store:
        assert len(MIGRATIONS) == store._schema_version()
        row = store.scores.version(new)
        assert row["recorded_by"] == "mori" and row["reason"] == "webinar is enough"
        assert row["promoted_from"] == old
        stored = store.scores.latest(store.all_lead_emails(), LIVE)
        assert stored and {s.version for s in stored.values()} == {new}
        assert store.scores.latest([a], LIVE)[a].is_mql  # the promoted rule made A an MQL
    history = json.loads(connector(tmp_path, "score", "history", a, "--json").stdout)
    last = history["changes"][-1]
    assert "rule_version" in last["causes"] and last["previous"]["version"] == old
    assert history["versions"][new]["recorded_by"] == "mori"
    # Promoting again: nothing to promote (exit 2).
    again = connector(tmp_path, "score", "promote", "--reason", "again")
    assert again.exit_code == 2 and "already live" in again.output


def test_given_activity_then_time_history_names_each_cause(
    shadow_setup: Any, tmp_path: Path
) -> None:
    _, settings, _, emails, first = shadow_setup
    c = emails[2]
    sync_at(settings, first + timedelta(days=45), "rescore")  # no new activity: decay
    result = connector(tmp_path, "score", "history", c, "--json")
    assert result.exit_code == 0, result.output
    changes = json.loads(result.stdout)["changes"]
    causes = [change["causes"] for change in changes]
    assert causes[0] == ["first"]  # the backfill: one row for the lead
    assert causes[1] == ["activity"] and changes[1]["is_mql"]
    kinds = {activity["kind"] for activity in changes[1]["activities"]}
    assert {"webinar_attended", "consultation_request"} <= kinds
    assert causes[2] == ["decay"] and float(changes[2]["total"]) < float(changes[1]["total"])
    assert len(changes) == 3
    text = connector(tmp_path, "score", "history", c)
    assert "decay" in text.output and "new activity" in text.output


def test_given_an_unknown_email_or_no_shadow_the_commands_exit_2(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = own_mappings(sandbox, tmp_path)
    run_once(settings, kind="sync", clock=sandbox.clock)
    unknown = connector(tmp_path, "score", "history", "nobody@example.invalid")
    assert unknown.exit_code == 2 and "nobody@example.invalid" in unknown.output
    for args in (("compare",), ("promote", "--reason", "x")):
        result = connector(tmp_path, "score", *args)
        assert result.exit_code == 2 and "[shadow] rules_dir" in result.output
    broken = tmp_path / "broken"
    shutil.copytree(ROOT / "mappings", broken)
    (broken / "scoring.toml").write_text("[mql\n", encoding="utf-8")
    with_shadow(tmp_path, broken)
    result = connector(tmp_path, "score", "promote", "--reason", "x")
    assert result.exit_code == 2 and "scoring.toml:1" in result.output


def sales_lead(sandbox: Sandbox, email: str) -> str:
    """The Salesforce Lead with `email` (the connector wrote it), or one a rep enters by hand."""
    salesforce = sandbox.salesforce
    for record in salesforce.store.records("Lead"):
        if canonical_email(record.get("Email")) == email and not record.get("IsConverted"):
            return str(record["Id"])
    with salesforce.store.lock:
        return salesforce.dml.create(
            salesforce.schema.objects["Lead"],
            {"LastName": "営業入力", "Company": "手入力株式会社", "Email": email,
             "Status": "Open - Not Contacted"},
            WriteOptions(user_id=salesforce.default_user_id),
        )


def test_given_sales_outcomes_compare_reports_precision_and_recall_as_counted_by_hand(
    shadow_setup: Any, tmp_path: Path
) -> None:
    sandbox, settings, _, (a, b, c, d), first = shadow_setup
    # Sales open an opportunity for A, B and C (funnel.toml [backtest] positive: opportunity)
    # and disqualify D (Closed - Not Converted: lost, negative).
    for key in (a, b, c):
        convert_lead(sandbox.salesforce, sales_lead(sandbox, key),
                     opportunity_stage="Qualification")
    edit(sandbox.salesforce, "Lead", sales_lead(sandbox, d), Status="Closed - Not Converted")
    sync_at(settings, max(first, sandbox.clock()) + timedelta(minutes=5))  # the pull reads them
    data = compare(tmp_path)
    assert data["agreement"]["both_leads"] == sorted([c, d])  # unchanged by the outcomes
    assert data["agreement"]["shadow_only_leads"] == sorted([a, b])
    # By hand: known outcomes {A, B, C, D}, positives {A, B, C}.
    # live MQLs {C, D}: hits {C}: precision 1/2, recall 1/3.
    # shadow MQLs {A, B, C, D}: hits {A, B, C}: precision 3/4, recall 3/3.
    outcomes = data["outcomes"]
    assert (outcomes["known"], outcomes["positives"]) == (4, 3)
    assert (outcomes["live"]["flagged"], outcomes["live"]["hits"]) == (2, 1)
    assert outcomes["live"]["precision"] == pytest.approx(1 / 2)
    assert outcomes["live"]["recall"] == pytest.approx(1 / 3)
    assert (outcomes["shadow"]["flagged"], outcomes["shadow"]["hits"]) == (4, 3)
    assert outcomes["shadow"]["precision"] == pytest.approx(3 / 4)
    assert outcomes["shadow"]["recall"] == pytest.approx(1.0)
    text = connector(tmp_path, "score", "compare")
    assert "precision 50.0% (1 of 2 MQLs), recall 33.3%" in text.output, text.output
    assert "precision 75.0% (3 of 4 MQLs), recall 100.0%" in text.output, text.output


def test_given_a_broken_shadow_mappings_validate_names_its_file_line_and_exits_2(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    own_mappings(sandbox, tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(ROOT / "mappings", broken)
    (broken / "segments.toml").write_text("[[segment]]\nname = \n", encoding="utf-8")
    with_shadow(tmp_path, broken)
    result = connector(tmp_path, "mappings", "validate")
    assert result.exit_code == 2, result.output
    assert "shadow rules" in result.output and "segments.toml:2" in result.output
    data = json.loads(connector(tmp_path, "mappings", "validate", "--json").stdout)
    assert data["ok"] is False and data["problems"] == []  # the live mappings are fine
    assert data["shadow"]["ok"] is False
    assert any("segments.toml:2" in p for p in data["shadow"]["problems"])


def test_given_a_shadow_that_ran_status_shows_both_versions_and_since_when(
    shadow_setup: Any, tmp_path: Path
) -> None:
    _, _, folder, _, first = shadow_setup
    result = connector(tmp_path, "status", "--json")
    assert result.exit_code == 0, result.output
    rules = json.loads(result.stdout)["rules"]
    assert rules["live"]["version"] == fingerprint(tmp_path / "mappings").version
    assert rules["shadow"]["version"] == fingerprint(folder).version
    assert datetime.fromisoformat(rules["shadow"]["since"]) == first  # its first run
    assert datetime.fromisoformat(rules["live"]["since"]) < first  # the backfill's run
    text = connector(tmp_path, "status").output
    assert f"shadow rules / シャドールール {rules['shadow']['version']}" in text
    assert f"since {rules['shadow']['since']}" in text
    valid = connector(tmp_path, "mappings", "validate")
    assert valid.exit_code == 0 and "shadow rules ([shadow] rules_dir) are valid" in valid.output


class Crash(BaseException):
    """The promoting process dies (kill -9): nothing after it runs."""


def test_given_promote_dies_between_its_renames_the_next_sync_finishes_it_and_undo_puts_back(
    shadow_setup: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, settings, folder, _, first = shadow_setup
    live_dir = tmp_path / "mappings"
    old, new = fingerprint(live_dir).version, fingerprint(folder).version
    real, renames = rule_versions.os.replace, []

    def dies_on_second(source: Any, destination: Any) -> None:
        renames.append(destination)
        if Path(destination).parent == live_dir and len(
            [d for d in renames if Path(d).parent == live_dir]
        ) == 2:
            raise Crash
        real(source, destination)

    monkeypatch.setattr(rule_versions.os, "replace", dies_on_second)
    with pytest.raises(Crash):
        promote_shadow(settings, reason="webinar is enough", by="mori",
                       clock=lambda: first + timedelta(minutes=1))
    monkeypatch.undo()
    assert rule_versions.pending_swap(live_dir) is not None  # half-swapped, unrecorded
    assert (live_dir / ".versions" / ".incoming" / "segments.toml").exists()
    with open_store(settings) as store:
        assert store.scores.events() == []

    sync_at(settings, first + timedelta(hours=1), "rescore")  # the next run finishes it

    assert fingerprint(live_dir).version == new
    with open_store(settings) as store:
        events = store.scores.events()
        assert [(e["action"], e["version"], e["previous"], e["recorded_by"]) for e in events] \
            == [("promote", new, old, "mori")]
        assert {s.version for s in store.scores.latest(store.all_lead_emails(), LIVE).values()
                if s.scored_at > first} == {new}
    status = json.loads(connector(tmp_path, "status", "--json").stdout)["rules"]
    assert status["live"]["version"] == new
    assert datetime.fromisoformat(status["live"]["since"]) == first + timedelta(minutes=1)

    # The undo comes after the promotion on the timeline (the command's clock would
    # otherwise read the test's clock, which may still be before `first` + 1 minute).
    later = first + timedelta(hours=2)
    monkeypatch.setattr(cli, "_command_clock", lambda: (lambda: later))
    undo = connector(tmp_path, "score", "promote", "--undo", "--reason", "too many MQLs",
                     "--by", "sato", "--json")

    assert undo.exit_code == 0, undo.output
    assert fingerprint(live_dir).version == old
    with open_store(settings) as store:
        last = store.scores.events()[-1]
        assert (last["action"], last["version"], last["previous"]) == ("rollback", old, new)
        assert (last["recorded_by"], last["reason"]) == ("sato", "too many MQLs")
    assert fingerprint(live_dir / ".versions" / new).version == new  # redo: rollback NEW
    missing = connector(tmp_path, "score", "rollback", "0123456789ab", "--reason", "x")
    assert missing.exit_code == 2 and "not kept" in missing.output


def test_given_sales_disqualify_then_recycle_an_mql_history_names_the_sales_outcome(
    shadow_setup: Any, tmp_path: Path
) -> None:
    sandbox, settings, _, (_, _, c, _), first = shadow_setup
    lead_id = sales_lead(sandbox, c)
    edit(sandbox.salesforce, "Lead", lead_id, Status="Closed - Not Converted")  # [lost]
    # Runs just after the edits on the sandbox's clock: the pull's window (cursor minus the
    # overlap) reaches back to them.
    moment = max(first, sandbox.clock()) + timedelta(seconds=1)
    sync_at(settings, moment)
    time.sleep(1.1)  # SOQL date-time literals have whole seconds
    edit(sandbox.salesforce, "Lead", lead_id, Status="Open - Not Contacted")  # recycled
    sync_at(settings, max(moment, sandbox.clock()) + timedelta(seconds=1))

    result = connector(tmp_path, "score", "history", c, "--json")
    assert result.exit_code == 0, result.output
    changes = json.loads(result.stdout)["changes"]
    mql, lost, recycled = changes[-3:]
    assert mql["is_mql"] and mql["stage"] not in ("lost", "sql")
    assert lost["causes"] == ["sales_outcome"] and lost["stage"] == "lost"
    assert lost["sales_outcome"] == {"stage": "lost", "status": "Closed - Not Converted"}
    assert recycled["causes"] == ["sales_outcome"] and recycled["stage"] == mql["stage"]
    assert recycled["sales_outcome"] == {"stage": None, "status": "Open - Not Contacted"}
    text = connector(tmp_path, "score", "history", c).output
    assert "sales outcome (Closed - Not Converted)" in text
    assert "sales outcome (Open - Not Contacted)" in text
