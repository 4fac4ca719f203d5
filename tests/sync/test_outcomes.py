"""Sales outcomes: the funnel rules (pure), the outcome store (SQLite and PostgreSQL), the
pull step with a scripted reader, and the Salesforce row parsing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from app.mapping_checks import validate_mappings
from connectors.salesforce.outcomes import (
    OutcomeFields,
    OutcomeReader,
    parse_lead,
    parse_opportunity,
    soql_datetime,
)
from core.errors import BudgetExhaustedError, ConfigError, FatalAPIError
from core.models import Contact
from core.outcomes import ContactRole, LeadOutcome, OpportunityRecord, SalesforceRecord
from sync.db import PostgresTarget, SqliteTarget
from sync.outcomes import (
    Funnel,
    OutcomeSync,
    load_funnel,
    outcome_label,
    outcome_labels,
    outcome_stage,
    stage_after_mql,
)
from sync.state import Link, StateStore
from tests.sync.test_state_postgres import pg_server, pg_url  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
FUNNEL = Funnel()


def outcome(**kw: Any) -> LeadOutcome:
    base: dict[str, Any] = {
        "lead_key": "a@x.jp",
        "sobject": "Lead",
        "record_id": "00Q000000000001AAA",
        "email": "a@x.jp",
        "status": "Open - Not Contacted",
        "is_converted": False,
        "converted_at": None,
        "converted_contact_id": None,
    }
    return LeadOutcome(**(base | kw))


OPEN_OPP = {"opportunity_id": "006A", "opportunity_stage": "Prospecting"}
WON_OPP = OPEN_OPP | {
    "opportunity_stage": "Closed Won",
    "opportunity_is_closed": True,
    "opportunity_is_won": True,
}
LOST_OPP = OPEN_OPP | {"opportunity_stage": "Closed Lost", "opportunity_is_closed": True}


# ------------------------------------------------------------------------------ funnel rules
@pytest.mark.parametrize(
    ("case", "fields", "stage"),
    [
        ("untouched open Lead", {}, None),
        ("status meaning accepted", {"status": "Working - Contacted"}, "sql"),
        ("converted without opportunity", {"is_converted": True}, "sql"),
        ("open opportunity", {"is_converted": True, **OPEN_OPP}, "opportunity"),
        ("won opportunity", {"is_converted": True, **WON_OPP}, "won"),
        ("lost opportunity", {"is_converted": True, **LOST_OPP}, "lost"),
        ("disqualified by sales", {"status": "Closed - Not Converted"}, "lost"),
        (
            "old disqualified duplicate beside a live Lead",
            {"lead_statuses": ("Closed - Not Converted", "Open - Not Contacted")},
            None,
        ),
        (
            "a duplicate Lead accepted by sales",
            {"lead_statuses": ("Closed - Not Converted", "Working - Contacted")},
            "sql",
        ),
    ],
)
def test_outcome_stage_follows_the_funnel(case: str, fields: dict[str, Any], stage: str) -> None:
    assert outcome_stage(outcome(**fields), FUNNEL) == stage, case


def test_given_no_outcome_the_scored_stage_stays_and_an_outcome_overrides_it() -> None:
    assert stage_after_mql("hot", None, FUNNEL) == "hot"
    assert stage_after_mql("mql", outcome(), FUNNEL) == "mql"
    assert stage_after_mql("mql", outcome(is_converted=True, **WON_OPP), FUNNEL) == "won"
    # even a lead the connector never found MQL: sales' verdict is what the funnel reports
    assert stage_after_mql("cold", outcome(status="Working - Contacted"), FUNNEL) == "sql"


def test_given_an_ignored_opportunity_stage_the_conversion_alone_counts() -> None:
    funnel = Funnel.model_validate({"opportunity": {"ignore_stages": ["Prospecting"]}})
    assert outcome_stage(outcome(is_converted=True, **OPEN_OPP), funnel) == "sql"


def test_backtest_labels_positive_negative_and_unknown() -> None:
    outcomes = {
        "won@x.jp": outcome(is_converted=True, **WON_OPP),
        "open@x.jp": outcome(is_converted=True, **OPEN_OPP),
        "lost@x.jp": outcome(is_converted=True, **LOST_OPP),
        "dq@x.jp": outcome(status="Closed - Not Converted"),
        "sql@x.jp": outcome(status="Working - Contacted"),
        "new@x.jp": outcome(),
    }
    assert outcome_labels(outcomes, FUNNEL) == {
        "won@x.jp": True,
        "open@x.jp": True,
        "lost@x.jp": False,
        "dq@x.jp": False,
    }
    only_won = Funnel.model_validate({"backtest": {"positive": ["won"], "negative": ["lost"]}})
    assert outcome_label(outcomes["open@x.jp"], only_won) is None


def test_shipped_funnel_file_is_valid_and_matches_the_defaults() -> None:
    shipped = load_funnel(ROOT / "mappings")
    # the one difference: the shipped file reads the rejection reason; without a file, none
    assert shipped.rejection.reason_field == "Rejection_Reason__c"
    assert Funnel().rejection.reason_field is None
    shipped.rejection.reason_field = None
    assert shipped == Funnel()


def test_given_no_funnel_file_the_defaults_apply(tmp_path: Path) -> None:
    assert load_funnel(tmp_path) == Funnel()


def test_given_a_broken_funnel_file_every_problem_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "funnel.toml"
    path.write_text(
        "[sql]\n"
        'lead_statuses = ["Working - Contacted", "Closed - Not Converted"]\n'
        "\n"
        "[backtest]\n"
        'positive = ["won", "maybe"]\n'
        "\n"
        "[salesforce]\n"
        'mql_status_field = "MQL Status"\n'
        "colour = 3\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_funnel(tmp_path)
    problems = caught.value.problems
    assert f"{path}:5: backtest.positive[1]:" in problems[0]
    assert any(p.startswith(f"{path}:8: salesforce.mql_status_field:") for p in problems)
    assert any(p.startswith(f"{path}:9: salesforce.colour:") for p in problems)


def test_given_a_status_both_sql_and_lost_the_message_names_it(tmp_path: Path) -> None:
    (tmp_path / "funnel.toml").write_text(
        '[sql]\nlead_statuses = ["Closed - Not Converted"]\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        load_funnel(tmp_path)
    assert "'Closed - Not Converted' is in both" in caught.value.problems[0]


def test_mappings_validate_reports_funnel_problems_with_the_others(tmp_path: Path) -> None:
    for name in ("scoring.toml", "segments.toml", "fields.toml", "forms.toml"):
        (tmp_path / name).write_text(
            (ROOT / "mappings" / name).read_text(encoding="utf-8"), encoding="utf-8"
        )
    (tmp_path / "funnel.toml").write_text("[lost]\nlead_statuses = [3]\n", encoding="utf-8")
    problems = validate_mappings(tmp_path)
    assert problems and all("funnel.toml:2: lost.lead_statuses[0]" in p for p in problems)


# ------------------------------------------------------------------------------ parsing
def test_a_lead_row_becomes_a_record_with_normalised_email_and_aware_times() -> None:
    row = {
        "Id": "00Q5g00007001mPEAQ",
        "Email": " Abe-Y@Example.JP ",
        "Status": "Closed - Converted",
        "IsConverted": True,
        "ConvertedDate": "2026-11-20",
        "ConvertedContactId": "0035g00000000AAAAA",
        "ConvertedOpportunityId": "0065g00000000AAAAA",
        "MQL_Status__c": "MQL",
        "MQL_Date__c": "2026-11-19T10:00:00.000+0000",
        "Lead_Stage__c": "MQL",
        "HubSpot_Contact_Id__c": None,
        "CreatedDate": "2026-01-01T00:00:00.000+0000",
        "SystemModstamp": "2026-11-20T10:00:00.000+0000",
    }
    lead = parse_lead(row, OutcomeFields())
    assert lead.email == "abe-y@example.jp"
    assert lead.is_converted and lead.converted_at == date(2026, 11, 20)
    assert lead.converted_opportunity_id == "0065g00000000AAAAA"
    assert lead.mql_date == datetime(2026, 11, 19, 10, tzinfo=UTC)
    assert lead.modstamp == datetime(2026, 11, 20, 10, tzinfo=UTC)


def test_an_amount_stays_exact() -> None:
    row = {"Id": "006X", "StageName": "Closed Won", "IsClosed": True, "IsWon": True,
           "Amount": 1234567.89, "CloseDate": "2026-12-01"}  # fmt: skip
    assert parse_opportunity(row, OutcomeFields()).amount == Decimal("1234567.89")


class FakeQueries:
    """Answers each object's query with scripted rows; records every SOQL."""

    def __init__(
        self,
        rows: dict[str, list[dict[str, Any]]],
        fail: str | None = None,
        budget_spent: str | None = None,
    ) -> None:
        self.rows = rows
        self.fail = fail
        self.budget_spent = budget_spent
        self.soql: list[str] = []

    def query(self, soql: str) -> Iterator[dict[str, Any]]:
        self.soql.append(soql)
        sobject = soql.split(" FROM ", 1)[1].split()[0]
        if sobject == self.fail:
            raise FatalAPIError(  # as connectors.salesforce.errors maps it
                "Salesforce 400 INVALID_FIELD: No such column 'MQL_Status__c'",
                status=400,
                error_code="INVALID_FIELD",
            )
        if sobject == self.budget_spent:
            raise BudgetExhaustedError("Salesforce API budget reached")
        yield from self.rows.get(sobject, [])

    def query_url_length(self, soql: str) -> int:
        return len(soql)


