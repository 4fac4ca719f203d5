"""Helpers for the Salesforce adapter tests: settings, RSA keys, a fast retry policy."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from core.config import SalesforceSettings, Settings
from core.retry import RetryPolicy

INSTANCE = "https://acme.my.salesforce.com"
API = f"{INSTANCE}/services/data/v59.0"
SESSION_ID = "00Dxx0000000001!AQ4AQSESSIONSECRETVALUE"
FAST = RetryPolicy(max_attempts=4, max_total_seconds=30, base_delay=0.0, max_delay=0.0)


def make_settings(**salesforce: Any) -> Settings:
    values: dict[str, Any] = {
        "auth": "session",
        "instance_url": INSTANCE,
        "session_id": SESSION_ID,
    }
    values.update(salesforce)
    return Settings(salesforce=SalesforceSettings(**values))


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def write_rsa_pair(directory: Path, name: str = "jwt") -> tuple[Path, Path]:
    """A private key (PKCS8 PEM) and a self-signed certificate for it, as a connected app
    would hold them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"connector {name}")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_path = directory / f"{name}-key.pem"
    cert_path = directory / f"{name}-cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


# ---------------------------------------------------------------------- a tiny query double

_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'")
_SOQL_UNESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
_QUERY_SHAPE = re.compile(
    r"^SELECT (?P<fields>.+?) FROM (?P<sobject>\w+) WHERE (?P<field>\w+) IN \((?P<values>.*)\)$",
    re.S,
)


def soql_unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _SOQL_UNESCAPES.get(m.group(1), m.group(1)), text)


class QueryDouble:
    """Answers `GET .../query/?q=SELECT f FROM X WHERE Email|Id IN ('..')` from seeded records,
    comparing case-insensitively like Salesforce; records every SOQL and URL it saw."""

    def __init__(self, records: dict[str, list[dict[str, Any]]]) -> None:
        self.records = records
        self.soql: list[str] = []
        self.urls: list[str] = []

    def install(self, rsps: Any, api: str = API) -> None:
        rsps.add_callback(
            "GET", re.compile(re.escape(f"{api}/query/") + r"\?.*"), callback=self._answer
        )

    def _answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.urls.append(request.url)
        soql = parse_qs(urlsplit(request.url).query)["q"][0]
        self.soql.append(soql)
        shape = _QUERY_SHAPE.match(soql)
        assert shape, soql
        wanted = {soql_unescape(v).lower() for v in _LITERAL.findall(shape["values"])}
        # every literal must be a well-formed quoted string separated by commas
        rebuilt = ",".join(m.group(0) for m in _LITERAL.finditer(shape["values"]))
        assert rebuilt == shape["values"], soql
        selected = [f.strip() for f in shape["fields"].split(",")]
        rows = [
            {"attributes": {"type": shape["sobject"]}, **{f: r.get(f) for f in selected}}
            for r in self.records.get(shape["sobject"], [])
            if str(r.get(shape["field"]) or "").lower() in wanted
        ]
        body = {"totalSize": len(rows), "done": True, "records": rows}
        return 200, {"Sforce-Limit-Info": "api-usage=1/5000"}, json.dumps(body)
