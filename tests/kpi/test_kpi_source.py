"""The report's state adapter (app.kpi_report) on hand-built leads: one lead's facts from
its replayed history, the engagement counts, the outcome mapping and bad records."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from app.kpi_report import (
    Problems,
    _Context,
    engagement_by_period,
    lead_facts,
    outcome_of,
    parse_created,
    parse_segment,
    stage_ranks,
)
from core.errors import ConfigError
from core.models import Activity, Company, Contact
from core.models import ActivityKind as K
from core.outcomes import LeadOutcome
from scoring import MqlState, load_rules
from scoring.simulate import LeadHistory, time_can_qualify
from sync.outcomes import Funnel
from tests.scoring.scoring_helpers import MAPPINGS

CREATED = datetime(2026, 8, 3, 9, 0, tzinfo=UTC)
UNTIL = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def act(kind: str, moment: datetime, n: int, **attrs: object) -> Activity:
    return Activity(f"{kind}:{n}", kind, moment, contact_id="101", attributes=attrs)  # type: ignore[arg-type]


def history(created: str | None, activities: list[Activity]) -> LeadHistory:
    contact = Contact(
        "101",
        "buyer@maker.co.jp",
        {
            "createdate": created,
            "jobtitle": "製造部 部長",
            "hs_analytics_source": "PAID_SEARCH",
        },
        company_id="9",
    )
    company = Company("9", {"industry": "MANUFACTURING", "numberofemployees": "2500"})
    return LeadHistory("buyer@maker.co.jp", contact, company, activities)


@pytest.fixture(scope="module")
def ctx() -> _Context:
    rules = load_rules(MAPPINGS)
    return _Context(rules, UNTIL, "month", stage_ranks(rules), Funnel(), time_can_qualify(rules))


JOURNEY = [
    act(K.WHITEPAPER_DOWNLOAD, CREATED + DAY, 1),  # interest
    act(K.EMAIL_DELIVERED, CREATED + 2 * DAY, 2, campaign_id="7"),
    act(K.EMAIL_OPEN, CREATED + 2 * DAY, 3, campaign_id="7"),
    act(K.EMAIL_OPEN, CREATED + 3 * DAY, 4, campaign_id="7"),  # the same email again
    act(K.WEBINAR_REGISTERED, CREATED + 10 * DAY, 5, marketing_event_id="w1"),
    act(K.WEBINAR_ATTENDED, CREATED + 30 * DAY, 6, marketing_event_id="w1"),  # comparison
    act(K.CONSULTATION_REQUEST, CREATED + 31 * DAY, 7),  # MQL
]


def test_lead_facts_date_the_first_mql_and_stage_moves_from_the_replayed_history(ctx) -> None:
    problems = Problems()
    facts = lead_facts(
        history("2026-08-03T09:00:00.000Z", JOURNEY),
        ctx,
        state=None,
        outcome=None,
        tasks=[("mql:101:1", "done", CREATED + 40 * DAY), ("hot:101:1", "done", CREATED)],
        problems=problems,
    )
    assert facts is not None and problems.count == 0
    assert facts.created == CREATED
    assert facts.first_mql == CREATED + 31 * DAY
    assert facts.first_interest == CREATED + DAY
    assert facts.first_comparison == CREATED + 30 * DAY
    assert facts.dimensions["channel"] == "PAID_SEARCH"
    assert facts.dimensions["industry"] == "manufacturing"
    assert facts.handoffs == (CREATED + 40 * DAY,)  # MQL Tasks only, not hot alerts
    august = facts.engagement["2026-08"]
    assert (august.delivered, august.opened, august.webinar_registrations) == (1, 1, 1)
    assert august.whitepaper_downloads == 1
    assert facts.engagement["2026-09"].webinar_attended == 1


def test_an_earlier_stored_mql_episode_counts_as_the_first(ctx) -> None:
    earlier = CREATED + 5 * DAY
    facts = lead_facts(
        history("2026-08-03T09:00:00Z", JOURNEY),
        ctx,
        state=MqlState(1, True, earlier, "score_webinar_consultation"),
        outcome=None,
        tasks=[],
        problems=Problems(),
    )
    assert facts is not None and facts.first_mql == earlier


def test_unreadable_createdate_falls_back_to_the_first_activity_and_says_so(ctx) -> None:
    problems = Problems()
    facts = lead_facts(
        history("last tuesday", JOURNEY), ctx, state=None, outcome=None, tasks=[],
        problems=problems,
    )  # fmt: skip
    assert facts is not None and facts.created == CREATED + DAY
    assert problems.count == 1 and "buyer@maker.co.jp" in problems.messages[0]
    assert "'last tuesday'" in problems.messages[0]


def test_a_lead_without_date_or_activity_is_left_out_with_a_message(ctx) -> None:
    problems = Problems()
    assert lead_facts(history(None, []), ctx, state=None, outcome=None, tasks=[],
                      problems=problems) is None  # fmt: skip
    assert "left out" in problems.notes()[0]


def test_problem_notes_are_capped_but_counted() -> None:
    problems = Problems()
    for n in range(25):
        problems.add(f"lead {n}")
    notes = problems.notes()
    assert len(notes) == 21 and notes[-1] == "... and 5 more such problems"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-08-03T09:00:00.000Z", CREATED),
        ("1785747600000", CREATED),
        ("2026-08-03T09:00:00", CREATED),
        ("", None),
        ("not a date", None),
        ("99999999999999999999", None),
    ],
)
def test_parse_created_reads_iso_and_epoch_ms(raw: str, expected: datetime | None) -> None:
    assert parse_created(raw) == expected


def test_engagement_counts_distinct_emails_and_webinars() -> None:
    found = engagement_by_period(
        [
            act(K.EMAIL_CLICK, CREATED, 1, campaign_id="7"),
            act(K.EMAIL_CLICK, CREATED, 2, campaign_id="7"),
            act(K.EMAIL_CLICK, CREATED, 3, campaign_id="8"),
            act(K.WEBINAR_NO_SHOW, CREATED, 4, marketing_event_id="w2"),
            act(K.WEBINAR_REGISTERED, CREATED, 5, marketing_event_id="w2"),
            act(K.PAGE_VIEW, CREATED, 6),
        ],
        "week",
    )
    week = found["2026-W32"]
    assert week.clicked == 2 and week.webinar_registrations == 1 and week.webinar_attended == 0


def outcome(**kw: object) -> LeadOutcome:
    base: dict[str, object] = dict(
        lead_key="buyer@maker.co.jp", sobject="Lead", record_id="00Q1", email="buyer@maker.co.jp",
        status="Open - Not Contacted", is_converted=False, converted_at=None,
        converted_contact_id=None,
    )  # fmt: skip
    return LeadOutcome(**(base | kw))  # type: ignore[arg-type]


def test_outcomes_map_to_funnel_steps_through_funnel_toml() -> None:
    funnel = Funnel()
    assert outcome_of(None, funnel) is None
    assert outcome_of(outcome(), funnel) is None
    sql = outcome_of(outcome(status="Working - Contacted"), funnel)
    assert sql is not None and sql.sql and sql.opportunity_at is None
    disqualified = outcome_of(outcome(status="Closed - Not Converted"), funnel)
    assert disqualified is not None and not disqualified.sql and disqualified.lost_at is None
    won = outcome_of(
        outcome(
            is_converted=True,
            converted_at=date(2026, 9, 1),
            opportunity_id="006A",
            opportunity_is_closed=True,
            opportunity_is_won=True,
            opportunity_amount=Decimal("1200000"),
            opportunity_close_date=date(2026, 10, 2),
        ),
        funnel,
    )
    assert won is not None and won.sql
    assert won.opportunity_at == datetime(2026, 9, 1, tzinfo=UTC)
    assert won.won_at == datetime(2026, 10, 2, tzinfo=UTC) and won.amount == Decimal("1200000")
    lost = outcome_of(
        outcome(opportunity_id="006B", opportunity_is_closed=True,
                opportunity_created_at=datetime(2026, 9, 9, tzinfo=UTC)),
        funnel,
    )  # fmt: skip
    assert lost is not None and lost.lost_at == datetime(2026, 9, 9, tzinfo=UTC)


def test_stage_ranks_follow_the_stage_rules_of_scoring_toml(ctx) -> None:
    ranks = stage_ranks(ctx.rules)
    assert ranks["cold"] < ranks["interest"] < ranks["comparison"] < ranks["hot"] < ranks["mql"]


def test_segment_option_must_name_a_dimension_and_a_value() -> None:
    assert parse_segment("industry=it", ["industry", "channel"]) == ("industry", "it")
    assert parse_segment(None, ["industry"]) is None
    for bad in ("industry", "colour=red", "=x"):
        with pytest.raises(ConfigError, match="--segment"):
            parse_segment(bad, ["industry", "channel"])
