"""Plain-text tables and values for the commands' text output."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime


def when(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def table(
    titles: Sequence[str],
    rows: Sequence[Sequence[str]],
    align: Sequence[str],
    footer: Sequence[str] | None = None,
) -> list[str]:
    body = [*rows, *([footer] if footer else [])]
    widths = [max(len(str(cell)) for cell in column) for column in zip(titles, *body, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return (
            "  "
            + "  ".join(
                f"{cell:{a}{w}}" for cell, a, w in zip(cells, align, widths, strict=True)
            ).rstrip()
        )

    out = [line(titles), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    if footer:
        out += [line(["-" * w for w in widths]), line(footer)]
    return out
