from dataclasses import dataclass, field
from datetime import UTC, date, datetime
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
)

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # a Friday


@dataclass
class FakeScore:
    total: float = 12.4
    fit: float = 10.0
    engagement: float = 2.4
    grade: str = "B4"
    segment: str = "manufacturing/enterprise"
    stage: str = "interest"
    is_mql: bool = False
    mql_reason: str | None = None
    mql_since: datetime | None = None
    disqualified_by: list[str] = field(default_factory=list)


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
        breakdown="webinar_attended +20",
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
