"""Client-side rate limiting: stay under a platform's limits instead of bouncing off them."""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable


class SlidingWindowLimiter:
    """At most `max_calls` in any `period` seconds (a rolling window, as HubSpot counts).

    `acquire()` blocks (through the injected `sleep`) until a call may start. A limiter with
    `max_calls=None` never waits. `margin` keeps a few calls in reserve for other clients of
    the same token. The server's window belongs to the account, not to this object: calls
    made before it existed (an earlier run a moment ago) are handed in with `assume`, and
    `recent` hands this limiter's calls on.
    """

    def __init__(
        self,
        max_calls: int | None,
        period: float,
        *,
        margin: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = None if max_calls is None else max(1, max_calls - margin)
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited_seconds = 0.0

    def acquire(self) -> float | None:
        """Wait until a call may start; returns its stamp for `settle` (None: no limit)."""
        if self.limit is None:
            return None
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.period:
                    self._starts.popleft()
                if len(self._starts) < self.limit:
                    self._starts.append(now)
                    return now
                delay = self.period - (now - self._starts[0]) + 0.001
            self.waited_seconds += delay
            self._sleep(delay)

    def settle(self, stamp: float | None) -> None:
        """Count the call `acquire` stamped as made now, when its answer is back.

        The server counted it somewhere between the two, so a window measured from the
        answers can never hold more calls than the server's, however late a request reached
        it (network or server delays); it costs one answer's latency per window.
        """
        if self.limit is None or stamp is None:
            return
        with self._lock:
            try:
                self._starts.remove(stamp)
            except ValueError:
                return  # already out of the window
            now = self._clock()
            self._starts.insert(bisect.bisect_right(self._starts, now), now)

    def recent(self) -> list[float]:
        """Stamps (this limiter's clock) of the calls still in the window, oldest first."""
        if self.limit is None:
            return []
        with self._lock:
            now = self._clock()
            return [s for s in self._starts if now - s < self.period]

    def assume(self, stamps: Iterable[float]) -> None:
        """Count calls made elsewhere at `stamps` (this limiter's clock) as if made here.

        A limiter starts empty, but the server still counts what the account did in the
        last `period`: the calls of an earlier run that ended a moment ago, for instance.
        A stamp later than now (a bound known only to the second) counts as made now.
        """
        if self.limit is None:
            return
        with self._lock:
            now = self._clock()
            earlier = (min(s, now) for s in stamps)
            self._starts = deque(
                sorted([*self._starts, *(s for s in earlier if now - s < self.period)])
            )
