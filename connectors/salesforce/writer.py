"""Turn the write plan into as few Salesforce calls as it takes; one WriteResult per intent.

- Updates (`record_id` set): Collections PATCH by Id, grouped per sObject, 200 a call.
- Creates (`record_id` None, always a Lead): Collections upsert on `HubSpot_Contact_Id__c`, so a
  create retried after a lost answer finds the Lead the first attempt made. At or above
  `bulk_threshold` creates, the creates go through one Bulk API 2.0 upsert job instead.
- Tasks: Collections upsert on `Task.Connector_Key__c`, so a rerun updates rather than adds.

All calls use allOrNone=false: a rejected record comes back as a failed WriteResult carrying
Salesforce's code, message and fields while its batch-mates are written. Per-record
UNABLE_TO_LOCK_ROW is retried by the client for just those records.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.plan import RecordWrite, TaskWrite, WriteError, WriteResult

from .client import BulkJobResult, RecordResult, SalesforceClient
from .constants import (
    BULK_NULL,
    BULK_POLL_SECONDS,
    BULK_THRESHOLD,
    BULK_TIMEOUT_SECONDS,
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

    for sobject, indices in updates.items():
        group = [writes[i] for i in indices]
        if bulk_threshold is not None and len(group) >= bulk_threshold:
            updated = bulk_update(client, sobject, group)
        else:
            records = [{**w.fields, "Id": w.record_id} for w in group]
            outcomes = client.update(sobject, records)
            updated = [_result(w.lead_key, o) for w, o in zip(group, outcomes, strict=True)]
        for i, result in zip(indices, updated, strict=True):
            results[i] = result

    if creates:
        create_writes = [writes[i] for i in creates]
        if bulk_threshold is not None and len(creates) >= bulk_threshold:
            created = bulk_upsert_leads(client, create_writes)
        else:
            records = [_lead_record(w) for w in create_writes]
            outcomes = client.upsert("Lead", LEAD_EXTERNAL_ID_FIELD, records)
            created = [_result(w.lead_key, o) for w, o in zip(create_writes, outcomes, strict=True)]
        for i, result in zip(creates, created, strict=True):
            results[i] = result

    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def write_tasks(
    client: SalesforceClient,
    tasks: Sequence[TaskWrite],
    created_ids: Mapping[str, str],
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
    if records:
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
    """One ingest job; result rows (in no particular order) are matched back by `key_column`.
    A key repeated in one job fails locally (CONNECTOR_DUPLICATE_EXTERNAL_ID)."""
    results: list[WriteResult | None] = [None] * len(writes)
    first: dict[str, int] = {}
    for index, write in enumerate(writes):
        key = key_of(write)
        if key in first:
            results[index] = WriteResult(
                lead_key=write.lead_key,
                success=False,
                errors=(WriteError(DUPLICATE_IN_JOB, "key repeated in one bulk job"),),
            )
        else:
            first[key] = index
    if not first:
        return results  # type: ignore[return-value]

    job = client.bulk_ingest(
        sobject,
        operation,
        _to_csv([writes[i] for i in first.values()], key_column, key_of),
        external_id_field=key_column if operation == "upsert" else None,
        poll_interval=poll_interval,
        timeout=timeout,
    )
    for key, outcome in _bulk_outcomes(job, key_column).items():
        index = first.get(key)
        if index is not None and results[index] is None:
            results[index] = _result(writes[index].lead_key, outcome)
    for index in first.values():
        if results[index] is None:
            results[index] = WriteResult(
                lead_key=writes[index].lead_key,
                success=False,
                errors=(WriteError(NO_BULK_RESULT, f"bulk job {job.job_id} reported no result"),),
            )
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


def _to_csv(
    writes: Sequence[RecordWrite], key_column: str, key_of: Callable[[RecordWrite], str]
) -> str:
    columns = [key_column]
    extra = sorted({name for w in writes for name in w.fields} - {key_column})
    columns.extend(extra)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for w in writes:
        row = [key_of(w)]
        for name in extra:
            row.append(_csv_value(w.fields[name]) if name in w.fields else "")
        writer.writerow(row)
    return out.getvalue()


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
