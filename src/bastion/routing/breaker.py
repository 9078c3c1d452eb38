"""A circuit breaker for one deployment: stop sending it traffic while it fails or crawls.

Closed, it lets everything through and watches the deployment's statistics; it opens on
too many consecutive failures, on a high error rate over enough volume, or on latency
degradation (a fast TTFT/latency EWMA over an absolute threshold or over a multiple of the
healthy baseline). Open, it refuses everything for ``open_seconds``; then it turns half-open
(lazily, when next asked) and lets ``half_open_probes`` requests through. A good probe
closes it; a failed or slow probe opens it again for twice as long, up to 8x.

The breaker never sleeps or schedules anything: the executor reports outcomes, and
``record_slow`` lets it report a request that is still waiting for a first token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bastion.routing.stats import DeploymentStats

BreakerState = Literal["closed", "open", "half_open"]
CLOSED: BreakerState = "closed"
OPEN: BreakerState = "open"
HALF_OPEN: BreakerState = "half_open"

BASELINE_MIN_SAMPLES = 10  # a baseline of fewer healthy samples is too noisy to compare against
MAX_OPEN_MULTIPLIER = 8

Transition = Callable[[str, str, str, str], None]  # (name, old_state, new_state, reason)


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """When a breaker opens and how long it rests; validated config already, checked again here."""

    consecutive_failures: int = 5
    error_rate: float = 0.5
    min_requests: int = 20
    window_seconds: float = 30.0
    ttft_threshold_s: float | None = None
    latency_threshold_s: float | None = None
    latency_factor: float | None = None
    min_latency_samples: int = 5
    open_seconds: float = 15.0
    half_open_probes: int = 1
    enabled: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.consecutive_failures < 1:
            problems.append("consecutive_failures must be at least 1")
        if not 0 < self.error_rate <= 1:
            problems.append("error_rate must be in (0, 1]")
        if self.min_requests < 1:
            problems.append("min_requests must be at least 1")
        if self.window_seconds <= 0:
            problems.append("window_seconds must be positive")
        for label in ("ttft_threshold_s", "latency_threshold_s"):
            value = getattr(self, label)
            if value is not None and value <= 0:
                problems.append(f"{label} must be positive")
        if self.latency_factor is not None and self.latency_factor <= 1:
            problems.append("latency_factor must be greater than 1")
        if self.min_latency_samples < 1:
            problems.append("min_latency_samples must be at least 1")
        if self.open_seconds <= 0:
            problems.append("open_seconds must be positive")
        if self.half_open_probes < 1:
            problems.append("half_open_probes must be at least 1")
        if problems:
            raise ValueError("invalid breaker settings: " + "; ".join(problems))


class CircuitBreaker:
    """Admission and state for one deployment, fed by the executor's attempt outcomes."""

    def __init__(
        self,
        name: str,
        settings: BreakerSettings,
        stats: DeploymentStats,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Transition | None = None,
    ) -> None:
        if settings.enabled and stats.window_seconds != settings.window_seconds:
            # The error-rate rule reads the stats' window; two different windows would be a silent bug.
            raise ValueError(
                f"breaker {name}: stats window {stats.window_seconds}s differs from "
                f"settings.window_seconds {settings.window_seconds}s"
            )
        self.name = name
        self.settings = settings
        self.stats = stats
        self._clock = clock
        self._on_transition = on_transition
        self._state: BreakerState = CLOSED
        self._reason: str | None = None  # why the breaker is in its current state
        self._opened_at: float | None = None
        self._open_seconds = settings.open_seconds
        self._failed_probes = 0
        self._probes_in_flight = 0

    # ------------------------------------------------------------------ reads

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose rest is over becomes half-open here."""
        opened_at = self._opened_at
        if self._state == OPEN and opened_at is not None and self._clock() - opened_at >= self._open_seconds:
            self._probes_in_flight = 0
            self._move(HALF_OPEN, f"open for {self._open_seconds:g}s, probing")
        return self._state

    @property
    def opened_at(self) -> float | None:
        """Clock time of the last opening, while not closed; None when closed."""
        return self._opened_at

    @property
    def last_failure_at(self) -> float | None:
        return self.stats.last_failure_at

    @property
    def open_seconds(self) -> float:
        """How long the current (or next) open period lasts, after probe back-off."""
        return self._open_seconds

    # ------------------------------------------------------------------ admission

    def try_acquire(self) -> bool:
        """May an attempt go to this deployment now? In half-open, a True takes a probe slot."""
        if not self.settings.enabled:
            return True
        state = self.state
        if state == CLOSED:
            return True
        if state == HALF_OPEN and self._probes_in_flight < self.settings.half_open_probes:
            self._probes_in_flight += 1
            return True
        return False

    def release_probe(self) -> None:
        """Give back a probe slot whose attempt ended without a verdict (cancelled, client gone)."""
        if self._state == HALF_OPEN and self._probes_in_flight > 0:
            self._probes_in_flight -= 1

    # ------------------------------------------------------------------ outcomes

    def record_success(self, latency_s: float, ttft_s: float | None = None) -> None:
        state = self.state if self.settings.enabled else CLOSED
        self.stats.record_success(latency_s, ttft_s, healthy=state == CLOSED)
        if not self.settings.enabled:
            return
        if state == HALF_OPEN:
            self._judge_probe(latency_s, ttft_s)
        elif state == CLOSED:
            reason = self._slow_reason(*self._judged_averages(), label="ewma")
            if reason is not None:
                self._open(reason)

    def record_failure(self, reason: str = "error") -> None:
        state = self.state if self.settings.enabled else CLOSED
        self.stats.record_failure()
        if not self.settings.enabled:
            return
        if state == HALF_OPEN:
            self._probe_failed(f"probe failed: {reason}")
        elif state == CLOSED:
            why = self._failure_reason(reason)
            if why is not None:
                self._open(why)

    def record_slow(self, elapsed_s: float) -> None:
        """An attempt has waited ``elapsed_s`` without a first token and is still running.

        Counted as a TTFT sample right away, so the breaker can open while slow requests
        are still in flight instead of after they finish. In half-open, a probe that is
        this slow already failed.
        """
        state = self.state if self.settings.enabled else CLOSED
        self.stats.record_pending_ttft(elapsed_s)
        if not self.settings.enabled:
            return
        if state == CLOSED:
            reason = self._slow_reason(*self._judged_averages(), label="ewma")
            if reason is not None:
                self._open(reason)
        elif state == HALF_OPEN:
            reason = self._slow_reason(elapsed_s, None, label="probe")
            if reason is not None:
                self._probe_failed(f"probe slow: {reason}")

    def trip(self, reason: str) -> None:
        """Open now, whatever the numbers say: for failures that no retry can fix (a rejected key).

        An already open breaker restarts its rest; statistics are not touched.
        """
        if not self.settings.enabled:
            return
        if self.state == OPEN:
            self._opened_at = self._clock()
            return
        self._open(reason)

    def snapshot(self) -> dict[str, object]:
        state = self.state
        now = self._clock()
        opened_at = self._opened_at
        return {
            "name": self.name,
            "state": state,
            "reason": self._reason,
            "enabled": self.settings.enabled,
            "seconds_since_opened": None if opened_at is None else round(now - opened_at, 3),
            "seconds_until_probe": (
                round(max(0.0, opened_at + self._open_seconds - now), 3)
                if state == OPEN and opened_at is not None
                else None
            ),
            "open_seconds": self._open_seconds,
            "failed_probes": self._failed_probes,
            "probes_in_flight": self._probes_in_flight,
        }

    # ------------------------------------------------------------------ rules

    def _judged_averages(self) -> tuple[float | None, float | None]:
        """The fast (ttft, latency) averages, each only once it holds enough samples to judge."""
        minimum = self.settings.min_latency_samples
        stats = self.stats
        ttft = stats.ewma_ttft_s if stats.ttft_samples >= minimum else None
        latency = stats.ewma_latency_s if stats.latency_samples >= minimum else None
        return ttft, latency

    def _slow_reason(self, ttft_s: float | None, latency_s: float | None, *, label: str) -> str | None:
        settings, stats = self.settings, self.stats
        for kind, value, limit in (
            ("ttft", ttft_s, settings.ttft_threshold_s),
            ("latency", latency_s, settings.latency_threshold_s),
        ):
            if value is not None and limit is not None and value > limit:
                return f"{kind}_threshold: {label} {kind} {value:.3f}s > {limit:.3f}s"
        factor = settings.latency_factor
        if factor is None:
            return None
        for kind, value, baseline, samples in (
            ("ttft", ttft_s, stats.baseline_ttft_s, stats.baseline_ttft_samples),
            ("latency", latency_s, stats.baseline_latency_s, stats.baseline_latency_samples),
        ):
            if value is None or baseline is None or samples < BASELINE_MIN_SAMPLES:
                continue
            if value > factor * baseline:
                return f"latency_factor: {label} {kind} {value:.3f}s > {factor:g} x baseline {baseline:.3f}s"
        return None

    def _failure_reason(self, reason: str) -> str | None:
        settings, stats = self.settings, self.stats
        if stats.consecutive_failures >= settings.consecutive_failures:
            return f"consecutive_failures: {stats.consecutive_failures} in a row (last: {reason})"
        rate, volume = stats.error_rate()
        if volume >= settings.min_requests and rate >= settings.error_rate:
            return (
                f"error_rate: {rate:.0%} of {volume} attempts in {settings.window_seconds:g}s "
                f">= {settings.error_rate:.0%} (last: {reason})"
            )
        return None

    # ------------------------------------------------------------------ transitions

    def _judge_probe(self, latency_s: float, ttft_s: float | None) -> None:
        reason = self._slow_reason(ttft_s, latency_s, label="probe")
        if reason is not None:
            self._probe_failed(f"probe slow: {reason}")
            return
        # Judge the recovered deployment on fresh numbers: failures and slow averages from
        # before the outage would otherwise reopen the breaker on its next bad request.
        self.stats.restart_window()
        self.stats.restart_fast_averages(latency_s, ttft_s)
        self._opened_at = None
        self._open_seconds = self.settings.open_seconds
        self._failed_probes = 0
        self._probes_in_flight = 0
        self._move(CLOSED, "probe succeeded")

    def _probe_failed(self, reason: str) -> None:
        self._failed_probes += 1
        multiplier = min(2**self._failed_probes, MAX_OPEN_MULTIPLIER)
        self._open_seconds = self.settings.open_seconds * multiplier
        self._open(reason)

    def _open(self, reason: str) -> None:
        self._opened_at = self._clock()
        self._probes_in_flight = 0
        self._move(OPEN, reason)

    def _move(self, new_state: BreakerState, reason: str) -> None:
        old_state, self._state = self._state, new_state
        self._reason = reason
        if self._on_transition is not None:
            self._on_transition(self.name, old_state, new_state, reason)
