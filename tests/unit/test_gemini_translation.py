"""Golden tests for the OpenAI <-> Gemini translation (no network)."""

from __future__ import annotations

import base64
import itertools
import struct
from typing import Any

import pytest

from bastion.config import GeminiProviderConfig
from bastion.errors import InvalidRequest
from bastion.providers.gemini import GeminiProvider
from bastion.translate import gemini as g

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["C", "F"]}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
TIME_TOOL = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


def ids(*values: str) -> Any:
    """A deterministic id factory."""
    iterator = iter(values)
    return lambda: next(iterator)


# --------------------------------------------------------------------------- request


def test_system_user_assistant_become_system_instruction_and_alternating_turns() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hi"},
            {"role": "user", "content": [{"type": "text", "text": "there"}]},
            {"role": "assistant", "content": "Bonjour"},
            {"role": "user", "content": "Ça va?"},
        ]
    }
    assert g.to_gemini_request(body, "gemini-2.5-flash") == {
        "systemInstruction": {"parts": [{"text": "You are terse."}, {"text": "Answer in French."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}, {"text": "there"}]},
            {"role": "model", "parts": [{"text": "Bonjour"}]},
            {"role": "user", "parts": [{"text": "Ça va?"}]},
        ],
    }


def test_images_data_urls_inline_and_web_urls_as_file_data() -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/cat.webp", "detail": "low"},
                    },
                    {"type": "image_url", "image_url": {"url": "https://example.com/render?id=7"}},
                    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                    {
                        "type": "file",
                        "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
                    },
                ],
            }
        ]
    }
    parts = g.to_gemini_request(body, "gemini-2.5-flash")["contents"][0]["parts"]
    assert parts == [
        {"text": "Compare"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/render?id=7"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
    ]


def test_file_ids_are_refused() -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}]}
    with pytest.raises(InvalidRequest) as error:
        g.to_gemini_request(body, "gemini-2.5-flash")
    assert error.value.param == "messages[0].content"


def test_tools_are_sent_as_json_schema_declarations() -> None:
    body = {"messages": [{"role": "user", "content": "weather?"}], "tools": [WEATHER_TOOL, TIME_TOOL]}
    request = g.to_gemini_request(body, "gemini-2.5-flash")
    assert request["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "parametersJsonSchema": WEATHER_TOOL["function"]["parameters"],
                },
                {"name": "get_time", "parametersJsonSchema": {"type": "object"}},
            ]
        }
    ]
    assert "toolConfig" not in request


@pytest.mark.parametrize(
    ("tool_choice", "config", "declared"),
    [
        ("auto", {"mode": "AUTO"}, ["get_weather", "get_time"]),
        ("none", {"mode": "NONE"}, ["get_weather", "get_time"]),
        ("required", {"mode": "ANY"}, ["get_weather", "get_time"]),
        (
            {"type": "function", "function": {"name": "get_time"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_time"]},
            ["get_weather", "get_time"],
        ),
        (
            {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [TIME_TOOL]}},
            {"mode": "ANY"},
            ["get_time"],
        ),
    ],
)
def test_tool_choice_becomes_function_calling_config(tool_choice: Any, config: dict, declared: list) -> None:
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "tools": [WEATHER_TOOL, TIME_TOOL],
        "tool_choice": tool_choice,
    }
    request = g.to_gemini_request(body, "gemini-2.5-flash")
    assert request["toolConfig"] == {"functionCallingConfig": config}
    assert [d["name"] for d in request["tools"][0]["functionDeclarations"]] == declared


def test_tool_calls_and_results_round_trip_with_names_looked_up() -> None:
    signature = base64.b64encode(b"\xfb\xff\xfe signature bytes+/").decode()
    call_id = g.encode_call_id(
        {"functionCall": {"name": "get_weather", "args": {}}, "thoughtSignature": signature}, ids("abc")
    )
    body = {
        "messages": [
            {"role": "user", "content": "Weather in Paris and the time?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": '{"temp": 21, "sky": "clear"}'},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
        ]
    }
    contents = g.to_gemini_request(body, "gemini-2.5-flash")["contents"]
    assert contents[1:] == [
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": signature,
                },
                {"functionCall": {"name": "get_time", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "response": {"output": {"temp": 21, "sky": "clear"}},
                    }
                },
                {"functionResponse": {"name": "get_time", "response": {"output": "noon"}}},
            ],
        },
    ]


