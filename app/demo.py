"""`connector demo` / `make demo`: the whole product on the sandbox in about a minute.

1. start both sandboxes in-process and seed synthetic B2B data (the nurture scenario);
2. write a connector config pointing at them (JWT bearer login to Salesforce over TLS);
3. backfill the history through the sync engine;
4. let a few leads do what the seed article's scenario leads to (attend a webinar that just
   ended, request a consultation) and run an incremental sync, which must pick exactly that up;
5. let sales work three MQLs and sync the outcomes back;
6. the real-time hand-off: `connector serve` on a free loopback port receives the sandbox's
   signed webhooks; one more warm lead requests a consultation through the Forms submission
   endpoint, and the time until its Task is in Salesforce is measured (app.demo_handoff);
7. print what happened, checked against the Salesforce sandbox's own records, and write the
   KPI report.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.demo_handoff import realtime_step
from app.kpi_report import build_report, write_outputs
from app.setup_hubspot import run_setup
from app.texts import format_summary
from core.clock import Clock, system_clock
from core.config import load_settings
from sandbox.generator import generate
from sandbox.generator.hubspot import form_guids
from sandbox.serve import Sandbox, SandboxOptions, start_sandbox
from sync.runner import run_once

DEMO_SEED = 42
# The demo narrates in English; the run summaries it prints follow, dates in UTC.
NARRATION: dict[str, Any] = {"language": "en", "zone": "UTC"}
NEW_MQLS = 3


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _iso(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def pick_ready_leads(contacts: int, now: datetime, count: int) -> list[Any]:
    """Warm leads with a corporate email: the ones a webinar and a consultation make MQLs."""
    data = generate(contacts=contacts, seed=DEMO_SEED, now=now)
    chosen = [
        truth
        for truth in data.ground_truth()
        if truth.segment == "warm" and truth.email and not truth.duplicate_of
        and not truth.malformed_email
    ]
    return chosen[:count]


WEBINAR_ID = "49000000001"
WEBINAR_NAME = "スマートファクトリー実践ウェビナー: 導入事例"


def attend_webinar(
    sandbox: Sandbox, leads: list[Any], now: datetime, *, event_id: str = WEBINAR_ID,
    external_id: str = "80000042999", first: int = 0,
) -> int:
    """A webinar (`event_id`, the webinar tool's `external_id`) that just ended, attended by
    `leads`; participation ids are numbered from `first` (distinct per call)."""
    start, end = now - timedelta(minutes=70), now - timedelta(minutes=10)
    external = external_id
    participations = [
        {
            "id": f"59{first + n:09d}",
            "createdAt": _iso(now),  # the webinar tool reports attendance after the event
            "properties": {
                "attendanceState": "ATTENDED",
                "occurredAt": _ms(start + timedelta(minutes=1)),
                "attendanceDurationSeconds": 3300,
                "attendancePercentage": "91.7",
            },
            "associations": {
                "marketingEvent": {
                    "marketingEventId": event_id,
                    "name": WEBINAR_NAME,
                    "externalAccountId": "zoom-000042",
                    "externalEventId": external,
                },
                "contact": {"contactId": lead.hubspot_id, "email": lead.email},
            },
        }
        for n, lead in enumerate(leads)
    ]
    sandbox.hubspot.seed(
        {
            "marketing_events": [
                {
                    "id": event_id,
                    "objectId": event_id,
                    "eventName": WEBINAR_NAME,
                    "eventType": "WEBINAR",
                    "startDateTime": _iso(start),
                    "endDateTime": _iso(end),
                    "eventOrganizer": "Example Corp",
                    "eventCancelled": False,
                    "eventCompleted": True,
                    "externalAccountId": "zoom-000042",
                    "externalEventId": external,
                    "createdAt": _iso(start - timedelta(days=14)),
                }
            ],
            "participations": participations,
        }
    )
    return len(leads)


def inject_new_activity(sandbox: Sandbox, leads: list[Any], now: datetime) -> int:
    """A webinar that just ended, attended by `leads`, each then requesting a consultation."""
    attend_webinar(sandbox, leads, now)
    end = now - timedelta(minutes=10)
    consultation = form_guids(DEMO_SEED)["consultation_ja"]
    submissions = [
        {
            "formId": consultation,
            "conversionId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo:{lead.hubspot_id}")),
            "submittedAt": _ms(end + timedelta(minutes=5)),
            "values": [{"name": "email", "value": lead.email}],
            "pageUrl": "https://www.example-corp.jp/consultation",
        }
        for lead in leads
    ]
    sandbox.hubspot.seed({"form_submissions": submissions})
    return len(leads)


def salesforce_facts(sandbox: Sandbox) -> dict[str, int]:
    records = sandbox.salesforce.store.records
    scored = [
        r for obj in ("Lead", "Contact") for r in records(obj) if r.get("Lead_Score__c") is not None
    ]
    tasks = [t for t in records("Task") if t.get("Connector_Key__c")]
    keys = [t["Connector_Key__c"] for t in tasks]
    return {
        "records_with_score": len(scored),
        "mql_records": sum(1 for r in scored if r.get("MQL_Status__c") == "MQL"),
        "leads_created_by_connector": sum(
            1
            for r in records("Lead")
            if r.get("LeadSource") == "HubSpot" and r.get("HubSpot_Contact_Id__c")
        ),
        "tasks": len(tasks),
        "duplicate_task_keys": len(keys) - len(set(keys)),
    }


def account_facts(sandbox: Sandbox) -> dict[str, int]:
    """Accounts and companies the account pass wrote, read from the sandboxes."""
    accounts = [a for a in sandbox.salesforce.store.records("Account")
                if a.get("Account_Score__c") is not None]
    companies = [c for c in sandbox.hubspot.store.companies.live.values()
                 if c.props.get("connector_account_score") not in (None, "")]
    return {"salesforce_accounts": len(accounts), "hubspot_companies": len(companies),
            "buying_groups": sum(1 for a in accounts if a.get("Buying_Group__c"))}


def hubspot_agreement(sandbox: Sandbox) -> dict[str, int]:
    """Whether the HubSpot contacts hold the score and stage their Salesforce record holds
    (the write-back), checked against both sandboxes' own records."""
    contacts: dict[str, list[dict[str, str]]] = {}
    for record in sandbox.hubspot.store.contacts.live.values():
        email = (record.props.get("email") or "").lower()
        if email:
            contacts.setdefault(email, []).append(record.props)
    compared = agree = 0
    for obj in ("Lead", "Contact"):
        for r in sandbox.salesforce.store.records(obj):
            if r.get("Lead_Score__c") is None or not r.get("Email"):
                continue
            for props in contacts.get(r["Email"].lower(), []):
                compared += 1
                agree += int(
                    props.get("connector_lead_score") == str(int(r["Lead_Score__c"]))
                    and props.get("connector_lead_stage") == r.get("Lead_Stage__c")
                )
    scored = sum(
        1 for ps in contacts.values() for p in ps if p.get("connector_lead_score") is not None
    )
    return {"compared": compared, "agree": agree, "hubspot_contacts_scored": scored}


def sales_follow_up(sandbox: Sandbox) -> list[dict[str, Any]]:
    """What sales does with the first three MQL Leads (by Id): win a
    deal, open one, contact one; the outcome pull of the next sync reads it back, so the
    report's SQL, opportunity and win KPIs have data. Returns the Leads as they were."""
    from sandbox.salesforce.convert import convert_lead, edit

    leads = sorted(
        (
            r
            for r in sandbox.salesforce.store.records("Lead")
            if r.get("MQL_Status__c") == "MQL" and not r.get("IsConverted")
        ),
        key=lambda r: r["Id"],
    )[:3]
    today = sandbox.clock().date().isoformat()
    for n, lead in enumerate(leads):
        if n == 0:
            convert_lead(sandbox.salesforce, lead["Id"], opportunity_stage="Closed Won",
                         amount=3_000_000.0, close_date=today)
        elif n == 1:
            convert_lead(sandbox.salesforce, lead["Id"], opportunity_stage="Prospecting")
        else:
            edit(sandbox.salesforce, "Lead", lead["Id"], Status="Working - Contacted")
    return leads


def write_demo_report(
    settings: Any, workdir: Path, say: Callable[[str], None], now: datetime
) -> Path:
    """`connector report` on the demo's state: workdir/report.html and report-csv/."""
    report = build_report(settings, until=now, period="week")
    path = workdir / "report.html"
    write_outputs(report, html_path=path, csv_dir=workdir / "report-csv")
    t, agreement = report.totals, report.agreement
    rate = "-" if t.funnel.mql_rate is None else f"{t.funnel.mql_rate:.1%}"
    differ = "not checked" if agreement is None else f"{len(agreement.differing)} differ"
    say(
        f"\n6) KPI report: {t.funnel.new_leads} new leads, {t.funnel.mqls} MQLs ({rate}), "
        f"{t.funnel.sqls} SQLs, {t.handoffs} hand-offs; connector vs Salesforce MQLs: {differ}"
    )
    say(f"   open {path} in a browser (offline, one file); CSV tables in {workdir / 'report-csv'}")
    say(
        f"   the same KPIs live (ja/en, drill-down): connector --config "
        f"{workdir / 'connector.toml'} dashboard  (docs/dashboard.md)"
    )
    return path


def _realtime_handoff(
    sandbox: Sandbox, config: Path, contacts: int, now: datetime, workdir: Path, clock: Clock,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Step 5: one more warm lead, who attended the webinar, requests a consultation on the
    web site while `connector serve` runs; the Task follows within seconds."""
    extra = pick_ready_leads(contacts, now, NEW_MQLS + 1)[NEW_MQLS:]  # as seeded
    if not extra:
        say("\n5) real-time hand-off skipped: no fourth warm lead in so few contacts")
        return {"skipped": "no fourth warm lead"}
    (lead,) = extra
    attend_webinar(sandbox, [lead], clock(), event_id="49000000002",
                   external_id="80000042998", first=NEW_MQLS)
    say("\n5) real-time hand-off: connector serve runs; one more warm lead who attended a webinar "
        "requests a consultation on the web site (HubSpot Forms submission endpoint)")
    return realtime_step(sandbox, config, lead, clock, workdir,
                         form_guids(DEMO_SEED)["consultation_ja"], say)


def run_demo(
    *,
    contacts: int,
    workdir: Path,
    echo: Callable[[str], None] | None,
    clock: Clock = system_clock,
) -> dict[str, Any]:
    """Both sandboxes and every connector run share `clock` (core.clock): the demo tells the
    same story on any date."""
    say = echo or (lambda _line: None)
    workdir = workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)  # a demo always starts from nothing
    now = clock()
    options = SandboxOptions(workdir=workdir / "sandbox", tier="pro", clock=clock)
    with start_sandbox(options) as sandbox:
        seeded = sandbox.seed_demo(contacts, DEMO_SEED, now)
        activity_kinds = ("form_submissions", "email_events", "participations", "page_views",
                          "meetings")
        activities = sum(seeded["hubspot"].get(kind, 0) for kind in activity_kinds)
        say(
            f"sandbox: HubSpot {sandbox.hubspot_url}, Salesforce {sandbox.salesforce_url}; seeded "
            f"{seeded['hubspot'].get('contacts', 0)} contacts, {activities} activities, "
            f"{seeded['salesforce'].get('Lead', 0)} Salesforce Leads and "
            f"{seeded['salesforce'].get('Contact', 0)} Contacts"
        )
        state = workdir / "state" / "connector.db"
        config = sandbox.write_config(workdir / "connector.toml", state)
        # Scores, stages and MQL status go back onto the HubSpot contacts too.
        text = config.read_text(encoding="utf-8")
        # Account scores and buying groups too (off by default for existing orgs: their
        # Accounts need the fields `setup salesforce` lists first; the sandbox org has them
        # and setup below creates the HubSpot company properties).
        config.write_text(text.replace("[hubspot]\n", "[hubspot]\nwrite_back = true\n", 1)
                          + "\n[accounts]\nenabled = true\nwrite_hubspot = true\n")
        settings = load_settings(config)
        setup = run_setup(settings, check_only=False)
        created = sum(1 for c in setup["properties"] if c.status == "created")
        say(f"connector setup hubspot: group {setup['group']['name']} {setup['group']['status']}, "
            f"{created} contact properties created ({setup['hubspot_calls']} API calls)")

        say("\n1) backfill of the last 400 days")
        backfill = run_once(
            settings, kind="backfill", since=now - timedelta(days=400), clock=clock
        )
        say(format_summary(backfill.as_dict(), **NARRATION))
        after_backfill = salesforce_facts(sandbox)

        leads = pick_ready_leads(contacts, now, NEW_MQLS)
        injected = inject_new_activity(sandbox, leads, clock())
        say(f"\n2) {injected} warm leads attend a webinar and request a consultation; incremental "
            "sync")
        sync = run_once(settings, kind="sync", clock=clock)
        say(format_summary(sync.as_dict(), **NARRATION))

        say("\n3) the same sync again: nothing changed, so nothing is written")
        again = run_once(settings, kind="sync", clock=clock)
        say(format_summary(again.as_dict(), **NARRATION))
        facts = salesforce_facts(sandbox)
        agreement = hubspot_agreement(sandbox)
        accounts = account_facts(sandbox)

        worked = len(sales_follow_up(sandbox))
        say(f"\n4) sales works {worked} of the MQLs in Salesforce (one deal won, one open, one "
            "contacted); sync reads the outcomes back")
        # A converted Lead's link is dropped by the outcome pull, so its writes go to the
        # converted Contact: none is refused (CANNOT_UPDATE_CONVERTED_LEAD).
        outcomes = run_once(settings, kind="sync", clock=clock)
        say(format_summary(outcomes.as_dict(), **NARRATION))

        realtime = _realtime_handoff(sandbox, config, contacts, now, workdir, clock, say)

    ok = (
        facts["tasks"] >= 1
        and facts["duplicate_task_keys"] == 0
        and sync.new_mql_episodes >= 1
        and again.records_updated + again.leads_created + again.tasks_created == 0
        and again.leads_scored == 0
        and outcomes.write_failures == 0
        and agreement["compared"] > 0
        and agreement["agree"] == agreement["compared"]
        and again.hubspot_written == 0
        and again.accounts.get("salesforce_written", 0) == 0
        and backfill.accounts.get("salesforce_written", 0) > 0
        and bool(realtime.get("skipped")
                 or (realtime.get("tasks") == 1 and realtime.get("exit_code") == 0))
    )
    say(
        "\nSalesforce sandbox now holds: "
        f"{facts['records_with_score']} Leads/Contacts with a score, {facts['mql_records']} "
        f"marked MQL, {facts['leads_created_by_connector']} Leads created by the connector, "
        f"{facts['tasks']} follow-up Tasks ({facts['duplicate_task_keys']} duplicates)."
    )
    say(
        f"Accounts: {accounts['salesforce_accounts']} Salesforce Accounts and "
        f"{accounts['hubspot_companies']} HubSpot companies carry an account score; "
        f"{accounts['buying_groups']} with a buying group "
        f"(アカウントスコア: 取引先 {accounts['salesforce_accounts']} 件, "
        f"会社 {accounts['hubspot_companies']} 件)."
    )
    say(
        f"HubSpot write-back: {agreement['hubspot_contacts_scored']} contacts carry a score; "
        f"{agreement['agree']} of {agreement['compared']} contacts with a Salesforce record hold "
        "the same score and stage as Salesforce."
    )
    report_path = write_demo_report(settings, workdir, say, clock())
    say(f"demo {'OK' if ok else 'FAILED'}; config and state kept in {workdir}")
    return {
        "ok": ok,
        "workdir": str(workdir),
        "seeded": seeded,
        "backfill": backfill.as_dict(),
        "sync": sync.as_dict(),
        "second_sync": again.as_dict(),
        "outcome_sync": outcomes.as_dict(),
        "salesforce_after_backfill": after_backfill,
        "salesforce": facts,
        "report": str(report_path),
        "hubspot_agreement": agreement,
        "accounts": accounts,
        "realtime_handoff": realtime,
    }