def test_a_row_without_id_is_skipped_and_reported_the_rest_is_read() -> None:
    client = FakeQueries({"Opportunity": [{"StageName": "x"}, {"Id": "006B", "IsWon": False}]})
    reader = OutcomeReader(client)
    pages = list(reader.changed("Opportunity", None))
    assert [o.opportunity_id for page in pages for o in page] == ["006B"]
    assert [(p.source, p.reason) for p in reader.problems] == [
        ("salesforce Opportunity", "unreadable: no Id")
    ]


def test_the_incremental_query_filters_on_system_modstamp_with_a_utc_literal() -> None:
    reader = OutcomeReader(FakeQueries({}))
    since = datetime(2026, 11, 22, 10, 5, 7, tzinfo=UTC)
    soql = reader.soql("Lead", since.astimezone())
    assert soql.endswith("FROM Lead WHERE SystemModstamp > 2026-11-22T10:05:07Z")
    assert "ConvertedOpportunityId" in soql and "MQL_Status__c" in soql
    assert soql_datetime(since) == "2026-11-22T10:05:07Z"
    assert " WHERE " not in reader.soql("Contact", None)


# ------------------------------------------------------------------------------ store
@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """A fresh state store on each backend (PostgreSQL: see tests/sync/test_state_postgres)."""
    if request.param == "sqlite":
        opened = StateStore(SqliteTarget(tmp_path / "state.db"))
    else:
        opened = StateStore(PostgresTarget(SecretStr(request.getfixturevalue("pg_url"))))
    yield opened
    opened.close()


