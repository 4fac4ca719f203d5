"""Webhooks the HubSpot sandbox sends: subscriptions, event payloads, signed batches, retries.

What is reproduced (sources in README.md, "Webhooks"):
- Subscription types are the Webhooks API's `eventType` values (PublicApiSpecs/Webhooks/
  Webhooks/Rollouts/147891/2026-09/webhooks.json, SubscriptionCreateRequest.eventType).
  Adding one is one line in `SUBSCRIPTIONS` (type -> the sandbox app's subscription id).
- One event is `{eventId, subscriptionId, portalId, appId, occurredAt, subscriptionType,
  attemptNumber, objectId, changeSource, ...}` plus `propertyName`/`propertyValue` on
  `contact.propertyChange`, `changeFlag` on creation/deletion, and `primaryObjectId`,
  `mergedObjectIds`, `newObjectId`, `numberOfPropertiesMoved` on `contact.merge`.
- A request is a JSON array of up to 100 events, POSTed with `X-HubSpot-Signature-v3` =
  base64(HMAC-SHA256(client secret, method + URI + body + timestamp)) and
  `X-HubSpot-Request-Timestamp` (epoch ms), plus the v1 `X-HubSpot-Signature` (hex SHA-256 of
  secret + body) with `X-HubSpot-Signature-Version: v1` that webhook requests still carry.
- Retries: a batch answered with a non-2xx status (other than 400, 401, 403, 404, 405), a
  timeout or a failed connection is sent again, with `attemptNumber` one higher, up to
  `MAX_ATTEMPTS` tries in all; the n-th retry waits `FIRST_RETRY_SECONDS * 2**(n-1)` (2, 4,
  8, ... minutes; 17 hours over 10 tries) times `retry_scale`; a 429's `Retry-After` is
  honoured instead. 400/401/403/404/405 drop the batch at once.

DECIDED where HubSpot does not say: a batch is sent as soon as 100 events wait, or when the
oldest waiting event has waited `linger_seconds`; one request at a time (maxConcurrentRequests
1); no random jitter (tests stay deterministic); `changeSource` is `API` for writes through
the CRM API, `FORM` for form submissions and `ANALYTICS` for page views.

Time: `occurredAt` comes from the sandbox's injected clock (the moment of the change as the
sandbox sees it). The request timestamp is a transport stamp the receiver checks against its
own clock for replays, so it reads `stamp_ms` (the machine clock unless a test gives another),
as core/clock.py says of transport stamps.

Threads: API handlers call `emit*` under the sandbox's app lock; that only appends to this
sender's own queue. The delivery thread never takes the app lock, so a slow or failing
receiver never holds up the API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

log = logging.getLogger("sandbox.hubspot.webhooks")

# subscription type -> the sandbox app's subscription id (one line per type)
SUBSCRIPTIONS: dict[str, int] = {
    "contact.creation": 7_001,
    "contact.propertyChange": 7_002,
    "contact.deletion": 7_003,
    "contact.merge": 7_004,
    "contact.privacyDeletion": 7_005,
    "contact.restore": 7_006,
}
SANDBOX_APP_ID = 4_200_001
BATCH_MAX_EVENTS = 100
MAX_ATTEMPTS = 10
FIRST_RETRY_SECONDS = 120.0
NOT_RETRIED = frozenset({400, 401, 403, 404, 405})
USER_AGENT = (
    "HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nio-http-client) "
    "- WebhooksExecutorDaemon-executor"
)
# What a form submission, a visit or an email interaction moves on a contact.
DEFAULT_WATCHED = (
    "num_conversion_events",
    "recent_conversion_date",
    "recent_conversion_event_name",
    "hs_analytics_num_visits",
    "hs_analytics_last_visit_timestamp",
    "hs_email_last_click_date",
    "hs_email_last_open_date",
)
RECENT_ATTEMPTS_KEPT = 200


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    """`X-HubSpot-Signature-v3`: base64 of HMAC-SHA256 over method + URI + body + timestamp."""
    source = method.encode() + uri.encode() + body + str(timestamp_ms).encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_v1(secret: str, body: bytes) -> str:
    """`X-HubSpot-Signature` version v1: hex SHA-256 of client secret + body."""
    return hashlib.sha256(secret.encode() + body).hexdigest()


def retry_delay(retry_number: int, retry_scale: float) -> float:
    """Seconds before the `retry_number`-th retry (1-based)."""
    return FIRST_RETRY_SECONDS * 2 ** (retry_number - 1) * retry_scale


@dataclass(frozen=True)
class WebhookConfig:
    """Where and how to deliver. `retry_scale` multiplies every retry delay (1.0: HubSpot's
    minutes; tests use e.g. 0.0001 so ten tries take milliseconds)."""

    url: str
    secret: str = field(repr=False)
    watched: tuple[str, ...] = DEFAULT_WATCHED
    retry_scale: float = 1.0
    timeout_seconds: float = 5.0
    linger_seconds: float = 0.2

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"webhook url must be an http(s) URL, got {self.url!r}")
        if not self.secret:
            raise ValueError("a webhook url needs a webhook secret (the app's client secret)")
        if self.retry_scale < 0 or self.timeout_seconds <= 0 or self.linger_seconds < 0:
            raise ValueError("retry_scale and linger_seconds must be >= 0, timeout > 0")

    def public(self) -> dict[str, Any]:
        """The configuration as shown by the admin endpoint: never the secret."""
        return {
            "url": self.url,
            "watched": list(self.watched),
            "retryScale": self.retry_scale,
            "timeoutSeconds": self.timeout_seconds,
            "lingerSeconds": self.linger_seconds,
        }


class Transport(Protocol):
    def __call__(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> tuple[int, Mapping[str, str]]: ...


def urllib_transport(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int, Mapping[str, str]]:
    """POST with the standard library; (status, headers); OSError on connection failures."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers or {})


