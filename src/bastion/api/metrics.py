"""``GET /metrics``: Prometheus text exposition (unauthenticated, like every scrape target)."""

from __future__ import annotations

from bastion.api.asgi import Receive, Scope, Send, send_bytes
from bastion.telemetry.metrics import METRICS


class Metrics:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, content_type = METRICS.render()
        await send_bytes(send, 200, body, [(b"content-type", content_type.encode())])
