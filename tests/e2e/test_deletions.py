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


def test_given_accounts_a_shadow_and_a_report_the_erased_address_is_gone_and_its_account_recounted(
    sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same erasure with the tables other features fill: account members and roll-ups,
    the shadow track's scores and history, the KPI facts a report stored."""
    from core.config import load_settings
    from tests.e2e.conftest import settings_for
    from tests.e2e.test_score_versions import shadow_rules

    settings_for(sandbox, tmp_path)
    config = tmp_path / "connector.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f'\n[shadow]\nrules_dir = "{shadow_rules(tmp_path)}"\n\n[accounts]\nenabled = true\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
    runner = CliRunner()
    assert runner.invoke(cli.main, ["--config", str(config), "report", "--json"]).exit_code == 0
    with open_store(settings) as store:
        row = store._db.execute(
            "SELECT c.hubspot_id, c.email, m.company_id FROM contacts c "
            "JOIN account_members m ON m.lead_key = c.email "
            "JOIN kpi_facts k ON k.lead_key = c.email "
            "JOIN lead_scores s ON s.lead_key = c.email AND s.track = 'shadow' "
            "WHERE m.company_id IS NOT NULL AND (SELECT count(*) FROM contacts o "
            "WHERE o.email = c.email) = 1 ORDER BY c.email LIMIT 1"
        ).fetchone()
        assert row is not None, "no lead with an account, a shadow score and KPI facts"
        hubspot_id, email, company = row[0], row[1], row[2]
        account = f"company:{company}"
        contacts_before = store.accounts.accounts([account])[account].result["contacts"]
    answer = requests.post(
        f"{sandbox.hubspot_url}/crm/objects/2026-09/contacts/gdpr-delete",
        json={"objectId": hubspot_id},
        headers={"Authorization": f"Bearer {sandbox.hubspot.token}"},
        timeout=10,
    )
    assert answer.status_code == 204
    caplog.set_level(logging.INFO)
    summary = run_once(settings, kind="sync", clock=sandbox.clock, reconcile=True)
    assert summary.deletions["erased"] == 1
    report = runner.invoke(cli.main, ["--config", str(config), "report", "--json"])
    assert report.exit_code == 0 and email not in report.output
    db = settings.resolve(settings.state.path)
    wal = Path(str(db) + "-wal")
    needle = email.encode()
    assert needle not in db.read_bytes()
    assert not wal.exists() or needle not in wal.read_bytes()
    assert email not in caplog.text
    with open_store(settings) as store:
        for table in ("account_members", "kpi_facts", "kpi_segments", "kpi_engagement",
                      "lead_scores", "score_history"):
            assert store._db.execute(
                f"SELECT count(*) FROM {table} WHERE lead_key IN (?, '[erased]')", (email,)
            ).fetchone()[0] == 0, table
        # the account pass of that run recomputed the account without the person
        assert store.accounts.dirty_count() == 0
        found = store.accounts.accounts([account]).get(account)
        assert found is None or found.result["contacts"] == contacts_before - 1
