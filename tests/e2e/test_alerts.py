"""Hot-lead alerts through the real pipeline on the sandbox, to real local receivers: an HTTP
server standing in for Slack, Teams and a generic webhook, and a real SMTP server (aiosmtpd).
Exactly one alert per channel per new MQL episode, across runs, failures and a crash."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from app.dead_letters import list_dead_letters
from app.texts import format_status
from core.config import AlertSettings, Settings
from core.logs import JsonFormatter, RedactingFilter
from sandbox.serve import Sandbox
from sync.alert_store import AlertStore
from sync.runner import open_store, read_status, run_once
from tests.alerts.receivers import HttpReceiver, http_receiver, smtp_receiver
from tests.clock import DATA_UNTIL, HISTORY_START

SLACK = "/services/T0000/B0000/slack-secret-token-1234"
TEAMS = "/workflows/abc/triggers/manual/paths/invoke?sig=teams-secret-sig-5678"
HOOK = "/hook/webhook-secret-path-9012"
SECRETS = ("slack-secret-token-1234", "teams-secret-sig-5678", "webhook-secret-path-9012")


@pytest.fixture
def receivers() -> Iterator[tuple[HttpReceiver, Any, int]]:
    with http_receiver() as http, smtp_receiver() as (mailbox, port):
        yield http, mailbox, port


def with_alerts(settings: Settings, receivers: Any, **overrides: Any) -> Settings:
    http, _, port = receivers
    alerts = AlertSettings(
        slack_webhook_url=SecretStr(http.url + SLACK),
        teams_webhook_url=SecretStr(http.url + TEAMS),
        webhook_url=SecretStr(http.url + HOOK),
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_from="connector@example.co.jp",
        smtp_to=["sales@example.co.jp"],
        retry_base_minutes=0,  # each run retries what failed before
        **overrides,
    )
    return settings.model_copy(update={"alerts": alerts})


def mqls_waiting(sandbox: Sandbox, settings: Settings, count: int) -> datetime:
    """A backfill, then `count` warm leads attend a webinar and ask for a consultation."""
    from app.demo import inject_new_activity, pick_ready_leads

    run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
    now = sandbox.clock()
    inject_new_activity(sandbox, pick_ready_leads(120, DATA_UNTIL, count), now)
    return now


def keys_of(http: HttpReceiver, path: str) -> list[str]:
    return [p.headers.get("Idempotency-Key", "") for p in http.on(path)]


def sync_at(settings: Settings, moment: datetime) -> Any:
    return run_once(settings, kind="sync", clock=lambda: moment)


def test_given_new_mql_episodes_each_channel_gets_exactly_one_alert_across_two_runs(
    sandbox: Sandbox, settings: Settings, receivers: Any
) -> None:
    http, mailbox, _ = receivers
    settings = with_alerts(settings, receivers, language="ja")  # its texts are Japanese
    now = mqls_waiting(sandbox, settings, 2)
    assert http.posts == [] and mailbox.messages == []  # a backfill raises no alert

    first = sync_at(settings, now + timedelta(seconds=5))
    second = sync_at(settings, now + timedelta(seconds=6))

    episodes = first.new_mql_episodes
    assert episodes == 2 and second.new_mql_episodes == 0
    assert len(http.on(SLACK)) == len(http.on(TEAMS)) == len(http.on(HOOK)) == episodes
    assert len(mailbox.messages) == episodes
    hook_keys = keys_of(http, HOOK)
    assert len(set(hook_keys)) == episodes and all("#mql1#webhook" in k for k in hook_keys)
    assert first.alerts["sent"] == 4 * episodes and second.alerts["sent"] == 0
    assert first.alerts["outbox_pending"] == 0

    # The message: who, score and reasons, the rule, the Salesforce link and owner, in Japanese.
    leads = {r["Id"]: r for r in sandbox.salesforce.store.records("Lead")}
    users = {r["Id"]: r["Name"] for r in sandbox.salesforce.store.records("User")}
    for post in http.on(HOOK):
        sf = post.body["salesforce"]
        assert sf["url"].endswith(f"/lightning/r/{sf['sobject']}/{sf['id']}/view")
        if sf["sobject"] == "Lead":
            assert sf["id"] in leads and sf["owner"] == users[leads[sf["id"]]["OwnerId"]]
        assert post.body["mql"]["reasons"] and post.body["mql"]["rule"]
    slack = http.on(SLACK)[0].body
    assert slack["blocks"][0]["type"] == "header" and "【MQL】" in slack["text"]
    assert "営業引き渡し" in slack["text"] and "様" in slack["text"]
    assert any("/lightning/r/" in str(b) for b in slack["blocks"])
    card = http.on(TEAMS)[0].body
    assert card["type"] == "message"
    content = card["attachments"][0]["content"]
    assert card["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert content["version"] == "1.4" and content["actions"][0]["type"] == "Action.OpenUrl"
    mail = mailbox.messages[0]
    assert "【MQL】" in mail["Subject"] and "(JST)" in mail.get_content()
    assert "主な加点理由" in mail.get_content()


def test_given_a_channel_answering_500_it_is_retried_next_run_without_resending_the_others(
    sandbox: Sandbox, settings: Settings, receivers: Any
) -> None:
    http, mailbox, _ = receivers
    http.answers[SLACK] = [500, 500, 200]  # the first run's two tries fail
    settings = with_alerts(settings, receivers)
    now = mqls_waiting(sandbox, settings, 2)

    first = sync_at(settings, now + timedelta(seconds=5))
    assert first.alerts["failed"] == 1 and first.alerts["outbox_pending"] == 2
    assert len(http.on(TEAMS)) == len(http.on(HOOK)) == len(mailbox.messages) == 2

    second = sync_at(settings, now + timedelta(seconds=6))
    assert second.alerts["sent"] == 2 and second.alerts["outbox_pending"] == 0
    assert len(http.on(SLACK)) == 2 + 2  # two failed tries, then one post per episode
    assert len(http.on(TEAMS)) == len(http.on(HOOK)) == len(mailbox.messages) == 2


def test_given_a_crash_between_send_and_mark_only_that_alert_is_sent_again(
    sandbox: Sandbox, settings: Settings, receivers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    http, mailbox, _ = receivers
    settings = with_alerts(settings, receivers)
    now = mqls_waiting(sandbox, settings, 2)
    real_mark = AlertStore.mark_sent
    calls = Counter[str]()

    def killed_after_the_first_send(self: AlertStore, key: str) -> None:
        calls["mark"] += 1
        if calls["mark"] == 1:
            raise KeyboardInterrupt  # the process dies after the 2xx, before the mark
        real_mark(self, key)

    monkeypatch.setattr(AlertStore, "mark_sent", killed_after_the_first_send)
    with pytest.raises(KeyboardInterrupt):
        sync_at(settings, now + timedelta(seconds=5))
    monkeypatch.setattr(AlertStore, "mark_sent", real_mark)
    after = sync_at(settings, now + timedelta(seconds=6))
    again = sync_at(settings, now + timedelta(seconds=7))

    assert after.alerts["outbox_pending"] == 0 and again.alerts["sent"] == 0
    # 2 episodes x 4 channels: each delivered once, but the one in the window, twice (the
    # e-mail's resend carries the same Message-ID, for mail systems that drop duplicates).
    deliveries = Counter(str(p.body) for p in http.posts)
    deliveries += Counter(m["Message-ID"] for m in mailbox.messages)
    assert sorted(deliveries.values()) == [1] * 7 + [2]


def test_given_a_channel_failing_n_times_the_alert_is_dead_and_shows_in_status_without_secrets(
    sandbox: Sandbox,
    settings: Settings,
    receivers: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    http, mailbox, _ = receivers
    http.answers[SLACK] = [503]
    settings = with_alerts(settings, receivers, max_attempts=2)
    now = mqls_waiting(sandbox, settings, 1)
    caplog.set_level(logging.DEBUG)

    first = sync_at(settings, now + timedelta(seconds=5))
    second = sync_at(settings, now + timedelta(seconds=6))
    third = sync_at(settings, now + timedelta(seconds=7))

    assert first.alerts["failed"] == 1 and second.alerts["dead"] == 1
    assert third.alerts["outbox_dead"] == 1 and len(http.on(SLACK)) == 2 * 2
    assert len(http.on(TEAMS)) == len(mailbox.messages) == 1  # the others went once
    status = read_status(settings)
    assert status["counts"]["alerts_dead"] == 1
    text = format_status(status, language="en", zone="UTC")
    assert "alerts: 3 sent, 0 pending, 1 dead" in text
    with open_store(settings) as store:
        dead = [d for d in list_dead_letters(store) if d["stage"] == "alert slack"]
    assert len(dead) == 1 and "HTTP 503" in dead[0]["message"]
    # Logs as the connector writes them (JSON lines through its redacting filter), urllib3's
    # request lines at -vv included.
    formatter, redacting = JsonFormatter(), RedactingFilter()
    logged = "".join(formatter.format(r) for r in caplog.records if redacting.filter(r))
    shown = logged + text + str(dead) + str(first.as_dict()) + str(status)
    assert not [s for s in SECRETS if s in shown]


def test_given_a_slow_channel_the_run_waits_at_most_its_timeout(
    sandbox: Sandbox, settings: Settings, receivers: Any
) -> None:
    http, mailbox, _ = receivers
    http.delays[SLACK] = 3.0
    settings = with_alerts(settings, receivers, timeout_seconds=0.5)
    now = mqls_waiting(sandbox, settings, 2)

    first = sync_at(settings, now + timedelta(seconds=5))

    assert first.alerts["failed"] == 1 and first.alerts["outbox_pending"] == 2
    assert len(http.on(TEAMS)) == len(http.on(HOOK)) == len(mailbox.messages) == 2
    assert first.duration_seconds < 30
