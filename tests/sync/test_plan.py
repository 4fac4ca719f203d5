from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.models import Company, Contact
from sync.fieldmap import FieldMap, load_field_map
from sync.plan import (
    LeadInput,
    SalesforceTarget,
    add_business_days,
    plan_writes,
    whole_points,
)
from tests.sync.fakes import FakeScore

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # a Friday


MQL = FakeScore(
    total=65,
    stage="mql",
    is_mql=True,
    mql_reason="score >= 50 AND webinar AND consultation",
    mql_since=NOW,
)


@pytest.fixture(scope="module")
def field_map() -> FieldMap:
    return load_field_map(ROOT / "mappings")


def lead(score: FakeScore, target: SalesforceTarget | None = None, written=None, episode=None):
    return LeadInput(
        lead_key="taro@example.co.jp",
        contact=Contact(
            "501",
            "taro@example.co.jp",
            {"firstname": "Taro", "lastname": "Yamada", "company": "Acme"},
        ),
        company=Company("9", {"name": "Acme KK"}),
        score=score,
        breakdown=lambda: "webinar_attended +20",
        target=target,
        written=written or {},
        new_mql_episode=episode,
    )


CONTACT = SalesforceTarget("Contact", "003000000000001AAA", "005000000000001AAA")


def test_given_matched_contact_first_run_writes_every_mapped_field(field_map) -> None:
    plan = plan_writes([lead(FakeScore(), CONTACT)], field_map, create_policy="mql", now=NOW)
    (write,) = plan.records
    assert write.record_id == CONTACT.record_id and write.sobject == "Contact"
    assert write.fields["Lead_Score__c"] == 12
    assert write.fields["Lead_Stage__c"] == "Interest"
    assert write.fields["MQL_Status__c"] == "Not MQL"
    assert plan.tasks == []


def test_given_nothing_changed_since_last_write_no_write_is_planned(field_map) -> None:
    first = plan_writes([lead(FakeScore(), CONTACT)], field_map, create_policy="mql", now=NOW)
    written = {f"Contact.{k}": v for k, v in first.records[0].fields.items()}
    again = plan_writes(
        [lead(FakeScore(), CONTACT, written)], field_map, create_policy="mql", now=NOW
    )
    assert again.records == [] and again.unchanged == 1


def test_given_one_value_changed_only_that_field_is_sent(field_map) -> None:
    first = plan_writes([lead(FakeScore(), CONTACT)], field_map, create_policy="mql", now=NOW)
    written = {f"Contact.{k}": v for k, v in first.records[0].fields.items()}
    changed = plan_writes(
        [lead(FakeScore(total=20), CONTACT, written)], field_map, create_policy="mql", now=NOW
    )
    assert changed.records[0].fields == {"Lead_Score__c": 20}


def test_given_cold_lead_without_record_no_lead_is_created_by_default(field_map) -> None:
    plan = plan_writes([lead(FakeScore())], field_map, create_policy="mql", now=NOW)
    assert plan.records == [] and len(plan.skipped) == 1


def test_given_policy_all_cold_lead_is_created(field_map) -> None:
    plan = plan_writes([lead(FakeScore())], field_map, create_policy="all", now=NOW)
    assert plan.records[0].is_create


def test_given_new_mql_without_record_lead_is_created_with_required_fields_and_task(
    field_map,
) -> None:
    plan = plan_writes([lead(MQL, episode=1)], field_map, create_policy="mql", now=NOW)
    (create,) = plan.records
    assert create.is_create and create.external_id == "501"
    assert create.fields["LastName"] == "Yamada" and create.fields["Company"] == "Acme"
    assert create.fields["MQL_Status__c"] == "MQL"
    assert create.fields["MQL_Date__c"] == "2026-11-20T09:00:00.000+0000"
    (task,) = plan.tasks
    assert task.connector_key == "mql:501:1" and task.who_id is None
    assert task.fields["Subject"] == "MQL: Taro Yamada (Acme) scored 65"
    assert "webinar_attended +20" in task.fields["Description"]
    assert task.fields["ActivityDate"] == "2026-11-24"  # two business days after a Friday


def test_given_task_already_done_it_is_not_planned_again(field_map) -> None:
    plan = plan_writes(
        [lead(MQL, CONTACT, episode=1)],
        field_map,
        create_policy="mql",
        now=NOW,
        tasks_done={"mql:501:1": "done"},
    )
    assert plan.tasks == []


def test_task_goes_to_the_record_owner(field_map) -> None:
    plan = plan_writes([lead(MQL, CONTACT, episode=2)], field_map, create_policy="mql", now=NOW)
    assert plan.tasks[0].fields["OwnerId"] == CONTACT.owner_id
    assert plan.tasks[0].who_id == CONTACT.record_id
    assert plan.tasks[0].connector_key == "mql:501:2"