def stamp(minutes: int) -> datetime:
    return NOW - timedelta(minutes=minutes)


def lead_record(rid: str, email: str, **kw: Any) -> SalesforceRecord:
    return SalesforceRecord("Lead", rid, email, **({"status": "Open - Not Contacted"} | kw))


def known_contact(store: StateStore, hubspot_id: str, email: str) -> None:
    store.upsert_contacts([Contact(hubspot_id, email, {})])


def test_a_converted_lead_gives_its_contact_conversion_and_opportunity(store: StateStore) -> None:
    known_contact(store, "1", "a@x.jp")
    store.save_links([Link("a@x.jp", "Contact", "003C", None)])
    store.outcomes.save_salesforce_records(
        [
            SalesforceRecord("Contact", "003C", "a@x.jp", mql_status="MQL"),
            lead_record(
                "00QL", "a@x.jp", status="Closed - Converted", is_converted=True,
                converted_at=date(2026, 11, 1), converted_contact_id="003C",
                converted_opportunity_id="006O", mql_status="MQL",
            ),
        ]
    )  # fmt: skip
    store.outcomes.save_opportunities(
        [OpportunityRecord("006O", "Closed Won", True, True, Decimal("9.50"), date(2026, 11, 9),
                           stamp(60))]
    )  # fmt: skip
    found = store.outcomes.outcomes_for(["a@x.jp", "nobody@x.jp"])
    assert list(found) == ["a@x.jp"]
    got = found["a@x.jp"]
    assert (got.sobject, got.record_id, got.mql_status) == ("Contact", "003C", "MQL")
    assert got.is_converted and got.converted_at == date(2026, 11, 1)
    assert (got.opportunity_id, got.opportunity_is_won, got.opportunity_amount) == (
        "006O", True, Decimal("9.50"),
    )  # fmt: skip
    assert outcome_stage(got, FUNNEL) == "won"


