"""Event counts over a sliding time window, for error rates and retry budgets.

Counts live in fixed time buckets kept in a ring, with running totals beside them, so
recording and reading are both O(1) (amortised: buckets that fell out of the window are
cleared as the clock passes them). The price is granularity: an event leaves the window
between ``window_seconds - bucket width`` and ``window_seconds`` after it was recorded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

_MIN_BUCKETS = 10
_MAX_BUCKETS = 120


def bucket_count(window_seconds: float) -> int:
    """About one bucket per second, but never so few that the window jumps, nor so many it costs."""
    return min(max(math.ceil(window_seconds), _MIN_BUCKETS), _MAX_BUCKETS)


class RollingCounts:
    """Several integer counters (``fields`` of them) summed over the last ``window_seconds``."""

    def __init__(
        self,
        fields: int,
        *,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window_seconds <= 0:
            raise ValueError(f"window_seconds must be positive, got {window_seconds}")
        if fields < 1:
            raise ValueError(f"fields must be at least 1, got {fields}")
        self.window_seconds = window_seconds
        self._clock = clock
        self._buckets = bucket_count(window_seconds)
        self._width = window_seconds / self._buckets
        self._counts = [[0] * fields for _ in range(self._buckets)]
        self._totals = [0] * fields
        self._current: int | None = None  # absolute index of the newest bucket

    def add(self, field: int, amount: int = 1) -> None:
        slot = self._advance()
        self._counts[slot][field] += amount
        self._totals[field] += amount

    def totals(self) -> tuple[int, ...]:
        self._advance()
        return tuple(self._totals)

    def clear(self) -> None:
        for counts in self._counts:
            counts[:] = [0] * len(counts)
        self._totals = [0] * len(self._totals)

    def _advance(self) -> int:
        """Move the window up to now, clearing the buckets it passed; return the current slot."""
        index = math.floor(self._clock() / self._width)
        if self._current is None:
            self._current = index
        elif index > self._current:
            for step in range(1, min(index - self._current, self._buckets) + 1):
                expired = self._counts[(self._current + step) % self._buckets]
                for field, count in enumerate(expired):
                    self._totals[field] -= count
                    expired[field] = 0
            self._current = index
        # A clock that went backwards keeps writing into the newest bucket.
        return self._current % self._buckets
