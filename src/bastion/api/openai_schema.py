"""Validation of OpenAI-shaped request bodies (chat completions and embeddings).

Hand-written rather than a model class: it runs on every request, checks only the
fields Bastion or a translating adapter relies on, and passes unknown fields through
to OpenAI-compatible upstreams untouched (OpenAI adds parameters often; a gateway
that rejects them breaks clients). Every error names the offending field the way
OpenAI does (``param``).
"""

from __future__ import annotations

from typing import Any

import orjson

from bastion.errors import InvalidRequest
from bastion.providers.base import ChatRequest, EmbeddingsRequest

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})
_TOOL_CHOICES = frozenset({"none", "auto", "required"})
_FORMATS = frozenset({"text", "json_object", "json_schema"})


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says what is wrong with it."""
    if not body:
        raise InvalidRequest("request body is empty; expected a JSON object", code="invalid_json")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object", code="invalid_json")
    return data


def _fail(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid '{param}': {message}", param=param, code="invalid_value")


def _short(value: Any) -> str:
    """A value for an error message, cut short: clients can send anything, errors stay small."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, (int, float)) else type(value).__name__
    )


def _number(body: dict[str, Any], key: str, low: float, high: float) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(key, f"expected a number, got {_type_name(value)}")
    if not low <= value <= high:
        raise _fail(key, f"must be between {low:g} and {high:g}, got {value}")


def _integer(body: dict[str, Any], key: str, low: int, high: int | None = None) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(key, f"expected an integer, got {_type_name(value)}")
    if value < low or (high is not None and value > high):
        bound = f"at least {low}" if high is None else f"between {low} and {high}"
        raise _fail(key, f"must be {bound}, got {value}")


def _boolean(body: dict[str, Any], key: str) -> None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise _fail(key, f"expected a boolean, got {_type_name(value)}")


def _string(body: dict[str, Any], key: str) -> None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise _fail(key, f"expected a string, got {_type_name(value)}")


#: longest end-user id accepted: it is a limit scope, a ledger column and part of cache partitions
END_USER_MAX_CHARS = 256


def end_user_problem(value: str) -> str | None:
    """Why a ``user`` / ``metadata.user_id`` value cannot be used, or None when it is fine."""
    if len(value) > END_USER_MAX_CHARS:
        return f"expected at most {END_USER_MAX_CHARS} characters"
    if not value.isprintable():
        return "control characters are not allowed"
    return None


def _end_user(body: dict[str, Any]) -> None:
    _string(body, "user")
    value = body.get("user")
    if value is not None and (problem := end_user_problem(value)) is not None:
        raise _fail("user", problem)


