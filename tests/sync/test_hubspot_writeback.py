"""The HubSpot write-back without a server: value formatting, the pure planner, the mapping
file's validation, the setup comparison and the writer's batching and bisection."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.mapping_checks import check_writeback
from app.setup_hubspot import check_property
from connectors.hubspot.paths import HubSpotPaths
from connectors.hubspot.writeback import HubSpotContactWriter
from core.errors import RecordError, RetriableAPIError
from core.models import Contact
from core.writeback import ContactUpdate
from scoring import load_rules
from sync.hubspot_fields import (
    HubSpotMapping,
    allowed_values,
    hubspot_values,
    load_hubspot_mapping,
    midnight_ms,
    property_specs,
    validate_hubspot_mapping,
)
from sync.hubspot_writeback import HubSpotWriteBack, plan_hubspot_writes, written_key
from sync.plan import LeadInput, computed_values
from tests.sync.fakes import FakeScore

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


MQL = FakeScore(total=65.4, stage="mql", is_mql=True, mql_reason="webinar", mql_since=NOW)


def lead(score: FakeScore | None = None, written: dict[str, Any] | None = None) -> LeadInput:
    return LeadInput(
        lead_key="taro@example.co.jp",
        contact=Contact("501", "taro@example.co.jp", {}),
        company=None,
        score=score or FakeScore(),
        breakdown=lambda: "",
        target=None,
        written=written or {},
    )


@pytest.fixture(scope="module")
def mapping() -> HubSpotMapping:
    return load_hubspot_mapping(ROOT / "mappings")


@pytest.fixture(scope="module")
def allowed(mapping: HubSpotMapping) -> dict[str, frozenset[str]]:
    return dict(allowed_values(property_specs(mapping, load_rules(ROOT / "mappings"))))


# ---------------------------------------------------------------------- values


def test_values_are_hubspot_text_and_the_same_as_salesforce_gets(mapping: HubSpotMapping) -> None:
    values = hubspot_values(lead(MQL), mapping)
    computed = computed_values(lead(MQL))
    assert values["connector_lead_score"] == str(computed["score"]) == "65"
    assert values["connector_lead_stage"] == computed["stage"] == "MQL"
    assert values["connector_mql_status"] == "MQL"
    assert values["connector_lead_grade"] == "B4"
    assert all(isinstance(v, str) for v in values.values())


def test_mql_date_is_epoch_ms_of_midnight_utc_and_empty_for_a_non_mql(
    mapping: HubSpotMapping,
) -> None:
    late_evening_utc = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    values = hubspot_values(lead(FakeScore(is_mql=True, mql_since=late_evening_utc)), mapping)
    assert values["connector_mql_date"] == "1795132800000"  # 2026-11-20T00:00:00Z
    assert int(values["connector_mql_date"]) % 86_400_000 == 0
    assert midnight_ms(late_evening_utc) == 1795132800000
    assert hubspot_values(lead(), mapping)["connector_mql_date"] == ""


def test_value_map_renames_stage_options(tmp_path: Path) -> None:
    (tmp_path / "hubspot.toml").write_text(
        '[[property]]\nsource = "stage"\nname = "x_stage"\nvalue_map = { MQL = "mql" }\n',
        encoding="utf-8",
    )
    mapping = load_hubspot_mapping(tmp_path)
    assert hubspot_values(lead(MQL), mapping) == {"x_stage": "mql"}
    options = property_specs(mapping)[0].options
    assert ("mql", "MQL") in options and ("Cold", "Cold") in options


# ---------------------------------------------------------------------- planner


def test_given_nothing_written_every_value_is_planned_but_empty_ones(
    mapping: HubSpotMapping, allowed: dict[str, frozenset[str]]
) -> None:
    plan = plan_hubspot_writes([(lead(), ["501"])], mapping, allowed)
    assert len(plan.updates) == 1
    sent = plan.updates[0].properties
    assert "connector_mql_date" not in sent  # nothing to clear
    assert sent["connector_lead_stage"] == "Interest"


def test_given_values_as_last_written_nothing_is_planned(
    mapping: HubSpotMapping, allowed: dict[str, frozenset[str]]
) -> None:
    values = hubspot_values(lead(), mapping)
    written = {written_key("501", k): v for k, v in values.items() if v}
    plan = plan_hubspot_writes([(lead(written=written), ["501"])], mapping, allowed)
    assert plan.updates == [] and plan.unchanged == 1


def test_given_a_changed_score_only_that_property_is_sent(
    mapping: HubSpotMapping, allowed: dict[str, frozenset[str]]
) -> None:
    values = hubspot_values(lead(), mapping)
    written = {written_key("501", k): v for k, v in values.items() if v}
    plan = plan_hubspot_writes(
        [(lead(FakeScore(total=30.2), written), ["501"])], mapping, allowed
    )
    assert [dict(u.properties) for u in plan.updates] == [{"connector_lead_score": "30"}]


def test_given_a_lead_that_stopped_being_mql_its_mql_date_is_cleared(
    mapping: HubSpotMapping, allowed: dict[str, frozenset[str]]
) -> None:
    written = {written_key("501", k): v for k, v in hubspot_values(lead(MQL), mapping).items()}
    plan = plan_hubspot_writes([(lead(FakeScore(), written), ["501"])], mapping, allowed)
    assert plan.updates[0].properties["connector_mql_date"] == ""


def test_every_contact_of_a_lead_gets_the_values_and_is_compared_on_its_own(
    mapping: HubSpotMapping, allowed: dict[str, frozenset[str]]
) -> None:
    values = hubspot_values(lead(), mapping)
    written = {written_key("501", k): v for k, v in values.items() if v}  # 777 never written
    plan = plan_hubspot_writes([(lead(written=written), ["501", "777"])], mapping, allowed)
    assert [u.contact_id for u in plan.updates] == ["777"] and plan.unchanged == 1


def test_given_a_value_outside_the_enumeration_the_lead_is_rejected_not_sent(
    mapping: HubSpotMapping,
) -> None:
    allowed = {"connector_lead_stage": frozenset({"Cold"})}
    plan = plan_hubspot_writes([(lead(), ["501"])], mapping, allowed)
    assert plan.updates == []
    assert plan.rejected[0].property == "connector_lead_stage"
    assert "'Interest' is not an option" in plan.rejected[0].message


# ---------------------------------------------------------------------- mapping file


def test_given_no_hubspot_toml_the_defaults_apply(tmp_path: Path) -> None:
    mapping = load_hubspot_mapping(tmp_path)
    assert mapping.group.name == "connector_scoring"
    assert "connector_lead_score" in mapping.by_name()


def test_mapping_mistakes_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "hubspot.toml").write_text(
        '[group]\nname = "g"\n\n[[property]]\nsource = "score"\nname = "Bad-Name"\n\n'
        '[[property]]\nsource = "nope"\nname = "ok_name"\n\n'
        '[[property]]\nsource = "fit"\nname = "fit"\nvalue_map = { a = "b" }\n',
        encoding="utf-8",
    )
    problems = validate_hubspot_mapping(tmp_path)
    text = "\n".join(problems)
    assert f"{tmp_path / 'hubspot.toml'}:6: property[0].name" in text
    assert ":9: property[1].source" in text
    assert "value_map only applies to stage and mql_status" in text
    assert len(problems) == 3


def test_a_property_mapped_twice_is_reported_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "hubspot.toml").write_text(
        '[[property]]\nsource = "score"\nname = "a_score"\n\n'
        '[[property]]\nsource = "fit"\nname = "a_score"\n',
        encoding="utf-8",
    )
    assert validate_hubspot_mapping(tmp_path) == [
        f"{tmp_path / 'hubspot.toml'}:7: property[1].name: 'a_score' is mapped twice"
    ]


# ---------------------------------------------------------------------- setup comparison


def test_check_property_reports_type_and_missing_options(mapping: HubSpotMapping) -> None:
    specs = {s.name: s for s in property_specs(mapping)}
    wrong_type = check_property(specs["connector_lead_score"], {"type": "string", "options": []})
    assert wrong_type.status == "wrong" and "string" in wrong_type.problems[0]
    stage = specs["connector_lead_stage"]
    partial = {"type": "enumeration", "options": [{"value": "Cold"}, {"value": "MQL"}]}
    lacking = check_property(stage, partial)
    assert lacking.status == "wrong" and "Interest" in lacking.problems[0]
    complete = {"type": "enumeration", "options": [{"value": v} for v, _ in stage.options]}
    assert check_property(stage, complete).status == "ok"
    assert check_property(stage, None).status == "missing"
    assert [p.severity for p in check_writeback([lacking], "hubspot.toml", enabled=False)] == [
        "warning"
    ]
    assert [p.severity for p in check_writeback([lacking], "hubspot.toml", enabled=True)] == [
        "error"
    ]


# ---------------------------------------------------------------------- writer


class FakeClient:
    """Answers batch updates like HubSpot: 400 for the whole batch when one input holds a
    refused value, 207 for unknown ids, else 200."""

    def __init__(self, bad_ids: set[str] = frozenset(), unknown: set[str] = frozenset(),
                 transient: bool = False) -> None:
        self.bad_ids, self.unknown, self.transient = bad_ids, unknown, transient
        self.sizes: list[int] = []
        self.paths = HubSpotPaths("2026-09")

    def request(self, endpoint: Any, method: str, path: str, *, body: Any = None,
                qs: Any = None) -> dict[str, Any]:
        ids = [i["id"] for i in body["inputs"]]
        self.sizes.append(len(ids))
        if self.transient:
            raise RetriableAPIError("HubSpot answered 503", status=503)
        if self.bad_ids & set(ids):
            raise RecordError("HubSpot answered 400: Property values were not valid",
                              status=400, error_code="VALIDATION_ERROR")
        found = [i for i in ids if i not in self.unknown]
        answer: dict[str, Any] = {"status": "COMPLETE", "results": [{"id": i} for i in found]}
        missing = [i for i in ids if i in self.unknown]
        if missing:
            answer["errors"] = [{"category": "OBJECT_NOT_FOUND", "message": "gone",
                                 "context": {"ids": missing}}]
        return answer


def updates(n: int) -> list[ContactUpdate]:
    return [ContactUpdate(f"l{i}@x.jp", str(1000 + i), {"connector_lead_score": "1"})
            for i in range(n)]


def test_writer_sends_at_most_100_contacts_a_call() -> None:
    client = FakeClient()
    writer = HubSpotContactWriter(client)  # type: ignore[arg-type]
    results = writer.update(updates(250))
    assert client.sizes == [100, 100, 50] and writer.calls == 3
    assert all(r.success for r in results)


def test_writer_isolates_a_refused_contact_and_writes_its_batch_mates() -> None:
    client = FakeClient(bad_ids={"1037"})
    results = HubSpotContactWriter(client).update(updates(100))  # type: ignore[arg-type]
    failed = [r for r in results if not r.success]
    assert [r.contact_id for r in failed] == ["1037"]
    assert failed[0].error is not None and failed[0].error.code == "VALIDATION_ERROR"
    assert not failed[0].retriable
    assert sum(r.success for r in results) == 99
    assert len(client.sizes) <= 1 + 2 * 7  # bisection: about 2 log2(100) extra calls


def test_writer_reports_unknown_ids_from_a_207_and_transient_failures_as_retriable() -> None:
    results = HubSpotContactWriter(FakeClient(unknown={"1001"})).update(updates(3))  # type: ignore[arg-type]
    assert [r.success for r in results] == [True, False, True]
    assert results[1].error is not None and results[1].error.code == "OBJECT_NOT_FOUND"
    transient = HubSpotContactWriter(FakeClient(transient=True)).update(updates(2))  # type: ignore[arg-type]
    assert all(r.retriable and not r.success for r in transient)


# ---------------------------------------------------------------------- the step


class FakeStore:
    def __init__(self) -> None:
        self.written: dict[str, dict[str, Any]] = {}
        self.letters: list[dict[str, Any]] = []

    def record_written(self, lead_key: str, sobject: str, values: Any) -> None:
        self.written.setdefault(f"{lead_key}|{sobject}", {}).update(values)

    def add_dead_letter(self, **kw: Any) -> None:
        self.letters.append(kw)


@dataclass
class Summary:
    hubspot_unchanged: int = 0
    hubspot_written: int = 0
    hubspot_write_calls: int = 0
    write_failures: int = 0
    planned_hubspot: dict[str, Any] = field(default_factory=dict)


def test_step_records_confirmed_values_and_dead_letters_refusals(
    mapping: HubSpotMapping, allowed: dict[str, frozenset[str]]
) -> None:
    store = FakeStore()
    client = FakeClient(bad_ids={"502"})
    step = HubSpotWriteBack(store, HubSpotContactWriter(client), mapping, allowed)  # type: ignore[arg-type]
    contacts = [Contact("501", "taro@example.co.jp"), Contact("502", "taro@example.co.jp")]
    summary = Summary()
    retry = step.run([lead()], [("taro@example.co.jp", contacts)], summary, dry_run=False)
    assert retry == set()
    assert summary.hubspot_written == 1 and summary.write_failures == 1
    written = store.written["taro@example.co.jp|HubSpot.contact"]
    assert written["501.connector_lead_stage"] == "Interest"
    assert not any(k.startswith("502.") for k in written)
    assert store.letters[0]["stage"] == "hubspot_writeback"
    assert "HubSpot contact 502" in store.letters[0]["message"]


def test_step_in_a_dry_run_plans_and_sends_nothing(
    mapping: HubSpotMapping, allowed: dict[str, frozenset[str]]
) -> None:
    client = FakeClient()
    step = HubSpotWriteBack(FakeStore(), HubSpotContactWriter(client), mapping, allowed)  # type: ignore[arg-type]
    summary = Summary()
    step.run([lead()], [], summary, dry_run=True)
    assert client.sizes == []
    assert summary.planned_hubspot["contacts"] == 1 and summary.planned_hubspot["calls"] == 1


def test_a_contact_whose_only_change_is_its_modified_time_is_not_marked_again() -> None:
    from sync.extraction import _changed

    before = Contact("501", "taro@example.co.jp",
                     {"jobtitle": "部長", "lastmodifieddate": "2026-11-20T09:00:00.000Z"}, "9")
    touched = Contact("501", "taro@example.co.jp",
                      {"jobtitle": "部長", "lastmodifieddate": "2026-11-22T01:00:00.000Z"}, "9")
    assert not _changed(before, touched)
    assert _changed(before, Contact("501", "taro@example.co.jp", {"jobtitle": "課長"}, "9"))
    assert _changed(before, Contact("501", "taro@example.co.jp", dict(before.properties), "10"))
    assert _changed(None, touched)
