"""`connector serve` queues contact.deletion / contact.restore / contact.merge /
contact.privacyDeletion for the loop's next pass: through the HTTP handler, with bodies signed
as HubSpot signs them (here, and by the HubSpot sandbox itself). A privacyDeletion webhook
alone, with reconciliation off, erases the person on the next pass; the logs name ids, never
the address."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from app.demo_handoff import point_webhooks
from app.service.loop import incremental_pass
from connectors.hubspot.webhooks import signature_v3
from core.config import Settings
from sandbox.serve import Sandbox
from sync.runner import open_store, run_once
from tests.clock import HISTORY_START
from tests.e2e.conftest import settings_for, started
from tests.service.handler import webhook_handler

SECRET = "deletions-app-client-secret"


@pytest.fixture
def backfilled(tmp_path: Path) -> Iterator[tuple[Sandbox, Settings]]:
    sandbox = started(tmp_path)
    settings = settings_for(sandbox, tmp_path)
    settings.sync.reconcile_hours = 0  # no reconciliation unless asked: webhooks only
    run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
    try:
        yield sandbox, settings
    finally:
        sandbox.stop()


def _post(url: str, events: list[dict[str, Any]], secret: str = SECRET) -> int:
    body = json.dumps(events).encode()
    stamp = str(int(time.time() * 1000))  # a transport stamp: the machine's clock
    signature = signature_v3(secret, "POST", url, body, stamp)
    return requests.post(url, data=body, timeout=10, headers={
        "Content-Type": "application/json", "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": stamp}).status_code


def _event(object_id: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"objectId": int(object_id), "subscriptionType": kind, "eventId": 1, "portalId": 1,
            "occurredAt": int(time.time() * 1000), "attemptNumber": 0, "changeSource": "CRM",
            **extra}


def _stored(settings: Settings, n: int) -> list[tuple[str, str]]:
    with open_store(settings) as store:
        rows = store._db.execute(
            "SELECT c.hubspot_id, c.email FROM contacts c WHERE c.email IS NOT NULL AND "
            "EXISTS (SELECT 1 FROM activities a WHERE a.contact_id = c.hubspot_id) "
            "ORDER BY c.hubspot_id LIMIT ?", (n,)
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_given_signed_deletion_restore_merge_and_privacy_events_they_are_queued_for_the_next_pass(
    backfilled: tuple[Sandbox, Settings], caplog: pytest.LogCaptureFixture
) -> None:
    sandbox, settings = backfilled
    caplog.set_level(logging.INFO)
    (a, a_mail), (b, b_mail), (c, c_mail), (d, _), (e, _) = _stored(settings, 5)
    events = [
        _event(a, "contact.deletion", changeFlag="DELETED"),
        _event(b, "contact.restore"),
        _event(c, "contact.privacyDeletion"),
        _event(d, "contact.merge", primaryObjectId=int(e), mergedObjectIds=[int(d)]),
    ]
    with webhook_handler(settings, sandbox.clock, SECRET) as handler:
        assert _post(handler.url, events, secret="not-the-app-secret") == 401
        with open_store(settings) as store:
            assert store.erasure.pending_changes() == []  # a refused body queues nothing
        assert _post(handler.url, events) == 204
    with open_store(settings) as store:
        queued = [(x.hubspot_id, x.change, x.other_id) for x in store.erasure.pending_changes()]
    assert queued == [(a, "archive", None), (b, "restore", None), (c, "erase", None),
                      (d, "merge", e)]
    for address in (a_mail, b_mail, c_mail):
        assert address not in caplog.text
    assert any(getattr(r, "hubspot_ids", None) == sorted([a, b, c, d])
               for r in caplog.records)


def test_given_a_privacy_deletion_webhook_alone_the_next_pass_erases_the_person(
    backfilled: tuple[Sandbox, Settings], caplog: pytest.LogCaptureFixture
) -> None:
    sandbox, settings = backfilled
    caplog.set_level(logging.INFO)
    ((hubspot_id, email),) = _stored(settings, 1)
    now = sandbox.clock()
    with webhook_handler(settings, sandbox.clock, SECRET) as handler:
        point_webhooks(sandbox, handler.url, SECRET)  # the sandbox signs and sends
        answer = requests.post(
            f"{sandbox.hubspot_url}/crm/objects/2026-09/contacts/gdpr-delete",
            json={"objectId": hubspot_id},
            headers={"Authorization": f"Bearer {sandbox.hubspot.token}"}, timeout=10,
        )
        assert answer.status_code == 204
        deadline = time.monotonic() + 20
        while not _queued(settings):  # the handler queued it for the loop
            assert time.monotonic() < deadline, "the privacyDeletion webhook did not arrive"
            time.sleep(0.05)
        summary = incremental_pass(settings, lambda: now + timedelta(seconds=5))
    assert summary.deletions["erased"] == 1
    assert "reconcile" not in _cursors(settings)  # no reconciliation ran: the webhook did it
    db = settings.resolve(settings.state.path)
    assert email.encode() not in db.read_bytes()
    wal = Path(str(db) + "-wal")
    assert not wal.exists() or email.encode() not in wal.read_bytes()
    with open_store(settings) as store:
        assert store.contact(hubspot_id) is None
        assert store.erasure.erased_ids([hubspot_id]) == {hubspot_id}
    assert email not in caplog.text
    assert any(getattr(r, "hubspot_id", None) == hubspot_id for r in caplog.records)


def _cursors(settings: Settings) -> dict[str, Any]:
    with open_store(settings) as store:
        return store.cursors()


def _queued(settings: Settings) -> list[Any]:
    with open_store(settings) as store:
        return store.erasure.pending_changes()
