"""Prometheus metrics of admission and accounting: rejections, alerts, tokens, dollars, ledger health."""

from __future__ import annotations

from prometheus_client import Counter

from bastion.telemetry.metrics import METRICS


class UsageMetrics:
    def __init__(self) -> None:
        registry = METRICS.registry
        self.rejections = Counter(
            "bastion_limit_rejections",
            "Requests refused by a rate limit or budget, by scope and limit",
            ["scope", "limit"],
            registry=registry,
        )
        self.budget_alerts = Counter(
            "bastion_budget_alerts",
            "Budget thresholds crossed (each alert once per period and scope)",
            ["scope", "period", "threshold"],
            registry=registry,
        )
        self.tokens = Counter(
            "bastion_tokens",
            "Tokens used, by model group and type (input, output, cached_input, cache_write, reasoning)",
            ["model_group", "type"],
            registry=registry,
        )
        self.cost = Counter(
            "bastion_cost_usd",
            "USD spent, by model group and feature",
            ["model_group", "feature"],
            registry=registry,
        )
        self.unpriced = Counter(
            "bastion_unpriced_requests",
            "Answered requests whose deployment has no price (counted at $0)",
            ["provider", "model"],
            registry=registry,
        )
        self.backend_errors = Counter(
            "bastion_limits_backend_errors",
            "Limit checks that could not reach the counters backend, by action (fail_open, fail_closed)",
            ["action"],
            registry=registry,
        )
        self.ledger_dropped = Counter(
            "bastion_ledger_rows_dropped",
            "Ledger rows dropped because the write queue was full",
            registry=registry,
        )


#: the process-wide instance (metrics outlive config reloads)
USAGE = UsageMetrics()
