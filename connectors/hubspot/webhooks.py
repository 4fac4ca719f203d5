"""HubSpot webhooks: the v3 request signature and the contact events a batch carries. Pure:
no I/O, no clock (the caller passes "now").

Facts relied on (HubSpot developer docs, "Validating requests",
https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation,
and the legacy-app page https://developers.hubspot.com/docs/api/webhooks/validating-requests):

- A request carries `X-HubSpot-Signature-v3` and `X-HubSpot-Request-Timestamp` (epoch
  milliseconds). Reject it when the timestamp is older than 5 minutes.
- The signed string is, UTF-8 encoded, `method + uri + body + timestamp`, where `uri` is the
  full URL HubSpot called (scheme, host, path, query) with these percent-escapes decoded:
  %3A : %2F / %3F ? %40 @ %21 ! %24 $ %27 ' %28 ( %29 ) %2A * %2C , %3B ; (the `?` that
  starts the query string is left as it is).
- The signature is the base64 of the HMAC-SHA256 digest of that string keyed with the app's
  client secret; compare in constant time.

Payload (HubSpot webhooks guide, "Webhook payloads",
https://developers.hubspot.com/docs/api-reference/legacy/webhooks/guide and the project
configuration reference
https://developers.hubspot.com/docs/apps/developer-platform/add-features/configure-webhooks):
a JSON array of up to 100 events, each with `objectId` (number), `subscriptionType`
(`contact.creation`, `contact.propertyChange`, `contact.merge`, `contact.deletion`, ...),
`propertyName`/`propertyValue` (property changes), `occurredAt` (epoch ms), `eventId`,
`subscriptionId`, `portalId`, `appId`, `attemptNumber`, `changeSource`; merges add
`mergedObjectIds` (the contacts merged away), `primaryObjectId` (the one kept) and
`newObjectId` (the id of the merged record). HubSpot retries a batch not answered with 2xx up
to 10 times.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_AGE_MS = 5 * 60 * 1000

# The percent-escapes HubSpot decodes in the URI before signing (see the module docstring).
_DECODED = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}

# The contact subscriptions `connector serve` asks for (docs/service.md) and what they mean.
MARKING = ("contact.creation", "contact.propertyChange", "contact.restore")
MERGE = "contact.merge"
DELETION = ("contact.deletion", "contact.privacyDeletion")


def signed_uri(uri: str) -> str:
    """The URI as HubSpot signs it: the listed percent-escapes decoded (either case)."""
    out = uri
    for escape, char in _DECODED.items():
        out = out.replace(escape, char).replace(escape.lower(), char)
    return out


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The `X-HubSpot-Signature-v3` value HubSpot sends for this request."""
    message = method.upper().encode() + signed_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_problem(
    *,
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now_ms: int,
) -> str | None:
    """Why this request is not from HubSpot (a short reason, never the secret), or None."""
    if not signature or not timestamp:
        return f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}"
    try:
        sent = int(timestamp)
    except ValueError:
        return f"{TIMESTAMP_HEADER} is not epoch milliseconds"
    if now_ms - sent > MAX_AGE_MS:
        return "timestamp older than 5 minutes"
    if sent - now_ms > MAX_AGE_MS:
        return "timestamp more than 5 minutes ahead"
    expected = signature_v3(secret, method, uri, body, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        return "signature does not match"
    return None


@dataclass(frozen=True)
class WebhookEvent:
    subscription_type: str
    object_id: str
    occurred_at_ms: int | None = None
    event_id: str | None = None
    property_name: str | None = None
    change_source: str | None = None
    attempt: int = 0
    primary_object_id: str | None = None
    new_object_id: str | None = None
    merged_object_ids: tuple[str, ...] = ()


class PayloadError(ValueError):
    """The body is not a batch of webhook events (answered 400: HubSpot would not resend a
    malformed body any better)."""


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    return None


def parse_events(body: bytes) -> list[WebhookEvent]:
    """The events of one webhook request; PayloadError when it is not a JSON array of
    objects with a `subscriptionType` and a numeric `objectId`."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, list):
        raise PayloadError("body is not a JSON array of events")
    events = []
    for n, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("subscriptionType"), str):
            raise PayloadError(f"event {n} has no subscriptionType")
        object_id = _id(item.get("objectId"))
        if object_id is None:
            raise PayloadError(f"event {n} has no numeric objectId")
        merged = item.get("mergedObjectIds")
        merged = merged if isinstance(merged, list) else []
        events.append(
            WebhookEvent(
                subscription_type=item["subscriptionType"],
                object_id=object_id,
                occurred_at_ms=item["occurredAt"] if isinstance(item.get("occurredAt"), int)
                else None,
                event_id=_id(item.get("eventId")),
                property_name=item.get("propertyName")
                if isinstance(item.get("propertyName"), str) else None,
                change_source=item.get("changeSource")
                if isinstance(item.get("changeSource"), str) else None,
                attempt=item["attemptNumber"] if isinstance(item.get("attemptNumber"), int) else 0,
                primary_object_id=_id(item.get("primaryObjectId")),
                new_object_id=_id(item.get("newObjectId")),
                merged_object_ids=tuple(
                    i for i in (_id(m) for m in merged) if i
                ),
            )
        )
    return events


# What each deletion-side subscription asks of the state (`sync.deletions`): `contact.deletion`
# is an archive (restorable 90 days), `contact.privacyDeletion` a permanent GDPR delete.
CHANGES = {
    "contact.deletion": "archive",
    "contact.restore": "restore",
    "contact.privacyDeletion": "erase",
}


def contact_changes(events: Sequence[WebhookEvent]) -> list[tuple[str, str, str | None]]:
    """(hubspot_id, change, survivor) for the archive, restore, merge and erase events of a
    batch, in order; a merge gives one per merged-away id (`mergedObjectIds`), its survivor
    being `newObjectId`, else `primaryObjectId`. When the merge created a new record
    (`newObjectId` "only present if a new record is created", and differs from the primary:
    HubSpot changelog "New subscription types for webhooks"; merges create a new id since
    2024, see sandbox/hubspot/README.md), the primary's old id is merged away too."""
    out: list[tuple[str, str, str | None]] = []
    for event in events:
        kind = event.subscription_type
        if kind in CHANGES:
            out.append((event.object_id, CHANGES[kind], None))
        elif kind == MERGE:
            survivor = event.new_object_id or event.primary_object_id or event.object_id
            gone = [*event.merged_object_ids]
            if event.new_object_id and event.primary_object_id:
                gone.append(event.primary_object_id)
            out.extend(
                (old, "merge", survivor) for old in dict.fromkeys(gone) if old != survivor
            )
    return out


@dataclass(frozen=True)
class Triage:
    """What a batch asks of the connector."""

    contact_ids: tuple[str, ...]  # contacts to mark for the next hand-off pass
    merges: int
    deletions: int
    ignored: int  # other subscriptions (companies, deals, ...): nothing to do


def triage(events: Sequence[WebhookEvent]) -> Triage:
    """Contacts to mark: created, changed or restored ones; for a merge the surviving contact
    (`newObjectId`, else `primaryObjectId`, else `objectId`). Deletions are counted only:
    removing a deleted contact's lead is not this receiver's job."""
    ids: dict[str, None] = {}
    merges = deletions = ignored = 0
    for event in events:
        kind = event.subscription_type
        if kind in MARKING:
            ids[event.object_id] = None
        elif kind == MERGE:
            merges += 1
            ids[event.new_object_id or event.primary_object_id or event.object_id] = None
        elif kind in DELETION:
            deletions += 1
        else:
            ignored += 1
    return Triage(tuple(ids), merges, deletions, ignored)
