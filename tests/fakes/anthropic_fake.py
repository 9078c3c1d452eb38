"""A local stand-in for Anthropic's Messages API that speaks its real wire format.

``POST /v1/messages`` with the real headers (the key in ``x-api-key`` or, as the 2.x SDKs send
it, ``Authorization: Bearer``; ``anthropic-version`` required), the real
error bodies (``{"type": "error", "error": {...}, "request_id": ...}``), response headers
(``request-id``, ``anthropic-ratelimit-*``) and the real stream: ``message_start``, a ``ping``
after the first ``content_block_start``, text and ``tool_use`` blocks (tool input streamed as
several ``input_json_delta`` fragments, the first one empty as the real API does),
``message_delta`` with cumulative usage, ``message_stop``.

The answer comes from ``plan_reply`` (see ``base``). Cache usage is made testable: a system
prompt containing ``cache-write`` reports its words as ``cache_creation_input_tokens``, one
containing ``cache`` reports them as ``cache_read_input_tokens``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from .base import MALFORMED_JSON, STREAM_ONLY_FAULTS, FakeProvider, Fault, Reply, count_tokens, plan_reply

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ERROR_MESSAGES = {
    429: "This request would exceed your organization's rate limit. Please try again later.",
    500: "Internal server error",
    503: "Service unavailable",
    504: "Request timed out",
    529: "Overloaded",
}
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}

Event = tuple[str, dict[str, Any]]


class AnthropicFake(FakeProvider):
    """The Messages API, deterministic; ``api_key`` set means only that key is accepted."""

    def __init__(self, *, api_key: str | None = None) -> None:
        super().__init__()
        self.api_key = api_key
        self._ids = itertools.count(1)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/messages", self.messages)]

    # ------------------------------------------------------------------ handler

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        serial = next(self._ids)
        request_id = f"req_fake{serial:020d}"
        key = request.headers.get("x-api-key") or _bearer(request.headers.get("authorization"))
        if not key:
            return error_response(401, request_id, "x-api-key header is required")
        if self.api_key is not None and key != self.api_key:
            return error_response(401, request_id, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return error_response(400, request_id, "anthropic-version: header is required")
        problem = validate(body)
        if problem:
            return error_response(400, request_id, problem)
        fault = await self.take_fault(body["model"], stream=bool(body.get("stream")))
        if fault is not None and fault.kind == "malformed":
            return await malformed_response(request, stream=bool(body.get("stream")))
        if fault is not None and fault.kind == "status":
            return error_response(fault.status, request_id, fault.message, retry_after=fault.retry_after)
        if fault is not None and fault.kind == "drop":
            return drop_connection(request)
        if fault is not None and fault.kind == "stall":
            await asyncio.sleep(fault.delay_seconds)
        message = build_message(body, f"msg_fake{serial:020d}")
        usage = message["usage"]
        self.bill(
            body["model"],
            usage["input_tokens"] + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"],
            usage["output_tokens"],
        )
        headers = {"request-id": request_id, **ratelimit_headers()}
        if not body.get("stream"):
            await self.generation_delay(message["usage"]["output_tokens"])
            return web.json_response(message, headers=headers)
        midstream = fault if fault is not None and fault.kind in STREAM_ONLY_FAULTS else None
        return await self._stream(request, message, headers, midstream, request_id)

    async def _stream(
        self,
        request: web.Request,
        message: dict[str, Any],
        headers: dict[str, str],
        fault: Fault | None,
        request_id: str,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200,
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                **headers,
            },
        )
        await response.prepare(request)
        gap = self.chunk_gap()
        for sent, (name, payload) in enumerate(stream_events(message)):
            if fault is not None and sent > fault.after_chunks:  # message_start + after_chunks events
                if fault.kind == "hang":
                    await self.hang(request, fault.delay_seconds)
                    return response
                if fault.status == 0:
                    return drop_connection(request)
                error = error_body(529, request_id, fault.message)
                await response.write(sse("error", error))
                break
            if gap and sent > 1 and name == "content_block_delta":
                await asyncio.sleep(gap)
            await response.write(sse(name, payload))
        await response.write_eof()
        return response


# ------------------------------------------------------------------ wire helpers


def sse(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()


def error_body(status: int, request_id: str, message: str | None = None) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "api_error")
    return {
        "type": "error",
        "error": {"type": kind, "message": message or ERROR_MESSAGES.get(status, kind)},
        "request_id": request_id,
    }


def error_response(
    status: int, request_id: str, message: str | None = None, *, retry_after: float | None = None
) -> web.Response:
    headers = {"request-id": request_id}
    if retry_after is not None:
        headers["retry-after"] = str(int(retry_after) if float(retry_after).is_integer() else retry_after)
    if status == 529:
        headers["x-should-retry"] = "true"
    return web.json_response(error_body(status, request_id, message), status=status, headers=headers)


async def malformed_response(request: web.Request, *, stream: bool) -> web.StreamResponse:
    """A 200 whose body (or first stream event) is cut-off JSON."""
    if not stream:
        return web.Response(body=MALFORMED_JSON, content_type="application/json")
    response = web.StreamResponse(status=200, headers={"content-type": "text/event-stream; charset=utf-8"})
    await response.prepare(request)
    await response.write(b"event: message_start\ndata: " + MALFORMED_JSON + b"\n\n")
    await response.write_eof()
    return response


def drop_connection(request: web.Request) -> web.Response:
    """Close the socket without an answer (the client sees a disconnect)."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)  # never delivered


