"""Backoff with full jitter, Retry-After handling and the sliding retry budget."""

from __future__ import annotations

import json
import random

import pytest

from bastion.routing.retry import RetryBudget, RetrySettings, backoff_delay, wait_before_retry
from tests.unit.routing.conftest import FakeClock


class FixedUniform(random.Random):
    """Returns the top of every uniform range, to read the backoff cap directly."""

    def uniform(self, a: float, b: float) -> float:
        return b


# --------------------------------------------------------------------------- settings


def test_settings_defaults() -> None:
    settings = RetrySettings()
    assert (settings.max_attempts, settings.backoff_base_s, settings.backoff_max_s) == (3, 0.05, 2.0)
    assert settings.max_retry_after_s == 5.0


@pytest.mark.parametrize(
    "overrides",
    [{"max_attempts": 0}, {"backoff_base_s": -0.1}, {"backoff_max_s": -1}, {"max_retry_after_s": -1}],
)
def test_settings_reject_invalid_values(overrides: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(overrides))):
        RetrySettings(**overrides)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- backoff


def test_backoff_cap_doubles_then_saturates() -> None:
    settings = RetrySettings(backoff_base_s=0.05, backoff_max_s=2.0)
    caps = [backoff_delay(attempt, settings, FixedUniform()) for attempt in range(1, 9)]
    assert caps == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0])


def test_backoff_survives_absurd_attempt_numbers() -> None:
    assert backoff_delay(10_000, RetrySettings(), FixedUniform()) == 2.0


def test_backoff_is_full_jitter() -> None:
    settings = RetrySettings(backoff_base_s=0.1, backoff_max_s=10)
    rng = random.Random(5)
    delays = [backoff_delay(3, settings, rng) for _ in range(5000)]  # cap 0.4
    assert min(delays) >= 0.0
    assert max(delays) <= 0.4
    assert min(delays) < 0.01  # reaches down to ~0 …
    assert max(delays) > 0.39  # … and up to the cap
    assert sum(delays) / len(delays) == pytest.approx(0.2, abs=0.01)


def test_backoff_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(0, RetrySettings(), random.Random(0))


def test_zero_base_means_no_wait() -> None:
    assert backoff_delay(4, RetrySettings(backoff_base_s=0), random.Random(0)) == 0.0


# --------------------------------------------------------------------------- Retry-After


def test_without_retry_after_the_backoff_applies() -> None:
    settings = RetrySettings()
    assert wait_before_retry(None, 2, settings, random.Random(9)) == backoff_delay(
        2, settings, random.Random(9)
    )


@pytest.mark.parametrize("retry_after", [0.0, 1.5, 5.0])
def test_short_retry_after_is_honoured_exactly(retry_after: float) -> None:
    assert (
        wait_before_retry(retry_after, 1, RetrySettings(max_retry_after_s=5), random.Random(0)) == retry_after
    )


def test_long_retry_after_means_fail_over() -> None:
    assert wait_before_retry(5.01, 1, RetrySettings(max_retry_after_s=5), random.Random(0)) is None
    assert wait_before_retry(60, 1, RetrySettings(max_retry_after_s=5), random.Random(0)) is None


def test_negative_retry_after_waits_nothing() -> None:
    assert wait_before_retry(-3, 1, RetrySettings(), random.Random(0)) == 0.0


# --------------------------------------------------------------------------- budget


def spend_all(budget: RetryBudget, limit: int = 10_000) -> int:
    spent = 0
    while spent < limit and budget.try_spend():
        spent += 1
    return spent


@pytest.mark.parametrize(("minimum_per_second", "allowed"), [(0.0, 20), (1.0, 30), (0.25, 22)])
def test_budget_allows_ratio_of_requests_plus_the_floor(
    clock: FakeClock, minimum_per_second: float, allowed: int
) -> None:
    budget = RetryBudget(ratio=0.2, window_seconds=10, min_retries_per_second=minimum_per_second, clock=clock)
    for _ in range(100):
        budget.record_request()
    assert spend_all(budget) == allowed
    assert not budget.try_spend()
    assert budget.snapshot()["retries_in_window"] == allowed  # refusals spend nothing


def test_quiet_gateway_still_gets_the_floor(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.2, window_seconds=10, min_retries_per_second=1.0, clock=clock)
    assert spend_all(budget) == 10


def test_zero_budget_refuses_everything(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.0, min_retries_per_second=0.0, clock=clock)
    for _ in range(50):
        budget.record_request()
    assert not budget.try_spend()


def test_budget_window_slides_with_the_clock(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.2, window_seconds=10, min_retries_per_second=0.0, clock=clock)
    for _ in range(100):
        budget.record_request()
    assert spend_all(budget) == 20
    clock.advance(5)
    for _ in range(100):
        budget.record_request()
    assert spend_all(budget) == 20  # 200 requests allow 40, 20 were spent
    clock.advance(5)
    # The first 100 requests and 20 retries have left; 100 requests and 20 retries remain.
    assert budget.snapshot()["requests_in_window"] == 100
    assert not budget.try_spend()
    clock.advance(5)
    assert budget.snapshot()["requests_in_window"] == 0
    for _ in range(10):
        budget.record_request()
    assert spend_all(budget) == 2


def test_budget_snapshot(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.5, window_seconds=10, min_retries_per_second=0.5, clock=clock)
    for _ in range(4):
        budget.record_request()
    budget.try_spend()
    snapshot = budget.snapshot()
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert snapshot == {
        "requests_in_window": 4,
        "retries_in_window": 1,
        "allowance": 7.0,
        "ratio": 0.5,
        "window_seconds": 10,
        "min_retries_per_second": 0.5,
    }


def test_budget_rejects_negative_settings() -> None:
    with pytest.raises(ValueError):
        RetryBudget(ratio=-0.1)
    with pytest.raises(ValueError):
        RetryBudget(min_retries_per_second=-1)
