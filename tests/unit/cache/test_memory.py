"""The in-memory exact cache: LRU by entries and bytes, per-entry expiry, eviction callback."""

from __future__ import annotations

from bastion.cache.entry import CacheEntry, make_entry
from bastion.cache.memory import MemoryBackend


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def entry(text: str = "hi", ttl: float = 60.0, now: float = 1000.0) -> CacheEntry:
    response = {"choices": [{"index": 0, "message": {"content": text}, "finish_reason": "stop"}]}
    return make_entry("p", response, "openai", "gpt-4o", ttl, now=now)


async def test_lru_keeps_at_most_max_entries_and_drops_the_least_recently_used() -> None:
    evicted: list[str] = []
    cache = MemoryBackend(max_entries=2, max_bytes=1 << 20, clock=Clock())
    cache.on_evict = evicted.append
    await cache.put("a", entry())
    await cache.put("b", entry())
    assert await cache.get("a") is not None  # a is now the most recently used
    await cache.put("c", entry())
    assert cache.entries == 2
    assert await cache.get("b") is None
    assert await cache.get("a") is not None and await cache.get("c") is not None
    assert evicted == ["b"]


async def test_bytes_bound() -> None:
    one = entry("x" * 1000)
    cache = MemoryBackend(max_entries=100, max_bytes=one.size * 3, clock=Clock())
    for name in "abcde":
        await cache.put(name, entry("x" * 1000))
    assert cache.entries == 3
    assert cache.bytes <= one.size * 3
    assert [await cache.get(k) is not None for k in "abcde"] == [False, False, True, True, True]


async def test_an_entry_larger_than_the_whole_cache_is_not_kept() -> None:
    cache = MemoryBackend(max_entries=10, max_bytes=300, clock=Clock())
    await cache.put("big", entry("x" * 1000))
    assert cache.entries == 0 and cache.bytes == 0


async def test_replacing_an_entry_keeps_the_byte_count_right() -> None:
    cache = MemoryBackend(max_entries=10, max_bytes=1 << 20, clock=Clock())
    await cache.put("a", entry("short"))
    await cache.put("a", entry("a longer answer"))
    assert cache.entries == 1
    assert cache.bytes == entry("a longer answer").size


async def test_ttl() -> None:
    clock = Clock()
    cache = MemoryBackend(max_entries=10, max_bytes=1 << 20, clock=clock)
    await cache.put("a", entry(ttl=10))
    clock.now += 9.9
    assert await cache.get("a") is not None
    clock.now += 0.2
    assert await cache.get("a") is None
    assert cache.entries == 0 and cache.bytes == 0