def _content(content: Any, param: str, role: str) -> None:
    if content is None:
        if role in ("assistant", "function"):
            return
        raise _fail(param, f"a {role} message needs content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _fail(param, f"expected a string or an array of content parts, got {_type_name(content)}")
    for index, part in enumerate(content):
        where = f"{param}[{index}]"
        if not isinstance(part, dict):
            raise _fail(where, f"expected a content part object, got {_type_name(part)}")
        kind = part.get("type")
        if not isinstance(kind, str) or kind not in _PART_TYPES:
            raise _fail(f"{where}.type", f"expected one of {sorted(_PART_TYPES)}, got {_short(kind)}")
        if kind == "text" and not isinstance(part.get("text"), str):
            raise _fail(f"{where}.text", "a text part needs a string 'text'")
        if kind == "image_url":
            image = part.get("image_url")
            if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                raise _fail(f"{where}.image_url", "expected an object with a string 'url'")


def _tool_calls(calls: Any, param: str) -> None:
    if not isinstance(calls, list):
        raise _fail(param, f"expected an array, got {_type_name(calls)}")
    for index, call in enumerate(calls):
        where = f"{param}[{index}]"
        if not isinstance(call, dict) or not isinstance(call.get("id"), str):
            raise _fail(where, "each tool call needs a string 'id'")
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise _fail(f"{where}.function", "expected an object with a string 'name'")
        if not isinstance(function.get("arguments", ""), str):
            raise _fail(f"{where}.function.arguments", "expected a JSON-encoded string")


def _messages(messages: Any) -> None:
    if messages is None:
        raise InvalidRequest(
            "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list):
        raise _fail("messages", f"expected an array of messages, got {_type_name(messages)}")
    if not messages:
        raise _fail("messages", "must contain at least one message")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _fail(where, f"expected a message object, got {_type_name(message)}")
        role = message.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise _fail(f"{where}.role", f"expected one of {sorted(_ROLES)}, got {_short(role)}")
        has_calls = role == "assistant" and message.get("tool_calls")
        if "content" not in message and not has_calls and role != "assistant":
            raise InvalidRequest(
                f"Missing required parameter: '{where}.content'.",
                param=f"{where}.content",
                code="missing_required_parameter",
            )
        _content(message.get("content"), f"{where}.content", role)
        if has_calls:
            _tool_calls(message["tool_calls"], f"{where}.tool_calls")
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise InvalidRequest(
                f"Missing required parameter: '{where}.tool_call_id'.",
                param=f"{where}.tool_call_id",
                code="missing_required_parameter",
            )


def _tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _fail("tools", f"expected an array, got {_type_name(tools)}")
        for index, tool in enumerate(tools):
            where = f"tools[{index}]"
            if not isinstance(tool, dict) or tool.get("type", "function") != "function":
                raise _fail(where, "expected a tool object of type 'function'")
            function = tool.get("function")
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise _fail(f"{where}.function", "expected an object with a string 'name'")
            parameters = function.get("parameters")
            if parameters is not None and not isinstance(parameters, dict):
                raise _fail(f"{where}.function.parameters", "expected a JSON Schema object")
    choice = body.get("tool_choice")
    if choice is None or (isinstance(choice, str) and choice in _TOOL_CHOICES):
        return
    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return
    raise _fail(
        "tool_choice",
        'expected \'none\', \'auto\', \'required\' or {"type": "function", "function": {"name": …}}',
    )


def _response_format(body: dict[str, Any]) -> None:
    fmt = body.get("response_format")
    if fmt is None:
        return
    if not isinstance(fmt, dict) or not isinstance(fmt.get("type"), str) or fmt["type"] not in _FORMATS:
        raise _fail("response_format", f"expected an object whose 'type' is one of {sorted(_FORMATS)}")
    if fmt["type"] == "json_schema":
        schema = fmt.get("json_schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("name"), str):
            raise _fail(
                "response_format.json_schema", "expected an object with a string 'name' and a 'schema'"
            )
        if "schema" in schema and not isinstance(schema["schema"], dict):
            raise _fail("response_format.json_schema.schema", "expected a JSON Schema object")


def _stop(body: dict[str, Any]) -> None:
    stop = body.get("stop")
    if stop is None or isinstance(stop, str):
        return
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise _fail("stop", "expected a string or an array of strings")
    if len(stop) > 4:
        raise _fail("stop", "at most 4 stop sequences")


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise InvalidRequest(
            "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
        )
    if not isinstance(model, str) or not model:
        raise _fail("model", f"expected a non-empty string, got {_type_name(model)}")
    return model


def validate_chat_request(body: dict[str, Any]) -> ChatRequest:
    """Check an OpenAI chat-completions body and wrap it as the internal request."""
    model = _model(body)
    _messages(body.get("messages"))
    _boolean(body, "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _fail("stream_options", f"expected an object, got {_type_name(options)}")
    if options is not None:
        _boolean(options, "include_usage")
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
    _integer(body, "n", 1, 128)
    _integer(body, "max_tokens", 1)
    _integer(body, "max_completion_tokens", 1)
    _integer(body, "seed", -(2**63), 2**63 - 1)
    _integer(body, "top_logprobs", 0, 20)
    _boolean(body, "logprobs")
    _boolean(body, "parallel_tool_calls")
    _end_user(body)
    metadata = body.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise _fail("metadata", "expected an object of string values")
    _stop(body)
    _tools(body)
    _response_format(body)
    stream = bool(body.get("stream"))
    include_usage = bool(stream and options and options.get("include_usage"))
    return ChatRequest(body=body, model=model, stream=stream, include_usage=include_usage)


def validate_embeddings_request(body: dict[str, Any]) -> EmbeddingsRequest:
    """Check an OpenAI embeddings body."""
    model = _model(body)
    value = body.get("input")
    if value is None:
        raise InvalidRequest(
            "Missing required parameter: 'input'.", param="input", code="missing_required_parameter"
        )
    valid = (
        (isinstance(value, str) and value != "")
        or (isinstance(value, list) and value and all(isinstance(v, str) and v for v in value))
        or (
            isinstance(value, list)
            and value
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        )
        or (
            isinstance(value, list)
            and value
            and all(isinstance(v, list) and v and all(isinstance(t, int) for t in v) for v in value)
        )
    )
    if not valid:
        raise _fail("input", "expected a non-empty string, array of strings, or array(s) of token ids")
    fmt = body.get("encoding_format")
    if fmt is not None and fmt not in ("float", "base64"):
        raise _fail("encoding_format", "expected 'float' or 'base64'")
    _integer(body, "dimensions", 1)
    _end_user(body)
    return EmbeddingsRequest(body=body, model=model)
