"""The hand-off SLA through the real pipeline on the sandboxes, to the local alert receivers:
an MQL whose owner logs a completed call is touched and never escalated; one left untouched
past MQL + 4 business hours gets exactly one escalation per channel across later runs; status
and the report show the owner's numbers."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from app.kpi_report import build_report
from app.texts import format_status
from core.clock import parse_moment
from core.config import Settings
from core.handoff import Handoff
from kpi.html import render_html
from sandbox.salesforce.dml import WriteOptions
from sandbox.serve import Sandbox
from sync.runner import open_store, read_status
from tests.clock import DEFAULT_TEST_NOW, TEST_NOW
from tests.e2e.test_alerts import (  # noqa: F401 (the receivers fixture)
    HOOK,
    SLACK,
    TEAMS,
    mqls_waiting,
    receivers,
    sync_at,
    with_alerts,
)


def handoffs(settings: Settings) -> list[Handoff]:
    with open_store(settings) as store:
        return store.touches.handoffs()


def log_completed_call(sandbox: Sandbox, who_id: str) -> str:
    """A sales rep logs a call on the record (Log a Call: a closed Task, subtype Call)."""
    sf = sandbox.salesforce
    with sf.store.lock:
        return sf.dml.create(
            sf.schema.objects["Task"],
            {"WhoId": who_id, "Subject": "Call", "Status": "Completed", "TaskSubtype": "Call",
             "Priority": "Normal"},
            WriteOptions(user_id=sf.default_user_id),
        )


def sla_posts(http: Any, path: str) -> list[Any]:
    return [p for p in http.on(path) if p.headers.get("Idempotency-Key", "").startswith("sla:")
            or "SLA" in str(p.body)]


def test_given_one_touched_and_one_untouched_mql_only_the_untouched_escalates_once(
    sandbox: Sandbox, settings: Settings, receivers: Any  # noqa: F811
) -> None:
    http, mailbox, _ = receivers
    settings = with_alerts(settings, receivers, language="ja")  # its texts are Japanese
    now = mqls_waiting(sandbox, settings, 2)
    first = sync_at(settings, now + timedelta(seconds=1))
    assert first.new_mql_episodes == 2 and first.alerts["escalated"] == 0

    alerted = {p.body["lead"]["email"] for p in http.on(HOOK)}
    pending = [h for h in handoffs(settings) if h.lead_key in alerted]
    assert len(pending) == 2 and all(h.record_id and h.touched_at is None for h in pending)
    touched, untouched = pending
    while sandbox.clock() <= touched.mql_at:  # Salesforce's clock past the MQL moment
        time.sleep(0.05)
    task_id = log_completed_call(sandbox, touched.record_id or "")
    second = sync_at(settings, sandbox.clock() + timedelta(seconds=1))
    assert second.outcomes["touches"] == 1

    after = {h.lead_key: h for h in handoffs(settings)}
    assert after[touched.lead_key].touch_kind == "call"
    assert after[touched.lead_key].touched_at is not None
    assert after[untouched.lead_key].touched_at is None
    stored = sandbox.salesforce.store.get("Task", task_id)
    assert stored is not None and stored["IsClosed"] and stored["CompletedDateTime"]

    calendar = settings.sla.calendar()
    deadline = calendar.add_business_hours(untouched.mql_at, settings.sla.first_touch_hours)
    # The deadline is the moment the SLA's business hours have passed since the MQL.
    hours = settings.sla.first_touch_hours
    assert calendar.business_hours_between(untouched.mql_at, deadline) == pytest.approx(hours)
    assert calendar.business_hours_between(
        untouched.mql_at, deadline - timedelta(minutes=1)
    ) < hours
    if parse_moment(DEFAULT_TEST_NOW) == TEST_NOW:
        # The default pinned Friday 18:00 JST: the weekend and Monday 11-23 (a holiday) lie
        # between, so the deadline is Tuesday 13:00 JST.
        assert deadline - untouched.mql_at > timedelta(days=3)

    before = sync_at(settings, deadline - timedelta(minutes=1))
    late = sync_at(settings, deadline + timedelta(hours=1))
    again = sync_at(settings, deadline + timedelta(hours=2))
    assert (before.alerts["escalated"], late.alerts["escalated"], again.alerts["escalated"]) == (
        0, 1, 0
    )

    key = f"sla:{untouched.lead_key}:{untouched.episode}:webhook"
    hooks = [p for p in http.on(HOOK) if p.body["event"] == "lead.sla_breach"]
    assert [p.headers["Idempotency-Key"] for p in hooks] == [key]
    assert hooks[0].body["lead"]["email"] == untouched.lead_key
    assert hooks[0].body["salesforce"]["url"].endswith(f"/{untouched.record_id}/view")
    slack = [p for p in http.on(SLACK) if "【SLA超過】" in p.body["text"]]
    assert len(slack) == 1 and "営業時間" in slack[0].body["text"]
    assert len([p for p in http.on(TEAMS) if "SLA" in str(p.body)]) == 1
    mails = [m for m in mailbox.messages if "【SLA超過】" in m["Subject"]]
    assert len(mails) == 1 and "/lightning/r/" in mails[0].get_content()

    # status and the report: the owners' numbers.
    moment = deadline + timedelta(hours=3)
    data = read_status(settings, clock=lambda: moment)
    rows = data["speed_to_lead"]
    final = {h.lead_key: h for h in handoffs(settings)}
    owner_of = {key: final[key].owner_id for key in (touched.lead_key, untouched.lead_key)}
    assert all(owner_of.values())  # pulled back from the Leads the connector created
    by_owner = {r["owner"]: r for r in rows}
    assert by_owner[owner_of[touched.lead_key]]["touched"] >= 1
    assert by_owner[owner_of[untouched.lead_key]]["breaches_open"] >= 1
    median = by_owner[owner_of[touched.lead_key]]["median_first_touch_business_hours"]
    assert median is not None
    assert "speed-to-lead" in format_status(data, language="en", zone="UTC")

    report = build_report(settings, until=moment, since=now - timedelta(days=1))
    assert [(r.handoffs, r.breaches_open) for r in report.speed_to_lead] == [
        (r["handoffs"], r["breaches_open"]) for r in rows
    ]
    html = render_html(report)
    assert 'id="speed-to-lead"' in html


