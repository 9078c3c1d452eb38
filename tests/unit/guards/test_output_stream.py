"""Masked answers restored for the client: whole, and streamed with placeholders split across chunks."""

from __future__ import annotations

from typing import Any

import orjson

from bastion.config import BastionConfig
from bastion.context import RequestContext
from bastion.errors import GatewayError
from bastion.guards.output import OutputGuard
from bastion.guards.stage import GuardStage
from bastion.providers.base import ChatRequest

EMAIL = "jane.doe@example.com"


class Recorder:
    """A stand-in protocol encoder that keeps the chunks it was asked to encode."""

    def __init__(self) -> None:
        self.chunks: list[dict[str, Any]] = []
        self.finished = False

    def feed(self, chunk: dict[str, Any]) -> bytes:
        self.chunks.append(chunk)
        return orjson.dumps(chunk)

    def finish(self) -> bytes:
        self.finished = True
        return b"[end]"

    def error(self, error: GatewayError) -> bytes:
        return b"[error]"

    def text(self, index: int = 0) -> str:
        return "".join(
            choice["delta"].get("content") or ""
            for chunk in self.chunks
            for choice in chunk.get("choices", [])
            if choice.get("index", 0) == index
        )


def _masked_guard(prompt: str, capture: bool = False) -> tuple[OutputGuard, RequestContext, str]:
    config = BastionConfig.model_validate({"guards": {"pii": {"mode": "mask"}}})
    stage = GuardStage.build(config)
    assert stage is not None
    ctx = RequestContext(request_id="r1", ingress="openai")
    ctx.capture_answer = capture
    request = ChatRequest({"model": "m", "messages": [{"role": "user", "content": prompt}]}, "m", True)
    outcome = stage.check_input(ctx, {"type": "http", "headers": []}, request, "chat")
    masked = request.body["messages"][0]["content"]
    return OutputGuard(ctx, outcome, None), ctx, masked


def _chunk(content: str | None = None, finish: str | None = None, index: int = 0) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }


def test_input_is_masked_and_decision_recorded() -> None:
    _, ctx, masked = _masked_guard(f"mail {EMAIL} now")
    assert masked == "mail <EMAIL_1> now"
    assert [(d.guard, d.action, d.detail) for d in ctx.guards] == [("pii", "mask", "EMAIL=1")]
    assert ctx.client_body["messages"][0]["content"] == f"mail {EMAIL} now"
    assert "pii" in ctx.sensitive


def test_placeholder_split_at_every_position_is_restored() -> None:
    answer = "Sent to <EMAIL_1>, done."
    for cut in range(1, len(answer)):
        guard, _, _ = _masked_guard(f"mail {EMAIL}")
        inner = Recorder()
        encoder = guard.encoder(inner)
        encoder.feed(_chunk(answer[:cut]))
        encoder.feed(_chunk(answer[cut:]))
        encoder.feed(_chunk(None, "stop"))
        encoder.finish()
        assert inner.text() == f"Sent to {EMAIL}, done.", cut
        assert inner.finished


def test_held_tail_is_released_at_the_end_without_finish_reason() -> None:
    guard, ctx, _ = _masked_guard(f"mail {EMAIL}", capture=True)
    inner = Recorder()
    encoder = guard.encoder(inner)
    encoder.feed(_chunk("ends with <EMA"))
    encoder.finish()
    assert inner.text() == "ends with <EMA"
    assert ctx.answer_text == "ends with <EMA"


def test_choices_are_restored_independently() -> None:
    guard, _, _ = _masked_guard(f"mail {EMAIL}")
    inner = Recorder()
    encoder = guard.encoder(inner)
    encoder.feed(_chunk("a <EMAIL", index=0))
    encoder.feed(_chunk("b <EMAIL_1>", index=1))
    encoder.feed(_chunk("_1>", index=0))
    encoder.feed(_chunk(None, "stop", index=0))
    encoder.feed(_chunk(None, "stop", index=1))
    assert inner.text(0) == f"a {EMAIL}"
    assert inner.text(1) == f"b {EMAIL}"


def test_tool_call_arguments_are_restored_in_streams() -> None:
    guard, _, _ = _masked_guard(f"mail {EMAIL}")
    inner = Recorder()
    encoder = guard.encoder(inner)
    for piece in ('{"to": "<EMA', 'IL_1>"}'):
        encoder.feed(
            {
                "choices": [
                    {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}}
                ]
            }
        )
    encoder.feed(_chunk(None, "tool_calls"))
    arguments = "".join(
        call["function"]["arguments"]
        for chunk in inner.chunks
        for choice in chunk["choices"]
        for call in choice["delta"].get("tool_calls") or []
    )
    assert arguments == f'{{"to": "{EMAIL}"}}'


def test_usage_only_chunks_pass_through() -> None:
    guard, _, _ = _masked_guard(f"mail {EMAIL}")
    inner = Recorder()
    encoder = guard.encoder(inner)
    encoder.feed({"choices": [], "usage": {"prompt_tokens": 3}})
    assert inner.chunks == [{"choices": [], "usage": {"prompt_tokens": 3}}]


def test_whole_answers_are_restored_and_captured_without_touching_the_original() -> None:
    guard, ctx, _ = _masked_guard(f"mail {EMAIL}", capture=True)
    response = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "to <EMAIL_1>"}}]}
    body = orjson.loads(guard.render(orjson.dumps)(response))
    assert body["choices"][0]["message"]["content"] == f"to {EMAIL}"
    assert response["choices"][0]["message"]["content"] == "to <EMAIL_1>"  # the cached copy stays masked
    assert ctx.answer_text == f"to {EMAIL}"
