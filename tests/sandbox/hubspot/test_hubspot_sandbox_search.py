"""CRM search: operators, limits, paging, the 10,000 cap, defaults and the index lag."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hubspot.crm.contacts import PublicObjectSearchRequest
from hubspot.crm.contacts.exceptions import ApiException

from tests.sandbox.hubspot.hs_sandbox_kit import BASE_MS, Sandbox, contact


def _search(hs: Sandbox, filters: list[dict[str, Any]] | None = None, **kw: Any):
    groups = kw.pop("groups", None)
    if groups is None:
        groups = [{"filters": filters}] if filters else []
    return hs.client.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(filter_groups=groups, **kw)
    )


def _ids(result) -> list[int]:
    return [int(r.id) for r in result.results]


def _all_ids(hs: Sandbox, filters, **kw) -> list[int]:
    out: list[int] = []
    after = None
    while True:
        page = _search(hs, filters, limit=200, after=after, **kw)
        out.extend(_ids(page))
        if page.paging is None:
            return out
        after = page.paging.next.after


@pytest.fixture
def rich(make_sandbox) -> Sandbox:
    records = [contact(i) for i in range(1, 21)]
    records[0]["properties"]["jobtitle"] = "Head of Data Platform"
    records[1]["properties"]["jobtitle"] = "data engineer"
    records[2]["properties"]["hs_lead_status"] = "OPEN"
    records[3]["properties"]["email"] = "Mixed.Case@Example.com"
    records[4]["properties"]["lifecyclestage"] = "customer"
    return make_sandbox({"contacts": records})


T5 = BASE_MS + 5_000  # contact 5's modified time


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"propertyName": "email", "operator": "EQ", "value": "USER7@EXAMPLE.COM"}, [7]),
        ({"propertyName": "email", "operator": "EQ", "value": "mixed.case@example.com"}, [4]),
        ({"propertyName": "hs_object_id", "operator": "NEQ", "value": "1"}, list(range(2, 21))),
        ({"propertyName": "hs_object_id", "operator": "LT", "value": "3"}, [1, 2]),
        ({"propertyName": "hs_object_id", "operator": "LTE", "value": "3"}, [1, 2, 3]),
        ({"propertyName": "hs_object_id", "operator": "GT", "value": "18"}, [19, 20]),
        ({"propertyName": "hs_object_id", "operator": "GTE", "value": "18"}, [18, 19, 20]),
        (
            {"propertyName": "hs_object_id", "operator": "BETWEEN", "value": "4", "highValue": "6"},
            [4, 5, 6],
        ),
        (
            {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(T5 + 14_000)},
            [19, 20],
        ),
        (
            {
                "propertyName": "lastmodifieddate",
                "operator": "LT",
                "value": "2023-11-14T22:13:23.000Z",
            },
            [1, 2],
        ),
        (
            {
                "propertyName": "hs_lastmodifieddate",
                "operator": "BETWEEN",
                "value": str(T5),
                "highValue": str(T5 + 1000),
            },
            [5, 6],
        ),
        (
            {
                "propertyName": "createdate",
                "operator": "LTE",
                "value": str(BASE_MS - 86_400_000 + 2),
            },
            [1, 2],
        ),
        ({"propertyName": "lifecyclestage", "operator": "IN", "values": ["customer"]}, [5]),
        (
            {
                "propertyName": "email",
                "operator": "IN",
                "values": ["user8@example.com", "mixed.case@example.com"],
            },
            [4, 8],
        ),
        ({"propertyName": "email", "operator": "IN", "values": ["USER8@EXAMPLE.COM"]}, []),
        ({"propertyName": "lifecyclestage", "operator": "NOT_IN", "values": ["lead"]}, [5]),
        ({"propertyName": "hs_lead_status", "operator": "HAS_PROPERTY"}, [3]),
        ({"propertyName": "jobtitle", "operator": "NOT_HAS_PROPERTY"}, list(range(3, 21))),
        ({"propertyName": "jobtitle", "operator": "CONTAINS_TOKEN", "value": "data"}, [1, 2]),
        (
            {"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@example.com"},
            list(range(1, 21)),
        ),
        (
            {"propertyName": "jobtitle", "operator": "NOT_CONTAINS_TOKEN", "value": "engineer"},
            [1, *range(3, 21)],
        ),
    ],
)
def test_operator_semantics(rich: Sandbox, flt: dict[str, Any], expected: list[int]) -> None:
    result = _search(rich, [flt], limit=200)
    assert sorted(_ids(result)) == expected
    assert result.total == len(expected)


def test_filter_groups_are_ored_and_filters_anded(rich: Sandbox) -> None:
    groups = [
        {
            "filters": [
                {"propertyName": "hs_object_id", "operator": "LT", "value": "5"},
                {"propertyName": "hs_object_id", "operator": "GT", "value": "2"},
            ]
        },
        {"filters": [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"}]},
    ]
    assert _ids(_search(rich, groups=groups)) == [3, 4, 5]


def test_default_properties_and_requested_properties(rich: Sandbox) -> None:
    default = _search(rich, [{"propertyName": "hs_object_id", "operator": "EQ", "value": "1"}])
    assert set(default.results[0].properties) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    asked = _search(
        rich,
        [{"propertyName": "hs_object_id", "operator": "EQ", "value": "1"}],
        properties=["jobtitle"],
    )
    assert asked.results[0].properties["jobtitle"] == "Head of Data Platform"
    assert "firstname" not in asked.results[0].properties


def test_sort_descending_by_modified_time(rich: Sandbox) -> None:
    result = _search(
        rich, None, sorts=[{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}], limit=3
    )
    assert _ids(result) == [20, 19, 18]
    by_name = _search(
        rich, None, sorts=[{"propertyName": "firstname", "direction": "ASCENDING"}], limit=3
    )
    assert _ids(by_name) == [1, 10, 11]  # string order: First1, First10, First11


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 201},
        {
            "filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}]
            * 6
        },
        {
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 11}
            ]
        },
        {
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 6}
            ]
            * 5
        },
        {
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}
            ]
        },
        {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "IN"}]}]},
        {"sorts": [{"propertyName": "email"}, {"propertyName": "firstname"}]},
        {"after": "9900", "limit": 200},
    ],
    ids=["limit", "groups", "per-group", "total", "operator", "in-values", "sorts", "cap"],
)
def test_invalid_searches_answer_400_validation_error(rich: Sandbox, body: dict) -> None:
    response = rich.post("/crm/v3/objects/contacts/search", body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["category"] == "VALIDATION_ERROR"
    assert payload["errors"][0]["message"]


def test_limits_at_the_maximum_are_accepted(rich: Sandbox) -> None:
    filters = [{"propertyName": "email", "operator": "HAS_PROPERTY"}]
    body = {"filterGroups": [{"filters": filters * 5}] * 5, "limit": 200}
    response = rich.post("/crm/v3/objects/contacts/search", body)
    assert response.status_code == 200
    assert response.json()["total"] == 20


def test_malformed_json_answers_400(rich: Sandbox) -> None:
    response = rich.client.api_request(
        {
            "method": "POST",
            "path": "/crm/v3/objects/contacts/search",
            "body": "{not json",
            "default_json": True,
        }
    )
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_paging_walks_every_match_once_and_stops_at_the_10000_cap(make_sandbox) -> None:
    hs = make_sandbox({"contacts": (contact(i) for i in range(1, 10_301))})
    flt = [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(BASE_MS)}]
    seen: list[int] = []
    after = None
    for _ in range(50):
        page = _search(
            hs,
            flt,
            limit=200,
            after=after,
            sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        )
        assert page.total == 10_300
        seen.extend(_ids(page))
        after = page.paging.next.after
        if after == "10000":
            break
    assert len(seen) == len(set(seen)) == 10_000
    with pytest.raises(ApiException) as err:
        _search(hs, flt, limit=200, after=after)
    assert err.value.status == 400
    assert json.loads(err.value.body)["category"] == "VALIDATION_ERROR"
    # partitioning by hs_object_id reaches the rest
    rest = _all_ids(
        hs, [*flt, {"propertyName": "hs_object_id", "operator": "GT", "value": str(seen[-1])}]
    )
    assert rest == list(range(10_001, 10_301))


def test_fast_and_generic_paths_agree(make_sandbox) -> None:
    hs = make_sandbox({"contacts": [contact(i) for i in range(1, 400)]})
    indexed = [
        {"propertyName": "lastmodifieddate", "operator": "GT", "value": str(BASE_MS + 50_000)},
        {"propertyName": "hs_object_id", "operator": "LTE", "value": "300"},
    ]
    generic = [*indexed, {"propertyName": "email", "operator": "HAS_PROPERTY"}]
    for sort in ("hs_object_id", "lastmodifieddate"):
        for direction in ("ASCENDING", "DESCENDING"):
            sorts = [{"propertyName": sort, "direction": direction}]
            assert _all_ids(hs, indexed, sorts=sorts) == _all_ids(hs, generic, sorts=sorts)


def test_records_written_via_api_appear_in_search_only_after_the_lag(make_sandbox) -> None:
    hs = make_sandbox({"contacts": [contact(i) for i in range(1, 4)]}, search_lag_seconds=5)
    hs.client.crm.contacts.basic_api.update("2", {"properties": {"jobtitle": "Lagged"}})
    flt = [{"propertyName": "hs_object_id", "operator": "GTE", "value": "1"}]
    assert _ids(_search(hs, flt)) == [1, 3]
    # list and get see it at once
    assert (
        hs.client.crm.contacts.basic_api.get_by_id("2", properties=["jobtitle"]).properties[
            "jobtitle"
        ]
        == "Lagged"
    )
    hs.clock.advance(5)
    assert _ids(_search(hs, flt)) == [1, 2, 3]


def test_seeded_records_modified_within_the_lag_are_not_yet_searchable(make_sandbox) -> None:
    from sandbox.hubspot.util import iso_ms
    from tests.sandbox.hubspot.hs_sandbox_kit import START

    fresh = contact(2, lastmodifieddate=iso_ms(int(START * 1000) - 1000))
    hs = make_sandbox({"contacts": [contact(1), fresh]}, search_lag_seconds=10)
    assert _ids(_search(hs, None)) == [1]
    hs.clock.advance(9)
    assert _ids(_search(hs, None)) == [1, 2]


def test_search_query_text_matches_name_prefixes(rich: Sandbox) -> None:
    result = _search(rich, None, query="first12")
    assert _ids(result) == [12]


def test_companies_search_uses_hs_lastmodifieddate(hs: Sandbox) -> None:
    from hubspot.crm.companies import PublicObjectSearchRequest as CompanySearch

    result = hs.client.crm.companies.search_api.do_search(
        CompanySearch(
            filter_groups=[
                {
                    "filters": [
                        {
                            "propertyName": "hs_lastmodifieddate",
                            "operator": "GTE",
                            "value": str(BASE_MS + 4000),
                        }
                    ]
                }
            ],
            sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "DESCENDING"}],
        )
    )
    assert [r.id for r in result.results] == ["5", "4"]
    assert set(result.results[0].properties) == {
        "createdate",
        "domain",
        "hs_lastmodifieddate",
        "hs_object_id",
        "name",
    }


def test_search_sees_api_creates_and_updates_at_once_without_lag(hs: Sandbox) -> None:
    hs.clock.advance(3600)
    hs.client.crm.contacts.basic_api.update("5", {"properties": {"jobtitle": "x"}})
    created = hs.client.crm.contacts.basic_api.create({"properties": {"email": "z@example.com"}})
    since = str(hs.sb.now_ms())
    result = _search(
        hs,
        [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": since}],
        sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
    )
    assert _ids(result) == [5, int(created.id)]
