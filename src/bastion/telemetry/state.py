"""The switches the request path reads to know what telemetry is on: one attribute each.

``TELEMETRY.tracing`` is None while tracing is off, so the executor and the app pay one
attribute check and OpenTelemetry is never imported (``tracing.py`` is loaded only when a
config turns tracing on). The app configures this at start-up and on every reload.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bastion.telemetry.config import TelemetryConfig
from bastion.telemetry.genai import ProviderInfo, describe_providers, unknown_provider

if TYPE_CHECKING:
    from bastion.telemetry.tracing import Tracing

log = logging.getLogger("bastion.telemetry")


class Telemetry:
    def __init__(self) -> None:
        #: per-request metrics (GenAI histograms, requests, overhead)
        self.metrics = True
        #: the tracer while tracing is on, else None
        self.tracing: Tracing | None = None
        self.providers: dict[str, ProviderInfo] = {}
        self._tracing_config: Any = None
        self._retired: list[Tracing] = []  # replaced on reload: flushed at shutdown

    def configure(
        self,
        config: TelemetryConfig,
        provider_configs: Mapping[str, Any],
        providers: Mapping[str, Any],
    ) -> None:
        """Apply a (re)loaded config: metrics switch, provider names, a new tracer if its settings changed."""
        from bastion.telemetry.request_metrics import REQUESTS

        self.metrics = config.metrics.enabled
        REQUESTS.max_feature_labels = config.metrics.max_feature_labels
        self.providers = describe_providers(provider_configs, providers)
        tracing = config.tracing
        if tracing == self._tracing_config:
            return
        self._tracing_config = tracing
        previous = self.tracing
        if tracing.enabled:
            from bastion.telemetry.tracing import Tracing  # OpenTelemetry is imported here, and only here

            self.tracing = Tracing(tracing)
            log.warning(
                "tracing on: %.0f%% of new traces sampled, OTLP export to %s",
                tracing.sample_ratio * 100,
                self.tracing.endpoint,
            )
        else:
            self.tracing = None
        if previous is not None:
            self._retired.append(previous)  # spans in flight still end on it

    def provider(self, name: str | None) -> ProviderInfo | None:
        if name is None:
            return None
        info = self.providers.get(name)
        return info if info is not None else unknown_provider(name)

    def shutdown(self) -> None:
        """Flush the spans still queued, and tell multiprocess metrics this worker is gone."""
        for tracing in (*self._retired, self.tracing):
            if tracing is not None:
                tracing.shutdown()
        self._retired.clear()
        self.tracing = None
        self._tracing_config = None
        from bastion.telemetry.deferred import flush

        flush()  # counts since the last flush reach the metric files before this worker goes
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())


#: the process-wide switches
TELEMETRY = Telemetry()


def configure_telemetry(config: Any, providers: Mapping[str, Any]) -> None:
    """Configure telemetry from a whole ``BastionConfig`` and the gateway's provider adapters."""
    TELEMETRY.configure(config.telemetry, config.providers, providers)
