"""`connector serve` as an operator runs it: a real process on loopback (uvicorn), the real
sandboxes, webhooks signed as HubSpot signs them, the tests' pinned clock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from app.demo import inject_new_activity, pick_ready_leads
from connectors.hubspot.webhooks import signature_v3
from core.clock import NOW_VARIABLE
from core.config import Settings
from sandbox.serve import Sandbox
from sync.lead_refs import contact_ref
from sync.runner import open_store, run_once
from tests.clock import DATA_UNTIL, HISTORY_START
from tests.e2e.conftest import SEED_CONTACTS, current_clock, settings_for, started
from tests.e2e.test_cli import free_port

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR = [sys.executable, "-c", "import cli; cli.main()"]
SECRET = "test-app-client-secret"


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), NOW_VARIABLE: current_clock()().isoformat(),
            "CONNECTOR_HUBSPOT__CLIENT_SECRET": SECRET, **extra}


def _wait(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Service:
    def __init__(self, config: Path, cwd: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"serve-{self.port}.log"
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [*CONNECTOR, "--config", str(config), "serve", "--port", str(self.port)],
            cwd=cwd, env=_env(**env), stdout=subprocess.DEVNULL, stderr=self._log_file,
        )
        _wait("healthz", self._healthy)

    def _healthy(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def metrics(self) -> dict[str, float]:
        text = requests.get(f"{self.url}/metrics", timeout=5).text
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return out

    def passes(self) -> float:
        return sum(v for k, v in self.metrics().items()
                   if k.startswith("connector_serve_runs_total"))

    def post(self, events: list[dict[str, Any]], *, secret: str = SECRET,
             age_seconds: float = 0.0) -> requests.Response:
        body = json.dumps(events).encode()
        uri = f"{self.url}/hubspot/webhooks"
        timestamp = str(int((time.time() - age_seconds) * 1000))
        signature = signature_v3(secret, "POST", uri, body, timestamp)
        return requests.post(uri, data=body, timeout=5, headers={
            "Content-Type": "application/json", "X-HubSpot-Signature-v3": signature,
            "X-HubSpot-Request-Timestamp": timestamp})

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=60)
        self._log_file.close()
        return code


def _event(contact_id: str, kind: str = "contact.propertyChange") -> dict[str, Any]:
    return {"objectId": int(contact_id), "subscriptionType": kind, "eventId": 100,
            "portalId": 1, "occurredAt": int(time.time() * 1000), "attemptNumber": 0,
            "propertyName": "num_conversion_events", "changeSource": "FORM"}


def _marked(settings: Settings, contact_id: str) -> bool:
    with open_store(settings, clock=current_clock()) as store:
        return contact_ref(contact_id) in store.dirty_refs(100_000)


def _tasks_for(sandbox: Sandbox, contact_id: str) -> list[dict[str, Any]]:
    """The connector's Tasks on the Salesforce record of this HubSpot contact."""
    return [t for t in sandbox.salesforce.store.records("Task")
            if t.get("Connector_Key__c") and _task_of(sandbox, t, contact_id)]


def _task_of(sandbox: Sandbox, task: dict[str, Any], contact_id: str) -> bool:
    who = task.get("WhoId")
    for obj in ("Lead", "Contact"):
        for record in sandbox.salesforce.store.records(obj):
            if record.get("Id") == who and record.get("HubSpot_Contact_Id__c") == contact_id:
                return True
    return False


@pytest.fixture
def backfilled(tmp_path: Path) -> Iterator[tuple[Sandbox, Settings, Path]]:
    sandbox = started(tmp_path, tier="pro")  # a daily limit, so budget left is known
    settings = settings_for(sandbox, tmp_path)
    run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
    try:
        yield sandbox, settings, tmp_path / "connector.toml"
    finally:
        sandbox.stop()


