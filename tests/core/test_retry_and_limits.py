import random

import pytest

from core.errors import FatalAPIError, RetriableAPIError
from core.ratelimit import SlidingWindowLimiter
from core.retry import RetryPolicy, call_with_retry


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def flaky(failures: list[Exception]):
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if failures:
            raise failures.pop(0)
        return "ok"

    return fn, calls


def test_given_retry_after_the_policy_waits_exactly_that_long() -> None:
    clock = FakeClock()
    fn, calls = flaky([RetriableAPIError("429", retry_after=7.0)])
    assert call_with_retry(fn, RetryPolicy(), sleep=clock.sleep) == "ok"
    assert clock.sleeps == [7.0] and calls["n"] == 2


def test_given_no_retry_after_the_policy_backs_off_exponentially() -> None:
    clock = FakeClock()
    fn, _ = flaky([RetriableAPIError("503") for _ in range(4)])
    call_with_retry(
        fn, RetryPolicy(base_delay=1.0, max_delay=60), sleep=clock.sleep, rng=random.Random(1)
    )
    assert len(clock.sleeps) == 4
    for attempt, delay in enumerate(clock.sleeps, start=1):
        step = 2 ** (attempt - 1)
        assert step / 2 <= delay <= step


def test_given_persistent_failure_attempts_are_bounded_and_last_error_raised() -> None:
    clock = FakeClock()
    fn, calls = flaky([RetriableAPIError(f"503 #{i}") for i in range(10)])
    with pytest.raises(RetriableAPIError, match="503 #2"):
        call_with_retry(fn, RetryPolicy(max_attempts=3), sleep=clock.sleep)
    assert calls["n"] == 3


def test_given_non_retriable_error_it_is_not_retried() -> None:
    fn, calls = flaky([FatalAPIError("401")])
    with pytest.raises(FatalAPIError):
        call_with_retry(fn, RetryPolicy(), sleep=lambda s: None)
    assert calls["n"] == 1


def test_given_burst_limit_no_window_ever_holds_more_calls_than_allowed() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(10, 10.0, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(35):
        limiter.acquire()
        starts.append(clock.now)
    for i, start in enumerate(starts):
        in_window = [s for s in starts[i:] if s - start < 10.0]
        assert len(in_window) <= 10
    assert clock.now >= 30.0  # 35 calls at 10 per 10 s need at least three waits


def test_given_unlimited_limiter_it_never_waits() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(None, 10.0, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        limiter.acquire()
    assert clock.sleeps == []


def test_given_settled_calls_the_window_counts_from_their_answers_not_their_starts() -> None:
    # The server counts a call when the request reaches it, somewhere before the answer.
    # Five calls started at 0 and answered at 0.3 s: a sixth must wait until 1.3 s, as the
    # server may have counted them as late as 0.3 s.
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 1.0, clock=clock, sleep=clock.sleep)
    stamps = [limiter.acquire() for _ in range(5)]
    clock.now = 0.3
    for stamp in stamps:
        limiter.settle(stamp)
    limiter.acquire()
    assert 1.3 <= clock.now < 1.31


def test_given_five_a_second_the_sixth_call_in_any_one_second_window_waits() -> None:
    # HubSpot's search window is a rolling second; whatever the phase of the calls, no
    # one-second window may hold more than the limit.
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 1.0, clock=clock, sleep=clock.sleep)
    starts = []
    for i in range(23):
        clock.now += 0.07 * (i % 3)  # calls arriving unevenly, between waits
        limiter.settle(limiter.acquire())
        starts.append(clock.now)
    for i, start in enumerate(starts):
        assert len([s for s in starts[i:] if s - start < 1.0]) <= 5
    assert clock.sleeps  # the sixth and later calls of a second waited
    assert starts[5] - starts[0] >= 1.0


def test_given_calls_assumed_from_an_earlier_run_the_new_limiter_waits_for_them() -> None:
    clock = FakeClock()
    clock.now = 10.0
    limiter = SlidingWindowLimiter(4, 1.0, clock=clock, sleep=clock.sleep)
    limiter.assume([9.2, 9.5, 9.6, 9.7, 3.0])  # 3.0: long out of the window, ignored
    limiter.acquire()
    assert 10.2 <= clock.now < 10.21  # one slot free once 9.2 left the window
    assert limiter.recent() == [9.5, 9.6, 9.7, clock.now]


def test_given_assumed_calls_later_than_now_they_count_as_made_now() -> None:
    clock = FakeClock()
    clock.now = 5.0
    limiter = SlidingWindowLimiter(2, 1.0, clock=clock, sleep=clock.sleep)
    limiter.assume([5.9, 5.9])  # "searched at most by 5.9" (a time known to the second)
    limiter.acquire()
    assert 6.0 <= clock.now < 6.01