def test_given_disqualified_lead_no_lead_is_created_even_with_policy_all(field_map) -> None:
    plan = plan_writes(
        [lead(FakeScore(disqualified_by=["competitor"]))], field_map, create_policy="all", now=NOW
    )
    assert plan.records == []


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (date(2026, 11, 20), 2, date(2026, 11, 24)),  # Fri + 2 -> Tue
        (date(2026, 11, 21), 0, date(2026, 11, 23)),  # Sat + 0 -> Mon
        (date(2026, 11, 16), 1, date(2026, 11, 17)),
    ],
)
def test_business_days_skip_weekends(start: date, days: int, due: date) -> None:
    assert add_business_days(start, days) == due


def test_given_bad_fields_file_every_problem_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "fields.toml").write_text(
        '[[field]]\nsource = "score"\ntarget = "Lead_Score__c"\n\n'
        '[[field]]\nsource = "scroe"\ntarget = "X__c"\n\n'
        '[[field]]\nsource = "fit"\ntarget = "Fit Score"\nrule = "sometimes"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_field_map(tmp_path)
    problems = caught.value.problems
    assert any(":6:" in p and "unknown source 'scroe'" in p for p in problems)
    assert any(":11:" in p and "not a Salesforce field API name" in p for p in problems)
    assert any(":12:" in p and "field[2].rule" in p for p in problems)


def test_given_a_field_mapped_twice_it_is_reported(tmp_path: Path) -> None:
    (tmp_path / "fields.toml").write_text(
        '[[field]]\nsource = "score"\ntarget = "A__c"\n[[field]]\nsource = "fit"\n'
        'target = "A__c"\nobjects = ["Lead"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="mapped twice"):
        load_field_map(tmp_path)


# ---------------------------------------------------------------------- field rules vs Salesforce

from dataclasses import replace  # noqa: E402

from sync.fieldmap import FieldMapping, TaskRoute  # noqa: E402
from sync.plan import (  # noqa: E402
    VALUE_INVALID,
    VALUE_TOO_LONG,
    HotState,
    advance_hot,
    same_value,
    task_keys,
    transform,
)


def rules(field_map: FieldMap, **by_target: str) -> FieldMap:
    """The shipped field map with some rules changed: target=rule."""
    changed = [
        m.model_copy(update={"rule": by_target[m.target]}) if m.target in by_target else m
        for m in field_map.field
    ]
    return field_map.model_copy(update={"field": changed})


def with_fields(field_map: FieldMap, *extra: dict) -> FieldMap:
    return field_map.model_copy(
        update={"field": [*field_map.field, *(FieldMapping(**e) for e in extra)]}
    )


def contact_with(current: dict, relinked: bool = False) -> SalesforceTarget:
    return SalesforceTarget(
        "Contact", CONTACT.record_id, CONTACT.owner_id, current=current, relinked=relinked
    )


def first_written(field_map: FieldMap) -> dict:
    first = plan_writes([lead(FakeScore(), CONTACT)], field_map, create_policy="mql", now=NOW)
    return {f"Contact.{k}": v for k, v in first.records[0].fields.items()}


def test_given_rep_changed_an_unless_changed_field_it_is_not_overwritten(field_map) -> None:
    fm = rules(field_map, Segment__c="unless_changed")
    written = first_written(fm)
    current = {"Segment__c": "key-account"}  # a rep re-segmented the lead
    plan = plan_writes(
        [lead(FakeScore(total=30, segment="it/smb"), contact_with(current), written)],
        fm,
        create_policy="mql",
        now=NOW,
    )
    assert plan.records[0].fields == {"Lead_Score__c": 30}


def test_given_unless_changed_field_still_holds_our_value_a_new_value_is_written(
    field_map,
) -> None:
    fm = rules(field_map, Segment__c="unless_changed")
    written = first_written(fm)
    current = {"Segment__c": written["Contact.Segment__c"]}
    plan = plan_writes(
        [lead(FakeScore(segment="it/smb"), contact_with(current), written)],
        fm,
        create_policy="mql",
        now=NOW,
    )
    assert plan.records[0].fields == {"Segment__c": "it/smb"}


@pytest.mark.parametrize(
    ("current", "sent"),
    [
        (None, False),  # unknown and never written: leave it alone
        ({"Lead_Grade__c": "A1"}, False),  # holds a value
        ({"Lead_Grade__c": None}, True),  # empty
        ({"Lead_Grade__c": "  "}, True),  # blank counts as empty
    ],
)
def test_if_blank_writes_only_into_an_empty_field(field_map, current, sent) -> None:
    fm = rules(field_map, Lead_Grade__c="if_blank")
    target = contact_with(current) if current is not None else CONTACT
    plan = plan_writes([lead(FakeScore(), target)], fm, create_policy="mql", now=NOW)
    assert ("Lead_Grade__c" in plan.records[0].fields) is sent


def test_given_if_blank_field_emptied_after_we_wrote_it_it_is_filled_again(field_map) -> None:
    fm = rules(field_map, Lead_Grade__c="if_blank")
    written = first_written(fm)
    plan = plan_writes(
        [lead(FakeScore(), contact_with({"Lead_Grade__c": None}), written)],
        fm,
        create_policy="mql",
        now=NOW,
    )
    assert plan.records[0].fields == {"Lead_Grade__c": "B4"}


def test_given_relinked_record_what_was_written_to_the_old_one_is_ignored(field_map) -> None:
    fm = rules(field_map, Segment__c="unless_changed")
    written = first_written(fm)
    target = contact_with({"Segment__c": "survivor's own"}, relinked=True)
    plan = plan_writes([lead(FakeScore(), target, written)], fm, create_policy="mql", now=NOW)
    sent = plan.records[0].fields
    assert sent["Segment__c"] == "manufacturing/enterprise" and sent["Lead_Score__c"] == 12


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (12, 12.0, True),
        ("", None, True),
        ("2026-11-20T09:00:00.000+0000", "2026-11-20T09:00:00Z", True),
        ("2026-11-20T09:00:00.000+0000", "2026-11-20T10:00:00.000+0100", True),
        ("2026-11-20T09:00:00.000+0000", "2026-11-20T09:00:01.000+0000", False),
        ("A1", "a1", False),
        (True, 1, False),
    ],
)
def test_same_value_compares_as_salesforce_stores(a, b, same) -> None:
    assert same_value(a, b) is same


