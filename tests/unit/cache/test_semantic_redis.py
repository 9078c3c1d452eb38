"""The semantic index shared through Redis: two instances on one Redis prefix are two replicas.

Real Redis (``BASTION_TEST_REDIS_URL``, default 127.0.0.1:6379), a unique key prefix per test,
deleted afterwards; skipped, saying why, when no Redis answers (CI starts one). Time is driven by
hand: the wall clock that entries expire on, and the monotonic clock of the refresh interval.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

np = pytest.importorskip("numpy")
aioredis = pytest.importorskip("redis.asyncio")

from redis.asyncio.retry import Retry  # noqa: E402
from redis.backoff import NoBackoff  # noqa: E402

from bastion.accounting.catalog import PriceCatalog  # noqa: E402
from bastion.cache.semantic import SemanticIndex, semantic_text  # noqa: E402
from bastion.cache.semantic_redis import RedisSemanticIndex  # noqa: E402
from bastion.cache.stage import CacheStage, GroupPolicy, SemanticLookup  # noqa: E402
from bastion.cache.state import CacheState  # noqa: E402
from bastion.config import BastionConfig, CacheConfig  # noqa: E402
from tests.unit.cache.test_coalesce import Upstream  # noqa: E402
from tests.unit.cache.test_stage_semantic import AlikeEmbedder, ask  # noqa: E402

REDIS_URL = os.environ.get("BASTION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# semantic partitions as the stage builds them: group | deployments | tenant | context | embedder
TEAM_A = "gpt|f1|team:a|ctx|local"
TEAM_B = "gpt|f1|team:b|ctx|local"

_redis_error: list[str | None] = []  # probed once per session


async def _skip_without_redis() -> None:
    if not _redis_error:
        client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            await client.ping()
            _redis_error.append(None)
        except Exception as error:  # any failure to reach it means "no Redis here"
            _redis_error.append(f"{type(error).__name__}: {error}")
        finally:
            await client.aclose()
    if _redis_error[0] is not None:
        pytest.skip(f"Redis unreachable at {REDIS_URL} ({_redis_error[0]}); CI starts one")


async def _delete_prefix(prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Replicas:
    """Makes shared indexes on one prefix, each with its own index and Redis client, like replicas."""

    def __init__(self) -> None:
        self.prefix = f"bastion-test:{uuid.uuid4().hex}:"
        self.clock = Clock(1000.0)  # what entries expire on
        self.monotonic = Clock(50.0)  # the refresh interval and the back-off
        self.made: list[RedisSemanticIndex] = []

    async def __call__(
        self,
        *,
        max_entries: int = 100,
        page_entries: int = 256,
        url: str = REDIS_URL,
    ) -> RedisSemanticIndex:
        # a loaded CI machine can stall a round trip past the production 0.25 s; these test semantics
        client = aioredis.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=2.0, retry=Retry(NoBackoff(), 0)
        )
        shared = RedisSemanticIndex(
            SemanticIndex(max_entries, clock=self.clock),
            client,
            self.prefix,
            refresh_seconds=0.2,
            page_entries=page_entries,
            monotonic=self.monotonic,
        )
        self.made.append(shared)
        await shared.start()
        return shared

    def later(self, seconds: float = 0.2) -> None:
        """Let ``seconds`` of the refresh interval pass."""
        self.monotonic.now += seconds

    @property
    def stream(self) -> str:
        return self.prefix + "semantic:v1"

    async def aclose(self) -> None:
        for shared in self.made:
            await shared.close()
            await shared.client.aclose()
        await _delete_prefix(self.prefix)


@pytest.fixture
async def replicas() -> AsyncIterator[Replicas]:
    await _skip_without_redis()
    made = Replicas()
    yield made
    await made.aclose()


def unit(seed: int, dimensions: int = 8) -> Any:
    vector = np.random.default_rng(seed).standard_normal(dimensions).astype(np.float32)
    return vector / np.linalg.norm(vector)


def count_reads(shared: RedisSemanticIndex) -> list[int]:
    """A counter of the stream reads ``shared`` makes (round trips to Redis)."""
    calls = [0]
    original = shared.client.xread

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return await original(*args, **kwargs)

    shared.client.xread = counted  # type: ignore[method-assign]
    return calls


# ---------------------------------------------------------------------------------- replication


async def test_an_entry_added_on_one_replica_is_found_on_the_other(replicas: Replicas) -> None:
    one, two = await replicas(), await replicas()
    vector = unit(1)
    await one.add(TEAM_A, vector, "key-1", 2000.0, "What is the capital of France?")
    # within the refresh interval since it last read, a replica searches its mirror as it is
    assert await two.search(TEAM_A, vector, text="what is the capital of france") is None
    replicas.later()
    found = await two.search(TEAM_A, vector, text="what is the capital of france", threshold=0.9)
    assert found is not None and found[0] == "key-1" and found[1] == pytest.approx(1.0)
    # the detail guard runs on the text that came through the stream
    assert await two.search(TEAM_A, vector, text="What is the capital of Germany?") is None
    # a replica does not index its own entries twice
    replicas.later()
    assert await one.search(TEAM_A, vector) is not None
    assert len(one) == len(two) == 1


async def test_tenants_never_share_across_replicas(replicas: Replicas) -> None:
    one, two = await replicas(), await replicas()
    vector = unit(2)
    await one.add(TEAM_A, vector, "key-a", 2000.0, "How do I reset my password?")
    replicas.later()
    # tenant B on replica 2, the very same vector: nothing; tenant A on replica 2: found
    assert await two.search(TEAM_B, vector, text="How do I reset my password?") is None
    assert await two.search(TEAM_A, vector, text="How do I reset my password?") is not None
    assert two.local.search(TEAM_B, vector) is None


async def test_reads_at_most_once_per_interval_and_searches_share_a_read(replicas: Replicas) -> None:
    one, two = await replicas(), await replicas()
    reads = count_reads(two)
    replicas.later()
    for _ in range(5):
        await two.search(TEAM_A, unit(3))
    assert reads[0] == 1
    replicas.later(0.15)
    await two.search(TEAM_A, unit(3))
    assert reads[0] == 1  # 0.15 s since the last read: the mirror as it is
    replicas.later(0.15)
    await one.add(TEAM_A, unit(3), "key-3", 2000.0)
    found = await asyncio.gather(*(two.search(TEAM_A, unit(3)) for _ in range(5)))
    assert reads[0] == 2  # five searches at once, one read
    assert all(result is not None and result[0] == "key-3" for result in found)


async def test_a_lookup_that_prefetched_reads_once(replicas: Replicas) -> None:
    one, two = await replicas(), await replicas()
    two.refresh_seconds = 0  # a read is due at every lookup
    replicas.later()
    await one.add(TEAM_A, unit(12), "key-12", 2000.0)
    reads = count_reads(two)
    two.prefetch()  # the stage, before it embeds the question
    assert await two.search(TEAM_A, unit(12), prefetched=True) is not None  # waited for that read
    assert reads[0] == 1


async def test_a_new_replica_starts_with_what_the_others_indexed(replicas: Replicas) -> None:
    one = await replicas()
    for index in range(10):
        await one.add(TEAM_A, unit(index), f"key-{index}", 2000.0)
    late = await replicas(page_entries=4)  # reads the stream in pages of 4 at start-up
    assert len(late) == 10
    assert late.local.search(TEAM_A, unit(7)) == ("key-7", pytest.approx(1.0))


# ---------------------------------------------------------------------------------- bounds


async def test_expired_entries_are_not_mirrored(replicas: Replicas) -> None:
    one, two = await replicas(), await replicas()
    await one.add(TEAM_A, unit(4), "key-short", replicas.clock.now + 10)
    await one.add(TEAM_A, unit(5), "key-long", replicas.clock.now + 100)
    replicas.clock.now += 11
    replicas.later()
    assert await two.search(TEAM_A, unit(4), threshold=0.99) is None
    assert len(two) == 1  # the expired entry was skipped, not indexed
    replicas.clock.now += 90
    assert await two.search(TEAM_A, unit(5)) is None  # expired in the mirror, dropped there


async def test_the_stream_expires_with_its_longest_lived_entry(replicas: Replicas) -> None:
    one = await replicas()
    await one.add(TEAM_A, unit(6), "key-long", replicas.clock.now + 100)
    await one.add(TEAM_A, unit(7), "key-short", replicas.clock.now + 10)  # does not shorten it
    ttl = await one.client.pttl(replicas.stream)
    assert 90_000 < ttl <= 100_000


async def test_the_stream_is_trimmed_to_about_the_index_bound(replicas: Replicas) -> None:
    one = await replicas(max_entries=20)
    for index in range(300):
        await one.add(TEAM_A, unit(index), f"key-{index}", 2000.0)
    # MAXLEN ~ trims whole nodes of the stream (100 entries each by default): at least the bound
    length = await one.client.xlen(replicas.stream)
    assert 20 <= length <= 120
    late = await replicas(max_entries=20)
    assert len(late) == 20
    assert late.local.search(TEAM_A, unit(299))[0] == "key-299"  # the newest are kept


async def test_entries_it_cannot_read_are_skipped(replicas: Replicas) -> None:
    one, two = await replicas(), await replicas()
    await one.add(TEAM_A, unit(8), "key-8", 2000.0)
    await one.client.xadd(replicas.stream, {"p": TEAM_A, "k": "no-vector", "e": "2000"})
    await one.client.xadd(  # another length in the same partition: another embedder's vector
        replicas.stream, {"p": TEAM_A, "k": "short", "e": "2000", "v": unit(9, 4).tobytes()}
    )
    replicas.later()
    assert await two.search(TEAM_A, unit(8)) is not None
    assert len(two) == 1 and two.skipped == 2


# ---------------------------------------------------------------------------------- Redis trouble


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_redis_down_serves_the_local_entries_and_logs_once(
    replicas: Replicas, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "bastion.cache")
    alone = await replicas(url=f"redis://127.0.0.1:{_dead_port()}/0")  # start-up read fails: no raise
    await alone.add(TEAM_A, unit(10), "key-10", 2000.0)
    assert await alone.search(TEAM_A, unit(10)) is not None
    for _ in range(3):
        replicas.later(1.1)  # past the back-off: Redis is tried again, and fails again
        await alone.add(TEAM_A, unit(11), "key-11", 2000.0)
        assert await alone.search(TEAM_A, unit(11)) is not None
    failures = [r for r in caplog.records if "semantic index (Redis) failed" in r.getMessage()]
    assert len(failures) == 1


# ---------------------------------------------------------------------------------- the stage


def _stage(state: CacheState, upstream: Upstream) -> CacheStage:
    index = state.semantic_index(100, refresh_ms=0)  # read the stream before every search
    policy = GroupPolicy(always=False, ttl_seconds=60, shared=False, semantic=True, fingerprint="f")
    lookup = SemanticLookup(index, AlikeEmbedder(), 0.9, semantic_text, shared_index=state.shared_index)
    return CacheStage(
        state=state,
        policies={"g": policy},
        executor=upstream,  # type: ignore[arg-type]
        catalog=PriceCatalog(BastionConfig()),
        coalesce=True,
        max_ttl_seconds=3600,
        max_entry_bytes=1 << 20,
        semantic=lookup,
    )


async def test_stages_on_two_replicas_share_semantic_hits_within_a_tenant() -> None:
    await _skip_without_redis()
    prefix = f"bastion-test:{uuid.uuid4().hex}:"
    config = CacheConfig(backend="redis", redis_url=REDIS_URL, redis_prefix=prefix)
    states = [CacheState(config), CacheState(config)]
    upstream = Upstream()
    upstream.release.set()
    one, two = (_stage(state, upstream) for state in states)
    try:
        for state in states:
            await state.start(True)
        assert (await ask(one, "What is the capital of France?", "a")).cache_status == "miss"
        hit = await ask(two, "what is the capital of france", "a")
        assert hit.cache_status == "semantic-hit"
        assert hit.cache_similarity is not None and hit.cache_similarity >= 0.9
        assert (await ask(two, "what is the capital of france", "b")).cache_status == "miss"
        assert upstream.calls == 2
        # the answer is gone from the exact cache: a miss, and replica 2 forgets the vector
        client = states[0].shared_index.client
        answers = [key async for key in client.scan_iter(match=f"{prefix}*") if b"semantic" not in key]
        await client.delete(*answers)
        entries = len(states[1].index)
        assert (await ask(two, "What's the capital of France?", "a")).cache_status == "miss"
        assert upstream.calls == 3
        assert len(states[1].index) == entries  # one forgotten, the new answer's added
    finally:
        for state in states:
            await state.close()
        await _delete_prefix(prefix)
