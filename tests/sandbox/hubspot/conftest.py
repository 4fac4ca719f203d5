"""Fixtures: an in-process HubSpot sandbox on a free port and a real `hubspot.HubSpot` client."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hubspot import HubSpot

from sandbox.httpbase import FaultPlan, RunningServer
from sandbox.hubspot import DEFAULT_HUBSPOT_TOKEN, HubSpotSandbox
from sandbox.hubspot.util import iso_ms
from tests.sandbox.hubspot.hs_sandbox_kit import (
    BASE_MS,
    FakeClock,
    Sandbox,
    association,
    company,
    contact,
)

SandboxFactory = Callable[..., Sandbox]


@pytest.fixture
def make_sandbox() -> Iterator[SandboxFactory]:
    servers: list[RunningServer] = []

    def factory(
        seed: dict[str, Any] | None = None,
        tier: str = "unlimited",
        faults: FaultPlan | None = None,
        search_lag_seconds: float = 0.0,
        clock: FakeClock | None = None,
    ) -> Sandbox:
        clock = clock or FakeClock()
        sb = HubSpotSandbox(
            token=DEFAULT_HUBSPOT_TOKEN,
            tier=tier,
            faults=faults,
            clock=clock,
            search_lag_seconds=search_lag_seconds,
        )
        if seed:
            sb.seed(seed)
        server = RunningServer(sb.app, port=0).start()
        servers.append(server)
        client = HubSpot(access_token=DEFAULT_HUBSPOT_TOKEN, host=server.url, base_url=server.url)
        return Sandbox(sb, server, client, clock)

    yield factory
    # RunningServer.stop() waits out serve_forever's 0.5 s poll; stop in the background so
    # each test does not pay it (the servers are independent, on their own ports).
    for server in servers:
        threading.Thread(target=server.stop, daemon=True).start()


@pytest.fixture
def hs(make_sandbox: SandboxFactory) -> Sandbox:
    """250 contacts, 5 companies (contact i -> company i % 5 + 1, primary), 3 meetings."""
    contacts = [contact(i) for i in range(1, 251)]
    companies = [company(i) for i in range(1, 6)]
    meetings = [
        {
            "id": str(900 + i),
            "properties": {"hs_meeting_title": f"Demo {i}", "hs_lastmodifieddate": iso_ms(BASE_MS)},
            "createdAt": iso_ms(BASE_MS),
            "updatedAt": iso_ms(BASE_MS),
            "archived": False,
        }
        for i in range(1, 4)
    ]
    associations = [association("contacts", i, "companies", i % 5 + 1, 1) for i in range(1, 251)]
    associations += [association("meetings", 900 + i, "contacts", i, 200) for i in range(1, 4)]
    return make_sandbox(
        {
            "contacts": contacts,
            "companies": companies,
            "meetings": meetings,
            "associations": associations,
        }
    )
