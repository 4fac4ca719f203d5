"""Every HubSpot tier works: at Professional the events API answers 403, the run goes on,
page views are derived from the contacts' analytics properties, and the visits are scored."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

import cli
from sandbox.serve import Sandbox
from sync.runner import open_store
from tests.e2e.conftest import settings_for, started


def _connector(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli.main, ["--config", str(config), "-q", *args],
                              env={"CONNECTOR_UI__LANGUAGE": "en"})  # English texts


def _quiet_contact(sandbox: Sandbox) -> tuple[str, str]:
    """A contact with an email and no web visits yet (id, email)."""
    for record in sandbox.hubspot.store.contacts.iter_live():
        email = record.props.get("email")
        if email and "@" in email and not record.props.get("hs_analytics_num_visits"):
            return str(record.id), email
    raise AssertionError("no contact without visits in the seed")


def _page_views(contact_id: str, sandbox: Sandbox) -> list[dict[str, Any]]:
    """Three page views in two sessions (40 minutes apart), just now."""
    now = sandbox.clock()
    times = [now - timedelta(minutes=55), now - timedelta(minutes=50), now - timedelta(minutes=5)]
    return [
        {
            "id": f"pv-{contact_id}-{n}",
            "eventType": "e_visited_page",
            "objectType": "contact",
            "objectId": contact_id,
            "occurredAt": when.isoformat(),
            "properties": {"hs_url": f"https://www.example-corp.jp/pricing/{n}"},
        }
        for n, when in enumerate(times)
    ]


def test_given_a_pro_portal_sync_exits_0_derives_visits_and_scores_them(tmp_path: Path) -> None:
    sandbox = started(tmp_path, tier="pro")
    try:
        settings = settings_for(sandbox, tmp_path)
        config = tmp_path / "connector.toml"
        first = _connector(config, "sync", "--json")
        assert first.exit_code == 0, first.output
        calls = sandbox.hubspot.app.stats.snapshot()["calls"]
        assert any(
            c["status"] == 403 and "/events/event-occurrences/" in c["route"] for c in calls
        )
        contact_id, email = _quiet_contact(sandbox)
        sandbox.hubspot.seed({"page_views": _page_views(contact_id, sandbox)})
        props = sandbox.hubspot.store.contacts.get(int(contact_id)).props
        assert props["hs_analytics_num_visits"] == "2"  # sessions, not page views
        assert props["hs_analytics_num_page_views"] == "3"

        second = _connector(config, "sync", "--json")
        assert second.exit_code == 0, second.output
        summary = json.loads(second.stdout)
        assert summary["streams"]["page_views"].startswith("derived")
        assert "403" in summary["streams"]["page_views"]
        with open_store(settings) as store:
            visits = [
                a for a in store.activities_for([contact_id], email) if a.kind == "page_view"
            ]
        assert sorted(a.source_id for a in visits) == [
            f"visit:{contact_id}:1",
            f"visit:{contact_id}:2",
        ]
        assert {a.attributes.get("url") for a in visits} == {
            None,
            "https://www.example-corp.jp/pricing/2",
        }

        explained = _connector(config, "score", "explain", email, "--json")
        assert explained.exit_code == 0, explained.output
        rules = json.loads(explained.stdout)["rules"]
        assert any("page_visit" in json.dumps(r) and r["contribution"] != "0" for r in rules)

        third = _connector(config, "sync", "--json")
        assert third.exit_code == 0, third.output
        with open_store(settings) as store:
            again = [a for a in store.activities_for([contact_id], email) if a.kind == "page_view"]
        assert len(again) == 2  # a contact read again adds no visit

        status = _connector(config, "status")
        assert status.exit_code == 0, status.output
        rows = status.output.split("activity streams", 1)[1].splitlines()
        line = next(row for row in rows if "page_views" in row)
        assert "derived" in line and "analytics" in line and "403" in line
        assert any(row.split() == ["email_events", "read"] for row in rows)
    finally:
        sandbox.stop()
