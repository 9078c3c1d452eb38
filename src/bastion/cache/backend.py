"""The interface of an exact-cache backend (``memory.MemoryBackend``, ``redis.RedisBackend``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bastion.cache.entry import CacheEntry


class CacheBackend(Protocol):
    """Entries by key, each with its own expiry. A backend never raises on the request path."""

    #: called with the key of every entry the backend drops before its time (the semantic index
    #: forgets it); set by the owner, may be None
    on_evict: Callable[[str], None] | None

    async def get(self, key: str) -> CacheEntry | None: ...
    async def put(self, key: str, entry: CacheEntry) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...

    @property
    def entries(self) -> int | None:
        """Entries held, when the backend knows cheaply (None otherwise)."""
        ...
