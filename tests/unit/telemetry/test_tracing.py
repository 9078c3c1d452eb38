"""Traces: the request span (W3C traceparent honoured), the execute stage, one CLIENT span per attempt."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from bastion.config_loader import load_config_text
from bastion.context import RequestContext
from bastion.errors import ProviderError
from bastion.providers.base import ChatRequest
from bastion.providers.registry import build_providers
from bastion.routing.executor import Executor
from bastion.routing.retry import RetryBudget
from bastion.routing.router import Router
from bastion.telemetry.config import TelemetryConfig, TracingConfig
from bastion.telemetry.request_metrics import observe_request
from bastion.telemetry.state import TELEMETRY
from bastion.telemetry.tracing import Tracing

REPO = Path(__file__).resolve().parents[3]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"

CONFIG = """
providers:
  down: {type: simulator, error_rate: 1.0}
  up: {type: simulator, reply: "hello there"}
  slow: {type: simulator, ttft_ms: 2000, reply: "too late"}
models:
  failover:
    strategy: priority
    retry: {max_attempts: 3, backoff_base_ms: 0, backoff_max_ms: 0}
    deployments: [{provider: down, model: broken-1}, {provider: up, model: good-1}]
  plain: {provider: up, model: good-1}
  hedged:
    strategy: priority
    hedge: {enabled: true, after_ms: 20}
    deployments: [{provider: slow, model: slow-1}, {provider: up, model: good-1}]
"""


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    yield from _tracing(TracingConfig(enabled=True, sample_ratio=1.0))


@pytest.fixture
def content_spans() -> Iterator[InMemorySpanExporter]:
    yield from _tracing(TracingConfig(enabled=True, sample_ratio=1.0, capture_content=True))


def _tracing(config: TracingConfig) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    app_config = load_config_text(CONFIG)
    TELEMETRY.configure(TelemetryConfig(), app_config.providers, build_providers(app_config))
    TELEMETRY.tracing = Tracing(config, SimpleSpanProcessor(exporter))
    yield exporter
    TELEMETRY.tracing.shutdown()
    TELEMETRY.tracing = None


def scope(headers: list[tuple[bytes, bytes]] | None = None, path: str = "/v1/chat/completions") -> dict:
    return {"type": "http", "method": "POST", "path": path, "headers": headers or []}


class Recorder:
    """An ASGI ``send`` that keeps the response start."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[bytes, bytes] = {}

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = dict(message["headers"])


async def receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


def executor() -> tuple[Executor, Router]:
    config = load_config_text(CONFIG)
    router = Router(config, build_providers(config))

    async def no_sleep(_: float) -> None:
        return None

    budget = RetryBudget(ratio=10, min_retries_per_second=100)
    return Executor(router, budget, rng=random.Random(1), sleep=no_sleep), router


