"""The real-time hand-off end to end: a consultation request posted to the HubSpot sandbox's
Forms submission endpoint, the signed webhook the sandbox sends to a real `connector serve`
process (pinned clock through CONNECTOR_NOW), the pass it triggers, the Task in the Salesforce
sandbox and one hot-lead alert per channel on local receivers (Slack-style HTTP, a generic
webhook, SMTP through aiosmtpd). Then a burst with a kill -9 in the middle and a restart:
nothing lost, nothing twice."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from app.demo import attend_webinar, pick_ready_leads
from app.demo_handoff import (
    ServeProcess,
    connector_tasks,
    consultation_fields,
    point_webhooks,
    portal_id,
    submit_form,
    wait_for,
)
from core.config import Settings
from sandbox.generator.hubspot import form_guids
from sandbox.hubspot.webhooks import sign_v3
from sandbox.serve import Sandbox
from sync.lead_refs import contact_ref
from sync.runner import open_store, run_once
from tests.alerts.receivers import HttpReceiver, http_receiver, smtp_receiver
from tests.clock import DATA_UNTIL, HISTORY_START
from tests.e2e.conftest import SEED_CONTACTS, current_clock, settings_for, started

SECRET = "handoff-app-client-secret"
SLACK = "/services/T0000/B0000/handoff-slack-token"
HOOK = "/hook/handoff-webhook-path"
CONSULTATION = form_guids(42)["consultation_ja"]
HANDOFF_BOUND_SECONDS = 10.0


class World:
    def __init__(self, sandbox: Sandbox, settings: Settings, config: Path, http: HttpReceiver,
                 mailbox: Any, smtp_port: int, tmp_path: Path) -> None:
        self.sandbox, self.settings, self.config = sandbox, settings, config
        self.http, self.mailbox, self.smtp_port = http, mailbox, smtp_port
        self.tmp_path = tmp_path
        self.portal = portal_id(sandbox)

    def serve(self, port: int | None = None) -> ServeProcess:
        alerts = {
            "CONNECTOR_ALERTS__SLACK_WEBHOOK_URL": self.http.url + SLACK,
            "CONNECTOR_ALERTS__WEBHOOK_URL": self.http.url + HOOK,
            "CONNECTOR_ALERTS__SMTP_HOST": "127.0.0.1",
            "CONNECTOR_ALERTS__SMTP_PORT": str(self.smtp_port),
            "CONNECTOR_ALERTS__SMTP_SECURITY": "none",
            "CONNECTOR_ALERTS__SMTP_FROM": "connector@example.co.jp",
            "CONNECTOR_ALERTS__SMTP_TO": "sales@example.co.jp",
            "CONNECTOR_ALERTS__RETRY_BASE_MINUTES": "0",
        }
        return ServeProcess(self.config, secret=SECRET, now=current_clock()(),
                            log=self.tmp_path / "serve.log", env=alerts, port=port)

    def submit(self, lead: Any) -> None:
        submit_form(self.sandbox, self.portal, CONSULTATION,
                    consultation_fields(self.sandbox, lead.email))

    def alerts(self) -> dict[str, int]:
        return {"slack": len(self.http.on(SLACK)), "webhook": len(self.http.on(HOOK)),
                "email": len(self.mailbox.messages)}

    def alert_keys(self) -> list[str]:
        return [p.headers.get("Idempotency-Key", "") for p in self.http.on(HOOK)]

    def all_tasks(self) -> list[dict[str, Any]]:
        return [t for t in self.sandbox.salesforce.store.records("Task")
                if t.get("Connector_Key__c")]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    sandbox = started(tmp_path, tier="pro")
    settings = settings_for(sandbox, tmp_path)
    run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
    try:
        with http_receiver() as http, smtp_receiver() as (mailbox, smtp_port):
            yield World(sandbox, settings, tmp_path / "connector.toml", http, mailbox,
                        smtp_port, tmp_path)
    finally:
        sandbox.stop()


def _bad_signature(service: ServeProcess, contact_id: str) -> int:
    body = json.dumps([{"objectId": int(contact_id), "subscriptionType": "contact.propertyChange",
                        "eventId": 1, "portalId": 1, "occurredAt": int(time.time() * 1000),
                        "attemptNumber": 0, "propertyName": "num_conversion_events",
                        "changeSource": "FORM"}]).encode()
    stamp = int(time.time() * 1000)
    signature = sign_v3("not-the-app-secret", "POST", service.webhook_url, body, stamp)
    return requests.post(service.webhook_url, data=body, timeout=5, headers={
        "Content-Type": "application/json", "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": str(stamp)}).status_code


def _marked(settings: Settings, contact_id: str) -> bool:
    with open_store(settings, clock=current_clock()) as store:
        return contact_ref(contact_id) in store.dirty_refs(100_000)


def test_given_a_consultation_posted_to_the_form_the_task_and_one_alert_per_channel_arrive_within_seconds(  # noqa: E501
    world: World,
) -> None:
    sandbox = world.sandbox
    (lead,) = pick_ready_leads(SEED_CONTACTS, DATA_UNTIL, 1)
    attend_webinar(sandbox, [lead], sandbox.clock())  # the webinar alone makes no MQL
    service = world.serve()
    try:
        wait_for("the start-up pass", lambda: service.passes() >= 1, 60)
        point_webhooks(sandbox, service.webhook_url, SECRET)

        # A forged webhook: 401, nothing marked, no pass, no Task, no alert.
        assert _bad_signature(service, lead.hubspot_id) == 401
        time.sleep(3.0)  # longer than the 2 s debounce
        assert service.passes() == 1 and not _marked(world.settings, lead.hubspot_id)
        assert not connector_tasks(sandbox, lead.hubspot_id)
        assert world.alerts() == {"slack": 0, "webhook": 0, "email": 0}

        submitted = time.monotonic()
        world.submit(lead)
        tasks = wait_for("the Task", lambda: connector_tasks(sandbox, lead.hubspot_id), 30)
        task_seconds = time.monotonic() - submitted
        wait_for("an alert on each channel", lambda: all(world.alerts().values()), 30)
        alert_seconds = time.monotonic() - submitted
        print(f"\nform submitted -> Task {task_seconds:.2f} s, -> alerts {alert_seconds:.2f} s")
        assert task_seconds < HANDOFF_BOUND_SECONDS and alert_seconds < HANDOFF_BOUND_SECONDS

        # Quiet for longer than a debounce: still one Task and one alert per channel.
        time.sleep(3.0)
        assert len(connector_tasks(sandbox, lead.hubspot_id)) == len(tasks) == 1
        assert world.alerts() == {"slack": 1, "webhook": 1, "email": 1}
        assert sandbox.hubspot.webhooks.snapshot()["failed"]["events"] == 0
    finally:
        code = service.stop()
    log = service.log.read_text(encoding="utf-8")
    assert code == 0, log
    assert "Traceback" not in log and SECRET not in log


def test_given_a_burst_with_kill_9_in_the_middle_a_restart_loses_no_handoff_and_repeats_none(
    world: World,
) -> None:
    sandbox = world.sandbox
    leads = pick_ready_leads(SEED_CONTACTS, DATA_UNTIL, 6)
    assert len(leads) == 6
    attend_webinar(sandbox, leads, sandbox.clock())
    first, second = leads[:3], leads[3:]
    service = world.serve()
    wait_for("the start-up pass", lambda: service.passes() >= 1, 60)
    # HubSpot's retry delays (2, 4, 8 ... minutes) scaled down to 0.6, 1.2, 2.4 ... seconds.
    point_webhooks(sandbox, service.webhook_url, SECRET, retry_scale=0.005)
    sender = sandbox.hubspot.webhooks
    delivered = sender.snapshot()["sent"]["events"]

    for lead in first:
        world.submit(lead)
    # Killed as soon as HubSpot has its 2xx: the marks are committed, the pass not started.
    wait_for("the webhooks answered", lambda: sender.snapshot()["sent"]["events"] > delivered
             and sender.idle(), 10, 0.005)
    assert service.stop(signal.SIGKILL) == -signal.SIGKILL
    assert all(_marked(world.settings, lead.hubspot_id) for lead in first)

    for lead in second:  # while the service is down: the webhooks fail and are retried
        world.submit(lead)
    wait_for("a failed delivery", lambda: sender.snapshot()["pending"]["retryingBatches"], 10)
    assert not any(connector_tasks(sandbox, lead.hubspot_id) for lead in leads)

    again = world.serve(port=service.port)  # the same URL HubSpot retries
    try:
        wait_for("every Task", lambda: all(connector_tasks(sandbox, lead.hubspot_id)
                                           for lead in leads), 60)
        wait_for("an alert per lead on each channel",
                 lambda: min(world.alerts().values()) >= len(leads), 60)
        wait_for("the retried webhooks delivered", sender.idle, 30)
        time.sleep(3.0)  # the pass the retries trigger has run
    finally:
        assert again.stop() == 0
    keys = Counter(t["Connector_Key__c"] for t in world.all_tasks())
    assert max(keys.values()) == 1
    assert all(len(connector_tasks(sandbox, lead.hubspot_id)) == 1 for lead in leads)
    assert world.alerts() == {"slack": 6, "webhook": 6, "email": 6}
    assert len(set(world.alert_keys())) == 6
    assert not any(_marked(world.settings, lead.hubspot_id) for lead in leads)
    assert sender.snapshot()["failed"]["events"] == 0
