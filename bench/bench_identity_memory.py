"""Peak memory of a bulk backfill's identity step, the part of a backfill that grows with N.

    .venv/bin/python bench/bench_identity_memory.py --leads 1000000

A backfill big enough for bulk identity (`Pipeline._snapshot_identity`) matches every stored
lead at once: two Bulk API 2.0 query jobs read every Salesforce Lead and Contact
(`connectors.salesforce.identity.bulk_identity`), the matches become targets, the unmatched
leads go to the no-match memo and the matched ones to the snapshot table
(`sync.pipeline.save_identity`). This script runs those steps in-process on synthetic data
shaped like the sandbox's (22.2% of the leads have a Salesforce Lead, 7.5% a Contact, as
`sandbox.generator` makes them) with a fake Bulk API client (no HTTP: the step's own memory,
not the transport's), and prints the Python heap at and after each step (`tracemalloc`, above
the list of emails the store hands over, which is built first and counted apart).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from connectors.salesforce.identity import bulk_identity  # noqa: E402
from sync.pipeline import save_identity  # noqa: E402
from sync.plan import SalesforceTarget  # noqa: E402
from sync.state import StateStore  # noqa: E402

FIELDS = ["Lead_Score__c", "Lead_Grade__c", "Lead_Segment__c", "Lead_Stage__c", "MQL_Status__c"]
PAGE = 10_000


class SyntheticBulk:
    """`bulk_query` pages as the Salesforce client yields them (CSV rows as dicts of text)."""

    def __init__(self, leads: int, contacts: int) -> None:
        self.leads, self.contacts = leads, contacts

    def bulk_query(self, soql: str) -> Iterator[list[dict[str, str]]]:
        lead = "FROM Lead" in soql
        page: list[dict[str, str]] = []
        for i in range(self.leads if lead else self.contacts):
            row = {
                "Id": f"{'00Q' if lead else '003'}{i:015d}",
                "Email": f"p{i * 4 + (0 if lead else 1)}@example.com",
                "OwnerId": f"005{i % 6:015d}",
                "CreatedDate": f"2026-0{1 + i % 9}-{1 + i % 28:02d}T00:00:00.000Z",
                "LastModifiedDate": f"2026-10-{1 + i % 28:02d}T{i % 24:02d}:00:00.000Z",
                "Lead_Score__c": str(i % 90),
                "Lead_Grade__c": "ABCD"[i % 4] + "1234"[i % 3],
                "Lead_Segment__c": "manufacturing/1000+/director/engaged",
                "Lead_Stage__c": "Interest",
                "MQL_Status__c": "Not MQL",
            }
            if lead:
                row |= {"IsConverted": "false", "ConvertedContactId": ""}
            page.append(row)
            if len(page) == PAGE:
                yield page
                page = []
        if page:
            yield page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.leads
    client = SyntheticBulk(n * 222 // 1000, n * 75 // 1000)
    store = StateStore(Path(tempfile.mkdtemp(prefix="bench-identity-")) / "state.db")
    emails = [f"p{i}@example.com" for i in range(n)]  # as `StateStore.all_lead_emails` gives
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    overall = 0

    def step(name: str) -> None:
        nonlocal overall
        now, peak = tracemalloc.get_traced_memory()
        overall = max(overall, peak)
        print(f"  {name:<16} heap now {(now - base) / 2**20:7.0f} MB, "
              f"peak during the step {(peak - base) / 2**20:7.0f} MB")
        tracemalloc.reset_peak()

    print(f"{n:,} leads: {client.leads:,} Salesforce Leads, {client.contacts:,} Contacts")
    report = bulk_identity(client, emails, lead_fields=FIELDS, contact_fields=FIELDS)
    step("bulk_identity")
    targets = {
        e: SalesforceTarget(m.sobject, m.record_id, m.owner_id, dict(m.fields))
        for e, m in report.matches.items()
    }
    del report
    step("targets")
    save_identity(store, emails, targets, {"Lead": FIELDS, "Contact": FIELDS}, datetime.now(UTC))
    step("memo + snapshot")
    print(f"matched {len(targets):,}; peak heap {(overall - base) / 2**20:,.0f} MB above the "
          f"emails list; {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
