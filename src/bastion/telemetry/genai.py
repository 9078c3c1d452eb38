"""The OpenTelemetry GenAI vocabulary, SDK-free: provider and operation names, usage, message content.

Metrics and spans both describe a request in these terms, so the mapping from Bastion's own
names (a configured provider called ``mock`` of type ``openai``) to the conventions' names
(``gen_ai.provider.name = openai``) lives in one place. Nothing here imports OpenTelemetry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

#: ``gen_ai.provider.name`` well-known values for the OpenAI-compatible presets; the rest keep the
#: preset's name (the conventions allow a custom value when none of theirs applies)
_PRESET_NAMES = {"azure": "azure.ai.openai", "mistral": "mistral_ai", "together": "together_ai"}
_KIND_NAMES = {
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "simulator": "bastion.simulator",
    "static": "bastion.static",
}


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """A configured provider in GenAI terms: its ``gen_ai.provider.name`` and the server it calls."""

    name: str  # the configured name (``bastion.provider``)
    genai_name: str
    address: str | None = None
    port: int | None = None


def describe_providers(configs: Mapping[str, Any], providers: Mapping[str, Any]) -> dict[str, ProviderInfo]:
    """Each configured provider's GenAI name and server address, from its config and adapter."""
    described: dict[str, ProviderInfo] = {}
    for name, provider in providers.items():
        config = configs.get(name)
        kind = str(getattr(provider, "kind", None) or getattr(config, "type", ""))
        if kind == "openai":
            preset = str(getattr(config, "preset", None) or "openai")
            genai_name = _PRESET_NAMES.get(preset, preset)
        else:
            genai_name = _KIND_NAMES.get(kind, kind or name)
        url = getattr(provider, "base_url", None) or getattr(provider, "url", None)
        address, port = _address(url) if isinstance(url, str) else (None, None)
        described[name] = ProviderInfo(name, genai_name, address, port)
    return described


def unknown_provider(name: str) -> ProviderInfo:
    """A provider not in the config: the executor's static last-resort reply, or a test double."""
    return ProviderInfo(name, "bastion.static" if name.endswith("-static-reply") else name)


def operation_name(route: str) -> str:
    """``gen_ai.operation.name``: ``embeddings`` for the embeddings route, ``chat`` for both chat routes."""
    return "embeddings" if route == "embeddings" else "chat"


def usage_tokens(usage: Any) -> tuple[int, int]:
    """Input and output tokens of an OpenAI-shaped usage object (zeros when absent or malformed)."""
    if not isinstance(usage, dict):
        return 0, 0
    return _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))


def cached_input_tokens(usage: Any) -> int:
    details = usage.get("prompt_tokens_details") if isinstance(usage, dict) else None
    return _count(details.get("cached_tokens")) if isinstance(details, dict) else 0


def input_messages(body: Any) -> str | None:
    """``gen_ai.input.messages``: the chat history in the conventions' JSON shape (role and parts)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return None
    converted = [_message(m) for m in messages if isinstance(m, dict)]
    return orjson.dumps(converted).decode()


def output_messages(text: str, tool_calls: list[Any] | None, finish_reason: str | None) -> str:
    """``gen_ai.output.messages`` for one answer: its text, tool calls and finish reason."""
    parts: list[dict[str, Any]] = []
    if text:
        parts.append({"type": "text", "content": text})
    parts.extend(_tool_call_part(call) for call in tool_calls or () if isinstance(call, dict))
    message = {"role": "assistant", "parts": parts, "finish_reason": finish_reason or "stop"}
    return orjson.dumps([message]).decode()


def _message(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role") or "user"
    content = message.get("content")
    parts: list[dict[str, Any]] = []
    if role == "tool":
        parts.append(
            {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": _text(content)}
        )
    else:
        text = _text(content)
        if text:
            parts.append({"type": "text", "content": text})
        parts.extend(
            _tool_call_part(call) for call in message.get("tool_calls") or () if isinstance(call, dict)
        )
    return {"role": role, "parts": parts}


def _tool_call_part(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "type": "tool_call",
        "id": call.get("id"),
        "name": function.get("name"),
        "arguments": function.get("arguments"),
    }


def _text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list (images are left out)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _address(url: str) -> tuple[str | None, int | None]:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80 if parts.scheme == "http" else None)
    except ValueError:
        return None, None
    return parts.hostname, port


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
