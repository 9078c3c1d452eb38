"""Deferred counters and histograms read exactly as prometheus-client's own once the registry is read."""

from __future__ import annotations

import asyncio
import math

import pytest
from prometheus_client import Counter, Histogram, generate_latest

from bastion.telemetry import deferred as deferred_module
from bastion.telemetry.deferred import FlushingRegistry, deferred, flush, flush_periodically

BOUNDS = (0.01, 0.1, 1.0, 10.0)
VALUES = (0.0, 0.01, 0.010001, 0.05, 0.1, 0.5, 1.0, 9.99, 10.0, 10.01, 1e9, -1.0, math.inf)


def pair(one: FlushingRegistry, two: FlushingRegistry) -> tuple[Histogram, Histogram]:
    direct = Histogram("h", "direct", ["k"], buckets=BOUNDS, registry=one)
    later = Histogram("h", "deferred", ["k"], buckets=BOUNDS, registry=two)
    return direct, later


def samples(registry: FlushingRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    }


def test_histogram_buckets_sum_and_count_match_prometheus_client() -> None:
    one, two = FlushingRegistry(), FlushingRegistry()
    direct, later = pair(one, two)
    child = deferred(later.labels("x"))
    for value in VALUES:
        direct.labels("x").observe(value)
        child.observe(value)
    assert samples(two) == samples(one)
    # a second round after a flush adds on top
    for value in VALUES[:4]:
        direct.labels("x").observe(value)
        child.observe(value)
    assert samples(two) == samples(one)


def test_nan_goes_in_the_sum_and_no_bucket_as_upstream() -> None:
    one, two = FlushingRegistry(), FlushingRegistry()
    direct, later = pair(one, two)
    direct.labels("n").observe(float("nan"))
    deferred(later.labels("n")).observe(float("nan"))
    got, want = samples(two), samples(one)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert (math.isnan(value) and math.isnan(got[key])) or got[key] == value, key


def test_counter_is_pending_until_the_registry_is_read() -> None:
    registry = FlushingRegistry()
    counter = Counter("c", "c", ["k"], registry=registry)
    child = deferred(counter.labels("a"))
    child.inc()
    child.inc(2.5)
    child.inc(0)
    assert counter.labels("a")._value.get() == 0  # not yet moved
    assert registry.get_sample_value("c_total", {"k": "a"}) == 3.5  # reading flushes first
    assert b'c_total{k="a"} 3.5' in generate_latest(registry)
    with pytest.raises(ValueError):
        child.inc(-1)


def test_flush_visits_only_what_changed() -> None:
    registry = FlushingRegistry()
    counter = Counter("quiet", "q", ["k"], registry=registry)
    children = [deferred(counter.labels(str(i))) for i in range(100)]
    flush()
    children[7].inc()
    children[7].inc()
    assert len(deferred_module._dirty) == 1
    flush()
    assert deferred_module._dirty == []
    assert registry.get_sample_value("quiet_total", {"k": "7"}) == 2


async def test_periodic_flush_moves_counts_without_a_scrape_and_once_more_when_stopped() -> None:
    registry = FlushingRegistry()
    counter = Counter("tick", "t", registry=registry)
    child = deferred(counter)
    task = asyncio.create_task(flush_periodically(0.01))
    child.inc()
    await asyncio.sleep(0.05)
    assert counter._value.get() == 1
    child.inc()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert counter._value.get() == 2
