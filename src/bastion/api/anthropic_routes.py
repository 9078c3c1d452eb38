"""The Anthropic-compatible surface: ``POST /v1/messages``, served by any provider."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from bastion.api.asgi import JSON_CONTENT_TYPE, Receive, Scope, Send, read_body, send_bytes
from bastion.api.endpoint import Endpoint
from bastion.api.openai_schema import parse_json_object
from bastion.api.streaming import StreamEncoder, relay_stream
from bastion.context import RequestContext
from bastion.providers.base import Json
from bastion.translate.anthropic_ingress import (
    MessageStreamEncoder,
    chat_response_to_message,
    messages_request_to_chat,
)


class Messages(Endpoint):
    protocol = "anthropic"
    metered = True

    async def handle(self, ctx: RequestContext, scope: Scope, receive: Receive, send: Send) -> int:
        gateway = self.gateway
        ctx.principal = gateway.auth.authenticate(scope, allow_x_api_key=True)
        body = parse_json_object(await read_body(scope, receive, gateway.max_body_bytes))
        request = messages_request_to_chat(body)
        ctx.model = request.model
        ctx.stream = request.stream
        inputs = self.guard_input(ctx, scope, request, "messages")
        group = self.route(ctx, scope, request)
        await self.admit(ctx, scope, group.name, request.body, "messages", request.model)
        output = self.guard_output(ctx, inputs)
        render: Callable[[Json], bytes] = _render
        encoder: StreamEncoder = MessageStreamEncoder(request.model)
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


def _render(response: Json) -> bytes:
    return orjson.dumps(chat_response_to_message(response))
