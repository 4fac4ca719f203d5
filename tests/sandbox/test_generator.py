"""The synthetic data generator: determinism, streaming, API shapes, designed anomalies."""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hubspot.crm.objects.meetings import models as crm_models
from hubspot.crm.objects.meetings.configuration import Configuration as CrmConfiguration
from hubspot.events import models as event_models
from hubspot.events.configuration import Configuration as EventsConfiguration
from hubspot.marketing.events import models as mev_models
from hubspot.marketing.events.configuration import Configuration as MarketingEventsConfiguration
from hubspot.marketing.forms import models as form_models
from hubspot.marketing.forms.configuration import Configuration as FormsConfiguration

from sandbox.generator import (
    HUBSPOT_KINDS,
    MQL_POINTS_THRESHOLD,
    SALESFORCE_OBJECTS,
    ContactTruth,
    SeedData,
    Stream,
    generate,
    hubspot_seed,
    salesforce_seed,
)
from sandbox.generator.ids import sf_id
from sandbox.salesforce.ids import checksum as sf_checksum

NOW = datetime(2026, 3, 4, 5, 6, 7, 123000, tzinfo=UTC)
NOW_MS = 1_772_600_767_123
N = 1500
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SF_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
CONTACT_PROPERTIES = {
    "email",
    "firstname",
    "lastname",
    "jobtitle",
    "company",
    "phone",
    "lifecyclestage",
    "hs_lead_status",
    "hs_analytics_source",
    "createdate",
    "lastmodifieddate",
    "hs_lastmodifieddate",
    "hs_object_id",
}
COMPANY_PROPERTIES = {
    "name",
    "domain",
    "industry",
    "numberofemployees",
    "annualrevenue",
    "country",
    "city",
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
}
MEETING_PROPERTIES = {
    "hs_meeting_title",
    "hs_meeting_start_time",
    "hs_meeting_end_time",
    "hs_meeting_outcome",
    "hs_activity_type",
    "hs_timestamp",
    "hs_object_id",
    "hs_createdate",
    "hs_lastmodifieddate",
}
INDUSTRIES = {
    "MANUFACTURING",
    "MACHINERY",
    "INDUSTRIAL_AUTOMATION",
    "AUTOMOTIVE",
    "RETAIL",
    "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "COMPUTER_SOFTWARE",
    "FINANCIAL_SERVICES",
    "BANKING",
    "HOSPITAL_HEALTH_CARE",
    "LOGISTICS_AND_SUPPLY_CHAIN",
    "CONSTRUCTION",
}


@pytest.fixture(scope="module")
def data() -> SeedData:
    return generate(contacts=N, seed=11, now=NOW)


@pytest.fixture(scope="module")
def hs(data: SeedData) -> dict[str, list[dict[str, Any]]]:
    return hubspot_seed(data)


@pytest.fixture(scope="module")
def truth(data: SeedData) -> list[ContactTruth]:
    return list(data.ground_truth())


@pytest.fixture(scope="module")
def sfdc(data: SeedData) -> dict[str, list[dict[str, Any]]]:
    return salesforce_seed(data)


def _by_contact(records: list[dict[str, Any]], key) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        out[key(r)].append(r)
    return out


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _sdk_valid(
    model: type, record: dict[str, Any], configuration: Any, extra: set[str] = frozenset()
) -> None:
    """Build the hubspot-api-client model with validation on: unknown keys, missing required
    fields and values outside the SDK's enums all raise."""
    inverse = {json_name: attr for attr, json_name in model.attribute_map.items()}
    unknown = set(record) - set(inverse) - extra
    assert not unknown, f"{model.__name__}: keys the API does not have: {unknown}"
    configuration.client_side_validation = True
    model(
        **{inverse[k]: v for k, v in record.items() if k in inverse},
        local_vars_configuration=configuration,
    )


# --- determinism and streaming --------------------------------------------------------------


