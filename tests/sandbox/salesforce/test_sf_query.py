"""SOQL through the real simple-salesforce: batching, escaping, filters, errors, URI limit."""

from __future__ import annotations

import datetime as dt

import pytest
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest

from sandbox.salesforce import SalesforceSandbox


def _leads(count: int, **extra: object) -> list[dict[str, object]]:
    return [
        {"LastName": f"Lead {i:05d}", "Company": "Acme", "Email": f"lead{i}@example.com",
         **extra}
        for i in range(count)
    ]


def test_given_4500_leads_query_all_pages_by_2000_without_overlap(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    sf_sandbox.seed({"Lead": _leads(4500)})

    first = sf_client.query("SELECT Id, Email FROM Lead")
    everything = sf_client.query_all("SELECT Id, Email FROM Lead")

    assert first["totalSize"] == 4500
    assert first["done"] is False
    assert len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    ids = [r["Id"] for r in everything["records"]]
    assert len(ids) == len(set(ids)) == 4500
    assert everything["records"][0]["attributes"]["type"] == "Lead"
    assert sf_client.api_usage["api-usage"].used == 4  # query + query + 2 queryMore


def test_given_batch_size_header_pages_are_that_size(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    sf_sandbox.seed({"Lead": _leads(450)})

    page = sf_client.query("SELECT Id FROM Lead",
                           headers={"Sforce-Query-Options": "batchSize=200"})

    assert len(page["records"]) == 200
    assert page["nextRecordsUrl"].endswith("-200")


@pytest.mark.parametrize(
    "email",
    [
        "o'brien@example.com",
        'quote"d@example.com',
        "back\\slash@example.com",
        "zoë.ünïcödé@例え.jp",
        "tab\there@example.com",
        "100%_wild@example.com",
    ],
)
def test_given_awkward_emails_format_soql_round_trips_them(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, email: str
) -> None:
    sf_sandbox.seed({"Lead": [{"LastName": "X", "Company": "Y", "Email": email},
                              {"LastName": "Z", "Company": "Y", "Email": "other@example.com"}]})

    found = sf_client.query(format_soql("SELECT Id, Email FROM Lead WHERE Email = {}", email))

    assert [r["Email"] for r in found["records"]] == [email]


def test_string_equality_ignores_case_and_in_lists_match(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    sf_sandbox.seed({"Contact": [
        {"LastName": "A", "Email": "Alice@Example.com"},
        {"LastName": "B", "Email": "bob@example.com"},
        {"LastName": "C", "Email": None},
    ]})

    hit = sf_client.query("SELECT Email FROM Contact WHERE Email = 'alice@example.COM'")
    listed = sf_client.query(format_soql(
        "SELECT LastName FROM Contact WHERE Email IN {} ORDER BY LastName",
        ["ALICE@example.com", "bob@EXAMPLE.com"]))
    not_listed = sf_client.query(
        "SELECT LastName FROM Contact WHERE Email NOT IN ('bob@example.com') ORDER BY LastName")
    nulls = sf_client.query("SELECT LastName FROM Contact WHERE Email = null")

    assert hit["totalSize"] == 1
    assert [r["LastName"] for r in listed["records"]] == ["A", "B"]
    assert [r["LastName"] for r in not_listed["records"]] == ["A", "C"]
    assert [r["LastName"] for r in nulls["records"]] == ["C"]


def test_where_with_and_or_not_like_numbers_dates_and_order(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    sf_sandbox.seed({"Lead": [
        {"LastName": "Hot", "Company": "A", "Lead_Score__c": 90, "Email": "hot@acme.com",
         "MQL_Date__c": "2024-03-01T10:00:00Z", "Lead_Stage__c": "Hot"},
        {"LastName": "Warm", "Company": "B", "Lead_Score__c": 55, "Email": "warm@beta.io",
         "MQL_Date__c": "2024-01-15T08:30:00.000+0000"},
        {"LastName": "Cold", "Company": "C", "Lead_Score__c": 10, "Email": "cold@acme.com"},
        {"LastName": "Unscored", "Company": "D"},
    ]})

    def names(soql: str) -> list[str]:
        return [r["LastName"] for r in sf_client.query_all(soql)["records"]]

    assert names("SELECT LastName FROM Lead WHERE Lead_Score__c >= 55 ORDER BY Lead_Score__c"
                 " DESC") == ["Hot", "Warm"]
    assert names("SELECT LastName FROM Lead WHERE Email LIKE '%@ACME.com' AND "
                 "(Lead_Score__c > 50 OR Lead_Score__c < 20) ORDER BY LastName") == [
        "Cold", "Hot"]
    assert names("SELECT LastName FROM Lead WHERE NOT Email LIKE '%acme%' ORDER BY LastName"
                 ) == ["Unscored", "Warm"]
    assert names("SELECT LastName FROM Lead WHERE MQL_Date__c > 2024-02-01T00:00:00Z") == [
        "Hot"]
    assert names("SELECT LastName FROM Lead ORDER BY Lead_Score__c ASC NULLS LAST LIMIT 2"
                 " OFFSET 1") == ["Warm", "Hot"]
    assert names("SELECT LastName FROM Lead ORDER BY Lead_Score__c DESC NULLS LAST"
                 " LIMIT 1") == ["Hot"]
    assert names("SELECT LastName FROM Lead ORDER BY Lead_Score__c")[0] == "Unscored"
    assert names("SELECT LastName FROM Lead ORDER BY Lead_Score__c DESC")[0] == "Unscored"
    assert names(format_soql("SELECT LastName FROM Lead WHERE MQL_Date__c < {}",
                             dt.datetime(2024, 2, 1, 1, tzinfo=dt.timezone(
                                 dt.timedelta(hours=2))))) == ["Warm"]
    assert names("SELECT LastName FROM Lead WHERE IsConverted = false AND "
                 "Lead_Stage__c != null") == ["Hot"]
    count = sf_client.query("SELECT COUNT() FROM Lead WHERE Company IN ('A', 'b')")
    assert count["totalSize"] == 2 and count["records"] == []


def test_relationship_fields_come_back_nested(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    sf_sandbox.seed({"Account": [{"Name": "Acme"}]})
    account_id = sf_sandbox.store.records("Account")[0]["Id"]
    sf_sandbox.seed({"Contact": [{"LastName": "Doe", "AccountId": account_id}]})

    row = sf_client.query("SELECT Id, Account.Name, Owner.Username FROM Contact")["records"][0]

    assert row["Account"]["Name"] == "Acme"
    assert row["Account"]["attributes"]["type"] == "Account"
    assert row["Owner"]["Username"] == "integration@sandbox.example.com"


def test_query_all_includes_deleted_records(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    sf_sandbox.seed({"Lead": _leads(2)})
    doomed = sf_sandbox.store.records("Lead")[0]["Id"]
    sf_client.Lead.delete(doomed)

    live = sf_client.query("SELECT Id FROM Lead")
    everything = sf_client.query_all("SELECT Id, IsDeleted FROM Lead", include_deleted=True)

    assert live["totalSize"] == 1
    assert everything["totalSize"] == 2
    assert {r["IsDeleted"] for r in everything["records"]} == {True, False}


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELECT Id, Foo FROM Lead", "INVALID_FIELD",
         "No such column 'Foo' on entity 'Lead'"),
        ("SELECT Id FROM Leed", "INVALID_TYPE", "sObject type 'Leed' is not supported"),
        ("SELECT Id FORM Lead", "MALFORMED_QUERY", "unexpected token: FORM"),
        ("SELECT Id FROM Lead WHERE Email = 'a' AND LastName = 'b' OR Company = 'c'",
         "MALFORMED_QUERY", "unexpected token: OR"),
        ("SELECT Id FROM Lead WHERE Email = 'unterminated", "MALFORMED_QUERY", "EOF"),
        ("SELECT Id FROM Lead WHERE Email = 'bad\\escape'", "MALFORMED_QUERY",
         "Illegal escape sequence"),
        ("SELECT Id FROM Lead WHERE Lead_Score__c = '10'", "INVALID_QUERY_FILTER_OPERATOR",
         "must be of type double"),
        ("SELECT Id FROM Lead WHERE Email = 10", "INVALID_QUERY_FILTER_OPERATOR",
         "should be enclosed in quotes"),
        ("SELECT Id FROM Lead WHERE Id = 'nope'", "INVALID_QUERY_FILTER_OPERATOR",
         "invalid ID field: nope"),
        ("SELECT Id FROM Lead WHERE Owner.Nope = 'x'", "INVALID_FIELD", "No such column 'Nope'"),
    ],
)
def test_bad_soql_is_refused_with_salesforce_codes(
    sf_client: Salesforce, soql: str, code: str, fragment: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf_client.query(soql)

    error = caught.value.content[0]
    assert error["errorCode"] == code
    assert fragment in error["message"]
    assert "ERROR at Row:1:Column:" in error["message"]


def test_a_uri_over_16384_bytes_gets_414_html(sf_client: Salesforce) -> None:
    emails = [f"someone.with.a.long.address.{i}@example.com" for i in range(500)]

    with pytest.raises(SalesforceGeneralError) as caught:
        sf_client.query(format_soql("SELECT Id FROM Lead WHERE Email IN {}", emails))

    assert caught.value.status == 414
    assert "<html>" in caught.value.content


def test_query_more_with_unknown_locator_is_invalid(sf_client: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf_client.query_more("01g8d0000000XYZ-2000")

    assert caught.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_relative_date_literals(sf_factory: object, sf_client_for: object) -> None:
    now = 1_718_000_000.0  # 2024-06-10T06:13:20Z
    sandbox = sf_factory(clock=lambda: now)  # type: ignore[operator]
    client = sf_client_for(sandbox)  # type: ignore[operator]
    sandbox.seed({"Task": [
        {"Subject": "today", "ActivityDate": "2024-06-10"},
        {"Subject": "last week", "ActivityDate": "2024-06-03"},
        {"Subject": "long ago", "ActivityDate": "2023-01-01"},
    ]})

    def subjects(where: str) -> list[str]:
        soql = f"SELECT Subject FROM Task WHERE {where} ORDER BY ActivityDate DESC"
        return [r["Subject"] for r in client.query(soql)["records"]]

    assert subjects("ActivityDate = TODAY") == ["today"]
    assert subjects("ActivityDate = LAST_N_DAYS:7") == ["today", "last week"]
    assert subjects("ActivityDate < LAST_N_DAYS:30") == ["long ago"]
    assert subjects("CreatedDate = TODAY") == ["today", "last week", "long ago"]
