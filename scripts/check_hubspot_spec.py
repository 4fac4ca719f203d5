"""Check the HubSpot sandbox's answers against HubSpot's published 2026-09 OpenAPI specs.

    python scripts/check_hubspot_spec.py SPEC_REPO_DIR [--contacts N] [--verbose]

SPEC_REPO_DIR is a git checkout (or bare clone) of HubSpot's public API spec collection
(`HubSpot-public-api-spec-collection`); every `PublicApiSpecs/**/2026-09/*.json` is read from
its HEAD with `git show`, nothing is copied. The script

1. starts the HubSpot sandbox (with the Salesforce one beside it) in-process at tier
   `enterprise` with demo data on a pinned clock, records every request and answer by wrapping
   the sandbox's `App.handle`, and drives what the connector does: `setup hubspot` (properties,
   groups, batch create, the stream probes), a `backfill` and a `sync` with the HubSpot
   write-back on (`sync.runner.run_once`);
2. sends the error cases: 404 of a missing object, 400 of a bad search, a batch read with a
   missing id, a 429 (an injected `rate_limit` fault); then archive, batch archive, the
   archived reads, merge and GDPR delete with their refusals (404, 400);
3. starts a second sandbox at tier `pro` for the 403 of the events API;
4. matches each request to its operation in the 2026-09 specs (the most literal path template;
   for the shared `/crm/objects/2026-09/{objectType}` templates the file named after the
   object type) and checks that the status is declared for it (an error status may fall to
   `default`) and the JSON body against the response schema with `openapi-schema-validator`'s
   OpenAPI 3.0 validator (`nullable`, formats), `$ref`s resolved inside the spec file.

It prints one line per operation and exits 1 if any answer fails. Requests to paths no 2026-09
spec has (legacy email events v1, form-integrations v1, forms v3) are listed as out of scope.

KNOWN divergence (not a failure): HubSpot's rate limiter answers 429 with
`{"status","message","errorType":"RATE_LIMIT","correlationId","policyName","requestId"}`
and no `category` (HGData/mk-node-hubspot issue #89 and pull request #84; api-facts), which
the specs' `default` Error requires. The sandbox keeps the real shape.

Needs the `spec` extra: `pip install -e '.[spec]'`. Not part of CI (CI has no copy of the
collection); see sandbox/hubspot/README.md, "Checked against the 2026-09 specs".
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

VERSION = "2026-09"
PINNED_NOW = "2026-11-20T09:00:00Z"
OBJECT_FILES = {"0-1": "contacts", "0-2": "companies", "0-47": "meetings", "0-49": "emails"}
TOKEN_HEADER = "Authorization"


# --------------------------------------------------------------------------- the specs


@dataclass
class Operation:
    method: str
    template: str
    spec_file: str
    responses: dict[str, Any]
    document: dict[str, Any]
    pattern: re.Pattern[str]
    literal_segments: int
    params: tuple[str, ...]


def _git(spec_dir: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(spec_dir), *args], check=True, capture_output=True, text=True
    ).stdout


def load_operations(spec_dir: Path) -> list[Operation]:
    names = [
        name
        for name in _git(spec_dir, "ls-tree", "-r", "--name-only", "HEAD").splitlines()
        if f"/{VERSION}/" in name and name.endswith(".json")
    ]
    if not names:
        raise SystemExit(f"{spec_dir}: no PublicApiSpecs/**/{VERSION}/*.json at HEAD")
    operations: list[Operation] = []
    for name in names:
        document = json.loads(_git(spec_dir, "show", f"HEAD:{name}"))
        for template, item in (document.get("paths") or {}).items():
            for method, op in item.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                params = tuple(re.findall(r"\{(\w+)\}", template))
                regex = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
                operations.append(
                    Operation(
                        method.upper(),
                        template,
                        name,
                        op.get("responses") or {},
                        document,
                        re.compile(regex + "/?$"),
                        sum(1 for s in template.split("/") if s and "{" not in s),
                        params,
                    )
                )
    return operations


def find_operation(operations: list[Operation], method: str, path: str) -> Operation | None:
    found: list[tuple[Operation, dict[str, str]]] = []
    for op in operations:
        if op.method == method:
            match = op.pattern.match(path)
            if match:
                found.append((op, match.groupdict()))
    if not found:
        return None
    best = max(op.literal_segments for op, _ in found)
    found = [(op, params) for op, params in found if op.literal_segments == best]
    for op, params in found:  # the shared CRM object templates: the object type's own file
        object_type = params.get("objectType") or params.get("fromObjectType")
        if object_type:
            stem = OBJECT_FILES.get(object_type, object_type.lower())
            if Path(op.spec_file).stem.lower() == stem:
                return op
    return sorted(found, key=lambda pair: pair[0].spec_file)[0][0]


def _deref(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        pointer = node["$ref"].removeprefix("#/").split("/")
        node = document
        for part in pointer:
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


# --------------------------------------------------------------------------- one answer


@dataclass
class Exchange:
    method: str
    path: str
    route: str
    status: int
    body: bytes
    content_type: str


def check_exchange(op: Operation, exchange: Exchange) -> list[str]:
    """The problems of one answer ([] when it passes)."""
    from openapi_schema_validator import OAS30Validator, oas30_format_checker

    key = str(exchange.status)
    if key not in op.responses:
        if exchange.status >= 400 and "default" in op.responses:
            key = "default"
        else:
            return [f"status {exchange.status} not declared ({', '.join(op.responses)})"]
    response = _deref(op.document, op.responses[key])
    content = response.get("content") or {}
    if not content:
        return [] if not exchange.body else [f"{exchange.status}: body where the spec has none"]
    media = content.get("application/json") or content.get("*/*") or next(iter(content.values()))
    schema = media.get("schema")
    if schema is None:
        return []
    try:
        body = json.loads(exchange.body)
    except ValueError:
        return [f"{exchange.status}: body is not JSON ({exchange.content_type})"]
    wrapper = {"allOf": [schema], "components": op.document.get("components", {})}
    validator = OAS30Validator(wrapper, format_checker=oas30_format_checker)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    return [f"{exchange.status} {e.json_path}: {_short(e.message)}" for e in errors]


def _short(text: str, limit: int = 140) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_known_divergence(exchange: Exchange, problems: list[str]) -> bool:
    """The rate limiter's 429 body has no `category` (module docstring)."""
    return (
        exchange.status == 429
        and bool(problems)
        and all(p.endswith("'category' is a required property") for p in problems)
    )


