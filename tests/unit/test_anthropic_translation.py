"""Golden tests for every Anthropic <-> OpenAI translation direction."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from bastion.errors import InvalidRequest, ProviderError
from bastion.translate.anthropic_ingress import (
    MessageStreamEncoder,
    chat_response_to_message,
    messages_request_to_chat,
)
from bastion.translate.anthropic_upstream import (
    JSON_OBJECT_INSTRUCTION,
    ChatStreamDecoder,
    JsonTool,
    chat_to_messages_request,
    message_to_chat_response,
)
from bastion.wire.sse import SseDecoder

WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def decode_events(raw: bytes) -> list[tuple[str | None, Any]]:
    decoder = SseDecoder()
    return [(event.event, orjson.loads(event.data)) for event in decoder.feed(raw) + decoder.close()]


# ------------------------------------------------------------------ ingress: Anthropic request -> OpenAI


def full_anthropic_request() -> dict[str, Any]:
    return {
        "model": "claude-public",
        "max_tokens": 256,
        "system": [
            {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Be kind."},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://example.test/cat.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "Let me check "},
                    {"type": "text", "text": "the weather."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Here you go."},
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "is_error": True,
                        "content": [
                            {"type": "text", "text": "no data"},
                            {
                                "type": "image",
                                "source": {"type": "url", "url": "https://example.test/err.png"},
                            },
                        ],
                    },
                ],
            },
        ],
        "tools": [{"name": "get_weather", "description": "Weather by city", "input_schema": WEATHER_SCHEMA}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "metadata": {"user_id": "user-42"},
        "stop_sequences": ["END"],
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }


def test_request_to_chat_golden() -> None:
    request = messages_request_to_chat(full_anthropic_request())
    assert request.model == "claude-public"
    assert request.stream is True
    assert request.include_usage is True
    assert request.body == {
        "model": "claude-public",
        "messages": [
            {"role": "system", "content": "Be brief.\nBe kind."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                    {"type": "image_url", "image_url": {"url": "https://example.test/cat.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Let me check the weather.",
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "id": "toolu_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "[tool error] no data"},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://example.test/err.png"}},
                    {"type": "text", "text": "Here you go."},
                ],
            },
        ],
        "max_tokens": 256,
        "stop": ["END"],
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "user": "user-42",
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather by city",
                    "parameters": WEATHER_SCHEMA,
                },
            }
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_request_minimal_string_content() -> None:
    request = messages_request_to_chat(
        {"model": "m", "max_tokens": 5, "system": "sys", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert request.stream is False
    assert request.body == {
        "model": "m",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        "max_tokens": 5,
    }


def test_tool_results_only_turn_has_no_empty_user_message() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "42"}]}
                ],
            }
        ],
    }
    assert messages_request_to_chat(body).body["messages"] == [
        {"role": "tool", "tool_call_id": "t1", "content": "42"}
    ]


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_tool_choice_mapping(tool_choice: dict[str, Any], expected: Any) -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}],
        "tool_choice": tool_choice,
    }
    chat = messages_request_to_chat(body).body
    assert chat["tool_choice"] == expected
    assert "parallel_tool_calls" not in chat


def test_output_config_format_becomes_response_format() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
        "output_config": {"effort": "low", "format": {"type": "json_schema", "schema": WEATHER_SCHEMA}},
    }
    assert messages_request_to_chat(body).body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": WEATHER_SCHEMA},
    }


def _valid() -> dict[str, Any]:
    return {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def _with(path: list[Any], value: Any, *, delete: bool = False) -> dict[str, Any]:
    body = _valid()
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (_with(["model"], None, delete=True), "model"),
        (_with(["model"], 7), "model"),
        (_with(["max_tokens"], None, delete=True), "max_tokens"),
        (_with(["max_tokens"], 0), "max_tokens"),
        (_with(["max_tokens"], "5"), "max_tokens"),
        (_with(["max_tokens"], True), "max_tokens"),
        (_with(["messages"], None, delete=True), "messages"),
        (_with(["messages"], []), "messages"),
        (_with(["messages"], "hi"), "messages"),
        (_with(["messages", 0, "role"], "system"), "messages.0.role"),
        (_with(["messages", 0, "content"], None, delete=True), "messages.0.content"),
        (_with(["messages", 0, "content"], 5), "messages.0.content"),
        (
            _with(["messages", 0, "content"], [{"type": "document", "source": {}}]),
            "messages.0.content.0.type",
        ),
        (_with(["messages", 0, "content"], [{"type": "text"}]), "messages.0.content.0.text"),
        (_with(["messages", 0, "content"], [{"text": "x"}]), "messages.0.content.0.type"),
        (
            _with(
                ["messages", 0, "content"], [{"type": "image", "source": {"type": "file", "file_id": "f"}}]
            ),
            "messages.0.content.0.source.type",
        ),
        (
            _with(["messages", 0, "content"], [{"type": "tool_result", "content": "x"}]),
            "messages.0.content.0.tool_use_id",
        ),
        (_with(["system"], [{"type": "image"}]), "system.0.type"),
        (_with(["stop_sequences"], [1]), "stop_sequences"),
        (_with(["temperature"], 1.5), "temperature"),
        (_with(["top_p"], "high"), "top_p"),
        (_with(["top_k"], -1), "top_k"),
        (_with(["stream"], "yes"), "stream"),
        (_with(["metadata"], {"tenant": "x"}), "metadata.tenant"),
        (_with(["tools"], [{"type": "web_search_20250305", "name": "web_search"}]), "tools.0.type"),
        (_with(["tools"], [{"name": "f"}]), "tools.0.input_schema"),
        (_with(["tools"], [{"input_schema": {}}]), "tools.0.name"),
        (_with(["tool_choice"], {"type": "sometimes"}), "tool_choice.type"),
        (_with(["tool_choice"], {"type": "tool", "name": "missing"}), "tool_choice.name"),
        (_with(["output_config"], {"format": {"type": "xml"}}), "output_config.format.type"),
        (_with(["frobnicate"], 1), "frobnicate"),
        (_with(["container"], "c1"), "container"),
    ],
)
def test_validation_names_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        messages_request_to_chat(body)
    assert caught.value.param == param
    assert caught.value.status == 400
    assert caught.value.message.startswith(f"{param}:")


# ------------------------------------------------------------------ ingress: OpenAI response -> Anthropic


def test_chat_response_to_message_golden() -> None:
    response = {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-x",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        },
                        {"id": "call_2", "type": "function", "function": {"name": "noop", "arguments": ""}},
                        {
                            "id": "call_3",
                            "type": "function",
                            "function": {"name": "bad", "arguments": "{oops"},
                        },
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 7,
            "total_tokens": 107,
            "prompt_tokens_details": {"cached_tokens": 60, "cache_creation_tokens": 15},
        },
    }
    assert chat_response_to_message(response) == {
        "id": "msg_abc123",
        "type": "message",
        "role": "assistant",
        "model": "gpt-x",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "noop", "input": {}},
            {"type": "tool_use", "id": "call_3", "name": "bad", "input": {"_raw_arguments": "{oops"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 25,
            "output_tokens": 7,
            "cache_read_input_tokens": 60,
            "cache_creation_input_tokens": 15,
        },
    }


@pytest.mark.parametrize(
    ("finish_reason", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
    ],
)
def test_finish_reason_to_stop_reason(finish_reason: str | None, stop_reason: str) -> None:
    response = {
        "id": "chatcmpl-1",
        "model": "m",
        "choices": [{"message": {"content": "x"}, "finish_reason": finish_reason}],
    }
    assert chat_response_to_message(response)["stop_reason"] == stop_reason


def test_message_id_round_trips_anthropic_ids() -> None:
    response = {
        "id": "chatcmpl-msg_01XYZ",
        "model": "m",
        "choices": [{"message": {"content": "x"}, "finish_reason": "stop"}],
    }
    assert chat_response_to_message(response)["id"] == "msg_01XYZ"


# ------------------------------------------------------------------ ingress: chunks -> Anthropic events


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "model": "gpt-x",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


STREAM_CHUNKS = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Hel"}),
    _chunk({"content": "lo"}),
    _chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}),
    _chunk(
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": '{"tz": "UTC"}'},
                }
            ]
        }
    ),
    _chunk({}, "tool_calls"),
    {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "model": "gpt-x",
        "choices": [],
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 12,
            "total_tokens": 42,
            "prompt_tokens_details": {"cached_tokens": 10, "cache_creation_tokens": 0},
        },
    },
]


def test_stream_encoder_golden_event_sequence() -> None:
    encoder = MessageStreamEncoder("claude-public")
    raw = b"".join(encoder.feed(chunk) for chunk in STREAM_CHUNKS) + encoder.finish()
    assert raw.startswith(b"event: message_start\ndata: {")
    events = decode_events(raw)
    for name, payload in events:
        assert name == payload["type"]
    assert [payload for _, payload in events] == [
        {
            "type": "message_start",
            "message": {
                "id": "msg_s1",
                "type": "message",
                "role": "assistant",
                "model": "claude-public",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "cache_creation_input_tokens": 0,
                },
            },
        },
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"ci'},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": 'ty": "Paris"}'},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"tz": "UTC"}'},
        },
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {
                "input_tokens": 20,
                "output_tokens": 12,
                "cache_read_input_tokens": 10,
                "cache_creation_input_tokens": 0,
            },
        },
        {"type": "message_stop"},
    ]


def test_stream_encoder_sdk_accumulator_rebuilds_message() -> None:
    """The official SDK's accumulator (what ``messages.stream`` uses) rebuilds the same Message."""
    from anthropic.lib.streaming._messages import accumulate_event

    encoder = MessageStreamEncoder("claude-public")
    raw = b"".join(encoder.feed(chunk) for chunk in STREAM_CHUNKS) + encoder.finish()
    snapshot = None
    json_buffers: dict[int, bytes] = {}
    for name, payload in decode_events(raw):
        if name != "ping":
            snapshot = accumulate_event(event=payload, current_snapshot=snapshot, json_bufs=json_buffers)
    assert snapshot is not None
    assert [block.model_dump(exclude_none=True) for block in snapshot.content] == [
        {"type": "text", "text": "Hello"},
        {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {"tz": "UTC"}},
    ]
    assert snapshot.stop_reason == "tool_use"
    assert (
        snapshot.usage.input_tokens,
        snapshot.usage.output_tokens,
        snapshot.usage.cache_read_input_tokens,
    ) == (20, 12, 10)


