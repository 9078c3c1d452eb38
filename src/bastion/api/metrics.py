"""``GET /metrics``: Prometheus text exposition (unauthenticated, like every scrape target)."""

from __future__ import annotations

from bastion.api.asgi import Receive, Scope, Send, send_bytes
from bastion.telemetry.exposition import Exposition


class Metrics:
    def __init__(self) -> None:
        self.exposition = Exposition()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, content_type = self.exposition.render()
        await send_bytes(send, 200, body, [(b"content-type", content_type.encode())])
