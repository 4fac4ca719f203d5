"""Salesforce Accounts for the account roll-up: find them, write the three account fields.

Finding, for one batch of accounts, in one Composite call (up to five SOQL queries; one API
request, `SalesforceClient.query_many`):
- the linked Contacts' `AccountId` (with `Account.Name`, `Account.OwnerId`) by Contact Id;
- the Accounts whose `Website` holds one of the batch's domains (`Website LIKE '%d%'`, then
  the exact host compared here: `core.freemail.site_domain`), chunked so each query's URL
  stays under the 16,384-byte limit `SalesforceClient.query` documents.
Writing: `PATCH composite/sobjects` (sObject Collections update by Id, 200 records a call):
idempotent, so a retry after a lost answer writes the same values again and nothing twice.
A field the org does not have is refused per record (`INVALID_FIELD`); setup creates them:
`connector setup salesforce` lists `Account.Account_Score__c` Number(18, 0),
`Account.Engaged_Contacts__c` Number(18, 0), `Account.Buying_Group__c` Checkbox.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.salesforce.client import RecordResult, SalesforceClient
from core.freemail import site_domain

ACCOUNT_FIELDS: Mapping[str, str] = {
    "score": "Account_Score__c",
    "engaged": "Engaged_Contacts__c",
    "buying_group": "Buying_Group__c",
}
_SAFE_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")
_ID = re.compile(r"^[A-Za-z0-9]{15,18}$")
DOMAINS_PER_QUERY = 80  # ~40 bytes each once URL-encoded: well under 16,384


@dataclass(frozen=True, slots=True)
class AccountRecord:
    record_id: str
    name: str | None
    owner_id: str | None
    domain: str | None


class SalesforceAccounts:
    """`find` and `update` over one `SalesforceClient` (its retry policy, budget, counts)."""

    def __init__(self, client: SalesforceClient) -> None:
        self._client = client

    def find(
        self, contact_ids: Sequence[str], domains: Sequence[str]
    ) -> tuple[dict[str, AccountRecord], dict[str, AccountRecord]]:
        """(Contact Id -> its Account, domain -> the Account whose Website has it) for one
        batch. An Account matched by several domains' LIKE is kept only for its own host;
        two Accounts with the same host: the lowest Id."""
        ids = sorted({i for i in contact_ids if _ID.match(i)})
        wanted = sorted({d for d in domains if _SAFE_DOMAIN.match(d)})
        soqls: list[str] = []
        if ids:
            soqls.append(
                "SELECT Id, AccountId, Account.Name, Account.OwnerId, Account.Website "
                "FROM Contact WHERE Id IN (" + ", ".join(f"'{i}'" for i in ids) + ")"
            )
        for start in range(0, len(wanted), DOMAINS_PER_QUERY):
            chunk = wanted[start : start + DOMAINS_PER_QUERY]
            soqls.append(
                "SELECT Id, Name, OwnerId, Website FROM Account WHERE "
                + " OR ".join(f"Website LIKE '%{d}%'" for d in chunk)
                + " ORDER BY Id"
            )
        if not soqls:
            return {}, {}
        answers = self._client.query_many(soqls)
        by_contact: dict[str, AccountRecord] = {}
        if ids:
            for row in answers.pop(0):
                account = row.get("Account") or {}
                if row.get("AccountId"):
                    by_contact[row["Id"]] = AccountRecord(
                        row["AccountId"], account.get("Name"), account.get("OwnerId"),
                        site_domain(account.get("Website")),
                    )
        by_domain: dict[str, AccountRecord] = {}
        wanted_set = set(wanted)
        for answer in answers:
            for row in answer:
                host = site_domain(row.get("Website"))
                if host in wanted_set and host not in by_domain:
                    by_domain[host] = AccountRecord(row["Id"], row.get("Name"),
                                                    row.get("OwnerId"), host)
        return by_contact, by_domain

    def update(self, records: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        """Each record: `Id` and the fields to set. One result per record, in order."""
        if not records:
            return []
        return self._client.update("Account", records)


__all__ = ["ACCOUNT_FIELDS", "AccountRecord", "SalesforceAccounts"]
