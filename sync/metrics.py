"""Prometheus metrics of the last run: a textfile for node_exporter's textfile collector, or a
push to a Pushgateway. Optional; a metrics failure is logged and never fails the run."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

log = logging.getLogger("connector.metrics")

_GAUGES = (
    ("contacts_read", "HubSpot contacts read by the last run"),
    ("activities_new", "New activities stored by the last run"),
    ("leads_scored", "Leads scored by the last run"),
    ("mqls", "Leads that were MQL in the last run"),
    ("new_mql_episodes", "MQL episodes started in the last run"),
    ("records_updated", "Salesforce records updated by the last run"),
    ("leads_created", "Salesforce Leads created by the last run"),
    ("tasks_created", "Salesforce Tasks created by the last run"),
    ("write_failures", "Writes Salesforce refused in the last run"),
    ("leads_waiting", "Leads marked for processing that wait for the next run"),
    ("duration_seconds", "Wall time of the last run"),
)


def render(kind: str, outcome: str, summary: Mapping[str, Any], now: float) -> str:
    """The Prometheus text exposition of one run's summary."""
    label = f'kind="{kind}"'
    lines = [
        "# HELP connector_last_run_timestamp_seconds When the last run finished.",
        "# TYPE connector_last_run_timestamp_seconds gauge",
        f"connector_last_run_timestamp_seconds{{{label}}} {now:.0f}",
        "# HELP connector_last_run_success 1 if the last run finished without failures.",
        "# TYPE connector_last_run_success gauge",
        f"connector_last_run_success{{{label}}} {1 if outcome == 'ok' else 0}",
    ]
    for name, help_text in _GAUGES:
        if isinstance(summary.get(name), int | float):
            lines += [
                f"# HELP connector_{name} {help_text}.",
                f"# TYPE connector_{name} gauge",
                f"connector_{name}{{{label}}} {summary[name]}",
            ]
    lines += [
        "# HELP connector_api_calls API calls the last run made, per platform.",
        "# TYPE connector_api_calls gauge",
        f'connector_api_calls{{{label},platform="hubspot"}} {summary.get("hubspot_calls", 0)}',
        f'connector_api_calls{{{label},platform="salesforce"}} '
        f'{summary.get("salesforce_calls", 0)}',
    ]
    return "\n".join(lines) + "\n"


def export(
    *,
    kind: str,
    outcome: str,
    summary: Mapping[str, Any],
    textfile: Path | None,
    pushgateway: str | None,
    at: datetime,
) -> None:
    """Write the run's metrics; `at` (the run's clock) is when it finished."""
    if textfile is None and not pushgateway:
        return
    body = render(kind, outcome, summary, at.timestamp())
    try:
        if textfile is not None:
            _write_atomically(textfile, body)
        if pushgateway:
            url = f"{pushgateway.rstrip('/')}/metrics/job/connector/kind/{kind}"
            requests.put(url, data=body.encode(), timeout=10).raise_for_status()
    except (OSError, requests.RequestException) as exc:
        log.warning("metrics not exported", extra={"error": str(exc)})


def _write_atomically(path: Path, body: str) -> None:
    """node_exporter must never read a half-written file: write beside it, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".connector-", suffix=".prom.tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(body)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
