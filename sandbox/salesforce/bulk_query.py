"""Bulk API 2.0 query jobs: create, poll, read results page by page, abort, delete.

As in Salesforce (Bulk API 2.0 developer guide, "Bulk API 2.0 Query"):
- `POST /jobs/query` `{"operation": "query"|"queryAll", "query": SOQL, "contentType": "CSV",
  "columnDelimiter", "lineEnding"}` answers 200 with the job in state `UploadComplete`;
  a malformed query is refused at once (400 `API_ERROR` / `MALFORMED_QUERY`);
- the job runs on the first poll (`GET /jobs/query/{id}`), so a client sees
  UploadComplete -> JobComplete and `numberRecordsProcessed`;
- `GET /jobs/query/{id}/results?locator=&maxRecords=` answers CSV with the headers
  `Sforce-NumberOfRecords` (rows in this answer) and `Sforce-Locator` (the next page's locator,
  or the text `null` after the last page); results of a job that is not `JobComplete` are
  refused with 400; a locator is stable while the job exists;
- `PATCH {"state": "Aborted"}` aborts an unfinished job; `DELETE` removes a finished one.
Every call counts as one API request. Values: empty cell = null, booleans `true`/`false`.
Relationship fields (`Owner.Name`) come as dotted columns.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.httpbase import Request, Response, Router
from sandbox.salesforce import soql
from sandbox.salesforce.errors import fail
from sandbox.salesforce.jobs import DELIMITERS, LINE_ENDINGS, JobRegistry, csv_format
from sandbox.salesforce.values import from_epoch

if TYPE_CHECKING:
    from sandbox.salesforce.server import SalesforceSandbox

BASE = "/services/data/v{version}/jobs/query"
DEFAULT_PAGE_RECORDS = 50_000  # what the sandbox answers per page when maxRecords is absent
MIN_API_VERSION = 47.0  # query jobs exist from API 47.0


@dataclass
class QueryJob:
    id: str
    operation: str
    query: str
    parsed: soql.Query
    column_delimiter: str
    line_ending: str
    api_version: str
    created_by: str
    created_date: str
    modstamp: str
    state: str = "UploadComplete"
    error_message: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    def info(self, full: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.parsed.sobject,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.modstamp,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "jobType": "V2Query",
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }
        if full:
            out.update({
                "numberRecordsProcessed": len(self.rows) if self.state == "JobComplete" else 0,
                "retries": 0,
                "totalProcessingTime": 0,
            })
            if self.error_message:
                out["errorMessage"] = self.error_message
        return out


class BulkQuery:
    def __init__(self, sandbox: SalesforceSandbox) -> None:
        self.sb = sandbox
        self.registry: JobRegistry[QueryJob] = JobRegistry(first_number=500_000)

    def reset(self) -> None:
        self.registry.reset()

    def register(self, router: Router) -> None:
        router.add("POST", BASE, self.create)
        router.add("GET", BASE, self.registry.listing)
        router.add("GET", f"{BASE}/{{job_id}}", self.get)
        router.add("PATCH", f"{BASE}/{{job_id}}", self.set_state)
        router.add("DELETE", f"{BASE}/{{job_id}}", self.delete)
        router.add("GET", f"{BASE}/{{job_id}}/results", self.results)

    # ------------------------------------------------------------------ job resources

    def create(self, req: Request) -> Response:
        if float(req.params["version"]) < MIN_API_VERSION:
            raise fail(404, "NOT_FOUND", "The requested resource does not exist")
        body = req.json()
        if not isinstance(body, dict):
            raise fail(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise fail(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        line_ending, delimiter = csv_format(body)
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise fail(400, "API_ERROR", "A query string has to be specified")
        parsed = soql.parse(text)  # a malformed query is refused here, as Salesforce does
        if parsed.count or parsed.offset:
            raise fail(400, "API_ERROR", "Bulk API 2.0 query does not support aggregate "
                       "functions such as COUNT() or OFFSET")
        now = from_epoch(self.sb.clock())
        session = self.sb.session
        job = QueryJob(
            id=self.registry.next_id(),
            operation=operation,
            query=text,
            parsed=parsed,
            column_delimiter=delimiter,
            line_ending=line_ending,
            api_version=req.params["version"],
            created_by=session.user_id if session else self.sb.default_user_id,
            created_date=now,
            modstamp=now,
        )
        return self.registry.created(job)

    def _job(self, req: Request) -> QueryJob:
        return self.registry.find(req)

    def get(self, req: Request) -> Response:
        job = self._job(req)
        if job.state == "UploadComplete":
            self._run(job)
        return Response.json(200, job.info())

    def set_state(self, req: Request) -> Response:
        job = self._job(req)
        body = req.json()
        state = body.get("state") if isinstance(body, dict) else None
        if state != "Aborted" or job.state not in ("UploadComplete", "InProgress"):
            raise fail(400, "INVALIDJOBSTATE",
                       f"Job state {job.state} cannot be changed to {state}")
        job.state = "Aborted"
        job.modstamp = from_epoch(self.sb.clock())
        return Response.json(200, job.info(full=False))

    def delete(self, req: Request) -> Response:
        return self.registry.delete(self._job(req), busy=("UploadComplete", "InProgress"))

    def results(self, req: Request) -> Response:
        job = self._job(req)
        if req.params["version"] != job.api_version:
            raise fail(409, "INVALIDJOBSTATE",
                       "Use the API version the job was created with to get its results")
        if job.state != "JobComplete":
            raise fail(400, "INVALIDJOBSTATE", f"Job {job.id} is not complete: {job.state}")
        locator = (req.arg("locator") or "").strip()
        offset = 0
        if locator:
            offset = _decode_locator(locator)
            if offset is None or offset > len(job.rows):
                raise fail(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
        raw_max = req.arg("maxRecords")
        page = DEFAULT_PAGE_RECORDS
        if raw_max:
            if not raw_max.isdigit() or int(raw_max) < 1:
                raise fail(400, "INVALIDPARAMETER", f"Invalid maxRecords: {raw_max}")
            page = int(raw_max)
        chunk = job.rows[offset : offset + page]
        end = offset + len(chunk)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=DELIMITERS[job.column_delimiter],
                            lineterminator=LINE_ENDINGS[job.line_ending],
                            quoting=csv.QUOTE_ALL)
        writer.writerow(job.columns)
        writer.writerows(chunk)
        headers = {
            "Content-Type": "text/csv",
            "Sforce-NumberOfRecords": str(len(chunk)),
            "Sforce-Locator": _encode_locator(end) if end < len(job.rows) else "null",
        }
        return Response(200, buffer.getvalue().encode("utf-8"), headers)

    # ------------------------------------------------------------------ processing

    def _run(self, job: QueryJob) -> None:
        now = dt.datetime.fromtimestamp(self.sb.clock(), dt.UTC)
        evaluator = soql.Evaluator(self.sb.schema, job.parsed, self.sb.store.find, now)
        include_deleted = job.operation == "queryAll"
        records = [
            r for r in self.sb.store.table(evaluator.sobject.name).values()
            if (include_deleted or not r.get("IsDeleted")) and evaluator.matches(r)
        ]
        if job.parsed.order:
            records = evaluator.sort(records)
        if job.parsed.limit is not None:
            records = records[: job.parsed.limit]
        columns: list[str] = []
        rows: list[list[str]] = []
        for record in records:
            flat = _flatten(evaluator.project(record, job.api_version))
            if not columns:
                columns = list(flat)
            rows.append([_cell(flat.get(c)) for c in columns])
        if not columns:  # no rows: the header still names the selected fields
            columns = list(_flatten(evaluator.project({"Id": ""}, job.api_version)))
        job.columns, job.rows = columns, rows
        job.state = "JobComplete"
        job.modstamp = from_epoch(self.sb.clock())


def _flatten(projected: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in projected.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _encode_locator(offset: int) -> str:
    """A stable, opaque locator for the row offset of the next page (base64 of the offset,
    as Salesforce's locators look; clients must not rely on that)."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _decode_locator(locator: str) -> int | None:
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None