def test_an_opportunity_reaches_a_contact_through_its_contact_role(store: StateStore) -> None:
    known_contact(store, "1", "b@x.jp")
    store.outcomes.save_salesforce_records([SalesforceRecord("Contact", "003B", "b@x.jp")])
    store.outcomes.save_contact_roles([ContactRole("00KR", "006P", "003B", True)])
    store.outcomes.save_opportunities(
        [
            OpportunityRecord("006P", "Negotiation/Review", False, False, None, None, stamp(5)),
            OpportunityRecord("006Q", "Closed Lost", True, False, None, None, stamp(1)),
        ]
    )
    got = store.outcomes.outcomes_for(["b@x.jp"])["b@x.jp"]
    assert (got.opportunity_id, got.opportunities) == ("006P", 1)
    assert outcome_stage(got, FUNNEL) == "opportunity"


def test_without_a_link_the_contact_stands_for_the_person_and_all_statuses_count(
    store: StateStore,
) -> None:
    store.outcomes.save_salesforce_records(
        [
            lead_record("00Q1", "c@x.jp", status="Working - Contacted"),
            SalesforceRecord("Contact", "003Z", "c@x.jp", mql_status="Not MQL"),
            lead_record("00Q2", "c@x.jp", status="Closed - Not Converted"),
        ]
    )
    got = store.outcomes.outcomes_for(["c@x.jp"])["c@x.jp"]
    assert (got.sobject, got.record_id) == ("Contact", "003Z")
    assert got.lead_statuses == ("Closed - Not Converted", "Working - Contacted")
    assert outcome_stage(got, FUNNEL) == "sql"


def test_given_duplicate_leads_linking_one_does_not_move_the_stage(store: StateStore) -> None:
    # Sales works one duplicate Lead, the connector writes the other: the stage is the
    # person's (SQL) before the link exists and after, so the written stage does not flip.
    known_contact(store, "1", "abe-y@x.jp")
    store.outcomes.save_salesforce_records(
        [
            lead_record("00QW", "abe-y@x.jp", status="Working - Contacted"),
            lead_record("00QO", "abe-y@x.jp"),  # Open - Not Contacted
        ]
    )
    before = store.outcomes.outcomes_for(["abe-y@x.jp"])["abe-y@x.jp"]
    store.save_links([Link("abe-y@x.jp", "Lead", "00QO", None)])
    after = store.outcomes.outcomes_for(["abe-y@x.jp"])["abe-y@x.jp"]

    assert after.record_id == "00QO"
    assert stage_after_mql("Interest", before, FUNNEL) == "sql"
    assert stage_after_mql("Interest", after, FUNNEL) == "sql"


