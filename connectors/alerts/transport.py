"""The one HTTP transport of the alert channels (Slack, Teams, the generic webhook): a JSON
POST with a timeout, its answer mapped to what the caller should do in one table, retried by
the one retry policy (`core.retry`) within the channel's time budget.

Webhook URLs carry their credential in the path (Slack's `/services/T…/B…/<secret>`, a Teams
workflow URL's `sig=` query): no message, log line or error here ever contains the URL; errors
name the channel and the status only.

Status table (what each service documents for its incoming webhooks):
- 2xx: delivered. Slack answers 200 `ok`; Teams workflow (Power Automate) webhooks answer
  202 Accepted; a generic receiver any 2xx.
- 408, 425, 429, 5xx, timeouts, connection errors: transient, retried (Retry-After honoured).
- any other 4xx: permanent (Slack: 400 `invalid_payload`, 403 `invalid_token`/
  `action_prohibited`, 404 `no_service`/`channel_not_found`, 410 `channel_is_archived`;
  Slack's webhooks report errors by status code, unlike its Web API): the alert is dead at
  once, retrying cannot help.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from core.errors import FatalAPIError, RetriableAPIError
from core.retry import RetryPolicy, call_with_retry

TRANSIENT_STATUSES = frozenset({408, 425, 429})


def outcome(status: int) -> str:
    """'ok', 'retry' or 'fatal' for an HTTP status (the table above)."""
    if 200 <= status < 300:
        return "ok"
    if status in TRANSIENT_STATUSES or status >= 500:
        return "retry"
    return "fatal"


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@dataclass
class JsonPoster:
    """POSTs JSON to one channel's URL. `timeout` bounds each request (connect and read) and,
    with the retries, the whole send of one alert (`policy.max_total_seconds`)."""

    channel: str
    url: str
    session: requests.Session
    timeout: float
    policy: RetryPolicy
    sleep: Callable[[float], None] | None = None

    def post(self, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        sent = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}

        def once() -> None:
            try:
                response = self.session.post(
                    self.url, data=data, headers=sent, timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.Timeout:
                raise RetriableAPIError(
                    f"{self.channel}: no answer within {self.timeout:g} s"
                ) from None
            except requests.RequestException as exc:
                raise RetriableAPIError(
                    f"{self.channel}: connection failed ({type(exc).__name__})"
                ) from None
            verdict = outcome(response.status_code)
            if verdict == "ok":
                return
            reason = response.text[:80].strip() if response.text else ""
            detail = f"{self.channel}: HTTP {response.status_code}" + (
                f" {reason}" if reason and self.url not in reason else ""
            )
            if verdict == "retry":
                raise RetriableAPIError(
                    detail, status=response.status_code, retry_after=_retry_after(response)
                )
            raise FatalAPIError(detail, status=response.status_code)

        kwargs: dict[str, Any] = {} if self.sleep is None else {"sleep": self.sleep}
        call_with_retry(once, self.policy, **kwargs)