# --------------------------------------------------------------------------- driving


@dataclass
class Recorder:
    exchanges: list[Exchange] = field(default_factory=list)

    def wrap(self, app: Any) -> None:
        inner: Callable[[Any], Any] = app.handle

        def handle(req: Any) -> Any:
            response = inner(req)
            if not req.path.startswith("/_sandbox/") and not response.reset_connection:
                self.exchanges.append(
                    Exchange(
                        req.method,
                        req.path,
                        req.route,
                        response.status,
                        response.body,
                        response.headers.get("Content-Type", ""),
                    )
                )
            return response

        app.handle = handle


def _start(workdir: Path, tier: str, contacts: int, recorder: Recorder) -> Any:
    from core.clock import clock_from, parse_moment
    from sandbox.serve import SandboxOptions, start_sandbox

    now = parse_moment(PINNED_NOW)
    sandbox = start_sandbox(SandboxOptions(workdir=workdir, tier=tier, clock=clock_from(now)))
    recorder.wrap(sandbox.hubspot.app)
    sandbox.seed_demo(contacts, 42, now - timedelta(hours=1))
    return sandbox


def _settings(sandbox: Any, workdir: Path) -> Any:
    from core.config import load_settings

    text = sandbox.config_toml(workdir / "state" / "connector.db")
    path = workdir / "connector.toml"
    path.write_text(text.replace("[hubspot]\n", "[hubspot]\nwrite_back = true\n", 1), "utf-8")
    path.chmod(0o600)
    return load_settings(path)


