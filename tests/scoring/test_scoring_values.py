"""Reading property and attribute values defensively: odd values are missing, never errors."""

from __future__ import annotations

import pytest

from scoring.fields import as_number, as_text
from scoring.matchers import MEMO_SIZE, compile_text_test
from scoring.schema import ValueTest


@pytest.mark.parametrize(
    ("value", "number"),
    [("1200", 1200.0), (" 1,200 ", 1200.0), ("１２００", 1200.0), ("3.5", 3.5), (7, 7.0),
     (2.5, 2.5), ("", None), ("  ", None), ("n/a", None), ("1e999", None), ("nan", None),
     (None, None), (True, None), (10**400, None)],
)
def test_given_odd_values_numbers_are_read_or_missing_never_raised(
    value: str | int | float | bool | None, number: float | None,
) -> None:
    assert as_number(value) == number


@pytest.mark.parametrize(
    ("value", "text"),
    [(" Director ", "Director"), ("", None), (None, None), (True, "true"), (3.0, "3"),
     (2.5, "2.5"), (float("inf"), None), (12, "12"),
     pytest.param(10**5000, None, id="too-long-int")],
)
def test_given_odd_values_text_is_read_or_missing_never_raised(
    value: str | int | float | bool | None, text: str | None,
) -> None:
    assert as_text(value) == text


def test_given_more_texts_than_the_memo_holds_answers_stay_right() -> None:
    is_big = compile_text_test(ValueTest(min=500))
    by_regex = compile_text_test(ValueTest(regex="^1"))

    for n in range(MEMO_SIZE * 2 + 10):
        assert is_big(str(n)) is (n >= 500)
        assert by_regex(str(n)) is str(n).startswith("1")
