"""Validation of OpenAI chat and embeddings bodies: OpenAI-style params, pass-through of the rest."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bastion.api.openai_schema import parse_json_object, validate_chat_request, validate_embeddings_request
from bastion.errors import InvalidRequest
from bastion.providers.base import Json

USER = [{"role": "user", "content": "hi"}]


def chat(**fields: Any) -> Json:
    return {"model": "gpt-4o", "messages": USER, **fields}


def chat_error(body: Json) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        validate_chat_request(body)
    assert caught.value.status == 400
    assert caught.value.kind == "invalid_request_error"
    return caught.value


def embeddings_error(body: Json) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        validate_embeddings_request(body)
    assert caught.value.status == 400
    return caught.value


# --------------------------------------------------------------------------- parse_json_object


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b'{"model": "x"', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
    ],
)
def test_parse_json_object_refuses(body: bytes, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_json_object(body)
    assert caught.value.status == 400
    assert caught.value.code == "invalid_json"
    assert fragment in caught.value.message


def test_parse_json_object_returns_the_object() -> None:
    assert parse_json_object(b'{"model": "m", "n": 1}') == {"model": "m", "n": 1}


# --------------------------------------------------------------------------- chat: what passes


def test_valid_request_keeps_the_body_untouched() -> None:
    body = chat(
        temperature=0.2,
        stream=False,
        some_future_param={"nested": [1, 2]},
        reasoning_effort="low",
        prediction={"type": "content", "content": "x"},
    )
    original = copy.deepcopy(body)
    request = validate_chat_request(body)
    assert request.body is body
    assert request.body == original
    assert request.model == "gpt-4o"
    assert request.stream is False and request.include_usage is False


@pytest.mark.parametrize(
    ("fields", "stream", "include_usage"),
    [
        ({"stream": True, "stream_options": {"include_usage": True}}, True, True),
        ({"stream": True, "stream_options": {"include_usage": False}}, True, False),
        ({"stream": True, "stream_options": {}}, True, False),
        ({"stream": True}, True, False),
        ({"stream": False, "stream_options": {"include_usage": True}}, False, False),
        ({"stream_options": {"include_usage": True}}, False, False),
    ],
)
def test_include_usage_only_when_streaming_and_asked(fields: Json, stream: bool, include_usage: bool) -> None:
    request = validate_chat_request(chat(**fields))
    assert (request.stream, request.include_usage) == (stream, include_usage)


def test_assistant_tool_calls_without_content_are_accepted() -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get", "arguments": "{}"}}
            ],
        },
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c2", "function": {"name": "g"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    assert validate_chat_request(chat(messages=messages)).body["messages"] is messages


def test_content_parts_and_all_roles_are_accepted() -> None:
    messages = [
        {"role": "system", "content": "s"},
        {"role": "developer", "content": [{"type": "text", "text": "d"}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                {"type": "input_audio", "input_audio": {}},
                {"type": "file", "file": {}},
            ],
        },
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
        {"role": "function", "name": "f", "content": None},
    ]
    validate_chat_request(chat(messages=messages))


def test_accepted_option_values() -> None:
    validate_chat_request(
        chat(
            temperature=2,
            top_p=0,
            presence_penalty=-2,
            frequency_penalty=2.0,
            n=128,
            max_tokens=1,
            max_completion_tokens=10,
            seed=-(2**63),
            top_logprobs=20,
            logprobs=True,
            parallel_tool_calls=False,
            user="u-1",
            metadata={"team": "a"},
            stop=["a", "b", "c", "d"],
            tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            tool_choice={"type": "function", "function": {"name": "f"}},
            response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": {}}},
        )
    )
    for choice in ("none", "auto", "required"):
        validate_chat_request(chat(tool_choice=choice))
    for fmt in ("text", "json_object"):
        validate_chat_request(chat(response_format={"type": fmt}))
    validate_chat_request(chat(stop="END"))


def test_null_optional_fields_are_accepted() -> None:
    nulls = ("temperature", "n", "stream", "stream_options", "stop", "tools", "tool_choice", "metadata")
    validate_chat_request(chat(**dict.fromkeys(nulls)))


# --------------------------------------------------------------------------- chat: what is refused


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"messages": USER}, "model", "missing_required_parameter"),
        ({"model": "", "messages": USER}, "model", "invalid_value"),
        ({"model": 4, "messages": USER}, "model", "invalid_value"),
        ({"model": "m"}, "messages", "missing_required_parameter"),
        ({"model": "m", "messages": "hi"}, "messages", "invalid_value"),
        ({"model": "m", "messages": []}, "messages", "invalid_value"),
    ],
)
def test_model_and_messages_required(body: Json, param: str, code: str) -> None:
    error = chat_error(body)
    assert (error.param, error.code) == (param, code)
    assert f"'{param}'" in error.message


@pytest.mark.parametrize(
    ("messages", "param", "code"),
    [
        (["hi"], "messages[0]", "invalid_value"),
        ([{"content": "hi"}], "messages[0].role", "invalid_value"),
        ([{"role": "robot", "content": "hi"}], "messages[0].role", "invalid_value"),
        ([*USER, {"role": "user"}], "messages[1].content", "missing_required_parameter"),
        ([{"role": "system"}], "messages[0].content", "missing_required_parameter"),
        ([{"role": "user", "content": None}], "messages[0].content", "invalid_value"),
        ([{"role": "tool", "content": None, "tool_call_id": "c"}], "messages[0].content", "invalid_value"),
        ([{"role": "user", "content": 5}], "messages[0].content", "invalid_value"),
        ([{"role": "user", "content": {"type": "text"}}], "messages[0].content", "invalid_value"),
        ([{"role": "user", "content": ["hi"]}], "messages[0].content[0]", "invalid_value"),
        ([{"role": "user", "content": [{"type": "video"}]}], "messages[0].content[0].type", "invalid_value"),
        ([{"role": "user", "content": [{"text": "hi"}]}], "messages[0].content[0].type", "invalid_value"),
        (
            [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": 1}]}],
            "messages[0].content[1].text",
            "invalid_value",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": "http://x/a.png"}]}],
            "messages[0].content[0].image_url",
            "invalid_value",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"detail": "low"}}]}],
            "messages[0].content[0].image_url",
            "invalid_value",
        ),
        ([{"role": "tool", "content": "sunny"}], "messages[0].tool_call_id", "missing_required_parameter"),
        (
            [{"role": "tool", "content": "sunny", "tool_call_id": 3}],
            "messages[0].tool_call_id",
            "missing_required_parameter",
        ),
    ],
)
def test_message_errors_name_the_field(messages: list[Any], param: str, code: str) -> None:
    error = chat_error(chat(messages=messages))
    assert (error.param, error.code) == (param, code)
    assert f"'{param}'" in error.message


@pytest.mark.parametrize(
    ("tool_calls", "param"),
    [
        ({"id": "c"}, "messages[1].tool_calls"),
        (["c"], "messages[1].tool_calls[0]"),
        ([{"function": {"name": "f"}}], "messages[1].tool_calls[0]"),
        ([{"id": "c"}], "messages[1].tool_calls[0].function"),
        ([{"id": "c", "function": {"arguments": "{}"}}], "messages[1].tool_calls[0].function"),
        (
            [{"id": "c", "function": {"name": "f", "arguments": {"city": "Oslo"}}}],
            "messages[1].tool_calls[0].function.arguments",
        ),
    ],
)
def test_tool_call_errors_name_the_field(tool_calls: Any, param: str) -> None:
    messages = [*USER, {"role": "assistant", "tool_calls": tool_calls}]
    error = chat_error(chat(messages=messages))
    assert (error.param, error.code) == (param, "invalid_value")


@pytest.mark.parametrize(
    ("fields", "param", "fragment"),
    [
        ({"stream": "yes"}, "stream", "expected a boolean, got string"),
        ({"stream": 1}, "stream", "expected a boolean, got number"),
        ({"stream_options": []}, "stream_options", "expected an object, got array"),
        ({"stream_options": {"include_usage": "true"}}, "include_usage", "expected a boolean"),
        ({"temperature": "hot"}, "temperature", "expected a number, got string"),
        ({"temperature": True}, "temperature", "expected a number, got boolean"),
        ({"temperature": 2.5}, "temperature", "must be between 0 and 2, got 2.5"),
        ({"temperature": -0.1}, "temperature", "between 0 and 2"),
        ({"top_p": 1.5}, "top_p", "between 0 and 1"),
        ({"presence_penalty": -3}, "presence_penalty", "between -2 and 2"),
        ({"frequency_penalty": 2.1}, "frequency_penalty", "between -2 and 2"),
        ({"n": 0}, "n", "must be between 1 and 128, got 0"),
        ({"n": 129}, "n", "between 1 and 128"),
        ({"n": 1.5}, "n", "expected an integer, got number"),
        ({"n": True}, "n", "expected an integer, got boolean"),
        ({"max_tokens": 0}, "max_tokens", "must be at least 1, got 0"),
        ({"max_tokens": "100"}, "max_tokens", "expected an integer, got string"),
        ({"max_completion_tokens": -1}, "max_completion_tokens", "at least 1"),
        ({"seed": 2**63}, "seed", "between"),
        ({"top_logprobs": 21}, "top_logprobs", "between 0 and 20"),
        ({"logprobs": "yes"}, "logprobs", "expected a boolean"),
        ({"parallel_tool_calls": 0}, "parallel_tool_calls", "expected a boolean"),
        ({"user": 42}, "user", "expected a string, got number"),
        ({"metadata": ["a"]}, "metadata", "string values"),
        ({"metadata": {"count": 3}}, "metadata", "string values"),
        ({"stop": 3}, "stop", "a string or an array of strings"),
        ({"stop": ["a", 1]}, "stop", "a string or an array of strings"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4"),
        ({"tools": {"name": "f"}}, "tools", "expected an array, got object"),
        ({"tools": ["f"]}, "tools[0]", "of type 'function'"),
        ({"tools": [{"type": "retrieval"}]}, "tools[0]", "of type 'function'"),
        ({"tools": [{"type": "function"}]}, "tools[0].function", "a string 'name'"),
        ({"tools": [{"type": "function", "function": {"name": 1}}]}, "tools[0].function", "'name'"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}]},
            "tools[0].function.parameters",
            "JSON Schema object",
        ),
        ({"tool_choice": "any"}, "tool_choice", "'none', 'auto', 'required'"),
        ({"tool_choice": {"type": "function"}}, "tool_choice", "'none'"),
        ({"tool_choice": {"function": {"name": 1}}}, "tool_choice", "'none'"),
        ({"response_format": "json"}, "response_format", "'type' is one of"),
        ({"response_format": {"type": "xml"}}, "response_format", "'type' is one of"),
        (
            {"response_format": {"type": "json_schema"}},
            "response_format.json_schema",
            "a string 'name'",
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
            "response_format.json_schema",
            "a string 'name'",
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": "{}"}}},
            "response_format.json_schema.schema",
            "JSON Schema object",
        ),
    ],
)
def test_option_errors_name_the_field(fields: Json, param: str, fragment: str) -> None:
    error = chat_error(chat(**fields))
    assert error.param == param
    assert error.code == "invalid_value"
    assert error.message.startswith(f"Invalid '{param}': ")
    assert fragment in error.message


def test_first_bad_message_is_the_one_named() -> None:
    messages = [*USER, {"role": "assistant", "content": "ok"}, {"role": "user", "content": 1}]
    assert chat_error(chat(messages=messages)).param == "messages[2].content"


# --------------------------------------------------------------------------- embeddings


@pytest.mark.parametrize(
    "value",
    ["hello", ["a", "b"], [1, 2, 3], [[1, 2], [3]]],
)
def test_embeddings_accepts_every_input_shape(value: Any) -> None:
    body = {"model": "text-embedding-3-small", "input": value, "encoding_format": "base64", "x_extra": 1}
    request = validate_embeddings_request(body)
    assert request.model == "text-embedding-3-small"
    assert request.body is body and request.body["x_extra"] == 1


def test_embeddings_accepts_dimensions_and_user() -> None:
    validate_embeddings_request(
        {"model": "m", "input": "x", "dimensions": 256, "user": "u", "encoding_format": "float"}
    )


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"input": "x"}, "model", "missing_required_parameter"),
        ({"model": "", "input": "x"}, "model", "invalid_value"),
        ({"model": "m"}, "input", "missing_required_parameter"),
        ({"model": "m", "input": ""}, "input", "invalid_value"),
        ({"model": "m", "input": []}, "input", "invalid_value"),
        ({"model": "m", "input": ["a", ""]}, "input", "invalid_value"),
        ({"model": "m", "input": ["a", 1]}, "input", "invalid_value"),
        ({"model": "m", "input": [True, False]}, "input", "invalid_value"),
        ({"model": "m", "input": [[1], []]}, "input", "invalid_value"),
        ({"model": "m", "input": [[1], ["a"]]}, "input", "invalid_value"),
        ({"model": "m", "input": {"text": "x"}}, "input", "invalid_value"),
        ({"model": "m", "input": 5}, "input", "invalid_value"),
        ({"model": "m", "input": "x", "encoding_format": "int8"}, "encoding_format", "invalid_value"),
        ({"model": "m", "input": "x", "dimensions": 0}, "dimensions", "invalid_value"),
        ({"model": "m", "input": "x", "dimensions": "64"}, "dimensions", "invalid_value"),
        ({"model": "m", "input": "x", "user": ["u"]}, "user", "invalid_value"),
    ],
)
def test_embeddings_errors_name_the_field(body: Json, param: str, code: str) -> None:
    error = embeddings_error(body)
    assert (error.param, error.code) == (param, code)
    assert f"'{param}'" in error.message


def test_tool_choice_object_or_list_is_a_400_not_a_crash() -> None:
    validate_chat_request(chat(tool_choice={"type": "function", "function": {"name": "f"}}))
    assert chat_error(chat(tool_choice=["auto"])).param == "tool_choice"


@pytest.mark.parametrize(
    "fields",
    [
        {"messages": [{"role": ["user"], "content": "x"}]},
        {"messages": [{"role": "user", "content": [{"type": {"t": "text"}}]}]},
        {"response_format": {"type": {"t": "json_object"}}},
    ],
)
def test_unhashable_values_are_a_400_not_a_crash(fields: Json) -> None:
    chat_error(chat(**fields))
