"""Paths from the config file, the environment or the command line, checked before use.

A path the operating system cannot use (a NUL byte, longer than PATH_MAX, a name longer than
NAME_MAX) or one that names a folder where a file is expected fails later with an OSError
deep inside a run; these checks give the message at load time instead, and the callers put
the key, file and line (or the variable) in front of it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

MAX_PATH_BYTES = 4096  # Linux PATH_MAX; macOS allows 1024, the OS then says so itself
MAX_NAME_BYTES = 255  # NAME_MAX of every common file system

Expect = Literal["file", "folder"]


def shown(path: Path | str, limit: int = 120) -> str:
    """`path` for a message: shortened in the middle when it is very long."""
    text = str(path)
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]}...{text[-limit // 4 :]} ({len(text)} characters)"


def shape_problem(path: Path | str) -> str | None:
    """Why `path` can never be used on this system, or None (no file system access)."""
    text = str(path)
    if "\0" in text:
        return "contains a NUL byte"
    encoded = os.fsencode(text) if _encodable(text) else None
    if encoded is None:
        return "contains characters the file system cannot encode"
    if len(encoded) > MAX_PATH_BYTES:
        return f"is {len(encoded)} bytes long; paths may be at most {MAX_PATH_BYTES}"
    longest = max((len(part) for part in encoded.split(b"/")), default=0)
    if longest > MAX_NAME_BYTES:
        return f"has a name of {longest} bytes; each file or folder name may be at most " \
               f"{MAX_NAME_BYTES}"
    return None


def use_problem(path: Path, expect: Expect) -> str | None:
    """Why `path` cannot be used as a `expect` (file or folder), or None. A path that does
    not exist yet is fine (callers that need it check that themselves)."""
    problem = shape_problem(path)
    if problem is not None:
        return problem
    try:
        is_dir = path.is_dir() if path.exists() else None
    except OSError as exc:
        return f"cannot be used ({exc.strerror})"
    if is_dir is None:
        return None
    if expect == "file" and is_dir:
        return "is a folder; a file is expected"
    if expect == "folder" and not is_dir:
        return "is a file; a folder is expected"
    return None


def _encodable(text: str) -> bool:
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        return False
    return True


__all__ = ["MAX_NAME_BYTES", "MAX_PATH_BYTES", "shape_problem", "shown", "use_problem"]