def test_same_seed_and_now_give_identical_bytes() -> None:
    def dump(seed: int) -> str:
        d = generate(contacts=300, seed=seed, now=NOW)
        return json.dumps([hubspot_seed(d), salesforce_seed(d)], ensure_ascii=False)

    assert dump(5) == dump(5)
    assert dump(5) != dump(6)


def test_given_more_contacts_the_first_ones_are_unchanged() -> None:
    small, large = generate(contacts=200, seed=3, now=NOW), generate(contacts=900, seed=3, now=NOW)
    assert list(small.contacts) == list(large.contacts)[:200]
    for kind in ("email_events", "page_views", "form_submissions", "associations"):
        assert list(getattr(small, kind)) == list(getattr(large.window(0, 200), kind))
    assert list(small.salesforce_payload()["Lead"]) == list(
        large.window(0, 200).salesforce_payload()["Lead"]
    )


def test_windows_partition_the_data_set() -> None:
    full = generate(contacts=700, seed=9, now=NOW)
    parts = [full.window(a, b) for a, b in ((0, 233), (233, 461), (461, 700))]
    joined: dict[str, list[Any]] = defaultdict(list)
    for part in parts:
        for name, rec in part.hubspot_records():
            joined[name].append(rec)
        for name, rec in part.salesforce_records():
            joined["sf." + name].append(rec)
    whole: dict[str, list[Any]] = defaultdict(list)
    for name, rec in full.hubspot_records():
        whole[name].append(rec)
    for name, rec in full.salesforce_records():
        whole["sf." + name].append(rec)
    assert joined == whole
    one = full.window(250, 251)
    assert list(one.contacts) == [c for c in full.contacts if c["id"] == str(1_000_001 + 250)]


def test_streams_are_lazy_and_reiterable(data: SeedData) -> None:
    stream = data.email_events
    assert isinstance(stream, Stream)
    first = next(iter(stream))
    assert next(iter(stream)) == first  # each iteration starts over
    assert not isinstance(stream, list | tuple)
    names = [name for name, _ in data.hubspot_items()]
    assert names == list(HUBSPOT_KINDS)
    assert list(data.salesforce_payload()) == list(SALESFORCE_OBJECTS)


def test_per_kind_streams_match_the_single_pass(data: SeedData, hs, sfdc) -> None:
    small = data.window(0, 300)
    single: dict[str, list[Any]] = defaultdict(list)
    for name, rec in small.hubspot_records():
        single[name].append(rec)
    for name, stream in small.hubspot_items():
        assert list(stream) == single[name], name
    sf_single: dict[str, list[Any]] = defaultdict(list)
    for name, rec in small.salesforce_records():
        sf_single[name].append(rec)
    for name, stream in small.salesforce_items():
        assert list(stream) == sf_single[name], name


def test_expected_counts_match_the_records(data: SeedData, hs, sfdc, truth) -> None:
    counts = data.expected_counts()
    for kind in HUBSPOT_KINDS:
        assert counts[kind] == len(hs[kind]), kind
    assert counts["email_events_by_type"] == dict(
        sorted(Counter(e["type"] for e in hs["email_events"]).items())
    )
    states = Counter(p["properties"]["attendanceState"] for p in hs["participations"])
    assert counts["participations_by_state"] == dict(sorted(states.items()))
    assert counts["salesforce"] == {name: len(sfdc[name]) for name in SALESFORCE_OBJECTS}
    assert counts["mql_candidates"] == sum(t.mql_candidate for t in truth)
    assert 10 <= counts["activities"] / N <= 25


def test_demo_size_is_quick() -> None:
    started = time.perf_counter()
    d = generate(contacts=500, seed=1, now=NOW)
    hubspot_seed(d)
    salesforce_seed(d)
    assert time.perf_counter() - started < 1.5


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate(contacts=1, seed=1, now=datetime(2026, 1, 1))


