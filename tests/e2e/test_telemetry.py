"""Metrics and traces end to end: the real server, the provider fakes, the official SDKs, and a local
OTLP/HTTP receiver that decodes what Bastion exports.

The server samples no new trace (``sample_ratio: 0``), so what reaches the receiver is exactly the
requests that came with a sampled W3C ``traceparent``: the parent's decision wins.
"""

from __future__ import annotations

import gzip
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.e2e.conftest import CLIENT_KEY, PROVIDER_KEYS, Fakes, Server, start_server, stop_server

PARENT_SPAN = "00f067aa0ba902b7"
SERVER, CLIENT = 2, 3  # OTLP Span.SpanKind values


class OtlpReceiver:
    """Accepts ``POST /v1/traces`` (protobuf, optionally gzip) and keeps every span it decodes."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.add(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            service = {a.key: _value(a.value) for a in resource_spans.resource.attributes}.get("service.name")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        {
                            "service": service,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(),
                            "name": span.name,
                            "kind": span.kind,
                            "attributes": {a.key: _value(a.value) for a in span.attributes},
                        }
                    )

    def trace(self, trace_id: str, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The spans of one trace, once ``count`` of them have arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            spans = [s for s in self.spans if s["trace_id"] == trace_id]
            if len(spans) >= count:
                return spans
            time.sleep(0.05)
        raise AssertionError(f"trace {trace_id}: {len(spans)} spans after {timeout} s, wanted {count}")

    def stop(self) -> None:
        self.server.shutdown()


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    started = OtlpReceiver()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def telemetry_server(
    fakes: Fakes, receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    config = f"""
server:
  api_keys: ["{CLIENT_KEY}"]
providers:
  openai: {{type: openai, base_url: "{fakes.openai.url}/v1", api_key: "{PROVIDER_KEYS["openai"]}"}}
  anthropic: {{type: anthropic, base_url: "{fakes.anthropic.url}", api_key: "{PROVIDER_KEYS["anthropic"]}"}}
models:
  gpt-fake: {{provider: openai, model: gpt-4o-mini}}
  claude-fake: {{provider: anthropic, model: claude-sonnet-4-5}}
telemetry:
  tracing:
    enabled: true
    sample_ratio: 0
    service_name: bastion-e2e
    otlp: {{endpoint: "{receiver.url}"}}
