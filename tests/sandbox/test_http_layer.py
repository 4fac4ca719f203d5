"""The sandbox's HTTP layer (sandbox/httpbase.py, sandbox/httpwire.py) on the wire.

Raw sockets, so the bytes are exactly what third-party clients send: chunked bodies followed
by more requests on the same connection, `Expect: 100-continue`, compressed bodies and
answers, the 414 for long URIs, faults, and a prompt stop.
"""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from core.clock import epoch_seconds
from sandbox import httpwire
from sandbox.httpbase import App, FaultPlan, Request, Response, RunningServer
from sandbox.salesforce import DEFAULT_SALESFORCE_SESSION, SalesforceSandbox
from sandbox.salesforce.errors import URI_TOO_LONG_HTML
from sandbox.tls import CertificatePair, make_loopback_certificate
from tests.clock import pinned_clock

SF_URI_LIMIT = 16_384


def _echo(req: Request) -> Response:
    return Response.json(
        200,
        {"method": req.method, "path": req.path, "body": req.body.decode("utf-8"),
         "query": req.query},
    )  # fmt: skip


def _echo_app(faults: FaultPlan | None = None) -> App:
    app = App("echo", faults)
    app.router.add("POST", "/echo", _echo)
    app.router.add("PUT", "/echo", _echo)
    app.router.add("GET", "/echo", _echo)
    app.router.add("GET", "/big", lambda _req: Response.text(200, "lead,score\n" * 2000))
    return app


@pytest.fixture
def echo() -> Iterator[RunningServer]:
    with RunningServer(_echo_app()) as server:
        yield server


