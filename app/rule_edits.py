"""Proposed edits of `mappings/scoring.toml` as text, and their unified diffs.

A proposal changes one value of one rule in place (the rule's block runs from its `[[...]]`
header to the next header), so the rest of the file, comments included, stays as the admin
wrote it. `apply_to_copy` writes the edited file beside a copy of the other mapping files:
the folder `connector score simulate --rules DIR` replays. Nothing here touches the live
`mappings/` folder.
"""

from __future__ import annotations

import difflib
import re
import shutil
from pathlib import Path

from core.errors import ConfigError

SCORING_FILE = "scoring.toml"
_HEADER = re.compile(r"^\s*\[")
_NUMBER = r"-?\d+(?:\.\d+)?"


def _block(lines: list[str], header: str, rule_id: str) -> tuple[int, int]:
    """Line range [start, end) of the `[[header]]` block with `id = "rule_id"`."""
    wanted = re.compile(rf'^\s*id\s*=\s*"{re.escape(rule_id)}"\s*$')
    start = None
    for index, line in enumerate(lines):
        if _HEADER.match(line):
            if start is not None:
                return start, index
            start = index if line.strip() == f"[[{header}]]" else None
            if start is not None and not any(
                wanted.match(x) for x in _until_next_header(lines, index + 1)
            ):
                start = None
    if start is not None:
        return start, len(lines)
    raise ConfigError(f"{SCORING_FILE}: no [[{header}]] with id = {rule_id!r}")


def _until_next_header(lines: list[str], first: int) -> list[str]:
    out = []
    for line in lines[first:]:
        if _HEADER.match(line):
            break
        out.append(line)
    return out


def _number(value: float) -> str:
    return f"{value:g}" if float(value).is_integer() else f"{value:.2f}"


def set_behaviour_points(text: str, rule_id: str, points: float) -> str:
    """`points = N` of the behaviour rule `rule_id` set to `points`."""
    lines = text.splitlines(keepends=True)
    start, end = _block(lines, "behaviour", rule_id)
    pattern = re.compile(rf"^(\s*points\s*=\s*){_NUMBER}")
    for index in range(start, end):
        if pattern.match(lines[index]):
            lines[index] = pattern.sub(rf"\g<1>{_number(points)}", lines[index], count=1)
            return "".join(lines)
    raise ConfigError(f"{SCORING_FILE}: behaviour rule {rule_id!r} has no points line")


def set_mql_threshold(text: str, rule_id: str, threshold: float) -> str:
    """The score bound of the MQL rule `rule_id` (`min = N` or `above = N` inside its
    `{ score = ... }` clause) set to `min = threshold`."""
    lines = text.splitlines(keepends=True)
    start, end = _block(lines, "mql.rules", rule_id)
    pattern = re.compile(rf"(\{{\s*score\s*=\s*\"[^\"]+\"\s*,\s*)(?:min|above)(\s*=\s*){_NUMBER}")
    for index in range(start, end):
        if pattern.search(lines[index]):
            lines[index] = pattern.sub(
                rf"\g<1>min\g<2>{_number(threshold)}", lines[index], count=1
            )
            return "".join(lines)
    raise ConfigError(f"{SCORING_FILE}: MQL rule {rule_id!r} has no score clause on one line")


def set_group_decay_days(text: str, group: str, days: float) -> str:
    """The `days` of `[groups.<group>]`'s decay set to `days`."""
    lines = text.splitlines(keepends=True)
    header = f"[groups.{group}]"
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == header)
    except StopIteration:
        raise ConfigError(f"{SCORING_FILE}: no {header}") from None
    pattern = re.compile(rf"^(\s*decay\s*=\s*\{{.*days\s*=\s*){_NUMBER}")
    for index in range(start + 1, len(lines)):
        if _HEADER.match(lines[index]):
            break
        if pattern.match(lines[index]):
            lines[index] = pattern.sub(rf"\g<1>{_number(days)}", lines[index], count=1)
            return "".join(lines)
    raise ConfigError(f"{SCORING_FILE}: {header} has no decay with days")


def unified_diff(before: str, after: str, name: str = SCORING_FILE) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/mappings/{name}",
            tofile=f"b/mappings/{name}",
        )
    )


def apply_to_copy(mappings: Path, scoring_text: str, target: Path) -> Path:
    """A copy of the `mappings` folder in `target` with `scoring.toml` replaced."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(mappings, target)
    (target / SCORING_FILE).write_text(scoring_text, encoding="utf-8")
    return target
