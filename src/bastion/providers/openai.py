"""OpenAI and every OpenAI-compatible server (Azure OpenAI, vLLM, TGI, Ollama, llama.cpp, Groq…).

The request body is already in OpenAI's shape, so this adapter forwards it with the
deployment's model name and asks for stream usage; presets only change the base URL and
the auth header.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from bastion.config import OpenAIProviderConfig
from bastion.errors import ProviderError
from bastion.providers import _http
from bastion.providers.base import ChatRequest, Deployment, EmbeddingsRequest, Json, Provider

#: base URLs of the presets; self-hosted ones point at the server's usual local port
PRESET_BASE_URLS: dict[str, str | None] = {
    "openai": "https://api.openai.com/v1",
    "azure": None,  # https://<resource>.openai.azure.com/openai — must be configured
    "vllm": "http://127.0.0.1:8000/v1",
    "tgi": "http://127.0.0.1:8080/v1",
    "ollama": "http://127.0.0.1:11434/v1",
    "llamacpp": "http://127.0.0.1:8080/v1",
    "groq": "https://api.groq.com/openai/v1",
    "together": "https://api.together.xyz/v1",
    "mistral": "https://api.mistral.ai/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
}

DEFAULT_AZURE_API_VERSION = "2024-10-21"

#: presets whose servers accept the sampling extension ``top_k`` (Anthropic clients may send it);
#: the others reject unknown fields, so it is dropped for them
TOP_K_PRESETS = frozenset({"vllm", "tgi", "ollama", "llamacpp", "together", "openrouter", "fireworks"})


class OpenAIProvider(Provider):
    kind = "openai"
    # Bastion consumes `metadata` (routing, attribution); it reaches OpenAI only with `store: true`.
    dropped_params = frozenset({"metadata", "top_k"})

    def __init__(self, name: str, config: OpenAIProviderConfig) -> None:
        self.name = name
        self.config = config
        base_url = config.base_url or PRESET_BASE_URLS[config.preset]
        if not base_url:
            raise ValueError(f"base_url is required for preset '{config.preset}'")
        self.base_url = base_url.rstrip("/")
        if config.preset == "azure" and not self.base_url.endswith("/openai"):
            # the Azure SDK takes the resource endpoint; the REST paths live under /openai
            self.base_url += "/openai"
        self.api_key = config.resolved_api_key()
        self.is_azure = config.preset == "azure"
        auth: dict[str, str] = {}
        if self.api_key:
            auth = {"api-key": self.api_key} if self.is_azure else {"authorization": f"Bearer {self.api_key}"}
        self.headers = _http.json_headers({**config.headers, **auth})
        self.stream_headers = {**self.headers, "accept": "text/event-stream"}
        self.params = (
            {"api-version": config.api_version or DEFAULT_AZURE_API_VERSION} if self.is_azure else None
        )
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

    def _url(self, endpoint: str, deployment: Deployment) -> str:
        if self.is_azure:
            return f"{self.base_url}/deployments/{deployment.model}/{endpoint}"
        return f"{self.base_url}/{endpoint}"

    def _body(self, request: ChatRequest, deployment: Deployment) -> dict[str, Any]:
        body = dict(request.body)
        for key, value in deployment.params.items():
            body.setdefault(key, value)
        body["model"] = deployment.model
        body["stream"] = request.stream
        if "metadata" in body and not body.get("store"):
            del body["metadata"]
        if "top_k" in body and self.config.preset not in TOP_K_PRESETS:
            del body["top_k"]
        if not request.stream:
            body.pop("stream_options", None)
        elif self.config.stream_usage:
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body["stream_options"] = options
        return body

    @property
    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            raise RuntimeError(f"provider {self.name} used before start()")
        return self.session

    async def chat(self, request: ChatRequest, deployment: Deployment) -> Json:
        self.check_params(request.body)
        body = self._body(request, deployment)
        async with _http.post(
            self._session,
            self._url("chat/completions", deployment),
            provider=self.name,
            body=body,
            headers=self.headers,
            secrets=(self.api_key,),
            timeout=_http.request_timeout(deployment.connect_timeout, self.config.read_timeout),
            params=self.params,
        ) as response:
            data = await _http.read_json(response, self.name)
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise ProviderError(
                f"{self.name}: upstream answer is not a chat completion",
                provider=self.name,
                retryable=True,
                code="upstream_bad_response",
            )
        return data

    async def chat_stream(self, request: ChatRequest, deployment: Deployment) -> AsyncIterator[Json]:
        async for batch in self.stream_batches(request, deployment):
            for chunk in batch:
                yield chunk

    async def stream_batches(self, request: ChatRequest, deployment: Deployment) -> AsyncIterator[list[Json]]:
        self.check_params(request.body)
        body = self._body(request, deployment)
        async with _http.post(
            self._session,
            self._url("chat/completions", deployment),
            provider=self.name,
            body=body,
            headers=self.stream_headers,
            secrets=(self.api_key,),
            timeout=_http.request_timeout(deployment.connect_timeout, self.config.read_timeout),
            params=self.params,
        ) as response:
            async for events in _http.sse_batches(response, self.name):
                batch: list[Json] = []
                done = False
                try:
                    for event in events:
                        if event.data == b"[DONE]":
                            done = True
                            break
                        batch.append(self._chunk(event.data))
                except ProviderError:
                    if batch:
                        yield batch  # what arrived before the failure still reaches the client
                    raise
                if batch:
                    yield batch
                if done:
                    await _http.finish_body(response)
                    return

    def _chunk(self, data: bytes) -> Json:
        """One stream event as a chunk; garbage and in-stream errors become ``ProviderError``."""
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ProviderError(
                f"{self.name}: upstream stream sent an event that is not JSON",
                provider=self.name,
                retryable=True,
                code="upstream_bad_response",
            ) from None
        if not isinstance(chunk, dict):
            raise ProviderError(
                f"{self.name}: upstream stream sent an event that is not a JSON object",
                provider=self.name,
                retryable=True,
                code="upstream_bad_response",
            )
        error = chunk.get("error")
        if error:
            raw = error.get("message", "stream error") if isinstance(error, dict) else error
            message = _http.scrub(str(raw), (self.api_key,))
            raise ProviderError(
                f"{self.name}: {message}",
                provider=self.name,
                retryable=True,
                code="upstream_stream_error",
            )
        return chunk

    async def embeddings(self, request: EmbeddingsRequest, deployment: Deployment) -> Json:
        body = dict(request.body)
        for key, value in deployment.params.items():
            body.setdefault(key, value)
        body["model"] = deployment.model
        async with _http.post(
            self._session,
            self._url("embeddings", deployment),
            provider=self.name,
            body=body,
            headers=self.headers,
            secrets=(self.api_key,),
            timeout=_http.request_timeout(deployment.connect_timeout, self.config.read_timeout),
            params=self.params,
        ) as response:
            data = await _http.read_json(response, self.name)
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise ProviderError(
                f"{self.name}: upstream answer is not an embeddings list",
                provider=self.name,
                retryable=True,
                code="upstream_bad_response",
            )
        return data
