"""A built-in provider that answers without a network: for demos, load tests and failover drills.

It behaves like a real upstream on the dimensions a gateway cares about: latency (time to first
token, then a token rate), failures (a random error rate and scheduled outage windows, mapped
through the same status table as real providers) and output (deterministic text, tool calls,
JSON, usage, embeddings). Time and randomness are injected, so tests never sleep.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import random
import struct
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bastion.config import SimulatorProviderConfig
from bastion.errors import InvalidRequest, provider_error_from_status
from bastion.providers._synthetic import chunk, estimate_tokens, message_text, usage, usage_chunk
from bastion.providers.base import ChatRequest, Deployment, EmbeddingsRequest, Json, Provider

Sleep = Callable[[float], Awaitable[Any]]

_WORDS = (
    "the gateway routes every request to a healthy deployment and keeps streams flowing while "
    "providers recover from failures quickly so clients see steady latency across regions "
    "models and keys with budgets limits caches retries fallbacks metrics traces logs tokens "
    "answers questions about weather travel code music history science cooking gardens rivers "
    "mountains"
)
VOCABULARY = tuple(_WORDS.split())
ARGUMENT_FRAGMENT_CHARS = 8
MAX_DIMENSIONS = 8192


class SimulatorProvider(Provider):
    """A deterministic stand-in for an OpenAI-compatible upstream; see the module doc."""

    kind = "simulator"

    def __init__(
        self,
        name: str,
        config: SimulatorProviderConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self.rng = rng if rng is not None else random.Random(config.seed)
        self.started_at = clock()

    async def start(self) -> None:
        self.started_at = self.clock()

    # ------------------------------------------------------------------ chat

    async def chat(self, request: ChatRequest, deployment: Deployment) -> Json:
        self.check_params(request.body)
        body = _with_defaults(request.body, deployment)
        self._maybe_fail()
        plan = self._plan(body)
        delay = self.config.ttft_ms / 1000.0 + self._generation_seconds(plan.completion_tokens)
        if delay > 0:
            await self.sleep(delay)
        message: Json = {"role": "assistant", "content": plan.text, "refusal": None}
        if plan.tool_call is not None:
            message["content"] = None
            message["tool_calls"] = [plan.tool_call]
        return {
            "id": _completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": deployment.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": plan.finish}],
            "usage": usage(plan.prompt_tokens, plan.completion_tokens),
        }

    async def chat_stream(self, request: ChatRequest, deployment: Deployment) -> AsyncIterator[Json]:
        self.check_params(request.body)
        body = _with_defaults(request.body, deployment)
        self._maybe_fail()
        plan = self._plan(body)
        if self.config.ttft_ms > 0:
            await self.sleep(self.config.ttft_ms / 1000.0)
        completion_id, created, model = _completion_id(), int(time.time()), deployment.model
        if plan.tool_call is not None:
            call = plan.tool_call
            opening = {
                "index": 0,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            yield chunk(
                completion_id, created, model, {"role": "assistant", "content": None, "tool_calls": [opening]}
            )
            arguments = call["function"]["arguments"]
            for start in range(0, len(arguments), ARGUMENT_FRAGMENT_CHARS):
                fragment = arguments[start : start + ARGUMENT_FRAGMENT_CHARS]
                yield chunk(
                    completion_id,
                    created,
                    model,
                    {"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]},
                )
        else:
            yield chunk(completion_id, created, model, {"role": "assistant", "content": ""})
            per_token = self._generation_seconds(1)
            for piece in text_pieces(plan.text):
                if per_token > 0:
                    await self.sleep(per_token)
                yield chunk(completion_id, created, model, {"content": piece})
        yield chunk(completion_id, created, model, {}, plan.finish)
        yield usage_chunk(completion_id, created, model, usage(plan.prompt_tokens, plan.completion_tokens))

    # ------------------------------------------------------------------ embeddings

    async def embeddings(self, request: EmbeddingsRequest, deployment: Deployment) -> Json:
        body = request.body
        texts = _embedding_inputs(body.get("input"))
        self._maybe_fail()
        size = body.get("dimensions") or self.config.embedding_dimensions
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_DIMENSIONS:
            raise InvalidRequest(
                f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS}", param="dimensions"
            )
        base64_format = body.get("encoding_format") == "base64"
        if self.config.ttft_ms > 0:
            await self.sleep(self.config.ttft_ms / 1000.0)
        data = []
        for index, item in enumerate(texts):
            text = item if isinstance(item, str) else "tokens:" + ",".join(map(str, item))
            vector = self._vector(text, size)
            encoded: Any = vector
            if base64_format:
                encoded = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode("ascii")
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        prompt_tokens = sum(estimate_tokens(item) if isinstance(item, str) else len(item) for item in texts)
        return {
            "object": "list",
            "data": data,
            "model": deployment.model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }

    def _vector(self, text: str, size: int) -> list[float]:
        rng = random.Random(_digest(f"{self.config.seed}:{text}"))
        values = [rng.gauss(0.0, 1.0) for _ in range(size)]
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        return [v / norm for v in values]

    # ------------------------------------------------------------------ failures and timing

    def _maybe_fail(self) -> None:
        """Raise the outage's or the error rate's ``ProviderError``, as a real upstream's status would."""
        elapsed = self.clock() - self.started_at
        if self.config.outage_period_seconds:
            elapsed %= self.config.outage_period_seconds
        for window in self.config.outages:
            end = window.start_seconds + window.duration_seconds
            if window.start_seconds <= elapsed < end:
                raise provider_error_from_status(
                    self.name, window.status, "simulated outage", retry_after_seconds=end - elapsed
                )
        if self.config.error_rate > 0 and self.rng.random() < self.config.error_rate:
            raise provider_error_from_status(self.name, self.config.error_status, "simulated failure")

    def _generation_seconds(self, tokens: int) -> float:
        if self.config.tokens_per_second <= 0:
            return 0.0
        return tokens / self.config.tokens_per_second

    # ------------------------------------------------------------------ the reply

    def _plan(self, body: Json) -> _Plan:
        messages = body.get("messages") or []
        last = messages[-1] if messages else {}
        prompt_tokens = estimate_tokens(" ".join(message_text(m) for m in messages))
        tool = _chosen_tool(body)
        if tool is not None and last.get("role") != "tool":
            name = tool.get("name", "tool")
            arguments = json.dumps(schema_instance(tool.get("parameters") or {}), separators=(",", ":"))
            call_id = "call_" + f"{_digest(f'{self.config.seed}:{name}:{_last_user(messages)}'):016x}"
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            return _Plan("", "tool_calls", prompt_tokens, len(f"{name} {arguments}".split()), call)
        response_format = body.get("response_format") or {}
        format_kind = response_format.get("type") if isinstance(response_format, dict) else None
        # after a tool result the reply depends on the result, else on the user's last words
        seed_text = message_text(last) if last.get("role") == "tool" else _last_user(messages)
        sentence = self._sentence(seed_text)
        if format_kind == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema") or {}
            text = json.dumps(schema_instance(schema, sentence))
            return _Plan(text, "stop", prompt_tokens, len(text.split()))
        if format_kind == "json_object":
            text = json.dumps({"reply": sentence})
            return _Plan(text, "stop", prompt_tokens, len(text.split()))
        words = sentence.split()
        finish = "stop"
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(limit, int) and 0 < limit < len(words):
            words, finish = words[:limit], "length"
        text = " ".join(words)
        stop = body.get("stop")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        cuts = [text.find(s) for s in stops if s and s in text]
        if cuts:
            text, finish = text[: min(cuts)], "stop"
        return _Plan(text, finish, prompt_tokens, len(text.split()))

    def _sentence(self, prompt: str) -> str:
        if self.config.reply is not None:
            return self.config.reply
        rng = random.Random(_digest(f"{self.config.seed}:{prompt}"))
        limit = self.config.max_reply_tokens
        count = min(limit, 12 + rng.randrange(37)) if limit > 12 else limit
        words = [rng.choice(VOCABULARY) for _ in range(count)]
        words[0] = words[0].capitalize()
        return " ".join(words) + "."