def test_stream_encoder_empty_stream_still_well_formed() -> None:
    encoder = MessageStreamEncoder("m")
    events = decode_events(encoder.finish())
    assert [name for name, _ in events] == ["message_start", "ping", "message_delta", "message_stop"]
    assert events[2][1]["delta"]["stop_reason"] == "end_turn"
    assert encoder.finish() == b""


def test_stream_encoder_length_and_error() -> None:
    encoder = MessageStreamEncoder("m")
    encoder.feed(_chunk({"content": "a b"}))
    encoder.feed(_chunk({}, "length"))
    events = decode_events(encoder.finish())
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"
    error = ProviderError("up: Overloaded", provider="up", status=503, kind="overloaded_error")
    assert decode_events(MessageStreamEncoder("m").error(error)) == [
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "up: Overloaded"}})
    ]


# ------------------------------------------------------------------ upstream: OpenAI request -> Anthropic


def test_chat_to_messages_request_golden() -> None:
    body = {
        "model": "public",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look:"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.test/a.png", "detail": "high"},
                    },
                ],
            },
            {"role": "user", "content": "And the weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "rainy"}]},
            {"role": "user", "content": "Thanks"},
        ],
        "max_completion_tokens": 300,
        "max_tokens": 5,
        "stop": "END",
        "temperature": 1.7,
        "top_p": 0.8,
        "top_k": 20,
        "user": "u-1",
        "seed": 7,
        "presence_penalty": 0.5,
        "tools": [
            {
                "type": "function",
                "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
            }
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
    }
    request = chat_to_messages_request(body, model="claude-upstream", default_max_tokens=4096)
    assert request.json_tool is None
    assert request.body == {
        "model": "claude-upstream",
        "max_tokens": 300,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look:"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://example.test/a.png"}},
                    {"type": "text", "text": "And the weather?"},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "rainy"},
                    {"type": "text", "text": "Thanks"},
                ],
            },
        ],
        "stop_sequences": ["END"],
        "temperature": 1.0,
        "top_p": 0.8,
        "top_k": 20,
        "metadata": {"user_id": "u-1"},
        "tools": [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "system": "Be brief.\n\nUse tools.",
    }


