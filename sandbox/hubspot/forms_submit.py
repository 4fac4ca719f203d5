"""`POST /submissions/v3/integration/submit/{portalId}/{formGuid}`: the Forms API endpoint
real sites post their forms to (on HubSpot, host api.hsforms.com; here, the sandbox's host).

Reproduced (sources in README.md, "Forms submission"):
- Unauthenticated (the "submit data to a form (unauthenticated)" reference, legacy forms v3);
  a bearer token, if sent, is ignored.
- Body `{"fields": [{"objectTypeId"?, "name", "value"}], "submittedAt"? (epoch ms),
  "context"?: {"hutk", "pageUri", "pageName", "ipAddress", ...}, "legalConsentOptions"?,
  "skipValidation"?}`; up to 1,000 fields. Answer 200 `{"inlineMessage": ...}` or
  `{"redirectUri": ...}` when the form redirects after submit.
- The portal id must be the account's (`GET /account-info/{v}/details`); a portal or form
  that does not exist (or an archived form) answers 404.
- 400 `{"status":"error","message":"The request is not valid","correlationId","errors":
  [{"message","errorType"}]}` with every problem found: `INVALID_EMAIL`, `REQUIRED_FIELD`
  (a required field of the form missing or empty), `FIELD_NOT_IN_FORM_DEFINITION` (enforced
  for forms since 2022-03-21, changelog "Upcoming Validation Change to the Forms API
  Submission Endpoints"), `MAX_NUMBER_OF_SUBMITTED_VALUES_EXCEEDED` (over 1,000 fields).
- Effects, in one step under the sandbox's lock: the contact with that email is created or
  updated with the submitted contact fields; `num_conversion_events` + 1,
  `recent_conversion_date`, `recent_conversion_event_name` (the form's name),
  `first_conversion_date`/`first_conversion_event_name` when the contact had none, and
  `lastmodifieddate` move; the submission is stored for
  `GET /form-integrations/v1/submissions/forms/{guid}` (newest first) with a fresh
  `conversionId`, `submittedAt`, `values` and `pageUrl`; the webhooks go out
  (`contact.creation` for a new contact, `contact.propertyChange` for watched properties
  that changed; `changeSource` `FORM`). A submission without an email is stored and changes
  no contact (DECIDED: HubSpot would match the `hutk` cookie to a known visitor; the sandbox
  has no cookies).
"""

from __future__ import annotations

import bisect
import re
import uuid
from collections.abc import Callable
from typing import Any

from sandbox.httpbase import HTTPError, Request, Response, Router
from sandbox.hubspot.activity import ActivityStore
from sandbox.hubspot.crm_store import ObjectStore, Record
from sandbox.hubspot.errors import correlation_of
from sandbox.hubspot.util import iso_ms, property_string, to_ms
from sandbox.hubspot.webhooks import WebhookSender

SUBMIT_PATH = "/submissions/v3/integration/submit/{portalId}/{formGuid}"
SUBMIT_PREFIX = "/submissions/v3/integration/submit/"
MAX_FIELDS = 1_000
DEFAULT_INLINE_MESSAGE = "Thanks for submitting the form."
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONVERSION_ID_NAMESPACE = uuid.UUID("6f1c2a8e-6d4b-4a51-9a3e-2b9f0c7d5e11")


