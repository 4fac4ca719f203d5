"""Read, validate and compile the rule files. The only module here that touches files.

Every problem becomes one message `FILE:LINE: key.path: what is wrong / what is expected`.
Bad input never escapes as a traceback: `load_rules` raises ConfigError, `validate_rules`
returns the messages.
"""

from __future__ import annotations

import json
import os
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from core.errors import ConfigError
from core.suggest import closest, model_keys, unknown_key
from core.tomlfile import TomlSyntaxError, parse_toml
from core.tomlpos import KeyPath, key_lines, line_of
from scoring.checks import check_scoring, check_segments
from scoring.compile import compile_rules
from scoring.rules import Rules
from scoring.schema import ScoringFile, SegmentsFile

_M = typing.TypeVar("_M", bound=BaseModel)

SCORING_FILE = "scoring.toml"
SEGMENTS_FILE = "segments.toml"


def load_rules(directory: str | os.PathLike[str]) -> Rules:
    """Load `scoring.toml` and `segments.toml` from `directory`; ConfigError lists every
    problem found (file, line, key, what is expected)."""
    folder = Path(directory)
    rules, problems = _build(_read(folder / SCORING_FILE), _read(folder / SEGMENTS_FILE))
    if rules is None:
        raise ConfigError(f"scoring rules in {folder} have {len(problems)} problem(s)", problems)
    return rules


def validate_rules(directory: str | os.PathLike[str]) -> list[str]:
    """All problems in the rule files of `directory`, one message each; [] when valid."""
    folder = Path(directory)
    return _build(_read(folder / SCORING_FILE), _read(folder / SEGMENTS_FILE))[1]


def rules_from_toml(
    scoring: str,
    segments: str,
    *,
    scoring_name: str = SCORING_FILE,
    segments_name: str = SEGMENTS_FILE,
) -> Rules:
    """Rules from TOML text (for tests and tools); names are used in messages only."""
    rules, problems = _build(_Source(scoring_name, scoring, None),
                             _Source(segments_name, segments, None))
    if rules is None:
        raise ConfigError(f"scoring rules have {len(problems)} problem(s)", problems)
    return rules


# ------------------------------------------------------------------------------ steps
@dataclass(frozen=True, slots=True)
class _Problem:
    line: int | None
    text: str

    def order(self) -> tuple[int, str]:
        return (self.line or 0, self.text)


class _Source:
    def __init__(self, name: str, text: str | None, error: str | None) -> None:
        self.name = name
        self.text = text
        self.error = error
        self.problems: list[_Problem] = []
        self._lines: dict[KeyPath, int] | None = None

    def line(self, path: Sequence[str | int]) -> int | None:
        if self.text is None:
            return None
        if self._lines is None:
            self._lines = key_lines(self.text)
        return line_of(self._lines, path)

    def problem(self, path: Sequence[str | int], text: str) -> _Problem:
        line = self.line(path)
        where = self.name if line is None else f"{self.name}:{line}"
        return _Problem(line, f"{where}: {_render(path)}: {text}" if path else f"{where}: {text}")