# ---------------------------------------------------------------------- transforms


def m(**kw) -> FieldMapping:
    return FieldMapping(**({"source": "contact.x", "target": "X__c"} | kw))


@pytest.mark.parametrize(
    ("fmt", "raw", "out"),
    [
        ("date", "2026-11-20T23:30:00.000Z", "2026-11-20"),
        ("date", "2026-11-20T23:30:00+09:00", "2026-11-20"),  # 14:30 UTC
        ("date", "2026-11-21T01:00:00+09:00", "2026-11-20"),  # UTC date
        ("date", "1795132800000", "2026-11-20"),  # HubSpot epoch ms (a date property)
        ("date", "2026-11-20", "2026-11-20"),
        ("datetime", "2026-11-20T09:00:00Z", "2026-11-20T09:00:00.000+0000"),
        ("datetime", "2026-11-20T18:00:00.123+09:00", "2026-11-20T09:00:00.123+0000"),
        ("datetime", "2026-11-20", "2026-11-20T00:00:00.000+0000"),
        ("datetime", "1795132800000", "2026-11-20T00:00:00.000+0000"),
        ("datetime", "", None),
        ("number", "1200", 1200),
        ("number", "-3.0", -3),
        ("number", "12.5", 12.5),
        ("boolean", "true", True),
        ("boolean", "false", False),
    ],
)
def test_format_transforms(fmt, raw, out) -> None:
    assert transform(m(format=fmt), raw) == out


@pytest.mark.parametrize(("fmt", "raw"), [("date", "next week"), ("number", "1,200"),
                                          ("boolean", "maybe")])
def test_given_value_that_does_not_parse_the_lead_is_rejected_with_the_reason(
    field_map, fmt, raw
) -> None:
    fm = with_fields(field_map, {"source": "contact.custom", "target": "Custom__c",
                                 "format": fmt})
    bad = replace(
        lead(FakeScore(), CONTACT),
        contact=Contact("501", "taro@example.co.jp", {"custom": raw}),
    )
    plan = plan_writes([bad], fm, create_policy="mql", now=NOW)
    assert plan.records == []
    (rejected,) = plan.rejected
    assert rejected.code == VALUE_INVALID and rejected.field == "Custom__c"
    assert fmt in rejected.message and "contact.custom" in rejected.message


def test_mql_date_can_be_written_as_a_date(field_map) -> None:
    fm = field_map.model_copy(update={"field": [
        x.model_copy(update={"format": "date"}) if x.source == "mql_date" else x
        for x in field_map.field
    ]})
    plan = plan_writes([lead(MQL, CONTACT)], fm, create_policy="mql", now=NOW)
    assert plan.records[0].fields["MQL_Date__c"] == "2026-11-20"


