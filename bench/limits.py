#!/usr/bin/env python3
"""Latency of the limit counters: acquire + settle of a request with 5 checks, per backend.

Each request checks requests/min and tokens/min (GCRA), a concurrency slot, a hard daily budget
and a soft monthly budget, over 100 tenants, then settles: tokens and both budgets adjusted to
the "actual" usage, the slot released. Printed: p50 / p99 in microseconds of acquire, settle and
both, one request at a time (the added latency a request sees), plus Redis throughput with
--concurrency requests in flight. Redis is the one at --redis-url (loopback by default); its keys
live under a unique prefix, deleted at the end.

    .venv/bin/python bench/limits.py [--requests 20000] [--redis-url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from bastion.limits.checks import (
    BudgetAdjustment,
    BudgetCheck,
    ConcurrencyCheck,
    ConcurrencyRelease,
    Counters,
    RateAdjustment,
    RateCheck,
)
from bastion.limits.memory import MemoryCounters

TENANTS = 100


def request(index: int) -> tuple[list, list]:
    tenant = f"key:{index % TENANTS}"
    end = time.time() + 86400
    checks = [
        RateCheck(f"{tenant}:rpm", 1_000_000, 60.0, 1_000_000, 1),
        RateCheck(f"{tenant}:tpm", 1_000_000_000, 60.0, 1_000_000_000, 1200),
        ConcurrencyCheck(f"{tenant}:inflight", 1000),
        BudgetCheck(f"{tenant}:day:20261127", 1_000_000.0, 0.012, True, end),
        BudgetCheck(f"{tenant}:month:202611", 1_000_000.0, 0.012, False, end),
    ]
    adjustments = [
        RateAdjustment(f"{tenant}:tpm", 1_000_000_000, 60.0, -400),
        BudgetAdjustment(f"{tenant}:day:20261127", -0.004, end),
        BudgetAdjustment(f"{tenant}:month:202611", -0.004, end),
        ConcurrencyRelease(f"{tenant}:inflight"),
    ]
    return checks, adjustments


def percentiles(samples_ns: list[int]) -> str:
    ordered = sorted(samples_ns)
    p50 = ordered[len(ordered) // 2] / 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000
    return f"p50 {p50:8.1f} us   p99 {p99:8.1f} us"


async def measure(counters: Counters, requests: int) -> None:
    prepared = [request(index) for index in range(requests)]
    for checks, adjustments in prepared[: min(1000, requests)]:  # warm up
        await counters.acquire(checks, "warm")
        await counters.settle(adjustments, "warm")
    acquire_ns, settle_ns, total_ns = [], [], []
    clock = time.perf_counter_ns
    for index, (checks, adjustments) in enumerate(prepared):
        lease = f"lease-{index}"
        start = clock()
        decision = await counters.acquire(checks, lease)
        middle = clock()
        await counters.settle(adjustments, lease)
        end = clock()
        assert decision.allowed
        acquire_ns.append(middle - start)
        settle_ns.append(end - middle)
        total_ns.append(end - start)
    print(f"  acquire          {percentiles(acquire_ns)}")
    print(f"  settle           {percentiles(settle_ns)}")
    print(f"  acquire + settle {percentiles(total_ns)}")


async def throughput(counters: Counters, requests: int, concurrency: int) -> None:
    prepared = [request(index) for index in range(requests)]
    queue = iter(enumerate(prepared))

    async def worker() -> None:
        for index, (checks, adjustments) in queue:
            await counters.acquire(checks, f"lease-{index}")
            await counters.settle(adjustments, f"lease-{index}")

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    print(f"  {concurrency} in flight: {requests / elapsed:,.0f} requests/s (acquire + settle each)")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--concurrency", type=int, default=32)
    options = parser.parse_args()

    print(f"memory backend, {options.requests} requests of 5 checks, one at a time")
    await measure(MemoryCounters(), options.requests)

    try:
        from bastion.limits.errors import CountersUnavailable
        from bastion.limits.redis import RedisCounters
    except ImportError as error:
        print(f"redis backend skipped: {error} (install the 'scale' extra)")
        return
    prefix = f"bastion-bench:{uuid.uuid4().hex}:"
    counters = RedisCounters(options.redis_url, prefix=prefix)
    try:
        await counters.start()
    except CountersUnavailable as error:
        print(f"redis backend skipped: {error}")
        return
    try:
        print(f"redis backend at {options.redis_url}, one at a time")
        await measure(counters, options.requests)
        print("redis backend, throughput")
        await throughput(counters, options.requests, options.concurrency)
    finally:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(options.redis_url)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        await counters.close()


if __name__ == "__main__":
    asyncio.run(main())