def test_more_frequent_newsletters_add_email_events_and_change_nothing_else() -> None:
    """`newsletter_days` is the density knob for the 20,000,000-activity backfill benchmark."""
    usual = generate(contacts=400, seed=2, now=NOW).expected_counts()
    dense = generate(contacts=400, seed=2, now=NOW, newsletter_days=5).expected_counts()
    assert dense["email_events"] > 1.4 * usual["email_events"]
    assert dense["activities"] >= 20 * 400 > usual["activities"]
    for same in ("contacts", "companies", "form_submissions", "participations", "meetings"):
        assert dense[same] == usual[same]
    with pytest.raises(ValueError, match="newsletter_days"):
        generate(contacts=1, seed=1, now=NOW, newsletter_days=0)


def test_large_sets_refuse_to_materialise() -> None:
    with pytest.raises(ValueError, match="stream"):
        hubspot_seed(generate(contacts=50_000, seed=1, now=NOW))


# --- HubSpot shapes -------------------------------------------------------------------------


def test_crm_objects_have_the_read_shape_with_string_properties(hs) -> None:
    for kind, props in (
        ("contacts", CONTACT_PROPERTIES),
        ("companies", COMPANY_PROPERTIES),
        ("meetings", MEETING_PROPERTIES),
    ):
        ids = [r["id"] for r in hs[kind]]
        assert len(ids) == len(set(ids)), kind
        for r in hs[kind]:
            assert set(r) == {"id", "properties", "createdAt", "updatedAt", "archived"}
            assert r["id"].isdigit() and r["archived"] is False
            assert ISO_MS.match(r["createdAt"]) and ISO_MS.match(r["updatedAt"])
            assert set(r["properties"]) == props
            assert all(v is None or isinstance(v, str) for v in r["properties"].values())
            assert r["properties"]["hs_object_id"] == r["id"]
            _sdk_valid(crm_models.SimplePublicObject, r, CrmConfiguration())
    for c in hs["contacts"]:
        p = c["properties"]
        assert c["createdAt"] == p["createdate"] and c["updatedAt"] == p["lastmodifieddate"]
        assert ISO_MS.match(p["createdate"]) and p["lastmodifieddate"] == p["hs_lastmodifieddate"]
    for c in hs["companies"]:
        p = c["properties"]
        assert p["industry"] in INDUSTRIES
        assert 10 <= int(p["numberofemployees"]) <= 50_000
        assert p["domain"].endswith((".co.jp", ".com", ".jp"))


