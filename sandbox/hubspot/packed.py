"""Compact storage for millions of seeded JSON records (email events, page views).

A Python dict of ten keys, with its nested `browser` and `location` dicts, costs about
1.4 KB; 20,000,000 of them do not fit in a 24 GB machine. A packed row is a tuple whose
first item is the record's key tuple (one object per distinct shape) and whose other items
are its values. Repeated strings and nested dicts or lists are stored once and shared by
every row that holds them, so a row costs about 250 bytes. Rows are unpacked into fresh
dicts only for the page being answered.

Shared nested values are never mutated: handlers only serialise what they unpack.
"""

from __future__ import annotations

import json
from typing import Any

Row = tuple[Any, ...]


class Packer:
    def __init__(self, unique: frozenset[str] = frozenset({"id"})) -> None:
        # Values of these keys are (nearly) all distinct: sharing them would only cost memory.
        self._unique = unique
        self._shapes: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._strings: dict[str, str] = {}
        self._nested: dict[str, Any] = {}

    def pack(self, record: dict[str, Any]) -> Row:
        keys = tuple(record)
        shape = self._shapes.setdefault(keys, keys)
        unique = self._unique
        return (
            shape,
            *(value if key in unique else self._share(value) for key, value in record.items()),
        )

    def _share(self, value: Any) -> Any:
        if type(value) is str:
            return self._strings.setdefault(value, value)
        if isinstance(value, dict | list):
            text = json.dumps(value, sort_keys=True, separators=(",", ":"))
            return self._nested.setdefault(text, value)
        return value

    def clear(self) -> None:
        self._shapes.clear()
        self._strings.clear()
        self._nested.clear()


def unpack(row: Row) -> dict[str, Any]:
    return dict(zip(row[0], row[1:], strict=True))


def field_of(row: Row, key: str, default: Any = None) -> Any:
    shape = row[0]
    return row[shape.index(key) + 1] if key in shape else default