@dataclass
class _Batch:
    events: list[dict[str, Any]]
    attempt: int = 0  # attemptNumber of the next try
    due: float = 0.0  # monotonic time of the next try


@dataclass
class _Counts:
    sent_batches: int = 0
    sent_events: int = 0
    failed_batches: int = 0
    failed_events: int = 0
    attempts: int = 0


class WebhookSender:
    """Queues events and delivers them from one background thread (started on first use)."""

    def __init__(
        self,
        portal_id: int,
        now_ms: Callable[[], int],
        config: WebhookConfig | None = None,
        *,
        app_id: int = SANDBOX_APP_ID,
        transport: Transport = urllib_transport,
        stamp_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.portal_id = portal_id
        self.app_id = app_id
        self.now_ms = now_ms
        self.stamp_ms = stamp_ms
        self.transport = transport
        self._config = config
        self._cond = threading.Condition()
        self._pending: deque[tuple[float, dict[str, Any]]] = deque()  # (queued at, event)
        self._retries: list[_Batch] = []
        self._in_flight = 0
        self._next_event_id = 1
        self._counts = _Counts()
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_ATTEMPTS_KEPT)
        self._thread: threading.Thread | None = None
        self._stop = False

    # ------------------------------------------------------------------ configuration

    @property
    def config(self) -> WebhookConfig | None:
        return self._config

    @property
    def enabled(self) -> bool:
        return self._config is not None

    def watched(self) -> tuple[str, ...]:
        config = self._config
        return config.watched if config is not None else ()

    def configure(self, config: WebhookConfig | None) -> None:
        """Deliver to `config` from now on (None: stop emitting; queued events are kept)."""
        with self._cond:
            self._config = config
            self._cond.notify_all()

    # ------------------------------------------------------------------ emitting

    def emit(
        self,
        subscription_type: str,
        object_id: int,
        change_source: str,
        occurred_at: int | None = None,
        **fields: Any,
    ) -> None:
        """Queue one event of `subscription_type` (a key of `SUBSCRIPTIONS`)."""
        self.emit_many([(subscription_type, object_id, change_source, occurred_at, fields)])

    def emit_many(
        self, items: Iterable[tuple[str, int, str, int | None, Mapping[str, Any]]]
    ) -> None:
        if self._config is None:
            return
        now = self.now_ms()
        queued_at = time.monotonic()
        with self._cond:
            for subscription_type, object_id, source, occurred, extra in items:
                event: dict[str, Any] = {
                    "eventId": self._next_event_id,
                    "subscriptionId": SUBSCRIPTIONS[subscription_type],
                    "portalId": self.portal_id,
                    "appId": self.app_id,
                    "occurredAt": occurred if occurred is not None else now,
                    "subscriptionType": subscription_type,
                    "attemptNumber": 0,
                    "objectId": object_id,
                    "changeSource": source,
                    **extra,
                }
                self._next_event_id += 1
                self._pending.append((queued_at, event))
            self._ensure_thread()
            self._cond.notify_all()

    def contact_created(self, object_id: int, source: str, occurred_at: int | None = None) -> None:
        self.emit("contact.creation", object_id, source, occurred_at, changeFlag="CREATED")

    def contact_deleted(self, object_id: int, source: str, occurred_at: int | None = None) -> None:
        self.emit("contact.deletion", object_id, source, occurred_at, changeFlag="DELETED")

    def contact_restored(self, object_id: int, source: str, occurred_at: int | None = None) -> None:
        """`contact.restore`: the changelog "New subscription types for webhooks" adds no
        payload property for restores."""
        self.emit("contact.restore", object_id, source, occurred_at)

    def contact_privacy_deleted(
        self, object_id: int, source: str, occurred_at: int | None = None
    ) -> None:
        self.emit("contact.privacyDeletion", object_id, source, occurred_at)

    def contact_merged(
        self,
        primary_id: int,
        merged_ids: list[int],
        new_id: int,
        properties_moved: int,
        source: str,
        occurred_at: int | None = None,
    ) -> None:
        self.emit(
            "contact.merge",
            primary_id,
            source,
            occurred_at,
            primaryObjectId=primary_id,
            mergedObjectIds=list(merged_ids),
            newObjectId=new_id,
            numberOfPropertiesMoved=properties_moved,
        )

    def watched_values(self, props: Mapping[str, str]) -> dict[str, str | None]:
        """The watched properties' current values (call before a change)."""
        return {name: props.get(name) for name in self.watched()}

    def contact_changed(
        self,
        object_id: int,
        before: Mapping[str, str | None],
        after: Mapping[str, str],
        source: str,
        occurred_at: int | None = None,
    ) -> None:
        """One `contact.propertyChange` per watched property whose value changed."""
        items = []
        for name in self.watched():
            value = after.get(name)
            if value != before.get(name):
                extra = {"propertyName": name, "propertyValue": value if value is not None else ""}
                items.append(("contact.propertyChange", object_id, source, occurred_at, extra))
        if items:
            self.emit_many(items)

    # ------------------------------------------------------------------ state

    def snapshot(self) -> dict[str, Any]:
        """What `GET /_sandbox/webhooks` shows: config (no secret), counts, recent attempts."""
        with self._cond:
            counts = self._counts
            retrying = sum(len(b.events) for b in self._retries)
            return {
                "config": self._config.public() if self._config is not None else None,
                "subscriptions": [
                    {"id": sid, "eventType": name} for name, sid in SUBSCRIPTIONS.items()
                ],
                "sent": {"batches": counts.sent_batches, "events": counts.sent_events},
                "failed": {"batches": counts.failed_batches, "events": counts.failed_events},
                "pending": {
                    "events": len(self._pending) + retrying + self._in_flight,
                    "retryingBatches": len(self._retries),
                },
                "attempts": counts.attempts,
                "recent": list(self._recent),
            }

    def idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._retries and self._in_flight == 0

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued, retrying or in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._retries or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=10)

    # ------------------------------------------------------------------ delivery

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop = False
            self._thread = threading.Thread(
                target=self._run, name="sandbox-hubspot-webhooks", daemon=True
            )
            self._thread.start()

    def _next_batch(self) -> tuple[_Batch, WebhookConfig] | None:
        """Under the condition: wait for a batch that is due; None when stopping."""
        while not self._stop:
            config = self._config
            now = time.monotonic()
            due_retry = min(self._retries, key=lambda b: b.due, default=None)
            if config is not None and due_retry is not None and due_retry.due <= now:
                self._retries.remove(due_retry)
                return due_retry, config
            wait: float | None = None
            if config is not None and self._pending:
                oldest = self._pending[0][0]
                if len(self._pending) >= BATCH_MAX_EVENTS or now - oldest >= config.linger_seconds:
                    take = min(BATCH_MAX_EVENTS, len(self._pending))
                    events = [self._pending.popleft()[1] for _ in range(take)]
                    return _Batch(events), config
                wait = oldest + config.linger_seconds - now
            if config is not None and due_retry is not None:
                until = due_retry.due - now
                wait = until if wait is None else min(wait, until)
            self._cond.wait(wait if wait is not None else 1.0)
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                picked = self._next_batch()
                if picked is None:
                    return
                batch, config = picked
                self._in_flight = len(batch.events)
            outcome: tuple[int | None, float | None] | None = None
            try:
                outcome = self._deliver(batch, config)
            finally:
                with self._cond:
                    self._settle(batch, config, outcome)
                    self._in_flight = 0
                    self._cond.notify_all()

    def _deliver(self, batch: _Batch, config: WebhookConfig) -> tuple[int | None, float | None]:
        """Send once; (status or None on a failed connection/timeout, Retry-After seconds)."""
        for event in batch.events:
            event["attemptNumber"] = batch.attempt
        body = json.dumps(batch.events, separators=(",", ":")).encode()
        stamp = self.stamp_ms()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-HubSpot-Request-Timestamp": str(stamp),
            "X-HubSpot-Signature-v3": sign_v3(config.secret, "POST", config.url, body, stamp),
            "X-HubSpot-Signature": sign_v1(config.secret, body),
            "X-HubSpot-Signature-Version": "v1",
            "X-HubSpot-Timeout-Millis": str(int(config.timeout_seconds * 1000)),
        }
        try:
            status, response_headers = self.transport(
                config.url, body, headers, config.timeout_seconds
            )
        except (OSError, ValueError) as exc:  # refused, reset, timed out, bad URL
            log.info("webhook batch to %s failed: %s", config.url, type(exc).__name__)
            return None, None
        retry_after = _retry_after(response_headers) if status == 429 else None
        return status, retry_after

    def _settle(
        self,
        batch: _Batch,
        config: WebhookConfig,
        outcome: tuple[int | None, float | None] | None,
    ) -> None:
        status, retry_after = outcome if outcome is not None else (None, None)
        counts = self._counts
        counts.attempts += 1
        self._recent.append(
            {"attemptNumber": batch.attempt, "events": len(batch.events), "status": status}
        )
        if status is not None and 200 <= status < 300:
            counts.sent_batches += 1
            counts.sent_events += len(batch.events)
            return
        if status in NOT_RETRIED or batch.attempt + 1 >= MAX_ATTEMPTS:
            counts.failed_batches += 1
            counts.failed_events += len(batch.events)
            log.warning(
                "webhook batch of %d events to %s dropped after %d tries (last status %s)",
                len(batch.events),
                config.url,
                batch.attempt + 1,
                status,
            )
            return
        batch.attempt += 1
        delay = (
            retry_after
            if retry_after is not None
            else retry_delay(batch.attempt, config.retry_scale)
        )
        batch.due = time.monotonic() + delay
        self._retries.append(batch)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None
