"""Account scores and buying groups (`scoring.accounts`): each method, roles, the buying-group
window's edges, account MQL rules, and the `[account]` section's validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.freemail import company_domain, site_domain
from scoring import load_rules, validate_rules
from scoring.account_formula import compile_formula
from scoring.account_schema import AccountSection
from scoring.accounts import AccountMember, AccountModel
from tests.scoring.scoring_helpers import BASE_SCORING, BASE_SEGMENTS

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ROLES = [
    {"name": "director_plus", "jobtitle_pattern": "部長(?!代理)|取締役|Director|VP|Head"},
    {"name": "engineer", "jobtitle_pattern": r"engineer|エンジニア|技術|情報システム"},
]


def model(**section: object) -> AccountModel:
    data: dict[str, object] = {"roles": ROLES} | section
    return AccountModel.from_section(AccountSection.model_validate(data))


def member(score: float, title: str | None = None, days_ago: float | None = None,
           key: str = "") -> AccountMember:
    at = None if days_ago is None else NOW - timedelta(days=days_ago)
    return AccountMember(key or f"{score}-{title}@x.example", score, title, at)


def test_given_best_method_account_score_is_the_top_contact() -> None:
    result = model(method="best").compute([member(12), member(47), member(30)], NOW)
    assert result.score == 47
    assert result.contacts == 3


def test_given_diminishing_without_decay_weights_are_one_half_third() -> None:
    result = model(method="diminishing").compute([member(15), member(60), member(30)], NOW)
    assert result.score == 60 + 30 / 2 + 15 / 3  # 80


def test_given_diminishing_with_decay_weights_are_powers_of_decay() -> None:
    result = model(method="diminishing", decay=0.5).compute(
        [member(40), member(40), member(40)], NOW
    )
    assert result.score == 40 + 20 + 10


def test_given_formula_uses_second_and_engaged_counts() -> None:
    m = model(method="formula", formula="best + 0.5 * second + 5 * engaged",
              engaged_score=30)
    result = m.compute([member(50), member(20), member(10)], NOW)
    assert result.engaged == 1
    assert result.score == 50 + 10 + 5


def test_given_formula_divides_by_zero_result_is_zero_not_an_error() -> None:
    assert compile_formula("best / (contacts - contacts)")({"best": 3, "contacts": 2}) == 0.0


@pytest.mark.parametrize("text", [
    "__import__('os')", "best.real", "open('x')", "best if engaged else 0", "[best]",
    "best ** 2", "sum(best)", "best and engaged", "x + 1", "'a'",
])
def test_given_formula_outside_the_grammar_it_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        compile_formula(text)


def test_given_no_contacts_score_is_zero_and_nothing_engaged() -> None:
    result = model(method="diminishing").compute([], NOW)
    assert (result.score, result.engaged, result.buying_group, result.mql) == (0, 0, False, False)


def test_given_engaged_by_score_or_recent_activity_both_count() -> None:
    m = model(engaged_score=30, engaged_days=30)
    result = m.compute([member(30), member(5, days_ago=30), member(5, days_ago=30.01),
                        member(29.9)], NOW)
    assert result.engaged == 2  # score at the bar; activity exactly at the window's start


def test_given_titles_roles_follow_the_patterns_case_ignored() -> None:
    m = model()
    assert m.roles_of("情報システム部 部長") == ("director_plus", "engineer")
    assert m.roles_of("部長代理") == ()
    assert m.roles_of("senior ENGINEER") == ("engineer",)
    assert m.roles_of(None) == ()


def test_given_required_roles_active_within_window_buying_group_is_complete() -> None:
    m = model(buying_group={"roles": ["director_plus", "engineer"], "within_days": 30})
    result = m.compute([member(5, "製造部 部長", days_ago=30), member(5, "Engineer", 1)], NOW)
    assert result.buying_group
    assert result.buying_group_roles == ("director_plus", "engineer")


def test_given_one_role_just_outside_window_buying_group_is_incomplete() -> None:
    m = model(buying_group={"roles": ["director_plus", "engineer"], "within_days": 30})
    result = m.compute(
        [member(90, "製造部 部長", days_ago=30 + 1 / 86400), member(5, "Engineer", 1)], NOW
    )
    assert not result.buying_group  # a high score does not stand in for recent activity
    assert result.buying_group_roles == ("engineer",)


def test_given_role_holder_without_activity_does_not_complete_buying_group() -> None:
    m = model(buying_group={"roles": ["director_plus", "engineer"]})
    result = m.compute([member(80, "取締役"), member(5, "エンジニア", days_ago=2)], NOW)
    assert not result.buying_group


def test_given_two_engaged_including_director_account_is_mql() -> None:
    m = model(mql=[{"id": "two_with_director", "min_engaged": 2, "roles": ["director_plus"]}])
    result = m.compute([member(40, "VP of Sales"), member(35, "Analyst")], NOW)
    assert result.mql and result.mql_rule == "two_with_director"
    assert result.engaged_roles == ("director_plus",)


def test_given_director_not_engaged_account_is_not_mql() -> None:
    m = model(mql=[{"id": "two_with_director", "min_engaged": 2, "roles": ["director_plus"]}])
    result = m.compute([member(10, "VP of Sales", days_ago=45), member(35, "Analyst"),
                        member(31, "Engineer")], NOW)
    assert result.engaged == 2
    assert not result.mql and result.mql_rule is None


def test_given_several_mql_rules_the_first_that_holds_names_the_mql() -> None:
    m = model(
        buying_group={"roles": ["director_plus", "engineer"]},
        mql=[
            {"id": "score", "min_engaged": 0, "min_score": 200},
            {"id": "group", "min_engaged": 0, "buying_group": True},
            {"id": "one", "min_engaged": 1},
        ],
    )
    result = m.compute([member(5, "部長", days_ago=1), member(5, "技術部", days_ago=1)], NOW)
    assert result.mql_rule == "group"


def test_given_naive_now_it_is_refused() -> None:
    with pytest.raises(ValueError):
        model().compute([member(1)], NOW.replace(tzinfo=None))


def test_given_free_mail_or_site_forms_domains_are_normalised() -> None:
    assert company_domain("a@gmail.com") is None
    assert company_domain("a@docomo.ne.jp") is None
    assert company_domain("a@Acme.co.jp") == "acme.co.jp"
    assert company_domain("a@corp.example", frozenset({"corp.example"})) is None
    assert site_domain("https://www.Acme.co.jp/ja/") == "acme.co.jp"
    assert site_domain("acme.co.jp") == "acme.co.jp"
    assert site_domain("  ") is None


# ------------------------------------------------------------------ the rule file
ACCOUNT_OK = """
[account]
method = "best"

