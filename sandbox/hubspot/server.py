"""`HubSpotSandbox`: the HubSpot API double, an `httpbase.App` plus stores, limits and faults.

Every API call goes through `before_call`, in this order:
1. Bearer auth: a missing or unknown token answers 401 INVALID_AUTHENTICATION (not counted).
2. Injected faults (`app.faults`): `rate_limit` answers 429 TEN_SECONDLY_ROLLING, every other
   one (1st, 3rd, ...) with `Retry-After: 1`, the others without; `server_error` answers 500
   (HubSpot JSON), 502 (an HTML gateway page) or 503 (JSON), chosen by the call number.
   `reset` and `slow` are done by `App`.
3. Limits of the tier (see `limits.py`).
Routes: the CRM under v3/v4 and under each date version in `SERVED_VERSIONS`
(`routes_crm.py`) with archive, merge and GDPR delete (`deletions.py`), activity
(`activity.py`, with its dated marketing-events and events paths added here), account info,
schemas and legacy v2 reads (`routes_account.py`). Admin: the portal's validation rules at
`GET|POST /_sandbox/validation-rules` (`rules.py`); webhooks at `GET|POST /_sandbox/webhooks`
(`webhooks.py`); the UI's restore at `POST /_sandbox/hubspot/{objectType}/{objectId}/restore`
(`deletions.py`). The Forms submission endpoint (`forms_submit.py`) is unauthenticated, as on
HubSpot, and outside the API's tier limits.
Then `decorate` adds `X-HubSpot-Correlation-Id` and, except on search, the rate-limit headers.
"""

from __future__ import annotations

import gc
import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sandbox.httpbase import App, FaultPlan, Request, Response
from sandbox.hubspot.activity import ActivityApi, ActivityStore
from sandbox.hubspot.constants import DEFAULT_HUBSPOT_TOKEN, OBJECT_TYPE_ALIASES, TIERS
from sandbox.hubspot.crm_store import AssociationStore, ObjectStore, apply_visit_analytics
from sandbox.hubspot.deletions import DeletionsApi, dated_bases
from sandbox.hubspot.errors import AUTH_MESSAGE, error_body, gateway_error
from sandbox.hubspot.forms_submit import SUBMIT_PREFIX, FormsSubmitApi
from sandbox.hubspot.limits import MESSAGES, RateLimiter
from sandbox.hubspot.routes_account import SANDBOX_PORTAL_ID, AccountApi
from sandbox.hubspot.routes_crm import SERVED_VERSIONS, CrmApi
from sandbox.hubspot.rules import ValidationRule, parse_rules, rules_json
from sandbox.hubspot.util import correlation_id
from sandbox.hubspot.webhooks import DEFAULT_WATCHED, WebhookConfig, WebhookSender

CRM_KEYS = ("contacts", "companies", "meetings")
SEED_KEYS = (
    "contacts",
    "companies",
    "meetings",
    "associations",
    "forms",
    "form_submissions",
    "email_events",
    "marketing_events",
    "participations",
    "page_views",
)


