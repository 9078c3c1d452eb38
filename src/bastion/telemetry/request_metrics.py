"""Per-request metrics in the OpenTelemetry GenAI conventions, observed once per request after the answer.

``observe_request(ctx, status)`` is called by the accounting stage when a metered request is
over (``UsageRecorder.finish``): it turns the request context into the GenAI histograms
(operation duration, token usage, time to first token, time per output token), the request
counter, the retry counter and Bastion's own overhead, and closes the request's span.

OpenTelemetry metric names map to Prometheus names as the OTel Prometheus exporter does: dots
become underscores and the unit is a suffix (``gen_ai.client.operation.duration`` in seconds is
``gen_ai_client_operation_duration_seconds``); attributes become labels the same way. Bucket
boundaries are the conventions' advised ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Histogram

from bastion.context import RequestContext
from bastion.telemetry.deferred import deferred
from bastion.telemetry.genai import operation_name, usage_tokens
from bastion.telemetry.metrics import METRICS
from bastion.telemetry.state import TELEMETRY

log = logging.getLogger("bastion.telemetry")

#: advised by the GenAI conventions for gen_ai.client.operation.duration
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
#: advised for gen_ai.client.token.usage
TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
#: advised for gen_ai.server.time_to_first_token
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
#: advised for gen_ai.server.time_per_output_token
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
#: Bastion's own time is tens of microseconds to a few milliseconds: fine buckets from 50 µs
OVERHEAD_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip

_GENAI = ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model"]
#: Bastion's name of the provider: two providers of one kind (say two OpenAI-compatible servers)
#: share a gen_ai.provider.name, and the conventions allow system-specific attributes
_PROVIDER = "bastion_provider"
#: distinct error types that get their own label (per process); later ones are "_OTHER"
MAX_ERROR_LABELS = 50
_MAX_CHILDREN = 10_000


class _Series:
    """The labelled children one kind of request updates, found with one dictionary lookup per request."""

    __slots__ = ("_children", "_make")

    def __init__(self, make: Callable[[str], Any]) -> None:
        self._make = make
        self._children: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        child = self._children.get(name)
        if child is None:
            child = self._children[name] = self._make(name)
        return child


class RequestMetrics:
    def __init__(self) -> None:
        registry = METRICS.registry
        self.max_feature_labels = 100
        self.duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "GenAI operation duration (gen_ai.client.operation.duration): a whole request through the "
            "gateway, retries and fallbacks included",
            [*_GENAI, _PROVIDER, "error_type"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.tokens = Histogram(
            "gen_ai_client_token_usage",
            "Tokens used per request (gen_ai.client.token.usage), by gen_ai_token_type input or output",
            [*_GENAI, _PROVIDER, "gen_ai_token_type"],
            buckets=TOKEN_BUCKETS,
            registry=registry,
        )
        self.ttft = Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time to first token of successful streams (gen_ai.server.time_to_first_token): request "
            "received to first chunk sent to the client",
            [*_GENAI, _PROVIDER],
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.tpot = Histogram(
            "gen_ai_server_time_per_output_token_seconds",
            "Time per output token after the first of successful streams "
            "(gen_ai.server.time_per_output_token): (last chunk - first chunk) / (output tokens - 1)",
            [*_GENAI, _PROVIDER],
            buckets=TPOT_BUCKETS,
            registry=registry,
        )
        self.overhead = Histogram(
            "bastion_overhead_seconds",
            "Bastion's own time on requests answered by one upstream attempt: total minus the time "
            "spent waiting on the provider adapter",
            ["route", "stream"],
            buckets=OVERHEAD_BUCKETS,
            registry=registry,
        )
        self.requests = Counter(
            "bastion_requests",
            "Metered requests by model group, deployment, provider, HTTP status and feature tag",
            ["model_group", "provider", "deployment", "status", "feature"],
            registry=registry,
        )
        self.retries = Counter(
            "bastion_retries",
            "Upstream attempts after a request's first (retries and failovers; hedges not included)",
            ["model_group"],
            registry=registry,
        )
        self._children: dict[tuple[Any, ...], Any] = {}
        self._series: dict[tuple[Any, ...], _Series] = {}
        self._features: set[str] = set()
        self._errors: set[str] = set()

    def observe(
        self,
        ctx: RequestContext,
        status: int,
        now: float | None = None,
        tokens: tuple[int, int] | None = None,
    ) -> None:
        """Record one finished request (``now`` is a ``perf_counter`` reading; tests pass their own).

        ``tokens``: input and output tokens when the caller has them already (the accounting stage
        has parsed the usage); otherwise they are read from ``ctx.usage``.
        """
        finished = time.perf_counter() if now is None else now
        total = finished - ctx.started
        key = (
            ctx.route,
            ctx.provider,
            ctx.model,
            ctx.upstream_model,
            status,
            ctx.error_code if status >= 400 else None,
            ctx.feature,
            ctx.stream,
        )
        series = self._series.get(key)
        if series is None:
            series = self._new_series(ctx, status, key)
        series["duration"].observe(total)
        series["requests"].inc()
        retries = ctx.attempts - 1 - (1 if ctx.hedged else 0)
        if retries > 0:
            series["retries"].inc(retries)
        served_from_cache = ctx.cache_status in ("hit", "semantic-hit")
        if served_from_cache:
            input_tokens, output_tokens = 0, 0
        else:
            input_tokens, output_tokens = tokens if tokens is not None else usage_tokens(ctx.usage)
        if input_tokens:
            series["input"].observe(input_tokens)
        if output_tokens:
            series["output"].observe(output_tokens)
        first = ctx.first_byte_at
        if first is not None and status < 400:
            series["ttft"].observe(first - ctx.started)
            last = ctx.last_byte_at
            if last is not None and output_tokens > 1:
                series["tpot"].observe((last - first) / (output_tokens - 1))
        if ctx.attempts == 1 and not ctx.hedged and ctx.degraded is None and not served_from_cache:
            # one attempt and nothing else: no backoff sleeps or hedge races in "total minus upstream"
            series["overhead"].observe(max(0.0, total - ctx.upstream_seconds))

    def _new_series(self, ctx: RequestContext, status: int, key: tuple[Any, ...]) -> _Series:
        """The children one kind of request updates: labels worked out once, children made on first use."""
        group = ctx.model or ""
        provider_name = ctx.provider or ""
        deployment = ctx.upstream_model or ""
        info = TELEMETRY.provider(ctx.provider)
        genai = (operation_name(ctx.route), info.genai_name if info else "", group, deployment, provider_name)
        error_type = self._error_label(ctx.error_code or str(status)) if status >= 400 else ""
        feature = self._feature_label(ctx.feature)
        labels: dict[str, tuple[Any, tuple[str, ...]]] = {
            "duration": (self.duration, (*genai, error_type)),
            "requests": (self.requests, (group, provider_name, deployment, str(status), feature)),
            "retries": (self.retries, (group,)),
            "input": (self.tokens, (*genai, "input")),
            "output": (self.tokens, (*genai, "output")),
            "ttft": (self.ttft, genai),
            "tpot": (self.tpot, genai),
            "overhead": (self.overhead, (ctx.route, "true" if ctx.stream else "false")),
        }
        if len(self._series) > _MAX_CHILDREN:  # feature tags and error codes come from outside
            self._series.clear()
        series = self._series[key] = _Series(lambda name: self._child(*labels[name]))
        return series

    def _child(self, metric: Any, labels: tuple[str, ...]) -> Any:
        """A metric's labelled child, shared by every series that names it (one per label set)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            if len(self._children) > _MAX_CHILDREN:
                self._children.clear()
            child = self._children[key] = deferred(metric.labels(*labels))
        return child

    def _feature_label(self, feature: str | None) -> str:
        """The first ``max_feature_labels`` tags, then ``other``: a client header must not grow metrics."""
        if not feature:
            return ""
        if feature in self._features:
            return feature
        if len(self._features) < self.max_feature_labels:
            self._features.add(feature)
            return feature
        return "other"

    def _error_label(self, error_type: str) -> str:
        if error_type in self._errors:
            return error_type
        if len(self._errors) < MAX_ERROR_LABELS:
            self._errors.add(error_type)
            return error_type
        return "_OTHER"


#: the process-wide instance (metrics outlive config reloads)
REQUESTS = RequestMetrics()


def observe_request(ctx: RequestContext, status: int, tokens: tuple[int, int] | None = None) -> None:
    """Metrics and the closing span attributes of one finished request. Never raises."""
    try:
        if TELEMETRY.metrics:
            REQUESTS.observe(ctx, status, tokens=tokens)
        tracing = TELEMETRY.tracing
        if tracing is not None:
            tracing.finish_request(ctx, status)
    except Exception:
        log.exception("telemetry failed for request %s", ctx.request_id)
