"""The last-resort provider: a pre-defined reply that never fails and needs no network.

Model groups use it for ``static_reply`` (the answer when every deployment and fallback failed);
it can also be the last deployment of a ``priority`` group. Either way clients get a polite,
well-formed answer instead of an error when every upstream is down.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

from bastion.config import StaticProviderConfig
from bastion.providers._synthetic import (
    chunk,
    estimate_tokens,
    message_text,
    usage,
    usage_chunk,
)
from bastion.providers.base import ChatRequest, Deployment, Json, Provider

STREAM_PIECES = 3


class StaticProvider(Provider):
    """Answers every chat request with ``config.content``; see the module doc."""

    kind = "static"

    def __init__(self, name: str, config: StaticProviderConfig) -> None:
        self.name = name
        self.config = config
        self.completion_tokens = len(config.content.split())

    async def chat(self, request: ChatRequest, deployment: Deployment) -> Json:
        return {
            "id": _completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": deployment.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.config.content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": self.config.finish_reason,
                }
            ],
            "usage": self._usage(request),
        }

    async def chat_stream(self, request: ChatRequest, deployment: Deployment) -> AsyncIterator[Json]:
        completion_id, created, model = _completion_id(), int(time.time()), deployment.model
        yield chunk(completion_id, created, model, {"role": "assistant", "content": ""})
        for piece in split_text(self.config.content, STREAM_PIECES):
            yield chunk(completion_id, created, model, {"content": piece})
        yield chunk(completion_id, created, model, {}, self.config.finish_reason)
        yield usage_chunk(completion_id, created, model, self._usage(request))

    def _usage(self, request: ChatRequest) -> Json:
        messages = request.body.get("messages") or []
        prompt_tokens = estimate_tokens(" ".join(message_text(m) for m in messages if isinstance(m, dict)))
        return usage(prompt_tokens, self.completion_tokens)


def split_text(text: str, pieces: int) -> list[str]:
    """Cut a text into at most ``pieces`` consecutive parts at word boundaries; joined, they are the text."""
    if not text:
        return []
    words = text.split(" ")
    size = -(-len(words) // pieces)  # ceiling division
    groups = [" ".join(words[start : start + size]) for start in range(0, len(words), size)]
    return [groups[0]] + [" " + group for group in groups[1:]]


def _completion_id() -> str:
    return "chatcmpl-static" + uuid.uuid4().hex[:20]