class FormsSubmitApi:
    def __init__(
        self,
        contacts: ObjectStore,
        activity: ActivityStore,
        now_ms: Callable[[], int],
        portal_id: int,
        webhooks: WebhookSender,
        lag_ms: int = 0,
    ) -> None:
        self.contacts = contacts
        self.activity = activity
        self.now_ms = now_ms
        self.portal_id = portal_id
        self.webhooks = webhooks
        self.lag_ms = lag_ms
        self._count = 0

    def register(self, router: Router) -> None:
        router.add("POST", SUBMIT_PATH, self.submit)

    # ------------------------------------------------------------------ the endpoint

    def submit(self, req: Request) -> Response:
        form = self._form(req)
        body = req.json()
        if not isinstance(body, dict):
            raise _invalid(
                req, [_problem("Error in 'body'. Expected a JSON object", "INVALID_JSON")]
            )
        values = self._validate(req, form, body)
        now = self.now_ms()
        submitted = to_ms(body.get("submittedAt")) or now
        context = body.get("context") if isinstance(body.get("context"), dict) else {}
        email = next((v for n, v in values if n == "email" and v), None)
        if email is not None:
            self._apply_to_contact(form, values, email, submitted, now)
        self._store_submission(form, values, submitted, context.get("pageUri"))
        return Response.json(200, _answer(form))

    # ------------------------------------------------------------------ steps

    def _form(self, req: Request) -> dict[str, Any]:
        guid = req.params["formGuid"]
        if req.params["portalId"] != str(self.portal_id):
            raise _not_found(req, f"Portal {req.params['portalId']} does not exist")
        for form in self.activity.forms:
            if str(form.get("id")) == guid and not form.get("archived"):
                return form
        raise _not_found(req, f"Form {guid} does not exist in portal {self.portal_id}")

    def _validate(
        self, req: Request, form: dict[str, Any], body: dict[str, Any]
    ) -> list[tuple[str, str]]:
        fields = body.get("fields")
        if not isinstance(fields, list) or not all(
            isinstance(f, dict) and isinstance(f.get("name"), str) for f in fields
        ):
            raise _invalid(
                req,
                [_problem("Error in 'fields'. Expected a list of {name, value}", "INVALID_FIELDS")],
            )
        if len(fields) > MAX_FIELDS:
            raise _invalid(
                req,
                [
                    _problem(
                        f"Error in 'fields'. {len(fields)} values submitted, at most {MAX_FIELDS}",
                        "MAX_NUMBER_OF_SUBMITTED_VALUES_EXCEEDED",
                    )
                ],
            )
        definitions = _form_fields(form)
        values = [(str(f["name"]), property_string(f.get("value")) or "") for f in fields]
        problems = []
        for name, value in values:
            if name not in definitions:
                problems.append(
                    _problem(
                        f"Error in 'fields.{name}'. Field '{name}' is not in the form definition",
                        "FIELD_NOT_IN_FORM_DEFINITION",
                    )
                )
            elif name == "email" and value and not _EMAIL.match(value):
                problems.append(
                    _problem(f"Error in 'fields.email'. Invalid email '{value}'", "INVALID_EMAIL")
                )
        given = {name for name, value in values if value.strip()}
        for name, definition in definitions.items():
            if definition.get("required") and name not in given:
                problems.append(
                    _problem(
                        f"Error in 'fields.{name}'. Required field '{name}' is missing",
                        "REQUIRED_FIELD",
                    )
                )
        if problems:
            raise _invalid(req, problems)
        return values

    def _apply_to_contact(
        self,
        form: dict[str, Any],
        values: list[tuple[str, str]],
        email: str,
        submitted: int,
        now: int,
    ) -> None:
        store = self.contacts
        existing = store.id_by_email(email)
        record = store.get(existing) if existing is not None else None
        created = record is None
        if record is None:
            record = Record(store.next_new_id(), {}, now, now, now)
            stamp = iso_ms(now)
            record.props[store.created_property] = stamp
            record.props[store.modified_property] = stamp
            for alias in store.modified_aliases:
                record.props[alias] = stamp
            record.props[store.intern("email")] = email
            store.insert(record)
        before = {} if created else self.webhooks.watched_values(record.props)
        props = record.props
        for name, value in values:
            if name == "email" or not value:
                continue
            props[store.intern(name)] = value
        count = int(props.get("num_conversion_events") or "0") + 1
        when = iso_ms(submitted)
        form_name = str(form.get("name") or form.get("id"))
        props[store.intern("num_conversion_events")] = str(count)
        props[store.intern("recent_conversion_date")] = when
        props[store.intern("recent_conversion_event_name")] = form_name
        if not props.get("first_conversion_date"):
            props[store.intern("first_conversion_date")] = when
            props[store.intern("first_conversion_event_name")] = form_name
        store.touch(record, now)
        if self.lag_ms:
            store.lagged[record.id] = now + self.lag_ms
        if created:
            self.webhooks.contact_created(record.id, "FORM", now)
        self.webhooks.contact_changed(record.id, before, record.props, "FORM", now)

    def _store_submission(
        self, form: dict[str, Any], values: list[tuple[str, str]], submitted: int, page: Any
    ) -> None:
        guid = str(form["id"])
        self._count += 1
        conversion = uuid.uuid5(_CONVERSION_ID_NAMESPACE, f"{guid}:{submitted}:{self._count}")
        item: dict[str, Any] = {
            "conversionId": str(conversion),
            "submittedAt": submitted,
            "values": [{"name": n, "value": v} for n, v in values],
        }
        if page:
            item["pageUrl"] = str(page)
        items = self.activity.submissions.setdefault(guid, [])
        # newest first, as `ActivityStore.finish` sorts them
        keys = [-(to_ms(s.get("submittedAt")) or 0) for s in items]
        items.insert(bisect.bisect_left(keys, -submitted), item)
        self.activity.generation += 1


def _form_fields(form: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        str(f.get("name")): f
        for group in form.get("fieldGroups") or []
        for f in group.get("fields") or []
        if f.get("name")
    }


def _answer(form: dict[str, Any]) -> dict[str, Any]:
    action = ((form.get("configuration") or {}).get("postSubmitAction")) or {}
    if action.get("type") == "redirect_url" and action.get("value"):
        return {"redirectUri": str(action["value"])}
    if action.get("type") == "thank_you" and action.get("value"):
        return {"inlineMessage": str(action["value"])}
    return {"inlineMessage": DEFAULT_INLINE_MESSAGE}


def _problem(message: str, error_type: str) -> dict[str, str]:
    return {"message": message, "errorType": error_type}


def _invalid(req: Request, problems: list[dict[str, str]]) -> HTTPError:
    body = {
        "status": "error",
        "message": "The request is not valid",
        "correlationId": correlation_of(req),
        "errors": problems,
    }
    return HTTPError(Response.json(400, body))


def _not_found(req: Request, message: str) -> HTTPError:
    body = {"status": "error", "message": message, "correlationId": correlation_of(req)}
    return HTTPError(Response.json(404, body))
