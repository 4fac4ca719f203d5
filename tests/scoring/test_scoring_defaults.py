"""The shipped rules (mappings/scoring.toml, segments.toml) reproduce the product article."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.models import ActivityKind as K
from scoring import Rules, load_rules, validate_rules
from tests.scoring.scoring_helpers import MAPPINGS, act, company, contact, entry, score


@pytest.fixture(scope="module")
def shipped() -> Rules:
    return load_rules(MAPPINGS)


def test_shipped_rule_files_validate_without_problems() -> None:
    assert validate_rules(MAPPINGS) == []


def test_given_consultation_and_webinar_today_and_no_fit_scores_exactly_50_and_is_mql(
    shipped: Rules,
) -> None:
    result = score(shipped, [act(K.CONSULTATION_REQUEST), act(K.WEBINAR_ATTENDED)])

    assert result.total == Decimal("50.00")
    assert result.fit == 0
    assert result.is_mql
    assert result.stage == "mql"
    assert result.mql_reason.startswith("MQL by score_webinar_consultation")
    assert result.mql_episode == 1
    assert result.mql_since == result.scored_at


def test_given_visit_whitepaper_webinar_and_consultation_now_behaviour_is_65(
    shipped: Rules,
) -> None:
    result = score(shipped, [act(K.PAGE_VIEW, url="https://example.com/"),
                             act(K.WHITEPAPER_DOWNLOAD), act(K.WEBINAR_ATTENDED),
                             act(K.CONSULTATION_REQUEST)])

    assert result.engagement == Decimal("65.00")
    assert {e.rule_id: e.contribution for e in result.explanation} == {
        "page_visit": 5, "whitepaper_download": 10, "webinar_attended": 20,
        "consultation_request": 30,
    }


def test_given_enterprise_manufacturing_director_fit_adds_35(shipped: Rules) -> None:
    result = score(shipped, lead=contact(jobtitle="Director of Manufacturing"),
                   firm=company(industry="MANUFACTURING", numberofemployees="1000"))

    assert result.fit == Decimal("35.00")
    assert [e.rule_id for e in result.explanation] == [
        "large_company", "target_industry", "director_or_above"]


def test_given_article_lead_with_everything_scores_100_grade_a1(shipped: Rules) -> None:
    result = score(
        shipped,
        [act(K.PAGE_VIEW, url="https://example.com/"), act(K.WHITEPAPER_DOWNLOAD),
         act(K.WEBINAR_ATTENDED), act(K.CONSULTATION_REQUEST)],
        lead=contact(jobtitle="製造本部 部長"),
        firm=company(industry="Industrial Automation", numberofemployees="5000"),
    )

    assert (result.total, result.engagement, result.fit) == (100, 65, 35)
    assert result.grade == "A1"
    assert result.segment == "manufacturing/enterprise/director/engaged"


@pytest.mark.parametrize(
    "title",
    ["Director", "Sales Director", "VP Marketing", "SVP, Operations", "Vice President",
     "Head of IT", "Chief Digital Officer", "CEO", "CTO", "CFO", "COO", "CIO", "President",
     "部長", "営業部長", "本部長", "事業部長", "工場長", "取締役", "役員", "社長", "執行役員",
     "常務取締役", "代表取締役社長"],
)
def test_given_director_or_above_title_persona_fit_is_15(shipped: Rules, title: str) -> None:
    result = score(shipped, lead=contact(jobtitle=title))

    assert entry(result, "director_or_above") is not None
    assert result.fit == 15


@pytest.mark.parametrize("title", ["Engineer", "課長", "部長代理", "Marketing Manager",
                                   "Vice-principal investigator", "", None])
def test_given_title_below_director_no_director_points(shipped: Rules,
                                                       title: str | None) -> None:
    assert entry(score(shipped, lead=contact(jobtitle=title)), "director_or_above") is None


@pytest.mark.parametrize(
    "industry",
    ["MANUFACTURING", "manufacturing", "Machinery", "MACHINERY", "Industrial Automation",
     "INDUSTRIAL_AUTOMATION", " industrial automation ", "AUTOMOTIVE", "製造業"],
)
def test_given_target_industry_in_any_case_fit_is_10(shipped: Rules, industry: str) -> None:
    result = score(shipped, firm=company(industry=industry))

    assert entry(result, "target_industry") is not None
    assert result.segments["industry"] == "manufacturing"


@pytest.mark.parametrize("employees", ["999", "", "n/a", None, "lots"])
def test_given_fewer_or_unreadable_employee_counts_no_size_points(
    shipped: Rules, employees: str | None,
) -> None:
    assert entry(score(shipped, firm=company(numberofemployees=employees)),
                 "large_company") is None


def test_given_score_exactly_50_without_mql_conditions_is_not_hot(shipped: Rules) -> None:
    # 30 (consultation) + 20 (contact us) = 50: not above 50, and no webinar -> no MQL.
    result = score(shipped, [act(K.CONSULTATION_REQUEST), act(K.CONTACT_US)])

    assert result.total == 50
    assert not result.is_mql
    assert result.stage == "comparison"


def test_given_score_above_50_without_webinar_stage_is_hot_but_not_mql(
    shipped: Rules,
) -> None:
    result = score(shipped, [act(K.CONSULTATION_REQUEST), act(K.CONTACT_US)],
                   firm=company(numberofemployees="2000"))

    assert result.total == 60
    assert result.stage == "hot"
    assert not result.is_mql
    assert "webinar_attended in the last 60 days: 0 found" in result.mql_reason


def test_given_free_mail_address_fit_loses_5(shipped: Rules) -> None:
    result = score(shipped, lead=contact(email="someone@Gmail.com"))

    assert entry(result, "free_mail_domain") is not None
    assert result.fit == -5


@pytest.mark.parametrize("title", ["Student", "Graduate student", "大学院生", "求職中",
                                   "転職活動中", "Job seeker", "Intern"])
def test_given_student_or_job_seeker_title_fit_loses_20(shipped: Rules, title: str) -> None:
    result = score(shipped, lead=contact(jobtitle=title))

    assert result.fit == -20
    assert result.segments["role"] == "student"


def test_given_competitor_domain_lead_is_disqualified_and_not_mql(shipped: Rules) -> None:
    result = score(shipped, [act(K.CONSULTATION_REQUEST), act(K.WEBINAR_ATTENDED)],
                   lead=contact(email="spy@competitor.example"))

    assert result.total == 50
    assert not result.is_mql
    assert result.disqualified_by == ("competitor",)
    assert result.mql_reason.startswith("not MQL: disqualified by competitor")


def test_given_unsubscribe_lead_loses_20_and_is_disqualified(shipped: Rules) -> None:
    result = score(shipped, [act(K.EMAIL_UNSUBSCRIBE, 3)])

    assert entry(result, "email_unsubscribe").contribution == -20
    assert result.disqualified_by == ("unsubscribed",)


def test_given_resubscribe_after_unsubscribe_lead_is_not_disqualified(shipped: Rules) -> None:
    result = score(shipped, [act(K.EMAIL_UNSUBSCRIBE, 10), act(K.EMAIL_RESUBSCRIBE, 2)])

    assert result.disqualified_by == ()


def test_given_hard_bounce_minus_30_and_disqualified_soft_bounce_neither(
    shipped: Rules,
) -> None:
    hard = score(shipped, [act(K.EMAIL_BOUNCE, 1, bounce_type="hard")])
    soft = score(shipped, [act(K.EMAIL_BOUNCE, 1, bounce_type="soft")])

    assert hard.total == -30
    assert hard.disqualified_by == ("hard_bounced",)
    assert soft.total == 0
    assert soft.disqualified_by == ()


def test_given_ten_opens_in_one_week_email_open_points_capped_at_3(shipped: Rules) -> None:
    result = score(shipped, [act(K.EMAIL_OPEN, 0.1 * n) for n in range(10)])

    opened = entry(result, "email_open")
    assert opened.matched == 10
    assert opened.points == 10
    assert opened.capped <= 3


def test_given_webinar_no_show_explanation_lists_it_with_zero_points(shipped: Rules) -> None:
    result = score(shipped, [act(K.WEBINAR_NO_SHOW)])

    no_show = entry(result, "webinar_no_show")
    assert no_show is not None
    assert no_show.contribution == 0


def test_given_behaviour_90_days_old_points_have_halved(shipped: Rules) -> None:
    result = score(shipped, [act(K.CONSULTATION_REQUEST, 90)])

    assert entry(result, "consultation_request").decayed == Decimal("15.00")


def test_given_no_activity_and_no_fit_lead_is_cold_d4_unengaged(shipped: Rules) -> None:
    result = score(shipped, lead=contact(email=None))

    assert (result.total, result.grade, result.stage) == (0, "D4", "cold")
    assert result.segment == "unknown/unknown/unknown/unengaged"
    assert result.mql_reason.startswith("not MQL: score_webinar_consultation: total 0.00")
