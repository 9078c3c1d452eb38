"""Anthropic Messages clients talking to Bastion: ``POST /v1/messages`` in, OpenAI chat inside.

Three jobs, one per public name:
  * ``messages_request_to_chat`` validates an Anthropic request as strictly as the real API
    does (errors name the field path, e.g. ``messages.0.content``) and rewrites it as an
    OpenAI chat body, the gateway's lingua franca;
  * ``chat_response_to_message`` turns an OpenAI ``chat.completion`` into an Anthropic Message;
  * ``MessageStreamEncoder`` turns OpenAI chunks into Anthropic's named SSE events, in the order
    the real API sends them, so the official SDK's stream accumulator rebuilds the same Message.

Choices worth knowing:
  * accepted but without effect: ``thinking`` (no thinking blocks are produced),
    ``cache_control`` (anywhere), ``service_tier``, ``inference_geo``, ``speed``,
    ``output_config.effort``; refused with 400: server tools, ``container``, ``mcp_servers``,
    ``context_management``, document blocks, Files API sources, and unknown top-level fields
    (the real API refuses those too);
  * a ``tool_result``'s images cannot ride in an OpenAI ``tool`` message (text only), so they
    move into the user message that follows the tool messages of the same turn;
  * tool arguments that are not a JSON object become ``{"_raw_arguments": "<raw text>"}``:
    an empty ``{}`` would make a broken call look like a valid call with no arguments.
"""

from __future__ import annotations

import uuid
from typing import Any, NoReturn

import orjson

from bastion.api.errors import anthropic_stream_error_event
from bastion.api.openai_schema import end_user_problem
from bastion.errors import GatewayError, InvalidRequest
from bastion.providers.base import ChatRequest, Json
from bastion.wire.sse import encode_event

_IGNORED_FIELDS = frozenset({"thinking", "cache_control", "service_tier", "inference_geo", "speed"})
_REFUSED_FIELDS = frozenset({"container", "mcp_servers", "context_management"})
# fmt: off
_TRANSLATED_FIELDS = frozenset({
    "model", "max_tokens", "messages", "system", "stop_sequences", "temperature", "top_p", "top_k",
    "stream", "metadata", "tools", "tool_choice", "output_config",
})
# fmt: on
_KNOWN_FIELDS = _TRANSLATED_FIELDS | _IGNORED_FIELDS | _REFUSED_FIELDS

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


# ------------------------------------------------------------------ validation helpers


def _fail(path: str, message: str) -> NoReturn:
    raise InvalidRequest(f"{path}: {message}", param=path)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _require_str(block: Json, key: str, path: str) -> str:
    value = block.get(key)
    if value is None:
        _fail(f"{path}.{key}", "Field required")
    if not isinstance(value, str):
        _fail(f"{path}.{key}", "Input should be a valid string")
    return value


def _require_object(value: Any, path: str) -> Json:
    if not isinstance(value, dict):
        _fail(path, "Input should be an object")
    return value


def _require_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        _fail(path, "Input should be a valid list")
    return value


def tool_input_from_arguments(arguments: Any) -> Json:
    """An OpenAI ``function.arguments`` string as an Anthropic tool ``input`` object.

    Empty means no arguments; anything that is not a JSON object is kept verbatim under
    ``_raw_arguments`` so the tool sees the model's mistake instead of an empty call.
    """
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        parsed = orjson.loads(arguments)
    except (orjson.JSONDecodeError, TypeError):
        return {"_raw_arguments": str(arguments)}
    return parsed if isinstance(parsed, dict) else {"_raw_arguments": str(arguments)}


# ------------------------------------------------------------------ request: Anthropic -> OpenAI


