"""Bastion calling Anthropic: OpenAI chat requests out as Messages requests, Messages answers back.

Pure functions and one small state machine, no I/O, so every mapping is golden-testable;
``bastion.providers.anthropic`` owns the HTTP side.

Mappings that are choices rather than facts:
  * ``system`` and ``developer`` messages, wherever they sit, are joined into ``system``
    (Anthropic has no mid-conversation system turns);
  * consecutive turns of one role are merged, ``tool`` messages become ``tool_result``
    blocks of a user turn, and tool results are moved to the front of their user turn
    (Anthropic requires them to come first);
  * ``temperature`` is clamped into Anthropic's [0, 1]: values above 1 mean "more random"
    to OpenAI and 1 is Anthropic's most random;
  * ``response_format`` ``json_object`` becomes a system instruction; ``json_schema`` becomes
    a tool the model is made to call (``input_schema`` = the schema, wrapped under ``value``
    when the schema is not an object), and that call's input comes back to the client as
    plain JSON ``content`` with ``finish_reason`` ``stop``, in streams too;
  * a final assistant message (a prefill) loses trailing whitespace, which Anthropic refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson

from bastion.errors import InvalidRequest
from bastion.providers.base import Json
from bastion.translate.anthropic_ingress import tool_input_from_arguments

_DATA_URL = re.compile(r"^data:([^;,]+);base64,(.*)$", re.DOTALL)
_TOOL_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")

JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no prose, no code fences."
)

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


@dataclass(slots=True, frozen=True)
class JsonTool:
    """The forced tool standing in for ``response_format: json_schema``."""

    name: str
    wrapped: bool = False  # the schema is not an object, so it sits under ``value``

    def answer_text(self, tool_input: Any) -> str:
        """The tool call's input as the JSON text the client asked for."""
        if self.wrapped and isinstance(tool_input, dict):
            tool_input = tool_input.get("value")
        return orjson.dumps(tool_input).decode()


@dataclass(slots=True)
class MessagesRequest:
    """An Anthropic Messages body plus what is needed to translate its answer back."""

    body: Json
    json_tool: JsonTool | None = None


def _fail(path: str, message: str) -> NoReturn:
    raise InvalidRequest(f"{path}: {message}", param=path)


# ------------------------------------------------------------------ request: OpenAI -> Anthropic


def chat_to_messages_request(body: Json, *, model: str, default_max_tokens: int) -> MessagesRequest:
    """An OpenAI chat body as an Anthropic Messages body for the upstream ``model``."""
    system_texts, turns = _turns(body.get("messages") or [])
    out: Json = {"model": model}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    out["max_tokens"] = int(max_tokens)
    out["messages"] = turns
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = [s for s in stop if isinstance(s, str)]
    temperature = body.get("temperature")
    if temperature is not None:
        out["temperature"] = min(max(float(temperature), 0.0), 1.0)
    for key in ("top_p", "top_k"):
        if body.get(key) is not None:
            out[key] = body[key]
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    json_tool = _apply_response_format(body.get("response_format"), out, system_texts)
    _apply_tools(body, out, json_tool)
    if system_texts:
        out["system"] = "\n\n".join(system_texts)
    return MessagesRequest(body=out, json_tool=json_tool)


def _turns(messages: list[Any]) -> tuple[list[str], list[Json]]:
    system_texts: list[str] = []
    turns: list[Json] = []
    for index, message in enumerate(messages):
        path = f"messages.{index}"
        if not isinstance(message, dict):
            _fail(path, "must be an object")
        role = message.get("role")
        if role in ("system", "developer"):
            text = _plain_text(message.get("content"), f"{path}.content")
            if text:
                system_texts.append(text)
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), f"{path}.content")
        elif role == "assistant":
            blocks = _assistant_blocks(message, path)
        elif role == "tool":
            role = "user"
            blocks = [_tool_result(message, path)]
        else:
            _fail(f"{path}.role", f"role '{role}' is not supported by Anthropic")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        if turn["role"] == "user":  # stable: tool results first, the rest in order
            turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    if turns and turns[-1]["role"] == "assistant":
        _strip_prefill(turns[-1])
    return system_texts, turns


