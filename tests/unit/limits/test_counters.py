"""The counter backends: one suite run on memory and on real Redis, which must answer alike.

Redis tests use a unique key prefix each and delete their keys; they are skipped (with the
reason) only when no Redis answers at BASTION_TEST_REDIS_URL (default 127.0.0.1:6379, which CI
starts). Tests that move time use a hand-driven clock, which RedisCounters passes to its scripts
in place of the server's TIME; the tests marked "server time" sleep a few tens of ms instead.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from bastion.limits.checks import (
    BudgetAdjustment,
    BudgetCheck,
    ConcurrencyCheck,
    ConcurrencyRelease,
    Counters,
    Decision,
    RateAdjustment,
    RateCheck,
)
from bastion.limits.errors import CountersUnavailable
from bastion.limits.memory import MemoryCounters
from bastion.limits.redis import RedisCounters

REDIS_URL = os.environ.get("BASTION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DAY = 86400.0


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


_redis_state: dict[str, str | None] = {}


async def _skip_without_redis() -> None:
    """Skip the calling test when no Redis answers (checked once per session)."""
    if "error" not in _redis_state:
        client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            await client.ping()
            _redis_state["error"] = None
        except Exception as error:  # any failure to reach it means "no Redis here"
            _redis_state["error"] = f"{type(error).__name__}: {error}"
        finally:
            await client.aclose()
    if _redis_state["error"] is not None:
        pytest.skip(f"Redis unreachable at {REDIS_URL} ({_redis_state['error']}); CI starts one")


async def _delete_prefix(prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def _prefix() -> str:
    return f"bastion-test:{uuid.uuid4().hex}:"


class RedisFactory:
    """Makes RedisCounters sharing one test prefix (like replicas) and cleans up after the test."""

    def __init__(self) -> None:
        self.prefix = _prefix()
        self.made: list[RedisCounters] = []

    async def __call__(self, clock: Callable[[], float] | None = None) -> RedisCounters:
        # a loaded CI machine can stall a round trip past the production 0.25 s; the tests are about semantics
        counters = RedisCounters(REDIS_URL, prefix=self.prefix, clock=clock, socket_timeout=2.0)
        await counters.start()
        self.made.append(counters)
        return counters

    async def aclose(self) -> None:
        for counters in self.made:
            await counters.close()
        await _delete_prefix(self.prefix)


@pytest.fixture
async def redis_factory() -> AsyncIterator[RedisFactory]:
    await _skip_without_redis()
    factory = RedisFactory()
    yield factory
    await factory.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Counters]:
    """Each backend on the hand-driven clock."""
    if request.param == "memory":
        yield MemoryCounters(clock)
        return
    await _skip_without_redis()
    factory = RedisFactory()
    try:
        yield await factory(clock)
    finally:
        await factory.aclose()


@pytest.fixture(params=["memory", "redis"])
async def server_time_counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    """Each backend on real time (Redis on its server TIME, as in production)."""
    if request.param == "memory":
        yield MemoryCounters()
        return
    await _skip_without_redis()
    factory = RedisFactory()
    try:
        yield await factory()
    finally:
        await factory.aclose()


def rate(
    limit: int = 10, period: float = 10.0, burst: int = 5, cost: int = 1, key: str = "k:rpm"
) -> RateCheck:
    return RateCheck(key, limit, period, burst, cost)


def budget(
    limit: float, amount: float, hard: bool = True, expires_at: float = 0.0, key: str = "k:day"
) -> BudgetCheck:
    return BudgetCheck(key, limit, amount, hard, expires_at)


# --- rate limits (GCRA) ---------------------------------------------------------------------------


async def test_burst_then_steady_rate_exactly(counters: Counters, clock: FakeClock) -> None:
    check = rate(limit=10, period=10.0, burst=5)  # one unit per second, five at once
    for expected_remaining in (4, 3, 2, 1, 0):
        decision = await counters.acquire([check], "l")
        assert decision.allowed
        assert decision.results[0].remaining == expected_remaining
        assert decision.results[0].reset_seconds == pytest.approx(5 - expected_remaining)
        assert decision.results[0].limit == 10
    denied = await counters.acquire([check], "l")
    assert not denied.allowed
    assert denied.denied_index == 0
    assert denied.retry_after_seconds == pytest.approx(1.0)
    assert denied.results[0].remaining == 0
    assert denied.results[0].reset_seconds == pytest.approx(5.0)
    clock.advance(0.5)
    assert (await counters.acquire([check], "l")).retry_after_seconds == pytest.approx(0.5)
    # From here on exactly one request per emission interval passes, and never a second one.
    for _ in range(20):
        clock.advance(0.5)
        passed = await counters.acquire([check], "l")
        assert passed.allowed
        assert passed.results[0].remaining == 0
        again = await counters.acquire([check], "l")
        assert not again.allowed
        assert again.retry_after_seconds == pytest.approx(1.0)
        clock.advance(0.5)
    # Idle for the whole burst window: the full burst is back, not more.
    clock.advance(100.0)
    results = [await counters.acquire([check], "l") for _ in range(6)]
    assert [decision.allowed for decision in results] == [True] * 5 + [False]


async def test_tokens_cost(counters: Counters) -> None:
    def tokens(cost: int) -> RateCheck:
        return rate(limit=1000, period=60.0, burst=1000, cost=cost, key="k:tpm")  # T = 0.06 s

    first = await counters.acquire([tokens(600)], "l")
    assert first.allowed
    assert first.results[0].remaining == 400
    assert first.results[0].reset_seconds == pytest.approx(36.0)
    too_many = await counters.acquire([tokens(500)], "l")
    assert not too_many.allowed
    assert too_many.results[0].remaining == 400  # nothing was reserved
    assert too_many.retry_after_seconds == pytest.approx(100 * 0.06)
    assert (await counters.acquire([tokens(400)], "l")).allowed
    assert not (await counters.acquire([tokens(1)], "l")).allowed


async def test_cost_above_burst_never_passes(counters: Counters, clock: FakeClock) -> None:
    check = rate(limit=1000, period=60.0, burst=100, cost=101, key="k:tpm")
    decision = await counters.acquire([check], "l")
    assert not decision.allowed
    assert decision.retry_after_seconds == 0.0  # waiting does not help...
    assert decision.results[0].remaining == 100  # ...the whole allowance is smaller than the cost
    assert decision.results[0].remaining < check.cost
    clock.advance(3600.0)
    assert not (await counters.acquire([check], "l")).allowed


async def test_zero_limit_admits_nothing(counters: Counters) -> None:
    decision = await counters.acquire([rate(limit=0, burst=5)], "l")
    assert not decision.allowed
    assert decision.results[0].remaining == 0


async def test_refund_and_extra_charge(counters: Counters) -> None:
    def tokens(cost: int) -> RateCheck:
        return rate(limit=1000, period=60.0, burst=1000, cost=cost, key="k:tpm")

    def adjust(delta: int) -> RateAdjustment:
        return RateAdjustment("k:tpm", 1000, 60.0, delta)

    assert (await counters.acquire([tokens(500)], "l")).allowed
    assert await counters.settle([adjust(-300)], "l") == {}  # used 200 of the 500 reserved
    assert (await counters.acquire([tokens(0)], "l")).results[0].remaining == 800
    await counters.settle([adjust(600)], "l")  # used 600 more than reserved
    assert (await counters.acquire([tokens(0)], "l")).results[0].remaining == 200
    # An extra charge may go past the burst: later requests wait for it, exactly.
    await counters.settle([adjust(2000)], "l")
    state = (await counters.acquire([tokens(0)], "l")).results[0]
    assert state.remaining == 0
    assert state.reset_seconds == pytest.approx(2800 * 0.06)
    denied = await counters.acquire([tokens(1)], "l")
    assert denied.retry_after_seconds == pytest.approx((2800 + 1 - 1000) * 0.06)
    # A refund never makes more room than a full allowance.
    await counters.settle([adjust(-1_000_000)], "l")
    full = (await counters.acquire([tokens(0)], "l")).results[0]
    assert full.remaining == 1000
    assert full.reset_seconds == 0.0


async def test_extra_charge_after_idle_is_charged_in_full(counters: Counters, clock: FakeClock) -> None:
    assert (await counters.acquire([rate(limit=10, period=10.0, burst=5)], "l")).allowed
    clock.advance(60.0)  # the TAT is long past
    await counters.settle([RateAdjustment("k:rpm", 10, 10.0, 3)], "l")
    assert (await counters.acquire([rate(cost=0)], "l")).results[0].remaining == 2


# --- concurrency ----------------------------------------------------------------------------------


async def test_concurrency_release_and_lease_expiry(counters: Counters, clock: FakeClock) -> None:
    check = ConcurrencyCheck("k:inflight", limit=2, lease_seconds=30.0)
    first = await counters.acquire([check], "a")
    assert first.allowed
    assert first.results[0].remaining == 1
    assert first.results[0].reset_seconds == 0.0
    assert (await counters.acquire([check], "b")).results[0].remaining == 0
    full = await counters.acquire([check], "c")
    assert not full.allowed
    assert full.results[0].remaining == 0
    # Acquiring again under a lease already held takes no second slot.
    assert (await counters.acquire([check], "a")).allowed
    await counters.settle([ConcurrencyRelease("k:inflight")], "a")
    assert (await counters.acquire([check], "c")).allowed
    assert not (await counters.acquire([check], "d")).allowed
    # Holders that crashed never release: their slots free when the lease ends.
    clock.advance(30.0)
    after = await counters.acquire([check], "d")
    assert after.allowed
    assert after.results[0].remaining == 1
    await counters.settle([ConcurrencyRelease("k:inflight")], "d")
    await counters.settle([ConcurrencyRelease("k:inflight")], "d")  # releasing twice is harmless
    assert (await counters.acquire([check], "e")).results[0].remaining == 1


# --- budgets --------------------------------------------------------------------------------------


async def test_hard_budget_rejects_soft_budget_records(counters: Counters, clock: FakeClock) -> None:
    end = clock.now + DAY
    hard = budget(1.0, 0.4, hard=True, expires_at=end)
    assert (await counters.acquire([hard], "l")).results[0].remaining == pytest.approx(0.6)
    assert (await counters.acquire([hard], "l")).allowed
    denied = await counters.acquire([hard], "l")
    assert not denied.allowed
    assert denied.results[0].remaining == pytest.approx(0.2)
    assert denied.results[0].reset_seconds == pytest.approx(DAY)
    assert denied.retry_after_seconds == pytest.approx(DAY)  # when the period ends
    assert (await counters.acquire([budget(1.0, 0.2, hard=True, expires_at=end)], "l")).allowed

    soft = budget(1.0, 0.7, hard=False, key="k:soft")
    assert (await counters.acquire([soft], "l")).allowed
    over = await counters.acquire([soft], "l")
    assert over.allowed
    assert over.results[0].remaining == 0.0
    assert await counters.budget_totals(["k:soft", "k:day", "k:none"]) == {
        "k:soft": pytest.approx(1.4),
        "k:day": pytest.approx(1.0),
        "k:none": 0.0,
    }


async def test_zero_budget_blocks_every_paid_request(counters: Counters) -> None:
    lifetime = budget(0.0, 0.000001, key="k:total")
    denied = await counters.acquire([lifetime], "l")
    assert not denied.allowed
    assert denied.retry_after_seconds == 0.0  # a lifetime budget never resets
    assert (await counters.acquire([budget(0.0, 0.0, key="k:total")], "l")).allowed


async def test_budget_is_exact_in_nano_dollars(counters: Counters) -> None:
    micro = budget(1.0, 0.000001, hard=False, key="k:exact")
    for _ in range(1000):
        await counters.acquire([micro], "l")
    assert (await counters.budget_totals(["k:exact"]))["k:exact"] == 0.001
    totals = await counters.settle([BudgetAdjustment("k:exact", 0.000001)] * 1000, "l")
    assert totals == {"k:exact": 0.002}


async def test_settle_returns_totals_and_never_goes_below_zero(counters: Counters) -> None:
    assert (await counters.acquire([budget(10.0, 0.25)], "l")).allowed
    totals = await counters.settle(
        [BudgetAdjustment("k:day", 0.05), BudgetAdjustment("k:other", 1.5), ConcurrencyRelease("k:c")], "l"
    )
    assert totals == {"k:day": 0.3, "k:other": 1.5}
    assert await counters.settle([BudgetAdjustment("k:day", -5.0)], "l") == {"k:day": 0.0}
    assert await counters.settle([BudgetAdjustment("k:missing", -1.0)], "l") == {"k:missing": 0.0}
    assert await counters.budget_totals(["k:day", "k:missing"]) == {"k:day": 0.0, "k:missing": 0.0}


async def test_seed_budget_does_not_overwrite(counters: Counters, clock: FakeClock) -> None:
    end = clock.now + DAY
    await counters.seed_budget("k:day", 0.5, end)
    await counters.seed_budget("k:day", 0.9, end)
    assert await counters.budget_totals(["k:day"]) == {"k:day": 0.5}
    assert not (await counters.acquire([budget(1.0, 0.6, expires_at=end)], "l")).allowed
    assert (await counters.acquire([budget(1.0, 0.5, expires_at=end)], "l")).allowed
    await counters.seed_budget("k:day", 0.0, end)
    assert await counters.budget_totals(["k:day"]) == {"k:day": 1.0}


async def test_first_time_once_per_marker(counters: Counters, clock: FakeClock) -> None:
    assert await counters.first_time("alert:k:80%", clock.now + DAY)
    assert not await counters.first_time("alert:k:80%", clock.now + DAY)
    assert await counters.first_time("alert:k:100%", 0.0)
    assert not await counters.first_time("alert:k:100%", 0.0)


# --- all or nothing -------------------------------------------------------------------------------


async def test_failing_check_reserves_nothing(counters: Counters) -> None:
    requests = rate(limit=10, period=10.0, burst=5)
    slots = ConcurrencyCheck("k:inflight", limit=1)
    spent = budget(1.0, 2.0, hard=True)
    denied = await counters.acquire([requests, slots, spent], "a")
    assert not denied.allowed
    assert denied.denied_index == 2
    assert [result.allowed for result in denied.results] == [True, True, False]
    assert denied.results[0].remaining == 5  # headers describe every check, nothing reserved
    assert denied.results[1].remaining == 1
    assert await counters.budget_totals(["k:day"]) == {"k:day": 0.0}
    # The rate counter and the slot are untouched: the full burst and the slot are still there.
    assert (await counters.acquire([requests, slots], "b")).results[0].remaining == 4


async def test_retry_after_is_the_longest_wait(counters: Counters, clock: FakeClock) -> None:
    requests = rate(limit=10, period=10.0, burst=1)
    assert (await counters.acquire([requests], "l")).allowed
    daily = budget(1.0, 2.0, hard=True, expires_at=clock.now + 3600.0)
    lifetime = budget(1.0, 2.0, hard=True, key="k:total")
    decision = await counters.acquire([requests, daily, lifetime], "l")
    assert decision.denied_index == 0
    assert [result.retry_after_seconds for result in decision.results] == [
        pytest.approx(1.0),
        pytest.approx(3600.0),
        0.0,
    ]
    assert decision.retry_after_seconds == pytest.approx(3600.0)


async def test_empty_request(counters: Counters) -> None:
    assert await counters.acquire([], "l") == Decision(True, [])
    assert await counters.settle([], "l") == {}
    assert await counters.budget_totals([]) == {}


# --- on real time ---------------------------------------------------------------------------------


async def test_server_time_rate_and_lease(server_time_counters: Counters) -> None:
    counters = server_time_counters
    check = rate(limit=20, period=1.0, burst=2)  # T = 50 ms
    assert (await counters.acquire([check], "l")).allowed
    assert (await counters.acquire([check], "l")).allowed
    denied = await counters.acquire([check], "l")
    assert not denied.allowed
    assert 0.0 < denied.retry_after_seconds <= 0.05
    await asyncio.sleep(denied.retry_after_seconds + 0.01)
    assert (await counters.acquire([check], "l")).allowed

    slot = ConcurrencyCheck("k:inflight", limit=1, lease_seconds=0.05)
    assert (await counters.acquire([slot], "a")).allowed
    assert not (await counters.acquire([slot], "b")).allowed
    await asyncio.sleep(0.06)
    assert (await counters.acquire([slot], "b")).allowed


async def test_server_time_budget_period_ends(server_time_counters: Counters) -> None:
    counters = server_time_counters
    end = time.time() + 0.1
    assert (await counters.acquire([budget(1.0, 0.75, expires_at=end)], "l")).allowed
    assert not (await counters.acquire([budget(1.0, 0.75, expires_at=end)], "l")).allowed
    assert await counters.first_time("once", end)
    await asyncio.sleep(0.15)
    assert await counters.budget_totals(["k:day"]) == {"k:day": 0.0}
    assert await counters.first_time("once", end + 60)
    # Seeding or marking with a period that already ended stores nothing.
    await counters.seed_budget("k:old", 5.0, end)
    assert await counters.budget_totals(["k:old"]) == {"k:old": 0.0}


# --- the backends agree ---------------------------------------------------------------------------


async def test_backends_agree_on_a_random_workload(redis_factory: RedisFactory) -> None:
    """The same random sequence of checks, settlements and clock moves; results must be equal."""
    memory_clock, redis_clock = FakeClock(), FakeClock()
    memory = MemoryCounters(memory_clock)
    remote = await redis_factory(redis_clock)
    generator = random.Random(20261127)
    end = 1000.0 + 10 * DAY

    def random_check() -> RateCheck | ConcurrencyCheck | BudgetCheck:
        kind = generator.randrange(5)
        if kind == 0:
            return RateCheck("rpm", 6, 3.0, 3, 1)
        if kind == 1:
            return RateCheck("tpm", 1000, 60.0, 1000, generator.choice([0, 1, 50, 333, 700, 1001]))
        if kind == 2:
            return ConcurrencyCheck("inflight", 2, generator.choice([1.0, 5.0]))
        if kind == 3:
            return BudgetCheck("day", 0.5, generator.choice([0.0, 0.001, 0.03, 0.2]), True, end)
        return BudgetCheck("soft", 0.1, 0.017, False, 0.0)

    def random_adjustment() -> RateAdjustment | BudgetAdjustment | ConcurrencyRelease:
        kind = generator.randrange(3)
        if kind == 0:
            return RateAdjustment("tpm", 1000, 60.0, generator.randint(-800, 800))
        if kind == 1:
            return BudgetAdjustment("day", generator.choice([-0.5, -0.01, 0.0, 0.013]), end)
        return ConcurrencyRelease("inflight")

    for step in range(1000):
        lease = f"lease-{generator.randrange(8)}"
        if generator.random() < 0.7:
            checks = [random_check() for _ in range(generator.randint(1, 4))]
            expected = await memory.acquire(checks, lease)
            assert await remote.acquire(checks, lease) == expected, f"step {step}: {checks}"
        else:
            adjustments = [random_adjustment() for _ in range(generator.randint(1, 3))]
            expected_totals = await memory.settle(adjustments, lease)
            assert await remote.settle(adjustments, lease) == expected_totals, f"step {step}"
        advance = generator.choice([0.0, 0.0, 0.25, 0.5, 1.0, 2.75])
        memory_clock.advance(advance)
        redis_clock.advance(advance)
    keys = ["day", "soft"]
    assert await remote.budget_totals(keys) == await memory.budget_totals(keys)


# --- Redis only -----------------------------------------------------------------------------------


async def test_replicas_never_over_admit(redis_factory: RedisFactory) -> None:
    """400 concurrent requests through four replicas (own pools), on server TIME."""
    replicas = [await redis_factory() for _ in range(4)]

    async def admit(check: RateCheck | BudgetCheck, key_prefix: str) -> int:
        calls = [replicas[i % 4].acquire([check], f"{key_prefix}-{i}") for i in range(400)]
        return sum(decision.allowed for decision in await asyncio.gather(*calls))

    assert await admit(RateCheck("rpm", 50, 3600.0, 50, 1), "rate") == 50
    assert await admit(BudgetCheck("budget", 1.0, 0.03, True, time.time() + 60), "budget") == 33
    assert await replicas[0].budget_totals(["budget"]) == {"budget": 0.99}


async def test_replicas_reserve_all_or_nothing_under_contention(redis_factory: RedisFactory) -> None:
    replicas = [await redis_factory() for _ in range(4)]
    checks = [RateCheck("rpm", 50, 3600.0, 50, 1), BudgetCheck("budget", 1.0, 0.03, True)]
    decisions = await asyncio.gather(*(replicas[i % 4].acquire(checks, f"l{i}") for i in range(400)))
    assert sum(decision.allowed for decision in decisions) == 33
    # The 367 refused requests reserved nothing on the rate counter: 50 - 33 remain.
    after = await replicas[1].acquire([RateCheck("rpm", 50, 3600.0, 50, 0)], "probe")
    assert after.results[0].remaining == 17


async def test_redis_keys_carry_ttls(redis_factory: RedisFactory) -> None:
    counters = await redis_factory()
    end = time.time() + 3600
    checks = [
        RateCheck("rpm", 10, 60.0, 10, 3),
        ConcurrencyCheck("inflight", 5, lease_seconds=120.0),
        BudgetCheck("day", 1.0, 0.1, True, end),
    ]
    assert (await counters.acquire(checks, "l")).allowed
    await counters.first_time("marker", end)
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        prefix = redis_factory.prefix
        assert 17_000 < await client.pttl(f"{prefix}rate:rpm") <= 18_000
        assert 119_000 < await client.pttl(f"{prefix}conc:inflight") <= 120_000
        assert 3_590_000 < await client.pttl(f"{prefix}budget:day") <= 3_600_000
        assert await client.get(f"{prefix}budget:day") == b"100000000"
        assert 3_590_000 < await client.pttl(f"{prefix}once:marker") <= 3_600_000
    finally:
        await client.aclose()


async def test_scripts_fall_back_to_eval_on_noscript(redis_factory: RedisFactory) -> None:
    """A server that lost the scripts (restart, failover, SCRIPT FLUSH) gets them again."""
    counters = await redis_factory()
    # An unknown SHA behaves like a flushed script cache, without flushing a shared server.
    counters._acquire_script.sha = counters._settle_script.sha = "0" * 40
    assert (await counters.acquire([rate()], "l")).allowed
    assert await counters.settle([BudgetAdjustment("k", 0.5)], "l") == {"k": 0.5}


async def test_unreachable_redis_raises_counters_unavailable() -> None:
    counters = RedisCounters("redis://127.0.0.1:1/0", prefix=_prefix(), socket_timeout=0.2)
    try:
        with pytest.raises(CountersUnavailable):
            await counters.start()
        with pytest.raises(CountersUnavailable):
            await counters.acquire([rate()], "l")
        with pytest.raises(CountersUnavailable):
            await counters.settle([BudgetAdjustment("k", 1.0)], "l")
        with pytest.raises(CountersUnavailable):
            await counters.budget_totals(["k"])
        with pytest.raises(CountersUnavailable):
            await counters.first_time("m", 0.0)
    finally:
        await counters.close()


# --- memory only ----------------------------------------------------------------------------------


async def test_memory_drops_idle_entries(clock: FakeClock) -> None:
    counters = MemoryCounters(clock, sweep_seconds=10.0)
    for i in range(100):
        checks = [
            rate(key=f"rpm:{i}"),
            ConcurrencyCheck(f"inflight:{i}", 1, lease_seconds=5.0),
            budget(1.0, 0.1, expires_at=clock.now + 5.0, key=f"day:{i}"),
        ]
        assert (await counters.acquire(checks, f"l{i}")).allowed
        await counters.first_time(f"marker:{i}", clock.now + 5.0)
    await counters.acquire([budget(1.0, 0.1, key="lifetime")], "l")
    clock.advance(11.0)
    await counters.acquire([], "l")
    assert counters._tats == {}
    assert counters._leases == {}
    assert list(counters._budgets) == ["lifetime"]
    assert counters._markers == {}
