"""Auth, rate limits of each tier, their headers and 429 bodies, and injected faults."""

from __future__ import annotations

import json

import pytest
import requests
from hubspot.crm.contacts import PublicObjectSearchRequest
from hubspot.crm.contacts.exceptions import ApiException, UnauthorizedException

from sandbox.httpbase import FaultPlan
from sandbox.hubspot import TIERS
from sandbox.hubspot.errors import AUTH_MESSAGE
from tests.sandbox.hubspot.hs_sandbox_kit import Sandbox, contact

LIST = "/crm/v3/objects/contacts"
SEARCH = "/crm/v3/objects/contacts/search"


def _seeded(make_sandbox, **kw) -> Sandbox:
    return make_sandbox({"contacts": [contact(i) for i in range(1, 6)]}, **kw)


def test_missing_or_wrong_token_answers_401_invalid_authentication(make_sandbox) -> None:
    hs = _seeded(make_sandbox, tier="pro")
    bare = requests.get(hs.url + LIST, timeout=5)
    assert bare.status_code == 401
    body = bare.json()
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"] == AUTH_MESSAGE
    assert body["correlationId"] == bare.headers["X-HubSpot-Correlation-Id"]
    assert "X-HubSpot-RateLimit-Daily" not in bare.headers
    with pytest.raises(UnauthorizedException) as err:
        hs.client_with("pat-wrong").crm.contacts.basic_api.get_page()
    assert err.value.status == 401
    assert hs.sb.limiter.daily_used == 0  # refused calls are not counted


def test_every_answer_carries_rate_limit_headers_except_search(make_sandbox) -> None:
    hs = _seeded(make_sandbox, tier="pro")
    first = hs.get(LIST)
    second = hs.get(LIST)
    assert first.headers["X-HubSpot-RateLimit-Daily"] == "650000"
    assert first.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first.headers["X-HubSpot-RateLimit-Secondly"] == "19"
    assert (
        int(second.headers["X-HubSpot-RateLimit-Remaining"])
        == int(first.headers["X-HubSpot-RateLimit-Remaining"]) - 1
    )
    assert int(second.headers["X-HubSpot-RateLimit-Daily-Remaining"]) == 650_000 - 2
    search = hs.post(SEARCH, {})
    assert search.status_code == 200
    assert not [h for h in search.headers if h.lower().startswith("x-hubspot-ratelimit")]
    assert search.headers["X-HubSpot-Correlation-Id"]


@pytest.mark.parametrize("tier", ["free", "pro"])
def test_burst_limit_trips_at_the_tiers_number_without_retry_after(make_sandbox, tier: str) -> None:
    hs = _seeded(make_sandbox, tier=tier)
    limit = TIERS[tier].burst_per_10s
    statuses = [hs.get(LIST).status_code for _ in range(limit)]
    assert statuses == [200] * limit
    refused = hs.get(LIST)
    assert refused.status_code == 429
    body = refused.json()
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["correlationId"] and "groupName" in body
    assert "Retry-After" not in refused.headers
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    # search is not in the burst bucket
    assert hs.post(SEARCH, {}).status_code == 200
    hs.clock.advance(10)
    assert hs.get(LIST).status_code == 200


