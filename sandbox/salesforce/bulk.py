"""Bulk API 2.0 ingest jobs: create, upload CSV, close, poll, fetch results.

A job is processed on the first poll after it is closed (`UploadComplete`), so a client sees
the real life cycle Open -> UploadComplete -> JobComplete (or Failed). Records are processed
independently (no all-or-none): a row that fails lands in `failedResults` with
`sf__Error` = `CODE:message:fields --`; the rest land in `successfulResults`. An empty cell
leaves a field as it is; `#N/A` sets it to null, as in Salesforce.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.httpbase import Request, Response, Router
from sandbox.salesforce import ids
from sandbox.salesforce.dml import MultipleMatches
from sandbox.salesforce.errors import RecordFailed, dml_error, fail
from sandbox.salesforce.jobs import DELIMITERS, JobRegistry, csv_format
from sandbox.salesforce.schema import Field, SObject
from sandbox.salesforce.values import ValueMismatch, coerce_text, from_epoch

if TYPE_CHECKING:
    from sandbox.salesforce.server import SalesforceSandbox

BASE = "/services/data/v{version}/jobs/ingest"
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
MAX_UPLOAD_BYTES = 150 * 1024 * 1024


@dataclass
class Job:
    id: str
    seq: int
    sobject: SObject
    operation: str
    external_id_field: str | None
    line_ending: str
    column_delimiter: str
    api_version: str
    created_by: str
    created_date: str
    modstamp: str
    state: str = "Open"
    data: str | None = None
    error_message: str | None = None
    processed: int = 0
    failed: int = 0
    header: list[str] = field(default_factory=list)
    successes: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)

    def info(self, full: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject.name,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.modstamp,
            "state": self.state,
        }
        if self.external_id_field:
            out["externalIdFieldName"] = self.external_id_field
        out.update({
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "jobType": "V2Ingest",
            "contentUrl": f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches",
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        })
        if full:
            out.update({
                "numberRecordsProcessed": self.processed,
                "numberRecordsFailed": self.failed,
                "retries": 0,
                "totalProcessingTime": 0,
                "apiActiveProcessingTime": 0,
                "apexProcessingTime": 0,
            })
            if self.error_message:
                out["errorMessage"] = self.error_message
        return out


class BulkIngest:
    def __init__(self, sandbox: SalesforceSandbox) -> None:
        self.sb = sandbox
        self.registry: JobRegistry[Job] = JobRegistry()
        self.batches_today = 0

    def reset(self) -> None:
        self.registry.reset()
        self.batches_today = 0

    def register(self, router: Router) -> None:
        router.add("POST", BASE, self.create)
        router.add("GET", BASE, self.registry.listing)
        router.add("GET", f"{BASE}/{{job_id}}", self.get)
        router.add("PATCH", f"{BASE}/{{job_id}}", self.set_state)
        router.add("DELETE", f"{BASE}/{{job_id}}", self.delete)
        router.add("PUT", f"{BASE}/{{job_id}}/batches", self.upload)
        router.add("GET", f"{BASE}/{{job_id}}/successfulResults", self.successful)
        router.add("GET", f"{BASE}/{{job_id}}/failedResults", self.failed_results)
        router.add("GET", f"{BASE}/{{job_id}}/unprocessedrecords", self.unprocessed)
        router.add("GET", f"{BASE}/{{job_id}}/unprocessedRecords", self.unprocessed)

    # ------------------------------------------------------------------ job resources

    def create(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise fail(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        sobject = self.sb.schema.get(str(body.get("object", "")))
        if sobject is None:
            raise fail(400, "INVALIDJOB", f"InvalidJob : Invalid object: {body.get('object')}")
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise fail(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        line_ending, delimiter = csv_format(body)
        ext_name = body.get("externalIdFieldName")
        ext_field: Field | None = None
        if operation == "upsert":
            if not ext_name:
                raise fail(400, "INVALIDJOB", f"InvalidJob : External ID was blank for "
                           f"{sobject.name}. An External ID must be specified for upsert.")
            ext_field = sobject.field(str(ext_name))
            if ext_field is None or not (ext_field.external_id or ext_field.name == "Id"):
                raise fail(400, "INVALIDJOB", f"InvalidJob : Field name provided, {ext_name} "
                           f"is not an External ID or indexed field for {sobject.name}")
        job_id = self.registry.next_id()
        now = from_epoch(self.sb.clock())
        session = self.sb.session
        job = Job(
            id=job_id,
            seq=self.registry.seq,
            sobject=sobject,
            operation=operation,
            external_id_field=ext_field.name if ext_field else None,
            line_ending=line_ending,
            column_delimiter=delimiter,
            api_version=req.params["version"],
            created_by=session.user_id if session else self.sb.default_user_id,
            created_date=now,
            modstamp=now,
        )
        return self.registry.created(job)

    def _job(self, req: Request) -> Job:
        return self.registry.find(req)

    def get(self, req: Request) -> Response:
        job = self._job(req)
        if job.state == "UploadComplete":
            self._process(job)
        return Response.json(200, job.info())

    def set_state(self, req: Request) -> Response:
        job = self._job(req)
        body = req.json()
        state = body.get("state") if isinstance(body, dict) else None
        if state == "UploadComplete" and job.state == "Open":
            if job.data is None:
                job.state = "Failed"
                job.error_message = "InvalidBatch : No data was uploaded for this job"
            else:
                job.state = "UploadComplete"
        elif state == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
            job.state = "Aborted"
            job.header, job.unprocessed = self._rows(job)
        else:
            raise fail(400, "INVALIDJOBSTATE",
                       f"Job state {job.state} cannot be changed to {state}")
        job.modstamp = from_epoch(self.sb.clock())
        return Response.json(200, job.info(full=False))

    def delete(self, req: Request) -> Response:
        return self.registry.delete(self._job(req), busy=("Open", "InProgress"))

    def upload(self, req: Request) -> Response:
        job = self._job(req)
        if job.state != "Open":
            raise fail(409, "INVALIDJOBSTATE", f"Job state {job.state} does not accept data")
        if job.data is not None:
            raise fail(409, "INVALIDJOBSTATE", "Data can be uploaded only once for a job")
        if len(req.body) > MAX_UPLOAD_BYTES:
            raise fail(413, "EXCEEDED_QUOTA", "The uploaded data exceeds 150 MB")
        job.data = req.body.decode("utf-8-sig", "replace")
        self.batches_today += 1
        return Response.empty(201)

    # ------------------------------------------------------------------ results

    def successful(self, req: Request) -> Response:
        job = self._job(req)
        return _csv(["sf__Id", "sf__Created", *job.header], job.successes, job.header)

    def failed_results(self, req: Request) -> Response:
        job = self._job(req)
        return _csv(["sf__Id", "sf__Error", *job.header], job.failures, job.header)

    def unprocessed(self, req: Request) -> Response:
        job = self._job(req)
        if job.state not in ("JobComplete", "Failed", "Aborted"):
            return _csv(job.header, [], job.header)
        return _csv(job.header, job.unprocessed, job.header)

    # ------------------------------------------------------------------ processing

    def _rows(self, job: Job) -> tuple[list[str], list[list[str]]]:
        if not job.data:
            return [], []
        reader = csv.reader(io.StringIO(job.data, newline=""),
                            delimiter=DELIMITERS[job.column_delimiter])
        rows = [row for row in reader if row]
        if not rows:
            return [], []
        return rows[0], rows[1:]

    def _process(self, job: Job) -> None:
        header, rows = self._rows(job)
        job.header = header
        job.modstamp = from_epoch(self.sb.clock())
        if not header:
            job.state, job.error_message = "Failed", "InvalidBatch : No header row in the data"
            return
        sobject = job.sobject
        columns: list[Field] = []
        for name in header:
            found = sobject.field(name.strip())
            if found is None:
                job.state = "Failed"
                job.error_message = f"InvalidBatch : Field name not found : {name}"
                job.unprocessed = rows
                return
            columns.append(found)
        names = [f.name for f in columns]
        if job.operation in ("update", "delete", "hardDelete") and "Id" not in names:
            job.state = "Failed"
            job.error_message = "InvalidBatch : Field name not found : Id"
            job.unprocessed = rows
            return
        if job.operation == "upsert" and job.external_id_field not in names:
            job.state = "Failed"
            job.error_message = f"InvalidBatch : Field name not found : {job.external_id_field}"
            job.unprocessed = rows
            return
        for number, row in enumerate(rows):
            key = job.seq * 1_000_000 + number + 1
            try:
                record_id, created = self._one(job, columns, row, key)
                job.successes.append([record_id, "true" if created else "false", *row])
            except RecordFailed as exc:
                known = _row_id(columns, row)
                job.failures.append([known, " ".join(e.bulk() for e in exc.errors), *row])
                job.failed += 1
            job.processed += 1
        job.state = "JobComplete"

    def _one(self, job: Job, columns: list[Field], row: list[str],
             key: int) -> tuple[str, bool]:
        sobject = job.sobject
        if len(row) != len(columns):
            raise RecordFailed([dml_error(
                "INVALID_FIELD", f"Row has {len(row)} values but the header has {len(columns)}"
            )])
        values: dict[str, Any] = {}
        raw_id = ""
        for field_, cell in zip(columns, row, strict=True):
            if field_.name == "Id":
                raw_id = cell.strip()
                continue
            if cell == "":
                continue
            if cell == "#N/A":
                values[field_.name] = None
                continue
            try:
                values[field_.name] = coerce_text(field_, cell)
            except ValueMismatch as exc:
                raise RecordFailed([dml_error(
                    "INVALID_TYPE_ON_FIELD_IN_RECORD", str(exc), field_.name)]) from None
        opts = self.sb.write_options(key, rest=False)
        dml = self.sb.dml
        if job.operation == "insert":
            if raw_id:
                values["Id"] = raw_id
            return dml.create(sobject, values, opts), True
        if job.operation == "upsert" and job.external_id_field != "Id":
            ext = sobject.fields[job.external_id_field or ""]
            ext_value = values.pop(ext.name, None)
            if ext_value in (None, ""):
                raise RecordFailed([dml_error("MISSING_ARGUMENT",
                                              f"{ext.name} not specified", ext.name)])
            try:
                return dml.upsert(sobject, ext, ext_value, values, opts)
            except MultipleMatches as exc:
                raise RecordFailed([dml_error(
                    "DUPLICATE_EXTERNAL_ID",
                    f"{ext.label}: more than one record found for external id field: "
                    f"{exc.ids}", ext.name)]) from None
        record_id = ids.normalize(raw_id) if raw_id else None
        if job.operation == "upsert" and not raw_id:
            return dml.create(sobject, values, opts), True
        if record_id is None or ids.key_prefix(record_id) != sobject.key_prefix:
            raise RecordFailed([dml_error(
                "MALFORMED_ID", f"{sobject.fields['Id'].label}: id value of incorrect type: "
                f"{raw_id}", "Id")])
        if job.operation in ("delete", "hardDelete"):
            dml.delete(sobject, record_id, opts)
            return record_id, False
        dml.update(sobject, record_id, values, opts)
        return record_id, False


def _row_id(columns: list[Field], row: list[str]) -> str:
    for field_, cell in zip(columns, row, strict=False):
        if field_.name == "Id":
            return ids.normalize(cell.strip()) or ""
    return ""


def _csv(header: list[str], rows: list[list[str]], original: list[str]) -> Response:
    if not original:
        return Response(200, b"", {"Content-Type": "text/csv"})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(200, buffer.getvalue().encode("utf-8"), {"Content-Type": "text/csv"})
