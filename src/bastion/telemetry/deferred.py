"""Counters and histograms the request path updates as plain numbers, moved into prometheus-client later.

A prometheus-client ``inc`` takes a lock, checks the child is observable and, in multiprocess
mode, writes a memory-mapped file; a histogram ``observe`` does that twice and walks its bucket
bounds in Python. At a dozen updates per request that was the largest single cost of the
request path after the HTTP work itself. Here an update is an attribute add (a histogram adds
one ``bisect`` into a list of counts); ``flush()`` moves what accumulated into the real metric
children, one ``inc`` per child and non-empty bucket, however many requests that covers.

Values are flushed before every collection of the registry (``FlushingRegistry``: ``/metrics``
and ``get_sample_value`` read exact totals in a single process) and, in multiprocess mode, at
least every ``FLUSH_SECONDS`` by ``flush_periodically`` so a scrape answered by another worker
lags this one by at most that. Everything runs on the event loop's thread: no lock is needed.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import math
from bisect import bisect_left
from typing import Any

from prometheus_client import CollectorRegistry

#: how often workers move their numbers into the shared multiprocess files
FLUSH_SECONDS = 1.0

_dirty: list[DeferredCounter | DeferredHistogram] = []


class DeferredCounter:
    """Stands in for a labelled Counter child: ``inc`` adds to ``pending``."""

    __slots__ = ("pending", "target")

    def __init__(self, target: Any) -> None:
        self.target = target  # the prometheus-client child
        self.pending = 0.0

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("counters can only be incremented by non-negative amounts")
        if amount:
            if not self.pending:
                _dirty.append(self)
            self.pending += amount

    def flush(self) -> None:
        pending, self.pending = self.pending, 0.0
        if pending:
            self.target.inc(pending)


class DeferredHistogram:
    """Stands in for a labelled Histogram child: ``observe`` counts into the same buckets it would."""

    __slots__ = ("bounds", "counts", "dirty", "target", "total")

    def __init__(self, target: Any) -> None:
        self.target = target
        self.bounds: list[float] = list(target._upper_bounds)  # ends with +Inf
        self.counts = [0] * len(self.bounds)
        self.total = 0.0
        self.dirty = False

    def observe(self, amount: float) -> None:
        # the first bound >= amount, as ``le`` means; NaN goes in no bucket but in the sum, as upstream
        index = bisect_left(self.bounds, amount) if amount == amount else -1
        if not self.dirty:
            self.dirty = True
            _dirty.append(self)
        if index >= 0:
            self.counts[index] += 1
        self.total += amount

    def flush(self) -> None:
        self.dirty = False
        counts, total = self.counts, self.total
        if any(counts):
            buckets = self.target._buckets
            for index, count in enumerate(counts):
                if count:
                    buckets[index].inc(count)
                    counts[index] = 0
        self.total = 0.0
        if total or math.isnan(total):
            self.target._sum.inc(total)


def deferred(child: Any) -> DeferredCounter | DeferredHistogram:
    """The deferred stand-in for a labelled Counter or Histogram child."""
    if hasattr(child, "_upper_bounds"):
        return DeferredHistogram(child)
    return DeferredCounter(child)


def flush() -> None:
    """Move every pending update into its prometheus-client child."""
    while _dirty:
        batch = _dirty[:]
        _dirty.clear()
        for item in batch:
            item.flush()


atexit.register(flush)  # a process that ends normally leaves no count behind (multiprocess files)


class FlushingRegistry(CollectorRegistry):
    """A registry that flushes deferred updates before it is read."""

    def collect(self):  # type: ignore[no-untyped-def]
        flush()
        return super().collect()


async def flush_periodically(interval: float = FLUSH_SECONDS) -> None:
    """Flush every ``interval`` seconds until cancelled, then once more."""
    try:
        while True:
            await asyncio.sleep(interval)
            flush()
    finally:
        with contextlib.suppress(Exception):
            flush()
