"""Read known records by Id: `SELECT Id, <fields> FROM <sObject> WHERE Id IN (...)`.

Used to read the current values of linked records (field rules `if_blank` and
`unless_changed`, the current owner, whether a Lead was converted) in as few calls as the
URI limit allows: ids are chunked by the exact length of the GET URL each query becomes
(`identity.chunk_literals`) and at most `ID_QUERY_MAX` ids go into one query, so 1,000 linked
Leads cost two queries. A record that is deleted (or merged away) is simply absent from the
answer: queries do not return the recycle bin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from simple_salesforce.format import quote_soql_value

from .client import check_name
from .identity import QueryClient, chunk_literals

ID_QUERY_MAX = 500  # ids per query: what the brief of the write path allows
# An id costs 27 bytes in the URL ('%27' + 18 + '%27' + '%2C'), so 500 ids need ~13.5 KB;
# chunk_literals measures the real URL, which must stay under 16,384 bytes (414 above).
ID_QUERY_URL_BUDGET = 15_500


def fetch_by_ids(
    client: QueryClient,
    sobject: str,
    ids: Iterable[str],
    fields: Sequence[str],
    *,
    max_ids: int = ID_QUERY_MAX,
    url_budget: int = ID_QUERY_URL_BUDGET,
) -> dict[str, dict[str, Any]]:
    """Records of `sobject` by Id, with `Id` and `fields`; absent ids are not live records.

    Answers are keyed by the 18-character Id Salesforce returns and by its first 15
    characters, so callers can look up either form.
    """
    check_name(sobject)
    select = _select(fields)
    wanted = list(dict.fromkeys(i for i in ids if i))
    prefix = f"SELECT {', '.join(select)} FROM {sobject} WHERE Id IN ("
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), max_ids):
        group = wanted[start : start + max_ids]
        for chunk in chunk_literals(client, prefix, ")", group, url_budget):
            soql = prefix + ",".join(quote_soql_value(i) for i in chunk) + ")"
            for record in client.query(soql):
                found[record["Id"]] = record
                found[record["Id"][:15]] = record
    return found


def field_value(record: Mapping[str, Any], name: str) -> Any:
    """A field of a query record by API name, whatever the case Salesforce answered in."""
    if name in record:
        return record[name]
    lowered = name.lower()
    for key, value in record.items():
        if key.lower() == lowered:
            return value
    return None


def _select(fields: Sequence[str]) -> list[str]:
    out: list[str] = ["Id"]
    seen = {"id"}
    for name in fields:
        check_name(name, "field name")
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return out