def messages_request_to_chat(body: Any) -> ChatRequest:
    """Validate an Anthropic Messages request and express it as an OpenAI chat request."""
    body = _require_object(body, "body")
    for key in body:
        if key not in _KNOWN_FIELDS:
            _fail(key, "Extra inputs are not permitted")
        if key in _REFUSED_FIELDS and body[key] is not None:
            _fail(key, "not supported by this gateway")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        _fail("model", "Field required" if model is None else "Input should be a non-empty string")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        _fail("max_tokens", "Field required")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        _fail("max_tokens", "Input should be an integer greater than or equal to 1")
    messages = body.get("messages")
    if messages is None:
        _fail("messages", "Field required")
    if not _require_list(messages, "messages"):
        _fail("messages", "at least one message is required")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        _fail("stream", "Input should be a valid boolean")

    chat: Json = {"model": model, "messages": _system_messages(body.get("system"))}
    for index, message in enumerate(messages):
        chat["messages"].extend(_convert_message(message, f"messages.{index}"))
    chat["max_tokens"] = max_tokens
    _copy_sampling(body, chat)
    _copy_metadata(body.get("metadata"), chat)
    _copy_tools(body, chat)
    _copy_output_format(body.get("output_config"), chat)
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return ChatRequest(body=chat, model=model, stream=bool(stream), include_usage=True)


def _system_messages(system: Any) -> list[Json]:
    if system is None:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}] if system else []
    texts = []
    for index, block in enumerate(_require_list(system, "system")):
        path = f"system.{index}"
        block = _require_object(block, path)
        if block.get("type") != "text":
            _fail(f"{path}.type", "system blocks must be of type 'text'")
        texts.append(_require_str(block, "text", path))
    text = "\n".join(texts)
    return [{"role": "system", "content": text}] if text else []


def _convert_message(message: Any, path: str) -> list[Json]:
    message = _require_object(message, path)
    role = message.get("role")
    if role not in ("user", "assistant"):
        _fail(f"{path}.role", "Input should be 'user' or 'assistant'")
    if "content" not in message:
        _fail(f"{path}.content", "Field required")
    content = message["content"]
    if not isinstance(content, str | list):
        _fail(f"{path}.content", "Input should be a valid string or a list of content blocks")
    if role == "user":
        return _user_messages(content, f"{path}.content")
    return [_assistant_message(content, f"{path}.content")]


