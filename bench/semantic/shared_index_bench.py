#!/usr/bin/env python3
"""What sharing the semantic index through Redis costs, and how stale a replica's mirror gets.

Two ``RedisSemanticIndex`` instances on one prefix play two replicas, each on the client the
Redis backend builds (the same pool settings as production); the prefix is deleted afterwards.

  xread      one raw ``XREAD`` of the stream with nothing new (the floor: a Redis round trip);
  refresh    ``refresh()`` when a read is due: nothing new (the usual case), then 1 and 10 entries
             written by the other replica since (384-dim vectors, 60-character texts);
  publish    ``publish()``: the Lua script (XADD MAXLEN ~, PTTL, PEXPIRE);
  overlap    what the stage does on an exact miss: ``prefetch()`` (a read is due at every lookup
             here), embed the question with the local model (when installed), then search: how
             long the search still waits for the read once the embedding is done (on an empty
             partition, so the figure is the read's cost to the request and nothing else);
  catch-up   ``start()`` of a new replica over a stream of N entries (pages of 256);
  staleness  replica 1 adds an entry at a random moment; replica 2 searches every 5 ms with the
             default refresh interval (200 ms) until it finds it: time from the add to the find.

    .venv/bin/python bench/semantic/shared_index_bench.py [--url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from bastion.cache.redis import RedisBackend
from bastion.cache.semantic import SemanticIndex
from bastion.cache.semantic_redis import RedisSemanticIndex

DIMENSIONS = 384
PARTITION = "bench|f|team:bench|ctx|local"
TEXT = "How do I move my subscription to another payment card, please?"


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    p50, p99, top = np.percentile(np.array(samples) * 1000, [50, 99, 100])
    return float(p50), float(p99), float(top)


def row(name: str, samples: list[float]) -> str:
    p50, p99, top = percentiles(samples)
    return f"| {name} | {p50:.3f} | {p99:.3f} | {top:.3f} | {len(samples)} |"


async def measure(url: str, rounds: int, catch_up: int, staleness_samples: int) -> list[str]:
    prefix = f"bench-semantic-{uuid.uuid4().hex[:8]}:"
    backends = [RedisBackend(url, prefix) for _ in range(3)]
    one, two, late = (
        RedisSemanticIndex(SemanticIndex(max(catch_up, 10_000)), backend.client, prefix, refresh_seconds=0)
        for backend in backends
    )
    rng = np.random.default_rng(7)
    count = 2 * rounds + max(catch_up, 10_000) + staleness_samples + 10
    vectors = rng.standard_normal((count, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    used = 0
    expires = time.time() + 3600

    def next_vector() -> np.ndarray:
        nonlocal used
        used += 1
        return vectors[used - 1]

    try:
        await one.start()
        await two.start()
        await one.add(PARTITION, next_vector(), "warm-up", expires, TEXT)
        for _ in range(50):
            await two.refresh()
        raw, empty, single, ten, publish = [], [], [], [], []
        for _ in range(rounds):
            started = time.perf_counter()
            await two.client.xread({two.stream: two.last_id}, count=two.page_entries)
            raw.append(time.perf_counter() - started)
            started = time.perf_counter()
            await two.refresh()
            empty.append(time.perf_counter() - started)
        for _ in range(rounds):
            vector = next_vector()
            started = time.perf_counter()
            await one.add(PARTITION, vector, f"key-{used}", expires, TEXT)
            publish.append(time.perf_counter() - started)
            started = time.perf_counter()
            await two.refresh()
            single.append(time.perf_counter() - started)
        for _ in range(rounds // 10):
            for _ in range(10):
                await one.add(PARTITION, next_vector(), f"key-{used}", expires, TEXT)
            started = time.perf_counter()
            await two.refresh()
            ten.append(time.perf_counter() - started)
        overlap = await measure_overlap(two, rounds // 4)
        while len(one) < catch_up:
            await one.add(PARTITION, next_vector(), f"key-{used}", expires, TEXT)
        started = time.perf_counter()
        await late.start()
        catch_up_seconds = time.perf_counter() - started
        caught = len(late)

        for _ in range(catch_up // two.page_entries + 2):  # replica 2 reads what it has not yet
            await two.refresh()
        two.refresh_seconds = 0.2
        stale = []
        for _ in range(staleness_samples):
            await asyncio.sleep(random.uniform(0, 0.2))
            vector, key = next_vector(), f"key-{used}"
            await one.add(PARTITION, vector, key, expires, TEXT)
            added = time.perf_counter()
            for _ in range(1000):  # a search every 5 ms, as a busy replica would
                if await two.search(PARTITION, vector, threshold=0.999) is not None:
                    stale.append(time.perf_counter() - added)
                    break
                await asyncio.sleep(0.005)
    finally:
        for shared in (one, two, late):
            await shared.close()
        cleanup = backends[0].client
        keys = [key async for key in cleanup.scan_iter(match=f"{prefix}*")]
        if keys:
            await cleanup.delete(*keys)
        for backend in backends:
            await backend.close()
    return [
        "| operation | p50 ms | p99 ms | max ms | samples |",
        "|---|---:|---:|---:|---:|",
        row("raw XREAD, nothing new", raw),
        row("refresh, nothing new", empty),
        row("refresh, 1 new entry", single),
        row("refresh, 10 new entries", ten),
        row("publish (Lua: XADD + TTL)", publish),
        *([row("read started before a local embedding: wait left after it", overlap)] if overlap else []),
        row("staleness: add on replica 1 → found on replica 2 (200 ms interval)", stale),
        "",
        f"Catch-up of a new replica: {caught} entries in {catch_up_seconds * 1000:.0f} ms.",
    ]


async def measure_overlap(shared: RedisSemanticIndex, rounds: int) -> list[float]:
    try:
        from bastion.cache.embedders import LocalEmbedder

        embedder = LocalEmbedder()
        embedder.load()
    except Exception as error:  # the model is optional here
        print(f"(no overlap figures: {error})", file=sys.stderr)
        return []
    for _ in range(10):
        await embedder.embed([TEXT])
    waits = []
    for _ in range(rounds):
        shared.prefetch()
        vector = (await embedder.embed([TEXT]))[0]
        started = time.perf_counter()
        await shared.search("bench|empty", vector, prefetched=True)  # as the stage searches
        waits.append(time.perf_counter() - started)
    return waits


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--catch-up", type=int, default=10_000)
    parser.add_argument("--staleness-samples", type=int, default=40)
    args = parser.parse_args()
    lines = asyncio.run(measure(args.url, args.rounds, args.catch_up, args.staleness_samples))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
