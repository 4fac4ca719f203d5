"""Every HubSpot path the connector calls, built from the configured API version.

HubSpot versions its APIs by date in the path, `/api-name/YYYY-MM/resource` (a release each
March and September; developer changelog "Legacy APIs and Apps: What's Going Unsupported and
When"). The numeric paths go unsupported: `/crm/v4/associations` from 2027-03-30, v1-v3 from
September 2027. Each dated path below was checked against the 2026-09 file of
HubSpot-public-api-spec-collection named beside it (`PublicApiSpecs/...`):

- objects list/get/search/batch: `/crm/objects/{v}/{type}[/...]`
  (CRM/Contacts/Rollouts/424/2026-09/contacts.json; Companies, Meetings alike);
- associations batch read: `/crm/associations/{v}/{from}/{to}/batch/read`
  (CRM/Associations/Rollouts/130902/2026-09/associations.json);
- properties, groups, batch create: `/crm/properties/{v}/{type}[/groups|/batch/create]`
  (CRM/Properties/Rollouts/145899/2026-09/properties.json);
- owners: `/crm/owners/{v}` (CRM/Crm Owners/Rollouts/146888/2026-09/crmOwners.json);
- account details: `/account-info/{v}/details`
  (Account/Account Info/Rollouts/144923/2026-09/accountInfo.json);
- custom object schemas: `/crm-object-schemas/{v}/schemas`
  (CRM/Schemas/Rollouts/145900/2026-09/schemas.json);
- marketing events and participations: `/marketing/marketing-events/{v}[/participations/
  {id}/breakdown]` (Marketing/Marketing Events/Rollouts/129888/2026-09/marketingEvents.json);
- web analytics events: `/events/event-occurrences/{v}`
  (Events/Events/Rollouts/147897/2026-09/events.json; same parameters and shape as v3).

The dated associations API has no "one record's associations" GET: the batch read takes an
`after` next to each `id` ("The 'after' field in a returned paging object can be added
alongside the 'id' to retrieve the next page", same spec file), so paging goes through it.

Legacy paths, kept because the spec collection has no generally available dated version of
them (only `2026-09-beta` for forms): `LEGACY_*` below. Swapping one later touches this module
only.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from core.config import HUBSPOT_API_VERSION_DEFAULT

# No dated equivalent yet (api-facts "What changed by December 2026"; spec collection: no
# Email Events or Form Integrations folder at all, Marketing/Forms only 2026-09-beta).
LEGACY_EMAIL_EVENTS = "/email/public/v1/events"
LEGACY_FORM_SUBMISSIONS = "/form-integrations/v1/submissions/forms/{guid}"
LEGACY_FORMS = "/marketing/v3/forms"
LEGACY_PATHS = (LEGACY_EMAIL_EVENTS, LEGACY_FORM_SUBMISSIONS, LEGACY_FORMS)


def _segment(value: str) -> str:
    return quote(str(value), safe="")


@dataclass(frozen=True, slots=True)
class HubSpotPaths:
    """Paths for one API version (`YYYY-MM`, validated by `core.config`)."""

    version: str = HUBSPOT_API_VERSION_DEFAULT

    # ------------------------------------------------------------------ CRM objects

    def objects(self, object_type: str) -> str:
        return f"/crm/objects/{self.version}/{_segment(object_type)}"

    def object(self, object_type: str, object_id: str) -> str:
        return f"{self.objects(object_type)}/{_segment(object_id)}"

    def search(self, object_type: str) -> str:
        return f"{self.objects(object_type)}/search"

    def batch(self, object_type: str, action: str) -> str:
        """`batch/read`, `batch/update`, `batch/create`, `batch/upsert`."""
        return f"{self.objects(object_type)}/batch/{action}"

    def associations_batch_read(self, from_type: str, to_type: str) -> str:
        return (
            f"/crm/associations/{self.version}/{_segment(from_type)}/{_segment(to_type)}"
            "/batch/read"
        )

    # ------------------------------------------------------------------ schema, account

    def properties(self, object_type: str) -> str:
        return f"/crm/properties/{self.version}/{_segment(object_type)}"

    def property_groups(self, object_type: str) -> str:
        return f"{self.properties(object_type)}/groups"

    def properties_batch_create(self, object_type: str) -> str:
        return f"{self.properties(object_type)}/batch/create"

    def owners(self) -> str:
        return f"/crm/owners/{self.version}"

    def account_details(self) -> str:
        return f"/account-info/{self.version}/details"

    def schemas(self) -> str:
        return f"/crm-object-schemas/{self.version}/schemas"

    # ------------------------------------------------------------------ marketing

    def marketing_events(self) -> str:
        return f"/marketing/marketing-events/{self.version}"

    def participations_breakdown(self, marketing_event_id: str) -> str:
        return (
            f"/marketing/marketing-events/{self.version}/participations/"
            f"{_segment(marketing_event_id)}/breakdown"
        )

    def web_events(self) -> str:
        return f"/events/event-occurrences/{self.version}"

    # ------------------------------------------------------------------ legacy

    @staticmethod
    def email_events() -> str:
        return LEGACY_EMAIL_EVENTS

    @staticmethod
    def forms() -> str:
        return LEGACY_FORMS

    @staticmethod
    def form_submissions(form_guid: str) -> str:
        return LEGACY_FORM_SUBMISSIONS.format(guid=_segment(form_guid))


def is_dated(path: str) -> bool:
    """True for `/api-name/YYYY-MM/...` paths (any dated version)."""
    for part in path.split("?", 1)[0].split("/")[1:4]:
        year, dash, month = part.partition("-")
        if dash and len(year) == 4 and year.isdigit() and len(month) == 2 and month.isdigit():
            return True
    return False
