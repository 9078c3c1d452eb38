"""The ASGI application: a route table over the endpoints, and the lifespan that opens pools.

Routes are an exact-match dict lookup: the cheapest dispatch there is, and the whole HTTP
surface is readable in ``_routes``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bastion.api.anthropic_routes import Messages
from bastion.api.asgi import JSON_CONTENT_TYPE, Receive, Scope, Send, send_bytes
from bastion.api.errors import anthropic_error_body, openai_error_body
from bastion.api.health import Health, Ready
from bastion.api.openai_routes import ChatCompletions, Embeddings, Models
from bastion.errors import GatewayError, NotFound
from bastion.gateway import Gateway

log = logging.getLogger("bastion")

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


class BastionApp:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.routes = self._routes(gateway)
        self.allowed_methods: dict[str, list[str]] = {}
        for method, path in self.routes:
            self.allowed_methods.setdefault(path, []).append(method)

    @staticmethod
    def _routes(gateway: Gateway) -> dict[tuple[str, str], Handler]:
        chat = ChatCompletions(gateway)
        embeddings = Embeddings(gateway)
        models = Models(gateway)
        messages = Messages(gateway)
        routes: dict[tuple[str, str], Handler] = {
            ("GET", "/healthz"): Health(),
            ("GET", "/readyz"): Ready(gateway),
        }
        # The OpenAI SDK's base_url usually ends in /v1; some clients leave it off.
        for prefix in ("/v1", ""):
            routes[("POST", f"{prefix}/chat/completions")] = chat
            routes[("POST", f"{prefix}/embeddings")] = embeddings
            routes[("GET", f"{prefix}/models")] = models
        routes[("POST", "/v1/messages")] = messages
        return routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                path = path[:-1]
            handler = self.routes.get((scope["method"], path))
            if handler is not None:
                await handler(scope, receive, send)
            else:
                await self._not_found(scope, send, path)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _not_found(self, scope: Scope, send: Send, path: str) -> None:
        methods = self.allowed_methods.get(path)
        if methods:
            error = GatewayError(
                f"method {scope['method']} is not allowed on {path}; use {', '.join(methods)}",
                status=405,
                kind="invalid_request_error",
                code="method_not_allowed",
            )
            headers = [JSON_CONTENT_TYPE, (b"allow", ", ".join(methods).encode())]
        else:
            error = NotFound(f"no route {scope['method']} {path}", code="unknown_url")
            headers = [JSON_CONTENT_TYPE]
        body = anthropic_error_body(error) if path.startswith("/v1/messages") else openai_error_body(error)
        await send_bytes(send, error.status, body, headers)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.gateway.start()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.gateway.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