def _user_messages(content: str | list[Any], path: str) -> list[Json]:
    """One user turn as OpenAI messages: its tool results first (as ``tool`` messages), then the rest."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tool_messages: list[Json] = []
    moved_images: list[Json] = []
    parts: list[Json] = []
    for index, block in enumerate(content):
        block_path = f"{path}.{index}"
        block = _require_object(block, block_path)
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": _require_str(block, "text", block_path)})
        elif kind == "image":
            parts.append(_image_part(block, block_path))
        elif kind == "tool_result":
            tool_messages.append(_tool_message(block, block_path, moved_images))
        else:
            _unsupported_block(kind, block_path)
    messages = tool_messages
    parts = moved_images + parts
    if len(parts) == 1 and parts[0]["type"] == "text":
        messages.append({"role": "user", "content": parts[0]["text"]})
    elif parts or not tool_messages:
        messages.append({"role": "user", "content": parts})
    return messages


def _tool_message(block: Json, path: str, moved_images: list[Json]) -> Json:
    tool_use_id = _require_str(block, "tool_use_id", path)
    content = block.get("content")
    texts: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for index, item in enumerate(content):
            item_path = f"{path}.content.{index}"
            item = _require_object(item, item_path)
            if item.get("type") == "text":
                texts.append(_require_str(item, "text", item_path))
            elif item.get("type") == "image":
                moved_images.append(_image_part(item, item_path))
            else:
                _unsupported_block(item.get("type"), item_path)
    elif content is not None:
        _fail(f"{path}.content", "Input should be a valid string or a list of content blocks")
    is_error = block.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        _fail(f"{path}.is_error", "Input should be a valid boolean")
    text = "\n".join(texts)
    if is_error:
        text = f"[tool error] {text}"
    return {"role": "tool", "tool_call_id": tool_use_id, "content": text}


def _image_part(block: Json, path: str) -> Json:
    source = _require_object(block.get("source"), f"{path}.source")
    kind = source.get("type")
    if kind == "base64":
        media_type = _require_str(source, "media_type", f"{path}.source")
        data = _require_str(source, "data", f"{path}.source")
        url = f"data:{media_type};base64,{data}"
    elif kind == "url":
        url = _require_str(source, "url", f"{path}.source")
    else:
        _fail(
            f"{path}.source.type",
            f"image source '{kind}' is not supported by this gateway (use base64 or url)",
        )
    return {"type": "image_url", "image_url": {"url": url}}


def _unsupported_block(kind: Any, path: str) -> NoReturn:
    if kind is None:
        _fail(f"{path}.type", "Field required")
    _fail(f"{path}.type", f"content block type '{kind}' is not supported by this gateway")


def _assistant_message(content: str | list[Any], path: str) -> Json:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    tool_calls: list[Json] = []
    for index, block in enumerate(content):
        block_path = f"{path}.{index}"
        block = _require_object(block, block_path)
        kind = block.get("type")
        if kind == "text":
            texts.append(_require_str(block, "text", block_path))
        elif kind == "tool_use":
            tool_input = block.get("input")
            if not isinstance(tool_input, dict):
                _fail(f"{block_path}.input", "Input should be an object")
            tool_calls.append(
                {
                    "id": _require_str(block, "id", block_path),
                    "type": "function",
                    "function": {
                        "name": _require_str(block, "name", block_path),
                        "arguments": orjson.dumps(tool_input).decode(),
                    },
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue  # only the model that produced them can read them
        else:
            _unsupported_block(kind, block_path)
    # Text blocks of one answer are a single stream of text (citations split them mid-sentence).
    text = "".join(texts)
    message: Json = {"role": "assistant", "content": text if text or not tool_calls else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def _copy_sampling(body: Json, chat: Json) -> None:
    stop_sequences = body.get("stop_sequences")
    if stop_sequences is not None:
        if not isinstance(stop_sequences, list) or not all(isinstance(s, str) for s in stop_sequences):
            _fail("stop_sequences", "Input should be a list of strings")
        if stop_sequences:
            chat["stop"] = stop_sequences
    for key, low, high in (("temperature", 0.0, 1.0), ("top_p", 0.0, 1.0)):
        value = body.get(key)
        if value is None:
            continue
        if not _is_number(value) or not low <= value <= high:
            _fail(key, f"Input should be a number between {low:g} and {high:g}")
        chat[key] = value
    top_k = body.get("top_k")
    if top_k is not None:
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 0:
            _fail("top_k", "Input should be a non-negative integer")
        chat["top_k"] = top_k  # an extension field: adapters use it or drop it


def _copy_metadata(metadata: Any, chat: Json) -> None:
    if metadata is None:
        return
    metadata = _require_object(metadata, "metadata")
    for key in metadata:
        if key != "user_id":
            _fail(f"metadata.{key}", "Extra inputs are not permitted")
    user_id = metadata.get("user_id")
    if user_id is not None:
        if not isinstance(user_id, str):
            _fail("metadata.user_id", "Input should be a valid string")
        problem = end_user_problem(user_id)
        if problem is not None:
            _fail("metadata.user_id", problem)
        chat["user"] = user_id


def _copy_tools(body: Json, chat: Json) -> None:
    tools = body.get("tools")
    names: list[str] = []
    if tools is not None:
        converted = []
        for index, tool in enumerate(_require_list(tools, "tools")):
            function = _function_tool(tool, f"tools.{index}")
            names.append(function["name"])
            converted.append({"type": "function", "function": function})
        if converted:
            chat["tools"] = converted
    tool_choice = body.get("tool_choice")
    if tool_choice is None:
        return
    tool_choice = _require_object(tool_choice, "tool_choice")
    kind = tool_choice.get("type")
    disable_parallel = tool_choice.get("disable_parallel_tool_use")
    if disable_parallel is not None and not isinstance(disable_parallel, bool):
        _fail("tool_choice.disable_parallel_tool_use", "Input should be a valid boolean")
    if kind == "tool":
        name = _require_str(tool_choice, "name", "tool_choice")
        if name not in names:
            _fail("tool_choice.name", f"tool '{name}' is not in tools")
        choice: Any = {"type": "function", "function": {"name": name}}
    elif kind in ("auto", "any", "none"):
        choice = {"auto": "auto", "any": "required", "none": "none"}[kind]
        if kind == "any" and not names:
            _fail("tool_choice.type", "'any' requires at least one tool")
    else:
        _fail("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
    if names:  # OpenAI refuses tool_choice and parallel_tool_calls without tools
        chat["tool_choice"] = choice
        if disable_parallel:
            chat["parallel_tool_calls"] = False


def _function_tool(tool: Any, path: str) -> Json:
    tool = _require_object(tool, path)
    kind = tool.get("type")
    if kind not in (None, "custom"):
        _fail(f"{path}.type", f"server tool '{kind}' is not supported by this gateway; only custom tools are")
    function: Json = {"name": _require_str(tool, "name", path)}
    description = tool.get("description")
    if description is not None:
        if not isinstance(description, str):
            _fail(f"{path}.description", "Input should be a valid string")
        function["description"] = description
    if "input_schema" not in tool:
        _fail(f"{path}.input_schema", "Field required")
    function["parameters"] = _require_object(tool["input_schema"], f"{path}.input_schema")
    if tool.get("strict") is True:
        function["strict"] = True
    return function


def _copy_output_format(output_config: Any, chat: Json) -> None:
    if output_config is None:
        return
    output_config = _require_object(output_config, "output_config")
    output_format = output_config.get("format")
    if output_format is None:
        return
    output_format = _require_object(output_format, "output_config.format")
    if output_format.get("type") != "json_schema":
        _fail("output_config.format.type", "Input should be 'json_schema'")
    schema = _require_object(output_format.get("schema"), "output_config.format.schema")
    chat["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}


# ------------------------------------------------------------------ response: OpenAI -> Anthropic


def message_id_from(openai_id: Any) -> str:
    """A ``msg_`` id from an OpenAI id; ``chatcmpl-msg_…`` (our own Anthropic adapter) round-trips."""
    if not isinstance(openai_id, str) or not openai_id:
        return f"msg_{uuid.uuid4().hex}"
    stripped = openai_id.removeprefix("chatcmpl-")
    return stripped if stripped.startswith("msg_") else f"msg_{stripped}"


def anthropic_usage(usage: Any) -> Json:
    """OpenAI usage as Anthropic's: ``input_tokens`` excludes the cached and cache-written parts."""
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    created = int(details.get("cache_creation_tokens") or 0)
    prompt = int(usage.get("prompt_tokens") or 0)
    return {
        "input_tokens": max(0, prompt - cached - created),
        "output_tokens": int(usage.get("completion_tokens") or 0),
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": created,
    }


