"""The OpenAI fake, driven by the official SDK: if the SDK is happy, the wire format is right."""

from __future__ import annotations

import base64
import json
import math
import struct
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import openai
import pytest

from tests.fakes.base import Fault
from tests.fakes.openai_fake import OpenAIFake

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string"}, "offset": {"type": "integer"}},
            "required": ["zone", "offset"],
        },
    },
}
HELLO = [{"role": "user", "content": "hello there world"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[OpenAIFake]:
    server = OpenAIFake().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh(fake: OpenAIFake) -> None:
    fake.clear()


@pytest.fixture
async def client(fake: OpenAIFake) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=fake.url + "/v1", api_key="sk-test", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def azure(fake: OpenAIFake) -> AsyncIterator[openai.AsyncAzureOpenAI]:
    async with openai.AsyncAzureOpenAI(
        azure_endpoint=fake.url, api_version="2024-10-21", api_key="azure-key", max_retries=0
    ) as sdk:
        yield sdk


async def raw_post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text), text
        except ValueError:
            return response.status, None, text


# ---------------------------------------------------------------------- chat


async def test_non_stream_completion_has_openai_shape(client: openai.AsyncOpenAI, fake: OpenAIFake) -> None:
    raw = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
    completion = raw.parse()
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    assert completion.system_fingerprint
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Echo: hello there world"
    assert choice.message.refusal is None
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 4
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 4
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.completion_tokens_details is not None
    for header in (
        "x-request-id",
        "openai-processing-ms",
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    ):
        assert raw.headers.get(header), header
    recorded = fake.requests[-1]
    assert recorded.path == "/v1/chat/completions"
    assert recorded.headers["authorization"] == "Bearer sk-test"
    assert recorded.json["messages"] == HELLO


async def test_missing_key_gets_openais_real_401_body(fake: OpenAIFake) -> None:
    status, body, _ = await raw_post(
        fake.url + "/v1/chat/completions", {"model": "gpt-4o", "messages": HELLO}
    )
    assert status == 401
    error = body["error"]
    assert error["message"].startswith("You didn't provide an API key.")
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", None, None)


async def test_bad_key_is_invalid_api_key(fake: OpenAIFake) -> None:
    async with openai.AsyncOpenAI(base_url=fake.url + "/v1", api_key="bad-key", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


@pytest.mark.parametrize(
    ("messages", "param", "code"),
    [
        ([], "messages", "empty_array"),
        ([{"role": "robot", "content": "hi"}], "messages[0].role", "invalid_value"),
        ([{"role": "tool", "content": "42"}], "messages[0].tool_call_id", "missing_required_parameter"),
    ],
)
async def test_invalid_messages_are_400_with_param(
    client: openai.AsyncOpenAI, messages: list[Any], param: str, code: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt-4o", messages=messages)
    assert caught.value.param == param
    assert caught.value.code == code


async def test_unknown_model_is_404(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="nonexistent-model", messages=HELLO)
    assert caught.value.code == "model_not_found"


async def test_stream_options_and_metadata_are_refused_where_openai_refuses(fake: OpenAIFake) -> None:
    auth = {"authorization": "Bearer sk-test"}
    url = fake.url + "/v1/chat/completions"
    status, body, _ = await raw_post(
        url, {"model": "gpt-4o", "messages": HELLO, "stream_options": {"include_usage": True}}, auth
    )
    assert (status, body["error"]["param"]) == (400, "stream_options")
    status, body, _ = await raw_post(
        url, {"model": "gpt-4o", "messages": HELLO, "metadata": {"a": "b"}}, auth
    )
    assert (status, body["error"]["param"]) == (400, "metadata")
    status, _, _ = await raw_post(
        url, {"model": "gpt-4o", "messages": HELLO, "metadata": {"a": "b"}, "store": True}, auth
    )
    assert status == 200


async def test_max_tokens_stop_and_tool_results(client: openai.AsyncOpenAI) -> None:
    cut = await client.chat.completions.create(model="gpt-4o", messages=HELLO, max_completion_tokens=2)
    assert (cut.choices[0].message.content, cut.choices[0].finish_reason) == ("Echo: hello", "length")
    legacy = await client.chat.completions.create(model="gpt-4o", messages=HELLO, max_tokens=1)
    assert legacy.choices[0].message.content == "Echo:"
    stopped = await client.chat.completions.create(model="gpt-4o", messages=HELLO, stop=[" world"])
    assert (stopped.choices[0].message.content, stopped.choices[0].finish_reason) == (
        "Echo: hello there",
        "stop",
    )
    conversation: list[Any] = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    answered = await client.chat.completions.create(
        model="gpt-4o", messages=conversation, tools=[WEATHER_TOOL]
    )
    assert answered.choices[0].message.content == "Tool said: sunny"


async def test_non_stream_tool_calls(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="gpt-4o", messages=HELLO, tools=[WEATHER_TOOL])
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls is not None
    (call,) = message.tool_calls
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


async def test_stream_without_include_usage_has_no_usage_chunk(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.choices for chunk in chunks)
    assert all(chunk.usage is None for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Echo: hello there world"
    assert len(chunks) == 1 + 4 + 1  # role, one per word, finish
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert len({chunk.id for chunk in chunks}) == 1


async def test_stream_with_include_usage_ends_with_usage_chunk(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.completion_tokens == 4
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"


async def test_stream_wire_format_usage_null_and_done(fake: OpenAIFake) -> None:
    body = {"model": "gpt-4o", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}
    status, _, text = await raw_post(fake.url + "/v1/chat/completions", body, {"authorization": "Bearer k"})
    assert status == 200
    events = [line.removeprefix("data: ") for line in text.split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all("usage" in chunk and chunk["usage"] is None for chunk in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert all(choice["logprobs"] is None for chunk in chunks for choice in chunk["choices"])

    plain = {"model": "gpt-4o", "messages": HELLO, "stream": True}
    _, _, text = await raw_post(fake.url + "/v1/chat/completions", plain, {"authorization": "Bearer k"})
    chunks = [json.loads(line[6:]) for line in text.split("\n\n") if line and line != "data: [DONE]"]
    assert all("usage" not in chunk for chunk in chunks)


async def test_streamed_parallel_tool_calls_reassemble(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=HELLO, tools=[WEATHER_TOOL, TIME_TOOL], stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    fragments = 0
    finish = None
    async for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            if delta.id:
                assert not call["id"], "id is sent once, on the call's first delta"
                assert delta.function is not None and delta.function.name
                assert delta.function.arguments == ""
                call["id"], call["name"] = delta.id, delta.function.name
            else:
                assert delta.function is not None and delta.function.name is None
                fragments += 1
                call["arguments"] += delta.function.arguments or ""
    assert finish == "tool_calls"
    assert sorted(calls) == [0, 1]
    assert calls[0]["name"] == "get_weather" and calls[1]["name"] == "get_time"
    assert calls[0]["id"] != calls[1]["id"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert json.loads(calls[1]["arguments"]) == {"zone": "zone-value", "offset": 1}
    assert fragments > 2


async def test_json_schema_response_satisfies_schema(client: openai.AsyncOpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "ok": {"type": "boolean"},
        },
        "required": ["name", "age", "tags", "ok"],
        "additionalProperties": False,
    }
    completion = await client.chat.completions.create(
        model="gpt-4o",
        messages=HELLO,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema, "strict": True},
        },
    )
    data = json.loads(completion.choices[0].message.content or "")
    assert set(data) == {"name", "age", "tags", "ok"}
    assert isinstance(data["name"], str) and isinstance(data["age"], int)
    assert isinstance(data["tags"], list) and data["ok"] is True
    json_object = await client.chat.completions.create(
        model="gpt-4o", messages=HELLO, response_format={"type": "json_object"}
    )
    assert json.loads(json_object.choices[0].message.content or "") == {"echo": "hello there world"}


# ---------------------------------------------------------------------- embeddings and models


async def test_embeddings_float_and_base64_agree(client: openai.AsyncOpenAI) -> None:
    floats = await client.embeddings.create(
        model="text-embedding-3-small", input=["alpha beta", "gamma"], encoding_format="float"
    )
    assert floats.object == "list" and floats.model == "text-embedding-3-small"
    assert [item.index for item in floats.data] == [0, 1]
    first = floats.data[0].embedding
    assert len(first) == 1536
    assert math.isclose(math.sqrt(sum(v * v for v in first)), 1.0, rel_tol=1e-5)
    assert floats.data[0].embedding != floats.data[1].embedding
    assert floats.usage.prompt_tokens == 3 and floats.usage.total_tokens == 3

    explicit = await client.embeddings.create(
        model="text-embedding-3-small", input="alpha beta", encoding_format="base64"
    )
    encoded = explicit.data[0].embedding
    assert isinstance(encoded, str)  # the SDK leaves base64 alone when the caller asked for it
    raw = base64.b64decode(encoded)
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == first

    # Without encoding_format the SDK asks for base64 itself and decodes float32 little-endian.
    implicit = await client.embeddings.create(model="text-embedding-3-small", input="alpha beta")
    assert implicit.data[0].embedding == first


async def test_embeddings_dimensions_tokens_and_determinism(
    client: openai.AsyncOpenAI, fake: OpenAIFake
) -> None:
    short = await client.embeddings.create(
        model="text-embedding-3-large", input="alpha", dimensions=8, encoding_format="float"
    )
    vector = short.data[0].embedding
    assert len(vector) == 8
    assert math.isclose(sum(v * v for v in vector), 1.0, rel_tol=1e-5)
    again = await client.embeddings.create(
        model="text-embedding-3-large", input="alpha", dimensions=8, encoding_format="float"
    )
    assert again.data[0].embedding == vector
    tokens = await client.embeddings.create(
        model="text-embedding-3-small", input=[[1, 2, 3], [4, 5]], encoding_format="float"
    )
    assert len(tokens.data) == 2 and tokens.usage.prompt_tokens == 5
    flat = await client.embeddings.create(
        model="text-embedding-3-small", input=[1, 2, 3], encoding_format="float"
    )
    assert flat.data[0].embedding == tokens.data[0].embedding
    with pytest.raises(openai.BadRequestError) as caught:
        await client.embeddings.create(model="text-embedding-ada-002", input="x", dimensions=8)
    assert caught.value.param == "dimensions"
    with pytest.raises(openai.BadRequestError):
        await client.embeddings.create(model="text-embedding-3-small", input="")
    assert fake.requests[0].json["dimensions"] == 8


async def test_models_list(client: openai.AsyncOpenAI) -> None:
    page = await client.models.list()
    ids = [model.id async for model in page]
    assert "gpt-4o-mini" in ids and "text-embedding-3-small" in ids
    model = await client.models.retrieve("gpt-4o")
    assert (model.object, model.owned_by) == ("model", "system")


# ---------------------------------------------------------------------- faults


async def test_rate_limit_fault_is_rate_limit_error_with_headers(
    client: openai.AsyncOpenAI, fake: OpenAIFake
) -> None:
    fake.inject(Fault(status=429, retry_after=2))
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="gpt-4o", messages=HELLO)
    error = caught.value
    assert error.status_code == 429
    assert error.code == "rate_limit_exceeded"
    assert error.response.headers["retry-after"] == "2"
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert error.response.headers["x-ratelimit-reset-requests"] == "2s"
    assert error.request_id and error.request_id.startswith("req_")
    # the fault was used up: the next request succeeds
    await client.chat.completions.create(model="gpt-4o", messages=HELLO)


@pytest.mark.parametrize(
    ("status", "exception", "words"),
    [
        (400, openai.BadRequestError, "Invalid request"),
        (401, openai.AuthenticationError, "API key"),
        (500, openai.InternalServerError, "server had an error"),
        (503, openai.InternalServerError, "overloaded"),
    ],
)
async def test_status_faults_raise_the_sdks_exceptions(
    client: openai.AsyncOpenAI, fake: OpenAIFake, status: int, exception: type[Exception], words: str
) -> None:
    fake.inject(Fault(status=status))
    with pytest.raises(exception) as caught:
        await client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert isinstance(caught.value, openai.APIStatusError)
    assert caught.value.status_code == status
    assert words in caught.value.message


async def test_model_name_fault_always_fails(client: openai.AsyncOpenAI) -> None:
    for _ in range(2):
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model="gpt-fault-429", messages=HELLO)


async def test_bad_gateway_fault_is_cloudflare_html(fake: OpenAIFake) -> None:
    fake.inject(Fault(status=502))
    status, body, text = await raw_post(
        fake.url + "/v1/chat/completions",
        {"model": "gpt-4o", "messages": HELLO},
        {"authorization": "Bearer k"},
    )
    assert (status, body) == (502, None)
    assert "502 Bad Gateway" in text


async def test_midstream_error_event_raises_api_error(client: openai.AsyncOpenAI, fake: OpenAIFake) -> None:
    fake.inject(Fault(kind="midstream", status=500, after_chunks=2))
    received = []
    stream = await client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 2
    assert "server had an error" in caught.value.message
    assert caught.value.type == "server_error"


async def test_midstream_close_raises_connection_error(client: openai.AsyncOpenAI, fake: OpenAIFake) -> None:
    fake.inject(Fault(kind="midstream", status=0, after_chunks=1))
    stream = await client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    received = []
    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 1


async def test_drop_and_stall(client: openai.AsyncOpenAI, fake: OpenAIFake) -> None:
    fake.inject(Fault(kind="drop"))
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(model="gpt-4o", messages=HELLO)
    fake.inject(Fault(kind="stall", delay_seconds=0.3))
    started = time.monotonic()
    completion = await client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert time.monotonic() - started >= 0.3
    assert completion.choices[0].message.content == "Echo: hello there world"


async def test_embeddings_faults(client: openai.AsyncOpenAI, fake: OpenAIFake) -> None:
    fake.inject(Fault(status=503))
    with pytest.raises(openai.InternalServerError) as caught:
        await client.embeddings.create(model="text-embedding-3-small", input="x")
    assert caught.value.status_code == 503


# ---------------------------------------------------------------------- Azure


async def test_azure_sdk_chat_uses_deployment_path(azure: openai.AsyncAzureOpenAI, fake: OpenAIFake) -> None:
    completion = await azure.chat.completions.create(model="my-gpt4o", messages=HELLO)
    assert completion.choices[0].message.content == "Echo: hello there world"
    assert completion.model == "my-gpt4o"
    recorded = fake.requests[-1]
    assert recorded.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert recorded.query["api-version"] == "2024-10-21"
    assert recorded.headers["api-key"] == "azure-key"
    assert "authorization" not in recorded.headers


async def test_azure_sdk_stream_starts_with_prompt_filter_chunk(azure: openai.AsyncAzureOpenAI) -> None:
    stream = await azure.chat.completions.create(
        model="my-gpt4o", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices == [] and chunks[0].usage is None  # Azure's content-filter preamble
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: hello there world"


async def test_azure_sdk_embeddings(azure: openai.AsyncAzureOpenAI, fake: OpenAIFake) -> None:
    response = await azure.embeddings.create(model="my-embedder", input="alpha", encoding_format="float")
    assert len(response.data[0].embedding) == 1536
    assert fake.requests[-1].path == "/openai/deployments/my-embedder/embeddings"


async def test_azure_errors_use_azures_shape(fake: OpenAIFake) -> None:
    url = fake.url + "/openai/deployments/d/chat/completions"
    status, body, _ = await raw_post(url, {"messages": HELLO}, {"api-key": "k"})
    assert (status, body) == (404, {"error": {"code": "404", "message": "Resource not found"}})
    status, body, _ = await raw_post(url + "?api-version=2024-10-21", {"messages": HELLO})
    assert status == 401 and body["error"]["code"] == "401"
    status, body, _ = await raw_post(url + "?api-version=2024-10-21", {"messages": HELLO}, {"api-key": "k"})
    assert status == 200 and body["object"] == "chat.completion"
