"""Issue #18 end to end: after a GDPR delete in the HubSpot sandbox and a reconciling run,
the erased address is nowhere in the state database, its WAL, the logs or the commands'
output."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

import cli
from sandbox.serve import Sandbox
from sync.runner import open_store, run_once
from tests.clock import HISTORY_START


def test_given_gdpr_delete_then_reconcile_the_address_is_gone_everywhere(
    sandbox: Sandbox, settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
    with open_store(settings) as store:
        row = store._db.execute(
            "SELECT c.hubspot_id, c.email FROM contacts c JOIN activities a "
            "ON a.contact_id = c.hubspot_id WHERE c.email IS NOT NULL LIMIT 1"
        ).fetchone()
        hubspot_id, email = row[0], row[1]
    answer = requests.post(
        f"{sandbox.hubspot_url}/crm/objects/2026-09/contacts/gdpr-delete",
        json={"objectId": hubspot_id},
        headers={"Authorization": f"Bearer {sandbox.hubspot.token}"},
        timeout=10,
    )
    assert answer.status_code == 204
    caplog.clear()
    summary = run_once(settings, kind="sync", clock=sandbox.clock, reconcile=True)
    assert summary.deletions["erased"] == 1
    db = settings.resolve(settings.state.path)
    wal = Path(str(db) + "-wal")
    needle = email.encode()
    assert needle not in db.read_bytes()
    assert not wal.exists() or needle not in wal.read_bytes()
    assert email not in caplog.text
    assert any(getattr(r, "hubspot_id", None) == hubspot_id for r in caplog.records)
    runner = CliRunner()
    config = str(settings.config_path)
    for args in (["status", "--json"], ["report", "--json"], ["dlq", "list"]):
        result = runner.invoke(cli.main, ["--config", config, *args])
        assert email not in result.output, args
    status = runner.invoke(cli.main, ["--config", config, "status", "--json"])
    assert json.loads(status.output)["deletions"]["erased"] == 1
    # the next run does not bring the person back
    run_once(settings, kind="sync", clock=sandbox.clock, reconcile=True)
    assert needle not in db.read_bytes()