def test_given_signed_webhook_the_loop_hands_off_within_seconds_and_refuses_bad_signatures(
    backfilled: tuple[Sandbox, Settings, Path], tmp_path: Path
) -> None:
    sandbox, settings, config = backfilled
    (lead,) = pick_ready_leads(SEED_CONTACTS, DATA_UNTIL, 1)
    service = Service(config, tmp_path)
    try:
        _wait("the start-up pass", lambda: service.passes() >= 1)

        # Bad secret, stale timestamp, no signature: 401 and nothing marked.
        assert service.post([_event(lead.hubspot_id)], secret="not-the-secret").status_code == 401
        assert service.post([_event(lead.hubspot_id)], age_seconds=400).status_code == 401
        unsigned = requests.post(f"{service.url}/hubspot/webhooks", data=b"[]", timeout=5)
        assert unsigned.status_code == 401
        assert not _marked(settings, lead.hubspot_id)

        # A consultation request after a webinar: HubSpot sends the webhook.
        inject_new_activity(sandbox, [lead], sandbox.clock())
        assert not _tasks_for(sandbox, lead.hubspot_id)
        sent = time.monotonic()
        answer = service.post([_event(lead.hubspot_id)])
        answered = time.monotonic() - sent
        assert answer.status_code == 204 and answered < 1.0
        tasks = _wait("the Task", lambda: _tasks_for(sandbox, lead.hubspot_id), timeout=30)
        handoff_seconds = time.monotonic() - sent
        assert len(tasks) == 1 and handoff_seconds < 15, handoff_seconds
        print(f"\nwebhook answered in {answered * 1000:.0f} ms; Task written after "
              f"{handoff_seconds:.1f} s")

        metrics = _wait("the pass's metrics",
                        lambda: (m := service.metrics())
                        .get("connector_serve_handoff_latency_seconds_count", 0) >= 1 and m)
        assert metrics["connector_serve_handoffs_total"] >= 1
        assert metrics["connector_serve_runs_total{outcome=ok,trigger=webhook}"] >= 1
        assert metrics["connector_serve_webhook_requests_total{result=unauthorized}"] == 3
        assert metrics["connector_serve_webhook_requests_total{result=accepted}"] == 1
        assert metrics["connector_serve_last_success_timestamp_seconds"] > 0
        assert metrics["connector_serve_api_budget_remaining{platform=hubspot}"] > 0
        assert metrics["connector_serve_api_budget_remaining{platform=salesforce}"] > 0
        assert "connector_serve_dead_letters_open" in metrics
        assert metrics["connector_serve_loop_up"] == 1

        # The service holds the run lock: a cron `sync` meanwhile exits 4 and does nothing.
        cron = subprocess.run([*CONNECTOR, "--config", str(config), "sync"], cwd=tmp_path,
                              env=_env(), capture_output=True, text=True, timeout=120)
        assert cron.returncode == 4, cron.stderr
    finally:
        code = service.stop(signal.SIGTERM)
    log = service.log.read_text()
    assert code == 0, log
    assert "Traceback" not in log and SECRET not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(line.get("msg") == "stopped" for line in lines), log


def test_given_kill_9_after_the_2xx_a_restart_processes_the_mark_once(
    backfilled: tuple[Sandbox, Settings, Path], tmp_path: Path
) -> None:
    sandbox, settings, config = backfilled
    (lead,) = pick_ready_leads(SEED_CONTACTS, DATA_UNTIL, 1)
    # A debounce longer than the test: the pass never starts before the kill.
    slow = Service(config, tmp_path, CONNECTOR_SERVE__DEBOUNCE_SECONDS="120",
                   CONNECTOR_SERVE__DEBOUNCE_MAX_SECONDS="120")
    try:
        _wait("the start-up pass", lambda: slow.passes() >= 1)
        inject_new_activity(sandbox, [lead], sandbox.clock())
        assert slow.post([_event(lead.hubspot_id)]).status_code == 204
    finally:
        assert slow.stop(signal.SIGKILL) == -signal.SIGKILL
    assert _marked(settings, lead.hubspot_id)  # committed before the 2xx
    assert not _tasks_for(sandbox, lead.hubspot_id)

    again = Service(config, tmp_path)
    try:
        tasks = _wait("the Task", lambda: _tasks_for(sandbox, lead.hubspot_id), timeout=60)
        _wait("the restart pass", lambda: again.passes() >= 1)
        assert not _marked(settings, lead.hubspot_id)
        # A second webhook for the same contact: processed again, no second Task.
        assert again.post([_event(lead.hubspot_id)]).status_code == 204
        _wait("the webhook pass", lambda: again.passes() >= 2)
    finally:
        assert again.stop() == 0
    keys = Counter(t["Connector_Key__c"] for t in sandbox.salesforce.store.records("Task")
                   if t.get("Connector_Key__c"))
    assert len(tasks) == 1 and max(keys.values()) == 1