def test_signature_survives_in_an_id_made_of_safe_characters() -> None:
    signature = base64.b64encode(bytes(range(256))).decode()
    call_id = g.encode_call_id({"functionCall": {"name": "f"}, "thoughtSignature": signature}, ids("00ff"))
    assert call_id.startswith("call_00ff__sig__")
    assert set(call_id) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
    assert g.decode_signature(call_id) == signature
    assert g.decode_signature("call_plain") is None


@pytest.mark.parametrize(("model", "expected"), [("gemini-3-pro-preview", True), ("gemini-2.5-flash", False)])
def test_gemini_3_gets_the_documented_placeholder_signature(model: str, expected: bool) -> None:
    body = {
        "messages": [
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                    {"id": "toolu_2", "type": "function", "function": {"name": "b", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "1"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "2"},
        ]
    }
    parts = g.to_gemini_request(body, model)["contents"][1]["parts"]
    assert (parts[0].get("thoughtSignature") == g.PLACEHOLDER_SIGNATURE) is expected
    assert "thoughtSignature" not in parts[1]  # parallel calls: only the first carries one


def test_tool_result_for_an_unknown_call_is_refused() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "x"},
            {"role": "tool", "tool_call_id": "nope", "content": "1"},
        ]
    }
    with pytest.raises(InvalidRequest) as error:
        g.to_gemini_request(body, "gemini-2.5-flash")
    assert error.value.param == "messages[1].tool_call_id"


def test_generation_config_golden() -> None:
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "max_tokens": 100,
        "max_completion_tokens": 50,
        "stop": "END",
        "n": 2,
        "seed": 7,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logprobs": True,
        "top_logprobs": 3,
        "response_format": {"type": "json_object"},
        "user": "u-1",
        "metadata": {"a": "b"},
        "store": True,
        "service_tier": "auto",
        "parallel_tool_calls": False,
    }
    request = g.to_gemini_request(body, "gemini-2.5-flash")
    assert request["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.9,
        "topK": 40,
        "seed": 7,
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.5,
        "maxOutputTokens": 50,
        "stopSequences": ["END"],
        "candidateCount": 2,
        "responseLogprobs": True,
        "logprobs": 3,
        "responseMimeType": "application/json",
    }
    assert set(request) == {"contents", "generationConfig"}  # dropped params leave no trace


def test_json_schema_response_format_uses_response_json_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "A", "schema": schema, "strict": True},
        },
    }
    assert g.to_gemini_request(body, "gemini-2.5-flash")["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


@pytest.mark.parametrize(
    ("model", "effort", "thinking"),
    [
        ("gemini-2.5-flash", "low", {"thinkingBudget": 1024}),
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0}),
        ("gemini-3-flash-preview", "high", {"thinkingLevel": "high"}),
        ("gemini-3-flash-preview", "none", {"thinkingLevel": "minimal"}),
    ],
)
def test_reasoning_effort_becomes_thinking_config(model: str, effort: str, thinking: dict) -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "reasoning_effort": effort}
    assert g.to_gemini_request(body, model)["generationConfig"] == {"thinkingConfig": thinking}


@pytest.mark.parametrize("param", sorted(g.UNSUPPORTED_PARAMS))
def test_unsupported_params_are_refused_with_400_naming_them(param: str) -> None:
    provider = GeminiProvider("gem", GeminiProviderConfig(type="gemini", api_key="AIza-test-key"))
    with pytest.raises(InvalidRequest) as error:
        provider.check_params({"messages": [], param: {"x": 1}})
    assert error.value.status == 400
    assert error.value.param == param
    assert param in error.value.message


