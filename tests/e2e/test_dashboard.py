"""The live dashboard end to end in a real headless Chromium (issue 16's "Done when"):
`connector dashboard` as a child process bound beyond localhost with a token, the page
opened through the Chrome DevTools protocol over `--remote-debugging-pipe` (stdlib only: no
browser download, no websocket package). It draws the charts; a sync that makes a new MQL
changes the page's number without a reload (server-sent events); the language switch shows
the Japanese labels; a drill-down lists exactly the leads behind the number; a missing or
wrong token gets 401 and the right one works."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from app.demo import attend_webinar, pick_ready_leads
from app.demo_handoff import (
    CONNECTOR,
    NOW_VARIABLE,
    ROOT,
    consultation_fields,
    free_port,
    portal_id,
    submit_form,
    wait_for,
)
from core.identity import canonical_email
from sandbox.generator.hubspot import form_guids
from sync.runner import open_store, run_once
from tests.clock import DATA_UNTIL, HISTORY_START
from tests.e2e.conftest import SEED_CONTACTS, current_clock, settings_for, started
from tests.e2e.test_report import _chromium

TOKEN = "dash-token-5f1c0a9e-only-for-this-test"
CONSULTATION = form_guids(42)["consultation_ja"]


class Cdp:
    """Chromium driven over --remote-debugging-pipe: JSON messages ending in NUL on fds 3/4."""

    def __init__(self, binary: str) -> None:
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()

        def fds() -> None:  # in the child: our pipe ends on 3 and 4, whatever their numbers
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=fds, pass_fds=(3, 4, to_child_r, from_child_w),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer, self._id, self.session = b"", 0, None

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._w, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._r, 1 << 16)
                if not chunk:
                    raise RuntimeError("Chromium closed the pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", {"url": url})["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True, "awaitPromise": True})
        return result["result"].get("value")

    def close(self) -> None:
        self.process.kill()
        self.process.wait(10)
        os.close(self._w)
        os.close(self._r)


@contextmanager
def serving(
    sandbox: Any, tmp_path: Path, env: dict[str, str] | None = None, *options: str
) -> Iterator[tuple[str, Path]]:
    """`connector [options] dashboard` bound beyond localhost with TOKEN, as a child process:
    (its address, its log). The log must hold no traceback and not the token."""
    port = free_port()
    log_path = tmp_path / "dashboard.log"
    log = log_path.open("w", encoding="utf-8")
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    # The child's clock starts when it has started (a second or two after this one's moment):
    # a minute ahead, so the moments the test's run writes fall inside the page's window.
    ahead = current_clock()() + timedelta(minutes=1)
    child_env = {**os.environ, "PYTHONPATH": path, NOW_VARIABLE: ahead.isoformat(),
                 "CONNECTOR_SERVE__DASHBOARD_TOKEN": TOKEN,
                 "CONNECTOR_SERVE__DASHBOARD_POLL_SECONDS": "0.5", "LANG": "C.UTF-8",
                 **(env or {})}
    process = subprocess.Popen(
        [*CONNECTOR, "--config", str(tmp_path / "connector.toml"), *options, "dashboard",
         "--host", "0.0.0.0", "--port", str(port)],
        cwd=tmp_path, env=child_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=log,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError(log_path.read_text())
        try:
            return requests.get(url + "/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_for("connector dashboard", up, 60, 0.1)
        yield url, log_path
    finally:
        process.terminate()
        process.wait(20)
        log.close()
        text = log_path.read_text(encoding="utf-8")
        assert "Traceback" not in text and TOKEN not in text


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[Any, Any, str]]:
    sandbox = started(tmp_path, tier="pro")
    settings = settings_for(sandbox, tmp_path)
    run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
    try:
        with serving(sandbox, tmp_path) as (url, _):
            yield sandbox, settings, url
    finally:
        sandbox.stop()


def test_given_a_token_beyond_localhost_only_the_right_one_opens_the_dashboard(dashboard) -> None:
    _, _, url = dashboard
    assert requests.get(url + "/", timeout=10).status_code == 401
    assert requests.get(url + "/api/report", timeout=10).status_code == 401
    assert requests.get(url + "/", headers={"Authorization": "Bearer wrong"},
                        timeout=10).status_code == 401
    assert requests.get(url + "/?token=wrong", timeout=10,
                        allow_redirects=False).status_code == 401
    assert requests.get(url + "/healthz", timeout=10).status_code == 200
    ok = requests.get(url + "/", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert ok.status_code == 200 and "script-src 'self'" in ok.headers["Content-Security-Policy"]
    once = requests.get(url + "/?token=" + TOKEN + "&lang=ja", timeout=10,
                        allow_redirects=False)
    assert once.status_code == 303 and once.headers["Location"] == "/?lang=ja"
    cookie = once.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie


@pytest.mark.slow
def test_dashboard_in_chromium_draws_updates_live_switches_language_and_drills_down(
    dashboard,
) -> None:
    binary = _chromium()
    sandbox, settings, url = dashboard
    browser = Cdp(binary)
    try:
        browser.open(f"{url}/?token={TOKEN}")
        wait_for("the charts", lambda: browser.js(
            "document.body && document.body.getAttribute('data-charts')") == "rendered", 60, 0.2)
        assert browser.js("location.search") == ""  # the token left the address
        assert browser.js("document.querySelectorAll('.funnel-bar').length") == 5
        assert browser.js("document.querySelectorAll('.trend-bar').length") > 0
        cell = "document.querySelector('td[data-metric=handoffs][data-period=\"\"]')"
        lead, created_label = _never_mql_lead(settings, sandbox.clock())
        numbers = {
            "handoffs": cell,
            "mqls_card": "document.querySelector('.card[data-kpi=mqls] .v')",
            "new_mqls": "document.querySelector('td[data-metric=new_mqls][data-period=\"\"]')",
            "mqls_created": "document.querySelector("
                            f"'td[data-metric=mqls][data-period=\"{created_label}\"]')",
        }  # fmt: skip

        def read() -> dict[str, int]:
            return {name: int(browser.js(f"{node}.textContent").replace(",", ""))
                    for name, node in numbers.items()}

        before = read()
        browser.js("window.__still_here = 1")  # gone if the page reloads

        attend_webinar(sandbox, [lead], sandbox.clock())
        submit_form(sandbox, portal_id(sandbox), CONSULTATION,
                    consultation_fields(sandbox, lead.email))
        summary = run_once(settings, kind="sync", clock=sandbox.clock)
        assert summary.new_mql_episodes == 1
        wait_for("the page to refresh after the run", lambda: browser.js(
            "document.body.getAttribute('data-version')") not in (None, "0") or None, 30, 0.2)
        # The lead was never MQL: its first MQL counts in the total of new MQLs, and its
        # cohort (the period it was created in) has one more MQL; one more hand-off.
        assert read() == {name: value + 1 for name, value in before.items()}
        assert browser.js("window.__still_here") == 1  # updated without a reload
        before = before["handoffs"]

        browser.js("document.querySelector('[data-set-lang=ja]').click()")
        wait_for("Japanese labels", lambda: browser.js(
            "document.documentElement.lang") == "ja" or None, 30, 0.2)
        wait_for("MQL率", lambda: "MQL率" in browser.js("document.body.textContent") or None,
                 30, 0.2)
        assert browser.js("window.__still_here") == 1

        browser.js(f"{cell}.click()")
        wait_for("the drill-down", lambda: browser.js(
            "!document.getElementById('drill').hidden") or None, 60, 0.2)
        emails = browser.js("Array.from(document.querySelectorAll('#drill tr.drill-lead'))"
                            ".map(function (r) { return r.getAttribute('data-email'); })")
        assert len(emails) == before + 1
        assert canonical_email(lead.email) in emails
        assert browser.js("document.querySelectorAll('#drill pre').length") == len(emails)

        browser.js("location.reload()")  # the language chosen stays chosen
        wait_for("the reloaded page", lambda: browser.js(
            "window.__still_here === undefined && document.body && "
            "document.body.getAttribute('data-charts') === 'rendered'") or None, 60, 0.2)
        assert browser.js("document.documentElement.lang") == "ja"
        assert "MQL率" in browser.js("document.body.textContent")
    finally:
        browser.close()


def _never_mql_lead(settings: Any, now: Any) -> tuple[Any, str]:
    """A warm lead the webinar and consultation make an MQL that has never been one (no MQL
    episode stored; a lead with an earlier episode would count in no MQL total again: the
    cohort counts a lead once and new MQLs count its first MQL), created inside the page's
    window; and the month it was created in."""
    from app.dashboard_data import Filters, leads_for
    from app.kpi_report import default_since
    from kpi.compute import period_label

    since = default_since(now, "month")
    _, created = leads_for(settings, Filters(until=now, since=since), "new_leads", None,
                           explain=False, limit=100_000)
    created_at = {line.key: line.created for line in created}
    candidates = pick_ready_leads(SEED_CONTACTS, DATA_UNTIL, 20)
    with open_store(settings) as store:
        states = store.mql_states([canonical_email(c.email) for c in candidates])
    for lead in candidates:
        key = canonical_email(lead.email)
        state = states.get(key)
        if key in created_at and (state is None or state.episode == 0):
            return lead, period_label(created_at[key], "month")
    raise AssertionError("no warm lead without an MQL episode created in the window")


def _secret_files(tmp_path: Path, secrets: dict[str, str]) -> dict[str, Path]:
    folder = tmp_path / "secrets"
    folder.mkdir()
    paths = {}
    for name, value in secrets.items():
        paths[name] = folder / name
        paths[name].write_text(value + "\n", encoding="utf-8")
        paths[name].chmod(0o600)
    return paths


def test_given_every_secret_configured_none_reaches_the_dashboard_or_its_log(
    tmp_path: Path,
) -> None:
    sandbox = started(tmp_path, tier="pro")
    settings = settings_for(sandbox, tmp_path)
    run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
    secrets = {
        "hubspot_token": "pat-na1-SECRET-hubspot-token-3e8a51",
        "hubspot_client_secret": "SECRET-hubspot-webhook-secret-9b27c4",
        "salesforce_consumer_secret": "SECRET-sf-consumer-secret-5d03aa",
        "salesforce_password": "SECRET-sf-password-77f2e1",
        "salesforce_security_token": "SECRET-sf-security-token-0c4f9d",
        "slack": "https://hooks.slack.com/services/T000/B000/SECRETslack6a1f",
        "teams": "https://example.webhook.office.com/webhookb2/SECRETteams2c9e",
        "webhook": "https://alerts.example.jp/hook?key=SECRETwebhook4d7b",
        "smtp_password": "SECRET-smtp-password-1a2b3c",
    }
    files = _secret_files(tmp_path, secrets)
    key_lines = Path(sandbox.signing_key.key_path).read_text().splitlines()
    private_key = max(key_lines[1:-1], key=len)  # a line from inside the PEM
    config = tmp_path / "connector.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n".join([
        "", "[alerts]",
        f'slack_webhook_url_file = "{files["slack"]}"',
        f'teams_webhook_url = "{secrets["teams"]}"',
        f'webhook_url_file = "{files["webhook"]}"',
        'smtp_host = "smtp.example.jp"', 'smtp_from = "connector@example.jp"',
        'smtp_to = ["sales@example.jp"]', 'smtp_username = "connector"',
        f'smtp_password_file = "{files["smtp_password"]}"', "",
    ]), encoding="utf-8")  # fmt: skip
    env = {
        "CONNECTOR_HUBSPOT__ACCESS_TOKEN": secrets["hubspot_token"],
        "CONNECTOR_HUBSPOT__CLIENT_SECRET_FILE": str(files["hubspot_client_secret"]),
        "CONNECTOR_SALESFORCE__CONSUMER_SECRET_FILE": str(files["salesforce_consumer_secret"]),
        "CONNECTOR_SALESFORCE__PASSWORD_FILE": str(files["salesforce_password"]),
        "CONNECTOR_SALESFORCE__SECURITY_TOKEN": secrets["salesforce_security_token"],
    }
    every = {**secrets, "file_hubspot_token": sandbox.hubspot.token,
             "private_key": private_key, "dashboard_token": TOKEN}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    seen: list[str] = []
    try:
        with serving(sandbox, tmp_path, env, "-vv") as (url, log_path):
            for path in ("/", "/?lang=ja", "/api/report", "/api/report?lang=ja&period=week",
                         "/api/report?since=not-a-date",
                         "/api/leads?metric=mqls", "/api/leads?metric=new_leads&lang=ja",
                         "/api/leads?metric=nonsense", "/static/dashboard.js"):
                answer = requests.get(url + path, headers=auth, timeout=60)
                assert answer.status_code in (200, 400), (path, answer.status_code)
                seen += [path, answer.text, json.dumps(dict(answer.headers))]
            assert '"count"' in seen[seen.index("/api/leads?metric=mqls") + 1]
            with requests.get(url + "/api/events", headers=auth, stream=True,
                              timeout=30) as events:
                first = next(events.iter_content(chunk_size=None)).decode()
                assert first.startswith("retry:")
                seen += [first, json.dumps(dict(events.headers))]
            denied = requests.get(url + "/?token=wrong", timeout=10, allow_redirects=False)
            seen += [denied.text, json.dumps(dict(denied.headers))]
            once = requests.get(url + f"/?token={TOKEN}", timeout=10, allow_redirects=False)
            seen += [json.dumps(dict(once.headers))]
        seen.append(log_path.read_text(encoding="utf-8"))
    finally:
        sandbox.stop()
    text = "\n".join(seen)
    assert "dashboard serving" in seen[-1]  # the log was written (-vv), and is checked
    leaked = {name for name, value in every.items() if value in text}
    assert not leaked, leaked


def test_given_a_backfilled_state_every_clickable_number_lists_exactly_its_leads(
    tmp_path: Path,
) -> None:
    """Each number the page lets one click (funnel cells per period and in total, the
    cards, every segment row's cells, the speed-to-lead breaches per owner) lists as many
    lines as the number says; an owner's breaches are its open ones and its closed ones."""
    from app.dashboard_data import FUNNEL_METRICS, Filters, leads_for, report_for
    from kpi.export import report_dict
    from tests.e2e.test_alerts import mqls_waiting, sync_at

    sandbox = started(tmp_path, tier="pro")
    try:
        settings = settings_for(sandbox, tmp_path)
        now = mqls_waiting(sandbox, settings, 3)  # a backfill, then three warm leads qualify
        assert sync_at(settings, now + timedelta(seconds=1)).new_mql_episodes == 3
        # A week later: their hand-offs, never touched, are open SLA breaches.
        filters = Filters(until=now + timedelta(days=7), since=HISTORY_START)
        data = report_dict(report_for(settings, filters))

        def listed(metric: str, period: str | None = None, segment: str | None = None,
                   owner: str | None = None) -> list[str]:
            asked = Filters(until=filters.until, since=filters.since, owner=owner)
            count, lines = leads_for(settings, asked, metric, period, cell_segment=segment,
                                     explain=False, limit=10_000)
            assert count == len(lines)
            return [line.key for line in lines]

        totals = data["totals"]
        for metric in FUNNEL_METRICS:  # the totals row and the cards
            assert len(listed(metric)) == totals[metric], metric
        assert totals["new_leads"] > 0 and totals["mqls"] > 0 and totals["handoffs"] > 0
        busiest = max(data["periods"], key=lambda r: r["new_leads"])
        for metric in ("new_leads", "mqls", "new_mqls", "handoffs"):
            assert len(listed(metric, busiest["label"])) == busiest[metric], metric
        checked = 0
        for dimension, rows in data["segments"].items():
            for row in rows:
                segment = f"{dimension}={row['label']}"
                for metric in ("new_leads", "mqls", "handoffs"):
                    assert len(listed(metric, segment=segment)) == row[metric], (segment, metric)
                checked += 1
            assert sum(r["new_leads"] for r in rows) == totals["new_leads"], dimension
        assert checked > 2
        speed = data["speed_to_lead"]
        assert sum(r["breaches_open"] for r in speed) >= 3
        for r in speed:
            both = listed("sla_breaches", owner=r["owner"])
            opened = listed("sla_breaches_open", owner=r["owner"])
            closed = listed("sla_breaches_closed", owner=r["owner"])
            assert len(opened) == r["breaches_open"] and len(closed) == r["breaches_closed"]
            assert sorted(both) == sorted(opened + closed)
    finally:
        sandbox.stop()
