"""Google's Gemini API (generativelanguage.googleapis.com), spoken natively.

The wire format lives in ``bastion.translate.gemini``; this module owns the transport: the
pooled session, the ``x-goog-api-key`` header (never the ``?key=`` query, so the key cannot
leak into a logged URL), and Gemini's error quirks:

  * an invalid key is a 400 ``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID``, which is our
    credential's fault, not the client's, so it is reported like a 401;
  * a 429 carries its back-off in the body (``google.rpc.RetryInfo.retryDelay``, e.g. ``"17s"``),
    not in a ``Retry-After`` header;
  * a stream that fails after it started ends with a bare JSON error object (no ``data:``
    prefix) on the 200 response, so the stream reader parses non-SSE lines too; a stream that
    ends before every candidate has a ``finishReason`` was cut short and raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from bastion.config import GeminiProviderConfig
from bastion.errors import ProviderError, provider_error_from_status
from bastion.providers import _http
from bastion.providers.base import ChatRequest, Deployment, EmbeddingsRequest, Json, Provider
from bastion.translate import gemini as translate

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


class GeminiProvider(Provider):
    kind = "gemini"
    dropped_params = translate.DROPPED_PARAMS
    unsupported_params = translate.UNSUPPORTED_PARAMS

    def __init__(self, name: str, config: GeminiProviderConfig) -> None:
        self.name = name
        self.config = config
        self.base_url = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.api_key = config.resolved_api_key()
        auth = {"x-goog-api-key": self.api_key} if self.api_key else {}
        self.headers = _http.json_headers({**config.headers, **auth})
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

    # ------------------------------------------------------------------ endpoints

    async def chat(self, request: ChatRequest, deployment: Deployment) -> Json:
        self.check_params(request.body)
        body = translate.to_gemini_request(self._merged(request.body, deployment), deployment.model)
        async with self._post(
            self._url(deployment, "generateContent"), body, self.headers, deployment
        ) as response:
            data = await _http.read_json(response, self.name)
        if not isinstance(data, dict):
            raise self._bad_response("upstream answer is not a GenerateContentResponse")
        if isinstance(data.get("error"), dict):
            raise self._error_from_body(data["error"], 502)
        return translate.from_gemini_response(data, deployment.model)

    async def chat_stream(self, request: ChatRequest, deployment: Deployment) -> AsyncIterator[Json]:
        self.check_params(request.body)
        merged = self._merged(request.body, deployment)
        body = translate.to_gemini_request(merged, deployment.model)
        translator = translate.StreamTranslator(deployment.model, choices=int(merged.get("n") or 1))
        url = self._url(deployment, "streamGenerateContent") + "?alt=sse"
        async with self._post(url, body, self.stream_headers, deployment) as response:
            async for event in self._stream_events(response):
                for chunk in translator.feed(event):
                    yield chunk
        if not translator.complete:
            raise ProviderError(
                f"{self.name}: upstream stream ended before the answer was finished",
                provider=self.name,
                retryable=True,
                code="upstream_stream_truncated",
            )
        for chunk in translator.finish():
            yield chunk

    async def embeddings(self, request: EmbeddingsRequest, deployment: Deployment) -> Json:
        body = translate.to_gemini_embeddings_request(request.body, deployment.model)
        async with self._post(
            self._url(deployment, "batchEmbedContents"), body, self.headers, deployment
        ) as response:
            data = await _http.read_json(response, self.name)
        if not isinstance(data, dict) or not isinstance(data.get("embeddings"), list):
            raise self._bad_response("upstream answer is not a batchEmbedContents response")
        return translate.from_gemini_embeddings(
            data,
            deployment.model,
            encoding_format=request.body.get("encoding_format"),
            inputs=translate.embedding_inputs(request.body),
        )

    # ------------------------------------------------------------------ transport

    def _url(self, deployment: Deployment, method: str) -> str:
        return f"{self.base_url}/{translate.model_path(deployment.model)}:{method}"

    @staticmethod
    def _merged(body: Json, deployment: Deployment) -> Json:
        merged = dict(body)
        for key, value in deployment.params.items():
            merged.setdefault(key, value)
        return merged

    @property
    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            raise RuntimeError(f"provider {self.name} used before start()")
        return self.session

    @asynccontextmanager
    async def _post(
        self, url: str, body: Json, headers: dict[str, str], deployment: Deployment
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST JSON and yield a 2xx response; every failure becomes a ``ProviderError``."""
        timeout = _http.request_timeout(deployment.connect_timeout, self.config.read_timeout)
        extra = {"timeout": timeout} if timeout is not None else {}
        try:
            async with self._session.post(url, data=orjson.dumps(body), headers=headers, **extra) as response:
                if response.status >= 400:
                    raise await self._error_from_response(response)
                yield response
        except ProviderError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _http.transport_error(self.name, exc) from None

    async def _error_from_response(self, response: aiohttp.ClientResponse) -> ProviderError:
        try:
            raw = await response.read()
        except (TimeoutError, aiohttp.ClientError):
            raw = b""
        try:
            data: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, list) and data and isinstance(data[0], dict):
            data = data[0]  # the JSON-array form of streamGenerateContent wraps errors too
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            header_delay = _http.parse_retry_after(response.headers)
            return self._error_from_body(error, response.status, retry_after_seconds=header_delay)
        message, kind = _http.upstream_error_message(raw)
        return provider_error_from_status(
            self.name,
            response.status,
            _http.scrub(message, (self.api_key,)),
            retry_after_seconds=_http.parse_retry_after(response.headers),
            upstream_type=kind,
        )

    def _error_from_body(
        self, error: Json, status: int, *, retry_after_seconds: float | None = None
    ) -> ProviderError:
        """Map Gemini's ``{"code", "message", "status", "details"}`` to a ``ProviderError``."""
        code: int = error["code"] if isinstance(error.get("code"), int) else status
        message = _http.scrub(str(error.get("message") or ""), (self.api_key,))[:1000]
        details = [detail for detail in error.get("details") or [] if isinstance(detail, dict)]
        if retry_after_seconds is None:
            retry_after_seconds = _retry_delay(details)
        key_rejected = any(
            detail.get("reason") in ("API_KEY_INVALID", "API_KEY_EXPIRED") for detail in details
        )
        mapped = provider_error_from_status(
            self.name,
            401 if key_rejected else code,
            message,
            retry_after_seconds=retry_after_seconds,
            upstream_type=error.get("status"),
        )
        mapped.upstream_status = code
        return mapped

    async def _stream_events(self, response: aiohttp.ClientResponse) -> AsyncIterator[Json]:
        """Parsed ``data:`` events; a bare JSON error after them raises ``ProviderError``."""
        buffer = b""
        data_lines: list[bytes] = []
        raw_lines: list[bytes] = []
        try:
            async for piece in response.content.iter_any():
                buffer += piece
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    event = self._take_line(line.rstrip(b"\r"), data_lines, raw_lines)
                    if event is not None:
                        yield event
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _http.transport_error(self.name, exc) from None
        for line in (buffer.rstrip(b"\r"), b""):
            event = self._take_line(line, data_lines, raw_lines)
            if event is not None:
                yield event
        if b"".join(raw_lines).strip():
            raise self._bad_response("upstream stream ended with data that is not an event")

    def _take_line(self, line: bytes, data_lines: list[bytes], raw_lines: list[bytes]) -> Json | None:
        if line.startswith(b"data:"):
            data_lines.append(line[5:].removeprefix(b" "))
            return None
        if line.startswith((b":", b"event:", b"id:", b"retry:")):
            return None  # SSE comments and fields Gemini does not use
        if not line:
            if not data_lines:
                return None
            payload = b"\n".join(data_lines)
            data_lines.clear()
            return self._event(payload)
        raw_lines.append(line)  # an error object sent without SSE framing, line by line
        try:
            data = orjson.loads(b"\n".join(raw_lines))
        except orjson.JSONDecodeError:
            return None
        raw_lines.clear()
        if isinstance(data, list) and data and isinstance(data[0], dict):
            data = data[0]
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            raise self._midstream_error(data["error"])
        raise self._bad_response("upstream stream sent data that is not an event")

    def _event(self, payload: bytes) -> Json:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise self._bad_response("upstream stream sent an event that is not JSON") from None
        if not isinstance(event, dict):
            raise self._bad_response("upstream stream sent an event that is not an object")
        if isinstance(event.get("error"), dict):
            raise self._midstream_error(event["error"])
        return event

    def _midstream_error(self, error: Json) -> ProviderError:
        mapped = self._error_from_body(error, 502)
        mapped.code = mapped.code or "upstream_stream_error"
        return mapped

    def _bad_response(self, what: str) -> ProviderError:
        # garbage from this deployment says nothing about the request: another one may answer it
        return ProviderError(
            f"{self.name}: {what}", provider=self.name, retryable=True, code="upstream_bad_response"
        )


def _retry_delay(details: list[Json]) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (``"17s"``, ``"0.5s"``)."""
    for detail in details:
        if detail.get("@type") == _RETRY_INFO:
            delay = str(detail.get("retryDelay") or "").removesuffix("s")
            try:
                return max(0.0, float(delay))
            except ValueError:
                return None
    return None
