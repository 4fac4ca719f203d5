"""Small helpers shared by the state store's modules (`sync.state`, `sync.outcome_store`,
`sync.spool_store`): how instants are stored as text, and reads whose `IN (...)` lists are
bound a chunk at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from core.clock import Clock
from sync.db import Database, Row

# Values bound in one `IN (...)` (SQLite allows 32,766 parameters, PostgreSQL 65,535).
IN_CHUNK = 500


def seconds_iso(clock: Clock) -> Callable[[], str]:
    """The clock's now as ISO 8601 to the second: the stamp of bookkeeping columns."""
    return lambda: clock().isoformat(timespec="seconds")


def precise_iso(value: datetime) -> str:
    """To the microsecond, always with the fraction, so such texts order as the instants do
    (and a second-precision text `...:05+00:00` sorts before every `...:05.xxxxxx+00:00`)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def rows_in(
    db: Database, sql: str, values: Iterable[str], *extra: Any, repeat: int = 1
) -> Iterator[Row]:
    """The rows of `sql`, whose `IN ({marks})` (`repeat` times) takes `values` IN_CHUNK at a
    time, followed by the parameters `extra`."""
    for chunk in chunks(sorted(set(values)), IN_CHUNK):
        marks = ",".join("?" * len(chunk))
        yield from db.execute(sql.format(marks=marks), [*chunk * repeat, *extra])


def column_in(
    db: Database, sql: str, values: Iterable[str], *extra: Any, repeat: int = 1
) -> set[str]:
    """The first column of `rows_in`, as a set."""
    return {r[0] for r in rows_in(db, sql, values, *extra, repeat=repeat)}


def fetch(db: Database, table: str, column: str, values: list[str], build: Any) -> list[Any]:
    """`build(row)` for each row of `table` whose `column` is one of `values` (empty ones
    skipped)."""
    out: list[Any] = []
    for chunk in chunks([v for v in values if v], IN_CHUNK):
        marks = ",".join("?" * len(chunk))
        rows = db.execute(f"SELECT * FROM {table} WHERE {column} IN ({marks})", chunk)
        out.extend(build(r) for r in rows)
    return out


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
