"""Start both sandboxes together: HubSpot over http, Salesforce over TLS with a throw-away
certificate, a connected app that trusts a fresh JWT signing key, demo data, and a
connector config file that points at all of it.

Used by `connector sandbox serve`, `connector demo` and the end-to-end test fixtures.
"""

from __future__ import annotations

import signal
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.clock import Clock, epoch_seconds, system_clock
from sandbox.generator import HUBSPOT_KINDS, generate, split_by_kind
from sandbox.httpbase import FaultPlan, RunningServer, stop_all
from sandbox.hubspot import DEFAULT_HUBSPOT_TOKEN, HubSpotSandbox
from sandbox.hubspot.webhooks import WebhookConfig
from sandbox.salesforce import DEFAULT_SALESFORCE_SESSION, JwtTrust, SalesforceSandbox
from sandbox.tls import CertificatePair, SigningKey, make_loopback_certificate, make_signing_key

SANDBOX_CONSUMER_KEY = "sandbox-connected-app-consumer-key"
SANDBOX_USERNAME = "integration@sandbox.example.com"
PROJECT_MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"


@dataclass
class SandboxOptions:
    hubspot_port: int = 0
    salesforce_port: int = 0
    seed: str = "demo"  # "demo" | "none"
    contacts: int = 500
    tier: str = "pro"
    faults: str | None = None
    hubspot_token: str | None = None
    salesforce_session: str | None = None
    write_config: Path | None = None
    random_seed: int = 42
    now: datetime | None = None  # the moment the demo data is generated up to (None: now)
    search_lag_seconds: float = 0.0
    workdir: Path | None = None
    clock: Clock = system_clock  # both servers' "now" (record stamps, limits, JWT expiry)
    # HubSpot webhooks: where to POST signed batches, and the app's client secret they are
    # signed with (`sandbox/hubspot/webhooks.py`); both or neither.
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_retry_scale: float = 1.0

    def webhook_config(self) -> WebhookConfig | None:
        """The webhook settings; ValueError naming the option when only one is given."""
        if self.webhook_url is None and self.webhook_secret is None:
            return None
        if not self.webhook_url:
            raise ValueError("--webhook-secret needs --webhook-url")
        if not self.webhook_secret:
            raise ValueError("--webhook-url needs --webhook-secret (the app's client secret)")
        return WebhookConfig(
            self.webhook_url, self.webhook_secret, retry_scale=self.webhook_retry_scale
        )


