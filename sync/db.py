"""The state store's one code path over SQLite or PostgreSQL: a thin dialect adapter.

`StateStore` writes its SQL once, in the subset both databases accept (`?` placeholders,
`INSERT ... ON CONFLICT`, `RETURNING`), against a `Database`. This module holds everything
that differs:

- placeholders: `?` on SQLite; on PostgreSQL `?` becomes `%s` (a literal `%` is doubled);
- a write transaction: `BEGIN IMMEDIATE` on SQLite (one writer at a time); on PostgreSQL
  `BEGIN` plus `pg_advisory_xact_lock` on the schema, so writers queue the same way;
- migrations' DDL: as written on SQLite; on PostgreSQL `INTEGER PRIMARY KEY AUTOINCREMENT`
  becomes an identity column and `TEXT` is collated `"C"`, so `ORDER BY` and `>` compare
  bytes as SQLite's BINARY collation does (the same order on both, whatever the server locale);
- set-up: WAL, `synchronous=NORMAL` and a file created 0600 on SQLite; on PostgreSQL
  autocommit outside `transaction()`, `lock_timeout` = SQLite's 30 s busy timeout, and
  `synchronous_commit = off` for the session, the same durability as SQLite's `NORMAL`;
- rows: `sqlite3.Row`, or `PgRow`, read the same way (`row[0]`, `row["name"]`, `dict(row)`).

A PostgreSQL URL may carry a password; it is only ever shown through `PostgresTarget.display`,
which leaves it out, and `redact` removes it from driver messages.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr

from core.errors import ConfigError

if TYPE_CHECKING:
    from core.config import Settings

Dialect = Literal["sqlite", "postgresql"]

# Advisory-lock keys (the two-int4 form): a namespace for this program, and the schema's CRC.
RUN_LOCK_NAMESPACE = 0x48535352  # "HSSR": the run lock, held for a whole run
WRITE_LOCK_NAMESPACE = 0x48535357  # "HSSW": one writing transaction at a time
BUSY_TIMEOUT_SECONDS = 30
CONNECT_TIMEOUT_SECONDS = 10
APPLICATION_NAME = "hubspot-salesforce-connector"


# ------------------------------------------------------------------------------ targets
@dataclass(frozen=True, slots=True)
class SqliteTarget:
    path: Path
    dialect: Dialect = "sqlite"

    @property
    def display(self) -> str:
        return str(self.path)


@dataclass(frozen=True, slots=True)
class PostgresTarget:
    url: SecretStr
    password: SecretStr | None = None
    dialect: Dialect = "postgresql"

    @property
    def display(self) -> str:
        """The URL without its password, for messages and `connector status`."""
        return display_url(self.url.get_secret_value())

    def redact(self, text: str) -> str:
        return redact(text, self.url, self.password)


StateTarget = SqliteTarget | PostgresTarget


def state_target(settings: Settings) -> StateTarget:
    """Where the state lives: `state.url` (PostgreSQL) if set, else the SQLite file `path`."""
    state = settings.state
    if state.url is None:
        return SqliteTarget(settings.resolve(state.path))
    password = None
    if state.password_file is not None:
        file = settings.resolve(state.password_file)
        try:
            password = SecretStr(file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(
                f"state.password_file: cannot read secret file {file}: {exc.strerror}"
            ) from None
    return PostgresTarget(state.url, password)


def display_url(url: str) -> str:
    """`url` with the password taken out of the user part and the query."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, hosts = netloc.rsplit("@", 1)
        netloc = userinfo.split(":", 1)[0] + "@" + hosts
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact(text: str, url: SecretStr, password: SecretStr | None = None) -> str:
    """`text` with every form of the URL's (or the separate) password replaced by `***`."""
    secrets = {url.get_secret_value()}
    parts = urlsplit(url.get_secret_value())
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        if ":" in userinfo:
            secrets.add(userinfo.split(":", 1)[1])
    secrets.update(v for k, v in parse_qsl(parts.query) if k == "password")
    if password is not None:
        secrets.add(password.get_secret_value())
    for secret in sorted(secrets | {unquote(s) for s in secrets}, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


# ------------------------------------------------------------------------------ rows
class Row(Protocol):
    """What the store reads from a row: `row[0]`, `row["name"]`, `dict(row)`."""

    def __getitem__(self, key: int | str) -> Any: ...

    def keys(self) -> list[str]: ...


class PgRow:
    """A PostgreSQL row that reads like `sqlite3.Row`."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: Mapping[str, int], values: Sequence[Any]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, key: int | str) -> Any:
        return self._values[key if isinstance(key, int) else self._index[key]]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._index, self._values, strict=True))!r})"


def _pg_rows(cursor: Any) -> Any:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: PgRow(index, values)


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


# ------------------------------------------------------------------------------ database
_PG_DDL = (
    (
        re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"),
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    (re.compile(r"\bTEXT\b"), 'TEXT COLLATE "C"'),
)


# SQLite's busy timeout; and the durability of SQLite's WAL with synchronous=NORMAL: a crash of
# the server (not of the connector) may lose the last commits, never consistency. The pipeline
# is built for that (idempotent writes, the Task outbox, cursors moved only after the work),
# and it makes a commit about six times cheaper than waiting for the WAL flush each time.
_PG_SESSION = f"SET lock_timeout = '{BUSY_TIMEOUT_SECONDS}s'; SET synchronous_commit = off"


@lru_cache(maxsize=512)
def _pg_sql(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class Database:
    """One connection, SQL written with `?`, and write transactions that serialise writers.

    Outside `transaction()` every statement commits on its own (autocommit), on both.
    """

    def __init__(self, dialect: Dialect, connection: Any, *, schema: str | None = None) -> None:
        self.dialect = dialect
        self.connection = connection
        self.schema = schema
        if dialect == "postgresql":
            assert schema is not None
            key = "{}, {}".format(*lock_key(WRITE_LOCK_NAMESPACE, schema))
            # One round trip: no parameters, so psycopg sends both statements at once.
            self._begin = f"BEGIN; SELECT pg_advisory_xact_lock({key})"
            self._sql = _pg_sql
        else:
            self._begin = "BEGIN IMMEDIATE"
            self._sql = str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.connection.execute(self._sql(sql), params)  # type: ignore[no-any-return]

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """Run `sql` once per row; return how many rows it changed in all."""
        cursor = self.connection.cursor()
        try:
            cursor.executemany(self._sql(sql), rows)
            return max(int(cursor.rowcount), 0)
        finally:
            cursor.close()

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """A write transaction: on SQLite `BEGIN IMMEDIATE`; on PostgreSQL `BEGIN` plus a
        transaction-level advisory lock on the schema, so writers queue as they do on SQLite."""
        try:
            # Inside the try: on PostgreSQL the lock wait can time out after BEGIN succeeded.
            self.connection.execute(self._begin)
            yield self
        except BaseException:
            if self._in_transaction():
                self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def _in_transaction(self) -> bool:
        if self.dialect == "postgresql":
            from psycopg.pq import TransactionStatus

            status = self.connection.info.transaction_status
            return status in (TransactionStatus.INTRANS, TransactionStatus.INERROR)
        return bool(self.connection.in_transaction)

    def run_script(self, script: str) -> None:
        """A migration: `;`-separated DDL in the portable subset, adjusted per dialect."""
        if self.dialect == "postgresql":
            for pattern, replacement in _PG_DDL:
                script = pattern.sub(replacement, script)
        for statement in script.split(";"):
            if statement.strip():
                self.connection.execute(statement)

    def table_exists(self, name: str) -> bool:
        if self.dialect == "postgresql":
            sql = "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?"
        else:
            sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self.execute(sql, (name,)).fetchone() is not None

    def close(self) -> None:
        self.connection.close()


def database_errors(target: StateTarget) -> tuple[type[BaseException], ...]:
    """The driver's error root: what `StateStore` turns into a ConfigError at opening."""
    if target.dialect == "postgresql":
        import psycopg

        return (psycopg.Error,)
    return (sqlite3.DatabaseError,)


def unusable_message(target: StateTarget, exc: BaseException) -> str:
    if isinstance(target, PostgresTarget):
        reason = target.redact(str(exc).strip()).replace("\n", " ")
        return (
            f"state database {target.display} is not usable ({reason}); check [state] url, "
            "that the server is up, and that the user may create tables in the schema"
        )
    return (
        f"state file {target.path} is not a usable SQLite database ({exc}); "
        "move it aside to start fresh, or restore it from a backup"
    )


def connect(target: StateTarget) -> Database:
    """Open the state database. Driver errors propagate (see `database_errors`)."""
    if isinstance(target, SqliteTarget):
        return Database("sqlite", _open_sqlite(target.path))
    connection = pg_connect(target)
    try:
        connection.execute(_PG_SESSION)
        schema = current_schema(connection, target)
    except BaseException:
        connection.close()
        raise
    return Database("postgresql", connection, schema=schema)


def exists(target: StateTarget) -> bool:
    """Whether state was stored there already (without creating anything)."""
    if isinstance(target, SqliteTarget):
        return target.path.exists()
    try:
        db = connect(target)
    except database_errors(target) as exc:
        raise ConfigError(unusable_message(target, exc)) from None
    try:
        return db.table_exists("schema_version")
    finally:
        db.close()


def _enable_wal(db: sqlite3.Connection) -> None:
    """`PRAGMA journal_mode=WAL`, waiting as long as any other statement would. Switching a
    fresh file to WAL while another process switches it answers SQLITE_BUSY at once, without
    the busy handler (about one in ten of six workers opening a new file together did)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    delay = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _open_sqlite(path: Path) -> sqlite3.Connection:
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
    db = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
    db.row_factory = sqlite3.Row
    _enable_wal(db)
    db.execute("PRAGMA synchronous=NORMAL")
    # Deleted content is overwritten with zeros, not left in free space (erasure:
    # `sync.erasure_store`); some builds have it on by default, this makes it so on all.
    db.execute("PRAGMA secure_delete=ON")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def pg_connect(target: PostgresTarget, **options: Any) -> Any:
    """A psycopg connection in autocommit mode. The URL's own settings win over our defaults
    (`connect_timeout`, `application_name`); `options` win over both."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    url = target.url.get_secret_value()
    try:
        given = conninfo_to_dict(url)
    except psycopg.Error as exc:
        raise ConfigError(
            f"state.url: not a valid PostgreSQL URL ({target.redact(str(exc).strip())})"
        ) from None
    kwargs: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "application_name": APPLICATION_NAME,
    }
    kwargs = {k: v for k, v in kwargs.items() if k not in given} | options
    if target.password is not None:
        kwargs["password"] = target.password.get_secret_value()
    return psycopg.connect(url, autocommit=True, row_factory=_pg_rows, **kwargs)


def current_schema(connection: Any, target: PostgresTarget) -> str:
    schema = connection.execute("SELECT current_schema()").fetchone()[0]
    if schema is None:
        raise ConfigError(
            f"state database {target.display}: no schema to keep the state in (the search_path "
            "names no existing schema); create it, or fix options=-csearch_path=... in the URL"
        )
    return str(schema)


def lock_key(namespace: int, schema: str) -> tuple[int, int]:
    """The two int4 keys of an advisory lock: ours, and the schema's (31-bit) CRC, so two
    connectors keeping state in two schemas of one database never block each other."""
    return namespace, zlib.crc32(schema.encode()) & 0x7FFFFFFF


__all__ = [
    "Database",
    "PgRow",
    "PostgresTarget",
    "Row",
    "SqliteTarget",
    "StateTarget",
    "connect",
    "database_errors",
    "display_url",
    "exists",
    "lock_key",
    "pg_connect",
    "redact",
    "state_target",
    "unusable_message",
]
