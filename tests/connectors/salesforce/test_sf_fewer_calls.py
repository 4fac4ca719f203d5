"""The call-saving paths against the sandbox over TLS: queries and Collections packed into
Composite calls, Bulk API 2.0 query jobs, identity for a whole backfill by bulk query."""

# ruff: noqa: F811 - the sandbox fixtures (org, running, tls) are imported by name
from __future__ import annotations

from typing import Any

from connectors.salesforce import match_emails, write_records, write_tasks
from connectors.salesforce.client import CollectionRequest
from connectors.salesforce.identity import bulk_identity
from core.plan import RecordWrite, TaskWrite
from tests.connectors.salesforce.test_sf_sandbox import FAST, Org, org, running, tls  # noqa: F401


def _seed(org: Org, sobject: str, rows: list[dict[str, Any]]) -> list[str]:
    org.sb.seed({sobject: rows})
    return [r["Id"] for r in org.sb.store.records(sobject)]


def _mixed_org(org: Org, n: int) -> dict[str, str]:
    """n emails: a third Contacts, a third open Leads, a third converted Leads whose Contact
    has no email. Returns email -> the Id identity must choose."""
    expected: dict[str, str] = {}
    org.sb.seed(
        {"Contact": [{"LastName": f"C{i}", "Email": f"p{i}@x.com"} for i in range(0, n, 3)]}
    )
    org.sb.seed(
        {
            "Lead": [
                {"LastName": f"L{i}", "Company": "X", "Email": f"P{i}@X.com"}
                for i in range(1, n, 3)
            ]
        }
    )
    org.sb.seed({"Contact": [{"LastName": f"K{i}"} for i in range(2, n, 3)]})
    by_name = {r["LastName"]: r["Id"] for r in org.sb.store.records("Contact")}
    org.sb.seed(
        {
            "Lead": [
                {
                    "LastName": f"V{i}",
                    "Company": "X",
                    "Email": f"p{i}@x.com",
                    "IsConverted": True,
                    "ConvertedContactId": by_name[f"K{i}"],
                }
                for i in range(2, n, 3)
            ]
        }
    )
    leads = {r["LastName"]: r["Id"] for r in org.sb.store.records("Lead")}
    for i in range(n):
        name = ("C", "L", "K")[i % 3] + str(i)
        expected[f"p{i}@x.com"] = leads[name] if i % 3 == 1 else by_name[name]
    return expected


def test_seven_queries_take_two_composite_calls_and_answers_keep_their_order(org: Org) -> None:
    _seed(
        org,
        "Lead",
        [{"LastName": f"L{i}", "Company": "X", "Email": f"q{i}@x.com"} for i in range(7)],
    )
    client = org.client()
    soqls = [f"SELECT Id, Email FROM Lead WHERE Email = 'q{i}@x.com'" for i in range(7)]

    answers = client.query_many(soqls)

    assert [[r["Email"] for r in rs] for rs in answers] == [[f"q{i}@x.com"] for i in range(7)]
    assert client.total_calls == 2 == org.calls("POST", "composite")
    assert all("attributes" not in r for rs in answers for r in rs)


def test_a_composite_query_answer_past_one_batch_is_read_on_with_query_more(org: Org) -> None:
    _seed(
        org,
        "Lead",
        [{"LastName": f"L{i}", "Company": "X", "Email": f"m{i}@x.com"} for i in range(2_300)],
    )
    client = org.client()

    answers = client.query_many(["SELECT Id FROM Lead", "SELECT Id FROM Lead LIMIT 3"])

    assert len(answers[0]) == len({r["Id"] for r in answers[0]}) == 2_300
    assert len(answers[1]) == 3
    assert client.total_calls == 2  # one Composite, one queryMore


def test_match_emails_batched_costs_two_calls_for_a_mixed_thousand_and_chooses_the_same(
    org: Org,
) -> None:
    expected = _mixed_org(org, 1_000)
    plain_client, batched_client = org.client(), org.client()

    plain = match_emails(plain_client, list(expected))
    batched = match_emails(batched_client, list(expected), batched=True)

    assert {e: m.record_id for e, m in batched.matches.items()} == expected
    assert batched.matches == plain.matches
    # Two Contact and two Lead chunks in one Composite call, then the converted Leads'
    # Contacts by Id (333 ids: one query, sent as a plain GET).
    assert batched_client.total_calls == 2 < plain_client.total_calls


