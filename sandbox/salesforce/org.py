"""What kind of org the sandbox plays: API access, the concurrent-request limit, an active
duplicate rule, and whether its login host is a generic one or a My Domain.

Set at construction (`SalesforceSandbox(org=OrgSettings(...))`) or at run time with
`POST /_sandbox/org` (`GET` shows it; `POST /_sandbox/reset` restores the constructor's).

Facts modelled (each also in sandbox/salesforce/README.md):
- `api_enabled = False`: every REST call answers 403 `[{"message": "API is not enabled for
  this Organization or Partner", "errorCode": "API_DISABLED_FOR_ORG"}]`, as Professional
  Edition without the API add-on does (REST API Developer Guide, "Status Codes and Error
  Responses"; salesforcedictionary.com/errors/api-disabled-for-org).
- `concurrent_busy_calls = N`: the next N REST calls answer 403 `REQUEST_LIMIT_EXCEEDED`
  "ConcurrentPerOrgLongTxn Limit exceeded." -- the org-wide limit on concurrent long-running
  (20 s+) requests, which shares its error code with the daily total (Salesforce Help
  000389067; docs.cloud-elements.com's Salesforce error page quotes the message). Such calls
  are not counted against the daily allowance.
- `duplicate_rule`: an active duplicate rule on Lead matching Email exactly (case-insensitive)
  against live, unconverted Leads that existed before the current request (records saved
  together are not compared with each other; converted leads are never matched: Salesforce
  Help "Things to Know About Duplicate Rules", KB 000204497). Through the API an "alert" rule
  blocks the save unless the request carries `Sforce-Duplicate-Rule-Header: allowSave=true`
  (REST API Developer Guide, "Duplicate Rule Header", API 52.0+); a "block" rule always
  blocks. The refusal is `DUPLICATES_DETECTED` with a `duplicateResult` (`allowSave`,
  `duplicateRule`, `duplicateRuleEntityType`, `errorMessage`, `matchResults[{entityType,
  errors, matchEngine, matchRecords[{additionalInformation, fieldDiffs, matchConfidence,
  record{attributes, Id}}], rule, size, success}]`), as SOAP's DuplicateResult documents and
  real REST answers show. Bulk API 2.0 rows get no header (UNVERIFIED whether Salesforce
  honours one there), so an alert rule blocks them.
- `generic_login_host = True`: the token endpoint plays login.salesforce.com, where the
  client-credentials grant answers 400 `invalid_grant` / `request not supported on this
  domain` (Salesforce Help "OAuth 2.0 Client Credentials Flow": the token request goes to the
  My Domain; error as reported in pozil/pub-sub-api-node-client#58). A request whose Host is
  login.salesforce.com or test.salesforce.com is refused the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

DUPLICATE_RULE_HEADER = "sforce-duplicate-rule-header"
CONCURRENT_MESSAGE = "ConcurrentPerOrgLongTxn Limit exceeded."
API_DISABLED_MESSAGE = "API is not enabled for this Organization or Partner"


@dataclass(frozen=True)
class DuplicateRule:
    """An active duplicate rule with one exact matching rule on one field."""

    sobject: str = "Lead"
    field: str = "Email"
    action: str = "alert"  # "alert": allowSave=true lets the save through; "block": never
    name: str = "Standard_Lead_Duplicate_Rule"
    match_rule: str = "Standard_Lead_Match_Rule_v1_0"
    message: str = "Use one of these records?"

    def __post_init__(self) -> None:
        if self.action not in ("alert", "block"):
            raise ValueError("duplicate_rule.action must be 'alert' or 'block'")


@dataclass(frozen=True)
class OrgSettings:
    api_enabled: bool = True
    concurrent_busy_calls: int = 0
    duplicate_rule: DuplicateRule | None = None
    generic_login_host: bool = False
    site_audiences: tuple[str, ...] = field(default_factory=tuple)  # Experience Cloud sites

    @classmethod
    def from_json(cls, payload: Any, base: OrgSettings | None = None) -> OrgSettings:
        """`base` updated with the keys given; unknown keys and wrong types are refused."""
        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        current = base or cls()
        known = {f for f in asdict(current)}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ValueError(f"unknown org setting(s): {', '.join(unknown)}")
        changes: dict[str, Any] = {}
        for key, value in payload.items():
            if key == "duplicate_rule":
                if value is not None and not isinstance(value, dict):
                    raise ValueError("duplicate_rule: expected an object or null")
                try:
                    changes[key] = None if value is None else DuplicateRule(**value)
                except TypeError as exc:
                    raise ValueError(f"duplicate_rule: {exc}") from None
            elif key == "concurrent_busy_calls":
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError("concurrent_busy_calls: expected an integer >= 0")
                changes[key] = value
            elif key == "site_audiences":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError("site_audiences: expected a list of URLs")
                changes[key] = tuple(v.rstrip("/") for v in value)
            else:
                if not isinstance(value, bool):
                    raise ValueError(f"{key}: expected true or false")
                changes[key] = value
        return replace(current, **changes)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["site_audiences"] = list(self.site_audiences)
        return out


def allow_save(header: str | None) -> bool:
    """Whether a `Sforce-Duplicate-Rule-Header` value sets allowSave=true."""
    for part in (header or "").split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "allowsave" and value.strip().lower() == "true":
            return True
    return False


def duplicate_result(
    rule: DuplicateRule, matches: list[str], version: str
) -> dict[str, Any]:
    """The `duplicateResult` of a DUPLICATES_DETECTED error."""
    return {
        "allowSave": rule.action == "alert",
        "duplicateRule": rule.name,
        "duplicateRuleEntityType": rule.sobject,
        "errorMessage": rule.message,
        "matchResults": [{
            "entityType": rule.sobject,
            "errors": [],
            "matchEngine": "ExactMatchEngine",
            "matchRecords": [{
                "additionalInformation": [],
                "fieldDiffs": [],
                "matchConfidence": 100.0,
                "record": {
                    "attributes": {
                        "type": rule.sobject,
                        "url": f"/services/data/v{version}/sobjects/{rule.sobject}/{record_id}",
                    },
                    "Id": record_id,
                },
            } for record_id in matches],
            "rule": rule.match_rule,
            "size": len(matches),
            "success": True,
        }],
    }
