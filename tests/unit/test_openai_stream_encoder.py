"""The OpenAI stream encoder: what a client that did or did not ask for usage sees, and stream errors."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import orjson
import pytest
from openai._streaming import SSEDecoder

from bastion.api.openai_routes import OpenAIStreamEncoder
from bastion.errors import ProviderError
from bastion.providers.base import Json

USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def chunk(choices: list[Any], **extra: Any) -> Json:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": choices,
        **extra,
    }


def delta(text: str) -> dict[str, Any]:
    return {"index": 0, "delta": {"content": text}, "finish_reason": None}


def decoded(event: bytes) -> Json:
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    return orjson.loads(event[len(b"data: ") : -2])


def test_usage_chunk_is_dropped_when_the_client_did_not_ask() -> None:
    assert OpenAIStreamEncoder(include_usage=False).feed(chunk([], usage=USAGE)) == b""


def test_usage_chunk_is_kept_when_the_client_asked() -> None:
    event = OpenAIStreamEncoder(include_usage=True).feed(chunk([], usage=USAGE))
    assert decoded(event) == chunk([], usage=USAGE)


def test_usage_key_is_stripped_from_content_chunks_when_not_asked() -> None:
    # with include_usage upstream, OpenAI puts "usage": null on every content chunk
    event = OpenAIStreamEncoder(include_usage=False).feed(chunk([delta("hi")], usage=None))
    assert decoded(event) == chunk([delta("hi")])
    assert b"usage" not in event


def test_usage_on_a_content_chunk_is_stripped_but_content_kept() -> None:
    event = OpenAIStreamEncoder(include_usage=False).feed(chunk([delta("bye")], usage=USAGE))
    assert decoded(event)["choices"] == [delta("bye")]
    assert "usage" not in decoded(event)


def test_usage_key_is_kept_on_content_chunks_when_asked() -> None:
    event = OpenAIStreamEncoder(include_usage=True).feed(chunk([delta("hi")], usage=None))
    assert decoded(event) == chunk([delta("hi")], usage=None)


@pytest.mark.parametrize("include_usage", [False, True])
def test_azure_prompt_filter_chunk_without_usage_passes_through(include_usage: bool) -> None:
    first = {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "choices": [],
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
    }
    assert decoded(OpenAIStreamEncoder(include_usage).feed(dict(first))) == first


def test_azure_prompt_filter_chunk_with_null_usage_is_not_dropped() -> None:
    # Bastion always asks upstream for usage, so Azure's first chunk arrives with "usage": null
    first = {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
        "choices": [],
        "usage": None,
    }
    event = OpenAIStreamEncoder(include_usage=False).feed(dict(first))
    assert decoded(event) == {k: v for k, v in first.items() if k != "usage"}
    assert decoded(OpenAIStreamEncoder(include_usage=True).feed(dict(first))) == first


def test_finish_is_done() -> None:
    assert OpenAIStreamEncoder(include_usage=False).finish() == b"data: [DONE]\n\n"


def test_error_is_a_data_event_with_an_openai_error_body() -> None:
    error = ProviderError("upstream: connection reset", provider="upstream", code="upstream_error")
    event = OpenAIStreamEncoder(include_usage=False).error(error)
    assert decoded(event) == {
        "error": {
            "message": "upstream: connection reset",
            "type": "api_error",
            "param": None,
            "code": "upstream_error",
        }
    }


def test_openai_sse_decoder_reads_the_error_event() -> None:
    error = ProviderError("upstream: boom", provider="upstream")
    events = list(SSEDecoder().iter_bytes(iter([OpenAIStreamEncoder(False).error(error)])))
    assert len(events) == 1 and events[0].event is None
    assert events[0].json()["error"]["message"] == "upstream: boom"


def stream_through_sdk(body: bytes) -> openai.Stream[Any]:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = openai.OpenAI(
        api_key="sk-test",
        base_url="http://bastion.test/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    return client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )


def test_openai_sdk_raises_api_error_on_the_error_event() -> None:
    encoder = OpenAIStreamEncoder(include_usage=False)
    failure = ProviderError("upstream: stream dropped", provider="upstream", code="upstream_error")
    body = encoder.feed(chunk([delta("Hel")])) + encoder.error(failure)
    stream = stream_through_sdk(body)
    first = next(stream)
    assert first.choices[0].delta.content == "Hel"
    with pytest.raises(openai.APIError) as caught:
        next(stream)
    assert caught.value.message == "upstream: stream dropped"
    assert caught.value.code == "upstream_error"


def test_openai_sdk_reads_a_whole_encoded_stream() -> None:
    encoder = OpenAIStreamEncoder(include_usage=False)
    body = (
        encoder.feed(chunk([delta("Hello")], usage=None))
        + encoder.feed(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}], usage=None))
        + encoder.feed(chunk([], usage=USAGE))
        + encoder.finish()
    )
    chunks = list(stream_through_sdk(body))
    assert [c.choices[0].delta.content for c in chunks] == ["Hello", None]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)
