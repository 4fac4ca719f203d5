"""Account scores and buying groups end to end, on both sandboxes through the real clients:
after a backfill, Salesforce Accounts and HubSpot companies carry the roll-up, equal to a hand
count made here from the sandboxes' own records (not from the connector's state)."""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from app.kpi_report import build_report
from app.setup_hubspot import run_setup
from cli import main
from core.config import Settings
from sandbox.serve import Sandbox
from sync.runner import open_store, run_once
from tests.clock import HISTORY_START
from tests.e2e.conftest import settings_for, started

ENGAGED = 25
DIRECTOR = re.compile(r"部長(?!代理|補佐)|本部長|事業部長|工場長|取締役|社長|director|vp|head of|"
                      r"ceo|cto|coo", re.IGNORECASE)
# A rule set whose roll-up can be counted from the sandboxes alone: engaged by score only
# (the activity window is a second), the best contact's score, MQL at two engaged contacts
# including a director-or-above.
ACCOUNT = f"""
[account]
method = "best"
engaged_score = {ENGAGED}
engaged_days = 0.00001

[[account.roles]]
name = "director_plus"
jobtitle_pattern = '{DIRECTOR.pattern}'

[[account.mql]]
id = "two_engaged_with_director"
min_engaged = 2
roles = ["director_plus"]
"""


def configured(sandbox: Sandbox, tmp_path: Path, **accounts: Any) -> Settings:
    settings = settings_for(sandbox, tmp_path)
    folder = tmp_path / "mappings"
    shutil.copytree(settings.resolve(settings.sync.mappings_dir), folder)
    text = (folder / "scoring.toml").read_text(encoding="utf-8")
    start = text.index("[account]")
    end = text.index("# ------", start)
    (folder / "scoring.toml").write_text(text[:start] + ACCOUNT + text[end:], encoding="utf-8")
    return settings.model_copy(update={
        "sync": settings.sync.model_copy(update={"mappings_dir": folder}),
        "hubspot": settings.hubspot.model_copy(update={"write_back": True}),
        "accounts": settings.accounts.model_copy(update={"enabled": True, **accounts}),
    })


def settings_file(settings: Settings, tmp_path: Path) -> Path:
    """The CLI's config: the sandbox's file with the test's mappings and sections added."""
    base = (tmp_path / "connector.toml").read_text(encoding="utf-8")
    path = tmp_path / "accounts.toml"
    base = re.sub(r'mappings_dir = ".*"', f'mappings_dir = "{settings.sync.mappings_dir}"',
                  base)
    path.write_text(base + "\n[accounts]\nenabled = true\n", encoding="utf-8")
    return path


def hand_count(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """Per HubSpot company id: the best score, engaged contacts and MQL, counted from the
    HubSpot sandbox's contacts (their written `connector_lead_score`, job title, company
    association). A lead is one e-mail: its most recently modified contact's company."""
    hs = sandbox.hubspot.store
    by_email: dict[str, Any] = {}
    for record in hs.contacts.live.values():
        email = (record.props.get("email") or "").lower()
        if not email or record.props.get("connector_lead_score") in (None, ""):
            continue
        best = by_email.get(email)
        if best is None or (record.props.get("lastmodifieddate") or "", record.id) > (
                best.props.get("lastmodifieddate") or "", best.id):
            by_email[email] = record
    members: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for record in by_email.values():
        companies = hs.associations.targets("contacts", "companies", record.id)
        if not companies:
            continue
        members[str(min(companies))].append(
            (float(record.props["connector_lead_score"]), record.props.get("jobtitle") or ""))
    out = {}
    for company, people in members.items():
        engaged = [t for s, t in people if s >= ENGAGED]
        out[company] = {
            "score": int(max(s for s, _ in people) + 0.5),
            "engaged": len(engaged),
            "mql": len(engaged) >= 2 and any(DIRECTOR.search(t) for t in engaged),
        }
    return out


def test_given_backfill_accounts_and_companies_carry_the_hand_counted_roll_up(
    tmp_path: Path,
) -> None:
    sandbox = started(tmp_path)
    try:
        settings = configured(sandbox, tmp_path, write_hubspot=True)
        setup = run_setup(settings, check_only=False)
        assert set(setup["company_properties"].values()) == {"created"}
        summary = run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
        expected = hand_count(sandbox)
        assert expected, "the seed has companies with scored contacts"
        assert summary.accounts["accounts_computed"] >= len(expected)

        companies = sandbox.hubspot.store.companies.live
        for company_id, want in expected.items():
            props = companies[int(company_id)].props
            assert props.get("connector_account_score") == str(want["score"]), company_id
            assert props.get("connector_engaged_contacts") == str(want["engaged"]), company_id

        accounts_by_domain = {
            re.sub(r"^https?://(www\.)?", "", a["Website"]).strip("/"): a
            for a in sandbox.salesforce.store.records("Account") if a.get("Website")
        }
        written = 0
        for company_id, want in expected.items():
            domain = companies[int(company_id)].props.get("domain")
            account = accounts_by_domain.get(domain or "")
            if account is None:
                continue
            written += 1
            assert account["Account_Score__c"] == want["score"], domain
            assert account["Engaged_Contacts__c"] == want["engaged"], domain
        assert written > 0

        with open_store(settings) as store:
            mqls = {a.company_id for a in store.accounts.top() if a.result["mql"]}
        assert mqls == {c for c, want in expected.items() if want["mql"]}

        # The report's accounts table and `connector accounts --json` list the same accounts.
        report = build_report(settings, until=sandbox.clock())
        table = next(t for t in report.extra_tables if t.name == "accounts")
        assert table.title["ja"] and table.rows
        assert [row[2] for row in table.rows] == sorted(
            (want["score"] for want in expected.values()), reverse=True)[: len(table.rows)]
        config = settings_file(settings, tmp_path)
        listed = CliRunner().invoke(main, ["--config", str(config), "accounts", "--json"])
        assert listed.exit_code == 0, listed.output
        rows = json.loads(listed.output)
        assert {r["hubspot_company_id"]: r["score"] for r in rows} == {
            c: want["score"] for c, want in expected.items()} | {
            r["hubspot_company_id"]: r["score"] for r in rows if r["hubspot_company_id"] is None}

        # Nothing changed: a second run writes nothing more.
        again = run_once(settings, kind="sync", clock=sandbox.clock)
        assert again.accounts.get("salesforce_written", 0) == 0
        assert again.accounts.get("hubspot_written", 0) == 0
    finally:
        sandbox.stop()
