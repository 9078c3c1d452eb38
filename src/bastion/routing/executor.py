"""Execute a request on a model group: try its deployments in order until one answers.

Only failures marked ``retryable`` move on to the next deployment, and for streams only
before the first chunk exists, so a client never sees two half answers. (Strategies,
breakers, backoff and retry budgets belong to the resilience stage that replaces the
plain ordered walk here.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from bastion.context import RequestContext
from bastion.errors import ProviderError
from bastion.providers.base import ChatRequest, EmbeddingsRequest, Json
from bastion.routing.router import ModelGroup


class Executor:
    async def chat(self, ctx: RequestContext, group: ModelGroup, request: ChatRequest) -> Json:
        last_error: ProviderError | None = None
        for deployment, provider in group.deployments:
            ctx.attempts += 1
            ctx.provider, ctx.upstream_model = provider.name, deployment.model
            try:
                response = await provider.chat(request, deployment)
            except ProviderError as error:
                last_error = error
                if error.retryable:
                    continue
                raise
            ctx.usage = response.get("usage")
            return response
        assert last_error is not None
        raise last_error

    async def open_stream(
        self, ctx: RequestContext, group: ModelGroup, request: ChatRequest
    ) -> tuple[Json, AsyncIterator[Json]]:
        """Start a stream and return its first chunk and the rest; failures here can still fail over."""
        last_error: ProviderError | None = None
        for deployment, provider in group.deployments:
            ctx.attempts += 1
            ctx.provider, ctx.upstream_model = provider.name, deployment.model
            chunks = provider.chat_stream(request, deployment)
            try:
                first = await anext(chunks)
            except StopAsyncIteration:
                last_error = ProviderError(
                    f"{provider.name}: upstream ended the stream without sending anything",
                    provider=provider.name,
                    retryable=True,
                    code="upstream_empty_stream",
                )
                continue
            except ProviderError as error:
                await _close(chunks)
                last_error = error
                if error.retryable:
                    continue
                raise
            except BaseException:
                await _close(chunks)
                raise
            return first, chunks
        assert last_error is not None
        raise last_error

    async def embeddings(self, ctx: RequestContext, group: ModelGroup, request: EmbeddingsRequest) -> Json:
        last_error: ProviderError | None = None
        for deployment, provider in group.deployments:
            ctx.attempts += 1
            ctx.provider, ctx.upstream_model = provider.name, deployment.model
            try:
                response = await provider.embeddings(request, deployment)
            except ProviderError as error:
                last_error = error
                if error.retryable:
                    continue
                raise
            ctx.usage = response.get("usage")
            return response
        assert last_error is not None
        raise last_error


async def _close(chunks: AsyncIterator[Json]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()
