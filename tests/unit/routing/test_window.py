"""Bucketed sliding window: counts appear at once and leave after the window has passed."""

from __future__ import annotations

import pytest

from bastion.routing._window import RollingCounts, bucket_count
from tests.unit.routing.conftest import FakeClock


def test_counts_each_field_separately(clock: FakeClock) -> None:
    counts = RollingCounts(2, window_seconds=30, clock=clock)
    counts.add(0)
    counts.add(0)
    counts.add(1, 5)
    assert counts.totals() == (2, 5)


def test_event_stays_until_the_window_has_passed(clock: FakeClock) -> None:
    counts = RollingCounts(1, window_seconds=30, clock=clock)
    counts.add(0)
    clock.advance(29.99)
    assert counts.totals() == (1,)
    clock.advance(0.01)
    assert counts.totals() == (0,)


def test_event_late_in_a_bucket_leaves_within_one_bucket_of_the_window(clock: FakeClock) -> None:
    clock.now = 1000.9  # late in its 1-s bucket
    counts = RollingCounts(1, window_seconds=30, clock=clock)
    counts.add(0)
    clock.advance(29.0)
    assert counts.totals() == (1,)  # 29 s later: inside the window
    clock.advance(0.2)
    assert counts.totals() == (0,)  # 29.2 s later: its bucket expired (granularity = 1 s)


def test_only_expired_buckets_are_dropped(clock: FakeClock) -> None:
    counts = RollingCounts(1, window_seconds=10, clock=clock)
    for _ in range(10):
        counts.add(0)
        clock.advance(1.0)
    # Events at t=0..9; now t=10: the first one has left.
    assert counts.totals() == (9,)
    clock.advance(5.0)
    assert counts.totals() == (4,)


def test_a_long_gap_clears_everything(clock: FakeClock) -> None:
    counts = RollingCounts(1, window_seconds=10, clock=clock)
    counts.add(0, 3)
    clock.advance(10_000.0)
    assert counts.totals() == (0,)
    counts.add(0)
    assert counts.totals() == (1,)


def test_clock_going_backwards_keeps_counting(clock: FakeClock) -> None:
    counts = RollingCounts(1, window_seconds=10, clock=clock)
    counts.add(0)
    clock.advance(-5.0)
    counts.add(0)
    assert counts.totals() == (2,)


def test_clear_empties_the_window(clock: FakeClock) -> None:
    counts = RollingCounts(2, window_seconds=10, clock=clock)
    counts.add(0)
    counts.add(1)
    counts.clear()
    assert counts.totals() == (0, 0)
    clock.advance(3)
    counts.add(1)
    assert counts.totals() == (0, 1)


def test_short_window_uses_sub_second_buckets(clock: FakeClock) -> None:
    counts = RollingCounts(1, window_seconds=1.0, clock=clock)
    counts.add(0)
    clock.advance(0.95)
    assert counts.totals() == (1,)
    clock.advance(0.1)
    assert counts.totals() == (0,)


@pytest.mark.parametrize(("window", "buckets"), [(0.5, 10), (10, 10), (30, 30), (30.5, 31), (3600, 120)])
def test_bucket_count(window: float, buckets: int) -> None:
    assert bucket_count(window) == buckets


@pytest.mark.parametrize("window", [0, -1])
def test_rejects_empty_window(window: float) -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        RollingCounts(1, window_seconds=window)
