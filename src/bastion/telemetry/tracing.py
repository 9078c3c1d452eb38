"""OpenTelemetry traces: a server span per request, a span per stage and per upstream attempt.

Imported only when ``telemetry.tracing.enabled`` is on (``state.TELEMETRY.tracing`` is None
otherwise). The tracer provider is Bastion's own, not the process-global one, so nothing
else in the process changes how it traces. An incoming W3C ``traceparent`` (and
``tracestate``) is honoured: the request span is its child and the parent's sampling
decision wins over ``sample_ratio``. Spans are exported in batches by the SDK's background
thread over OTLP/HTTP; a sampled-out request costs a non-recording span and nothing else.

Span tree of a chat request::

    chat {model}                   SERVER   the request, GenAI + bastion.* attributes
      execute                      INTERNAL choosing deployments, retries, fallbacks
        chat {upstream model}      CLIENT   one upstream attempt (a stream's ends with the stream)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bastion import __version__
from bastion.api.asgi import Message, Receive, Scope, Send
from bastion.context import RequestContext
from bastion.errors import GatewayError
from bastion.telemetry.config import TracingConfig
from bastion.telemetry.genai import (
    cached_input_tokens,
    input_messages,
    operation_name,
    output_messages,
    usage_tokens,
)
from bastion.telemetry.state import TELEMETRY

if TYPE_CHECKING:
    from bastion.routing.router import DeploymentState

T = TypeVar("T")
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

#: the request's server span, for the attributes only known at the end (``finish_request``)
_REQUEST_SPAN: ContextVar[Span | None] = ContextVar("bastion_request_span", default=None)
_DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"


class _AsgiHeaders(Getter[list[tuple[bytes, bytes]]]):
    """Reads W3C trace-context headers straight from an ASGI header list (names are lower-case)."""

    def get(self, carrier: list[tuple[bytes, bytes]], key: str) -> list[str] | None:
        name = key.lower().encode("latin-1")
        values = [value.decode("latin-1") for header, value in carrier if header == name]
        return values or None

    def keys(self, carrier: list[tuple[bytes, bytes]]) -> list[str]:
        return [header.decode("latin-1") for header, _ in carrier]


_GETTER = _AsgiHeaders()


class Tracing:
    def __init__(self, config: TracingConfig, processor: SpanProcessor | None = None) -> None:
        """``processor`` replaces the OTLP batch export (tests pass an in-memory one)."""
        self.config = config
        self.capture_content = config.capture_content
        self.endpoint = config.otlp.endpoint or _env_endpoint() or _DEFAULT_ENDPOINT
        self.provider = TracerProvider(
            sampler=ParentBased(TraceIdRatioBased(config.sample_ratio)),
            resource=Resource.create({"service.name": config.service_name, "service.version": __version__}),
            shutdown_on_exit=False,
        )
        if processor is None:
            processor = BatchSpanProcessor(_otlp_exporter(config), max_queue_size=config.max_queue_size)
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("bastion", __version__)
        self.propagator = TraceContextTextMapPropagator()

    # ------------------------------------------------------------------ the request

    async def serve(self, handler: Handler, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one request under its server span (the child of the caller's ``traceparent``, if any)."""
        parent = self.propagator.extract(scope["headers"], getter=_GETTER)
        operation = "embeddings" if scope["path"].endswith("/embeddings") else "chat"
        span = self.tracer.start_span(
            operation,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": scope["method"],
                "url.path": scope["path"],
                "gen_ai.operation.name": operation,
            },
        )
        trace_header = None
        if self.config.response_header:
            trace_header = (b"x-trace-id", format_trace_id(span.get_span_context().trace_id).encode())
        if not span.is_recording():
            # sampled out: no child spans and no context to carry, only the trace id goes back
            await handler(scope, receive, send if trace_header is None else _with_header(send, trace_header))
            return
        context_token = otel_context.attach(trace.set_span_in_context(span, parent))
        span_token = _REQUEST_SPAN.set(span)
        status = 0

        async def send_traced(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if trace_header is not None:
                    message = {**message, "headers": [*message.get("headers", ()), trace_header]}
            await send(message)

        try:
            await handler(scope, receive, send_traced)
        except BaseException as error:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise
        finally:
            if status:
                span.set_attribute("http.response.status_code", status)
                if status >= 500:  # a 4xx is the client's mistake, not a failed server span
                    span.set_status(Status(StatusCode.ERROR))
            span.end()
            _REQUEST_SPAN.reset(span_token)
            otel_context.detach(context_token)

    def finish_request(self, ctx: RequestContext, status: int) -> None:
        """Name the request span after its model and add what the request decided (``observe_request``)."""
        span = _REQUEST_SPAN.get()
        if span is None:  # not under a recorded request span (sampled out)
            return
        operation = operation_name(ctx.route)
        if ctx.model:
            span.update_name(f"{operation} {ctx.model}")
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "bastion.request_id": ctx.request_id,
            "bastion.attempts": ctx.attempts,
            "bastion.upstream_seconds": ctx.upstream_seconds,
        }
        info = TELEMETRY.provider(ctx.provider)
        optional: dict[str, Any] = {
            "gen_ai.request.model": ctx.model,
            "gen_ai.provider.name": info.genai_name if info is not None else None,
            "gen_ai.response.model": ctx.upstream_model,
            "bastion.provider": ctx.provider,
            "bastion.route": ctx.route or None,
            "bastion.cache": ctx.cache_status,
            "bastion.cache.similarity": ctx.cache_similarity,
            "bastion.route_rule": ctx.route_rule,
            "bastion.route_reason": ctx.route_reason,
            "bastion.variant": ctx.variant,
            "bastion.feature": ctx.feature,
            "bastion.degraded": ctx.degraded,
            "error.type": (ctx.error_code or str(status)) if status >= 400 else None,
        }
        attributes.update({name: value for name, value in optional.items() if value is not None})
        if ctx.route != "embeddings":
            attributes["gen_ai.request.stream"] = ctx.stream
        if ctx.first_byte_at is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = ctx.first_byte_at - ctx.started
        if ctx.fallbacks:
            attributes["bastion.fallbacks"] = list(ctx.fallbacks)
        if ctx.hedged:
            attributes["bastion.hedged"] = True
        if ctx.breaker_skips:
            attributes["bastion.breaker_skips"] = ctx.breaker_skips
        if ctx.guards:
            attributes["bastion.guards"] = [f"{d.stage}:{d.guard}={d.action}" for d in ctx.guards]
        if ctx.cache_status not in ("hit", "semantic-hit"):
            _set_usage(attributes, ctx.usage)
        span.set_attributes(attributes)

    # ------------------------------------------------------------------ stages and attempts

    @contextlib.contextmanager
    def stage(self, name: str, attributes: dict[str, Any] | None = None) -> Iterator[Span | None]:
        """A child span of the request's for a stage of the request path (guards, route, cache…).

        Nothing (None) when the request is not recorded: a sampled-out request pays no span.
        """
        if _REQUEST_SPAN.get() is None:
            yield None
            return
        with self.tracer.start_as_current_span(name, kind=SpanKind.INTERNAL, attributes=attributes) as span:
            yield span

    async def attempt(
        self, ctx: RequestContext, group: str, state: DeploymentState, streaming: bool, run: Awaitable[T]
    ) -> T:
        """Await one upstream attempt under its CLIENT span; a stream's span ends when the stream does."""
        if _REQUEST_SPAN.get() is None:  # the request is not recorded
            return await run
        model = state.deployment.model
        operation = operation_name(ctx.route)
        span = self.tracer.start_span(f"{operation} {model}", kind=SpanKind.CLIENT)
        recording = span.is_recording()
        if recording:
            info = TELEMETRY.provider(state.provider.name)
            attributes: dict[str, Any] = {
                "gen_ai.operation.name": operation,
                "gen_ai.request.model": model,
                "bastion.provider": state.provider.name,
                "bastion.model_group": group,
                "bastion.attempt": ctx.attempts + 1,
            }
            if info is not None:
                attributes["gen_ai.provider.name"] = info.genai_name
                if info.address is not None:
                    attributes["server.address"] = info.address
                if info.port is not None:
                    attributes["server.port"] = info.port
            if operation == "chat":
                attributes["gen_ai.request.stream"] = streaming
                if self.capture_content:
                    messages = input_messages(ctx.request_body)
                    if messages is not None:
                        attributes["gen_ai.input.messages"] = messages
            span.set_attributes(attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            result = await run
        except BaseException as error:
            _failed(span, error)
            span.end()
            raise
        finally:
            otel_context.detach(token)
        if streaming:
            first: list[Any] = result[0]  # type: ignore[index]
            chunks: AsyncIterator[Any] = result[1]  # type: ignore[index]
            summary = _StreamSummary(self.capture_content) if recording else None
            return (first, _TracedStream(span, first, chunks, summary))  # type: ignore[return-value]
        if recording and isinstance(result, dict):
            _set_response(span, result, self.capture_content)
        span.end()
        return result

    def shutdown(self) -> None:
        """Export what is queued (bounded by the exporter's timeout), then stop the export thread."""
        self.provider.shutdown()


class _TracedStream:
    """The rest of a stream, passed through; the attempt span ends (with usage) when the stream does.

    A class rather than an async generator: a generator closed before its first ``anext`` (a
    losing hedge) never runs its ``finally``, and the span and the upstream stream must end anyway.
    """

    __slots__ = ("chunks", "ended", "span", "summary")

    def __init__(self, span: Span, first: list[Any], chunks: AsyncIterator[Any], summary: Any) -> None:
        self.span = span
        self.chunks = chunks
        self.summary = summary
        self.ended = False
        if summary is not None:
            summary.add(first)

    def __aiter__(self) -> _TracedStream:
        return self

    async def __anext__(self) -> Any:
        try:
            batch = await anext(self.chunks)
        except StopAsyncIteration:
            self._end()
            raise
        except asyncio.CancelledError:
            raise  # the client went away: ``aclose`` follows, and it is not the provider's fault
        except BaseException as error:
            _failed(self.span, error)
            self._end()
            raise
        if self.summary is not None:
            self.summary.add(batch)
        return batch

    async def aclose(self) -> None:
        self._end()
        close = getattr(self.chunks, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()

    def _end(self) -> None:
        if self.ended:
            return
        self.ended = True
        if self.summary is not None:
            self.summary.finish(self.span)
        self.span.end()


class _StreamSummary:
    """What an attempt span needs from a stream's chunks: model, id, finish reasons, usage, text."""

    __slots__ = ("capture", "finish_reasons", "model", "response_id", "text", "usage")

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.model: str | None = None
        self.response_id: str | None = None
        self.finish_reasons: list[str] = []
        self.usage: Any = None
        self.text: list[str] = []

    def add(self, batch: list[Any]) -> None:
        for chunk in batch:
            if not isinstance(chunk, dict):
                continue
            if self.model is None:
                self.model = chunk.get("model")
                self.response_id = chunk.get("id")
            if chunk.get("usage"):
                self.usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                reason = choice.get("finish_reason")
                if reason:
                    self.finish_reasons.append(reason)
                if self.capture:
                    content = (choice.get("delta") or {}).get("content")
                    if isinstance(content, str):
                        self.text.append(content)

    def finish(self, span: Span) -> None:
        attributes: dict[str, Any] = {}
        if isinstance(self.model, str):
            attributes["gen_ai.response.model"] = self.model
        if isinstance(self.response_id, str):
            attributes["gen_ai.response.id"] = self.response_id
        if self.finish_reasons:
            attributes["gen_ai.response.finish_reasons"] = self.finish_reasons
        _set_usage(attributes, self.usage)
        if self.capture:
            reason = self.finish_reasons[0] if self.finish_reasons else None
            attributes["gen_ai.output.messages"] = output_messages("".join(self.text), None, reason)
        span.set_attributes(attributes)


def _with_header(send: Send, header: tuple[bytes, bytes]) -> Send:
    """``send`` adding one header to the response start."""

    async def send_with_header(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), header]}
        await send(message)

    return send_with_header


