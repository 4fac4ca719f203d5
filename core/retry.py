"""The one retry policy: retry what is transient, honour Retry-After, bounded in tries and time.

Adapters translate their library's exceptions into `RetriableAPIError` (transient) or other
`ConnectorError`s (not retried) through their status tables; this module only decides when to
try again. Session refresh is not a retry: adapters do it once, with a counter.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_any,
)

from core.errors import RetriableAPIError

T = TypeVar("T")
log = logging.getLogger("connector.retry")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    max_total_seconds: float = 120.0
    base_delay: float = 0.5
    max_delay: float = 30.0

    def backoff(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt `attempt + 1`: Retry-After if given, else
        exponential backoff with full jitter (never less than half the step)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay)
        step = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return step / 2 + rng.random() * step / 2


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    on_retry: Callable[[RetriableAPIError, float], None] | None = None,
) -> T:
    """Call `fn`; on RetriableAPIError wait and try again within the policy's bounds.

    When the bounds are spent, the last RetriableAPIError is raised as is.
    """
    jitter = rng or random.Random()

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, RetriableAPIError) else None
        delay = policy.backoff(state.attempt_number, retry_after, jitter)
        if isinstance(exc, RetriableAPIError):
            log.info(
                "transient failure, retrying",
                extra={"error": exc.message, "status": exc.status, "delay_s": round(delay, 2)},
            )
            if on_retry is not None:
                on_retry(exc, delay)
        return delay

    retrying = Retrying(
        retry=retry_if_exception_type(RetriableAPIError),
        stop=stop_any(
            stop_after_attempt(policy.max_attempts), stop_after_delay(policy.max_total_seconds)
        ),
        wait=wait,
        sleep=sleep,
        reraise=True,
    )
    return retrying(fn)
