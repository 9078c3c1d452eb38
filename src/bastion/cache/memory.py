"""The in-memory exact cache: LRU bounded by entries and bytes, each entry with its own expiry.

One process's cache (several workers or replicas each keep their own: use Redis to share).
Expired entries are dropped when they are read or when they reach the cold end of the LRU.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from bastion.cache.entry import CacheEntry


class MemoryBackend:
    def __init__(self, max_entries: int, max_bytes: int, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self.bytes = 0
        self.on_evict: Callable[[str], None] | None = None
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()

    @property
    def entries(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self.clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    async def put(self, key: str, entry: CacheEntry) -> None:
        if entry.size > self.max_bytes:
            return
        previous = self._entries.pop(key, None)
        if previous is not None:
            self.bytes -= previous.size
        self._entries[key] = entry
        self.bytes += entry.size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    async def delete(self, key: str) -> None:
        if key in self._entries:
            self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key)
        self.bytes -= entry.size
        if self.on_evict is not None:
            self.on_evict(key)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()
        self.bytes = 0
