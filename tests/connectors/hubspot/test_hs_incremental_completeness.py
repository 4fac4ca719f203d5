"""Incremental windows lose nothing and double nothing, end to end through the real SDK.

HubSpotSource -> HubSpotClient -> hubspot-api-client -> the in-process sandbox, whose clock
the tests move by hand. Each run reads `[previous until - overlap, now]`, as `sync.extraction`
does, with the overlap from the default `HubSpotSettings`.

Already covered in `test_hs_sandbox.py`, not repeated here: more than 10,000 changed contacts
in one window arrive exactly once (`test_25000_changed_contacts_in_one_window_arrive_exactly_
once`), and one seeded contact indexed late is found through the overlap
(`test_contact_updated_inside_the_overlap_window_is_picked_up`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import SimplePublicObjectInput

from connectors.hubspot.extract import HubSpotSource
from connectors.hubspot.normalize import iso_z
from core.config import HubSpotSettings
from core.models import Activity
from sandbox.httpbase import RunningServer
from sandbox.hubspot import DEFAULT_HUBSPOT_TOKEN, HubSpotSandbox
from tests.connectors.hubspot.test_hs_sandbox import (
    BASE,
    Sandbox,
    activity_seed,
    contacts,
    make_source,
)

OVERLAP = timedelta(minutes=HubSpotSettings().overlap_minutes)


class SandboxClock:
    """The sandbox's wall clock (epoch seconds), moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now.timestamp()

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


@pytest.fixture
def start() -> Iterator[Callable[..., Sandbox]]:
    running: list[RunningServer] = []

    def start(seed: dict[str, Any], clock: SandboxClock, **kwargs: Any) -> Sandbox:
        sandbox = HubSpotSandbox(
            token=DEFAULT_HUBSPOT_TOKEN, tier="unlimited", clock=clock, **kwargs
        )
        sandbox.seed(seed)
        server = RunningServer(sandbox.app).start()
        running.append(server)
        return Sandbox(sandbox, server)

    yield start
    for server in running:
        server.stop()


def _rename(url: str, contact_id: str, firstname: str) -> None:
    """A user edits a contact in HubSpot (PATCH through the SDK; stamps the sandbox clock)."""
    api = HubSpot(access_token=DEFAULT_HUBSPOT_TOKEN, host=url).crm.contacts.basic_api
    api.update(contact_id, SimplePublicObjectInput(properties={"firstname": firstname}))


def _ids(pages: Iterable[list[Any]]) -> list[str]:
    return [contact.hubspot_id for page in pages for contact in page]


def _meeting(meeting_id: int, modified: datetime, contact_id: str) -> tuple[dict, dict]:
    record = {
        "id": str(meeting_id),
        "properties": {
            "hs_timestamp": iso_z(modified),
            "hs_activity_type": "Discovery",
            "hs_meeting_outcome": "COMPLETED",
            "hs_lastmodifieddate": iso_z(modified),
        },
    }
    link = {
        "fromObjectType": "meetings",
        "toObjectType": "contacts",
        "from": {"id": str(meeting_id)},
        "to": {"id": contact_id},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 200}],
    }
    return record, link


# --------------------------------------------------------------------------- (a) mid-run edits


def test_contact_edited_between_two_pages_is_read_once_now_and_again_by_the_next_run(start):
    clock = SandboxClock(BASE + timedelta(hours=1))
    sb = start({"contacts": contacts(450)}, clock)  # ids 1001..1450, modified BASE + i s
    source, _ = make_source(sb.url)
    first_until = clock.now

    pages = source.changed_contacts(BASE - timedelta(days=1), first_until)
    first_page = next(pages)  # ids 1001..1200 (keyset pages of 200)
    clock.advance(timedelta(seconds=30))  # the run is paging; users keep editing
    _rename(sb.url, "1001", "ReadThenEdited")  # already read by this run
    _rename(sb.url, "1300", "EditedBeforeRead")  # on the next page
    _rename(sb.url, "1450", "EditedLast")  # the very last record of the window
    first_run = [c.hubspot_id for c in first_page] + _ids(pages)

    # The edits moved 1300 and 1450 past this run's `until`: they leave its window, and
    # no other contact is skipped for it (offset paging would now skip two).
    assert len(first_run) == len(set(first_run)) == 448
    assert set(first_run) == {str(i) for i in range(1001, 1451)} - {"1300", "1450"}

    clock.advance(timedelta(minutes=10))
    second_run = [
        c for page in source.changed_contacts(first_until - OVERLAP, clock.now) for c in page
    ]
    assert {c.hubspot_id: c.get("firstname") for c in second_run} == {
        "1001": "ReadThenEdited",
        "1300": "EditedBeforeRead",
        "1450": "EditedLast",
    }
    assert set(first_run) | {c.hubspot_id for c in second_run} == {
        str(i) for i in range(1001, 1451)
    }
    assert source.problems == []


