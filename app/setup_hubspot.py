"""`connector setup hubspot`: create the contact properties the write-back needs.

What is needed comes from `mappings/hubspot.toml` (defaults when absent) and the scoring
rules (the stage options): one property group (`connector_scoring` by default) and one
contact property per `[[property]]`, of the type its value needs (see `sync.hubspot_fields`).

The command reads the groups and the contact properties (two calls), creates the group if it
is missing (one call) and every missing property in one batch call
(`POST /crm/v3/properties/contacts/batch/create`). A property that exists with another type,
without an option the connector writes, or archived, is reported and left alone: changing a
property's type would lose what HubSpot holds in it. `--check` only reports.

Private-app scopes: `crm.schemas.contacts.read` to read the definitions,
`crm.schemas.contacts.write` to create them; the write-back itself needs
`crm.objects.contacts.write`.

Exit codes: 0 when every property is there and right (after creating what was missing); 2
when `--check` finds something missing or wrong, or a property is wrong (fix it in HubSpot
or map another name in hubspot.toml); 5 when HubSpot refuses the token or scopes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from connectors.hubspot.streams import probe_all, probe_lines, probe_text
from sync.hubspot_fields import (
    FILE_NAME,
    OBJECT_TYPE,
    HubSpotMapping,
    PropertySpec,
    load_hubspot_mapping,
    property_specs,
)

SCOPES = {
    "read definitions": "crm.schemas.contacts.read",
    "create definitions": "crm.schemas.contacts.write",
    "write values (sync with write_back = true)": "crm.objects.contacts.write",
}


@dataclass
class PropertyCheck:
    name: str
    status: str  # ok | missing | wrong | created | failed
    type: str
    problems: list[str] = field(default_factory=list)
    source: str = ""


def check_property(spec: PropertySpec, existing: Mapping[str, Any] | None) -> PropertyCheck:
    """How one existing definition compares with what the write-back writes (pure)."""
    check = PropertyCheck(spec.name, "ok", spec.type, source=spec.source)
    if existing is None:
        check.status = "missing"
        return check
    problems = check.problems
    if existing.get("archived"):
        problems.append("is archived: restore it in HubSpot (Settings > Properties > Archived)")
    actual = existing.get("type")
    if actual != spec.type:
        problems.append(f"is a {actual} property, the connector writes {spec.type} values")
    elif spec.type == "enumeration":
        have = {str(o.get("value")) for o in existing.get("options") or () if not o.get("hidden")}
        lacking = [value for value, _ in spec.options if value not in have]
        if lacking:
            problems.append(f"lacks the option(s) {', '.join(lacking)}")
    if (existing.get("modificationMetadata") or {}).get("readOnlyValue"):
        problems.append("is read-only: HubSpot refuses values written to it")
    if problems:
        check.status = "wrong"
    return check


def compare(
    specs: Sequence[PropertySpec], existing: Mapping[str, Mapping[str, Any]]
) -> list[PropertyCheck]:
    return [check_property(spec, existing.get(spec.name)) for spec in specs]


# ---------------------------------------------------------------------- running it


def load_specs(folder: Path) -> tuple[HubSpotMapping, list[PropertySpec]]:
    from scoring import load_rules

    mapping = load_hubspot_mapping(folder)
    return mapping, property_specs(mapping, load_rules(folder))


def run_setup(settings: Any, check_only: bool) -> dict[str, Any]:
    """Compare (and unless `check_only`, create); returns what the command prints."""
    from connectors.hubspot.client import HubSpotClient
    from connectors.hubspot.writeback import (
        create_group,
        create_properties,
        list_groups,
        list_properties,
    )
    from core.errors import ConfigError

    folder = settings.resolve(settings.sync.mappings_dir)
    mapping, specs = load_specs(folder)
    token = settings.hubspot_token()
    if token is None:
        raise ConfigError("hubspot.access_token: not set (needed by setup hubspot)")
    with HubSpotClient(settings.hubspot, token) as client:
        groups = list_groups(client, OBJECT_TYPE)
        existing = list_properties(client, OBJECT_TYPE)
        checks = compare(specs, existing)
        streams = probe_all(client, settings.hubspot)  # one call per activity stream
        group_status = "ok" if mapping.group.name in groups else "missing"
        missing = [c.name for c in checks if c.status == "missing"]
        if not check_only and (missing or group_status == "missing"):
            if group_status == "missing":
                create_group(client, OBJECT_TYPE, mapping.group.name, mapping.group.label)
                group_status = "created"
            by_name = {s.name: s for s in specs}
            created, refused = create_properties(
                client, OBJECT_TYPE, [by_name[name].create_body() for name in missing]
            )
            for check in checks:
                if check.name in created:
                    check.status = "created"
                elif check.name in refused:
                    check.status = "failed"
                    check.problems.append(refused[check.name])
        companies = None
        if settings.accounts.enabled and settings.accounts.write_hubspot:
            from app.setup_accounts import ensure_company_properties

            companies = ensure_company_properties(client, check_only)
        calls = client.total_calls
    return {
        "company_properties": companies,
        "mapping": str(folder / FILE_NAME),
        "group": {"name": mapping.group.name, "label": mapping.group.label,
                  "status": group_status},
        "properties": checks,
        "specs": specs,
        "hubspot_calls": calls,
        "check_only": check_only,
        "streams": streams,
    }


def format_result(result: Mapping[str, Any]) -> str:
    group = result["group"]
    lines = [
        f"HubSpot contact properties for {result['mapping']}",
        f"  group {group['name']} ({group['label']}): {group['status']}",
    ]
    specs = {s.name: s for s in result["specs"]}
    width = max((len(n) for n in specs), default=10) + 2
    for check in result["properties"]:
        spec = specs[check.name]
        kind = f"{spec.type}/{spec.field_type}"
        if spec.options:
            kind += ": " + ", ".join(value for value, _ in spec.options)
        lines.append(f"  {check.status.upper():8}{check.name.ljust(width)}{kind}")
        lines.extend(f"            - {p}" for p in check.problems)
    bad = [c for c in result["properties"] if c.status not in ("ok", "created")]
    created = [c for c in result["properties"] if c.status == "created"]
    lines.append("")
    if bad:
        lines.append(
            f"{len(bad)} of {len(result['properties'])} propert(ies) missing or wrong"
            + ("" if result["check_only"] else "; wrong ones are left as they are")
        )
    else:
        lines.append(
            f"every property is there ({len(created)} created)"
            + (
                "; set [hubspot] write_back = true to write scores to them"
                if created or result["check_only"] else ""
            )
        )
    lines.append(
        "private-app scopes: "
        + "; ".join(f"{scope} ({why})" for why, scope in SCOPES.items())
    )
    lines.append("activity streams:")
    lines.extend(probe_lines(result.get("streams", [])))
    lines.append(f"HubSpot API calls: {result['hubspot_calls']}")
    return "\n".join(lines)


def problems_of(result: Mapping[str, Any], check_only: bool) -> list[PropertyCheck]:
    """The properties (and, with `check_only`, the group) that are missing or wrong."""
    checks: list[PropertyCheck] = result["properties"]
    bad = [c for c in checks if c.status not in ("ok", "created")]
    if check_only and result["group"]["status"] != "ok":
        bad = bad or [PropertyCheck(result["group"]["name"], "missing", "group")]
    return bad


def result_payload(result: Mapping[str, Any], check_only: bool) -> dict[str, Any]:
    """`connector setup hubspot --json`."""
    checks: list[PropertyCheck] = result["properties"]
    return {
        "mapping": result["mapping"],
        "group": result["group"],
        "properties": [
            asdict(c) | {"definition": s.create_body()}
            for c, s in zip(checks, result["specs"], strict=True)
        ],
        "scopes": SCOPES,
        "streams": {s.stream: probe_text(s) for s in result["streams"]},
        "hubspot_calls": result["hubspot_calls"],
        "ok": not problems_of(result, check_only),
    }