def _strip_prefill(turn: Json) -> None:
    blocks = turn["content"]
    if blocks and blocks[-1]["type"] == "text":
        blocks[-1]["text"] = blocks[-1]["text"].rstrip()
        if not blocks[-1]["text"]:
            blocks.pop()
    if not blocks:
        blocks.append({"type": "text", "text": "..."})  # never reached by real traffic; keeps the turn valid


def _plain_text(content: Any, path: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") not in ("text", "refusal"):
                _fail(f"{path}.{index}", "only text parts are supported here")
            texts.append(str(part.get("text") or part.get("refusal") or ""))
        return "\n".join(texts)
    _fail(path, "must be a string or a list of parts")


def _user_blocks(content: Any, path: str) -> list[Json]:
    if content is None or isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        _fail(path, "must be a string or a list of parts")
    blocks: list[Json] = []
    for index, part in enumerate(content):
        part_path = f"{path}.{index}"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image_block(part, part_path))
        else:
            _fail(f"{part_path}.type", f"content part '{kind}' is not supported by Anthropic")
    return blocks


def _image_block(part: Json, path: str) -> Json:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        _fail(f"{path}.image_url.url", "is required")
    match = _DATA_URL.match(url)
    if match:
        source: Json = {"type": "base64", "media_type": match.group(1), "data": match.group(2)}
    elif url.startswith(("http://", "https://")):
        source = {"type": "url", "url": url}
    else:
        _fail(f"{path}.image_url.url", "must be a base64 data URL or an http(s) URL")
    return {"type": "image", "source": source}


def _assistant_blocks(message: Json, path: str) -> list[Json]:
    blocks: list[Json] = []
    text = _plain_text(message.get("content"), f"{path}.content")
    if text:
        blocks.append({"type": "text", "text": text})
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            _fail(f"{path}.tool_calls.{index}.function", "must have a name")
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{index}",
                "name": function["name"],
                "input": tool_input_from_arguments(function.get("arguments")),
            }
        )
    return blocks


def _tool_result(message: Json, path: str) -> Json:
    tool_call_id = message.get("tool_call_id")
    if not isinstance(tool_call_id, str):
        _fail(f"{path}.tool_call_id", "is required")
    block: Json = {"type": "tool_result", "tool_use_id": tool_call_id}
    text = _plain_text(message.get("content"), f"{path}.content")
    if text:
        block["content"] = text
    return block


def _apply_response_format(response_format: Any, out: Json, system_texts: list[str]) -> JsonTool | None:
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        system_texts.append(JSON_OBJECT_INSTRUCTION)
        return None
    if kind != "json_schema":
        return None
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema") or {"type": "object"}
    name = _TOOL_NAME_UNSAFE.sub("_", str(spec.get("name") or "json_output"))[:64]
    wrapped = schema.get("type") != "object"
    if wrapped:
        schema = {"type": "object", "properties": {"value": schema}, "required": ["value"]}
    description = spec.get("description") or "Give your final answer as this tool's input."
    out["tools"] = [{"name": name, "description": description, "input_schema": schema}]
    return JsonTool(name=name, wrapped=wrapped)


