"""OpenAIProvider against the OpenAI fake: what it sends, what it returns, how it fails."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bastion.config import OpenAIProviderConfig
from bastion.errors import ProviderError
from bastion.providers.base import ChatRequest, Deployment, EmbeddingsRequest, Json
from bastion.providers.openai import DEFAULT_AZURE_API_VERSION, OpenAIProvider
from tests.fakes.base import Fault
from tests.fakes.openai_fake import OpenAIFake

KEY = "sk-bastion-secret-key-0123456789"
HELLO = [{"role": "user", "content": "hello there world"}]
DEPLOYMENT = Deployment(provider="upstream", model="gpt-4o-mini")
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def fake() -> Iterator[OpenAIFake]:
    server = OpenAIFake().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh(fake: OpenAIFake) -> None:
    fake.clear()


async def started(**settings: Any) -> OpenAIProvider:
    provider = OpenAIProvider("upstream", OpenAIProviderConfig(type="openai", **settings))
    await provider.start()
    return provider


@pytest.fixture
async def provider(fake: OpenAIFake) -> AsyncIterator[OpenAIProvider]:
    adapter = await started(base_url=fake.url + "/v1", api_key=KEY)
    yield adapter
    await adapter.close()


@pytest.fixture
async def azure(fake: OpenAIFake) -> AsyncIterator[OpenAIProvider]:
    adapter = await started(
        preset="azure", base_url=fake.url + "/openai", api_key=KEY, api_version="2024-06-01"
    )
    yield adapter
    await adapter.close()


def chat_request(stream: bool = False, **fields: Any) -> ChatRequest:
    body: Json = {"model": "public-name", "messages": HELLO, **fields}
    if stream:
        body["stream"] = True
    return ChatRequest(body=body, model="public-name", stream=stream)


async def collect(
    provider: OpenAIProvider, request: ChatRequest, deployment: Deployment = DEPLOYMENT
) -> list[Json]:
    return [chunk async for chunk in provider.chat_stream(request, deployment)]


# ---------------------------------------------------------------------- the happy path


async def test_chat_sends_deployment_model_and_bearer_key(provider: OpenAIProvider, fake: OpenAIFake) -> None:
    completion = await provider.chat(chat_request(), DEPLOYMENT)
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["content"] == "Echo: hello there world"
    assert completion["usage"]["completion_tokens"] == 4
    (recorded,) = fake.requests
    assert recorded.path == "/v1/chat/completions"
    assert recorded.headers["authorization"] == f"Bearer {KEY}"
    assert recorded.headers["content-type"] == "application/json"
    assert recorded.json["model"] == "gpt-4o-mini"
    assert recorded.json["messages"] == HELLO


async def test_chat_stream_asks_for_usage_and_ends_with_it(
    provider: OpenAIProvider, fake: OpenAIFake
) -> None:
    chunks = await collect(provider, chat_request(stream=True))
    assert fake.requests[0].json["stream_options"] == {"include_usage": True}
    assert fake.requests[0].headers["accept"] == "text/event-stream"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Echo: hello there world"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


async def test_client_stream_options_are_kept_and_usage_added(
    provider: OpenAIProvider, fake: OpenAIFake
) -> None:
    await collect(provider, chat_request(stream=True, stream_options={"include_obfuscation": False}))
    assert fake.requests[0].json["stream_options"] == {"include_obfuscation": False, "include_usage": True}


async def test_stream_usage_off_sends_client_options_untouched(fake: OpenAIFake) -> None:
    adapter = await started(base_url=fake.url + "/v1", api_key=KEY, stream_usage=False)
    try:
        chunks = await collect(adapter, chat_request(stream=True))
    finally:
        await adapter.close()
    assert "stream_options" not in fake.requests[0].json
    assert all(chunk["choices"] for chunk in chunks)


async def test_streamed_tool_calls_pass_through(provider: OpenAIProvider) -> None:
    chunks = await collect(provider, chat_request(stream=True, tools=[WEATHER_TOOL]))
    deltas = [d for c in chunks if c["choices"] for d in c["choices"][0]["delta"].get("tool_calls") or []]
    assert deltas[0]["id"] and deltas[0]["function"]["name"] == "get_weather"
    assert all(delta["index"] == 0 for delta in deltas)
    assert "".join(d["function"].get("arguments", "") for d in deltas) == '{"city":"Paris"}'


async def test_non_stream_request_drops_stream_options(provider: OpenAIProvider, fake: OpenAIFake) -> None:
    # OpenAI answers 400 to stream_options without stream; the adapter must not forward it
    completion = await provider.chat(chat_request(stream_options={"include_usage": True}), DEPLOYMENT)
    assert completion["choices"]
    assert "stream_options" not in fake.requests[0].json


async def test_deployment_params_are_defaults(provider: OpenAIProvider, fake: OpenAIFake) -> None:
    deployment = Deployment(provider="upstream", model="gpt-4o", params={"max_tokens": 2, "temperature": 0.1})
    completion = await provider.chat(chat_request(temperature=0.7), deployment)
    sent = fake.requests[0].json
    assert (sent["max_tokens"], sent["temperature"], sent["model"]) == (2, 0.7, "gpt-4o")
    assert completion["choices"][0]["finish_reason"] == "length"


async def test_metadata_reaches_upstream_only_with_store(provider: OpenAIProvider, fake: OpenAIFake) -> None:
    await provider.chat(chat_request(metadata={"team": "search"}), DEPLOYMENT)
    assert "metadata" not in fake.requests[-1].json
    await provider.chat(chat_request(metadata={"team": "search"}, store=True), DEPLOYMENT)
    assert fake.requests[-1].json["metadata"] == {"team": "search"}


async def test_embeddings(provider: OpenAIProvider, fake: OpenAIFake) -> None:
    request = EmbeddingsRequest(
        body={"model": "public-embed", "input": ["a b", "c"], "dimensions": 16}, model="public-embed"
    )
    answer = await provider.embeddings(
        request, Deployment(provider="upstream", model="text-embedding-3-small")
    )
    assert [len(item["embedding"]) for item in answer["data"]] == [16, 16]
    assert answer["usage"]["prompt_tokens"] == 3
    assert fake.requests[0].path == "/v1/embeddings"
    assert fake.requests[0].json["model"] == "text-embedding-3-small"


# ---------------------------------------------------------------------- Azure preset


async def test_azure_preset_url_header_and_api_version(azure: OpenAIProvider, fake: OpenAIFake) -> None:
    deployment = Deployment(provider="upstream", model="prod-gpt4o")
    completion = await azure.chat(chat_request(), deployment)
    assert completion["choices"][0]["message"]["content"] == "Echo: hello there world"
    recorded = fake.requests[0]
    assert recorded.path == "/openai/deployments/prod-gpt4o/chat/completions"
    assert recorded.query == {"api-version": "2024-06-01"}
    assert recorded.headers["api-key"] == KEY
    assert "authorization" not in recorded.headers


async def test_azure_stream_and_embeddings(azure: OpenAIProvider, fake: OpenAIFake) -> None:
    chunks = await collect(
        azure, chat_request(stream=True), Deployment(provider="upstream", model="prod-gpt4o")
    )
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4
    answer = await azure.embeddings(
        EmbeddingsRequest(body={"model": "e", "input": "x"}, model="e"),
        Deployment(provider="upstream", model="prod-embed"),
    )
    assert answer["data"][0]["object"] == "embedding"
    assert fake.requests[-1].path == "/openai/deployments/prod-embed/embeddings"
    assert fake.requests[-1].query == {"api-version": "2024-06-01"}


async def test_azure_default_api_version(fake: OpenAIFake) -> None:
    adapter = await started(preset="azure", base_url=fake.url + "/openai", api_key=KEY)
    try:
        await adapter.chat(chat_request(), Deployment(provider="upstream", model="d"))
    finally:
        await adapter.close()
    assert fake.requests[0].query["api-version"] == DEFAULT_AZURE_API_VERSION


def test_azure_preset_requires_base_url() -> None:
    with pytest.raises(ValueError, match="base_url"):
        OpenAIProvider("upstream", OpenAIProviderConfig(type="openai", preset="azure", api_key=KEY))


# ---------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("fault", "status", "retryable"),
    [
        (Fault(status=400), 400, False),
        (Fault(status=500), 502, True),
        (Fault(status=502), 502, True),
        (Fault(status=503), 503, True),
        (Fault(status=504), 504, True),
    ],
)
async def test_upstream_statuses_map_to_provider_errors(
    provider: OpenAIProvider, fake: OpenAIFake, fault: Fault, status: int, retryable: bool
) -> None:
    fake.inject(fault)
    with pytest.raises(ProviderError) as caught:
        await provider.chat(chat_request(), DEPLOYMENT)
    error = caught.value
    assert (error.status, error.retryable, error.upstream_status) == (status, retryable, fault.status)
    assert error.provider == "upstream"


async def test_rate_limit_carries_retry_after(provider: OpenAIProvider, fake: OpenAIFake) -> None:
    fake.inject(Fault(status=429, retry_after=3))
    with pytest.raises(ProviderError) as caught:
        await provider.chat(chat_request(), DEPLOYMENT)
    error = caught.value
    assert (error.status, error.retryable, error.retry_after_seconds) == (429, True, 3.0)
    assert error.kind == "rate_limit_error"
    assert "Rate limit reached" in error.message


async def test_unknown_model_is_404(provider: OpenAIProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.chat(chat_request(), Deployment(provider="upstream", model="nonexistent-4"))
    assert (caught.value.status, caught.value.retryable) == (404, False)


async def test_rejected_provider_key_is_a_gateway_502(fake: OpenAIFake) -> None:
    adapter = await started(base_url=fake.url + "/v1", api_key="bad-key")
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.chat(chat_request(), DEPLOYMENT)
    finally:
        await adapter.close()
    assert (caught.value.status, caught.value.retryable, caught.value.code) == (
        502,
        False,
        "upstream_auth_failed",
    )
    assert "bad-key" not in str(caught.value)


async def test_stream_failure_raises_before_the_first_chunk(
    provider: OpenAIProvider, fake: OpenAIFake
) -> None:
    fake.inject(Fault(status=503))
    iterator = provider.chat_stream(chat_request(stream=True), DEPLOYMENT)
    with pytest.raises(ProviderError) as caught:
        await anext(iterator)
    assert (caught.value.status, caught.value.retryable) == (503, True)


async def test_midstream_error_event(provider: OpenAIProvider, fake: OpenAIFake) -> None:
    fake.inject(Fault(kind="midstream", status=500, after_chunks=2))
    received: list[Json] = []
    with pytest.raises(ProviderError) as caught:
        async for chunk in provider.chat_stream(chat_request(stream=True), DEPLOYMENT):
            received.append(chunk)
    assert len(received) == 2
    assert caught.value.retryable and caught.value.code == "upstream_stream_error"


async def test_midstream_connection_close(provider: OpenAIProvider, fake: OpenAIFake) -> None:
    fake.inject(Fault(kind="midstream", status=0, after_chunks=2))
    received: list[Json] = []
    with pytest.raises(ProviderError) as caught:
        async for chunk in provider.chat_stream(chat_request(stream=True), DEPLOYMENT):
            received.append(chunk)
    assert len(received) == 2
    assert (caught.value.status, caught.value.retryable) == (502, True)


async def test_dropped_connection_is_retryable_502(provider: OpenAIProvider, fake: OpenAIFake) -> None:
    fake.inject(Fault(kind="drop"))
    with pytest.raises(ProviderError) as caught:
        await provider.chat(chat_request(), DEPLOYMENT)
    assert (caught.value.status, caught.value.retryable) == (502, True)


async def test_stalled_upstream_times_out(fake: OpenAIFake) -> None:
    adapter = await started(base_url=fake.url + "/v1", api_key=KEY, read_timeout=0.2)
    fake.inject(Fault(kind="stall", delay_seconds=1.0))
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.chat(chat_request(), DEPLOYMENT)
    finally:
        await adapter.close()
    assert (caught.value.status, caught.value.retryable, caught.value.kind) == (504, True, "timeout_error")


async def test_connect_error_is_retryable_502() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = await started(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, connect_timeout=2)
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.chat(chat_request(), DEPLOYMENT)
        with pytest.raises(ProviderError) as streamed:
            await anext(adapter.chat_stream(chat_request(stream=True), DEPLOYMENT))
    finally:
        await adapter.close()
    for error in (caught.value, streamed.value):
        assert (error.status, error.retryable, error.code) == (502, True, "upstream_unreachable")
        assert KEY not in str(error)


@pytest.mark.parametrize("status", [400, 429, 500])
async def test_echoed_key_never_reaches_the_error(
    provider: OpenAIProvider, fake: OpenAIFake, status: int
) -> None:
    fake.inject(Fault(status=status, message=f"Incorrect value near '{KEY}' in your request"))
    with pytest.raises(ProviderError) as caught:
        await provider.chat(chat_request(), DEPLOYMENT)
    assert KEY not in str(caught.value) and KEY not in caught.value.message
    assert "***" in caught.value.message


async def test_echoed_key_in_a_stream_error_is_scrubbed(provider: OpenAIProvider, fake: OpenAIFake) -> None:
    fake.inject(Fault(kind="midstream", status=500, after_chunks=1, message=f"key {KEY} over quota"))
    with pytest.raises(ProviderError) as caught:
        await collect(provider, chat_request(stream=True))
    assert KEY not in str(caught.value)


def test_chat_before_start_is_a_clear_error(fake: OpenAIFake) -> None:
    adapter = OpenAIProvider("upstream", OpenAIProviderConfig(type="openai", base_url=fake.url, api_key=KEY))
    with pytest.raises(RuntimeError, match="before start"):
        _ = adapter._session
