"""A typed adapter over simple-salesforce: the only module that talks to the Salesforce REST API.

Every call goes through `SalesforceClient._call`, which
- refuses to start when the configured share of the org's daily API allocation is used
  (`Sforce-Limit-Info`, read from every response by a session hook);
- counts the call (`total_calls`, `calls_by_endpoint`);
- maps failures through the one table in `errors.py`;
- retries transient failures with the one retry policy (`core.retry.call_with_retry`);
- on 401 INVALID_SESSION_ID logs in again once and replays; a second 401 in a row is fatal.

No `sf.Lead` attribute magic leaves this module: callers get dicts and `RecordResult`s.
"""

from __future__ import annotations

import csv
import io
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote_plus, urlencode

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.util import call_salesforce

from core.config import Settings
from core.errors import (
    BudgetExhaustedError,
    FatalAPIError,
    RecordError,
    RetriableAPIError,
)
from core.plan import RETRIABLE_RECORD_ERRORS, WriteError
from core.retry import RetryPolicy, call_with_retry

from .auth import SalesforceSession, authenticate, is_certificate_error, make_http_session
from .constants import (
    BULK_POLL_MAX_SECONDS,
    BULK_POLL_SECONDS,
    BULK_QUERY_PAGE_RECORDS,
    BULK_TIMEOUT_SECONDS,
    COLLECTION_BATCH_SIZE,
    COLLECTIONS_PATH,
    COMPOSITE_HEAVY_LIMIT,
    COMPOSITE_PATH,
    DUPLICATE_RULE_HEADER,
    INGEST_PATH,
    LIMIT_INFO_HEADER,
    LIMITS_PATH,
    QUERY_JOBS_PATH,
)
from .errors import Outcome, SessionExpiredError, classify, to_error

T = TypeVar("T")
log = logging.getLogger("connector.salesforce")

_USAGE = re.compile(r"(?<![-\w])api-usage=(\d+)/(\d+)")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_BULK_FINAL = frozenset({"JobComplete", "Failed", "Aborted"})


@dataclass(frozen=True, slots=True)
class RecordResult:
    """One record's outcome in an sObject Collections call."""

    success: bool
    id: str | None = None
    created: bool = False
    errors: tuple[WriteError, ...] = ()

    @property
    def retriable(self) -> bool:
        return not self.success and any(e.code in RETRIABLE_RECORD_ERRORS for e in self.errors)


@dataclass(frozen=True)
class BulkJobResult:
    """A finished Bulk API 2.0 ingest job and its per-record result rows (CSV rows as dicts)."""

    job_id: str
    state: str
    records_processed: int
    records_failed: int
    successful: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    unprocessed: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class CollectionRequest:
    """One sObject Collections write: `PATCH composite/sobjects` (update by Id) or
    `PATCH composite/sobjects/{sobject}/{ext_field}` (upsert). Only idempotent writes: a
    request resent after a lost answer must not write twice."""

    sobject: str
    records: Sequence[Mapping[str, Any]]
    ext_field: str | None = None  # None: update by Id

    @property
    def path(self) -> str:
        if self.ext_field is None:
            return COLLECTIONS_PATH
        return f"{COLLECTIONS_PATH}/{self.sobject}/{self.ext_field}"


def check_name(name: str, what: str = "sObject or field name") -> str:
    """API names are interpolated into paths and SOQL: allow identifiers only."""
    if not _NAME.match(name):
        raise ValueError(f"not a valid Salesforce {what}: {name!r}")
    return name


_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def check_record_id(record_id: str) -> str:
    """Record ids are interpolated into paths: 15 or 18 letters and digits only."""
    if not _RECORD_ID.match(record_id):
        raise ValueError(f"not a valid Salesforce record id: {record_id!r}")
    return record_id


