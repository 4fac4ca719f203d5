"""`connector serve`'s webhook handler (`app.service.web.build_app`) on a loopback port in
this process, for tests that drive it with signed requests (the HubSpot sandbox's own
webhooks, or bodies signed here) and then run the loop's pass themselves: no loop thread, so
nothing waits on a timed condition."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from app.service.loop import SyncLoop
from app.service.metrics import ServiceMetrics
from app.service.web import WEBHOOK_PATH, build_app
from core.clock import Clock
from core.config import Settings


@dataclass
class Handler:
    url: str  # the webhook URL, as HubSpot signs it
    loop: SyncLoop  # not started: `notify` only records the batch


@contextmanager
def webhook_handler(settings: Settings, clock: Clock, secret: str) -> Iterator[Handler]:
    metrics = ServiceMetrics()
    loop = SyncLoop(settings, clock, metrics)
    app = build_app(settings, loop, metrics, clock=clock, client_secret=secret)
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False,
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the webhook handler did not start"
        time.sleep(0.02)
    try:
        yield Handler(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", loop)
    finally:
        server.should_exit = True
        thread.join(10)
        listening.close()
