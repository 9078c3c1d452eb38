"""The static last-resort provider: the configured reply, as a completion or a short stream."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.config import StaticProviderConfig
from bastion.providers.base import ChatRequest, Deployment, Json
from bastion.providers.static import StaticProvider, split_text

CONTENT = "We are busy right now, please try again in a minute."
DEPLOYMENT = Deployment(provider="fallback", model="static-reply")


def static(**settings: Any) -> StaticProvider:
    return StaticProvider("fallback", StaticProviderConfig(type="static", **{"content": CONTENT, **settings}))


def chat_request(stream: bool = False, **fields: Any) -> ChatRequest:
    body: Json = {"model": "public", "messages": [{"role": "user", "content": "one two three"}], **fields}
    return ChatRequest(body=body, model="public", stream=stream)


async def test_completion_is_the_configured_reply() -> None:
    completion = await static().chat(chat_request(), DEPLOYMENT)
    assert completion["object"] == "chat.completion" and completion["id"].startswith("chatcmpl-")
    assert completion["model"] == "static-reply"
    (choice,) = completion["choices"]
    assert choice["message"] == {"role": "assistant", "content": CONTENT, "refusal": None}
    assert choice["finish_reason"] == "stop"
    assert completion["usage"] == {"prompt_tokens": 4, "completion_tokens": 11, "total_tokens": 15}


async def test_finish_reason_is_configurable() -> None:
    completion = await static(finish_reason="length").chat(chat_request(), DEPLOYMENT)
    assert completion["choices"][0]["finish_reason"] == "length"


async def test_stream_role_pieces_finish_and_usage() -> None:
    provider = static()
    chunks = [chunk async for chunk in provider.chat_stream(chat_request(stream=True), DEPLOYMENT)]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    pieces = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
    assert 1 < len(pieces) <= 3 and "".join(pieces) == CONTENT
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == (await provider.chat(chat_request(), DEPLOYMENT))["usage"]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1


async def test_anything_goes_and_nothing_fails() -> None:
    odd = ChatRequest(body={"messages": "not a list", "tools": [{"x": 1}], "n": 3}, model="p", stream=False)
    completion = await static().chat(odd, DEPLOYMENT)
    assert completion["choices"][0]["message"]["content"] == CONTENT
    assert completion["usage"]["prompt_tokens"] == 0


@pytest.mark.parametrize(
    ("text", "pieces"),
    [("", []), ("one", ["one"]), ("a b c d e", ["a b", " c d", " e"]), ("a  b", ["a", " ", " b"])],
)
def test_split_text_rejoins_exactly(text: str, pieces: list[str]) -> None:
    assert split_text(text, 3) == pieces
    assert "".join(split_text(text, 3)) == text