def test_non_text_modalities_are_refused() -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "modalities": ["text", "audio"]}
    with pytest.raises(InvalidRequest) as error:
        g.to_gemini_request(body, "gemini-2.5-flash")
    assert error.value.param == "modalities"
    assert "generationConfig" not in g.to_gemini_request({**body, "modalities": ["text"]}, "gemini-2.5-flash")


def test_system_only_conversation_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        g.to_gemini_request({"messages": [{"role": "system", "content": "x"}]}, "gemini-2.5-flash")


# --------------------------------------------------------------------------- response


def test_text_response_drops_thoughts_and_maps_usage() -> None:
    data = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "thinking hard", "thought": True},
                        {"text": "Hello"},
                        {"text": ", world"},
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 10,
            "candidatesTokenCount": 4,
            "thoughtsTokenCount": 6,
            "cachedContentTokenCount": 3,
            "totalTokenCount": 20,
        },
        "modelVersion": "gemini-2.5-flash-001",
        "responseId": "resp123",
    }
    assert g.from_gemini_response(data, "gemini-2.5-flash", created=1700000000) == {
        "id": "chatcmpl-resp123",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gemini-2.5-flash-001",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello, world", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 10,
            "total_tokens": 20,
            "prompt_tokens_details": {"cached_tokens": 3},
            "completion_tokens_details": {"reasoning_tokens": 6},
        },
    }


def test_function_calls_become_tool_calls_with_ids() -> None:
    data = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                        {"functionCall": {"id": "fc-9", "name": "get_time", "args": {}}},
                    ],
                },
                "finishReason": "STOP",
            }
        ]
    }
    completion = g.from_gemini_response(data, "gemini-2.5-flash", created=1, new_id=ids("aaa", "rid"))
    assert completion["id"] == "chatcmpl-rid"
    assert completion["model"] == "gemini-2.5-flash"
    assert "usage" not in completion
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_aaa",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        },
        {"id": "fc-9", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
    ]


@pytest.mark.parametrize(
    ("gemini", "openai"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("OTHER", "stop"),
    ],
)
def test_finish_reasons(gemini: str, openai: str) -> None:
    data = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": gemini}]}
    assert g.from_gemini_response(data, "m")["choices"][0]["finish_reason"] == openai


def test_blocked_prompt_is_an_answer_filtered_not_an_error() -> None:
    data = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
    }
    completion = g.from_gemini_response(data, "gemini-2.5-flash")
    assert completion["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": None, "refusal": None},
            "logprobs": None,
            "finish_reason": "content_filter",
        }
    ]
    assert completion["usage"]["prompt_tokens"] == 5
    assert completion["usage"]["completion_tokens"] == 0


def test_logprobs_are_translated() -> None:
    data = {
        "candidates": [
            {
                "content": {"parts": [{"text": "Hi"}]},
                "finishReason": "STOP",
                "logprobsResult": {
                    "topCandidates": [
                        {
                            "candidates": [
                                {"token": "Hi", "logProbability": -0.1},
                                {"token": "Hey", "logProbability": -2.5},
                            ]
                        }
                    ],
                    "chosenCandidates": [{"token": "Hi", "logProbability": -0.1}],
                },
            }
        ]
    }
    assert g.from_gemini_response(data, "m")["choices"][0]["logprobs"] == {
        "content": [
            {
                "token": "Hi",
                "logprob": -0.1,
                "bytes": [72, 105],
                "top_logprobs": [
                    {"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
                    {"token": "Hey", "logprob": -2.5, "bytes": [72, 101, 121]},
                ],
            }
        ],
        "refusal": None,
    }


# --------------------------------------------------------------------------- stream


def _event(parts: list[dict], *, finish: str | None = None, usage: dict | None = None) -> dict:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    event: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r1",
    }
    if usage:
        event["usageMetadata"] = usage
    return event


