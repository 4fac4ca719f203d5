from datetime import UTC, datetime
from pathlib import Path

import responses

from sync.metrics import export, render

FINISHED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SUMMARY = {"leads_scored": 12, "tasks_created": 2, "hubspot_calls": 30, "salesforce_calls": 4,
           "duration_seconds": 1.5, "write_failures": 0}


def test_rendered_metrics_carry_the_run_figures_with_labels() -> None:
    text = render("sync", "ok", SUMMARY, 1_700_000_000)
    assert 'connector_leads_scored{kind="sync"} 12' in text
    assert 'connector_api_calls{kind="sync",platform="salesforce"} 4' in text
    assert 'connector_last_run_success{kind="sync"} 1' in text
    assert "# TYPE connector_tasks_created gauge" in text


def test_a_failed_run_reports_success_zero() -> None:
    assert 'connector_last_run_success{kind="sync"} 0' in render("sync", "partial", SUMMARY, 0)


def test_textfile_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "textfile" / "connector.prom"
    export(kind="sync", outcome="ok", summary=SUMMARY, textfile=target, pushgateway=None,
           at=FINISHED)
    text = target.read_text()
    assert 'connector_leads_scored{kind="sync"} 12' in text
    stamp = f"{FINISHED.timestamp():.0f}"
    assert f'connector_last_run_timestamp_seconds{{kind="sync"}} {stamp}' in text
    assert [p.name for p in target.parent.iterdir()] == ["connector.prom"]  # no temp left


@responses.activate
def test_pushgateway_receives_the_same_text() -> None:
    responses.put("http://gw:9091/metrics/job/connector/kind/sync", status=200)
    export(kind="sync", outcome="ok", summary=SUMMARY, textfile=None,
           pushgateway="http://gw:9091/", at=FINISHED)
    assert b'connector_leads_scored{kind="sync"} 12' in responses.calls[0].request.body


@responses.activate
def test_an_unreachable_pushgateway_never_fails_the_run() -> None:
    responses.put("http://gw:9091/metrics/job/connector/kind/sync", status=503)
    export(kind="sync", outcome="ok", summary=SUMMARY, textfile=None, pushgateway="http://gw:9091",
           at=FINISHED)
