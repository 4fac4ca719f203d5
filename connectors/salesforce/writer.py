"""Turn the write plan into as few Salesforce calls as it takes; one WriteResult per intent.

- Updates (`record_id` set): Collections PATCH by Id, grouped per sObject, 200 a call.
- Creates (`record_id` None, always a Lead): Collections upsert on `HubSpot_Contact_Id__c`, so a
  create retried after a lost answer finds the Lead the first attempt made.
- The Collections chunks of one call to `write_records` travel together, up to five in one
  Composite call (one API request). A group (updates of one sObject, or the creates) at or
  above `bulk_threshold` goes through a Bulk API 2.0 job instead.
- Tasks: Collections upsert on `Task.Connector_Key__c`, so a rerun updates rather than adds;
  at or above `bulk_threshold` Tasks, one Bulk API 2.0 upsert job on the same key.

All calls use allOrNone=false: a rejected record comes back as a failed WriteResult carrying
Salesforce's code, message and fields while its batch-mates are written. Per-record
UNABLE_TO_LOCK_ROW is retried by the client for just those records.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.plan import RecordWrite, TaskWrite, WriteError, WriteResult

from .client import BulkJobResult, CollectionRequest, RecordResult, SalesforceClient
from .constants import (
    BULK_NULL,
    BULK_POLL_SECONDS,
    BULK_THRESHOLD,
    BULK_TIMEOUT_SECONDS,
    BULK_UPLOAD_MAX_BYTES,
    LEAD_EXTERNAL_ID_FIELD,
    TASK_EXTERNAL_ID_FIELD,
)

NO_WHO_ID = "CONNECTOR_NO_WHO_ID"  # the Task's Lead was not created in this run
DUPLICATE_IN_JOB = "CONNECTOR_DUPLICATE_EXTERNAL_ID"  # same external id twice in one bulk job
NO_BULK_RESULT = "CONNECTOR_NO_BULK_RESULT"  # the job reported nothing for this row
UNPROCESSED = "CONNECTOR_UNPROCESSED"  # Bulk API left the row unprocessed


def write_records(
    client: SalesforceClient,
    writes: Sequence[RecordWrite],
    *,
    bulk_threshold: int | None = BULK_THRESHOLD,
) -> list[WriteResult]:
    """Apply RecordWrites; results one per write, in order."""
    _validate(writes)
    results: list[WriteResult | None] = [None] * len(writes)

    updates: dict[str, list[int]] = {}
    creates: list[int] = []
    for index, write in enumerate(writes):
        if write.is_create:
            creates.append(index)
        else:
            updates.setdefault(write.sobject, []).append(index)

    # Small groups go through Collections, packed together into Composite calls (five chunks
    # of 200 a call); groups at or above the threshold go through Bulk API 2.0 jobs.
    small: list[tuple[list[int], CollectionRequest]] = []
    for sobject, indices in updates.items():
        group = [writes[i] for i in indices]
        if bulk_threshold is not None and len(group) >= bulk_threshold:
            for i, result in zip(indices, bulk_update(client, sobject, group), strict=True):
                results[i] = result
        else:
            records = [{**w.fields, "Id": w.record_id} for w in group]
            small.append((indices, CollectionRequest(sobject, records)))
    if creates:
        create_writes = [writes[i] for i in creates]
        if bulk_threshold is not None and len(creates) >= bulk_threshold:
            for i, result in zip(creates, bulk_upsert_leads(client, create_writes), strict=True):
                results[i] = result
        else:
            records = [_lead_record(w) for w in create_writes]
            small.append((creates, CollectionRequest("Lead", records, LEAD_EXTERNAL_ID_FIELD)))
    if small:
        answers = client.write_many([request for _, request in small])
        for (indices, _), outcomes in zip(small, answers, strict=True):
            for i, outcome in zip(indices, outcomes, strict=True):
                results[i] = _result(writes[i].lead_key, outcome)

    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def write_tasks(
    client: SalesforceClient,
    tasks: Sequence[TaskWrite],
    created_ids: Mapping[str, str],
    *,
    bulk_threshold: int | None = None,
) -> list[WriteResult]:
    """Upsert Tasks on Connector_Key__c. A task without `who_id` takes the Id of the Lead
    created for its `lead_key` in this run (`created_ids`); when there is none, it fails
    locally with CONNECTOR_NO_WHO_ID and no call is made for it."""
    results: list[WriteResult | None] = [None] * len(tasks)
    send: list[int] = []
    records: list[dict[str, Any]] = []
    for index, task in enumerate(tasks):
        if not task.connector_key:
            raise ValueError(f"task for {task.lead_key!r} has no connector_key")
        who_id = task.who_id or created_ids.get(task.lead_key)
        if not who_id:
            results[index] = WriteResult(
                lead_key=task.lead_key,
                success=False,
                errors=(WriteError(NO_WHO_ID, "no Lead or Contact Id for this task's lead"),),
            )
            continue
        send.append(index)
        records.append({**task.fields, "WhoId": who_id, TASK_EXTERNAL_ID_FIELD: task.connector_key})
    if records and bulk_threshold is not None and len(records) >= bulk_threshold:
        rows = [
            BulkRow(
                tasks[index].lead_key,
                record[TASK_EXTERNAL_ID_FIELD],
                {k: v for k, v in record.items() if k != TASK_EXTERNAL_ID_FIELD},
            )
            for index, record in zip(send, records, strict=True)
        ]
        for index, result in zip(
            send, bulk_rows(client, "Task", "upsert", rows, TASK_EXTERNAL_ID_FIELD), strict=True
        ):
            results[index] = result
    elif records:
        outcomes = client.upsert("Task", TASK_EXTERNAL_ID_FIELD, records)
        for index, outcome in zip(send, outcomes, strict=True):
            results[index] = _result(tasks[index].lead_key, outcome)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def created_lead_ids(
    writes: Sequence[RecordWrite], results: Sequence[WriteResult]
) -> dict[str, str]:
    """lead_key -> Id of each Lead the writes created (or found by external id)."""
    return {
        w.lead_key: r.record_id
        for w, r in zip(writes, results, strict=True)
        if w.is_create and r.success and r.record_id
    }


def apply(
    client: SalesforceClient,
    records: Sequence[RecordWrite],
    tasks: Sequence[TaskWrite],
    *,
    bulk_threshold: int | None = BULK_THRESHOLD,
) -> tuple[list[WriteResult], list[WriteResult]]:
    """Records first, then the Tasks (which may point at Leads created just before)."""
    record_results = write_records(client, records, bulk_threshold=bulk_threshold)
    task_results = write_tasks(client, tasks, created_lead_ids(records, record_results))
    return record_results, task_results


def bulk_upsert_leads(
    client: SalesforceClient,
    writes: Sequence[RecordWrite],
    *,
    poll_interval: float = BULK_POLL_SECONDS,
    timeout: float = BULK_TIMEOUT_SECONDS,
) -> list[WriteResult]:
    """Upsert Lead creates through one Bulk API 2.0 job on HubSpot_Contact_Id__c.

    Result rows come back in no particular order; they are matched to writes by external id.
    A second write with the same external id fails locally (CONNECTOR_DUPLICATE_EXTERNAL_ID).
    """
    _validate(writes)
    if any(not w.is_create for w in writes):
        raise ValueError("bulk_upsert_leads takes Lead creates only")
    return _bulk_job(
        client,
        "Lead",
        "upsert",
        writes,
        LEAD_EXTERNAL_ID_FIELD,
        key_of=lambda w: w.external_id or "",
        poll_interval=poll_interval,
        timeout=timeout,
    )


def bulk_update(
    client: SalesforceClient,
    sobject: str,
    writes: Sequence[RecordWrite],
    *,
    poll_interval: float = BULK_POLL_SECONDS,
    timeout: float = BULK_TIMEOUT_SECONDS,
) -> list[WriteResult]:
    """Update existing records through one Bulk API 2.0 job, matched back by Id."""
    if any(w.is_create or w.sobject != sobject for w in writes):
        raise ValueError(f"bulk_update takes updates of {sobject} only")
    return _bulk_job(
        client,
        sobject,
        "update",
        writes,
        "Id",
        key_of=lambda w: w.record_id or "",
        poll_interval=poll_interval,
        timeout=timeout,
    )


@dataclass(frozen=True, slots=True)
class BulkRow:
    """One record of a bulk job: the lead it belongs to, its key and its field values."""

    lead_key: str
    key: str  # the value of the job's key column (Id or the external id)
    fields: Mapping[str, Any]


def _bulk_job(
    client: SalesforceClient,
    sobject: str,
    operation: str,
    writes: Sequence[RecordWrite],
    key_column: str,
    *,
    key_of: Callable[[RecordWrite], str],
    poll_interval: float,
    timeout: float,
) -> list[WriteResult]:
    rows = [BulkRow(w.lead_key, key_of(w), w.fields) for w in writes]
    return bulk_rows(
        client, sobject, operation, rows, key_column, poll_interval=poll_interval, timeout=timeout
    )


def bulk_rows(
    client: SalesforceClient,
    sobject: str,
    operation: str,
    rows: Sequence[BulkRow],
    key_column: str,
    *,
    poll_interval: float = BULK_POLL_SECONDS,
    timeout: float = BULK_TIMEOUT_SECONDS,
    max_bytes: int = BULK_UPLOAD_MAX_BYTES,
) -> list[WriteResult]:
    """Ingest jobs of at most `max_bytes` of CSV each (Salesforce refuses an upload over
    150 MB); result rows (in no particular order) are matched back by `key_column`. A key
    repeated in one call fails locally (CONNECTOR_DUPLICATE_EXTERNAL_ID). Results one per row.

    An update names its record by Id, so a row of a finished job that is neither in
    failedResults nor unprocessed succeeded: successfulResults are read only for inserts
    and upserts (whose new Ids the caller needs)."""
    results: list[WriteResult | None] = [None] * len(rows)
    first: dict[str, int] = {}
    for index, row in enumerate(rows):
        if row.key in first:
            results[index] = WriteResult(
                lead_key=row.lead_key,
                success=False,
                errors=(WriteError(DUPLICATE_IN_JOB, "key repeated in one bulk job"),),
            )
        else:
            first[row.key] = index
    need_successes = operation != "update"
    unique = [rows[i] for i in first.values()]
    for count, data in _csv_parts(unique, key_column, max_bytes):
        job = client.bulk_ingest(
            sobject,
            operation,
            data,
            external_id_field=key_column if operation == "upsert" else None,
            poll_interval=poll_interval,
            timeout=timeout,
            rows=count,
            need_successes=need_successes,
        )
        for key, outcome in _bulk_outcomes(job, key_column).items():
            index = first.get(key)
            if index is not None and results[index] is None:
                results[index] = _result(rows[index].lead_key, outcome)
    for key, index in first.items():
        if results[index] is not None:
            continue
        if need_successes:
            error = WriteError(NO_BULK_RESULT, "the bulk job reported no result for this row")
            results[index] = WriteResult(rows[index].lead_key, False, errors=(error,))
        else:
            results[index] = WriteResult(rows[index].lead_key, True, record_id=key)
    return results  # type: ignore[return-value]


# ---------------------------------------------------------------------- helpers


def _validate(writes: Sequence[RecordWrite]) -> None:
    for write in writes:
        if write.is_create:
            if write.sobject != "Lead":
                raise ValueError(f"only Leads are created; got a {write.sobject} create")
            if not write.external_id:
                raise ValueError(f"Lead create for {write.lead_key!r} has no external_id")


def _lead_record(write: RecordWrite) -> dict[str, Any]:
    return {**write.fields, LEAD_EXTERNAL_ID_FIELD: write.external_id}


def _result(lead_key: str, outcome: RecordResult) -> WriteResult:
    return WriteResult(
        lead_key=lead_key,
        success=outcome.success,
        record_id=outcome.id,
        created=outcome.created,
        errors=outcome.errors,
    )


def _csv_parts(
    rows: Sequence[BulkRow], key_column: str, max_bytes: int
) -> Iterator[tuple[int, str]]:
    """(row count, CSV text) parts of at most `max_bytes` UTF-8 bytes, each with the header."""
    extra = sorted({name for r in rows for name in r.fields} - {key_column})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([key_column, *extra])
    header = out.getvalue()
    lines: list[str] = []
    size = len(header.encode("utf-8"))
    for r in rows:
        out.seek(0)
        out.truncate()
        writer.writerow([r.key, *(_csv_value(r.fields[n]) if n in r.fields else "" for n in extra)])
        line = out.getvalue()
        cost = len(line.encode("utf-8"))
        if lines and size + cost > max_bytes:
            yield len(lines), header + "".join(lines)
            lines, size = [], len(header.encode("utf-8"))
        lines.append(line)
        size += cost
    if lines:
        yield len(lines), header + "".join(lines)


def _csv_value(value: Any) -> str:
    """Bulk API CSV: blank leaves a field as is, #N/A sets it to null."""
    if value is None:
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _bulk_outcomes(job: BulkJobResult, key_column: str) -> dict[str, RecordResult]:
    outcomes: dict[str, RecordResult] = {}
    for row in job.successful:
        outcomes[row.get(key_column, "")] = RecordResult(
            success=True,
            id=row.get("sf__Id") or None,
            created=(row.get("sf__Created") or "").lower() == "true",
        )
    for row in job.failed:
        outcomes[row.get(key_column, "")] = RecordResult(
            success=False,
            id=row.get("sf__Id") or None,
            errors=(_bulk_error(row.get("sf__Error") or ""),),
        )
    for row in job.unprocessed:
        outcomes.setdefault(
            row.get(key_column, ""),
            RecordResult(
                success=False, errors=(WriteError(UNPROCESSED, "Bulk API left it unprocessed"),)
            ),
        )
    return outcomes


def _bulk_error(text: str) -> WriteError:
    """`sf__Error` reads `CODE:message` and may end with `:Field1,Field2 --`."""
    code, _, rest = text.partition(":")
    if not rest or not code.replace("_", "").isalnum() or code.upper() != code:
        return WriteError("UNKNOWN", text)
    message, fields = rest, ()
    head, sep, tail = rest.rpartition(":")
    if sep and tail.strip().endswith("--"):
        message = head
        fields = tuple(f.strip() for f in tail.strip()[:-2].split(",") if f.strip())
    return WriteError(code, message.strip(), fields)
