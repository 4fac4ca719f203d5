"""Sync engine: incremental-sync wall time against the Pro-tier bound, and a large backfill's
wall time and peak memory, with the connector as its own process.

    .venv/bin/python bench/bench_sync.py [--quick] [--backfill-contacts N] [--profile DIR]
                                         [--skip-sync] [--skip-backfill] [--workdir DIR]

The sandboxes (HubSpot and Salesforce) run in a separate process started by this script
(`bench_sync.py serve ...`: `sandbox.serve.start_sandbox`, seeded in one pass of
`sandbox.generator` per API, `Sandbox.write_config`). Every connector run is
`python -c "import cli; cli.main()" --config CFG -q sync|backfill ... --json`, a process of
its own: its wall time is measured around the process (interpreter start, imports, login
and the run), its peak RSS is the `ru_maxrss` that `os.wait4` returns for exactly that child.

1. Incremental sync (Pro tier, `--hubspot-tier pro` in the sandbox and the config): seed
   `--sync-contacts` (12,000) contacts, run a backfill so that state and cursors exist, change
   `--changed` (10,000) contacts through the API (`POST /crm/v3/objects/contacts/batch/update`,
   100 a call: their `jobtitle`, which the fit rules score), reset the HubSpot sandbox's
   counters and rate windows (`POST /_sandbox/reset`; Salesforce calls are counted as a
   difference of its stats, as its reset empties the org), then time `connector sync`. The
   bound the limits imply for the HubSpot calls the run made (answers other than 429, from
   `GET /_sandbox/stats`):
       bound = max(S / 5 per s, B / (190 per 10 s))
   where S = calls whose route contains `/search` and B = every other call. Target: wall
   time <= 1.3 x bound.
2. Backfill (tier `unlimited`): seed `--backfill-contacts` contacts (1,000,000; `--quick`
   100,000), then time `connector backfill --since <now - 200 days>`. Reports wall time, peak
   RSS (target < 1 GiB), calls per API and route, contacts/s and activities/s.

Every measured run also prints the 1-minute load average at its start and end: the machine
is shared, and wall times mean little without it (CPU times of the connector and the sandbox
process are printed next to them).

`--profile DIR` runs each measured connector process under `python -m cProfile -o
DIR/<name>.prof` and prints its 12 top entries by cumulative time (the wall times are then
inflated by the profiler; use a run without it for the figures).

Exit status 0 when both targets hold, else 1.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import pstats
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from sandbox.generator.plan import NEWSLETTER_DAYS  # noqa: E402

PYTHON = sys.executable
CONNECTOR = [PYTHON, "-c", "import cli; cli.main()"]
CONNECTOR_SCRIPT = Path(PYTHON).with_name("connector")  # the console script, for cProfile
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
TOKEN = "pat-sandbox-hubspot-token"  # sandbox.hubspot.DEFAULT_HUBSPOT_TOKEN
SEARCH_PER_S = 5  # Pro: searches per second (sandbox/hubspot/README.md)
BURST_PER_10S = 190  # Pro: other calls per rolling 10 s
SYNC_TARGET_RATIO = 1.3
MEMORY_TARGET_MB = 1024.0
HISTORY_DAYS = 200  # the generator puts every timestamp in the ~180 days before `now`
RANDOM_SEED = 7
NEW_TITLE = "Director of Manufacturing"  # director-or-above title: +15 fit points
OTHER_TITLE = "Production Manager"


# --------------------------------------------------------------------------- sandbox process


def _unique_emails(
    pairs: Iterable[tuple[str, dict[str, Any]]], renamed: list[str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Defensive: the sandbox refuses a repeated contact email, and before commit d03aa27 the
    generator could give two designed duplicates the same second address at scale
    (`_second_address` in sandbox/generator/plan.py). A repeat gets `local+dup<id>@domain`;
    its id is appended to `renamed` (the bench prints how many; 0 with the fixed generator)."""
    seen: set[str] = set()
    for kind, record in pairs:
        if kind == "contacts":
            email = (record["properties"].get("email") or "").strip().lower()
            if email and email in seen:
                local, _, domain = email.partition("@")
                props = {**record["properties"], "email": f"{local}+dup{record['id']}@{domain}"}
                record = {**record, "properties": props}
                renamed.append(str(record["id"]))
            elif email:
                seen.add(email)
        yield kind, record