def test_change_detection_ignores_the_connectors_own_fields(store: StateStore) -> None:
    first = lead_record("00Q1", "d@x.jp", mql_status="Not MQL", modstamp=stamp(9))
    assert store.outcomes.changed_salesforce_records([first]) == {"00Q1"}
    store.outcomes.save_salesforce_records([first])
    echoed = replace(first, mql_status="MQL", stage="MQL", modstamp=stamp(1))
    assert store.outcomes.changed_salesforce_records([echoed]) == set()
    accepted = replace(first, status="Working - Contacted")
    assert store.outcomes.changed_salesforce_records([accepted]) == {"00Q1"}
    opp = OpportunityRecord("006A", "Prospecting", False, False, Decimal("1"), None, None)
    assert store.outcomes.changed_opportunities([opp]) == {"006A"}
    store.outcomes.save_opportunities([opp])
    assert store.outcomes.changed_opportunities([opp]) == set()
    assert store.outcomes.changed_opportunities([replace(opp, stage="Closed Won", is_closed=True,
                                                         is_won=True)]) == {"006A"}  # fmt: skip


def test_records_map_back_to_their_leads_by_link_conversion_and_email(store: StateStore) -> None:
    known_contact(store, "1", "e@x.jp")
    known_contact(store, "2", "f@x.jp")
    store.save_links([Link("e@x.jp", "Contact", "003E", None)])
    store.outcomes.save_salesforce_records(
        [
            lead_record("00QE", "old-e@x.jp", is_converted=True, converted_contact_id="003E",
                        converted_opportunity_id="006E"),
            lead_record("00QF", "f@x.jp"),
            lead_record("00QG", "stranger@x.jp"),
        ]
    )  # fmt: skip
    assert store.outcomes.lead_keys_for_records(["00QE", "00QF", "00QG"]) == {"e@x.jp", "f@x.jp"}
    assert store.outcomes.record_ids_for_opportunities(["006E"]) == {"00QE"}


def test_what_the_connector_wrote_after_the_pull_shows_in_the_stored_records(
    store: StateStore,
) -> None:
    known_contact(store, "1", "a@x.jp")
    known_contact(store, "2", "new@x.jp")
    store.save_links([Link("a@x.jp", "Lead", "00QA", None), Link("new@x.jp", "Lead", "00QN", None)])
    store.outcomes.save_salesforce_records([lead_record("00QA", "a@x.jp", mql_status="Not MQL",
                                                        modstamp=stamp(30))])  # fmt: skip
    started = datetime.now(UTC) - timedelta(seconds=1)
    fields = {"MQL_Status__c": "MQL", "Lead_Stage__c": "MQL",
              "MQL_Date__c": "2026-11-22T00:59:00.000+0000", "Lead_Score__c": 70}  # fmt: skip
    store.record_written("a@x.jp", "Lead", fields)
    store.record_written("new@x.jp", "Lead", fields)  # a Lead the run created

    columns = {"MQL_Status__c": "mql_status", "Lead_Stage__c": "stage", "MQL_Date__c": "mql_date"}
    assert store.outcomes.outcomes_follow_writes(started, columns) == 2

    found = store.outcomes.outcomes_for(["a@x.jp", "new@x.jp"])
    assert (found["a@x.jp"].mql_status, found["a@x.jp"].stage) == ("MQL", "MQL")
    assert found["a@x.jp"].mql_date == datetime(2026, 11, 22, 0, 59, tzinfo=UTC)
    assert found["a@x.jp"].status == "Open - Not Contacted"  # what the pull read stays
    assert (found["new@x.jp"].record_id, found["new@x.jp"].mql_status) == ("00QN", "MQL")
    # the placeholder is not a pulled record: the pull still treats the Lead as new
    assert store.outcomes.pulled_record_ids(["00QA", "00QN"]) == {"00QA"}
    later = datetime.now(UTC) + timedelta(minutes=1)
    # older writes are not applied
    assert store.outcomes.outcomes_follow_writes(later, columns) == 0