def _stop_reason(finish_reason: Any, has_tool_calls: bool) -> str:
    # Some OpenAI-compatible servers answer tool calls with finish_reason "stop".
    if has_tool_calls and finish_reason in (None, "stop", "tool_calls", "function_call"):
        return "tool_use"
    return _STOP_REASONS.get(finish_reason, "end_turn")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def chat_response_to_message(response: Json) -> Json:
    """An OpenAI ``chat.completion`` as an Anthropic Message (first choice only)."""
    choices = response.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    content: list[Json] = []
    text = _text_of(message.get("content"))
    if text:
        content.append({"type": "text", "text": text})
    tool_calls = message.get("tool_calls") or []
    for call in tool_calls:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
                "name": function.get("name", ""),
                "input": tool_input_from_arguments(function.get("arguments")),
            }
        )
    return {
        "id": message_id_from(response.get("id")),
        "type": "message",
        "role": "assistant",
        "model": response.get("model", ""),
        "content": content,
        "stop_reason": _stop_reason(choice.get("finish_reason"), bool(tool_calls)),
        "stop_sequence": None,
        "usage": anthropic_usage(response.get("usage")),
    }


# ------------------------------------------------------------------ stream: OpenAI chunks -> Anthropic events


def _event(name: str, payload: Json) -> bytes:
    return encode_event(name, orjson.dumps(payload))