def test_tool_results_move_before_text_in_merged_turn() -> None:
    body = {
        "messages": [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "user", "content": "first"},
            {"role": "tool", "tool_call_id": "c", "content": "result"},
        ]
    }
    turns = chat_to_messages_request(body, model="m", default_max_tokens=10).body["messages"]
    assert turns[1]["content"] == [
        {"type": "tool_result", "tool_use_id": "c", "content": "result"},
        {"type": "text", "text": "first"},
    ]


def test_defaults_and_prefill_whitespace() -> None:
    body = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure, "}],
        "stop": ["a", "b"],
    }
    out = chat_to_messages_request(body, model="m", default_max_tokens=4096).body
    assert out["max_tokens"] == 4096
    assert out["stop_sequences"] == ["a", "b"]
    assert out["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "Sure,"}]}
    assert "system" not in out and "tools" not in out


@pytest.mark.parametrize(
    ("tool_choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", False, {"type": "none"}),
        ({"type": "function", "function": {"name": "f"}}, None, {"type": "tool", "name": "f"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (None, None, None),
    ],
)
def test_openai_tool_choice_mapping(tool_choice: Any, parallel: bool | None, expected: Any) -> None:
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
    }
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    out = chat_to_messages_request(body, model="m", default_max_tokens=10).body
    assert out.get("tool_choice") == expected
    assert out["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]


def test_json_object_becomes_system_instruction() -> None:
    body = {
        "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}],
        "response_format": {"type": "json_object"},
    }
    out = chat_to_messages_request(body, model="m", default_max_tokens=10).body
    assert out["system"] == f"S\n\n{JSON_OBJECT_INSTRUCTION}"


def test_json_schema_becomes_forced_tool() -> None:
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "weather report!", "schema": WEATHER_SCHEMA},
        },
    }
    request = chat_to_messages_request(body, model="m", default_max_tokens=10)
    assert request.json_tool == JsonTool(name="weather_report_", wrapped=False)
    assert request.body["tools"] == [
        {
            "name": "weather_report_",
            "description": "Give your final answer as this tool's input.",
            "input_schema": WEATHER_SCHEMA,
        }
    ]
    assert request.body["tool_choice"] == {"type": "tool", "name": "weather_report_"}


