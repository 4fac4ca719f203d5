"""Pure payload -> model functions, email identity and form rules (bare payloads, no server)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.hubspot import constants as c
from connectors.hubspot.forms import FormRules
from connectors.hubspot.normalize import (
    Problem,
    Skipped,
    company_from_record,
    contact_from_record,
    email_event_activity,
    meeting_activities,
    page_view_activity,
    parse_timestamp,
    participation_activity,
    primary_company_from_list,
    primary_company_id,
    submission_activity,
    to_ms,
)
from core.errors import ConfigError
from core.identity import normalise_email, parse_email
from core.models import Activity, ActivityKind

WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
WHEN_MS = to_ms(WHEN)

# --------------------------------------------------------------------------- identity


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Taro.Yamada@Example.CO.JP", "taro.yamada@example.co.jp"),
        ("  someone@example.com \n", "someone@example.com"),
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "taro@example.jp"),  # full-width, NFKC
        ("<a.b+tag@example.org>", "a.b+tag@example.org"),
        ("mailto:x@example.com", "x@example.com"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("user@xn--bcher-kva.example", "user@xn--bcher-kva.example"),
        ("user@sub.xn--p1ai", "user@sub.xn--p1ai"),
        (None, None),
        ("", None),
        ("   ", None),
        ("no-at-sign", None),
        ("two@@example.com", None),
        ("a@b@example.com", None),
        ("user@localhost", None),
        ("user@example", None),
        ("user@-bad.com", None),
        ("user@exa mple.com", None),
        (".dot@example.com", None),
        ("dot.@example.com", None),
        ("do..t@example.com", None),
        ("山田@example.jp", None),
        ("user@例え.jp", None),
        ("x" * 65 + "@example.com", None),
        ("a@" + "b" * 250 + ".com", None),
        ("user@example.123", None),
        (12345, None),
    ],
)
def test_normalise_email(raw, expected):
    assert normalise_email(raw) == expected
    check = parse_email(raw)
    assert (check.reason is None) == (expected is not None)


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (WHEN_MS, WHEN),
        (str(WHEN_MS), WHEN),
        ("2024-05-01T12:30:00Z", WHEN),
        ("2024-05-01T12:30:00.000Z", WHEN),
        ("2024-05-01T21:30:00+09:00", WHEN),
        ("2024-05-01T12:30:00", WHEN),  # naive ISO read as UTC
        (None, None),
        ("", None),
        ("yesterday", None),
        ("2024-13-01T00:00:00Z", None),
        (True, None),
        (WHEN_MS // 1000, None),  # seconds mistaken for ms -> 1970, implausible
        (10**20, None),
    ],
)
def test_parse_timestamp_is_utc_aware_or_none(raw, expected):
    parsed = parse_timestamp(raw)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None and parsed.utcoffset().total_seconds() == 0


# --------------------------------------------------------------------------- CRM records


def test_contact_from_record_normalises_email_and_reads_times():
    contact, problems = contact_from_record(
        {
            "id": "101",
            "properties": {
                "email": " Foo@Example.COM ",
                "firstname": "山田",
                "lastmodifieddate": "2024-05-01T12:30:00.000Z",
            },
            "archived": False,
        },
        company_id="9",
    )
    assert problems == []
    assert contact is not None
    assert contact.email == "foo@example.com"
    assert contact.get("firstname") == "山田"  # non-ASCII kept as is
    assert contact.updated_at == WHEN
    assert contact.company_id == "9"


def test_contact_with_invalid_email_is_kept_without_email_and_reported():
    contact, problems = contact_from_record({"id": "7", "properties": {"email": "not-an-email"}})
    assert contact is not None and contact.email is None
    assert problems == [
        Problem("contacts", "7", "email must contain exactly one @; contact kept without email")
    ]


def test_contact_without_email_is_kept_silently():
    contact, problems = contact_from_record({"id": "7", "properties": {"email": None}})
    assert contact is not None and contact.email is None and problems == []


def test_contact_with_huge_and_odd_property_values():
    contact, problems = contact_from_record(
        {
            "id": "8",
            "properties": {
                "notes": "あ" * (c.MAX_PROPERTY_CHARS + 10),
                "count": 5,
                "flag": True,
                "nul": "a\x00b",
                "lastmodifieddate": "not a date",
            },
        }
    )
    assert contact is not None
    assert len(contact.get("notes")) == c.MAX_PROPERTY_CHARS
    assert contact.get("count") == "5" and contact.get("flag") == "true"
    assert contact.get("nul") == "ab"
    assert contact.updated_at is None
    reasons = [p.reason for p in problems]
    assert any("cut to" in r for r in reasons)
    assert any("unreadable lastmodifieddate" in r for r in reasons)


@pytest.mark.parametrize("record", [None, "x", {"properties": {}}, {"id": "  "}])
def test_unusable_contact_records_are_problems(record):
    contact, problems = contact_from_record(record)
    assert contact is None and len(problems) == 1


def test_company_from_record():
    company, problems = company_from_record(
        {"id": "5", "properties": {"name": "株式会社テスト", "hs_lastmodifieddate": str(WHEN_MS)}}
    )
    assert problems == [] and company is not None
    assert company.get("name") == "株式会社テスト" and company.updated_at == WHEN


def test_primary_company_prefers_type_1_over_order():
    to = [
        {"toObjectId": 11, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 279}]},
        {
            "toObjectId": 12,
            "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": 279},
                {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"},
            ],
        },
    ]
    assert primary_company_id(to) == "12"
    assert primary_company_id(to[:1]) == "11"  # no primary: the first
    assert primary_company_id([]) is None
    assert primary_company_id("junk") is None
    user_typed_1 = [
        {"toObjectId": 13, "associationTypes": [{"category": "USER_DEFINED", "typeId": 1}]}
    ]
    assert primary_company_id([*to[:1], *user_typed_1]) == "11"


def test_primary_company_from_list_associations():
    record = {
        "id": "1",
        "associations": {
            "companies": {
                "results": [
                    {"id": "21", "type": "contact_to_company_unlabeled"},
                    {"id": "22", "type": "contact_to_company_unlabeled"},
                    {"id": "22", "type": "contact_to_company"},
                ]
            }
        },
    }
    assert primary_company_from_list(record) == "22"
    assert primary_company_from_list({"id": "1"}) is None


# --------------------------------------------------------------------------- email events


def _email_event(kind: str, **extra):
    return {
        "id": f"ev-{kind}",
        "created": WHEN_MS,
        "type": kind,
        "recipient": "Lead@Example.com",
        "emailCampaignId": 42,
        **extra,
    }


@pytest.mark.parametrize(
    ("event", "kind", "attributes"),
    [
        (_email_event("DELIVERED"), ActivityKind.EMAIL_DELIVERED, {}),
        (_email_event("OPEN"), ActivityKind.EMAIL_OPEN, {}),
        (
            _email_event("CLICK", url="https://example.com/pricing"),
            ActivityKind.EMAIL_CLICK,
            {"url": "https://example.com/pricing"},
        ),
        (
            _email_event("BOUNCE", category="UNKNOWN_USER"),
            ActivityKind.EMAIL_BOUNCE,
            {"bounce_type": "hard", "bounce_category": "UNKNOWN_USER"},
        ),
        (
            _email_event("BOUNCE", category="MAILBOX_FULL"),
            ActivityKind.EMAIL_BOUNCE,
            {"bounce_type": "soft", "bounce_category": "MAILBOX_FULL"},
        ),
        (_email_event("BOUNCE"), ActivityKind.EMAIL_BOUNCE, {"bounce_type": "soft"}),
        (
            _email_event("STATUSCHANGE", portalSubscriptionStatus="UNSUBSCRIBED"),
            ActivityKind.EMAIL_UNSUBSCRIBE,
            {},
        ),
        (
            _email_event(
                "STATUSCHANGE",
                portalSubscriptionStatus="SUBSCRIBED",
                subscriptions=[{"id": 1, "status": "UNSUBSCRIBED"}],
            ),
            ActivityKind.EMAIL_UNSUBSCRIBE,
            {},
        ),
        (
            _email_event(
                "STATUSCHANGE",
                portalSubscriptionStatus="SUBSCRIBED",
                subscriptions=[{"id": 1, "status": "SUBSCRIBED"}],
            ),
            ActivityKind.EMAIL_RESUBSCRIBE,
            {},
        ),
        (
            _email_event("STATUSCHANGE", subscriptions=[{"id": 1, "status": "SUBSCRIBED"}]),
            ActivityKind.EMAIL_RESUBSCRIBE,
            {},
        ),
    ],
)
def test_email_event_types(event, kind, attributes):
    activity = email_event_activity(event)
    assert isinstance(activity, Activity)
    assert activity.kind == kind
    assert activity.source_id == f"email:{event['id']}"
    assert activity.email == "lead@example.com"
    assert activity.occurred_at == WHEN
    assert dict(activity.attributes) == {"campaign_id": "42", **attributes}


@pytest.mark.parametrize("kind", ["SENT", "PROCESSED", "DEFERRED", "DROPPED", "SPAMREPORT", ""])
def test_unused_email_event_types_are_skipped(kind):
    assert isinstance(email_event_activity(_email_event(kind)), Skipped)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (_email_event("OPEN", created="garbage"), "unreadable created"),
        (_email_event("OPEN", created=None), "unreadable created"),
        (_email_event("OPEN", recipient="broken@"), "recipient"),
        (_email_event("OPEN", recipient=None), "recipient"),
        (_email_event("STATUSCHANGE"), "STATUSCHANGE without"),
        ({"type": "OPEN"}, "no id"),
        ("junk", "not an object"),
    ],
)
def test_bad_email_events_are_problems(event, reason):
    outcome = email_event_activity(event)
    assert isinstance(outcome, Problem)
    assert reason in outcome.reason


# --------------------------------------------------------------------------- forms


def _submission(**extra):
    return {
        "conversionId": "conv-1",
        "submittedAt": WHEN_MS,
        "values": [
            {"name": "firstname", "value": "Hanako"},
            {"name": "email", "value": "HANAKO@example.jp"},
        ],
        "pageUrl": "https://example.jp/whitepaper",
        **extra,
    }


def test_form_submission_activity():
    activity = submission_activity(
        _submission(), form_id="f-1", form_name="ホワイトペーパー", kind="whitepaper_download"
    )
    assert isinstance(activity, Activity)
    assert activity.source_id == "form:conv-1"
    assert activity.kind == "whitepaper_download"
    assert activity.email == "hanako@example.jp"
    assert dict(activity.attributes) == {
        "form_id": "f-1",
        "form_name": "ホワイトペーパー",
        "page_url": "https://example.jp/whitepaper",
    }


@pytest.mark.parametrize(
    "submission",
    [
        _submission(values=[]),
        _submission(values=[{"name": "email", "value": "nope"}]),
        _submission(submittedAt="soon"),
        _submission(conversionId=None),
        ["not", "a", "dict"],
    ],
)
def test_bad_form_submissions_are_problems(submission):
    outcome = submission_activity(submission, form_id="f", form_name="n", kind="contact_us")
    assert isinstance(outcome, Problem)


def test_form_rules_first_match_wins_and_match_id(tmp_path: Path):
    path = tmp_path / "forms.toml"
    path.write_text(
        """
