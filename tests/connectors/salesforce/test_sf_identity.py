"""Identity matching through the real client against a query double (bare responses)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

import pytest
import responses

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.constants import MAX_URI_BYTES, QUERY_URL_BUDGET
from connectors.salesforce.identity import Match, chunk_literals, match_emails
from tests.connectors.salesforce.sf_testkit import FAST, QueryDouble, make_settings


def _contact(cid: str, email: str, created: str = "2024-01-01", **extra: Any) -> dict[str, Any]:
    return {
        "Id": cid,
        "Email": email,
        "OwnerId": "005OWNER",
        "CreatedDate": f"{created}T00:00:00.000+0000",
        "LastModifiedDate": extra.pop("modified", f"{created}T00:00:00.000+0000"),
        **extra,
    }


def _lead(lid: str, email: str, created: str = "2024-01-01", **extra: Any) -> dict[str, Any]:
    return {
        "IsConverted": False,
        "ConvertedContactId": None,
        **_contact(lid, email, created, **extra),
    }


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def _run(rsps: responses.RequestsMock, records: dict[str, list[dict[str, Any]]], emails, **kw):
    double = QueryDouble(records)
    double.install(rsps)
    client = SalesforceClient(make_settings(), retry_policy=FAST)
    return match_emails(client, emails, **kw), double, client


TRICKY = [
    "o'brien@x.com",
    "a\\b@x.com",
    '"q"@x.com',
    "zoë.müller@bücher.de",
    "日本@例え.jp",
    "a'),('b@x.com",
    "x' or email != '@x.com",
]


def test_emails_crafted_to_break_soql_are_escaped_and_matched(rsps) -> None:
    contacts = [_contact(f"003{i:03d}", e.upper()) for i, e in enumerate(TRICKY)]
    contacts.append(_contact("003999", "innocent@x.com"))

    report, double, _ = _run(rsps, {"Contact": contacts}, [e.upper() for e in TRICKY])

    assert sorted(report.matches) == sorted(TRICKY)
    assert all(m.record_id.startswith("003") for m in report.matches.values())
    assert "003999" not in {m.record_id for m in report.matches.values()}
    soql = double.soql[0]
    assert "'o\\'brien@x.com'" in soql
    assert "'a\\\\b@x.com'" in soql
    assert "'\\\"q\\\"@x.com'" in soql
    assert "'zoë.müller@bücher.de'" in soql
    assert len(double.soql) == 1  # every email had a Contact: no Lead query


def test_long_emails_are_chunked_so_every_get_stays_under_the_uri_budget(rsps) -> None:
    emails = [f"{i:04d}" + ("ü'\"\\" * 60) + "@example.com" for i in range(300)]
    contacts = [_contact(f"003{i:05d}", e) for i, e in enumerate(emails)]

    report, double, client = _run(rsps, {"Contact": contacts}, emails)

    assert len(report.matches) == 300
    assert all(len(url) <= QUERY_URL_BUDGET for url in double.urls)
    assert max(len(url) for url in double.urls) > QUERY_URL_BUDGET * 0.9  # chunks are full
    queried = [e for soql in double.soql for e in emails if quote_plus(e[:4]) and e[:4] in soql]
    assert len(queried) == len(set(queried)) == 300  # each email in exactly one chunk
    assert client.total_calls == len(double.urls)
    # the fewest chunks the budget allows: each literal costs the same here
    per = len(
        quote_plus(
            "'" + emails[0].replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"') + "'"
        )
    ) + len(quote_plus(","))
    base = client.query_url_length(double.soql[0][: double.soql[0].index("(") + 1] + ")")
    per_chunk = (QUERY_URL_BUDGET - base + len(quote_plus(","))) // per
    assert len(double.urls) == -(-300 // per_chunk)


def test_chunk_literals_never_exceeds_the_uri_limit_even_with_a_monster_value() -> None:
    class Lengths:
        def query_url_length(self, soql: str) -> int:
            return len("https://h/services/data/v59.0/query/?q=") + len(quote_plus(soql))

    values = ["a" * 20_000, *(f"{i}@x.com" for i in range(2_000))]
    chunks = list(
        chunk_literals(Lengths(), "SELECT Id FROM Lead WHERE Email IN (", ")", values, 12_000)
    )
    assert sum(len(c) for c in chunks) == 2_000  # the monster is left out, nothing else
    for chunk in chunks:
        soql = "SELECT Id FROM Lead WHERE Email IN (" + ",".join(f"'{v}'" for v in chunk) + ")"
        assert Lengths().query_url_length(soql) <= 12_000 < MAX_URI_BYTES


def test_a_contact_wins_over_a_lead_and_a_lead_is_used_when_no_contact_exists(rsps) -> None:
    records = {
        "Contact": [_contact("003A", "Both@X.com", Title="CTO")],
        "Lead": [
            _lead("00QA", "both@x.com"),
            _lead("00QB", "LEAD.only@x.com", Status="Open", Company="Acme"),
        ],
    }
    report, double, _ = _run(
        rsps,
        records,
        ["both@x.com", "Lead.Only@X.com ", "nobody@x.com"],
        contact_fields=["Title"],
        lead_fields=["Status", "Company"],
    )

    assert report.matches["both@x.com"] == Match("Contact", "003A", "005OWNER", {"Title": "CTO"})
    assert report.matches["lead.only@x.com"] == Match(
        "Lead", "00QB", "005OWNER", {"Status": "Open", "Company": "Acme"}
    )
    assert report.unmatched == ["nobody@x.com"]
    assert report.duplicates == {}
    # the Lead query asks only for emails without a Contact
    assert "both@x.com" not in double.soql[1]
    assert len(double.soql) == 2


def test_a_converted_lead_leads_to_its_contact_even_under_another_email(rsps) -> None:
    records = {
        "Contact": [_contact("003NEW", "new.address@x.com", Title="VP")],
        "Lead": [
            _lead("00QC", "old.address@x.com", IsConverted=True, ConvertedContactId="003NEW"),
            _lead("00QD", "old.address@x.com"),  # an unconverted duplicate loses to the Contact
        ],
    }
    report, double, _ = _run(rsps, records, ["old.address@x.com"], contact_fields=["Title"])

    assert report.matches["old.address@x.com"] == Match(
        "Contact", "003NEW", "005OWNER", {"Title": "VP"}, converted_lead_id="00QC"
    )
    assert len(double.soql) == 3  # Contact by email, Lead by email, Contact by Id
    assert "WHERE Id IN ('003NEW')" in double.soql[2]


@pytest.mark.parametrize(
    ("rule", "chosen"),
    [("oldest", "003OLD"), ("newest", "003NEW"), ("most_recently_modified", "003MID")],
)
def test_duplicates_are_picked_by_the_rule_and_reported(rsps, rule: str, chosen: str) -> None:
    records = {
        "Contact": [
            _contact("003NEW", "dup@x.com", "2024-03-01"),
            _contact("003OLD", "DUP@x.com", "2022-01-01"),
            _contact("003MID", "dup@X.COM", "2023-01-01", modified="2025-01-01T00:00:00.000+0000"),
        ]
    }
    report, _, _ = _run(rsps, records, ["dup@x.com"], duplicate_rule=rule)

    assert report.matches["dup@x.com"].record_id == chosen
    assert report.duplicates["dup@x.com"][0] == chosen
    assert sorted(report.duplicates["dup@x.com"]) == ["003MID", "003NEW", "003OLD"]


def test_duplicate_unconverted_leads_are_reported_too(rsps) -> None:
    records = {"Lead": [_lead("00Q2", "l@x.com", "2024-02-01"), _lead("00Q1", "l@x.com")]}
    report, _, _ = _run(rsps, records, ["l@x.com"])
    assert report.matches["l@x.com"].record_id == "00Q1"
    assert report.duplicates == {"l@x.com": ["00Q1", "00Q2"]}


def test_invalid_field_names_and_rules_are_refused_before_any_query(rsps) -> None:
    client = SalesforceClient(make_settings(), retry_policy=FAST)
    with pytest.raises(ValueError):
        match_emails(client, ["a@x.com"], lead_fields=["Status) FROM User --"])
    with pytest.raises(ValueError):
        match_emails(client, ["a@x.com"], duplicate_rule="random")  # type: ignore[arg-type]
    assert client.total_calls == 0