def _apply_tools(body: Json, out: Json, json_tool: JsonTool | None) -> None:
    tools: list[Json] = []
    for index, tool in enumerate(body.get("tools") or []):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type") != "function":
            _fail(f"tools.{index}.type", "only function tools are supported by Anthropic")
        converted: Json = {"name": function.get("name")}
        if function.get("description"):
            converted["description"] = function["description"]
        converted["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
        tools.append(converted)
    if not tools and json_tool is None:
        return
    out["tools"] = tools + out.get("tools", [])
    choice = _tool_choice(body.get("tool_choice"), bool(tools), json_tool)
    if choice is None and body.get("parallel_tool_calls") is False:
        choice = {"type": "auto"}
    if choice is not None:
        if body.get("parallel_tool_calls") is False and choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
        out["tool_choice"] = choice


def _tool_choice(choice: Any, has_tools: bool, json_tool: JsonTool | None) -> Json | None:
    named = None
    if isinstance(choice, dict):
        named = (choice.get("function") or {}).get("name")
        if not named:
            _fail("tool_choice", "only 'auto', 'required', 'none' or a named function are supported")
    if json_tool is not None:
        # The answer must come through the JSON tool, unless the caller names a tool or lets the
        # model pick among its own tools (it then has to call one: its tool or the JSON tool).
        if named:
            return {"type": "tool", "name": named}
        if not has_tools or choice == "none":
            return {"type": "tool", "name": json_tool.name}
        return {"type": "any"}
    if named:
        return {"type": "tool", "name": named}
    mapped = {"auto": "auto", "required": "any", "none": "none"}
    if choice is None:
        return None
    if choice not in mapped:
        _fail("tool_choice", "only 'auto', 'required', 'none' or a named function are supported")
    return {"type": mapped[choice]}


# ------------------------------------------------------------------ response: Anthropic -> OpenAI


def openai_usage(usage: Any) -> Json:
    """Anthropic usage as OpenAI's: ``prompt_tokens`` counts cached and cache-written tokens too."""
    usage = usage if isinstance(usage, dict) else {}
    cached = int(usage.get("cache_read_input_tokens") or 0)
    created = int(usage.get("cache_creation_input_tokens") or 0)
    prompt = int(usage.get("input_tokens") or 0) + cached + created
    completion = int(usage.get("output_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "cache_creation_tokens": created},
    }


def finish_reason(stop_reason: Any, *, answered_with_json_tool: bool = False) -> str:
    """Anthropic ``stop_reason`` as OpenAI ``finish_reason``."""
    if stop_reason == "tool_use" and answered_with_json_tool:
        return "stop"
    return _FINISH_REASONS.get(stop_reason, "stop")


def message_to_chat_response(message: Json, *, json_tool: JsonTool | None = None, created: int) -> Json:
    """An Anthropic Message as an OpenAI ``chat.completion``."""
    texts: list[str] = []
    tool_calls: list[Json] = []
    json_answer: str | None = None
    for block in message.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            if json_tool is not None and block.get("name") == json_tool.name:
                json_answer = json_tool.answer_text(block.get("input"))
                continue
            tool_calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": orjson.dumps(block.get("input", {})).decode(),
                    },
                }
            )
    text = json_answer if json_answer is not None else "".join(texts)
    reply: Json = {"role": "assistant", "content": text if text or not tool_calls else None, "refusal": None}
    if tool_calls:
        reply["tool_calls"] = tool_calls
    answered_with_json = json_answer is not None and not tool_calls
    return {
        "id": f"chatcmpl-{message.get('id', '')}",
        "object": "chat.completion",
        "created": created,
        "model": message.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": reply,
                "logprobs": None,
                "finish_reason": finish_reason(
                    message.get("stop_reason"), answered_with_json_tool=answered_with_json
                ),
            }
        ],
        "usage": openai_usage(message.get("usage")),
    }


# ------------------------------------------------------------------ stream: Anthropic events -> OpenAI chunks


