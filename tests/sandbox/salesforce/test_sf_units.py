"""Pure pieces without a server: id checksums, SOQL parsing, the schema file."""

from __future__ import annotations

import pytest

from sandbox.salesforce import Schema, ids, soql


@pytest.mark.parametrize(
    ("id15", "id18"),
    [  # ids quoted in Salesforce's REST API documentation
        ("001D000000IqhSL", "001D000000IqhSLIAZ"),
        ("00190000001pPvH", "00190000001pPvHAAU"),
    ],
)
def test_checksum_matches_salesforce(id15: str, id18: str) -> None:
    assert ids.normalize(id15) == id18
    assert ids.normalize(id18) == id18
    assert ids.normalize(id18.lower()[:15] + id18[15:]) is None  # case of the 15 chars matters
    assert ids.normalize(id18[:15] + "AAA") is None


def test_string_literal_escapes_decode() -> None:
    tokens = soql.tokenize(r"'a\'b\"c\\d\ne\u00e9\%\_'")

    assert tokens[0].kind == "STRING"
    # \% and \_ stay distinguishable from the LIKE wildcards % and _
    assert tokens[0].value == "a'b\"c\\d\ne\u00e9\ue000\ue001"


def test_parse_reads_the_whole_grammar() -> None:
    query = soql.parse(
        "SELECT Id, Owner.Name FROM Lead WHERE (Email LIKE '%x%' OR Email = null) AND NOT "
        "Lead_Score__c IN (1, 2.5) ORDER BY CreatedDate DESC NULLS LAST, Id LIMIT 5 OFFSET 10")

    assert [p.text for p in query.select] == ["Id", "Owner.Name"]
    assert query.sobject == "Lead"
    assert isinstance(query.where, soql.BoolOp) and query.where.op == "AND"
    assert [(o.path.text, o.descending, o.nulls_first) for o in query.order] == [
        ("CreatedDate", True, False), ("Id", False, True)]
    assert (query.limit, query.offset) == (5, 10)


def test_schema_file_has_the_connector_fields() -> None:
    schema = Schema.load()
    lead = schema.objects["Lead"]

    assert [f.name for f in lead.fields.values() if f.required_on_create] == [
        "LastName", "Company"]
    assert lead.fields["Lead_Stage__c"].picklist_values == (
        "Cold", "Interest", "Comparison", "Hot", "MQL", "SQL", "Opportunity", "Won", "Lost")
    assert lead.fields["MQL_Status__c"].restricted_picklist
    assert lead.fields["Status"].default_picklist_value == "Open - Not Contacted"
    contact_ext = schema.objects["Contact"].fields["HubSpot_Contact_Id__c"]
    assert contact_ext.external_id and not contact_ext.unique
    assert [f.name for f in schema.objects["Contact"].fields.values()
            if f.required_on_create] == ["LastName"]
    assert [f.name for f in schema.objects["Task"].fields.values()
            if f.required_on_create] == []
    assert schema.objects["Opportunity"].fields["CloseDate"].required_on_create
