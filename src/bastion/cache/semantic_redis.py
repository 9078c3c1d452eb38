"""The semantic index shared by replicas: each replica's in-memory index mirrors one Redis Stream.

Redis here has no vector search (no RediSearch), so searching stays in process, in a
``SemanticIndex``, and Redis carries only the additions. Every replica appends what it indexes
to one stream, ``{prefix}semantic:v1`` (partition, entry key, float32 vector, expiry, text, and
which replica wrote it), and tails it: before a search it reads what was appended since the last
entry it read, in one round trip that is usually empty. It reads at most once per
``refresh_seconds`` (searches in between use the mirror as it is, and searches that arrive while a
read is in flight wait for it), so a replica sees another's entry at most ``refresh_seconds`` plus
a round trip after it was written, and the hot path pays a round trip only now and then; the cache
stage starts the read while the query is being embedded, so it is hidden behind the embedding.

One stream rather than one per partition: a replica needs one cursor, one read per interval
whatever the number of partitions, and every replica ends up holding the same newest
``max_entries`` entries (the stream is trimmed to about the index's own bound). Partitions are
unchanged: an entry carries its partition (which includes the tenant), the mirror files it under
that partition, and a search looks at its own partition only. On a hit the answer is read from the
exact cache, which checks the partition again, as for a local hit.

Bounded: ``XADD … MAXLEN ~ max_entries``, and the stream expires when its longest-lived entry
does. Redis trouble never fails a request: the replica serves from its mirror alone (its new
entries are not published: their exact-cache entries did not reach Redis either), logs once per
outage, and leaves Redis alone for a second before the next try.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from bastion.cache.semantic import SemanticIndex, require_numpy
from bastion.telemetry.cache_metrics import CACHE

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from redis.asyncio import Redis

__all__ = ["RedisSemanticIndex"]

log = logging.getLogger("bastion.cache")

#: how long Redis is skipped after an error
BACKOFF_SECONDS = 1.0
#: entries read per round trip; a full page makes the next search read on at once
PAGE_ENTRIES = 256
#: the stream's name under the cache prefix; a change of entry format gets a new one
STREAM_NAME = "semantic:v1"

# Append one entry (ARGV[3…]: field, value, …), trim the stream to about ARGV[1] entries, and keep
# the stream at least as long as this entry lives (ARGV[2] ms) without shortening the life a
# longer-lived entry gave it (PTTL is -1 on a stream that was just created).
_PUBLISH = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return id
"""


