"""REST resources: sObjects, SOQL query/queryMore, limits, sObject Collections, Composite."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sandbox.httpbase import BadJSONError, HTTPError, Request, Response, Router
from sandbox.salesforce import ids, soql
from sandbox.salesforce.dml import MultipleMatches, deserialize
from sandbox.salesforce.errors import (
    ROLLED_BACK,
    RecordFailed,
    RequestFailed,
    SFError,
    dml_error,
    fail,
    not_found,
)
from sandbox.salesforce.org import DUPLICATE_RULE_HEADER, allow_save
from sandbox.salesforce.schema import Field, SObject
from sandbox.salesforce.values import (
    ValueMismatch,
    coerce_json,
    format_datetime,
    parse_datetime,
)

if TYPE_CHECKING:
    from sandbox.salesforce.server import SalesforceSandbox

BASE = "/services/data/v{version}"
QUERY_BATCH = 2000
MIN_QUERY_BATCH = 200
COLLECTION_LIMIT = 200
COMPOSITE_LIMIT = 25
COMPOSITE_QUERY_LIMIT = 5
MAX_CURSORS = 500
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)\.([^}]+)\}")
_BATCH_SIZE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
RESOURCES_BY_VERSION = (
    "tooling", "metadata", "eclair", "folders", "prechatForms", "contact-tracing", "jsonxform",
    "chatter", "payments", "tabs", "appMenu", "quickActions", "queryAll", "commerce", "wave",
    "iot", "analytics", "search", "smartdatadiscovery", "identity", "composite",
    "parameterizedSearch", "fingerprint", "theme", "nouns", "domino", "event",
    "serviceTemplates", "recent", "connect", "licensing", "limits", "process", "dedupe",
    "async-queries", "query", "jobs", "match", "localizedvalue", "mobile", "emailConnect",
    "consent", "tokenizer", "compactLayouts", "knowledgeManagement", "sobjects", "actions",
    "support",
)


@dataclass
class Cursor:
    evaluator: soql.Evaluator
    ids: list[str]
    endpoint: str


class RestApi:
    def __init__(self, sandbox: SalesforceSandbox) -> None:
        self.sb = sandbox
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._cursor_counter = 0

    def reset(self) -> None:
        self.cursors.clear()
        self._cursor_counter = 0

    def register(self, router: Router) -> None:
        add = router.add
        add("GET", BASE, self.resources)
        add("GET", f"{BASE}/limits", self.limits)
        add("GET", f"{BASE}/sobjects", self.list_sobjects)
        add("GET", f"{BASE}/sobjects/{{sobject}}", self.sobject_info)
        add("POST", f"{BASE}/sobjects/{{sobject}}", self.create)
        add("GET", f"{BASE}/sobjects/{{sobject}}/describe", self.describe)
        add("GET", f"{BASE}/sobjects/{{sobject}}/updated", self.updated)
        add("GET", f"{BASE}/sobjects/{{sobject}}/deleted", self.deleted)
        add("GET", f"{BASE}/sobjects/{{sobject}}/{{record_id}}", self.retrieve)
        add("PATCH", f"{BASE}/sobjects/{{sobject}}/{{record_id}}", self.update)
        add("DELETE", f"{BASE}/sobjects/{{sobject}}/{{record_id}}", self.delete)
        add("GET", f"{BASE}/sobjects/{{sobject}}/{{field}}/{{value}}", self.retrieve_external)
        add("PATCH", f"{BASE}/sobjects/{{sobject}}/{{field}}/{{value}}", self.upsert)
        add("GET", f"{BASE}/query", lambda r: self.query(r, "query"))
        add("GET", f"{BASE}/queryAll", lambda r: self.query(r, "queryAll"))
        add("GET", f"{BASE}/query/{{locator}}", lambda r: self.query_more(r, "query"))
        add("GET", f"{BASE}/queryAll/{{locator}}", lambda r: self.query_more(r, "queryAll"))
        add("POST", f"{BASE}/composite/sobjects", self.collection_create)
        add("PATCH", f"{BASE}/composite/sobjects", self.collection_update)
        add("DELETE", f"{BASE}/composite/sobjects", self.collection_delete)
        add("GET", f"{BASE}/composite/sobjects/{{sobject}}", self.collection_retrieve)
        add("POST", f"{BASE}/composite/sobjects/{{sobject}}", self.collection_retrieve)
        add("PATCH", f"{BASE}/composite/sobjects/{{sobject}}/{{field}}", self.collection_upsert)
        add("POST", f"{BASE}/composite", self.composite)

    # ------------------------------------------------------------------ helpers

    def _sobject(self, name: str) -> SObject:
        sobject = self.sb.schema.get(name)
        if sobject is None:
            raise not_found()
        return sobject

    def _record_id(self, sobject: SObject, raw: str) -> str:
        """The canonical id in a URL, refused as Salesforce does when it is not one."""
        if not ids.looks_like_id(raw):
            raise fail(404, "NOT_FOUND",
                       f"Provided external ID field does not exist or is not accessible: {raw}")
        canonical = ids.normalize(raw)
        if canonical is None or ids.key_prefix(canonical) != sobject.key_prefix:
            raise fail(400, "MALFORMED_ID",
                       f"{sobject.fields['Id'].label}: id value of incorrect type: {raw}", ["Id"])
        return canonical

    def _live_record(self, sobject: SObject, record_id: str) -> dict[str, Any]:
        record = self.sb.store.get(sobject.name, record_id)
        if record is None:
            raise not_found()
        if record.get("IsDeleted"):
            raise fail(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return record

    def _render(self, sobject: SObject, record: dict[str, Any], version: str,
                fields: list[str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": {"type": sobject.name,
                           "url": f"/services/data/v{version}/sobjects/{sobject.name}/"
                                  f"{record['Id']}"}
        }
        if fields:
            wanted = []
            for name in fields:
                field = sobject.field(name)
                if field is None:
                    raise fail(400, "INVALID_FIELD",
                               f"No such column '{name}' on entity '{sobject.name}'. If you are "
                               "attempting to use a custom field, be sure to append the '__c' "
                               "after the custom field name. Please reference your WSDL or the "
                               "describe call for the appropriate names.")
                wanted.append(field.name)
            for name in wanted:
                out[name] = record.get(name)
            out["Id"] = record["Id"]
            return out
        out.update(record)
        return out

    @staticmethod
    def _dml_failure(exc: RecordFailed) -> RequestFailed:
        return RequestFailed(400, exc.errors)

    # ------------------------------------------------------------------ misc resources

    def resources(self, req: Request) -> Response:
        """Resources by Version, with the names and order of the REST API Developer Guide's
        "List Available REST Resources" example (v58.0 to v68.0 list the same resources);
        `identity` is the caller's identity URL, the others paths under this version. Only
        some of them are served here; the rest answer 404 NOT_FOUND."""
        base = f"/services/data/v{req.params['version']}"
        user_id = self.sb.session.user_id if self.sb.session else self.sb.default_user_id
        identity = f"{self.sb.base_url(req)}/id/{self.sb.org_id}/{user_id}"
        return Response.json(200, {
            n: identity if n == "identity" else f"{base}/{n}" for n in RESOURCES_BY_VERSION
        })

    def limits(self, _req: Request) -> Response:
        sb = self.sb
        return Response.json(200, {
            "DailyApiRequests": {"Max": sb.daily_api_limit,
                                 "Remaining": max(0, sb.daily_api_limit - sb.api_used)},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000 - sb.bulk.batches_today},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
        })

    def list_sobjects(self, req: Request) -> Response:
        version = req.params["version"]
        return Response.json(200, {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [self.sb.schema.basic_info(o, version)
                         for o in self.sb.schema.objects.values()],
        })

    def sobject_info(self, req: Request) -> Response:
        sobject = self._sobject(req.params["sobject"])
        return Response.json(200, {
            "objectDescribe": self.sb.schema.basic_info(sobject, req.params["version"]),
            "recentItems": [],
        })

    def describe(self, req: Request) -> Response:
        sobject = self._sobject(req.params["sobject"])
        return Response.json(200, self.sb.schema.describe(sobject, req.params["version"]))

    def _window(self, req: Request) -> tuple[dt.datetime, dt.datetime]:
        start = parse_datetime(_raw_arg(req, "start") or "")
        end = parse_datetime(_raw_arg(req, "end") or "")
        if start is None or end is None:
            raise fail(400, "INVALID_REPLICATION_DATE",
                       "start and end must be ISO 8601 date-times")
        if end <= start:
            raise fail(400, "INVALID_REPLICATION_DATE", "start must be before end")
        return start, end

    def updated(self, req: Request) -> Response:
        """`GET /sobjects/{Object}/updated/?start&end`: ids changed in the window."""
        sobject = self._sobject(req.params["sobject"])
        start, end = self._window(req)
        changed = [
            r["Id"] for r in self.sb.store.table(sobject.name).values()
            if not r.get("IsDeleted") and r.get("SystemModstamp")
            and start <= parse_datetime(r["SystemModstamp"]) < end  # type: ignore[operator]
        ]
        return Response.json(200, {"ids": changed, "latestDateCovered": format_datetime(end)})

    def deleted(self, req: Request) -> Response:
        """`GET /sobjects/{Object}/deleted/?start&end`: records deleted in the window."""
        sobject = self._sobject(req.params["sobject"])
        start, end = self._window(req)
        gone = [
            {"id": r["Id"], "deletedDate": r["SystemModstamp"]}
            for r in self.sb.store.table(sobject.name).values()
            if r.get("IsDeleted") and start <= parse_datetime(  # type: ignore[operator]
                r["SystemModstamp"]) < end
        ]
        return Response.json(200, {
            "deletedRecords": gone,
            "earliestDateAvailable": format_datetime(start),
            "latestDateCovered": format_datetime(end),
        })

    # ------------------------------------------------------------------ one record

    def retrieve(self, req: Request) -> Response:
        sobject = self._sobject(req.params["sobject"])
        record_id = self._record_id(sobject, req.params["record_id"])
        record = self._live_record(sobject, record_id)
        return Response.json(200, self._render(sobject, record, req.params["version"],
                                               req.args("fields") or None))

    def create(self, req: Request) -> Response:
        sobject = self._sobject(req.params["sobject"])
        values = deserialize(sobject, req.json())
        try:
            new_id = self.sb.dml.create(sobject, values, self.sb.write_options(
                self.sb.call_number))
        except RecordFailed as exc:
            raise self._dml_failure(exc) from None
        return Response.json(201, {"id": new_id, "success": True, "errors": []})

    def update(self, req: Request) -> Response:
        sobject = self._sobject(req.params["sobject"])
        record_id = self._record_id(sobject, req.params["record_id"])
        self._live_record(sobject, record_id)
        body = req.json()
        values = deserialize(sobject, body, skip=("attributes", "Id", "id"))
        try:
            self.sb.dml.update(sobject, record_id, values,
                               self.sb.write_options(self.sb.call_number))
        except RecordFailed as exc:
            raise self._dml_failure(exc) from None
        return Response.empty(204)

    def delete(self, req: Request) -> Response:
        sobject = self._sobject(req.params["sobject"])
        record_id = self._record_id(sobject, req.params["record_id"])
        self._live_record(sobject, record_id)
        if not sobject.raw.get("deletable", True):
            raise fail(400, "INVALID_TYPE_FOR_OPERATION", "entity type cannot be deleted", [])
        try:
            self.sb.dml.delete(sobject, record_id, self.sb.write_options(self.sb.call_number))
        except RecordFailed as exc:
            raise self._dml_failure(exc) from None
        return Response.empty(204)

    def _external_field(self, sobject: SObject, name: str) -> Field:
        field = sobject.field(name)
        if field is None or not (field.external_id or field.name == "Id"):
            raise fail(404, "NOT_FOUND",
                       f"Provided external ID field does not exist or is not accessible: {name}")
        return field

    def _external_value(self, field: Field, raw: str) -> Any:
        try:
            return coerce_json(field, raw)
        except ValueMismatch:
            return raw

    def retrieve_external(self, req: Request) -> Response:
        sobject = self._sobject(req.params["sobject"])
        field = self._external_field(sobject, req.params["field"])
        value = self._external_value(field, req.params["value"])
        version = req.params["version"]
        if field.name == "Id":
            record_id = self._record_id(sobject, str(value))
            record = self._live_record(sobject, record_id)
            return Response.json(200, self._render(sobject, record, version,
                                                   req.args("fields") or None))
        matches = self.sb.store.lookup(sobject.name, field, value)
        if not matches:
            raise not_found()
        if len(matches) > 1:
            return self._multiple(sobject, matches, version)
        record = self.sb.store.get(sobject.name, matches[0])
        assert record is not None
        return Response.json(200, self._render(sobject, record, version,
                                               req.args("fields") or None))

    def upsert(self, req: Request) -> Response:
        sobject = self._sobject(req.params["sobject"])
        field = self._external_field(sobject, req.params["field"])
        value = self._external_value(field, req.params["value"])
        body = req.json()
        values = deserialize(sobject, body, skip=("attributes", "Id", "id"))
        values.pop(field.name, None)
        try:
            record_id, created = self.sb.dml.upsert(
                sobject, field, value, values, self.sb.write_options(self.sb.call_number))
        except MultipleMatches as exc:
            return self._multiple(sobject, exc.ids, req.params["version"])
        except RecordFailed as exc:
            raise self._dml_failure(exc) from None
        # API 46.0 and later: 201 + created:true for an insert, 200 + created:false for an update.
        return Response.json(201 if created else 200, {
            "id": record_id, "success": True, "errors": [], "created": created,
        })

    @staticmethod
    def _multiple(sobject: SObject, matches: list[str], version: str) -> Response:
        return Response.json(300, [
            f"/services/data/v{version}/sobjects/{sobject.name}/{i}" for i in matches
        ])

    # ------------------------------------------------------------------ SOQL

    def query(self, req: Request, endpoint: str) -> Response:
        text = _raw_arg(req, "q")
        if not text:
            raise fail(400, "MALFORMED_QUERY", "A query string has to be specified")
        parsed = soql.parse(text)
        now = dt.datetime.fromtimestamp(self.sb.clock(), dt.UTC)
        evaluator = soql.Evaluator(self.sb.schema, parsed, self.sb.store.find, now)
        include_deleted = endpoint == "queryAll"
        rows = [
            r for r in self.sb.store.table(evaluator.sobject.name).values()
            if (include_deleted or not r.get("IsDeleted")) and evaluator.matches(r)
        ]
        if parsed.order:
            rows = evaluator.sort(rows)
        rows = rows[parsed.offset :]
        if parsed.limit is not None:
            rows = rows[: parsed.limit]
        if parsed.count:
            return Response.json(200, {"totalSize": len(rows), "done": True, "records": []})
        cursor = Cursor(evaluator, [r["Id"] for r in rows], endpoint)
        return self._page(req, cursor, None, 0)

    def query_more(self, req: Request, endpoint: str) -> Response:
        locator = req.params["locator"]
        cursor_id, _, offset_text = locator.rpartition("-")
        cursor = self.cursors.get(cursor_id)
        if cursor is None or not offset_text.isdigit() or int(offset_text) > len(cursor.ids):
            raise fail(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        self.cursors.move_to_end(cursor_id)
        return self._page(req, cursor, cursor_id, int(offset_text))

    def _page(self, req: Request, cursor: Cursor, cursor_id: str | None,
              offset: int) -> Response:
        batch = _batch_size(req)
        version = req.params["version"]
        chunk = cursor.ids[offset : offset + batch]
        sobject = cursor.evaluator.sobject
        records = []
        for record_id in chunk:
            record = self.sb.store.get(sobject.name, record_id)
            if record is not None:
                records.append(cursor.evaluator.project(record, version))
        end = offset + len(chunk)
        body: dict[str, Any] = {"totalSize": len(cursor.ids), "done": end >= len(cursor.ids)}
        if not body["done"]:
            if cursor_id is None:
                self._cursor_counter += 1
                cursor_id = ids.make_id("01g", self._cursor_counter)
                self.cursors[cursor_id] = cursor
                while len(self.cursors) > MAX_CURSORS:
                    self.cursors.popitem(last=False)
            body["nextRecordsUrl"] = (
                f"/services/data/v{version}/{cursor.endpoint}/{cursor_id}-{end}"
            )
        body["records"] = records
        return Response.json(200, body)

    # ------------------------------------------------------------------ sObject Collections

    def _collection_body(self, req: Request) -> tuple[bool, list[Any]]:
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise fail(400, "JSON_PARSER_ERROR",
                       "The request body must be an object with a records array")
        records = body["records"]
        if len(records) > COLLECTION_LIMIT:
            raise fail(400, "EXCEEDED_ID_LIMIT",
                       "record limit reached. cannot submit more than 200 records into this call")
        return bool(body.get("allOrNone", False)), records

    def _typed(self, record: Any, expected: SObject | None = None) -> SObject:
        if not isinstance(record, dict):
            raise fail(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
        attributes = record.get("attributes")
        type_name = attributes.get("type") if isinstance(attributes, dict) else None
        if not type_name:
            raise fail(400, "INVALID_TYPE", "Must send a concrete entity type.")
        sobject = self.sb.schema.get(type_name)
        if sobject is None:
            raise fail(400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
        if expected is not None and sobject.name != expected.name:
            raise fail(400, "INVALID_TYPE",
                       f"The request URI and the records must refer to the same sObject type: "
                       f"{expected.name}")
        return sobject

    def _run_collection(self, all_or_none: bool, work: list[Any]) -> list[dict[str, Any]]:
        """Run each record's operation; `work` items are callables returning a result dict."""
        store = self.sb.store
        mark = store.savepoint()
        results: list[dict[str, Any]] = []
        failed = False
        try:
            for item in work:
                try:
                    results.append(item())
                except RecordFailed as exc:
                    failed = True
                    results.append({"success": False,
                                    "errors": [e.collection() for e in exc.errors]})
        except BaseException:
            store.rollback(mark)
            raise
        if all_or_none and failed:
            store.rollback(mark)
            return [r if not r["success"] else {"success": False,
                                                "errors": [ROLLED_BACK.collection()]}
                    for r in results]
        store.release(mark)
        return results

    def _record_key(self, index: int) -> int:
        return self.sb.call_number * 1000 + index + 1

    def collection_create(self, req: Request) -> Response:
        all_or_none, records = self._collection_body(req)
        prepared = []
        for record in records:
            sobject = self._typed(record)
            prepared.append((sobject, deserialize(sobject, record)))

        def work(i: int, sobject: SObject, values: dict[str, Any]) -> Any:
            def run() -> dict[str, Any]:
                new_id = self.sb.dml.create(sobject, values, self.sb.write_options(
                    self._record_key(i)))
                return {"id": new_id, "success": True, "errors": []}
            return run

        items = [work(i, s, v) for i, (s, v) in enumerate(prepared)]
        return Response.json(200, self._run_collection(all_or_none, items))

    def collection_update(self, req: Request) -> Response:
        all_or_none, records = self._collection_body(req)
        prepared = []
        for record in records:
            sobject = self._typed(record)
            raw_id = record.get("id", record.get("Id"))
            prepared.append((sobject, raw_id,
                             deserialize(sobject, record, skip=("attributes", "id", "Id"))))

        def work(i: int, sobject: SObject, raw_id: Any, values: dict[str, Any]) -> Any:
            def run() -> dict[str, Any]:
                if not raw_id:
                    raise RecordFailed([dml_error("MISSING_ARGUMENT",
                                                  "Id not specified in an update call")])
                record_id = ids.normalize(str(raw_id))
                if record_id is None or ids.key_prefix(record_id) != sobject.key_prefix:
                    raise RecordFailed([dml_error(
                        "MALFORMED_ID",
                        f"{sobject.fields['Id'].label}: id value of incorrect type: {raw_id}",
                        "Id")])
                self.sb.dml.update(sobject, record_id, values,
                                   self.sb.write_options(self._record_key(i)))
                return {"id": record_id, "success": True, "errors": []}
            return run

        items = [work(i, *p) for i, p in enumerate(prepared)]
        return Response.json(200, self._run_collection(all_or_none, items))

    def collection_upsert(self, req: Request) -> Response:
        sobject = self._sobject(req.params["sobject"])
        field = sobject.field(req.params["field"])
        if field is None or not (field.external_id or field.name == "Id"):
            raise fail(400, "INVALID_FIELD",
                       f"Field name provided, {req.params['field']} is not an External ID or "
                       f"indexed field for {sobject.name}")
        all_or_none, records = self._collection_body(req)
        prepared = []
        for record in records:
            self._typed(record, expected=sobject)
            values = deserialize(sobject, record, skip=("attributes", "id")
                                 if field.name != "Id" else ("attributes",))
            prepared.append(values)
        keys = [
            None if v.get(field.name) in (None, "") else _fold(field, v.get(field.name))
            for v in prepared
        ]
        repeated = {k for k in keys if k is not None and keys.count(k) > 1}

        def work(i: int, values: dict[str, Any]) -> Any:
            def run() -> dict[str, Any]:
                ext_value = values.get(field.name)
                if keys[i] in repeated:
                    raise RecordFailed([dml_error(
                        "DUPLICATE_EXTERNAL_ID",
                        f"Duplicate external id specified: {ext_value}", field.name)])
                if ext_value in (None, "") and field.name != "Id":
                    raise RecordFailed([dml_error(
                        "MISSING_ARGUMENT", f"{field.name} not specified", field.name)])
                rest = {k: v for k, v in values.items() if k != field.name}
                try:
                    record_id, created = self.sb.dml.upsert(
                        sobject, field, ext_value, rest, self.sb.write_options(
                            self._record_key(i)))
                except MultipleMatches as exc:
                    raise RecordFailed([dml_error(
                        "DUPLICATE_EXTERNAL_ID",
                        f"{field.label}: more than one record found for external id field: "
                        f"{exc.ids}", field.name)]) from None
                return {"id": record_id, "success": True, "errors": [], "created": created}
            return run

        items = [work(i, v) for i, v in enumerate(prepared)]
        return Response.json(200, self._run_collection(all_or_none, items))

    def collection_retrieve(self, req: Request) -> Response:
        """`GET ...?ids=&fields=` or `POST` with `{"ids": [...], "fields": [...]}` (the POST
        form takes up to 2,000 ids without the URL limit): records in id order, null for an
        id that matches no live record."""
        sobject = self._sobject(req.params["sobject"])
        if req.method == "POST":
            body = req.json()
            raw_ids = body.get("ids") if isinstance(body, dict) else None
            fields = body.get("fields") if isinstance(body, dict) else None
            if not _strings(raw_ids) or not _strings(fields):
                raise fail(400, "JSON_PARSER_ERROR",
                           "The request body must be an object with ids and fields arrays "
                           "of strings")
        else:
            raw_ids = req.args("ids")
            fields = req.args("fields")
        if not raw_ids or not fields:
            raise fail(400, "MISSING_ARGUMENT", "ids and fields are required")
        if len(raw_ids) > 2000:
            raise fail(400, "EXCEEDED_ID_LIMIT", "too many ids")
        out: list[Any] = []
        for raw in raw_ids:
            record_id = ids.normalize(raw)
            if record_id is None or ids.key_prefix(record_id) != sobject.key_prefix:
                raise fail(400, "MALFORMED_ID",
                           f"{sobject.fields['Id'].label}: id value of incorrect type: {raw}",
                           ["Id"])
            record = self.sb.store.get(sobject.name, record_id)
            if record is None or record.get("IsDeleted"):
                out.append(None)
                continue
            rendered = self._render(sobject, record, req.params["version"], fields)
            if not any(sobject.field(f) and sobject.field(f).name == "Id" for f in fields):
                rendered.pop("Id", None)
            out.append(rendered)
        return Response.json(200, out)

    def collection_delete(self, req: Request) -> Response:
        raw_ids = req.args("ids")
        if not raw_ids:
            raise fail(400, "MISSING_ARGUMENT", "ids is required")
        if len(raw_ids) > COLLECTION_LIMIT:
            raise fail(400, "EXCEEDED_ID_LIMIT",
                       "record limit reached. cannot submit more than 200 records into this call")
        all_or_none = (req.arg("allOrNone") or "false").lower() == "true"

        def work(i: int, raw: str) -> Any:
            def run() -> dict[str, Any]:
                record_id = ids.normalize(raw)
                found = self.sb.store.find(record_id) if record_id else None
                if record_id is None:
                    raise RecordFailed([dml_error("MALFORMED_ID", f"malformed id {raw}")])
                if found is None:
                    raise RecordFailed([dml_error("INVALID_CROSS_REFERENCE_KEY",
                                                  "invalid cross reference id")])
                sobject, _record = found
                if not sobject.raw.get("deletable", True):
                    raise RecordFailed([dml_error("INVALID_TYPE_FOR_OPERATION",
                                                  "entity type cannot be deleted")])
                self.sb.dml.delete(sobject, record_id, self.sb.write_options(
                    self._record_key(i)))
                return {"id": record_id, "success": True, "errors": []}
            return run

        items = [work(i, raw) for i, raw in enumerate(raw_ids)]
        return Response.json(200, self._run_collection(all_or_none, items))

    # ------------------------------------------------------------------ Composite

    def composite(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
            raise fail(400, "JSON_PARSER_ERROR",
                       "The request body must be an object with a compositeRequest array")
        subrequests = body["compositeRequest"]
        if len(subrequests) > COMPOSITE_LIMIT:
            raise fail(400, "INVALID_API_INPUT",
                       f"A composite request can contain at most {COMPOSITE_LIMIT} subrequests")
        heavy = sum(1 for s in subrequests if isinstance(s, dict) and re.search(
            r"/(query|queryAll|composite/sobjects)(/|\?|$)", str(s.get("url", ""))))
        if heavy > COMPOSITE_QUERY_LIMIT:
            raise fail(400, "INVALID_API_INPUT",
                       f"A composite request can contain at most {COMPOSITE_QUERY_LIMIT} query "
                       "or sObject Collections subrequests")
        refs = [s.get("referenceId") for s in subrequests if isinstance(s, dict)]
        if len(refs) != len(subrequests) or any(not r for r in refs) or len(set(refs)) != len(refs):
            raise fail(400, "JSON_PARSER_ERROR",
                       "Each subrequest needs a unique referenceId")
        all_or_none = bool(body.get("allOrNone", False))
        outer_call = self.sb.call_number
        store = self.sb.store
        mark = store.savepoint()
        answers: dict[str, tuple[int, Any]] = {}
        out: list[dict[str, Any]] = []
        halted_at: int | None = None
        try:
            for i, sub in enumerate(subrequests):
                self.sb.call_number = outer_call * 100 + i + 1
                status, headers, payload = self._subrequest(req, sub, answers)
                answers[sub["referenceId"]] = (status, payload)
                out.append({"body": payload, "httpHeaders": headers, "httpStatusCode": status,
                            "referenceId": sub["referenceId"]})
                if status >= 400 and all_or_none:
                    halted_at = i
                    break
        except BaseException:
            store.rollback(mark)
            raise
        finally:
            self.sb.call_number = outer_call
        if halted_at is None:
            store.release(mark)
            return Response.json(200, {"compositeResponse": out})
        store.rollback(mark)
        halted = [{"errorCode": "PROCESSING_HALTED",
                   "message": "The transaction was rolled back since another operation in the "
                              "same transaction failed."}]
        final = []
        for i, sub in enumerate(subrequests):
            if i == halted_at:
                final.append(out[i])
            else:
                final.append({"body": halted, "httpHeaders": {}, "httpStatusCode": 400,
                              "referenceId": sub["referenceId"]})
        return Response.json(200, {"compositeResponse": final})

    def _subrequest(self, outer: Request, sub: dict[str, Any],
                    answers: dict[str, tuple[int, Any]]) -> tuple[int, dict[str, str], Any]:
        try:
            url = _substitute(sub.get("url", ""), answers)
            payload = _substitute(sub.get("body"), answers)
        except _BadReference as exc:
            return 400, {}, [{"errorCode": "PROCESSING_HALTED", "message": str(exc)}]
        method = str(sub.get("method", "GET")).upper()
        parts = urlsplit(url)
        if not parts.path.startswith("/services/data/v"):
            return 400, {}, [{"errorCode": "INVALID_API_INPUT",
                              "message": f"Unsupported composite subrequest url: {url}"}]
        matched = self.sb.app.router.match(method, parts.path)
        if not isinstance(matched, tuple) or parts.path.rstrip("/").endswith("/composite"):
            return 404, {}, [{"errorCode": "NOT_FOUND",
                              "message": "The requested resource does not exist"}]
        route, params = matched
        headers = dict(outer.headers)
        headers.update({k.lower(): str(v) for k, v in (sub.get("httpHeaders") or {}).items()})
        inner = Request(
            method=method, path=parts.path, query=parse_qs(parts.query, keep_blank_values=True),
            headers=headers,
            body=json.dumps(payload).encode() if payload is not None else b"",
            params=params, route=route.template,
        )
        outer_allow_save = self.sb.allow_save
        self.sb.allow_save = allow_save(headers.get(DUPLICATE_RULE_HEADER))
        try:
            response = route.handler(inner)
        except HTTPError as exc:
            response = exc.response
        except BadJSONError as exc:
            return 400, {}, [{"errorCode": "JSON_PARSER_ERROR", "message": str(exc)}]
        finally:
            self.sb.allow_save = outer_allow_save
        body: Any = None
        if response.body:
            try:
                body = json.loads(response.body)
            except ValueError:
                body = response.body.decode("utf-8", "replace")
        answer_headers: dict[str, str] = {}
        if response.status == 201 and isinstance(body, dict) and body.get("id"):
            answer_headers["Location"] = f"{parts.path.rstrip('/')}/{body['id']}"
        return response.status, answer_headers, body


class _BadReference(Exception):
    pass


def _substitute(value: Any, answers: dict[str, tuple[int, Any]]) -> Any:
    """Replace `@{ref.path}` with values from earlier subrequests' answers."""
    if isinstance(value, dict):
        return {k: _substitute(v, answers) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, answers) for v in value]
    if not isinstance(value, str) or "@{" not in value:
        return value
    whole = _REFERENCE.fullmatch(value)
    if whole:
        return _lookup_reference(whole.group(1), whole.group(2), answers)
    return _REFERENCE.sub(
        lambda m: str(_lookup_reference(m.group(1), m.group(2), answers)), value)


