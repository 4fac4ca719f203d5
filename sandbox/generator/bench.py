"""Measure generation speed and peak memory.

    .venv/bin/python -m sandbox.generator.bench --contacts 200000 [--json]

Streams every HubSpot and Salesforce record of the data set once (optionally serialising each
to JSON, as a loader would) and prints records, contacts/s and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections import Counter
from datetime import UTC, datetime

from .seed import generate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="also serialise every record")
    args = parser.parse_args(argv)

    data = generate(
        contacts=args.contacts, seed=args.seed, now=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    )
    counts: Counter[str] = Counter()
    dump = json.dumps
    started = time.perf_counter()
    for name, record in data.hubspot_records():
        counts[name] += 1
        if args.json:
            dump(record, ensure_ascii=False)
    for name, record in data.salesforce_records():
        counts["sf." + name] += 1
        if args.json:
            dump(record, ensure_ascii=False)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    total = sum(counts.values())
    print(
        f"contacts={args.contacts} records={total} elapsed={elapsed:.1f}s "
        f"contacts/s={args.contacts / elapsed:,.0f} records/s={total / elapsed:,.0f} "
        f"peak_rss={peak_mb:.0f}MB"
    )
    print(dict(sorted(counts.items())))


if __name__ == "__main__":
    main()
