"""Coalescing through the cache stage: one upstream call for identical requests in flight.

The stage runs against a scripted executor and an in-memory ASGI exchange, so each test can
hold the upstream call open and decide exactly when its chunks arrive.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from bastion.accounting.catalog import PriceCatalog
from bastion.api.openai_routes import OpenAIStreamEncoder
from bastion.cache.stage import CachePlan, CacheStage, GroupPolicy
from bastion.cache.state import CacheState
from bastion.config import BastionConfig, CacheConfig
from bastion.context import RequestContext
from bastion.errors import ProviderError
from bastion.identity.principal import Principal
from bastion.providers.base import ChatRequest

BODY = {"model": "g", "temperature": 0, "messages": [{"role": "user", "content": "hi"}]}
WORDS = ["one", " two", " three", " four"]


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-up",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "up-1",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-up",
        "object": "chat.completion",
        "created": 1,
        "model": "up-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 4, "total_tokens": 5},
    }


class Upstream:
    """A scripted executor: counts calls; each call waits for ``release`` and may fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.failures: list[ProviderError] = []
        self.midstream: ProviderError | None = None
        self.batches: asyncio.Queue[list[dict[str, Any]] | None] = asyncio.Queue()

    async def chat(self, ctx: RequestContext, group: Any, request: ChatRequest) -> dict[str, Any]:
        self.calls += 1
        ctx.provider, ctx.upstream_model, ctx.attempts = "up", "up-1", 1
        await self.release.wait()
        if self.failures:
            raise self.failures.pop(0)
        return completion("".join(WORDS))

    async def open_stream(self, ctx: RequestContext, group: Any, request: ChatRequest) -> Any:
        self.calls += 1
        ctx.provider, ctx.upstream_model, ctx.attempts = "up", "up-1", 1
        await self.release.wait()
        if self.failures:
            raise self.failures.pop(0)
        return [chunk({"role": "assistant", "content": ""})], self._rest()

    async def _rest(self) -> AsyncIterator[list[dict[str, Any]]]:
        while True:
            batch = await self.batches.get()
            if batch is None:
                if self.midstream is not None:
                    raise self.midstream
                return
            yield batch

    def send_all(self) -> None:
        for word in WORDS:
            self.batches.put_nowait([chunk({"content": word})])
        self.batches.put_nowait([chunk({}, "stop")])
        self.batches.put_nowait(None)


class Exchange:
    """One client's side of an ASGI exchange: what was sent back, and a receive that never disconnects."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.gone = asyncio.Event()  # set: the client hangs up

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.messages[0]["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])

    def text(self) -> str:
        """The answer's text, from a JSON body or an SSE stream."""
        if self.body.startswith(b"{"):
            return orjson.loads(self.body)["choices"][0]["message"]["content"]
        parts = []
        for line in self.body.split(b"\n"):
            if line.startswith(b"data: {"):
                for choice in orjson.loads(line[6:])["choices"]:
                    parts.append(choice["delta"].get("content") or "")
        return "".join(parts)


def make_stage(upstream: Upstream, *, coalesce: bool = True) -> CacheStage:
    policy = GroupPolicy(always=False, ttl_seconds=60, shared=False, semantic=False, fingerprint="f")
    return CacheStage(
        state=CacheState(CacheConfig()),
        policies={"g": policy},
        executor=upstream,  # type: ignore[arg-type]
        catalog=PriceCatalog(BastionConfig()),
        coalesce=coalesce,
        max_ttl_seconds=3600,
        max_entry_bytes=1 << 20,
    )


def context(team: str = "t1") -> RequestContext:
    ctx = RequestContext(request_id="r", ingress="openai")
    ctx.principal = Principal(key_id="k", team_id=team)
    return ctx


