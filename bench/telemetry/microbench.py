#!/usr/bin/env python3
"""CPU cost per request of the telemetry code itself, in-process: no server, no network, no load generator.

The harness run (bench/telemetry.sh) measures what users see, but on a shared 2-core machine its
throughput ratios move by more than the few percent at stake. This measures the same code paths
directly, in microseconds of CPU per request:

  metrics        observe_request() of a finished streamed request (the GenAI histograms, the request
                 and retry counters, the overhead histogram), label children warm as in production
  tracing        a request span, the execute span and one attempt span, finish_request(), and the
                 batch processor's hand-off; spans are encoded to OTLP protobuf by the exporter (as
                 they would be for the wire), then dropped; at sample ratios 1, 0.1 and 0
  tracing-off    the checks the hot path makes when tracing is off (TELEMETRY.tracing is None)
  request log    a ledger row queued per request and written by the batch writer to SQLite (the row is
                 built by the accounting stage either way; this is what storage.ledger adds)

  .venv/bin/python bench/telemetry/microbench.py [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from typing import Any

from bastion.context import RequestContext
from bastion.telemetry.config import TelemetryConfig, TracingConfig
from bastion.telemetry.request_metrics import observe_request
from bastion.telemetry.state import TELEMETRY


class FakeProvider:
    kind = "openai"
    base_url = "http://127.0.0.1:18080/v1"

    def __init__(self, name: str) -> None:
        self.name = name


class FakeDeployment:
    model = "gpt-4o-mini"


class FakeState:
    provider = FakeProvider("mock")
    deployment = FakeDeployment()


def finished_request() -> RequestContext:
    ctx = RequestContext(request_id="req_0123456789", ingress="openai")
    ctx.route, ctx.model, ctx.provider, ctx.upstream_model = "chat", "gpt-4o-mini", "mock", "gpt-4o-mini"
    ctx.stream, ctx.attempts, ctx.feature = True, 1, "search"
    ctx.first_byte_at = ctx.started + 0.001
    ctx.last_byte_at = ctx.started + 0.002
    ctx.upstream_seconds = 0.0015
    ctx.usage = {"prompt_tokens": 250, "completion_tokens": 20, "total_tokens": 270}
    return ctx


def per_request_us(run: Any, requests: int) -> float:
    """CPU time (every thread of the process: the export thread too) per request, in µs.

    CPU time rather than wall time: other processes on a shared machine slow the wall clock,
    not the work done.
    """
    run(requests // 10)  # warm: label children, code paths
    started = time.process_time()
    run(requests)
    return (time.process_time() - started) / requests * 1e6


def bench_metrics(requests: int) -> float:
    TELEMETRY.metrics = True

    def run(n: int) -> None:
        for _ in range(n):
            observe_request(finished_request(), 200)

    baseline = per_request_us(lambda n: [finished_request() for _ in range(n)], requests)
    return per_request_us(run, requests) - baseline


def bench_tracing(requests: int, sample_ratio: float) -> float:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from bastion.telemetry.tracing import Tracing

    class EncodeAndDrop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            encode_spans(spans).SerializePartialToString()
            return SpanExportResult.SUCCESS

    processor = BatchSpanProcessor(EncodeAndDrop(), max_queue_size=1 << 20)
    tracing = Tracing(TracingConfig(enabled=True, sample_ratio=sample_ratio), processor)
    TELEMETRY.tracing = tracing
    TELEMETRY.metrics = False
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"content-type", b"application/json"), (b"authorization", b"Bearer sk-0123456789")],
    }

    async def send(message: dict[str, Any]) -> None:
        return None

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def upstream() -> dict[str, Any]:
        return {"id": "chatcmpl-1", "model": "gpt-4o-mini", "choices": [{"finish_reason": "stop"}]}

    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        ctx = finished_request()
        with tracing.stage("execute", {"bastion.model_group": "gpt-4o-mini"}):
            await tracing.attempt(ctx, "gpt-4o-mini", FakeState(), False, upstream())  # type: ignore[arg-type]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        observe_request(ctx, 200)

    async def loop(n: int) -> None:
        for _ in range(n):
            await tracing.serve(handler, scope, receive, send)

    async def plain(n: int) -> None:
        for _ in range(n):
            ctx = finished_request()
            await upstream()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            del ctx

    baseline = per_request_us(lambda n: asyncio.run(plain(n)), requests)
    cost = per_request_us(lambda n: asyncio.run(loop(n)), requests)
    started = time.process_time()
    tracing.provider.force_flush()
    flush_us = (time.process_time() - started) / (requests + requests // 10) * 1e6
    tracing.shutdown()
    TELEMETRY.tracing = None
    return cost - baseline + flush_us


def bench_ledger(requests: int) -> float:
    """One request-log row per request: the queue append, and the batched SQLite insert on its thread."""
    import tempfile

    from bastion.accounting.ledger import BatchWriter
    from bastion.store.factory import open_store
    from bastion.store.records import LedgerRow

    async def write(n: int, directory: str) -> None:
        store = open_store(f"sqlite:///{directory}/ledger.db")
        await store.open()
        writer = BatchWriter(store.write_ledger, "ledger")
        writer.start()
        for i in range(n):
            row = LedgerRow(
                request_id=f"req_{i:024x}",
                ts=time.time(),
                key_id="key_0123456789abcdef",
                model="gpt-4o-mini",
                provider="mock",
                deployment="gpt-4o-mini",
                route="chat",
                prompt_tokens=250,
                completion_tokens=20,
                cost_usd=0.0001,
                latency_ms=1.2,
                attempts=1,
            )
            writer.submit(row)
            if i % 64 == 63:
                await asyncio.sleep(0)  # the event loop turns between requests
        await writer.close()
        await store.close()

    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(write(requests // 10, directory))  # warm: schema, imports
    with tempfile.TemporaryDirectory() as directory:
        started = time.process_time()
        asyncio.run(write(requests, directory))
        return (time.process_time() - started) / requests * 1e6


def bench_tracing_off(requests: int) -> float:
    TELEMETRY.tracing = None

    def run(n: int) -> None:
        for _ in range(n):
            tracing = TELEMETRY.tracing
            if tracing is not None:
                raise AssertionError
            tracing = TELEMETRY.tracing
            if tracing is not None:
                raise AssertionError

    return per_request_us(run, requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    TELEMETRY.configure(TelemetryConfig(), {}, {"mock": FakeProvider("mock")})
    print(f"| what | µs per request ({args.requests} requests) |")
    print("|---|---:|")
    print(f"| metrics on (observe_request) | {bench_metrics(args.requests):.1f} |")
    for ratio in (1.0, 0.1, 0.0):
        cost = bench_tracing(args.requests, ratio)
        print(
            f"| tracing on, sample_ratio {ratio:g} (3 spans a recorded request, OTLP-encoded) | {cost:.1f} |"
        )
    print(f"| tracing off (attribute checks) | {bench_tracing_off(args.requests):.2f} |")
    print(f"| request log on (queue + batched SQLite insert) | {bench_ledger(args.requests):.1f} |")


if __name__ == "__main__":
    main()
