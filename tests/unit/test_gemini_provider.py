"""GeminiProvider against GeminiFake: real HTTP on localhost, the real wire format."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bastion.config import GeminiProviderConfig
from bastion.errors import ProviderError
from bastion.providers.base import ChatRequest, Deployment, EmbeddingsRequest
from bastion.providers.gemini import GeminiProvider
from tests.fakes.base import Fault
from tests.fakes.gemini_fake import GeminiFake

KEY = "AIza-unit-SECRET-key-4242"
MODEL = "gemini-2.5-flash"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def fake() -> Iterator[GeminiFake]:
    started = GeminiFake(api_key=KEY).start()
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def clean(fake: GeminiFake) -> Iterator[None]:
    fake.clear()
    yield
    fake.clear()
    fake.thoughts_tokens = 0


async def _provider(fake: GeminiFake, **overrides: Any) -> GeminiProvider:
    config = GeminiProviderConfig(type="gemini", base_url=f"{fake.url}/v1beta", api_key=KEY, **overrides)
    provider = GeminiProvider("gem", config)
    await provider.start()
    return provider


@pytest.fixture
async def provider(fake: GeminiFake) -> AsyncIterator[GeminiProvider]:
    started = await _provider(fake)
    yield started
    await started.close()


def chat(body: dict[str, Any], *, stream: bool = False) -> ChatRequest:
    return ChatRequest(body={"model": "public", **body}, model="public", stream=stream)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


async def collect(provider: GeminiProvider, request: ChatRequest, model: str = MODEL) -> list[dict[str, Any]]:
    return [chunk async for chunk in provider.chat_stream(request, Deployment("gem", model))]


def deltas(chunks: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str | None]]:
    return [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks if c["choices"]]


# --------------------------------------------------------------------------- chat


async def test_chat_sends_translated_body_with_key_header(provider: GeminiProvider, fake: GeminiFake) -> None:
    answer = await provider.chat(
        chat({"messages": user("hello there"), "temperature": 0.2}), Deployment("gem", MODEL)
    )
    assert answer["object"] == "chat.completion"
    assert answer["model"] == MODEL
    assert answer["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Echo: hello there",
        "refusal": None,
    }
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"]["completion_tokens"] == 3
    [recorded] = fake.requests
    assert recorded.path == f"/v1beta/models/{MODEL}:generateContent"
    assert recorded.headers["x-goog-api-key"] == KEY
    assert "key" not in recorded.query
    assert recorded.json == {
        "contents": [{"role": "user", "parts": [{"text": "hello there"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.2},
    }


async def test_deployment_params_are_defaults(fake: GeminiFake) -> None:
    provider = await _provider(fake)
    try:
        deployment = Deployment("gem", MODEL, params={"temperature": 0.9, "max_tokens": 2})
        answer = await provider.chat(
            chat({"messages": user("one two three"), "temperature": 0.1}), deployment
        )
    finally:
        await provider.close()
    assert fake.requests[0].json["generationConfig"] == {"temperature": 0.1, "maxOutputTokens": 2}
    assert answer["choices"][0]["message"]["content"] == "Echo: one"
    assert answer["choices"][0]["finish_reason"] == "length"


async def test_tool_call_round_trip_keeps_the_thought_signature(
    provider: GeminiProvider, fake: GeminiFake
) -> None:
    model = "gemini-3-pro-preview"  # the fake, like Gemini 3, refuses replayed calls without signatures
    messages = user("Weather in Paris?")
    first = await provider.chat(
        chat({"messages": messages, "tools": [WEATHER_TOOL]}), Deployment("gem", model)
    )
    message = first["choices"][0]["message"]
    assert first["choices"][0]["finish_reason"] == "tool_calls"
    [call] = message["tool_calls"]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    messages = [*messages, message, {"role": "tool", "tool_call_id": call["id"], "content": "22C and sunny"}]
    second = await provider.chat(
        chat({"messages": messages, "tools": [WEATHER_TOOL]}), Deployment("gem", model)
    )
    assert second["choices"][0]["message"]["content"] == "Tool said: 22C and sunny"
    replayed = fake.requests[1].json["contents"]
    assert replayed[1]["role"] == "model"
    signature = replayed[1]["parts"][0]["thoughtSignature"]
    assert signature != "skip_thought_signature_validator"
    assert base64.b64decode(signature)  # the fake's own bytes, back unchanged
    assert replayed[2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "22C and sunny"}}}],
    }


async def test_json_mode_and_two_candidates(provider: GeminiProvider, fake: GeminiFake) -> None:
    body = {"messages": user("ping"), "response_format": {"type": "json_object"}, "n": 2}
    answer = await provider.chat(chat(body), Deployment("gem", MODEL))
    assert [choice["index"] for choice in answer["choices"]] == [0, 1]
    assert json.loads(answer["choices"][1]["message"]["content"]) == {"echo": "ping"}
    assert fake.requests[0].json["generationConfig"] == {
        "candidateCount": 2,
        "responseMimeType": "application/json",
    }


async def test_thinking_tokens_count_as_reasoning(provider: GeminiProvider, fake: GeminiFake) -> None:
    fake.thoughts_tokens = 7
    answer = await provider.chat(chat({"messages": user("hi")}), Deployment("gem", MODEL))
    assert answer["usage"]["completion_tokens"] == 2 + 7
    assert answer["usage"]["completion_tokens_details"] == {"reasoning_tokens": 7}
    assert answer["usage"]["total_tokens"] == answer["usage"]["prompt_tokens"] + 9


async def test_safety_block_is_a_filtered_answer(provider: GeminiProvider) -> None:
    answer = await provider.chat(chat({"messages": user("please BLOCKME now")}), Deployment("gem", MODEL))
    assert answer["choices"][0]["message"]["content"] is None
    assert answer["choices"][0]["finish_reason"] == "content_filter"
    chunks = await collect(provider, chat({"messages": user("BLOCKME")}, stream=True))
    assert deltas(chunks) == [({"role": "assistant", "content": ""}, None), ({}, "content_filter")]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 0


# --------------------------------------------------------------------------- stream


async def test_stream_text(provider: GeminiProvider, fake: GeminiFake) -> None:
    chunks = await collect(provider, chat({"messages": user("stream this please")}, stream=True))
    assert deltas(chunks) == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "Echo:"}, None),
        ({"content": " stream"}, None),
        ({"content": " this"}, None),
        ({"content": " please"}, None),
        ({}, "stop"),
    ]
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 4
    [recorded] = fake.requests
    assert recorded.path == f"/v1beta/models/{MODEL}:streamGenerateContent"
    assert recorded.query == {"alt": "sse"}


async def test_stream_tool_calls_carry_index_id_name_and_arguments(provider: GeminiProvider) -> None:
    tools = [
        WEATHER_TOOL,
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
    ]
    chunks = await collect(
        provider, chat({"messages": user("weather and time"), "tools": tools}, stream=True)
    )
    [tool_chunk] = [c for c in chunks if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    calls = tool_chunk["choices"][0]["delta"]["tool_calls"]
    assert [(c["index"], c["type"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        (0, "function", "get_weather", '{"city":"Paris"}'),
        (1, "function", "get_time", "{}"),
    ]
    assert calls[0]["id"].startswith("call_") and "__sig__" in calls[0]["id"]
    assert calls[1]["id"].startswith("call_") and "__sig__" not in calls[1]["id"]
    assert deltas(chunks)[-1] == ({}, "tool_calls")
    assert chunks[-1]["usage"]["prompt_tokens"] > 0


async def test_stream_error_before_first_chunk_raises_on_first_next(
    provider: GeminiProvider, fake: GeminiFake
) -> None:
    fake.inject(Fault(status=429, retry_after=3))
    stream = provider.chat_stream(chat({"messages": user("x")}, stream=True), Deployment("gem", MODEL))
    with pytest.raises(ProviderError) as error:
        await stream.__anext__()
    assert error.value.status == 429 and error.value.retryable
    assert error.value.retry_after_seconds == 3.0


async def test_midstream_error_object_raises_after_chunks(provider: GeminiProvider, fake: GeminiFake) -> None:
    fake.inject(Fault(kind="midstream", status=503, after_chunks=2))
    received = []
    with pytest.raises(ProviderError) as error:
        async for chunk in provider.chat_stream(
            chat({"messages": user("a b c d")}, stream=True), Deployment("gem", MODEL)
        ):
            received.append(chunk)
    assert [d for d, _ in deltas(received)][1:] == [{"content": "Echo:"}, {"content": " a"}]
    assert error.value.status == 503 and error.value.retryable
    assert "overloaded" in error.value.message


async def test_midstream_disconnect_raises(provider: GeminiProvider, fake: GeminiFake) -> None:
    fake.inject(Fault(kind="midstream", status=0, after_chunks=1))
    with pytest.raises(ProviderError) as error:
        await collect(provider, chat({"messages": user("a b c d")}, stream=True))
    assert error.value.retryable


@pytest.mark.parametrize(
    ("body", "code"),
    [
        # ends cleanly, but no candidate ever got its finishReason: a cut-short answer
        (
            b'data: {"candidates": [{"content": {"parts": [{"text": "half"}]}}]}\r\n\r\n',
            "upstream_stream_truncated",
        ),
        # the error framed as an SSE event rather than as a bare object
        (
            b'data: {"candidates": [{"content": {"parts": [{"text": "a"}]}}]}\r\n\r\n'
            b'data: {"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}\r\n\r\n',
            "upstream_error",
        ),
    ],
)
async def test_stream_that_ends_without_finishing_raises(body: bytes, code: str) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/event-stream")

    app = web.Application()
    app.router.add_post("/v1beta/models/{call}", handler)
    async with TestServer(app) as server:
        config = GeminiProviderConfig(type="gemini", base_url=str(server.make_url("/v1beta")), api_key=KEY)
        provider = GeminiProvider("gem", config)
        await provider.start()
        try:
            with pytest.raises(ProviderError) as error:
                await collect(provider, chat({"messages": user("x")}, stream=True))
        finally:
            await provider.close()
    assert error.value.code == code and error.value.retryable


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "client_status", "retryable", "code"),
    [
        (400, 400, False, "INVALID_ARGUMENT"),
        (403, 502, False, "upstream_auth_failed"),
        (404, 404, False, "NOT_FOUND"),
        (429, 429, True, "upstream_rate_limited"),
        (500, 502, True, "upstream_error"),
        (503, 503, True, "upstream_unavailable"),
        (504, 504, True, "upstream_timeout"),
    ],
)
async def test_status_errors_map_to_provider_errors(
    provider: GeminiProvider, fake: GeminiFake, status: int, client_status: int, retryable: bool, code: str
) -> None:
    fake.inject(Fault(status=status))
    with pytest.raises(ProviderError) as error:
        await provider.chat(chat({"messages": user("x")}), Deployment("gem", MODEL))
    assert (error.value.status, error.value.retryable, error.value.code) == (client_status, retryable, code)
    assert error.value.upstream_status == status
    assert error.value.provider == "gem"


async def test_rate_limit_retry_delay_comes_from_the_body(provider: GeminiProvider, fake: GeminiFake) -> None:
    fake.inject(Fault(status=429, retry_after=17))
    with pytest.raises(ProviderError) as error:
        await provider.chat(chat({"messages": user("x")}), Deployment("gem", MODEL))
    assert error.value.retry_after_seconds == 17.0
    assert "quota" in error.value.message


async def test_model_name_fault(provider: GeminiProvider) -> None:
    with pytest.raises(ProviderError) as error:
        await provider.chat(chat({"messages": user("x")}), Deployment("gem", "gemini-fault-503"))
    assert error.value.status == 503 and error.value.retryable


async def test_invalid_key_is_our_credential_problem_not_a_client_400(fake: GeminiFake) -> None:
    provider = GeminiProvider(
        "gem",
        GeminiProviderConfig(type="gemini", base_url=f"{fake.url}/v1beta", api_key="AIza-wrong-key-9999"),
    )
    await provider.start()
    try:
        with pytest.raises(ProviderError) as error:
            await provider.chat(chat({"messages": user("x")}), Deployment("gem", MODEL))
    finally:
        await provider.close()
    assert error.value.status == 502 and error.value.code == "upstream_auth_failed"
    assert error.value.upstream_status == 400
    assert "AIza-wrong-key-9999" not in str(error.value)


async def test_api_key_never_appears_in_error_messages(provider: GeminiProvider, fake: GeminiFake) -> None:
    fake.inject(Fault(status=400, message=f"API key {KEY} is not allowed for this project"))
    with pytest.raises(ProviderError) as error:
        await provider.chat(chat({"messages": user("x")}), Deployment("gem", MODEL))
    assert KEY not in error.value.message and KEY not in str(error.value)
    assert "***" in error.value.message
    fake.inject(Fault(kind="midstream", status=503, after_chunks=1, message=f"overloaded (key {KEY})"))
    with pytest.raises(ProviderError) as error:
        await collect(provider, chat({"messages": user("a b c")}, stream=True))
    assert KEY not in error.value.message


async def test_dropped_connection_is_retryable(provider: GeminiProvider, fake: GeminiFake) -> None:
    fake.inject(Fault(kind="drop"))
    with pytest.raises(ProviderError) as error:
        await provider.chat(chat({"messages": user("x")}), Deployment("gem", MODEL))
    assert error.value.retryable and error.value.status == 502


async def test_stall_longer_than_read_timeout_times_out(fake: GeminiFake) -> None:
    provider = await _provider(fake, read_timeout=0.2)
    fake.inject(Fault(kind="stall", delay_seconds=1.0))
    try:
        with pytest.raises(ProviderError) as error:
            await provider.chat(chat({"messages": user("x")}), Deployment("gem", MODEL))
    finally:
        await provider.close()
    assert error.value.status == 504 and error.value.retryable


# --------------------------------------------------------------------------- embeddings


async def test_embeddings_float_and_base64(provider: GeminiProvider, fake: GeminiFake) -> None:
    deployment = Deployment("gem", "gemini-embedding-001")
    floats = await provider.embeddings(
        EmbeddingsRequest({"input": ["a", "b"], "dimensions": 8}, "e"), deployment
    )
    assert [item["index"] for item in floats["data"]] == [0, 1]
    assert all(len(item["embedding"]) == 8 for item in floats["data"])
    packed = await provider.embeddings(
        EmbeddingsRequest({"input": "a", "dimensions": 8, "encoding_format": "base64"}, "e"), deployment
    )
    decoded = struct.unpack("<8f", base64.b64decode(packed["data"][0]["embedding"]))
    assert decoded == pytest.approx(floats["data"][0]["embedding"], rel=1e-6)
    assert fake.requests[0].path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert fake.requests[0].headers["x-goog-api-key"] == KEY
    assert fake.requests[0].json["requests"][1] == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "b"}]},
        "outputDimensionality": 8,
    }


# --------------------------------------------------------------------------- the fake itself


async def test_fake_speaks_google_errors_and_array_streams(fake: GeminiFake) -> None:
    url = f"{fake.url}/v1beta/models/{MODEL}"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}:generateContent", json=body) as response:
            assert response.status == 403
            assert (await response.json())["error"]["status"] == "PERMISSION_DENIED"
        headers = {"x-goog-api-key": KEY}
        async with session.post(f"{url}:generateContent", json={"contents": []}, headers=headers) as response:
            assert response.status == 400
            assert (await response.json())["error"]["status"] == "INVALID_ARGUMENT"
        bad_role = {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}
        async with session.post(f"{url}:generateContent", json=bad_role, headers=headers) as response:
            assert (await response.json())["error"]["message"] == "Please use a valid role: user, model."
        unknown = {**body, "generationConfig": {"max_tokens": 3}}
        async with session.post(f"{url}:generateContent", json=unknown, headers=headers) as response:
            assert 'Unknown name "max_tokens"' in (await response.json())["error"]["message"]
        async with session.post(f"{url}:streamGenerateContent?key={KEY}", json=body) as response:
            events = json.loads(await response.text())
        assert events[-1]["candidates"][0]["finishReason"] == "STOP"
        async with session.post(
            f"{url}:streamGenerateContent?alt=sse", json=body, headers=headers
        ) as response:
            raw = await response.read()
        assert raw.startswith(b"data: {") and raw.endswith(b"}\r\n\r\n")
