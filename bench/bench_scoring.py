"""Throughput of the scoring core on synthetic in-memory leads.

    .venv/bin/python bench/bench_scoring.py --contacts 100000 --activities-per-contact 20
    .venv/bin/python bench/bench_scoring.py --contacts 1000000 --activities-per-contact 20 \
        --workers 2

Each worker builds a pool of distinct synthetic leads (default 5,000) once, then scores
`contacts / workers` leads by cycling through the pool, timing only the scoring calls.
Scoring is pure and keeps no per-lead cache, so re-scoring a pooled lead costs what scoring
a new one would (only the per-text memos of regex and number tests see repeats, as they
would with real job titles); the pool keeps memory small (20M live Activity objects would
need about 10 GB). Prints activities/s and contacts/s, wall clock and CPU time, for the
full path (`score_lead`) and for the daily re-score from a stored aggregate
(`score_aggregate`, only time has passed).
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

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.models import Activity, ActivityKind, Company, Contact  # noqa: E402
from scoring import aggregate_activities, load_rules, score_aggregate, score_lead  # noqa: E402

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


def make_pool(size: int, per_contact: int, seed: int) -> list[Lead]:
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
        pool.append(Lead(contact, company, tuple(activities)))
    return pool


@dataclass(frozen=True)
class Timing:
    contacts: int
    activities: int
    full_wall: float  # seconds in score_lead, wall clock
    full_cpu: float  # the same, CPU time of this process
    rescore_wall: float  # seconds in score_aggregate
    rescore_cpu: float


def run_worker(args: tuple[str, int, int, int, int, float]) -> Timing:
    mappings, contacts, per_contact, pool_size, seed, start_at = args
    rules = load_rules(mappings)
    pool = make_pool(min(pool_size, contacts), per_contact, seed)
    aggregates = [aggregate_activities(rules, lead.activities, NOW) for lead in pool]
    time.sleep(max(0.0, start_at - time.time()))  # start together with sibling workers
    activities = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(contacts):
        lead = pool[n % len(pool)]
        score_lead(rules, lead.contact, lead.company, lead.activities, NOW)
        activities += len(lead.activities)
    full_wall, full_cpu = time.perf_counter() - wall, time.process_time() - cpu

    tomorrow = NOW + timedelta(days=1)
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(contacts):
        i = n % len(pool)
        lead = pool[i]
        score_aggregate(rules, lead.contact, lead.company, aggregates[i], tomorrow)
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
    args = parser.parse_args()

    share = [args.contacts // args.workers + (1 if w < args.contacts % args.workers else 0)
             for w in range(args.workers)]
    start_at = time.time() + 1.0 + args.pool / 2_000  # after every worker built its pool
    jobs = [(args.mappings, n, args.activities_per_contact, args.pool, args.seed + w, start_at)
            for w, n in enumerate(share)]
    if args.workers == 1:
        results = [run_worker(jobs[0])]
    else:
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            results = pool.map(run_worker, jobs)

    contacts = sum(r.contacts for r in results)
    activities = sum(r.activities for r in results)
    print(f"workers={args.workers} contacts={contacts:,} activities={activities:,} "
          f"(pool {args.pool:,} distinct leads per worker; load average before: "
          f"{os.getloadavg()[0]:.2f})")
    # Workers run side by side: the slowest sets the wall-clock pace. The CPU figure is what
    # the same work costs when each worker has a core to itself.
    for label, wall, cpu in (
        ("score_lead     ", max(r.full_wall for r in results),
         max(r.full_cpu for r in results)),
        ("score_aggregate", max(r.rescore_wall for r in results),
         max(r.rescore_cpu for r in results)),
    ):
        print(f"{label}: wall {wall:7.2f} s  {activities / wall:12,.0f} activities/s "
              f"{contacts / wall:10,.0f} contacts/s | cpu {cpu:7.2f} s "
              f"{activities / cpu:12,.0f} activities/s {contacts / cpu:10,.0f} contacts/s")
    print("score_aggregate = daily re-score from stored aggregates (history not re-read); "
          "its activities/s counts the history it did not have to read.")


if __name__ == "__main__":
    main()