def drive_enterprise(workdir: Path, contacts: int, recorder: Recorder) -> None:
    import requests

    from app.setup_hubspot import run_setup
    from sync.runner import run_once

    sandbox = _start(workdir, "enterprise", contacts, recorder)
    try:
        settings = _settings(sandbox, workdir)
        run_setup(settings, check_only=False)
        since = sandbox.clock() - timedelta(days=690)
        run_once(settings, kind="backfill", since=since, clock=sandbox.clock)
        run_once(settings, kind="sync", clock=sandbox.clock)
        run_setup(settings, check_only=True)
        _error_cases(requests.Session(), sandbox.hubspot_url, sandbox.hubspot.token)
        _deletions(requests.Session(), sandbox.hubspot_url, sandbox.hubspot.token)
    finally:
        sandbox.stop()


def _error_cases(http: Any, url: str, token: str) -> None:
    http.headers[TOKEN_HEADER] = f"Bearer {token}"
    objects = f"{url}/crm/objects/{VERSION}/contacts"
    known = http.get(objects, params={"limit": 1}, timeout=30).json()["results"][0]["id"]
    # The other dated reads the sandbox serves (the connector's probes and checks use some).
    http.get(f"{objects}/{known}", params={"associations": "companies"}, timeout=30)
    http.get(f"{url}/account-info/{VERSION}/details", timeout=30)
    http.get(f"{url}/crm-object-schemas/{VERSION}/schemas", timeout=30)
    http.get(f"{url}/crm/properties/{VERSION}/contacts/email", timeout=30)
    events = f"{url}/marketing/marketing-events/{VERSION}"
    event_id = http.get(events, params={"limit": 1}, timeout=30).json()["results"][0]["objectId"]
    http.get(f"{events}/{event_id}", timeout=30)
    http.get(f"{events}/participations/contacts/{known}/breakdown", timeout=30)
    http.get(f"{url}/events/event-occurrences/{VERSION}/event-types", timeout=30)
    http.get(f"{objects}/999999999", timeout=30)  # 404
    http.post(f"{objects}/search", json={"limit": 500}, timeout=30)  # 400: limit over 200
    bad_operator = {"filterGroups": [{"filters": [
        {"propertyName": "email", "operator": "LIKE", "value": "x"}]}]}
    http.post(f"{objects}/search", json=bad_operator, timeout=30)  # 400: unknown operator
    http.post(  # a missing id beside a known one
        f"{objects}/batch/read",
        json={"inputs": [{"id": known}, {"id": "999999999"}], "properties": ["email"]},
        timeout=30,
    )
    http.post(
        f"{url}/crm/associations/{VERSION}/contacts/companies/batch/read",
        json={"inputs": [{"id": "999999999"}]},
        timeout=30,
    )
    http.post(f"{url}/_sandbox/faults", json={"rate_limit": 1.0}, timeout=30)
    try:
        http.get(objects, params={"limit": 1}, timeout=30)  # 429
    finally:
        http.post(f"{url}/_sandbox/faults", json={}, timeout=30)


def _deletions(http: Any, url: str, token: str) -> None:
    """Archive, batch archive, merge and GDPR delete on the dated paths, with their refusals
    (the connector reads the archived listing and the merged ids; sandbox/hubspot/deletions.py)."""
    http.headers[TOKEN_HEADER] = f"Bearer {token}"
    objects = f"{url}/crm/objects/{VERSION}/contacts"
    ids = [r["id"] for r in http.get(objects, params={"limit": 8}, timeout=30).json()["results"]]
    http.delete(f"{objects}/{ids[0]}", timeout=30)  # 204
    http.get(f"{objects}/{ids[0]}", timeout=30)  # 404: archived
    http.get(f"{objects}/{ids[0]}", params={"archived": "true"}, timeout=30)  # with archivedAt
    http.post(f"{objects}/batch/archive", json={"inputs": [{"id": ids[1]}]}, timeout=30)
    http.get(objects, params={"archived": "true", "limit": 10}, timeout=30)
    http.post(
        f"{objects}/batch/read",
        params={"archived": "true"},
        json={"inputs": [{"id": ids[0]}, {"id": ids[1]}], "properties": ["email"]},
        timeout=30,
    )
    merge = {"primaryObjectId": ids[2], "objectIdToMerge": ids[3]}
    http.post(f"{objects}/merge", json=merge, timeout=30)  # 200: the new record
    http.get(f"{objects}/{ids[3]}", timeout=30)  # 200: the merged-away id answers
    http.post(f"{objects}/merge", json=merge, timeout=30)  # 400: already one record
    bad = {"primaryObjectId": ids[4], "objectIdToMerge": "999999999"}
    http.post(f"{objects}/merge", json=bad, timeout=30)  # 404
    http.post(f"{objects}/gdpr-delete", json={"objectId": ids[5]}, timeout=30)  # 204
    http.post(f"{objects}/gdpr-delete", json={"objectId": "999999999"}, timeout=30)  # 404
    http.delete(f"{objects}/999999999", timeout=30)  # 404
    over = {"inputs": [{"id": str(i)} for i in range(101)]}
    http.post(f"{objects}/batch/archive", json=over, timeout=30)  # 400


