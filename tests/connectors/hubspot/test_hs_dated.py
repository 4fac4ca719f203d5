"""The connector against the sandbox's dated API: search bodies kept under 3,000 characters
whatever the mapped properties, spec-shaped batch errors read, and the write-back's handling
of a portal validation rule (refused contacts dead-lettered, the rest written)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from connectors.hubspot.client import HubSpotClient, search_body_chars
from connectors.hubspot.extract import HubSpotSource
from connectors.hubspot.forms import FormRules
from connectors.hubspot.paths import is_dated
from connectors.hubspot.writeback import HubSpotContactWriter, batch_error
from core.config import HubSpotSettings
from core.writeback import ContactUpdate
from sandbox.httpbase import RunningServer
from sandbox.hubspot import DEFAULT_HUBSPOT_TOKEN, HubSpotSandbox
from sandbox.hubspot.rules import parse_rules

BASE = datetime(2024, 5, 1, tzinfo=UTC)
# 150 extra mapped properties of ~30 characters: a search body of about 5,000 characters.
EXTRA = [f"custom_scoring_attribute_{i:03d}" for i in range(150)]


def _contact(i: int) -> dict[str, Any]:
    stamp = (BASE + timedelta(seconds=i)).isoformat().replace("+00:00", ".000Z")
    props = {"email": f"user{i}@example.com", "lifecyclestage": "lead",
             "createdate": stamp, "lastmodifieddate": stamp, "hs_lastmodifieddate": stamp}
    props.update({name: f"v{i}" for name in EXTRA})
    return {"id": str(i), "properties": props, "createdAt": stamp, "updatedAt": stamp,
            "archived": False}


@pytest.fixture
def sandbox() -> Iterator[tuple[HubSpotSandbox, str]]:
    sb = HubSpotSandbox(token=DEFAULT_HUBSPOT_TOKEN, tier="unlimited",
                        clock=lambda: (BASE + timedelta(days=1)).timestamp())
    sb.seed({"contacts": [_contact(i) for i in range(1, 451)]})
    server = RunningServer(sb.app, port=0).start()
    yield sb, server.url
    threading.Thread(target=server.stop, daemon=True).start()


def _client(url: str, **extra: Any) -> tuple[HubSpotClient, HubSpotSettings]:
    settings = HubSpotSettings(base_url=url, tier="unlimited", timeout_seconds=10, **extra)
    return HubSpotClient(settings, SecretStr(DEFAULT_HUBSPOT_TOKEN)), settings


def _routes(url: str, *, refused: bool = False) -> Counter[str]:
    """Calls by route: answered ones (status < 400), or with `refused` the others."""
    stats = requests.get(url + "/_sandbox/stats", timeout=10).json()
    out: Counter[str] = Counter()
    for call in stats["calls"]:
        if (call["status"] >= 400) == refused:
            out[f"{call['method']} {call['route']}"] += call["count"]
    return out


def test_given_mapped_properties_past_3000_chars_search_reads_every_property_in_3_calls_a_page(
    sandbox: tuple[HubSpotSandbox, str],
) -> None:
    _, url = sandbox
    client, settings = _client(url, contact_properties=["email", *EXTRA])
    source = HubSpotSource(client, FormRules(), settings)
    pages = list(source.changed_contacts(BASE, BASE + timedelta(hours=1)))
    contacts = [c for page in pages for c in page]
    assert len(contacts) == len({c.hubspot_id for c in contacts}) == 450
    assert all(c.get(EXTRA[-1]) == f"v{c.hubspot_id}" for c in contacts)
    assert not _routes(url, refused=True)  # no 400 for a body over 3,000 characters
    calls = _routes(url)
    # 3 search pages of 200 ids; 5 batch reads of 100 (3 pages: 2 + 2 + 1).
    assert calls["POST /crm/objects/2026-09/{objectType}/search"] == 3
    assert calls["POST /crm/objects/2026-09/{objectType}/batch/read"] == 5


def test_given_short_property_list_search_is_one_call_with_properties() -> None:
    body = {"filterGroups": [], "properties": ["email"] * 10, "limit": 200}
    assert search_body_chars(body) == len(json.dumps(body)) < 3000


def test_given_required_rule_write_back_dead_letters_the_refused_contact_and_writes_the_rest(
    sandbox: tuple[HubSpotSandbox, str],
) -> None:
    sb, url = sandbox
    sb.set_rules(parse_rules({"rules": [{
        "objectType": "contacts", "propertyName": "jobtitle", "required": True,
        "when": {"propertyName": "lifecyclestage", "value": "marketingqualifiedlead"}}]}))
    sb.store.contacts.get(7).props["jobtitle"] = "CTO"  # the only one the rule lets through
    client, _ = _client(url)
    updates = [
        ContactUpdate(f"k{i}", str(i), {"lifecyclestage": "marketingqualifiedlead"})
        if i in (3, 7) else ContactUpdate(f"k{i}", str(i), {"lifecyclestage": "opportunity"})
        for i in range(1, 11)
    ]
    results = HubSpotContactWriter(client).update(updates)
    by_id = {r.contact_id: r for r in results}
    assert not by_id["3"].success and not by_id["3"].retriable
    assert by_id["3"].error is not None and by_id["3"].error.code == "VALIDATION_ERROR"
    assert "jobtitle" in by_id["3"].error.message
    assert all(by_id[str(i)].success for i in range(1, 11) if i != 3)
    assert sb.store.contacts.get(3).props["lifecyclestage"] == "lead"
    assert sb.store.contacts.get(7).props["lifecyclestage"] == "marketingqualifiedlead"
    assert all(is_dated(route.split(" ", 1)[1]) for route in _routes(url))


def test_given_spec_shaped_batch_error_its_ids_and_sub_category_are_read() -> None:
    ids, error = batch_error({
        "status": "error", "category": "OBJECT_NOT_FOUND",
        "subCategory": {"code": "crm.objects.NOT_FOUND"}, "message": "gone",
        "errors": [{"message": "id 5 does not exist"}], "context": {"ids": ["5", "6"]},
        "links": {},
    })
    assert ids == ["5", "6"]
    assert error.code == "OBJECT_NOT_FOUND:crm.objects.NOT_FOUND"
    assert "id 5 does not exist" in error.message


def test_given_missing_contact_on_dated_batch_update_it_is_refused_not_retried(
    sandbox: tuple[HubSpotSandbox, str],
) -> None:
    _, url = sandbox
    client, _ = _client(url)
    results = HubSpotContactWriter(client).update(
        [ContactUpdate("a", "1", {"lifecyclestage": "opportunity"}),
         ContactUpdate("b", "999999", {"lifecyclestage": "opportunity"})]
    )
    assert results[0].success
    assert not results[1].success and not results[1].retriable
    assert results[1].error is not None and results[1].error.code == "OBJECT_NOT_FOUND"


@pytest.mark.parametrize(
    ("kind", "hint"),
    [("service_key", "Service keys"), ("private_app", "Private apps"), ("app", "project-based")],
)
def test_given_refused_token_message_says_where_that_kind_of_credential_is_managed(
    sandbox: tuple[HubSpotSandbox, str], kind: str, hint: str
) -> None:
    from core.errors import FatalAPIError

    _, url = sandbox
    settings = HubSpotSettings(base_url=url, tier="unlimited", timeout_seconds=10,
                               auth_kind=kind)
    client = HubSpotClient(settings, SecretStr("wrong-token"))
    with pytest.raises(FatalAPIError) as caught:
        client.account_details()
    assert caught.value.status == 401 and hint in str(caught.value)
    assert "wrong-token" not in str(caught.value)
