"""Plain-text tables and values for the commands' text output."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime


def when(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def display_width(text: str) -> int:
    """Terminal columns `text` takes: East Asian wide and full-width characters (kanji,
    kana, full-width forms) take two, combining marks none."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def pad(text: str, width: int, align: str) -> str:
    """`text` padded to `width` terminal columns ("<" left, ">" right, "^" centre)."""
    room = max(width - display_width(text), 0)
    if align == ">":
        return " " * room + text
    if align == "^":
        return " " * (room // 2) + text + " " * (room - room // 2)
    return text + " " * room


def table(
    titles: Sequence[str],
    rows: Sequence[Sequence[str]],
    align: Sequence[str],
    footer: Sequence[str] | None = None,
) -> list[str]:
    """Columns lined up in terminal columns, so Japanese cells line up too."""
    body = [*rows, *([footer] if footer else [])]
    widths = [
        max(display_width(str(cell)) for cell in column)
        for column in zip(titles, *body, strict=True)
    ]

    def line(cells: Sequence[str]) -> str:
        return (
            "  "
            + "  ".join(
                pad(str(cell), w, a) for cell, a, w in zip(cells, align, widths, strict=True)
            ).rstrip()
        )

    out = [line(titles), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    if footer:
        out += [line(["-" * w for w in widths]), line(footer)]
    return out
