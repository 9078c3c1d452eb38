"""Prometheus metrics of the routing stage: attempts, breaker state and transitions, recoveries.

One registry per process (``GET /metrics`` renders it). Label children are cached per
deployment, so counting an attempt on the hot path is a dictionary lookup and an add.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bastion.telemetry.deferred import DeferredCounter, FlushingRegistry

BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


class RoutingMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or FlushingRegistry()
        self.attempts = Counter(
            "bastion_upstream_attempts",
            "Upstream attempts by deployment and outcome (ok, error, timeout)",
            ["model_group", "provider", "model", "outcome"],
            registry=self.registry,
        )
        self.breaker_state = Gauge(
            "bastion_breaker_state",
            "Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open",
            ["deployment"],
            registry=self.registry,
            multiprocess_mode="livemax",  # several workers: the worst state any live worker's breaker is in
        )
        self.breaker_transitions = Counter(
            "bastion_breaker_transitions",
            "Circuit breaker transitions per deployment and new state",
            ["deployment", "state"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "bastion_fallbacks",
            "Requests that moved to a fallback model group",
            ["model_group", "fallback"],
            registry=self.registry,
        )
        self.hedges = Counter(
            "bastion_hedges", "Hedge attempts sent", ["model_group"], registry=self.registry
        )
        self.static_replies = Counter(
            "bastion_static_replies",
            "Requests answered by the static last-resort reply",
            ["model_group"],
            registry=self.registry,
        )
        self.budget_exhausted = Counter(
            "bastion_retry_budget_exhausted",
            "Retries refused because the retry budget was spent",
            registry=self.registry,
        )
        self.midstream_failures = Counter(
            "bastion_stream_failures_after_first_byte",
            "Streams ended with an error event after the client had received data",
            ["model_group", "provider"],
            registry=self.registry,
        )
        self._attempt_children: dict[tuple[str, str, str, str], DeferredCounter] = {}

    def attempt(self, group: str, provider: str, model: str, outcome: str) -> None:
        key = (group, provider, model, outcome)
        child = self._attempt_children.get(key)
        if child is None:
            child = self._attempt_children[key] = DeferredCounter(self.attempts.labels(*key))
        child.inc()

    def breaker_transition(self, deployment: str, old: str, new: str, reason: str) -> None:
        self.breaker_state.labels(deployment).set(BREAKER_STATES.get(new, -1))
        self.breaker_transitions.labels(deployment, new).inc()

    def render(self) -> tuple[bytes, str]:
        """This process's metrics; ``exposition.render`` adds the other workers' in multiprocess mode."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


#: the process-wide instance (metrics outlive config reloads)
METRICS = RoutingMetrics()
