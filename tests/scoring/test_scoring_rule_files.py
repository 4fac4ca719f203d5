"""Loading rule files: every mistake is one message naming the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.tomlpos import key_lines, line_of
from scoring import load_rules, validate_rules
from tests.scoring.scoring_helpers import BASE_SCORING, BASE_SEGMENTS, MAPPINGS

MARK = "# <-"


def write(folder: Path, scoring: str = BASE_SCORING, segments: str = BASE_SEGMENTS) -> Path:
    (folder / "scoring.toml").write_text(scoring, encoding="utf-8")
    (folder / "segments.toml").write_text(segments, encoding="utf-8")
    return folder


def marked_line(text: str) -> int:
    """The line carrying the `# <-` marker: where the message must point."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if MARK in line)


BEHAVIOUR = """
[[behaviour]]
id = "visit"
group = "behaviour"
kinds = ["page_view"]
points = 5
"""

MISTAKES = {
    "unknown key": ('[[behaviour]]\nid = "v"\ngroup = "behaviour"\nkinds = ["page_view"]\n'
                    "pionts = 5 # <-\n", "unknown key 'pionts'; did you mean 'points'?"),
    "wrong type": ('[[behaviour]]\nid = "v"\ngroup = "behaviour"\nkinds = ["page_view"]\n'
                   'points = "ten" # <-\n', 'expected a number, got "ten"'),
    "missing key": ('[[behaviour]] # <-\nid = "v"\ngroup = "behaviour"\nkinds = ["page_view"]\n',
                    "behaviour[1].points: missing required key 'points'"),
    "unknown group": ('[[behaviour]]\nid = "v"\ngroup = "behavior" # <-\nkinds = ["page_view"]\n'
                      "points = 1\n", "unknown group 'behavior' (did you mean 'behaviour'?)"),
    "unknown kind": ('[[behaviour]]\nid = "v"\ngroup = "behaviour"\nkinds = [\n  "page_view",\n'
                     '  "pageview", # <-\n]\npoints = 1\n',
                     "behaviour[1].kinds[1]: unknown activity kind 'pageview'"),
    "negative window": ('[[behaviour]]\nid = "v"\ngroup = "behaviour"\nkinds = ["page_view"]\n'
                        "points = 1\n[behaviour.cap_window]\npoints = 3\ndays = -7 # <-\n",
                        "cap_window.days: expected a number greater than 0, got -7"),
    "bad decay": ('[[behaviour]]\nid = "v"\ngroup = "behaviour"\nkinds = ["page_view"]\n'
                  'points = 1\ndecay = { type = "exponential", days = 9 } # <-\n',
                  'expected a decay table: { type = "half_life", days = N }'),
    "duplicate id": ('[[behaviour]]\nid = "visit" # <-\ngroup = "behaviour"\n'
                     'kinds = ["page_view"]\npoints = 1\n', "rule id 'visit' is used twice"),
    "once with window": ('[[behaviour]] # <-\nid = "v"\ngroup = "behaviour"\n'
                         'kinds = ["page_view"]\npoints = 1\nonce = true\n'
                         "cap_window = { points = 3, days = 7 }\n",
                         "`cap_window` has no effect on a rule with `once = true`"),
    "unknown field": ('[[fit]]\nid = "f"\ngroup = "profile"\npoints = 1\n'
                      'when = { field = "company.numberofemployes", min = 1 } # <-\n',
                      "(did you mean 'company.numberofemployees'?)"),
    "bad field ref": ('[[fit]]\nid = "f"\ngroup = "profile"\npoints = 1\n'
                      'when = { field = "account.industry", equals = "x" } # <-\n',
                      "fit[0].when.field: expected contact.<property> or company.<property>, "
                      'got "account.industry"'),
    "bad regex": ('[[fit]]\nid = "f"\ngroup = "profile"\npoints = 1\n'
                  "when = { field = \"contact.jobtitle\", regex = '(vp' } # <-\n",
                  "fit[0].when.regex: not a valid regular expression"),
    "no test": ('[[fit]]\nid = "f"\ngroup = "profile"\npoints = 1\n'
                'when = { field = "contact.jobtitle" } # <-\n', "expected at least one test"),
    "score in fit": ('[[fit]]\nid = "f"\ngroup = "profile"\npoints = 1\n'
                     'when = { score = "total", min = 5 } # <-\n',
                     "score conditions are not allowed in fit rules"),
    "fit in engagement group": ('[[fit]]\nid = "f"\ngroup = "behaviour" # <-\npoints = 1\n'
                                'when = { field = "contact.jobtitle", missing = true }\n',
                                "fit rules belong in 'fit' groups"),
    "not a clause": ('[[mql.rules]]\nid = "m"\nwhen = { scor = "total", min = 5 } # <-\n',
                     "expected a condition table with one of the keys field, score, activity"),
    "nested clause": ('[[mql.rules]]\nid = "m"\nwhen.all = [\n  { score = "total", min = 50 },\n'
                      '  { activity = "webinar_attended", within_days = -60 }, # <-\n]\n',
                      "mql.rules[0].when.all[1].within_days: expected a number greater than 0"),
    "deep unknown key": ('[[mql.rules]]\nid = "m"\nwhen.any = [\n'
                         '  { all = [{ score = "total", min = 5 }, { activity = "meeting", '
                         'within = 9 }] }, # <-\n]\n',
                         "mql.rules[0].when.any[0].all[1].within: unknown key 'within'; did you "
                         "mean 'within_days'?"),
    "is_mql in mql": ('[[mql.rules]]\nid = "m"\nwhen = { is_mql = true } # <-\n',
                      "is_mql is not allowed in MQL rules"),
    "unknown score": ('[[stages.rules]]\nstage = "hot"\nwhen = { score = "totl", above = 50 } '
                      "# <-\n", "unknown score 'totl' (did you mean 'total'?)"),
    "thresholds order": ("[grade]\nfit_thresholds = [5, 15, 25] # <-\n"
                         "engagement_thresholds = [50, 30, 10]\n",
                         "grade.fit_thresholds: expected three thresholds in strictly "
                         "descending order"),
    "top-level typo": ("grades = 1 # <-\n", "unknown key 'grades'; did you mean 'grade'?"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES), ids=list(MISTAKES))
