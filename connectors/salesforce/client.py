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
from urllib.parse import urlencode

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
    BULK_POLL_SECONDS,
    BULK_TIMEOUT_SECONDS,
    COLLECTION_BATCH_SIZE,
    COLLECTIONS_PATH,
    INGEST_PATH,
    LIMIT_INFO_HEADER,
    LIMITS_PATH,
)
from .errors import SessionExpiredError, to_error

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


def check_name(name: str, what: str = "sObject or field name") -> str:
    """API names are interpolated into paths and SOQL: allow identifiers only."""
    if not _NAME.match(name):
        raise ValueError(f"not a valid Salesforce {what}: {name!r}")
    return name


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
        page = self._call("GET query", lambda sf: sf.query(soql, timeout=timeout))
        while True:
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

    def query_url_length(self, soql: str) -> int:
        """Bytes of the URL `query(soql)` will request (requests encodes `q` as urlencode does)."""
        return len(self._salesforce().base_url + "query/?" + urlencode({"q": soql}))

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
                parsed = _parse_collection(answer, len(pending))
            except RecordError as exc:
                # The whole request was refused for a record-level reason: it concerns exactly
                # the records in it.
                failed = RecordResult(
                    success=False, errors=(WriteError(exc.error_code or "ERROR", exc.message),)
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
    ) -> BulkJobResult:
        """Run one Bulk API 2.0 ingest job: create, upload the CSV, UploadComplete, poll until
        final, then read successful/failed/unprocessed results. A job that ends Failed or
        Aborted, or outlives `timeout`, raises FatalAPIError (the job is aborted first)."""
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
        state = str(job.get("state", "Open"))
        try:
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
            deadline = time.monotonic() + timeout
            while True:
                info = self._raw("GET", base, "GET jobs/ingest/{id}").json()
                state = str(info.get("state"))
                if state in _BULK_FINAL:
                    break
                if time.monotonic() >= deadline:
                    raise FatalAPIError(
                        f"bulk job {job_id} still {state} after {timeout:.0f} s; aborted"
                    )
                self._sleep(poll_interval)
        except BaseException:
            if state not in _BULK_FINAL:
                self._abort_job(base)
            raise
        if state != "JobComplete":
            raise FatalAPIError(
                f"bulk job {job_id} ended {state}: {info.get('errorMessage') or 'no message'}"
            )
        return BulkJobResult(
            job_id=job_id,
            state=state,
            records_processed=int(info.get("numberRecordsProcessed") or 0),
            records_failed=int(info.get("numberRecordsFailed") or 0),
            successful=self._bulk_rows(base, "successfulResults"),
            failed=self._bulk_rows(base, "failedResults"),
            unprocessed=self._bulk_rows(base, "unprocessedrecords"),
        )

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
        self.login_count += 1

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


def _parse_collection(answer: Any, expected: int) -> list[RecordResult]:
    if not isinstance(answer, list) or len(answer) != expected:
        raise FatalAPIError(
            f"sObject Collections answered {type(answer).__name__} "
            f"of {len(answer) if isinstance(answer, list) else '?'} results for {expected} records"
        )
    parsed = []
    for item in answer:
        errors = tuple(
            WriteError(
                code=str(e.get("statusCode") or e.get("errorCode") or "UNKNOWN"),
                message=str(e.get("message") or ""),
                fields=tuple(e.get("fields") or ()),
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
