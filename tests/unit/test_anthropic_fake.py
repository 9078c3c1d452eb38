"""The Anthropic fake, checked with the official SDK: if the SDK accepts it, so will Bastion's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest

from bastion.wire.sse import SseDecoder
from tests.fakes.anthropic_fake import AnthropicFake
from tests.fakes.base import Fault

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather by city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME_TOOL = {
    "name": "get_time",
    "input_schema": {
        "type": "object",
        "properties": {"tz": {"type": "string"}, "hours": {"type": "integer"}},
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[AnthropicFake]:
    fake = AnthropicFake()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server: AnthropicFake) -> AnthropicFake:
    server.clear()
    return server


@pytest.fixture
async def client(fake: AnthropicFake) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=fake.url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def raw_post(fake: AnthropicFake, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.url}/v1/messages", data=orjson.dumps(body), headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_create_echoes_with_real_headers(fake: AnthropicFake, client: anthropic.AsyncAnthropic) -> None:
    raw = await client.messages.with_raw_response.create(
        model="claude-x", max_tokens=50, messages=user("hello there")
    )
    message = await raw.parse()
    assert [block.model_dump(exclude_none=True) for block in message.content] == [
        {"type": "text", "text": "Echo: hello there"}
    ]
    assert message.stop_reason == "end_turn"
    assert message.id.startswith("msg_")
    assert message.usage.output_tokens == 3
    assert raw.headers["request-id"].startswith("req_")
    assert int(raw.headers["anthropic-ratelimit-requests-remaining"]) > 0
    recorded = fake.requests[-1]
    assert recorded.path == "/v1/messages"
    assert recorded.headers["anthropic-version"]
    assert recorded.json["messages"] == user("hello there")


async def test_stream_rebuilds_the_same_message(client: anthropic.AsyncAnthropic) -> None:
    created = await client.messages.create(model="claude-x", max_tokens=50, messages=user("one two three"))
    async with client.messages.stream(
        model="claude-x", max_tokens=50, messages=user("one two three")
    ) as stream:
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert len(texts) == 4  # a delta per word
    assert [b.model_dump(exclude_none=True) for b in final.content] == [
        b.model_dump(exclude_none=True) for b in created.content
    ]
    assert final.stop_reason == created.stop_reason == "end_turn"
    assert final.usage.output_tokens == created.usage.output_tokens


async def test_stream_event_sequence_is_the_real_one(fake: AnthropicFake) -> None:
    body = {
        "model": "claude-x",
        "max_tokens": 50,
        "stream": True,
        "messages": user("weather?"),
        "tools": [WEATHER_TOOL],
    }
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.url}/v1/messages", json=body, headers=headers) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        events = SseDecoder().feed(await response.read())
    names = [event.event for event in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * (len(names) - 6),
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    fragments = [
        orjson.loads(e.data)["delta"]["partial_json"] for e in events if e.event == "content_block_delta"
    ]
    assert fragments[0] == "" and len(fragments) >= 3
    assert orjson.loads("".join(fragments)) == {"city": "Paris"}
    delta = orjson.loads(events[-2].data)
    assert delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert set(delta["usage"]) >= {"input_tokens", "output_tokens", "cache_read_input_tokens"}


async def test_tools_then_tool_result(client: anthropic.AsyncAnthropic) -> None:
    first = await client.messages.create(
        model="claude-x", max_tokens=100, messages=user("weather in Paris?"), tools=[WEATHER_TOOL, TIME_TOOL]
    )
    assert first.stop_reason == "tool_use"
    calls = [block for block in first.content if block.type == "tool_use"]
    assert [(c.name, c.input) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"tz": "tz-value", "hours": 1}),
    ]
    follow_up = [
        *user("weather in Paris?"),
        {"role": "assistant", "content": [c.model_dump(exclude_none=True) for c in calls]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": calls[0].id, "content": "sunny"},
                {
                    "type": "tool_result",
                    "tool_use_id": calls[1].id,
                    "content": [{"type": "text", "text": "noon"}],
                },
            ],
        },
    ]
    second = await client.messages.create(
        model="claude-x", max_tokens=100, messages=follow_up, tools=[WEATHER_TOOL]
    )
    assert second.content[0].type == "text" and second.content[0].text == "Tool said: noon"


async def test_streamed_tools_and_tool_choice(client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(
        model="claude-x",
        max_tokens=100,
        messages=user("time?"),
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "tool", "name": "get_time", "disable_parallel_tool_use": True},
    ) as stream:
        final = await stream.get_final_message()
    assert [(b.type, getattr(b, "name", None), getattr(b, "input", None)) for b in final.content] == [
        ("tool_use", "get_time", {"tz": "tz-value", "hours": 1})
    ]
    none = await client.messages.create(
        model="claude-x",
        max_tokens=100,
        messages=user("hi"),
        tools=[WEATHER_TOOL],
        tool_choice={"type": "none"},
    )
    assert none.stop_reason == "end_turn"


async def test_stop_sequences_and_max_tokens(client: anthropic.AsyncAnthropic) -> None:
    cut = await client.messages.create(
        model="claude-x", max_tokens=50, messages=user("alpha STOP beta"), stop_sequences=["STOP"]
    )
    assert cut.content[0].text == "Echo: alpha "
    assert (cut.stop_reason, cut.stop_sequence) == ("stop_sequence", "STOP")
    short = await client.messages.create(model="claude-x", max_tokens=2, messages=user("a b c d"))
    assert short.content[0].text == "Echo: a"
    assert short.stop_reason == "max_tokens"


async def test_cache_usage_follows_system_prompt(client: anthropic.AsyncAnthropic) -> None:
    read = await client.messages.create(
        model="claude-x", max_tokens=50, system="please cache this prompt", messages=user("hi")
    )
    assert read.usage.cache_read_input_tokens == 4
    assert read.usage.cache_creation_input_tokens == 0
    write = await client.messages.create(
        model="claude-x",
        max_tokens=50,
        system=[{"type": "text", "text": "cache-write me"}],
        messages=user("hi"),
    )
    assert write.usage.cache_creation_input_tokens == 2
    plain = await client.messages.create(model="claude-x", max_tokens=50, system="plain", messages=user("hi"))
    assert plain.usage.cache_read_input_tokens == 0


@pytest.mark.parametrize(
    ("status", "exception", "error_type"),
    [
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (503, anthropic.InternalServerError, "api_error"),
    ],
)
async def test_status_faults_raise_sdk_exceptions(
    fake: AnthropicFake,
    client: anthropic.AsyncAnthropic,
    status: int,
    exception: type[Exception],
    error_type: str,
) -> None:
    fake.inject(Fault(status=status, retry_after=3))
    with pytest.raises(exception) as caught:
        await client.messages.create(model="claude-x", max_tokens=5, messages=user("hi"))
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    assert caught.value.body["error"]["type"] == error_type  # type: ignore[attr-defined]
    assert caught.value.response.headers["retry-after"] == "3"  # type: ignore[attr-defined]
    # the fault was consumed: the next call succeeds
    assert (await client.messages.create(model="claude-x", max_tokens=5, messages=user("hi"))).content


async def test_fault_in_model_name_never_runs_out(client: anthropic.AsyncAnthropic) -> None:
    for _ in range(2):
        with pytest.raises(anthropic.OverloadedError):
            await client.messages.create(model="claude-fault-529", max_tokens=5, messages=user("hi"))


async def test_midstream_error_raises(fake: AnthropicFake, client: anthropic.AsyncAnthropic) -> None:
    fake.inject(Fault(kind="midstream", after_chunks=3))
    seen = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with client.messages.stream(
            model="claude-x", max_tokens=50, messages=user("a b c d e")
        ) as stream:
            async for event in stream:
                seen.append(event.type)
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert seen[0] == "message_start" and "message_stop" not in seen


async def test_drop_raises_connection_error(fake: AnthropicFake, client: anthropic.AsyncAnthropic) -> None:
    fake.inject(Fault(kind="drop"))
    with pytest.raises(anthropic.APIConnectionError):
        await client.messages.create(model="claude-x", max_tokens=5, messages=user("hi"))


async def test_stall_delays_answer(fake: AnthropicFake) -> None:
    fake.inject(Fault(kind="stall", delay_seconds=0.5))
    async with anthropic.AsyncAnthropic(base_url=fake.url, api_key="k", max_retries=0, timeout=0.2) as slow:
        with pytest.raises(anthropic.APITimeoutError):
            await slow.messages.create(model="claude-x", max_tokens=5, messages=user("hi"))


async def test_missing_key_and_version_are_refused(fake: AnthropicFake) -> None:
    body = {"model": "claude-x", "max_tokens": 5, "messages": user("hi")}
    status, error = await raw_post(fake, body, {"anthropic-version": "2023-06-01"})
    assert status == 401
    assert error["type"] == "error" and error["error"]["type"] == "authentication_error"
    assert error["request_id"].startswith("req_")
    status, error = await raw_post(fake, body, {"x-api-key": "k"})
    assert status == 400 and error["error"]["type"] == "invalid_request_error"
    assert "anthropic-version" in error["error"]["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, "model: Field required"),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens: Field required"),
        ({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "hi"}]}, "max_tokens:"),
        ({"model": "m", "max_tokens": 5}, "messages: Field required"),
        ({"model": "m", "max_tokens": 5, "messages": []}, "messages:"),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "hi"}]},
            "messages.0.role:",
        ),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "user"}]}, "messages.0.content:"),
    ],
)
async def test_malformed_bodies_get_invalid_request_error(
    fake: AnthropicFake, body: dict[str, Any], message: str
) -> None:
    status, error = await raw_post(fake, body, {"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert status == 400
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith(message)
