"""Transport: the hubspot-api-client SDK behind one retry policy, rate limiters and a budget.

Every call goes through `HubSpotClient._call`, which
1. refuses to start once the configured share of the daily allocation would be passed
   (`BudgetExhaustedError`), reading `X-HubSpot-RateLimit-Daily[-Remaining]` from responses;
2. waits for the tier's client-side limiter (burst bucket per 10 s, or the search bucket),
   on every attempt, retries included;
3. counts the call by endpoint (`calls`, `total_calls`), and every 429 by bucket
   (`rate_limited`: with the limiters in place, a 429 means another app of the account used
   the budget);
4. maps the answer through one status table (`classify_status`) to data or a ConnectorError;
5. retries transient errors with `core.retry.call_with_retry` (urllib3's own retries are off).

Every request is built by the SDK's own request builder (`client.api_request` builds its
request the same way: base URL, `Authorization: Bearer`, JSON body, repeated query keys) and
sent through one `requests.Session` with a timeout (`api_request` itself sends without one and
prints exceptions to stdout). hubspot-api-client 12.0.0 predates HubSpot's date-based versions,
so its generated APIs (which hard-code `/crm/v3/...`) are not used; every path comes from
`paths.HubSpotPaths` for `hubspot.api_version`. This module reads the JSON itself, keeping
payloads in the API's own shape for `normalize.py`; each `Endpoint.expected` lists the 2xx
statuses an operation answers (anything else is a broken contract, FatalAPIError).

The access token lives only inside the SDK configuration; messages never contain it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any

import requests
import urllib3
from hubspot import HubSpot
from hubspot.utils.requests.http_request_builder import Request as SdkRequest
from pydantic import SecretStr

from connectors.hubspot import constants as c
from connectors.hubspot.constants import Endpoint
from connectors.hubspot.paths import HubSpotPaths
from core.config import HubSpotSettings
from core.errors import (
    BudgetExhaustedError,
    ConfigError,
    ConnectorError,
    FatalAPIError,
    RecordError,
    RetriableAPIError,
)
from core.ratelimit import SlidingWindowLimiter
from core.retry import RetryPolicy, call_with_retry

log = logging.getLogger("connector.hubspot.client")

_MAX_MESSAGE = 300
DEFAULT_RETRY_POLICY = RetryPolicy()  # frozen: safe to share


# Where each kind of credential is managed, for the message when HubSpot refuses it.
_AUTH_ADVICE = {
    "service_key": "Service Key: HubSpot > Development > Keys > Service keys (scopes in README)",
    "private_app": "legacy private app: HubSpot > Settings > Integrations > Private apps",
    "app": "project-based app: its scopes are in the project's app configuration",
}


class Outcome(Enum):
    OK = "ok"
    RETRY = "retry"  # RetriableAPIError: 429, 5xx (connection errors and timeouts too)
    FATAL = "fatal"  # FatalAPIError: auth refused, contract broken
    RECORD = "record"  # RecordError: this request's record(s) refused; the run goes on


def classify_status(status: int, expected: frozenset[int] = frozenset({200})) -> Outcome:
    """THE status table: what an HTTP status means for the caller."""
    if status in expected:
        return Outcome.OK
    if 200 <= status <= 299:
        return Outcome.FATAL  # a 2xx the SDK does not read: it would hand back None
    if status == 429 or 500 <= status <= 599:
        return Outcome.RETRY
    if status in (401, 403):
        return Outcome.FATAL
    if status in (400, 404, 409, 410, 422):
        return Outcome.RECORD
    return Outcome.FATAL


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date)."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    getter = getattr(headers, "get", None)
    if getter is not None:
        value = getter(name)
        if value is not None:
            return str(value)
    wanted = name.lower()
    items = headers.items() if hasattr(headers, "items") else headers
    for key, value in items:
        if str(key).lower() == wanted:
            return str(value)
    return None


def _body_json(body: bytes | str | None) -> Any:
    if body is None or body in (b"", ""):
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def error_for_response(
    endpoint: Endpoint, url: str, status: int, headers: Any, body: bytes | str | None
) -> ConnectorError:
    """The ConnectorError for a non-OK answer, per `classify_status`."""
    outcome = classify_status(status, endpoint.expected)
    payload = _body_json(body)
    detail = ""
    code: str | None = None
    policy: str | None = None
    if isinstance(payload, Mapping):
        detail = str(payload.get("message") or "")[:_MAX_MESSAGE]
        code = payload.get("category") or payload.get("errorType")
        policy = payload.get("policyName")
    message = f"HubSpot {endpoint.name} answered {status}" + (f": {detail}" if detail else "")
    common: dict[str, Any] = {"status": status, "url": url, "error_code": code}
    if outcome is Outcome.RETRY:
        if status == 429 and policy == "DAILY":
            return BudgetExhaustedError(
                message + " (daily limit reached; resume after the daily reset)", **common
            )
        return RetriableAPIError(
            message, retry_after=parse_retry_after(_header(headers, "Retry-After")), **common
        )
    if outcome is Outcome.RECORD:
        return RecordError(message, **common)
    if 200 <= status <= 299:
        return FatalAPIError(
            f"HubSpot {endpoint.name} answered {status}, which hubspot-api-client does not "
            f"read for this operation (it expects {sorted(endpoint.expected)} and would return "
            "None): the API contract changed or the server is not HubSpot-compatible",
            **common,
        )
    if status in (401, 403):
        message += " (check hubspot.access_token and its scopes)"
    return FatalAPIError(message, **common)


@dataclass(frozen=True, slots=True)
class _Raw:
    status: int
    headers: Any
    body: bytes | str | None


class HubSpotClient:
    """The HubSpot transport. One instance per run. Besides the run's own thread, one other
    thread may make calls (`HubSpotSource` reads search pages ahead in one): the limiters and
    the counters are locked; each SDK API object is used by one thread."""

    def __init__(
        self,
        settings: HubSpotSettings,
        token: SecretStr,
        *,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        secret = token.get_secret_value() if token is not None else ""
        if not secret:
            raise ConfigError("HubSpot access token is empty (set hubspot.access_token[_file])")
        base = settings.base_url.rstrip("/")
        # host: every generated API (urllib3); base_url: the request builder (requests).
        # retry=False: urllib3 neither retries nor follows redirects; core.retry decides.
        self._sdk = HubSpot(access_token=secret, host=base, base_url=base, retry=False)
        self._scrub_token = secret
        self._session = session or requests.Session()
        self._settings = settings
        self._paths = HubSpotPaths(settings.api_version)
        self._timeout = settings.timeout_seconds
        self._retry = retry_policy
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        tier = settings.tier
        burst = c.BURST_PER_10S[tier]
        self._burst = SlidingWindowLimiter(
            burst, 10.0, margin=c.BURST_MARGIN if burst else 0, clock=clock, sleep=sleep
        )
        search = c.SEARCH_PER_SECOND[tier]
        self._search = SlidingWindowLimiter(
            search, 1.0, margin=c.SEARCH_MARGIN if search else 0, clock=clock, sleep=sleep
        )
        self._share = settings.daily_budget_share
        self._daily_limit: int | None = c.DAILY_DEFAULT[tier]
        self._daily_used = 0  # as of the last response that said so
        self._since_header = 0  # calls started since then
        self._accounting = threading.Lock()  # counters, when a search reader thread runs
        self.calls: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()  # 429 answers by bucket (search, burst)

    def __repr__(self) -> str:
        return (
            f"HubSpotClient(base_url={self._settings.base_url!r}, tier={self._settings.tier!r}, "
            f"calls={self.total_calls})"
        )

    def close(self) -> None:
        """Release pooled connections (the client is not used afterwards)."""
        self._session.close()

    def __enter__(self) -> HubSpotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ accounting

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def daily_used(self) -> int:
        """Calls used today as far as this client knows (last header plus calls since)."""
        return self._daily_used + self._since_header

    @property
    def daily_limit(self) -> int | None:
        return self._daily_limit

    @property
    def limiter_waited_seconds(self) -> float:
        return self._burst.waited_seconds + self._search.waited_seconds

    def recent_searches(self) -> list[float]:
        """When (epoch seconds) the searches still in HubSpot's 1-second window were counted,
        as far as this client knows: for the next client of the account (`assume_searches`)."""
        offset = self._wall_clock() - self._clock()
        return [round(stamp + offset, 3) for stamp in self._search.recent()]

    def assume_searches(self, epochs: Iterable[float]) -> None:
        """Count searches made before this client existed (epoch seconds; an earlier run's
        `recent_searches`): HubSpot's window is the account's, so a run started right after
        another must not spend the second the other one already used."""
        offset = self._clock() - self._wall_clock()
        self._search.assume(epoch + offset for epoch in epochs)

    def _guard_budget(self, endpoint: Endpoint) -> None:
        limit = self._daily_limit
        if limit is None:
            return
        allowed = int(limit * self._share)
        used = self.daily_used
        if used + 1 > allowed:
            raise BudgetExhaustedError(
                f"HubSpot daily API budget: {used:,} of {limit:,} calls used today; "
                f"daily_budget_share {self._share:g} allows {allowed:,}. "
                f"Not starting {endpoint.name}; resume after the daily reset.",
                error_code="DAILY_BUDGET",
            )

    def _read_budget(self, headers: Any) -> None:
        daily = _header(headers, c.HEADER_DAILY)
        remaining = _header(headers, c.HEADER_DAILY_REMAINING)
        if daily is None or remaining is None:
            return
        try:
            limit, left = int(daily), int(remaining)
        except ValueError:
            return
        if limit <= 0:
            return
        self._daily_limit = limit
        self._daily_used = max(0, limit - left)
        self._since_header = 0

    # ------------------------------------------------------------------ the one call path

    def _call(self, endpoint: Endpoint, url: str, send: Callable[[], _Raw]) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            self._guard_budget(endpoint)
            limiter = self._search if endpoint.bucket == "search" else self._burst
            stamp = limiter.acquire()
            with self._accounting:
                self.calls[endpoint.name] += 1
                self._since_header += 1
            try:
                raw = send()
            except (
                urllib3.exceptions.HTTPError,
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                raise RetriableAPIError(
                    f"HubSpot {endpoint.name}: {type(exc).__name__} (connection failed or "
                    "timed out)",
                    url=url,
                ) from exc
            except requests.RequestException as exc:
                raise FatalAPIError(
                    f"HubSpot {endpoint.name}: request failed ({type(exc).__name__})", url=url
                ) from exc
            finally:
                limiter.settle(stamp)  # the window counts from the answer (see `settle`)
            with self._accounting:
                self._read_budget(raw.headers)
                if raw.status == 429:
                    self.rate_limited[endpoint.bucket] += 1
            if classify_status(raw.status, endpoint.expected) is not Outcome.OK:
                error = error_for_response(endpoint, url, raw.status, raw.headers, raw.body)
                if raw.status in (401, 403):
                    error.message += f"; {_AUTH_ADVICE[self._settings.auth_kind]}"
                    error.args = (error.message,)
                raise self._scrub(error)
            payload = _body_json(raw.body)
            if not isinstance(payload, dict):
                raise FatalAPIError(
                    f"HubSpot {endpoint.name} answered {raw.status} without a JSON object body",
                    status=raw.status,
                    url=url,
                )
            return payload

        def on_retry(exc: RetriableAPIError, delay: float) -> None:
            with self._accounting:
                self.retries[endpoint.name] += 1

        return call_with_retry(attempt, self._retry, sleep=self._sleep, on_retry=on_retry)

    def _scrub(self, error: ConnectorError) -> ConnectorError:
        """Belt and braces: a server that echoes the token back never gets it into a message."""
        if self._scrub_token and self._scrub_token in error.message:
            error.message = error.message.replace(self._scrub_token, "[token]")
            error.args = (error.message,)
        return error

    def request(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        *,
        qs: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        """An endpoint the SDK does not wrap, built as `client.api_request` builds it."""
        options: dict[str, Any] = {"method": method, "path": path}
        if qs:
            options["qs"] = {k: v for k, v in qs.items() if v is not None}
        if body is not None:
            options["body"] = body

        def send() -> _Raw:
            built = SdkRequest(self._sdk.config, options)
            response = self._session.request(
                built.get_method(),
                built.get_url(),
                timeout=self._timeout,
                **built.get_options_for_sending(),
            )
            return _Raw(response.status_code, response.headers, response.content)

        return self._call(endpoint, path, send)

    # ------------------------------------------------------------------ CRM

    @property
    def paths(self) -> HubSpotPaths:
        """Every path this client calls, for the configured `hubspot.api_version`."""
        return self._paths

    def search(self, object_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /crm/objects/{v}/{type}/search (search bucket).

        HubSpot refuses search bodies over 3,000 characters (400). When the property list
        would take a body past `SEARCH_BODY_MAX_CHARS`, the search asks for the always-returned
        properties only and each page's records are then batch-read with every property
        (`_search_then_read`): 1 search + 2 batch reads per 200 records whatever the number of
        properties, where splitting the list across searches would cost one more search (the
        scarce, account-wide 5/s bucket) per 3,000 characters and join separate queries whose
        results can differ (a record modified between them).
        """
        _check_object_type(object_type)
        if search_body_chars(body) <= c.SEARCH_BODY_MAX_CHARS:
            return self._search_call(object_type, body)
        return self._search_then_read(object_type, body)

    def _search_call(self, object_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.request(
            c.search_endpoint(object_type), "POST", self._paths.search(object_type), body=dict(body)
        )

    def _search_then_read(self, object_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
        properties = [str(p) for p in body.get("properties") or ()]
        slim = {**body, "properties": []}
        if search_body_chars(slim) > c.SEARCH_BODY_MAX_CHARS:
            raise ConfigError(
                f"HubSpot {object_type} search: the filters alone take more than "
                f"{c.SEARCH_BODY_MAX_CHARS:,} characters, which HubSpot refuses"
            )
        page = self._search_call(object_type, slim)
        records = [r for r in page.get("results") or () if isinstance(r, Mapping)]
        full: dict[str, Any] = {}
        ids = [str(r.get("id")) for r in records if r.get("id") is not None]
        for start in range(0, len(ids), c.BATCH_READ_MAX):
            answer = self.batch_read(
                object_type, ids[start : start + c.BATCH_READ_MAX], properties=properties
            )
            for record in answer.get("results") or ():
                if isinstance(record, Mapping):
                    full[str(record.get("id"))] = record
        # Search order kept; a record gone between the two calls keeps its search answer.
        page["results"] = [full.get(str(r.get("id")), r) for r in records]
        return page

    def list_page(
        self,
        object_type: str,
        *,
        limit: int = c.LIST_PAGE,
        after: str | None = None,
        properties: Sequence[str] = (),
        associations: Sequence[str] = (),
        archived: bool = False,
    ) -> dict[str, Any]:
        """GET /crm/objects/{v}/{type} (one page). `archived=True`: only the archived records,
        each with `archivedAt` (the 2026-09 spec's `archived` query parameter)."""
        _check_object_type(object_type)
        qs: dict[str, Any] = {
            "limit": limit, "archived": "true" if archived else "false", "after": after
        }
        if properties:
            qs["properties"] = ",".join(properties)
        if associations:
            qs["associations"] = ",".join(associations)
        return self.request(
            c.list_endpoint(object_type), "GET", self._paths.objects(object_type), qs=qs
        )

    def batch_read(
        self,
        object_type: str,
        ids: Iterable[str],
        *,
        properties: Sequence[str] = (),
        id_property: str | None = None,
        archived: bool = False,
    ) -> dict[str, Any]:
        """POST /crm/objects/{v}/{type}/batch/read: at most 100 ids; missing ids come back in
        `errors` (200 in the 2026-09 spec, 207 in v3's: both read). `archived=True` reads the
        archived records instead (the spec's `archived` query parameter)."""
        _check_object_type(object_type)
        inputs = [{"id": str(i)} for i in ids]
        if not inputs or len(inputs) > c.BATCH_READ_MAX:
            raise ValueError(f"batch_read takes 1..{c.BATCH_READ_MAX} ids, got {len(inputs)}")
        body: dict[str, Any] = {
            "inputs": inputs,
            "properties": list(properties),
            "propertiesWithHistory": [],
        }
        if id_property:
            body["idProperty"] = id_property
        return self.request(
            c.batch_read_endpoint(object_type),
            "POST",
            self._paths.batch(object_type, "read"),
            qs={"archived": "true" if archived else "false"},
            body=body,
        )

    def associations(self, from_type: str, to_type: str, ids: Iterable[str]) -> dict[str, Any]:
        """POST /crm/associations/{v}/{from}/{to}/batch/read (up to 1,000 ids)."""
        inputs = [{"id": str(i)} for i in ids]
        if not inputs or len(inputs) > c.ASSOCIATIONS_BATCH:
            raise ValueError(f"associations takes 1..{c.ASSOCIATIONS_BATCH} ids, got {len(inputs)}")
        return self.request(
            c.associations_endpoint(from_type, to_type),
            "POST",
            self._paths.associations_batch_read(from_type, to_type),
            body={"inputs": inputs},
        )

    def association_page(
        self, from_type: str, from_id: str, to_type: str, *, after: str | None = None
    ) -> dict[str, Any]:
        """The next page of one record's associations: the dated API has no per-record GET, so
        this is a batch read of that one id with its `after` cursor, answered in the GET's
        shape (`results` = the `to` items, `paging`)."""
        item: dict[str, Any] = {"id": str(from_id)}
        if after:
            item["after"] = after
        answer = self.request(
            c.association_page_endpoint(from_type, to_type),
            "POST",
            self._paths.associations_batch_read(from_type, to_type),
            body={"inputs": [item]},
        )
        for result in answer.get("results") or ():
            if isinstance(result, Mapping):
                page: dict[str, Any] = {"results": list(result.get("to") or [])}
                if result.get("paging"):
                    page["paging"] = result["paging"]
                return page
        return {"results": []}

    def account_details(self) -> dict[str, Any]:
        """GET /account-info/{v}/details (`portalId`, `timeZone`, `uiDomain`, ...)."""
        return self.request(c.ACCOUNT_DETAILS, "GET", self._paths.account_details())

    # ------------------------------------------------------------------ marketing

    def forms_page(
        self, *, after: str | None = None, form_types: Sequence[str] = ()
    ) -> dict[str, Any]:
        """GET /marketing/v3/forms (legacy path: the dated forms API is beta only); not
        archived, `formTypes` as given (HubSpot's default is standard forms only)."""
        return self.request(
            c.FORMS_LIST,
            "GET",
            self._paths.forms(),
            qs={
                "limit": c.FORMS_PAGE,
                "archived": "false",
                "after": after,
                "formTypes": list(form_types) or None,  # repeated: formTypes=a&formTypes=b
            },
        )

    def form_submissions_page(self, form_guid: str, *, after: str | None = None) -> dict[str, Any]:
        """GET /form-integrations/v1/submissions/forms/{guid} (legacy; newest first)."""
        return self.request(
            c.FORM_SUBMISSIONS,
            "GET",
            self._paths.form_submissions(form_guid),
            qs={"limit": c.SUBMISSIONS_PAGE, "after": after},
        )

    def email_events_page(
        self, *, start_ms: int, end_ms: int, offset: str | None = None,
        exclude_filtered: bool = False,
    ) -> dict[str, Any]:
        """GET /email/public/v1/events (legacy; no dated equivalent)."""
        return self.request(
            c.EMAIL_EVENTS,
            "GET",
            self._paths.email_events(),
            qs={
                "startTimestamp": start_ms,
                "endTimestamp": end_ms,
                "limit": c.EMAIL_EVENTS_PAGE,
                "offset": offset,
                "excludeFilteredEvents": "true" if exclude_filtered else None,
            },
        )

    def marketing_events_page(self, *, after: str | None = None) -> dict[str, Any]:
        """GET /marketing/marketing-events/{v}."""
        return self.request(
            c.MARKETING_EVENTS_LIST,
            "GET",
            self._paths.marketing_events(),
            qs={"limit": c.MARKETING_EVENTS_PAGE, "after": after},
        )

    def participations_page(self, event_id: str, *, after: str | None = None) -> dict[str, Any]:
        """GET /marketing/marketing-events/{v}/participations/{id}/breakdown."""
        return self.request(
            c.PARTICIPATIONS,
            "GET",
            self._paths.participations_breakdown(str(event_id)),
            qs={"limit": c.PARTICIPATIONS_PAGE, "after": after},
        )

    def events_page(
        self,
        *,
        event_type: str,
        occurred_after: str,
        occurred_before: str,
        object_type: str = "contact",
        object_id: str | None = None,
        after: str | None = None,
    ) -> dict[str, Any]:
        """GET /events/event-occurrences/{v} (web analytics; Enterprise)."""
        return self.request(
            c.WEB_EVENTS,
            "GET",
            self._paths.web_events(),
            qs={
                "objectType": object_type,
                "eventType": event_type,
                "occurredAfter": occurred_after,
                "occurredBefore": occurred_before,
                "limit": c.WEB_EVENTS_PAGE,
                "objectId": None if object_id is None else str(object_id),
                "after": after,
            },
        )


def search_body_chars(body: Mapping[str, Any]) -> int:
    """Characters of a search body as sent (`json.dumps`, as the request builder sends it)."""
    return len(json.dumps(dict(body)))


def _check_object_type(object_type: str) -> None:
    if object_type not in c.CRM_OBJECT_TYPES:
        raise ValueError(f"unsupported object type {object_type!r}")