def drive_pro(workdir: Path, recorder: Recorder) -> None:
    import requests

    sandbox = _start(workdir, "pro", 10, recorder)
    try:
        http = requests.Session()
        http.headers[TOKEN_HEADER] = f"Bearer {sandbox.hubspot.token}"
        base = f"{sandbox.hubspot_url}/events/event-occurrences/{VERSION}"
        http.get(base, params={"objectType": "contact", "limit": 1}, timeout=30)
        http.get(f"{base}/event-types", timeout=30)
    finally:
        sandbox.stop()


# --------------------------------------------------------------------------- report


def report(operations: list[Operation], exchanges: list[Exchange]) -> tuple[list[str], bool]:
    groups: dict[tuple[str, str, str], list[tuple[Exchange, list[str]]]] = {}
    legacy: dict[tuple[str, str], int] = {}
    for exchange in exchanges:
        op = find_operation(operations, exchange.method, exchange.path)
        if op is None:
            legacy[(exchange.method, exchange.route)] = (
                legacy.get((exchange.method, exchange.route), 0) + 1
            )
            continue
        key = (op.method, op.template, op.spec_file)
        groups.setdefault(key, []).append((exchange, check_exchange(op, exchange)))
    lines: list[str] = []
    failed = False
    for (method, template, spec_file), checked in sorted(groups.items(), key=lambda kv: kv[0][1]):
        statuses: dict[int, int] = {}
        for exchange, _ in checked:
            statuses[exchange.status] = statuses.get(exchange.status, 0) + 1
        seen = ",".join(f"{s}x{n}" for s, n in sorted(statuses.items()))
        bad = [(e, p) for e, p in checked if p and not is_known_divergence(e, p)]
        known = [(e, p) for e, p in checked if p and is_known_divergence(e, p)]
        short_file = spec_file.removeprefix("PublicApiSpecs/")
        if bad:
            failed = True
            first = bad[0][1][:3]
            verdict = f"FAIL ({len(bad)} answers): " + " | ".join(first)
        elif known:
            verdict = "OK (KNOWN: 429 without category, as HubSpot's rate limiter sends it)"
        else:
            verdict = "OK"
        lines.append(f"{method:6} {template}  [{short_file}]  n={len(checked)} ({seen})  {verdict}")
    for (method, route), count in sorted(legacy.items()):
        lines.append(f"{method:6} {route}  [no {VERSION} spec: legacy, out of scope]  n={count}")
    return lines, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("spec_repo_dir", type=Path)
    parser.add_argument("--contacts", type=int, default=120)
    args = parser.parse_args(argv)
    try:
        import openapi_schema_validator  # noqa: F401
    except ImportError:
        print("needs the spec extra: pip install -e '.[spec]'", file=sys.stderr)
        return 2
    try:
        operations = load_operations(args.spec_repo_dir)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        print(f"{args.spec_repo_dir}: not a readable git repository ({exc})", file=sys.stderr)
        return 2
    recorder = Recorder()
    with tempfile.TemporaryDirectory(prefix="hubspot-spec-check-") as tmp:
        drive_enterprise(Path(tmp) / "enterprise", args.contacts, recorder)
        drive_pro(Path(tmp) / "pro", recorder)
    lines, failed = report(operations, recorder.exchanges)
    for line in lines:
        print(line)
    print(f"{len(recorder.exchanges)} answers checked: {'FAILED' if failed else 'all OK'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
