"""Salesforce API calls of the write path, per 1,000 changed leads, against a naive writer.

Two scenarios, each run through the real `Pipeline` write half (`_process_dirty`: identity,
planner, `SalesforceSink`, writer, outbox) with the real `SalesforceClient` against the
Salesforce sandbox over HTTPS; HubSpot extraction is left out (leads are stored in state and
marked, as extraction leaves them) and scores come from a deterministic stub scorer:

1. incremental: N changed leads (default 1,000), mixed: 30% matching Contacts, 30% open Leads,
   10% converted Leads (their Contact has no email: found through ConvertedContactId), 30%
   with no record; 5% are MQLs (a Lead is created for those without a record, and every MQL
   gets one Task). Measured cold (no links in state) and warm (a previous run linked them,
   then every score changed).
2. backfill: M leads (default 1,000,000) marked at once in a backfill run, the same mix.

Calls are counted twice: by the sandbox (`GET /_sandbox/stats`, minus the token endpoint,
which is not an API call) and by the client (`SalesforceClient.total_calls`).

The naive writer (written here) does what a one-record-at-a-time integration does: per lead,
query Contact by email, then Lead by email when no Contact, then PATCH the record (or POST a
Lead for an MQL without one), and POST one Task per MQL. It runs on the same data in a fresh
org; for the backfill it runs on a sample (`--naive-sample`) and is extrapolated (labelled).

    .venv/bin/python bench/bench_sf_calls.py                         # 1,000 + 1,000,000
    .venv/bin/python bench/bench_sf_calls.py --backfill 100000       # a smaller backfill

Exit status 1 if a target is missed (<= 10 calls per 1,000 incremental, <= 60 calls for the
1,000,000-record backfill; a smaller backfill is judged against 60 as well).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.salesforce.client import SalesforceClient
from core.config import Settings, load_settings
from core.models import Activity, Company, Contact
from sandbox.serve import PROJECT_MAPPINGS, Sandbox, SandboxOptions, start_sandbox
from scoring import MqlState
from sync.fieldmap import load_field_map
from sync.pipeline import Pipeline
from sync.ports import BATCH_SIZE, RunOptions
from sync.sink import SalesforceSink
from sync.state import StateStore

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
INCREMENTAL_TARGET = 10  # calls per 1,000 changed leads
BACKFILL_TARGET = 60  # calls for the 1,000,000-record backfill


# ---------------------------------------------------------------------- synthetic data


def kind_of(i: int) -> str:
    bucket = i % 10
    if bucket < 3:
        return "contact"
    if bucket < 6:
        return "lead"
    if bucket == 6:
        return "converted"
    return "none"


def is_mql(i: int) -> bool:
    return i % 20 in (3, 7)  # an open Lead and a lead without a record, 5% each... of 20


def email(i: int) -> str:
    return f"lead{i:07d}@bench.example.com"


def salesforce_seed(count: int) -> dict[str, list[dict[str, Any]]]:
    """The org before the run: Contacts, Leads, converted Leads whose Contact has no email."""
    contacts: list[dict[str, Any]] = []
    leads: list[dict[str, Any]] = []
    for i in range(count):
        kind = kind_of(i)
        if kind == "contact":
            contacts.append({"LastName": f"C{i}", "Email": email(i)})
        elif kind == "lead":
            leads.append({"LastName": f"L{i}", "Company": "Bench", "Email": email(i)})
    return {"Contact": contacts, "Lead": leads}


def seed_converted(sandbox: Sandbox, count: int) -> None:
    """Converted Leads: a Contact without email, and the Lead pointing at it."""
    ids = [i for i in range(count) if kind_of(i) == "converted"]
    sb = sandbox.salesforce
    sb.seed({"Contact": [{"LastName": f"K{i}", "Description": f"k{i}"} for i in ids]})
    by_name = {r["LastName"]: r["Id"] for r in sb.store.records("Contact") if not r.get("Email")}
    sb.seed(
        {
            "Lead": [
                {
                    "LastName": f"V{i}",
                    "Company": "Bench",
                    "Email": email(i),
                    "IsConverted": True,
                    "ConvertedContactId": by_name[f"K{i}"],
                    "Status": "Closed - Converted",
                }
                for i in ids
            ]
        }
    )


@dataclass
class StubScore:
    total: float
    fit: float
    engagement: float
    grade: str
    segment: str
    stage: str
    is_mql: bool
    mql_reason: str | None
    mql_since: datetime | None
    disqualified_by: Sequence[str] = field(default_factory=tuple)


class StubScorer:
    """Deterministic scores; `bump` moves every score (a changed lead)."""

    def __init__(self, bump: int = 0) -> None:
        self.bump = bump

    def score(
        self,
        contact: Contact,
        company: Company | None,
        activities: Sequence[Activity],
        now: datetime,
        previous: MqlState | None,
    ) -> tuple[StubScore, MqlState, Callable[[], str]]:
        i = int(contact.hubspot_id)
        mql = is_mql(i)
        total = 20 + i % 30 + self.bump + (40 if mql else 0)
        score = StubScore(
            total=total,
            fit=10 + i % 5,
            engagement=total - 10 - i % 5,
            grade="A1" if mql else "C3",
            segment="manufacturing/1000+/director/engaged",
            stage="MQL" if mql else "Interest",
            is_mql=mql,
            mql_reason="webinar + consultation" if mql else None,
            mql_since=now if mql else None,
        )
        episode = (previous.episode if previous else 0) + (
            1 if mql and not (previous and previous.qualified) else 0
        )
        state = MqlState(episode, mql, now if mql else None, "bench" if mql else None)
        return score, state, lambda: f"score {total}"


class NoSource:
    """No HubSpot: the leads are in state already, as extraction leaves them."""

    def __init__(self) -> None:
        self.problems: list[Any] = []

    def contacts_by_ids(self, ids: Any) -> list[Contact]:
        return []

    def contacts_by_emails(self, emails: Any) -> list[Contact]:
        return []

    def companies(self, ids: Any) -> dict[str, Company]:
        return {}


def store_leads(store: StateStore, count: int) -> None:
    for start in range(0, count, 10_000):
        contacts = [
            Contact(
                str(i),
                email(i),
                {
                    "firstname": f"F{i}",
                    "lastname": f"N{i}",
                    "company": "Bench",
                    "jobtitle": "Director",
                },
                updated_at=NOW,
            )
            for i in range(start, min(count, start + 10_000))
        ]
        store.store_page(contacts=contacts, dirty=[f"c:{c.hubspot_id}" for c in contacts])


# ---------------------------------------------------------------------- measuring


def sf_stats(sandbox: Sandbox) -> dict[tuple[str, str], int]:
    answer = requests.get(
        sandbox.salesforce_url + "/_sandbox/stats",
        verify=str(sandbox.certificate.cert_path),
        timeout=60,
    ).json()
    return {(c["method"], c["route"]): c["count"] for c in answer["calls"]}


def api_calls(
    before: dict[tuple[str, str], int], after: dict[tuple[str, str], int]
) -> dict[str, int]:
    out = {}
    for key, value in after.items():
        delta = value - before.get(key, 0)
        if delta and "oauth2" not in key[1]:
            out[f"{key[0]} {key[1].replace('/services/data/v{version}/', '')}"] = delta
    return out


def reset(sandbox: Sandbox) -> None:
    requests.post(
        sandbox.salesforce_url + "/_sandbox/reset",
        verify=str(sandbox.certificate.cert_path),
        timeout=60,
    )


def seed(sandbox: Sandbox, count: int) -> None:
    reset(sandbox)
    for name, records in salesforce_seed(count).items():
        for start in range(0, len(records), 50_000):
            sandbox.salesforce.seed({name: records[start : start + 50_000]})
    seed_converted(sandbox, count)


@dataclass
class Measured:
    label: str
    leads: int
    sandbox_calls: int
    client_calls: int
    routes: dict[str, int]
    seconds: float
    summary: dict[str, Any]

    @property
    def per_1000(self) -> float:
        return self.sandbox_calls * 1000 / self.leads


def run_connector(
    sandbox: Sandbox,
    settings: Settings,
    workdir: Path,
    count: int,
    *,
    kind: str,
    warm: bool,
    label: str,
) -> Measured:
    state = StateStore(workdir / f"{label}.db")
    field_map = load_field_map(settings.resolve(settings.sync.mappings_dir))
    client = SalesforceClient(settings)
    sink = SalesforceSink(client, field_map, settings)
    pipeline = Pipeline(
        store=state,
        source=NoSource(),
        sink=sink,
        scorer=StubScorer(),
        field_map=field_map,
        clock=lambda: NOW,
        bulk_backfill_from=settings.sync.bulk_threshold,
    )
    batch = settings.sync.backfill_batch_size if kind == "backfill" else BATCH_SIZE
    options = RunOptions(kind=kind, extract=False, batch_size=batch)  # type: ignore[arg-type]
    store_leads(state, count)
    if warm:  # a previous run linked every lead and wrote its values; then scores change
        pipeline.run(options)
        pipeline.scorer = StubScorer(bump=7)
        state.mark_all_dirty()
    before, client_before = sf_stats(sandbox), client.total_calls
    started = time.monotonic()
    summary = pipeline.run(options).as_dict()
    seconds = time.monotonic() - started
    routes = api_calls(before, sf_stats(sandbox))
    state.close()
    return Measured(
        label,
        count,
        sum(routes.values()),
        client.total_calls - client_before,
        routes,
        seconds,
        summary,
    )


# ---------------------------------------------------------------------- the naive writer


def run_naive(sandbox: Sandbox, settings: Settings, count: int, label: str) -> Measured:
    """Per lead: query Contact, else Lead, by email; PATCH it (or POST a Lead for an MQL
    without a record); POST a Task per MQL. Plain REST through the same client's session."""
    client = SalesforceClient(settings)
    sf = client._salesforce()
    scorer = StubScorer(bump=7)
    before = sf_stats(sandbox)
    started = time.monotonic()
    for i in range(count):
        address = email(i)
        score, _, _ = scorer.score(Contact(str(i), address), None, (), NOW, None)
        values = {
            "Lead_Score__c": score.total,
            "Lead_Stage__c": score.stage,
            "MQL_Status__c": "MQL" if score.is_mql else "Not MQL",
        }
        found = sf.query(f"SELECT Id FROM Contact WHERE Email = '{address}'")["records"]
        sobject = "Contact"
        if not found:
            found = sf.query(
                f"SELECT Id, IsConverted, ConvertedContactId FROM Lead WHERE Email = '{address}'"
            )["records"]
            sobject = "Lead"
        who = None
        if found:
            record = found[0]
            if record.get("IsConverted") and record.get("ConvertedContactId"):
                sobject, who = "Contact", record["ConvertedContactId"]
            else:
                who = record["Id"]
            sf.restful(f"sobjects/{sobject}/{who}", method="PATCH", json=values)
        elif score.is_mql:
            created = sf.restful(
                "sobjects/Lead",
                method="POST",
                json={**values, "LastName": f"N{i}", "Company": "Bench", "Email": address},
            )
            who = created["id"]
        if score.is_mql and who:
            sf.restful(
                "sobjects/Task",
                method="POST",
                json={"Subject": "MQL: follow up", "WhoId": who, "Status": "Not Started"},
            )
    seconds = time.monotonic() - started
    routes = api_calls(before, sf_stats(sandbox))
    return Measured(label, count, sum(routes.values()), 0, routes, seconds, {})


