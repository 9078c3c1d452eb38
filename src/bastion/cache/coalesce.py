"""Identical requests in flight at the same time share one upstream call.

The first request for a key leads: it makes the upstream call and publishes what comes back
on its ``Flight``. Requests with the same key that arrive meanwhile follow:

* a stream follower gets every batch of chunks published so far, then the rest as they
  arrive (``FlightReader``); the leader reads the same way, so a leader whose client leaves
  does not cut its followers off — the upstream call is cancelled only when every reader left;
* a JSON follower (or a stream follower of a JSON flight) waits for the final answer.

Errors are not shared: when the leader fails before answering, ``wait_started`` and
``result`` say so and each follower makes its own upstream call. A stream that fails after
its first chunk ends every reader's stream with that error event, exactly as it would have
ended the stream of a client that called upstream itself.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bastion.errors import ProviderError
from bastion.providers.base import Json

if TYPE_CHECKING:
    from bastion.cache.entry import CacheEntry


class Flight:
    """One upstream call, its published batches and its outcome."""

    __slots__ = (
        "_changed",
        "batches",
        "entry",
        "error",
        "finished",
        "key",
        "provider",
        "pump",
        "readers",
        "registry",
        "streaming",
        "upstream_model",
    )

    def __init__(self, key: str, streaming: bool, registry: InFlight | None = None) -> None:
        self.key = key
        self.streaming = streaming
        self.registry = registry
        self.batches: list[list[Json]] = []
        self.entry: CacheEntry | None = None  # the answer, once the flight succeeded
        self.error: BaseException | None = None  # why a started stream ended early
        self.finished = False
        self.readers = 0
        self.pump: asyncio.Task[None] | None = None  # the task reading the rest of a stream
        self.provider: str | None = None
        self.upstream_model: str | None = None
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ the leader's side

    def publish(self, batch: list[Json]) -> None:
        self.batches.append(batch)
        self._notify()

    def succeed(self, entry: CacheEntry) -> None:
        self.entry = entry
        self._finish()

    def fail(self, error: BaseException | None = None) -> None:
        """No answer to share (``error``: what ends a started stream; None ends it quietly)."""
        if not self.finished:
            self.error = error
            self._finish()

    def _finish(self) -> None:
        # it stays joinable (late joiners get the answer at once) until the leader has filled
        # the cache and calls ``InFlight.discard``
        self.finished = True
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self) -> None:
        await self._changed.wait()

    # ------------------------------------------------------------------ the followers' side

    async def wait_started(self) -> bool:
        """True once the stream has its first chunk; False when the leader failed before it."""
        while not self.batches:
            if self.finished:
                return self.entry is not None
            await self.changed()
        return True

    async def result(self) -> CacheEntry | None:
        """The answer, or None when the leader failed (the caller then makes its own call)."""
        while not self.finished:
            await self.changed()
        return self.entry

    def reader_left(self) -> None:
        self.readers -= 1
        if self.readers <= 0 and not self.finished and self.pump is not None:
            # nobody is listening any more: stop paying for the answer
            if self.registry is not None:
                self.registry.discard(self)
            self.pump.cancel()


class FlightReader:
    """One client's view of a streaming flight: the batches from ``start`` on, then the end."""

    __slots__ = ("_closed", "flight", "position")

    def __init__(self, flight: Flight, start: int = 0) -> None:
        self.flight = flight
        self.position = start
        self._closed = False
        flight.readers += 1

    def __aiter__(self) -> FlightReader:
        return self

    async def __anext__(self) -> list[Json]:
        flight = self.flight
        while True:
            if self.position < len(flight.batches):
                batch = flight.batches[self.position]
                self.position += 1
                return batch
            if flight.finished:
                error = flight.error
                if error is None:
                    raise StopAsyncIteration
                if isinstance(error, ProviderError):
                    raise error
                raise ProviderError(
                    "the upstream stream was interrupted", provider="bastion", code="upstream_interrupted"
                )
            await flight.changed()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self.flight.reader_left()


class InFlight:
    """The flights in progress in this process, by cache key."""

    def __init__(self) -> None:
        self.flights: dict[str, Flight] = {}

    def get(self, key: str) -> Flight | None:
        return self.flights.get(key)

    def start(self, key: str, streaming: bool, *, register: bool) -> Flight:
        """A new flight; registered (joinable) unless told otherwise or one is already in progress."""
        if not register or key in self.flights:
            return Flight(key, streaming)
        flight = self.flights[key] = Flight(key, streaming, self)
        return flight

    def discard(self, flight: Flight) -> None:
        if self.flights.get(flight.key) is flight:
            del self.flights[flight.key]
        flight.registry = None
