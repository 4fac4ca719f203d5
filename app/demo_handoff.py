"""The real-time hand-off as a user sees it, for the demo, its end-to-end test and
bench/bench_handoff.py: `connector serve` as a process on a free loopback port, the HubSpot
sandbox's webhooks pointed at it, a consultation request posted to the Forms submission
endpoint as a web site posts it, and the time until the follow-up Task is in Salesforce.

Facts relied on (as modelled in sandbox/hubspot/README.md, "Forms submission" and
"Webhooks"):
- the portal id of the submission URL is `portalId` of `GET /account-info/2026-09/details`
  (required in its answer: PublicApiSpecs/Account/Account Info/Rollouts/144923/2026-09/
  accountInfo.json);
- `POST /submissions/v3/integration/submit/{portalId}/{formGuid}` (api.hsforms.com) takes
  `{"fields": [{"name", "value"}], "submittedAt"?, "context"?: {"pageUri", "pageName"}}`
  without authentication and answers 200 `{"inlineMessage"}` or `{"redirectUri"}`
  (developers.hubspot.com/docs/api-reference/legacy/marketing/forms/v3-legacy/
  submit-data-unauthenticated); fields must be on the form and its required fields present
  (changelog "Upcoming Validation Change to the Forms API Submission Endpoints", 2022); the
  unauthenticated endpoint is limited to 50 requests per 10 s (developers.hubspot.com/docs/
  methods/forms/v2/submit_form), which bench/bench_handoff.py stays under;
- the submission moves `num_conversion_events` and `recent_conversion_date` on the contact,
  which a `contact.propertyChange` subscription turns into a signed webhook (v3 signature
  with the app's client secret).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from core.clock import NOW_VARIABLE
from sandbox.hubspot.webhooks import WebhookConfig
from sandbox.serve import Sandbox

ROOT = Path(__file__).resolve().parents[1]  # where `cli` is importable from a checkout
CONNECTOR = [sys.executable, "-c", "import cli; cli.main()"]
SECRET_VARIABLE = "CONNECTOR_HUBSPOT__CLIENT_SECRET"
CONSULTATION_PAGE = "https://www.example-corp.jp/consultation"
REQUIRED_FIELDS = ("email", "lastname", "firstname", "company")  # the consultation forms'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; TimeoutError naming `what` after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


class ServeProcess:
    """`connector --config CONFIG serve --port P` as a child process, its "now" starting at
    `now` (CONNECTOR_NOW) and advancing with real time; stderr (JSON lines) in `log`."""

    def __init__(
        self,
        config: Path,
        *,
        secret: str,
        now: datetime,
        log: Path,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        ready_timeout: float = 60.0,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.webhook_url = f"{self.url}/hubspot/webhooks"
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = log.open("a", encoding="utf-8")
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        child_env = {**os.environ, "PYTHONPATH": path, NOW_VARIABLE: now.isoformat(),
                     SECRET_VARIABLE: secret, **(env or {})}
        self.process = subprocess.Popen(
            [*CONNECTOR, "--config", str(config), "serve", "--port", str(self.port)],
            cwd=config.parent, env=child_env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self._log_file,
        )
        try:
            wait_for("connector serve to answer /healthz", self._healthy, ready_timeout, 0.1)
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"connector serve exited with {self.process.returncode}; "
                               f"see {self.log}")
        return self.health() is not None

    def health(self) -> dict[str, Any] | None:
        try:
            answer = requests.get(f"{self.url}/healthz", timeout=2)
        except requests.RequestException:
            return None
        return answer.json() if answer.status_code == 200 else None

    def passes(self) -> int:
        health = self.health()
        return int(health["passes"]) if health else 0

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log.read_text(encoding="utf-8").splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    continue
        return lines

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send `sig` (SIGTERM: the graceful stop) and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=10)
        self._log_file.close()
        return code


def point_webhooks(
    sandbox: Sandbox, url: str | None, secret: str, *, retry_scale: float = 1.0
) -> None:
    """The sandbox's HubSpot app sends its webhooks to `url` (None: to nobody); `retry_scale`
    shortens HubSpot's retry delays (2, 4, 8, ... minutes) for tests."""
    config = None if url is None else WebhookConfig(url, secret, retry_scale=retry_scale)
    sandbox.hubspot.webhooks.configure(config)


def portal_id(sandbox: Sandbox) -> int:
    """The account's portal id, as a site owner reads it: GET /account-info/2026-09/details."""
    answer = requests.get(
        f"{sandbox.hubspot_url}/account-info/2026-09/details",
        headers={"Authorization": f"Bearer {sandbox.hubspot.token}"}, timeout=10,
    )
    answer.raise_for_status()
    return int(answer.json()["portalId"])


