"""Deployment statistics: load, error window, fast and baseline averages, TTFT quantiles."""

from __future__ import annotations

import json

import pytest

from bastion.routing.stats import DeploymentStats
from tests.unit.routing.conftest import FakeClock


@pytest.fixture
def stats(clock: FakeClock) -> DeploymentStats:
    return DeploymentStats(clock=clock)


# --------------------------------------------------------------------------- in flight


def test_in_flight_counts_up_and_down(stats: DeploymentStats) -> None:
    stats.started()
    stats.started()
    stats.finished()
    assert stats.in_flight == 1


def test_in_flight_never_goes_negative(stats: DeploymentStats) -> None:
    stats.finished()
    stats.finished()
    assert stats.in_flight == 0
    stats.started()
    assert stats.in_flight == 1


# --------------------------------------------------------------------------- error window


def test_error_rate_is_zero_without_traffic(stats: DeploymentStats) -> None:
    assert stats.error_rate() == (0.0, 0)


def test_error_rate_and_volume(stats: DeploymentStats) -> None:
    for _ in range(3):
        stats.record_success(0.1)
    stats.record_failure()
    assert stats.error_rate() == (0.25, 4)


def test_error_rate_slides_with_the_clock(clock: FakeClock, stats: DeploymentStats) -> None:
    stats.record_failure()
    stats.record_failure()
    clock.advance(20)
    stats.record_success(0.1)
    assert stats.error_rate() == (pytest.approx(2 / 3), 3)
    clock.advance(10)  # the failures are 30 s old now
    assert stats.error_rate() == (0.0, 1)
    clock.advance(20)
    assert stats.error_rate() == (0.0, 0)


def test_window_length_is_configurable(clock: FakeClock) -> None:
    stats = DeploymentStats(clock=clock, window_seconds=5)
    stats.record_failure()
    clock.advance(5)
    assert stats.error_rate() == (0.0, 0)


def test_restart_window_forgets_outcomes_but_not_averages(stats: DeploymentStats) -> None:
    stats.record_failure()
    stats.record_success(0.2)
    stats.restart_window()
    assert stats.error_rate() == (0.0, 0)
    assert stats.ewma_latency_s == 0.2


# --------------------------------------------------------------------------- failures


def test_consecutive_failures_reset_on_success(clock: FakeClock, stats: DeploymentStats) -> None:
    stats.record_failure()
    clock.advance(1)
    stats.record_failure()
    assert stats.consecutive_failures == 2
    assert stats.last_failure_at == 1001.0
    stats.record_success(0.1)
    assert stats.consecutive_failures == 0
    assert stats.last_failure_at == 1001.0  # the last failure is still remembered
    assert stats.last_success_at == 1001.0


# --------------------------------------------------------------------------- averages


def test_averages_are_none_until_the_first_sample(stats: DeploymentStats) -> None:
    assert stats.ewma_latency_s is None
    assert stats.ewma_ttft_s is None
    assert stats.baseline_latency_s is None
    assert stats.baseline_ttft_s is None
    stats.record_success(1.0)
    assert stats.ewma_ttft_s is None  # no TTFT given (not a stream)


def test_first_sample_seeds_then_ewma_follows_alpha(stats: DeploymentStats) -> None:
    stats.record_success(1.0, 0.5)
    assert stats.ewma_latency_s == 1.0
    assert stats.ewma_ttft_s == 0.5
    stats.record_success(2.0, 1.5)
    assert stats.ewma_latency_s == pytest.approx(0.3 * 2.0 + 0.7 * 1.0)
    assert stats.ewma_ttft_s == pytest.approx(0.3 * 1.5 + 0.7 * 0.5)
    assert (stats.latency_samples, stats.ttft_samples) == (2, 2)


def test_baseline_moves_slowly(stats: DeploymentStats) -> None:
    stats.record_success(1.0, 0.5)
    stats.record_success(2.0, 1.5)
    assert stats.baseline_latency_s == pytest.approx(0.05 * 2.0 + 0.95 * 1.0)
    assert stats.baseline_ttft_s == pytest.approx(0.05 * 1.5 + 0.95 * 0.5)
    assert (stats.baseline_latency_samples, stats.baseline_ttft_samples) == (2, 2)


def test_unhealthy_samples_skip_the_baseline(stats: DeploymentStats) -> None:
    stats.record_success(1.0, 0.5)
    stats.record_success(9.0, 8.0, healthy=False)
    assert stats.baseline_latency_s == 1.0
    assert stats.baseline_ttft_s == 0.5
    assert stats.baseline_latency_samples == 1
    assert stats.ewma_latency_s == pytest.approx(0.3 * 9.0 + 0.7 * 1.0)


