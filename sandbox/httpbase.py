"""The HTTP machinery both sandbox servers share: routing, call statistics, faults, TLS.

A sandbox server is an `App` (a router plus hooks) served by a real `ThreadingHTTPServer` on
loopback. Everything under `/_sandbox/` is administration: never counted, never faulted.

Handlers run one at a time under the app's lock (the sandbox is a test double: simple,
consistent state beats throughput); a "slow" fault sleeps outside the lock.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ADMIN_PREFIX = "/_sandbox/"


class HTTPError(Exception):
    """Raised by a handler to answer with an error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # keys lower-cased
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    route: str = ""

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """The body as JSON; malformed JSON raises `HTTPError` via `bad_json`."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadJSONError(str(exc)) from exc

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter, as sent (commas kept: a SOQL `q` has them);
        parameter names match case-insensitively."""
        wanted = name.lower()
        for key, values in self.query.items():
            if key.lower() == wanted and values:
                return values[0]
        return default

    def args(self, name: str) -> list[str]:
        """All values of a query parameter: repeated keys and comma lists, flattened."""
        wanted = name.lower()
        out: list[str] = []
        for key, values in self.query.items():
            if key.lower() == wanted:
                for value in values:
                    out.extend(part for part in value.split(",") if part != "")
        return out


class BadJSONError(Exception):
    """The request body is not valid JSON (each app maps this to its own error shape)."""


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reset_connection: bool = False  # close the socket with RST instead of answering

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        merged = {"Content-Type": "application/json;charset=UTF-8"}
        merged.update(headers or {})
        return cls(status, body, merged)

    @classmethod
    def text(
        cls, status: int, text: str, content_type: str = "text/plain;charset=UTF-8"
    ) -> Response:
        return cls(status, text.encode(), {"Content-Type": content_type})

    @classmethod
    def empty(cls, status: int = 204, headers: dict[str, str] | None = None) -> Response:
        return cls(status, b"", dict(headers or {}))


Handler = Callable[[Request], Response]

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler


class Router:
    """Maps (method, path) to a handler; `template` is what the statistics report."""

    def __init__(self) -> None:
        self._routes: list[_Route] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        regex = "^" + _PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", template) + "/?$"
        self._routes.append(_Route(method.upper(), template, re.compile(regex), handler))

    def match(self, method: str, path: str) -> tuple[_Route, dict[str, str]] | str | None:
        """The route and its path parameters; "405" if the path exists for another method."""
        other_method = False
        for route in self._routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method != method:
                other_method = True
                continue
            return route, {k: _unquote(v) for k, v in found.groupdict().items()}
        return "405" if other_method else None


def _unquote(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value)


# --------------------------------------------------------------------------- faults


_FAULT_ALIASES = {"429": "rate_limit", "5xx": "server_error"}


