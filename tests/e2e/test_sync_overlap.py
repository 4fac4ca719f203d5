"""Incremental sync under HubSpot's search rate limit: leads already marked are processed while
the contact search waits, and the run ends exactly as the same run in series would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.hubspot import constants as hs
from sandbox.hubspot import DEFAULT_HUBSPOT_TOKEN
from sync import runner
from sync.extraction import Extraction
from sync.pipeline import Pipeline
from sync.runner import open_store, run_once
from tests.e2e.conftest import settings_for, started
from tests.e2e.test_sync_end_to_end import SINCE, salesforce_state

CHANGED = 60


def _change_titles(url: str, ids: list[str]) -> None:
    body = {"inputs": [{"id": i, "properties": {"jobtitle": "Director of Operations"}}
                       for i in ids]}
    answer = requests.post(
        url + "/crm/v3/objects/contacts/batch/update", json=body, timeout=30,
        headers={"Authorization": f"Bearer {DEFAULT_HUBSPOT_TOKEN}"},
    )
    assert answer.status_code == 200, answer.text


def _sync_after_changes(tmp_path: Path, overlapped: bool,
                        monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    sandbox = started(tmp_path, tier="pro")
    try:
        settings = settings_for(sandbox, tmp_path)
        run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
        ids = [str(i) for i in sorted(sandbox.hubspot.store.contacts.live)[:CHANGED]]
        _change_titles(sandbox.hubspot_url, ids)
        during: list[int] = []  # batches processed while the contact search was under way
        in_search = {"on": False}
        real_process, real_extract = Pipeline._process_refs, Extraction._extract

        def process(self, refs, run):
            if in_search["on"]:
                during.append(len(refs))
            return real_process(self, refs, run)

        def extract(self, windows, summary, *, advance, while_waiting=None):
            in_search["on"] = "contacts" in windows
            try:
                return real_extract(self, windows, summary, advance=advance,
                                    while_waiting=while_waiting if overlapped else None)
            finally:
                in_search["on"] = False

        with monkeypatch.context() as patch:
            patch.setattr(Pipeline, "_process_refs", process)
            patch.setattr(Extraction, "_extract", extract)
            summary = run_once(settings, kind="sync", clock=sandbox.clock)
        with open_store(settings) as store:
            waiting = store.dirty_count()
        return {"summary": summary, "during": during, "state": salesforce_state(sandbox),
                "waiting": waiting}
    finally:
        sandbox.stop()


def test_given_search_rate_limit_leads_are_processed_while_it_waits_ending_as_in_series(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 10 contacts a search page and 10 leads a batch: six pages, more than the 5 searches
    # a second Pro allows, so the reader waits and full batches are ready meanwhile.
    monkeypatch.setattr(hs, "SEARCH_PAGE", 10)
    monkeypatch.setattr(runner, "BATCH_SIZE", 10)
    overlapped = _sync_after_changes(tmp_path / "overlapped", True, monkeypatch)
    serial = _sync_after_changes(tmp_path / "serial", False, monkeypatch)
    assert overlapped["summary"].contacts_read >= CHANGED
    assert overlapped["during"] and all(n == 10 for n in overlapped["during"])
    assert serial["during"] == []
    assert overlapped["state"] == serial["state"]  # what Salesforce holds: identical
    assert overlapped["state"]["scored"]
    assert overlapped["waiting"] == serial["waiting"] == 0
    assert overlapped["summary"].write_failures == serial["summary"].write_failures == 0
