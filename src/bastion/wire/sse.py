"""Server-sent events: an incremental decoder for upstream streams and the encoder for clients.

Hand-written because it is on the hot path of every stream and the format is tiny
(https://html.spec.whatwg.org/multipage/server-sent-events.html): events are separated by a
blank line; ``event:`` names one, ``data:`` lines are joined with newlines; ``:`` lines are
comments (keep-alives).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(slots=True)
class SseEvent:
    event: str | None
    data: bytes


class SseDecoder:
    """Feed raw bytes as they arrive; get complete events back."""

    __slots__ = ("_buffer", "_data", "_event")

    def __init__(self) -> None:
        self._buffer = b""
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[SseEvent]:
        buffer = self._buffer + chunk
        if b"\r" in buffer:
            # a lone trailing \r may be the first half of \r\n: keep it for the next chunk
            keep_cr = buffer.endswith(b"\r")
            if keep_cr:
                buffer = buffer[:-1]
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if keep_cr:
                buffer += b"\r"
        events: list[SseEvent] = []
        start = 0
        if not self._data and self._event is None:
            # Fast path for the common shape, one "data: …" line per event (every OpenAI chunk).
            while True:
                end = buffer.find(b"\n\n", start)
                if end < 0:
                    break
                block = buffer[start:end]
                if not block.startswith(b"data: ") or b"\n" in block:
                    break  # anything else goes through the general parser below
                events.append(SseEvent(None, block[6:]))
                start = end + 2
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end]
            start = end + 1
            if not line:
                if self._data or self._event is not None:
                    events.append(SseEvent(self._event, b"\n".join(self._data)))
                self._event = None
                self._data = []
                continue
            if line[0] == 58:  # ':' comment / keep-alive
                continue
            name, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                self._data.append(value)
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
        self._buffer = buffer[start:]
        return events

    def close(self) -> list[SseEvent]:
        """Flush an event left unterminated when the stream ended."""
        events = self.feed(b"\n\n") if (self._buffer.strip() or self._data) else []
        self._buffer = b""
        return events


async def iter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[SseEvent]:
    """Decode a byte stream into events."""
    decoder = SseDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.close():
        yield event


def encode_data(payload: bytes) -> bytes:
    """One ``data:`` event (OpenAI's streams have no event names)."""
    return b"data: " + payload + b"\n\n"


def encode_event(name: str, payload: bytes) -> bytes:
    """One named event (Anthropic's streams name every event)."""
    return b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"
