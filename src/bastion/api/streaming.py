"""Relaying a stream to the client, chunk by chunk, in the client's protocol.

Shared by every ingress: the protocol-specific part is a ``StreamEncoder`` that turns
internal OpenAI chunks into that protocol's SSE bytes. This module owns what must be the
same everywhere: nothing is buffered, usage is captured from the last chunk, a failure
after the first byte ends the stream with an error event (never a silent truncation),
and a client that goes away cancels the upstream request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Protocol

from bastion.api.asgi import SSE_HEADERS, Receive, Send
from bastion.context import RequestContext
from bastion.errors import GatewayError, ProviderError
from bastion.providers.base import Json

log = logging.getLogger("bastion.stream")


class StreamEncoder(Protocol):
    def feed(self, chunk: Json) -> bytes: ...
    def finish(self) -> bytes: ...
    def error(self, error: GatewayError) -> bytes: ...


async def relay_stream(
    ctx: RequestContext,
    receive: Receive,
    send: Send,
    first: list[Json],
    batches: AsyncIterator[list[Json]],
    encoder: StreamEncoder,
) -> None:
    """Send the stream's head, then every batch of chunks as it arrives (one write each), then the end."""
    task = asyncio.current_task()
    assert task is not None
    disconnected = False
    finished = False

    async def watch_disconnect() -> None:
        nonlocal disconnected
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not finished:
                    disconnected = True
                    task.cancel()
                return

    watcher = asyncio.create_task(watch_disconnect())
    try:
        await send(
            {"type": "http.response.start", "status": 200, "headers": SSE_HEADERS + ctx.response_headers()}
        )
        ctx.first_byte_at = time.perf_counter()
        await _send_batch(ctx, send, encoder, first)
        try:
            ended = getattr(encoder, "ended", False)  # an output guard blocked: stop reading upstream
            if not ended:
                waiting_since = time.perf_counter()  # time waiting on upstream is not Bastion's overhead
                async for batch in batches:
                    ctx.upstream_seconds += time.perf_counter() - waiting_since
                    await _send_batch(ctx, send, encoder, batch)
                    waiting_since = time.perf_counter()
                    if getattr(encoder, "ended", False):
                        ended = True
                        break
                ctx.last_byte_at = time.perf_counter()
                ctx.upstream_seconds += ctx.last_byte_at - waiting_since
        except ProviderError as error:
            log.warning(
                "stream %s from %s failed after the first byte: %s", ctx.request_id, ctx.provider, error
            )
            await send({"type": "http.response.body", "body": encoder.error(error), "more_body": True})
        else:
            tail = b"" if ended else encoder.finish()
            if tail:
                await send({"type": "http.response.body", "body": tail, "more_body": True})
        finished = True
        await send({"type": "http.response.body", "body": b""})
    except asyncio.CancelledError:
        if not disconnected:
            raise
        task.uncancel()
        log.info("client went away during stream %s; upstream request cancelled", ctx.request_id)
    finally:
        finished = True
        watcher.cancel()
        close = getattr(batches, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


async def _send_batch(ctx: RequestContext, send: Send, encoder: StreamEncoder, batch: list[Json]) -> None:
    if len(batch) == 1:
        chunk = batch[0]
        if chunk.get("usage"):
            ctx.usage = chunk["usage"]
        data = encoder.feed(chunk)
    else:
        parts = []
        for chunk in batch:
            if chunk.get("usage"):
                ctx.usage = chunk["usage"]
            parts.append(encoder.feed(chunk))
        data = b"".join(parts)
    if data:
        await send({"type": "http.response.body", "body": data, "more_body": True})
