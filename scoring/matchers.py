"""Value tests compiled once into plain predicates (regexes compiled, sets case-folded)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping

from core.models import AttributeValue
from scoring.fields import as_number, as_text, is_missing
from scoring.schema import ValueTest, Where

Predicate = Callable[[AttributeValue], bool]
AttributesPredicate = Callable[[Mapping[str, AttributeValue]], bool]


def compile_test(test: ValueTest) -> Predicate:
    """One predicate for every test in `test` (all must hold). A missing value fails every
    test except `missing = true`; a value that is not a number fails numeric tests."""
    if test.missing is not None:
        want_missing = test.missing
        return lambda value: is_missing(value) is want_missing

    fold = (lambda s: s) if test.case_sensitive else str.casefold
    flags = 0 if test.case_sensitive else re.IGNORECASE
    text_checks: list[Callable[[str], bool]] = []
    number_checks: list[Callable[[float], bool]] = []

    if isinstance(test.equals, bool):
        wanted_text = "true" if test.equals else "false"
        text_checks.append(lambda s: s.casefold() == wanted_text)
    elif isinstance(test.equals, str):
        wanted = fold(test.equals.strip())
        text_checks.append(lambda s: fold(s) == wanted)
    elif isinstance(test.equals, float | int):
        wanted_number = float(test.equals)
        number_checks.append(lambda n: n == wanted_number)
    if test.in_ is not None:
        members = frozenset(fold(str(m).strip()) for m in test.in_)
        text_checks.append(lambda s: fold(s) in members)
    if test.not_in is not None:
        excluded = frozenset(fold(str(m).strip()) for m in test.not_in)
        text_checks.append(lambda s: fold(s) not in excluded)
    if test.regex is not None:
        search = re.compile(test.regex, flags).search
        text_checks.append(lambda s: search(s) is not None)
    if test.glob is not None:
        full = re.compile(fnmatch.translate(test.glob), flags).match
        text_checks.append(lambda s: full(s) is not None)
    if test.min is not None:
        low = test.min
        number_checks.append(lambda n: n >= low)
    if test.max is not None:
        high = test.max
        number_checks.append(lambda n: n <= high)
    if test.above is not None:
        floor = test.above
        number_checks.append(lambda n: n > floor)
    if test.below is not None:
        ceiling = test.below
        number_checks.append(lambda n: n < ceiling)

    if len(text_checks) == 1 and not number_checks:
        (only,) = text_checks

        def single_text(value: AttributeValue) -> bool:
            text = as_text(value)
            return text is not None and only(text)

        return single_text

    def predicate(value: AttributeValue) -> bool:
        if text_checks:
            text = as_text(value)
            if text is None or not all(check(text) for check in text_checks):
                return False
        if number_checks:
            number = as_number(value)
            if number is None or not all(check(number) for check in number_checks):
                return False
        return True

    return predicate


def compile_where(where: Where | None) -> AttributesPredicate | None:
    """None when there is nothing to test (the rule matches on kind alone)."""
    if where is None:
        return None
    tests = [(name, compile_test(test)) for name, test in where.tests()]
    if len(tests) == 1:
        ((name, check),) = tests
        return lambda attributes: check(attributes.get(name))
    return lambda attributes: all(check(attributes.get(name)) for name, check in tests)
