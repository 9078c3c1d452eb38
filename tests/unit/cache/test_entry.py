"""Entries: a stream assembles into the JSON answer, and a stored answer replays as a well-formed stream."""

from __future__ import annotations

from typing import Any

import orjson

from bastion.cache.entry import (
    CacheEntry,
    StreamAssembler,
    make_entry,
    replay_chunks,
    replay_response,
    storable,
    text_pieces,
)
from bastion.translate.anthropic_ingress import MessageStreamEncoder, chat_response_to_message
from bastion.wire.sse import SseDecoder

USAGE = {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}


def answer(content: str | None = "Hello there, how are you today?", **message: Any) -> dict[str, Any]:
    tool_calls = message.pop("tool_calls", None)
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    finish = "tool_calls" if tool_calls else "stop"
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 123,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": msg, "finish_reason": finish, "logprobs": None}],
        "usage": USAGE,
    }


TOOLS = [
    {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
    {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": '{"tz": "CET"}'}},
]


def assemble(chunks: list[dict[str, Any]]) -> dict[str, Any] | None:
    assembler = StreamAssembler()
    for chunk in chunks:
        assembler.feed(chunk)
    return assembler.result()


def test_replayed_stream_assembles_back_into_the_answer() -> None:
    for original in (
        answer("word " * 100),
        answer(None, tool_calls=TOOLS),
        answer("Let me check.", tool_calls=TOOLS),
    ):
        first, rest = replay_chunks(original)
        rebuilt = assemble(first + rest)
        assert rebuilt is not None
        assert rebuilt["choices"] == original["choices"]
        assert rebuilt["usage"] == original["usage"]
        assert rebuilt["id"] != original["id"]  # each replay is a new completion


def test_replayed_stream_shape() -> None:
    first, rest = replay_chunks(answer("x" * 200, tool_calls=TOOLS))
    assert first[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    ids = {chunk["id"] for chunk in first + rest}
    assert len(ids) == 1
    # each tool call opens with its id, type and name, then its arguments, keyed by index
    openings = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in rest
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert [o.get("id") for o in openings] == ["call_1", None, "call_2", None]
    assert rest[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert rest[-1]["choices"] == [] and rest[-1]["usage"] == USAGE


def test_an_interrupted_stream_assembles_to_nothing() -> None:
    first, rest = replay_chunks(answer())
    assert assemble(first + rest[:-2]) is None  # no finish_reason: never stored


def test_text_pieces() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 5
    pieces = text_pieces(text, 20)
    assert "".join(pieces) == text
    assert all(len(p) <= 20 for p in pieces)
    assert text_pieces("") == []
    assert "".join(text_pieces("x" * 130, 64)) == "x" * 130


def test_anthropic_stream_replay_rebuilds_the_same_message() -> None:
    original = answer("Sure.", tool_calls=TOOLS)
    encoder = MessageStreamEncoder("claude")
    first, rest = replay_chunks(original)
    raw = b"".join(encoder.feed(chunk) for chunk in first + rest) + encoder.finish()
    events = [(e.event, orjson.loads(e.data)) for e in SseDecoder().feed(raw)]
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    message = chat_response_to_message(original)
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == message["stop_reason"] == "tool_use"
    assert delta["usage"]["output_tokens"] == 5
    starts = [payload["content_block"] for name, payload in events if name == "content_block_start"]
    assert [b["type"] for b in starts] == ["text", "tool_use", "tool_use"]


def test_storable() -> None:
    assert storable(answer())
    refused = answer("")
    refused["choices"][0]["finish_reason"] = "content_filter"
    assert not storable(refused)
    two = answer()
    two["choices"].append(two["choices"][0])
    assert not storable(two)


def test_entry_round_trips_through_bytes_and_replays_with_a_new_id() -> None:
    entry = make_entry("p", answer(), "openai", "gpt-4o", 60, now=100.0)
    back = CacheEntry.from_bytes(entry.to_bytes())
    assert back is not None
    assert (back.partition, back.response, back.provider, back.expires_at) == ("p", answer(), "openai", 160.0)
    replayed = replay_response(back)
    assert replayed["id"] != "chatcmpl-1" and replayed["choices"] == answer()["choices"]
    assert CacheEntry.from_bytes(b"not json") is None
    assert CacheEntry.from_bytes(b'{"v": 99}') is None
