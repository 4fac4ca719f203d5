"""Regular expressions and globs written in mapping files, compiled within a budget.

Every pattern that comes from a mapping or config file (`forms.toml` name patterns,
`regex` and `glob` tests in `scoring.toml`/`segments.toml`, Task route globs in
`fields.toml`) is compiled here, so one set of limits holds everywhere:

- size: at most `MAX_PATTERN_LENGTH` characters, repeat counts (`{n}`, `{m,n}`) at most
  `MAX_REPEAT_COUNT` (Python's own limit raises OverflowError far above that);
- catastrophic backtracking: a quantifier nested in another quantifier where either of the
  two is unbounded (`(a+)+`, `(\\w*\\s?)*`, `(a{2,5})+`) is refused, because such a pattern can
  take exponential time on a text that almost matches. Possessive quantifiers (`a++`) and
  atomic groups (`(?>...)`) do not backtrack and are allowed. Overlapping alternatives under
  one quantifier (`(a|aa)+`) are not detected; the length limit bounds what they can cost;
- errors: `re.error`, `OverflowError` and `RecursionError` (groups nested hundreds deep)
  become one `ValueError` saying what is wrong, which the file loaders report with the
  file, line and key like any other mapping problem.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

MAX_PATTERN_LENGTH = 1000
MAX_REPEAT_COUNT = 1000

_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
_NO_BACKTRACK = {sre_constants.POSSESSIVE_REPEAT, sre_constants.ATOMIC_GROUP}
_UNBOUNDED = sre_constants.MAXREPEAT


@lru_cache(maxsize=1024)
def compile_regex(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """`pattern` compiled; ValueError (the message says why) when it is not acceptable."""
    _check_length(pattern, "regular expression")
    try:
        tree = sre_parse.parse(pattern, flags)
        _check_tree(tree)
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc})") from None
    except OverflowError:
        raise ValueError(
            f"not a valid regular expression (a repeat count is too large; at most "
            f"{MAX_REPEAT_COUNT})"
        ) from None
    except RecursionError:
        raise ValueError("regular expression nested too deeply") from None


@lru_cache(maxsize=1024)
def compile_glob(glob: str, flags: int = 0) -> re.Pattern[str]:
    """A shell-style glob (`manufacturing/*`) as a full-match regex; ValueError when too long.

    `fnmatch.translate` makes `*` match without backtracking, so only the size is bounded."""
    _check_length(glob, "glob")
    try:
        return re.compile(fnmatch.translate(glob), flags)
    except (re.error, OverflowError, RecursionError) as exc:  # not expected from translate
        raise ValueError(f"not a valid glob ({exc})") from None


def _check_length(text: str, what: str) -> None:
    if len(text) > MAX_PATTERN_LENGTH:
        raise ValueError(
            f"{what} is {len(text)} characters long; at most {MAX_PATTERN_LENGTH} are allowed"
        )


def _check_tree(tree: Any, outer: int = 1) -> None:
    """Walk the parsed pattern; `outer` is the largest repeat count of the enclosing
    quantifiers (1: none)."""
    for op, arg in tree:
        if op in _REPEATS:
            low, high, body = arg
            for count in (low, high):
                if count != _UNBOUNDED and count > MAX_REPEAT_COUNT:
                    raise ValueError(
                        f"repeat count {count} is too large; at most {MAX_REPEAT_COUNT}"
                    )
            if high > 1 and outer > 1 and _UNBOUNDED in (high, outer):
                raise ValueError(
                    "nested quantifiers such as (a+)+ or (a*b?)* can take exponential time "
                    "on text that almost matches; quantify the group once, or make it "
                    "possessive (a++) or atomic (?>...)"
                )
            _check_tree(body, max(outer, high))
        elif op in _NO_BACKTRACK:
            continue
        else:
            for part in _subpatterns(arg):
                _check_tree(part, outer)


def _subpatterns(arg: Any) -> list[Any]:
    if isinstance(arg, sre_parse.SubPattern):
        return [arg]
    if isinstance(arg, tuple | list):
        return [sub for item in arg for sub in _subpatterns(item)]
    return []


__all__ = ["MAX_PATTERN_LENGTH", "MAX_REPEAT_COUNT", "compile_glob", "compile_regex"]