"""
    env = {"OTEL_BSP_SCHEDULE_DELAY": "50"}  # export within 50 ms instead of 5 s
    server = start_server(config, Path(tmp_path_factory.mktemp("telemetry")), env)
    yield server
    stop_server(server)


@pytest.fixture
def client(telemetry_server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{telemetry_server.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)


def traceparent(trace_id: str) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id}-{PARENT_SPAN}-01"}


def metric_lines(server: Server, name: str) -> list[str]:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return [line for line in text.splitlines() if line.startswith(name + "{") or line.startswith(name + " ")]


def value(lines: list[str], **labels: str) -> float:
    """The sum of the samples whose labels include all of ``labels``."""
    total = 0.0
    for line in lines:
        if all(f'{key}="{wanted}"' in line for key, wanted in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_traced_request_exports_its_spans_under_the_callers_parent(
    client: openai.OpenAI, receiver: OtlpReceiver
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-fake",
        messages=[{"role": "user", "content": "trace me"}],
        extra_headers=traceparent(trace_id),
    )
    assert raw.headers["x-trace-id"] == trace_id
    assert raw.parse().choices[0].message.content
    spans = receiver.trace(trace_id, 4)
    root = next(s for s in spans if s["kind"] == SERVER)
    attempt = next(s for s in spans if s["kind"] == CLIENT)
    admission = next(s for s in spans if s["name"] == "admission")  # a span per stage
    assert admission["parent_span_id"] == root["span_id"]
    assert root["parent_span_id"] == PARENT_SPAN
    assert root["service"] == "bastion-e2e"
    assert root["name"] == "chat gpt-fake"
    attributes = root["attributes"]
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "gpt-fake"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.usage.input_tokens"] > 0
    assert attributes["gen_ai.usage.output_tokens"] > 0
    assert attributes["http.response.status_code"] == 200
    assert attributes["bastion.attempts"] == 1
    assert "gen_ai.input.messages" not in attributes  # content is opt-in
    execute = next(s for s in spans if s["name"] == "execute")
    assert execute["parent_span_id"] == root["span_id"]
    assert attempt["parent_span_id"] == execute["span_id"]
    assert attempt["name"] == "chat gpt-4o-mini"
    assert attempt["attributes"]["gen_ai.provider.name"] == "openai"
    assert attempt["attributes"]["server.address"] == "127.0.0.1"
    assert attempt["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]


def test_a_traced_stream_ends_its_attempt_span_with_the_stream(
    client: openai.OpenAI, receiver: OtlpReceiver
) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    stream = client.chat.completions.create(
        model="gpt-fake",
        messages=[{"role": "user", "content": "stream and trace me"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=traceparent(trace_id),
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text
    spans = receiver.trace(trace_id, 3)
    root = next(s for s in spans if s["kind"] == SERVER)
    attempt = next(s for s in spans if s["kind"] == CLIENT)
    assert root["attributes"]["gen_ai.request.stream"] is True
    assert root["attributes"]["gen_ai.response.time_to_first_chunk"] > 0
    assert attempt["attributes"]["gen_ai.usage.output_tokens"] > 0


def test_unsampled_requests_export_nothing_but_carry_a_trace_id(
    client: openai.OpenAI, receiver: OtlpReceiver
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-fake", messages=[{"role": "user", "content": "do not trace me"}]
    )
    trace_id = raw.headers["x-trace-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    time.sleep(0.5)  # several export intervals
    assert not [s for s in receiver.spans if s["trace_id"] == trace_id]


def test_metrics_carry_the_genai_histograms_after_traffic(
    client: openai.OpenAI, telemetry_server: Server
) -> None:
    client.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "count me"}])
    stream = client.chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": "count my stream"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    claude = anthropic.Anthropic(base_url=telemetry_server.url, api_key=CLIENT_KEY, max_retries=0, timeout=20)
    claude.messages.create(
        model="claude-fake", max_tokens=50, messages=[{"role": "user", "content": "count me too"}]
    )
    openai_labels = {
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "openai",
        "gen_ai_request_model": "gpt-fake",
        "gen_ai_response_model": "gpt-4o-mini",
        "bastion_provider": "openai",
    }
    duration = metric_lines(telemetry_server, "gen_ai_client_operation_duration_seconds_count")
    assert value(duration, **openai_labels, error_type="") >= 2
    assert value(duration, gen_ai_provider_name="anthropic", gen_ai_request_model="claude-fake") >= 1
    buckets = metric_lines(telemetry_server, "gen_ai_client_operation_duration_seconds_bucket")
    assert value(buckets, **openai_labels, le="81.92") >= 2
    tokens = metric_lines(telemetry_server, "gen_ai_client_token_usage_count")
    assert value(tokens, **openai_labels, gen_ai_token_type="input") >= 2
    assert value(tokens, **openai_labels, gen_ai_token_type="output") >= 2
    token_buckets = metric_lines(telemetry_server, "gen_ai_client_token_usage_bucket")
    assert value(token_buckets, **openai_labels, gen_ai_token_type="input", le="1024.0") >= 2
    ttft = metric_lines(telemetry_server, "gen_ai_server_time_to_first_token_seconds_count")
    assert value(ttft, **openai_labels) >= 1
    tpot = metric_lines(telemetry_server, "gen_ai_server_time_per_output_token_seconds_count")
    assert value(tpot, **openai_labels) >= 1
    overhead = metric_lines(telemetry_server, "bastion_overhead_seconds_count")
    assert value(overhead, route="chat", stream="false") >= 1
    assert value(overhead, route="chat", stream="true") >= 1
    assert value(overhead, route="messages", stream="false") >= 1
    requests = metric_lines(telemetry_server, "bastion_requests_total")
    answered = {"model_group": "gpt-fake", "provider": "openai", "deployment": "gpt-4o-mini", "status": "200"}
    assert value(requests, **answered) >= 2
