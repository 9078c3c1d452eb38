"""The OpenAI-compatible surface: chat completions, embeddings, models."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from bastion.api.asgi import JSON_CONTENT_TYPE, Receive, Scope, Send, read_body, send_bytes
from bastion.api.endpoint import Endpoint
from bastion.api.errors import openai_stream_error_event
from bastion.api.openai_schema import parse_json_object, validate_chat_request, validate_embeddings_request
from bastion.api.streaming import StreamEncoder, relay_stream
from bastion.context import RequestContext
from bastion.errors import GatewayError
from bastion.providers.base import Json

_DONE = b"data: [DONE]\n\n"


class OpenAIStreamEncoder:
    """Internal chunks are already OpenAI chunks; only the usage chunk needs a decision.

    Bastion always asks upstream for usage (budgets need it); a client that did not ask
    for ``stream_options.include_usage`` must not see the extra chunk.
    """

    __slots__ = ("include_usage",)

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage

    def feed(self, chunk: Json) -> bytes:
        if not self.include_usage and "usage" in chunk:
            if not chunk.get("choices") and chunk["usage"] is not None:
                return b""
            # a copy: the chunk may be shared with other clients of the same upstream call
            chunk = {name: value for name, value in chunk.items() if name != "usage"}
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def finish(self) -> bytes:
        return _DONE

    def error(self, error: GatewayError) -> bytes:
        return openai_stream_error_event(error)


class ChatCompletions(Endpoint):
    protocol = "openai"
    metered = True

    async def handle(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> int:
        gateway = self.gateway
        ctx.principal = gateway.auth.authenticate(scope)
        body = parse_json_object(await read_body(scope, receive, gateway.max_body_bytes))
        request = validate_chat_request(body)
        ctx.model = request.model
        ctx.stream = request.stream
        inputs = self.guard_input(ctx, scope, request, "chat")
        group = self.route(ctx, scope, request)
        await self.admit(ctx, scope, group.name, request.body, "chat", request.model)
        output = self.guard_output(ctx, inputs)
        render: Callable[[Json], bytes] = orjson.dumps
        encoder: StreamEncoder = OpenAIStreamEncoder(request.include_usage)
        if output is not None:
            render, encoder = output.render(render), output.encoder(encoder)
        cache = gateway.cache
        if cache is not None and ctx.residency is None:  # residency: nothing shared, nothing embedded
            plan = cache.plan(ctx, scope, group.name, request.body)
            if plan is not None:
                return await cache.serve(ctx, plan, group, request, receive, send, render, encoder)
        if request.stream:
            first, chunks = await gateway.executor.open_stream(ctx, group, request)
            await relay_stream(ctx, receive, send, first, chunks, encoder)
            return 200
        response = await gateway.executor.chat(ctx, group, request)
        body = render(response)
        await send_bytes(send, 200, body, [JSON_CONTENT_TYPE, *ctx.response_headers()])
        return 200


class Embeddings(Endpoint):
    protocol = "openai"
    metered = True

    async def handle(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> int:
        gateway = self.gateway
        ctx.principal = gateway.auth.authenticate(scope)
        body = parse_json_object(await read_body(scope, receive, gateway.max_body_bytes))
        request = validate_embeddings_request(body)
        ctx.model = request.model
        group = gateway.router.resolve(request.model, "embeddings")
        await self.admit(ctx, scope, group.name, request.body, "embeddings")
        response = await gateway.executor.embeddings(ctx, group, request)
        await send_bytes(send, 200, orjson.dumps(response), [JSON_CONTENT_TYPE, *ctx.response_headers()])
        return 200


class Models(Endpoint):
    """``GET /v1/models``: the public model names, as OpenAI lists models."""

    protocol = "openai"

    async def handle(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> int:
        gateway = self.gateway
        gateway.auth.authenticate(scope, allow_x_api_key=True)
        created = int(gateway.started_at)
        names = set(gateway.router.groups)
        if gateway.routing is not None:
            names.update(gateway.routing.aliases)  # `auto`, A/B splits: asked for like any model
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "bastion"}
            for name in sorted(names)
        ]
        body = orjson.dumps({"object": "list", "data": data})
        await send_bytes(send, 200, body, [JSON_CONTENT_TYPE, *ctx.response_headers()])
        return 200
