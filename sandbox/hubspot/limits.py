"""Rate limits of a private app: the 10-second burst, the search per-second limit, the daily cap.

What HubSpot documents and what the sandbox does (developers.hubspot.com "API usage guidelines
and limits"; api-facts.md):
- Burst: a rolling 10-second window per app; search requests are not in it.
- Search: about five requests a second per token, its own bucket (DECIDED: a rolling 1-second
  window of 5).
- Daily: every request counts, search included; resets at midnight (DECIDED: UTC midnight of
  the injected clock, as the account's time zone is not modelled).
- Only admitted requests use up a window; 429 answers do not.
- Headers on every non-search answer: `X-HubSpot-RateLimit-Daily`, `-Daily-Remaining` (private
  apps only), `-Interval-Milliseconds`, `-Max`, `-Remaining`, and the deprecated `-Secondly`,
  `-Secondly-Remaining` (still sent, a tenth of the burst budget). Search answers carry none
  of them (usage guide: search responses do not include the rate limit headers).
- `Retry-After` (DECIDED, documented as "not always sent"): sent on DAILY (seconds until the
  reset) and on SECONDLY (1); not sent on TEN_SECONDLY_ROLLING, where clients are expected to
  pace themselves from `X-HubSpot-RateLimit-Interval-Milliseconds`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from sandbox.hubspot.constants import BURST_WINDOW_MS, SECONDLY_WINDOW_MS, Tier

MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "SECONDLY": "You have reached your secondly limit.",
    "DAILY": "You have reached your daily limit.",
}


@dataclass(frozen=True)
class Rejection:
    policy: str  # TEN_SECONDLY_ROLLING | SECONDLY | DAILY
    retry_after_s: int | None


class RateLimiter:
    """Counts admitted requests per window; not thread-safe (the app lock guards it)."""

    def __init__(self, tier: Tier) -> None:
        self.tier = tier
        self.reset()

    def reset(self) -> None:
        self._burst: deque[int] = deque()
        self._search: deque[int] = deque()
        self._day = -1
        self.daily_used = 0

    def _roll(self, now_ms: int) -> None:
        day = now_ms // 86_400_000
        if day != self._day:
            self._day = day
            self.daily_used = 0
        while self._burst and self._burst[0] <= now_ms - BURST_WINDOW_MS:
            self._burst.popleft()
        while self._search and self._search[0] <= now_ms - SECONDLY_WINDOW_MS:
            self._search.popleft()

    def admit(self, now_ms: int, is_search: bool) -> Rejection | None:
        """Count the request, or say which limit refuses it."""
        self._roll(now_ms)
        tier = self.tier
        if tier.daily is not None and self.daily_used >= tier.daily:
            next_day_ms = (self._day + 1) * 86_400_000
            return Rejection("DAILY", max(1, math.ceil((next_day_ms - now_ms) / 1000)))
        if is_search:
            if tier.search_per_second is not None and len(self._search) >= tier.search_per_second:
                return Rejection("SECONDLY", 1)
            self._search.append(now_ms)
        else:
            if tier.burst_per_10s is not None and len(self._burst) >= tier.burst_per_10s:
                return Rejection("TEN_SECONDLY_ROLLING", None)
            self._burst.append(now_ms)
        self.daily_used += 1
        return None

    def headers(self, now_ms: int) -> dict[str, str]:
        """The X-HubSpot-RateLimit-* headers for a non-search answer."""
        self._roll(now_ms)
        tier = self.tier
        out: dict[str, str] = {}
        if tier.daily is not None:
            out["X-HubSpot-RateLimit-Daily"] = str(tier.daily)
            out["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, tier.daily - self.daily_used))
        if tier.burst_per_10s is not None:
            remaining = max(0, tier.burst_per_10s - len(self._burst))
            secondly = max(1, tier.burst_per_10s // 10)
            in_last_second = sum(1 for t in self._burst if t > now_ms - SECONDLY_WINDOW_MS)
            out["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(BURST_WINDOW_MS)
            out["X-HubSpot-RateLimit-Max"] = str(tier.burst_per_10s)
            out["X-HubSpot-RateLimit-Remaining"] = str(remaining)
            out["X-HubSpot-RateLimit-Secondly"] = str(secondly)
            out["X-HubSpot-RateLimit-Secondly-Remaining"] = str(max(0, secondly - in_last_second))
        return out

    def snapshot(self, now_ms: int) -> dict[str, int | str | None]:
        self._roll(now_ms)
        return {
            "tier": self.tier.name,
            "burst_per_10s": self.tier.burst_per_10s,
            "burst_used": len(self._burst),
            "search_per_second": self.tier.search_per_second,
            "search_used": len(self._search),
            "daily": self.tier.daily,
            "daily_used": self.daily_used,
        }
