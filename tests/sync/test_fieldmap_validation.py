"""`fields.toml`: transforms, Task triggers, templates and routes are checked at load time,
every problem with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from sync.fieldmap import load_field_map, render_template, template_placeholders

ROOT = Path(__file__).resolve().parents[2]


def problems(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "fields.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_field_map(tmp_path)
    return caught.value.problems


def test_shipped_fields_file_loads() -> None:
    field_map = load_field_map(ROOT / "mappings")
    assert field_map.task.triggers == ["mql"]
    assert {m.source: m.format for m in field_map.field}["mql_date"] == "datetime"
    assert field_map.watched_fields("Lead") == []  # every shipped rule is `always`


def test_given_unknown_placeholder_the_line_of_the_template_is_named(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        '[task]\ntriggers = ["mql", "hot"]\nsubject = "ok {{first_name}}"\n'
        'hot_subject = "Hot: {{frist_name}}"\n',
    )
    (problem,) = found
    assert ":4:" in problem and "task.hot_subject" in problem and "frist_name" in problem


def test_given_bad_route_each_problem_names_its_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "[task]\n\n[[task.route]]\nsegment = \"manufacturing/*\"\n"
        "owner_id = \"005000000000001AAA\"\n"
        "\n[[task.route]]\nstage = \"hot\"\nowner_id = \"001000000000001AAA\"\n"
        "\n[[task.route]]\ntrigger = \"warm\"\nowner_id = \"00G000000000001\"\n",
    )
    assert any(":9:" in p and "task.route[1].owner_id" in p and "User (005" in p for p in found)
    assert any(":12:" in p and "task.route[2].trigger" in p for p in found)
    assert len(found) == 2


def test_given_unknown_trigger_or_a_trigger_twice_it_is_reported(tmp_path: Path) -> None:
    found = problems(tmp_path, '[task]\ntriggers = ["mql", "mql"]\n')
    assert any(":2:" in p and "listed twice" in p for p in found)
    found = problems(tmp_path, '[task]\ntriggers = ["mql", "warm"]\n')
    assert any(":2:" in p and "task.triggers[1]" in p for p in found)


def test_given_format_the_source_cannot_have_it_is_reported(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        '[[field]]\nsource = "score"\ntarget = "A__c"\nformat = "date"\n\n'
        '[[field]]\nsource = "contact.x"\ntarget = "B__c"\nformat = "time"\n',
    )
    assert any(":4:" in p and "cannot be applied to 'score'" in p for p in found)
    assert any(":9:" in p and "field[1].format" in p for p in found)


def test_given_reject_without_max_length_it_is_reported(tmp_path: Path) -> None:
    found = problems(
        tmp_path, '[[field]]\nsource = "segment"\ntarget = "A__c"\non_too_long = "reject"\n'
    )
    (problem,) = found
    assert ":1:" in problem and "needs max_length" in problem


def test_duplicate_target_names_the_line_of_the_second_mapping(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        '[[field]]\nsource = "score"\ntarget = "A__c"\n\n[[field]]\nsource = "fit"\n'
        'target = "A__c"\n',
    )
    assert len(found) == 2 and all(":7:" in p for p in found)  # on Lead and on Contact


def test_route_stage_takes_one_name_or_a_list(tmp_path: Path) -> None:
    (tmp_path / "fields.toml").write_text(
        '[[task.route]]\nstage = "Hot"\nowner_id = "005000000000001AAA"\n'
        '[[task.route]]\nstage = ["mql", "hot"]\nowner_id = "00G000000000001AAA"\n',
        encoding="utf-8",
    )
    routes = load_field_map(tmp_path).task.route
    assert [r.stage for r in routes] == [["Hot"], ["mql", "hot"]]


@pytest.mark.parametrize(
    ("template", "names", "rendered"),
    [
        ("{{a}} and {{ b }}", ["a", "b"], "1 and "),
        ("{a} and {b} {{", [], "{a} and {b} {{"),  # `{{` present: double-brace mode
        ("{a} and {b}", ["a", "b"], "1 and "),
        ("{{a}} {{missing}}", ["a", "missing"], "1 {{missing}}"),
    ],
)
def test_templates(template: str, names: list[str], rendered: str) -> None:
    assert template_placeholders(template) == names
    assert render_template(template, {"a": 1, "b": None}) == rendered
