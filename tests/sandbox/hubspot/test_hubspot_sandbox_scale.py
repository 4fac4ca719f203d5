"""Scale: 1,000,000 contacts; the incremental search and list paging stay fast."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.hubspot.search import execute, parse_request
from tests.sandbox.hubspot.hs_sandbox_kit import Sandbox

N = 1_000_000
_DAY = "2023-11-"


def _contacts() -> Iterator[dict[str, Any]]:
    """Cheap to generate: modified times spread over 10 days, not in id order."""
    for i in range(1, N + 1):
        seconds = (i * 7919) % 864_000
        day, rest = divmod(seconds, 86_400)
        stamp = (
            f"{_DAY}{15 + day:02d}T{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}.000Z"
        )
        yield {
            "id": str(i),
            "properties": {
                "email": f"user{i}@example.com",
                "firstname": f"F{i}",
                "lastname": "L",
                "lastmodifieddate": stamp,
                "hs_lastmodifieddate": stamp,
                "createdate": "2023-11-01T00:00:00.000Z",
            },
            "createdAt": "2023-11-01T00:00:00.000Z",
            "updatedAt": stamp,
            "archived": False,
        }


@pytest.fixture(scope="module")
def million() -> Iterator[Sandbox]:
    from sandbox.httpbase import RunningServer
    from sandbox.hubspot import DEFAULT_HUBSPOT_TOKEN, HubSpotSandbox
    from tests.sandbox.hubspot.hs_sandbox_kit import FakeClock

    clock = FakeClock()
    sb = HubSpotSandbox(tier="unlimited", clock=clock)
    assert sb.seed({"contacts": _contacts()}) == {"contacts": N}
    server = RunningServer(sb.app).start()
    from hubspot import HubSpot

    client = HubSpot(access_token=DEFAULT_HUBSPOT_TOKEN, host=server.url, base_url=server.url)
    yield Sandbox(sb, server, client, clock)
    server.stop()


def _timed_ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


INCREMENTAL = [
    ({"propertyName": "lastmodifieddate", "operator": "GTE", "value": "2023-11-15T00:00:00Z"},),
    (
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "2023-11-15T00:00:00Z"},
        {"propertyName": "hs_object_id", "operator": "GT", "value": "500000"},
    ),
    (
        {
            "propertyName": "lastmodifieddate",
            "operator": "BETWEEN",
            "value": "2023-11-20T00:00:00Z",
            "highValue": "2023-11-21T00:00:00Z",
        },
        {"propertyName": "hs_object_id", "operator": "GT", "value": "1000"},
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("filters", INCREMENTAL, ids=["window", "window+id", "day+id"])
@pytest.mark.parametrize("sort", ["hs_object_id", "lastmodifieddate"])
def test_a_search_page_of_200_out_of_1m_takes_under_50ms(
    million: Sandbox, filters, sort: str
) -> None:
    store = million.sb.store.contacts
    body = {
        "filterGroups": [{"filters": list(filters)}],
        "limit": 200,
        "after": "9800",
        "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
    }
    timings = [
        _timed_ms(lambda: execute(store, parse_request(store, body), million.sb.now_ms()))
        for _ in range(5)
    ]
    assert statistics.median(timings) < 50, timings
    url = million.url + "/crm/v3/objects/contacts/search"
    headers = {"Authorization": "Bearer " + million.sb.token}
    response = requests.post(url, json=body, headers=headers, timeout=10)
    assert response.status_code == 200 and len(response.json()["results"]) == 200


@pytest.mark.slow
def test_incremental_walk_by_id_partitions_reaches_every_record_once(million: Sandbox) -> None:
    """Sort by hs_object_id, restart with hs_object_id > last before the 10,000 cap."""
    store = million.sb.store.contacts
    window = {
        "propertyName": "lastmodifieddate",
        "operator": "BETWEEN",
        "value": "2023-11-24T12:00:00Z",
        "highValue": "2023-11-24T18:00:00Z",
    }
    seen: list[int] = []
    last = 0
    while True:
        after = 0
        batch: list[int] = []
        while True:
            body = {
                "filterGroups": [
                    {
                        "filters": [
                            window,
                            {"propertyName": "hs_object_id", "operator": "GT", "value": str(last)},
                        ]
                    }
                ],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "limit": 200,
                "after": str(after),
            }
            result = execute(store, parse_request(store, body), million.sb.now_ms())
            batch.extend(r.id for r in result.records)
            if result.next_offset is None or result.next_offset >= 10_000:
                break
            after = result.next_offset
        if not batch:
            break
        seen.extend(batch)
        last = batch[-1]
    low, high = "2023-11-24T12:00:00.000Z", "2023-11-24T18:00:00.000Z"
    expected = sum(1 for r in store.live.values() if low <= r.props["lastmodifieddate"] <= high)
    assert len(seen) == len(set(seen)) == expected


@pytest.mark.slow
def test_list_paging_deep_in_1m_is_not_linear(million: Sandbox) -> None:
    api = million.client.crm.contacts.basic_api
    first = statistics.median(_timed_ms(lambda: api.get_page(limit=100)) for _ in range(5))
    deep = statistics.median(
        _timed_ms(lambda: api.get_page(limit=100, after="990000")) for _ in range(5)
    )
    page = api.get_page(limit=100, after="999950")
    assert page.results[0].id == "999950" and page.paging is None
    assert deep < max(100.0, first * 3)
    by_email = api.get_by_id("user777777@example.com", id_property="email")
    assert by_email.id == "777777"


@pytest.mark.slow
@pytest.mark.parametrize("after_id", [10, 400_000, 999_990])
def test_keyset_page_totals_equal_a_brute_force_count(million: Sandbox, after_id: int) -> None:
    """`total` of "id > last AND modified in a day": counted by a scan for a short id range,
    from the window's sorted ids (built once, then bisected per page) for a long one."""
    store = million.sb.store.contacts
    low, high = "2023-11-20T00:00:00Z", "2023-11-21T00:00:00Z"
    body = {
        "filterGroups": [{"filters": [
            {"propertyName": "lastmodifieddate", "operator": "BETWEEN", "value": low,
             "highValue": high},
            {"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)},
        ]}],
        "limit": 200,
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
    }
    lo_ms = 1_700_438_400_000  # 2023-11-20T00:00:00Z
    hi_ms = lo_ms + 86_400_000
    expected = sum(
        1 for i, mod in zip(store.ids, store.id_mod, strict=True)
        if i > after_id and lo_ms <= mod <= hi_ms
    )
    assert execute(store, parse_request(store, body), million.sb.now_ms()).total == expected
