"""Archive (restorable delete), merge and GDPR delete, on the legacy v3 and the dated paths.

What HubSpot does, with sources (README.md, "Deletions, merges and GDPR delete", has more):
- `DELETE /crm/v3/objects/{t}/{id}` and `POST .../batch/archive` `{"inputs": [{"id"}]}` answer
  204; "Archived contacts can be restored within 90 days of deletion" (2026-09 contacts spec,
  PublicApiSpecs/CRM/Contacts/Rollouts/424/2026-09/contacts.json, both operations). HubSpot
  has no public restore API: restores happen in the UI's recycle bin (HubSpot's answer on
  integrate.hubspot.com "Restoring recently deleted contacts"; no restore operation in the
  2026-09 contacts or objects spec), so the sandbox offers it as the admin endpoint
  `POST /_sandbox/hubspot/{objectType}/{objectId}/restore`, which emits `contact.restore`
  (a subscription type of the 2026-09 webhooks spec). After `RESTORE_DAYS` of the injected
  clock an archived record is gone: 404 even with `archived=true`.
- Merge `POST .../merge` `{"primaryObjectId", "objectIdToMerge"}` → 200 SimplePublicObject.
  Changelog "Updated merge functionality for contacts and companies"
  (developers.hubspot.com/changelog/updated-merge-functionality-for-contacts-and-companies):
  a NEW record with a NEW id is created and both records are merged into it; both old ids
  point to it, "fetching any records using the original IDs will return the new merged
  record with the new ID"; the primary's latest values are the current values (a property
  only the other record has is taken from it); associations of the primary are kept first and
  the secondary's excess "primary" associations dropped. Knowledge base "Merge records":
  the secondary's email becomes an additional email (`hs_additional_emails`), the lifecycle
  stage furthest down the funnel is kept, form submission counts are added together; the
  merged ids are listed in "Merged [record] IDs" (`hs_merged_object_ids`).
- GDPR delete `POST .../gdpr-delete` `{"objectId", "idProperty"?}` → 204 (2026-09 contacts
  spec: "Permanently delete a contact and all associated content ... If email address is not
  found, the email address will be added to a blocklist"). Knowledge base "Perform a
  permanent delete in HubSpot" (2025): email tracking history, form submissions and other
  engagement data go; the addresses (primary and additional) are blocklisted for the UI and
  imports, but a form submission or an API request may add the person back.

DECIDED where HubSpot says nothing we could read (each also in the README):
- refusals: an unknown id answers 404 `OBJECT_NOT_FOUND` (archive one, merge, GDPR delete by
  id); merging a record with itself 400 `VALIDATION_ERROR`; merging an archived record 404
  (it is not a live record); archiving an archived id again 204; unknown ids in a batch
  archive are skipped (204).
- the merged record's `createdate` is the older of the two; `numberOfPropertiesMoved` counts
  the properties taken from the secondary record; merged-away ids are not listed as archived.
- GDPR delete of a merged-away id erases the record it was merged into.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sandbox.httpbase import Request, Response, Router
from sandbox.hubspot.activity import ActivityStore
from sandbox.hubspot.constants import (
    BATCH_MAX_INPUTS,
    DEFAULT_PROPERTIES,
    LIFECYCLE_ORDER,
    SINGULAR,
)
from sandbox.hubspot.crm_store import (
    AssociationStore,
    Edge,
    ObjectStore,
    Record,
    apply_visit_analytics,
)
from sandbox.hubspot.errors import not_found, validation_error
from sandbox.hubspot.routes_common import inputs_of, json_object
from sandbox.hubspot.util import iso_ms
from sandbox.hubspot.webhooks import WebhookSender

MERGEABLE = frozenset({"contacts", "companies"})
# The contact->company "Primary" association type: one per contact (Associations v4).
PRIMARY_COMPANY_TYPE = 1
MERGE_RESULT_EXTRA = ("hs_merged_object_ids", "hs_additional_emails")


class DeletionsApi:
    """Handlers for archive, merge and GDPR delete, over the sandbox's stores."""

    def __init__(
        self,
        crm: Any,  # routes_crm.CrmApi: its object-type lookup
        associations: AssociationStore,
        activity: ActivityStore,
        now_ms: Callable[[], int],
        lag_ms: int,
        webhooks: WebhookSender,
        lock: threading.RLock,
    ) -> None:
        self.crm = crm
        self.associations = associations
        self.activity = activity
        self.now_ms = now_ms
        self.lag_ms = lag_ms
        self.webhooks = webhooks
        self.lock = lock

    def register(self, router: Router, bases: list[str]) -> None:
        """`bases`: `/crm/v3/objects` and each `/crm/objects/{version}`."""
        for base in bases:
            objects = base + "/{objectType}"
            router.add("POST", objects + "/batch/archive", self.batch_archive)
            router.add("POST", objects + "/merge", self.merge)
            router.add("POST", objects + "/gdpr-delete", self.gdpr_delete)
            router.add("DELETE", objects + "/{objectId}", self.archive)

    # ------------------------------------------------------------------ archive

    def _hooks(self, store: ObjectStore) -> WebhookSender | None:
        hooks = self.webhooks
        if store.object_type != "contacts" or not hooks.enabled:
            return None
        return hooks

    def _archive(self, store: ObjectStore, record: Record, now: int) -> None:
        store.archived_edges[record.id] = self.associations.detach(store.object_type, record.id)
        store.archive(record, now)
        hooks = self._hooks(store)
        if hooks is not None:
            hooks.contact_deleted(record.id, "API", now)

    def archive(self, req: Request) -> Response:
        store = self.crm._store(req)
        now = self.now_ms()
        store.sweep(now)
        raw = req.params["objectId"]
        object_id = int(raw) if raw.isdigit() else None
        record = store.resolve(object_id) if object_id is not None else None
        if record is None:
            if object_id is not None and object_id in store.archived:
                return Response.empty(204)
            raise not_found(req, f"Object {raw} does not exist or was deleted.")
        self._archive(store, record, now)
        return Response.empty(204)

    def batch_archive(self, req: Request) -> Response:
        store = self.crm._store(req)
        inputs = inputs_of(req, json_object(req), BATCH_MAX_INPUTS)
        ids = []
        for index, item in enumerate(inputs):
            if not isinstance(item, dict) or item.get("id") in (None, ""):
                raise validation_error(
                    req, f"inputs[{index}].id is required", code="MISSING_REQUIRED_FIELD"
                )
            ids.append(str(item["id"]).strip())
        now = self.now_ms()
        store.sweep(now)
        for raw in ids:
            record = store.resolve(int(raw)) if raw.isdigit() else None
            if record is not None:
                self._archive(store, record, now)
        return Response.empty(204)

    def restore(self, req: Request) -> Response:
        """Admin: what the UI's recycle bin does (HubSpot has no restore API)."""
        with self.lock:
            store = self.crm._store(req)
            now = self.now_ms()
            store.sweep(now)
            raw = req.params["objectId"]
            record = store.archived.get(int(raw)) if raw.isdigit() else None
            if record is None:
                return Response.json(
                    404, {"error": f"no archived {SINGULAR[store.object_type]} {raw}"}
                )
            taken = [e for e in store.emails_of(record) if e in store.emails]
            if store.object_type == "contacts" and taken:
                return Response.json(
                    409,
                    {"error": f"a live contact holds its email: {store.emails[taken[0]]}"},
                )
            edges = store.archived_edges.pop(record.id, [])
            store.unarchive(record, now)
            self.associations.attach(edges)
            self._after_write(store, record, now)
            hooks = self._hooks(store)
            if hooks is not None:
                hooks.contact_restored(record.id, "CRM_UI", now)
            names = list(DEFAULT_PROPERTIES[store.object_type])
            return Response.json(200, store.render(record, names))

    # ------------------------------------------------------------------ merge

    def _party(self, req: Request, store: ObjectStore, raw: str) -> Record:
        record = store.resolve(int(raw)) if raw.isdigit() else None
        if record is None:
            raise not_found(req, f"Object {raw} does not exist or was deleted.")
        return record

    def merge(self, req: Request) -> Response:
        store = self.crm._store(req)
        if store.object_type not in MERGEABLE:
            raise validation_error(
                req, f"Merging {store.object_type} is not supported.", code="INVALID_OBJECT_TYPE"
            )
        body = json_object(req)
        missing = [k for k in ("primaryObjectId", "objectIdToMerge") if body.get(k) in (None, "")]
        if missing:
            raise validation_error(
                req,
                f"Missing required fields: {', '.join(missing)}",
                code="MISSING_REQUIRED_FIELD",
                context={"missingFields": missing},
            )
        primary_raw = str(body["primaryObjectId"]).strip()
        other_raw = str(body["objectIdToMerge"]).strip()
        if primary_raw == other_raw:
            raise validation_error(
                req, f"Cannot merge object {primary_raw} with itself.", code="MERGE_WITH_ITSELF"
            )
        store.sweep(self.now_ms())
        primary = self._party(req, store, primary_raw)
        other = self._party(req, store, other_raw)
        if primary.id == other.id:
            raise validation_error(
                req,
                f"Objects {primary_raw} and {other_raw} were already merged into {primary.id}.",
                code="MERGE_WITH_ITSELF",
            )
        record = self._merge(store, primary, other, self.now_ms())
        names = [*DEFAULT_PROPERTIES[store.object_type]]
        names += [n for n in MERGE_RESULT_EXTRA if n in store.properties]
        return Response.json(200, store.render(record, sorted(set(names))))

    def _merge(self, store: ObjectStore, primary: Record, other: Record, now: int) -> Record:
        props, moved = merged_properties(store, primary, other)
        created = min(primary.created_ms, other.created_ms)
        props[store.created_property] = iso_ms(created)
        edges_primary = self.associations.detach(store.object_type, primary.id)
        edges_other = self.associations.detach(store.object_type, other.id)
        store.remove_live(primary)
        store.remove_live(other)
        new_id = store.next_new_id()
        record = Record(new_id, {store.intern(k): v for k, v in props.items()}, created, now, now)
        store.touch(record, now)  # stamps the last-modified properties
        store.insert(record)
        for key in store.emails_of(record):
            store.emails[key] = new_id
        for old, target in list(store.aliases.items()):
            if target in (primary.id, other.id):
                store.aliases[old] = new_id
        store.aliases[primary.id] = new_id
        store.aliases[other.id] = new_id
        self.associations.attach(edges_primary, new_id)
        self.associations.attach(_drop_extra_primary(edges_primary, edges_other), new_id)
        if store.object_type == "contacts":
            self.activity.move_contact([str(primary.id), str(other.id)], str(new_id))
            apply_visit_analytics(
                store, self.activity.take_page_view_contacts(), self.activity.contact_page_views
            )
        self._after_write(store, record, now)
        hooks = self._hooks(store)
        if hooks is not None:
            hooks.contact_merged(primary.id, [other.id], new_id, moved, "API", now)
        return record

    def _after_write(self, store: ObjectStore, record: Record, now: int) -> None:
        if self.lag_ms > 0:
            store.lagged[record.id] = now + self.lag_ms

    # ------------------------------------------------------------------ GDPR delete

    def gdpr_delete(self, req: Request) -> Response:
        store = self.crm._store(req)
        if store.object_type != "contacts":
            raise validation_error(
                req, "GDPR delete is only available for contacts.", code="INVALID_OBJECT_TYPE"
            )
        body = json_object(req)
        if body.get("objectId") in (None, ""):
            raise validation_error(
                req,
                "Missing required fields: objectId",
                code="MISSING_REQUIRED_FIELD",
                context={"missingFields": ["objectId"]},
            )
        raw = str(body["objectId"]).strip()
        id_property = body.get("idProperty") or "hs_object_id"
        now = self.now_ms()
        store.sweep(now)
        if id_property == "email":
            key = raw.lower()
            found = store.id_by_email(key)
            record = store.live.get(found) if found is not None else None
            if record is None:
                record = next(
                    (r for r in store.archived.values() if key in store.emails_of(r)), None
                )
            if record is None:
                # "If email address is not found, the email address will be added to a
                # blocklist" (2026-09 contacts spec)
                store.erased_emails.add(key)
                self.activity.forget_contact(set(), {key})
                return Response.empty(204)
        elif id_property == "hs_object_id":
            object_id = int(raw) if raw.isdigit() else None
            record = None
            if object_id is not None:
                record = store.resolve(object_id) or store.archived.get(object_id)
            if record is None:
                raise not_found(req, f"Object {raw} does not exist or was deleted.")
        else:
            raise validation_error(
                req,
                f"{id_property} is not a unique identifier property",
                code="INVALID_ID_PROPERTY",
            )
        self._erase(store, record, now)
        return Response.empty(204)

    def _erase(self, store: ObjectStore, record: Record, now: int) -> None:
        ids = {record.id, *(k for k, v in store.aliases.items() if v == record.id)}
        ids.update(_ids_in(record.props.get("hs_merged_object_ids")))
        emails = set(store.emails_of(record))
        self.associations.detach(store.object_type, record.id)
        store.drop(record.id)
        store.erased_ids.update(ids)
        store.erased_emails.update(emails)
        self.activity.forget_contact({str(i) for i in ids}, emails)
        hooks = self._hooks(store)
        if hooks is not None:
            hooks.contact_privacy_deleted(record.id, "API", now)