class ChatStreamDecoder:
    """Anthropic stream events (parsed ``data`` dicts) in, OpenAI chunk dicts out.

    ``error`` events are the caller's business (it owns the provider name and secrets);
    ``ping`` and event types this version does not know yield nothing, as Anthropic's
    versioning policy asks. ``done`` turns true at ``message_stop``.
    """

    def __init__(self, *, json_tool: JsonTool | None = None, created: int) -> None:
        self.json_tool = json_tool
        self.created = created
        self.done = False
        self._id = "chatcmpl-"
        self._model = ""
        self._blocks: dict[int, tuple[str, int]] = {}  # Anthropic index -> (kind, OpenAI tool index)
        self._tool_count = 0
        self._json_buffer: list[str] = []
        self._json_used = False
        self._usage: Json = {}

    def feed(self, data: Json) -> list[Json]:
        handler = getattr(self, f"_on_{data.get('type')}", None)
        return handler(data) if handler is not None else []

    # ------------------------------------------------------------------ chunk builders

    def _chunk(self, delta: Json, finish: str | None = None) -> Json:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def _tool_delta(self, position: int, fragment: str) -> Json:
        return self._chunk({"tool_calls": [{"index": position, "function": {"arguments": fragment}}]})

    # ------------------------------------------------------------------ event handlers

    def _on_message_start(self, data: Json) -> list[Json]:
        message = data.get("message") or {}
        self._id = f"chatcmpl-{message.get('id', '')}"
        self._model = message.get("model", "")
        self._usage = dict(message.get("usage") or {})
        return [self._chunk({"role": "assistant", "content": ""})]

    def _on_content_block_start(self, data: Json) -> list[Json]:
        index = data.get("index", 0)
        block = data.get("content_block") or {}
        kind = block.get("type")
        if kind == "text":
            self._blocks[index] = ("text", 0)
            return [self._chunk({"content": block["text"]})] if block.get("text") else []
        if kind != "tool_use":
            self._blocks[index] = ("ignored", 0)  # thinking, server tools: nothing OpenAI can carry
            return []
        initial_input = block.get("input")
        if self.json_tool is not None and block.get("name") == self.json_tool.name:
            self._blocks[index] = ("json", 0)
            self._json_used = True
            return self._json_fragment(orjson.dumps(initial_input).decode()) if initial_input else []
        position = self._tool_count
        self._tool_count += 1
        self._blocks[index] = ("tool", position)
        chunks = [
            self._chunk(
                {
                    "tool_calls": [
                        {
                            "index": position,
                            "id": block.get("id"),
                            "type": "function",
                            "function": {"name": block.get("name"), "arguments": ""},
                        }
                    ]
                }
            )
        ]
        if initial_input:  # some Anthropic-compatible servers send the whole input up front
            chunks.append(self._tool_delta(position, orjson.dumps(initial_input).decode()))
        return chunks

    def _on_content_block_delta(self, data: Json) -> list[Json]:
        kind, position = self._blocks.get(data.get("index", 0), ("ignored", 0))
        delta = data.get("delta") or {}
        if delta.get("type") == "text_delta" and kind == "text":
            return [self._chunk({"content": delta.get("text", "")})] if delta.get("text") else []
        if delta.get("type") != "input_json_delta" or not delta.get("partial_json"):
            return []
        if kind == "tool":
            return [self._tool_delta(position, delta["partial_json"])]
        if kind == "json":
            return self._json_fragment(delta["partial_json"])
        return []

    def _json_fragment(self, fragment: str) -> list[Json]:
        if self.json_tool is not None and self.json_tool.wrapped:
            self._json_buffer.append(fragment)  # unwrapped at content_block_stop
            return []
        return [self._chunk({"content": fragment})]

    def _on_content_block_stop(self, data: Json) -> list[Json]:
        kind, _ = self._blocks.get(data.get("index", 0), ("ignored", 0))
        if kind != "json" or not self._json_buffer or self.json_tool is None:
            return []
        raw = "".join(self._json_buffer)
        self._json_buffer.clear()
        try:
            text = self.json_tool.answer_text(orjson.loads(raw))
        except orjson.JSONDecodeError:
            text = raw
        return [self._chunk({"content": text})]

    def _on_message_delta(self, data: Json) -> list[Json]:
        usage = data.get("usage") or {}
        for key, value in usage.items():
            if value is not None:  # cumulative totals; absent ones keep message_start's value
                self._usage[key] = value
        stop_reason = (data.get("delta") or {}).get("stop_reason")
        if stop_reason is None:
            return []
        answered_with_json = self._json_used and self._tool_count == 0
        return [self._chunk({}, finish_reason(stop_reason, answered_with_json_tool=answered_with_json))]

    def _on_message_stop(self, data: Json) -> list[Json]:
        self.done = True
        return [
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self._model,
                "choices": [],
                "usage": openai_usage(self._usage),
            }
        ]
