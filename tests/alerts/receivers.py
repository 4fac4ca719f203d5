"""Real local receivers for the alert tests: an HTTP server on a thread (the test double of
Slack's, Teams' and a generic webhook's endpoints: it records every POST and answers the
status a test sets per path) and a real SMTP server (aiosmtpd) that keeps every message."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class HttpReceiver:
    url: str
    posts: list[Received] = field(default_factory=list)
    # path -> statuses to answer, one per request (the last one repeats); default 200
    answers: dict[str, list[int]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)

    def on(self, path: str) -> list[Received]:
        return [p for p in self.posts if p.path == path]

    def answer(self, path: str) -> int:
        queue = self.answers.get(path)
        if not queue:
            return 200
        return queue.pop(0) if len(queue) > 1 else queue[0]


@contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    state = HttpReceiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with lock:
                delay = state.delays.get(self.path, 0.0)
            if delay:
                threading.Event().wait(delay)
            with lock:
                state.posts.append(
                    Received(self.path, dict(self.headers.items()), json.loads(raw or b"null"))
                )
                status = state.answer(self.path)
            body = b"ok" if status < 300 else b"invalid_payload" if status < 500 else b"oops"
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse_with: str | None = None  # e.g. "451 try later"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_with:
            return self.refuse_with
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(
            message_from_bytes(envelope.original_content, policy=policy.default)  # type: ignore[arg-type]
        )
        return "250 Message accepted for delivery"


@contextmanager
def smtp_receiver() -> Iterator[tuple[_Mailbox, int]]:
    box = _Mailbox()
    with socket.socket() as probe:  # aiosmtpd connects to its port to start: no port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()
