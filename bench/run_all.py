"""Every benchmark in bench/, each quickly, each in its own process; then one summary table.

    .venv/bin/python bench/run_all.py [--only NAME ...] [--timeout SECONDS]

The arguments below are small on purpose (a few minutes for all on 2 cores): they check
that each benchmark still runs and give rough figures. The figures in `docs/benchmarks.md`
come from each script run with its defaults. A benchmark that fails or times out is shown in
the table with its exit code; the others still run, and this script then exits 1.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name -> the quick arguments (read each script's argparse for the full sizes)
QUICK: dict[str, list[str]] = {
    "bench_accounts": ["--accounts", "2000"],
    "bench_handoff": ["--contacts", "2000", "--requests", "5", "--poll-minutes", "0.25",
                      "--idle-minutes", "0.25"],
    "bench_extract": ["--contacts", "1000", "--memory-contacts", "5000", "--skip-pro"],
    "bench_identity_memory": ["--leads", "20000"],
    "bench_scoring": ["--contacts", "2000"],
    "bench_report": ["--sizes", "2000"],
    "bench_sf_calls": ["--incremental", "1000", "--skip-backfill", "--naive-sample", "200"],
    "bench_sync": ["--sync-contacts", "3000", "--changed", "2000", "--skip-backfill"],
}
# A printed line is a figure when it has a number and one of these.
FIGURE = re.compile(r"\d.*(/s\b|per s|\bMB\b|\bcalls?\b|\bx\b|\d+(\.\d+)?\s?s\b|ratio|peak)", re.I)
MAX_FIGURES = 4


@dataclass
class Result:
    name: str
    args: list[str]
    seconds: float = 0.0
    code: int | None = None  # None: timed out
    figures: list[str] = field(default_factory=list)


def figures(output: str) -> list[str]:
    """The lines that carry figures, at most MAX_FIGURES (the last ones: the totals)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    found = [line for line in lines if FIGURE.search(line)]
    return (found or lines)[-MAX_FIGURES:]


def run(name: str, args: list[str], timeout: float) -> Result:
    result = Result(name, args)
    command = [sys.executable, str(ROOT / "bench" / f"{name}.py"), *args]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
        result.code = done.returncode
        output = done.stdout if done.returncode == 0 else done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or ""
        output = out.decode(errors="replace") if isinstance(out, bytes) else out
        output += f"\ntimed out after {timeout:g} s"
    result.seconds = time.monotonic() - started
    result.figures = figures(output)
    return result


def table(results: list[Result]) -> str:
    rows = [("benchmark", "arguments", "wall s", "exit", "figures")]
    for r in results:
        code = "timeout" if r.code is None else str(r.code)
        lines = r.figures or [""]
        rows.append((r.name, " ".join(r.args), f"{r.seconds:.1f}", code, lines[0][:110]))
        rows.extend(("", "", "", "", line[:110]) for line in lines[1:])
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    out = []
    for i, row in enumerate(rows):
        out.append(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[4]
        )
        if i == 0:
            out.append("-" * (sum(widths) + 8 + 40))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(QUICK), help="these benchmarks")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per benchmark")
    args = parser.parse_args(argv)
    missing = sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py") if p.stem not in QUICK)
    if missing:
        print(f"not run (no quick arguments in run_all.py): {', '.join(missing)}", flush=True)
    results = []
    for name in args.only or QUICK:
        print(f"{name} {' '.join(QUICK[name])} ...", flush=True)
        results.append(run(name, QUICK[name], args.timeout))
    print()
    print(table(results))
    failed = [r.name for r in results if r.code != 0]
    if failed or missing:
        print(f"\nfailed: {', '.join(failed)}" if failed else "", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
