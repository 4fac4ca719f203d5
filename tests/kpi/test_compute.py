"""The KPI core (kpi.compute) on hand-built leads: every number is counted by hand here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from kpi.compute import compute, period_label, periods, spend
from kpi.model import (
    CostEntry,
    Costs,
    Engagement,
    LeadFacts,
    Outcome,
    ReportWindow,
)

SINCE = datetime(2026, 9, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


def lead(key: str, created: datetime, **kw: object) -> LeadFacts:
    dims = {
        "industry": kw.pop("industry", "manufacturing"),
        "channel": kw.pop("channel", "PAID_SEARCH"),
    }
    return LeadFacts(key=key, created=created, dimensions=dims, **kw)  # type: ignore[arg-type]


def window(period: str = "month", segment: tuple[str, str] | None = None) -> ReportWindow:
    return ReportWindow(SINCE, UNTIL, period, generated_at=UNTIL, segment_filter=segment)  # type: ignore[arg-type]


LEADS = [
    # September cohort: 4 leads, 2 MQL, 1 of them SQL with a won opportunity
    lead(
        "a@x.jp",
        at(9, 2),
        first_mql=at(9, 12),
        mql_episodes=(at(9, 12),),
        outcome=Outcome(sql=True, opportunity_at=at(9, 22), won_at=at(10, 5)),
        handoffs=(at(9, 12),),
    ),
    lead(
        "b@x.jp",
        at(9, 5),
        first_mql=at(10, 5),
        outcome=Outcome(sql=True),
        industry="it",
        channel="ORGANIC_SEARCH",
        handoffs=(at(10, 5),),
    ),
    lead("c@x.jp", at(9, 20), industry="it", channel="ORGANIC_SEARCH"),
    lead("d@x.jp", at(9, 30)),
    # October cohort: 2 leads, 1 MQL with a lost opportunity (no SQL status: implied)
    lead(
        "e@x.jp",
        at(10, 1),
        first_mql=at(10, 3),
        outcome=Outcome(opportunity_at=at(10, 13), lost_at=at(10, 20)),
    ),
    lead("f@x.jp", at(10, 30)),
    # before the window: not in any cohort, but its October MQL is a new MQL of October
    lead("g@x.jp", at(8, 1), first_mql=at(10, 10)),
    # an outcome without MQL counts nowhere in the funnel
    lead("h@x.jp", at(10, 2), outcome=Outcome(sql=True, opportunity_at=at(10, 4))),
]


def test_cohort_funnel_counts_each_step_only_for_leads_that_reached_the_previous_one() -> None:
    report = compute(LEADS, window(), dimensions=["industry", "channel"])
    september, october = report.periods
    assert (september.label, october.label) == ("2026-09", "2026-10")
    f = september.funnel
    assert (f.new_leads, f.mqls, f.sqls, f.opportunities, f.won, f.lost) == (4, 2, 2, 1, 1, 0)
    assert f.mql_rate == 0.5 and f.sql_rate == 1.0 and f.opportunity_rate == 0.5
    assert f.win_rate == 1.0
    g = october.funnel
    assert (g.new_leads, g.mqls, g.sqls, g.opportunities, g.won, g.lost) == (3, 1, 1, 1, 0, 1)
    assert g.win_rate == 0.0
    t = report.totals.funnel
    assert (t.new_leads, t.mqls, t.sqls, t.opportunities, t.won, t.lost) == (7, 3, 3, 2, 1, 1)


def test_new_mqls_and_handoffs_are_counted_in_the_period_they_happened() -> None:
    report = compute(LEADS, window(), dimensions=[])
    september, october = report.periods
    assert (september.new_mqls, october.new_mqls) == (1, 3)  # a in Sept; b, e, g in Oct
    assert (september.handoffs, october.handoffs) == (1, 1)
    assert report.totals.new_mqls == 4 and report.totals.handoffs == 2


def test_time_to_mql_and_mql_to_opportunity_are_medians_over_leads_that_made_both_steps() -> None:
    report = compute(LEADS, window(), dimensions=[])
    september = report.periods[0]
    assert september.time_to_mql.count == 2
    assert september.time_to_mql.median_days == pytest.approx((10 + 30) / 2)
    assert september.mql_to_opportunity.count == 1
    assert september.mql_to_opportunity.median_days == pytest.approx(10)
    assert report.totals.time_to_mql.mean_days == pytest.approx((10 + 30 + 2) / 3)


def test_per_segment_rows_split_the_totals() -> None:
    report = compute(LEADS, window(), dimensions=["industry", "channel"])
    industry = {r.label: r.funnel for r in report.segments["industry"]}
    assert industry["it"].new_leads == 2 and industry["it"].mqls == 1
    assert industry["manufacturing"].new_leads == 5 and industry["manufacturing"].mqls == 2
    assert sum(r.funnel.new_leads for r in report.segments["channel"]) == 7


def test_segment_filter_keeps_only_that_segment() -> None:
    report = compute(LEADS, window(segment=("industry", "it")), dimensions=["industry"])
    assert report.totals.funnel.new_leads == 2
    assert [r.label for r in report.segments["industry"]] == ["it"]


def test_weekly_periods_are_iso_weeks_clipped_to_the_window() -> None:
    spans = periods(SINCE, UNTIL, "week")
    assert spans[0] == ("2026-W36", SINCE, datetime(2026, 9, 7, tzinfo=UTC))
    assert spans[-1][0] == "2026-W44" and spans[-1][2] == UNTIL
    assert period_label(datetime(2027, 1, 1, tzinfo=UTC), "week") == "2026-W53"
    report = compute(LEADS, window("week"), dimensions=[])
    assert sum(r.funnel.new_leads for r in report.periods) == report.totals.funnel.new_leads == 7


def test_month_costs_spread_over_days_give_cost_per_lead_and_per_mql() -> None:
    costs = Costs(
        "JPY",
        (
            CostEntry("2026-09", "PAID_SEARCH", Decimal(300000)),
            CostEntry("2026-10", "ORGANIC_SEARCH", Decimal(31000), "SEO"),
            CostEntry("2026-12", "PAID_SEARCH", Decimal(999)),
        ),
    )
    report = compute(LEADS, window(), dimensions=["channel"], costs=costs)
    september, october = report.periods
    assert october.cost == Decimal("31000.00")
    assert september.cost == Decimal("300000.00")
    assert september.cost_per_lead == Decimal("75000.00") and september.cost_per_mql == Decimal(
        "150000.00"
    )
    assert report.totals.cost == Decimal("331000.00")  # December lies outside the window
    channel = {r.label: r for r in report.segments["channel"]}
    assert channel["ORGANIC_SEARCH"].cost == Decimal("31000.00")
    assert channel["ORGANIC_SEARCH"].cost_per_lead == Decimal("15500.00")
    rows = {(c.month, c.channel): c for c in report.costs}
    assert set(rows) == {("2026-09", "PAID_SEARCH"), ("2026-10", "ORGANIC_SEARCH")}
    assert rows[("2026-09", "PAID_SEARCH")].new_leads == 2  # a and d (b, c are organic)
    assert rows[("2026-10", "ORGANIC_SEARCH")].campaigns == ("SEO",)
    # one week of a 30-day month gets 7/30 of it
    week = spend(costs.entries, datetime(2026, 9, 7, tzinfo=UTC), datetime(2026, 9, 14, tzinfo=UTC))
    assert week == Decimal("70000.00")


def test_costs_are_not_split_by_a_non_channel_segment_and_the_report_says_so() -> None:
    costs = Costs("JPY", (CostEntry("2026-09", "PAID_SEARCH", Decimal(1000)),))
    report = compute(
        LEADS, window(segment=("industry", "it")), dimensions=["industry"], costs=costs
    )
    assert report.totals.cost is None and report.totals.cost_per_lead is None
    assert any("costs are kept per channel" in n for n in report.notes)
    by_channel = compute(
        LEADS, window(segment=("channel", "PAID_SEARCH")), dimensions=[], costs=costs
    )
    assert by_channel.totals.cost == Decimal("1000.00")


def test_engagement_adds_up_over_leads_and_gives_rates() -> None:
    leads = [
        lead("a@x.jp", at(9, 2), engagement={"2026-09": Engagement(10, 4, 1, 2, 1, 3)}),
        lead(
            "b@x.jp",
            at(9, 2),
            engagement={
                "2026-09": Engagement(10, 6, 3, 2, 2, 0),
                "2026-12": Engagement(99, 99, 99),
            },
        ),
    ]
    report = compute(leads, window(), dimensions=[])
    e = report.periods[0].engagement
    assert (e.delivered, e.opened, e.clicked) == (20, 10, 4)
    assert e.open_rate == 0.5 and e.click_rate == 0.2 and e.attendance_rate == 0.75
    assert e.whitepaper_downloads == 3
    assert report.totals.engagement.delivered == 20  # December is outside the window


def test_interest_to_comparison_share_counts_moves_within_six_months() -> None:
    leads = [
        lead("a@x.jp", at(9, 1), first_interest=at(9, 2), first_comparison=at(9, 20)),
        lead("b@x.jp", at(9, 1), first_interest=at(9, 3)),  # not moved, window still open
        lead("c@x.jp", at(9, 1), first_interest=at(10, 1), first_comparison=at(10, 2)),
        lead("d@x.jp", at(5, 1), first_interest=at(5, 1), first_comparison=at(9, 5)),  # before
    ]
    report = compute(leads, window(), dimensions=[])
    september = report.periods[0].progression
    assert (september.reached_interest, september.moved, september.open) == (2, 1, 1)
    assert september.share == 0.5
    assert report.totals.progression.moved == 2


def test_a_move_after_six_months_does_not_count() -> None:
    late = lead(
        "a@x.jp", at(9, 1), first_interest=at(9, 1), first_comparison=at(9, 1) + timedelta(days=200)
    )
    report = compute(
        [late],
        ReportWindow(
            SINCE,
            datetime(2027, 6, 1, tzinfo=UTC),
            "month",
            generated_at=datetime(2027, 6, 1, tzinfo=UTC),
        ),
        dimensions=[],
    )
    p = report.totals.progression
    assert (p.reached_interest, p.moved, p.open) == (1, 0, 0)


def test_steps_after_the_report_end_are_not_counted_yet() -> None:
    future = lead(
        "a@x.jp",
        at(9, 2),
        first_mql=at(9, 3),
        outcome=Outcome(opportunity_at=at(11, 20), won_at=at(12, 1)),
    )
    report = compute([future], window(), dimensions=[])
    f = report.totals.funnel
    assert (f.mqls, f.sqls, f.opportunities, f.won) == (1, 0, 0, 0)


def test_without_outcomes_the_report_notes_that_later_steps_are_unknown() -> None:
    report = compute(LEADS[:1], window(), dimensions=[], outcomes_known=False)
    assert any("no Salesforce outcomes" in n for n in report.notes)


def test_empty_input_gives_zero_counts_and_no_rates() -> None:
    report = compute([], window(), dimensions=["industry"])
    assert report.totals.funnel.new_leads == 0
    assert report.totals.funnel.mql_rate is None and report.totals.cost_per_lead is None
    assert report.segments == {"industry": ()}
    assert report.totals.time_to_mql.median_days is None


def test_window_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="until must be after since"):
        periods(UNTIL, SINCE, "month")
