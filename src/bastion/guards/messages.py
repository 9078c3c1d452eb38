"""Where the text of a chat request and its answer lives, for guards that read or rewrite it.

Requests reach the guards in the internal OpenAI shape (Anthropic requests are translated
first), so one walker serves both ingresses: message content as a string or as text parts,
the arguments of earlier tool calls, and tool results. Images and audio are not text and are
left alone. Rewriting copies only the messages it changes: the client's body is never mutated
(the cache, the audit log and retries may still need it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

Json = dict[str, Any]

#: blocks that carry retrieved material inside a user or system turn (RAG prompts mark them so)
_DOCUMENT_RE = re.compile(
    r"<(document|documents|context|search_results?|retrieved[a-z_]*|web_?page|source|file)\b[^>]*>"
    r"(.*?)</\1\s*>",
    re.IGNORECASE | re.DOTALL,
)


def texts(body: Json) -> Iterator[tuple[str, str]]:
    """Every text in the request as ``(role, text)``; tool-call arguments come as role ``assistant``."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        role = role if isinstance(role, str) else "user"
        content = message.get("content")
        if isinstance(content, str):
            yield role, content
        elif isinstance(content, list):
            for part in content:
                if (
                    isinstance(part, dict)
                    and part.get("type") == "text"
                    and isinstance(part.get("text"), str)
                ):
                    yield role, part["text"]
        for call in _tool_calls(message):
            yield "assistant", call["function"]["arguments"]


def injection_segments(body: Json) -> Iterator[tuple[bool, str]]:
    """``(indirect, text)`` for the injection detector.

    User turns are direct; tool results and ``<document>``-style blocks embedded in user or
    system turns are indirect (retrieved text that should not give the model orders). The
    system prompt itself is the operator's and is not scanned, apart from such blocks.
    """
    for role, text in texts(body):
        if role in ("tool", "function"):
            yield True, text
            continue
        if role not in ("user", "system", "developer"):
            continue
        outside = text
        if "<" in text and "</" in text:
            pieces: list[str] = []
            position = 0
            for match in _DOCUMENT_RE.finditer(text):
                yield True, match.group(2)
                pieces.append(text[position : match.start()])
                position = match.end()
            if pieces:
                pieces.append(text[position:])
                outside = " ".join(pieces)
        if role == "user":
            yield False, outside


def rewrite(body: Json, transform: Callable[[str], str]) -> Json | None:
    """A copy of ``body`` with every text passed through ``transform``; ``None`` when nothing changed."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    changed = False
    new_messages: list[Any] = []
    for message in messages:
        new = _rewrite_message(message, transform) if isinstance(message, dict) else None
        if new is None:
            new_messages.append(message)
        else:
            new_messages.append(new)
            changed = True
    if not changed:
        return None
    copy = dict(body)
    copy["messages"] = new_messages
    return copy


def _rewrite_message(message: Json, transform: Callable[[str], str]) -> Json | None:
    new: Json | None = None
    content = message.get("content")
    if isinstance(content, str):
        replaced = transform(content)
        if replaced != content:
            new = dict(message)
            new["content"] = replaced
    elif isinstance(content, list):
        parts: list[Any] = []
        parts_changed = False
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                replaced = transform(part["text"])
                if replaced != part["text"]:
                    part = {**part, "text": replaced}
                    parts_changed = True
            parts.append(part)
        if parts_changed:
            new = dict(message)
            new["content"] = parts
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        new_calls: list[Any] = []
        calls_changed = False
        for call in calls:
            arguments = _arguments(call)
            if arguments is not None:
                replaced = transform(arguments)
                if replaced != arguments:
                    call = {**call, "function": {**call["function"], "arguments": replaced}}
                    calls_changed = True
            new_calls.append(call)
        if calls_changed:
            new = dict(message) if new is None else new
            new["tool_calls"] = new_calls
    return new


def answer_texts(response: Json) -> Iterator[str]:
    """Every text of a chat completion's answer: content and tool-call arguments of each choice."""
    for choice in response.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        if isinstance(message.get("content"), str):
            yield message["content"]
        for call in _tool_calls(message):
            yield call["function"]["arguments"]


def rewrite_answer(response: Json, transform: Callable[[str], str]) -> Json:
    """A copy of a chat completion with every answer text transformed (the original may be cached)."""
    choices = response.get("choices")
    if not isinstance(choices, list):
        return response
    new_choices: list[Any] = []
    changed = False
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        new_message = _rewrite_message(message, transform) if isinstance(message, dict) else None
        if new_message is None:
            new_choices.append(choice)
        else:
            new_choices.append({**choice, "message": new_message})
            changed = True
    return {**response, "choices": new_choices} if changed else response


def _tool_calls(message: Json) -> Iterator[Json]:
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return
    for call in calls:
        if _arguments(call) is not None:
            yield call


def _arguments(call: Any) -> str | None:
    if not isinstance(call, dict):
        return None
    function = call.get("function")
    if not isinstance(function, dict):
        return None
    arguments = function.get("arguments")
    return arguments if isinstance(arguments, str) else None
