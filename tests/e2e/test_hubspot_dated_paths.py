"""A sync against the sandbox sends every HubSpot CRM call to a date-versioned path; only the
legacy sources with no dated equivalent (email events v1, form submissions v1, forms v3) keep
their numeric paths. Read from the sandbox's own call statistics."""

from __future__ import annotations

from pathlib import Path

import requests

from connectors.hubspot.paths import is_dated
from sync.runner import run_once
from tests.clock import HISTORY_START
from tests.e2e.conftest import settings_for, started

LEGACY_ROUTES = {
    "/email/public/v1/events",
    "/form-integrations/v1/submissions/forms/{formGuid}",
    "/marketing/v3/forms",
}


def test_given_a_backfill_and_a_sync_every_crm_call_goes_to_a_dated_path(tmp_path: Path) -> None:
    sandbox = started(tmp_path)
    try:
        settings = settings_for(sandbox, tmp_path)
        run_once(settings, kind="backfill", since=HISTORY_START, clock=sandbox.clock)
        run_once(settings, kind="sync", clock=sandbox.clock)
        stats = requests.get(sandbox.hubspot_url + "/_sandbox/stats", timeout=10).json()
    finally:
        sandbox.stop()
    routes = {call["route"] for call in stats["calls"]}
    crm = {r for r in routes if r.startswith(("/crm", "/marketing/marketing-events", "/events"))}
    assert crm, routes
    assert all(is_dated(route) for route in crm), sorted(crm)
    assert {r for r in routes if not is_dated(r)} <= LEGACY_ROUTES, sorted(routes)
    assert any(r.startswith("/crm/objects/2026-09/") for r in routes)
