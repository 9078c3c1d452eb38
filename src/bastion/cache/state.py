"""What the cache keeps across config reloads: the exact backend, flights in progress, the vector index.

Built once per process by ``Services``; a reload builds a new ``CacheStage`` over the same
state, so entries survive it. Changing where entries live (backend, Redis URL, prefix, size
bounds) needs a restart, like the other stores. With the Redis backend the vector index is
shared too: the local index mirrors the other replicas' additions (``semantic_redis``).
"""

from __future__ import annotations

import logging
from typing import Any, cast

from bastion.cache.backend import CacheBackend
from bastion.cache.coalesce import InFlight
from bastion.cache.memory import MemoryBackend
from bastion.config import CacheConfig
from bastion.telemetry.cache_metrics import CACHE

log = logging.getLogger("bastion.cache")


class CacheState:
    def __init__(self, config: CacheConfig) -> None:
        self.backend_name = config.backend
        self.redis_prefix = config.redis_prefix
        self.backend: CacheBackend
        if config.backend == "redis":
            from bastion.cache.redis import RedisBackend

            assert config.redis_url is not None
            self.backend = RedisBackend(config.redis_url, config.redis_prefix)
        else:
            memory = MemoryBackend(config.max_entries, config.max_bytes)
            CACHE.track_size(lambda: memory.entries, lambda: memory.bytes)
            self.backend = memory
        self.backend.on_evict = self._evicted
        self.inflight = InFlight()
        self.index: Any = None  # semantic.SemanticIndex, built when a group first needs it
        self.shared_index: Any = None  # semantic_redis.RedisSemanticIndex over it, with the Redis backend
        self.local_embedder: Any = None  # the bundled embedding model, loaded once
        self.settings = self.settings_of(config)
        self.started = False

    @staticmethod
    def settings_of(config: CacheConfig) -> tuple[object, ...]:
        return (config.backend, config.redis_url, config.redis_prefix, config.max_entries, config.max_bytes)

    def semantic_index(self, max_entries: int, refresh_ms: float = 200.0) -> Any:
        """This process's vector index (built on first use); ``shared_index`` wraps it with Redis."""
        if self.index is None:
            from bastion.cache.semantic import SemanticIndex

            self.index = SemanticIndex(max_entries)
            if self.backend_name == "redis":
                from bastion.cache.redis import RedisBackend
                from bastion.cache.semantic_redis import RedisSemanticIndex

                client = cast(RedisBackend, self.backend).client
                self.shared_index = RedisSemanticIndex(self.index, client, self.redis_prefix)
        if self.shared_index is not None:
            self.shared_index.refresh_seconds = refresh_ms / 1000  # a reload may change it
        return self.index

    def _evicted(self, key: str) -> None:
        if self.index is not None:
            self.index.remove(key)

    async def start(self, in_use: bool) -> None:
        if self.started or not in_use:
            return
        self.started = True
        await self.backend.start()
        if self.shared_index is not None:
            await self.shared_index.start()

    async def close(self) -> None:
        if self.shared_index is not None:
            await self.shared_index.close()
        await self.backend.close()
