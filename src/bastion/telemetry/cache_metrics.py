"""Prometheus metrics of the cache stage: lookups by result, coalesced requests, dollars saved, size."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Gauge

from bastion.telemetry.deferred import DeferredCounter
from bastion.telemetry.metrics import METRICS


class CacheMetrics:
    def __init__(self) -> None:
        registry = METRICS.registry
        self.lookups = Counter(
            "bastion_cache_lookups",
            "Requests by model group and cache result: hit, semantic-hit, miss, or bypass (not cacheable)",
            ["model_group", "result"],
            registry=registry,
        )
        self.coalesced = Counter(
            "bastion_cache_coalesced",
            "Requests that joined an identical request in flight instead of calling upstream",
            ["model_group"],
            registry=registry,
        )
        self.saved = Counter(
            "bastion_cache_cost_saved_usd",
            "USD the answers served from the cache (hits and coalesced requests) would have cost upstream",
            ["model_group"],
            registry=registry,
        )
        self.stores = Counter(
            "bastion_cache_stores",
            "Answers written to the cache, by model group",
            ["model_group"],
            registry=registry,
        )
        self.not_stored = Counter(
            "bastion_cache_not_stored",
            "Answers not stored, by reason: interrupted, error, finish_reason, too_large, degraded",
            ["reason"],
            registry=registry,
        )
        self.backend_errors = Counter(
            "bastion_cache_backend_errors",
            "Cache backend (Redis) operations that failed and were treated as a miss",
            registry=registry,
        )
        # callback gauges are read in this process only: prometheus-client's multiprocess mode cannot
        # see them (several workers share the Redis cache, which has no such size to report)
        self.entries = Gauge(
            "bastion_cache_entries",
            "Entries in the in-memory exact cache",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.bytes = Gauge(
            "bastion_cache_bytes",
            "Bytes held by the in-memory exact cache",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._lookup_children: dict[tuple[str, str], DeferredCounter] = {}

    def lookup(self, group: str, result: str) -> None:
        key = (group, result)
        child = self._lookup_children.get(key)
        if child is None:
            child = self._lookup_children[key] = DeferredCounter(self.lookups.labels(group, result))
        child.inc()

    def track_size(self, entries: Callable[[], float], size: Callable[[], float]) -> None:
        self.entries.set_function(entries)
        self.bytes.set_function(size)


#: the process-wide instance (metrics outlive config reloads)
CACHE = CacheMetrics()