@dataclass
class FaultPlan:
    """What the sandbox breaks on purpose, deterministically under `seed`.

    Rates are probabilities per API call (0..1). Whether call number N gets a fault depends only
    on (seed, N, fault name), so a single-threaded client sees the same faults every run.

    Spec string (CLI `--faults`): comma-separated `name=value`, e.g.
    `rate_limit=0.05,server_error=0.02,reset=0.01,slow=0.05,slow_seconds=1.5,lock=0.02,
    expire_after=500,reject=bad@example.com|other@example.com,seed=7`.
    `429` and `5xx` are accepted as aliases of `rate_limit` and `server_error`.
    """

    rate_limit: float = 0.0  # HubSpot: 429 (half with Retry-After); Salesforce: 403 limit
    server_error: float = 0.0  # 500/502/503
    reset: float = 0.0  # connection reset before any response
    slow: float = 0.0  # delay the response by slow_seconds
    slow_seconds: float = 1.0
    lock: float = 0.0  # Salesforce writes: UNABLE_TO_LOCK_ROW
    expire_after: int = 0  # Salesforce: session expires after N calls (0 = never)
    reject: tuple[str, ...] = ()  # Salesforce: records whose Email/Subject contain these fail
    seed: int = 0

    @classmethod
    def parse(cls, spec: str | None) -> FaultPlan:
        plan = cls()
        if not spec:
            return plan
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise ValueError(f"fault spec {part!r}: expected name=value")
            name, value = (s.strip() for s in part.split("=", 1))
            plan = plan.with_value(_FAULT_ALIASES.get(name, name), value)
        return plan

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> FaultPlan:
        plan = cls()
        for name, value in payload.items():
            if name == "reject" and isinstance(value, list):
                value = "|".join(str(v) for v in value)
            plan = plan.with_value(_FAULT_ALIASES.get(name, name), str(value))
        return plan

    def with_value(self, name: str, value: str) -> FaultPlan:
        import dataclasses

        fields = {f.name: f for f in dataclasses.fields(self) if not f.name.startswith("_")}
        if name not in fields:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(fields))}")
        try:
            if name == "reject":
                parsed: Any = tuple(v for v in value.split("|") if v)
            elif name in ("expire_after", "seed"):
                parsed = int(value)
            else:
                parsed = float(value)
                if name != "slow_seconds" and not 0.0 <= parsed <= 1.0:
                    raise ValueError("a rate must be between 0 and 1")
        except ValueError as exc:
            raise ValueError(f"fault {name}={value!r}: {exc}") from exc
        return dataclasses.replace(self, **{name: parsed})

    def to_json(self) -> dict[str, Any]:
        return {
            "rate_limit": self.rate_limit,
            "server_error": self.server_error,
            "reset": self.reset,
            "slow": self.slow,
            "slow_seconds": self.slow_seconds,
            "lock": self.lock,
            "expire_after": self.expire_after,
            "reject": list(self.reject),
            "seed": self.seed,
        }

    def fires(self, name: str, call_number: int) -> bool:
        rate = float(getattr(self, name))
        if rate <= 0.0:
            return False
        digest = hashlib.blake2b(f"{self.seed}:{call_number}:{name}".encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "big") / 2**64 < rate


# --------------------------------------------------------------------------- stats