def test_sdk_raises_api_exception_with_429_status_and_headers(make_sandbox) -> None:
    hs = _seeded(make_sandbox, tier="free")
    for _ in range(100):
        hs.client.crm.contacts.basic_api.get_page(limit=1)
    with pytest.raises(ApiException) as err:
        hs.client.crm.contacts.basic_api.get_page(limit=1)
    assert err.value.status == 429
    assert json.loads(err.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"
    assert err.value.headers["X-HubSpot-RateLimit-Max"] == "100"


def test_search_is_limited_to_five_a_second_with_retry_after(make_sandbox) -> None:
    hs = _seeded(make_sandbox, tier="pro")
    api = hs.client.crm.contacts.search_api
    for _ in range(5):
        api.do_search(PublicObjectSearchRequest(filter_groups=[]))
    refused = hs.post(SEARCH, {})
    assert refused.status_code == 429
    assert refused.json()["policyName"] == "SECONDLY"
    assert refused.json()["message"] == "You have reached your secondly limit."
    assert refused.headers["Retry-After"] == "1"
    assert hs.get(LIST).status_code == 200  # other calls go on
    hs.clock.advance(1)
    assert hs.post(SEARCH, {}).status_code == 200


def test_daily_limit_answers_429_daily_until_midnight_utc(make_sandbox) -> None:
    hs = _seeded(make_sandbox, tier="free")
    hs.get(LIST)  # opens the day
    hs.sb.limiter.daily_used = TIERS["free"].daily - 1
    assert hs.get(LIST).status_code == 200
    refused = hs.post(SEARCH, {})
    assert refused.status_code == 429
    assert refused.json()["policyName"] == "DAILY"
    now = hs.clock.now
    assert int(refused.headers["Retry-After"]) == int(86_400 - now % 86_400)
    hs.clock.advance(86_400 - now % 86_400)
    assert hs.get(LIST).status_code == 200


def test_reset_clears_windows_and_daily_usage_but_not_data(make_sandbox) -> None:
    hs = _seeded(make_sandbox, tier="free")
    for _ in range(100):
        hs.get(LIST)
    assert hs.get(LIST).status_code == 429
    assert requests.post(hs.url + "/_sandbox/reset", timeout=5).status_code == 200
    assert hs.sb.limiter.daily_used == 0
    assert hs.get(LIST).status_code == 200
    assert len(hs.sb.store.contacts) == 5
    limits = requests.get(hs.url + "/_sandbox/limits", timeout=5).json()
    assert limits["tier"] == "free" and limits["burst_used"] == 1


def test_unlimited_tier_sends_no_limit_headers(make_sandbox) -> None:
    hs = _seeded(make_sandbox, tier="unlimited")
    for _ in range(300):
        response = hs.get(LIST)
    assert response.status_code == 200
    assert "X-HubSpot-RateLimit-Max" not in response.headers


def _statuses(plan: FaultPlan, make_sandbox) -> list[tuple[int, str | None]]:
    hs = _seeded(make_sandbox, faults=plan)
    out = []
    for _ in range(40):
        response = hs.get(LIST)
        out.append((response.status_code, response.headers.get("Retry-After")))
    return out


def test_injected_rate_limits_are_deterministic_and_alternate_retry_after(make_sandbox) -> None:
    plan = FaultPlan(rate_limit=0.4, seed=7)
    first = _statuses(plan, make_sandbox)
    assert first == _statuses(plan, make_sandbox)
    limited = [retry for status, retry in first if status == 429]
    assert len(limited) >= 6
    assert limited[0::2] == ["1"] * len(limited[0::2])
    assert limited[1::2] == [None] * len(limited[1::2])


def test_injected_server_errors_are_hubspot_json_or_gateway_html(make_sandbox) -> None:
    hs = _seeded(make_sandbox, faults=FaultPlan(server_error=1.0, seed=3))
    seen: dict[int, str] = {}
    for _ in range(30):
        response = hs.get(LIST)
        seen[response.status_code] = response.headers["Content-Type"]
    assert set(seen) == {500, 502, 503}
    assert seen[502].startswith("text/html")
    assert seen[500].startswith("application/json")
    stats = requests.get(hs.url + "/_sandbox/stats", timeout=5).json()  # admin: never faulted
    assert stats["total"] == 30


def test_unknown_route_answers_404_hubspot_error(make_sandbox) -> None:
    hs = _seeded(make_sandbox)
    response = hs.get("/crm/v3/nothing-here")
    assert response.status_code == 404
    assert response.json()["status"] == "error"


def test_seed_admin_endpoint_loads_json_lists(make_sandbox) -> None:
    hs = make_sandbox()
    response = requests.post(
        hs.url + "/_sandbox/seed", json={"contacts": [contact(1), contact(2)]}, timeout=5
    )
    assert response.json() == {"seeded": {"contacts": 2}}
    assert hs.client.crm.contacts.basic_api.get_by_id("2").properties["email"] == (
        "user2@example.com"
    )
    bad = requests.post(hs.url + "/_sandbox/seed", json={"deals": []}, timeout=5)
    assert bad.status_code == 400
