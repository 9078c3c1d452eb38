"""Every provider × ingress × stream/non-stream × tools, through the real server and the official SDKs.

The fakes answer deterministically ("Echo: <last user text>"; a tool call to the first
offered tools with city="Paris"; "Tool said: <result>" after a tool result), so each
combination can assert the exact content the client sees.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

PROVIDER_MODELS = {
    "openai": "gpt-fake",
    "azure": "azure-fake",
    "anthropic": "claude-fake",
    "gemini": "gemini-fake",
    "simulator": "sim",
}
ECHOING = {"openai", "azure", "anthropic", "gemini"}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ANTHROPIC_WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": WEATHER_TOOL["function"]["parameters"],
}
ANTHROPIC_TIME = {
    "name": "get_time",
    "description": "Local time in a city",
    "input_schema": TIME_TOOL["function"]["parameters"],
}

# ------------------------------------------------------------------ OpenAI SDK ingress


def openai_collect(stream: Any) -> tuple[str, dict[int, dict[str, Any]], str | None, Any]:
    """Reassemble a chat stream the way an app would: text, tool calls by index, finish reason, usage."""
    text, calls, finish, usage = "", {}, None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                text += delta.content
            for call in delta.tool_calls or []:
                slot = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
                if call.id:
                    slot["id"] = call.id
                if call.function and call.function.name:
                    slot["name"] = call.function.name
                if call.function and call.function.arguments:
                    slot["arguments"] += call.function.arguments
            if choice.finish_reason:
                finish = choice.finish_reason
    return text, calls, finish, usage


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_openai_sdk_text(oai: openai.OpenAI, provider: str, stream: bool) -> None:
    model = PROVIDER_MODELS[provider]
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    if stream:
        text, calls, finish, usage = openai_collect(
            oai.chat.completions.create(
                model=model, messages=messages, stream=True, stream_options={"include_usage": True}
            )
        )
    else:
        response = oai.chat.completions.create(model=model, messages=messages)
        text, calls, finish, usage = (
            response.choices[0].message.content,
            {},
            response.choices[0].finish_reason,
            response.usage,
        )
    assert not calls
    assert finish == "stop"
    if provider in ECHOING:
        assert text == "Echo: What is the capital of France?"
    else:
        assert text
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_openai_sdk_tools_round_trip(oai: openai.OpenAI, provider: str, stream: bool) -> None:
    model = PROVIDER_MODELS[provider]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time in Paris?"}]
    tools = [WEATHER_TOOL, TIME_TOOL]
    if stream:
        _, calls, finish, _ = openai_collect(
            oai.chat.completions.create(model=model, messages=messages, tools=tools, stream=True)
        )
        tool_calls = [calls[i] for i in sorted(calls)]
    else:
        response = oai.chat.completions.create(model=model, messages=messages, tools=tools)
        finish = response.choices[0].finish_reason
        tool_calls = [
            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
            for c in response.choices[0].message.tool_calls or []
        ]
    assert finish == "tool_calls"
    assert tool_calls and tool_calls[0]["name"] == "get_weather"
    assert all(call["id"] for call in tool_calls)
    assert len({call["id"] for call in tool_calls}) == len(tool_calls)
    arguments = json.loads(tool_calls[0]["arguments"])
    assert "city" in arguments
    if provider in ECHOING:
        assert [c["name"] for c in tool_calls] == ["get_weather", "get_time"]  # parallel calls survive
        assert arguments == {"city": "Paris"}

    # Second turn: the tool results go back and the model answers from them.
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in tool_calls
            ],
        }
    )
    for call in tool_calls:
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21 C"})
    follow_up = oai.chat.completions.create(model=model, messages=messages, tools=tools)
    assert follow_up.choices[0].finish_reason == "stop"
    if provider in ECHOING:
        assert follow_up.choices[0].message.content.startswith("Tool said: ")
        assert "sunny, 21 C" in follow_up.choices[0].message.content


# ------------------------------------------------------------------ Anthropic SDK ingress


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_anthropic_sdk_text(claude: anthropic.Anthropic, provider: str, stream: bool) -> None:
    model = PROVIDER_MODELS[provider]
    kwargs: dict[str, Any] = {
        "model": model,
        "max_tokens": 200,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    }
    if stream:
        with claude.messages.stream(**kwargs) as events:
            streamed_text = "".join(events.text_stream)
            message = events.get_final_message()
        assert streamed_text == "".join(b.text for b in message.content if b.type == "text")
    else:
        message = claude.messages.create(**kwargs)
    assert message.role == "assistant"
    assert message.stop_reason == "end_turn"
    text = "".join(block.text for block in message.content if block.type == "text")
    if provider in ECHOING:
        assert text == "Echo: What is the capital of France?"
    else:
        assert text
    assert message.usage.output_tokens > 0
    if not stream:
        assert message.usage.input_tokens > 0


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_anthropic_sdk_tools_round_trip(claude: anthropic.Anthropic, provider: str, stream: bool) -> None:
    model = PROVIDER_MODELS[provider]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time in Paris?"}]
    kwargs: dict[str, Any] = {
        "model": model,
        "max_tokens": 300,
        "messages": messages,
        "tools": [ANTHROPIC_WEATHER, ANTHROPIC_TIME],
    }
    if stream:
        with claude.messages.stream(**kwargs) as events:
            message = events.get_final_message()
    else:
        message = claude.messages.create(**kwargs)
    assert message.stop_reason == "tool_use"
    uses = [block for block in message.content if block.type == "tool_use"]
    assert uses and uses[0].name == "get_weather"
    assert "city" in uses[0].input
    assert len({use.id for use in uses}) == len(uses)
    if provider in ECHOING:
        assert [u.name for u in uses] == ["get_weather", "get_time"]
        assert uses[0].input == {"city": "Paris"}

    messages.append({"role": "assistant", "content": [block.model_dump() for block in message.content]})
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21 C"} for use in uses
            ],
        }
    )
    follow_up = claude.messages.create(**{**kwargs, "messages": messages})
    assert follow_up.stop_reason == "end_turn"
    text = "".join(block.text for block in follow_up.content if block.type == "text")
    if provider in ECHOING:
        assert text.startswith("Tool said: ") and "sunny, 21 C" in text
