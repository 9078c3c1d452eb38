"""Per-request metrics: the GenAI histograms, requests, retries and overhead from one request context."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from bastion.context import RequestContext
from bastion.telemetry.config import TelemetryConfig
from bastion.telemetry.metrics import METRICS
from bastion.telemetry.request_metrics import (
    DURATION_BUCKETS,
    REQUESTS,
    TOKEN_BUCKETS,
    observe_request,
)
from bastion.telemetry.state import TELEMETRY

REPO = Path(__file__).resolve().parents[3]


class FakeProvider:
    def __init__(self, kind: str, base_url: str) -> None:
        self.kind = kind
        self.base_url = base_url


class FakeProviderConfig:
    def __init__(self, preset: str) -> None:
        self.preset = preset


@pytest.fixture(autouse=True)
def providers() -> Iterator[None]:
    TELEMETRY.configure(
        TelemetryConfig(),
        {"oai": FakeProviderConfig("openai"), "az": FakeProviderConfig("azure")},
        {
            "oai": FakeProvider("openai", "https://api.openai.com/v1"),
            "az": FakeProvider("openai", "https://x.openai.azure.com/openai"),
            "claude": FakeProvider("anthropic", "https://api.anthropic.com"),
        },
    )
    yield
    TELEMETRY.metrics = True


def sample(name: str, **labels: str) -> float | None:
    return METRICS.registry.get_sample_value(name, labels)


def genai(model: str, provider: str = "oai", genai_provider: str = "openai", deployment: str = "dep") -> dict:
    return {
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": genai_provider,
        "gen_ai_request_model": model,
        "gen_ai_response_model": deployment,
        "bastion_provider": provider,
    }


def finished_stream(model: str, *, provider: str = "oai") -> RequestContext:
    """A streamed request: 50 ms to the first chunk, 20 output tokens over the next 190 ms."""
    ctx = RequestContext(request_id="r1", ingress="openai", started=100.0)
    ctx.route, ctx.model, ctx.provider, ctx.upstream_model = "chat", model, provider, "dep"
    ctx.stream = True
    ctx.attempts = 1
    ctx.first_byte_at = 100.05
    ctx.last_byte_at = 100.24
    ctx.upstream_seconds = 0.238
    ctx.usage = {"prompt_tokens": 12, "completion_tokens": 20}
    return ctx


def test_a_stream_fills_every_genai_histogram() -> None:
    labels = genai("m-stream")
    overhead_before = sample("bastion_overhead_seconds_sum", route="chat", stream="true") or 0.0
    REQUESTS.observe(finished_stream("m-stream"), 200, now=100.25)
    assert sample("gen_ai_client_operation_duration_seconds_count", **labels, error_type="") == 1
    assert sample("gen_ai_client_operation_duration_seconds_sum", **labels, error_type="") == pytest.approx(
        0.25
    )
    assert sample("gen_ai_client_operation_duration_seconds_bucket", **labels, error_type="", le="0.32") == 1
    assert sample("gen_ai_client_operation_duration_seconds_bucket", **labels, error_type="", le="0.16") == 0
    assert sample("gen_ai_client_token_usage_sum", **labels, gen_ai_token_type="input") == 12
    assert sample("gen_ai_client_token_usage_sum", **labels, gen_ai_token_type="output") == 20
    assert sample("gen_ai_server_time_to_first_token_seconds_sum", **labels) == pytest.approx(0.05)
    # (240 ms - 50 ms) over the 19 tokens after the first
    assert sample("gen_ai_server_time_per_output_token_seconds_sum", **labels) == pytest.approx(0.01)
    # 250 ms in all, 238 ms of it waiting on the provider
    overhead = (sample("bastion_overhead_seconds_sum", route="chat", stream="true") or 0.0) - overhead_before
    assert overhead == pytest.approx(0.012)
    assert (
        sample(
            "bastion_requests_total",
            model_group="m-stream",
            provider="oai",
            deployment="dep",
            status="200",
            feature="",
        )
        == 1
    )


def test_buckets_are_the_advised_ones() -> None:
    text = generate_latest(METRICS.registry).decode()
    assert DURATION_BUCKETS[0] == 0.01 and DURATION_BUCKETS[-1] == 81.92 and len(DURATION_BUCKETS) == 14
    assert tuple(4**i for i in range(14)) == TOKEN_BUCKETS
    assert "# TYPE gen_ai_client_operation_duration_seconds histogram" in text
    assert "# TYPE gen_ai_client_token_usage histogram" in text


def test_provider_names_follow_the_conventions() -> None:
    REQUESTS.observe(finished_stream("m-azure", provider="az"), 200, now=100.25)
    REQUESTS.observe(finished_stream("m-claude", provider="claude"), 200, now=100.25)
    azure = genai("m-azure", "az", "azure.ai.openai")
    claude = genai("m-claude", "claude", "anthropic")
    assert sample("gen_ai_client_operation_duration_seconds_count", **azure, error_type="") == 1
    assert sample("gen_ai_client_operation_duration_seconds_count", **claude, error_type="") == 1


def test_errors_carry_error_type_and_no_latency_of_success() -> None:
    ctx = finished_stream("m-error")
    ctx.first_byte_at = ctx.last_byte_at = None
    ctx.usage = None
    ctx.error_code = "upstream_timeout"
    REQUESTS.observe(ctx, 504, now=101.0)
    labels = genai("m-error")
    assert (
        sample("gen_ai_client_operation_duration_seconds_count", **labels, error_type="upstream_timeout") == 1
    )
    assert sample("gen_ai_server_time_to_first_token_seconds_count", **labels) is None
    assert sample("gen_ai_client_token_usage_count", **labels, gen_ai_token_type="input") is None


def test_retries_count_attempts_after_the_first_and_skip_overhead() -> None:
    before = sample("bastion_overhead_seconds_count", route="messages", stream="false") or 0
    ctx = finished_stream("m-retry")
    ctx.route, ctx.stream, ctx.attempts = "messages", False, 3
    REQUESTS.observe(ctx, 200, now=100.25)
    assert sample("bastion_retries_total", model_group="m-retry") == 2
    # backoff sleeps are not overhead: only single-attempt requests are observed
    assert (sample("bastion_overhead_seconds_count", route="messages", stream="false") or 0) == before


def test_cache_hits_use_no_tokens() -> None:
    ctx = finished_stream("m-cached")
    ctx.cache_status = "hit"
    REQUESTS.observe(ctx, 200, now=100.25)
    labels = genai("m-cached")
    assert sample("gen_ai_client_token_usage_count", **labels, gen_ai_token_type="input") is None


def test_feature_labels_are_capped() -> None:
    REQUESTS.max_feature_labels = 2
    REQUESTS._features.clear()
    try:
        for feature in ("a", "b", "c", "d"):
            ctx = finished_stream("m-features")
            ctx.feature = feature
            REQUESTS.observe(ctx, 200, now=100.25)
    finally:
        REQUESTS.max_feature_labels = 100
    common = {"model_group": "m-features", "provider": "oai", "deployment": "dep", "status": "200"}
    assert sample("bastion_requests_total", **common, feature="a") == 1
    assert sample("bastion_requests_total", **common, feature="c") is None
    assert sample("bastion_requests_total", **common, feature="other") == 2


def test_metrics_off_observes_nothing() -> None:
    TELEMETRY.metrics = False
    observe_request(finished_stream("m-off"), 200)
    assert sample("gen_ai_client_operation_duration_seconds_count", **genai("m-off"), error_type="") is None


def test_observe_request_never_raises() -> None:
    ctx = finished_stream("m-broken")
    ctx.started = "not a number"  # type: ignore[assignment]
    observe_request(ctx, 200)  # logged, not raised


WORKER = """
from bastion.context import RequestContext
from bastion.telemetry.request_metrics import REQUESTS
from bastion.telemetry.metrics import METRICS
ctx = RequestContext(request_id="r", ingress="openai", started=0.0)
ctx.route, ctx.model, ctx.provider, ctx.upstream_model, ctx.attempts = "chat", "mp", "p", "d", 1
ctx.usage = {"prompt_tokens": 3, "completion_tokens": 4}
REQUESTS.observe(ctx, 200, now=0.5)
METRICS.breaker_state.labels("p/d").set(STATE)
"""

SCRAPE = """
from bastion.telemetry.exposition import Exposition
print(Exposition().render()[0].decode())
"""


def test_multiprocess_mode_merges_every_worker(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def run(code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=REPO, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run(WORKER.replace("STATE", "0"))
    run(WORKER.replace("STATE", "2"))
    text = run(SCRAPE)
    lines = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    count = [v for k, v in lines.items() if k.startswith("gen_ai_client_operation_duration_seconds_count{")]
    assert count == [2.0]
    requests = [v for k, v in lines.items() if k.startswith("bastion_requests_total{")]
    assert requests == [2.0]
    # the breaker gauge is the worst state of the workers (both still count as live here)
    breaker = [v for k, v in lines.items() if k.startswith("bastion_breaker_state{")]
    assert breaker == [2.0]
