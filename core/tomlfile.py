"""Reading TOML files that people edit by hand, with messages that point at the line.

`tomllib` gives no positions for keys, so `key_line` finds where a dotted key is written by
scanning the text: table headers (`[a.b]`, `[[a.b]]`) and `key = value` lines. It is right
for ordinary hand-written files and answers None rather than guess wrong.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from core.errors import ConfigError

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-"']+)*)\s*=""")


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


def _split_key(raw: str) -> list[str]:
    parts = re.findall(r'"[^"]*"|\'[^\']*\'|[^.\s]+', raw)
    return [p.strip("\"'") for p in parts]


def key_line(text: str, loc: tuple[str | int, ...]) -> int | None:
    """The 1-based line where the key path `loc` is written, or its nearest written parent.

    Integer parts of `loc` index arrays of tables (`[[rules]]`): the n-th header of that name.
    """
    names = [part for part in loc if isinstance(part, str)]
    if not names:
        return None
    lines = text.splitlines()
    best: tuple[int, int] | None = None  # (matched depth, line number)
    table: list[str] = []
    seen_arrays: dict[tuple[str, ...], int] = {}
    table_index: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(lines, start=1):
        stripped = line.split("#", 1)[0] if '"' not in line and "'" not in line else line
        header = _HEADER.match(stripped)
        if header:
            table = _split_key(header.group(2))
            if header.group(1) == "[[":
                key = tuple(table)
                seen_arrays[key] = seen_arrays.get(key, -1) + 1
                table_index[key] = seen_arrays[key]
            depth = _match_depth(loc, table, table_index)
            if depth and (best is None or depth > best[0]):
                best = (depth, number)
            continue
        key = _KEY.match(stripped)
        if key:
            full = table + _split_key(key.group(1))
            depth = _match_depth(loc, full, table_index)
            if depth and (best is None or depth > best[0]):
                best = (depth, number)
    return best[1] if best else None


def _match_depth(
    loc: tuple[str | int, ...], written: list[str], table_index: dict[tuple[str, ...], int]
) -> int:
    """How many string parts of `loc` the written key path matches, in order, from the start."""
    depth = 0
    position = 0
    for i, part in enumerate(loc):
        if isinstance(part, int):
            prefix = tuple(p for p in loc[:i] if isinstance(p, str))
            if table_index.get(prefix, -2) != part and len(written) > len(prefix):
                return depth if position >= len(written) else 0
            continue
        if position >= len(written):
            return depth
        if written[position] != part:
            return 0 if position < len(written) else depth
        depth += 1
        position += 1
    return depth if position == len(written) else 0


def where(path: Path, text: str | None, loc: tuple[str | int, ...]) -> str:
    """`file:line` for messages (just `file` when the line cannot be found)."""
    line = key_line(text, loc) if text is not None else None
    return f"{path}:{line}" if line else str(path)


def dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