def _bearer(header: str | None) -> str | None:
    """Anthropic SDKs from 2.x send the API key as ``Authorization: Bearer``; older ones as ``x-api-key``."""
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def ratelimit_headers() -> dict[str, str]:
    reset = "2030-01-01T00:00:00Z"
    headers = {}
    for family, limit in (
        ("requests", 4000),
        ("tokens", 400000),
        ("input-tokens", 200000),
        ("output-tokens", 80000),
    ):
        headers[f"anthropic-ratelimit-{family}-limit"] = str(limit)
        headers[f"anthropic-ratelimit-{family}-remaining"] = str(limit - 1)
        headers[f"anthropic-ratelimit-{family}-reset"] = reset
    return headers


# ------------------------------------------------------------------ validation (the real API's messages)


def validate(body: Any) -> str | None:
    """The first problem the real API would report, in its ``path: message`` style."""
    if not isinstance(body, dict):
        return "There was an issue with the request body: it must be a JSON object"
    if "model" not in body:
        return "model: Field required"
    if not isinstance(body["model"], str):
        return "model: Input should be a valid string"
    if "max_tokens" not in body:
        return "max_tokens: Field required"
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    if "messages" not in body:
        return "messages: Field required"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages.{index}: Input should be an object"
        if message.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        if not isinstance(content, str | list):
            return f"messages.{index}.content: Input should be a valid string or list"
        for block_index, block in enumerate(content if isinstance(content, list) else []):
            if not isinstance(block, dict) or "type" not in block:
                return f"messages.{index}.content.{block_index}.type: Field required"
            if block["type"] == "text" and not block.get("text"):
                return f"messages.{index}.content.{block_index}.text: text content blocks must be non-empty"
    stop_sequences = body.get("stop_sequences")
    if stop_sequences is not None and (
        not isinstance(stop_sequences, list) or not all(isinstance(s, str) for s in stop_sequences)
    ):
        return "stop_sequences: Input should be a valid list of strings"
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        return "temperature: Input should be less than or equal to 1"
    return None


# ------------------------------------------------------------------ the answer


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if block.get("type") == "text":
            parts.append(block.get("text", ""))
        elif block.get("type") == "tool_result":
            parts.append(_text(block.get("content")))
        elif block.get("type") == "tool_use":
            parts.append(json.dumps(block.get("input", {})))
    return " ".join(p for p in parts if p)


