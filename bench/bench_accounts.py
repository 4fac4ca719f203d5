"""Cost of the account pass (sync.account_pass) with `[accounts] enabled`, per 10,000 accounts.

    .venv/bin/python bench/bench_accounts.py --accounts 10000 --contacts-per-account 5

Times, on a SQLite state store in a temporary directory and the shipped `[account]` rules:
- `note`: storing the scored leads' account inputs and marking their accounts (what each lead
  batch of a run adds);
- `run`: the pass itself (read marks and members, roll up, decide the writes, save), with
  in-memory Salesforce and HubSpot sides that accept every write (no network: the API calls
  are counted, one Composite find + one Collections update per 200 accounts, one HubSpot
  batch per 100 companies, and their latency is the sandboxes' or the real APIs');
- `compute`: the pure roll-up alone (scoring.accounts), for the share of the pass it is.
A second `run` with nothing changed shows the cost of a run that writes nothing.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.models import Contact  # noqa: E402
from core.writeback import ContactUpdate, UpdateResult  # noqa: E402
from scoring.accounts import AccountMember, AccountModel  # noqa: E402
from scoring.loader import load_rules  # noqa: E402
from sync.account_pass import AccountPass  # noqa: E402
from sync.state import StateStore  # noqa: E402

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TITLES = ("製造部長", "生産技術エンジニア", "営業担当", "Director of IT", "Software Engineer",
          "部長代理", "情報システム担当", "Marketing Manager")


@dataclass
class _Record:
    record_id: str
    name: str | None = None
    owner_id: str | None = None


@dataclass
class _Ok:
    success: bool = True
    retriable: bool = False
    errors: Sequence[Any] = ()


class FakeSalesforce:
    calls = 0

    def find(self, contact_ids: Sequence[str], domains: Sequence[str]) -> tuple[
            Mapping[str, _Record], Mapping[str, _Record]]:
        self.calls += 1
        return {}, {d: _Record(f"001{n:015d}") for n, d in enumerate(domains)}

    def update(self, records: Sequence[Mapping[str, Any]]) -> list[_Ok]:
        self.calls += 1
        return [_Ok()] * len(records)


class FakeHubSpot:
    calls = 0

    def update(self, updates: Sequence[ContactUpdate]) -> list[UpdateResult]:
        self.calls += (len(updates) + 99) // 100
        return [UpdateResult(u.contact_id, True) for u in updates]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--contacts-per-account", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(7)
    rules = load_rules(ROOT / "mappings")
    model = AccountModel.from_section(rules.scoring.account)
    leads = []
    for a in range(args.accounts):
        for c in range(args.contacts_per_account):
            key = f"p{c}@acct{a}.co.jp"
            contact = Contact(hubspot_id=str(a * 100 + c), email=key, company_id=str(a),
                              properties={"jobtitle": rng.choice(TITLES)})
            last = NOW - timedelta(days=rng.uniform(0, 90))
            leads.append((key, contact, Decimal(rng.randint(0, 90)), last))
    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore(Path(tmp) / "state.db", clock=lambda: NOW)
        salesforce, hubspot = FakeSalesforce(), FakeHubSpot()
        account_pass = AccountPass(store, model, salesforce=salesforce, hubspot=hubspot)
        t0 = time.perf_counter()
        for start in range(0, len(leads), 500):  # the pipeline's lead batches
            account_pass.note(leads[start:start + 500])
        t1 = time.perf_counter()
        stats = account_pass.run(NOW)
        t2 = time.perf_counter()
        again = account_pass.run(NOW)
        t3 = time.perf_counter()
        store.close()
    members = [AccountMember(k, float(s), c.get("jobtitle"), last) for k, c, s, last in leads]
    per = args.contacts_per_account
    t4 = time.perf_counter()
    for a in range(args.accounts):
        model.compute(members[a * per:(a + 1) * per], NOW)
    t5 = time.perf_counter()
    scale = 10_000 / args.accounts
    print(f"accounts={args.accounts:,} contacts={len(leads):,} "
          f"written: Salesforce {stats['salesforce_written']:,}, "
          f"HubSpot {stats['hubspot_written']:,}; API calls Salesforce {salesforce.calls}, "
          f"HubSpot {hubspot.calls}")
    print(f"note    : {t1 - t0:7.3f} s  ({(t1 - t0) * scale:6.3f} s per 10k accounts)")
    print(f"run     : {t2 - t1:7.3f} s  ({(t2 - t1) * scale:6.3f} s per 10k accounts)")
    print(f"run idle: {t3 - t2:7.3f} s  (nothing changed; computed {again['accounts_computed']})")
    print(f"compute : {t5 - t4:7.3f} s  ({(t5 - t4) * scale:6.3f} s per 10k accounts, pure)")


if __name__ == "__main__":
    main()