class HubSpotSandbox:
    """A HubSpot API sandbox; serve `sb.app` with `httpbase.RunningServer`."""

    def __init__(
        self,
        token: str = DEFAULT_HUBSPOT_TOKEN,
        tier: str = "pro",
        faults: FaultPlan | None = None,
        clock: Callable[[], float] = time.time,
        search_lag_seconds: float = 0.0,
        webhooks: WebhookConfig | None = None,
    ) -> None:
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}; known: {', '.join(TIERS)}")
        self.token = token
        self.tier = TIERS[tier]
        self.clock = clock
        self.search_lag_seconds = search_lag_seconds
        self.app = App("hubspot", faults)
        self.store = SandboxStore()
        self.limiter = RateLimiter(self.tier)
        self._injected_429 = 0
        self.crm = CrmApi(
            self.store.objects, self.store.associations, self.now_ms, int(search_lag_seconds * 1000)
        )
        self.activity = ActivityApi(self.store.activity, self.now_ms, self.tier.name)
        self.webhooks = WebhookSender(SANDBOX_PORTAL_ID, self.now_ms, webhooks)
        self.crm.webhooks = self.webhooks
        self.crm.register(self.app.router)
        self.deletions = DeletionsApi(
            self.crm,
            self.store.associations,
            self.store.activity,
            self.now_ms,
            int(search_lag_seconds * 1000),
            self.webhooks,
            self.app.lock,
        )
        self.deletions.register(self.app.router, dated_bases(SERVED_VERSIONS))
        self.forms_submit = FormsSubmitApi(
            self.store.contacts,
            self.store.activity,
            self.now_ms,
            SANDBOX_PORTAL_ID,
            self.webhooks,
            int(search_lag_seconds * 1000),
        )
        self.forms_submit.register(self.app.router)
        self.activity.register(self.app.router)
        self._register_dated_activity()
        self.account = AccountApi(
            self.store.objects, self.store.activity, self.now_ms, SERVED_VERSIONS
        )
        self.account.register(self.app.router)
        self.app.before_call = self._before_call
        self.app.decorate = self._decorate
        self.app.error_response = gateway_error
        self.app.on_reset.append(self._reset_limits)
        self.app.admin("POST", "seed", self._seed_endpoint)
        self.app.admin("GET", "limits", self._limits_endpoint)
        self.app.admin("GET", "validation-rules", self._rules_endpoint)
        self.app.admin("POST", "validation-rules", self._rules_endpoint)
        self.app.admin("GET", "webhooks", self._webhooks_endpoint)
        self.app.admin("POST", "webhooks", self._webhooks_endpoint)
        # HubSpot restores from the UI's recycle bin only (no public API): deletions.py
        self.app.admin("POST", "hubspot/{objectType}/{objectId}/restore", self.deletions.restore)

    def close(self) -> None:
        """Stop the webhook delivery thread (queued deliveries are abandoned)."""
        self.webhooks.close()

    def _webhooks_endpoint(self, req: Request) -> Response:
        """GET: config (never the secret), sent, failed, pending. POST `{"url", "secret",
        "watched"?, "retryScale"?, "timeoutSeconds"?, "lingerSeconds"?}` configures delivery
        at run time; `{"url": null}` stops emitting."""
        if req.method == "POST":
            try:
                payload = req.json() or {}
                if not isinstance(payload, dict):
                    raise ValueError("expected a JSON object")
                self.webhooks.configure(_webhook_config(payload))
            except (ValueError, TypeError) as exc:
                return Response.json(400, {"error": str(exc)})
        return Response.json(200, self.webhooks.snapshot())

    def _register_dated_activity(self) -> None:
        """Marketing events and web analytics under their date versions: the same handlers
        as v3, whose shapes the 2026-09 specs keep (Marketing/Marketing Events/Rollouts/129888/
        2026-09/marketingEvents.json, Events/Events/Rollouts/147897/2026-09/events.json)."""
        router, act = self.app.router, self.activity
        for version in SERVED_VERSIONS:
            events = f"/marketing/marketing-events/{version}"
            router.add(
                "GET",
                events + "/participations/contacts/{contactIdentifier}/breakdown",
                act.participations_by_contact,
            )
            router.add(
                "GET",
                events + "/participations/{marketingEventId}/breakdown",
                act.participations_by_event,
            )
            router.add("GET", events, act.marketing_events)
            router.add("GET", events + "/{objectId}", act.marketing_event)
            occurrences = f"/events/event-occurrences/{version}"
            router.add("GET", occurrences + "/event-types", act.event_types)
            router.add("GET", occurrences, act.events)

    def set_rules(self, rules: list[ValidationRule]) -> None:
        """The portal's admin validation rules (replacing any set before)."""
        with self.app.lock:
            self.crm.rules = list(rules)

    def _rules_endpoint(self, req: Request) -> Response:
        if req.method == "POST":
            try:
                self.set_rules(parse_rules(req.json()))
            except (ValueError, TypeError) as exc:
                return Response.json(400, {"error": str(exc)})
        with self.app.lock:
            return Response.json(200, {"rules": rules_json(self.crm.rules)})

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # ------------------------------------------------------------------ seeding

    def seed(self, payload: Mapping[str, Iterable[dict[str, Any]]]) -> dict[str, int]:
        """Load records in HubSpot's read shape; streams each iterable once. Returns counts."""
        unknown = set(payload) - set(SEED_KEYS)
        if unknown:
            raise ValueError(f"unknown seed keys: {', '.join(sorted(unknown))}")
        with self.app.lock:
            counts = self.store.seed(
                payload, self.now_ms(), int(self.search_lag_seconds * 1000), self.webhooks
            )
        # Millions of seeded dicts make every full garbage collection a pause of hundreds of
        # milliseconds in the middle of some request; seeded data lives as long as the
        # sandbox, so move it out of the collector's sight.
        gc.freeze()
        return counts

    def _seed_endpoint(self, req: Request) -> Response:
        try:
            payload = req.json()
            if not isinstance(payload, dict) or not all(
                isinstance(v, list) for v in payload.values()
            ):
                raise ValueError("expected a JSON object of lists")
            counts = self.seed(payload)
        except (ValueError, KeyError, TypeError) as exc:
            return Response.json(400, {"error": str(exc)})
        return Response.json(200, {"seeded": counts})

    def _limits_endpoint(self, _req: Request) -> Response:
        with self.app.lock:
            return Response.json(200, self.limiter.snapshot(self.now_ms()))

    def _reset_limits(self) -> None:
        self.limiter.reset()
        self._injected_429 = 0

    # ------------------------------------------------------------------ per call

    def _before_call(self, req: Request, call_number: int) -> Response | None:
        req.hs_correlation_id = correlation_id(self.app.faults.seed, call_number)  # type: ignore[attr-defined]
        public = req.path.startswith(SUBMIT_PREFIX)  # unauthenticated, its own limits
        auth = req.header("authorization") or ""
        if not public and auth != f"Bearer {self.token}":
            req.hs_unauthenticated = True  # type: ignore[attr-defined]
            return Response.json(401, error_body(req, "INVALID_AUTHENTICATION", AUTH_MESSAGE))
        faults = self.app.faults
        if faults.fires("rate_limit", call_number):
            self._injected_429 += 1
            retry_after = 1 if self._injected_429 % 2 == 1 else None
            return self._too_many(req, "TEN_SECONDLY_ROLLING", retry_after)
        if faults.fires("server_error", call_number):
            return _server_error(req, call_number, faults.seed)
        if public:
            return None
        rejection = self.limiter.admit(self.now_ms(), _is_search(req))
        if rejection is not None:
            return self._too_many(req, rejection.policy, rejection.retry_after_s)
        return None

    def _too_many(self, req: Request, policy: str, retry_after: int | None) -> Response:
        corr = correlation_of_request(req)
        body = {
            "status": "error",
            "message": MESSAGES[policy],
            "errorType": "RATE_LIMIT",
            "correlationId": corr,
            "policyName": policy,
            "groupName": f"hubspot-sandbox:{self.tier.name}",
            "requestId": corr,
        }
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return Response.json(429, body, headers)

    def _decorate(self, req: Request, response: Response) -> None:
        corr = getattr(req, "hs_correlation_id", None)
        if corr is not None:
            response.headers["X-HubSpot-Correlation-Id"] = corr
        if getattr(req, "hs_unauthenticated", False) or _is_search(req):
            return
        with self.app.lock:
            response.headers.update(self.limiter.headers(self.now_ms()))