async def run(
    stage: CacheStage,
    *,
    stream: bool,
    team: str = "t1",
    headers: list[tuple[bytes, bytes]] | None = None,
    exchange: Exchange | None = None,
) -> tuple[RequestContext, Exchange]:
    ctx = context(team)
    exchange = exchange or Exchange()
    body = {**BODY, "stream": stream}
    plan = stage.plan(ctx, {"headers": headers or []}, "g", body)
    assert isinstance(plan, CachePlan)
    request = ChatRequest(body=body, model="g", stream=stream, include_usage=False)
    await stage.serve(
        ctx,
        plan,
        None,
        request,
        exchange.receive,
        exchange.send,
        orjson.dumps,
        OpenAIStreamEncoder(False),  # type: ignore[arg-type]
    )
    return ctx, exchange


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.mark.parametrize("stream", [False, True])
async def test_ten_identical_requests_make_one_upstream_call(stream: bool) -> None:
    upstream = Upstream()
    stage = make_stage(upstream)
    tasks = [asyncio.create_task(run(stage, stream=stream)) for _ in range(10)]
    await settle()
    assert upstream.calls == 1
    upstream.release.set()
    upstream.send_all()
    results = await asyncio.gather(*tasks)
    assert upstream.calls == 1
    assert [e.text() for _, e in results] == ["one two three four"] * 10
    statuses = sorted(ctx.cache_status or "" for ctx, _ in results)
    assert statuses == ["hit"] * 9 + ["miss"]
    # and the answer is now cached
    ctx, exchange = await run(stage, stream=stream)
    assert ctx.cache_status == "hit" and exchange.text() == "one two three four"
    assert upstream.calls == 1


async def test_a_late_joiner_gets_the_chunks_so_far_then_the_rest_in_order() -> None:
    upstream = Upstream()
    stage = make_stage(upstream)
    upstream.release.set()
    leader = asyncio.create_task(run(stage, stream=True))
    upstream.batches.put_nowait([chunk({"content": WORDS[0]})])
    upstream.batches.put_nowait([chunk({"content": WORDS[1]})])
    await settle()
    joiner = asyncio.create_task(run(stage, stream=True))
    await settle()
    for word in WORDS[2:]:
        upstream.batches.put_nowait([chunk({"content": word})])
        await settle()
    upstream.batches.put_nowait([chunk({}, "stop")])
    upstream.batches.put_nowait(None)
    (_, first), (ctx, second) = await asyncio.gather(leader, joiner)
    assert upstream.calls == 1
    assert first.text() == second.text() == "one two three four"
    assert ctx.cache_status == "hit"
    assert second.body.endswith(b"data: [DONE]\n\n")


@pytest.mark.parametrize(("leader_stream", "follower_stream"), [(False, True), (True, False)])
async def test_json_and_stream_requests_share_a_flight(leader_stream: bool, follower_stream: bool) -> None:
    upstream = Upstream()
    stage = make_stage(upstream)
    leader = asyncio.create_task(run(stage, stream=leader_stream))
    await settle()
    follower = asyncio.create_task(run(stage, stream=follower_stream))
    await settle()
    upstream.release.set()
    upstream.send_all()
    (_, one), (_, two) = await asyncio.gather(leader, follower)
    assert upstream.calls == 1
    assert one.text() == two.text() == "one two three four"


@pytest.mark.parametrize("stream", [False, True])
async def test_a_leader_error_is_not_shared(stream: bool) -> None:
    upstream = Upstream()
    upstream.failures.append(ProviderError("boom", provider="up", status=503, retryable=True))
    stage = make_stage(upstream)
    leader = asyncio.create_task(run(stage, stream=stream))
    await settle()
    followers = [asyncio.create_task(run(stage, stream=stream)) for _ in range(3)]
    await settle()
    upstream.release.set()
    for _ in followers:  # one script per follower's own call (they share the queue)
        upstream.send_all()
    with pytest.raises(ProviderError):
        await leader
    results = await asyncio.gather(*followers)
    # each follower made its own call (and got the answer), none saw the leader's error
    assert upstream.calls == 4
    if not stream:
        assert all(e.text() == "one two three four" for _, e in results)


async def test_an_interrupted_stream_is_not_cached() -> None:
    upstream = Upstream()
    upstream.midstream = ProviderError("reset", provider="up", retryable=True)
    stage = make_stage(upstream)
    upstream.release.set()
    task = asyncio.create_task(run(stage, stream=True))
    upstream.batches.put_nowait([chunk({"content": "partial"})])
    upstream.batches.put_nowait(None)
    _, exchange = await task
    assert b'"error"' in exchange.body
    upstream.midstream = None
    upstream.send_all()
    ctx, _ = await run(stage, stream=True)
    assert ctx.cache_status == "miss"
    assert upstream.calls == 2