def _set_response(span: Span, response: dict[str, Any], capture: bool) -> None:
    attributes: dict[str, Any] = {}
    if isinstance(response.get("model"), str):
        attributes["gen_ai.response.model"] = response["model"]
    if isinstance(response.get("id"), str):
        attributes["gen_ai.response.id"] = response["id"]
    choices = [c for c in response.get("choices") or () if isinstance(c, dict)]
    reasons = [c["finish_reason"] for c in choices if isinstance(c.get("finish_reason"), str)]
    if reasons:
        attributes["gen_ai.response.finish_reasons"] = reasons
    _set_usage(attributes, response.get("usage"))
    if capture and choices:
        message = choices[0].get("message") or {}
        content = message.get("content")
        attributes["gen_ai.output.messages"] = output_messages(
            content if isinstance(content, str) else "",
            message.get("tool_calls"),
            choices[0].get("finish_reason"),
        )
    span.set_attributes(attributes)


def _set_usage(attributes: dict[str, Any], usage: Any) -> None:
    input_tokens, output_tokens = usage_tokens(usage)
    if input_tokens:
        attributes["gen_ai.usage.input_tokens"] = input_tokens
    if output_tokens:
        attributes["gen_ai.usage.output_tokens"] = output_tokens
    cached = cached_input_tokens(usage)
    if cached:
        attributes["gen_ai.usage.cache_read.input_tokens"] = cached


def _failed(span: Span, error: BaseException) -> None:
    """``error.type``: the error's code (``upstream_timeout``, ``rate_limited``…) or the exception's name."""
    if isinstance(error, asyncio.CancelledError):
        error_type = "cancelled"  # a hedge won, or the client went away
    elif isinstance(error, GatewayError):
        error_type = error.code or error.kind or type(error).__name__
    else:
        error_type = type(error).__qualname__
    if span.is_recording():
        span.set_attribute("error.type", error_type)
        span.set_status(Status(StatusCode.ERROR, error_type))


def _otlp_exporter(config: TracingConfig) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    otlp = config.otlp
    return OTLPSpanExporter(
        endpoint=otlp.endpoint,
        headers=otlp.headers or None,
        timeout=otlp.timeout_seconds,
        compression=Compression.Gzip if otlp.compression else None,
    )


def _env_endpoint() -> str | None:
    import os

    return os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        else None
    )
