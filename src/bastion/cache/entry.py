"""What the cache keeps for one answer, and how it turns back into a JSON answer or a stream.

An entry is the final answer in OpenAI ``chat.completion`` shape (a streamed answer is
assembled from its chunks first) plus where it came from. That is enough to replay it either
way: as the JSON body, or as a well-formed stream of OpenAI chunks (role, text in pieces,
each tool call's head then its arguments, the finish reason, the usage). The Anthropic
ingress re-encodes both with its usual translators, so one entry serves every protocol.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import orjson

from bastion.providers.base import Json

#: finish reasons of a complete answer worth replaying (a content-filter refusal is not stored:
#: it may be transient, and the group may fall back for it next time)
STORABLE_FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "function_call"})
#: characters per replayed text delta
REPLAY_PIECE_CHARS = 64
_ENTRY_OVERHEAD_BYTES = 256


@dataclass(slots=True)
class CacheEntry:
    partition: str
    response: Json  # an OpenAI chat.completion with one choice
    provider: str | None
    upstream_model: str | None
    stored_at: float
    expires_at: float
    size: int = 0  # bytes it costs the memory backend (about its serialised size)

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "v": 1,
                "partition": self.partition,
                "response": self.response,
                "provider": self.provider,
                "upstream_model": self.upstream_model,
                "stored_at": self.stored_at,
                "expires_at": self.expires_at,
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> CacheEntry | None:
        """An entry read back from a backend; None for anything this version did not write."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict) or data.get("v") != 1 or not isinstance(data.get("response"), dict):
            return None
        return cls(
            partition=str(data.get("partition")),
            response=data["response"],
            provider=data.get("provider"),
            upstream_model=data.get("upstream_model"),
            stored_at=float(data.get("stored_at") or 0.0),
            expires_at=float(data.get("expires_at") or 0.0),
            size=len(raw),
        )

    @property
    def usage(self) -> dict[str, Any] | None:
        usage = self.response.get("usage")
        return usage if isinstance(usage, dict) else None


def make_entry(
    partition: str,
    response: Json,
    provider: str | None,
    upstream_model: str | None,
    ttl_seconds: float,
    now: float | None = None,
) -> CacheEntry:
    stored_at = time.time() if now is None else now
    size = len(orjson.dumps(response)) + len(partition) + _ENTRY_OVERHEAD_BYTES
    return CacheEntry(partition, response, provider, upstream_model, stored_at, stored_at + ttl_seconds, size)


def storable(response: Json) -> bool:
    """A complete single-choice answer that ended normally."""
    choices = response.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        return False
    return choices[0].get("finish_reason") in STORABLE_FINISH_REASONS


def fresh_id() -> str:
    return "chatcmpl-" + os.urandom(12).hex()


def replay_response(entry: CacheEntry) -> Json:
    """The stored answer as a new ``chat.completion`` (its own id; the nested parts are shared, read-only)."""
    response = dict(entry.response)
    response["id"] = fresh_id()
    return response


# ------------------------------------------------------------------ stream capture


class StreamAssembler:
    """OpenAI chunks in, the ``chat.completion`` they add up to out (choice 0 only)."""

    __slots__ = (
        "_created",
        "_fingerprint",
        "_finish",
        "_id",
        "_model",
        "_refusal",
        "_text",
        "_tools",
        "_usage",
    )

    def __init__(self) -> None:
        self._id: Any = None
        self._created: Any = None
        self._model: Any = None
        self._fingerprint: Any = None
        self._text: list[str] = []
        self._refusal: list[str] = []
        self._tools: dict[int, dict[str, Any]] = {}
        self._finish: str | None = None
        self._usage: Any = None

    def feed(self, chunk: Json) -> None:
        if self._id is None:
            self._id = chunk.get("id")
            self._created = chunk.get("created")
            self._model = chunk.get("model")
        if chunk.get("system_fingerprint"):
            self._fingerprint = chunk["system_fingerprint"]
        usage = chunk.get("usage")
        if usage:
            self._usage = usage
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                self._text.append(text)
            refusal = delta.get("refusal")
            if refusal:
                self._refusal.append(refusal)
            for call in delta.get("tool_calls") or ():
                self._tool_call(call)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]

    def _tool_call(self, call: Json) -> None:
        position = call.get("index", 0)
        function = call.get("function") or {}
        slot = self._tools.get(position)
        if slot is None:
            slot = self._tools[position] = {"id": None, "type": "function", "name": "", "arguments": []}
        if call.get("id"):
            slot["id"] = call["id"]
        if function.get("name"):
            slot["name"] += function["name"]
        if function.get("arguments"):
            slot["arguments"].append(function["arguments"])

    def result(self) -> Json | None:
        """The assembled answer, or None when the stream never said how it finished."""
        if self._finish is None:
            return None
        text = "".join(self._text)
        message: Json = {"role": "assistant", "content": text if text or not self._tools else None}
        if self._refusal:
            message["refusal"] = "".join(self._refusal)
        if self._tools:
            message["tool_calls"] = [
                {
                    "id": slot["id"],
                    "type": "function",
                    "function": {"name": slot["name"], "arguments": "".join(slot["arguments"])},
                }
                for _, slot in sorted(self._tools.items())
            ]
        response: Json = {
            "id": self._id,
            "object": "chat.completion",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "message": message, "finish_reason": self._finish, "logprobs": None}],
            "usage": self._usage,
        }
        if self._fingerprint:
            response["system_fingerprint"] = self._fingerprint
        return response


# ------------------------------------------------------------------ stream replay


def replay_chunks(response: Json) -> tuple[list[Json], list[Json]]:
    """A stored answer as a stream: the head (role) and the rest, in the order OpenAI sends them."""
    head: Json = {
        "id": fresh_id(),
        "object": "chat.completion.chunk",
        "created": response.get("created") or int(time.time()),
        "model": response.get("model", ""),
    }
    if response.get("system_fingerprint"):
        head["system_fingerprint"] = response["system_fingerprint"]
    choice = (response.get("choices") or [{}])[0]
    message = choice.get("message") or {}

    def chunk(delta: Json, finish_reason: str | None = None) -> Json:
        return {
            **head,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }

    first = [chunk({"role": "assistant", "content": ""})]
    rest: list[Json] = []
    content = message.get("content")
    if isinstance(content, str):
        rest.extend(chunk({"content": piece}) for piece in text_pieces(content))
    if message.get("refusal"):
        rest.append(chunk({"refusal": message["refusal"]}))
    for position, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        opening = {"index": position, "id": call.get("id"), "type": "function"}
        opening["function"] = {"name": function.get("name", ""), "arguments": ""}
        rest.append(chunk({"tool_calls": [opening]}))
        if function.get("arguments"):
            rest.append(
                chunk({"tool_calls": [{"index": position, "function": {"arguments": function["arguments"]}}]})
            )
    rest.append(chunk({}, choice.get("finish_reason") or "stop"))
    usage = response.get("usage")
    if isinstance(usage, dict):
        rest.append({**head, "choices": [], "usage": usage})
    return first, rest


def text_pieces(text: str, size: int = REPLAY_PIECE_CHARS) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, cut before a space where there is one."""
    pieces = []
    start, end_of_text = 0, len(text)
    while start < end_of_text:
        end = min(end_of_text, start + size)
        if end < end_of_text:
            cut = text.rfind(" ", start + 1, end)
            if cut > start:
                end = cut
        pieces.append(text[start:end])
        start = end
    return pieces
