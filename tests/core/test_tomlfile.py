import pytest

from core.tomlfile import dotted, key_line

TEXT = """# comment
[hubspot]
tier = "x"

[salesforce]
auth = "jwt"

[[rules]]
id = "a"

[[rules]]
id = "b"
points = "x"
"""


@pytest.mark.parametrize(
    ("loc", "line"),
    [
        (("hubspot", "tier"), 3),
        (("salesforce", "auth"), 6),
        (("salesforce", "missing"), 5),  # nearest written parent: the table header
        (("rules", 1, "points"), 13),
        (("rules", 0, "points"), 8),  # not written in the first [[rules]]: its header
        (("nothing",), None),
    ],
)
def test_key_line_finds_where_a_key_is_written(loc: tuple, line: int | None) -> None:
    assert key_line(TEXT, loc) == line


def test_dotted_renders_array_indexes() -> None:
    assert dotted(("rules", 1, "points")) == "rules[1].points"
