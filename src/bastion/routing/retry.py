"""Retry policy: how long to wait before another attempt, and whether retries are affordable.

Backoff uses "full jitter" (a uniform delay up to an exponentially growing cap) so clients
that failed together do not retry together. A Retry-After from the provider is honoured
when short; when long, waiting would hold the client hostage, so the executor moves on to
another deployment instead.

The retry budget caps extra attempts (retries, fallbacks, hedges) at a share of recent
client requests, plus a small floor, so a failing provider cannot multiply the gateway's
load: during an outage, extra attempts stop before they become a retry storm.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from bastion.routing._window import RollingCounts

_MAX_EXPONENT = 62  # 2**62 × any sane base is already far past every cap; avoids float overflow
_REQUESTS, _RETRIES = 0, 1


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Per model group: attempts (the first included) and backoff bounds."""

    max_attempts: int = 3
    backoff_base_s: float = 0.05
    backoff_max_s: float = 2.0
    max_retry_after_s: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for label in ("backoff_base_s", "backoff_max_s", "max_retry_after_s"):
            if getattr(self, label) < 0:
                raise ValueError(f"{label} must not be negative, got {getattr(self, label)}")


def backoff_delay(attempt: int, settings: RetrySettings, rng: random.Random) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry), with full jitter."""
    if attempt < 1:
        raise ValueError(f"attempt must be at least 1, got {attempt}")
    cap = min(settings.backoff_max_s, settings.backoff_base_s * 2 ** min(attempt - 1, _MAX_EXPONENT))
    return rng.uniform(0.0, cap)


def wait_before_retry(
    retry_after_s: float | None, attempt: int, settings: RetrySettings, rng: random.Random
) -> float | None:
    """Seconds to wait before retrying the same deployment, or None: don't wait, fail over.

    A Retry-After within ``max_retry_after_s`` is honoured exactly (the provider said when);
    without one, the jittered backoff applies.
    """
    if retry_after_s is None:
        return backoff_delay(attempt, settings, rng)
    if retry_after_s > settings.max_retry_after_s:
        return None
    return max(0.0, retry_after_s)


class RetryBudget:
    """Gateway-wide allowance of extra attempts over a sliding window of client requests."""

    def __init__(
        self,
        *,
        ratio: float = 0.2,
        window_seconds: float = 10.0,
        min_retries_per_second: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ratio < 0 or min_retries_per_second < 0:
            raise ValueError("ratio and min_retries_per_second must not be negative")
        self.ratio = ratio
        self.window_seconds = window_seconds
        self.min_retries_per_second = min_retries_per_second
        self._counts = RollingCounts(2, window_seconds=window_seconds, clock=clock)

    def record_request(self) -> None:
        """A client request arrived (count it once, however many attempts it takes)."""
        self._counts.add(_REQUESTS)

    def try_spend(self) -> bool:
        """Take one extra attempt from the budget; False (and nothing spent) when it is used up."""
        requests, retries = self._counts.totals()
        # The tolerance keeps 0.2 × 100 from landing a rounding error below 20.
        if retries + 1 > self._allowance(requests) + 1e-9:
            return False
        self._counts.add(_RETRIES)
        return True

    def snapshot(self) -> dict[str, object]:
        requests, retries = self._counts.totals()
        return {
            "requests_in_window": requests,
            "retries_in_window": retries,
            "allowance": round(self._allowance(requests), 3),
            "ratio": self.ratio,
            "window_seconds": self.window_seconds,
            "min_retries_per_second": self.min_retries_per_second,
        }

    def _allowance(self, requests: int) -> float:
        return self.ratio * requests + self.min_retries_per_second * self.window_seconds
