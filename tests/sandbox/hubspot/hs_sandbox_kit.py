"""Builders for the HubSpot sandbox tests: records in the API read shape, a hand-moved clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hubspot import HubSpot

from sandbox.httpbase import RunningServer
from sandbox.hubspot import HubSpotSandbox
from sandbox.hubspot.util import iso_ms

START = 1_760_000_000.0  # 2025-10-09T08:53:20Z
BASE_MS = 1_700_000_000_000  # modified times of seeded records start here


class FakeClock:
    """A clock the test moves by hand (seconds, like `time.time`)."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Sandbox:
    sb: HubSpotSandbox
    server: RunningServer
    client: HubSpot
    clock: FakeClock

    @property
    def url(self) -> str:
        return self.server.url

    def client_with(self, token: str) -> HubSpot:
        return HubSpot(access_token=token, host=self.url, base_url=self.url)

    def get(self, path: str, **qs: Any) -> Any:
        """`client.api_request` GET (the requests transport) returning the response."""
        return self.client.api_request({"method": "GET", "path": path, "qs": qs})

    def post(self, path: str, body: Any) -> Any:
        return self.client.api_request({"method": "POST", "path": path, "body": body})


def contact(i: int, **props: Any) -> dict[str, Any]:
    """A contact in the API read shape; modified at BASE_MS + i seconds."""
    modified = iso_ms(BASE_MS + i * 1000)
    properties = {
        "email": f"user{i}@example.com",
        "firstname": f"First{i}",
        "lastname": f"Last{i}",
        "lifecyclestage": "lead",
        "createdate": iso_ms(BASE_MS - 86_400_000 + i),
        "lastmodifieddate": modified,
        "hs_lastmodifieddate": modified,
    }
    properties.update(props)
    return {
        "id": str(i),
        "properties": properties,
        "createdAt": properties["createdate"],
        "updatedAt": modified,
        "archived": False,
    }


def company(i: int, **props: Any) -> dict[str, Any]:
    modified = iso_ms(BASE_MS + i * 1000)
    properties = {
        "name": f"Company {i}",
        "domain": f"company{i}.com",
        "hs_lastmodifieddate": modified,
        "createdate": iso_ms(BASE_MS),
    }
    properties.update(props)
    return {
        "id": str(i),
        "properties": properties,
        "createdAt": iso_ms(BASE_MS),
        "updatedAt": modified,
        "archived": False,
    }


def association(
    from_type: str, from_id: int, to_type: str, to_id: int, type_id: int
) -> dict[str, Any]:
    return {
        "fromObjectType": from_type,
        "toObjectType": to_type,
        "from": {"id": str(from_id)},
        "to": {"id": str(to_id)},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
    }
