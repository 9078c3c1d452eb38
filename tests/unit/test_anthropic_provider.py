"""AnthropicProvider against the Anthropic fake: requests, streams, errors, secrets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import orjson
import pytest
from aiohttp import web

from bastion.config import AnthropicProviderConfig
from bastion.errors import GatewayError, InvalidRequest, ProviderError
from bastion.providers.anthropic import AnthropicProvider
from bastion.providers.base import ChatRequest, Deployment
from bastion.translate.anthropic_ingress import (
    MessageStreamEncoder,
    chat_response_to_message,
    messages_request_to_chat,
)
from tests.fakes.anthropic_fake import AnthropicFake
from tests.fakes.base import Fault

API_KEY = "sk-ant-api03-SECRET-do-not-leak-123456"
DEPLOYMENT = Deployment(provider="claude", model="claude-upstream-1")
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[AnthropicFake]:
    fake = AnthropicFake(api_key=API_KEY)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server: AnthropicFake) -> AnthropicFake:
    server.clear()
    return server


@pytest.fixture
async def provider(fake: AnthropicFake) -> AsyncIterator[AnthropicProvider]:
    config = AnthropicProviderConfig(
        type="anthropic", base_url=fake.url, api_key=API_KEY, default_max_tokens=64, read_timeout=2.0
    )
    adapter = AnthropicProvider("claude", config, clock=lambda: 1_700_000_000.0)
    await adapter.start()
    yield adapter
    await adapter.close()


def chat(text: str = "hello there", *, stream: bool = False, **extra: Any) -> ChatRequest:
    body = {"model": "public", "messages": [{"role": "user", "content": text}], **extra}
    return ChatRequest(body=body, model="public", stream=stream, include_usage=True)


async def collect(provider: AnthropicProvider, request: ChatRequest) -> list[dict[str, Any]]:
    return [chunk async for chunk in provider.chat_stream(request, DEPLOYMENT)]


# ------------------------------------------------------------------ happy paths


async def test_chat_sends_headers_and_translated_body(
    fake: AnthropicFake, provider: AnthropicProvider
) -> None:
    body = {
        "model": "public",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}],
        "temperature": 1.5,
        "seed": 3,
        "user": "u-1",
    }
    response = await provider.chat(ChatRequest(body=body, model="public", stream=False), DEPLOYMENT)
    assert response["object"] == "chat.completion"
    assert response["id"].startswith("chatcmpl-msg_fake")
    assert response["created"] == 1_700_000_000
    assert response["model"] == "claude-upstream-1"
    assert response["choices"][0]["message"]["content"] == "Echo: hello there"
    assert response["choices"][0]["finish_reason"] == "stop"
    assert response["usage"]["completion_tokens"] == 3
    recorded = fake.requests[-1]
    assert recorded.headers["x-api-key"] == API_KEY
    assert recorded.headers["anthropic-version"] == "2023-06-01"
    assert recorded.headers["content-type"] == "application/json"
    assert recorded.json == {
        "model": "claude-upstream-1",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}],
        "temperature": 1.0,
        "metadata": {"user_id": "u-1"},
        "system": "Be brief.",
    }


async def test_deployment_params_are_defaults(fake: AnthropicFake, provider: AnthropicProvider) -> None:
    deployment = Deployment(
        provider="claude", model="claude-upstream-1", params={"max_tokens": 9, "top_k": 5}
    )
    await provider.chat(chat(max_tokens=20), deployment)
    assert fake.requests[-1].json["max_tokens"] == 20
    assert fake.requests[-1].json["top_k"] == 5


async def test_chat_tool_calls_and_cache_usage(provider: AnthropicProvider) -> None:
    request = chat("weather?", tools=[WEATHER])
    request.body["messages"].insert(0, {"role": "system", "content": "cache me"})
    response = await provider.chat(request, DEPLOYMENT)
    choice = response["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Paris"}
    usage = response["usage"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 2, "cache_creation_tokens": 0}
    assert usage["prompt_tokens"] == usage["total_tokens"] - usage["completion_tokens"] > 2


async def test_stream_text_with_usage_last(fake: AnthropicFake, provider: AnthropicProvider) -> None:
    chunks = await collect(provider, chat("one two three", stream=True))
    assert fake.requests[-1].json["stream"] is True
    assert fake.requests[-1].headers["accept"] == "text/event-stream"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Echo: one two three"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == 4
    assert last["usage"]["prompt_tokens"] >= 1


async def test_stream_tool_calls_survive_intact(provider: AnthropicProvider) -> None:
    time_tool = {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
        },
    }
    chunks = await collect(provider, chat("weather?", stream=True, tools=[WEATHER, time_tool]))
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for delta in (chunk["choices"][0]["delta"].get("tool_calls") or []) if chunk["choices"] else []:
            call = calls.setdefault(delta["index"], {"id": None, "name": None, "arguments": ""})
            call["id"] = delta.get("id") or call["id"]
            call["name"] = delta.get("function", {}).get("name") or call["name"]
            call["arguments"] += delta.get("function", {}).get("arguments") or ""
    assert [(c["id"], c["name"], orjson.loads(c["arguments"])) for c in calls.values()] == [
        ("toolu_fake_0_get_weather", "get_weather", {"city": "Paris"}),
        ("toolu_fake_1_get_time", "get_time", {"tz": "tz-value"}),
    ]
    tool_chunks = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls")]
    assert len(tool_chunks) > 4  # arguments arrived in several fragments
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize("stream", [False, True])
async def test_json_schema_answers_as_content(
    fake: AnthropicFake, provider: AnthropicProvider, stream: bool
) -> None:
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
    request = chat(
        "hi",
        stream=stream,
        response_format={"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}},
    )
    if stream:
        chunks = await collect(provider, request)
        content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1]
    else:
        choice = (await provider.chat(request, DEPLOYMENT))["choices"][0]
        content, finish = choice["message"]["content"], choice["finish_reason"]
        assert "tool_calls" not in choice["message"]
    assert orjson.loads(content) == {"echo": "echo-value"}
    assert finish == "stop"
    assert fake.requests[-1].json["tool_choice"] == {"type": "tool", "name": "reply"}


async def test_n_one_is_fine_but_n_two_is_refused(provider: AnthropicProvider) -> None:
    await provider.chat(chat(n=1, logprobs=False), DEPLOYMENT)
    for extra in ({"n": 2}, {"logprobs": True}, {"logit_bias": {"1": 5}}):
        with pytest.raises(InvalidRequest) as caught:
            await provider.chat(chat(**extra), DEPLOYMENT)
        assert caught.value.param == next(iter(extra))
        with pytest.raises(InvalidRequest):
            await collect(provider, chat(stream=True, **extra))


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("status", "client_status", "retryable", "kind"),
    [
        (429, 429, True, "rate_limit_error"),
        (529, 503, True, "overloaded_error"),
        (503, 503, True, "overloaded_error"),
        (500, 502, True, "api_error"),
        (400, 400, False, "invalid_request_error"),
        (401, 502, False, "api_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_status_errors_map_to_provider_error(
    fake: AnthropicFake,
    provider: AnthropicProvider,
    status: int,
    client_status: int,
    retryable: bool,
    kind: str,
    stream: bool,
) -> None:
    fake.inject(Fault(status=status, retry_after=2, message=f"upstream said no to key {API_KEY}"))
    with pytest.raises(ProviderError) as caught:
        if stream:
            iterator = provider.chat_stream(chat(stream=True), DEPLOYMENT)
            await iterator.__anext__()  # the status is checked before the first chunk
        else:
            await provider.chat(chat(), DEPLOYMENT)
    error = caught.value
    assert (error.status, error.retryable, error.kind, error.upstream_status) == (
        client_status,
        retryable,
        kind,
        status,
    )
    assert error.provider == "claude"
    assert API_KEY not in str(error) and API_KEY not in error.message
    if status == 429:
        assert error.retry_after_seconds == 2


async def test_drop_is_retryable(fake: AnthropicFake, provider: AnthropicProvider) -> None:
    fake.inject(Fault(kind="drop"))
    with pytest.raises(ProviderError) as caught:
        await provider.chat(chat(), DEPLOYMENT)
    assert caught.value.retryable and caught.value.status == 502


async def test_stall_past_read_timeout_is_a_timeout(fake: AnthropicFake, provider: AnthropicProvider) -> None:
    fake.inject(Fault(kind="stall", delay_seconds=3.0))
    with pytest.raises(ProviderError) as caught:
        await provider.chat(chat(), DEPLOYMENT)
    assert (caught.value.status, caught.value.retryable) == (504, True)


async def test_midstream_error_after_chunks(fake: AnthropicFake, provider: AnthropicProvider) -> None:
    fake.inject(Fault(kind="midstream", after_chunks=3, message=f"Overloaded ({API_KEY})"))
    received = []
    with pytest.raises(ProviderError) as caught:
        async for chunk in provider.chat_stream(chat("a b c d e f", stream=True), DEPLOYMENT):
            received.append(chunk)
    assert received, "the error must come after the first chunks"
    assert (caught.value.status, caught.value.retryable, caught.value.kind) == (503, True, "overloaded_error")
    assert API_KEY not in caught.value.message


async def test_midstream_disconnect_is_truncation(fake: AnthropicFake, provider: AnthropicProvider) -> None:
    fake.inject(Fault(kind="midstream", status=0, after_chunks=2))
    with pytest.raises(ProviderError) as caught:
        await collect(provider, chat("a b c d e f", stream=True))
    assert caught.value.retryable


# ------------------------------------------------------------------ end to end: SDK -> translation -> fake


@pytest.fixture
async def gateway(provider: AnthropicProvider) -> AsyncIterator[str]:
    """A minimal stand-in for Bastion's /v1/messages route, built only from the translation pieces."""

    async def messages(request: web.Request) -> web.StreamResponse:
        try:
            chat_request = messages_request_to_chat(await request.json())
        except GatewayError as error:
            return web.json_response(
                {"type": "error", "error": {"type": error.kind, "message": error.message}}, status=400
            )
        if not chat_request.stream:
            return web.json_response(chat_response_to_message(await provider.chat(chat_request, DEPLOYMENT)))
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        encoder = MessageStreamEncoder(chat_request.model)
        try:
            async for chunk in provider.chat_stream(chat_request, DEPLOYMENT):
                await response.write(encoder.feed(chunk))
            await response.write(encoder.finish())
        except ProviderError as error:
            await response.write(encoder.error(error))
        return response

    app = web.Application()
    app.add_routes([web.post("/v1/messages", messages)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _blocks(message: Any) -> list[dict[str, Any]]:
    return [block.model_dump(exclude_none=True, exclude={"parsed_output"}) for block in message.content]


@pytest.mark.parametrize("with_tools", [False, True])
async def test_sdk_through_translation_rebuilds_the_upstream_message(
    fake: AnthropicFake, gateway: str, with_tools: bool
) -> None:
    tools = [
        {
            "name": "get_weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {"name": "get_time", "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}}},
    ]
    kwargs: dict[str, Any] = {
        "max_tokens": 50,
        "system": "cache this system prompt",
        "messages": [{"role": "user", "content": "one two three"}],
    }
    if with_tools:
        kwargs["tools"] = tools
    async with (
        anthropic.AsyncAnthropic(base_url=fake.url, api_key=API_KEY, max_retries=0) as direct,
        anthropic.AsyncAnthropic(base_url=gateway, api_key="client-key", max_retries=0) as via_gateway,
    ):
        expected = await direct.messages.create(model="claude-upstream-1", **kwargs)
        async with via_gateway.messages.stream(model="public", **kwargs) as stream:
            streamed = await stream.get_final_message()
        created = await via_gateway.messages.create(model="public", **kwargs)
    for message in (streamed, created):
        assert _blocks(message) == _blocks(expected)
        assert message.stop_reason == expected.stop_reason
        assert message.usage.input_tokens == expected.usage.input_tokens
        assert message.usage.output_tokens == expected.usage.output_tokens
        assert message.usage.cache_read_input_tokens == expected.usage.cache_read_input_tokens > 0
    assert streamed.model == "public"


async def test_sdk_sees_midstream_failure_as_error_event(fake: AnthropicFake, gateway: str) -> None:
    fake.inject(Fault(kind="midstream", after_chunks=3))
    async with anthropic.AsyncAnthropic(base_url=gateway, api_key="client-key", max_retries=0) as client:
        with pytest.raises(anthropic.APIStatusError) as caught:
            async with client.messages.stream(
                model="public", max_tokens=50, messages=[{"role": "user", "content": "a b c d"}]
            ) as stream:
                await stream.get_final_message()
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
