"""What `GET /metrics` shows: the service's own Prometheus registry (not the process-global
default one, so nothing another library registers leaks in, and tests get a fresh one).

Every name starts with `connector_serve_`, apart from the per-run textfile/Pushgateway gauges
(`sync.metrics`, `connector_last_run_*`), which a cron setup keeps using. docs/service.md says
what each one means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Webhook received -> the pass that handled it finished writing Salesforce (seconds).
LATENCY_BUCKETS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60, 120, 300, 900)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs = Counter(
            "connector_serve_runs", "Sync passes by trigger (webhook, poll) and outcome",
            ["trigger", "outcome"], registry=r,
        )
        self.last_success = Gauge(
            "connector_serve_last_success_timestamp_seconds",
            "When the last pass that finished without failures ended (the run's clock)",
            registry=r,
        )
        self.handoffs = Counter(
            "connector_serve_handoffs", "Hand-offs: new MQL episodes the passes started",
            registry=r,
        )
        self.tasks = Counter(
            "connector_serve_tasks_created", "Salesforce follow-up Tasks the passes created",
            registry=r,
        )
        self.latency = Histogram(
            "connector_serve_handoff_latency_seconds",
            "Webhook received to the end of the pass that wrote its contacts to Salesforce",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.budget = Gauge(
            "connector_serve_api_budget_remaining",
            "Daily API calls left as the last pass's answers said, per platform",
            ["platform"], registry=r,
        )
        self.dead_letters = Gauge(
            "connector_serve_dead_letters_open", "Open dead letters in the state store",
            registry=r,
        )
        self.waiting = Gauge(
            "connector_serve_leads_waiting", "Leads marked for processing, not processed yet",
            registry=r,
        )
        self.webhook_requests = Counter(
            "connector_serve_webhook_requests",
            "Webhook requests by result (accepted, unauthorized, bad_request)",
            ["result"], registry=r,
        )
        self.webhook_events = Counter(
            "connector_serve_webhook_events", "Webhook events accepted, by subscription type",
            ["subscription_type"], registry=r,
        )
        self.loop_up = Gauge(
            "connector_serve_loop_up", "1 while the sync loop runs and holds the run lock",
            registry=r,
        )

    def record_pass(
        self, trigger: str, outcome: str, summary: Mapping[str, Any], finished_at: float
    ) -> None:
        """One finished pass (`summary`: `sync.ports.RunSummary.as_dict()`, {} if it failed)."""
        self.runs.labels(trigger, outcome).inc()
        if outcome == "ok":
            self.last_success.set(finished_at)
        self.handoffs.inc(int(summary.get("new_mql_episodes") or 0))
        self.tasks.inc(int(summary.get("tasks_created") or 0))
        if isinstance(summary.get("leads_waiting"), int):
            self.waiting.set(summary["leads_waiting"])
        for platform, left in remaining_budget(summary.get("api_budget") or {}).items():
            self.budget.labels(platform).set(left)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def remaining_budget(budget: Mapping[str, int | None]) -> dict[str, int]:
    """Calls left per platform from a run summary's `api_budget` (`*_daily_limit` minus
    `*_daily_used`); a platform the run did not hear from is left out."""
    out: dict[str, int] = {}
    for platform in ("hubspot", "salesforce"):
        used, limit = budget.get(f"{platform}_daily_used"), budget.get(f"{platform}_daily_limit")
        if isinstance(used, int) and isinstance(limit, int):
            out[platform] = max(limit - used, 0)
    return out
