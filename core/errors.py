"""One exception root for the connector, branched by what the caller should do.

- ConfigError: the operator must fix configuration or mapping files (exit code 2).
- RetriableAPIError: a transient failure; the retry policy may try again.
- FatalAPIError: stop the run; retrying will not help (auth refused, quota spent).
- RecordError: this one record failed; it goes to the dead-letter list, the run goes on.
- LockHeldError: another run holds the lock.

Messages never contain secrets: callers pass URLs without credentials and never tokens.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Root of every error the connector raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        error_code: str | None = None,
        record_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.url = url
        self.error_code = error_code
        self.record_id = record_id

    def __str__(self) -> str:
        return self.message


class ConfigError(ConnectorError):
    """Configuration or mapping files are wrong; `problems` lists each one."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return self.message + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class RetriableAPIError(ConnectorError):
    """Transient: 429, 5xx, connection reset, timeout, UNABLE_TO_LOCK_ROW."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class FatalAPIError(ConnectorError):
    """Stop the run: credentials refused, API budget spent, unexpected contract break."""


class BudgetExhaustedError(FatalAPIError):
    """The configured share of a daily API allocation is used up; resume later."""


class RecordError(ConnectorError):
    """One record was rejected; the rest of the work goes on."""


class LockHeldError(ConnectorError):
    """Another run holds the lock."""