# ---------------------------------------------------------------------- main


def show(m: Measured, extrapolate_to: int | None = None) -> None:
    calls = m.sandbox_calls
    line = (
        f"  {m.label:<44} leads {m.leads:>9,}  calls {calls:>9,} (client {m.client_calls:,})"
        f"  per 1,000 {m.per_1000:8.2f}  {m.seconds:7.1f} s"
    )
    print(line)
    if extrapolate_to:
        print(
            f"  {'':<44} EXTRAPOLATED to {extrapolate_to:,} leads: "
            f"{round(m.per_1000 * extrapolate_to / 1000):,} calls"
        )
    for route, n in sorted(m.routes.items(), key=lambda kv: -kv[1]):
        print(f"      {n:>9,}  {route}")
    keys = (
        "records_updated",
        "leads_created",
        "tasks_created",
        "records_unchanged",
        "skipped_no_record",
        "write_failures",
    )
    if m.summary:
        print("      " + ", ".join(f"{k}={m.summary.get(k)}" for k in keys))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incremental", type=int, default=1_000)
    parser.add_argument("--backfill", type=int, default=1_000_000)
    parser.add_argument("--naive-sample", type=int, default=2_000)
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-sf-"))
    sandbox = start_sandbox(
        SandboxOptions(workdir=workdir / "sandbox", seed="none", tier="unlimited")
    )
    sandbox.salesforce.daily_api_limit = 10_000_000
    settings = load_settings(sandbox.write_config(workdir / "connector.toml", workdir / "state.db"))
    settings.sync.mappings_dir = PROJECT_MAPPINGS
    load = os.getloadavg()
    print(
        f"Salesforce API calls of the write path ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, bulk_threshold "
        f"{settings.sync.bulk_threshold}, backfill_batch_size "
        f"{settings.sync.backfill_batch_size})"
    )
    failed = False
    try:
        n = args.incremental
        print(
            f"\n1. incremental, {n:,} changed leads (30% Contact, 30% Lead, 10% converted, "
            "30% none; 5% MQL-without-record creates, 10% MQL Tasks)"
        )
        results = []
        for warm in (False, True):
            seed(sandbox, n)
            label = f"connector sync ({'warm: linked' if warm else 'cold: no links'})"
            results.append(
                run_connector(sandbox, settings, workdir, n, kind="sync", warm=warm, label=label)
            )
            show(results[-1])
        seed(sandbox, n)
        naive = run_naive(sandbox, settings, n, "naive one-call-per-record writer")
        show(naive)
        worst = max(r.per_1000 for r in results)
        ok = worst <= INCREMENTAL_TARGET
        failed |= not ok
        print(
            f"  target <= {INCREMENTAL_TARGET} per 1,000: {'met' if ok else 'MISSED'} "
            f"(worst {worst:.2f}); naive {naive.per_1000:.0f} per 1,000"
        )
        if not args.skip_backfill:
            m = args.backfill
            print(f"\n2. backfill, {m:,} leads marked at once (same mix)")
            seed(sandbox, m)
            result = run_connector(
                sandbox,
                settings,
                workdir,
                m,
                kind="backfill",
                warm=False,
                label="connector backfill",
            )
            show(result)
            sample = min(args.naive_sample, m)
            seed(sandbox, sample)
            naive = run_naive(sandbox, settings, sample, f"naive writer, SAMPLE of {sample:,}")
            show(naive, extrapolate_to=m)
            ok = result.sandbox_calls <= BACKFILL_TARGET
            failed |= not ok
            print(
                f"  target <= {BACKFILL_TARGET} calls: {'met' if ok else 'MISSED'} "
                f"({result.sandbox_calls} calls for {m:,} leads)"
            )
    finally:
        sandbox.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