[[form]]
match_id = "ABC-123"
kind = "consultation_request"

[[form]]
match_name = "(?i)white ?paper|ホワイトペーパー"
kind = "whitepaper_download"

[[form]]
match_name = "(?i)paper"
kind = "contact_us"
""",
        encoding="utf-8",
    )
    rules = FormRules.load(path)
    assert rules.kind_for("abc-123", "White paper") == "consultation_request"
    assert rules.kind_for("x", "2024 Whitepaper") == "whitepaper_download"
    assert rules.kind_for("x", "資料: ホワイトペーパー") == "whitepaper_download"
    assert rules.kind_for("x", "Paper airplanes") == "contact_us"
    assert rules.kind_for("x", "Newsletter") is None


def test_the_project_forms_mapping_loads():
    rules = FormRules.load(Path(__file__).parents[3] / "mappings" / "forms.toml")
    assert rules.kind_for("x", "ホワイトペーパー ダウンロード") == "whitepaper_download"
    assert rules.kind_for("x", "お問い合わせ") == "contact_us"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[form]]\nmatch_name = "(unclosed"\nkind = "contact_us"\n', "regular expression"),
        ('[[form]]\nkind = "contact_us"\n', "exactly one"),
        ('[[form]]\nmatch_id = "a"\nmatch_name = "b"\nkind = "contact_us"\n', "exactly one"),
        ('[[form]]\nmatch_id = "a"\nkind = "Contact Us"\n', "lower_snake_case"),
        ('[[form]]\nmatch_id = "a"\nkind = "x"\ncolour = "red"\n', "unknown key 'colour'"),
    ],
)
def test_bad_form_rules_raise_config_error_with_the_line(tmp_path: Path, body, message):
    path = tmp_path / "forms.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        FormRules.load(path)
    text = str(info.value)
    assert message in text
    assert f"{path}:" in text  # points at the file and line


# --------------------------------------------------------------------------- webinars


def _participation(state: str, **props):
    return {
        "id": "part-1",
        "createdAt": "2024-04-01T00:00:00Z",
        "properties": {"attendanceState": state, "occurredAt": WHEN_MS, **props},
        "associations": {
            "marketingEvent": {"marketingEventId": "900"},
            "contact": {"contactId": "101", "email": "A@Example.com"},
        },
    }


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        ("REGISTERED", ActivityKind.WEBINAR_REGISTERED),
        ("ATTENDED", ActivityKind.WEBINAR_ATTENDED),
        ("NO_SHOW", ActivityKind.WEBINAR_NO_SHOW),
        ("CANCELLED", ActivityKind.WEBINAR_CANCELLED),
    ],
)
def test_participation_states(state, kind):
    activity = participation_activity(
        _participation(state, attendancePercentage="87.5", attendanceDurationSeconds=2700),
        event_id="900",
    )
    assert isinstance(activity, Activity)
    assert activity.kind == kind
    assert activity.source_id == f"webinar:part-1:{state.lower()}"
    assert (activity.contact_id, activity.email) == ("101", "a@example.com")
    if state == "ATTENDED":
        assert activity.attributes["attendance_percentage"] == 87.5
        assert activity.attributes["duration_seconds"] == 2700
    else:
        assert "duration_seconds" not in activity.attributes


def test_participation_edge_cases():
    assert isinstance(participation_activity(_participation("EMPTY"), event_id="9"), Skipped)
    unknown = participation_activity(_participation("WAITLISTED"), event_id="9")
    assert isinstance(unknown, Problem) and "WAITLISTED" in unknown.reason
    no_contact = _participation("ATTENDED")
    no_contact["associations"]["contact"] = {"email": "bad"}
    assert isinstance(participation_activity(no_contact, event_id="9"), Problem)
    bad_time = _participation("ATTENDED", occurredAt="later")
    bad_time["createdAt"] = None
    assert isinstance(participation_activity(bad_time, event_id="9"), Problem)
    odd_numbers = participation_activity(
        _participation("ATTENDED", attendancePercentage="n/a", attendanceDurationSeconds=None),
        event_id="9",
    )
    assert isinstance(odd_numbers, Activity)
    assert "attendance_percentage" not in odd_numbers.attributes


# --------------------------------------------------------------------------- page views, meetings


def test_page_view_activity():
    activity = page_view_activity(
        {
            "id": "pv-1",
            "eventType": "e_visited_page",
            "objectType": "contact",
            "objectId": "101",
            "occurredAt": "2024-05-01T12:30:00.000Z",
            "properties": {"hs_url": "https://example.com/pricing", "hs_page_title": "料金"},
        }
    )
    assert isinstance(activity, Activity)
    assert activity.source_id == "pageview:pv-1" and activity.kind == ActivityKind.PAGE_VIEW
    assert activity.contact_id == "101" and activity.occurred_at == WHEN
    assert dict(activity.attributes) == {"url": "https://example.com/pricing", "page_title": "料金"}


@pytest.mark.parametrize(
    "event",
    [
        {"id": "pv", "occurredAt": "bad", "objectId": "1"},
        {"id": "pv", "occurredAt": "2024-05-01T12:30:00Z"},
        {"occurredAt": "2024-05-01T12:30:00Z", "objectId": "1"},
    ],
)
def test_bad_page_views_are_problems(event):
    assert isinstance(page_view_activity(event), Problem)


def test_meeting_activities_one_per_contact():
    meeting = {
        "id": "m1",
        "properties": {
            "hs_timestamp": "2024-05-01T12:30:00Z",
            "hs_activity_type": "Discovery call",
            "hs_meeting_outcome": "COMPLETED",
        },
    }
    activities, problems = meeting_activities(meeting, ["1", "2"])
    assert problems == []
    assert [a.source_id for a in activities] == ["meeting:m1:1", "meeting:m1:2"]
    assert activities[0].attributes["meeting_type"] == "Discovery call"
    assert activities[0].attributes["outcome"] == "COMPLETED"
    _, problems = meeting_activities({"id": "m2", "properties": {}}, ["1"])
    assert len(problems) == 1
