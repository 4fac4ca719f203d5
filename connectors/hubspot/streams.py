"""Which activity streams a HubSpot account answers, and what a refusal means for a run.

Every activity stream is optional: switched off in `[hubspot.streams]`, or refused by HubSpot
with 403 (the subscription tier lacks the API, or the token lacks the scope) or 404 (the API
is not there for this account), it is skipped for the run with a warning and the run goes on.
A 401 (bad token), a 5xx, a 429 and a spent budget are not stream problems and still stop
the run (`unavailable_reason` answers None for them).

Facts relied on:
- `GET /events/v3/events` (page views) is Enterprise-only: HubSpot's OpenAPI spec
  (HubSpot-public-api-spec-collection, Events/Events/.../2026-09/events.json) sets
  `x-hubspot-product-tier-requirements` to ENTERPRISE for every hub; below that the API
  answers 403 naming the scopes `event-detail-read` and `web-analytics-api-access`, which a
  lower tier cannot grant (PipedreamHQ/pipedream issue #11810: "Missing auth details:
  event-detail-read,web-analytics-api-access" on a free account; api-facts.md).
- A scope refusal is 403 with `category: "MISSING_SCOPES"`, message "This app hasn't been
  granted all required scopes to make this call. ...", and
  `errors[].context.requiredGranularScopes` (or `requiredScopes`) naming them
  (PostHog/posthog issue #53339, 2026; HubSpot/hubspot-api-nodejs issue #268).
- Scopes per stream, from HubSpot's scope list and the endpoints' reference pages: email
  events `content`; forms `forms`; marketing events `crm.objects.marketing_events.read`;
  meetings `crm.objects.contacts.read` (engagements follow the contact scopes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from core.errors import BudgetExhaustedError, ConnectorError, FatalAPIError, RecordError

log = logging.getLogger("connector.hubspot.streams")

ACTIVITY_STREAMS = ("email_events", "form_submissions", "webinars", "page_views", "meetings")

State = Literal["read", "skipped", "off", "derived"]

# What each stream needs, said when HubSpot refuses it.
NEEDS: dict[str, str] = {
    "email_events": "scope content",
    "form_submissions": "scope forms",
    "webinars": "scope crm.objects.marketing_events.read",
    "page_views": "Marketing/Sales/Service/CMS Hub Enterprise "
    "(scopes event-detail-read, web-analytics-api-access)",
    "meetings": "scope crm.objects.contacts.read",
}
UNAVAILABLE_STATUSES = frozenset({403, 404})


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """What a run (or a probe) found for one stream."""

    stream: str
    state: State
    reason: str = ""

    def describe(self) -> str:
        """`read`, `switched off`, `skipped: why`, `derived: why`."""
        if self.state == "off":
            return "switched off"
        return f"{self.state}: {self.reason}" if self.reason else self.state

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def unavailable_reason(stream: str, exc: BaseException) -> str | None:
    """Why `stream` is unavailable to this account, when `exc` says so (403/404); None for
    every error that must keep stopping the run (401, 429, 5xx, budget, broken contract)."""
    if not isinstance(exc, FatalAPIError | RecordError) or isinstance(exc, BudgetExhaustedError):
        return None
    if exc.status not in UNAVAILABLE_STATUSES:
        return None
    assert isinstance(exc, ConnectorError)
    code = f" {exc.error_code}" if exc.error_code else ""
    what = "not available to this account" if exc.status == 404 else "refused"
    return f"HubSpot answered {exc.status}{code} ({what}); needs {NEEDS.get(stream, '?')}"


def probe(stream: str, call: Callable[[], Any]) -> StreamStatus:
    """One cheap call for `stream`: available, or unavailable and why. Other errors raise."""
    try:
        call()
    except (FatalAPIError, RecordError) as exc:
        reason = unavailable_reason(stream, exc)
        if reason is None:
            raise
        return StreamStatus(stream, "skipped", reason)
    return StreamStatus(stream, "read", "available")


# A fixed, empty window for probing the time-filtered APIs: no clock read, nothing returned.
_PROBE_MOMENT = "2020-01-01T00:00:00.000Z"


def probe_all(client: Any, settings: Any) -> list[StreamStatus]:
    """Each activity stream probed once with one cheap request (an empty time window or a
    first page) for `setup hubspot --check` and `mappings validate --online`. Switched-off
    streams are not called."""
    streams = settings.streams
    calls: dict[str, Callable[[], Any]] = {
        "email_events": lambda: client.email_events_page(start_ms=0, end_ms=0),
        "form_submissions": lambda: client.forms_page(),
        "webinars": lambda: client.marketing_events_page(),
        "page_views": lambda: client.events_page(
            event_type=settings.page_view_event_type,
            occurred_after=_PROBE_MOMENT,
            occurred_before=_PROBE_MOMENT,
        ),
        "meetings": lambda: client.list_page("meetings", limit=1),
    }
    out: list[StreamStatus] = []
    for stream in ACTIVITY_STREAMS:
        if not streams.enabled(stream):
            out.append(StreamStatus(stream, "off"))
            continue
        if stream == "page_views" and streams.page_views_from == "analytics":
            out.append(StreamStatus(stream, "derived", "from contact analytics properties"))
            continue
        status = probe(stream, calls[stream])
        if (
            stream == "page_views"
            and status.state == "skipped"
            and streams.page_views_from == "auto"
        ):
            status = StreamStatus(
                stream, "derived", f"from contact analytics properties; events API: {status.reason}"
            )
        out.append(status)
    return out


def probe_text(status: StreamStatus) -> str:
    """One probe's verdict as `setup hubspot --check` and `mappings validate --online` say it."""
    if status.state == "read":
        return "available"
    if status.state == "off":
        return "switched off ([hubspot.streams])"
    if status.state == "derived":
        return f"events API unavailable; page views {status.describe()}"
    return f"unavailable: {status.reason} (skipped by every run until granted)"


def probe_lines(statuses: list[StreamStatus], indent: str = "  ") -> list[str]:
    return [f"{indent}{s.stream:17} {probe_text(s)}" for s in statuses]
