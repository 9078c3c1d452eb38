"""The simulator provider, with an injected clock, sleep and random source: no test sleeps for real."""

from __future__ import annotations

import base64
import json
import math
import random
import struct
from typing import Any

import pytest

from bastion.config import SimulatorProviderConfig
from bastion.errors import InvalidRequest, ProviderError
from bastion.providers._synthetic import estimate_tokens
from bastion.providers.base import ChatRequest, Deployment, EmbeddingsRequest, Json
from bastion.providers.simulator import SimulatorProvider

DEPLOYMENT = Deployment(provider="sim", model="sim-large")
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "note": {"type": "string"},
            },
            "required": ["city", "days"],
        },
    },
}


class FakeTime:
    """A clock that only moves when the provider sleeps (or the test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FixedRandom(random.Random):
    """``random()`` returns queued values, so error-rate draws are chosen by the test."""

    def __init__(self, values: list[float]) -> None:
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


def simulator(
    time: FakeTime | None = None, rng: random.Random | None = None, **settings: Any
) -> SimulatorProvider:
    time = time or FakeTime()
    config = SimulatorProviderConfig(type="simulator", **settings)
    return SimulatorProvider("sim", config, clock=time.clock, sleep=time.sleep, rng=rng)


def chat_request(text: str = "tell me about rivers", stream: bool = False, **fields: Any) -> ChatRequest:
    body: Json = {"model": "public", "messages": [{"role": "user", "content": text}], **fields}
    return ChatRequest(body=body, model="public", stream=stream)


async def collect(
    provider: SimulatorProvider, request: ChatRequest, deployment: Deployment = DEPLOYMENT
) -> list[Json]:
    return [chunk async for chunk in provider.chat_stream(request, deployment)]


def streamed_text(chunks: list[Json]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


# ---------------------------------------------------------------------- text


async def test_reply_is_deterministic_per_prompt_and_seed() -> None:
    first = await simulator().chat(chat_request("alpha"), DEPLOYMENT)
    again = await simulator().chat(chat_request("alpha"), DEPLOYMENT)
    other_prompt = await simulator().chat(chat_request("beta"), DEPLOYMENT)
    other_seed = await simulator(seed=7).chat(chat_request("alpha"), DEPLOYMENT)
    text = first["choices"][0]["message"]["content"]
    assert text == again["choices"][0]["message"]["content"]
    assert text != other_prompt["choices"][0]["message"]["content"]
    assert text != other_seed["choices"][0]["message"]["content"]
    assert 1 <= len(text.split()) <= 48 and text.endswith(".")
    assert first["model"] == "sim-large" and first["object"] == "chat.completion"
    assert first["choices"][0]["finish_reason"] == "stop"


async def test_fixed_reply_and_max_reply_tokens() -> None:
    fixed = await simulator(reply="All systems nominal.").chat(chat_request(), DEPLOYMENT)
    assert fixed["choices"][0]["message"]["content"] == "All systems nominal."
    short = await simulator(max_reply_tokens=5).chat(chat_request(), DEPLOYMENT)
    assert len(short["choices"][0]["message"]["content"].split()) == 5


async def test_usage_counts_prompt_and_generated_words() -> None:
    request = ChatRequest(
        body={
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "one two three four"}]},
            ]
        },
        model="public",
        stream=False,
    )
    completion = await simulator(reply="a b c").chat(request, DEPLOYMENT)
    assert completion["usage"] == {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11}
    assert estimate_tokens("one two three") == 4


async def test_max_tokens_and_stop() -> None:
    provider = simulator(reply="one two three four five")
    cut = await provider.chat(chat_request(max_completion_tokens=2), DEPLOYMENT)
    assert cut["choices"][0]["message"]["content"] == "one two"
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 2
    legacy = await provider.chat(chat_request(max_tokens=3), DEPLOYMENT)
    assert legacy["choices"][0]["message"]["content"] == "one two three"
    stopped = await provider.chat(chat_request(stop=[" four", "xyz"]), DEPLOYMENT)
    assert stopped["choices"][0]["message"]["content"] == "one two three"
    assert stopped["choices"][0]["finish_reason"] == "stop"
    params = Deployment(provider="sim", model="m", params={"max_tokens": 1})
    defaulted = await provider.chat(chat_request(), params)
    assert defaulted["choices"][0]["message"]["content"] == "one"


# ---------------------------------------------------------------------- timing


async def test_stream_sleeps_ttft_then_one_token_interval_per_word() -> None:
    time = FakeTime()
    provider = simulator(time, reply="a b c d", ttft_ms=250, tokens_per_second=20)
    chunks = await collect(provider, chat_request(stream=True))
    assert time.sleeps == [0.25, 0.05, 0.05, 0.05, 0.05]
    assert streamed_text(chunks) == "a b c d"


async def test_non_stream_sleeps_once_for_the_whole_answer() -> None:
    time = FakeTime()
    await simulator(time, reply="a b c d", ttft_ms=100, tokens_per_second=10).chat(chat_request(), DEPLOYMENT)
    assert time.sleeps == [pytest.approx(0.5)]


async def test_zero_latency_never_sleeps() -> None:
    time = FakeTime()
    provider = simulator(time)
    await provider.chat(chat_request(), DEPLOYMENT)
    await collect(provider, chat_request(stream=True))
    assert time.sleeps == []


# ---------------------------------------------------------------------- failures


async def test_error_rate_raises_mapped_provider_error() -> None:
    provider = simulator(rng=FixedRandom([0.1, 0.9]), error_rate=0.5, error_status=429)
    with pytest.raises(ProviderError) as caught:
        await provider.chat(chat_request(), DEPLOYMENT)
    assert (caught.value.status, caught.value.retryable, caught.value.upstream_status) == (429, True, 429)
    assert caught.value.provider == "sim"
    assert (await provider.chat(chat_request(), DEPLOYMENT))["choices"]


async def test_error_status_mapping_is_the_real_providers() -> None:
    provider = simulator(rng=FixedRandom([0.0]), error_rate=1.0, error_status=500)
    with pytest.raises(ProviderError) as caught:
        await provider.chat(chat_request(), DEPLOYMENT)
    assert (caught.value.status, caught.value.retryable) == (502, True)
    not_retryable = simulator(rng=FixedRandom([0.0]), error_rate=1.0, error_status=400)
    with pytest.raises(ProviderError) as refused:
        await not_retryable.chat(chat_request(), DEPLOYMENT)
    assert (refused.value.status, refused.value.retryable) == (400, False)


async def test_stream_failure_raises_before_the_first_chunk() -> None:
    time = FakeTime()
    provider = simulator(time, rng=FixedRandom([0.0]), error_rate=1.0, error_status=503, ttft_ms=500)
    iterator = provider.chat_stream(chat_request(stream=True), DEPLOYMENT)
    with pytest.raises(ProviderError) as caught:
        await anext(iterator)
    assert caught.value.status == 503
    assert time.sleeps == []  # failed fast, like a real upstream's error status


async def test_outage_window_relative_to_start() -> None:
    time = FakeTime()
    provider = simulator(time, outages=[{"start_seconds": 10, "duration_seconds": 5, "status": 503}])
    await provider.start()
    time.now += 9.9
    await provider.chat(chat_request(), DEPLOYMENT)
    time.now += 0.2  # 10.1 s after start
    with pytest.raises(ProviderError) as caught:
        await provider.chat(chat_request(), DEPLOYMENT)
    assert (caught.value.status, caught.value.retryable) == (503, True)
    assert caught.value.retry_after_seconds == pytest.approx(4.9)
    with pytest.raises(ProviderError):
        await anext(provider.chat_stream(chat_request(stream=True), DEPLOYMENT))
    time.now += 5
    await provider.chat(chat_request(), DEPLOYMENT)


async def test_outages_repeat_with_a_period() -> None:
    time = FakeTime()
    provider = simulator(
        time, outages=[{"start_seconds": 0, "duration_seconds": 2, "status": 500}], outage_period_seconds=10
    )
    await provider.start()
    outcomes = []
    for offset in (0.5, 3.0, 10.5, 13.0, 21.9):
        time.now = 1000.0 + offset
        try:
            await provider.chat(chat_request(), DEPLOYMENT)
            outcomes.append("ok")
        except ProviderError as error:
            outcomes.append(error.upstream_status)
    assert outcomes == [500, "ok", 500, "ok", 500]


# ---------------------------------------------------------------------- tools and JSON


async def test_tools_become_a_tool_call() -> None:
    completion = await simulator().chat(chat_request(tools=[WEATHER_TOOL]), DEPLOYMENT)
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    arguments = json.loads(call["function"]["arguments"])
    assert set(arguments) == {"city", "days"}
    assert isinstance(arguments["city"], str) and isinstance(arguments["days"], int)


async def test_tool_choice_none_and_tool_results_give_text() -> None:
    provider = simulator()
    declined = await provider.chat(chat_request(tools=[WEATHER_TOOL], tool_choice="none"), DEPLOYMENT)
    assert declined["choices"][0]["message"]["content"]
    body: Json = {
        "messages": [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
        "tools": [WEATHER_TOOL],
    }
    answered = await provider.chat(ChatRequest(body=body, model="p", stream=False), DEPLOYMENT)
    assert answered["choices"][0]["finish_reason"] == "stop"
    assert answered["choices"][0]["message"]["content"]


async def test_streamed_tool_call_deltas() -> None:
    chunks = await collect(simulator(), chat_request(stream=True, tools=[WEATHER_TOOL]))
    deltas = [d for c in chunks if c["choices"] for d in c["choices"][0]["delta"].get("tool_calls") or []]
    first, rest = deltas[0], deltas[1:]
    assert first["index"] == 0 and first["id"].startswith("call_") and first["type"] == "function"
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    assert len(rest) > 1 and all(set(d) == {"index", "function"} for d in rest)
    arguments = json.loads("".join(d["function"]["arguments"] for d in rest))
    assert set(arguments) == {"city", "days"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


async def test_json_schema_output_has_required_keys() -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "score": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "meta": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]},
            "optional": {"type": "string"},
        },
        "required": ["title", "score", "tags", "meta"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    completion = await simulator().chat(chat_request(response_format=fmt, max_tokens=1), DEPLOYMENT)
    data = json.loads(completion["choices"][0]["message"]["content"])
    assert set(data) == {"title", "score", "tags", "meta"}
    assert isinstance(data["title"], str) and isinstance(data["score"], float)
    assert isinstance(data["tags"], list) and data["meta"] == {"ok": True}
    plain = await simulator().chat(chat_request(response_format={"type": "json_object"}), DEPLOYMENT)
    assert isinstance(json.loads(plain["choices"][0]["message"]["content"]), dict)


# ---------------------------------------------------------------------- streams


async def test_stream_chunks_are_openai_chunks_with_usage_last() -> None:
    provider = simulator()
    chunks = await collect(provider, chat_request(stream=True))
    completion = await provider.chat(chat_request(), DEPLOYMENT)
    assert streamed_text(chunks) == completion["choices"][0]["message"]["content"]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    for chunk in chunks[:-1]:
        assert set(chunk) == {"id", "object", "created", "model", "choices"}
        assert chunk["object"] == "chat.completion.chunk" and chunk["model"] == "sim-large"
        (choice,) = chunk["choices"]
        assert set(choice) == {"index", "delta", "finish_reason", "logprobs"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == completion["usage"]


# ---------------------------------------------------------------------- embeddings


def embeddings_request(**body: Any) -> EmbeddingsRequest:
    return EmbeddingsRequest(body={"model": "e", **body}, model="e")


async def test_embeddings_are_deterministic_unit_vectors() -> None:
    provider = simulator(embedding_dimensions=32)
    answer = await provider.embeddings(embeddings_request(input=["alpha", "beta"]), DEPLOYMENT)
    vectors = [item["embedding"] for item in answer["data"]]
    assert [len(v) for v in vectors] == [32, 32]
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-9) for v in vectors)
    assert vectors[0] != vectors[1]
    again = await simulator(embedding_dimensions=32).embeddings(embeddings_request(input="alpha"), DEPLOYMENT)
    assert again["data"][0]["embedding"] == vectors[0]
    assert answer["object"] == "list" and answer["model"] == "sim-large"
    assert answer["usage"]["prompt_tokens"] == answer["usage"]["total_tokens"] > 0


async def test_embeddings_dimensions_base64_and_tokens() -> None:
    provider = simulator()
    answer = await provider.embeddings(embeddings_request(input="alpha", dimensions=8), DEPLOYMENT)
    assert len(answer["data"][0]["embedding"]) == 8
    encoded = await provider.embeddings(
        embeddings_request(input="alpha", dimensions=8, encoding_format="base64"), DEPLOYMENT
    )
    raw = base64.b64decode(encoded["data"][0]["embedding"])
    decoded = struct.unpack("<8f", raw)
    assert decoded == pytest.approx(answer["data"][0]["embedding"], rel=1e-6)
    tokens = await provider.embeddings(embeddings_request(input=[1, 2, 3]), DEPLOYMENT)
    assert len(tokens["data"]) == 1 and tokens["usage"]["prompt_tokens"] == 3
    with pytest.raises(InvalidRequest):
        await provider.embeddings(embeddings_request(input=""), DEPLOYMENT)


async def test_embeddings_fail_during_outage() -> None:
    time = FakeTime()
    provider = simulator(time, outages=[{"start_seconds": 0, "duration_seconds": 1, "status": 429}])
    await provider.start()
    with pytest.raises(ProviderError) as caught:
        await provider.embeddings(embeddings_request(input="x"), DEPLOYMENT)
    assert caught.value.status == 429