class SandboxStore:
    """Everything the sandbox holds; `objects[type]` are `ObjectStore`s."""

    def __init__(self) -> None:
        self.objects: dict[str, ObjectStore] = {name: ObjectStore(name) for name in CRM_KEYS}
        self.associations = AssociationStore()
        self.activity = ActivityStore()
        contacts = self.objects["contacts"]
        # Tracking stops for GDPR-deleted people (deletions.py): activity seeded later for
        # an erased contact id, or to an erased address nobody holds again, is not taken.
        self.activity.erased_contact = lambda cid: cid.isdigit() and int(cid) in contacts.erased_ids
        self.activity.current_contact = lambda cid: (
            str(contacts.aliases.get(int(cid), cid)) if cid.isdigit() else cid
        )
        self.activity.erased_recipient = lambda email: (
            email in contacts.erased_emails and contacts.id_by_email(email) is None
        )

    @property
    def contacts(self) -> ObjectStore:
        return self.objects["contacts"]

    @property
    def companies(self) -> ObjectStore:
        return self.objects["companies"]

    @property
    def meetings(self) -> ObjectStore:
        return self.objects["meetings"]

    def clear(self) -> None:
        for store in self.objects.values():
            store.clear()
        self.associations.clear()
        self.activity.clear()

    def seed(
        self,
        payload: Mapping[str, Iterable[dict[str, Any]]],
        now_ms: int,
        lag_ms: int,
        webhooks: WebhookSender | None = None,
    ) -> dict[str, int]:
        """Activities first, email events leading: a one-pass generator (`split_by_kind`)
        buffers every kind not yet read, and the email events are the bulk of the data.

        Page views seeded for contacts that already existed move their analytics
        properties; with webhooks on, the watched ones that changed go out
        (`changeSource` ANALYTICS). Contacts seeded in the same call send nothing: a seed is
        history, not a change."""
        counts = self._seed_activity(payload)
        before = self._watched_before(webhooks)
        for key in CRM_KEYS:
            if key not in payload:
                continue
            store = self.objects[key]
            store.begin_bulk()
            count = 0
            try:
                for raw in payload[key]:
                    record = store.record_from_seed(raw, now_ms)
                    store.add_seeded(record)
                    if lag_ms and not record.archived and record.mod_ms + lag_ms > now_ms:
                        store.lagged[record.id] = record.mod_ms + lag_ms
                    count += 1
            finally:
                store.end_bulk()
            counts[key] = count
        if "associations" in payload:
            counts["associations"] = self._seed_associations(payload["associations"])
        touched = self.activity.take_page_view_contacts()  # their analytics properties move
        apply_visit_analytics(self.contacts, touched, self.activity.contact_page_views)
        if webhooks is not None:
            for contact_id, values in before.items():
                record = self.contacts.get(contact_id)
                if record is not None:
                    webhooks.contact_changed(
                        contact_id, values, record.props, "ANALYTICS", record.mod_ms
                    )
        return counts

    def _watched_before(self, webhooks: WebhookSender | None) -> dict[int, dict[str, str | None]]:
        """Watched values of the existing contacts whose page views were just seeded."""
        if webhooks is None or not webhooks.enabled:
            return {}
        out = {}
        for raw in self.activity.page_view_contacts:
            record = self.contacts.get(int(raw)) if raw.isdigit() else None
            if record is not None:
                out[record.id] = webhooks.watched_values(record.props)
        return out

    def _seed_activity(self, payload: Mapping[str, Iterable[dict[str, Any]]]) -> dict[str, int]:
        activity = self.activity
        adders = {
            "email_events": activity.add_email_event,
            "page_views": activity.add_page_view,
            "forms": activity.add_form,
            "form_submissions": activity.add_submission,
            "marketing_events": activity.add_marketing_event,
            "participations": activity.add_participation,
        }
        counts: dict[str, int] = {}
        for key, add in adders.items():
            if key not in payload:
                continue
            count = 0
            for item in payload[key]:
                add(item)
                count += 1
            counts[key] = count
        if counts:
            activity.finish()
        return counts

    def _seed_associations(self, items: Iterable[dict[str, Any]]) -> int:
        count = 0
        for item in items:
            try:
                from_type = OBJECT_TYPE_ALIASES[str(item["fromObjectType"]).lower()]
                to_type = OBJECT_TYPE_ALIASES[str(item["toObjectType"]).lower()]
                from_id = int(item["from"]["id"])
                to_id = int(item["to"]["id"])
                type_ids = [int(t["associationTypeId"]) for t in item.get("types") or []]
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"associations: invalid item {item!r}") from exc
            if not type_ids:
                raise ValueError(f"associations: item without types {item!r}")
            for type_id in type_ids:
                self.associations.add(from_type, from_id, to_type, to_id, type_id)
            count += 1
        return count


