"""The ASGI application: a route table over the endpoints, and the lifespan that opens pools.

Routes are an exact-match dict lookup: the cheapest dispatch there is, and the whole HTTP
surface is readable in ``_routes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bastion.api.admin import Deployments, Reload
from bastion.api.admin_experiments import Experiments
from bastion.api.admin_feedback import FeedbackReport
from bastion.api.admin_identity import IdentityAdmin
from bastion.api.admin_requests import RequestLog
from bastion.api.anthropic_routes import Messages
from bastion.api.asgi import JSON_CONTENT_TYPE, Receive, Scope, Send, send_bytes
from bastion.api.dashboard import dashboard_routes
from bastion.api.errors import anthropic_error_body, openai_error_body
from bastion.api.feedback import Feedback
from bastion.api.health import Health, Ready
from bastion.api.metrics import Metrics
from bastion.api.openai_routes import ChatCompletions, Embeddings, Models
from bastion.api.openapi import OpenAPIDocument
from bastion.config import BastionConfig
from bastion.config_loader import ConfigError
from bastion.errors import GatewayError, NotFound
from bastion.gateway import Gateway, is_loopback
from bastion.telemetry.deferred import flush_periodically
from bastion.telemetry.state import TELEMETRY, configure_telemetry

log = logging.getLogger("bastion")

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


def settle_garbage_collector() -> None:
    """Keep the cyclic garbage collector off the tail latency.

    Everything built at start-up (config, adapters, modules) lives as long as the process;
    ``gc.freeze`` moves it out of the collector's sight so a full collection no longer walks
    it, and a larger first-generation threshold makes collections rarer. Request-scoped
    objects are freed by reference counting, not by the collector.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


class BastionApp:
    """The ASGI entry point. ``config_source`` (re)reads the config for hot reloads."""

    def __init__(self, gateway: Gateway, config_source: Callable[[], BastionConfig] | None = None) -> None:
        self.gateway = gateway
        self.config_source = config_source
        configure_telemetry(gateway.config, gateway.providers)
        self.routes = self._routes(gateway)
        self.allowed_methods: dict[str, list[str]] = {}
        for method, path in self.routes:
            self.allowed_methods.setdefault(path, []).append(method)
        self.identity_admin = IdentityAdmin(self)  # /admin/{keys,users,teams,usage}[/id]: ids in the path
        self.experiments = Experiments(self)  # /admin/experiments[/name]: A/B comparisons
        self.request_log = RequestLog(self)  # /admin/requests[/request id]: the request log
        self._reload_lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[Any]] = set()
        self._replaced: list[Gateway] = []  # gateways still draining after a reload
        self._metrics_flusher: asyncio.Task[None] | None = None

    def _routes(self, gateway: Gateway) -> dict[tuple[str, str], Handler]:
        chat = ChatCompletions(gateway)
        embeddings = Embeddings(gateway)
        models = Models(gateway)
        messages = Messages(gateway)
        feedback = Feedback(gateway)
        routes: dict[tuple[str, str], Handler] = {
            ("GET", "/healthz"): Health(),
            ("GET", "/readyz"): Ready(gateway),
            ("GET", "/metrics"): Metrics(),
            ("GET", "/openapi.json"): OpenAPIDocument(),
        }
        # The OpenAI SDK's base_url usually ends in /v1; some clients leave it off.
        for prefix in ("/v1", ""):
            routes[("POST", f"{prefix}/chat/completions")] = chat
            routes[("POST", f"{prefix}/embeddings")] = embeddings
            routes[("GET", f"{prefix}/models")] = models
            routes[("POST", f"{prefix}/feedback")] = feedback
        routes[("POST", "/v1/messages")] = messages
        routes[("GET", "/admin/deployments")] = Deployments(self)
        routes[("POST", "/admin/reload")] = Reload(self)
        routes[("GET", "/admin/feedback")] = FeedbackReport(self)
        routes.update(dashboard_routes(self))  # GET /dashboard and /dashboard/api/*
        return routes

    async def reload(self) -> list[str]:
        """Swap in a gateway built from the config source; in-flight requests finish on the old one.

        The route table is replaced in one assignment: a request that already looked up its
        handler keeps the old gateway (and its provider pools) until it ends. An invalid
        config changes nothing and comes back as the list of problems.
        """
        if self.config_source is None:
            return ["this server has no config source to reload from"]
        async with self._reload_lock:
            try:
                config = self.config_source()
                successor = Gateway.from_config(config, previous=self.gateway)
                if successor.would_run_in_dev_mode() and not is_loopback(config.server.host):
                    problem = (
                        "the new config leaves no key and no admin key (local development mode) on a "
                        f"non-loopback address ({config.server.host}): refused"
                    )
                    log.error("config reload refused: %s", problem)
                    return [problem]
                successor.accept()
                await successor.start()
            except ConfigError as error:
                log.error("config reload refused; the running config keeps serving:\n%s", error)
                return error.problems
            old, self.gateway = self.gateway, successor
            configure_telemetry(successor.config, successor.providers)
            self.routes = self._routes(successor)
            self._replaced.append(old)
            task = asyncio.create_task(self._retire(old, successor))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
            log.warning(
                "config reloaded: %d providers, %d models",
                len(successor.providers),
                len(successor.router.groups),
            )
            return []

    async def _retire(self, old: Gateway, successor: Gateway) -> None:
        deadline = time.monotonic() + max(old.config.server.graceful_shutdown_seconds, 1.0)
        while old.active and time.monotonic() < deadline:  # noqa: ASYNC110 - a 10 Hz poll only while draining
            await asyncio.sleep(0.1)
        self._replaced.remove(old)
        await old.retire(successor)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                path = path[:-1]
            handler = self.routes.get((scope["method"], path))
            if handler is not None:
                tracing = TELEMETRY.tracing  # None while tracing is off: the only cost then
                if tracing is not None and getattr(handler, "metered", False):
                    await tracing.serve(handler, scope, receive, send)
                else:
                    await handler(scope, receive, send)
            elif path.startswith(("/admin/keys", "/admin/users", "/admin/teams", "/admin/usage")):
                await self.identity_admin(scope, receive, send)
            elif path == "/admin/experiments" or path.startswith("/admin/experiments/"):
                await self.experiments(scope, receive, send)
            elif path == "/admin/requests" or path.startswith("/admin/requests/"):
                await self.request_log(scope, receive, send)
            else:
                await self._not_found(scope, send, path)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    def _reload_on_signal(self) -> None:
        log.warning("SIGHUP: reloading the config")
        task = asyncio.create_task(self.reload())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

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
                if self.config_source is not None:
                    with contextlib.suppress(
                        NotImplementedError, RuntimeError
                    ):  # no signals off the main thread
                        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._reload_on_signal)
                if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
                    # other workers answer scrapes from the shared files: keep them at most a second behind
                    self._metrics_flusher = asyncio.create_task(flush_periodically(), name="metrics-flush")
                settle_garbage_collector()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in list(self._retiring):
                    task.cancel()
                for old in self._replaced:
                    await old.retire(self.gateway)
                await self.gateway.close()
                if self._metrics_flusher is not None:
                    self._metrics_flusher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._metrics_flusher
                TELEMETRY.shutdown()  # flush queued spans; multiprocess metrics forget this worker
                await send({"type": "lifespan.shutdown.complete"})
                return