def consultation_fields(sandbox: Sandbox, email: str) -> list[dict[str, str]]:
    """What the lead types into the consultation form: the required fields, from the
    sandbox's own contact record (the lead already exists in HubSpot)."""
    store = sandbox.hubspot.store.contacts
    contact_id = store.id_by_email(email)
    record = store.get(contact_id) if contact_id is not None else None
    props = record.props if record is not None else {}
    values = {"email": email, "lastname": props.get("lastname") or "山田",
              "firstname": props.get("firstname") or "太郎",
              "company": props.get("company") or "株式会社サンプル"}
    return [{"name": name, "value": str(values[name])} for name in REQUIRED_FIELDS]


def submit_form(
    sandbox: Sandbox, portal: int, form_guid: str, fields: list[dict[str, str]]
) -> None:
    """POST the form as the web site does (unauthenticated); raises on any non-200."""
    answer = requests.post(
        f"{sandbox.hubspot_url}/submissions/v3/integration/submit/{portal}/{form_guid}",
        json={"fields": fields,
              "context": {"pageUri": CONSULTATION_PAGE, "pageName": "個別相談申し込み"}},
        timeout=10,
    )
    if answer.status_code != 200:
        raise RuntimeError(f"form submission answered {answer.status_code}: {answer.text[:300]}")


def connector_tasks(
    sandbox: Sandbox, hubspot_id: str, email: str | None = None
) -> list[dict[str, Any]]:
    """The connector's Tasks on the Salesforce Lead or Contact of this HubSpot contact (or,
    given `email`, on a record with that email: where several records share an email the
    connector writes to the first, which may carry another contact's id)."""
    records = sandbox.salesforce.store.records
    wanted = email.lower() if email else None
    who = {r.get("Id") for obj in ("Lead", "Contact") for r in records(obj)
           if r.get("HubSpot_Contact_Id__c") == hubspot_id
           or (wanted is not None and str(r.get("Email") or "").lower() == wanted)}
    return [t for t in records("Task") if t.get("Connector_Key__c") and t.get("WhoId") in who]


@dataclass(frozen=True)
class Handoff:
    hubspot_id: str
    seconds: float  # form submitted -> the Task in Salesforce
    tasks: int


def timed_handoff(
    sandbox: Sandbox, portal: int, form_guid: str, hubspot_id: str, email: str,
    timeout: float = 30.0,
) -> Handoff:
    """Submit one consultation request and wait (bounded) for its Task."""
    fields = consultation_fields(sandbox, email)
    started = time.monotonic()
    submit_form(sandbox, portal, form_guid, fields)
    tasks = wait_for("the follow-up Task in Salesforce",
                     lambda: connector_tasks(sandbox, hubspot_id), timeout)
    return Handoff(hubspot_id, time.monotonic() - started, len(tasks))


__all__ = [
    "Handoff",
    "ServeProcess",
    "connector_tasks",
    "consultation_fields",
    "free_port",
    "point_webhooks",
    "portal_id",
    "realtime_step",
    "submit_form",
    "timed_handoff",
    "wait_for",
]


def realtime_step(
    sandbox: Sandbox, config: Path, lead: Any, clock: Callable[[], datetime], workdir: Path,
    form_guid: str, say: Callable[[str], None],
) -> dict[str, Any]:
    """The demo's real-time step: `connector serve` on a free loopback port, the sandbox's
    webhooks pointed at it, one consultation request through the Forms endpoint from `lead`
    (who attended the webinar), the time until its Task is in Salesforce, serve stopped."""
    secret = secrets.token_urlsafe(24)
    service = ServeProcess(config, secret=secret, now=clock(), log=workdir / "serve.log")
    result: dict[str, Any] = {"port": service.port, "log": str(service.log)}
    try:
        wait_for("the start-up pass of connector serve", lambda: service.passes() >= 1, 60)
        point_webhooks(sandbox, service.webhook_url, secret)
        say(f"   connector serve listens on {service.url}; HubSpot's webhooks go to "
            f"{service.webhook_url}")
        handoff = timed_handoff(sandbox, portal_id(sandbox), form_guid, lead.hubspot_id,
                                lead.email)
        result |= {"seconds": round(handoff.seconds, 3), "tasks": handoff.tasks}
        say(f"   form submitted -> follow-up Task in Salesforce after {handoff.seconds:.1f} s "
            "(webhook -> 2 s debounce -> one sync pass)")
    except (TimeoutError, RuntimeError, requests.RequestException) as exc:
        result["error"] = str(exc)
        say(f"   the real-time hand-off did not complete: {exc}")
    finally:
        point_webhooks(sandbox, None, secret)
        result["exit_code"] = service.stop()
    say(f"   connector serve stopped (exit code {result['exit_code']}; log in {service.log})")
    return result