def _system_text(system: Any) -> str:
    return system if isinstance(system, str) else _text(system)


def _plan(body: dict[str, Any]) -> Reply:
    messages = body["messages"]
    system = _system_text(body.get("system"))
    last_user = next((m for m in reversed(messages) if m["role"] == "user"), messages[-1])
    results = (
        [b for b in last_user["content"] if b.get("type") == "tool_result"]
        if isinstance(last_user["content"], list)
        else []
    )
    user_text = (
        last_user["content"]
        if isinstance(last_user["content"], str)
        else " ".join(b.get("text", "") for b in last_user["content"] if b.get("type") == "text")
    )
    tools = [(t["name"], t.get("input_schema") or {}) for t in body.get("tools") or [] if "name" in t]
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool":
        tools = [t for t in tools if t[0] == choice.get("name")]
    reply = plan_reply(
        prompt_text=" ".join([system] + [_text(m["content"]) for m in messages]),
        last_user_text=user_text,
        tools=tools,
        tool_choice="none" if choice.get("type") == "none" else "auto",
        last_is_tool_result=bool(results) and messages[-1] is last_user,
        tool_result_text=_text(results[-1].get("content")) if results else "",
        max_tokens=body["max_tokens"],
        json_mode=bool((body.get("output_config") or {}).get("format")),
    )
    if choice.get("disable_parallel_tool_use"):
        reply.tool_calls = reply.tool_calls[:1]
    return reply


def build_message(body: dict[str, Any], message_id: str) -> dict[str, Any]:
    """The complete Message the real API would return for ``body``."""
    reply = _plan(body)
    stop_reason = STOP_REASONS[reply.finish]
    stop_sequence = None
    text = reply.text
    hits = [(text.find(s), s) for s in body.get("stop_sequences") or [] if s and s in text]
    if hits:  # cut at the earliest stop sequence, as the model would have stopped there
        position, stop_sequence = min(hits)
        text, stop_reason = text[:position], "stop_sequence"
    content: list[dict[str, Any]] = []
    if text or not reply.tool_calls:
        content.append({"type": "text", "text": text})
    for call in reply.tool_calls:
        tool_id = "toolu_fake_" + call.id.removeprefix("call_")
        content.append({"type": "tool_use", "id": tool_id, "name": call.name, "input": call.arguments})
    system = _system_text(body.get("system"))
    cache_read = cache_write = 0
    if "cache-write" in system:
        cache_write = max(1, count_tokens(system))
    elif "cache" in system:
        cache_read = max(1, count_tokens(system))
    output_tokens = count_tokens(text) if reply.text else reply.completion_tokens
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": {
            "input_tokens": max(1, reply.prompt_tokens - cache_read - cache_write),
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
            "output_tokens": max(1, output_tokens),
            "service_tier": "standard",
        },
    }


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [words[0]] + [" " + word for word in words[1:]] if text else []


def _fragments(raw: str, parts: int = 3) -> list[str]:
    """The input JSON cut into uneven fragments, led by the empty one the real API sends first."""
    size = max(1, len(raw) // parts)
    return [""] + [raw[i : i + size] for i in range(0, len(raw), size)]


def stream_events(message: dict[str, Any]) -> Iterator[Event]:
    """The real event sequence that rebuilds ``message``."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**usage, "output_tokens": 1}
    yield "message_start", {"type": "message_start", "message": start}
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
            )
            deltas = [{"type": "text_delta", "text": piece} for piece in _pieces(block["text"])]
        else:
            yield (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}},
            )
            fragments = _fragments(json.dumps(block["input"]))
            deltas = [{"type": "input_json_delta", "partial_json": fragment} for fragment in fragments]
        if index == 0:
            yield "ping", {"type": "ping"}
        for delta in deltas:
            yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]},
            "usage": {
                key: usage[key]
                for key in (
                    "input_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                    "output_tokens",
                )
            },
        },
    )
    yield "message_stop", {"type": "message_stop"}