def test_given_a_pull_in_the_same_second_as_the_last_runs_writes_they_are_not_put_back(
    tmp_path: Path,
) -> None:
    # The previous run wrote MQL at 01:00:00.300; sales set the Lead back to "Not MQL" and
    # this run's pull started at 01:00:00.700 and read that. Only writes made after the pull
    # started (this run's) may go over what it read, whatever second they share.
    now = [NOW.replace(microsecond=300_000)]
    store = StateStore(SqliteTarget(tmp_path / "state.db"), clock=lambda: now[0])
    try:
        known_contact(store, "1", "a@x.jp")
        store.save_links([Link("a@x.jp", "Lead", "00QA", None)])
        columns = {"MQL_Status__c": "mql_status"}
        store.record_written("a@x.jp", "Lead", {"MQL_Status__c": "MQL"})  # the previous run
        store.outcomes.save_salesforce_records(
            [lead_record("00QA", "a@x.jp", mql_status="Not MQL")]
        )
        pulled_at = NOW.replace(microsecond=700_000)

        assert store.outcomes.outcomes_follow_writes(pulled_at, columns) == 0
        assert store.outcomes.outcomes_for(["a@x.jp"])["a@x.jp"].mql_status == "Not MQL"

        now[0] = NOW.replace(microsecond=900_000)
        store.record_writes([("a@x.jp", "Lead", {"MQL_Status__c": "MQL"})])  # this run, .900
        assert store.outcomes.outcomes_follow_writes(pulled_at, columns) == 1
        assert store.outcomes.outcomes_for(["a@x.jp"])["a@x.jp"].mql_status == "MQL"
    finally:
        store.close()


# ------------------------------------------------------------------------------ pull step
def rows() -> dict[str, list[dict[str, Any]]]:
    return {
        "Lead": [
            {"Id": "00QA", "Email": "a@x.jp", "Status": "Working - Contacted",
             "IsConverted": False, "SystemModstamp": "2026-11-22T00:40:00.000+0000"},
            {"Id": "00QS", "Email": "stranger@x.jp", "Status": "Open - Not Contacted",
             "IsConverted": False, "SystemModstamp": "2026-11-22T00:50:00.000+0000"},
        ],
        "Opportunity": [
            {"Id": "006A", "StageName": "Prospecting", "IsClosed": False, "IsWon": False,
             "SystemModstamp": "2026-11-22T00:30:00.000+0000"},
        ],
    }  # fmt: skip


def test_pull_stores_known_leads_only_marks_changes_and_moves_cursors(store: StateStore) -> None:
    known_contact(store, "1", "a@x.jp")
    client = FakeQueries(rows())
    step = OutcomeSync(store, OutcomeReader(client), FUNNEL)

    report = step.pull(NOW, since=NOW - timedelta(days=365), overlap=timedelta(minutes=5))

    assert report.read == {"Lead": 2, "Opportunity": 1}
    assert store.outcomes.outcome_counts()["sf_records"] == 1  # the stranger is not kept
    assert store.dirty_refs(10) == ["e:a@x.jp"]
    assert report.leads_marked == 1
    cursors = store.cursors()
    assert {o: cursors[f"salesforce:{o}"] for o in ("Lead", "Contact", "Opportunity")} == {
        "Lead": NOW, "Contact": NOW, "Opportunity": NOW,
    }  # fmt: skip

    store.clear_dirty(["e:a@x.jp"])
    client.soql.clear()
    later = NOW + timedelta(minutes=10)
    again = step.pull(later, since=NOW - timedelta(days=365), overlap=timedelta(minutes=5))
    assert store.dirty_refs(10) == []  # same records: no lead re-planned
    assert again.changed == 0
    assert "FROM Lead WHERE SystemModstamp > 2026-11-22T00:55:00Z" in client.soql[0]
    assert store.cursors()["salesforce:Lead"] == later