def test_given_mistake_in_scoring_toml_message_names_file_line_and_key(
    tmp_path: Path, mistake: str,
) -> None:
    snippet, expected = MISTAKES[mistake]
    base = BASE_SCORING
    if snippet.startswith("[grade]"):
        base = base.replace("[grade]\nfit_thresholds = [25, 15, 5]\n"
                            "engagement_thresholds = [50, 30, 10]\n", "")
    text = (snippet + base) if snippet.startswith("grades") else (base + BEHAVIOUR + snippet)
    folder = write(tmp_path, scoring=text)

    problems = validate_rules(folder)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{folder / 'scoring.toml'}:{marked_line(text)}: "), problems
    assert expected in problems[0]


SEGMENT_MISTAKES = {
    "separator in value": ('[[dimensions.rules]]\nvalue = "a/b" # <-\n'
                           'when = { field = "company.industry", missing = true }\n',
                           "value 'a/b' contains the separator '/'"),
    "unknown key": ('[[dimensions.rules]]\nvalue = "x"\nwhn = { is_mql = true } # <-\n',
                    "unknown key 'whn'; did you mean 'when'?"),
    "unknown kind": ('[[dimensions.rules]]\nvalue = "x"\n'
                     'when = { activity = "page_visit", within_days = 30 } # <-\n',
                     "unknown activity kind 'page_visit'"),
}


@pytest.mark.parametrize("mistake", list(SEGMENT_MISTAKES), ids=list(SEGMENT_MISTAKES))
def test_given_mistake_in_segments_toml_message_names_file_line_and_key(
    tmp_path: Path, mistake: str,
) -> None:
    snippet, expected = SEGMENT_MISTAKES[mistake]
    text = BASE_SEGMENTS + snippet
    folder = write(tmp_path, segments=text)

    problems = validate_rules(folder)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{folder / 'segments.toml'}:{marked_line(text)}: "), problems
    assert expected in problems[0]


def test_given_toml_syntax_error_message_gives_file_and_line(tmp_path: Path) -> None:
    text = BASE_SCORING + '\n[[behaviour]]\nid = "v\n'
    folder = write(tmp_path, scoring=text)

    (problem,) = validate_rules(folder)

    assert problem.startswith(f"{folder / 'scoring.toml'}:{len(text.splitlines())}: "
                              "TOML syntax error at column")