def test_company_sizes_are_skewed(hs) -> None:
    sizes = sorted(int(c["properties"]["numberofemployees"]) for c in hs["companies"])
    median = sizes[len(sizes) // 2]
    assert median < 300 and sizes[-1] > 5_000
    assert 0.03 < sum(s >= 1000 for s in sizes) / len(sizes) < 0.3


def test_associations_point_at_existing_records(hs) -> None:
    contacts = {c["id"] for c in hs["contacts"]}
    companies = {c["id"] for c in hs["companies"]}
    meetings = {m["id"] for m in hs["meetings"]}
    kinds = Counter()
    for a in hs["associations"]:
        assert set(a) == {"fromObjectType", "toObjectType", "from", "to", "types"}
        (t,) = a["types"]
        assert t["associationCategory"] == "HUBSPOT_DEFINED"
        pair = (a["fromObjectType"], a["toObjectType"], t["associationTypeId"])
        kinds[pair] += 1
        if pair == ("contacts", "companies", 1):
            assert a["from"]["id"] in contacts and a["to"]["id"] in companies
        else:
            assert pair == ("meetings", "contacts", 200)
            assert a["from"]["id"] in meetings and a["to"]["id"] in contacts
    assert kinds[("meetings", "contacts", 200)] == len(meetings)
    assert kinds[("contacts", "companies", 1)] > N // 2


def test_forms_have_the_v3_shape_and_stable_guids(hs) -> None:
    names = {f["name"] for f in hs["forms"]}
    assert {
        "White paper: Smart factory guide",
        "ホワイトペーパー: 製造DX入門",
        "Consultation request",
        "個別相談申し込み",
        "Contact us",
        "Webinar registration",
        "Newsletter signup",
    } == names
    field_models = {
        "email": form_models.EmailField,
        "single_line_text": form_models.SingleLineTextField,
        "phone": form_models.PhoneField,
        "multi_line_text": form_models.MultiLineTextField,
    }
    for f in hs["forms"]:
        assert UUID.match(f["id"]) and f["formType"] == "hubspot" and f["archived"] is False
        _sdk_valid(form_models.HubSpotFormDefinition, f, FormsConfiguration())
        _sdk_valid(form_models.HubSpotFormConfiguration, f["configuration"], FormsConfiguration())
        _sdk_valid(form_models.FormDisplayOptions, f["displayOptions"], FormsConfiguration())
        _sdk_valid(form_models.FormStyle, f["displayOptions"]["style"], FormsConfiguration())
        for group in f["fieldGroups"]:
            _sdk_valid(form_models.FieldGroup, group, FormsConfiguration())
            for field in group["fields"]:
                assert field["objectTypeId"] == "0-1"
                _sdk_valid(field_models[field["fieldType"]], field, FormsConfiguration())
    again = hubspot_seed(generate(contacts=1, seed=11, now=NOW))["forms"]
    other = hubspot_seed(generate(contacts=1, seed=12, now=NOW))["forms"]
    assert [f["id"] for f in again] == [f["id"] for f in hs["forms"]]
    assert not {f["id"] for f in other} & {f["id"] for f in hs["forms"]}


def test_form_submissions_reference_forms_and_carry_values(hs) -> None:
    forms = {f["id"]: f["name"] for f in hs["forms"]}
    conversions = set()
    for s in hs["form_submissions"]:
        assert set(s) == {"formId", "conversionId", "submittedAt", "values", "pageUrl"}
        assert s["formId"] in forms and UUID.match(s["conversionId"])
        assert isinstance(s["submittedAt"], int) and s["submittedAt"] <= NOW_MS
        assert s["pageUrl"].startswith("https://www.example-corp.jp/")
        assert s["values"][0]["name"] == "email"
        assert all(set(v) == {"name", "value"} and isinstance(v["value"], str) for v in s["values"])
        conversions.add(s["conversionId"])
    assert len(conversions) == len(hs["form_submissions"])
    used = Counter(forms[s["formId"]] for s in hs["form_submissions"])
    assert set(used) == set(forms.values())


def test_email_events_follow_the_v1_event_shape(hs) -> None:
    common = {
        "id",
        "created",
        "type",
        "recipient",
        "portalId",
        "appId",
        "appName",
        "emailCampaignId",
    }
    emails = {c["properties"]["email"] for c in hs["contacts"]}
    types = Counter()
    for e in hs["email_events"]:
        types[e["type"]] += 1
        assert common <= set(e) and UUID.match(e["id"])
        assert isinstance(e["created"], int) and e["created"] <= NOW_MS
        assert isinstance(e["emailCampaignId"], int) and e["recipient"] in emails
        if e["type"] == "CLICK":
            assert e["url"].startswith("https://www.example-corp.jp/")
        if e["type"] == "BOUNCE":
            assert e["category"] in {
                "UNKNOWN_USER",
                "POLICY",
                "SPAM",
                "MAILBOX_FULL",
                "TEMPORARY_PROBLEM",
                "THROTTLED",
            }
            assert e["status"].isdigit() and e["response"]
        if e["type"] == "STATUSCHANGE":
            assert e["portalSubscriptionStatus"] in {"SUBSCRIBED", "UNSUBSCRIBED"}
            assert e["source"].startswith("SOURCE_") and e["bounced"] is False
            assert all(s["status"] == e["portalSubscriptionStatus"] for s in e["subscriptions"])
    assert set(types) == {"DELIVERED", "OPEN", "CLICK", "BOUNCE", "STATUSCHANGE"}
    assert types["DELIVERED"] > types["OPEN"] > types["CLICK"] > types["STATUSCHANGE"]
    unsubscribes = sum(
        e.get("portalSubscriptionStatus") == "UNSUBSCRIBED" for e in hs["email_events"]
    )
    hard = sum(e.get("category") in {"UNKNOWN_USER", "POLICY", "SPAM"} for e in hs["email_events"])
    assert unsubscribes > 0.01 * N and hard > 0.005 * N


def test_marketing_events_and_participations_agree(hs) -> None:
    events = {e["id"]: e for e in hs["marketing_events"]}
    contacts = {c["id"] for c in hs["contacts"]}
    per_event: dict[str, Counter] = defaultdict(Counter)
    for e in hs["marketing_events"]:
        assert (
            e["eventType"] == "WEBINAR"
            and e["id"] == e["objectId"]
            and e["eventCancelled"] is False
        )
        assert ISO_MS.match(e["startDateTime"]) and e["startDateTime"] < e["endDateTime"]
        _sdk_valid(
            mev_models.MarketingEventPublicReadResponse,
            e,
            MarketingEventsConfiguration(),
            extra={"externalAccountId"},
        )
    for p in hs["participations"]:
        _sdk_valid(mev_models.ParticipationBreakdown, p, MarketingEventsConfiguration())
        _sdk_valid(
            mev_models.ParticipationProperties, p["properties"], MarketingEventsConfiguration()
        )
        _sdk_valid(
            mev_models.MarketingEventAssociation,
            p["associations"]["marketingEvent"],
            MarketingEventsConfiguration(),
        )
        _sdk_valid(
            mev_models.ContactAssociation,
            p["associations"]["contact"],
            MarketingEventsConfiguration(),
        )
        event = events[p["associations"]["marketingEvent"]["marketingEventId"]]
        assert p["associations"]["contact"]["contactId"] in contacts
        props = p["properties"]
        per_event[event["id"]][props["attendanceState"]] += 1
        if props["attendanceState"] == "ATTENDED":
            assert (
                0 < float(props["attendancePercentage"]) <= 100
                and props["attendanceDurationSeconds"] > 0
            )
        if props["attendanceState"] == "REGISTERED":
            assert not event["eventCompleted"]
    for eid, e in events.items():
        c = per_event[eid]
        assert e["registrants"] == sum(c.values())
        assert (e["attendees"], e["noShows"], e["cancellations"]) == (
            c["ATTENDED"],
            c["NO_SHOW"],
            c["CANCELLED"],
        )


def test_page_views_follow_the_events_v3_shape(hs) -> None:
    contacts = {c["id"] for c in hs["contacts"]}
    for v in hs["page_views"]:
        _sdk_valid(event_models.ExternalUnifiedEvent, v, EventsConfiguration())
        assert v["eventType"] == "e_visited_page" and v["objectType"] == "contact"
        assert v["objectId"] in contacts and ISO_MS.match(v["occurredAt"])
        assert v["properties"]["hs_url"].startswith("https://www.example-corp.jp/")
        assert all(isinstance(x, str) for x in v["properties"].values())


def test_meetings_are_booked_after_consultation_requests(hs) -> None:
    for m in hs["meetings"]:
        p = m["properties"]
        assert p["hs_meeting_outcome"] in {"SCHEDULED", "COMPLETED", "NO_SHOW", "CANCELED"}
        assert p["hs_activity_type"] in {"Consultation", "Demo", "Discovery call"}
        assert p["hs_timestamp"] == p["hs_meeting_start_time"] < p["hs_meeting_end_time"]
        if p["hs_meeting_start_time"] > "2026-03-04T05:06:07.123Z":
            assert p["hs_meeting_outcome"] == "SCHEDULED"


# --- time -----------------------------------------------------------------------------------


def test_activity_is_spread_over_half_a_year_with_some_in_the_last_hour(hs) -> None:
    times = (
        [e["created"] for e in hs["email_events"]]
        + [s["submittedAt"] for s in hs["form_submissions"]]
        + [_ms(v["occurredAt"]) for v in hs["page_views"]]
    )
    assert max(times) <= NOW_MS
    assert min(times) >= NOW_MS - 182 * 86_400_000
    assert sum(t > NOW_MS - 3_600_000 for t in times) >= 10
    assert min(times) < NOW_MS - 150 * 86_400_000
    created = [_ms(c["properties"]["createdate"]) for c in hs["contacts"]]
    assert sum(t > NOW_MS - 3_600_000 for t in created) >= 3


def test_lastmodifieddate_covers_every_activity_and_is_spread(hs) -> None:
    latest: dict[str, int] = defaultdict(int)
    by_email = {c["properties"]["email"]: c["id"] for c in hs["contacts"]}
    for e in hs["email_events"]:
        cid = by_email[e["recipient"]]
        latest[cid] = max(latest[cid], e["created"])
    for v in hs["page_views"]:
        latest[v["objectId"]] = max(latest[v["objectId"]], _ms(v["occurredAt"]))
    for p in hs["participations"]:
        cid = p["associations"]["contact"]["contactId"]
        latest[cid] = max(latest[cid], p["properties"]["occurredAt"])
    modified = {c["id"]: _ms(c["properties"]["lastmodifieddate"]) for c in hs["contacts"]}
    for c in hs["contacts"]:
        assert modified[c["id"]] >= max(latest[c["id"]], _ms(c["properties"]["createdate"]))
        assert modified[c["id"]] <= NOW_MS
    older = sum(m < NOW_MS - 14 * 86_400_000 for m in modified.values())
    assert 0.25 < older / N < 0.9
    assert sum(m > NOW_MS - 3_600_000 for m in modified.values()) > 0


# --- realism and designed anomalies ---------------------------------------------------------


def test_mql_candidates_are_a_few_percent_and_did_the_whole_journey(hs, truth) -> None:
    share = sum(t.mql_candidate for t in truth) / N
    assert 0.015 <= share <= 0.08
    consult_forms = {
        f["id"] for f in hs["forms"] if f["name"] in ("Consultation request", "個別相談申し込み")
    }
    email_to_id = {c["properties"]["email"]: c["id"] for c in hs["contacts"]}
    consulted = {
        email_to_id[s["values"][0]["value"]]
        for s in hs["form_submissions"]
        if s["formId"] in consult_forms
    }
    attended = {
        p["associations"]["contact"]["contactId"]
        for p in hs["participations"]
        if p["properties"]["attendanceState"] == "ATTENDED"
    }
    views = Counter(v["objectId"] for v in hs["page_views"])
    for t in truth:
        if t.mql_candidate:
            assert t.hubspot_id in consulted and t.hubspot_id in attended
            assert t.points >= MQL_POINTS_THRESHOLD
        assert t.points >= 5 * views[t.hubspot_id]
    near_misses = [
        t
        for t in truth
        if not t.mql_candidate and (t.hubspot_id in consulted or t.hubspot_id in attended)
    ]
    assert near_misses, "engaged contacts that are not MQLs make scoring tests meaningful"


def test_duplicates_and_malformed_emails_are_present(data: SeedData, hs, truth) -> None:
    counts = data.expected_counts()
    emails = [c["properties"]["email"] for c in hs["contacts"]]
    # HubSpot keeps emails unique (case-insensitively): no two contacts share one.
    normalised = Counter(e.strip().lower() for e in emails if e)
    assert max(normalised.values()) == 1
    # A designed duplicate is the same person under a second address.
    by_id = {c["id"]: c["properties"] for c in hs["contacts"]}
    duplicates = [t for t in truth if t.duplicate_of is not None]
    assert len(duplicates) == counts["duplicate_contacts"] > 0
    for t in duplicates:
        first, second = by_id[t.duplicate_of], by_id[t.hubspot_id]
        assert (first["firstname"], first["lastname"]) == (second["firstname"], second["lastname"])
        if first["email"] and second["email"]:
            assert first["email"] != second["email"]
    valid = re.compile(r"^[a-z0-9._+-]+@[a-z0-9.-]+\.[a-z]{2,}$")
    bad = [e for e in emails if e is None or not valid.match(e.strip().lower())]
    assert len(bad) == counts["malformed_emails"]
    assert None in bad and "" in bad
    assert any(e and "@" not in e for e in bad) and any(e and " " in e.strip() for e in bad)
    assert sum(t.duplicate_of is not None for t in truth) == counts["duplicate_contacts"]


def test_people_are_japan_flavoured_and_mixed(hs) -> None:
    props = [c["properties"] for c in hs["contacts"]]
    kanji = sum(bool(re.search(r"[\u4e00-\u9fff]", p["lastname"] or "")) for p in props)
    assert 0.3 < kanji / N < 0.8
    assert any((p["lastname"] or "") in ("Smith", "O'Brien", "Müller", "García") for p in props)
    titles = [p["jobtitle"] or "" for p in props]
    for needle in ("課長", "部長", "Director", "学生", "Student"):
        assert any(needle in t for t in titles), needle
    assert any(len(t) > 255 for t in titles)  # longer than Salesforce's 128-character Title
    domains = Counter((p["email"] or "").rsplit("@", 1)[-1] for p in props)
    assert domains["gmail.com"] and domains["yahoo.co.jp"] and domains["outlook.com"]
    assert any(d.endswith(".co.jp") for d in domains) and any(
        d.endswith(".com") and "-" in d for d in domains
    )
    lifecycle = Counter(p["lifecyclestage"] for p in props)
    assert {"subscriber", "lead", "marketingqualifiedlead", "other"} <= set(lifecycle)


# --- Salesforce -----------------------------------------------------------------------------


def test_salesforce_ids_are_realistic() -> None:
    assert sf_checksum("001D000000IRFma") == "IAH"  # the documented example
    assert sf_id("003", 5).startswith("0035g0") and len(sf_id("003", 5)) == 18


def test_salesforce_records_are_consistent(sfdc) -> None:
    prefixes = {
        "User": "005",
        "Account": "001",
        "Contact": "003",
        "Lead": "00Q",
        "Opportunity": "006",
    }
    ids: dict[str, set[str]] = {}
    for obj, records in sfdc.items():
        ids[obj] = {r["Id"] for r in records}
        assert len(ids[obj]) == len(records), obj
        for r in records:
            assert len(r["Id"]) == 18 and r["Id"].startswith(prefixes[obj])
            assert r["Id"][15:] == sf_checksum(r["Id"][:15])
            assert SF_DATETIME.match(r["CreatedDate"]) and "attributes" not in r
    contacts = {c["Id"]: c for c in sfdc["Contact"]}
    for person in sfdc["Contact"] + sfdc["Lead"]:
        assert person["OwnerId"] in ids["User"] and person["LastName"]
        assert person["Title"] is None or len(person["Title"]) <= 128
    for c in sfdc["Contact"]:
        assert c["AccountId"] in ids["Account"]
    for o in sfdc["Opportunity"]:
        assert o["AccountId"] in ids["Account"] and o["OwnerId"] in ids["User"]
    statuses = Counter(lead["Status"] for lead in sfdc["Lead"])
    assert set(statuses) <= {
        "Open - Not Contacted",
        "Working - Contacted",
        "Closed - Converted",
        "Closed - Not Converted",
    }
    converted = [lead for lead in sfdc["Lead"] if lead["IsConverted"]]
    assert converted and all(lead["Status"] == "Closed - Converted" for lead in converted)
    for lead in converted:
        target = contacts[lead["ConvertedContactId"]]
        assert (
            target["Email"] == lead["Email"] and lead["ConvertedAccountId"] == target["AccountId"]
        )
    for lead in sfdc["Lead"]:
        if not lead["IsConverted"]:
            assert lead["ConvertedContactId"] is None and lead["Company"]


def test_salesforce_emails_match_hubspot_modulo_case(data: SeedData, hs, sfdc, truth) -> None:
    hubspot = {(c["properties"]["email"] or "").strip().lower() for c in hs["contacts"]}
    in_salesforce = [t for t in truth if t.salesforce]
    assert 0.18 < len(in_salesforce) / N < 0.32  # ~20-30% of HubSpot emails already in Salesforce
    people = {r["Id"]: r for r in sfdc["Contact"] + sfdc["Lead"]}
    other_case = duplicated = 0
    for t in truth:
        for _obj, sf_id_, email in t.salesforce:
            assert people[sf_id_]["Email"] == email
            assert email.lower() == t.email
            other_case += email != t.email
        active = [
            x
            for x in t.salesforce
            if x[0] == "Contact" or not people[x[1]]["Status"].startswith("Closed")
        ]
        duplicated += len(active) > 1
    assert other_case > 0 and duplicated > 0
    assert duplicated == data.expected_counts()["emails_with_duplicate_records"]
    linked = {x[1] for t in truth for x in t.salesforce}
    salesforce_only = [r for r in people.values() if r["Id"] not in linked]
    assert salesforce_only and all(r["Email"].lower() not in hubspot for r in salesforce_only)
    kinds = Counter(frozenset(x[0] for x in t.salesforce) for t in truth)
    assert (
        kinds[frozenset({"Lead"})]
        and kinds[frozenset({"Contact"})]
        and kinds[frozenset({"Contact", "Lead"})]
    )


def test_expected_counts_for_a_window_are_its_share() -> None:
    d = generate(contacts=600, seed=4, now=NOW)
    parts = [d.window(0, 250).expected_counts(), d.window(250, 600).expected_counts()]
    whole = d.expected_counts()
    for key in (
        "contacts",
        "companies",
        "email_events",
        "page_views",
        "duplicate_contacts",
        "malformed_emails",
        "mql_candidates",
        "forms",
        "marketing_events",
    ):
        assert parts[0][key] + parts[1][key] == whole[key], key


def test_now_moves_the_whole_timeline() -> None:
    later = NOW + timedelta(days=30)
    a = next(iter(generate(contacts=5, seed=2, now=NOW).contacts))
    b = next(iter(generate(contacts=5, seed=2, now=later).contacts))
    shift = _ms(b["createdAt"]) - _ms(a["createdAt"])
    assert shift == 30 * 86_400_000


@pytest.mark.slow
def test_emails_stay_unique_at_scale_as_hubspot_requires() -> None:
    data = generate(contacts=120_000, seed=7, now=NOW)
    seen: set[str] = set()
    for contact in data.contacts:
        email = contact["properties"]["email"]
        if email:
            key = email.strip().lower()
            assert key not in seen, key
            seen.add(key)


def test_original_source_is_a_hubspot_value_spread_over_channels_and_same_for_every_seed() -> None:
    from sandbox.generator.plan import ORIGINAL_SOURCES, original_source

    names = {name for name, _ in ORIGINAL_SOURCES}
    picked = [original_source(i) for i in range(2000)]
    assert set(picked) == names  # every channel occurs
    assert [original_source(i) for i in range(50)] == picked[:50]  # deterministic
    share = picked.count("ORGANIC_SEARCH") / len(picked)
    assert 0.22 < share < 0.34  # weight 28 %
    one = hubspot_seed(generate(contacts=40, seed=1, now=NOW))["contacts"]
    other = hubspot_seed(generate(contacts=40, seed=2, now=NOW))["contacts"]
    assert [c["properties"]["hs_analytics_source"] for c in one] == [
        c["properties"]["hs_analytics_source"] for c in other
    ]
