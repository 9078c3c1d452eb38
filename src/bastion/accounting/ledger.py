"""Rows written in batches off the request path: an in-process queue and one background writer.

A request ends with ``submit(row)``: an append to a bounded in-memory queue, no await, no
I/O. A background task writes the queue in batches of up to ``batch_size`` rows, at most
``flush_interval`` seconds after a row arrived (at once when a full batch is waiting).

When the database is away, requests never wait for it and never fail because of it:

1. **Buffer.** A failed write leaves its rows at the head of the queue and the same batch is
   tried again with jittered exponential backoff (``retry_initial`` doubling up to
   ``retry_max``), so nothing is lost or reordered; the store ignores rows it already has (a
   write that committed but reported an error is harmless). New rows keep queueing behind.
2. **Then drop, counted.** Rows held for a retry count against ``max_queue``: once the queue is
   full, ``submit`` refuses each new row (``dropped``; the caller counts it in the
   ``bastion_ledger_rows_dropped`` metric), so memory stays bounded however long the outage.
3. **Log once.** An outage is logged when its first write fails and when writes recover; the
   drops once when they start and once when the queue has room again.
4. **Recover.** When the database answers again the backlog goes out in full batches.

Refusing requests instead while the ledger cannot be written ("fail closed") is not offered:
see docs/costs.md, "When the database is away".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from itertools import islice
from typing import Generic, TypeVar

from bastion.store.base import redact_secrets

T = TypeVar("T")

log = logging.getLogger("bastion.accounting")

_MAX_BACKOFF_EXPONENT = 30
#: a batch that failed this many times in a row is written row by row, to find rows the database refuses
ISOLATE_AFTER_FAILURES = 5


class BatchWriter(Generic[T]):
    """Queue rows from the request path and write them with ``write`` in batches, in the background."""

    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[None]],
        name: str,
        *,
        batch_size: int = 1000,
        flush_interval: float = 0.1,
        max_queue: int = 100_000,
        close_timeout: float = 10.0,
        retry_initial: float = 0.2,
        retry_max: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        probe: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        if batch_size < 1 or max_queue < 1:
            raise ValueError(f"batch_size and max_queue must be at least 1, got {batch_size} and {max_queue}")
        if flush_interval <= 0 or close_timeout < 0 or retry_initial < 0 or retry_max < 0:
            raise ValueError("flush_interval must be positive and timeouts and delays not negative")
        self.name = name
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.close_timeout = close_timeout
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        #: rows stored, rows given up (queue full, or still queued when ``close`` timed out), failed writes
        self.written = 0
        self.dropped = 0
        self.failed_batches = 0
        self._write = write
        self._probe = probe  # a cheap read: does the database answer at all?
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rows: deque[T] = deque()
        self._wake = asyncio.Event()  # a first row, a full batch, or close
        self._closing_event = asyncio.Event()  # cuts a retry's backoff short
        self._lock = asyncio.Lock()  # one write at a time: the background task or flush()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._failures = 0  # consecutive failed writes
        self._dropping = False  # a drop streak was logged

    @property
    def queued(self) -> int:
        """Rows waiting to be written, those held for a retry included."""
        return len(self._rows)

    @property
    def failing(self) -> bool:
        """True from a failed write until the next successful one (the database is away or refusing)."""
        return self._failures > 0

    def submit(self, row: T) -> bool:
        """Queue ``row`` for writing; False (and counted in ``dropped``) if the queue is full or closed."""
        rows = self._rows
        if len(rows) >= self.max_queue or self._closed:
            self.dropped += 1
            if not self._dropping:
                self._dropping = True
                log.warning(
                    "%s: %s, dropping rows until it drains",
                    self.name,
                    "writer closed" if self._closed else f"queue full ({self.max_queue} rows)",
                )
            return False
        rows.append(row)
        if len(rows) == 1 or len(rows) >= self.batch_size:
            self._wake.set()
        return True

    def start(self) -> None:
        """Start the background writer (call from the running event loop)."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"batch-writer:{self.name}")

    async def flush(self) -> None:
        """Write every row queued so far, now; the write's error propagates (rows stay queued)."""
        async with self._lock:
            await self._write_queued()

    async def close(self) -> None:
        """Write what is left and stop; rows still unwritten after ``close_timeout`` are dropped."""
        if self._closed:
            return
        self._closing = True
        self._closing_event.set()
        self.start()
        task = self._task
        assert task is not None
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.close_timeout)
        except TimeoutError:
            pass
        finally:
            self._closed = True
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self._rows:
                self.dropped += len(self._rows)
                log.error(
                    "%s: closed with %d rows unwritten (dropped) after %d failed writes",
                    self.name,
                    len(self._rows),
                    self._failures,
                )
                self._rows.clear()

    # ----------------------------------------------------------------- background
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due_at: float | None = None  # when the oldest queued row has waited flush_interval
        while self._rows or not self._closing:
            if not self._rows:
                self._wake.clear()
                await self._wake.wait()  # a first row, or close
                continue
            if due_at is None:
                due_at = loop.time() + self.flush_interval
            if len(self._rows) < self.batch_size and not self._closing and due_at > loop.time():
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), due_at - loop.time())
            due = self._closing or loop.time() >= due_at
            try:
                async with self._lock:
                    # woken by a full batch: write full batches, the rest may still gather company
                    await self._write_queued(whole_batches_only=not due)
            except Exception:
                await self._pause(self._backoff())
                continue
            if due or not self._rows:
                due_at = None

    async def _write_queued(self, whole_batches_only: bool = False) -> None:
        """Write the rows queued when called, batch by batch; a failed batch stays at the queue's head."""
        remaining = len(self._rows)
        if whole_batches_only:
            remaining -= remaining % self.batch_size
        while remaining > 0 and self._rows:
            count = min(self.batch_size, remaining, len(self._rows))
            batch = list(islice(self._rows, count))
            try:
                await self._write(batch)
            except Exception as error:
                if count > 1 and self._failures >= ISOLATE_AFTER_FAILURES and await self._isolate(batch):
                    remaining -= count  # the good rows went in one by one; the refused ones are gone
                    continue
                self.failed_batches += 1
                self._failures += 1
                if self._failures == 1:
                    log.warning(
                        "%s: writing %d rows failed, keeping them and retrying with backoff: %s",
                        self.name,
                        count,
                        redact_secrets(f"{type(error).__name__}: {error}"),
                    )
                raise
            for _ in range(count):
                self._rows.popleft()
            self.written += count
            remaining -= count
            if self._failures:
                log.info("%s: writes recovered after %d failed attempts", self.name, self._failures)
                self._failures = 0
        if self._dropping and len(self._rows) < self.max_queue:
            log.info("%s: queue has room again; %d rows dropped so far", self.name, self.dropped)
            self._dropping = False

    async def _isolate(self, batch: list[T]) -> bool:
        """Write a failed batch row by row: True when the database works and only some rows are refused.

        One row the database always rejects (a value it cannot store) must not hold every later
        row back forever, so rows it refuses twice while it is up are dropped (counted and
        logged). Whether it is up is what ``probe`` says, asked before trying the rows one by one
        (while the database is away that would be a thousand failed writes, each up to a connect
        timeout) and again before dropping anything (it may have gone away meanwhile, and then a
        refusal says nothing about the row). Without a probe, the database counts as up when at
        least one row of the batch went in. A batch not written stays queued for the retry.
        """
        if await self._answers() is False:
            return False
        refused: list[T] = []
        written = 0
        for row in batch:
            try:
                await self._write([row])
            except Exception:
                refused.append(row)
            else:
                written += 1
        still_refused: list[T] = []
        for row in refused:  # once more each: a refusal while the others went in is no blip
            try:
                await self._write([row])
            except Exception:
                still_refused.append(row)
            else:
                written += 1
        if still_refused:
            answers = await self._answers()
            if answers is False or (answers is None and written == 0):
                self._requeue(batch, still_refused, written)
                return False
        self._requeue(batch, [], written)
        self.dropped += len(still_refused)
        self._failures = 0
        if still_refused:
            log.error(
                "%s: the database refused %d of %d rows while accepting others; those were dropped",
                self.name,
                len(still_refused),
                len(batch),
            )
        return True

    async def _answers(self) -> bool | None:
        """Whether the database answers ``probe`` now; None without a probe."""
        if self._probe is None:
            return None
        try:
            await self._probe()
        except Exception:
            return False
        return True

    def _requeue(self, batch: list[T], unwritten: list[T], written: int) -> None:
        """Replace ``batch`` at the head of the queue by its ``unwritten`` rows (in order)."""
        for _ in range(len(batch)):
            self._rows.popleft()
        self._rows.extendleft(reversed(unwritten))
        self.written += written

    def _backoff(self) -> float:
        exponent = min(self._failures - 1, _MAX_BACKOFF_EXPONENT)
        delay = min(self.retry_max, self.retry_initial * 2**exponent)
        if self._closing:  # the close timeout bounds the retries now; keep them frequent
            delay = min(delay, self.retry_initial)
        return delay * (0.5 + self._rng.random() / 2)  # jittered, so replicas do not retry in step

    async def _pause(self, delay: float) -> None:
        """Sleep ``delay`` before a retry, or less if close starts meanwhile."""
        if self._closing:
            await self._sleep(delay)
            return
        sleeper = asyncio.ensure_future(self._sleep(delay))
        closer = asyncio.ensure_future(self._closing_event.wait())
        try:
            await asyncio.wait((sleeper, closer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            closer.cancel()
