"""Write the rows of one query on a SQLite state file to a CSV file: what `sync.kpi_mirror`
runs in a second process while it reads the facts itself, so that a full load of the DuckDB
copy reads SQLite on two cores (the load is bound by SQLite handing rows to Python: about
3 s for a million fact rows and as much for their engagement rows, docs/benchmarks.md).

Run as a script (`python csv_dump.py REQUEST`, REQUEST a JSON object: db, sql, params, out),
not through `multiprocessing`: a spawned worker imports the caller's main module again,
and a fork of a process running DuckDB's threads is not safe. Only the standard library is
imported, so it starts in a few tens of milliseconds.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
from collections.abc import Sequence

FETCH = 10_000


def dump(db_path: str, sql: str, params: Sequence[object], out_path: str) -> int:
    """Rows of `sql` on the SQLite file `db_path` (read only) into `out_path`, as
    `sync.kpi_mirror` writes its own CSV files; returns the number of rows."""
    con = sqlite3.connect(db_path)
    try:
        con.execute("PRAGMA query_only = ON")
        cursor = con.execute(sql, list(params))
        count = 0
        with open(out_path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
            while rows := cursor.fetchmany(FETCH):
                writer.writerows(rows)
                count += len(rows)
        return count
    finally:
        con.close()


def main() -> int:
    request = json.loads(sys.argv[1])
    count = dump(request["db"], request["sql"], request["params"], request["out"])
    print(count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
