"""`connector report` at 10k, 100k and 1M leads (~20 activities each, Salesforce outcomes for
the MQLs): the whole `build_report` with its agreement check and sales-rejection table (each
also timed apart), the KPI part alone (aggregation on the DuckDB copy of the facts,
`sync.kpi_mirror`, whose full load counts), the dashboard refresh after an incremental run
of 50 changed leads (in a process whose copy is loaded already, as the dashboard's: new
activities stored and the leads processed as a run does, their facts replayed, the copy's
delta applied, the queries again), the refresh when `until` moves by one hour, peak memory
of each (a child process, ru_maxrss) and the copy's own size (DuckDB's memory), and the
yardstick: the same funnel computed by DuckDB in-process over the same facts (loaded from
the state store first; the load is timed apart from the query; no DuckDB extension is
downloaded).

The generated store (bench/report_data.py) is cached under the temp dir keyed by size and
seed. At these sizes the facts are written by `report_data.synthetic_facts` (a replay of a
million leads takes hours, which is what the facts avoid); the replay cost per lead is
measured at the smallest size instead.

    python bench/bench_report.py --sizes 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UNTIL = datetime(2026, 11, 20, 9, tzinfo=UTC)
SEED = 16


def cached_store(size: int) -> Path:
    import hashlib

    from sync.state import MIGRATIONS

    # a store of an older schema (or older generator) is not reused
    schema = hashlib.sha256("".join(MIGRATIONS).encode()).hexdigest()[:8] + "-o1"
    folder = Path(tempfile.gettempdir()) / f"connector-bench-report-{size}-{SEED}-{schema}"
    done = folder / "done"
    path = folder / "state.db"
    if not done.exists():
        from app.kpi_facts import rules_hash
        from bench.report_data import generate, synthetic_facts
        from scoring import load_rules
        from sync.kpi_store import SEP, micros

        folder.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        started = time.perf_counter()
        store = generate(path, size, seed=SEED, until=UNTIL)
        rules = load_rules(ROOT / "mappings")
        dims = [d.name for d in rules.dimensions]
        meta = {"rules_hash": rules_hash(ROOT / "mappings"), "dimensions": SEP.join(dims),
                "as_of": str(micros(UNTIL))}
        synthetic_facts(store, seed=SEED, meta=meta, dims=dims)
        store.close()
        print(f"  generated {size} leads in {time.perf_counter() - started:.0f} s", flush=True)
        done.write_text("ok")
    return path


def settings_for(path: Path):
    from core.config import Settings, StateSettings, SyncSettings

    return Settings.model_construct(
        state=StateSettings(path=str(path)),
        sync=SyncSettings(mappings_dir=str(ROOT / "mappings")),
    )


def kpi_part(settings, until) -> float:
    """Seconds for the report's KPIs alone: facts refreshed, the DuckDB copy brought up to
    date, the GROUP BY queries, assembly. Without the report's other sections (the
    agreement check, the sales-rejection table, accounts), which read every lead in Python
    and are not part of this measurement (see docs/benchmarks.md)."""
    from app.kpi_report import Problems, _plan, _sql_report, open_report_store

    started = time.perf_counter()
    plan = _plan(settings, until=until, since=None, period="month", segment=None)
    with open_report_store(settings) as store:
        common = {"dimensions": plan.dimensions, "costs": plan.costs, "agreement": None,
                  "outcomes_known": True, "speed_to_lead": (), "sla_hours": 0.0}
        _sql_report(store, plan, Problems(), None, common)
    return time.perf_counter() - started


def full_report(path: Path, *, warm: bool) -> dict:
    """The whole `build_report` as `connector report` runs it (KPIs, agreement check,
    sales-rejection table, accounts, speed-to-lead; the DuckDB copy kept on disk), in a
    fresh process: cold (no copy on disk: the copy's full load and its first write count)
    or warm (the copy the previous run left, after an incremental run of 50 leads); then
    its per-lead sections timed apart."""
    from app.feedback import with_rejection_table
    from app.kpi_report import _plan, agreement_check, build_report, open_report_store
    from kpi.model import KpiReport
    from sync.kpi_copy_files import discard_copy
    from sync.kpi_mirror import drop_mirrors

    settings = settings_for(path)
    out: dict = {}
    if warm:
        incremental_run(path, 50)
    else:
        discard_copy(path)
    started = time.perf_counter()
    report: KpiReport = build_report(settings, until=UNTIL, keep_copy=True)
    drop_mirrors()  # the copy's checkpoint at exit counts
    out["seconds"] = time.perf_counter() - started
    out["tables"] = [t.name for t in report.extra_tables]
    plan = _plan(settings, until=UNTIL, since=None, period="month", segment=None)
    started = time.perf_counter()
    with open_report_store(settings) as store:
        agreement = agreement_check(store, plan.ctx.funnel)
    out["agreement_seconds"] = time.perf_counter() - started
    out["differing"] = len(agreement.differing) if agreement else None
    started = time.perf_counter()
    with_rejection_table(report, settings, plan.window.since, UNTIL)
    out["rejection_seconds"] = time.perf_counter() - started
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def incremental_run(path: Path, leads: int) -> None:
    """What an incremental run leaves in the store for `leads` leads: new activities
    stored and the leads processed (their dirty marks cleared: their facts are stale)."""
    from datetime import timedelta

    from sync.state import StateStore

    store = StateStore(path, clock=lambda: UNTIL)
    keys = [r[0] for r in store._db.execute(
        "SELECT email FROM contacts ORDER BY hubspot_id DESC LIMIT ?", (leads,))]
    with store._db.transaction() as db:
        db.executemany(
            "INSERT INTO activities VALUES (?, 'webinar_attended', ?, NULL, ?, '{}') "
            "ON CONFLICT DO NOTHING",
            [(f"bench:{k}:{time.time_ns()}", (UNTIL - timedelta(hours=2)).isoformat(), k)
             for k in keys],
        )
    store.clear_dirty([f"e:{k}" for k in keys])
    store.close()


def child(mode: str, path: Path) -> dict:
    """Run one measurement in this process (called in a child)."""
    if mode in ("full", "warm"):
        return full_report(path, warm=mode == "warm")
    from sync.kpi_mirror import mirror_for
    from sync.state import StateStore

    settings = settings_for(path)
    out: dict = {}
    out["report_seconds"] = kpi_part(settings, UNTIL)  # the first: the copy's load counts
    out["won"] = None
    store = StateStore(path, clock=lambda: UNTIL)
    mirror = mirror_for(store)
    out["mirror_mb"] = mirror._con.execute(
        "SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0] / 2**20
    store.close()
    if mode == "refresh":  # the dashboard's refresh after an incremental run of 50 leads
        incremental_run(path, 50)
        out["seconds"] = kpi_part(settings, UNTIL)
        out["delta"] = mirror.last_refresh
    elif mode == "hour":  # the dashboard's case: its "now" moved by one hour
        from datetime import timedelta

        from sync.kpi_store import micros

        later = UNTIL + timedelta(hours=1)
        store = StateStore(path, clock=lambda: UNTIL)
        out["replayed"] = len(store.kpi.expired_keys(micros(later) or 0))
        store.close()
        out["seconds"] = kpi_part(settings, later)
        out["delta"] = mirror.last_refresh
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def duck_funnel(path: Path) -> dict:
    import csv
    import sqlite3

    import duckdb

    from sync.kpi_store import micros

    started = time.perf_counter()
    src = sqlite3.connect(path)
    dump = path.with_name("facts.csv")
    with dump.open("w", newline="") as out:  # the columns the funnel reads, as CSV
        csv.writer(out).writerows(
            src.execute("SELECT created_month, channel, first_mql, created FROM kpi_facts"))
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE f AS SELECT * FROM read_csv('{dump}', header = false, columns = "
        "{'created_month': 'VARCHAR', 'channel': 'VARCHAR', 'first_mql': 'BIGINT', "
        "'created': 'BIGINT'})")
    loaded = time.perf_counter() - started
    u = micros(UNTIL)
    started = time.perf_counter()
    con.execute(
        f"SELECT created_month, channel, count(*), "
        f"sum(CASE WHEN first_mql IS NOT NULL AND first_mql <= {u} THEN 1 ELSE 0 END) "
        f"FROM f WHERE created < {u} GROUP BY created_month, channel").fetchall()
    return {"load_seconds": loaded, "seconds": time.perf_counter() - started,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def sql_funnel(path: Path) -> float:
    """The same funnel query on the state store (SQLite), for the 3x comparison."""
    import sqlite3

    from sync.kpi_store import micros

    u = micros(UNTIL)
    src = sqlite3.connect(path)
    started = time.perf_counter()
    src.execute(
        f"SELECT created_month, channel, count(*), "
        f"sum(CASE WHEN first_mql IS NOT NULL AND first_mql <= {u} THEN 1 ELSE 0 END) "
        f"FROM kpi_facts WHERE created < {u} GROUP BY created_month, channel").fetchall()
    return time.perf_counter() - started


def measure(mode: str, path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"))
    args = parser.parse_args(argv)
    if args.child:
        mode, path = args.child
        result = duck_funnel(Path(path)) if mode == "duckdb" else child(mode, Path(path))
        print(json.dumps(result))
        return 0
    header = (f"{'leads':>9} {'cold s':>7} {'warm s':>7} {'(rej s)':>7} {'(agr s)':>7} "
              f"{'KPI s':>7} "
              f"{'copy MB':>7} {'refresh s':>9} {'+1h s':>7} "
              f"{'(leads)':>7} {'peak MB':>7} "
              f"{'funnel SQL s':>12} {'DuckDB s':>9} {'(load s)':>9}")
    lines = [header]
    for size in args.sizes:
        path = cached_store(size)
        full = measure("full", path)
        warm = measure("warm", path)
        refresh = measure("refresh", path)
        hour = measure("hour", path)
        yard = measure("duckdb", path)
        funnel = sql_funnel(path)
        lines.append(
            f"{size:>9} {full['seconds']:>7.2f} {warm['seconds']:>7.2f} "
            f"{warm['rejection_seconds']:>7.2f} {warm['agreement_seconds']:>7.2f} "
            f"{refresh['report_seconds']:>7.2f} {refresh['mirror_mb']:>7.0f} "
            f"{refresh['seconds']:>9.2f} {hour['seconds']:>7.2f} {hour['replayed']:>7} "
            f"{max(r['maxrss_mb'] for r in (full, warm, refresh, hour)):>7.0f} "
            f"{funnel:>12.3f} "
            f"{yard['seconds']:>9.3f} {yard['load_seconds']:>9.1f}"
        )
        print(f"  full report tables {full['tables']}, {full['differing']} differing leads; "
              f"refresh: {refresh['delta']}, +1 h: {hour['delta']}, report of the second "
              f"child {hour['report_seconds']:.2f} s, won {refresh['won']}", flush=True)
        print(lines[-1], flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