@dataclass(slots=True)
class _Plan:
    """What the simulator decided to answer, before it is shaped as a completion or chunks."""

    text: str
    finish: str
    prompt_tokens: int
    completion_tokens: int
    tool_call: Json | None = None


def text_pieces(text: str) -> list[str]:
    """Stream deltas: one word per piece, each after the first with its leading space."""
    words = text.split(" ")
    return [words[0]] + [" " + word for word in words[1:]] if text else []


def schema_instance(schema: Json, text: str = "value") -> Any:
    """A value that satisfies a simple JSON schema: required properties with values of their type."""
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for combinator in ("anyOf", "oneOf"):
        if schema.get(combinator):
            return schema_instance(schema[combinator][0], text)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        required = schema.get("required") or list(properties)
        return {name: schema_instance(properties.get(name) or {"type": "string"}, text) for name in required}
    if kind == "array":
        return [schema_instance(schema.get("items") or {"type": "string"}, text)]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(kind, text)


def _with_defaults(body: Json, deployment: Deployment) -> Json:
    merged = dict(body)
    for key, value in deployment.params.items():
        merged.setdefault(key, value)
    return merged


def _chosen_tool(body: Json) -> Json | None:
    """The function to call: the named one, else the first offered; none with ``tool_choice: none``."""
    tools = [tool.get("function") or {} for tool in body.get("tools") or [] if isinstance(tool, dict)]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        return next((tool for tool in tools if tool.get("name") == wanted), tools[0])
    return tools[0]


def _embedding_inputs(value: Any) -> list[Any]:
    """The items to embed: strings or token arrays (a flat token array is one item)."""
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
            return [value]
        if all((isinstance(item, str) and item) or (isinstance(item, list) and item) for item in value):
            return value
    raise InvalidRequest("'input' must be a non-empty string or array of strings or tokens", param="input")


def _last_user(messages: list[Json]) -> str:
    return next((message_text(m) for m in reversed(messages) if m.get("role") == "user"), "")


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _completion_id() -> str:
    return "chatcmpl-sim" + uuid.uuid4().hex[:20]
