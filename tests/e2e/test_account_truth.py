"""Account roll-up against a generated history with a planted truth
(`sandbox.generator.accounts`), through the real pipeline on both sandboxes, with the shipped
`[account]` rules (diminishing, engaged at 30 points or 30 days, buying group: a director-or-
above and an engineer active within 30 days, MQL: two engaged including a director).

The expected values are counted here from the plan (roles, last activity, planted score
class) and the lead scores HubSpot shows, never from the connector's account code."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from app.setup_hubspot import run_setup
from core.clock import Clock
from sandbox.generator.accounts import AccountHistory, PlantedCompany, generate_accounts
from sandbox.serve import Sandbox
from sync.runner import open_store, run_once
from tests.clock import HISTORY_START, TEST_NOW
from tests.e2e.conftest import current_clock, settings_for, started

ENGAGED_SCORE = 30
WINDOW = timedelta(days=30)


def movable(base: Clock) -> tuple[Clock, Callable[[timedelta], None]]:
    shift = [timedelta(0)]

    def now() -> datetime:
        return base() + shift[0]

    def move(by: timedelta) -> None:
        shift[0] += by

    return now, move


def planted(tmp_path: Path, clock: Clock) -> tuple[Sandbox, AccountHistory]:
    sandbox = started(tmp_path, contacts=0, clock=clock)
    history = generate_accounts(17, TEST_NOW)
    sandbox.hubspot.seed(history.hubspot)
    sandbox.salesforce.seed(history.salesforce)
    return sandbox, history


def hand_count(sandbox: Sandbox, history: AccountHistory,
               now: datetime) -> dict[str, dict[str, Any]]:
    """Per planted company (by domain): score (diminishing over the lead scores HubSpot
    shows), engaged contacts, buying group, MQL."""
    contacts = sandbox.hubspot.store.contacts.live
    people: dict[str, list[tuple[int, bool, bool, bool, bool]]] = {}
    for c in history.contacts:
        company = history.account_of(c)
        if company is None:
            continue
        shown = int(contacts[int(c.hubspot_id)].props["connector_lead_score"])
        assert (shown >= ENGAGED_SCORE) == c.high, (c.email, shown)  # the plan holds
        recent = c.last_activity >= now - WINDOW
        people.setdefault(company.domain, []).append(
            (shown, c.high or recent, recent, c.director, c.engineer))
    out = {}
    for domain, group in people.items():
        scores = sorted((s for s, *_ in group), reverse=True)
        total = sum(s / (i + 1) for i, s in enumerate(scores))
        engaged = [p for p in group if p[1]]
        out[domain] = {
            "score": int(total + 0.5),
            "engaged": len(engaged),
            "buying_group": any(p[2] and p[3] for p in group)
            and any(p[2] and p[4] for p in group),
            "mql": len(engaged) >= 2 and any(p[3] for p in engaged),
        }
    return out


def on_salesforce(sandbox: Sandbox, company: PlantedCompany) -> dict[str, Any] | None:
    if company.salesforce_account_id is None:
        return None
    record = sandbox.salesforce.store.get("Account", company.salesforce_account_id)
    assert record is not None
    return {"score": record.get("Account_Score__c"),
            "engaged": record.get("Engaged_Contacts__c"),
            "buying_group": record.get("Buying_Group__c")}


def on_hubspot(sandbox: Sandbox, company: PlantedCompany) -> dict[str, Any] | None:
    if company.hubspot_id is None:
        return None
    props = sandbox.hubspot.store.companies.live[int(company.hubspot_id)].props
    score = props.get("connector_account_score")
    engaged = props.get("connector_engaged_contacts")
    return {"score": int(score) if score else None,
            "engaged": int(engaged) if engaged else None,
            "buying_group": {"true": True, "false": False}.get(
                props.get("connector_buying_group") or "")}


def assert_written(sandbox: Sandbox, history: AccountHistory,
                   expected: dict[str, dict[str, Any]]) -> None:
    for company in history.companies:
        want = expected.get(company.domain)
        fields = None if want is None else {k: want[k] for k in ("score", "engaged",
                                                                   "buying_group")}
        empty = {"score": None, "engaged": None, "buying_group": None}
        for side in (on_salesforce(sandbox, company), on_hubspot(sandbox, company)):
            if side is None:
                continue
            if fields is None:  # no planted member: nothing written
                assert side in (empty, {**empty, "buying_group": False}), company.domain
            else:
                assert side == fields, (company.domain, side, fields)


def configured(sandbox: Sandbox, tmp_path: Path) -> Any:
    """Write-back and accounts on; `setup hubspot` has created the properties."""
    base = settings_for(sandbox, tmp_path)
    settings = base.model_copy(update={
        "hubspot": base.hubspot.model_copy(update={"write_back": True}),
        "accounts": base.accounts.model_copy(update={"enabled": True,
                                                         "write_hubspot": True}),
    })
    run_setup(settings, check_only=False)
    return settings


def test_given_planted_history_accounts_and_companies_equal_the_planted_truth_and_a_buying_group_dissolves_once(  # noqa: E501
    tmp_path: Path,
) -> None:
    clock, move = movable(current_clock())
    sandbox, history = planted(tmp_path, clock)
    try:
        settings = configured(sandbox, tmp_path)
        first = run_once(settings, kind="backfill", since=HISTORY_START, clock=clock)
        expected = hand_count(sandbox, history, clock())
        a, b, c, d = (expected[f"planted-{x}.co.jp"] for x in "abcd")
        assert a["buying_group"] and a["mql"]  # 部長 3 days + engineer 25 days
        assert not b["buying_group"] and b["engaged"] == 2  # the 31-day director is out
        assert not c["buying_group"] and not c["mql"]  # 部長代理 is no director
        assert d["engaged"] == 2  # the unassociated engineer counts by domain
        assert_written(sandbox, history, expected)
        assert first.accounts["salesforce_written"] == sum(
            1 for co in history.companies
            if co.salesforce_account_id and co.domain in expected)

        # Six days on: planted-a's engineer (25 -> 31 days) and planted-b's 29.5-day contact
        # leave the window; nothing else changed, and only those accounts are written, once.
        move(timedelta(days=6))
        later = run_once(settings, kind="sync", clock=clock)
        after = hand_count(sandbox, history, clock())
        assert not after["planted-a.co.jp"]["buying_group"]
        assert after["planted-b.co.jp"]["engaged"] == 1
        assert_written(sandbox, history, after)
        changed = {dom for dom in after if after[dom] != expected[dom]}
        assert {"planted-a.co.jp", "planted-b.co.jp"} <= changed
        assert later.accounts["salesforce_written"] == sum(
            1 for co in history.companies
            if co.salesforce_account_id and co.domain in changed)
        again = run_once(settings, kind="sync", clock=clock)
        assert again.accounts.get("salesforce_written", 0) == 0
        assert again.accounts.get("hubspot_written", 0) == 0
    finally:
        sandbox.stop()


def test_given_leads_without_company_they_join_accounts_by_domain_but_never_by_free_mail(
    tmp_path: Path,
) -> None:
    sandbox, history = planted(tmp_path, current_clock())
    try:
        settings = configured(sandbox, tmp_path)
        run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
        expected = hand_count(sandbox, history, sandbox.clock())
        sf_only = [c for c in history.companies if c.hubspot_id is None]
        assert sf_only
        for company in sf_only:  # matched by the Account's Website only
            assert on_salesforce(sandbox, company) == {
                k: expected[company.domain][k] for k in ("score", "engaged", "buying_group")}
        unassociated = [c for c in history.contacts if c.company_id is None
                        and not c.email.endswith("@gmail.com")]
        assert any(history.account_of(c) and history.account_of(c).hubspot_id  # type: ignore[union-attr]
                   for c in unassociated)
        assert_written(sandbox, history, expected)
        free = sandbox.salesforce.store.get("Account", "0015g0000000990AAA")
        assert free is not None and free.get("Account_Score__c") is None
        free_company = sandbox.hubspot.store.companies.live[2_100_000_990].props
        assert free_company.get("connector_account_score") in (None, "")
    finally:
        sandbox.stop()


def test_given_account_rules_change_every_account_is_recomputed_on_the_next_run(
    tmp_path: Path,
) -> None:
    sandbox, history = planted(tmp_path, current_clock())
    try:
        base = configured(sandbox, tmp_path)
        folder = tmp_path / "mappings"
        shutil.copytree(base.resolve(base.sync.mappings_dir), folder)
        settings = base.model_copy(update={
            "sync": base.sync.model_copy(update={"mappings_dir": folder})})
        first = run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
        computed = first.accounts["accounts_computed"]
        rules = folder / "scoring.toml"
        text = rules.read_text(encoding="utf-8")
        assert 'method = "diminishing"' in text
        rules.write_text(text.replace('method = "diminishing"', 'method = "best"', 1),
                         encoding="utf-8")
        after = run_once(settings, kind="sync", clock=sandbox.clock)
        assert after.accounts["accounts_rules_changed"] >= computed  # marks
        assert after.accounts["accounts_computed"] == computed
        contacts = sandbox.hubspot.store.contacts.live
        best: dict[str, int] = {}
        for c in history.contacts:
            company = history.account_of(c)
            if company is not None:
                shown = int(contacts[int(c.hubspot_id)].props["connector_lead_score"])
                best[company.domain] = max(best.get(company.domain, 0), shown)
        for company in history.companies:
            side = on_salesforce(sandbox, company)
            if side is not None and company.domain in best:
                assert side["score"] == best[company.domain], company.domain
        again = run_once(settings, kind="sync", clock=sandbox.clock)
        assert "accounts_rules_changed" not in again.accounts
        assert again.accounts["accounts_computed"] == 0
    finally:
        sandbox.stop()


def test_given_an_org_without_the_buying_group_field_accounts_become_dead_letters_saying_setup(
    tmp_path: Path,
) -> None:
    sandbox, _ = planted(tmp_path, current_clock())
    try:
        settings = configured(sandbox, tmp_path)
        account = sandbox.salesforce.schema.objects["Account"]
        account.fields.pop("Buying_Group__c")  # an org where setup salesforce never ran
        account._by_lower.pop("buying_group__c")
        summary = run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
        assert summary.accounts["salesforce_written"] == 0
        assert summary.accounts["hubspot_written"] > 0  # the run went on
        with open_store(settings) as store:
            letters = [d for d in store.dead_letters() if d["lead_key"].startswith("account:")]
        assert letters and all(d["code"] == "INVALID_FIELD" for d in letters)
        assert all("Buying_Group__c" in d["message"]
                   and "connector setup salesforce" in d["message"] for d in letters)
    finally:
        sandbox.stop()
