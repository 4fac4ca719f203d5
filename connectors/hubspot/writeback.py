"""HubSpot contact write-back and property setup: thin calls over `HubSpotClient`.

Every call goes through `HubSpotClient.request`, so it shares the client's rate limiter,
daily-budget guard, retry policy (429, 5xx, connection errors) and call counting; every path
comes from `client.paths` (`hubspot.api_version`).

Batch update (`POST /crm/objects/{v}/contacts/batch/update`, at most 100 inputs):
- 200 (the 2026-09 spec lists only 200) or 207 (v3): the inputs in `results` were updated;
  each entry of `errors[]` is a StandardError (`status`, `category`, `subCategory` object,
  `message`, `errors[]`, `context`, `links`) naming its inputs in `context.ids` (or `id`);
- 400 VALIDATION_ERROR: HubSpot refuses the *whole* batch. From `/2026-09/` on this includes
  the portal's admin validation rules (conditional required properties, required fields on the
  create form; changelog "CRM API Write Validation Enforcement", 2026-08-11), besides bad
  values (unknown property, not an option, not a number). The answer does not reliably name
  the input, so the writer splits the batch in halves and sends each again, down to single
  contacts: the refused ones go to the dead-letter list with HubSpot's message, their
  batch-mates are written (1 bad contact in 100 costs about 14 extra calls).
- a transient failure that outlasts the retries marks the batch's contacts retriable (the
  next run sends them again); a refused token or scope, or the daily budget, stops the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.constants import Endpoint
from core.errors import RecordError, RetriableAPIError
from core.plan import WriteError
from core.writeback import ContactUpdate, UpdateResult

BATCH_UPDATE_MAX = 100
BATCH_UPDATE = Endpoint("contacts.batch_update", expected=frozenset({200, 207}))
# The account roll-up's company write-back: the same batch update on companies
# (`POST /crm/objects/{v}/companies/batch/update`, 2026-09 companies spec).
COMPANY_BATCH_UPDATE = Endpoint("companies.batch_update", expected=frozenset({200, 207}))
PROPERTIES_LIST = Endpoint("properties.list")
GROUPS_LIST = Endpoint("properties.groups.list")
GROUP_CREATE = Endpoint("properties.groups.create", expected=frozenset({201}))
# 201/207 under v3; the 2026-09 properties spec lists 200 for batch create.
PROPERTIES_BATCH_CREATE = Endpoint(
    "properties.batch_create", expected=frozenset({200, 201, 207})
)


class HubSpotContactWriter:
    """Sends `ContactUpdate`s in batches of 100; one `UpdateResult` per update, in order.
    `object_type="companies"`: the same for companies (`contact_id` then holds the company
    id), for the account roll-up."""

    def __init__(self, client: HubSpotClient, batch_size: int = BATCH_UPDATE_MAX,
                 object_type: str = "contacts") -> None:
        if not 1 <= batch_size <= BATCH_UPDATE_MAX:
            raise ValueError(f"batch_size must be 1..{BATCH_UPDATE_MAX}")
        if object_type not in ("contacts", "companies"):
            raise ValueError("object_type must be contacts or companies")
        self._client = client
        self._batch_size = batch_size
        self._object_type = object_type
        self._endpoint = BATCH_UPDATE if object_type == "contacts" else COMPANY_BATCH_UPDATE
        self.calls = 0

    def update(self, updates: Sequence[ContactUpdate]) -> list[UpdateResult]:
        results: list[UpdateResult] = []
        for start in range(0, len(updates), self._batch_size):
            results.extend(self._send(updates[start : start + self._batch_size]))
        return results

    def _send(self, chunk: Sequence[ContactUpdate]) -> list[UpdateResult]:
        body = {
            "inputs": [{"id": u.contact_id, "properties": dict(u.properties)} for u in chunk]
        }
        self.calls += 1
        try:
            answer = self._client.request(
                self._endpoint, "POST", self._client.paths.batch(self._object_type, "update"),
                body=body,
            )
        except RecordError as exc:
            if len(chunk) > 1:  # the whole batch was refused: find the culprit(s)
                middle = len(chunk) // 2
                return self._send(chunk[:middle]) + self._send(chunk[middle:])
            code = exc.error_code or f"HTTP_{exc.status}"
            return [UpdateResult(chunk[0].contact_id, False, error=WriteError(code, exc.message))]
        except RetriableAPIError as exc:
            error = WriteError(exc.error_code or "TRANSIENT", exc.message)
            return [UpdateResult(u.contact_id, False, retriable=True, error=error) for u in chunk]
        return _results(chunk, answer)


def _results(chunk: Sequence[ContactUpdate], answer: Mapping[str, Any]) -> list[UpdateResult]:
    updated = {str(r.get("id")) for r in answer.get("results") or () if isinstance(r, Mapping)}
    refused: dict[str, WriteError] = {}
    for error in answer.get("errors") or ():
        if not isinstance(error, Mapping):
            continue
        ids, write_error = batch_error(error)
        for contact_id in ids:
            refused[contact_id] = write_error
    out = []
    for update in chunk:
        if update.contact_id in refused:
            out.append(UpdateResult(update.contact_id, False, error=refused[update.contact_id]))
        elif update.contact_id in updated:
            out.append(UpdateResult(update.contact_id, True))
        else:  # neither confirmed nor refused: send it again next run
            out.append(
                UpdateResult(
                    update.contact_id,
                    False,
                    retriable=True,
                    error=WriteError("NOT_CONFIRMED", "HubSpot did not confirm the update"),
                )
            )
    return out


def batch_error(error: Mapping[str, Any]) -> tuple[list[str], WriteError]:
    """The inputs one batch `errors[]` entry names, and what to record for them.

    Read as the 2026-09 StandardError: `context` maps names to lists of strings (`ids`, or
    `id`); the code is `category`, refined by `subCategory` when HubSpot sends one (an object
    in the spec, a string in older answers); the message adds the first `errors[]` detail.
    """
    context = error.get("context")
    ids: list[str] = []
    if isinstance(context, Mapping):
        raw = context.get("ids") or context.get("id") or ()
        ids = [str(raw)] if isinstance(raw, str | int) else [str(i) for i in raw]
    code = str(error.get("category") or "ERROR")
    sub = error.get("subCategory")
    if isinstance(sub, str) and sub:
        code = f"{code}:{sub}"
    elif isinstance(sub, Mapping) and sub:
        code = f"{code}:{next(iter(sub.values()), '') or next(iter(sub))}"
    message = str(error.get("message") or code)
    details = error.get("errors")
    if isinstance(details, list) and details and isinstance(details[0], Mapping):
        first = str(details[0].get("message") or "")
        if first and first not in message:
            message = f"{message} ({first})"
    return ids, WriteError(code, message[:300])


# ---------------------------------------------------------------------- properties setup


def list_properties(client: HubSpotClient, object_type: str) -> dict[str, dict[str, Any]]:
    """`GET /crm/properties/{v}/{objectType}` by name (one call)."""
    answer = client.request(PROPERTIES_LIST, "GET", client.paths.properties(object_type))
    return {p["name"]: p for p in answer.get("results") or () if isinstance(p, Mapping)}


def list_groups(client: HubSpotClient, object_type: str) -> dict[str, dict[str, Any]]:
    """`GET /crm/properties/{v}/{objectType}/groups` by name (one call)."""
    answer = client.request(GROUPS_LIST, "GET", client.paths.property_groups(object_type))
    return {g["name"]: g for g in answer.get("results") or () if isinstance(g, Mapping)}


def create_group(client: HubSpotClient, object_type: str, name: str, label: str) -> None:
    """`POST /crm/properties/{v}/{objectType}/groups`; a 409 (it exists) is fine."""
    try:
        client.request(
            GROUP_CREATE,
            "POST",
            client.paths.property_groups(object_type),
            body={"name": name, "label": label, "displayOrder": -1},
        )
    except RecordError as exc:
        if exc.status != 409:
            raise


def create_properties(
    client: HubSpotClient, object_type: str, bodies: Sequence[Mapping[str, Any]]
) -> tuple[list[str], dict[str, str]]:
    """`POST /crm/properties/{v}/{objectType}/batch/create` (one call for all): the names
    created, and a message per name HubSpot refused."""
    if not bodies:
        return [], {}
    names = [str(b["name"]) for b in bodies]
    try:
        answer = client.request(
            PROPERTIES_BATCH_CREATE,
            "POST",
            client.paths.properties_batch_create(object_type),
            body={"inputs": [dict(b) for b in bodies]},
        )
    except RecordError as exc:  # the whole batch refused
        return [], {name: exc.message for name in names}
    created = [str(p.get("name")) for p in answer.get("results") or () if isinstance(p, Mapping)]
    refused: dict[str, str] = {}
    for error in answer.get("errors") or ():
        if not isinstance(error, Mapping):
            continue
        context = error.get("context") or {}
        for name in context.get("name") or context.get("names") or ():
            refused[str(name)] = str(error.get("message") or error.get("category"))
    for name in names:
        if name not in created and name not in refused:
            refused[name] = "HubSpot did not confirm the creation"
    return created, refused


__all__ = [
    "BATCH_UPDATE",
    "BATCH_UPDATE_MAX",
    "HubSpotContactWriter",
    "batch_error",
    "create_group",
    "create_properties",
    "list_groups",
    "list_properties",
]