def test_json_schema_with_user_tools_lets_model_choose() -> None:
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "out", "schema": {"type": "array"}},
        },
    }
    request = chat_to_messages_request(body, model="m", default_max_tokens=10)
    assert request.json_tool == JsonTool(name="out", wrapped=True)
    assert [tool["name"] for tool in request.body["tools"]] == ["f", "out"]
    assert request.body["tools"][1]["input_schema"] == {
        "type": "object",
        "properties": {"value": {"type": "array"}},
        "required": ["value"],
    }
    assert request.body["tool_choice"] == {"type": "any"}


@pytest.mark.parametrize(
    ("message", "param"),
    [
        (
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]},
            "messages.0.content.0.type",
        ),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]},
            "messages.0.content.0.image_url.url",
        ),
        ({"role": "function", "name": "f", "content": "x"}, "messages.0.role"),
        ({"role": "tool", "content": "x"}, "messages.0.tool_call_id"),
    ],
)
def test_upstream_refuses_what_anthropic_cannot_carry(message: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat_to_messages_request({"messages": [message]}, model="m", default_max_tokens=10)
    assert caught.value.param == param


# ------------------------------------------------------------------ upstream: Anthropic response -> OpenAI


ANTHROPIC_MESSAGE = {
    "id": "msg_01ABC",
    "type": "message",
    "role": "assistant",
    "model": "claude-upstream",
    "content": [
        {"type": "thinking", "thinking": "let me see", "signature": "s"},
        {"type": "text", "text": "Checking "},
        {"type": "text", "text": "now."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 10,
        "cache_read_input_tokens": 80,
        "cache_creation_input_tokens": 5,
        "output_tokens": 9,
    },
}


def test_message_to_chat_response_golden() -> None:
    assert message_to_chat_response(ANTHROPIC_MESSAGE, created=1700000000) == {
        "id": "chatcmpl-msg_01ABC",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "claude-upstream",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Checking now.",
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "toolu_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 95,
            "completion_tokens": 9,
            "total_tokens": 104,
            "prompt_tokens_details": {"cached_tokens": 80, "cache_creation_tokens": 5},
        },
    }


def test_tool_only_answer_has_null_content() -> None:
    message = {**ANTHROPIC_MESSAGE, "content": ANTHROPIC_MESSAGE["content"][3:]}
    assert message_to_chat_response(message, created=0)["choices"][0]["message"]["content"] is None


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_stop_reason_to_finish_reason(stop_reason: str, finish_reason: str) -> None:
    message = {**ANTHROPIC_MESSAGE, "content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason}
    assert message_to_chat_response(message, created=0)["choices"][0]["finish_reason"] == finish_reason


@pytest.mark.parametrize("wrapped", [False, True])
def test_json_tool_answer_becomes_content(wrapped: bool) -> None:
    tool_input: Any = {"value": [1, 2]} if wrapped else {"city": "Paris"}
    message = {
        **ANTHROPIC_MESSAGE,
        "content": [{"type": "tool_use", "id": "t", "name": "out", "input": tool_input}],
    }
    response = message_to_chat_response(message, json_tool=JsonTool("out", wrapped=wrapped), created=0)
    choice = response["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert "tool_calls" not in choice["message"]
    assert orjson.loads(choice["message"]["content"]) == ([1, 2] if wrapped else {"city": "Paris"})


# ------------------------------------------------------------------ upstream: events -> OpenAI chunks


ANTHROPIC_EVENTS: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_S",
            "type": "message",
            "role": "assistant",
            "model": "claude-upstream",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 12,
                "cache_read_input_tokens": 30,
                "cache_creation_input_tokens": 0,
                "output_tokens": 1,
            },
        },
    },
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    },
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "On it"}},
    {"type": "content_block_stop", "index": 1},
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {}},
    },
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'},
    },
    {"type": "content_block_stop", "index": 2},
    {
        "type": "content_block_start",
        "index": 3,
        "content_block": {"type": "tool_use", "id": "toolu_B", "name": "get_time", "input": {}},
    },
    {
        "type": "content_block_delta",
        "index": 3,
        "delta": {"type": "input_json_delta", "partial_json": '{"tz": "UTC"}'},
    },
    {"type": "content_block_stop", "index": 3},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 40},
    },
    {"type": "some_future_event"},
    {"type": "message_stop"},
]


