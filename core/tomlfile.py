"""Reading TOML files that people edit by hand, with messages that point at the line.

`tomllib` gives no positions for keys, so `key_line` asks `core.tomlpos`, which scans the
text once more, where a key path is written.

Every TOML text people write (the config file and every mapping file) is parsed by
`parse_toml`, which also bounds how deeply tables and arrays may nest (`MAX_DEPTH`): tomllib
itself raises RecursionError a few hundred levels down, and the checks after it recurse too.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from core.errors import ConfigError
from core.paths import shown
from core.suggest import model_keys, unknown_key
from core.tomlpos import key_lines, line_of

MAX_DEPTH = 32  # tables and arrays inside each other; the shipped files use at most 7


class TomlSyntaxError(ValueError):
    """Text that is not TOML, or TOML nested deeper than `MAX_DEPTH`; the message says
    where (`(at line N, column M)`, as tomllib writes it) when it can."""


def parse_toml(text: str) -> dict[str, Any]:
    """`text` parsed; TomlSyntaxError when it is not TOML or nests too deeply."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TomlSyntaxError(str(exc)) from None
    except RecursionError:
        data = None
    if data is None or too_deep(data):
        raise TomlSyntaxError(
            f"tables and arrays are nested too deeply (at most {MAX_DEPTH} levels)"
        )
    return data


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether dicts and lists in `value` nest more than `limit` levels (no recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def load_toml(path: Path) -> dict[str, Any]:
    """Parse `path`; a missing file or a syntax error raises ConfigError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{shown(path)}: file not found") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{shown(path)}: is a folder, not a file") from exc
    except OSError as exc:
        raise ConfigError(f"{shown(path)}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown(path)}: not UTF-8 text ({exc.reason} at byte {exc.start})"
                          ) from exc
    except ValueError as exc:  # a NUL byte in the path
        raise ConfigError(f"{shown(path)}: not a usable path ({exc})") from exc
    try:
        return parse_toml(text)
    except TomlSyntaxError as exc:
        raise ConfigError(f"{shown(path)}: not valid TOML: {exc}") from exc


ModelT = TypeVar("ModelT", bound=BaseModel)


def load_model(path: Path, model: type[ModelT]) -> ModelT:
    """Parse `path` and validate it as `model`; every mistake is one `file:line: key: what is
    expected` problem of a single ConfigError."""
    data = load_toml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        text = path.read_text(encoding="utf-8")
        problems = [
            f"{where(path, text, tuple(e['loc']))}: {dotted(tuple(e['loc'])) or '(file)'}: "
            f"{_message(model, e)}"
            for e in exc.errors()
        ]
        raise ConfigError(f"{path}: {len(problems)} problem(s)", problems) from None


def _message(model: type[BaseModel], error: ErrorDetails) -> str:
    """What is expected; for an unknown key, the closest known one (case-insensitive)."""
    if error["type"] == "extra_forbidden":
        loc = tuple(error["loc"])
        known = model_keys(model, loc[:-1])
        text = unknown_key(str(loc[-1]), known)
        return text + (f" (expected one of: {', '.join(known)})" if known else "")
    return error["msg"].removeprefix("Value error, ")


def key_line(text: str, loc: tuple[str | int, ...]) -> int | None:
    """The 1-based line where the key path `loc` is written, or its nearest written parent."""
    return line_of(key_lines(text), loc)


def where(path: Path, text: str | None, loc: tuple[str | int, ...]) -> str:
    """`file:line` for messages (just `file` when the line cannot be found)."""
    line = key_line(text, loc) if text is not None else None
    return f"{path}:{line}" if line else str(path)


def dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
