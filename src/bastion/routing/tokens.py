"""A fast, dependency-free estimate of a request's size in tokens, taken before any call.

Used where a decision must precede the upstream's own count (context-window routing).
Four characters a token is the usual rule for English with BPE tokenizers; it errs large
on code and small on CJK text, which is why decisions built on it keep a margin.
"""

from __future__ import annotations

from typing import Any

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """Tokens of every message's text, tool definitions included."""
    characters = 0
    messages = body.get("messages") or []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            characters += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    characters += len(part["text"])
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict):
                characters += len(str((call.get("function") or {}).get("arguments", "")))
    for tool in body.get("tools") or ():
        characters += len(str(tool))
    return characters // CHARS_PER_TOKEN + MESSAGE_OVERHEAD_TOKENS * len(messages)


def estimate_request_tokens(body: dict[str, Any]) -> int:
    """Prompt tokens plus the output the request may produce (what a context window must hold)."""
    output = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    if not isinstance(output, int):
        output = 0
    return estimate_prompt_tokens(body) + output
