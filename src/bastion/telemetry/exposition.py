"""The Prometheus text for ``GET /metrics``: this process's registry, or every worker's in multiprocess mode.

With several worker processes each keeps its own counters, and a scrape reaches one of them
at random. prometheus-client's multiprocess mode fixes that: when ``PROMETHEUS_MULTIPROC_DIR``
is set before the workers start, every metric writes to memory-mapped files in that
directory and any worker's ``/metrics`` merges all of them (counters and histograms summed,
gauges by their ``multiprocess_mode``).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bastion.telemetry.metrics import METRICS


class Exposition:
    """Renders the metrics; the mode is fixed at start-up, like prometheus-client's own choice of storage."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir or os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None

    def render(self) -> tuple[bytes, str]:
        if self.multiprocess_dir is None:
            return METRICS.render()
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry), CONTENT_TYPE_LATEST
