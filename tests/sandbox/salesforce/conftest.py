"""Fixtures: a TLS Salesforce sandbox on a free loopback port and a real simple-salesforce.

- `sf_cert`: the throw-away loopback certificate (one per test session).
- `sf_factory(**kwargs)`: starts a `SalesforceSandbox(**kwargs)` over TLS; returns it.
- `sf_sandbox`: a started sandbox with default settings.
- `sf_http`: a `requests.Session` that trusts the certificate (for raw calls).
- `sf_client`: `simple_salesforce.Salesforce` bound to `sf_sandbox` with the default session.
- `sf_client_for(sandbox, session_id=...)`: a client for another sandbox or session.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from sandbox.httpbase import RunningServer
from sandbox.salesforce import DEFAULT_SALESFORCE_SESSION, SalesforceSandbox
from sandbox.tls import CertificatePair, make_loopback_certificate

API_VERSION = "59.0"
URI_LIMIT = 16384


def _trusting_session(cert: CertificatePair) -> requests.Session:
    """A session that trusts the sandbox certificate.

    `trust_env = False` matters: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the
    environment override `session.verify`, so without it the loopback certificate is ignored
    wherever those variables are set (they are on this machine and in CI).
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = str(cert.cert_path)
    return session


def _no_delay(server: RunningServer) -> None:
    """Turn off Nagle on the listening socket (accepted sockets inherit it on Linux).

    Without it every request waits ~40 ms for a delayed ACK, because the shared server writes
    headers and body in two sends. Test-only speed-up; proposed for httpbase itself.
    """
    listener = getattr(getattr(server, "_server", None), "socket", None)
    if listener is not None:
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@pytest.fixture(scope="session")
def sf_cert(tmp_path_factory: pytest.TempPathFactory) -> CertificatePair:
    return make_loopback_certificate(tmp_path_factory.mktemp("sf-tls"))


@pytest.fixture
def sf_http(sf_cert: CertificatePair) -> Iterator[requests.Session]:
    session = _trusting_session(sf_cert)
    yield session
    session.close()


@pytest.fixture
def sf_factory(sf_cert: CertificatePair) -> Iterator[Callable[..., SalesforceSandbox]]:
    servers: list[RunningServer] = []

    def start(**kwargs: Any) -> SalesforceSandbox:
        sandbox = SalesforceSandbox(**kwargs)
        server = RunningServer(sandbox.app, tls=sf_cert.server_context(), max_uri_bytes=URI_LIMIT)
        _no_delay(server)
        server.start()
        sandbox.instance_url = server.url
        servers.append(server)
        return sandbox

    yield start
    for server in servers:
        # RunningServer.stop() waits out serve_forever's 0.5 s poll; stop in the background so
        # each test does not pay it (every test gets its own port, so nothing is shared).
        threading.Thread(target=server.stop, daemon=True).start()


@pytest.fixture
def sf_sandbox(sf_factory: Callable[..., SalesforceSandbox]) -> SalesforceSandbox:
    return sf_factory()


@pytest.fixture
def sf_client_for(
    sf_cert: CertificatePair,
) -> Iterator[Callable[..., Salesforce]]:
    sessions: list[requests.Session] = []

    def make(
        sandbox: SalesforceSandbox, session_id: str = DEFAULT_SALESFORCE_SESSION
    ) -> Salesforce:
        http = _trusting_session(sf_cert)
        sessions.append(http)
        assert sandbox.instance_url is not None
        return Salesforce(
            instance_url=sandbox.instance_url,
            session_id=session_id,
            session=http,
            version=API_VERSION,
        )

    yield make
    for http in sessions:
        http.close()


@pytest.fixture
def sf_client(
    sf_sandbox: SalesforceSandbox, sf_client_for: Callable[..., Salesforce]
) -> Salesforce:
    return sf_client_for(sf_sandbox)
