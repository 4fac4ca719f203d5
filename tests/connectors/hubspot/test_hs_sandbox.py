"""End to end: HubSpotSource -> HubSpotClient -> the real hubspot-api-client -> the sandbox.

The sandbox runs in-process on a free loopback port, seeded with small hand-built payloads in
HubSpot's own read shapes. Call counts are read from the sandbox's `/_sandbox/stats`.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.extract import HubSpotSource
from connectors.hubspot.forms import FormRule, FormRules
from connectors.hubspot.normalize import iso_z, to_ms
from core.config import HubSpotSettings
from core.errors import FatalAPIError
from core.models import ActivityKind
from core.retry import RetryPolicy
from sandbox.httpbase import FaultPlan, RunningServer
from sandbox.hubspot import DEFAULT_HUBSPOT_TOKEN, HubSpotSandbox
from tests.connectors.hubspot.hs_helpers import FakeClock

BASE = datetime(2024, 5, 1, tzinfo=UTC)
WINDOW = (BASE - timedelta(hours=1), BASE + timedelta(days=2))

SEARCH_ROUTE = "/crm/objects/2026-09/{objectType}/search"
LIST_ROUTE = "/crm/objects/2026-09/{objectType}"
ASSOC_ROUTE = "/crm/associations/2026-09/{fromObjectType}/{toObjectType}/batch/read"
SUBMISSIONS_ROUTE = "/form-integrations/v1/submissions/forms/{formGuid}"


# --------------------------------------------------------------------------- seed builders


def contacts(count: int, *, first_id: int = 1001, step: timedelta = timedelta(seconds=1)):
    for i in range(count):
        yield {
            "id": str(first_id + i),
            "properties": {
                "email": f"Lead{i}@Example.com",
                "firstname": "太郎" if i % 7 == 0 else "Ann",
                "lastmodifieddate": iso_z(BASE + step * i),
            },
        }


def company_links(count: int, *, first_id: int = 1001, companies: int = 20):
    """Each contact: an unlabeled link to company A and a primary link to company B."""
    for i in range(count):
        contact = str(first_id + i)
        yield _link(contact, str(500 + (i + 1) % companies), 279)
        yield _link(contact, str(500 + i % companies), 1)


def _link(contact: str, company: str, type_id: int) -> dict[str, Any]:
    return {
        "fromObjectType": "contacts",
        "toObjectType": "companies",
        "from": {"id": contact},
        "to": {"id": company},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
    }


def companies(count: int = 20):
    return [
        {
            "id": str(500 + i),
            "properties": {
                "name": f"Company {i}",
                "domain": f"co{i}.example.com",
                "hs_lastmodifieddate": iso_z(BASE),
            },
        }
        for i in range(count)
    ]


def expected_primary(contact_id: str, *, first_id: int = 1001, companies: int = 20) -> str:
    return str(500 + (int(contact_id) - first_id) % companies)


def activity_seed() -> dict[str, list[dict[str, Any]]]:
    kinds = ["DELIVERED", "OPEN", "CLICK", "BOUNCE", "STATUSCHANGE", "SENT"]
    email_events = []
    for i in range(300):
        kind = kinds[i % len(kinds)]
        event: dict[str, Any] = {
            "id": f"ev-{i}",
            "created": to_ms(BASE + timedelta(minutes=i)),
            "type": kind,
            "recipient": f"lead{i % 50}@example.com",
            "emailCampaignId": 77,
        }
        if kind == "CLICK":
            event["url"] = "https://example.com/pricing"
        if kind == "BOUNCE":
            event["category"] = "UNKNOWN_USER" if (i // 6) % 2 else "MAILBOX_FULL"
        if kind == "STATUSCHANGE":
            event["portalSubscriptionStatus"] = "UNSUBSCRIBED" if (i // 6) % 2 else "SUBSCRIBED"
        email_events.append(event)
    submissions = [
        {
            "formId": "wp-guid",
            "conversionId": f"conv-{i}",
            "submittedAt": to_ms(BASE + timedelta(hours=24) - timedelta(hours=i)),
            "values": [{"name": "email", "value": f"lead{i}@example.com"}],
            "pageUrl": "https://example.com/whitepaper",
        }
        for i in range(200)
    ]
    participations = [
        {
            "id": f"part-{i}",
            "createdAt": iso_z(BASE),
            "properties": {
                "attendanceState": ["REGISTERED", "ATTENDED", "NO_SHOW", "CANCELLED"][i % 4],
                "occurredAt": to_ms(BASE + timedelta(minutes=i)),
                "attendancePercentage": "75",
                "attendanceDurationSeconds": 1800,
            },
            "associations": {
                "marketingEvent": {"marketingEventId": "880"},
                "contact": {"contactId": str(1001 + i), "email": f"lead{i}@example.com"},
            },
        }
        for i in range(150)
    ]
    page_views = [
        {
            "id": f"pv-{i}",
            "eventType": "e_visited_page",
            "objectType": "contact",
            "objectId": str(1001 + i % 30),
            "occurredAt": iso_z(BASE + timedelta(minutes=i)),
            "properties": {"hs_url": f"https://example.com/p/{i}"},
        }
        for i in range(120)
    ]
    meetings = [
        {
            "id": str(7000 + i),
            "properties": {
                "hs_timestamp": iso_z(BASE + timedelta(hours=i)),
                "hs_activity_type": "Discovery",
                "hs_meeting_outcome": "COMPLETED",
                "hs_lastmodifieddate": iso_z(BASE + timedelta(hours=i)),
            },
        }
        for i in range(5)
    ]
    meeting_links = [
        {
            "fromObjectType": "meetings",
            "toObjectType": "contacts",
            "from": {"id": str(7000 + i)},
            "to": {"id": str(1001 + i)},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 200}],
        }
        for i in range(4)
    ]
    return {
        "forms": [
            {"id": "wp-guid", "name": "ホワイトペーパー ダウンロード", "formType": "hubspot"},
            {"id": "news-guid", "name": "Newsletter", "formType": "hubspot"},
        ],
        "form_submissions": submissions,
        "email_events": email_events,
        "marketing_events": [
            {
                "objectId": "880",
                "eventName": "Spring webinar",
                "eventType": "WEBINAR",
                "startDateTime": iso_z(BASE),
                "endDateTime": iso_z(BASE + timedelta(hours=1)),
            }
        ],
        "participations": participations,
        "page_views": page_views,
        "meetings": meetings,
        "associations": meeting_links,
    }


RULES = FormRules(
    rules=(FormRule(match_name="(?i)white ?paper|ホワイトペーパー", kind="whitepaper_download"),)
)


# --------------------------------------------------------------------------- fixtures


@dataclass
class Sandbox:
    sandbox: HubSpotSandbox
    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.url

    def stats(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url + "/_sandbox/stats") as answer:
            return json.load(answer)["calls"]

    def ok_calls(self) -> Counter[str]:
        """Answered calls (200/207) by route."""
        return Counter(
            {
                f"{c['method']} {c['route']}": c["count"]
                for c in self.stats()
                if c["status"] in (200, 207)
            }
        )

    def calls_by_status(self) -> Counter[int]:
        out: Counter[int] = Counter()
        for c in self.stats():
            out[c["status"]] += c["count"]
        return out

    def reset_stats(self) -> None:
        request = urllib.request.Request(self.url + "/_sandbox/reset", method="POST")
        with urllib.request.urlopen(request):
            pass


@pytest.fixture
def start_sandbox() -> Iterator[Callable[..., Sandbox]]:
    running: list[RunningServer] = []

    def start(seed: dict[str, Any] | None = None, **kwargs: Any) -> Sandbox:
        kwargs.setdefault("tier", "unlimited")
        sandbox = HubSpotSandbox(token=DEFAULT_HUBSPOT_TOKEN, **kwargs)
        if seed:
            sandbox.seed(seed)
        server = RunningServer(sandbox.app).start()
        running.append(server)
        return Sandbox(sandbox, server)

    yield start
    for server in running:
        server.stop()


def make_source(
    url: str,
    *,
    tier: str = "unlimited",
    policy: RetryPolicy | None = None,
    real_time: bool = False,
    token: str = DEFAULT_HUBSPOT_TOKEN,
) -> tuple[HubSpotSource, HubSpotClient]:
    settings = HubSpotSettings(base_url=url, tier=tier, timeout_seconds=10)
    clock = FakeClock()
    client = HubSpotClient(
        settings,
        SecretStr(token),
        retry_policy=policy or RetryPolicy(max_attempts=4),
        clock=time.monotonic if real_time else clock,
        sleep=time.sleep if real_time else clock.sleep,
    )
    return HubSpotSource(client, RULES, settings), client


def _all_ids(source: HubSpotSource, since: datetime, until: datetime) -> list[str]:
    return [c.hubspot_id for page in source.changed_contacts(since, until) for c in page]


# --------------------------------------------------------------------------- contacts


def test_changed_contacts_cost_5_searches_and_5_association_reads_per_1000(start_sandbox):
    sb = start_sandbox(
        {"contacts": contacts(1000), "companies": companies(), "associations": company_links(1000)}
    )
    source, client = make_source(sb.url)
    pages = list(source.changed_contacts(*WINDOW))
    found = [c for page in pages for c in page]
    assert len(found) == len({c.hubspot_id for c in found}) == 1000
    assert all(c.company_id == expected_primary(c.hubspot_id) for c in found)
    assert found[0].email == "lead0@example.com" and found[0].get("firstname") == "太郎"
    # one association read per search page: 200 ids, under HubSpot's 1,000 per request
    assert sb.ok_calls() == Counter({f"POST {SEARCH_ROUTE}": 5, f"POST {ASSOC_ROUTE}": 5})
    assert client.total_calls == 10
    assert source.problems == []


def test_backfill_lists_1000_contacts_in_10_calls_with_primary_company(start_sandbox):
    sb = start_sandbox(
        {"contacts": contacts(1000), "companies": companies(), "associations": company_links(1000)}
    )
    source, _ = make_source(sb.url)
    found = [c for page in source.all_contacts() for c in page]
    assert len(found) == len({c.hubspot_id for c in found}) == 1000
    assert all(c.company_id == expected_primary(c.hubspot_id) for c in found)
    assert sb.ok_calls() == Counter({f"GET {LIST_ROUTE}": 10})


def test_25000_changed_contacts_in_one_window_arrive_exactly_once(start_sandbox):
    sb = start_sandbox({"contacts": contacts(25_000, step=timedelta(milliseconds=500))})
    source, client = make_source(sb.url)
    ids = _all_ids(source, *WINDOW)
    assert len(ids) == len(set(ids)) == 25_000
    # no 400 past 10,000; the dated associations batch read answers 200 with `errors`
    assert sb.calls_by_status() == Counter({200: 250})
    assert client.calls["contacts.search"] == 125


def test_contact_updated_inside_the_overlap_window_is_picked_up(start_sandbox):
    now = {"t": (BASE + timedelta(hours=1)).timestamp()}
    sb = start_sandbox(
        {
            "contacts": [
                {
                    "id": "1",
                    "properties": {"email": "old@example.com", "lastmodifieddate": iso_z(BASE)},
                },
                # modified 2 s before the first run's `until`; search sees it 30 s later
                {
                    "id": "2",
                    "properties": {
                        "email": "late@example.com",
                        "lastmodifieddate": iso_z(BASE + timedelta(minutes=59, seconds=58)),
                    },
                },
            ]
        },
        clock=lambda: now["t"],
        search_lag_seconds=30,
    )
    source, _ = make_source(sb.url)
    first_until = BASE + timedelta(hours=1)
    assert _all_ids(source, BASE - timedelta(days=1), first_until) == ["1"]  # "2" lags
    now["t"] += 600  # ten minutes later, the next run
    second_until = first_until + timedelta(minutes=10)
    overlap = timedelta(minutes=HubSpotSettings().overlap_minutes)
    without_overlap = _all_ids(source, first_until, second_until)
    with_overlap = _all_ids(source, first_until - overlap, second_until)
    assert without_overlap == []  # the cursor alone would lose it
    assert with_overlap == ["2"]


def test_contacts_deleted_mid_run_are_reported_not_raised(start_sandbox):
    sb = start_sandbox(
        {"contacts": contacts(150), "companies": companies(), "associations": company_links(150)}
    )
    source, _ = make_source(sb.url)
    wanted = [str(1001 + i) for i in range(150)] + ["999999", "999998"]
    found = {c.hubspot_id: c for c in source.contacts_by_ids(wanted)}
    assert len(found) == 150
    assert found["1005"].company_id == expected_primary("1005")
    assert {p.record_id for p in source.problems} == {"999999", "999998"}
    by_email = source.contacts_by_emails(["LEAD3@example.com", "ghost@example.com", "bad"])
    assert [(c.hubspot_id, c.email) for c in by_email] == [("1004", "lead3@example.com")]
    assert {p.record_id for p in source.problems} >= {"ghost@example.com", "bad"}


def test_changed_companies_and_their_contacts(start_sandbox):
    sb = start_sandbox(
        {"contacts": contacts(100), "companies": companies(), "associations": company_links(100)}
    )
    source, _ = make_source(sb.url)
    changed = [c for page in source.changed_companies(*WINDOW) for c in page]
    assert len(changed) == 20 and changed[0].get("domain") == "co0.example.com"
    members = source.contact_ids_for_companies([c.hubspot_id for c in changed])
    assert sum(len(v) for v in members.values()) == 200  # primary + unlabeled links
    assert "1001" in members["500"] and "1001" in members["501"]
    assert source.companies(["500", "404404"])["500"].get("name") == "Company 0"


# --------------------------------------------------------------------------- activities


def _activities(source: HubSpotSource) -> dict[str, Any]:
    since, until = WINDOW
    return {
        "email": sorted(
            (a.source_id, a.kind, tuple(sorted(a.attributes.items())), a.email)
            for a in source.email_events(since, until)
        ),
        "forms": sorted(
            (a.source_id, a.kind, a.email)
            for a in source.form_submissions(BASE + timedelta(hours=24) - timedelta(hours=60))
        ),
        "webinar": sorted(
            (a.source_id, a.kind, a.contact_id) for a in source.webinar_participations(since, until)
        ),
        "pages": sorted((a.source_id, a.contact_id) for a in source.page_views(since, until)),
        "meetings": sorted((a.source_id, a.contact_id) for a in source.meetings(since, until)),
        "contacts": sorted(
            (c.hubspot_id, c.company_id)
            for page in source.changed_contacts(since, until)
            for c in page
        ),
    }


def test_activities_through_the_sdk(start_sandbox):
    sb = start_sandbox(activity_seed())
    source, _ = make_source(sb.url)
    got = _activities(source)
    kinds = Counter(kind for _, kind, _, _ in got["email"])
    assert kinds == Counter(
        {
            ActivityKind.EMAIL_DELIVERED: 50,
            ActivityKind.EMAIL_OPEN: 50,
            ActivityKind.EMAIL_CLICK: 50,
            ActivityKind.EMAIL_BOUNCE: 50,
            ActivityKind.EMAIL_UNSUBSCRIBE: 25,
            ActivityKind.EMAIL_RESUBSCRIBE: 25,
        }
    )
    assert source.skipped["email event type SENT"] == 50
    bounces = {
        dict(attrs)["bounce_type"] for _, kind, attrs, _ in got["email"] if kind == "email_bounce"
    }
    assert bounces == {"hard", "soft"}
    assert len(got["forms"]) == 61 and got["forms"][0][1] == "whitepaper_download"
    assert Counter(kind for _, kind, _ in got["webinar"]) == Counter(
        {
            ActivityKind.WEBINAR_REGISTERED: 38,
            ActivityKind.WEBINAR_ATTENDED: 38,
            ActivityKind.WEBINAR_NO_SHOW: 37,
            ActivityKind.WEBINAR_CANCELLED: 37,
        }
    )
    assert len(got["pages"]) == 120
    assert got["meetings"] == [(f"meeting:{7000 + i}:{1001 + i}", str(1001 + i)) for i in range(4)]
    assert source.skipped["meeting without contacts"] == 1
    assert source.problems == []


def test_form_paging_stops_at_the_cursor(start_sandbox):
    sb = start_sandbox(activity_seed())
    source, _ = make_source(sb.url)
    since = BASE + timedelta(hours=24) - timedelta(hours=60)  # 61 of 200 submissions
    assert len(list(source.form_submissions(since))) == 61
    calls = sb.ok_calls()
    assert calls[f"GET {SUBMISSIONS_ROUTE}"] == 2  # 50 + 11 of the second page, not 4 pages
    assert calls["GET /marketing/v3/forms"] == 1
    assert source.skipped["form not mapped"] == 1  # the newsletter form is never paged


def test_429_storms_and_5xx_change_nothing_in_the_result(start_sandbox):
    seed = activity_seed()
    seed["contacts"] = list(contacts(600))
    seed["companies"] = companies()
    seed["associations"] = seed["associations"] + list(company_links(600))
    clean = start_sandbox(seed)
    expected = _activities(make_source(clean.url)[0])

    faults = FaultPlan(rate_limit=0.3, server_error=0.1, reset=0.05, seed=11)
    stormy = start_sandbox(seed, faults=faults)
    source, client = make_source(stormy.url, policy=RetryPolicy(max_attempts=25))
    assert _activities(source) == expected
    statuses = stormy.calls_by_status()
    assert statuses[429] > 10 and statuses[500] + statuses[502] + statuses[503] > 3
    assert sum(client.retries.values()) >= statuses[429]


def test_wrong_token_is_fatal_and_never_quoted(start_sandbox):
    sb = start_sandbox({"contacts": contacts(3)})
    token = "pat-na1-wrong-token-0000"
    source, client = make_source(sb.url, token=token)
    with pytest.raises(FatalAPIError) as info:
        list(source.changed_contacts(*WINDOW))
    assert info.value.status == 401 and token not in str(info.value)
    assert client.total_calls == 1  # 401 is not retried


@pytest.mark.slow
def test_client_limiter_keeps_a_free_portal_from_ever_answering_429(start_sandbox):
    sb = start_sandbox({"contacts": contacts(50)}, tier="free")
    _, client = make_source(sb.url, tier="free", real_time=True, policy=RetryPolicy(max_attempts=1))
    started = time.monotonic()
    for _ in range(110):  # more than the 100 per 10 s a free portal allows
        client.list_page("contacts", limit=1)
    for _ in range(12):  # more than 5 searches in a second
        client.search("contacts", {"limit": 1})
    assert sb.calls_by_status() == Counter({200: 122})
    assert time.monotonic() - started >= 10.0  # the limiter waited, the server never refused
