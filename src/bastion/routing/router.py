"""Public model names → model groups of deployments, each with its live statistics and breaker.

The router owns lookup and the per-deployment state; the executor decides which deployment
serves an attempt. On a config reload, deployments that still exist keep their statistics
and breaker, so a reload does not forget that a provider is down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bastion.config import BastionConfig, ModelGroupConfig
from bastion.errors import InvalidRequest, NotFound
from bastion.providers.base import Deployment, Provider
from bastion.routing.breaker import BreakerSettings, CircuitBreaker
from bastion.routing.retry import RetrySettings
from bastion.routing.stats import DeploymentStats
from bastion.telemetry.metrics import BREAKER_STATES, METRICS

log = logging.getLogger("bastion.routing")

Transition = Callable[[str, str, str, str], None]


@dataclass(eq=False)
class DeploymentState:
    """One deployment of a group, with what the gateway has learned about it."""

    key: str  # "group/provider/model#n": stable across reloads
    deployment: Deployment
    provider: Provider
    order: int
    weight: float
    context_window: int | None
    stats: DeploymentStats
    breaker: CircuitBreaker

    def snapshot(self) -> dict[str, object]:
        return {
            "deployment": self.key,
            "provider": self.provider.name,
            "model": self.deployment.model,
            "breaker": self.breaker.snapshot(),
            "stats": self.stats.snapshot(),
        }


@dataclass(eq=False)
class ModelGroup:
    name: str
    kind: str  # "chat" | "embeddings"
    config: ModelGroupConfig
    deployments: list[DeploymentState]
    retry: RetrySettings = field(init=False)

    def __post_init__(self) -> None:
        retry = self.config.retry
        self.retry = RetrySettings(
            max_attempts=retry.max_attempts,
            backoff_base_s=retry.backoff_base_ms / 1000,
            backoff_max_s=retry.backoff_max_ms / 1000,
            max_retry_after_s=retry.max_retry_after_seconds,
        )


def breaker_settings(group: ModelGroupConfig) -> BreakerSettings:
    breaker = group.breaker
    return BreakerSettings(
        consecutive_failures=breaker.consecutive_failures,
        error_rate=breaker.error_rate,
        min_requests=breaker.min_requests,
        window_seconds=breaker.window_seconds,
        ttft_threshold_s=breaker.ttft_threshold_ms / 1000 if breaker.ttft_threshold_ms else None,
        latency_threshold_s=breaker.latency_threshold_ms / 1000 if breaker.latency_threshold_ms else None,
        latency_factor=breaker.latency_factor,
        open_seconds=breaker.open_seconds,
        half_open_probes=breaker.half_open_probes,
        enabled=breaker.enabled,
    )


def log_transition(name: str, old: str, new: str, reason: str) -> None:
    """Every breaker transition goes to the log and to the metrics."""
    level = logging.WARNING if new == "open" else logging.INFO
    log.log(level, "breaker %s: %s -> %s (%s)", name, old, new, reason)
    METRICS.breaker_transition(name, old, new, reason)


class Router:
    """Resolves the ``model`` a client asked for to its group."""

    def __init__(
        self,
        config: BastionConfig,
        providers: dict[str, Provider],
        *,
        previous: Router | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Transition = log_transition,
    ) -> None:
        known = previous.states_by_key() if previous is not None else {}
        self.groups: dict[str, ModelGroup] = {}
        for name, group_config in config.models.items():
            settings = breaker_settings(group_config)
            states = []
            for order, entry in enumerate(group_config.deployments):
                key = f"{name}/{entry.provider}/{entry.model}#{order}"
                old = known.get(key)
                if old is not None and old.breaker.settings == settings:
                    stats, breaker = old.stats, old.breaker
                else:
                    stats = DeploymentStats(clock=clock, window_seconds=settings.window_seconds)
                    breaker = CircuitBreaker(key, settings, stats, clock=clock, on_transition=on_transition)
                    METRICS.breaker_state.labels(key).set(BREAKER_STATES["closed"])
                states.append(
                    DeploymentState(
                        key=key,
                        deployment=Deployment(
                            entry.provider,
                            entry.model,
                            dict(entry.params),
                            group_config.timeouts.connect_seconds,
                        ),
                        provider=providers[entry.provider],
                        order=order,
                        weight=entry.weight,
                        context_window=entry.context_window,
                        stats=stats,
                        breaker=breaker,
                    )
                )
            self.groups[name] = ModelGroup(name, group_config.kind, group_config, states)
        self._names_by_kind = {
            kind: ", ".join(sorted(n for n, g in self.groups.items() if g.kind == kind))
            for kind in ("chat", "embeddings")
        }

    def states_by_key(self) -> dict[str, DeploymentState]:
        return {state.key: state for group in self.groups.values() for state in group.deployments}

    def resolve(self, model: str, kind: str) -> ModelGroup:
        group = self.groups.get(model)
        if group is None:
            raise NotFound(
                f"The model '{model}' does not exist. Available {kind} models: "
                f"{self._names_by_kind[kind] or 'none'}",
                param="model",
                code="model_not_found",
            )
        if group.kind != kind:
            choices = self._names_by_kind[kind] or "none"
            raise InvalidRequest(
                f"The model '{model}' is an {group.kind} model; use one of: {choices}",
                param="model",
                code="wrong_model_kind",
            )
        return group

    def snapshot(self) -> dict[str, object]:
        return {
            name: {
                "strategy": group.config.strategy,
                "deployments": [s.snapshot() for s in group.deployments],
            }
            for name, group in self.groups.items()
        }
