"""Shared fixtures for the HubSpot connector tests.

`stub`: a tiny loopback HTTP server answering scripted responses, so the real SDK (urllib3)
path is exercised without the sandbox. `FakeClock`: virtual time for limiters and retries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.hubspot.client import HubSpotClient
from core.config import HubSpotSettings
from core.retry import RetryPolicy
from tests.connectors.hubspot.hs_helpers import TOKEN, FakeClock, StubServer


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


MakeClient = Callable[..., HubSpotClient]


@pytest.fixture
def make_client(clock: FakeClock) -> MakeClient:
    def make(
        base_url: str,
        *,
        tier: str = "unlimited",
        policy: RetryPolicy | None = None,
        token: str = TOKEN,
        **settings: Any,
    ) -> HubSpotClient:
        config = HubSpotSettings(base_url=base_url, tier=tier, timeout_seconds=5, **settings)
        return HubSpotClient(
            config,
            SecretStr(token),
            retry_policy=policy or RetryPolicy(max_attempts=4, max_total_seconds=600),
            clock=clock,
            sleep=clock.sleep,
        )

    return make
