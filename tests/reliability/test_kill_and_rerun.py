"""Reliability: kill -9 a sync at random moments, many times, then let it finish.

The Salesforce sandbox must end exactly as after a run that was never interrupted: the same
scored records, the same Leads, one Task per MQL episode, nothing lost, nothing twice. The
sandboxes run in their own process (`connector sandbox serve`), as they would in production,
so killing the connector never touches them.

Both sandboxes hold the same data generated up to the same moment (`--now SEEDED`), and every
run of the connector scores at the same `now` (RELIABILITY_NOW, see `killer.pin_clock`). Scores
decay with time: the killed runs take a minute or more longer than the uninterrupted one, and
a lead whose score sits at a rounding edge (10.51 then 10.50 a minute later, seen with the
seed below) would write 11 in one sandbox and 10 in the other though nothing was lost. With
time held still, the comparison below stays exact: any difference is a lost or extra write.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR = [sys.executable, "-c", "import cli; cli.main()"]
# The moment every connector run of these tests takes for `now`; the sandboxes' data is
# generated up to a minute before it, as if the sync ran a minute after the last activity.
NOW = datetime.now(UTC).replace(microsecond=0)
SEEDED = NOW - timedelta(minutes=1)
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "RELIABILITY_NOW": NOW.isoformat()}

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedSandbox:
    def __init__(self, workdir: Path, contacts: int, faults: str | None = None) -> None:
        self.config = workdir / "cfg.toml"
        self.ports = (free_port(), free_port())
        args = [*CONNECTOR, "sandbox", "serve", "--hubspot-port", str(self.ports[0]),
                "--salesforce-port", str(self.ports[1]), "--contacts", str(contacts),
                "--random-seed", "7", "--now", SEEDED.isoformat(),
                "--write-config", str(self.config)]
        if faults:
            args += ["--faults", faults]
        self.process = subprocess.Popen(
            args, cwd=workdir, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        line = self.process.stdout.readline()
        assert "sandbox ready" in line, self.process.stderr.read()
        self.ca = next((workdir).glob("**/sandbox-cert.pem"), None)

    def records(self, sobject: str) -> list[dict[str, Any]]:
        ca = self.config.read_text().split('ca_bundle = "')[1].split('"')[0]
        url = f"https://127.0.0.1:{self.ports[1]}/_sandbox/records/{sobject}"
        answer = requests.get(url, verify=ca, timeout=30).json()
        return answer["records"] if isinstance(answer, dict) else answer

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def final_state(sandbox: ServedSandbox) -> dict[str, Any]:
    scored = sorted(
        (str(r["Email"]).strip().lower(), obj, r.get("Lead_Score__c"), r.get("MQL_Status__c"))
        for obj in ("Lead", "Contact")
        for r in sandbox.records(obj)
        if r.get("Lead_Score__c") is not None
    )
    tasks = Counter(t["Connector_Key__c"] for t in sandbox.records("Task")
                    if t.get("Connector_Key__c"))
    leads = Counter(r["HubSpot_Contact_Id__c"] for r in sandbox.records("Lead")
                    if r.get("HubSpot_Contact_Id__c"))
    return {"scored": scored, "tasks": tasks, "leads": leads}


def run_sync(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RUN, "--config", str(config), "-q", "sync", "--json"], cwd=cwd,
                          env=ENV, capture_output=True, text=True, timeout=600)


KILLER = [sys.executable, "-c", "import tests.reliability.killer as k; k.main()"]
RUN = [sys.executable, "-c", "import tests.reliability.killer as k; k.run()"]  # clock pinned


def kill_until_done(config: Path, cwd: Path, rng: random.Random, most: int = 60) -> list[int]:
    """Run `connector sync` again and again, each time killed (-9) right after (or just
    before) a random one of its first 40 HTTP calls, until a run finishes by itself.
    Returns the kill points of the runs that were killed."""
    killed: list[int] = []
    for _ in range(most):
        kill_at = rng.randint(1, 40)
        when = rng.choice(["before", "after"])
        process = subprocess.run(
            [*KILLER, str(kill_at), when, "--config", str(config), "-q", "sync"],
            cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300,
        )
        if process.returncode == -signal.SIGKILL:
            killed.append(kill_at)
            continue
        if process.returncode == 5:  # stopped by an API fault (limit); cron runs it again
            continue
        assert process.returncode in (0, 3), process.stderr
        return killed
    raise AssertionError("the sync never finished")


@pytest.mark.parametrize(
    "faults", [None, "429=0.03,5xx=0.05,reset=0.03,lock=0.05,expire_after=60,seed=3"]
)
def test_given_kill_9_at_random_points_the_final_state_equals_an_uninterrupted_run(
    tmp_path: Path, faults: str | None
) -> None:
    contacts = 800
    (tmp_path / "clean").mkdir()
    (tmp_path / "killed").mkdir()
    clean = ServedSandbox(tmp_path / "clean", contacts)
    try:
        result = run_sync(clean.config, tmp_path / "clean")
        assert result.returncode == 0, result.stderr
        # The clock is pinned (see the module docstring): else the comparison depends on time.
        assert json.loads(result.stdout)["window_end"] == NOW.isoformat()
        expected = final_state(clean)
    finally:
        clean.stop()
    assert expected["tasks"] and expected["leads"]

    killed_box = ServedSandbox(tmp_path / "killed", contacts, faults)
    try:
        killed = kill_until_done(killed_box.config, tmp_path / "killed", random.Random(5))
        assert len(killed) >= 5 and len(set(killed)) >= 3, killed  # many, at different points
        for _ in range(10):  # finish as cron would: run until a run ends cleanly
            result = run_sync(killed_box.config, tmp_path / "killed")
            assert result.returncode in (0, 3, 5), result.stderr
            if result.returncode == 0:
                break
        assert result.returncode == 0, result.stderr
        got = final_state(killed_box)
    finally:
        killed_box.stop()
    assert max(got["tasks"].values()) == 1, "a Task was created twice"
    assert max(got["leads"].values()) == 1, "a Lead was created twice"
    assert got == expected


def test_given_two_runs_started_together_one_works_and_the_other_exits_4(tmp_path: Path) -> None:
    sandbox = ServedSandbox(tmp_path, 300)
    try:
        first = subprocess.Popen([*CONNECTOR, "--config", str(sandbox.config), "-q", "sync"],
                                 cwd=tmp_path, env=ENV, stderr=subprocess.PIPE, text=True)
        second = subprocess.Popen([*CONNECTOR, "--config", str(sandbox.config), "-q", "sync"],
                                  cwd=tmp_path, env=ENV, stderr=subprocess.PIPE, text=True)
        codes = sorted([first.wait(timeout=300), second.wait(timeout=300)])
        state = final_state(sandbox)
    finally:
        sandbox.stop()
    assert codes == [0, 4] or codes == [0, 0]  # the second either met the lock or ran after
    assert max(state["tasks"].values()) == 1 and max(state["leads"].values()) == 1
