"""The one small interface every provider adapter implements.

The lingua franca is OpenAI's chat schema: an adapter receives a validated OpenAI
chat-completion request body and returns an OpenAI ``chat.completion`` dict, or an
async iterator of OpenAI ``chat.completion.chunk`` dicts. Everything provider
specific (URL, auth header, wire format, usage fields, error bodies) stays inside
the adapter's module.

Stream contract, relied on by the executor and every ingress:
  * the upstream request is made and its status checked *before* the first chunk
    is yielded, so a failing upstream raises ``ProviderError`` from the first
    ``__anext__`` and the executor can still fail over;
  * chunks are OpenAI chunk dicts; tool-call deltas carry ``index`` and, on their
    first fragment, ``id`` and ``function.name``;
  * the last chunk carries ``usage`` (OpenAI's usage object, ``choices`` empty)
    whenever the provider reported usage, whether or not the client asked;
  * a failure after the first chunk raises ``ProviderError`` from the iterator.
``stream_batches`` yields the same chunks grouped by upstream network read (never an empty batch).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from bastion.errors import InvalidRequest

Json = dict[str, Any]


@dataclass(slots=True)
class ChatRequest:
    """A validated chat request in OpenAI's shape.

    ``body`` is the client's body after validation (Anthropic requests are
    translated into it). ``model`` is the public name the client asked for; the
    adapter sends the deployment's upstream model instead.
    """

    body: Json
    model: str
    stream: bool
    include_usage: bool = False


@dataclass(slots=True)
class EmbeddingsRequest:
    """A validated OpenAI embeddings request."""

    body: Json
    model: str


@dataclass(slots=True, frozen=True)
class Deployment:
    """One concrete place a public model name can be served: a provider and its model."""

    provider: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)  # per-deployment defaults merged into requests
    connect_timeout: float | None = None  # the model group's connect bound; None: the provider's own


class Provider(ABC):
    """A transport to one upstream API (or a built-in one such as the simulator)."""

    #: configured provider name, used in headers, logs and error messages
    name: str
    #: adapter kind: openai | anthropic | gemini | simulator | static
    kind: str
    #: request fields this adapter silently drops because the upstream has no equivalent
    dropped_params: frozenset[str] = frozenset()
    #: request fields this adapter refuses with a 400, because dropping them would change the answer
    unsupported_params: frozenset[str] = frozenset()

    def check_params(self, body: Json) -> None:
        """Refuse parameters this provider cannot honour, naming them (400)."""
        for key in self.unsupported_params:
            if key in body and body[key] is not None:
                raise InvalidRequest(
                    f"parameter '{key}' is not supported by provider '{self.name}' ({self.kind})",
                    param=key,
                    code="unsupported_parameter",
                )

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open pooled connections; called once at server start-up."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release pooled connections; called once at shutdown."""

    @abstractmethod
    async def chat(self, request: ChatRequest, deployment: Deployment) -> Json:
        """Send a non-streaming chat request and return an OpenAI ``chat.completion`` dict."""

    @abstractmethod
    def chat_stream(self, request: ChatRequest, deployment: Deployment) -> AsyncIterator[Json]:
        """Send a streaming chat request; yield OpenAI ``chat.completion.chunk`` dicts (see module doc)."""

    async def stream_batches(self, request: ChatRequest, deployment: Deployment) -> AsyncIterator[list[Json]]:
        """The same stream as ``chat_stream``, grouped by what arrived together from upstream.

        The relay sends one batch in one write: when an upstream delivers several chunks in
        one network read, the client gets them in one write too, instead of one system call
        each. Adapters on the hot path override this; the default makes batches of one.
        """
        async for chunk in self.chat_stream(request, deployment):
            yield [chunk]

    async def embeddings(self, request: EmbeddingsRequest, deployment: Deployment) -> Json:
        """Return an OpenAI ``list`` of embeddings; providers without embeddings refuse with 400."""
        raise InvalidRequest(f"provider '{self.name}' ({self.kind}) does not serve embeddings", param="model")