def _is_search(req: Request) -> bool:
    return (
        req.method == "POST"
        and req.path.rstrip("/").endswith("/search")
        and (req.path.startswith("/crm/"))
    )


def correlation_of_request(req: Request) -> str:
    return str(getattr(req, "hs_correlation_id", ""))


def _server_error(req: Request, call_number: int, seed: int) -> Response:
    pick = hashlib.blake2b(f"{seed}:{call_number}:status".encode(), digest_size=1).digest()[0] % 3
    if pick == 0:
        return Response.json(
            500,
            error_body(req, "INTERNAL_ERROR", "internal error"),
        )
    if pick == 1:
        html = (
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return Response.text(502, html, "text/html")
    return Response.json(
        503,
        error_body(
            req,
            "SERVICE_UNAVAILABLE",
            "The service is temporarily unavailable. Please try again later.",
        ),
    )


def _webhook_config(payload: dict[str, Any]) -> WebhookConfig | None:
    """A `WebhookConfig` from the admin endpoint's JSON; None when `url` is null."""
    unknown = set(payload) - {
        "url",
        "secret",
        "watched",
        "retryScale",
        "timeoutSeconds",
        "lingerSeconds",
    }
    if unknown:
        raise ValueError(f"unknown webhook settings: {', '.join(sorted(unknown))}")
    if payload.get("url") is None:
        return None
    watched = payload.get("watched", list(DEFAULT_WATCHED))
    if not isinstance(watched, list) or not all(isinstance(w, str) for w in watched):
        raise ValueError("watched must be a list of property names")
    return WebhookConfig(
        url=str(payload["url"]),
        secret=str(payload.get("secret") or ""),
        watched=tuple(watched),
        retry_scale=float(payload.get("retryScale", 1.0)),
        timeout_seconds=float(payload.get("timeoutSeconds", 5.0)),
        linger_seconds=float(payload.get("lingerSeconds", 0.2)),
    )
