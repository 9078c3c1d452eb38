"""OpenAI-shaped answers built locally, for the providers that need no network (simulator, static)."""

from __future__ import annotations

import math

from bastion.providers.base import Json


def chunk(
    completion_id: str, created: int, model: str, delta: Json, finish_reason: str | None = None
) -> Json:
    """One OpenAI ``chat.completion.chunk`` with a single choice."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }


def usage_chunk(completion_id: str, created: int, model: str, usage_object: Json) -> Json:
    """The stream's last chunk: no choices, the request's usage (as with ``include_usage``)."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage_object,
    }


def usage(prompt_tokens: int, completion_tokens: int) -> Json:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def estimate_tokens(text: str) -> int:
    """Tokens of a text by the usual rule of thumb: a token is about three quarters of a word."""
    words = len(text.split())
    return math.ceil(words / 0.75) if words else 0


def message_text(message: Json) -> str:
    """All the text of one chat message: content (string or parts) and tool-call arguments."""
    content = message.get("content")
    parts: list[str] = []
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        parts.extend(part.get("text", "") for part in content if isinstance(part, dict))
    for call in message.get("tool_calls") or []:
        parts.append(str((call.get("function") or {}).get("arguments", "")))
    return " ".join(part for part in parts if part)
