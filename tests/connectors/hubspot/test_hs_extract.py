"""HubSpotSource paging and bookkeeping against a scripted in-memory client (no server)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.hubspot.extract import HubSpotSource, chunked, next_after
from connectors.hubspot.forms import FormRule, FormRules
from connectors.hubspot.normalize import Problem, iso_z, to_ms
from core.config import HubSpotSettings
from core.errors import FatalAPIError, RecordError
from core.models import ActivityKind

SINCE = datetime(2024, 5, 1, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=1)


def _ms(when: datetime) -> int:
    return to_ms(when)


class FakeClient:
    """Implements the HubSpotClient methods HubSpotSource uses, over plain lists."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.sent: list[tuple[str, Any]] = []
        self.records: dict[str, list[dict[str, Any]]] = {"contacts": [], "companies": []}
        self.records["meetings"] = []
        self.assoc: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
        self.assoc_page_size = 10_000
        self.search_hook: Any = None
        self.forms: list[dict[str, Any]] = []
        self.submissions: dict[str, list[dict[str, Any]]] = {}
        self.email_events: list[dict[str, Any]] = []
        self.marketing_events: list[dict[str, Any]] = []
        self.participations: dict[str, list[dict[str, Any]]] = {}
        self.web_events: list[dict[str, Any]] = []
        self.events_refusal: Exception | None = None

    # CRM ---------------------------------------------------------------
    def search(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls[f"{object_type}.search"] += 1
        self.sent.append(("search", body))
        if self.search_hook:
            self.search_hook(object_type, body)
        assert "after" not in body, "keyset paging never sends an offset"
        filters = body["filterGroups"][0]["filters"]
        rows = self.records[object_type]

        def keep(row: dict[str, Any]) -> bool:
            for f in filters:
                value = row["properties"].get(f["propertyName"], row["id"])
                number = int(value)
                if f["operator"] == "GTE" and not number >= int(f["value"]):
                    return False
                if f["operator"] == "LTE" and not number <= int(f["value"]):
                    return False
                if f["operator"] == "GT" and not number > int(f["value"]):
                    return False
            return True

        selected = sorted((r for r in rows if keep(r)), key=lambda r: int(r["id"]))
        page = selected[: body["limit"]]
        answer: dict[str, Any] = {"total": len(selected), "results": page}
        if len(selected) > len(page):
            answer["paging"] = {"next": {"after": str(len(page))}}
        return answer

    def list_page(self, object_type: str, **kwargs: Any) -> dict[str, Any]:
        self.calls[f"{object_type}.list"] += 1
        start = int(kwargs.get("after") or 0)
        rows = self.records[object_type][start : start + kwargs["limit"]]
        answer: dict[str, Any] = {"results": rows}
        if start + kwargs["limit"] < len(self.records[object_type]):
            answer["paging"] = {"next": {"after": str(start + kwargs["limit"])}}
        return answer

    def batch_read(self, object_type: str, ids: list[str], **kwargs: Any) -> dict[str, Any]:
        self.calls[f"{object_type}.batch_read"] += 1
        assert len(ids) <= 100
        self.sent.append(("batch_read", (ids, kwargs)))
        key = kwargs.get("id_property")
        rows = self.records[object_type]

        def keys(r: dict[str, Any]) -> set[str]:
            if key == "email":
                return {r["properties"].get("email")}
            # a merged-away id answers with the surviving record, as HubSpot does
            merged = r["properties"].get("hs_merged_object_ids") or ""
            return {r["id"], *merged.split(";")}

        found = [r for r in rows if keys(r) & set(ids)]
        return {"status": "COMPLETE", "results": found}

    def associations(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, Any]:
        self.calls[f"associations.{from_type}.{to_type}"] += 1
        assert len(ids) <= 1000  # HubSpot's documented maximum per request body
        table = self.assoc.get((from_type, to_type), {})
        results = []
        for i in ids:
            if i in table:
                items = table[i]
                result: dict[str, Any] = {"from": {"id": i}, "to": items[: self.assoc_page_size]}
                if len(items) > self.assoc_page_size:
                    result["paging"] = {"next": {"after": str(self.assoc_page_size)}}
                results.append(result)
        return {"results": results}

    def association_page(
        self, from_type: str, from_id: str, to_type: str, *, after: str | None = None
    ) -> dict[str, Any]:
        self.calls[f"associations.{from_type}.{to_type}.page"] += 1
        items = self.assoc[(from_type, to_type)][from_id]
        start = int(after or 0)
        page = items[start : start + self.assoc_page_size]
        answer: dict[str, Any] = {"results": page}
        if start + self.assoc_page_size < len(items):
            answer["paging"] = {"next": {"after": str(start + self.assoc_page_size)}}
        return answer

    # marketing ---------------------------------------------------------
    def forms_page(self, *, after: str | None = None, form_types: Any = ()) -> dict[str, Any]:
        self.calls["forms.list"] += 1
        self.sent.append(("forms", {"form_types": list(form_types)}))
        start = int(after or 0)
        # As HubSpot: without formTypes only standard (`hubspot`) forms are listed.
        forms = [
            f
            for f in self.forms
            if "all" in form_types
            or f.get("formType", "hubspot") in (form_types or ("hubspot",))
        ]
        answer: dict[str, Any] = {"results": forms[start : start + 2]}
        if start + 2 < len(forms):
            answer["paging"] = {"next": {"after": str(start + 2)}}
        return answer

    def form_submissions_page(self, guid: str, *, after: str | None = None) -> dict[str, Any]:
        self.calls[f"submissions.{guid}"] += 1
        if guid not in self.submissions:
            raise RecordError("HubSpot form_submissions.list answered 404", status=404)
        items = self.submissions[guid]
        start = int(after or 0)
        answer: dict[str, Any] = {"results": items[start : start + 50]}
        if start + 50 < len(items):
            answer["paging"] = {"next": {"after": str(start + 50)}}
        return answer

    def email_events_page(
        self, *, start_ms: int, end_ms: int, offset: str | None = None,
        exclude_filtered: bool = False,
    ) -> dict[str, Any]:
        self.calls["email_events"] += 1
        start = int(offset or 0)
        chosen = [
            e
            for e in self.email_events
            if start_ms <= e["created"] <= end_ms
            and not (exclude_filtered and e.get("filteredEvent"))
        ]
        page = chosen[start : start + 1000]
        return {
            "events": page,
            "hasMore": start + 1000 < len(chosen),
            "offset": str(start + 1000),
        }

    def marketing_events_page(self, *, after: str | None = None) -> dict[str, Any]:
        self.calls["marketing_events"] += 1
        return {"results": self.marketing_events}

    def participations_page(self, event_id: str, *, after: str | None = None) -> dict[str, Any]:
        self.calls[f"participations.{event_id}"] += 1
        if event_id not in self.participations:
            raise RecordError("HubSpot participations answered 404", status=404)
        items = self.participations[event_id]
        start = int(after or 0)
        answer: dict[str, Any] = {"results": items[start : start + 100]}
        if start + 100 < len(items):
            answer["paging"] = {"next": {"after": str(start + 100)}}
        return answer

    def events_page(self, **kwargs: Any) -> dict[str, Any]:
        self.calls["events"] += 1
        if self.events_refusal is not None:
            raise self.events_refusal
        self.sent.append(("events", kwargs))
        rows = [
            e
            for e in self.web_events
            if kwargs.get("object_id") is None or e["objectId"] == kwargs["object_id"]
        ]
        return {"results": rows}


def _contact(i: int, *, modified: datetime = SINCE, email: str | None = None) -> dict[str, Any]:
    return {
        "id": str(i),
        "properties": {
            "email": email if email is not None else f"c{i}@example.com",
            "lastmodifieddate": str(_ms(modified)),
        },
    }


@pytest.fixture
def fake() -> FakeClient:
    return FakeClient()


def _source(client: FakeClient, rules: FormRules | None = None, **kw: Any) -> HubSpotSource:
    return HubSpotSource(client, rules or FormRules(), HubSpotSettings(), **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- helpers


def test_chunked_and_next_after():
    assert list(chunked(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(chunked([], 3)) == []
    assert next_after({"paging": {"next": {"after": "abc"}}}) == "abc"
    assert next_after({"paging": {"next": {"after": ""}}}) is None
    assert next_after({}) is None


# --------------------------------------------------------------------------- search partitioning


def test_changed_contacts_keyset_pages_each_contact_once(fake):
    fake.records["contacts"] = [_contact(i) for i in range(1, 451)]
    fake.records["contacts"].append(_contact(999, modified=UNTIL + timedelta(seconds=1)))
    pages = list(_source(fake).changed_contacts(SINCE, UNTIL))
    ids = [c.hubspot_id for page in pages for c in page]
    assert [len(p) for p in pages] == [200, 200, 50]
    assert len(ids) == len(set(ids)) == 450
    assert fake.calls["contacts.search"] == 3
    searches = [body for kind, body in fake.sent if kind == "search"]
    keyset = [
        [f["value"] for f in b["filterGroups"][0]["filters"] if f["propertyName"] == "hs_object_id"]
        for b in searches
    ]
    assert keyset == [[], ["200"], ["400"]]
    window = searches[0]["filterGroups"][0]["filters"]
    assert window[0] == {
        "propertyName": "lastmodifieddate",
        "operator": "GTE",
        "value": str(_ms(SINCE)),
    }
    assert window[1]["operator"] == "LTE" and window[1]["value"] == str(_ms(UNTIL))
    assert searches[0]["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    assert searches[0]["limit"] == 200


def test_contacts_modified_during_the_run_do_not_shift_pages(fake):
    fake.records["contacts"] = [_contact(i) for i in range(1, 401)]

    def modify_some(_object_type, body):
        # After the first page, 30 already-read contacts are modified past `until`
        # (they leave the result set) - offset paging would now skip 30 contacts.
        if any(f["propertyName"] == "hs_object_id" for f in body["filterGroups"][0]["filters"]):
            for row in fake.records["contacts"][:30]:
                row["properties"]["lastmodifieddate"] = str(_ms(UNTIL + timedelta(hours=1)))

    fake.search_hook = modify_some
    ids = [c.hubspot_id for page in _source(fake).changed_contacts(SINCE, UNTIL) for c in page]
    assert len(ids) == len(set(ids)) == 400


def test_server_ignoring_the_keyset_filter_cannot_loop_forever(fake):
    fake.records["contacts"] = [_contact(i) for i in range(1, 301)]
    original = fake.search

    def stuck(object_type, body):
        body = {**body, "filterGroups": [{"filters": body["filterGroups"][0]["filters"][:2]}]}
        return original(object_type, body)

    fake.search = stuck  # type: ignore[method-assign]
    with pytest.raises(FatalAPIError, match="did not advance"):
        list(_source(fake).changed_contacts(SINCE, UNTIL))


def test_search_refused_is_fatal_not_a_record_problem(fake):
    def refuse(_object_type, _body):
        raise RecordError("HubSpot contacts.search answered 400: bad filter", status=400)

    fake.search = refuse  # type: ignore[method-assign]
    with pytest.raises(FatalAPIError, match="refused the contacts search"):
        list(_source(fake).changed_contacts(SINCE, UNTIL))


def test_window_must_be_aware_and_ordered(fake):
    source = _source(fake)
    with pytest.raises(ValueError):
        list(source.changed_contacts(SINCE.replace(tzinfo=None), UNTIL))
    with pytest.raises(ValueError):
        list(source.changed_contacts(UNTIL, SINCE))


# --------------------------------------------------------------------------- associations


def _to(company: int, *type_ids: int) -> dict[str, Any]:
    return {
        "toObjectId": company,
        "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": t} for t in type_ids],
    }


def test_primary_company_attached_with_one_association_read_per_page(fake):
    fake.records["contacts"] = [_contact(i) for i in range(1, 201)]
    fake.assoc[("contacts", "companies")] = {
        "1": [_to(50, 279), _to(51, 1, 279)],
        "2": [_to(60, 279)],
        "150": [_to(70, 1)],
    }
    pages = list(_source(fake).changed_contacts(SINCE, UNTIL))
    by_id = {c.hubspot_id: c for c in pages[0]}
    assert by_id["1"].company_id == "51"
    assert by_id["2"].company_id == "60"
    assert by_id["150"].company_id == "70"
    assert by_id["3"].company_id is None
    assert fake.calls["associations.contacts.companies"] == 1  # 200 ids in one call


def test_association_lists_follow_per_record_paging(fake):
    fake.assoc_page_size = 2
    fake.assoc[("companies", "contacts")] = {
        "9": [_to(i, 280) for i in range(1, 6)],
        "8": [_to(100, 2)],
    }
    answer = _source(fake).contact_ids_for_companies(["9", "8", "7"])
    assert answer == {"9": ["1", "2", "3", "4", "5"], "8": ["100"]}
    assert fake.calls["associations.companies.contacts"] == 1
    assert fake.calls["associations.companies.contacts.page"] == 2


def test_all_contacts_reads_primary_company_from_the_list(fake):
    rows = []
    for i in range(1, 251):
        row = _contact(i)
        row["associations"] = {
            "companies": {
                "results": [
                    {"id": "7", "type": "contact_to_company_unlabeled"},
                    {"id": str(1000 + i), "type": "contact_to_company"},
                ]
            }
        }
        rows.append(row)
    fake.records["contacts"] = rows
    pages = list(_source(fake).all_contacts())
    assert [len(p) for p in pages] == [100, 100, 50]
    assert pages[0][0].company_id == "1001"
    assert fake.calls == Counter({"contacts.list": 3})  # no association calls at all


# --------------------------------------------------------------------------- batch reads


def test_contacts_by_ids_reports_missing_and_maps_merged_ids(fake):
    fake.records["contacts"] = [_contact(i) for i in range(1, 251) if i != 17]
    fake.records["contacts"][0]["properties"]["hs_merged_object_ids"] = "9001;9002"
    source = _source(fake)
    wanted = [str(i) for i in range(1, 251)] + ["9001", "1", " "]
    found = source.contacts_by_ids(wanted, with_company=False)
    ids = [c.hubspot_id for c in found]
    assert len(ids) == len(set(ids)) == 249 and "17" not in ids  # 9001 is contact 1 again
    assert ids[:3] == ["1", "2", "3"]
    assert source.merged_ids == {"9001": "1"}
    assert source.problems == [Problem("contacts", "17", "contact not found (deleted?)")]
    assert fake.calls["contacts.batch_read"] == 3


def test_contacts_by_emails_normalises_and_reports(fake):
    fake.records["contacts"] = [_contact(1, email="a@example.com"), _contact(2)]
    source = _source(fake)
    found = source.contacts_by_emails(
        ["A@Example.com", "a@example.com", "bad-email", "missing@example.com"]
    )
    assert [c.email for c in found] == ["a@example.com"]
    ids, kwargs = next(body for kind, body in fake.sent if kind == "batch_read")
    assert ids == ["a@example.com", "missing@example.com"] and kwargs["id_property"] == "email"
    reasons = {(p.record_id, p.reason.split(":")[0]) for p in source.problems}
    assert ("bad-email", "lookup email") in reasons
    assert ("missing@example.com", "no contact with this email") in reasons


def test_activity_stream_dispatches_by_name(fake):
    source = _source(fake)
    for stream in source.ACTIVITY_STREAMS:
        assert list(source.activity_stream(stream, SINCE, UNTIL)) == []
    with pytest.raises(ValueError, match="unknown activity stream"):
        source.activity_stream("tweets", SINCE, UNTIL)


def test_companies_batch_read_and_changed_companies(fake):
    fake.records["companies"] = [
        {"id": str(i), "properties": {"name": f"Co {i}", "hs_lastmodifieddate": str(_ms(SINCE))}}
        for i in range(1, 131)
    ]
    source = _source(fake)
    found = source.companies([str(i) for i in range(1, 132)])
    assert len(found) == 130 and found["5"].get("name") == "Co 5"
    assert source.problems[-1] == Problem("companies", "131", "company not found (deleted?)")
    pages = list(source.changed_companies(SINCE, UNTIL))
    assert sum(len(p) for p in pages) == 130
    searches = [b for kind, b in fake.sent if kind == "search"]
    assert searches[0]["filterGroups"][0]["filters"][0]["propertyName"] == "hs_lastmodifieddate"


def test_bad_records_never_raise_and_problems_are_capped(fake):
    fake.records["contacts"] = [_contact(i, email="broken") for i in range(1, 31)]
    source = _source(fake, max_problems=10)
    contacts = [c for page in source.changed_contacts(SINCE, UNTIL) for c in page]
    assert len(contacts) == 30 and all(c.email is None for c in contacts)
    assert len(source.problems) == 10
    assert source.problem_counts["contacts"] == 30


# --------------------------------------------------------------------------- email events


def test_email_events_page_by_offset_and_count_skips(fake):
    kinds = ["OPEN", "CLICK", "SENT", "DELIVERED"]
    fake.email_events = [
        {
            "id": f"e{i}",
            "created": _ms(SINCE) + i,
            "type": kinds[i % 4],
            "recipient": f"r{i}@example.com",
        }
        for i in range(2500)
    ]
    fake.email_events.append({"id": "bad", "created": _ms(SINCE), "type": "OPEN", "recipient": "x"})
    source = _source(fake)
    activities = list(source.email_events(SINCE, UNTIL))
    assert len(activities) == 2500 - 625
    assert fake.calls["email_events"] == 3
    assert source.skipped["email event type SENT"] == 625
    assert source.problem_counts["email_events"] == 1
    assert len({a.source_id for a in activities}) == len(activities)


def test_email_events_without_progress_stop(fake):
    fake.email_events_page = lambda **_kw: {"events": [], "hasMore": True, "offset": None}  # type: ignore[method-assign]
    with pytest.raises(FatalAPIError):
        list(_source(fake).email_events(SINCE, UNTIL))


# --------------------------------------------------------------------------- forms


def _rules() -> FormRules:
    return FormRules(
        rules=(
            FormRule(match_name="(?i)white ?paper", kind="whitepaper_download"),
            FormRule(match_id="F-CONSULT", kind="consultation_request"),
        )
    )


def _submissions(count: int, newest: datetime, step: timedelta) -> list[dict[str, Any]]:
    return [
        {
            "conversionId": f"conv-{i}",
            "submittedAt": _ms(newest - step * i),
            "values": [{"name": "email", "value": f"s{i}@example.com"}],
            "pageUrl": "https://example.com",
        }
        for i in range(count)
    ]


def test_form_submissions_stop_at_the_cursor_and_skip_unmapped_forms(fake):
    fake.forms = [
        {"id": "f-wp", "name": "Whitepaper 2024"},
        {"id": "f-news", "name": "Newsletter"},
        {"id": "f-consult", "name": "相談"},
        {"id": "f-gone", "name": "White paper (deleted)"},
    ]
    newest = SINCE + timedelta(days=10)
    fake.submissions["f-wp"] = _submissions(500, newest, timedelta(hours=1))
    fake.submissions["f-consult"] = _submissions(3, newest, timedelta(days=1))
    fake.submissions["f-news"] = _submissions(10, newest, timedelta(hours=1))
    source = _source(fake, _rules())
    since = newest - timedelta(hours=120)
    activities = list(source.form_submissions(since))
    wp = [a for a in activities if a.kind == "whitepaper_download"]
    assert len(wp) == 121  # hours 0..120 inclusive
    assert fake.calls["submissions.f-wp"] == 3  # pages of 50: stops inside page 3
    assert "submissions.f-news" not in fake.calls
    assert fake.calls["forms.list"] == 2
    consult = [a for a in activities if a.kind == "consultation_request"]
    assert len(consult) == 3 and consult[0].attributes["form_name"] == "相談"
    assert source.skipped["form not mapped"] == 1
    assert source.problems[0].record_id == "f-gone"


def test_form_submissions_with_until_skip_newer(fake):
    fake.forms = [{"id": "f-wp", "name": "whitepaper"}]
    fake.submissions["f-wp"] = _submissions(10, UNTIL + timedelta(hours=3), timedelta(hours=1))
    source = _source(fake, _rules())
    activities = list(source.form_submissions(SINCE, UNTIL))
    assert len(activities) == 7
    assert source.skipped["form submission after window"] == 3


# --------------------------------------------------------------------------- webinars


def _row(i: int, state: str, when: datetime) -> dict[str, Any]:
    return {
        "id": f"p{i}",
        "properties": {"attendanceState": state, "occurredAt": _ms(when)},
        "associations": {"contact": {"contactId": str(i), "email": f"w{i}@example.com"}},
    }


def test_webinar_participations_filter_type_old_events_and_rows_after_window(fake):
    fake.marketing_events = [
        {"objectId": "1", "eventType": "WEBINAR", "endDateTime": iso_z(SINCE)},
        {"objectId": "2", "eventType": "WEBINAR", "endDateTime": iso_z(SINCE - timedelta(days=90))},
        {"objectId": "3", "eventType": "CONFERENCE", "endDateTime": iso_z(SINCE)},
        {"objectId": "4", "eventType": "WEBINAR"},  # no dates: read
        {"objectId": "5", "eventType": "webinar", "startDateTime": iso_z(UNTIL)},
    ]
    fake.participations = {
        "1": [_row(i, "REGISTERED", SINCE + timedelta(hours=1)) for i in range(150)]
        + [_row(999, "ATTENDED", UNTIL + timedelta(days=2))],
        "2": [_row(1, "ATTENDED", SINCE)],
        "3": [_row(1, "ATTENDED", SINCE)],
        "5": [_row(7, "NO_SHOW", SINCE + timedelta(hours=2)), _row(8, "EMPTY", SINCE)],
    }
    source = _source(fake)
    activities = list(source.webinar_participations(SINCE, UNTIL, event_types={"WEBINAR"}))
    assert len(activities) == 151
    assert {a.kind for a in activities} == {
        ActivityKind.WEBINAR_REGISTERED,
        ActivityKind.WEBINAR_NO_SHOW,
    }
    assert fake.calls["participations.1"] == 2
    assert "participations.2" not in fake.calls and "participations.3" not in fake.calls
    assert source.skipped["participation after window"] == 1
    assert source.skipped["marketing event ended before window"] == 1
    assert source.problems == [
        Problem("webinar_participations", "4", "HubSpot participations answered 404")
    ]


# --------------------------------------------------------------------------- page views, meetings


def test_page_views_one_stream_or_per_contact(fake):
    fake.web_events = [
        {
            "id": f"pv{i}",
            "objectId": str(i % 3),
            "occurredAt": iso_z(SINCE),
            "properties": {"hs_url": f"https://x/{i}"},
        }
        for i in range(9)
    ]
    source = _source(fake)
    assert len(list(source.page_views(SINCE, UNTIL))) == 9
    assert fake.calls["events"] == 1
    sent = fake.sent[-1][1]
    assert sent["event_type"] == "e_visited_page" and "object_id" in sent
    assert sent["occurred_after"] == iso_z(SINCE) and sent["occurred_before"] == iso_z(UNTIL)
    per_contact = list(source.page_views(SINCE, UNTIL, contact_ids=["1", "2", "1"]))
    assert len(per_contact) == 6 and fake.calls["events"] == 3


def test_meetings_fan_out_to_associated_contacts(fake):
    fake.records["meetings"] = [
        {
            "id": str(i),
            "properties": {
                "hs_lastmodifieddate": str(_ms(SINCE)),
                "hs_timestamp": iso_z(SINCE),
                "hs_activity_type": "Demo",
            },
        }
        for i in range(1, 4)
    ]
    fake.assoc[("meetings", "contacts")] = {"1": [_to(10, 200)], "2": [_to(11, 200), _to(12, 200)]}
    source = _source(fake)
    activities = list(source.meetings(SINCE, UNTIL))
    assert [a.source_id for a in activities] == [
        "meeting:1:10",
        "meeting:2:11",
        "meeting:2:12",
    ]
    assert source.skipped["meeting without contacts"] == 1
    assert fake.calls["associations.meetings.contacts"] == 1


# --------------------------------------------------------------------------- read-ahead


def test_read_ahead_runs_the_callers_work_while_the_next_page_is_not_there() -> None:
    import threading

    from connectors.hubspot.extract import read_ahead

    released = threading.Event()
    work_threads: list[str] = []

    def pages():
        yield [1]
        # the second page only comes once the caller's work has run, as a search held back
        # by the rate limit comes only later
        assert released.wait(timeout=10), "work never ran while the page was missing"
        yield [2]

    def work() -> None:
        work_threads.append(threading.current_thread().name)
        released.set()

    assert list(read_ahead(pages(), work, 2, "test")) == [[1], [2]]
    assert work_threads and work_threads[0] == threading.current_thread().name


def test_read_ahead_raises_the_readers_error_after_the_pages_before_it() -> None:
    from connectors.hubspot.extract import read_ahead

    def pages():
        yield "first"
        raise FatalAPIError("search refused")

    got: list[str] = []
    with pytest.raises(FatalAPIError, match="search refused"):
        for page in read_ahead(pages(), lambda: None, 2, "test"):
            got.append(page)
    assert got == ["first"]


def test_read_ahead_stops_its_reader_when_the_caller_stops_early() -> None:
    import threading

    from connectors.hubspot.extract import read_ahead

    produced: list[int] = []

    def pages():
        for i in range(1000):
            produced.append(i)
            yield i

    for page in read_ahead(pages(), lambda: None, 2, "stop-test"):
        if page == 3:
            break
    assert not any(t.name == "read-ahead-stop-test" for t in threading.enumerate())
    assert len(produced) <= 3 + 1 + 2 + 1  # what was read, one being put, the queue's two


def test_given_attendance_recorded_on_an_old_row_after_the_event_it_is_read(fake):
    """HubSpot keeps the registration's row (and its createdAt) when the webinar tool later
    records attendance: a window on createdAt never sees the ATTENDED state."""
    fake.marketing_events = [{"objectId": "1", "eventType": "WEBINAR", "endDateTime": iso_z(SINCE)}]
    row = _row(5, "ATTENDED", SINCE - timedelta(hours=2))
    row["createdAt"] = iso_z(SINCE - timedelta(days=10))  # registered ten days before
    fake.participations = {"1": [row]}
    activities = list(_source(fake).webinar_participations(SINCE, UNTIL))
    assert [(a.kind, a.source_id) for a in activities] == [
        (ActivityKind.WEBINAR_ATTENDED, "webinar:p5:attended")
    ]


# --------------------------------------------------------------------------- optional streams


def test_given_forms_of_every_type_all_are_read(fake):
    fake.forms = [
        {"id": "f1", "name": "White paper", "formType": "hubspot"},
        {"id": "f2", "name": "White paper pop-up", "formType": "flow"},
        {"id": "f3", "name": "White paper (site form)", "formType": "captured"},
    ]
    fake.submissions = {"f1": [], "f2": [], "f3": []}
    source = _source(fake, _rules())
    list(source.form_submissions(SINCE, UNTIL))
    assert {k for k in fake.calls if k.startswith("submissions.")} == {
        "submissions.f1",
        "submissions.f2",
        "submissions.f3",
    }
    assert ("forms", {"form_types": ["all"]}) in fake.sent


def _email(i: int, kind: str, when: datetime) -> dict[str, Any]:
    return {"id": f"e{i}", "created": _ms(when), "type": kind, "recipient": f"r{i}@example.com"}


def test_given_bot_filtered_email_events_they_are_not_read(fake):
    fake.email_events = [
        _email(1, "OPEN", SINCE + timedelta(minutes=1)),
        _email(2, "CLICK", SINCE + timedelta(minutes=2)) | {"filteredEvent": True},
    ]
    ids = [a.source_id for a in _source(fake).email_events(SINCE, UNTIL)]
    assert ids == ["email:e1"]


@pytest.mark.parametrize(
    ("error", "mode", "state"),
    [
        (FatalAPIError("403", status=403, error_code="MISSING_SCOPES"), "auto", "derived"),
        (RecordError("404", status=404), "auto", "derived"),
        (FatalAPIError("403", status=403, error_code="MISSING_SCOPES"), "events", "skipped"),
    ],
)
def test_given_the_events_api_refused_page_views_are_skipped_or_derived(fake, error, mode, state):
    fake.events_refusal = error
    settings = HubSpotSettings.model_validate({"streams": {"page_views_from": mode}})
    source = HubSpotSource(fake, FormRules(), settings)  # type: ignore[arg-type]
    assert list(source.activity_stream("page_views", SINCE, UNTIL)) == []
    status = source.stream_states["page_views"]
    assert status.state == state
    assert "event-detail-read" in status.reason
    assert source.derives_visits is (state == "derived")


@pytest.mark.parametrize("status", [401, 500])
def test_given_a_bad_token_or_server_error_on_a_stream_the_run_stops(fake, status):
    fake.events_refusal = FatalAPIError(f"{status}", status=status)
    with pytest.raises(FatalAPIError):
        list(_source(fake).activity_stream("page_views", SINCE, UNTIL))


def test_given_a_stream_switched_off_it_is_not_called(fake):
    settings = HubSpotSettings.model_validate({"streams": {"email_events": False}})
    source = HubSpotSource(fake, FormRules(), settings)  # type: ignore[arg-type]
    assert list(source.activity_stream("email_events", SINCE, UNTIL)) == []
    assert fake.calls["email_events"] == 0
    assert source.stream_states["email_events"].describe() == "switched off"
