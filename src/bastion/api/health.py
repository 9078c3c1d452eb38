"""Liveness and readiness probes (no auth: load balancers and Kubernetes call them)."""

from __future__ import annotations

import orjson

from bastion.api.asgi import JSON_CONTENT_TYPE, Receive, Scope, Send, send_bytes
from bastion.gateway import Gateway


class Health:
    """``GET /healthz``: the process is up and its event loop answers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_bytes(send, 200, b'{"status":"ok"}', [JSON_CONTENT_TYPE])


class Ready:
    """``GET /readyz``: config loaded and every provider's connection pool open."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gateway = self.gateway
        checks = {
            "config": True,
            "providers": gateway.ready,
        }
        ready = all(checks.values())
        body = orjson.dumps(
            {
                "status": "ready" if ready else "not_ready",
                "checks": checks,
                "providers": sorted(gateway.providers),
                "models": len(gateway.router.groups),
            }
        )
        await send_bytes(send, 200 if ready else 503, body, [JSON_CONTENT_TYPE])
