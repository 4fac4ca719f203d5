"""The HTTP machinery both sandbox servers share: routing, call statistics, faults, the server.

A sandbox server is an `App` (a router plus hooks) served on loopback by uvicorn (pure-Python
h11 protocol, asyncio loop) through a small ASGI adapter (`_AsgiAdapter`), so HTTP/1.1 is
spoken by a maintained server, not by this module: chunked request bodies (RFC 9112 §7.1),
keep-alive and pipelining, `Expect: 100-continue` (sent when the body is first read), TLS
from the given `ssl.SSLContext`. The adapter adds what the services do on top: request
`Content-Encoding` undone, answers compressed when `Accept-Encoding` asks (`sandbox.httpwire`,
with sources), the URI length limit (`max_uri_bytes`, answered with the app's 414 body before
the body is read), and the faults (`FaultPlan`; "reset" is a TCP RST before any byte of an
answer, see `_Protocol`). Everything under `/_sandbox/` is administration: never counted,
never faulted.

Handlers run one at a time under the app's lock (the sandbox is a test double: simple,
consistent state beats throughput), on a thread pool beside the event loop; a "slow" fault
sleeps outside the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from sandbox import httpwire

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


_ABORT = "sandbox.abort"  # scope extension: reset this connection (see `_Protocol`)


class _Protocol(H11Protocol):
    """uvicorn's pure-Python HTTP/1.1 protocol (h11), plus a way for the app to reset the
    connection: ASGI has no "abort", so each request's scope carries `extensions[_ABORT]`,
    which sets SO_LINGER to 0 and aborts the transport. The client sees a TCP RST before any
    byte of a response (ECONNRESET; over TLS, no close_notify) — what the old server did.
    Passing a protocol class is uvicorn's documented `Config(http=...)` option."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})[_ABORT] = self._abort
            await inner(scope, receive, send)

        self.app = app

    def shutdown(self) -> None:
        """On stop, drop idle connections at once: a graceful TLS close would wait for the
        client's close_notify, which a pooled, idle client never sends."""
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
        else:
            super().shutdown()

    def _abort(self) -> None:
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


class _AsgiAdapter:
    """Serves `App.handle(Request) -> Response` over ASGI: the whole request body (uvicorn and
    h11 have undone chunked framing and answered `Expect: 100-continue` by the time it is
    read), request `Content-Encoding` undone, the answer compressed when `Accept-Encoding`
    asks, the URI limit, and faults. Handlers are synchronous and run in a thread pool, so a
    "slow" fault does not hold up other connections."""

    def __init__(self, app: App, max_uri_bytes: int, executor: ThreadPoolExecutor) -> None:
        self.app = app
        self.max_uri_bytes = max_uri_bytes
        self.executor = executor

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw_path: bytes = scope["raw_path"]
        query: bytes = scope["query_string"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if len(raw_path) + (len(query) + 1 if query else 0) > self.max_uri_bytes:
            # Answered before the body is read, as a front end would.
            too_long = self.app.error_response(414, "URI too long")
            await _send(send, scope["method"], headers, too_long)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        try:
            decoded = httpwire.decode_body(bytes(body), headers.get("content-encoding"))
        except httpwire.UnsupportedEncodingError as exc:
            await _send(send, scope["method"], headers, self.app.error_response(415, str(exc)))
            return
        except httpwire.CorruptBodyError as exc:
            await _send(send, scope["method"], headers, self.app.error_response(400, str(exc)))
            return
        req = Request(
            method=scope["method"],
            path=raw_path.decode("latin-1"),
            query=parse_qs(query.decode("latin-1"), keep_blank_values=True),
            headers=headers,
            body=decoded,
        )
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(self.executor, self.app.handle, req)
        if response.reset_connection:
            scope["extensions"][_ABORT]()
            await receive()  # returns once the transport is gone: no 500 from uvicorn
            return
        await _send(send, scope["method"], headers, response)


_NO_BODY_STATUSES = frozenset({204, 304})


async def _send(
    send: Any, method: str, request_headers: dict[str, str], response: Response
) -> None:
    body = response.body
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
    ]
    coding = httpwire.negotiate(request_headers.get("accept-encoding"))
    if coding is not None and body and method != "HEAD":
        body = httpwire.encode_body(body, coding)
        headers += [(b"content-encoding", coding.encode()), (b"vary", b"Accept-Encoding")]
    if response.status not in _NO_BODY_STATUSES and response.status >= 200:
        headers.append((b"content-length", str(len(body)).encode()))
    else:
        body = b""
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RunningServer:
    """A sandbox server on loopback, served by uvicorn in a background thread.

    The listening socket is bound in the constructor (so `port` and `url` are known and a busy
    port raises `OSError` at once); `start()` returns once uvicorn accepts connections;
    `stop()` closes idle keep-alive connections, lets answers in flight finish (at most
    `_GRACE_SECONDS`), and joins the thread and the handler pool.
    """

    _GRACE_SECONDS = 2
    _KEEP_ALIVE_SECONDS = 120  # idle connections are closed after this; clients reconnect

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
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        self._socket = socket.socket(family, kind, proto)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind(address)
            self._socket.listen(128)
        except OSError:
            self._socket.close()
            raise
        self.host = host
        self.port = self._socket.getsockname()[1]
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://{host}:{self.port}"
        self._executor = ThreadPoolExecutor(
            max_workers=16, thread_name_prefix=f"sandbox-{app.name}"
        )
        config = uvicorn.Config(
            _AsgiAdapter(app, max_uri_bytes, self._executor),
            http=_Protocol,
            loop="asyncio",
            ws="none",
            lifespan="off",
            interface="asgi3",
            log_config=None,
            log_level=logging.WARNING,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            timeout_keep_alive=self._KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=self._GRACE_SECONDS,
            # The request line and headers must fit in h11's buffer for the 414 to be ours.
            h11_max_incomplete_event_size=max_uri_bytes + 64 * 1024,
            ssl_context_factory=None if tls is None else (lambda _config, _default: tls),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name=f"sandbox-{app.name}", daemon=True)
        self._failure: BaseException | None = None

    def _serve(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:  # reported by start(); SystemExit from uvicorn included
            self._failure = exc

    def start(self) -> RunningServer:
        self._thread.start()
        deadline = time.monotonic() + 10.0
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._socket.close()
                raise OSError(f"sandbox server {self.app.name} did not start: {self._failure!r}")
            time.sleep(0.002)
        return self

    def request_stop(self) -> None:
        """Ask the server to stop without waiting (see `stop_all`)."""
        self._server.should_exit = True

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=self._GRACE_SECONDS + 5)
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._socket.close()

    def stop(self) -> None:
        self.request_stop()
        self.join()

    def __enter__(self) -> RunningServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_all(servers: list[RunningServer]) -> None:
    """Stop several servers at once: each takes ~0.2 s to notice and drain."""
    for server in servers:
        server.request_stop()
    for server in servers:
        server.join()