@dataclass
class Sandbox:
    hubspot: HubSpotSandbox
    salesforce: SalesforceSandbox
    hubspot_server: RunningServer
    salesforce_server: RunningServer
    certificate: CertificatePair
    signing_key: SigningKey
    workdir: Path
    clock: Clock = system_clock  # the servers' "now"; connectors run against them share it
    seeded: dict[str, Any] = field(default_factory=dict)

    @property
    def hubspot_url(self) -> str:
        return self.hubspot_server.url

    @property
    def salesforce_url(self) -> str:
        return self.salesforce_server.url

    def config_toml(self, state_path: Path, mappings_dir: Path = PROJECT_MAPPINGS) -> str:
        """A complete connector config pointing at these servers (JWT bearer login)."""
        return "\n".join(
            [
                "# Written by `connector sandbox serve`: points the connector at local sandboxes.",
                "[hubspot]",
                f'access_token = "{self.hubspot.token}"',
                f'base_url = "{self.hubspot_url}"',
                f'tier = "{self.hubspot.tier.name}"',
                "overlap_minutes = 5",
                "",
                "[salesforce]",
                'auth = "jwt"',
                f'login_url = "{self.salesforce_url}"',
                f'username = "{SANDBOX_USERNAME}"',
                f'consumer_key = "{SANDBOX_CONSUMER_KEY}"',
                f'private_key_file = "{self.signing_key.key_path}"',
                f'ca_bundle = "{self.certificate.cert_path}"',
                "",
                "[state]",
                f'path = "{state_path}"',
                "",
                "[sync]",
                f'mappings_dir = "{mappings_dir}"',
                "",
            ]
        )

    def write_config(self, path: Path, state_path: Path | None = None) -> Path:
        state = state_path or path.resolve().parent / "state" / "connector.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.config_toml(state), encoding="utf-8")
        path.chmod(0o600)
        return path

    def seed_demo(self, contacts: int, random_seed: int, now: datetime) -> dict[str, Any]:
        data = generate(contacts=contacts, seed=random_seed, now=now)
        # One pass of the generator each, not one per kind.
        hubspot_counts = self.hubspot.seed(split_by_kind(data.hubspot_records(), HUBSPOT_KINDS))
        salesforce: dict[str, list[dict[str, Any]]] = {}
        for name, record in data.salesforce_records():
            salesforce.setdefault(name, []).append(record)
        salesforce_counts = self.salesforce.seed(salesforce)
        self.seeded = {"hubspot": hubspot_counts, "salesforce": salesforce_counts}
        return self.seeded

    def stop(self) -> None:
        stop_all([self.hubspot_server, self.salesforce_server])
        self.hubspot.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox(options: SandboxOptions) -> Sandbox:
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="connector-sandbox-"))
    certificate = make_loopback_certificate(workdir / "tls")
    signing_key = make_signing_key(workdir / "jwt")
    faults = FaultPlan.parse(options.faults)
    webhooks = options.webhook_config()
    hubspot = HubSpotSandbox(
        token=options.hubspot_token or DEFAULT_HUBSPOT_TOKEN,
        tier=options.tier,
        faults=faults,
        search_lag_seconds=options.search_lag_seconds,
        clock=epoch_seconds(options.clock),
        webhooks=webhooks,
    )
    salesforce = SalesforceSandbox(
        session_id=options.salesforce_session or DEFAULT_SALESFORCE_SESSION,
        faults=faults,
        jwt=JwtTrust(SANDBOX_CONSUMER_KEY, signing_key.certificate_pem, (SANDBOX_USERNAME,)),
        clock=epoch_seconds(options.clock),
    )
    hubspot_server = RunningServer(hubspot.app, port=options.hubspot_port).start()
    try:
        salesforce_server = RunningServer(
            salesforce.app,
            port=options.salesforce_port,
            tls=certificate.server_context(),
            max_uri_bytes=16_384,
        ).start()
    except OSError:
        hubspot_server.stop()
        hubspot.close()
        raise
    salesforce.instance_url = salesforce_server.url
    return Sandbox(
        hubspot,
        salesforce,
        hubspot_server,
        salesforce_server,
        certificate,
        signing_key,
        workdir,
        options.clock,
    )


def serve_forever(options: SandboxOptions, announce: Callable[[str], None]) -> int:
    """`connector sandbox serve`: run until SIGINT or SIGTERM."""
    from core.errors import ConfigError

    try:
        sandbox = start_sandbox(options)
    except OSError as exc:
        raise ConfigError(f"cannot listen on the requested ports: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"sandbox options: {exc}") from None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        seeded = ""
        if options.seed == "demo" and options.contacts:
            counts = sandbox.seed_demo(
                options.contacts, options.random_seed, options.now or options.clock()
            )
            seeded = f", seeded {counts['hubspot'].get('contacts', 0)} contacts"
        config = ""
        if sandbox.hubspot.webhooks.enabled:
            config += f", webhooks to {options.webhook_url}"
        if options.write_config is not None:
            sandbox.write_config(options.write_config)
            config = f", config {options.write_config}"
        announce(
            f"sandbox ready: HubSpot {sandbox.hubspot_url} Salesforce {sandbox.salesforce_url}"
            f"{seeded}{config} (Ctrl-C to stop)"
        )
        stop.wait()
    finally:
        sandbox.stop()
    return 0
