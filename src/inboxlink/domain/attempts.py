"""Counting attempts in a sliding time window: the rule behind the sign-in throttle and the connect
rate limit. Pure: the caller passes the clock (monotonic seconds), so tests need no sleeping."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable

__all__ = ["SlidingWindow"]


class SlidingWindow:
    """At most `limit` attempts per key within `window` seconds. Keys whose attempts have all aged
    out are dropped, so one-off keys (a typo, a scanner's address) do not pile up."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._stamps: dict[Hashable, deque[float]] = {}

    def _recent(self, key: Hashable, now: float) -> deque[float]:
        stamps = self._stamps.get(key)
        if stamps is None:
            return deque()
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if not stamps:
            del self._stamps[key]
        return stamps

    def count(self, key: Hashable, now: float) -> int:
        return len(self._recent(key, now))

    def wait_seconds(self, key: Hashable, now: float) -> float:
        """0 when another attempt is allowed now, else seconds until the oldest one ages out."""
        stamps = self._recent(key, now)
        if len(stamps) < self.limit:
            return 0.0
        return max(stamps[0] + self.window - now, 0.001)

    def wait_minutes(self, key: Hashable, now: float) -> int:
        """`wait_seconds` in whole minutes, rounded up (what a person is told)."""
        wait = self.wait_seconds(key, now)
        return max(1, math.ceil(wait / 60)) if wait else 0

    def hit(self, key: Hashable, now: float) -> None:
        if len(self._stamps) > 10_000:  # a spray of keys: drop whatever has aged out
            for stale in list(self._stamps):
                self._recent(stale, now)
        stamps = self._recent(key, now)
        stamps.append(now)
        self._stamps[key] = stamps

    def take_back(self, key: Hashable, stamp: float) -> None:
        """Forget one attempt (one that turned out fine) without forgetting the others."""
        stamps = self._stamps.get(key)
        if stamps and stamp in stamps:
            stamps.remove(stamp)

    def forget_newest(self, key: Hashable) -> None:
        """Forget the latest attempt (the one that just turned out fine), keeping the others."""
        stamps = self._stamps.get(key)
        if stamps:
            stamps.pop()

    def clear(self, key: Hashable) -> None:
        self._stamps.pop(key, None)