class CallStats:
    """Counts API calls by (method, route template, status)."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._lock = threading.Lock()

    def record(self, method: str, route: str, status: int) -> None:
        with self._lock:
            self._counts[(method, route, status)] += 1

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            calls = [
                {"method": m, "route": r, "status": s, "count": c}
                for (m, r, s), c in sorted(self._counts.items())
            ]
        return {"calls": calls, "total": sum(c["count"] for c in calls)}


# --------------------------------------------------------------------------- the app


class App:
    """A sandbox API: a router, statistics, a fault plan and hooks the concrete server fills.

    Subclass-free: concrete servers compose an App and register routes on `app.router` and
    admin routes with `app.admin(...)`. `before_call` may return a Response to short-circuit
    (authentication, rate limits, injected faults); `decorate` adds headers to every API answer.
    """

    def __init__(self, name: str, faults: FaultPlan | None = None) -> None:
        self.name = name
        self.router = Router()
        self.admin_router = Router()
        self.stats = CallStats()
        self.faults = faults or FaultPlan()
        self.lock = threading.RLock()
        self.call_number = 0
        self.before_call: Callable[[Request, int], Response | None] | None = None
        self.decorate: Callable[[Request, Response], None] | None = None
        self.on_reset: list[Callable[[], None]] = []
        self.error_response: Callable[[int, str], Response] = _plain_error
        self.admin("GET", "stats", lambda _req: Response.json(200, self.stats.snapshot()))
        self.admin("POST", "reset", self._reset)
        self.admin("GET", "faults", lambda _req: Response.json(200, self.faults.to_json()))
        self.admin("POST", "faults", self._set_faults)

    def admin(self, method: str, name: str, handler: Handler) -> None:
        self.admin_router.add(method, ADMIN_PREFIX + name, handler)

    def _reset(self, _req: Request) -> Response:
        with self.lock:
            self.stats.reset()
            for hook in self.on_reset:
                hook()
        return Response.json(200, {"status": "reset"})

    def _set_faults(self, req: Request) -> Response:
        try:
            payload = req.json() or {}
            if not isinstance(payload, dict):
                raise ValueError("expected a JSON object")
            self.faults = FaultPlan.from_json(payload)
        except (ValueError, BadJSONError) as exc:
            return Response.json(400, {"error": str(exc)})
        return Response.json(200, self.faults.to_json())

    def handle(self, req: Request) -> Response:
        if req.path.startswith(ADMIN_PREFIX):
            return self._dispatch(self.admin_router, req) or Response.json(
                404, {"error": f"no admin endpoint {req.method} {req.path}"}
            )
        with self.lock:
            self.call_number += 1
            call_number = self.call_number
        matched = self.router.match(req.method, req.path)
        route = matched[0].template if isinstance(matched, tuple) else "<unmatched>"
        req.route = route
        response = self._answer(req, call_number, matched)
        if self.decorate is not None and not response.reset_connection:
            self.decorate(req, response)
        self.stats.record(req.method, route, 0 if response.reset_connection else response.status)
        return response

    def _answer(
        self, req: Request, call_number: int, matched: tuple[_Route, dict[str, str]] | str | None
    ) -> Response:
        if self.faults.fires("reset", call_number):
            return Response(0, reset_connection=True)
        if self.faults.fires("slow", call_number):
            time.sleep(self.faults.slow_seconds)
        with self.lock:
            if self.before_call is not None:
                early = self.before_call(req, call_number)
                if early is not None:
                    return early
            if matched is None:
                return self.error_response(404, f"no endpoint {req.method} {req.path}")
            if matched == "405":
                return self.error_response(405, f"method {req.method} not allowed")
            assert isinstance(matched, tuple)
            route, params = matched
            req.params = params
            try:
                return route.handler(req)
            except HTTPError as exc:
                return exc.response
            except BadJSONError as exc:
                return self.error_response(400, f"invalid JSON body: {exc}")

    @staticmethod
    def _dispatch(router: Router, req: Request) -> Response | None:
        matched = router.match(req.method, req.path)
        if not isinstance(matched, tuple):
            return None
        route, params = matched
        req.params = params
        req.route = route.template
        try:
            return route.handler(req)
        except HTTPError as exc:
            return exc.response


def _plain_error(status: int, message: str) -> Response:
    return Response.json(status, {"error": message})


# --------------------------------------------------------------------------- the server


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: the stats endpoint is the record

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        if len(self.path.encode()) > self.server.max_uri_bytes:
            response = self.server.app.error_response(414, "URI too long")
        else:
            response = self.server.app.handle(req)
        if response.reset_connection:
            self._reset()
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _reset(self) -> None:
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        app: App,
        tls: ssl.SSLContext | None,
        max_uri_bytes: int,
    ) -> None:
        self.app = app
        self.tls = tls
        self.max_uri_bytes = max_uri_bytes
        super().__init__(address, _RequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Headers and body leave in two writes: without NODELAY, Nagle plus delayed ACK
        # add ~40 ms to every response.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)


class RunningServer:
    """A started sandbox server; `url` is its base URL; `stop()` shuts it down."""

    def __init__(
        self,
        app: App,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        max_uri_bytes: int = 1 << 20,
    ) -> None:
        if not host.startswith("127.") and host not in ("localhost", "::1"):
            raise ValueError("the sandbox only listens on loopback")
        self.app = app
        self._server = _Server((host, port), app, tls, max_uri_bytes)
        self.host = host
        self.port = self._server.server_address[1]
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-{app.name}",
            daemon=True,
        )

    def start(self) -> RunningServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
