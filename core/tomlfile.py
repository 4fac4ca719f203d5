"""Reading TOML files that people edit by hand, with messages that point at the line.

`tomllib` gives no positions for keys, so `key_line` asks `core.tomlpos`, which scans the
text once more, where a key path is written.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from core.errors import ConfigError
from core.tomlpos import key_lines, line_of


def load_toml(path: Path) -> dict[str, Any]:
    """Parse `path`; a missing file or a syntax error raises ConfigError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


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
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        raise ConfigError(f"{path}: {len(problems)} problem(s)", problems) from None


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
