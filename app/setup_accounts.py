"""The HubSpot company properties the account roll-up writes (`[accounts] write_hubspot`),
created by `connector setup hubspot` next to the contact properties.

`connector_account_score` and `connector_engaged_contacts` are number properties,
`connector_buying_group` a boolean checkbox (`booleancheckbox`, options true/false), in the
group `connector_scoring` on companies. Created with the same calls as the contact ones:
`GET /crm/properties/{v}/companies` (one call), the group if missing, one batch create.
Scopes: `crm.schemas.companies.read` / `crm.schemas.companies.write`; writing the values
needs `crm.objects.companies.write`.
"""

from __future__ import annotations

from typing import Any

GROUP = ("connector_scoring", "Lead scoring connector")
COMPANY_PROPERTIES: tuple[dict[str, Any], ...] = (
    {"name": "connector_account_score", "label": "Account score / アカウントスコア",
     "type": "number", "fieldType": "number"},
    {"name": "connector_engaged_contacts", "label": "Engaged contacts / エンゲージ人数",
     "type": "number", "fieldType": "number"},
    {"name": "connector_buying_group", "label": "Buying group / 購買グループ",
     "type": "bool", "fieldType": "booleancheckbox",
     "options": [{"value": "true", "label": "Yes", "displayOrder": 0, "hidden": False},
                 {"value": "false", "label": "No", "displayOrder": 1, "hidden": False}]},
)


def ensure_company_properties(client: Any, check_only: bool) -> dict[str, str]:
    """name -> ok | missing | created | failed: <why> | wrong: <type>."""
    from connectors.hubspot.writeback import (
        create_group,
        create_properties,
        list_groups,
        list_properties,
    )

    existing = list_properties(client, "companies")
    status: dict[str, str] = {}
    missing = []
    for spec in COMPANY_PROPERTIES:
        have = existing.get(spec["name"])
        if have is None:
            status[spec["name"]] = "missing"
            missing.append(spec)
        elif have.get("type") != spec["type"]:
            status[spec["name"]] = f"wrong: is {have.get('type')}, should be {spec['type']}"
        else:
            status[spec["name"]] = "ok"
    if check_only or not missing:
        return status
    if GROUP[0] not in list_groups(client, "companies"):
        create_group(client, "companies", *GROUP)
    bodies = [spec | {"groupName": GROUP[0], "formField": False,
                      "description": "Written by the lead-scoring connector (account roll-up)"}
              for spec in missing]
    created, refused = create_properties(client, "companies", bodies)
    for name in created:
        status[name] = "created"
    for name, why in refused.items():
        status[name] = f"failed: {why}"
    return status


__all__ = ["COMPANY_PROPERTIES", "ensure_company_properties"]