class RedisSemanticIndex:
    """A ``SemanticIndex`` kept in step with every replica's additions through a Redis Stream.

    ``search`` and ``add`` are the index's, made async: ``search`` first reads the stream when a
    read is due, ``add`` also appends the entry for the others. ``remove`` is local (each replica
    drops a vector when it finds its answer gone from the exact cache).
    """

    def __init__(
        self,
        local: SemanticIndex,
        client: Redis,
        prefix: str = "bastion:cache:",
        *,
        refresh_seconds: float = 0.2,
        max_entries: int | None = None,
        page_entries: int = PAGE_ENTRIES,
        clock: Callable[[], float] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.local = local
        self.client = client  # not owned: the exact cache's client, closed with it
        self.stream = prefix + STREAM_NAME
        self.refresh_seconds = refresh_seconds
        self.max_entries = max_entries if max_entries is not None else local.max_entries
        self.page_entries = page_entries
        self.clock = clock if clock is not None else local.clock  # the clock ``expires_at`` is on
        self.monotonic = monotonic  # refresh interval and back-off
        self.origin = uuid.uuid4().hex[:16].encode()  # this replica, to skip its own entries
        self.last_id: bytes | str = "0-0"  # the last stream entry read
        self.skipped = 0  # entries read but not indexed: another format, or other dimensions
        self._np = require_numpy()
        self._publish = client.register_script(_PUBLISH)
        self._next_read = 0.0
        self._reading: asyncio.Task[int] | None = None
        self._skip_until = 0.0
        self._failing = False

    def __len__(self) -> int:
        return len(self.local)

    # ------------------------------------------------------------------ the index

    async def search(
        self,
        partition: str,
        vector: ArrayLike,
        *,
        text: str | None = None,
        threshold: float | None = None,
        prefetched: bool = False,
    ) -> tuple[str, float] | None:
        """``SemanticIndex.search`` over every replica's entries (as of the last read of the stream).

        Reads the stream first when a read is due; with ``prefetched`` (the caller called
        ``prefetch`` just before) it only waits for a read in progress, so one lookup reads once.
        """
        await self._wait(self._reading if prefetched else self._due())
        return self.local.search(partition, vector, text=text, threshold=threshold)

    async def add(
        self, partition: str, vector: ArrayLike, entry_key: str, expires_at: float, text: str | None = None
    ) -> None:
        """Index an entry here and append it to the stream for the other replicas."""
        self.local.add(partition, vector, entry_key, expires_at, text)
        await self.publish(partition, vector, entry_key, expires_at, text)

    def remove(self, entry_key: str) -> None:
        self.local.remove(entry_key)

    # ------------------------------------------------------------------ the stream

    def prefetch(self) -> None:
        """Start reading the stream when a read is due, without waiting (the caller embeds meanwhile)."""
        self._due()

    async def refresh(self) -> None:
        """Read the stream when a read is due; wait for a read in progress. Never raises."""
        await self._wait(self._due())

    @staticmethod
    async def _wait(reading: asyncio.Task[int] | None) -> None:
        if reading is not None:
            # shielded: a request that goes away does not cancel the read the others wait for;
            # a failure other than Redis's own was logged when the read ended
            with contextlib.suppress(Exception):
                await asyncio.shield(reading)

    async def publish(
        self, partition: str, vector: ArrayLike, entry_key: str, expires_at: float, text: str | None = None
    ) -> None:
        """Append an entry to the stream (it is not added to this replica's index). Never raises."""
        if self.monotonic() < self._skip_until:
            return
        ttl_ms = math.ceil((expires_at - self.clock()) * 1000)
        if ttl_ms <= 0:
            return
        row = self._np.asarray(vector, dtype="<f4").reshape(-1)
        named: dict[bytes, Any] = {
            b"p": partition,
            b"k": entry_key,
            b"v": row.tobytes(),
            b"e": repr(float(expires_at)),
            b"o": self.origin,
        }
        if text is not None:
            named[b"t"] = text
        fields = [item for pair in named.items() for item in pair]
        try:
            await self._publish(keys=[self.stream], args=[self.max_entries, ttl_ms, *fields])
        except (RedisError, OSError, TimeoutError) as error:
            self._failed("publish", error)
            return
        self._recovered()

    async def start(self) -> None:
        """Read the stream to its end: a replica starts with what the others have indexed."""
        for _ in range(self.max_entries // self.page_entries + 2):
            if await self._read_page() < self.page_entries:
                break
        self._next_read = self.monotonic() + self.refresh_seconds

    async def close(self) -> None:
        reading = self._reading
        if reading is not None:
            reading.cancel()
            with contextlib.suppress(BaseException):
                await reading

    def _due(self) -> asyncio.Task[int] | None:
        """The read in progress, or a new one when the interval has passed; None when not due."""
        if self._reading is not None:
            return self._reading
        now = self.monotonic()
        if now < self._next_read or now < self._skip_until:
            return None
        self._next_read = now + self.refresh_seconds
        reading = self._reading = asyncio.create_task(self._read_page())
        reading.add_done_callback(self._read_done)
        return reading

    def _read_done(self, reading: asyncio.Task[int]) -> None:
        self._reading = None
        if not reading.cancelled() and reading.exception() is not None:
            log.error("semantic index: reading the stream failed", exc_info=reading.exception())

    async def _read_page(self) -> int:
        """Index the next page of entries; how many were read (-1 when Redis failed)."""
        try:
            reply = await self.client.xread({self.stream: self.last_id}, count=self.page_entries)
        except (RedisError, OSError, TimeoutError) as error:
            self._failed("read", error)
            return -1
        self._recovered()
        entries: list[Any] = reply[0][1] if reply else []
        for _, fields in entries:
            self._apply(fields)
        if entries:
            self.last_id = entries[-1][0]
        if len(entries) >= self.page_entries:
            self._next_read = 0.0  # more to read: the next search reads on
        return len(entries)

    def _apply(self, fields: dict[bytes, bytes]) -> None:
        if fields.get(b"o") == self.origin:
            return  # this replica's own: indexed when it was added
        try:
            expires_at = float(fields[b"e"])
            if expires_at <= self.clock():
                return
            vector = self._np.frombuffer(fields[b"v"], dtype="<f4")
            text = fields[b"t"].decode() if b"t" in fields else None
            self.local.add(fields[b"p"].decode(), vector, fields[b"k"].decode(), expires_at, text)
        except (KeyError, ValueError, UnicodeDecodeError):
            self.skipped += 1

    def _failed(self, what: str, error: BaseException) -> None:
        CACHE.backend_errors.inc()
        self._skip_until = self.monotonic() + BACKOFF_SECONDS
        if not self._failing:
            self._failing = True
            log.warning(
                "semantic index (Redis) failed on %s: %r; searching this replica's entries only "
                "until it is back",
                what,
                error,
            )

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            self._skip_until = 0.0
            log.warning("semantic index (Redis) is reachable again")
