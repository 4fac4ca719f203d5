"""One run at a time: an exclusive `flock` on a file beside the state database.

The kernel drops the lock when the holding process dies, even by kill -9, so a lock left by a
killed run never blocks the next one; the pid written inside is only for the message.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import LockHeldError


@contextmanager
def run_lock(path: Path, *, wait_seconds: float = 0.0, poll: float = 0.5) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                    raise LockHeldError(
                        f"another run holds the lock {path} (pid {holder}); "
                        "this run exits without doing anything"
                    ) from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
