"""``GET /openapi.json``: the OpenAPI 3.1 description of Bastion's HTTP surface, without auth (documentation).

The description is a package data file (``openapi.json`` next to this module), written by
hand and checked against the live server by the fuzz test (``tests/fuzz``). It is read once
per process, so serving it costs one ``send``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from bastion.api.asgi import JSON_CONTENT_TYPE, Receive, Scope, Send, send_bytes


@cache
def openapi_document() -> bytes:
    """The shipped description, as the bytes served (read once: a config reload rebuilds the routes)."""
    return resources.files("bastion.api").joinpath("openapi.json").read_bytes()


class OpenAPIDocument:
    """Serves the description; clients and tools (SDK generators, fuzzers) read it anonymously."""

    def __init__(self) -> None:
        self.document = openapi_document()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_bytes(send, 200, self.document, [JSON_CONTENT_TYPE])