class SalesforceClient:
    """The Salesforce REST API as this connector uses it.

    `http` defaults to a session built from settings (TLS verified against `ca_bundle` when
    set). The client adds a response hook to the session it uses, to read `Sforce-Limit-Info`
    from every response, including error responses.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        retry_policy: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen dataclass
        http: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._cfg = settings.salesforce
        self.retry_policy = retry_policy
        self._sleep = sleep
        self._rng = random.Random()
        self._http = http if http is not None else make_http_session(settings)
        self._http.hooks.setdefault("response", []).append(self._observe)
        self._session: SalesforceSession | None = None
        self._sf: Salesforce | None = None
        self._usage: tuple[int, int] | None = None
        self.total_calls = 0
        self.calls_by_endpoint: Counter[str] = Counter()
        self.login_count = 0
        self.reauth_count = 0

    # ------------------------------------------------------------------ state

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """(used, max) of the org's daily API requests, from the last response that said."""
        return self._usage

    @property
    def instance_url(self) -> str:
        self._salesforce()
        assert self._session is not None
        return self._session.instance_url

    @property
    def api_version(self) -> str:
        return self._cfg.api_version

    # ------------------------------------------------------------------ reads

    def query(self, soql: str) -> Iterator[dict[str, Any]]:
        """All records of a SOQL query, following `nextRecordsUrl` (one call per batch).

        Records come without their `attributes` member. The query travels in the GET URL:
        keep `query_url_length(soql)` under 16,384 bytes.
        """
        timeout = self._cfg.timeout_seconds
        yield from self._rest_of_query(
            self._call("GET query", lambda sf: sf.query(soql, timeout=timeout))
        )

    def query_url_length(self, soql: str) -> int:
        """Bytes of the URL `query(soql)` will request (requests encodes `q` as urlencode does)."""
        return len(self._salesforce().base_url + "query/?" + urlencode({"q": soql}))

    def query_many(self, soqls: Sequence[str]) -> list[list[dict[str, Any]]]:
        """The records of several SOQL queries, answers in order, with up to five queries per
        Composite call (Composite allows at most 5 query or Collections subrequests; the whole
        call counts as one API request). A lone query goes as a plain GET, which costs the
        same. Batches past a subrequest's first are read with queryMore."""
        answers: list[list[dict[str, Any]]] = [[] for _ in soqls]
        for start in range(0, len(soqls), COMPOSITE_HEAVY_LIMIT):
            group = list(range(start, min(len(soqls), start + COMPOSITE_HEAVY_LIMIT)))
            if len(group) == 1:
                answers[group[0]] = list(self.query(soqls[group[0]]))
                continue
            body = {
                "allOrNone": False,
                "compositeRequest": [
                    {
                        "method": "GET",
                        "url": f"/services/data/v{self.api_version}/query/?q="
                        + quote_plus(soqls[i]),
                        "referenceId": f"q{n}",
                    }
                    for n, i in enumerate(group)
                ],
            }
            pages = self._composite("POST composite (query)", body)
            for i, (_status, page) in zip(group, pages, strict=True):
                answers[i] = list(self._rest_of_query(page))
        return answers

    def _rest_of_query(self, page: Any) -> Iterator[dict[str, Any]]:
        """The records of a query's first page and of every page after it (queryMore)."""
        timeout = self._cfg.timeout_seconds
        while True:
            if not isinstance(page, dict):
                raise FatalAPIError("Salesforce query answered without a records list")
            for record in page.get("records", []):
                yield {k: v for k, v in record.items() if k != "attributes"}
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self._call(
                "GET query_more",
                lambda sf, url=next_url: sf.query_more(
                    url, identifier_is_url=True, timeout=timeout
                ),
            )

    def _composite(self, endpoint: str, body: dict[str, Any]) -> list[tuple[int, Any]]:
        """One Composite call; (status, body) per subrequest in order. A subrequest that failed
        for a transient, session or budget reason fails the whole call the way a plain call
        would (and is retried by the one policy: every subrequest this client sends is a read
        or an idempotent write). Record-level refusals are returned for the caller."""
        timeout = self._cfg.timeout_seconds
        count = len(body["compositeRequest"])

        def send(sf: Salesforce) -> list[tuple[int, Any]]:
            answer = sf.restful(COMPOSITE_PATH, method="POST", json=body, timeout=timeout)
            subs = (answer or {}).get("compositeResponse") if isinstance(answer, dict) else None
            if not isinstance(subs, list) or len(subs) != count:
                raise FatalAPIError(f"Composite answered without {count} subresponses")
            out: list[tuple[int, Any]] = []
            for sub in subs:
                status = int(sub.get("httpStatusCode") or 500)
                payload = sub.get("body")
                if status >= 400:
                    code, message = _error_details(payload)
                    if classify(status, code, message) is not Outcome.RECORD:
                        raise to_error(status, code, self._scrub(message), url=COMPOSITE_PATH)
                out.append((status, payload))
            return out

        return self._call(endpoint, send)

    def write_many(self, requests: Sequence[CollectionRequest]) -> list[list[RecordResult]]:
        """Several Collections writes with as few calls as Composite allows: the requests are
        cut into chunks of 200 records and up to five chunks travel in one Composite call.
        Results per request, in record order. Records that fail with a retriable per-record
        error (UNABLE_TO_LOCK_ROW) are sent again, alone, with the policy's backoff."""
        for request in requests:
            check_name(request.sobject)
            if request.ext_field is None:
                if any(not r.get("Id") for r in request.records):
                    raise ValueError("every record to update needs an Id")
            else:
                check_name(request.ext_field, "field name")
                if any(r.get(request.ext_field) in (None, "") for r in request.records):
                    raise ValueError(f"every record to upsert needs {request.ext_field}")
        results: list[list[RecordResult | None]] = [[None] * len(r.records) for r in requests]
        pending: list[tuple[int, list[int]]] = []
        for n, request in enumerate(requests):
            for start in range(0, len(request.records), COLLECTION_BATCH_SIZE):
                stop = min(len(request.records), start + COLLECTION_BATCH_SIZE)
                pending.append((n, list(range(start, stop))))
        attempt = 1
        while pending:
            retry: dict[int, list[int]] = {}
            for start in range(0, len(pending), COMPOSITE_HEAVY_LIMIT):
                group = pending[start : start + COMPOSITE_HEAVY_LIMIT]
                answers = self._send_chunks(requests, group)
                for (n, indices), parsed in zip(group, answers, strict=True):
                    for index, result in zip(indices, parsed, strict=True):
                        results[n][index] = result
                        if result.retriable:
                            retry.setdefault(n, []).append(index)
            if not retry or attempt >= self.retry_policy.max_attempts:
                break
            delay = self.retry_policy.backoff(attempt, None, self._rng)
            log.info(
                "records locked, retrying them",
                extra={"records": sum(map(len, retry.values())), "attempt": attempt},
            )
            self._sleep(delay)
            attempt += 1
            pending = [
                (n, indices[i : i + COLLECTION_BATCH_SIZE])
                for n, indices in retry.items()
                for i in range(0, len(indices), COLLECTION_BATCH_SIZE)
            ]
        assert all(r is not None for rs in results for r in rs)
        return results  # type: ignore[return-value]

    def _send_chunks(
        self, requests: Sequence[CollectionRequest], group: list[tuple[int, list[int]]]
    ) -> list[list[RecordResult]]:
        def body(n: int, indices: list[int]) -> dict[str, Any]:
            request = requests[n]
            return {
                "allOrNone": False,
                "records": [
                    {**request.records[i], "attributes": {"type": request.sobject}} for i in indices
                ],
            }

        if len(group) == 1:
            (n, indices), timeout = group[0], self._cfg.timeout_seconds
            path, payload = requests[n].path, body(n, indices)
            try:
                answer = self._call(
                    f"PATCH {path}",
                    lambda sf: sf.restful(path, method="PATCH", json=payload, timeout=timeout),
                )
                return [self._parse_collection(answer, len(indices))]
            except RecordError as exc:
                failed = RecordResult(
                    success=False, errors=(self._write_error(exc.error_code, exc.message),)
                )
                return [[failed] * len(indices)]
        composite = {
            "allOrNone": False,
            "compositeRequest": [
                {
                    "method": "PATCH",
                    "url": f"/services/data/v{self.api_version}/{requests[n].path}",
                    "referenceId": f"w{k}",
                    "body": body(n, indices),
                    **({"httpHeaders": self._write_headers()} if self._write_headers() else {}),
                }
                for k, (n, indices) in enumerate(group)
            ],
        }
        out: list[list[RecordResult]] = []
        for (_n, indices), (status, payload) in zip(
            group, self._composite("POST composite (collections)", composite), strict=True
        ):
            if status >= 400:  # refused as a whole for a record-level reason
                code, message = _error_details(payload)
                first = payload[0] if isinstance(payload, list) and payload else None
                failed = RecordResult(
                    success=False, errors=(self._write_error(code, message, detail=first),)
                )
                out.append([failed] * len(indices))
            else:
                out.append(self._parse_collection(payload, len(indices)))
        return out

    def describe(self, sobject: str) -> dict[str, Any]:
        check_name(sobject)
        timeout = self._cfg.timeout_seconds
        return self._call(
            f"GET sobjects/{sobject}/describe",
            lambda sf: sf.restful(f"sobjects/{sobject}/describe", timeout=timeout),
        )

    def limits(self) -> dict[str, Any]:
        timeout = self._cfg.timeout_seconds
        payload = self._call("GET limits", lambda sf: sf.restful(LIMITS_PATH, timeout=timeout))
        daily = (payload or {}).get("DailyApiRequests") or {}
        if isinstance(daily.get("Max"), int) and isinstance(daily.get("Remaining"), int):
            self._usage = (daily["Max"] - daily["Remaining"], daily["Max"])
        return payload or {}

    # ------------------------------------------------------------------ writes (Collections)

    def update(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        """PATCH composite/sobjects: records carry `Id`; 200 a call; results in order."""
        check_name(sobject)
        for record in records:
            if not record.get("Id"):
                raise ValueError("every record to update needs an Id")
        return self._collection("PATCH", COLLECTIONS_PATH, sobject, records)

    def upsert(
        self, sobject: str, ext_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        """PATCH composite/sobjects/{sobject}/{ext_field}: create or update by external id."""
        check_name(sobject)
        check_name(ext_field, "field name")
        for record in records:
            if record.get(ext_field) in (None, ""):
                raise ValueError(f"every record to upsert needs a value for {ext_field}")
        path = f"{COLLECTIONS_PATH}/{sobject}/{ext_field}"
        return self._collection("PATCH", path, sobject, records)

    def create(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        """POST composite/sobjects. Not idempotent: a transient failure retried after the server
        acted can create twice. The writer creates through `upsert` instead."""
        check_name(sobject)
        return self._collection("POST", COLLECTIONS_PATH, sobject, records)

    def delete(self, record_ids: Sequence[str]) -> list[RecordResult]:
        """DELETE composite/sobjects?ids=...&allOrNone=false (sObject Collections delete, up to
        200 ids a call): one result per id, in order; a record refused fails alone. Salesforce
        REST API guide, "Delete Records Using sObject Collections": DeleteResults "returned in
        the order in which the IDs ... were specified", allOrNone defaults to false, 200 OK
        with per-item `success`/`errors` (https://developer.salesforce.com/docs/platform/
        api-rest/guide/resources-composite-sobjects-collections-delete.html)."""
        results: list[RecordResult] = []
        for start in range(0, len(record_ids), COLLECTION_BATCH_SIZE):
            chunk = list(record_ids[start : start + COLLECTION_BATCH_SIZE])
            for record_id in chunk:
                check_record_id(record_id)
            path = f"{COLLECTIONS_PATH}?ids={','.join(chunk)}&allOrNone=false"
            try:
                answer = self._call(
                    f"DELETE {COLLECTIONS_PATH}",
                    lambda sf, p=path: sf.restful(p, method="DELETE",
                                                  timeout=self._cfg.timeout_seconds),
                )
                results += self._parse_collection(answer, len(chunk))
            except RecordError as exc:
                error = self._write_error(exc.error_code, exc.message)
                results += [RecordResult(success=False, errors=(error,))] * len(chunk)
        return results

    def _collection(
        self, method: str, path: str, sobject: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        results: list[RecordResult | None] = [None] * len(records)
        for start in range(0, len(records), COLLECTION_BATCH_SIZE):
            indices = list(range(start, min(len(records), start + COLLECTION_BATCH_SIZE)))
            self._send_collection(method, path, sobject, records, indices, results)
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _send_collection(
        self,
        method: str,
        path: str,
        sobject: str,
        records: Sequence[Mapping[str, Any]],
        indices: list[int],
        results: list[RecordResult | None],
    ) -> None:
        """One Collections call for `indices`, then again for just the records that failed
        with a retriable per-record error (UNABLE_TO_LOCK_ROW), with the policy's backoff."""
        timeout = self._cfg.timeout_seconds
        attempt = 1
        pending = indices
        while True:
            body = {
                "allOrNone": False,
                "records": [{**records[i], "attributes": {"type": sobject}} for i in pending],
            }
            try:
                answer = self._call(
                    f"{method} {path}",
                    lambda sf, b=body: sf.restful(path, method=method, json=b, timeout=timeout),
                )
                parsed = self._parse_collection(answer, len(pending))
            except RecordError as exc:
                # The whole request was refused for a record-level reason: it concerns exactly
                # the records in it.
                failed = RecordResult(
                    success=False, errors=(self._write_error(exc.error_code, exc.message),)
                )
                parsed = [failed] * len(pending)
            retry: list[int] = []
            for index, result in zip(pending, parsed, strict=True):
                results[index] = result
                if result.retriable:
                    retry.append(index)
            if not retry or attempt >= self.retry_policy.max_attempts:
                return
            delay = self.retry_policy.backoff(attempt, None, self._rng)
            log.info(
                "records locked, retrying them",
                extra={"records": len(retry), "attempt": attempt, "delay_s": round(delay, 2)},
            )
            self._sleep(delay)
            attempt += 1
            pending = retry

    # ------------------------------------------------------------------ Bulk API 2.0

    def bulk_ingest(
        self,
        sobject: str,
        operation: str,
        csv_data: str,
        *,
        external_id_field: str | None = None,
        poll_interval: float = BULK_POLL_SECONDS,
        timeout: float = BULK_TIMEOUT_SECONDS,
        rows: int | None = None,
        need_successes: bool = True,
    ) -> BulkJobResult:
        """Run one Bulk API 2.0 ingest job: create, upload the CSV, UploadComplete, poll until
        final (polls back off from `poll_interval`, doubling up to a minute, so a long job costs
        a few polls), then read the results. Result reads that cannot hold anything are
        skipped: failedResults when no record failed, unprocessedrecords when all `rows` were
        processed, successfulResults when `need_successes` is False (updates, whose Ids the
        caller knows). A job that ends Failed or Aborted, or outlives `timeout`, raises
        FatalAPIError (the job is aborted first)."""
        check_name(sobject)
        spec: dict[str, Any] = {
            "object": sobject,
            "operation": operation,
            "contentType": "CSV",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        }
        if external_id_field:
            spec["externalIdFieldName"] = check_name(external_id_field, "field name")
        job = self._raw("POST", INGEST_PATH, "POST jobs/ingest", json_body=spec).json()
        job_id = str(job["id"])
        base = f"{INGEST_PATH}/{job_id}"

        def upload_and_close() -> None:
            self._raw(
                "PUT",
                f"{base}/batches",
                "PUT jobs/ingest/{id}/batches",
                data=csv_data.encode("utf-8"),
                content_type="text/csv",
            )
            self._raw(
                "PATCH", base, "PATCH jobs/ingest/{id}", json_body={"state": "UploadComplete"}
            )

        info = self._complete_job(
            base,
            str(job.get("state", "Open")),
            f"bulk job {job_id}",
            "GET jobs/ingest/{id}",
            poll_interval,
            timeout,
            first=upload_and_close,
        )
        processed = int(info.get("numberRecordsProcessed") or 0)
        failed = int(info.get("numberRecordsFailed") or 0)
        return BulkJobResult(
            job_id=job_id,
            state="JobComplete",
            records_processed=processed,
            records_failed=failed,
            successful=self._bulk_rows(base, "successfulResults") if need_successes else [],
            failed=self._bulk_rows(base, "failedResults") if failed else [],
            unprocessed=[]
            if rows is not None and processed >= rows
            else self._bulk_rows(base, "unprocessedrecords"),
        )

    def _complete_job(
        self,
        base: str,
        state: str,
        label: str,
        poll_route: str,
        poll_interval: float,
        timeout: float,
        *,
        first: Callable[[], None] = lambda: None,
    ) -> dict[str, Any]:
        """Do `first` (an ingest job's upload and close), then poll the job to a final state
        and return its info. A job left unfinished by any failure on the way is aborted; one
        that ends other than JobComplete raises FatalAPIError."""
        try:
            first()
            info = self._poll_job(base, poll_route, poll_interval, timeout)
            state = str(info.get("state"))
        except BaseException:
            if state not in _BULK_FINAL:
                self._abort_job(base)
            raise
        if state != "JobComplete":
            message = info.get("errorMessage") or "no message"
            raise FatalAPIError(f"{label} ended {state}: {message}")
        return info

    def _poll_job(
        self, base: str, endpoint: str, poll_interval: float, timeout: float
    ) -> dict[str, Any]:
        """Poll a Bulk API 2.0 job until it is final; the wait doubles after every poll up to
        BULK_POLL_MAX_SECONDS, so polls grow with the log of the job's duration."""
        deadline = time.monotonic() + timeout
        wait = poll_interval
        while True:
            info = self._raw("GET", base, endpoint).json()
            state = str(info.get("state"))
            if state in _BULK_FINAL:
                return dict(info)
            if time.monotonic() >= deadline:
                raise FatalAPIError(
                    f"bulk job {base.rsplit('/', 1)[-1]} still {state} after {timeout:.0f} s; "
                    "aborted"
                )
            self._sleep(wait)
            wait = min(BULK_POLL_MAX_SECONDS, wait * 2)

    def bulk_query(
        self,
        soql: str,
        *,
        page_records: int = BULK_QUERY_PAGE_RECORDS,
        poll_interval: float = BULK_POLL_SECONDS,
        timeout: float = BULK_TIMEOUT_SECONDS,
    ) -> Iterator[list[dict[str, str]]]:
        """Run one Bulk API 2.0 query job and yield its result rows page by page (CSV rows as
        dicts; an empty cell reads ""). Pages follow the `Sforce-Locator` header (the text
        "null" after the last page), at most `page_records` rows each (`maxRecords`). A job
        that ends Failed or Aborted raises FatalAPIError."""
        spec = {
            "operation": "query",
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        job = self._raw("POST", QUERY_JOBS_PATH, "POST jobs/query", json_body=spec).json()
        base = f"{QUERY_JOBS_PATH}/{job['id']}"
        self._complete_job(
            base,
            str(job.get("state", "UploadComplete")),
            f"bulk query {job['id']}",
            "GET jobs/query/{id}",
            poll_interval,
            timeout,
        )
        locator: str | None = None
        while True:
            params = {"maxRecords": str(page_records)} | ({"locator": locator} if locator else {})
            response = self._raw(
                "GET",
                f"{base}/results?{urlencode(params)}",
                "GET jobs/query/{id}/results",
                accept="text/csv",
            )
            text = response.content.decode("utf-8-sig")
            yield list(csv.DictReader(io.StringIO(text, newline="")))
            locator = response.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return

    def _bulk_rows(self, base: str, kind: str) -> list[dict[str, str]]:
        response = self._raw(
            "GET", f"{base}/{kind}/", f"GET jobs/ingest/{{id}}/{kind}", accept="text/csv"
        )
        text = response.content.decode("utf-8-sig")
        return list(csv.DictReader(io.StringIO(text)))

    def _abort_job(self, base: str) -> None:
        try:
            self._raw("PATCH", base, "PATCH jobs/ingest/{id}", json_body={"state": "Aborted"})
        except Exception:  # best effort: the original error matters more
            log.warning("could not abort bulk job", extra={"job": base.rsplit("/", 1)[-1]})

    def _raw(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> requests.Response:
        """A REST call simple-salesforce has no helper for (CSV bodies and answers)."""
        timeout = self._cfg.timeout_seconds

        def send(sf: Salesforce) -> requests.Response:
            headers = {
                "Authorization": f"Bearer {sf.session_id}",
                "Content-Type": content_type,
                "Accept": accept,
                **self._write_headers(),
            }
            kwargs: dict[str, Any] = {"timeout": timeout}
            if json_body is not None:
                kwargs["json"] = json_body
            if data is not None:
                kwargs["data"] = data
            return call_salesforce(sf.base_url + path, method, self._http, headers, **kwargs)

        return self._call(endpoint, send)

    # ------------------------------------------------------------------ the one call path

    def _call(self, endpoint: str, fn: Callable[[Salesforce], T]) -> T:
        def attempt() -> T:
            sf = self._sf
            assert sf is not None
            self._check_budget()
            self.total_calls += 1
            self.calls_by_endpoint[endpoint] += 1
            try:
                return fn(sf)
            except SalesforceError as exc:
                raise self._translate(exc) from None
            except requests.exceptions.SSLError as exc:
                if is_certificate_error(exc):
                    raise FatalAPIError(
                        f"TLS certificate of {self._host()} not trusted; check ca_bundle",
                    ) from None
                raise RetriableAPIError(f"TLS failure calling Salesforce {endpoint}") from None
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                raise RetriableAPIError(
                    f"{type(exc).__name__} calling Salesforce {endpoint}"
                ) from None
            except requests.exceptions.JSONDecodeError:
                raise FatalAPIError(f"Salesforce {endpoint} answered with invalid JSON") from None

        refreshed = False
        while True:
            self._salesforce()  # a first login retries on its own, outside this call's retries
            try:
                return call_with_retry(attempt, self.retry_policy, sleep=self._sleep)
            except SessionExpiredError as exc:
                if refreshed:
                    raise SessionExpiredError(
                        f"{exc.message} (again, right after a fresh login)",
                        status=exc.status,
                        url=exc.url,
                        error_code=exc.error_code,
                    ) from None
                log.info("Salesforce session expired, logging in again")
                self.reauth_count += 1
                self._login()
                refreshed = True

    def _salesforce(self) -> Salesforce:
        if self._sf is None:
            self._login()
        assert self._sf is not None
        return self._sf

    def _login(self) -> None:
        session = call_with_retry(
            lambda: authenticate(self._settings, self._http),
            self.retry_policy,
            sleep=self._sleep,
        )
        self._session = session
        self._sf = Salesforce(
            instance_url=session.instance_url,
            session_id=session.access_token,
            session=self._http,
            version=self._cfg.api_version,
            object_pairs_hook=dict,
        )
        self._sf.headers.update(self._write_headers())
        self.login_count += 1

    def _write_headers(self) -> dict[str, str]:
        """Headers every write carries: the duplicate-rule header when configured."""
        if self._cfg.duplicate_rule_allow_save:
            return {DUPLICATE_RULE_HEADER: "allowSave=true"}
        return {}

    def _parse_collection(self, answer: Any, expected: int) -> list[RecordResult]:
        return _parse_collection(answer, expected, self._write_error)

    def _write_error(
        self,
        code: str | None,
        message: str,
        fields: Sequence[str] = (),
        detail: Any = None,
    ) -> WriteError:
        """A record's refusal, with what to do about it when there is one clear fix."""
        code = code or "ERROR"
        if code == "DUPLICATES_DETECTED":
            message = _explain_duplicate(
                message, detail, allow_save=self._cfg.duplicate_rule_allow_save
            )
        return WriteError(code=code, message=message, fields=tuple(fields))

    def _check_budget(self) -> None:
        if self._usage is None:
            return
        used, total = self._usage
        share = self._cfg.daily_budget_share
        if total > 0 and used >= share * total:
            raise BudgetExhaustedError(
                f"Salesforce API budget reached: {used} of {total} daily requests used, "
                f"this connector may use {share:.0%}; resume after the daily window resets",
                error_code="BUDGET_SHARE_REACHED",
            )

    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        header = response.headers.get(LIMIT_INFO_HEADER)
        if header:
            found = _USAGE.search(header)
            if found:
                self._usage = (int(found.group(1)), int(found.group(2)))

    def _translate(self, exc: SalesforceError) -> Exception:
        code, message = _error_details(exc.content)
        url = str(exc.url).split("?", 1)[0] if exc.url else None
        return to_error(exc.status, code, self._scrub(message), url=url)

    def _scrub(self, text: str) -> str:
        token = self._session.access_token if self._session else None
        if token:
            text = text.replace(token, "***")
        return text

    def _host(self) -> str:
        return self._session.instance_url if self._session else self._cfg.login_url


def _explain_duplicate(message: str, detail: Any, *, allow_save: bool) -> str:
    """DUPLICATES_DETECTED: name the rule and the records it matched, and the fix."""
    result = detail.get("duplicateResult") if isinstance(detail, dict) else None
    rule, matched = None, []
    if isinstance(result, dict):
        rule = result.get("duplicateRule")
        for match in result.get("matchResults") or ():
            for found in (match or {}).get("matchRecords") or ():
                record_id = ((found or {}).get("record") or {}).get("Id")
                if record_id:
                    matched.append(str(record_id))
    said = message or "duplicate detected"
    if rule:
        said += f" (duplicate rule {rule}"
        said += f", matching {', '.join(matched[:5])})" if matched else ")"
    if allow_save:
        return (
            f"{said}: an active duplicate rule whose action is Block refused this Lead; "
            "salesforce.duplicate_rule_allow_save only lets Alert rules through. Merge the "
            "lead into the existing record or change the rule's action to Alert"
        )
    return (
        f"{said}: an active Salesforce duplicate rule refused this Lead. Set "
        "salesforce.duplicate_rule_allow_save = true to save it anyway (sends "
        "Sforce-Duplicate-Rule-Header: allowSave=true; works for rules whose action is "
        "Alert), or deactivate the rule for the integration user"
    )


def _parse_collection(
    answer: Any, expected: int, make_error: Callable[..., WriteError]
) -> list[RecordResult]:
    if not isinstance(answer, list) or len(answer) != expected:
        raise FatalAPIError(
            f"sObject Collections answered {type(answer).__name__} "
            f"of {len(answer) if isinstance(answer, list) else '?'} results for {expected} records"
        )
    parsed = []
    for item in answer:
        errors = tuple(
            make_error(
                str(e.get("statusCode") or e.get("errorCode") or "UNKNOWN"),
                str(e.get("message") or ""),
                tuple(e.get("fields") or ()),
                e,
            )
            for e in item.get("errors") or ()
        )
        parsed.append(
            RecordResult(
                success=bool(item.get("success")),
                id=item.get("id"),
                created=bool(item.get("created", False)),
                errors=errors,
            )
        )
    return parsed


def _error_details(content: Any) -> tuple[str | None, str]:
    """(errorCode, message) from an error body: REST `[{message, errorCode}]`, an object, or
    text (414 and some 5xx come as HTML)."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        return first.get("errorCode"), str(first.get("message") or "")
    if isinstance(content, dict):
        code = content.get("errorCode") or content.get("error")
        return code, str(content.get("message") or content.get("error_description") or "")
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    text = re.sub(r"<[^>]+>", " ", str(content or ""))
    return None, " ".join(text.split())[:200]
