"""Fit rules on contact and company fields; score groups, caps, weights and grades."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.models import ActivityKind as K
from tests.scoring.scoring_helpers import act, company, contact, entry, rules, score


def fit(when: str, points: float = 10, rule_id: str = "f") -> str:
    return f'\n[[fit]]\nid = "{rule_id}"\ngroup = "profile"\npoints = {points}\nwhen = {when}\n'


@pytest.mark.parametrize(
    ("when", "lead", "firm", "matches"),
    [
        ('{ field = "company.industry", equals = "retail" }', {}, {"industry": "RETAIL"}, True),
        ('{ field = "company.industry", equals = "retail", case_sensitive = true }', {},
         {"industry": "RETAIL"}, False),
        ('{ field = "company.country", in = ["JP", "Japan"] }', {}, {"country": "japan"}, True),
        ('{ field = "company.country", not_in = ["US"] }', {}, {"country": "JP"}, True),
        ('{ field = "company.country", not_in = ["US"] }', {}, {"country": None}, False),
        ('{ field = "contact.jobtitle", regex = "^head" }', {"jobtitle": "Head of IT"}, {},
         True),
        ('{ field = "contact.jobtitle", regex = "^head" }', {"jobtitle": "IT head"}, {}, False),
        ('{ field = "company.domain", glob = "*.co.jp" }', {}, {"domain": "acme.co.jp"}, True),
        ('{ field = "company.domain", glob = "*.co.jp" }', {}, {"domain": "acme.com"}, False),
        ('{ field = "company.numberofemployees", min = 100, max = 999 }', {},
         {"numberofemployees": "999"}, True),
        ('{ field = "company.numberofemployees", min = 100, max = 999 }', {},
         {"numberofemployees": "1,000"}, False),
        ('{ field = "company.annualrevenue", above = 1000000 }', {},
         {"annualrevenue": "1000000.5"}, True),
        ('{ field = "company.annualrevenue", below = 10 }', {}, {"annualrevenue": "abc"}, False),
        ('{ field = "company.numberofemployees", equals = 50 }', {},
         {"numberofemployees": "50.0"}, True),
        ('{ field = "contact.jobtitle", missing = true }', {"jobtitle": "  "}, {}, True),
        ('{ field = "contact.jobtitle", missing = false }', {"jobtitle": "CEO"}, {}, True),
        ('{ field = "contact.email_domain", in = ["acme.example"] }', {}, {}, True),
    ],
)
def test_given_field_condition_fit_rule_matches_as_documented(
    when: str, lead: dict, firm: dict, matches: bool,
) -> None:
    r = rules(fit(when))

    result = score(r, lead=contact(**lead), firm=company(**firm))

    assert (entry(result, "f") is not None) is matches


def test_given_no_company_company_fields_are_missing() -> None:
    r = rules(fit('{ field = "company.industry", missing = true }'))

    assert score(r, firm=None).fit == 10


def test_given_no_email_email_domain_is_missing() -> None:
    r = rules(fit('{ field = "contact.email_domain", missing = true }'))

    assert score(r, lead=contact(email=None)).fit == 10


def test_given_all_clause_fit_rule_needs_every_field() -> None:
    r = rules(fit('{ all = [{ field = "company.country", equals = "JP" }, '
                  '{ field = "company.numberofemployees", min = 1000 }] }'))

    both = score(r, firm=company(country="JP", numberofemployees="1200"))
    one = score(r, firm=company(country="JP", numberofemployees="12"))

    assert (both.fit, one.fit) == (10, 0)


def test_given_any_and_not_clauses_fit_rule_follows_them() -> None:
    r = rules(fit('{ any = [{ field = "company.country", equals = "JP" }, '
                  '{ not = { field = "contact.jobtitle", missing = true } }] }'))

    assert score(r, firm=company(country="US"), lead=contact(jobtitle="CTO")).fit == 10
    assert score(r, firm=company(country="US"), lead=contact()).fit == 0


def test_given_negative_fit_rule_it_subtracts() -> None:
    r = rules(fit('{ field = "contact.email_domain", in = ["gmail.com"] }', -5))

    assert score(r, lead=contact(email="x@gmail.com")).fit == -5


# ------------------------------------------------------------------------ groups and caps
GROUPS = """
[groups.web]
axis = "engagement"
max = 20

[groups.mail]
axis = "engagement"
min = -25
weight = 0.5

[groups.profile]
axis = "fit"
weight = 2

[grade]
fit_thresholds = [25, 15, 5]
engagement_thresholds = [50, 30, 10]

[stages]
default = "cold"

[[behaviour]]
id = "visit"
group = "web"
kinds = ["page_view"]
points = 6

[[behaviour]]
id = "download"
group = "web"
kinds = ["whitepaper_download"]
points = 9

[[behaviour]]
id = "click"
group = "mail"
kinds = ["email_click"]
points = 3

[[behaviour]]
id = "bounce"
group = "mail"
kinds = ["email_bounce"]
points = -20

[[fit]]
id = "size"
group = "profile"
points = 7.5
when = { field = "company.numberofemployees", min = 1 }
"""


def test_given_group_cap_exceeded_rules_share_the_cut_and_sum_to_the_cap() -> None:
    r = rules(base=GROUPS)

    result = score(r, [act(K.PAGE_VIEW, n) for n in range(2)]
                   + [act(K.WHITEPAPER_DOWNLOAD, n) for n in range(2)])

    assert result.groups["web"] == 20  # 12 + 18 = 30, capped at 20
    assert entry(result, "visit").capped == 8  # 12 x 20/30
    assert entry(result, "download").capped == 12  # 18 x 20/30


def test_given_group_floor_negative_points_stop_at_minimum_and_weight_applies() -> None:
    r = rules(base=GROUPS)

    result = score(r, [act(K.EMAIL_BOUNCE, 1), act(K.EMAIL_BOUNCE, 2), act(K.EMAIL_CLICK)])

    # -40 + 3 = -37, floored at -25 (the cut comes from the negative rule), then x 0.5.
    assert entry(result, "bounce").capped == -28
    assert result.groups["mail"] == Decimal("-12.50")


def test_given_group_weight_total_is_the_weighted_sum() -> None:
    r = rules(base=GROUPS)

    result = score(r, [act(K.EMAIL_CLICK)], firm=company(numberofemployees="10"))

    assert result.groups == {"web": 0, "mail": Decimal("1.50"), "profile": 15}
    assert (result.engagement, result.fit, result.total) == (
        Decimal("1.50"), 15, Decimal("16.50"))
    assert entry(result, "size").contribution == 15
    assert sum(e.contribution for e in result.explanation) == result.total


@pytest.mark.parametrize(
    ("fit_points", "visits", "grade"),
    [(25, 5, "A1"), (24.99, 5, "B1"), (15, 3, "B2"), (5, 1, "C3"), (4, 0, "D4"),
     (0, 2, "D3")],
)
def test_given_fit_and_engagement_grade_is_letter_and_band(
    fit_points: float, visits: int, grade: str,
) -> None:
    r = rules(fit('{ field = "contact.email", missing = false }', fit_points)
              + '\n[[behaviour]]\nid = "v"\ngroup = "behaviour"\nkinds = ["page_view"]\n'
              "points = 10\n")

    assert score(r, [act(K.PAGE_VIEW, n) for n in range(visits)]).grade == grade
