"""The sandboxes driven by clients this project did not write: HubSpot's Node SDK
(`@hubspot/api-client`) and jsforce, pinned in package-lock.json beside this file.

Both sandboxes run in-process (as in tests/e2e); each test runs a small node script
(hubspot.js, salesforce.js) and checks its output against the sandboxes' own records. jsforce
logs in with a ready session: the sandbox's default session id and the Salesforce sandbox's
URL as instance URL (sandbox/serve.py); node trusts the throw-away certificate through
NODE_EXTRA_CA_CERTS. The Bulk API 2.0 upload is a streamed PUT with a chunked body, the case
the old HTTP layer garbled.

Needs node (`CONNECTOR_TEST_NODE` or `node` on PATH; `bash scripts/ci-node.sh` installs it from
Debian's packages) and `npm ci` run in this folder. Without them the module is skipped, except
under CI=true, where it fails: a broken install must not pass as green.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.httpbase import Request, Response
from sandbox.serve import Sandbox, SandboxOptions, start_sandbox
from tests.clock import DATA_UNTIL, pinned_clock

HERE = Path(__file__).resolve().parent
NODE_ENV = "CONNECTOR_TEST_NODE"
PACKAGES = ("@hubspot/api-client", "jsforce")
CONTACTS = 40


def _node() -> str:
    node = os.environ.get(NODE_ENV) or shutil.which("node")
    problems = []
    if not node or not Path(node).exists():
        problems.append(f"no node ({NODE_ENV}={os.environ.get(NODE_ENV)!r}, none on PATH)")
    missing = [p for p in PACKAGES if not (HERE / "node_modules" / p / "package.json").exists()]
    if missing:
        problems.append(f"{', '.join(missing)} not installed (run `npm ci` in {HERE})")
    if problems:
        message = "; ".join(problems)
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: under CI=true the third-party client tests must run")
        pytest.skip(message)
    assert node is not None
    return node


class Recorder:
    """Wraps an `App.handle` to keep each API request's method, route and headers."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    def __call__(self, req: Request) -> Response:
        response = self.handle(req)
        self.seen.append((req.method, req.route, dict(req.headers)))
        return response


@pytest.fixture(scope="module")
def node() -> str:
    return _node()


@pytest.fixture(scope="module")
def sandbox(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    running = start_sandbox(
        SandboxOptions(
            workdir=tmp_path_factory.mktemp("thirdparty"), tier="unlimited", clock=pinned_clock()
        )
    )
    running.seed_demo(CONTACTS, 42, DATA_UNTIL)
    yield running
    running.stop()


@pytest.fixture
def recorded(sandbox: Sandbox) -> Iterator[dict[str, Recorder]]:
    apps = {"hubspot": sandbox.hubspot.app, "salesforce": sandbox.salesforce.app}
    recorders = {name: Recorder(app.handle) for name, app in apps.items()}
    for name, app in apps.items():
        app.handle = recorders[name]  # type: ignore[method-assign]
    yield recorders
    for app in apps.values():
        del app.handle  # back to the class's method


def _run(node: str, sandbox: Sandbox, script: str, command: str, args: dict[str, Any]) -> Any:
    env = dict(
        os.environ,
        HUBSPOT_URL=sandbox.hubspot_url,
        HUBSPOT_TOKEN=sandbox.hubspot.token,
        SALESFORCE_URL=sandbox.salesforce_url,
        SALESFORCE_SESSION=sandbox.salesforce.session_id,
        NODE_EXTRA_CA_CERTS=str(sandbox.certificate.cert_path),
        ARGS=json.dumps(args, ensure_ascii=False),
    )
    done = subprocess.run(
        [node, script, command], cwd=HERE, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"node {script} {command} failed:\n{done.stderr}"
    return json.loads(done.stdout)


def _live_contacts(sandbox: Sandbox) -> list[tuple[str, str | None]]:
    store = sandbox.hubspot.store.contacts
    return sorted(
        ((str(r.id), store.value(r, "email")) for r in store.iter_live()), key=lambda c: int(c[0])
    )


# ------------------------------------------------------------------------------ HubSpot Node SDK


def test_given_the_hubspot_node_sdk_listing_contacts_pages_through_every_contact(
    node: str, sandbox: Sandbox, recorded: dict[str, Recorder]
) -> None:
    out = _run(node, sandbox, "hubspot.js", "list", {"limit": 7})
    contacts = _live_contacts(sandbox)
    assert out["ids"] == [cid for cid, _ in contacts]
    assert out["pages"] == math.ceil(len(contacts) / 7)
    # node-fetch asks for gzip: the answers it decoded were compressed by the sandbox
    assert all("gzip" in h.get("accept-encoding", "") for _, _, h in recorded["hubspot"].seen)


def test_given_the_hubspot_node_sdk_a_search_returns_every_match_across_pages(
    node: str, sandbox: Sandbox
) -> None:
    filters = [{"propertyName": "email", "operator": "HAS_PROPERTY"}]
    out = _run(node, sandbox, "hubspot.js", "search", {"filters": filters, "limit": 6})
    expected = [email for _, email in _live_contacts(sandbox) if email]
    assert out["total"] == len(expected)
    assert out["emails"] == expected


def test_given_the_hubspot_node_sdk_a_batch_read_returns_found_contacts_and_the_missing_one(
    node: str, sandbox: Sandbox
) -> None:
    contacts = _live_contacts(sandbox)[:3]
    ids = [cid for cid, _ in contacts] + ["987654321"]
    out = _run(node, sandbox, "hubspot.js", "batch-read", {"ids": ids})
    assert sorted(out["found"], key=lambda c: int(c["id"])) == [
        {"id": cid, "email": email} for cid, email in contacts
    ]
    assert out["errors"] == ["OBJECT_NOT_FOUND"]


# ------------------------------------------------------------------------------ jsforce


def test_given_jsforce_with_the_sandbox_session_a_soql_query_returns_every_lead(
    node: str, sandbox: Sandbox
) -> None:
    out = _run(node, sandbox, "salesforce.js", "query", {"soql": "SELECT Id, Email FROM Lead"})
    leads = sandbox.salesforce.store.records("Lead")
    assert out["totalSize"] == len(leads) and out["done"] is True
    assert sorted(out["records"]) == sorted(lead["Email"] for lead in leads)


def test_given_jsforce_a_bulk_2_ingest_with_a_chunked_upload_inserts_every_row(
    node: str, sandbox: Sandbox, recorded: dict[str, Recorder]
) -> None:
    rows = [
        ("Doe", "Acme", "doe.bulk2@example.com"),
        ("山田", "株式会社テスト製作所", "yamada.bulk2@example.jp"),
        ("O'Brien", "Comma, Inc.", "obrien.bulk2@example.com"),
    ]
    csv = "LastName,Company,Email\n" + "".join(
        f'"{last}","{company}",{email}\n' for last, company, email in rows
    )
    out = _run(node, sandbox, "salesforce.js", "bulk-insert", {"object": "Lead", "csv": csv})
    assert (len(out["successful"]), out["failed"], out["unprocessed"]) == (3, [], 0)
    stored = {
        lead["Email"]: (lead["LastName"], lead["Company"], lead["Id"])
        for lead in sandbox.salesforce.store.records("Lead")
    }
    assert {email: stored[email][:2] for _, _, email in rows} == {
        email: (last, company) for last, company, email in rows
    }
    assert sorted(out["successful"]) == sorted(stored[email][2] for _, _, email in rows)
    uploads = [h for m, route, h in recorded["salesforce"].seen if route.endswith("/batches")]
    assert [h.get("transfer-encoding") for h in uploads] == ["chunked"]
