"""The Salesforce sandbox: state, authentication, limits and faults around the REST routes.

Every call under `/services/data/vNN.N/` (NN.N >= 46.0) needs `Authorization: Bearer
<session>`, counts against the daily API allowance (`Sforce-Limit-Info: api-usage=N/MAX` on
each answer; the call past MAX is refused with 403 `REQUEST_LIMIT_EXCEEDED` "TotalRequests
Limit exceeded.") and may draw an injected fault. The org's kind (`org.py`: API access, the
concurrent long-running request limit, a duplicate rule, a generic login host) is set with
`org=` or `POST /_sandbox/org`. `POST /services/oauth2/token` is outside all of that.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sandbox.httpbase import App, FaultPlan, Request, Response
from sandbox.salesforce import ids
from sandbox.salesforce.bulk import BulkIngest
from sandbox.salesforce.bulk_query import BulkQuery
from sandbox.salesforce.dml import Dml, WriteOptions
from sandbox.salesforce.errors import (
    URI_TOO_LONG_HTML,
    RecordFailed,
    SFError,
    invalid_session,
)
from sandbox.salesforce.oauth import JwtTrust, TokenEndpoint
from sandbox.salesforce.org import (
    API_DISABLED_MESSAGE,
    CONCURRENT_MESSAGE,
    DUPLICATE_RULE_HEADER,
    OrgSettings,
    allow_save,
)
from sandbox.salesforce.rest import RestApi
from sandbox.salesforce.schema import Schema
from sandbox.salesforce.store import RecordStore
from sandbox.salesforce.values import ValueMismatch, coerce_json, from_epoch

DEFAULT_SALESFORCE_SESSION = "00DSANDBOX0000001!sandbox-session"
"""The session id the sandbox accepts from the start (until an `expire_after` fault)."""

MIN_API_VERSION = 46.0
_VERSIONED = re.compile(r"^/services/data/v(\d+\.\d+)(?:/|$)")
_ORG_ID15 = "00D8d0000000SBX"
_API_VERSIONS = ("46.0", "50.0", "55.0", "58.0", "59.0", "60.0", "61.0", "62.0")


@dataclass
class Session:
    user_id: str
    calls: int = 0


class SalesforceSandbox:
    """A Salesforce org in a box, driven over HTTPS by the real simple-salesforce client."""

    def __init__(
        self,
        session_id: str = DEFAULT_SALESFORCE_SESSION,
        faults: FaultPlan | None = None,
        clock: Callable[[], float] = time.time,
        daily_api_limit: int = 100_000,
        jwt: JwtTrust | None = None,
        password_logins: Mapping[str, tuple[str, str]] | None = None,
        client_credentials: Mapping[str, str] | None = None,
        schema: Schema | None = None,
        org: OrgSettings | None = None,
    ) -> None:
        self.session_id = session_id
        self.initial_org = org or OrgSettings()
        self.org = self.initial_org
        self.allow_save = False  # the call being answered carries allowSave=true
        self.clock = clock
        self.daily_api_limit = daily_api_limit
        self.jwt = jwt
        self.password_logins = dict(password_logins or {})
        self.client_credentials = dict(client_credentials or {})
        self.instance_url: str | None = None
        self.org_id = _ORG_ID15 + ids.checksum(_ORG_ID15)
        self.org_prefix = session_id.split("!", 1)[0] if "!" in session_id else self.org_id
        self.schema = schema or Schema.load()
        self.app = App("salesforce", faults)
        self.store = RecordStore(self.schema, lock=self.app.lock)
        self.dml = Dml(self.schema, self.store, clock)
        self.app.before_call = self._before_call
        self.app.decorate = self._decorate
        self.app.error_response = self._error_response
        self.app.on_reset.append(self._reset_state)
        self.sessions: dict[str, Session] = {}
        self.api_used = 0
        self._api_day = self._today()
        self.default_user_id = ""
        self.call_number = 0  # the API call being answered (for deterministic faults)
        self.session: Session | None = None  # the session of the call being answered
        self.rest = RestApi(self)
        self.bulk = BulkIngest(self)
        self.bulk_query = BulkQuery(self)
        self.tokens = TokenEndpoint(self)
        self._routes()
        self._reset_state()

    # ------------------------------------------------------------------ public helpers

    @property
    def faults(self) -> FaultPlan:
        return self.app.faults

    def seed(self, records: Mapping[str, list[dict[str, Any]]]) -> dict[str, int]:
        """Load REST-shaped records (no API call, no validation rules); returns counts.

        Unknown objects or fields, wrong value types, malformed ids and duplicate unique
        values raise `ValueError`. An `Id` is generated when absent; system fields are filled.
        """
        counts: dict[str, int] = {}
        with self.app.lock:
            for obj_name, rows in records.items():
                sobject = self.schema.get(obj_name)
                if sobject is None:
                    raise ValueError(f"unknown sObject {obj_name!r}")
                for row in rows:
                    self._seed_one(sobject, row)
                counts[sobject.name] = counts.get(sobject.name, 0) + len(rows)
        return counts

    def open_session(self, token: str, user_id: str) -> None:
        self.sessions[token] = Session(user_id)

    def user_id_for(self, username: str) -> str:
        user = self.schema.objects["User"]
        found = self.store.lookup("User", user.fields["Username"], username)
        return found[0] if found else self.default_user_id

    def base_url(self, req: Request) -> str:
        if self.instance_url:
            return self.instance_url.rstrip("/")
        return f"https://{req.header('host') or '127.0.0.1'}"

    def write_options(self, key: int, *, rest: bool = True) -> WriteOptions:
        """Who writes and which faults hit the record identified by `key`; `rest=False` for
        Bulk API rows, which the duplicate-rule header does not reach."""
        user_id = self.session.user_id if self.session else self.default_user_id
        return WriteOptions(
            user_id=user_id,
            lock=self.faults.fires("lock", key),
            reject=tuple(self.faults.reject),
            allow_save=rest and self.allow_save,
        )

    def set_org(self, org: OrgSettings) -> None:
        self.org = org
        self.dml.duplicate_rule = org.duplicate_rule

    # ------------------------------------------------------------------ routes

    def _routes(self) -> None:
        self.rest.register(self.app.router)
        self.bulk.register(self.app.router)
        self.bulk_query.register(self.app.router)
        self.app.router.add("POST", "/services/oauth2/token", self.tokens.handle)
        self.app.router.add("GET", "/services/data", self._versions)
        self.app.admin("POST", "seed", self._admin_seed)
        self.app.admin("GET", "org", lambda _req: Response.json(200, self.org.to_json()))
        self.app.admin("POST", "org", self._admin_org)
        self.app.admin("GET", "records/{object}", self._admin_records)

    def _versions(self, _req: Request) -> Response:
        return Response.json(200, [
            {"label": f"v{v}", "url": f"/services/data/v{v}", "version": v}
            for v in _API_VERSIONS
        ])

    def _admin_seed(self, req: Request) -> Response:
        try:
            payload = req.json()
            if not isinstance(payload, dict):
                raise ValueError("expected a JSON object: sObject name -> list of records")
            counts = self.seed(payload)
        except (ValueError, TypeError) as exc:
            return Response.json(400, {"error": str(exc)})
        return Response.json(200, {"counts": counts})

    def _admin_org(self, req: Request) -> Response:
        try:
            with self.app.lock:
                self.set_org(OrgSettings.from_json(req.json(), self.org))
        except (ValueError, TypeError) as exc:
            return Response.json(400, {"error": str(exc)})
        return Response.json(200, self.org.to_json())

    def _admin_records(self, req: Request) -> Response:
        sobject = self.schema.get(req.params["object"])
        if sobject is None:
            return Response.json(404, {"error": f"unknown sObject {req.params['object']!r}"})
        include_deleted = (req.arg("include_deleted") or "").lower() in ("1", "true", "yes")
        with self.app.lock:
            rows = self.store.records(sobject.name, include_deleted=include_deleted)
        return Response.json(200, {"object": sobject.name, "count": len(rows), "records": rows})

    # ------------------------------------------------------------------ the call pipeline

    def _before_call(self, req: Request, call_number: int) -> Response | None:
        self.call_number = call_number
        self.session = None
        self.allow_save = allow_save(req.header(DUPLICATE_RULE_HEADER))
        self.dml.saved_together = set()
        versioned = _VERSIONED.match(req.path)
        if versioned is None:
            return None  # the token endpoint, the versions list, or an unknown path (404)
        if float(versioned.group(1)) < MIN_API_VERSION:
            return self._error_response(404, "unsupported version")
        self.dml.api_version = versioned.group(1)
        session = self.sessions.get(_bearer(req))
        if session is None:
            return invalid_session()
        if not self.org.api_enabled:
            return _refused("API_DISABLED_FOR_ORG", API_DISABLED_MESSAGE)
        if self.org.concurrent_busy_calls > 0:
            self.org = replace(self.org, concurrent_busy_calls=self.org.concurrent_busy_calls - 1)
            return _refused("REQUEST_LIMIT_EXCEEDED", CONCURRENT_MESSAGE)
        expire_after = self.faults.expire_after
        if expire_after and session.calls >= expire_after:
            self.sessions = {k: v for k, v in self.sessions.items() if v is not session}
            return invalid_session()
        session.calls += 1
        self.session = session
        today = self._today()
        if today != self._api_day:
            self._api_day, self.api_used = today, 0
        if self.api_used >= self.daily_api_limit:
            return _limit_exceeded()
        self.api_used += 1
        if self.faults.fires("rate_limit", call_number):
            return _limit_exceeded()
        if self.faults.fires("server_error", call_number):
            return _server_error(call_number)
        return None

    def _decorate(self, req: Request, response: Response) -> None:
        if _VERSIONED.match(req.path):
            response.headers["Sforce-Limit-Info"] = (
                f"api-usage={self.api_used}/{self.daily_api_limit}"
            )

    def _error_response(self, status: int, message: str) -> Response:
        if status == 414:
            return Response.text(414, URI_TOO_LONG_HTML, "text/html;charset=UTF-8")
        if status == 404:
            code, text = "NOT_FOUND", "The requested resource does not exist"
        elif status == 405:
            code, text = "METHOD_NOT_ALLOWED", f"HTTP Method not allowed: {message}"
        elif status == 400:
            code, text = "JSON_PARSER_ERROR", message
        else:
            code, text = "UNKNOWN_EXCEPTION", message
        return Response.json(status, [{"errorCode": code, "message": text}])

    # ------------------------------------------------------------------ state

    def _reset_state(self) -> None:
        """An empty org with its integration user; usage, sessions, cursors and jobs cleared."""
        self.store.clear()
        self.set_org(self.initial_org)
        self.sessions = {self.session_id: Session("")}
        self.api_used = 0
        self._api_day = self._today()
        self.rest.reset()
        self.bulk.reset()
        self.bulk_query.reset()
        self.default_user_id = ""
        self._seed_one(self.schema.objects["User"], {
            "Username": "integration@sandbox.example.com",
            "Email": "integration@sandbox.example.com",
            "FirstName": "Integration",
            "LastName": "User",
            "Alias": "integ",
        })
        user = self.store.records("User")[0]
        self.default_user_id = user["Id"]
        user["CreatedById"] = user["LastModifiedById"] = user["Id"]
        self.store.put("User", user)
        self.sessions[self.session_id].user_id = self.default_user_id

    def _seed_one(self, sobject: Any, row: dict[str, Any]) -> None:
        if not isinstance(row, dict):
            raise ValueError(f"{sobject.name}: expected an object, got {type(row).__name__}")
        values: dict[str, Any] = {}
        for key, raw in row.items():
            if key == "attributes":
                continue
            field = sobject.field(key)
            if field is None:
                raise ValueError(f"No such column '{key}' on sobject of type {sobject.name}")
            try:
                values[field.name] = coerce_json(field, raw)
            except ValueMismatch as exc:
                raise ValueError(f"{sobject.name}.{field.name}: {exc}") from None
        given = values.pop("Id", None)
        if given:
            record_id = ids.normalize(given)
            if record_id is None or ids.key_prefix(record_id) != sobject.key_prefix:
                raise ValueError(f"{sobject.name}: malformed Id {given!r}")
        else:
            record_id = self.store.new_id(sobject.name)
        for name, value in list(values.items()):
            field = sobject.fields[name]
            if field.is_id and value:
                canonical = ids.normalize(value)
                if canonical is None:
                    raise ValueError(f"{sobject.name}.{name}: malformed id {value!r}")
                values[name] = canonical
        record = self.dml.defaults(sobject, WriteOptions(user_id=self.default_user_id))
        now = from_epoch(self.clock())
        for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            if name in sobject.fields:
                record[name] = now
        for name in ("CreatedById", "LastModifiedById"):
            if name in sobject.fields:
                record[name] = self.default_user_id or None
        record.update(values)
        record["Id"] = record_id
        if "IsDeleted" in sobject.fields:
            record["IsDeleted"] = bool(values.get("IsDeleted", False))
        try:
            self.dml.check_unique(sobject, record)
        except RecordFailed as exc:
            raise ValueError(f"{sobject.name}: {exc.errors[0].message}") from None
        self.dml.derive(sobject, record)
        self.store.put(sobject.name, {name: record.get(name) for name in sobject.fields})

    def _today(self) -> int:
        return int(self.clock() // 86400)


def _bearer(req: Request) -> str:
    auth = req.header("authorization") or ""
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "oauth") else ""


def _refused(code: str, message: str) -> Response:
    return Response.json(403, [SFError(code, message).rest()])


def _limit_exceeded() -> Response:
    return Response.json(
        403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    )


def _server_error(call_number: int) -> Response:
    if call_number % 2:
        return Response.json(503, [SFError(
            "SERVER_UNAVAILABLE", "Server temporarily unavailable: please retry later").rest()])
    error_id = f"{(call_number * 7919) % 10**9:09d}"
    return Response.json(500, [SFError(
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you contact support: "
        f"{error_id[:4]}-{error_id[4:]} (-{call_number % 100000})").rest()])
