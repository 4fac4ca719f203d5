"""Archive, restore, merge and GDPR delete in the HubSpot sandbox: through the real
`hubspot-api-client` where it has the call (basic_api.archive / merge / purge,
batch_api.archive), through plain HTTP on the 2026-09 paths and the admin restore."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectId,
    PublicGdprDeleteInput,
    PublicMergeInput,
    PublicObjectSearchRequest,
    SimplePublicObjectId,
)
from hubspot.crm.contacts.exceptions import ApiException, NotFoundException

from sandbox.hubspot import DEFAULT_HUBSPOT_TOKEN
from sandbox.hubspot.constants import RESTORE_DAYS
from sandbox.hubspot.webhooks import WebhookConfig
from tests.sandbox.hubspot.conftest import SandboxFactory
from tests.sandbox.hubspot.hs_sandbox_kit import BASE_MS, Sandbox, association, company, contact
from tests.sandbox.hubspot.webhook_receiver import running_receiver, v3_is_valid

AUTH = {"Authorization": f"Bearer {DEFAULT_HUBSPOT_TOKEN}"}
DATED = "/crm/objects/2026-09/contacts"
FORM = "3f0c6a1e-2222-4c4c-9a9a-000000000002"
SECRET = "app-client-secret-deletions"
DAY = 86_400


def _seed() -> dict[str, Any]:
    """Contacts 1-5; 1 and 2 are the same person (名寄せ): 2 has the activity."""
    contacts = [
        contact(1, lifecyclestage="lead", jobtitle="", num_conversion_events="1"),
        contact(
            2, lifecyclestage="marketingqualifiedlead", jobtitle="部長", num_conversion_events="2"
        ),
        *(contact(i) for i in range(3, 6)),
    ]
    email2 = "user2@example.com"
    return {
        "contacts": contacts,
        "companies": [company(1), company(2)],
        "associations": [
            association("contacts", 1, "companies", 1, 1),
            association("contacts", 2, "companies", 2, 1),
            association("contacts", 3, "companies", 1, 1),
        ],
        "email_events": [
            {"id": f"e{i}", "created": BASE_MS + i, "type": "OPEN", "recipient": email2}
            for i in range(3)
        ]
        + [{"id": "e9", "created": BASE_MS + 9, "type": "CLICK", "recipient": "user3@example.com"}],
        "forms": [{"id": FORM, "name": "資料請求", "formType": "hubspot", "archived": False}],
        "form_submissions": [
            {
                "formId": FORM,
                "conversionId": "c2",
                "submittedAt": BASE_MS,
                "values": [{"name": "email", "value": email2}],
                "pageUrl": "https://example.jp/lp",
            },
            {
                "formId": FORM,
                "conversionId": "c3",
                "submittedAt": BASE_MS + 1,
                "values": [{"name": "email", "value": "user3@example.com"}],
                "pageUrl": "https://example.jp/lp",
            },
        ],
        "marketing_events": [{"objectId": "me1", "eventName": "ウェビナー"}],
        "participations": [
            {
                "id": "p2",
                "associations": {
                    "marketingEvent": {"marketingEventId": "me1"},
                    "contact": {"contactId": "2", "email": email2},
                },
                "properties": {"attendanceState": "ATTENDED", "occurredAt": BASE_MS},
            }
        ],
        "page_views": [
            {
                "eventType": "e_visited_page",
                "occurredAt": BASE_MS + i * 1000,
                "objectType": "contact",
                "objectId": "2",
                "properties": {"hs_url": f"https://example.jp/p{i}"},
            }
            for i in range(2)
        ],
    }


@pytest.fixture
def hs(make_sandbox: SandboxFactory) -> Sandbox:
    return make_sandbox(_seed())


def _search_email(hs: Sandbox, email: str) -> int:
    request = PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}]
    )
    return hs.client.crm.contacts.search_api.do_search(request).total


def _restore(hs: Sandbox, object_id: int | str, object_type: str = "contacts") -> requests.Response:
    return requests.post(f"{hs.url}/_sandbox/hubspot/{object_type}/{object_id}/restore", timeout=10)


def _company_ids(hs: Sandbox, contact_id: str) -> list[str]:
    page = hs.client.crm.associations.v4.basic_api.get_page("contacts", contact_id, "companies")
    return sorted(str(r.to_object_id) for r in page.results)


# ---------------------------------------------------------------------------- archive


def test_given_an_archived_contact_then_404_unless_archived_true_and_never_in_search(
    hs: Sandbox,
) -> None:
    hs.client.crm.contacts.basic_api.archive("3")
    with pytest.raises(NotFoundException):
        hs.client.crm.contacts.basic_api.get_by_id("3")
    archived = hs.client.crm.contacts.basic_api.get_by_id("3", archived=True)
    assert archived.archived is True
    assert archived.archived_at is not None
    assert archived.archived_at.timestamp() == pytest.approx(hs.clock.now)
    listed = hs.client.crm.contacts.basic_api.get_page(archived=True)
    assert [r.id for r in listed.results] == ["3"]
    live = hs.client.crm.contacts.basic_api.get_page(limit=100)
    assert "3" not in [r.id for r in live.results]
    assert _search_email(hs, "user3@example.com") == 0
    batch = hs.client.crm.contacts.batch_api.read(
        {"inputs": [{"id": "3"}], "properties": ["email"]}, archived=True
    )
    assert [r.id for r in batch.results] == ["3"]


def test_given_batch_archive_then_each_archived_and_over_100_inputs_refused(
    hs: Sandbox,
) -> None:
    ids = BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=i) for i in "345"])
    hs.client.crm.contacts.batch_api.archive(ids)
    listed = hs.client.crm.contacts.basic_api.get_page(archived=True)
    assert [r.id for r in listed.results] == ["3", "4", "5"]
    too_many = BatchInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=str(i)) for i in range(1, 102)]
    )
    with pytest.raises(ApiException) as refused:
        hs.client.crm.contacts.batch_api.archive(too_many)
    assert refused.value.status == 400
    assert len(hs.sb.store.contacts.live) == 2  # nothing of the refused batch was archived


def test_given_unknown_or_archived_ids_then_delete_answers_404_or_204(hs: Sandbox) -> None:
    with pytest.raises(NotFoundException):
        hs.client.crm.contacts.basic_api.archive("999")
    hs.client.crm.contacts.basic_api.archive("4")
    answer = requests.delete(f"{hs.url}{DATED}/4", headers=AUTH, timeout=10)
    assert answer.status_code == 204  # archiving again is harmless


def test_given_dated_paths_then_archive_batch_archive_and_archived_listing_work(
    hs: Sandbox,
) -> None:
    one = requests.delete(f"{hs.url}{DATED}/3", headers=AUTH, timeout=10)
    assert (one.status_code, one.content) == (204, b"")
    many = requests.post(
        f"{hs.url}{DATED}/batch/archive", json={"inputs": [{"id": "4"}]}, headers=AUTH, timeout=10
    )
    assert many.status_code == 204
    listed = requests.get(f"{hs.url}{DATED}?archived=true", headers=AUTH, timeout=10).json()
    assert [(r["id"], r["archived"]) for r in listed["results"]] == [("3", True), ("4", True)]
    assert all("archivedAt" in r for r in listed["results"])
    companies = requests.delete(
        f"{hs.url}/crm/objects/2026-09/companies/2", headers=AUTH, timeout=10
    )
    assert companies.status_code == 204
    assert hs.sb.store.companies.get(2) is None


def test_given_restore_within_90_days_then_contact_email_and_associations_come_back(
    hs: Sandbox,
) -> None:
    hs.client.crm.contacts.basic_api.archive("3")
    assert _company_ids(hs, "3") == []
    hs.clock.advance((RESTORE_DAYS - 1) * DAY)
    answer = _restore(hs, 3)
    assert answer.status_code == 200
    assert answer.json()["archived"] is False
    again = hs.client.crm.contacts.basic_api.get_by_id("user3@example.com", id_property="email")
    assert again.id == "3"
    assert _company_ids(hs, "3") == ["1"]
    assert _search_email(hs, "user3@example.com") == 1


def test_given_90_days_after_archive_then_gone_for_good(hs: Sandbox) -> None:
    hs.client.crm.contacts.basic_api.archive("3")
    hs.clock.advance(RESTORE_DAYS * DAY)
    with pytest.raises(NotFoundException):
        hs.client.crm.contacts.basic_api.get_by_id("3", archived=True)
    assert hs.client.crm.contacts.basic_api.get_page(archived=True).results == []
    assert _restore(hs, 3).status_code == 404


def test_given_a_new_contact_holds_the_email_then_restore_is_refused(hs: Sandbox) -> None:
    hs.client.crm.contacts.basic_api.archive("3")
    hs.client.crm.contacts.basic_api.create({"properties": {"email": "user3@example.com"}})
    assert _restore(hs, 3).status_code == 409


# ---------------------------------------------------------------------------- merge


def test_given_a_merge_then_a_new_record_keeps_both_and_old_ids_answer_with_it(
    hs: Sandbox,
) -> None:
    merged = hs.client.crm.contacts.basic_api.merge(
        PublicMergeInput(primary_object_id="1", object_id_to_merge="2")
    )
    assert merged.id not in ("1", "2")  # changelog: a new record with a new id
    assert merged.properties["hs_merged_object_ids"] == "1;2"
    assert merged.properties["email"] == "user1@example.com"
    assert merged.properties["hs_additional_emails"] == "user2@example.com"
    for old in ("1", "2"):
        answer = hs.client.crm.contacts.basic_api.get_by_id(
            old, properties=["jobtitle", "lifecyclestage", "num_conversion_events"]
        )
        assert answer.id == merged.id
    props = answer.properties
    assert props["jobtitle"] == "部長"  # only the secondary had a value
    assert props["lifecyclestage"] == "marketingqualifiedlead"  # furthest down the funnel
    assert props["num_conversion_events"] == "3"  # form submission counts added
    batch = hs.client.crm.contacts.batch_api.read({"inputs": [{"id": "1"}, {"id": "2"}]})
    assert [r.id for r in batch.results] == [merged.id]
    by_email = hs.client.crm.contacts.basic_api.get_by_id("user2@example.com", id_property="email")
    assert by_email.id == merged.id
    assert hs.client.crm.contacts.basic_api.get_page(archived=True).results == []


def test_given_a_merge_then_histories_move_to_the_new_record(hs: Sandbox) -> None:
    merged = hs.client.crm.contacts.basic_api.merge(
        PublicMergeInput(primary_object_id="1", object_id_to_merge="2")
    )
    # one Primary company (the primary record's); the secondary's company stays associated
    links = hs.client.crm.associations.v4.basic_api.get_page("contacts", merged.id, "companies")
    types = {str(r.to_object_id): {t.type_id for t in r.association_types} for r in links.results}
    assert types == {"1": {1, 279}, "2": {279}}
    views = hs.get("/events/v3/events", objectType="contact", objectId=merged.id).json()
    assert len(views["results"]) == 2
    assert {v["objectId"] for v in views["results"]} == {merged.id}
    assert hs.get("/events/v3/events", objectType="contact", objectId="2").json()["results"] == []
    visits = hs.client.crm.contacts.basic_api.get_by_id(
        merged.id, properties=["hs_analytics_num_page_views"]
    )
    assert visits.properties["hs_analytics_num_page_views"] == "2"
    breakdown = hs.get(
        f"/marketing/v3/marketing-events/participations/contacts/{merged.id}/breakdown"
    ).json()
    assert breakdown["total"] == 1
    emails = hs.get("/email/public/v1/events", recipient="user2@example.com").json()
    assert len(emails["events"]) == 3  # email events name the address, which is kept


def test_given_page_views_arriving_for_a_merged_away_id_then_the_merged_contact_gets_them(
    hs: Sandbox,
) -> None:
    merged = hs.client.crm.contacts.basic_api.merge(
        PublicMergeInput(primary_object_id="1", object_id_to_merge="2")
    )
    view = {
        "eventType": "e_visited_page",
        "occurredAt": BASE_MS + 10 * DAY * 1000,
        "objectType": "contact",
        "objectId": "2",
        "properties": {"hs_url": "https://example.jp/pricing"},
    }
    hs.sb.seed({"page_views": [view]})
    views = hs.get("/events/v3/events", objectType="contact", objectId=merged.id).json()
    assert len(views["results"]) == 3
    after = hs.client.crm.contacts.basic_api.get_by_id(
        merged.id, properties=["hs_analytics_num_page_views", "hs_analytics_last_url"]
    )
    assert after.properties["hs_analytics_num_page_views"] == "3"
    assert after.properties["hs_analytics_last_url"] == "https://example.jp/pricing"


@pytest.mark.parametrize(
    ("primary", "to_merge", "status"),
    [("1", "1", 400), ("1", "999", 404), ("999", "1", 404), ("1", "3", 404)],
    ids=["itself", "unknown-secondary", "unknown-primary", "archived"],
)
def test_given_a_merge_hubspot_refuses_then_the_sandbox_refuses(
    hs: Sandbox, primary: str, to_merge: str, status: int
) -> None:
    hs.client.crm.contacts.basic_api.archive("3")
    with pytest.raises(ApiException) as refused:
        hs.client.crm.contacts.basic_api.merge(
            PublicMergeInput(primary_object_id=primary, object_id_to_merge=to_merge)
        )
    assert refused.value.status == status
    assert len(hs.sb.store.contacts.live) == 4


def test_given_two_ids_already_merged_then_merging_them_is_refused(hs: Sandbox) -> None:
    body = {"primaryObjectId": "1", "objectIdToMerge": "2"}
    first = requests.post(f"{hs.url}{DATED}/merge", json=body, headers=AUTH, timeout=10)
    assert first.status_code == 200
    again = requests.post(f"{hs.url}{DATED}/merge", json=body, headers=AUTH, timeout=10)
    assert again.status_code == 400
    assert again.json()["category"] == "VALIDATION_ERROR"


# ---------------------------------------------------------------------------- GDPR delete


def test_given_a_gdpr_delete_then_the_person_is_gone_from_every_api(hs: Sandbox) -> None:
    hs.client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id="2"))
    for archived in (False, True):
        with pytest.raises(NotFoundException):
            hs.client.crm.contacts.basic_api.get_by_id("2", archived=archived)
    with pytest.raises(NotFoundException):
        hs.client.crm.contacts.basic_api.get_by_id("user2@example.com", id_property="email")
    assert _search_email(hs, "user2@example.com") == 0
    assert hs.get("/email/public/v1/events", recipient="user2@example.com").json()["events"] == []
    assert [e["id"] for e in hs.get("/email/public/v1/events").json()["events"]] == ["e9"]
    submissions = hs.get(f"/form-integrations/v1/submissions/forms/{FORM}").json()["results"]
    assert [s["conversionId"] for s in submissions] == ["c3"]
    assert (
        hs.get("/marketing/v3/marketing-events/participations/me1/breakdown").json()["total"] == 0
    )
    assert hs.get("/events/v3/events", objectType="contact", objectId="2").json()["results"] == []
    assert _company_ids(hs, "2") == []
    # tracking stops: a page view arriving later for the erased id is not taken
    hs.sb.seed(
        {
            "page_views": [
                {
                    "eventType": "e_visited_page",
                    "occurredAt": BASE_MS + 5000,
                    "objectType": "contact",
                    "objectId": "2",
                }
            ]
        }
    )
    assert hs.get("/events/v3/events", objectType="contact", objectId="2").json()["results"] == []
    assert [e["id"] for e in hs.get("/email/public/v1/events").json()["events"]] == ["e9"]


def test_given_gdpr_delete_by_email_of_a_merged_contact_then_every_id_and_address_go(
    hs: Sandbox,
) -> None:
    merged = hs.client.crm.contacts.basic_api.merge(
        PublicMergeInput(primary_object_id="1", object_id_to_merge="2")
    )
    answer = requests.post(
        f"{hs.url}{DATED}/gdpr-delete",
        json={"objectId": "user2@example.com", "idProperty": "email"},
        headers=AUTH,
        timeout=10,
    )
    assert (answer.status_code, answer.content) == (204, b"")
    for object_id in ("1", "2", merged.id):
        with pytest.raises(NotFoundException):
            hs.client.crm.contacts.basic_api.get_by_id(object_id)
    store = hs.sb.store.contacts
    assert {"user1@example.com", "user2@example.com"} <= store.erased_emails
    assert store.id_by_email("user1@example.com") is None


def test_given_gdpr_delete_of_unknown_ids_then_404_but_an_unknown_email_is_blocklisted(
    hs: Sandbox,
) -> None:
    with pytest.raises(NotFoundException):
        hs.client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id="999"))
    hs.client.crm.contacts.basic_api.purge(
        PublicGdprDeleteInput(object_id="nobody@example.jp", id_property="email")
    )
    assert "nobody@example.jp" in hs.sb.store.contacts.erased_emails
    with pytest.raises(ApiException) as refused:
        hs.client.crm.contacts.basic_api.purge(
            PublicGdprDeleteInput(object_id="x", id_property="jobtitle")
        )
    assert refused.value.status == 400


def test_given_an_archived_contact_then_gdpr_delete_removes_it_from_the_archive(
    hs: Sandbox,
) -> None:
    hs.client.crm.contacts.basic_api.archive("3")
    hs.client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id="3"))
    with pytest.raises(NotFoundException):
        hs.client.crm.contacts.basic_api.get_by_id("3", archived=True)
    assert _restore(hs, 3).status_code == 404
    submissions = hs.get(f"/form-integrations/v1/submissions/forms/{FORM}").json()["results"]
    assert [s["conversionId"] for s in submissions] == ["c2"]


def test_given_an_erased_id_then_new_contacts_never_reuse_it(hs: Sandbox) -> None:
    hs.client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id="5"))
    created = hs.client.crm.contacts.basic_api.create({"properties": {"email": "new@example.jp"}})
    assert int(created.id) > 5


# ---------------------------------------------------------------------------- webhooks


def test_given_webhooks_then_deletion_restore_merge_and_privacy_deletion_are_sent(
    hs: Sandbox,
) -> None:
    with running_receiver() as receiver:
        hs.sb.webhooks.configure(WebhookConfig(receiver.url, SECRET, retry_scale=1e-4))
        hs.client.crm.contacts.basic_api.archive("3")
        assert _restore(hs, 3).status_code == 200
        merged = hs.client.crm.contacts.basic_api.merge(
            PublicMergeInput(primary_object_id="1", object_id_to_merge="2")
        )
        hs.client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id="4"))
        assert hs.sb.webhooks.flush(10)
        events = [e for batch in receiver.batches() for e in batch]
        assert all(v3_is_valid(SECRET, r) for r in receiver.received)
    kinds = [(e["subscriptionType"], e["objectId"]) for e in events]
    assert kinds == [
        ("contact.deletion", 3),
        ("contact.restore", 3),
        ("contact.merge", 1),
        ("contact.privacyDeletion", 4),
    ]
    merge = events[2]
    assert merge["primaryObjectId"] == 1
    assert merge["mergedObjectIds"] == [2]
    assert merge["newObjectId"] == int(merged.id)
    assert merge["numberOfPropertiesMoved"] >= 1
    assert events[0]["changeFlag"] == "DELETED"