def test_value_map_renames_before_length_is_checked() -> None:
    mapping = m(value_map={"hot": "Hot - call today"}, max_length=8)
    assert transform(mapping, "hot") == "Hot - ca"
    assert transform(m(value_map={"MQL": "Marketing Qualified"}), "MQL") == "Marketing Qualified"


def test_given_too_long_value_with_truncate_it_is_cut_to_max_length(field_map) -> None:
    long_reason = "x" * 300
    plan = plan_writes(
        [lead(FakeScore(total=70, is_mql=True, mql_reason=long_reason, mql_since=NOW), CONTACT)],
        field_map, create_policy="mql", now=NOW,
    )
    assert plan.records[0].fields["MQL_Reason__c"] == "x" * 255 and plan.rejected == []


def test_given_too_long_value_with_reject_the_record_write_fails_with_field_and_reason(
    field_map,
) -> None:
    fm = field_map.model_copy(update={"field": [
        x.model_copy(update={"on_too_long": "reject"}) if x.source == "mql_reason" else x
        for x in field_map.field
    ]})
    long_mql = FakeScore(total=70, stage="mql", is_mql=True, mql_reason="y" * 300,
                         mql_since=NOW)
    plan = plan_writes([lead(long_mql, CONTACT, episode=1)], fm, create_policy="mql", now=NOW)
    assert plan.records == []
    (rejected,) = plan.rejected
    assert (rejected.lead_key, rejected.sobject, rejected.field, rejected.code) == (
        "taro@example.co.jp", "Contact", "MQL_Reason__c", VALUE_TOO_LONG
    )
    assert "300 characters" in rejected.message and "255" in rejected.message
    result = rejected.as_write_result()
    assert not result.success and result.errors[0].fields == ("MQL_Reason__c",)
    assert [t.connector_key for t in plan.tasks] == ["mql:501:1"]  # the Task still goes out


def test_given_rejected_value_on_a_new_lead_no_lead_is_created_and_the_task_waits(
    field_map,
) -> None:
    fm = field_map.model_copy(update={"field": [
        x.model_copy(update={"on_too_long": "reject", "max_length": 10})
        if x.source == "mql_reason" else x
        for x in field_map.field
    ]})
    plan = plan_writes([lead(MQL, episode=1)], fm, create_policy="mql", now=NOW)
    assert plan.records == [] and plan.rejected[0].sobject == "Lead"
    assert plan.tasks[0].who_id is None


# ---------------------------------------------------------------------- Tasks


def task_settings(field_map: FieldMap, **update) -> FieldMap:
    return field_map.model_copy(update={"task": field_map.task.model_copy(update=update)})


def test_shipped_templates_use_double_braces_and_render_every_placeholder(field_map) -> None:
    assert "{{first_name}}" in field_map.task.subject
    plan = plan_writes([lead(MQL, CONTACT, episode=1)], field_map, create_policy="mql", now=NOW)
    description = plan.tasks[0].fields["Description"]
    assert "{" not in description
    assert "Reason: score >= 50 AND webinar AND consultation" in description
    assert "webinar_attended +20" in description


def test_single_brace_templates_still_render(field_map) -> None:
    fm = task_settings(field_map, subject="Call {first_name} ({score}) {literal}",
                       description="{breakdown}")
    plan = plan_writes([lead(MQL, CONTACT, episode=1)], fm, create_policy="mql", now=NOW)
    assert plan.tasks[0].fields["Subject"] == "Call Taro (65) {literal}"


def test_double_brace_templates_leave_single_braces_alone(field_map) -> None:
    fm = task_settings(field_map, subject="{{ first_name }} {json} due {{due_date}}")
    plan = plan_writes([lead(MQL, CONTACT, episode=1)], fm, create_policy="mql", now=NOW)
    assert plan.tasks[0].fields["Subject"] == "Taro {json} due 2026-11-24"


ROUTES = [
    {"segment": "manufacturing/enterprise*", "stage": "mql", "owner_id": "005000000000002AAA"},
    {"segment": "manufacturing/*", "owner_id": "005000000000003AAA"},
    {"trigger": "hot", "owner_id": "00G000000000004AAA"},
]