class Wire:
    """One client connection, reading answers byte-exactly (1xx answers included)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buffer += chunk

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
        if status < 200:
            return status, headers, b""
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def json_answer(self) -> tuple[int, dict[str, str], dict[str, object]]:
        status, headers, body = self.answer()
        return status, headers, json.loads(body)

    def close(self) -> None:
        self.sock.close()


def _connect(server: RunningServer, cafile: Path | None = None) -> Wire:
    sock = socket.create_connection((server.host, server.port), timeout=10)
    if cafile is not None:
        context = ssl.create_default_context(cafile=str(cafile))
        sock = context.wrap_socket(sock, server_hostname=server.host)
    return Wire(sock)


def _chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


# ------------------------------------------------------------------------------ framing


def test_given_a_chunked_post_then_a_second_request_on_the_connection_both_are_answered(
    echo: RunningServer,
) -> None:
    wire = _connect(echo)
    wire.send(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: text/csv\r\n\r\n"
        + _chunked(b"Email,LastName\n", b"a@example.com,Doe\n", "b@example.jp,山田\n".encode())
    )
    wire.send(b"GET /echo?n=2 HTTP/1.1\r\nHost: x\r\n\r\n")
    first = wire.json_answer()
    second = wire.json_answer()
    wire.close()
    assert first[0] == 200
    assert first[2]["body"] == "Email,LastName\na@example.com,Doe\nb@example.jp,山田\n"
    assert second[0] == 200
    assert (second[2]["method"], second[2]["query"]) == ("GET", {"n": ["2"]})


def test_given_expect_100_continue_the_server_asks_for_the_body_then_answers(
    echo: RunningServer,
) -> None:
    wire = _connect(echo)
    wire.send(
        b"PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    interim = wire.answer()  # the body is sent only after this, as curl and Java clients do
    wire.send(_chunked(b"Name\n", b"Acme\n"))
    final = wire.json_answer()
    wire.close()
    assert interim[0] == 100
    assert (final[0], final[2]["body"]) == (200, "Name\nAcme\n")


def test_given_one_keep_alive_connection_chunked_gzip_and_plain_requests_all_reuse_it(
    echo: RunningServer,
) -> None:
    wire = _connect(echo)
    payloads = []
    wire.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    wire.send(_chunked(b"one"))
    payloads.append(wire.json_answer())
    packed = gzip.compress(b"two")
    wire.send(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(packed), packed)
    )
    payloads.append(wire.json_answer())
    time.sleep(0.3)  # idle between calls, as a pooled client is
    wire.send(b"GET /echo?x=three HTTP/1.1\r\nHost: x\r\n\r\n")
    payloads.append(wire.json_answer())
    wire.close()
    assert [p[0] for p in payloads] == [200, 200, 200]
    assert all(p[1].get("connection", "").lower() != "close" for p in payloads)
    assert [p[2]["body"] for p in payloads[:2]] == ["one", "two"]
    assert payloads[2][2]["query"] == {"x": ["three"]}


# ------------------------------------------------------------------------------ content codings


def test_given_a_gzip_request_body_the_handler_sees_it_decompressed(echo: RunningServer) -> None:
    body = json.dumps({"inputs": [{"id": "1"}], "名前": "山田"}).encode()
    answer = requests.post(
        f"{echo.url}/echo", data=gzip.compress(body), headers={"Content-Encoding": "gzip"},
        timeout=10,
    )  # fmt: skip
    assert answer.status_code == 200
    assert json.loads(answer.json()["body"]) == {"inputs": [{"id": "1"}], "名前": "山田"}


def test_given_a_deflate_request_body_the_handler_sees_it_decompressed(
    echo: RunningServer,
) -> None:
    answer = requests.post(
        f"{echo.url}/echo", data=zlib.compress(b"deflated"),
        headers={"Content-Encoding": "deflate"}, timeout=10,
    )  # fmt: skip
    assert answer.json()["body"] == "deflated"


@pytest.mark.parametrize(
    ("encoding", "data", "status"),
    [("br", b"\x0b\x02\x80abc\x03", 415), ("gzip", b"not gzip at all", 400),
     ("gzip", gzip.compress(b"cut short", mtime=0)[:-6], 400)],
    ids=["unknown-coding", "not-gzip", "truncated-gzip"],
)  # fmt: skip
def test_given_an_undecodable_request_body_the_server_refuses_it(
    echo: RunningServer, encoding: str, data: bytes, status: int
) -> None:
    answer = requests.post(
        f"{echo.url}/echo", data=data, headers={"Content-Encoding": encoding}, timeout=10
    )
    assert answer.status_code == status


def test_given_accept_encoding_gzip_the_answer_is_gzipped(echo: RunningServer) -> None:
    wire = _connect(echo)
    wire.send(b"GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, deflate;q=0.5\r\n\r\n")
    status, headers, body = wire.answer()
    wire.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    plain = wire.answer()
    wire.close()
    assert (status, headers["content-encoding"]) == (200, "gzip")
    assert gzip.decompress(body) == b"lead,score\n" * 2000 == plain[2]
    assert "content-encoding" not in plain[1]


@pytest.mark.parametrize(
    ("header", "coding"),
    [(None, None), ("identity", None), ("gzip;q=0, deflate", "deflate"), ("*", "gzip"),
     ("br, zstd", None), ("GZIP;q=0.1", "gzip"), ("x-gzip", "gzip"), ("*;q=0", None)],
)  # fmt: skip
def test_given_accept_encoding_the_negotiated_coding_follows_rfc_9110(
    header: str | None, coding: str | None
) -> None:
    assert httpwire.negotiate(header) == coding


# ------------------------------------------------------------------ Salesforce: TLS, 414


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> CertificatePair:
    return make_loopback_certificate(tmp_path_factory.mktemp("http-tls"))


@pytest.fixture
def salesforce(cert: CertificatePair) -> Iterator[RunningServer]:
    sandbox = SalesforceSandbox(clock=epoch_seconds(pinned_clock()))
    server = RunningServer(
        sandbox.app, tls=cert.server_context(), max_uri_bytes=SF_URI_LIMIT
    ).start()
    sandbox.instance_url = server.url
    yield server
    server.stop()


def _query_target(length: int) -> bytes:
    head = "/services/data/v59.0/query/?q=SELECT+Id+FROM+Lead+WHERE+LastName+%3D+%27"
    tail = "%27"
    return (head + "x" * (length - len(head) - len(tail)) + tail).encode()


def test_given_a_uri_over_16384_bytes_salesforce_answers_414_before_reading_the_body(
    salesforce: RunningServer, cert: CertificatePair
) -> None:
    wire = _connect(salesforce, cert.cert_path)
    target = _query_target(SF_URI_LIMIT + 1)
    wire.send(
        b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + DEFAULT_SALESFORCE_SESSION.encode()
        + b"\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
    )
    status, headers, body = wire.answer()  # the 414, not a 100 Continue
    wire.close()
    assert status == 414
    assert headers["content-type"].startswith("text/html")
    assert body.decode() == URI_TOO_LONG_HTML


def test_given_a_uri_of_exactly_16384_bytes_salesforce_serves_it_over_tls(
    salesforce: RunningServer, cert: CertificatePair
) -> None:
    wire = _connect(salesforce, cert.cert_path)
    target = _query_target(SF_URI_LIMIT)
    wire.send(
        b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + DEFAULT_SALESFORCE_SESSION.encode() + b"\r\n\r\n"
    )
    status, _headers, body = wire.answer()
    wire.close()
    assert len(target) == SF_URI_LIMIT
    assert status == 200, body[:300]
    assert json.loads(body)["totalSize"] == 0


# ------------------------------------------------------------------------------ faults, lifecycle


def test_given_a_reset_fault_the_client_sees_a_connection_reset_and_stats_count_it() -> None:
    app = _echo_app(FaultPlan(reset=1.0))
    with RunningServer(app) as server:
        wire = _connect(server)
        wire.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        with pytest.raises(ConnectionResetError):
            wire.answer()
        wire.close()
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{server.url}/echo", timeout=10)
        stats = requests.get(f"{server.url}/_sandbox/stats", timeout=10).json()
    assert {(c["method"], c["route"], c["status"], c["count"]) for c in stats["calls"]} == {
        ("POST", "/echo", 0, 1), ("GET", "/echo", 0, 1)
    }


def test_given_a_slow_fault_other_connections_are_still_answered() -> None:
    app = _echo_app()
    app.router.add("GET", "/slow", lambda _req: (time.sleep(1.0), Response.empty(204))[1])
    with RunningServer(app) as server:
        slow = threading.Thread(
            target=requests.get, args=(f"{server.url}/slow",), kwargs={"timeout": 10}
        )
        slow.start()
        time.sleep(0.1)
        started = time.monotonic()
        fast = requests.get(f"{server.url}/_sandbox/stats", timeout=10)
        waited = time.monotonic() - started
        slow.join()
    assert fast.status_code == 200 and waited < 0.5


def test_given_idle_tls_keep_alive_connections_stop_is_prompt_and_leaves_no_thread(
    cert: CertificatePair,
) -> None:
    before = set(threading.enumerate())
    app = _echo_app()
    server = RunningServer(app, tls=cert.server_context())
    server.start()
    # started means accepting: a request right away is answered
    http = requests.Session()
    http.trust_env = False
    http.verify = str(cert.cert_path)
    assert http.get(f"{server.url}/echo", timeout=10).status_code == 200  # pooled, idle
    started = time.monotonic()
    server.stop()
    took = time.monotonic() - started
    http.close()
    assert took < 1.0
    assert set(threading.enumerate()) <= before
    with pytest.raises(OSError):
        socket.create_connection((server.host, server.port), timeout=2).close()


def test_given_a_busy_port_the_server_raises_oserror_at_once(echo: RunningServer) -> None:
    with pytest.raises(OSError):
        RunningServer(_echo_app(), port=echo.port)