def _read(path: Path) -> _Source:
    try:
        return _Source(str(path), path.read_text(encoding="utf-8"), None)
    except FileNotFoundError:
        return _Source(str(path), None, "file not found")
    except UnicodeDecodeError as exc:
        return _Source(str(path), None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        return _Source(str(path), None, f"cannot be read ({exc.strerror})")


def _build(scoring_src: _Source, segments_src: _Source) -> tuple[Rules | None, list[str]]:
    """Every problem in both files, each file's in line order; Rules when there are none."""
    scoring_data, segments_data = _parse(scoring_src), _parse(segments_src)
    scoring = _model(scoring_src, scoring_data, ScoringFile)
    segments = _model(segments_src, segments_data, SegmentsFile)
    if scoring_data is not None:
        found = check_scoring(scoring_data)
        if segments_data is not None:
            found += check_segments(segments_data, scoring_data)
        sources = {"scoring": scoring_src, "segments": segments_src}
        for problem in found:
            source = sources[problem.file]
            source.problems.append(source.problem(problem.path, problem.message))
    problems = [p.text for source in (scoring_src, segments_src)
                for p in sorted(source.problems, key=_Problem.order)]
    if problems or scoring is None or segments is None:
        return None, problems
    return compile_rules(scoring, segments), []


def _parse(source: _Source) -> dict[str, Any] | None:
    if source.text is None:
        source.problems.append(_Problem(None, f"{source.name}: {source.error}"))
        return None
    try:
        return parse_toml(source.text)
    except TomlSyntaxError as exc:
        source.problems.append(_syntax_problem(source.name, str(exc)))
        return None


def _model(source: _Source, data: dict[str, Any] | None, model: type[_M]) -> _M | None:
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = _without_typo_echoes(model, exc.errors())
        source.problems += [_pydantic_problem(source, model, error) for error in errors]
        return None


def _without_typo_echoes(root: type[BaseModel], errors: list[ErrorDetails]
                         ) -> list[ErrorDetails]:
    """A misspelt required key shows up twice: as an unknown key and as a missing one.
    Keep only the unknown key, whose message suggests the right name."""
    misspelt = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            parent, key = error["loc"][:-1], str(error["loc"][-1])
            close = closest(key, model_keys(root, parent))
            if close is not None:
                misspelt.add((*parent, close))
    return [e for e in errors if not (e["type"] == "missing" and tuple(e["loc"]) in misspelt)]


def _syntax_problem(name: str, text: str) -> _Problem:
    found = re.search(r"\(at line (\d+), column (\d+)\)", text)
    if found is None:
        return _Problem(None, f"{name}: TOML syntax error: {text}")
    detail = text[: found.start()].strip()
    line = int(found.group(1))
    return _Problem(line, f"{name}:{line}: TOML syntax error at column {found.group(2)}: "
                          f"{detail}")


# --------------------------------------------------------------------------- messages
def _clean(loc: Sequence[str | int]) -> tuple[str | int, ...]:
    """Drop union tags (`<field>`, `<half_life>` ...) from a pydantic location."""
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith("<")
                                        and p.endswith(">")))


def _render(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if re.fullmatch(r"[A-Za-z0-9_\-]+", part) else json.dumps(part)
            out += f".{name}" if out else name
    return out


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _pydantic_problem(source: _Source, root: type[BaseModel], error: ErrorDetails) -> _Problem:
    loc = error["loc"]
    path = _clean(loc)
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        key = str(path[-1])
        allowed = model_keys(root, loc[:-1])
        text = unknown_key(key, allowed)
        if allowed:
            text += f" (expected one of: {', '.join(allowed)})"
        return source.problem(path, text)
    if kind == "missing":
        return source.problem(path, f"missing required key {str(path[-1])!r}")
    if kind == "string_pattern_mismatch":
        is_field = path[-1] == "field" or (len(path) > 1 and path[-2] == "custom_fields")
        wanted = ("contact.<property> or company.<property>" if is_field else
                  f"text matching {error.get('ctx', {}).get('pattern')}")
        return source.problem(path, f"expected {wanted}, got {_shown(value)}")
    expected = _EXPECTED.get(kind)
    if expected is not None:
        return source.problem(path, f"expected {expected}, got {_shown(value)}")
    text = error["msg"].removeprefix("Value error, ")
    if text.startswith("Input should be "):
        wanted = text.removeprefix("Input should be ")
        if kind in _BOUNDS:
            wanted = "a number " + wanted
        text = f"expected {wanted}, got {_shown(value)}"
    return source.problem(path, text)


_BOUNDS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})
_EXPECTED = {
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "string_type": "text in quotes",
    "bool_type": "true or false",
    "list_type": "a list [ ... ]",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}