def chat_request(stream: bool = False) -> ChatRequest:
    body = {"model": "failover", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return ChatRequest(body, "failover", stream)


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


async def test_request_span_is_a_child_of_the_incoming_traceparent(spans: InMemorySpanExporter) -> None:
    async def handler(scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-request-id", b"r")]})

    send = Recorder()
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01".encode()
    await TELEMETRY.tracing.serve(handler, scope([(b"traceparent", traceparent)]), receive, send)  # type: ignore[union-attr]
    (span,) = spans.get_finished_spans()
    assert span.kind is SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT_ID
    assert span.attributes["http.response.status_code"] == 200
    assert send.headers[b"x-trace-id"] == TRACE_ID.encode()
    assert send.headers[b"x-request-id"] == b"r"


async def test_an_unsampled_parent_records_nothing_but_keeps_the_trace_id(
    spans: InMemorySpanExporter,
) -> None:
    async def handler(scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    send = Recorder()
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-00".encode()
    await TELEMETRY.tracing.serve(handler, scope([(b"traceparent", traceparent)]), receive, send)  # type: ignore[union-attr]
    assert spans.get_finished_spans() == ()
    assert send.headers[b"x-trace-id"] == TRACE_ID.encode()


async def test_sample_ratio_zero_records_no_new_trace() -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing(TracingConfig(enabled=True, sample_ratio=0.0), SimpleSpanProcessor(exporter))

    async def handler(scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    await tracing.serve(handler, scope(), receive, Recorder())
    assert exporter.get_finished_spans() == ()
    tracing.shutdown()


async def test_a_failover_makes_one_client_span_per_attempt_under_execute(
    spans: InMemorySpanExporter,
) -> None:
    runner, router = executor()

    async def handler(scope: dict, receive: Any, send: Any) -> None:
        ctx = RequestContext(request_id="req-1", ingress="openai")
        ctx.route, ctx.model, ctx.stream, ctx.feature = "chat", "failover", False, "search"
        await runner.chat(ctx, router.groups["failover"], chat_request())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        observe_request(ctx, 200)

    await TELEMETRY.tracing.serve(handler, scope(), receive, Recorder())  # type: ignore[union-attr]
    finished = spans.get_finished_spans()
    root = next(s for s in finished if s.kind is SpanKind.SERVER)
    execute = next(s for s in finished if s.name == "execute")
    attempts = [s for s in finished if s.kind is SpanKind.CLIENT]
    assert root.name == "chat failover"
    assert execute.parent.span_id == root.context.span_id  # type: ignore[union-attr]
    assert [s.name for s in attempts] == ["chat broken-1", "chat good-1"]
    assert all(s.parent.span_id == execute.context.span_id for s in attempts)  # type: ignore[union-attr]
    assert {s.context.trace_id for s in finished} == {root.context.trace_id}
    failed, answered = attempts
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"]
    assert failed.attributes["bastion.provider"] == "down"
    assert failed.attributes["gen_ai.provider.name"] == "bastion.simulator"
    assert answered.status.status_code is StatusCode.UNSET
    assert answered.attributes["gen_ai.usage.output_tokens"] > 0
    assert answered.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert "gen_ai.input.messages" not in answered.attributes  # content is opt-in
    attributes = root.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "failover"
    assert attributes["gen_ai.response.model"] == "good-1"
    assert attributes["gen_ai.provider.name"] == "bastion.simulator"
    assert attributes["gen_ai.usage.input_tokens"] > 0
    assert attributes["bastion.attempts"] == 2
    assert attributes["bastion.feature"] == "search"
    assert attributes["bastion.request_id"] == "req-1"


async def test_a_stream_attempt_span_ends_with_the_stream(content_spans: InMemorySpanExporter) -> None:
    runner, router = executor()
    kinds_before_the_rest: list[SpanKind] = []

    async def handler(scope: dict, receive: Any, send: Any) -> None:
        ctx = RequestContext(request_id="req-2", ingress="openai")
        ctx.route, ctx.model, ctx.stream = "chat", "plain", True
        request = chat_request(stream=True)
        ctx.request_body = request.body
        first, rest = await runner.open_stream(ctx, router.groups["plain"], request)
        kinds_before_the_rest.extend(s.kind for s in content_spans.get_finished_spans())
        assert [first, *[batch async for batch in rest]]
        await send({"type": "http.response.start", "status": 200, "headers": []})

    await TELEMETRY.tracing.serve(handler, scope(), receive, Recorder())  # type: ignore[union-attr]
    assert kinds_before_the_rest == [SpanKind.INTERNAL]  # execute is over, the attempt is not
    (attempt,) = [s for s in content_spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert attempt.attributes["gen_ai.request.stream"] is True
    assert attempt.attributes["gen_ai.usage.output_tokens"] > 0
    assert json.loads(attempt.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]}
    ]
    (output,) = json.loads(attempt.attributes["gen_ai.output.messages"])
    assert output["role"] == "assistant" and output["parts"][0]["content"] == "hello there"


async def test_a_stream_closed_unread_still_ends_its_span(spans: InMemorySpanExporter) -> None:
    runner, router = executor()

    async def handler(scope: dict, receive: Any, send: Any) -> None:
        ctx = RequestContext(request_id="req-4", ingress="openai")
        ctx.route, ctx.model, ctx.stream = "chat", "plain", True
        _, rest = await runner.open_stream(ctx, router.groups["plain"], chat_request(stream=True))
        await rest.aclose()  # as a losing hedge's stream is discarded
        await send({"type": "http.response.start", "status": 200, "headers": []})

    await TELEMETRY.tracing.serve(handler, scope(), receive, Recorder())  # type: ignore[union-attr]
    assert [s.kind for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT] == [SpanKind.CLIENT]


async def test_a_hedge_race_ends_both_attempt_spans(spans: InMemorySpanExporter) -> None:
    runner, router = executor()

    async def handler(scope: dict, receive: Any, send: Any) -> None:
        ctx = RequestContext(request_id="req-5", ingress="openai")
        ctx.route, ctx.model = "chat", "hedged"
        response = await runner.chat(ctx, router.groups["hedged"], chat_request())
        assert response["choices"][0]["message"]["content"] == "hello there"
        await send({"type": "http.response.start", "status": 200, "headers": []})

    await TELEMETRY.tracing.serve(handler, scope(), receive, Recorder())  # type: ignore[union-attr]
    attempts = {s.name: s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT}
    assert set(attempts) == {"chat slow-1", "chat good-1"}
    assert attempts["chat slow-1"].attributes["error.type"] == "cancelled"
    assert attempts["chat good-1"].attributes["bastion.attempt"] == 2


async def test_no_request_span_no_attempt_spans(spans: InMemorySpanExporter) -> None:
    runner, router = executor()
    ctx = RequestContext(request_id="req-3", ingress="openai")
    ctx.route, ctx.model = "chat", "plain"
    await runner.chat(ctx, router.groups["plain"], chat_request())
    assert spans.get_finished_spans() == ()


async def test_errors_of_the_handler_mark_the_request_span(spans: InMemorySpanExporter) -> None:
    async def handler(scope: dict, receive: Any, send: Any) -> None:
        raise ProviderError("boom", provider="x")

    with pytest.raises(ProviderError):
        await TELEMETRY.tracing.serve(handler, scope(), receive, Recorder())  # type: ignore[union-attr]
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR


def test_tracing_off_imports_no_opentelemetry() -> None:
    code = (
        "import sys\n"
        "from bastion.app import BastionApp\n"
        "from bastion.config import BastionConfig\n"
        "from bastion.gateway import Gateway\n"
        "config = BastionConfig.model_validate({'providers': {'sim': {'type': 'simulator'}},"
        " 'models': {'m': {'provider': 'sim', 'model': 'x'}}, 'storage': {'url': 'sqlite:///:memory:'}})\n"
        "BastionApp(Gateway.from_config(config))\n"
        "loaded = [m for m in sys.modules if m.startswith('opentelemetry')]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