def _openai_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-msg_S",
        "object": "chat.completion.chunk",
        "created": 5,
        "model": "claude-upstream",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def test_stream_decoder_golden_chunks() -> None:
    decoder = ChatStreamDecoder(created=5)
    chunks = [chunk for event in ANTHROPIC_EVENTS for chunk in decoder.feed(event)]
    assert decoder.done
    assert chunks == [
        _openai_chunk({"role": "assistant", "content": ""}),
        _openai_chunk({"content": "On it"}),
        _openai_chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_A",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        _openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
        _openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        _openai_chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "toolu_B",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": ""},
                    }
                ]
            }
        ),
        _openai_chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"tz": "UTC"}'}}]}),
        _openai_chunk({}, "tool_calls"),
        {
            "id": "chatcmpl-msg_S",
            "object": "chat.completion.chunk",
            "created": 5,
            "model": "claude-upstream",
            "choices": [],
            "usage": {
                "prompt_tokens": 42,
                "completion_tokens": 40,
                "total_tokens": 82,
                "prompt_tokens_details": {"cached_tokens": 30, "cache_creation_tokens": 0},
            },
        },
    ]


def test_stream_decoder_prefers_message_delta_usage() -> None:
    events = copy.deepcopy(ANTHROPIC_EVENTS)
    events[-3]["usage"] = {
        "input_tokens": 15,
        "cache_read_input_tokens": None,
        "cache_creation_input_tokens": 7,
        "output_tokens": 41,
    }
    decoder = ChatStreamDecoder(created=5)
    usage = [chunk for event in events for chunk in decoder.feed(event)][-1]["usage"]
    assert usage["prompt_tokens"] == 15 + 30 + 7
    assert usage["completion_tokens"] == 41
    assert usage["prompt_tokens_details"] == {"cached_tokens": 30, "cache_creation_tokens": 7}


@pytest.mark.parametrize("wrapped", [False, True])
def test_stream_decoder_json_tool_becomes_content(wrapped: bool) -> None:
    fragments = ['{"value": [1,', " 2]}"] if wrapped else ['{"city"', ': "Paris"}']
    events = [
        ANTHROPIC_EVENTS[0],
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t", "name": "out", "input": {}},
        },
        *(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": f},
            }
            for f in fragments
        ),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}},
        {"type": "message_stop"},
    ]
    decoder = ChatStreamDecoder(json_tool=JsonTool("out", wrapped=wrapped), created=5)
    chunks = [chunk for event in events for chunk in decoder.feed(event)]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert not any("tool_calls" in d for d in deltas)
    content = "".join(d.get("content", "") for d in deltas)
    assert orjson.loads(content) == ([1, 2] if wrapped else {"city": "Paris"})
    if not wrapped:
        assert [d["content"] for d in deltas[1:-1]] == fragments  # streamed as it came
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
