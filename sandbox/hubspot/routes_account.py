"""Account details, custom object schemas and the legacy v2 reads that taps still call.

- `GET /account-info/{v}/details` (and `/account-info/v3/details`): PortalInformationResponse
  of Account/Account Info/Rollouts/144923/2026-09/accountInfo.json, every required member:
  `portalId` (int), `accountType` (STANDARD), `timeZone`, `companyCurrency`,
  `additionalCurrencies`, `utcOffset`, `utcOffsetMilliseconds`, `uiDomain`,
  `dataHostingLocation`. The values are the sandbox's (DECIDED: a Japanese portal, matching the
  connector's first users).
- `GET /crm-object-schemas/{v}/schemas`, `/crm-object-schemas/v3/schemas` and the older alias
  `/crm/v3/schemas`: CollectionResponseObjectSchemaNoPaging `{"results": [...]}` of
  CRM/Schemas/Rollouts/145900/2026-09/schemas.json; the sandbox portal has no custom objects,
  so 200 with an empty list (never 404).
- `GET /properties/v2/contacts/properties`: a bare JSON array of property definitions (the
  legacy Contacts Properties API answers an array, not `{"results"}`).
- `GET /companies/v2/companies/paged?limit<=250&offset&properties`: `{"companies": [{
  "portalId", "companyId", "isDeleted", "properties": {name: {"value", "timestamp",
  "source", "sourceId", "versions"}}}], "has-more", "offset"}`; only the requested
  properties are returned (none when none are asked for), as the legacy Companies API does.
- `GET /forms/v2/forms`: a bare JSON array of forms (`portalId`, `guid`, `name`, `createdAt`,
  `updatedAt`, `formFieldGroups`, ...).
The legacy shapes follow HubSpot's legacy API reference (v1/v2 pages); DECIDED where it is
silent: `source` "API", `sourceId` null, `versions` holding the one current value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.httpbase import Request, Response, Router
from sandbox.hubspot.activity import ActivityStore
from sandbox.hubspot.crm_store import ObjectStore
from sandbox.hubspot.routes_common import int_arg
from sandbox.hubspot.util import to_ms

SANDBOX_PORTAL_ID = 24_000_001
COMPANIES_V2_MAX = 250


class AccountApi:
    def __init__(
        self,
        stores: dict[str, ObjectStore],
        activity: ActivityStore,
        now_ms: Callable[[], int],
        versions: tuple[str, ...],
    ) -> None:
        self.stores = stores
        self.activity = activity
        self.now_ms = now_ms
        self.versions = versions

    def register(self, router: Router) -> None:
        for prefix in ("v3", *self.versions):
            router.add("GET", f"/account-info/{prefix}/details", self.details)
            router.add("GET", f"/crm-object-schemas/{prefix}/schemas", self.schemas)
        router.add("GET", "/crm/v3/schemas", self.schemas)
        router.add("GET", "/properties/v2/contacts/properties", self.contact_properties_v2)
        router.add("GET", "/companies/v2/companies/paged", self.companies_v2)
        router.add("GET", "/forms/v2/forms", self.forms_v2)

    def details(self, _req: Request) -> Response:
        return Response.json(
            200,
            {
                "portalId": SANDBOX_PORTAL_ID,
                "accountType": "STANDARD",
                "timeZone": "Asia/Tokyo",
                "companyCurrency": "JPY",
                "additionalCurrencies": [],
                "utcOffset": "+09:00",
                "utcOffsetMilliseconds": 9 * 3_600_000,
                "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1",
            },
        )

    def schemas(self, _req: Request) -> Response:
        return Response.json(200, {"results": []})

    def contact_properties_v2(self, _req: Request) -> Response:
        return Response.json(200, self.stores["contacts"].properties.all())

    def companies_v2(self, req: Request) -> Response:
        store = self.stores["companies"]
        limit = int_arg(req, "limit", 100, COMPANIES_V2_MAX)
        offset_arg = req.arg("offset")
        start = int(offset_arg) if offset_arg and offset_arg.isdigit() else 0
        records = store.page_after(start, limit, False)
        wanted = req.args("properties")
        companies = []
        for record in records:
            props: dict[str, Any] = {}
            for name in wanted:
                value = record.props.get(name)
                if value in (None, ""):
                    continue
                stamp = to_ms(record.props.get(store.modified_property)) or record.mod_ms
                version = {"value": value, "timestamp": stamp, "source": "API", "sourceId": None}
                props[name] = {**version, "versions": [{**version, "name": name}]}
            companies.append(
                {
                    "portalId": SANDBOX_PORTAL_ID,
                    "companyId": record.id,
                    "isDeleted": False,
                    "properties": props,
                }
            )
        nxt = store.next_id_after(records[-1].id, False) if records else None
        return Response.json(
            200,
            {
                "companies": companies,
                "has-more": nxt is not None,
                "offset": nxt if nxt is not None else (records[-1].id if records else start),
            },
        )

    def forms_v2(self, _req: Request) -> Response:
        out = []
        for form in self.activity.forms:
            if form.get("archived"):
                continue
            out.append(
                {
                    "portalId": SANDBOX_PORTAL_ID,
                    "guid": str(form["id"]),
                    "name": form.get("name", ""),
                    "createdAt": to_ms(form.get("createdAt")) or 0,
                    "updatedAt": to_ms(form.get("updatedAt")) or 0,
                    "formFieldGroups": [
                        {"fields": [{"name": f.get("name"), "label": f.get("label", "")}]}
                        for group in form.get("fieldGroups") or []
                        for f in group.get("fields") or []
                    ],
                }
            )
        return Response.json(200, out)
