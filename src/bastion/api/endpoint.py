"""The shape every HTTP endpoint shares: a request context, one error path, no bare 500s.

An endpoint subclass implements ``handle``; any ``GatewayError`` it raises becomes the
protocol's error body with the right status, and anything unexpected is logged with its
traceback (server side only) and answered with a generic error that names the request id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bastion.api.asgi import JSON_CONTENT_TYPE, Receive, Scope, Send, header, new_request_id, send_bytes
from bastion.api.errors import anthropic_error_body, openai_error_body
from bastion.context import RequestContext
from bastion.errors import GatewayError, InvalidRequest, PermissionDenied
from bastion.telemetry.state import TELEMETRY

if TYPE_CHECKING:
    from bastion.gateway import Gateway
    from bastion.guards.output import OutputGuard
    from bastion.guards.stage import InputOutcome
    from bastion.providers.base import ChatRequest
    from bastion.routing.router import ModelGroup

log = logging.getLogger("bastion.api")
access_log = logging.getLogger("bastion.access")


class Endpoint:
    #: "openai" or "anthropic": picks the error shape
    protocol = "openai"
    #: requests that reach a model: admitted against limits, settled and written to the ledger
    metered = False

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._error_body: Callable[[GatewayError], bytes] = (
            anthropic_error_body if self.protocol == "anthropic" else openai_error_body
        )
        self.access_log = access_log.isEnabledFor(logging.INFO)

    async def handle(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> int:
        """Serve the request; return the status sent."""
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = RequestContext(request_id=new_request_id(scope), ingress=self.protocol)
        gateway = self.gateway
        gateway.active += 1
        status = 499  # what the ledger records if the request is cancelled (server shutting down)
        try:
            status = await self.handle(ctx, scope, receive, send)
        except GatewayError as error:
            status = await self.send_error(ctx, send, error)
        except Exception:
            log.exception("unhandled error in request %s", ctx.request_id)
            status = await self.send_error(
                ctx, send, GatewayError(f"internal error in the gateway (request id {ctx.request_id})")
            )
        finally:
            gateway.active -= 1
            if self.metered and ctx.principal is not None:
                # settled even when cancelled, so no reservation or concurrency slot outlives the request
                settling = gateway.accounting.finish(ctx, status)
                if settling is not None:  # only with limits: the reservation goes back to the counters
                    await asyncio.shield(settling)
        if self.access_log:
            access_log.info(
                "%s %s %s %d model=%s provider=%s attempts=%d cache=%s similarity=%s route=%s guards=%s "
                "%.1fms",
                ctx.request_id,
                scope["method"],
                scope["path"],
                status,
                ctx.model,
                ctx.provider,
                ctx.attempts,
                ctx.cache_status or "-",
                "-" if ctx.cache_similarity is None else f"{ctx.cache_similarity:.4f}",
                ctx.route_rule or "-",
                ",".join(f"{d.stage}:{d.guard}={d.action}" for d in ctx.guards) or "-",
                (time.perf_counter() - ctx.started) * 1000,
            )

    def guard_input(
        self, ctx: RequestContext, scope: Scope, request: ChatRequest, route: str
    ) -> InputOutcome | None:
        """The input guards (may rewrite ``request.body`` or refuse); None when every guard is off."""
        guards = self.gateway.guards
        if guards is None:
            return None
        with _stage("guards.input"):
            return guards.check_input(ctx, scope, request, route)

    def guard_output(self, ctx: RequestContext, inputs: InputOutcome | None) -> OutputGuard | None:
        """This request's output guards (after admission, which decides whether the answer is captured)."""
        if inputs is None and not ctx.capture_answer:
            return None
        from bastion.guards.output import OutputGuard

        guards = self.gateway.guards
        output = OutputGuard(ctx, inputs, guards.canary if guards is not None else None)
        if not output.active:
            return None
        ctx.output_guard = output
        return output

    def route(self, ctx: RequestContext, scope: Scope, request: ChatRequest) -> ModelGroup:
        """The model group for a chat request: the routing stage's choice, or the name asked for."""
        gateway = self.gateway
        routing = gateway.routing
        if routing is None:
            return gateway.router.resolve(request.model, "chat")
        ctx.stream = request.stream
        ctx.feature = _feature(scope)
        end_user = request.body.get("user")
        ctx.end_user = end_user if isinstance(end_user, str) and end_user else None
        region = header(scope, b"x-bastion-region")
        with _stage("route"):
            return routing.route(ctx, request, region.decode("latin-1").strip() if region else None)

    async def admit(
        self,
        ctx: RequestContext,
        scope: Scope,
        group: str,
        body: dict[str, Any],
        route: str,
        requested: str | None = None,
    ) -> None:
        """The caller may use this model, and every limit that binds the request has room (else 403/429).

        ``requested`` is the name the client asked for when routing chose another group: a key
        allowed to use either may proceed (rules and aliases are the operator's decision).
        """
        ctx.route = route
        ctx.request_body = body
        ctx.feature = _feature(scope)
        end_user = body.get("user")
        ctx.end_user = end_user if isinstance(end_user, str) and end_user else None
        principal = ctx.principal
        if (
            principal is not None
            and not principal.may_use(group)
            and not (requested is not None and principal.may_use(requested))
        ):
            raise PermissionDenied(
                f"This API key may not use model {group!r}", code="model_not_allowed", param="model"
            )
        with _stage("admission"):
            await self.gateway.accounting.admit(
                ctx, group, body, "embeddings" if route == "embeddings" else "chat"
            )

    async def send_error(self, ctx: RequestContext, send: Send, error: GatewayError) -> int:
        ctx.error_code = error.code or error.kind
        if ctx.first_byte_at is not None:
            return 200  # the stream already started; relay_stream ended it with an error event
        headers = [JSON_CONTENT_TYPE, *ctx.response_headers()]
        if error.retry_after_seconds is not None:
            headers.append((b"retry-after", str(max(1, math.ceil(error.retry_after_seconds))).encode()))
        for name, value in error.headers.items():
            headers.append((name.lower().encode(), value.encode()))
        await send_bytes(send, error.status, self._error_body(error), headers)
        return error.status


def _feature(scope: Scope) -> str | None:
    """The ``x-bastion-feature`` cost tag: short printable ASCII, so it is safe as a label and a column."""
    raw = header(scope, b"x-bastion-feature")
    if raw is None:
        return None
    text = raw.decode("latin-1").strip()
    if not text:
        return None
    if len(text) > 64 or not text.isascii() or not text.isprintable():
        raise InvalidRequest(
            "x-bastion-feature must be at most 64 printable ASCII characters", code="invalid_feature"
        )
    return text


def _stage(name: str) -> contextlib.AbstractContextManager[object]:
    """A child span of the request's for one stage; nothing at all while tracing is off."""
    tracing = TELEMETRY.tracing
    return _NO_SPAN if tracing is None else tracing.stage(name)


_NO_SPAN = contextlib.nullcontext()
