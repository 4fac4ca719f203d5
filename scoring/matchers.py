"""Value tests compiled once into plain predicates (regexes compiled, sets case-folded).

A text predicate takes the value's text form, already stripped, or None when the value is
missing; fields are read and stripped once per lead (see compile.Facts).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping

from core.models import AttributeValue
from core.regex import compile_glob, compile_regex
from scoring.fields import as_number, as_text
from scoring.schema import ValueTest, Where

TextPredicate = Callable[[str | None], bool]
AttributesPredicate = Callable[[Mapping[str, AttributeValue]], bool]


def compile_text_test(test: ValueTest) -> TextPredicate:
    """All tests in `test` must hold. A missing value (None) fails every test except
    `missing = true`; text that is not a number fails numeric tests."""
    if test.missing is not None:
        want_missing = test.missing
        return lambda text: (text is None) is want_missing

    sensitive = test.case_sensitive
    flags = 0 if sensitive else re.IGNORECASE
    checks: list[TextPredicate] = []

    def folded(items: list[str | int]) -> frozenset[str]:
        return frozenset(str(m).strip() if sensitive else str(m).strip().casefold()
                         for m in items)

    if isinstance(test.equals, bool):
        wanted_flag = "true" if test.equals else "false"
        checks.append(lambda s: s is not None and s.casefold() == wanted_flag)
    elif isinstance(test.equals, str):
        checks.append(_member(folded([test.equals]), sensitive, inside=True))
    elif isinstance(test.equals, float | int):
        checks.append(_remembered(_numeric(operator.eq, float(test.equals))))
    if test.in_ is not None:
        checks.append(_member(folded(test.in_), sensitive, inside=True))
    if test.not_in is not None:
        checks.append(_member(folded(test.not_in), sensitive, inside=False))
    if test.regex is not None:
        search = compile_regex(test.regex, flags).search
        checks.append(_remembered(lambda s: s is not None and search(s) is not None))
    if test.glob is not None:
        full = compile_glob(test.glob, flags).match
        checks.append(_remembered(lambda s: s is not None and full(s) is not None))
    bounds = [(test.min, operator.ge), (test.max, operator.le), (test.above, operator.gt),
              (test.below, operator.lt)]
    for bound, holds in bounds:
        if bound is not None:
            checks.append(_remembered(_numeric(holds, bound)))

    if len(checks) == 1:
        return checks[0]
    return lambda text: all(check(text) for check in checks)


def compile_test(test: ValueTest) -> Callable[[AttributeValue], bool]:
    """The same tests on a raw attribute value (str, number, bool or None)."""
    check = compile_text_test(test)
    return lambda value: check(as_text(value))


def compile_where(where: Where | None) -> AttributesPredicate | None:
    """None when there is nothing to test (the rule matches on kind alone)."""
    if where is None:
        return None
    tests = [(name, compile_test(test)) for name, test in where.tests()]
    if len(tests) == 1:
        ((name, check),) = tests
        return lambda attributes: check(attributes.get(name))
    return lambda attributes: all(check(attributes.get(name)) for name, check in tests)


def _member(members: frozenset[str], sensitive: bool, *, inside: bool) -> TextPredicate:
    if sensitive:
        if inside:
            return lambda s: s is not None and s in members
        return lambda s: s is not None and s not in members
    if inside:
        return lambda s: s is not None and s.casefold() in members
    return lambda s: s is not None and s.casefold() not in members


MEMO_SIZE = 4096


def _remembered(check: TextPredicate) -> TextPredicate:
    """Pattern and number tests remember their answers for recent texts: job titles, URLs
    and employee counts repeat across leads, and a dict lookup is far cheaper than a regex
    or a parse. The answer for a text never changes, so this is invisible apart from
    speed."""
    answers: dict[str | None, bool] = {}

    def test(text: str | None) -> bool:
        answer = answers.get(text)
        if answer is None:
            answer = check(text)
            if len(answers) >= MEMO_SIZE:
                answers.clear()
            answers[text] = answer
        return answer

    return test


def _numeric(holds: Callable[[float, float], bool], bound: float) -> TextPredicate:
    def on_text(text: str | None) -> bool:
        number = as_number(text)
        return number is not None and holds(number, bound)

    return on_text