def test_a_dry_run_pull_leaves_the_cursors(store: StateStore) -> None:
    known_contact(store, "1", "a@x.jp")
    step = OutcomeSync(store, OutcomeReader(FakeQueries(rows())), FUNNEL)
    step.pull(NOW, since=NOW - timedelta(days=1), overlap=timedelta(0), advance=False)
    assert not any(k.startswith("salesforce:") for k in store.cursors())


def test_given_one_object_cannot_be_read_the_others_are_and_its_cursor_stays(
    store: StateStore,
) -> None:
    known_contact(store, "1", "a@x.jp")
    step = OutcomeSync(store, OutcomeReader(FakeQueries(rows(), fail="Lead")), FUNNEL)
    report = step.pull(NOW, since=NOW - timedelta(days=1), overlap=timedelta(0))
    assert report.read == {"Opportunity": 1}
    assert report.problems == [
        "salesforce Lead: Salesforce 400 INVALID_FIELD: No such column 'MQL_Status__c'"
    ]
    assert "salesforce:Lead" not in store.cursors()
    assert "salesforce:Opportunity" in store.cursors()


def test_given_the_api_budget_is_spent_the_pull_stops_the_run(store: StateStore) -> None:
    step = OutcomeSync(store, OutcomeReader(FakeQueries(rows(), budget_spent="Contact")), FUNNEL)
    with pytest.raises(BudgetExhaustedError):
        step.pull(NOW, since=NOW - timedelta(days=1), overlap=timedelta(0))
    assert "salesforce:Contact" not in store.cursors()
    assert "salesforce:Lead" in store.cursors()  # read to the end before the budget ran out


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_linked_lead_seen_converted_is_unlinked_so_it_is_matched_again(
    store: StateStore, dry_run: bool
) -> None:
    known_contact(store, "1", "a@x.jp")
    store.save_links([Link("a@x.jp", "Lead", "00QA", None)])
    store.record_written("a@x.jp", "Lead", {"MQL_Status__c": "MQL"})
    converted = {"Id": "00QA", "Email": "a@x.jp", "Status": "Closed - Converted",
                 "IsConverted": True, "ConvertedContactId": "003A"}  # fmt: skip
    step = OutcomeSync(store, OutcomeReader(FakeQueries({"Lead": [converted]})), FUNNEL)
    step.pull(NOW, since=NOW - timedelta(days=1), overlap=timedelta(0), advance=not dry_run)
    links = store.links(["a@x.jp"])
    assert (links == {}) is not dry_run
    assert (store.written(["a@x.jp"]) == {}) is not dry_run
    assert store.dirty_refs(10) == ["e:a@x.jp"]


def test_a_changed_opportunity_marks_the_lead_converted_into_it(store: StateStore) -> None:
    known_contact(store, "1", "a@x.jp")
    store.outcomes.save_salesforce_records(
        [lead_record("00QA", "a@x.jp", is_converted=True, converted_opportunity_id="006A")]
    )
    step = OutcomeSync(store, OutcomeReader(FakeQueries({"Opportunity": rows()["Opportunity"]})),
                       FUNNEL)  # fmt: skip
    step.pull(NOW, since=NOW - timedelta(days=1), overlap=timedelta(0))
    assert store.dirty_refs(10) == ["e:a@x.jp"]


@dataclass(frozen=True)
class Score:
    stage: str
    total: int


def test_advance_replaces_only_the_stage_of_a_score(store: StateStore) -> None:
    step = OutcomeSync(store, OutcomeReader(FakeQueries({})), FUNNEL)
    score = Score("mql", 70)
    assert step.advance(score, None) is score
    assert step.advance(score, outcome(is_converted=True, **OPEN_OPP)) == Score("opportunity", 70)
