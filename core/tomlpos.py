"""Where each key of a TOML document is written: key path -> line number.

tomllib gives values but no positions, so this scans the text once more. It only runs on
text tomllib has accepted, and it is a best effort: it understands tables, arrays of tables,
dotted and quoted keys, inline tables, arrays across lines, all four string forms and
comments, which is what ordinary rule files contain.

It also places elements of arrays that span lines (`when.all = [ {...}, {...} ]`), which the
scoring rules use for compound conditions. `core.tomlfile` builds its messages on it.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Sequence

KeyPath = tuple[str | int, ...]

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map every table, key and array element to the 1-based line where it starts."""
    scanner = _Scanner(text)
    with contextlib.suppress(IndexError, ValueError):  # text ended early: keep what we have
        scanner.document()
    return scanner.lines


def line_of(lines: dict[KeyPath, int], path: Sequence[str | int]) -> int | None:
    """The line of `path`, else of its longest known prefix (the table a missing key
    belongs in), else None."""
    key = tuple(path)
    while key:
        if key in lines:
            return lines[key]
        key = key[:-1]
    return None


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.newlines = [n for n, ch in enumerate(text) if ch == "\n"]
        self.lines: dict[KeyPath, int] = {}
        self.array_tables: dict[KeyPath, int] = {}

    # -- positions
    def line(self) -> int:
        return bisect.bisect_left(self.newlines, self.i) + 1

    def mark(self, path: KeyPath, line: int) -> None:
        self.lines.setdefault(path, line)

    # -- whitespace
    def skip_blank(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t":
            self.i += 1

    def skip_space(self) -> None:
        """Blanks, newlines and comments."""
        text = self.text
        while self.i < len(text):
            ch = text[self.i]
            if ch in " \t\r\n":
                self.i += 1
            elif ch == "#":
                end = text.find("\n", self.i)
                self.i = len(text) if end < 0 else end
            else:
                return

    # -- document
    def progress(self, start: int) -> None:
        if self.i <= start:
            raise ValueError("scanner made no progress")  # unexpected text: stop, keep lines

    def document(self) -> None:
        current: KeyPath = ()
        while True:
            self.skip_space()
            if self.i >= len(self.text):
                return
            start = self.i
            line = self.line()
            if self.text.startswith("[[", self.i):
                self.i += 2
                parts = self.key()
                base = (*self.resolve(parts[:-1]), parts[-1])
                self.i = self.text.index("]]", self.i) + 2
                self.mark(base, line)
                index = self.array_tables.get(base, 0)
                self.array_tables[base] = index + 1
                current = (*base, index)
                self.mark(current, line)
            elif self.text[self.i] == "[":
                self.i += 1
                parts = self.key()
                current = self.resolve(parts)
                self.i = self.text.index("]", self.i) + 1
                self.mark(current, line)
            else:
                self.keyval(current)
            self.progress(start)

    def resolve(self, parts: list[str]) -> KeyPath:
        """A header's path, stepping into the last element of each array of tables."""
        line = self.line()
        path: KeyPath = ()
        for part in parts:
            path = (*path, part)
            self.mark(path, line)
            if path in self.array_tables:
                path = (*path, self.array_tables[path] - 1)
        return path

    def keyval(self, table: KeyPath) -> None:
        line = self.line()
        parts = self.key()
        path = table
        for part in parts:
            path = (*path, part)
            self.mark(path, line)
        self.skip_blank()
        if self.text[self.i] == "=":
            self.i += 1
        self.value(path)

    def key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self.skip_blank()
            ch = self.text[self.i]
            if ch in "\"'":
                parts.append(self.string())
            else:
                start = self.i
                while self.i < len(self.text) and self.text[self.i] in _BARE:
                    self.i += 1
                parts.append(self.text[start : self.i])
            self.skip_blank()
            if self.i < len(self.text) and self.text[self.i] == ".":
                self.i += 1
                continue
            return parts

    # -- values
    def value(self, path: KeyPath) -> None:
        self.skip_blank()
        ch = self.text[self.i]
        if ch == "{":
            self.inline_table(path)
        elif ch == "[":
            self.array(path)
        elif ch in "\"'":
            self.string()
        else:
            while self.i < len(self.text) and self.text[self.i] not in ",]}\r\n#":
                self.i += 1

    def inline_table(self, path: KeyPath) -> None:
        self.i += 1
        while True:
            self.skip_space()
            if self.text[self.i] == "}":
                self.i += 1
                return
            if self.text[self.i] == ",":
                self.i += 1
                continue
            start = self.i
            self.keyval(path)
            self.progress(start)

    def array(self, path: KeyPath) -> None:
        self.i += 1
        index = 0
        while True:
            self.skip_space()
            if self.text[self.i] == "]":
                self.i += 1
                return
            element = (*path, index)
            self.mark(element, self.line())
            start = self.i
            self.value(element)
            self.progress(start)
            self.skip_space()
            if self.text[self.i] == ",":
                self.i += 1
            index += 1

    def string(self) -> str:
        text = self.text
        quote = text[self.i]
        if text.startswith(quote * 3, self.i):
            end = self.i + 3
            while not text.startswith(quote * 3, end):
                end += 2 if (quote == '"' and text[end] == "\\") else 1
            while text.startswith(quote, end + 3):  # up to two quotes may end the content
                end += 1
            content = text[self.i + 3 : end]
            self.i = end + 3
            return content
        start = self.i + 1
        j = start
        while text[j] != quote:
            j += 2 if (quote == '"' and text[j] == "\\") else 1
        self.i = j + 1
        content = text[start:j]
        return content.replace('\\"', '"').replace("\\\\", "\\") if quote == '"' else content
