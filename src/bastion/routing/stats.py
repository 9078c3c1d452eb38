"""Live statistics for one deployment: load, error rate, latency averages and TTFT quantiles.

The breaker reads them to decide when a deployment is failing or degraded, the load
balancing strategies read them to pick where an attempt goes, and hedging reads the TTFT
quantile to decide when a second attempt is worth sending. Nothing here does I/O or
sleeps; time comes from the injected clock.

Two latency averages are kept on purpose: a fast EWMA that follows the deployment as it is
now, and a slow "healthy baseline" fed only while the breaker says the deployment is fine,
so that "3x slower than usual" has a stable meaning of "usual".
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from bastion.routing._window import RollingCounts

_SUCCESS, _FAILURE = 0, 1


def _ewma(current: float | None, sample: float, alpha: float) -> float:
    return sample if current is None else alpha * sample + (1 - alpha) * current


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


class DeploymentStats:
    """What the gateway has observed about one deployment, recently."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        alpha: float = 0.3,
        window_seconds: float = 30.0,
        baseline_alpha: float = 0.05,
        ttft_history: int = 256,
    ) -> None:
        for label, value in (("alpha", alpha), ("baseline_alpha", baseline_alpha)):
            if not 0 < value <= 1:
                raise ValueError(f"{label} must be in (0, 1], got {value}")
        if ttft_history < 1:
            raise ValueError(f"ttft_history must be at least 1, got {ttft_history}")
        self.window_seconds = window_seconds
        self.alpha = alpha
        self.baseline_alpha = baseline_alpha
        self._clock = clock
        self._outcomes = RollingCounts(2, window_seconds=window_seconds, clock=clock)
        self._recent_ttfts: deque[float] = deque(maxlen=ttft_history)
        self._sorted_ttfts: list[float] | None = None  # cache, dropped on every new sample

        self.in_flight = 0
        self.consecutive_failures = 0
        self.last_failure_at: float | None = None
        self.last_success_at: float | None = None
        # Fast averages, and how many samples they hold since the last restart: the breaker
        # does not judge an average made of one or two requests.
        self.ewma_latency_s: float | None = None
        self.ewma_ttft_s: float | None = None
        self.latency_samples = 0
        self.ttft_samples = 0
        self.baseline_latency_s: float | None = None
        self.baseline_ttft_s: float | None = None
        self.baseline_latency_samples = 0
        self.baseline_ttft_samples = 0

    # ------------------------------------------------------------------ load

    def started(self) -> None:
        self.in_flight += 1

    def finished(self) -> None:
        # Never negative: a stray extra call must not make a deployment look less loaded than idle.
        self.in_flight = max(0, self.in_flight - 1)

    # ------------------------------------------------------------------ outcomes

    def record_success(self, latency_s: float, ttft_s: float | None = None, *, healthy: bool = True) -> None:
        """An attempt answered; ``healthy`` says whether its timings may shape the baseline."""
        self._outcomes.add(_SUCCESS)
        self.consecutive_failures = 0
        self.last_success_at = self._clock()
        self.ewma_latency_s = _ewma(self.ewma_latency_s, latency_s, self.alpha)
        self.latency_samples += 1
        if healthy:
            self.baseline_latency_s = _ewma(self.baseline_latency_s, latency_s, self.baseline_alpha)
            self.baseline_latency_samples += 1
        if ttft_s is None:
            return
        self.ewma_ttft_s = _ewma(self.ewma_ttft_s, ttft_s, self.alpha)
        self.ttft_samples += 1
        if healthy:
            self.baseline_ttft_s = _ewma(self.baseline_ttft_s, ttft_s, self.baseline_alpha)
            self.baseline_ttft_samples += 1
        self._recent_ttfts.append(ttft_s)
        self._sorted_ttfts = None

    def record_failure(self) -> None:
        self._outcomes.add(_FAILURE)
        self.consecutive_failures += 1
        self.last_failure_at = self._clock()

    def record_pending_ttft(self, elapsed_s: float) -> None:
        """An attempt still has no first token after ``elapsed_s``: count that as a TTFT sample now.

        Only the fast TTFT average takes it, so degradation shows while slow requests are
        still in flight. The baseline and the quantile ring do not: the real TTFT is not
        known yet (it is at least this) and arrives later through ``record_success``.
        """
        self.ewma_ttft_s = _ewma(self.ewma_ttft_s, elapsed_s, self.alpha)
        self.ttft_samples += 1

    # ------------------------------------------------------------------ restarts (breaker recovery)

    def restart_window(self) -> None:
        """Forget the outcomes in the window, so failures from before a recovery cannot reopen it."""
        self._outcomes.clear()

    def restart_fast_averages(self, latency_s: float | None = None, ttft_s: float | None = None) -> None:
        """Restart the fast averages from one fresh sample (or none), dropping pre-recovery history."""
        self.ewma_latency_s, self.latency_samples = latency_s, int(latency_s is not None)
        self.ewma_ttft_s, self.ttft_samples = ttft_s, int(ttft_s is not None)

    # ------------------------------------------------------------------ reads

    def error_rate(self) -> tuple[float, int]:
        """Failure share and number of finished attempts in the window (0.0 when there were none)."""
        successes, failures = self._outcomes.totals()
        volume = successes + failures
        return (failures / volume if volume else 0.0), volume

    def ttft_quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1, linear interpolation) of recent TTFTs; None before any sample."""
        if not 0 <= q <= 1:
            raise ValueError(f"quantile must be in [0, 1], got {q}")
        if not self._recent_ttfts:
            return None
        if self._sorted_ttfts is None:
            self._sorted_ttfts = sorted(self._recent_ttfts)
        ordered = self._sorted_ttfts
        position = q * (len(ordered) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    def snapshot(self) -> dict[str, object]:
        rate, volume = self.error_rate()
        last_failure = self.last_failure_at
        since_failure = None if last_failure is None else round(self._clock() - last_failure, 3)
        return {
            "in_flight": self.in_flight,
            "ewma_latency_ms": _ms(self.ewma_latency_s),
            "ewma_ttft_ms": _ms(self.ewma_ttft_s),
            "baseline_latency_ms": _ms(self.baseline_latency_s),
            "baseline_ttft_ms": _ms(self.baseline_ttft_s),
            "ttft_p95_ms": _ms(self.ttft_quantile(0.95)),
            "error_rate": round(rate, 4),
            "requests_in_window": volume,
            "window_seconds": self.window_seconds,
            "consecutive_failures": self.consecutive_failures,
            "seconds_since_last_failure": since_failure,
        }