def _lookup_reference(ref: str, path: str, answers: dict[str, tuple[int, Any]]) -> Any:
    if ref not in answers:
        raise _BadReference(f"Invalid reference specified. No value for {ref}.{path} found in "
                            f"{ref}. Provided referenceId ('{ref}') does not exist or has not "
                            "been processed yet.")
    status, current = answers[ref]
    if status >= 400:
        raise _BadReference(f"Invalid reference specified. No value for {ref}.{path} found in "
                            f"{ref}: the referenced subrequest failed.")
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        try:
            current = current[int(part[1:-1])] if part.startswith("[") else current[part]
        except (KeyError, IndexError, TypeError):
            raise _BadReference(f"Invalid reference specified. No value for {ref}.{path} found "
                                f"in {ref}.") from None
    return current


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _raw_arg(req: Request, name: str) -> str | None:
    """A query parameter's full value (Request.arg splits on commas, which SOQL contains)."""
    for key, values in req.query.items():
        if key.lower() == name.lower() and values:
            return values[0]
    return None


def _batch_size(req: Request) -> int:
    options = req.header("sforce-query-options") or ""
    found = _BATCH_SIZE.search(options)
    if not found:
        return QUERY_BATCH
    return max(MIN_QUERY_BATCH, min(QUERY_BATCH, int(found.group(1))))


def _fold(field: Field, value: Any) -> str:
    text = str(value)
    return text if field.case_sensitive else text.lower()


__all__ = ["RestApi", "SFError"]
