"""The exact cache on Redis, shared by every replica: one ``GET`` per lookup, one ``SET … PX`` per fill.

Values are the entry as JSON (orjson); keys are ``prefix`` + the entry key; Redis expires
them. The cache is an optimisation, so Redis trouble never fails a request: an error is a
miss (or a skipped fill), logged once per outage, and Redis is left alone for a second before
the next try so a dead server costs requests nothing.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from bastion.cache.entry import CacheEntry
from bastion.telemetry.cache_metrics import CACHE

log = logging.getLogger("bastion.cache")

#: how long Redis is skipped after an error
BACKOFF_SECONDS = 1.0


class RedisBackend:
    def __init__(
        self,
        url: str,
        prefix: str = "bastion:cache:",
        *,
        socket_timeout: float = 0.25,
        max_connections: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.prefix = prefix
        self.clock = clock
        self.on_evict: Callable[[str], None] | None = None
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=socket_timeout,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self.client = Redis(connection_pool=pool)
        self._skip_until = 0.0
        self._failing = False

    @property
    def entries(self) -> int | None:
        return None

    async def get(self, key: str) -> CacheEntry | None:
        if self._skip_until and time.monotonic() < self._skip_until:
            return None
        try:
            raw = await self.client.get(self.prefix + key)
        except (RedisError, OSError, TimeoutError) as error:
            self._failed("lookup", error)
            return None
        self._recovered()
        if raw is None:
            return None
        entry = CacheEntry.from_bytes(raw)
        if entry is None or entry.expires_at <= self.clock():
            return None
        return entry

    async def put(self, key: str, entry: CacheEntry) -> None:
        if self._skip_until and time.monotonic() < self._skip_until:
            return
        ttl_ms = math.ceil((entry.expires_at - self.clock()) * 1000)
        if ttl_ms <= 0:
            return
        try:
            await self.client.set(self.prefix + key, entry.to_bytes(), px=ttl_ms)
        except (RedisError, OSError, TimeoutError) as error:
            self._failed("fill", error)
            return
        self._recovered()

    async def delete(self, key: str) -> None:
        try:
            await self.client.delete(self.prefix + key)
        except (RedisError, OSError, TimeoutError) as error:
            self._failed("delete", error)

    def _failed(self, what: str, error: BaseException) -> None:
        CACHE.backend_errors.inc()
        self._skip_until = time.monotonic() + BACKOFF_SECONDS
        if not self._failing:
            self._failing = True
            log.warning(
                "cache backend (Redis) failed on %s: %r; serving without it until it is back", what, error
            )

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            self._skip_until = 0.0
            log.warning("cache backend (Redis) is reachable again")

    async def start(self) -> None:
        try:
            await self.client.ping()
        except (RedisError, OSError, TimeoutError) as error:
            self._failed("start-up", error)

    async def close(self) -> None:
        await self.client.aclose()