class MessageStreamEncoder:
    """OpenAI ``chat.completion.chunk`` dicts in, Anthropic SSE event bytes out.

    Anthropic blocks never interleave: a block is closed before the next opens, and each
    OpenAI tool call (keyed by its ``index``) becomes one ``tool_use`` block. Usage arrives
    with OpenAI's last chunk, so the real numbers ride on ``message_delta`` (which the SDK
    treats as cumulative totals) rather than on ``message_start``.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self._started = False
        self._finished = False
        self._open: tuple[str, int] | None = None  # ("text" | "tool", anthropic index)
        self._next_index = 0
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool-call index -> Anthropic block index
        self._finish_reason: str | None = None
        self._usage: Json | None = None

    def feed(self, chunk: Json) -> bytes:
        """Events for one OpenAI chunk (possibly none)."""
        out = bytearray()
        if not self._started:
            out += self._start(chunk)
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                out += self._text(text)
            for call in delta.get("tool_calls") or []:
                out += self._tool_call(call)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return bytes(out)

    def finish(self) -> bytes:
        """Close the open block, then ``message_delta`` (stop reason, usage) and ``message_stop``."""
        if self._finished:
            return b""
        self._finished = True
        out = bytearray()
        if not self._started:
            out += self._start({})
        out += self._close()
        usage = anthropic_usage(self._usage)
        out += _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": _stop_reason(self._finish_reason, bool(self._tool_blocks)),
                    "stop_sequence": None,
                },
                "usage": usage,
            },
        )
        out += _event("message_stop", {"type": "message_stop"})
        return bytes(out)

    def error(self, exc: GatewayError) -> bytes:
        """The ``event: error`` the real API sends when a started stream fails."""
        self._finished = True
        return anthropic_stream_error_event(exc)

    # ------------------------------------------------------------------ internals

    def _start(self, chunk: Json) -> bytes:
        self._started = True
        usage = anthropic_usage(chunk.get("usage"))
        usage["output_tokens"] = 0
        message: Json = {
            "id": message_id_from(chunk.get("id")),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return _event("message_start", {"type": "message_start", "message": message}) + _event(
            "ping", {"type": "ping"}
        )

    def _open_block(self, kind: str, block: Json) -> bytes:
        out = self._close()
        index = self._next_index
        self._next_index += 1
        self._open = (kind, index)
        return out + _event(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        )

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        index = self._open[1]
        self._open = None
        return _event("content_block_stop", {"type": "content_block_stop", "index": index})

    def _text(self, text: str) -> bytes:
        out = b""
        if self._open is None or self._open[0] != "text":
            out = self._open_block("text", {"type": "text", "text": ""})
        index = self._open[1]  # type: ignore[index]
        return out + _event(
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}},
        )

    def _tool_call(self, call: Json) -> bytes:
        position = call.get("index", 0)
        function = call.get("function") or {}
        out = b""
        if position not in self._tool_blocks:
            out = self._open_block(
                "tool",
                {
                    "type": "tool_use",
                    "id": call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
                    "name": function.get("name") or "",
                    "input": {},
                },
            )
            self._tool_blocks[position] = self._next_index - 1
        arguments = function.get("arguments")
        if not arguments:
            return out
        # A fragment for an earlier, already closed call still goes to its own index: the SDK
        # accumulates input by index, and dropping it would corrupt the arguments.
        return out + _event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": self._tool_blocks[position],
                "delta": {"type": "input_json_delta", "partial_json": arguments},
            },
        )