def serve_main(argv: list[str]) -> int:
    """`bench_sync.py serve`: start both sandboxes, seed them, write the config, print one JSON
    line, serve until stdin closes or SIGTERM."""
    import threading

    from sandbox.generator import HUBSPOT_KINDS, SALESFORCE_OBJECTS, generate, split_by_kind
    from sandbox.serve import SandboxOptions, start_sandbox

    parser = argparse.ArgumentParser(prog="bench_sync.py serve")
    parser.add_argument("--contacts", type=int, required=True)
    parser.add_argument("--tier", required=True)
    parser.add_argument("--now", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--newsletter-days", type=int, default=NEWSLETTER_DAYS)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    now = datetime.fromisoformat(args.now)
    sandbox = start_sandbox(
        SandboxOptions(seed="none", tier=args.tier, workdir=args.workdir / "sandbox")
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        data = generate(
            contacts=args.contacts,
            seed=RANDOM_SEED,
            now=now,
            newsletter_days=args.newsletter_days,
        )
        renamed: list[str] = []
        hubspot = sandbox.hubspot.seed(
            split_by_kind(_unique_emails(data.hubspot_records(), renamed), HUBSPOT_KINDS)
        )
        lists: dict[str, list[dict[str, Any]]] = {name: [] for name in SALESFORCE_OBJECTS}
        for name, record in data.salesforce_records():
            lists[name].append(record)
        salesforce = sandbox.salesforce.seed(lists)
        del lists
        gc.collect()
        gc.freeze()  # seeded data lives as long as the server: keep full collections short
        config = sandbox.write_config(args.workdir / "cfg.toml")
        ready = {
            "hubspot_url": sandbox.hubspot_url,
            "salesforce_url": sandbox.salesforce_url,
            "config": str(config),
            "ca": str(sandbox.certificate.cert_path),
            "counts": {"hubspot": hubspot, "salesforce": salesforce},
            "renamed": renamed,
            "seed_seconds": round(time.perf_counter() - started, 1),
            "peak_rss_mb": round(_self_peak_mb(), 0),
        }
        print(json.dumps(ready), flush=True)
        threading.Thread(
            target=lambda: (sys.stdin.read(), stop.set()), daemon=True, name="stdin-watch"
        ).start()
        stop.wait()
    finally:
        sandbox.stop()
    return 0


@dataclass
class Served:
    process: subprocess.Popen[str]
    hubspot_url: str
    salesforce_url: str
    config: Path
    ca: str
    counts: dict[str, Any]
    renamed: list[str]
    seed_seconds: float
    peak_rss_mb: float

    def hubspot(self, method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(
            method,
            self.hubspot_url + path,
            json=body,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=300,
        )

    def admin(self, api: str, method: str, name: str) -> dict[str, Any]:
        base, verify = (
            (self.hubspot_url, True) if api == "hubspot" else (self.salesforce_url, self.ca)
        )
        answer = requests.request(method, f"{base}/_sandbox/{name}", verify=verify, timeout=300)
        answer.raise_for_status()
        return answer.json()

    def reset_hubspot(self) -> None:
        """HubSpot's counters, rate-limit windows and daily usage (its data is kept). The
        Salesforce sandbox's reset empties the org, so its calls are counted as a difference."""
        self.admin("hubspot", "POST", "reset")

    def stats(self, api: str) -> list[dict[str, Any]]:
        return self.admin(api, "GET", "stats")["calls"]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the sandbox process has used so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def served(
    contacts: int,
    tier: str,
    now: datetime,
    workdir: Path,
    newsletter_days: int = NEWSLETTER_DAYS,
) -> Iterator[Served]:
    workdir.mkdir(parents=True, exist_ok=True)
    args = [
        PYTHON,
        str(Path(__file__).resolve()),
        "serve",
        "--contacts",
        str(contacts),
        "--tier",
        tier,
        "--now",
        now.isoformat(),
        "--workdir",
        str(workdir),
        "--newsletter-days",
        str(newsletter_days),
    ]
    process = subprocess.Popen(
        args, cwd=workdir, env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"the sandbox process exited with {process.wait()}")
        info = json.loads(line)
        yield Served(process=process, config=Path(info.pop("config")), **info)
    finally:
        with suppress(OSError, ValueError):
            if process.stdin is not None:
                process.stdin.close()  # the server stops when its stdin closes
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.terminate()  # only our own child, by its handle
            process.wait(timeout=30)


# --------------------------------------------------------------------------- connector runs


@dataclass
class Run:
    command: list[str]
    code: int
    wall_seconds: float
    peak_rss_mb: float
    user_seconds: float
    system_seconds: float
    summary: dict[str, Any]
    stderr: str
    load_before: float = 0.0  # 1-minute load average when the run started ...
    load_after: float = 0.0  # ... and when it ended (the machine is shared)

    @property
    def load(self) -> str:
        return f"load average {self.load_before:.2f} at the start, {self.load_after:.2f} at the end"


def run_connector(config: Path, args: list[str], cwd: Path, profile: Path | None = None) -> Run:
    base = (
        [PYTHON, "-m", "cProfile", "-o", str(profile), str(CONNECTOR_SCRIPT)]
        if profile
        else CONNECTOR
    )
    command = [*base, "--config", str(config), "-q", *args, "--json"]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=ENV, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    try:
        summary = json.loads(stdout) if stdout.strip() else {}
    except ValueError:
        summary = {"unparsed_stdout": stdout[-2000:]}
    return Run(
        command=command,
        code=process.returncode,
        wall_seconds=wall,
        peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        user_seconds=usage.ru_utime,
        system_seconds=usage.ru_stime,
        summary=summary,
        stderr=stderr,
        load_before=load_before,
        load_after=os.getloadavg()[0],
    )


def _check(run: Run, what: str) -> None:
    if run.code not in (0, 3):
        tail = "\n".join(run.stderr.strip().splitlines()[-20:])
        raise SystemExit(f"{what} exited with {run.code}:\n{tail}")


def _self_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _by_route(calls: list[dict[str, Any]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for row in calls:
        out[f"{row['method']} {row['route']} {row['status']}"] += row["count"]
    return out


def _since(after: list[dict[str, Any]], before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls counted in `after` but not yet in `before` (same rows, counts subtracted)."""
    key = ("method", "route", "status")
    done = Counter({tuple(r[k] for k in key): r["count"] for r in before})
    rows = []
    for row in after:
        count = row["count"] - done[tuple(row[k] for k in key)]
        if count:
            rows.append({**row, "count": count})
    return rows


def _print_routes(title: str, calls: list[dict[str, Any]]) -> None:
    print(f"  {title} (method route status: calls)")
    for key, count in sorted(_by_route(calls).items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"    {count:>8,}  {key}")


def _print_profile(path: Path, top: int = 10) -> None:
    """The top entries by cumulative time below the wrappers that hold the whole run (the
    entries within 3% of the total: exec, click, cli, runner, Pipeline.run), then by own time."""
    stats = pstats.Stats(str(path))
    rows = list(stats.stats.items())  # type: ignore[attr-defined]
    total = max(cum for _, (_cc, _n, _own, cum, _) in rows)

    def show(entries: list[Any]) -> None:
        for (filename, line, name), (_cc, calls, own, cum, _) in entries:
            where = filename.replace(str(ROOT) + "/", "").replace(".venv/lib/python3.11/", "")
            print(
                f"    {cum:8.2f} s cum {own:8.2f} s own {calls:>11,} calls  {where}:{line}({name})"
            )

    print(f"  profile {path}: {total:.1f} s in all; top {top} by cumulative time:")
    show(sorted((r for r in rows if r[1][3] < 0.97 * total), key=lambda r: -r[1][3])[:top])
    print(f"  top {top} by own time:")
    show(sorted(rows, key=lambda r: -r[1][2])[:top])


def _cmd(command: list[str]) -> str:
    return shlex.join(c.replace(str(ROOT) + "/", "") for c in command)


# --------------------------------------------------------------------------- 1. incremental


def _changed_titles(contacts: int, changed: int, now: datetime) -> list[dict[str, Any]]:
    """Batch-update inputs that change the `jobtitle` of the first `changed` contacts."""
    from sandbox.generator import generate

    data = generate(contacts=contacts, seed=RANDOM_SEED, now=now).window(0, changed)
    inputs = []
    for record in data.contacts:
        title = record["properties"].get("jobtitle")
        new = OTHER_TITLE if title == NEW_TITLE else NEW_TITLE
        inputs.append({"id": record["id"], "properties": {"jobtitle": new}})
    return inputs


def _batch_update(box: Served, inputs: list[dict[str, Any]]) -> int:
    calls = 0
    for start in range(0, len(inputs), 100):
        body = {"inputs": inputs[start : start + 100]}
        while True:
            answer = box.hubspot("POST", "/crm/v3/objects/contacts/batch/update", body)
            calls += 1
            if answer.status_code == 429:
                time.sleep(1.0)
                continue
            if answer.status_code not in (200, 207):
                raise SystemExit(f"batch update answered {answer.status_code}: {answer.text}")
            break
    return calls


def bench_sync(args: argparse.Namespace, workdir: Path, now: datetime) -> bool:
    print(
        f"\n== 1. incremental sync: {args.changed:,} of {args.sync_contacts:,} contacts "
        "changed, HubSpot tier pro =="
    )
    since = (now - timedelta(days=HISTORY_DAYS)).date().isoformat()
    with served(args.sync_contacts, "pro", now, workdir) as box:
        print(
            f"  sandbox seeded in {box.seed_seconds:.1f} s (server peak RSS "
            f"{box.peak_rss_mb:,.0f} MB): {box.counts['hubspot']}"
        )
        prep = run_connector(box.config, ["backfill", "--since", since], workdir)
        _check(prep, "the preparing backfill")
        print(
            f"  preparing backfill: {prep.wall_seconds:.1f} s, "
            f"{prep.summary.get('leads_scored', 0):,} leads scored "
            f"(`{_cmd(prep.command)}`)"
        )
        inputs = _changed_titles(args.sync_contacts, args.changed, now)
        update_calls = _batch_update(box, inputs)
        print(
            f"  changed {len(inputs):,} contacts' jobtitle with {update_calls} "
            "POST /crm/v3/objects/contacts/batch/update calls (100 each)"
        )
        box.reset_hubspot()
        salesforce_before = box.stats("salesforce")
        profile = args.profile / "sync.prof" if args.profile else None
        server_cpu = box.cpu_seconds()
        run = run_connector(box.config, ["sync"], workdir, profile)
        server_cpu = box.cpu_seconds() - server_cpu
        _check(run, "the measured sync")
        hubspot_calls = box.stats("hubspot")
        salesforce_calls = _since(box.stats("salesforce"), salesforce_before)
    answered = [r for r in hubspot_calls if r["status"] != 429]
    search = sum(r["count"] for r in answered if "/search" in r["route"])
    other = sum(r["count"] for r in answered if "/search" not in r["route"])
    throttled = sum(r["count"] for r in hubspot_calls if r["status"] == 429)
    bound = max(search / SEARCH_PER_S, other / (BURST_PER_10S / 10))
    ratio = run.wall_seconds / bound if bound else float("inf")
    s = run.summary
    print(f"  command: {_cmd(run.command)}")
    print(
        f"  exit {run.code}; contacts read {s.get('contacts_read', 0):,}, activities read "
        f"{s.get('activities_read', 0):,}, leads scored {s.get('leads_scored', 0):,}, "
        f"records updated {s.get('records_updated', 0):,}, leads created "
        f"{s.get('leads_created', 0):,}, tasks {s.get('tasks_created', 0):,}, "
        f"unchanged {s.get('records_unchanged', 0):,}, write failures "
        f"{s.get('write_failures', 0):,}"
    )
    print(
        f"  HubSpot calls: {search:,} search + {other:,} other (+ {throttled:,} answered 429); "
        f"Salesforce calls: {sum(r['count'] for r in salesforce_calls):,}"
    )
    print(
        f"  bound = max(search / {SEARCH_PER_S} per s, other / {BURST_PER_10S} per 10 s) = "
        f"max({search / SEARCH_PER_S:.1f} s, {other / (BURST_PER_10S / 10):.1f} s) = "
        f"{bound:.1f} s"
    )
    print(
        f"  wall time {run.wall_seconds:.1f} s (run itself {s.get('duration_seconds', 0):.1f}"
        f" s; connector CPU {run.user_seconds:.1f} s user + {run.system_seconds:.1f} s sys; "
        f"sandbox CPU {server_cpu:.1f} s; peak RSS {run.peak_rss_mb:,.0f} MB) -> "
        f"{ratio:.2f}x the bound "
        f"(target <= {SYNC_TARGET_RATIO}x): {'OK' if ratio <= SYNC_TARGET_RATIO else 'MISSED'}"
    )
    print(f"  {run.load}")
    _print_routes("HubSpot calls by route", hubspot_calls)
    _print_routes("Salesforce calls by route", salesforce_calls)
    if profile:
        _print_profile(profile)
    return ratio <= SYNC_TARGET_RATIO


# --------------------------------------------------------------------------- 2. backfill


def bench_backfill(args: argparse.Namespace, workdir: Path, now: datetime) -> bool:
    contacts = args.backfill_contacts
    print(f"\n== 2. backfill: {contacts:,} contacts, HubSpot tier unlimited ==")
    since = (now - timedelta(days=HISTORY_DAYS)).date().isoformat()
    seed_started = time.perf_counter()
    with served(contacts, "unlimited", now, workdir, args.newsletter_days) as box:
        counts = box.counts["hubspot"]
        activities = sum(
            counts.get(k, 0)
            for k in (
                "form_submissions",
                "email_events",
                "participations",
                "page_views",
                "meetings",
            )
        )
        print(
            f"  sandbox generated and seeded in {time.perf_counter() - seed_started:.0f} s "
            f"(server peak RSS {box.peak_rss_mb:,.0f} MB): {counts}; "
            f"Salesforce {box.counts['salesforce']}"
        )
        print(
            f"  seeded HubSpot activity records: {activities:,}; contacts whose generated "
            f"email repeated and was renamed: {len(box.renamed)} "
            f"{box.renamed[:10]}"
        )
        profile = args.profile / "backfill.prof" if args.profile else None
        server_cpu = box.cpu_seconds()
        run = run_connector(box.config, ["backfill", "--since", since], workdir, profile)
        server_cpu = box.cpu_seconds() - server_cpu
        _check(run, "the measured backfill")
        hubspot_calls = box.stats("hubspot")
        salesforce_calls = box.stats("salesforce")
    s = run.summary
    hs_total = sum(r["count"] for r in hubspot_calls)
    sf_total = sum(r["count"] for r in salesforce_calls)
    wall = run.wall_seconds
    db = workdir / "state" / "connector.db"
    db_mb = db.stat().st_size / 2**20 if db.exists() else 0.0
    print(f"  command: {_cmd(run.command)}")
    print(
        f"  exit {run.code}; contacts read {s.get('contacts_read', 0):,}, activities read "
        f"{s.get('activities_read', 0):,} (new {s.get('activities_new', 0):,}), leads scored "
        f"{s.get('leads_scored', 0):,}, records updated {s.get('records_updated', 0):,}, "
        f"leads created {s.get('leads_created', 0):,}, tasks {s.get('tasks_created', 0):,}, "
        f"write failures {s.get('write_failures', 0):,}, problems {s.get('problems', 0):,}"
    )
    print(
        f"  wall time {wall:.1f} s (run itself {s.get('duration_seconds', 0):.1f} s; connector "
        f"CPU {run.user_seconds:.1f} s user + {run.system_seconds:.1f} s sys; sandbox process "
        f"CPU {server_cpu:.1f} s; {run.load})"
    )
    print(
        f"  peak RSS of the connector process {run.peak_rss_mb:,.0f} MB "
        f"(target < {MEMORY_TARGET_MB:,.0f} MB): "
        f"{'OK' if run.peak_rss_mb < MEMORY_TARGET_MB else 'MISSED'}; state db {db_mb:,.0f} MB"
    )
    print(
        f"  throughput: {s.get('contacts_read', 0) / wall:,.0f} contacts/s, "
        f"{s.get('activities_read', 0) / wall:,.0f} activities/s, "
        f"{s.get('leads_scored', 0) / wall:,.0f} leads scored/s"
    )
    print(f"  calls: HubSpot {hs_total:,}, Salesforce {sf_total:,}")
    _print_routes("HubSpot calls by route", hubspot_calls)
    _print_routes("Salesforce calls by route", salesforce_calls)
    if profile:
        _print_profile(profile)
    return run.peak_rss_mb < MEMORY_TARGET_MB


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="backfill 100,000 contacts")
    parser.add_argument("--sync-contacts", type=int, default=12_000)
    parser.add_argument("--changed", type=int, default=10_000)
    parser.add_argument("--backfill-contacts", type=int, default=None)
    parser.add_argument("--skip-sync", action="store_true")
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--newsletter-days",
        type=int,
        default=NEWSLETTER_DAYS,
        help="days between the generator's newsletters: 14 gives about 13 activities per "
        "contact, 5 about 21 (20,000,000 at 1,000,000 contacts)",
    )
    args = parser.parse_args(argv)
    if args.backfill_contacts is None:
        args.backfill_contacts = 100_000 if args.quick else 1_000_000
    if args.profile:
        args.profile = args.profile.resolve()
        args.profile.mkdir(parents=True, exist_ok=True)
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="bench-sync-"))).resolve()
    now = datetime.now(UTC).replace(microsecond=0)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f}; "
        f"workdir {workdir}; data now {now.isoformat()}"
    )
    started = time.perf_counter()
    ok = True
    if not args.skip_sync:
        ok &= bench_sync(args, workdir / "sync", now)
    if not args.skip_backfill:
        ok &= bench_backfill(args, workdir / "backfill", now)
    print(
        f"\ntotal bench time {time.perf_counter() - started:.0f} s; "
        f"targets {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
