"""Throughput of the scoring core on synthetic in-memory leads.

    .venv/bin/python bench/bench_scoring.py --contacts 100000 --activities-per-contact 20
    .venv/bin/python bench/bench_scoring.py --contacts 1000000 --activities-per-contact 20 \
        --workers 2
    .venv/bin/python bench/bench_scoring.py --contacts 100000 --implementation reference

Each worker builds a pool of distinct synthetic leads (default 5,000) once, then scores
`contacts / workers` leads by cycling through the pool, timing only the scoring calls (not
the pool, not the aggregates the daily path starts from). Scoring is pure and keeps no
per-lead cache, so re-scoring a pooled lead costs what scoring a new one would; only the
per-text memos (answers of the field tests per job title, domain, industry, size; regex and
number tests) see repeats, as they would with real titles and domains, but more often than
with 1,000,000 distinct contacts: `--pool` sets how many distinct leads a worker cycles
through. The pool keeps memory small (20M live Activity objects would need about 10 GB).
Building an Activity computes its epoch seconds (`Activity.occurred_ts`): in the pool, not
timed, as in production it is part of reading activities from the store (docs/benchmarks.md
gives both). Each lead's activities are a `DistinctActivities`, as `StateStore.activities_for`
returns them (source_id is the table's primary key), so scoring skips its duplicate check;
`--check-duplicates` passes plain tuples instead and times that check too.

Prints activities/s and contacts/s, wall clock and CPU time (process time of each worker),
for the full path (`score_lead`) and for the daily re-score from a stored aggregate
(`score_aggregate` one day later: only time has passed, no history is read), with the load
average before and after: on a shared machine the wall figures depend on what else runs.
`--implementation reference` times the implementation the fast path replaced
(tests/scoring/reference_scoring.py) under the same conditions, for a like-for-like ratio.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import scoring  # noqa: E402
from core.models import (  # noqa: E402
    Activity,
    ActivityKind,
    Company,
    Contact,
    DistinctActivities,
)
from scoring import load_rules  # noqa: E402

NOW = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)

# (kind, relative frequency): a realistic mix, dominated by email and web events.
KIND_MIX = [
    (ActivityKind.EMAIL_DELIVERED, 20), (ActivityKind.EMAIL_OPEN, 25),
    (ActivityKind.EMAIL_CLICK, 8), (ActivityKind.PAGE_VIEW, 30),
    (ActivityKind.WHITEPAPER_DOWNLOAD, 4), (ActivityKind.WEBINAR_REGISTERED, 3),
    (ActivityKind.WEBINAR_ATTENDED, 2), (ActivityKind.WEBINAR_NO_SHOW, 1),
    (ActivityKind.CONSULTATION_REQUEST, 1), (ActivityKind.CONTACT_US, 1),
    (ActivityKind.FORM_SUBMISSION, 2), (ActivityKind.EMAIL_BOUNCE, 1),
    (ActivityKind.EMAIL_UNSUBSCRIBE, 1), (ActivityKind.MEETING, 1),
]
# Titles, sizes, domains and URLs are drawn from large spaces, so that the per-text memos in
# scoring.matchers see a realistic share of new values, not a handful of repeats.
SENIORITY = ["", "Senior", "Junior", "Lead", "Head of", "Director of", "VP", "Chief",
             "Assistant", "Manager,", "Student of", "部長", "課長", "主任", "本部長", "担当"]
FUNCTIONS = ["Engineering", "Sales", "Marketing", "Production", "IT", "Procurement",
             "Quality", "品質管理", "生産技術", "営業", "経営企画", "Research", "Operations"]
INDUSTRIES = ["MACHINERY", "Industrial Automation", "COMPUTER_SOFTWARE", "BANKING", None,
              "RETAIL", "製造業", "Hospital & Health Care", "LOGISTICS_AND_SUPPLY_CHAIN"]
DOMAINS = ["gmail.com", "yahoo.co.jp", "outlook.com"]
PAGES = ["/", "/pricing", "/cases/{n}", "/blog/post-{n}", "/products/{n}", "/docs/{n}"]


def random_title(rng: random.Random) -> str | None:
    if rng.random() < 0.08:
        return None
    text = f"{rng.choice(SENIORITY)} {rng.choice(FUNCTIONS)}".strip()
    return f"{text} {rng.randint(1, 999)}" if rng.random() < 0.4 else text


def random_domain(rng: random.Random, n: int) -> str:
    return rng.choice(DOMAINS) if rng.random() < 0.2 else f"company{n % 4000}.example"


def random_employees(rng: random.Random) -> str | None:
    return None if rng.random() < 0.1 else str(int(rng.lognormvariate(5, 2)))


def random_url(rng: random.Random) -> str:
    return "https://www.example.com" + rng.choice(PAGES).format(n=rng.randint(1, 3000))


@dataclass(frozen=True)
class Lead:
    contact: Contact
    company: Company | None
    activities: tuple[Activity, ...]


def make_pool(size: int, per_contact: int, seed: int, distinct: bool = True) -> list[Lead]:
    rng = random.Random(seed)
    kinds = [k for k, _ in KIND_MIX]
    weights = [w for _, w in KIND_MIX]
    pool = []
    for n in range(size):
        company = None
        if rng.random() < 0.9:
            company = Company(f"co{n}", {"industry": rng.choice(INDUSTRIES),
                                         "numberofemployees": random_employees(rng)})
        contact = Contact(f"c{n}", f"p{n}@{random_domain(rng, n)}", {"jobtitle": random_title(rng)},
                          company_id=company and f"co{n}")
        count = max(0, int(rng.gauss(per_contact, per_contact / 4)))
        activities = []
        for i in range(count):
            kind = rng.choices(kinds, weights)[0]
            attributes: dict[str, str | int | float] = {}
            if kind == ActivityKind.PAGE_VIEW:
                attributes["url"] = random_url(rng)
            elif kind == ActivityKind.EMAIL_BOUNCE:
                attributes["bounce_type"] = rng.choice(["hard", "soft"])
            elif kind == ActivityKind.WEBINAR_ATTENDED:
                attributes["attendance_percentage"] = rng.randint(5, 100)
            elif kind.startswith("email_"):
                attributes["email_campaign_id"] = rng.randint(1, 40)
            when = NOW - timedelta(seconds=rng.randint(0, 400 * 86400))
            activities.append(Activity(f"{kind}:{n}:{i}", kind, when,
                                       contact_id=contact.hubspot_id, attributes=attributes))
        # as the state store hands them over: distinct by source_id, the table's key
        pool.append(Lead(contact, company,
                         DistinctActivities(activities) if distinct else tuple(activities)))
    return pool


@dataclass(frozen=True)
class Timing:
    contacts: int
    activities: int
    full_wall: float  # seconds in score_lead, wall clock
    full_cpu: float  # the same, CPU time of this process
    rescore_wall: float  # seconds in score_aggregate
    rescore_cpu: float


def implementation(name: str) -> Any:
    """The module whose aggregate_activities / score_aggregate / score_lead are timed."""
    if name == "reference":
        from tests.scoring import reference_scoring

        return reference_scoring
    return scoring


def run_worker(args: tuple[str, int, int, int, int, float, str, bool, str | None]) -> Timing:
    mappings, contacts, per_contact, pool_size, seed, start_at, name, distinct, shadow = args
    impl = implementation(name)
    aggregate_activities, score_aggregate, score_lead = (
        impl.aggregate_activities, impl.score_aggregate, impl.score_lead)
    rules = load_rules(mappings)
    # --shadow: every lead is scored again under the shadow rules, as a run with
    # `[shadow] rules_dir` does (sync.pipeline), so the timings are those of both.
    rule_sets = [rules] if shadow is None else [rules, load_rules(shadow)]
    pool = make_pool(min(pool_size, contacts), per_contact, seed, distinct)
    aggregates = [[aggregate_activities(r, lead.activities, NOW) for r in rule_sets]
                  for lead in pool]
    time.sleep(max(0.0, start_at - time.time()))  # start together with sibling workers
    activities = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(contacts):
        lead = pool[n % len(pool)]
        for r in rule_sets:
            score_lead(r, lead.contact, lead.company, lead.activities, NOW)
        activities += len(lead.activities)
    full_wall, full_cpu = time.perf_counter() - wall, time.process_time() - cpu

    tomorrow = NOW + timedelta(days=1)
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(contacts):
        i = n % len(pool)
        lead = pool[i]
        for r, aggregate in zip(rule_sets, aggregates[i], strict=True):
            score_aggregate(r, lead.contact, lead.company, aggregate, tomorrow)
    return Timing(contacts, activities, full_wall, full_cpu, time.perf_counter() - wall,
                  time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--activities-per-contact", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pool", type=int, default=5_000, help="distinct leads per worker")
    parser.add_argument("--mappings", default=str(ROOT / "mappings"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--implementation", choices=["fast", "reference"], default="fast")
    parser.add_argument("--check-duplicates", action="store_true",
                        help="plain tuples: scoring checks every lead for repeated source_ids")
    parser.add_argument("--shadow", metavar="DIR", default=None,
                        help="also score every lead under the rule set in DIR, as a run with "
                        "[shadow] rules_dir does (the cost of shadow mode)")
    args = parser.parse_args()
    load_before = os.getloadavg()

    share = [args.contacts // args.workers + (1 if w < args.contacts % args.workers else 0)
             for w in range(args.workers)]
    start_at = time.time() + 1.0 + args.pool / 2_000  # after every worker built its pool
    jobs = [(args.mappings, n, args.activities_per_contact, args.pool, args.seed + w, start_at,
             args.implementation, not args.check_duplicates, args.shadow)
            for w, n in enumerate(share)]
    if args.workers == 1:
        results = [run_worker(jobs[0])]
    else:
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            results = pool.map(run_worker, jobs)

    load_after = os.getloadavg()
    contacts = sum(r.contacts for r in results)
    activities = sum(r.activities for r in results)
    print(f"implementation={args.implementation} workers={args.workers} "
          f"input={'tuple (duplicate check)' if args.check_duplicates else 'DistinctActivities'} "
          f"contacts={contacts:,} activities={activities:,} (pool {args.pool:,} distinct leads "
          f"per worker) cpus={os.cpu_count()}"
          + (f" shadow={args.shadow} (each lead scored under both rule sets)"
             if args.shadow else ""))
    print("load average (1, 5, 15 min): before " + " ".join(f"{x:.2f}" for x in load_before)
          + " | after " + " ".join(f"{x:.2f}" for x in load_after))
    # Workers run side by side: the slowest sets the wall-clock pace. The CPU figure divides
    # the work by the busiest worker's process time: what the same work costs when each
    # worker has a core to itself. "per core" = one worker's share per second of its CPU.
    for label, walls, cpus in (
        ("score_lead     ", [r.full_wall for r in results], [r.full_cpu for r in results]),
        ("score_aggregate", [r.rescore_wall for r in results], [r.rescore_cpu for r in results]),
    ):
        wall, cpu = max(walls), max(cpus)
        per_core = sum(r.activities / c for r, c in zip(results, cpus, strict=True)) \
            / len(results)
        print(f"{label}: wall {wall:7.2f} s  {activities / wall:12,.0f} activities/s "
              f"{contacts / wall:10,.0f} contacts/s | cpu {cpu:7.2f} s "
              f"{activities / cpu:12,.0f} activities/s {contacts / cpu:10,.0f} contacts/s "
              f"| per core {per_core:10,.0f} activities/s "
              f"(worker cpu s: {', '.join(f'{c:.2f}' for c in cpus)})")
    print("score_aggregate = daily re-score from stored aggregates (history not re-read); "
          "its activities/s counts the history it did not have to read.")


if __name__ == "__main__":
    main()