def test_stream_text_then_tool_calls_then_usage_last() -> None:
    translator = g.StreamTranslator("gemini-2.5-flash", created=5, new_id=ids("c1", "c2"))
    events = [
        _event([{"text": "pondering", "thought": True}], usage={"promptTokenCount": 3, "totalTokenCount": 3}),
        _event([{"text": "Let me "}], usage={"promptTokenCount": 3, "candidatesTokenCount": 2}),
        _event([{"text": "check."}], usage={"promptTokenCount": 3, "candidatesTokenCount": 3}),
        _event(
            [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "AAEC",
                },
                {"functionCall": {"name": "get_time", "args": {}}},
            ],
            finish="STOP",
            usage={
                "promptTokenCount": 3,
                "candidatesTokenCount": 9,
                "thoughtsTokenCount": 4,
                "totalTokenCount": 16,
            },
        ),
    ]
    chunks = list(itertools.chain.from_iterable(translator.feed(event) for event in events))
    assert translator.complete
    chunks += translator.finish()
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-r1"}
    assert all(chunk["object"] == "chat.completion.chunk" and chunk["created"] == 5 for chunk in chunks)
    deltas = [(chunk["choices"][0]["delta"], chunk["choices"][0]["finish_reason"]) for chunk in chunks[:-1]]
    assert deltas == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "Let me "}, None),
        ({"content": "check."}, None),
        (
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_c1__sig__AAEC",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "index": 1,
                        "id": "call_c2",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"},
                    },
                ]
            },
            None,
        ),
        ({}, "tool_calls"),
    ]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 13,
        "total_tokens": 16,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 4},
    }


def test_stream_cut_short_is_not_complete() -> None:
    translator = g.StreamTranslator("m")
    translator.feed(_event([{"text": "half"}]))
    assert not translator.complete


def test_stream_blocked_prompt_finishes_with_content_filter() -> None:
    translator = g.StreamTranslator("m", new_id=ids("x"))
    chunks = translator.feed(
        {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 2}}
    )
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, "content_filter"]
    assert translator.complete
    assert translator.finish()[0]["usage"]["prompt_tokens"] == 2


def test_stream_two_candidates_keep_their_indexes() -> None:
    translator = g.StreamTranslator("m", choices=2)
    event = {
        "candidates": [
            {"content": {"parts": [{"text": "a"}]}, "index": 0, "finishReason": "STOP"},
            {"content": {"parts": [{"text": "b"}]}, "index": 1, "finishReason": "MAX_TOKENS"},
        ]
    }
    chunks = translator.feed(event)
    summary = [
        (c["choices"][0]["index"], c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks
    ]
    assert summary == [
        (0, {"role": "assistant", "content": ""}, None),
        (1, {"role": "assistant", "content": ""}, None),
        (0, {"content": "a"}, None),
        (0, {}, "stop"),
        (1, {"content": "b"}, None),
        (1, {}, "length"),
    ]
    assert translator.complete


# --------------------------------------------------------------------------- embeddings


def test_embeddings_request_and_base64_answer() -> None:
    request = g.to_gemini_embeddings_request({"input": ["a", "b"], "dimensions": 3}, "gemini-embedding-001")
    assert request == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "a"}]},
                "outputDimensionality": 3,
            },
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "b"}]},
                "outputDimensionality": 3,
            },
        ]
    }
    data = {"embeddings": [{"values": [0.5, -1.0, 0.25]}, {"values": [1.0, 0.0, 2.0]}]}
    answer = g.from_gemini_embeddings(data, "gemini-embedding-001", encoding_format="base64")
    assert answer["object"] == "list" and answer["model"] == "gemini-embedding-001"
    decoded = [list(struct.unpack("<3f", base64.b64decode(item["embedding"]))) for item in answer["data"]]
    assert decoded == [[0.5, -1.0, 0.25], [1.0, 0.0, 2.0]]
    floats = g.from_gemini_embeddings(data, "gemini-embedding-001")
    assert floats["data"][1] == {"object": "embedding", "index": 1, "embedding": [1.0, 0.0, 2.0]}


def test_token_id_embedding_input_is_refused() -> None:
    with pytest.raises(InvalidRequest) as error:
        g.to_gemini_embeddings_request({"input": [[1, 2, 3]]}, "gemini-embedding-001")
    assert error.value.param == "input"
