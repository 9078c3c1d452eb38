"""Thin ASGI plumbing: reading a bounded body, sending JSON and SSE responses.

The server speaks raw ASGI (no framework) because the request path is short and
measured: a framework's routing and request objects cost more than this file does.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bastion.errors import InvalidRequest, PayloadTooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON_CONTENT_TYPE = (b"content-type", b"application/json")
SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def header(scope: Scope, name: bytes) -> bytes | None:
    """First value of a request header (names are lower-case in ASGI)."""
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


# Request ids must be unique, not secret (feedback by id is bound to the key that made the request).
# They start with the time in milliseconds, so ids sort by time and every index on the ledger's
# request id takes new rows at its end (random ids scatter them: half the cost of a SQLite ledger
# insert), then 64 random bits from a generator seeded by the OS and reseeded in every forked
# worker (a third of the cost of an ``os.urandom`` system call).
_ids = random.Random()
os.register_at_fork(after_in_child=_ids.seed)


def new_request_id(scope: Scope) -> str:
    """The client's ``x-request-id`` when it is sane, else a fresh random id."""
    given = header(scope, b"x-request-id")
    if given and len(given) <= 128 and given.isascii():
        text = given.decode("ascii")
        if text.isprintable() and " " not in text:
            return text
    return "req_" + (int(time.time() * 1000) << 64 | _ids.getrandbits(64)).to_bytes(14).hex()


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, refusing (413) before reading past ``limit`` bytes."""
    declared = header(scope, b"content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise InvalidRequest("invalid content-length header") from None
        if size > limit:
            raise PayloadTooLarge(f"request body is {size} bytes; the limit is {limit} bytes")
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body"):
        if len(body) > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        return body
    parts = [body]
    total = len(body)
    while message.get("more_body"):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidRequest("client disconnected while sending the body")
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


async def send_bytes(send: Send, status: int, body: bytes, headers: Headers) -> None:
    """A complete response with ``content-length``."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
