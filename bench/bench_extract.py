"""HubSpot extraction: API calls against the page-size minimum, throughput, peak memory.

    .venv/bin/python bench/bench_extract.py [--contacts N] [--quick]

The sandbox runs in its own process (multiprocessing, spawn), seeded there from
`sandbox.generator`; this process is the connector (`HubSpotSource` -> `HubSpotClient` -> the
real hubspot-api-client), so its CPU time and memory are measured apart from the server's.

1. Calls. Three scenarios on a portal of N contacts (default 20,000; `--quick` 5,000):
   - initial load by list: `all_contacts()`, then `companies()` for their primary companies;
   - initial load by search: `changed_contacts()` over a window holding every contact, then
     `companies()` for them;
   - incremental run: every `activity_stream()` and `changed_contacts()` over the last
     `--window-minutes` (60) plus the configured overlap (5), ending at the data set's `now`.
   Every client call is counted, with the records it returned, per endpoint and per paged
   collection (one search window, one form's submissions, one event's participations, ...).
   The minimum is what the page sizes the code uses imply for those records: for a paged
   read `max(1, ceil(records / page size))` per collection (an empty read still costs one
   call), for a batch read `ceil(distinct ids / batch size)`. Target: calls <= 1.5 x minimum.
2. Throughput. The same scenarios against an `unlimited` sandbox (no limits) and a `pro` one
   (190 calls per rolling 10 s, search 5 per s), the client configured with the same tier.
   The bound the limits imply for the calls made: burst calls B and search calls S cannot
   finish before max(10 s x floor((B-1)/190), 1 s x floor((S-1)/5)); the client paces itself
   a little below that (180 per 10 s, 4 searches per s: `connectors/hubspot/constants.py`).
   Between scenarios the sandbox's windows and counters are reset (`POST /_sandbox/reset`) and
   a new client is built, as for runs started apart.
3. Memory. A fresh connector process streams M contacts (default 1,000,000; `--quick`
   100,000) through `all_contacts()`, counting them without holding them, and reports its
   RSS high-water mark (`resource.getrusage(RUSAGE_SELF).ru_maxrss`) and its RSS just before
   the first call (imports and client included).

Exit status 0 when every scenario is within 1.5x of its minimum and every check holds, else 1.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import multiprocessing
import os
import platform
import resource
import shlex
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from connectors.hubspot import constants as c  # noqa: E402
from connectors.hubspot.client import HubSpotClient  # noqa: E402
from connectors.hubspot.extract import HubSpotSource  # noqa: E402
from connectors.hubspot.forms import FormRules  # noqa: E402
from core.config import HubSpotSettings  # noqa: E402
from sandbox.generator import HUBSPOT_KINDS  # noqa: E402

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)  # the data set's `now` (deterministic)
WIDE = (NOW - timedelta(days=3 * 365), NOW + timedelta(days=1))  # holds every contact
TOKEN = "pat-sandbox-hubspot-token"  # sandbox.hubspot.DEFAULT_HUBSPOT_TOKEN
TARGET_RATIO = 1.5
HUBSPOT_BURST, HUBSPOT_SEARCH = 190, 5  # Pro: per rolling 10 s / per second (api-facts.md)
SEARCH_ROUTE_SUFFIX = "/search"
CRM_KINDS = ("contacts", "companies", "associations")
ALL_KINDS = HUBSPOT_KINDS


# --------------------------------------------------------------------------- sandbox process


@dataclass(frozen=True)
class ServerSpec:
    contacts: int
    seed: int
    tier: str
    kinds: tuple[str, ...] = ALL_KINDS


def _unique_emails(contacts: Iterable[dict[str, Any]], rewritten: list[str]) -> Iterator[Any]:
    """Contacts with every email unique, as the sandbox (and HubSpot) requires.

    Works around a generator bug: from about 70,000 contacts on, two of the designed
    duplicate contacts can get the same second address (`sandbox/generator/plan.py`,
    `_second_address` answers `{local}@gmail.com`, but a corporate `local` such as `sakai-s`
    is unique only within its company's domain), and seeding stops with "duplicate email".
    A repeated address becomes `local+<id>@domain`; the ids are listed in `rewritten`.
    """
    seen: set[str] = set()
    for record in contacts:
        properties = record.get("properties") or {}
        email = str(properties.get("email") or "").strip().lower()
        if email and email in seen:
            local, _, domain = email.partition("@")
            properties["email"] = f"{local}+{record['id']}@{domain}"
            rewritten.append(str(record["id"]))
        elif email:
            seen.add(email)
        yield record


def _serve(conn: Any, spec: ServerSpec) -> None:
    """The sandbox process: generate, seed, serve until told to stop."""
    from sandbox.generator import generate, split_by_kind
    from sandbox.httpbase import RunningServer
    from sandbox.hubspot import HubSpotSandbox

    started = time.perf_counter()
    sandbox = HubSpotSandbox(token=TOKEN, tier=spec.tier)
    data = generate(contacts=spec.contacts, seed=spec.seed, now=NOW)
    streams = split_by_kind(data.hubspot_records(), spec.kinds)
    rewritten: list[str] = []
    streams["contacts"] = _unique_emails(streams["contacts"], rewritten)
    counts = sandbox.seed(streams)
    server = RunningServer(sandbox.app).start()
    conn.send(
        {
            "url": server.url,
            "counts": counts,
            "seed_seconds": time.perf_counter() - started,
            "peak_rss_mb": _peak_rss_mb(),
            "emails_rewritten": rewritten,
        }
    )
    conn.recv()  # stop
    server.stop()


@dataclass
class Server:
    url: str
    counts: dict[str, int]
    seed_seconds: float
    peak_rss_mb: float
    emails_rewritten: list[str]

    def describe(self) -> str:
        rewritten = self.emails_rewritten
        shown = ", ".join(rewritten[:3]) + (", ..." if len(rewritten) > 3 else "")
        note = (
            f"; {len(rewritten)} repeated generator emails made unique (ids {shown})"
            if rewritten
            else ""
        )
        return (
            f"seeded {self.counts} in {self.seed_seconds:.1f} s, "
            f"server peak RSS {self.peak_rss_mb:.0f} MB{note}"
        )

    def _admin(self, method: str, name: str) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}/_sandbox/{name}", method=method)
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.load(answer)

    def stats(self) -> list[dict[str, Any]]:
        return self._admin("GET", "stats")["calls"]

    def reset(self) -> None:
        """Clear call counters, rate-limit windows and daily usage (data is kept)."""
        self._admin("POST", "reset")


@contextmanager
def sandbox_process(spec: ServerSpec) -> Iterator[Server]:
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(theirs, spec), name="hubspot-sandbox")
    process.start()
    theirs.close()  # so that recv() sees EOF if the child dies
    try:
        try:
            info = ours.recv()
        except EOFError:
            raise SystemExit(f"the sandbox process exited with {process.exitcode}") from None
        yield Server(**info)
    finally:
        if process.is_alive():
            with suppress(OSError):
                ours.send("stop")
            process.join(timeout=30)
        if process.is_alive():
            process.terminate()  # only our own child, by its handle
            process.join(timeout=10)


def _run_in_child(target: Callable[..., None], *args: Any) -> dict[str, Any]:
    """Run `target(conn, *args)` in a fresh spawned process and return what it sends."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=target, args=(theirs, *args), name="hubspot-connector")
    process.start()
    theirs.close()  # so that recv() sees EOF if the child dies
    try:
        return ours.recv()
    except EOFError:
        raise SystemExit(f"the connector process exited with {process.exitcode}") from None
    finally:
        process.join(timeout=30)


# --------------------------------------------------------------------------- call accounting


@dataclass
class Collection:
    """One paged read (or all batch reads of one endpoint) and what it returned."""

    endpoint: str
    page_size: int
    batch: bool = False
    calls: int = 0
    records: int = 0
    ids: set[str] = field(default_factory=set)

    @property
    def minimum(self) -> int:
        if self.batch:
            return math.ceil(len(self.ids) / self.page_size)
        return max(1, math.ceil(self.records / self.page_size))


class Tally:
    """Client calls and returned records, by endpoint and collection."""

    def __init__(self) -> None:
        self.collections: dict[tuple[Any, ...], Collection] = {}

    def page(self, endpoint: str, key: tuple[Any, ...], size: int, records: int) -> None:
        entry = self.collections.setdefault((endpoint, *key), Collection(endpoint, size))
        entry.calls += 1
        entry.records += records

    def batch(self, endpoint: str, size: int, ids: Iterable[Any]) -> None:
        entry = self.collections.setdefault((endpoint,), Collection(endpoint, size, batch=True))
        entry.calls += 1
        asked = [str(i) for i in ids]
        entry.records += len(asked)
        entry.ids.update(asked)

    def by_endpoint(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for entry in self.collections.values():
            row = out.setdefault(
                entry.endpoint,
                {"calls": 0, "records": 0, "minimum": 0, "collections": 0, "page": 0},
            )
            row["calls"] += entry.calls
            row["records"] += len(entry.ids) if entry.batch else entry.records
            row["minimum"] += entry.minimum
            row["collections"] += 1
            row["page"] = entry.page_size
        return dict(sorted(out.items()))


def _results(response: Mapping[str, Any], key: str = "results") -> int:
    value = response.get(key)
    return len(value) if isinstance(value, list) else 0


def _search_key(a: Mapping[str, Any]) -> tuple[Any, ...]:
    """One search collection = one object type and window (keyset pages belong together)."""
    filters = a["body"]["filterGroups"][0]["filters"]
    window = tuple(
        (f["propertyName"], f["operator"], f.get("value"))
        for f in filters
        if f["propertyName"] != "hs_object_id"
    )
    return (a["object_type"], window)


def _instrument(client: HubSpotClient, tally: Tally) -> None:
    """Wrap the client's API methods (on this instance only) to record calls and records."""
    paged: dict[str, tuple[Callable[[dict[str, Any]], str], Any, Any, str]] = {
        # method: (endpoint name, collection key, page size, result list key)
        "search": (
            lambda a: c.search_endpoint(a["object_type"]).name,
            _search_key,
            c.SEARCH_PAGE,
            "results",
        ),
        "list_page": (
            lambda a: c.list_endpoint(a["object_type"]).name,
            lambda a: (a["object_type"],),
            lambda a: a["limit"],
            "results",
        ),
        "association_page": (
            lambda a: c.association_page_endpoint(a["from_type"], a["to_type"]).name,
            lambda a: (a["from_type"], a["from_id"], a["to_type"]),
            500,
            "results",
        ),
        "forms_page": (lambda a: c.FORMS_LIST.name, lambda a: (), c.FORMS_PAGE, "results"),
        "form_submissions_page": (
            lambda a: c.FORM_SUBMISSIONS.name,
            lambda a: (a["form_guid"],),
            c.SUBMISSIONS_PAGE,
            "results",
        ),
        "email_events_page": (
            lambda a: c.EMAIL_EVENTS.name,
            lambda a: (a["start_ms"], a["end_ms"]),
            c.EMAIL_EVENTS_PAGE,
            "events",
        ),
        "marketing_events_page": (
            lambda a: c.MARKETING_EVENTS_LIST.name,
            lambda a: (),
            c.MARKETING_EVENTS_PAGE,
            "results",
        ),
        "participations_page": (
            lambda a: c.PARTICIPATIONS.name,
            lambda a: (a["event_id"],),
            c.PARTICIPATIONS_PAGE,
            "results",
        ),
        "events_page": (
            lambda a: c.WEB_EVENTS.name,
            lambda a: (a["event_type"], a["occurred_after"], a["occurred_before"], a["object_id"]),
            c.WEB_EVENTS_PAGE,
            "results",
        ),
    }
    batched: dict[str, tuple[Callable[[dict[str, Any]], str], int]] = {
        "batch_read": (lambda a: c.batch_read_endpoint(a["object_type"]).name, c.BATCH_READ_MAX),
        "associations": (
            lambda a: c.associations_endpoint(a["from_type"], a["to_type"]).name,
            c.ASSOCIATIONS_BATCH,
        ),
    }

    def wrap(name: str, record: Callable[[dict[str, Any], dict[str, Any]], None]) -> None:
        method = getattr(client, name)
        signature = inspect.signature(method)

        def wrapped(*args: Any, **kwargs: Any) -> dict[str, Any]:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            if "ids" in arguments:
                arguments["ids"] = list(arguments["ids"])
                args, kwargs = (), arguments
            response = method(*args, **kwargs)
            record(arguments, response)
            return response

        setattr(client, name, wrapped)

    for name, (endpoint, key, size, result_key) in paged.items():

        def record_page(a, response, endpoint=endpoint, key=key, size=size, rk=result_key):
            page_size = size(a) if callable(size) else size
            tally.page(endpoint(a), key(a), page_size, _results(response, rk))

        wrap(name, record_page)
    for name, (endpoint, size) in batched.items():

        def record_batch(a, response, endpoint=endpoint, size=size):
            tally.batch(endpoint(a), size, a["ids"])

        wrap(name, record_batch)


# --------------------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    name: str
    tier: str
    records: int  # records the connector yielded (contacts, companies, activities)
    detail: dict[str, int]
    wall: float
    cpu: float
    tally: Tally
    client_calls: Counter[str]
    sandbox_calls: Counter[int]  # by status
    burst_calls: int
    search_calls: int
    limiter_waited: float
    problems: int

    @property
    def endpoints(self) -> dict[str, dict[str, int]]:
        return self.tally.by_endpoint()

    @property
    def calls(self) -> int:
        return sum(row["calls"] for row in self.endpoints.values())

    @property
    def minimum(self) -> int:
        return sum(row["minimum"] for row in self.endpoints.values())

    @property
    def ratio(self) -> float:
        return self.calls / self.minimum if self.minimum else math.inf


def _settings(url: str, tier: str) -> HubSpotSettings:
    return HubSpotSettings(base_url=url, tier=tier, timeout_seconds=60)


def _forms() -> FormRules:
    return FormRules.load(ROOT / "mappings" / "forms.toml")


Work = Callable[[HubSpotSource], dict[str, int]]


def run_scenario(server: Server, tier: str, name: str, work: Work) -> Scenario:
    server.reset()
    settings = _settings(server.url, tier)
    client = HubSpotClient(settings, SecretStr(TOKEN))
    tally = Tally()
    _instrument(client, tally)
    source = HubSpotSource(client, _forms(), settings)
    started, cpu_started = time.perf_counter(), time.process_time()
    detail = work(source)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    stats = server.stats()
    client.close()
    by_status: Counter[int] = Counter()
    burst = search = 0
    for row in stats:
        by_status[row["status"]] += row["count"]
        if row["status"] == 429:
            continue
        if row["route"].endswith(SEARCH_ROUTE_SUFFIX):
            search += row["count"]
        else:
            burst += row["count"]
    return Scenario(
        name=name,
        tier=tier,
        records=sum(detail.values()),
        detail=detail,
        wall=wall,
        cpu=cpu,
        tally=tally,
        client_calls=Counter(client.calls),
        sandbox_calls=by_status,
        burst_calls=burst,
        search_calls=search,
        limiter_waited=client.limiter_waited_seconds,
        problems=sum(source.problem_counts.values()),
    )


def _load_by_list(source: HubSpotSource) -> dict[str, int]:
    contacts = 0
    company_ids: set[str] = set()
    for page in source.all_contacts():
        contacts += len(page)
        company_ids.update(x.company_id for x in page if x.company_id)
    companies = len(source.companies(sorted(company_ids)))
    return {"contacts": contacts, "companies": companies}


def _load_by_search(source: HubSpotSource) -> dict[str, int]:
    contacts = 0
    company_ids: set[str] = set()
    for page in source.changed_contacts(*WIDE):
        contacts += len(page)
        company_ids.update(x.company_id for x in page if x.company_id)
    companies = len(source.companies(sorted(company_ids)))
    return {"contacts": contacts, "companies": companies}


def _incremental(since: datetime, until: datetime) -> Work:
    def work(source: HubSpotSource) -> dict[str, int]:
        counts: dict[str, int] = {}
        for stream in source.ACTIVITY_STREAMS:
            counts[stream] = sum(1 for _ in source.activity_stream(stream, since, until))
        counts["contacts"] = sum(len(page) for page in source.changed_contacts(since, until))
        return counts

    return work


def run_scenarios(server: Server, tier: str, window: tuple[datetime, datetime]) -> list[Scenario]:
    return [
        run_scenario(server, tier, "initial load, list", _load_by_list),
        run_scenario(server, tier, "initial load, search", _load_by_search),
        run_scenario(server, tier, "incremental", _incremental(*window)),
    ]


# --------------------------------------------------------------------------- memory


def _rss_now_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _stream_all_contacts(conn: Any, url: str) -> None:
    """The memory-measured connector process: count every contact, hold none."""
    settings = _settings(url, "unlimited")
    client = HubSpotClient(settings, SecretStr(TOKEN))
    source = HubSpotSource(client, _forms(), settings)
    before_rss, before_peak = _rss_now_mb(), _peak_rss_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    contacts = with_company = 0
    for page in source.all_contacts():
        contacts += len(page)
        with_company += sum(1 for x in page if x.company_id)
    conn.send(
        {
            "contacts": contacts,
            "with_company": with_company,
            "wall": time.perf_counter() - started,
            "cpu": time.process_time() - cpu_started,
            "calls": client.total_calls,
            "rss_before_mb": before_rss,
            "peak_before_mb": before_peak,
            "peak_mb": _peak_rss_mb(),
            "rss_after_mb": _rss_now_mb(),
            "problems": sum(source.problem_counts.values()),
        }
    )
    client.close()


# --------------------------------------------------------------------------- bounds and output


def limit_bound_seconds(burst: int, search: int, burst_max: int, search_max: int) -> float:
    """The least wall time in which `burst` calls (rolling 10 s) and `search` calls (rolling
    1 s) fit under the limits: the last call of a bucket of L starts at floor((n-1)/L) x period."""
    times = [0.0]
    if burst:
        times.append(10.0 * ((burst - 1) // burst_max))
    if search:
        times.append(1.0 * ((search - 1) // search_max))
    return max(times)


def _rate(records: int, seconds: float) -> str:
    return f"{records / seconds:,.0f}" if seconds > 0 else "unbounded"


def _table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right if right is not None else set(range(1, len(headers)))
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(v).rjust(w) if i in right else str(v).ljust(w)
            for i, (v, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def print_calls(scenarios: list[Scenario], contacts: int) -> list[str]:
    """The call table; returns the list of failed checks."""
    failures: list[str] = []
    per = 1000 / contacts
    summary = []
    for s in scenarios:
        ok = s.ratio <= TARGET_RATIO
        if not ok:
            failures.append(f"{s.name}: {s.calls} calls vs minimum {s.minimum}")
        summary.append(
            [
                s.name,
                f"{s.calls:,}",
                f"{s.minimum:,}",
                f"{s.calls * per:,.1f}",
                f"{s.minimum * per:,.1f}",
                f"{s.ratio:.2f}x",
                "yes" if ok else "NO",
            ]
        )
        client_total = sum(s.client_calls.values())
        sandbox_total = sum(s.sandbox_calls.values())
        if not client_total == sandbox_total == s.calls:
            failures.append(
                f"{s.name}: counted {s.calls} calls, client {client_total}, sandbox {sandbox_total}"
            )
    print(
        _table(
            [
                "scenario",
                "calls",
                "minimum",
                "calls/1k contacts",
                "min/1k contacts",
                "ratio",
                f"<= {TARGET_RATIO}x",
            ],
            summary,
        )
    )
    for s in scenarios:
        print(f"\n{s.name}: " + ", ".join(f"{k} {v:,}" for k, v in s.detail.items()))
        rows = [
            [
                endpoint,
                f"{row['calls']:,}",
                f"{row['records']:,}",
                f"{row['page']:,}",
                f"{row['collections']:,}",
                f"{row['minimum']:,}",
                f"{row['calls'] / row['minimum']:.2f}x" if row["minimum"] else "-",
            ]
            for endpoint, row in s.endpoints.items()
        ]
        print(
            _table(
                ["  endpoint", "calls", "records", "page", "reads", "minimum", "ratio"],
                [["  " + r[0], *r[1:]] for r in rows],
            )
        )
    return failures


def print_throughput(unlimited: list[Scenario], pro: list[Scenario]) -> list[str]:
    failures: list[str] = []
    rows = []
    for free_run, pro_run in zip(unlimited, pro, strict=True):
        if free_run.detail != pro_run.detail:
            failures.append(
                f"{free_run.name}: unlimited read {free_run.detail}, pro {pro_run.detail}"
            )
        if pro_run.sandbox_calls.get(429):
            failures.append(f"{pro_run.name}: {pro_run.sandbox_calls[429]} answers 429 under pro")
        bound = limit_bound_seconds(
            pro_run.burst_calls, pro_run.search_calls, HUBSPOT_BURST, HUBSPOT_SEARCH
        )
        paced = limit_bound_seconds(
            pro_run.burst_calls,
            pro_run.search_calls,
            (c.BURST_PER_10S["pro"] or 0) - c.BURST_MARGIN,
            c.SEARCH_PER_SECOND["pro"] or 0,
        )
        rows.append(
            [
                free_run.name,
                f"{free_run.records:,}",
                f"{free_run.wall:.1f}",
                _rate(free_run.records, free_run.wall),
                f"{free_run.cpu:.1f}",
                f"{pro_run.burst_calls}+{pro_run.search_calls}",
                f"{pro_run.wall:.1f}",
                _rate(pro_run.records, pro_run.wall),
                f"{bound:.0f}",
                _rate(pro_run.records, bound),
                f"{paced:.0f}",
                f"{pro_run.limiter_waited:.1f}",
                str(pro_run.sandbox_calls.get(429, 0)),
            ]
        )
    print(
        _table(
            [
                "scenario",
                "records",
                "unl. s",
                "unl. rec/s",
                "cpu s",
                "burst+search",
                "pro s",
                "pro rec/s",
                "bound s",
                "bound rec/s",
                "paced s",
                "waited s",
                "429s",
            ],
            rows,
        )
    )
    return failures


def print_memory(memory: dict[str, Any], seeded: int) -> list[str]:
    failures = []
    if memory["contacts"] != seeded:
        failures.append(f"memory run streamed {memory['contacts']} of {seeded} contacts")
    rows = [
        [
            f"{memory['contacts']:,}",
            f"{memory['calls']:,}",
            f"{memory['wall']:.1f}",
            _rate(memory["contacts"], memory["wall"]),
            f"{memory['cpu']:.1f}",
            f"{memory['rss_before_mb']:.0f}",
            f"{memory['peak_mb']:.0f}",
            f"{memory['peak_mb'] - memory['rss_before_mb']:.0f}",
        ]
    ]
    print(
        _table(
            [
                "contacts",
                "calls",
                "wall s",
                "contacts/s",
                "cpu s",
                "RSS before MB",
                "peak RSS MB",
                "growth MB",
            ],
            rows,
            right=set(range(8)),
        )
    )
    print(
        f"{memory['with_company']:,} contacts with a primary company; "
        f"{memory['problems']:,} record problems reported (the source keeps at most "
        f"{c.MAX_PROBLEMS:,} of them, so they cannot grow with the data); "
        f"RSS after the run {memory['rss_after_mb']:.0f} MB"
    )
    return failures


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, help="portal size for calls and throughput")
    parser.add_argument("--quick", action="store_true", help="5,000 and 100,000 contacts")
    parser.add_argument("--memory-contacts", type=int, help="contacts streamed for memory")
    parser.add_argument("--window-minutes", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-pro", action="store_true", help="no pro-tier throughput run")
    parser.add_argument("--skip-memory", action="store_true", help="no memory run")
    args = parser.parse_args(argv)
    contacts = args.contacts or (5_000 if args.quick else 20_000)
    memory_contacts = args.memory_contacts or (100_000 if args.quick else 1_000_000)
    overlap = timedelta(minutes=HubSpotSettings().overlap_minutes)
    window = (NOW - timedelta(minutes=args.window_minutes) - overlap, NOW)

    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    print(f"command: {command}")
    print(f"machine: {_machine()}; load average at start {_load()}")
    print(
        f"data: sandbox.generator seed {args.seed}, now {NOW.isoformat()}; incremental window "
        f"{window[0].isoformat()} .. {window[1].isoformat()} "
        f"({args.window_minutes:g} min + {overlap.total_seconds() / 60:g} min overlap)\n"
    )
    failures: list[str] = []

    with sandbox_process(ServerSpec(contacts, args.seed, "unlimited")) as server:
        print(f"sandbox (unlimited): {server.describe()}\n")
        unlimited = run_scenarios(server, "unlimited", window)
    print(f"== API calls, portal of {contacts:,} contacts (tier unlimited) ==")
    failures += print_calls(unlimited, contacts)
    for s in unlimited:
        if s.name.startswith("initial") and s.detail["contacts"] != server.counts["contacts"]:
            failures.append(f"{s.name}: {s.detail['contacts']} of {server.counts['contacts']}")

    if not args.skip_pro:
        with sandbox_process(ServerSpec(contacts, args.seed, "pro")) as server:
            pro = run_scenarios(server, "pro", window)
        print(f"\n== Throughput, {contacts:,} contacts: unlimited vs pro (records/s) ==")
        failures += print_throughput(unlimited, pro)
        print(
            "bound: least wall time HubSpot's pro limits (190 per 10 s, search 5 per s) allow "
            "for the calls made; paced: the same at the client's own pacing (180 per 10 s, 4/s)"
        )

    if not args.skip_memory:
        spec = ServerSpec(memory_contacts, args.seed, "unlimited", CRM_KINDS)
        with sandbox_process(spec) as server:
            print(f"\nsandbox (memory run): {server.describe()}")
            memory = _run_in_child(_stream_all_contacts, server.url)
        print("\n== Peak memory of a connector process streaming all_contacts() ==")
        failures += print_memory(memory, server.counts["contacts"])

    print(f"\nload average at end {_load()} (other work on the machine skews the timings)")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print(f"all scenarios within {TARGET_RATIO}x of the page-size minimum; all checks hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
