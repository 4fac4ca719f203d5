"""A raw webhook receiver for the tests: a `http.server` on loopback that records every
request and answers the statuses it is told to, and an independent check of HubSpot's v3
signature (written from HubSpot's "Validating requests" guide, not from the sandbox's code)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    uri: str  # scheme + host + path + query, as the sender addressed it
    headers: dict[str, str]
    body: bytes

    @property
    def events(self) -> list[dict[str, Any]]:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answered in order, then 204
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 204

    def batches(self) -> list[list[dict[str, Any]]]:
        with self.lock:
            return [r.events for r in self.received]


def v3_is_valid(secret: str, request: Received, now_ms: int | None = None) -> bool:
    """HubSpot v3: base64(HMAC-SHA256(secret, method + URI + body + timestamp)); optionally
    reject timestamps older than five minutes."""
    timestamp = request.headers.get("x-hubspot-request-timestamp", "")
    signature = request.headers.get("x-hubspot-signature-v3", "")
    if not timestamp.isdigit() or not signature:
        return False
    if now_ms is not None and now_ms - int(timestamp) > 300_000:
        return False
    message = f"{request.method}{request.uri}{request.body.decode('utf-8')}{timestamp}"
    expected = base64.b64encode(
        hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    ).decode()
    return hmac.compare_digest(expected, signature)


@contextmanager
def running_receiver(path: str = "/hubspot/webhooks") -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver = holder["r"]
            uri = f"http://{self.headers['Host']}{self.path}"
            headers = {k.lower(): v for k, v in self.headers.items()}
            with receiver.lock:
                receiver.received.append(Received("POST", uri, headers, body))
            status = receiver.next_status()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["r"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}{path}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["r"]
    finally:
        server.shutdown()
        server.server_close()
