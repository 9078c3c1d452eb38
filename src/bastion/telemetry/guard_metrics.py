"""Prometheus metrics of the guard stages: every decision by guard, stage and action, and their cost."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from bastion.telemetry.metrics import METRICS

#: guard work per request is sub-millisecond for ordinary prompts; large prompts reach tens of ms
_SECONDS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)


class GuardMetrics:
    def __init__(self) -> None:
        registry = METRICS.registry
        self.decisions = Counter(
            "bastion_guard_decisions",
            "Guard verdicts that were not a plain pass, by guard, stage (input/output) and action",
            ["guard", "stage", "action"],
            registry=registry,
        )
        self.seconds = Histogram(
            "bastion_guard_seconds",
            "Time the input guards spent on one request (normalisation, injection, PII, rewriting)",
            ["stage"],
            buckets=_SECONDS_BUCKETS,
            registry=registry,
        )
        self.input_seconds = self.seconds.labels("input")


GUARDS = GuardMetrics()