@pytest.mark.parametrize(
    ("segment", "stage", "owner"),
    [
        ("manufacturing/enterprise/executive", "mql", "005000000000002AAA"),  # first rule
        ("Manufacturing/Enterprise/executive", "mql", "005000000000002AAA"),  # any case
        ("manufacturing/enterprise/executive", "hot", "005000000000003AAA"),  # stage differs
        ("manufacturing/smb", "mql", "005000000000003AAA"),
        ("retail/smb", "mql", CONTACT.owner_id),  # no rule: the record owner
    ],
)
def test_task_owner_is_the_first_matching_route_else_the_record_owner(
    field_map, segment, stage, owner
) -> None:
    fm = task_settings(field_map, route=[TaskRoute(**r) for r in ROUTES])
    score = FakeScore(total=65, stage=stage, is_mql=True, segment=segment, mql_since=NOW,
                      mql_reason="r")
    plan = plan_writes([lead(score, CONTACT, episode=1)], fm, create_policy="mql", now=NOW)
    assert plan.tasks[0].fields["OwnerId"] == owner


def hot_lead(target=CONTACT, episode=None, hot=None, score=None):
    base = lead(score or FakeScore(total=55, stage="hot"), target, episode=episode)
    return replace(base, hot_episode=hot)


def test_hot_trigger_creates_its_own_task_with_its_own_key_and_subject(field_map) -> None:
    fm = task_settings(field_map, triggers=["mql", "hot"])
    plan = plan_writes([hot_lead(hot=3)], fm, create_policy="mql", now=NOW)
    (task,) = plan.tasks
    assert task.connector_key == "hot:501:3"
    assert task.fields["Subject"] == "Hot lead: Taro Yamada (Acme) scored 55"
    assert task.fields["OwnerId"] == CONTACT.owner_id


def test_hot_trigger_is_off_by_default(field_map) -> None:
    assert field_map.task.triggers == ["mql"]
    assert plan_writes([hot_lead(hot=1)], field_map, create_policy="mql", now=NOW).tasks == []


def test_given_lead_becomes_mql_and_hot_in_one_run_only_the_mql_task_is_made(field_map) -> None:
    fm = task_settings(field_map, triggers=["mql", "hot"])
    both = hot_lead(episode=1, hot=1, score=MQL)
    assert task_keys([both], fm) == ["mql:501:1", "hot:501:1"]
    plan = plan_writes([both], fm, create_policy="mql", now=NOW)
    assert [t.connector_key for t in plan.tasks] == ["mql:501:1"]
    only_hot = task_settings(field_map, triggers=["hot"])
    plan = plan_writes([both], only_hot, create_policy="mql", now=NOW)
    assert [t.connector_key for t in plan.tasks] == ["hot:501:1"]


def test_given_hot_task_already_done_it_is_not_planned_again(field_map) -> None:
    fm = task_settings(field_map, triggers=["mql", "hot"])
    plan = plan_writes([hot_lead(hot=2)], fm, create_policy="mql", now=NOW,
                       tasks_done={"hot:501:2": "done", "mql:501:2": "pending"})
    assert plan.tasks == []


def test_hot_episodes_start_on_entering_hot_and_survive_a_short_cool_down(field_map) -> None:
    template = field_map.task  # hot_stages hot, mql; rearm 14 days
    cold, hot, mql = FakeScore(stage="interest"), FakeScore(stage="hot"), MQL
    day = timedelta(days=1)
    state, episode = advance_hot(None, cold, NOW, template)
    assert (state, episode) == (HotState(), None)
    state, episode = advance_hot(state, hot, NOW, template)
    assert episode == 1 and state == HotState(1, True, NOW)
    state, episode = advance_hot(state, mql, NOW + day, template)  # MQL is still hot
    assert episode is None and state.hot
    state, episode = advance_hot(state, cold, NOW + 2 * day, template)
    assert episode is None and state == HotState(1, False, NOW + 2 * day)
    state, episode = advance_hot(state, hot, NOW + 5 * day, template)  # a wobble
    assert episode is None and state.episode == 1 and state.hot
    state, _ = advance_hot(state, cold, NOW + 6 * day, template)
    state, episode = advance_hot(state, hot, NOW + 30 * day, template)
    assert episode == 2 and state == HotState(2, True, NOW + 30 * day)


def test_a_disqualified_lead_is_never_hot(field_map) -> None:
    score = FakeScore(stage="hot", disqualified_by=["unsubscribed"])
    assert advance_hot(None, score, NOW, field_map.task) == (HotState(), None)


@pytest.mark.parametrize(
    ("score", "written"),
    [("27.50", 28), ("42.50", 43), ("42.49", 42), ("0.50", 1), ("-7.50", -8), ("-7.49", -7)],
)
def test_given_a_score_ending_in_a_half_it_is_written_rounded_away_from_zero(
    score: str, written: int
) -> None:
    # round() on a Decimal rounds halves to even: 42.50 would be written as 42, so a +15 rule
    # would show as +14 on Salesforce.
    assert whole_points(Decimal(score)) == written