def test_write_many_packs_chunks_of_several_objects_and_retries_locked_records_alone(
    org: Org,
) -> None:
    lead_ids = _seed(org, "Lead", [{"LastName": f"L{i}", "Company": "X"} for i in range(450)])
    contact_ids = _seed(org, "Contact", [{"LastName": f"C{i}"} for i in range(250)])
    org.set_faults(lock=0.05, seed=5)
    client = org.client()
    requests_ = [
        CollectionRequest("Lead", [{"Id": i, "Rating": "Warm"} for i in lead_ids]),
        CollectionRequest("Contact", [{"Id": i, "Title": "CTO"} for i in contact_ids]),
    ]

    lead_results, contact_results = client.write_many(requests_)

    assert all(r.success for r in (*lead_results, *contact_results))
    assert [r.id for r in lead_results] == lead_ids
    assert {r["Rating"] for r in org.sb.store.records("Lead")} == {"Warm"}
    assert {r["Title"] for r in org.sb.store.records("Contact")} == {"CTO"}
    # 5 chunks (3 + 2) in one Composite call, then the locked records again
    assert 1 < client.total_calls <= FAST.max_attempts


def test_updates_and_creates_of_one_plan_travel_in_one_composite_call(org: Org) -> None:
    (lead,) = _seed(org, "Lead", [{"LastName": "Old", "Company": "X"}])
    (contact,) = _seed(org, "Contact", [{"LastName": "C"}])
    writes = [
        RecordWrite("a@x.com", "Lead", lead, {"Rating": "Hot"}),
        RecordWrite("b@x.com", "Contact", contact, {"Title": "CEO"}),
        RecordWrite("c@x.com", "Lead", None, {"LastName": "New", "Company": "N"}, "hs-9"),
    ]
    client = org.client()

    results = write_records(client, writes)
    again = write_records(client, writes)  # a resend after a lost answer: no second Lead

    assert all(r.success for r in (*results, *again))
    assert results[2].created and not again[2].created
    assert results[2].record_id == again[2].record_id
    assert len(org.sb.store.records("Lead")) == 2
    assert client.total_calls == 2


def test_bulk_query_pages_by_locator(org: Org) -> None:
    _seed(
        org,
        "Lead",
        [{"LastName": f"L{i}", "Company": "X", "Email": f"b{i}@x.com"} for i in range(25)],
    )
    client = org.client()

    pages = list(client.bulk_query("SELECT Id, Email FROM Lead", page_records=10, poll_interval=0))

    assert [len(p) for p in pages] == [10, 10, 5]
    rows = [r for p in pages for r in p]
    assert len({r["Id"] for r in rows}) == 25
    # create, one poll (the job runs on it), three result pages
    assert client.total_calls == 5 == org.calls(None, "jobs/query")


def test_bulk_identity_chooses_as_match_emails_does_in_a_fixed_number_of_calls(
    org: Org,
) -> None:
    expected = _mixed_org(org, 600)
    _seed(org, "Contact", [{"LastName": "Stranger", "Email": "nobody@else.com"}])
    soql_client, bulk_client = org.client(), org.client()

    by_soql = match_emails(soql_client, [*expected, "missing@x.com"])
    by_bulk = bulk_identity(bulk_client, [*expected, "missing@x.com"])

    assert {e: m.record_id for e, m in by_bulk.matches.items()} == expected
    assert by_bulk.matches == by_soql.matches
    assert by_bulk.unmatched == ["missing@x.com"]
    # two query jobs: create + poll + one results page each
    assert bulk_client.total_calls == 6


def test_bulk_identity_takes_each_address_once_in_canonical_form(org: Org) -> None:
    _seed(org, "Lead", [{"LastName": "Ann", "Company": "X", "Email": "ann@x.com"}])
    client = org.client()

    report = bulk_identity(client, [" ANN@x.com ", "ann@x.com", "mailto:bo@x.com", None, ""])

    assert list(report.matches) == ["ann@x.com"]
    assert report.unmatched == ["bo@x.com"]


def test_tasks_at_the_threshold_go_through_one_bulk_upsert_job_exactly_once(org: Org) -> None:
    lead_ids = _seed(org, "Lead", [{"LastName": f"L{i}", "Company": "X"} for i in range(3)])
    tasks = [
        TaskWrite(
            f"l{i}@x.com",
            f"mql:{i}:1",
            {"Subject": "Call", "Status": "Not Started"},
            who_id=lead_id,
        )
        for i, lead_id in enumerate(lead_ids)
    ]
    tasks.append(TaskWrite("orphan@x.com", "mql:9:1", {"Subject": "Call"}))  # no WhoId
    client = org.client()

    first = write_tasks(client, tasks, {}, bulk_threshold=2)
    again = write_tasks(client, tasks, {}, bulk_threshold=2)  # a resend after a crash

    assert [r.success for r in first] == [True, True, True, False]
    assert all(r.created for r in first[:3]) and not any(r.created for r in again[:3])
    assert [r.record_id for r in first[:3]] == [r.record_id for r in again[:3]]
    stored = org.sb.store.records("Task")
    assert sorted(t["Connector_Key__c"] for t in stored) == ["mql:0:1", "mql:1:1", "mql:2:1"]
    assert {t["WhoId"] for t in stored} == set(lead_ids)
    assert org.calls("POST", "jobs/ingest") == 2
    assert org.calls(None, "composite") == 0
