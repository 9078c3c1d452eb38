"""Anthropic's Messages API (``POST /v1/messages``) behind the gateway's OpenAI-shaped interface.

Translation lives in ``bastion.translate.anthropic_upstream``; this module owns the session,
the headers and the error mapping, including the ``event: error`` Anthropic sends inside a
stream that already answered 200.

Parameters: ``n`` > 1, ``logprobs``, ``top_logprobs``, ``logit_bias`` and ``audio`` are refused
(400) because Anthropic cannot honour them and ignoring them would change the answer the
client asked for; ``seed``, ``presence_penalty``, ``frequency_penalty``, ``service_tier``,
``store``, ``metadata`` (``user`` is kept as ``metadata.user_id``), ``stream_options`` (usage
is always reported) and ``reasoning_effort`` are dropped: Anthropic has no equivalent and
the answer stays a valid answer without them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson

from bastion.config import AnthropicProviderConfig
from bastion.errors import ProviderError
from bastion.providers import _http
from bastion.providers.base import ChatRequest, Deployment, Json, Provider
from bastion.translate.anthropic_upstream import (
    ChatStreamDecoder,
    MessagesRequest,
    chat_to_messages_request,
    message_to_chat_response,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"

#: values of refused parameters that ask for nothing special, so clients sending them still work
_HARMLESS_VALUES: dict[str, tuple[Any, ...]] = {"n": (1,), "logprobs": (False,), "top_logprobs": (0,)}


class AnthropicProvider(Provider):
    kind = "anthropic"
    dropped_params = frozenset(
        {
            "seed",
            "presence_penalty",
            "frequency_penalty",
            "service_tier",
            "store",
            "metadata",
            "stream_options",
            "reasoning_effort",
        }
    )
    unsupported_params = frozenset({"n", "logprobs", "top_logprobs", "logit_bias", "audio"})

    def __init__(
        self, name: str, config: AnthropicProviderConfig, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.name = name
        self.config = config
        self.clock = clock
        base_url = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        # accept both the SDK's base URL (no /v1) and one that already ends in /v1
        self.url = f"{base_url}/messages" if base_url.endswith("/v1") else f"{base_url}/v1/messages"
        self.api_key = config.resolved_api_key()
        auth = {"x-api-key": self.api_key} if self.api_key else {}
        self.headers = _http.json_headers(
            {**config.headers, "anthropic-version": config.anthropic_version, **auth}
        )
        self.stream_headers = {**self.headers, "accept": "text/event-stream"}
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.session = _http.new_session(
            connect_timeout=self.config.connect_timeout,
            read_timeout=self.config.read_timeout,
            max_connections=self.config.max_connections,
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    def check_params(self, body: Json) -> None:
        """Refuse what Anthropic cannot honour, but let through values that ask for nothing (``n: 1``)."""
        meaningful = {
            key: value
            for key, value in body.items()
            if value not in _HARMLESS_VALUES.get(key, ()) and not (key == "logit_bias" and value == {})
        }
        super().check_params(meaningful)

    @property
    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            raise RuntimeError(f"provider {self.name} used before start()")
        return self.session

    def _translate(self, request: ChatRequest, deployment: Deployment, *, stream: bool) -> MessagesRequest:
        self.check_params(request.body)
        body = dict(request.body)
        for key, value in deployment.params.items():
            body.setdefault(key, value)
        upstream = chat_to_messages_request(
            body, model=deployment.model, default_max_tokens=self.config.default_max_tokens
        )
        if stream:
            upstream.body["stream"] = True
        return upstream

    async def chat(self, request: ChatRequest, deployment: Deployment) -> Json:
        upstream = self._translate(request, deployment, stream=False)
        async with _http.post(
            self._session,
            self.url,
            provider=self.name,
            body=upstream.body,
            headers=self.headers,
            secrets=(self.api_key,),
            timeout=_http.request_timeout(deployment.connect_timeout, self.config.read_timeout),
        ) as response:
            data = await _http.read_json(response, self.name)
        if not isinstance(data, dict) or data.get("type") != "message":
            raise ProviderError(
                f"{self.name}: upstream answer is not a message",
                provider=self.name,
                retryable=True,
                code="upstream_bad_response",
            )
        return message_to_chat_response(data, json_tool=upstream.json_tool, created=int(self.clock()))

    async def chat_stream(self, request: ChatRequest, deployment: Deployment) -> AsyncIterator[Json]:
        async for batch in self.stream_batches(request, deployment):
            for chunk in batch:
                yield chunk

    async def stream_batches(self, request: ChatRequest, deployment: Deployment) -> AsyncIterator[list[Json]]:
        upstream = self._translate(request, deployment, stream=True)
        decoder = ChatStreamDecoder(json_tool=upstream.json_tool, created=int(self.clock()))
        async with _http.post(
            self._session,
            self.url,
            provider=self.name,
            body=upstream.body,
            headers=self.stream_headers,
            secrets=(self.api_key,),
            timeout=_http.request_timeout(deployment.connect_timeout, self.config.read_timeout),
        ) as response:
            async for events in _http.sse_batches(response, self.name):
                batch: list[Json] = []
                try:
                    for event in events:
                        if not event.data:
                            continue
                        data = self._parse_event(event.data)
                        if event.event == "error" or data.get("type") == "error":
                            raise self._stream_error(data)
                        batch.extend(decoder.feed(data))
                        if decoder.done:
                            break
                except ProviderError:
                    if batch:
                        yield batch  # what arrived before the failure still reaches the client
                    raise
                if batch:
                    yield batch
                if decoder.done:
                    await _http.finish_body(response)
                    return
        raise ProviderError(
            f"{self.name}: upstream stream ended before message_stop",
            provider=self.name,
            retryable=True,
            code="upstream_stream_truncated",
        )

    def _parse_event(self, raw: bytes) -> Json:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise ProviderError(
                f"{self.name}: upstream stream sent an event that is not a JSON object",
                provider=self.name,
                retryable=True,
                code="upstream_bad_response",
            )
        return data

    def _stream_error(self, data: Json) -> ProviderError:
        """An in-stream ``error`` event: overload is a 503, anything else a retryable 502."""
        error: Json = data["error"] if isinstance(data.get("error"), dict) else {}
        message = _http.scrub(str(error.get("message") or "stream error"), (self.api_key,))
        if error.get("type") == "overloaded_error":
            return ProviderError(
                f"{self.name}: {message}",
                provider=self.name,
                retryable=True,
                status=503,
                kind="overloaded_error",
                code="upstream_overloaded",
            )
        return ProviderError(
            f"{self.name}: {message}",
            provider=self.name,
            retryable=True,
            status=502,
            kind="api_error",
            code="upstream_stream_error",
        )
