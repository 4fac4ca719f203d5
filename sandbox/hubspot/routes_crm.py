"""CRM endpoints: objects (basic, batch, search), associations v4 and properties."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from sandbox.httpbase import Request, Response, Router
from sandbox.hubspot.constants import (
    ALWAYS_PROPERTIES,
    ASSOCIATION_TYPES,
    ASSOCIATIONS_BATCH_MAX_INPUTS,
    BATCH_MAX_INPUTS,
    DEFAULT_ASSOCIATION,
    DEFAULT_PROPERTIES,
    LIST_DEFAULT_LIMIT,
    LIST_MAX_LIMIT,
    OBJECT_TYPE_ALIASES,
    OBJECT_TYPE_IDS,
    SINGULAR,
)
from sandbox.hubspot.crm_store import AssociationStore, ObjectStore, Record
from sandbox.hubspot.errors import api_error, batch_error, not_found, validation_error
from sandbox.hubspot.properties import (
    FIELD_TYPES_BY_TYPE,
    VALID_FIELD_TYPES,
    VALID_TYPES,
    group_definition,
)
from sandbox.hubspot.routes_common import (
    api_version,
    base_url,
    batch_body,
    batch_status,
    bool_arg,
    inputs_of,
    int_arg,
    json_object,
)
from sandbox.hubspot.rules import ValidationRule
from sandbox.hubspot.search import SearchError, check_body_size, execute, parse_request
from sandbox.hubspot.util import iso_ms, property_string
from sandbox.hubspot.webhooks import WebhookSender

# Date versions served beside v3/v4 (HubSpot-public-api-spec-collection has 2026-03 and
# 2026-09 files for every CRM API used here).
SERVED_VERSIONS = ("2026-03", "2026-09")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Properties the API maintains itself: writes to them are ignored.
_SYSTEM_PROPERTIES = frozenset(
    {"hs_object_id", "createdate", "hs_createdate", "lastmodifieddate", "hs_lastmodifieddate"}
)


class CrmApi:
    """Handlers over the CRM stores; `now_ms` is the injected clock, `lag_ms` the search lag."""

    def __init__(
        self,
        stores: dict[str, ObjectStore],
        associations: AssociationStore,
        now_ms: Callable[[], int],
        lag_ms: int,
    ) -> None:
        self.stores = stores
        self.associations = associations
        self.now_ms = now_ms
        self.lag_ms = lag_ms
        self.rules: list[ValidationRule] = []  # the portal's admin validation rules
        # Contact changes made through the API go out as webhooks (changeSource API).
        self.webhooks: WebhookSender | None = None

    def register(self, router: Router) -> None:
        """The legacy v3/v4 paths (old configs keep working until HubSpot drops them), then the
        same handlers under every served date version (`SERVED_VERSIONS`)."""
        self._register_paths(
            router,
            objects="/crm/v3/objects",
            associations="/crm/v4/associations",
            object_associations="/crm/v4/objects",
            properties="/crm/v3/properties",
        )
        router.add(
            "GET",
            "/crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/{toObjectType}",
            self.associations_of_object,
        )
        for version in SERVED_VERSIONS:
            self._register_paths(
                router,
                objects=f"/crm/objects/{version}",
                associations=f"/crm/associations/{version}",
                object_associations=f"/crm/objects/{version}",
                properties=f"/crm/properties/{version}",
            )

    def _register_paths(
        self,
        router: Router,
        *,
        objects: str,
        associations: str,
        object_associations: str,
        properties: str,
    ) -> None:
        objects += "/{objectType}"
        router.add("POST", objects + "/search", self.search)
        router.add("POST", objects + "/batch/read", self.batch_read)
        router.add("POST", objects + "/batch/create", self.batch_create)
        router.add("POST", objects + "/batch/update", self.batch_update)
        router.add("POST", objects + "/batch/upsert", self.batch_upsert)
        router.add("GET", objects, self.list_objects)
        router.add("POST", objects, self.create)
        router.add("GET", objects + "/{objectId}", self.get_object)
        router.add("PATCH", objects + "/{objectId}", self.update)
        batch = associations + "/{fromObjectType}/{toObjectType}/batch"
        router.add("POST", batch + "/read", self.associations_read)
        router.add("POST", batch + "/create", self.associations_create)
        router.add(
            "PUT",
            object_associations
            + "/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}",
            self.associate_default,
        )
        properties += "/{objectType}"
        router.add("GET", properties, self.list_properties)
        router.add("POST", properties, self.create_property)
        # Before /{propertyName}: "groups" and "batch" are not property names.
        router.add("GET", properties + "/groups", self.list_groups)
        router.add("POST", properties + "/groups", self.create_group)
        router.add("POST", properties + "/batch/create", self.batch_create_properties)
        router.add("GET", properties + "/{propertyName}", self.get_property)

    # ------------------------------------------------------------------ helpers

    def _store(self, req: Request, param: str = "objectType") -> ObjectStore:
        raw = req.params[param]
        name = OBJECT_TYPE_ALIASES.get(raw.lower())
        if name is None:
            raise api_error(
                req, 400, "VALIDATION_ERROR", f"Unable to infer object type from: {raw}"
            )
        return self.stores[name]

    def _wanted_properties(self, store: ObjectStore, requested: list[str] | None) -> list[str]:
        """Requested (known) properties plus the always-returned ones, or the default set."""
        if not requested:
            return list(DEFAULT_PROPERTIES[store.object_type])
        names = {p for p in requested if p in store.properties}
        names.update(ALWAYS_PROPERTIES[store.object_type])
        return sorted(names)

    def _association_names(self, req: Request, store: ObjectStore) -> list[tuple[str, str]]:
        """(requested name, object type) for `associations=companies,...`."""
        out = []
        for raw in req.args("associations"):
            target = OBJECT_TYPE_ALIASES.get(raw.lower())
            if target is not None and target != store.object_type:
                out.append((raw, target))
        return out

    def _render(
        self,
        store: ObjectStore,
        record: Record,
        names: list[str],
        assoc: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        body = store.render(record, names)
        if assoc:
            rendered: dict[str, Any] = {}
            for requested, target in assoc:
                items = []
                edges = self.associations.targets(store.object_type, target, record.id)
                for to_id in sorted(edges):
                    for type_id in edges[to_id]:
                        known = ASSOCIATION_TYPES.get(type_id)
                        name = known.name if known else f"{type_id}"
                        items.append({"id": str(to_id), "type": name})
                if items:
                    rendered[requested] = {"results": items}
            if rendered:
                body["associations"] = rendered
        return body

    def _find(
        self,
        req: Request,
        store: ObjectStore,
        raw_id: str,
        id_property: str | None,
        archived: bool = False,
    ) -> Record | None:
        if id_property and id_property != "hs_object_id":
            if id_property != "email" or store.object_type != "contacts":
                raise validation_error(
                    req,
                    f"{id_property} is not a unique identifier property",
                    code="INVALID_ID_PROPERTY",
                )
            if archived:
                return None
            found = store.id_by_email(raw_id)
            return store.get(found) if found is not None else None
        try:
            object_id = int(raw_id)
        except (TypeError, ValueError):
            return None
        if archived:
            store.sweep(self.now_ms())  # archived 90 days ago: gone for good
            return store.get(object_id, archived=True)
        # a merged-away id answers with the record the merge made (deletions.py)
        return store.resolve(object_id)

    def _validate_properties(
        self, req: Request, store: ObjectStore, props: Any, creating: bool
    ) -> dict[str, str | None]:
        """Writable values as strings; 400 with HubSpot's property error list otherwise."""
        if props is None:
            props = {}
        if not isinstance(props, dict):
            raise validation_error(req, "properties must be an object")
        clean: dict[str, str | None] = {}
        problems: list[dict[str, Any]] = []
        for name, value in props.items():
            text = property_string(value)
            if name not in store.properties:
                problems.append(
                    _problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
                )
                continue
            if name in _SYSTEM_PROPERTIES:
                continue
            if text not in (None, ""):
                options = store.properties.allowed_options(name)
                if options is not None and text not in options:
                    problems.append(
                        _problem(
                            name,
                            "INVALID_OPTION",
                            f"{text} was not one of the allowed options: "
                            + ", ".join(f"[label: {o!r}, value: {o!r}]" for o in options),
                        )
                    )
                    continue
                ptype = store.properties.type_of(name)
                if ptype == "number" and _not_number(text):
                    problems.append(_problem(name, "INVALID_LONG", f"{text} is not a valid number"))
                    continue
                if ptype == "date" and (date_problem := _date_problem(text)) is not None:
                    problems.append(_problem(name, "INVALID_DATE", date_problem))
                    continue
                if name == "email" and not _EMAIL.match(text):
                    problems.append(
                        _problem(name, "INVALID_EMAIL", f"Email address {text} is invalid")
                    )
                    continue
            clean[name] = text
        if problems:
            message = "Property values were not valid: " + json.dumps(problems)
            raise api_error(req, 400, "VALIDATION_ERROR", message)
        return clean

    def _check_rules(
        self,
        req: Request,
        store: ObjectStore,
        writes: list[tuple[Record | None, dict[str, str | None]]],
    ) -> None:
        """400 VALIDATION_ERROR when a write breaks a portal rule that binds this request's
        API version (`rules.py`); the whole request is refused, as for other bad values."""
        version = api_version(req)
        rules = [
            r for r in self.rules if r.object_type == store.object_type and r.applies_to(version)
        ]
        if not rules:
            return
        problems: list[dict[str, Any]] = []
        details: list[dict[str, Any]] = []
        for record, props in writes:
            after: dict[str, str | None] = dict(record.props) if record is not None else {}
            after.update(props)
            for rule in rules:
                problem = rule.problem(after, props)
                if problem is None:
                    continue
                code = "REQUIRED_PROPERTY_MISSING" if rule.pattern is None else "INVALID_FORMAT"
                problems.append(_problem(rule.property_name, code, problem))
                detail: dict[str, Any] = {
                    "message": problem,
                    "code": code,
                    "in": rule.property_name,
                    "context": {"propertyName": [rule.property_name]},
                }
                if record is not None:
                    detail["context"]["id"] = [str(record.id)]
                details.append(detail)
        if problems:
            raise api_error(
                req,
                400,
                "VALIDATION_ERROR",
                "Property values were not valid: " + json.dumps(problems),
                errors=details,
                context={"propertyName": sorted({p["name"] for p in problems})},
            )

    def _apply(self, store: ObjectStore, record: Record, props: dict[str, str | None]) -> None:
        for name, value in props.items():
            if name == "email" and store.object_type == "contacts":
                store.set_email(record, value or None)
            if value in (None, ""):
                record.props.pop(name, None)
            else:
                record.props[store.intern(name)] = value

    def _watch(self, store: ObjectStore, record: Record) -> dict[str, str | None] | None:
        """The watched values before a write (None: no webhooks for this write)."""
        hooks = self.webhooks
        if hooks is None or not hooks.enabled or store.object_type != "contacts":
            return None
        return hooks.watched_values(record.props)

    def _announce(
        self, store: ObjectStore, record: Record, before: dict[str, str | None] | None, now: int
    ) -> None:
        """Webhooks for a contact written through the API: `before` None means created."""
        hooks = self.webhooks
        if hooks is None or not hooks.enabled or store.object_type != "contacts":
            return
        if before is None:
            hooks.contact_created(record.id, "API", now)
        hooks.contact_changed(record.id, before or {}, record.props, "API", now)

    def _after_write(self, store: ObjectStore, record: Record, now: int) -> None:
        if self.lag_ms > 0:
            store.lagged[record.id] = now + self.lag_ms

    def _new_record(self, store: ObjectStore, props: dict[str, str | None], now: int) -> Record:
        record = Record(store.next_new_id(), {}, now, now, now)
        stamp = iso_ms(now)
        record.props[store.created_property] = stamp
        record.props[store.modified_property] = stamp
        for alias in store.modified_aliases:
            record.props[alias] = stamp
        for name, value in props.items():
            if value not in (None, ""):
                record.props[store.intern(name)] = value
        store.insert(record)
        self._after_write(store, record, now)
        self._announce(store, record, None, now)
        return record

    def _conflict(
        self,
        req: Request,
        store: ObjectStore,
        props: dict[str, str | None],
        own_id: int | None = None,
    ) -> None:
        email = props.get("email") if store.object_type == "contacts" else None
        if email:
            existing = store.id_by_email(email)
            if existing is not None and existing != own_id:
                raise api_error(
                    req, 409, "CONFLICT", f"Contact already exists. Existing ID: {existing}"
                )

    def _associate_inputs(self, req: Request, store: ObjectStore, record: Record, raw: Any) -> None:
        for item in raw or []:
            try:
                to_id = int(item["to"]["id"])
                types = item.get("types") or []
            except (KeyError, TypeError, ValueError) as exc:
                raise validation_error(req, "invalid association input") from exc
            for spec in types:
                type_id = int(spec.get("associationTypeId"))
                known = ASSOCIATION_TYPES.get(type_id)
                if known is None or known.from_type != store.object_type:
                    raise validation_error(
                        req,
                        f"association type {type_id} is not valid from {store.object_type}",
                        code="INVALID_ASSOCIATION_TYPE",
                    )
                if self.stores[known.to_type].get(to_id) is None:
                    raise validation_error(
                        req,
                        f"{SINGULAR[known.to_type]} {to_id} does not exist",
                        code="ASSOCIATION_TARGET_NOT_FOUND",
                    )
                self.associations.add(store.object_type, record.id, known.to_type, to_id, type_id)

    # ------------------------------------------------------------------ objects

    def list_objects(self, req: Request) -> Response:
        store = self._store(req)
        limit = int_arg(req, "limit", LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT)
        archived = bool_arg(req, "archived")
        if archived:
            store.sweep(self.now_ms())
        after = req.arg("after")
        start = 0
        if after:
            if not after.isdigit():
                raise validation_error(req, f"after must be a paging cursor (got {after!r})")
            start = int(after)
        records = store.page_after(start, limit, archived)
        names = self._wanted_properties(store, req.args("properties"))
        assoc = self._association_names(req, store)
        body: dict[str, Any] = {"results": [self._render(store, r, names, assoc) for r in records]}
        if records:
            nxt = store.next_id_after(records[-1].id, archived)
            if nxt is not None:
                link = f"{base_url(req)}{req.path}?after={nxt}&limit={limit}"
                body["paging"] = {"next": {"after": str(nxt), "link": link}}
        return Response.json(200, body)

    def get_object(self, req: Request) -> Response:
        store = self._store(req)
        archived = bool_arg(req, "archived")
        record = self._find(req, store, req.params["objectId"], req.arg("idProperty"), archived)
        if record is None:
            raise not_found(req)
        names = self._wanted_properties(store, req.args("properties"))
        return Response.json(
            200, self._render(store, record, names, self._association_names(req, store))
        )

    def create(self, req: Request) -> Response:
        store = self._store(req)
        body = json_object(req)
        props = self._validate_properties(req, store, body.get("properties"), creating=True)
        self._check_rules(req, store, [(None, props)])
        self._conflict(req, store, props)
        now = self.now_ms()
        record = self._new_record(store, props, now)
        self._associate_inputs(req, store, record, body.get("associations"))
        names = sorted(set(props) | set(ALWAYS_PROPERTIES[store.object_type]))
        return Response.json(201, store.render(record, names))

    def update(self, req: Request) -> Response:
        store = self._store(req)
        body = json_object(req)
        record = self._find(req, store, req.params["objectId"], req.arg("idProperty"))
        if record is None:
            raise not_found(req)
        props = self._validate_properties(req, store, body.get("properties"), creating=False)
        self._check_rules(req, store, [(record, props)])
        self._conflict(req, store, props, own_id=record.id)
        now = self.now_ms()
        before = self._watch(store, record)
        self._apply(store, record, props)
        store.touch(record, now)
        self._after_write(store, record, now)
        if before is not None:
            self._announce(store, record, before, now)
        names = sorted(set(props) | set(ALWAYS_PROPERTIES[store.object_type]))
        return Response.json(200, store.render(record, names))

    def batch_read(self, req: Request) -> Response:
        store = self._store(req)
        body = json_object(req)
        inputs = inputs_of(req, body, BATCH_MAX_INPUTS)
        archived = bool_arg(req, "archived")
        id_property = body.get("idProperty")
        requested = body.get("properties")
        names = self._wanted_properties(store, list(requested) if requested else None)
        if id_property and id_property not in ("hs_object_id", "email"):
            raise validation_error(req, f"{id_property} is not a unique identifier property")
        results, missing, seen = [], [], set()
        answered: set[int] = set()
        for item in inputs:
            raw_id = str((item or {}).get("id", "")).strip()
            if raw_id in seen:
                continue
            seen.add(raw_id)
            record = self._find(req, store, raw_id, id_property, archived)
            if record is None:
                missing.append(raw_id)
            elif record.id not in answered:  # two merged-away ids name one record
                answered.add(record.id)
                results.append(store.render(record, names))
        errors = []
        if missing:
            kind = SINGULAR[store.object_type].upper()
            errors.append(
                batch_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not get some {kind} objects, they may be deleted or not "
                    "exist. Check that ids are valid.",
                    {"ids": missing},
                )
            )
        return Response.json(batch_status(req, errors), batch_body(results, errors, self.now_ms()))

    def batch_create(self, req: Request) -> Response:
        store = self._store(req)
        body = json_object(req)
        inputs = inputs_of(req, body, BATCH_MAX_INPUTS)
        prepared: list[tuple[dict[str, str | None], Any]] = []
        seen_emails: set[str] = set()
        for item in inputs:
            if not isinstance(item, dict):
                raise validation_error(req, "each input must be an object")
            props = self._validate_properties(req, store, item.get("properties"), creating=True)
            self._conflict(req, store, props)
            email = (props.get("email") or "").lower() if store.object_type == "contacts" else ""
            if email:
                if email in seen_emails:
                    raise api_error(
                        req,
                        409,
                        "CONFLICT",
                        f"Duplicate value for unique property email in batch input: {email}",
                    )
                seen_emails.add(email)
            prepared.append((props, item.get("associations")))
        self._check_rules(req, store, [(None, props) for props, _ in prepared])
        now = self.now_ms()
        results = []
        for props, assoc in prepared:
            record = self._new_record(store, props, now)
            self._associate_inputs(req, store, record, assoc)
            names = sorted(set(props) | set(ALWAYS_PROPERTIES[store.object_type]))
            results.append(store.render(record, names))
        return Response.json(201, batch_body(results, [], now))

    def batch_update(self, req: Request) -> Response:
        store = self._store(req)
        body = json_object(req)
        inputs = inputs_of(req, body, BATCH_MAX_INPUTS)
        planned: list[tuple[Record, dict[str, str | None]]] = []
        missing: list[str] = []
        for item in inputs:
            if not isinstance(item, dict):
                raise validation_error(req, "each input must be an object")
            props = self._validate_properties(req, store, item.get("properties"), creating=False)
            record = self._find(req, store, str(item.get("id", "")), item.get("idProperty"))
            if record is None:
                missing.append(str(item.get("id", "")))
                continue
            self._conflict(req, store, props, own_id=record.id)
            planned.append((record, props))
        self._check_rules(req, store, list(planned))
        now = self.now_ms()
        results = []
        for record, props in planned:
            before = self._watch(store, record)
            self._apply(store, record, props)
            store.touch(record, now)
            self._after_write(store, record, now)
            if before is not None:
                self._announce(store, record, before, now)
            names = sorted(set(props) | set(ALWAYS_PROPERTIES[store.object_type]))
            results.append(store.render(record, names))
        errors = []
        if missing:
            kind = SINGULAR[store.object_type].upper()
            errors.append(
                batch_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not update some {kind} objects, they may be deleted or "
                    "not exist. Check that ids are valid.",
                    {"ids": missing},
                )
            )
        return Response.json(batch_status(req, errors), batch_body(results, errors, now))

    def batch_upsert(self, req: Request) -> Response:
        store = self._store(req)
        body = json_object(req)
        inputs = inputs_of(req, body, BATCH_MAX_INPUTS)
        planned = []
        for item in inputs:
            if not isinstance(item, dict) or not item.get("id"):
                raise validation_error(req, "each input needs an id")
            id_property = item.get("idProperty") or body.get("idProperty")
            if id_property not in ("email",) or store.object_type != "contacts":
                raise validation_error(
                    req,
                    f"{id_property!r} is not a unique identifier property of {store.object_type}",
                    code="INVALID_ID_PROPERTY",
                )
            props = self._validate_properties(req, store, item.get("properties"), creating=True)
            props["email"] = str(item["id"]).strip()
            if not _EMAIL.match(props["email"]):
                raise api_error(
                    req,
                    400,
                    "VALIDATION_ERROR",
                    "Property values were not valid: "
                    + json.dumps(
                        [
                            _problem(
                                "email", "INVALID_EMAIL", f"Email address {item['id']} is invalid"
                            )
                        ]
                    ),
                )
            planned.append(props)
        self._check_rules(
            req,
            store,
            [
                (store.get(found) if (found := store.id_by_email(p["email"] or "")) else None, p)
                for p in planned
            ],
        )
        now = self.now_ms()
        results = []
        for props in planned:
            existing_id = store.id_by_email(props["email"] or "")
            if existing_id is None:
                record = self._new_record(store, props, now)
                is_new = True
            else:
                record = store.live[existing_id]
                update = {k: v for k, v in props.items() if k != "email"}
                before = self._watch(store, record)
                self._apply(store, record, update)
                store.touch(record, now)
                self._after_write(store, record, now)
                if before is not None:
                    self._announce(store, record, before, now)
                is_new = False
            names = sorted(set(props) | set(ALWAYS_PROPERTIES[store.object_type]))
            results.append({**store.render(record, names), "new": is_new})
        return Response.json(200, batch_body(results, [], now))

    def search(self, req: Request) -> Response:
        store = self._store(req)
        try:
            check_body_size(req.body)
            request = parse_request(store, req.json())
            result = execute(store, request, self.now_ms())
        except SearchError as exc:
            raise validation_error(req, str(exc), code=exc.code) from exc
        if request.properties:
            names = self._wanted_properties(store, request.properties)
        else:
            names = list(DEFAULT_PROPERTIES[store.object_type])
        body: dict[str, Any] = {
            "total": result.total,
            "results": [store.render(r, names) for r in result.records],
        }
        if result.next_offset is not None:
            body["paging"] = {"next": {"after": str(result.next_offset)}}
        return Response.json(200, body)

    # ------------------------------------------------------------------ associations v4

    def _pair(self, req: Request) -> tuple[ObjectStore, ObjectStore]:
        return self._store(req, "fromObjectType"), self._store(req, "toObjectType")

    def _types_json(self, type_ids: tuple[int, ...], dated: bool = False) -> list[dict[str, Any]]:
        """v4 sends `"label": null` for an unlabeled type (api-facts); on dated paths an
        unlabeled type has no `label` at all: AssociationSpecWithLabel.label is an optional,
        non-nullable string (CRM/Associations/Rollouts/130902/2026-09/associations.json)."""
        out = []
        for type_id in type_ids:
            known = ASSOCIATION_TYPES.get(type_id)
            label = known.label if known else None
            spec: dict[str, Any] = {
                "category": "HUBSPOT_DEFINED" if known else "USER_DEFINED",
                "typeId": type_id,
            }
            if label is not None or not dated:
                spec["label"] = label
            out.append(spec)
        return out

    def associations_read(self, req: Request) -> Response:
        source, target = self._pair(req)
        body = json_object(req)
        inputs = inputs_of(req, body, ASSOCIATIONS_BATCH_MAX_INPUTS)
        dated = api_version(req)
        results, errors, seen = [], [], set()
        for item in inputs:
            raw_id = str((item or {}).get("id", "")).strip()
            if raw_id in seen:
                continue
            seen.add(raw_id)
            edges = (
                self.associations.targets(source.object_type, target.object_type, int(raw_id))
                if raw_id.isdigit()
                else {}
            )
            if not edges:
                errors.append(
                    batch_error(
                        "OBJECT_NOT_FOUND",
                        f"No {SINGULAR[target.object_type]} is associated with "
                        f"{SINGULAR[source.object_type]} {raw_id}.",
                        {"fromObjectId": [raw_id]},
                        sub_category="crm.associations.NO_ASSOCIATIONS_FOUND",
                    )
                )
                continue
            results.append(
                {
                    "from": {"id": raw_id},
                    "to": [
                        {
                            # integer in v4; a string in the 2026-09 spec
                            # (MultiAssociatedObjectWithLabel.toObjectId)
                            "toObjectId": to_id if dated is None else str(to_id),
                            "associationTypes": self._types_json(edges[to_id], dated is not None),
                        }
                        for to_id in sorted(edges)
                    ],
                }
            )
        return Response.json(batch_status(req, errors), batch_body(results, errors, self.now_ms()))

    def associations_create(self, req: Request) -> Response:
        source, target = self._pair(req)
        body = json_object(req)
        inputs = inputs_of(req, body, ASSOCIATIONS_BATCH_MAX_INPUTS)
        results, errors = [], []
        for item in inputs:
            try:
                from_id = int(item["from"]["id"])
                to_id = int(item["to"]["id"])
                types = [int(t["associationTypeId"]) for t in item.get("types") or []]
            except (KeyError, TypeError, ValueError) as exc:
                raise validation_error(req, "invalid association input") from exc
            if not types:
                raise validation_error(req, "each input needs at least one type")
            for type_id in types:
                known = ASSOCIATION_TYPES.get(type_id)
                if known is not None and (known.from_type, known.to_type) != (
                    source.object_type,
                    target.object_type,
                ):
                    raise validation_error(
                        req,
                        f"association type {type_id} is not valid between "
                        f"{source.object_type} and {target.object_type}",
                        code="INVALID_ASSOCIATION_TYPE",
                    )
            if source.get(from_id) is None or target.get(to_id) is None:
                missing = from_id if source.get(from_id) is None else to_id
                errors.append(
                    batch_error(
                        "OBJECT_NOT_FOUND",
                        f"Object {missing} does not exist or was deleted.",
                        {"fromObjectId": [str(from_id)], "toObjectId": [str(to_id)]},
                    )
                )
                continue
            for type_id in types:
                self.associations.add(
                    source.object_type, from_id, target.object_type, to_id, type_id
                )
            labels = [
                known.label
                for t in types
                if (known := ASSOCIATION_TYPES.get(t)) is not None and known.label
            ]
            results.append(
                {
                    "fromObjectTypeId": OBJECT_TYPE_IDS[source.object_type],
                    "fromObjectId": from_id,
                    "toObjectTypeId": OBJECT_TYPE_IDS[target.object_type],
                    "toObjectId": to_id,
                    "labels": labels,
                }
            )
        return Response.json(
            batch_status(req, errors, ok=201), batch_body(results, errors, self.now_ms())
        )

    def associate_default(self, req: Request) -> Response:
        source, target = self._pair(req)
        try:
            from_id, to_id = int(req.params["fromObjectId"]), int(req.params["toObjectId"])
        except ValueError as exc:
            raise not_found(req) from exc
        if source.get(from_id) is None or target.get(to_id) is None:
            raise not_found(req)
        type_id = DEFAULT_ASSOCIATION.get((source.object_type, target.object_type))
        if type_id is None:
            raise validation_error(req, "no default association between these types")
        self.associations.add(source.object_type, from_id, target.object_type, to_id, type_id)
        inverse = ASSOCIATION_TYPES[type_id].inverse
        results = [
            {
                "from": {"id": str(from_id)},
                "to": {"id": str(to_id)},
                "associationSpec": {
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": type_id,
                },
            },
            {
                "from": {"id": str(to_id)},
                "to": {"id": str(from_id)},
                "associationSpec": {
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": inverse,
                },
            },
        ]
        return Response.json(200, batch_body(results, [], self.now_ms()))

    def associations_of_object(self, req: Request) -> Response:
        source, target = self._pair(req)
        limit = int_arg(req, "limit", 500, 500)
        raw_id = req.params["fromObjectId"]
        edges = (
            self.associations.targets(source.object_type, target.object_type, int(raw_id))
            if raw_id.isdigit()
            else {}
        )
        after = req.arg("after")
        start = int(after) if after and after.isdigit() else 0
        ordered = sorted(edges)
        page = ordered[start : start + limit]
        body: dict[str, Any] = {
            "results": [
                {"toObjectId": to_id, "associationTypes": self._types_json(edges[to_id])}
                for to_id in page
            ]
        }
        if start + limit < len(ordered):
            nxt = str(start + limit)
            body["paging"] = {
                "next": {"after": nxt, "link": f"{base_url(req)}{req.path}?after={nxt}"}
            }
        return Response.json(200, body)

    # ------------------------------------------------------------------ properties

    def list_properties(self, req: Request) -> Response:
        store = self._store(req)
        return Response.json(200, {"results": store.properties.all()})

    def get_property(self, req: Request) -> Response:
        store = self._store(req)
        definition = store.properties.get(req.params["propertyName"])
        if definition is None:
            raise not_found(
                req,
                f"Unable to find property {req.params['propertyName']} for object type "
                f"{OBJECT_TYPE_IDS[store.object_type]}",
            )
        return Response.json(200, definition)

    def create_property(self, req: Request) -> Response:
        store = self._store(req)
        definition = self._property_definition(req, store, json_object(req))
        if definition["name"] in store.properties:
            raise api_error(
                req,
                409,
                "OBJECT_ALREADY_EXISTS",
                f"Property named '{definition['name']}' already exists.",
            )
        store.properties.add(definition)
        return Response.json(201, definition)

    def batch_create_properties(self, req: Request) -> Response:
        """A definition that is not valid refuses the whole batch (400, naming the input);
        names that exist already are per-input errors (207) and the others are created.
        (UNVERIFIED: HubSpot documents 201/207 but not which failures are per input.)"""
        store = self._store(req)
        inputs = inputs_of(req, json_object(req), BATCH_MAX_INPUTS)
        definitions = []
        for index, item in enumerate(inputs):
            if not isinstance(item, dict):
                raise validation_error(req, f"inputs[{index}] must be an object")
            definitions.append(self._property_definition(req, store, item))
        results, errors = [], []
        for definition in definitions:
            name = definition["name"]
            if name in store.properties:
                errors.append(
                    batch_error(
                        "OBJECT_ALREADY_EXISTS",
                        f"Property named '{name}' already exists.",
                        {"name": [name]},
                    )
                )
                continue
            store.properties.add(definition)
            results.append(definition)
        return Response.json(
            batch_status(req, errors, ok=201), batch_body(results, errors, self.now_ms())
        )

    def list_groups(self, req: Request) -> Response:
        store = self._store(req)
        return Response.json(200, {"results": list(store.properties.groups.values())})

    def create_group(self, req: Request) -> Response:
        store = self._store(req)
        body = json_object(req)
        missing = [k for k in ("name", "label") if not body.get(k)]
        if missing:
            raise validation_error(
                req,
                f"Missing required fields: {', '.join(missing)}",
                code="MISSING_REQUIRED_FIELD",
                context={"missingFields": missing},
            )
        name = str(body["name"])
        if not _PROPERTY_NAME.match(name):
            raise validation_error(
                req, f"Invalid property group name {name!r}", code="INVALID_NAME"
            )
        if name in store.properties.groups:
            raise api_error(
                req, 409, "OBJECT_ALREADY_EXISTS", f"Property group named '{name}' already exists."
            )
        group = group_definition(name, str(body["label"]), int(body.get("displayOrder", -1)))
        store.properties.groups[name] = group
        return Response.json(201, group)

    def _property_definition(
        self, req: Request, store: ObjectStore, body: dict[str, Any]
    ) -> dict[str, Any]:
        """A new property's definition from a create body; 400 VALIDATION_ERROR when the
        body is not valid (missing fields, name, type/fieldType pair, group, options)."""
        missing = [
            k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)
        ]
        if missing:
            raise validation_error(
                req,
                f"Missing required fields: {', '.join(missing)}",
                code="MISSING_REQUIRED_FIELD",
                context={"missingFields": missing},
            )
        name = str(body["name"])
        if not _PROPERTY_NAME.match(name):
            raise validation_error(req, f"Invalid property name {name!r}", code="INVALID_NAME")
        ptype, field_type = body["type"], body["fieldType"]
        if ptype not in VALID_TYPES or field_type not in VALID_FIELD_TYPES:
            raise validation_error(
                req, f"Invalid type/fieldType {ptype!r}/{field_type!r}", code="INVALID_TYPE"
            )
        if field_type not in FIELD_TYPES_BY_TYPE[ptype]:
            raise validation_error(
                req,
                f"fieldType {field_type!r} is not valid for a property of type {ptype!r} "
                f"(valid: {', '.join(sorted(FIELD_TYPES_BY_TYPE[ptype]))})",
                code="INVALID_FIELD_TYPE",
            )
        group = str(body["groupName"])
        if group not in store.properties.groups:
            raise validation_error(
                req,
                f"Property group '{group}' does not exist for object type "
                f"{OBJECT_TYPE_IDS[store.object_type]}",
                code="INVALID_PROPERTY_GROUP",
            )
        raw_options = body.get("options") or []
        if not isinstance(raw_options, list) or not all(
            isinstance(o, dict) and o.get("value") not in (None, "") for o in raw_options
        ):
            raise validation_error(req, "each option needs a value", code="INVALID_OPTIONS")
        values = [str(o["value"]) for o in raw_options]
        if len(set(values)) != len(values):
            raise validation_error(req, "option values must be unique", code="DUPLICATE_OPTION")
        stamp = iso_ms(self.now_ms())
        options = [
            {
                "label": str(o.get("label", o.get("value"))),
                "value": str(o.get("value")),
                "displayOrder": int(o.get("displayOrder", i)),
                "hidden": bool(o.get("hidden", False)),
                **({"description": o["description"]} if o.get("description") else {}),
            }
            for i, o in enumerate(raw_options)
        ]
        return {
            "name": name,
            "label": str(body["label"]),
            "type": ptype,
            "fieldType": field_type,
            "description": str(body.get("description") or ""),
            "groupName": group,
            "options": options,
            "displayOrder": int(body.get("displayOrder", -1)),
            "calculated": False,
            "externalOptions": bool(body.get("externalOptions", False)),
            "hasUniqueValue": bool(body.get("hasUniqueValue", False)),
            "hidden": bool(body.get("hidden", False)),
            "hubspotDefined": False,
            "modificationMetadata": {
                "archivable": True,
                "readOnlyDefinition": False,
                "readOnlyValue": False,
            },
            "formField": bool(body.get("formField", True)),
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
        }


def _problem(name: str, error: str, message: str) -> dict[str, Any]:
    return {
        "isValid": False,
        "message": message,
        "error": error,
        "name": name,
        "localizedErrorMessage": message,
    }


def _not_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


_DAY = 86_400_000


def _date_problem(text: str) -> str | None:
    """Why `text` is not a HubSpot date value (YYYY-MM-DD, or epoch ms of midnight UTC)."""
    if text.lstrip("-").isdigit():
        if int(text) % _DAY:
            return f"{text} is not a date at midnight UTC"
        return None
    try:
        date.fromisoformat(text)
    except ValueError:
        return f"{text} is not a valid date (YYYY-MM-DD or epoch milliseconds at midnight UTC)"
    return None if len(text) == 10 else f"{text} is not a valid date"