# --------------------------------------------------------------------------- (b) index lag


def test_records_indexed_late_within_the_overlap_are_found_by_the_next_window(start):
    lag = OVERLAP - timedelta(seconds=10)  # search trails writes by almost the whole overlap
    first_until = BASE + timedelta(hours=1)
    clock = SandboxClock(first_until - timedelta(seconds=30))

    settled = list(contacts(100))  # ids 1001..1100, modified BASE + i s: long indexed
    late_offsets = {"2001": lag - timedelta(seconds=5), "2002": timedelta(seconds=60)}
    late = [
        {
            "id": contact_id,
            "properties": {
                "email": f"late{contact_id}@example.com",
                "lastmodifieddate": iso_z(first_until - before),
            },
        }
        for contact_id, before in late_offsets.items()
    ]
    old_meeting, old_link = _meeting(7001, BASE, "1001")
    late_meeting, late_link = _meeting(7002, first_until - lag + timedelta(seconds=1), "1002")
    sb = start(
        {
            "contacts": [*settled, *late],
            "meetings": [old_meeting, late_meeting],
            "associations": [old_link, late_link],
        },
        clock,
        search_lag_seconds=lag.total_seconds(),
    )
    _rename(sb.url, "1050", "EditedJustBefore")  # 30 s before `until`: not indexed yet
    clock.now = first_until
    source, _ = make_source(sb.url)

    first_contacts = _ids(source.changed_contacts(BASE - timedelta(days=1), first_until))
    first_meetings = [a.source_id for a in source.meetings(BASE - timedelta(days=1), first_until)]
    settled_ids = {c["id"] for c in settled}
    assert len(first_contacts) == len(set(first_contacts))
    assert settled_ids - {"1050"} <= set(first_contacts) <= settled_ids  # 2001, 2002 lag
    assert first_meetings == ["meeting:7001:1001"]

    clock.advance(timedelta(minutes=10))
    since = first_until - OVERLAP
    second = [c for page in source.changed_contacts(since, clock.now) for c in page]
    second_meetings = [a.source_id for a in source.meetings(since, clock.now)]
    assert sorted(c.hubspot_id for c in second) == ["1050", "2001", "2002"]
    assert {c.hubspot_id: c.get("firstname") for c in second}["1050"] == "EditedJustBefore"
    assert second_meetings == ["meeting:7002:1002"]

    # A window starting at the previous `until` would have lost all of them for good.
    assert _ids(source.changed_contacts(first_until, clock.now)) == []
    assert list(source.meetings(first_until, clock.now)) == []

    assert set(first_contacts) | {c.hubspot_id for c in second} == settled_ids | set(late_offsets)
    assert source.problems == []


# --------------------------------------------------------------------------- (c) re-reads


def _read_all(source: HubSpotSource, since: datetime, until: datetime) -> dict[str, Activity]:
    """Every activity stream over [since, until], by source id (each must come once)."""
    found: dict[str, Activity] = {}
    for stream in source.ACTIVITY_STREAMS:
        for activity in source.activity_stream(stream, since, until):
            assert activity.source_id not in found, f"{activity.source_id} twice in one read"
            found[activity.source_id] = activity
    return found


def test_overlapping_windows_reread_the_same_activities_and_add_no_new_ones(start):
    seed = activity_seed()  # email events and page views a minute apart from BASE, ...
    for i, row in enumerate(seed["participations"]):
        row["createdAt"] = iso_z(BASE + timedelta(minutes=i))  # recorded a minute apart too
    clock = SandboxClock(BASE + timedelta(days=3))
    sb = start(seed, clock)
    source, _ = make_source(sb.url)
    start_at = BASE - timedelta(hours=1)
    first_until = BASE + timedelta(minutes=62)  # a meeting and a submission at BASE + 1 h
    second_until = BASE + timedelta(days=2)

    first = _read_all(source, start_at, first_until)
    second = _read_all(source, first_until - OVERLAP, second_until)
    once = _read_all(source, start_at, second_until)

    reread = first.keys() & second.keys()
    prefixes = {source_id.split(":", 1)[0] for source_id in reread}
    assert len(prefixes) == len(source.ACTIVITY_STREAMS), prefixes  # every stream re-read
    assert all(first[key] == second[key] for key in reread)  # same record, same content
    assert first.keys() | second.keys() == once.keys()
    assert len(first) + len(second) - len(reread) == len(once)
    assert source.problems == []
