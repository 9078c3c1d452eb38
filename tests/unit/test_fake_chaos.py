"""The fakes' standing faults (``Chaos``), hard down (``pause``/``resume``) and control routes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.anthropic_fake import AnthropicFake
from tests.fakes.base import Chaos, FakeProvider, Fault
from tests.fakes.gemini_fake import GeminiFake
from tests.fakes.openai_fake import OpenAIFake

CALLS = {
    "openai": (
        "/v1/chat/completions",
        {"authorization": "Bearer k"},
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi there"}]},
    ),
    "anthropic": (
        "/v1/messages",
        {"x-api-key": "k", "anthropic-version": "2023-06-01"},
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "hi there"}],
        },
    ),
    "gemini": (
        "/v1beta/models/gemini-2.5-flash:generateContent",
        {"x-goog-api-key": "k"},
        {"contents": [{"role": "user", "parts": [{"text": "hi there"}]}]},
    ),
}
KINDS: dict[str, type[FakeProvider]] = {
    "openai": OpenAIFake,
    "anthropic": AnthropicFake,
    "gemini": GeminiFake,
}


@pytest.fixture(params=sorted(KINDS))
def fake(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeProvider]]:
    started = KINDS[request.param]().start()
    yield request.param, started
    started.stop()


def call(kind: str, fake: FakeProvider, *, stream: bool = False) -> httpx.Response:
    path, headers, body = CALLS[kind]
    if stream:
        if kind == "gemini":
            path = path.replace(":generateContent", ":streamGenerateContent") + "?alt=sse"
        else:
            body = {**body, "stream": True}
    return httpx.post(fake.url + path, headers=headers, json=body, timeout=5)


def test_error_rate_is_repeatable_and_counted(fake: tuple[str, FakeProvider]) -> None:
    kind, server = fake
    statuses = []
    for _ in range(2):
        server.chaos = Chaos(error_rate=0.5, error_status=503, seed=3)
        statuses.append([call(kind, server).status_code for _ in range(12)])
    assert statuses[0] == statuses[1] and set(statuses[0]) == {200, 503}
    assert len(server.requests) == 24
    server.chaos = None
    assert call(kind, server).status_code == 200


def test_retry_after_and_real_error_body(fake: tuple[str, FakeProvider]) -> None:
    kind, server = fake
    server.chaos = Chaos(error_rate=1.0, error_status=429, retry_after=30)
    answer = call(kind, server)
    assert answer.status_code == 429
    if kind == "gemini":  # Google sends the back-off in the body
        assert any(d.get("retryDelay") == "30s" for d in answer.json()["error"]["details"])
    else:
        assert answer.headers["retry-after"] == "30"
    assert "error" in answer.json()


def test_queued_faults_go_before_chaos(fake: tuple[str, FakeProvider]) -> None:
    kind, server = fake
    server.chaos = Chaos(error_rate=1.0, error_status=503)
    server.inject(Fault(kind="status", status=500))
    assert [call(kind, server).status_code for _ in range(2)] == [500, 503]
    server.clear()
    assert server.chaos is None


def test_malformed_json(fake: tuple[str, FakeProvider]) -> None:
    kind, server = fake
    server.chaos = Chaos(malformed_json=True)
    answer = call(kind, server)
    assert answer.status_code == 200
    with pytest.raises(ValueError):
        answer.json()


def test_slow_first_token(fake: tuple[str, FakeProvider]) -> None:
    kind, server = fake
    server.chaos = Chaos(ttft_seconds=0.3)
    started = time.monotonic()
    assert call(kind, server).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_reset_and_stall_after_chunks(fake: tuple[str, FakeProvider]) -> None:
    kind, server = fake
    server.chaos = Chaos(reset_after_chunks=1)
    with pytest.raises(httpx.RemoteProtocolError):
        call(kind, server, stream=True)
    server.chaos = Chaos(stall_after_chunks=1, stall_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(httpx.HTTPError):  # silent, then cut: the body never completes
        call(kind, server, stream=True)
    assert time.monotonic() - started >= 0.5


def test_pause_refuses_connections_and_resume_reopens_the_port(fake: tuple[str, FakeProvider]) -> None:
    kind, server = fake
    port = server.port
    server.pause()
    with pytest.raises(httpx.ConnectError):
        call(kind, server)
    server.resume()
    assert server.port == port and call(kind, server).status_code == 200


def test_control_routes() -> None:
    server = OpenAIFake().start()
    try:
        answer = httpx.post(f"{server.url}/_chaos", json={"error_rate": 1, "error_status": 502})
        assert answer.json()["error_status"] == 502 and server.chaos == Chaos(error_rate=1, error_status=502)
        bad = httpx.post(f"{server.url}/_chaos", json={"error_rat": 1})
        assert bad.status_code == 400 and "error_rat" in bad.json()["error"]
        assert httpx.post(f"{server.url}/_chaos", json={}).json() is None and server.chaos is None
        call("openai", server)
        assert httpx.get(f"{server.url}/_stats").json() == {"requests": 1, "paused": False}
        assert httpx.post(f"{server.url}/_pause", json={"seconds": 0.3}).status_code == 200
        time.sleep(0.15)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/_stats")
        time.sleep(0.4)
        assert httpx.get(f"{server.url}/_stats").json()["paused"] is False
    finally:
        server.stop()