def test_given_missing_file_message_names_it(tmp_path: Path) -> None:
    (tmp_path / "scoring.toml").write_text(BASE_SCORING, encoding="utf-8")

    assert validate_rules(tmp_path) == [f"{tmp_path / 'segments.toml'}: file not found"]


def test_given_file_not_utf8_message_names_it(tmp_path: Path) -> None:
    write(tmp_path)
    (tmp_path / "segments.toml").write_bytes(b"separator = '\xff'\n")

    (problem,) = validate_rules(tmp_path)

    assert problem.startswith(f"{tmp_path / 'segments.toml'}: not UTF-8 text")


def test_given_several_mistakes_each_gets_one_message_in_line_order(tmp_path: Path) -> None:
    text = BASE_SCORING + BEHAVIOUR.replace('"page_view"', '"page_veiw"').replace(
        "points = 5", "points = true")
    folder = write(tmp_path, scoring=text, segments="separator = 3\n" + BASE_SEGMENTS)

    problems = validate_rules(folder)

    assert [p.split(": ", 1)[1] for p in problems] == [
        "behaviour[0].kinds[0]: unknown activity kind 'page_veiw' (did you mean 'page_view'?); "
        "expected a core.models.ActivityKind value or a name listed in custom_activity_kinds",
        "behaviour[0].points: expected a number, got true",
        "separator: expected text in quotes, got 3",
    ]


@pytest.mark.parametrize(
    "scoring",
    ["behaviour = 5\n" + BASE_SCORING, "groups = []\n" + BASE_SCORING.replace(
        "[groups.behaviour]\naxis = \"engagement\"\n\n[groups.profile]\naxis = \"fit\"\n", ""),
     BASE_SCORING + '[[fit]]\nid = "f"\ngroup = "profile"\npoints = 1\nwhen = "jobtitle"\n',
     BASE_SCORING + '[[mql.rules]]\nid = "m"\nwhen.all = "x"\n',
     BASE_SCORING + '[[mql.rules]]\nid = "m"\nwhen = { activity = [1, "nope"] }\n'],
    ids=["list-is-number", "groups-is-list", "clause-is-text", "all-is-text", "odd-kinds"],
)
def test_given_values_of_the_wrong_shape_problems_are_reported_not_raised(
    tmp_path: Path, scoring: str,
) -> None:
    problems = validate_rules(write(tmp_path, scoring=scoring))

    assert problems
    assert all(p.startswith(str(tmp_path / "scoring.toml")) for p in problems)


def test_given_bad_rules_load_rules_raises_config_error_listing_problems(tmp_path: Path) -> None:
    folder = write(tmp_path, scoring=BASE_SCORING + "typo = 1\n")

    with pytest.raises(ConfigError) as caught:
        load_rules(folder)

    assert caught.value.problems == validate_rules(folder)
    assert "typo" in str(caught.value)


def test_given_good_rules_load_rules_returns_rules_with_a_stable_version(tmp_path: Path) -> None:
    first = load_rules(write(tmp_path))
    again = load_rules(tmp_path)

    assert first.version == again.version
    assert load_rules(MAPPINGS).version != first.version


def test_key_lines_follow_tables_arrays_inline_tables_and_strings() -> None:
    text = '''a = 1
[groups.web]   # comment
decay = { type = "linear", days = 3 }
s = """two
lines"""
[[rule]]
id = "x"
[[rule]]
when.all = [
  { score = "t", min = 1 },  # c
  { any = [ { activity = "k" }, { field = "contact.x", in = ["a,]", 'b}'] } ] },
]
[rule.sub]
k = 2
s2 = """with \\""" inside"""
t = 1979-05-27T07:32:00Z
'''
    lines = key_lines(text)

    assert lines[("groups", "web", "decay", "days")] == 3
    assert lines[("rule", 1, "when", "all", 0, "min")] == 10
    assert lines[("rule", 1, "when", "all", 1, "any", 1, "in", 1)] == 11
    assert lines[("rule", 1, "sub", "k")] == 14
    assert lines[("rule", 1, "sub", "t")] == 16
    assert line_of(lines, ("rule", 0, "missing_key")) == 6
    assert line_of(lines, ("nowhere",)) is None