def test_custom_alphas(clock: FakeClock) -> None:
    stats = DeploymentStats(clock=clock, alpha=1.0, baseline_alpha=0.5)
    stats.record_success(1.0)
    stats.record_success(3.0)
    assert stats.ewma_latency_s == 3.0
    assert stats.baseline_latency_s == 2.0


@pytest.mark.parametrize("field", ["alpha", "baseline_alpha"])
@pytest.mark.parametrize("value", [0.0, -0.1, 1.5])
def test_rejects_alpha_out_of_range(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        DeploymentStats(**{field: value})  # type: ignore[arg-type]


def test_pending_ttft_feeds_only_the_fast_average(stats: DeploymentStats) -> None:
    stats.record_success(1.0, 0.2)
    stats.record_pending_ttft(3.0)
    assert stats.ewma_ttft_s == pytest.approx(0.3 * 3.0 + 0.7 * 0.2)
    assert stats.ttft_samples == 2
    assert stats.baseline_ttft_s == 0.2
    assert stats.ttft_quantile(1.0) == 0.2  # the ring only holds finished TTFTs
    assert stats.error_rate() == (0.0, 1)  # and it is not an outcome


def test_restart_fast_averages_from_one_sample(stats: DeploymentStats) -> None:
    for _ in range(5):
        stats.record_success(5.0, 4.0)
    stats.restart_fast_averages(0.3, 0.1)
    assert (stats.ewma_latency_s, stats.latency_samples) == (0.3, 1)
    assert (stats.ewma_ttft_s, stats.ttft_samples) == (0.1, 1)
    assert stats.baseline_latency_s == 5.0  # the baseline is untouched
    stats.restart_fast_averages(0.3)
    assert (stats.ewma_ttft_s, stats.ttft_samples) == (None, 0)


# --------------------------------------------------------------------------- quantiles


def test_quantile_is_none_without_samples(stats: DeploymentStats) -> None:
    assert stats.ttft_quantile(0.95) is None


def test_quantile_interpolates(stats: DeploymentStats) -> None:
    for ttft in (0.4, 0.1, 0.3, 0.2, 0.5):  # order does not matter
        stats.record_success(1.0, ttft)
    assert stats.ttft_quantile(0.0) == 0.1
    assert stats.ttft_quantile(0.5) == 0.3
    assert stats.ttft_quantile(1.0) == 0.5
    assert stats.ttft_quantile(0.95) == pytest.approx(0.48)


def test_quantile_over_a_bounded_ring_of_recent_samples(clock: FakeClock) -> None:
    stats = DeploymentStats(clock=clock, ttft_history=10)
    for _ in range(10):
        stats.record_success(1.0, 9.0)
    assert stats.ttft_quantile(0.5) == 9.0
    for _ in range(10):
        stats.record_success(1.0, 0.1)  # pushes every old sample out
    assert stats.ttft_quantile(1.0) == 0.1


def test_quantile_sees_new_samples_after_being_read(stats: DeploymentStats) -> None:
    stats.record_success(1.0, 0.1)
    assert stats.ttft_quantile(1.0) == 0.1
    stats.record_success(1.0, 0.7)
    assert stats.ttft_quantile(1.0) == 0.7


def test_p95_of_a_uniform_spread(stats: DeploymentStats) -> None:
    for millis in range(1, 101):
        stats.record_success(1.0, millis / 1000)
    assert stats.ttft_quantile(0.95) == pytest.approx(0.09505)


@pytest.mark.parametrize("q", [-0.1, 1.1])
def test_quantile_out_of_range(stats: DeploymentStats, q: float) -> None:
    with pytest.raises(ValueError, match="quantile"):
        stats.ttft_quantile(q)


# --------------------------------------------------------------------------- snapshot


def test_snapshot_is_json_ready_and_in_milliseconds(clock: FakeClock, stats: DeploymentStats) -> None:
    stats.started()
    stats.record_success(0.25, 0.1)
    stats.record_failure()
    clock.advance(2.5)
    snapshot = stats.snapshot()
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert snapshot == {
        "in_flight": 1,
        "ewma_latency_ms": 250.0,
        "ewma_ttft_ms": 100.0,
        "baseline_latency_ms": 250.0,
        "baseline_ttft_ms": 100.0,
        "ttft_p95_ms": 100.0,
        "error_rate": 0.5,
        "requests_in_window": 2,
        "window_seconds": 30.0,
        "consecutive_failures": 1,
        "seconds_since_last_failure": 2.5,
    }


def test_snapshot_of_a_fresh_deployment(stats: DeploymentStats) -> None:
    snapshot = stats.snapshot()
    assert snapshot["ewma_latency_ms"] is None
    assert snapshot["ttft_p95_ms"] is None
    assert snapshot["seconds_since_last_failure"] is None
    assert snapshot["requests_in_window"] == 0