[[account.roles]]
name = "director_plus"
jobtitle_pattern = "部長"

[account.buying_group]
roles = ["director_plus"]
"""


def write(folder: Path, extra: str) -> Path:
    (folder / "scoring.toml").write_text(BASE_SCORING + extra, encoding="utf-8")
    (folder / "segments.toml").write_text(BASE_SEGMENTS, encoding="utf-8")
    return folder


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_given_valid_account_section_it_loads() -> None:
    from scoring import rules_from_toml

    rules = rules_from_toml(BASE_SCORING + ACCOUNT_OK, BASE_SEGMENTS)
    assert rules.scoring.account is not None
    assert rules.scoring.account.method == "best"


def test_given_account_section_lead_rule_version_is_unchanged() -> None:
    from scoring import rules_from_toml

    assert rules_from_toml(BASE_SCORING + ACCOUNT_OK, BASE_SEGMENTS).version == \
        rules_from_toml(BASE_SCORING, BASE_SEGMENTS).version


@pytest.mark.parametrize(("extra", "needle", "expected"), [
    (ACCOUNT_OK.replace('method = "best"', 'methd = "best"'), "methd",
     "account.methd: unknown key 'methd'; did you mean 'method'?"),
    (ACCOUNT_OK.replace('roles = ["director_plus"]', 'roles = ["director_plsu"]'),
     "director_plsu", "account.buying_group.roles[0]: unknown role 'director_plsu' "
     "(did you mean 'director_plus'?)"),
    (ACCOUNT_OK.replace('"部長"', '"(a+)+"'), "(a+)+", "account.roles[0].jobtitle_pattern"),
    (ACCOUNT_OK.replace('method = "best"', 'method = "formula"\nformula = "best ** 2"'),
     "formula =", "account.formula: BinOp is not allowed"),
    (ACCOUNT_OK.replace('method = "best"', 'method = "avg"'), "avg", "account.method"),
])
def test_given_mistake_in_account_section_message_names_file_line_and_key(
    tmp_path: Path, extra: str, needle: str, expected: str
) -> None:
    folder = write(tmp_path, extra)
    problems = validate_rules(folder)
    text = BASE_SCORING + extra
    assert len(problems) == 1, problems
    assert f"scoring.toml:{line_of(text, needle)}: " in problems[0]
    assert expected in problems[0]
    with pytest.raises(ConfigError):
        load_rules(folder)
