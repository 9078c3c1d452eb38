"""Circuit breaker: opening rules, lazy half-open, probes, back-off and latency degradation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bastion.routing.breaker import BreakerSettings, CircuitBreaker
from bastion.routing.stats import DeploymentStats
from tests.unit.routing.conftest import FakeClock

Transitions = list[tuple[str, str, str, str]]
MakeBreaker = Callable[..., CircuitBreaker]


@pytest.fixture
def transitions() -> Transitions:
    return []


@pytest.fixture
def make(clock: FakeClock, transitions: Transitions) -> MakeBreaker:
    def build(**overrides: Any) -> CircuitBreaker:
        settings = BreakerSettings(**overrides)
        stats = DeploymentStats(clock=clock, window_seconds=settings.window_seconds)
        return CircuitBreaker(
            "chat/openai/gpt#0",
            settings,
            stats,
            clock=clock,
            on_transition=lambda *event: transitions.append(event),
        )

    return build


def fail(breaker: CircuitBreaker, times: int, reason: str = "error") -> None:
    for _ in range(times):
        breaker.record_failure(reason)


def open_breaker(breaker: CircuitBreaker) -> None:
    fail(breaker, breaker.settings.consecutive_failures)
    assert breaker.state == "open"


# --------------------------------------------------------------------------- closed → open on errors


def test_starts_closed_and_admits(make: MakeBreaker) -> None:
    breaker = make()
    assert breaker.state == "closed"
    assert breaker.try_acquire()
    assert breaker.opened_at is None


def test_opens_on_consecutive_failures(make: MakeBreaker, transitions: Transitions, clock: FakeClock) -> None:
    breaker = make()
    fail(breaker, 4)
    assert breaker.state == "closed"
    breaker.record_failure("upstream 503")
    assert breaker.state == "open"
    assert not breaker.try_acquire()
    assert breaker.opened_at == clock.now
    assert breaker.last_failure_at == clock.now
    [(name, old, new, reason)] = transitions
    assert (name, old, new) == ("chat/openai/gpt#0", "closed", "open")
    assert "consecutive_failures" in reason
    assert "5" in reason
    assert "upstream 503" in reason


def test_success_resets_the_consecutive_count(make: MakeBreaker) -> None:
    breaker = make()
    fail(breaker, 4)
    breaker.record_success(0.1)
    fail(breaker, 4)
    assert breaker.state == "closed"


def test_opens_on_error_rate_once_volume_is_reached(make: MakeBreaker, transitions: Transitions) -> None:
    breaker = make(min_requests=20, error_rate=0.5)
    for _ in range(9):
        breaker.record_success(0.1)
        breaker.record_failure()
    assert breaker.state == "closed"  # 50 % but only 18 attempts
    breaker.record_success(0.1)
    breaker.record_failure()
    assert breaker.state == "open"
    [(_, _, _, reason)] = transitions
    assert reason.startswith("error_rate: 50% of 20 attempts")


def test_error_rate_below_threshold_stays_closed(make: MakeBreaker) -> None:
    breaker = make(min_requests=20, error_rate=0.5)
    for _ in range(20):
        breaker.record_success(0.1)
        breaker.record_success(0.1)
        breaker.record_success(0.1)
        breaker.record_failure()
        breaker.record_failure()
    assert breaker.state == "closed"  # 40 %


def test_old_failures_leave_the_error_window(make: MakeBreaker, clock: FakeClock) -> None:
    breaker = make(min_requests=4, error_rate=0.5, window_seconds=10)
    fail(breaker, 3)
    breaker.record_success(0.1)
    clock.advance(10)
    breaker.record_success(0.1)
    breaker.record_success(0.1)
    breaker.record_success(0.1)
    breaker.record_failure()
    assert breaker.state == "closed"  # 1 of 4 in the window, the earlier 3 failures expired


# --------------------------------------------------------------------------- open → half-open → closed


def test_turns_half_open_after_open_seconds(
    make: MakeBreaker, clock: FakeClock, transitions: Transitions
) -> None:
    breaker = make(open_seconds=15)
    open_breaker(breaker)
    clock.advance(14.99)
    assert breaker.state == "open"
    assert not breaker.try_acquire()
    clock.advance(0.01)
    assert breaker.state == "half_open"
    assert transitions[-1][1:3] == ("open", "half_open")


def test_half_open_admits_only_the_probe_count(make: MakeBreaker, clock: FakeClock) -> None:
    breaker = make(half_open_probes=2)
    open_breaker(breaker)
    clock.advance(15)
    assert breaker.try_acquire()
    assert breaker.try_acquire()
    assert not breaker.try_acquire()
    breaker.release_probe()
    assert breaker.try_acquire()
    assert not breaker.try_acquire()


def test_release_probe_outside_half_open_does_nothing(make: MakeBreaker, clock: FakeClock) -> None:
    breaker = make()
    breaker.release_probe()
    open_breaker(breaker)
    clock.advance(15)
    breaker.release_probe()  # no probe taken yet: must not create a second slot
    assert breaker.try_acquire()
    assert not breaker.try_acquire()


def test_probe_success_closes(make: MakeBreaker, clock: FakeClock, transitions: Transitions) -> None:
    breaker = make()
    open_breaker(breaker)
    clock.advance(15)
    assert breaker.try_acquire()
    breaker.record_success(0.2)
    assert breaker.state == "closed"
    assert breaker.opened_at is None
    assert transitions[-1][1:] == ("half_open", "closed", "probe succeeded")
    assert breaker.try_acquire()


def test_recovery_forgets_the_failures_before_it(make: MakeBreaker, clock: FakeClock) -> None:
    breaker = make(min_requests=4, error_rate=0.5, consecutive_failures=3)
    fail(breaker, 3)
    clock.advance(15)
    breaker.try_acquire()
    breaker.record_success(0.1)
    breaker.record_failure()
    # Without a fresh window this would be 4 failures of 5 attempts: open again at once.
    assert breaker.state == "closed"


def test_probe_failure_reopens_with_doubling_rest(make: MakeBreaker, clock: FakeClock) -> None:
    breaker = make(open_seconds=10)
    open_breaker(breaker)
    rests = []
    for _ in range(5):
        clock.advance(breaker.open_seconds)
        assert breaker.try_acquire()
        breaker.record_failure("timeout")
        assert breaker.state == "open"
        assert breaker.opened_at == clock.now  # the timer restarted
        rests.append(breaker.open_seconds)
    assert rests == [20, 40, 80, 80, 80]  # capped at 8x
    clock.advance(79.9)
    assert breaker.state == "open"
    clock.advance(0.1)
    assert breaker.state == "half_open"


def test_probe_failure_reason(make: MakeBreaker, clock: FakeClock, transitions: Transitions) -> None:
    breaker = make()
    open_breaker(breaker)
    clock.advance(15)
    breaker.try_acquire()
    breaker.record_failure("upstream 500")
    assert transitions[-1][1:] == ("half_open", "open", "probe failed: upstream 500")


def test_closing_resets_the_rest_period(make: MakeBreaker, clock: FakeClock) -> None:
    breaker = make(open_seconds=10)
    open_breaker(breaker)
    clock.advance(10)
    breaker.try_acquire()
    breaker.record_failure()
    clock.advance(20)
    breaker.try_acquire()
    breaker.record_success(0.1)
    assert breaker.state == "closed"
    open_breaker(breaker)
    assert breaker.open_seconds == 10
    clock.advance(10)
    assert breaker.state == "half_open"


def test_failures_while_open_do_not_restart_the_timer(make: MakeBreaker, clock: FakeClock) -> None:
    breaker = make()
    open_breaker(breaker)
    opened = breaker.opened_at
    clock.advance(10)
    fail(breaker, 3)  # stragglers started before the breaker opened
    assert breaker.opened_at == opened
    clock.advance(5)
    assert breaker.state == "half_open"
    assert breaker.stats.consecutive_failures == 8  # the stats still saw them


def test_samples_outside_closed_do_not_shape_the_baseline(make: MakeBreaker, clock: FakeClock) -> None:
    breaker = make()
    breaker.record_success(0.1, 0.05)
    open_breaker(breaker)
    breaker.record_success(9.0, 8.0)  # a straggler while open
    clock.advance(15)
    breaker.try_acquire()
    breaker.record_success(7.0, 6.0)  # the probe
    assert breaker.stats.baseline_latency_s == 0.1
    assert breaker.stats.baseline_ttft_s == 0.05


# --------------------------------------------------------------------------- latency degradation


def test_opens_when_ttft_average_passes_the_threshold(make: MakeBreaker, transitions: Transitions) -> None:
    breaker = make(ttft_threshold_s=1.0, min_latency_samples=5)
    for _ in range(4):
        breaker.record_success(3.0, 2.0)
    assert breaker.state == "closed"  # too few samples to judge
    breaker.record_success(3.0, 2.0)
    assert breaker.state == "open"
    assert transitions[-1][3] == "ttft_threshold: ewma ttft 2.000s > 1.000s"


def test_ttft_below_threshold_stays_closed(make: MakeBreaker) -> None:
    breaker = make(ttft_threshold_s=1.0)
    for _ in range(50):
        breaker.record_success(3.0, 0.9)
    assert breaker.state == "closed"


def test_opens_when_latency_average_passes_the_threshold(make: MakeBreaker, transitions: Transitions) -> None:
    breaker = make(latency_threshold_s=2.0, min_latency_samples=3)
    breaker.record_success(2.5)
    breaker.record_success(2.5)
    assert breaker.state == "closed"
    breaker.record_success(2.5)
    assert breaker.state == "open"
    assert transitions[-1][3] == "latency_threshold: ewma latency 2.500s > 2.000s"


def test_one_slow_request_does_not_open_an_average(make: MakeBreaker) -> None:
    breaker = make(latency_threshold_s=2.0, min_latency_samples=1)
    for _ in range(10):
        breaker.record_success(0.5)
    breaker.record_success(5.0)  # ewma = 0.3 × 5 + 0.7 × 0.5 = 1.85
    assert breaker.state == "closed"


def test_opens_when_latency_degrades_against_the_baseline(
    make: MakeBreaker, transitions: Transitions
) -> None:
    breaker = make(latency_factor=3.0)
    for _ in range(10):
        breaker.record_success(0.1)
    slow = 0
    while breaker.state == "closed" and slow < 10:
        breaker.record_success(1.0)
        slow += 1
    assert breaker.state == "open"
    assert slow == 3  # ewma 0.69 s > 3 × baseline 0.23 s after the third slow answer
    assert transitions[-1][3].startswith("latency_factor: ewma latency 0.691s > 3 x baseline 0.228s")


def test_factor_applies_to_ttft_too(make: MakeBreaker, transitions: Transitions) -> None:
    breaker = make(latency_factor=3.0)
    for _ in range(10):
        breaker.record_success(2.0, 0.1)
    for _ in range(3):
        breaker.record_success(2.0, 1.0)
    assert breaker.state == "open"
    assert "latency_factor: ewma ttft" in transitions[-1][3]


@pytest.mark.parametrize(("healthy_samples", "state"), [(8, "closed"), (9, "open")])
def test_factor_waits_for_ten_baseline_samples(make: MakeBreaker, healthy_samples: int, state: str) -> None:
    breaker = make(latency_factor=3.0, min_latency_samples=1)
    for _ in range(healthy_samples):
        breaker.record_success(0.1)
    breaker.record_success(5.0)  # baseline now holds healthy_samples + 1 samples
    assert breaker.state == state


def test_slow_in_flight_requests_open_before_they_finish(make: MakeBreaker, transitions: Transitions) -> None:
    breaker = make(ttft_threshold_s=1.0, min_latency_samples=5)
    for _ in range(4):
        breaker.record_slow(1.5)
    assert breaker.state == "closed"
    breaker.record_slow(1.5)
    assert breaker.state == "open"
    assert transitions[-1][3] == "ttft_threshold: ewma ttft 1.500s > 1.000s"
    assert breaker.stats.baseline_ttft_s is None  # slow samples are never "healthy"
    assert breaker.stats.error_rate() == (0.0, 0)


def test_slow_probe_fails_the_probe_before_it_ends(
    make: MakeBreaker, clock: FakeClock, transitions: Transitions
) -> None:
    breaker = make(ttft_threshold_s=1.0)
    open_breaker(breaker)
    clock.advance(15)
    assert breaker.try_acquire()
    breaker.record_slow(0.5)  # not slow enough to judge
    assert breaker.state == "half_open"
    breaker.record_slow(1.2)
    assert breaker.state == "open"
    assert breaker.open_seconds == 30
    assert transitions[-1][3] == "probe slow: ttft_threshold: probe ttft 1.200s > 1.000s"


def test_probe_that_answers_slowly_reopens(
    make: MakeBreaker, clock: FakeClock, transitions: Transitions
) -> None:
    breaker = make(latency_threshold_s=2.0)
    open_breaker(breaker)
    clock.advance(15)
    breaker.try_acquire()
    breaker.record_success(3.0)
    assert breaker.state == "open"
    assert transitions[-1][3] == "probe slow: latency_threshold: probe latency 3.000s > 2.000s"


def test_recovery_from_slowness_starts_fresh_averages(make: MakeBreaker, clock: FakeClock) -> None:
    breaker = make(ttft_threshold_s=1.0, min_latency_samples=1)
    for _ in range(5):
        breaker.record_success(3.0, 2.0)
    assert breaker.state == "open"
    clock.advance(15)
    breaker.try_acquire()
    breaker.record_success(0.5, 0.2)
    assert breaker.state == "closed"
    # Blended with the slow past, the average would be 0.3 × 0.2 + 0.7 × 2.0 = 1.46 s: open again.
    breaker.record_success(0.5, 0.2)
    assert breaker.state == "closed"
    assert breaker.stats.ewma_ttft_s == pytest.approx(0.2)


# --------------------------------------------------------------------------- trip


def test_trip_opens_at_once(make: MakeBreaker, transitions: Transitions) -> None:
    breaker = make()
    breaker.trip("the provider rejected the gateway's key")
    assert breaker.state == "open"
    assert transitions == [("chat/openai/gpt#0", "closed", "open", "the provider rejected the gateway's key")]
    assert breaker.stats.error_rate() == (0.0, 0)


def test_trip_while_open_restarts_the_rest_silently(
    make: MakeBreaker, clock: FakeClock, transitions: Transitions
) -> None:
    breaker = make(open_seconds=15)
    open_breaker(breaker)
    clock.advance(10)
    breaker.trip("again")
    assert len(transitions) == 1
    clock.advance(10)
    assert breaker.state == "open"
    clock.advance(5)
    assert breaker.state == "half_open"


def test_trip_during_half_open_reopens_and_frees_probes(make: MakeBreaker, clock: FakeClock) -> None:
    breaker = make()
    open_breaker(breaker)
    clock.advance(15)
    assert breaker.try_acquire()
    breaker.trip("bad key")
    assert breaker.state == "open"
    clock.advance(15)
    assert breaker.try_acquire()


def test_trip_on_a_disabled_breaker_does_nothing(make: MakeBreaker) -> None:
    breaker = make(enabled=False)
    breaker.trip("bad key")
    assert breaker.state == "closed"


# --------------------------------------------------------------------------- disabled, wiring, settings


def test_disabled_breaker_never_opens(make: MakeBreaker, transitions: Transitions) -> None:
    breaker = make(enabled=False, ttft_threshold_s=0.1)
    fail(breaker, 100)
    for _ in range(10):
        breaker.record_slow(5.0)
        breaker.record_success(5.0, 5.0)
    assert breaker.state == "closed"
    assert breaker.try_acquire()
    assert transitions == []
    assert breaker.stats.error_rate()[1] == 110  # statistics are still kept


def test_works_without_a_transition_hook(clock: FakeClock) -> None:
    stats = DeploymentStats(clock=clock)
    breaker = CircuitBreaker("x", BreakerSettings(), stats, clock=clock)
    fail(breaker, 5)
    assert breaker.state == "open"


def test_rejects_a_stats_window_that_differs(clock: FakeClock) -> None:
    stats = DeploymentStats(clock=clock, window_seconds=10)
    with pytest.raises(ValueError, match="window"):
        CircuitBreaker("x", BreakerSettings(window_seconds=30), stats, clock=clock)
    CircuitBreaker("x", BreakerSettings(window_seconds=30, enabled=False), stats, clock=clock)


@pytest.mark.parametrize(
    "overrides",
    [
        {"consecutive_failures": 0},
        {"error_rate": 0},
        {"error_rate": 1.5},
        {"min_requests": 0},
        {"window_seconds": 0},
        {"ttft_threshold_s": 0},
        {"latency_threshold_s": -1},
        {"latency_factor": 1.0},
        {"min_latency_samples": 0},
        {"open_seconds": 0},
        {"half_open_probes": 0},
    ],
)
def test_rejects_invalid_settings(overrides: dict[str, Any]) -> None:
    field = next(iter(overrides)).removesuffix("_s")
    with pytest.raises(ValueError, match=field):
        BreakerSettings(**overrides)


def test_snapshot_is_json_ready(make: MakeBreaker, clock: FakeClock) -> None:
    breaker = make()
    assert breaker.snapshot()["state"] == "closed"
    open_breaker(breaker)
    clock.advance(4)
    snapshot = breaker.snapshot()
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert snapshot == {
        "name": "chat/openai/gpt#0",
        "state": "open",
        "reason": "consecutive_failures: 5 in a row (last: error)",
        "enabled": True,
        "seconds_since_opened": 4.0,
        "seconds_until_probe": 11.0,
        "open_seconds": 15.0,
        "failed_probes": 0,
        "probes_in_flight": 0,
    }
    clock.advance(11)
    assert breaker.snapshot()["state"] == "half_open"
    assert breaker.snapshot()["seconds_until_probe"] is None