def merged_properties(
    store: ObjectStore, primary: Record, other: Record
) -> tuple[dict[str, str], int]:
    """The merged record's properties and how many came from `other` (values only it has)."""
    props = dict(primary.props)
    moved = 0
    for name, value in other.props.items():
        if value not in (None, "") and props.get(name) in (None, ""):
            props[name] = value
            moved += 1
    if store.object_type == "contacts":
        emails = store.emails_of(primary) + store.emails_of(other)
        main = (props.get("email") or "").strip().lower()
        extra = []
        for email in emails:
            if email != main and email not in extra:
                extra.append(email)
        if extra:
            props["hs_additional_emails"] = ";".join(extra)
        stages = [
            s for s in (primary.props.get("lifecyclestage"), other.props.get("lifecyclestage")) if s
        ]
        known = [s for s in stages if s in LIFECYCLE_ORDER]
        if known:
            props["lifecyclestage"] = max(known, key=LIFECYCLE_ORDER.index)
        counts = [
            primary.props.get("num_conversion_events"),
            other.props.get("num_conversion_events"),
        ]
        numbers = [int(c) for c in counts if c and c.isdigit()]
        if len(numbers) == 2:
            props["num_conversion_events"] = str(sum(numbers))
    merged_ids = []
    for item in (primary, other):
        for object_id in [item.id, *_ids_in(item.props.get("hs_merged_object_ids"))]:
            if object_id not in merged_ids:
                merged_ids.append(object_id)
    props["hs_merged_object_ids"] = ";".join(str(i) for i in sorted(merged_ids))
    return props, moved


def _ids_in(value: str | None) -> list[int]:
    return [int(p) for p in (value or "").split(";") if p.strip().isdigit()]


def _drop_extra_primary(kept: list[Edge], incoming: list[Edge]) -> list[Edge]:
    """The secondary's edges without a second contact->company "Primary" type when the
    primary record already has one (changelog: excess primary associations are dropped)."""
    has_primary = any(
        to_type == "companies" and PRIMARY_COMPANY_TYPE in types
        for _f, _i, to_type, _t, types in kept
    )
    if not has_primary:
        return incoming
    out: list[Edge] = []
    for from_type, from_id, to_type, to_id, types in incoming:
        if to_type == "companies" and from_type == "contacts":
            types = tuple(t for t in types if t != PRIMARY_COMPANY_TYPE)
        if types:
            out.append((from_type, from_id, to_type, to_id, types))
    return out


def dated_bases(versions: tuple[str, ...]) -> list[str]:
    return ["/crm/v3/objects", *(f"/crm/objects/{v}" for v in versions)]