async def test_tenants_never_share_entries_or_flights() -> None:
    upstream = Upstream()
    upstream.release.set()
    stage = make_stage(upstream)
    ctx_a, _ = await run(stage, stream=False, team="a")
    ctx_b, _ = await run(stage, stream=False, team="b")
    ctx_a2, _ = await run(stage, stream=False, team="a")
    assert (ctx_a.cache_status, ctx_b.cache_status, ctx_a2.cache_status) == ("miss", "miss", "hit")
    assert upstream.calls == 2


async def test_no_cache_and_no_store_directives() -> None:
    upstream = Upstream()
    upstream.release.set()
    stage = make_stage(upstream, coalesce=False)
    ctx, _ = await run(stage, stream=False, headers=[(b"x-bastion-cache", b"no-store")])
    assert ctx.cache_status == "miss"
    ctx, _ = await run(stage, stream=False)
    assert ctx.cache_status == "miss"  # the no-store answer was not kept; this one is
    ctx, _ = await run(stage, stream=False, headers=[(b"x-bastion-cache", b"no-cache")])
    assert ctx.cache_status == "miss"  # fresh answer, stored again
    ctx, _ = await run(stage, stream=False)
    assert ctx.cache_status == "hit"
    assert upstream.calls == 3


def test_bypass_and_bad_headers() -> None:
    stage = make_stage(Upstream())
    ctx = context()
    assert stage.plan(ctx, {"headers": []}, "g", {**BODY, "temperature": 0.7}) is None
    assert ctx.cache_status == "bypass"
    ctx = context()
    assert (
        stage.plan(ctx, {"headers": [(b"x-bastion-cache", b"force")]}, "g", {**BODY, "temperature": 1})
        is not None
    )
    ctx = context()
    assert stage.plan(ctx, {"headers": []}, "other-group", BODY) is None
    assert ctx.cache_status is None
    plan = stage.plan(context(), {"headers": [(b"x-bastion-cache-ttl", b"5")]}, "g", BODY)
    assert plan is not None and plan.ttl_seconds == 5
    for name, value in (
        (b"x-bastion-cache", b"sometimes"),
        (b"x-bastion-cache-ttl", b"-1"),
        (b"x-bastion-cache-ttl", b"x"),
    ):
        with pytest.raises(Exception, match="x-bastion-cache"):
            stage.plan(context(), {"headers": [(name, value)]}, "g", BODY)


async def test_the_leaders_client_leaving_does_not_cut_off_its_followers() -> None:
    upstream = Upstream()
    stage = make_stage(upstream)
    upstream.release.set()
    leader_exchange = Exchange()
    leader = asyncio.create_task(run(stage, stream=True, exchange=leader_exchange))
    upstream.batches.put_nowait([chunk({"content": WORDS[0]})])
    await settle()
    follower = asyncio.create_task(run(stage, stream=True))
    await settle()
    leader_exchange.gone.set()
    await leader
    for word in WORDS[1:]:
        upstream.batches.put_nowait([chunk({"content": word})])
    upstream.batches.put_nowait([chunk({}, "stop")])
    upstream.batches.put_nowait(None)
    _, exchange = await follower
    assert exchange.text() == "one two three four"
    ctx, _ = await run(stage, stream=False)
    assert ctx.cache_status == "hit" and upstream.calls == 1


async def test_when_every_client_left_the_upstream_call_is_cancelled_and_nothing_stored() -> None:
    upstream = Upstream()
    stage = make_stage(upstream)
    upstream.release.set()
    exchanges = [Exchange(), Exchange()]
    tasks = [asyncio.create_task(run(stage, stream=True, exchange=e)) for e in exchanges]
    upstream.batches.put_nowait([chunk({"content": WORDS[0]})])
    await settle()
    assert upstream.calls == 1
    for exchange in exchanges:
        exchange.gone.set()
    await asyncio.gather(*tasks)
    await settle()
    assert not stage._tasks  # the pump is gone
    assert stage.inflight.flights == {}
    upstream.send_all()
    ctx, _ = await run(stage, stream=False)
    assert ctx.cache_status == "miss" and upstream.calls == 2
