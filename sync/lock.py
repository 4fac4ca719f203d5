"""One run at a time.

SQLite: an exclusive `flock` on a file beside the state database. The kernel drops the lock when
the holding process dies, even by kill -9, so a lock left by a killed run never blocks the next
one; the pid written inside is only for the message.

PostgreSQL: `pg_try_advisory_lock` on a key fixed per schema, held on a connection of its own
for the whole run. It works across machines, and the server drops it when that session ends:
when the process dies its socket closes; when its machine vanishes, the TCP keepalives set on
the session end it within about a minute. The pid and host shown in the message come from the
holder's `application_name`.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from core.errors import ConfigError, LockHeldError
from sync.db import (
    RUN_LOCK_NAMESPACE,
    PostgresTarget,
    StateTarget,
    current_schema,
    database_errors,
    lock_key,
    pg_connect,
    unusable_message,
)

_HOLDER_PREFIX = "connector run "


def state_lock(target: StateTarget, *, wait_seconds: float = 0.0) -> AbstractContextManager[None]:
    """The run lock that fits where the state lives."""
    if isinstance(target, PostgresTarget):
        return advisory_lock(target, wait_seconds=wait_seconds)
    return run_lock(target.path.with_suffix(".lock"), wait_seconds=wait_seconds)


def _held(where: str, holder: str) -> LockHeldError:
    return LockHeldError(
        f"another run holds the lock {where} (pid {holder}); this run exits without doing anything"
    )


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
                    raise _held(str(path), holder) from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


@contextmanager
def advisory_lock(
    target: PostgresTarget, *, wait_seconds: float = 0.0, poll: float = 0.5
) -> Iterator[None]:
    me = f"{_HOLDER_PREFIX}{os.getpid()} on {socket.gethostname()}"
    try:
        connection = pg_connect(target, application_name=me[:63])
    except database_errors(target) as exc:
        raise ConfigError(unusable_message(target, exc)) from None
    try:
        _keep_session_alive(connection)
        schema = current_schema(connection, target)
        key = lock_key(RUN_LOCK_NAMESPACE, schema)
        deadline = time.monotonic() + wait_seconds
        take = "SELECT pg_try_advisory_lock(%s::int4, %s::int4)"
        while not connection.execute(take, key).fetchone()[0]:
            if time.monotonic() >= deadline:
                where = f"pg_advisory_lock{key} on schema {schema} of {target.display}"
                raise _held(where, _holder(connection, key))
            time.sleep(poll)
        yield
    finally:
        connection.close()  # ends the session, which releases the lock


def _keep_session_alive(connection: Any) -> None:
    """The lock lives as long as this idle session: the server must not end it for idling,
    and must notice soon when the client's machine is gone."""
    connection.execute(
        "SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; "
        "SET tcp_keepalives_count = 3"
    )
    if connection.info.server_version >= 140000:
        connection.execute("SET idle_session_timeout = 0")


def _holder(connection: Any, key: tuple[int, int]) -> str:
    row = connection.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
        "AND l.classid::int8 = %s AND l.objid::int8 = %s "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        key,
    ).fetchone()
    name = (row[0] or "") if row else ""
    return name.removeprefix(_HOLDER_PREFIX) if name.startswith(_HOLDER_PREFIX) else "unknown"
