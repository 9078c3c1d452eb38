"""A fake of OpenAI's HTTP API (and Azure OpenAI's deployment paths) that speaks the real wire format.

Routes:
  POST /v1/chat/completions                                    (``Authorization: Bearer …``)
  POST /v1/embeddings
  GET  /v1/models, GET /v1/models/{model}
  POST /openai/deployments/{deployment}/chat/completions?api-version=…   (``api-key: …``)
  POST /openai/deployments/{deployment}/embeddings?api-version=…

Shapes follow the official SDK's types (``openai.types.chat.ChatCompletion``/``ChatCompletionChunk``,
``CreateEmbeddingResponse``) and the error bodies OpenAI and Azure really send. Reserved names:
the key ``bad-key`` is rejected (401 ``invalid_api_key``); a model starting with ``nonexistent``
is unknown (404 ``model_not_found``); a model containing ``fault-<status>`` always fails (base.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import random
import struct
import time
from typing import Any

from aiohttp import web

from .base import MALFORMED_JSON, STREAM_ONLY_FAULTS, FakeProvider, Fault, Reply, count_tokens, plan_reply

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
KNOWN_MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "o3-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
)
EMBEDDING_SIZES = {"text-embedding-3-large": 3072}
DEFAULT_EMBEDDING_SIZE = 1536
SYSTEM_FINGERPRINT = "fp_f4ke0pen41"
RATE_LIMIT_REQUESTS = 10_000
RATE_LIMIT_TOKENS = 30_000_000
ARGUMENT_FRAGMENT_CHARS = 6

MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) "
    "if you're accessing the API from your browser and are prompted for a username and password. You "
    "can obtain an API key from https://platform.openai.com/account/api-keys."
)
AZURE_ACCESS_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
    "key for an active subscription and use a correct regional API endpoint for your resource."
)
BAD_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. "
    "If you have trouble figuring out how to fix this, please contact us through our help center at "
    "help.openai.com.)"
)
CLOUDFLARE_PAGES = {
    502: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway"
    "</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n",
    504: "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway "
    "Time-out</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n",
}


class ApiError(Exception):
    """An error answer, raised anywhere in a handler and rendered once."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str | None = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        azure: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code
        self.headers = headers or {}
        self.azure = azure

    def body(self) -> dict[str, Any]:
        if self.azure:
            return {"error": {"code": self.code or str(self.status), "message": self.message}}
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def fault_error(fault: Fault, model: str | None, *, azure: bool = False) -> ApiError:
    """The error OpenAI really answers for a status, with its real headers."""
    status = fault.status
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["retry-after"] = _seconds_text(fault.retry_after)
    if status == 429:
        reset = fault.retry_after if fault.retry_after is not None else 1.0
        headers.update(
            {
                "x-ratelimit-limit-requests": str(RATE_LIMIT_REQUESTS),
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": f"{_seconds_text(reset)}s",
            }
        )
        message = fault.message or (
            f"Rate limit reached for {model or 'gpt-4o'} in organization org-fake on requests per min "
            f"(RPM): Limit {RATE_LIMIT_REQUESTS}, Used {RATE_LIMIT_REQUESTS}, Requested 1. Please try "
            f"again in {_seconds_text(reset)}s. Visit https://platform.openai.com/account/rate-limits "
            "to learn more."
        )
        return ApiError(
            429, message, kind="requests", code="rate_limit_exceeded", headers=headers, azure=azure
        )
    if status == 400:
        return ApiError(400, fault.message or "Invalid request.", headers=headers, azure=azure)
    if status == 401:
        return ApiError(
            401,
            fault.message or "Incorrect API key provided.",
            code="invalid_api_key",
            headers=headers,
            azure=azure,
        )
    if status == 403:
        return ApiError(
            403,
            fault.message or "Country, region, or territory not supported",
            kind="request_forbidden",
            code="unsupported_country_region_territory",
            headers=headers,
            azure=azure,
        )
    if status == 404:
        return _model_not_found(model or "unknown")
    if status == 503:
        return ApiError(
            503,
            fault.message or "The server is overloaded or not ready yet.",
            kind="server_error",
            headers=headers,
            azure=azure,
        )
    return ApiError(
        status,
        fault.message or "The server had an error while processing your request. Sorry about that!",
        kind="server_error",
        headers=headers,
        azure=azure,
    )


def _model_not_found(model: str) -> ApiError:
    return ApiError(
        404, f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found"
    )


def _seconds_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


class OpenAIFake(FakeProvider):
    """OpenAI (and Azure OpenAI) on a local port; see the module doc for routes and reserved names.

    ``azure_filter_chunks`` makes the Azure path behave as Azure does: a first stream chunk with
    empty ``choices``, an empty ``model`` and ``prompt_filter_results``, and content-filter results
    on every choice.
    """

    def __init__(self, *, azure_filter_chunks: bool = True) -> None:
        super().__init__()
        self.azure_filter_chunks = azure_filter_chunks
        self._sequence = 0
        #: how each stream ended: "completed", or "client_gone" when the caller hung up mid-stream
        self.stream_outcomes: list[str] = []

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self.chat_completions),
            web.post("/v1/embeddings", self.embeddings),
            web.get("/v1/models", self.list_models),
            web.get("/v1/models/{model}", self.retrieve_model),
            web.post("/openai/deployments/{deployment}/chat/completions", self.azure_chat_completions),
            web.post("/openai/deployments/{deployment}/embeddings", self.azure_embeddings),
        ]

    # ------------------------------------------------------------------ handlers

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        return await self._guarded(request, lambda: self._chat(request, body, azure_deployment=None))

    async def azure_chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        deployment = request.match_info["deployment"]
        return await self._guarded(request, lambda: self._chat(request, body, azure_deployment=deployment))

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        return await self._guarded(request, lambda: self._embeddings(request, body, azure_deployment=None))

    async def azure_embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        deployment = request.match_info["deployment"]
        return await self._guarded(
            request, lambda: self._embeddings(request, body, azure_deployment=deployment)
        )

    async def list_models(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)

        async def answer() -> web.StreamResponse:
            self._authenticate(request, azure=False)
            data = [_model_object(model) for model in KNOWN_MODELS]
            return self._json(request, {"object": "list", "data": data})

        return await self._guarded(request, answer)

    async def retrieve_model(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)

        async def answer() -> web.StreamResponse:
            self._authenticate(request, azure=False)
            model = request.match_info["model"]
            if model not in KNOWN_MODELS:
                raise _model_not_found(model)
            return self._json(request, _model_object(model))

        return await self._guarded(request, answer)

    # ------------------------------------------------------------------ chat

    async def _chat(
        self, request: web.Request, body: Any, *, azure_deployment: str | None
    ) -> web.StreamResponse:
        azure = azure_deployment is not None
        self._authenticate(request, azure=azure)
        if azure:
            self._require_api_version(request)
        body = self._require_object(request, body)
        model = azure_deployment if azure_deployment is not None else self._validate_model(body)
        _validate_chat(body)
        stream = bool(body.get("stream"))
        fault = await self.take_fault(model, stream=stream)
        if fault is not None and fault.kind == "malformed":
            return await _malformed(request, stream=stream)
        if fault is not None and fault.kind not in STREAM_ONLY_FAULTS:
            early = await self._apply_fault(request, fault, model, azure=azure)
            if early is not None:
                return early
        reply = _plan(body)
        if not stream:
            await self.generation_delay(reply.completion_tokens)
            return self._json(request, self._completion(body, reply, model, azure=azure), reply=reply)
        midstream = fault if fault is not None and fault.kind in STREAM_ONLY_FAULTS else None
        return await self._stream(request, body, reply, model, azure=azure, fault=midstream)

    def _billed_usage(self, model: str, reply: Reply) -> dict[str, Any]:
        self.bill(model, reply.prompt_tokens, reply.completion_tokens)
        return _usage(reply)

    def _completion(self, body: dict[str, Any], reply: Reply, model: str, *, azure: bool) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text if not reply.tool_calls else None,
            "refusal": None,
            "annotations": [],
        }
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": _compact(call.arguments)},
                }
                for call in reply.tool_calls
            ]
        choice: dict[str, Any] = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": reply.finish,
        }
        completion: dict[str, Any] = {
            "id": self._completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
            "usage": self._billed_usage(model, reply),
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
        if azure and self.azure_filter_chunks:
            choice["content_filter_results"] = _content_filter_results()
            completion["prompt_filter_results"] = [
                {"prompt_index": 0, "content_filter_results": _content_filter_results()}
            ]
        return completion

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        reply: Reply,
        model: str,
        *,
        azure: bool,
        fault: Fault | None,
    ) -> web.StreamResponse:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        obfuscate = (body.get("stream_options") or {}).get("include_obfuscation", True) is not False
        response = web.StreamResponse(
            status=200, headers=self._headers(reply) | {"content-type": "text/event-stream; charset=utf-8"}
        )
        await response.prepare(request)
        chunks = self._chunks(reply, model, include_usage=include_usage, obfuscate=obfuscate, azure=azure)
        self._billed_usage(model, reply)
        gap = self.chunk_gap()
        try:
            for index, chunk in enumerate(chunks):
                if fault is not None and index >= fault.after_chunks:
                    if fault.kind == "hang":
                        await self.hang(request, fault.delay_seconds)
                    else:
                        await self._fail_midstream(request, response, fault, azure=azure)
                    return response
                if gap and index:
                    await asyncio.sleep(gap)
                await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            self.stream_outcomes.append("client_gone")
            raise
        self.stream_outcomes.append("completed")
        return response

    def _chunks(
        self, reply: Reply, model: str, *, include_usage: bool, obfuscate: bool, azure: bool
    ) -> list[dict[str, Any]]:
        """Every chunk OpenAI sends for this reply, in order (without the ``[DONE]`` sentinel)."""
        completion_id = self._completion_id()
        created = int(time.time())
        chunks: list[dict[str, Any]] = []

        def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            if azure and self.azure_filter_chunks and "content" in delta and delta["content"]:
                choice["content_filter_results"] = _content_filter_results()
            chunks.append(self._chunk(completion_id, created, model, [choice], include_usage=include_usage))

        if azure and self.azure_filter_chunks:
            # Azure's first event: no choices, no model, only the prompt's filter verdict.
            chunks.append(
                {
                    "choices": [],
                    "created": 0,
                    "id": "",
                    "model": "",
                    "object": "",
                    "prompt_filter_results": [
                        {"prompt_index": 0, "content_filter_results": _content_filter_results()}
                    ],
                }
            )
        if reply.tool_calls:
            for index, call in enumerate(reply.tool_calls):
                opening: dict[str, Any] = {
                    "index": index,
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                }
                delta: dict[str, Any] = {"tool_calls": [opening]}
                if index == 0:
                    delta = {"role": "assistant", "content": None, "tool_calls": [opening], "refusal": None}
                chunk(delta)
                arguments = _compact(call.arguments)
                for start in range(0, len(arguments), ARGUMENT_FRAGMENT_CHARS):
                    fragment = arguments[start : start + ARGUMENT_FRAGMENT_CHARS]
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
        else:
            chunk({"role": "assistant", "content": "", "refusal": None})
            for piece in reply.text_pieces():
                chunk({"content": piece})
        chunk({}, reply.finish)
        if include_usage:
            chunks.append(
                self._chunk(completion_id, created, model, [], include_usage=True) | {"usage": _usage(reply)}
            )
        if obfuscate:
            for index, item in enumerate(chunks):
                if item.get("object") == "chat.completion.chunk":
                    item["obfuscation"] = hashlib.sha1(f"{completion_id}{index}".encode()).hexdigest()[:8]
        return chunks

    @staticmethod
    def _chunk(
        completion_id: str, created: int, model: str, choices: list[dict[str, Any]], *, include_usage: bool
    ) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
        }
        if include_usage:
            chunk["usage"] = None
        return chunk

    async def _fail_midstream(
        self, request: web.Request, response: web.StreamResponse, fault: Fault, *, azure: bool
    ) -> None:
        if fault.status == 0:
            _close_connection(request)
            return
        error = fault_error(fault, None, azure=azure)
        await response.write(b"data: " + json.dumps(error.body()).encode() + b"\n\n")
        await response.write_eof()

    # ------------------------------------------------------------------ embeddings

    async def _embeddings(
        self, request: web.Request, body: Any, *, azure_deployment: str | None
    ) -> web.StreamResponse:
        azure = azure_deployment is not None
        self._authenticate(request, azure=azure)
        if azure:
            self._require_api_version(request)
        body = self._require_object(request, body)
        model = azure_deployment if azure_deployment is not None else self._validate_model(body)
        texts, prompt_tokens = _embedding_inputs(body.get("input"))
        size = EMBEDDING_SIZES.get(model, DEFAULT_EMBEDDING_SIZE)
        dimensions = body.get("dimensions")
        if dimensions is not None:
            if "ada-002" in model:
                raise ApiError(400, "This model does not support specifying dimensions.", param="dimensions")
            if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= size:
                raise ApiError(
                    400,
                    f"Invalid value for 'dimensions' = {dimensions}. Must be between 1 and {size}.",
                    param="dimensions",
                )
            size = dimensions
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise ApiError(
                400,
                f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.",
                param="encoding_format",
                code="invalid_value",
            )
        fault = await self.take_fault(model)
        if fault is not None and fault.kind == "malformed":
            return await _malformed(request, stream=False)
        if fault is not None and fault.kind not in STREAM_ONLY_FAULTS:
            early = await self._apply_fault(request, fault, model, azure=azure)
            if early is not None:
                return early
        data = []
        for index, text in enumerate(texts):
            vector = embedding_vector(text, size)
            encoded: Any = vector
            if encoding == "base64":
                encoded = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode("ascii")
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        answer = {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
        self.bill(model, prompt_tokens, 0)
        return self._json(request, answer)

    # ------------------------------------------------------------------ plumbing

    async def _guarded(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler()
        except ApiError as error:
            headers = {"x-request-id": self._request_id()} | error.headers
            if error.status in CLOUDFLARE_PAGES and not error.azure:
                return web.Response(
                    status=error.status,
                    text=CLOUDFLARE_PAGES[error.status],
                    content_type="text/html",
                    headers=headers,
                )
            return web.json_response(error.body(), status=error.status, headers=headers)

    async def _apply_fault(
        self, request: web.Request, fault: Fault, model: str, *, azure: bool
    ) -> web.StreamResponse | None:
        """Answer a fault, or return None when the request should go on (after a stall)."""
        if fault.kind == "stall":
            await asyncio.sleep(fault.delay_seconds)
            return None
        if fault.kind == "drop":
            _close_connection(request)
            return web.Response(status=204)  # never delivered: the connection is gone
        raise fault_error(fault, model, azure=azure)

    def _authenticate(self, request: web.Request, *, azure: bool) -> None:
        authorization = request.headers.get("authorization", "")
        scheme, _, bearer = authorization.partition(" ")
        key = bearer.strip() if scheme.lower() == "bearer" else ""
        if azure:
            key = request.headers.get("api-key", "") or key
            if not key or key == "bad-key":
                raise ApiError(401, AZURE_ACCESS_DENIED, code="401", azure=True)
            return
        if not key:
            raise ApiError(401, MISSING_KEY_MESSAGE)
        if key == "bad-key":
            shown = key if len(key) <= 8 else key[:3] + "*" * (len(key) - 7) + key[-4:]
            raise ApiError(
                401,
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )

    @staticmethod
    def _require_api_version(request: web.Request) -> None:
        if not request.query.get("api-version"):
            raise ApiError(404, "Resource not found", code="404", azure=True)

    @staticmethod
    def _require_object(request: web.Request, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, BAD_JSON_MESSAGE)
        return body

    @staticmethod
    def _validate_model(body: dict[str, Any]) -> str:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ApiError(400, "you must provide a model parameter")
        if model.startswith("nonexistent"):
            raise _model_not_found(model)
        return model

    def _json(
        self, request: web.Request, data: dict[str, Any], *, reply: Reply | None = None
    ) -> web.Response:
        return web.json_response(data, headers=self._headers(reply))

    def _headers(self, reply: Reply | None) -> dict[str, str]:
        tokens = (reply.prompt_tokens + reply.completion_tokens) if reply else 1
        return {
            "x-request-id": self._request_id(),
            "openai-processing-ms": "12",
            "openai-version": "2020-10-01",
            "openai-organization": "org-fake",
            "x-ratelimit-limit-requests": str(RATE_LIMIT_REQUESTS),
            "x-ratelimit-limit-tokens": str(RATE_LIMIT_TOKENS),
            "x-ratelimit-remaining-requests": str(RATE_LIMIT_REQUESTS - 1),
            "x-ratelimit-remaining-tokens": str(RATE_LIMIT_TOKENS - tokens),
            "x-ratelimit-reset-requests": "6ms",
            "x-ratelimit-reset-tokens": "0s",
        }

    def _request_id(self) -> str:
        self._sequence += 1
        return "req_" + hashlib.md5(f"request-{self._sequence}".encode()).hexdigest()

    def _completion_id(self) -> str:
        self._sequence += 1
        return "chatcmpl-" + hashlib.sha1(f"completion-{self._sequence}".encode()).hexdigest()[:29]


# ---------------------------------------------------------------------- request reading


def _validate_chat(body: dict[str, Any]) -> None:
    """The 400s OpenAI answers for a malformed chat request, with their ``param``."""
    if "messages" not in body:
        raise ApiError(
            400,
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    messages = body["messages"]
    if not isinstance(messages, list):
        raise ApiError(
            400, "Invalid type for 'messages': expected an array.", param="messages", code="invalid_type"
        )
    if not messages:
        raise ApiError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty "
            "array instead.",
            param="messages",
            code="empty_array",
        )
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ApiError(
                400,
                f"Invalid type for 'messages[{index}]': expected an object.",
                param=f"messages[{index}]",
                code="invalid_type",
            )
        role = message.get("role")
        if role not in ROLES:
            raise ApiError(
                400,
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                "'function', 'tool', and 'developer'.",
                param=f"messages[{index}].role",
                code="invalid_value",
            )
        if role == "tool" and not message.get("tool_call_id"):
            raise ApiError(
                400,
                f"Missing required parameter: 'messages[{index}].tool_call_id'.",
                param=f"messages[{index}].tool_call_id",
                code="missing_required_parameter",
            )
    if body.get("stream_options") is not None and not body.get("stream"):
        raise ApiError(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    if body.get("metadata") is not None and not body.get("store"):
        raise ApiError(
            400, "The 'metadata' parameter is only allowed when 'store' is enabled.", param="metadata"
        )
    for index, tool in enumerate(body.get("tools") or []):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            raise ApiError(
                400,
                f"Missing required parameter: 'tools[{index}].function'.",
                param=f"tools[{index}].function",
                code="missing_required_parameter",
            )


def _plan(body: dict[str, Any]) -> Reply:
    messages = body["messages"]
    last = messages[-1]
    user_texts = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
    tools = [
        (tool["function"]["name"], tool["function"].get("parameters") or {})
        for tool in body.get("tools") or []
        if tool.get("type", "function") == "function"
    ]
    tool_choice = body.get("tool_choice")
    if isinstance(tool_choice, dict):
        wanted = (tool_choice.get("function") or {}).get("name")
        tools = [tool for tool in tools if tool[0] == wanted]
        tool_choice = "required"
    response_format = body.get("response_format") or {}
    format_kind = response_format.get("type") if isinstance(response_format, dict) else None
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    reply = plan_reply(
        prompt_text=" ".join(_text(m.get("content")) for m in messages),
        last_user_text=user_texts[-1] if user_texts else "",
        tools=tools,
        tool_choice=tool_choice if isinstance(tool_choice, str) else None,
        last_is_tool_result=last.get("role") == "tool",
        tool_result_text=_text(last.get("content")),
        max_tokens=max_tokens,
        json_mode=format_kind in ("json_object", "json_schema"),
    )
    if format_kind == "json_schema" and not reply.tool_calls:
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        reply.text = json.dumps(schema_instance(schema))
        reply.completion_tokens = count_tokens(reply.text)
    stop = body.get("stop")
    if stop and reply.text and not reply.tool_calls:
        _apply_stop(reply, [stop] if isinstance(stop, str) else list(stop))
    return reply


def _apply_stop(reply: Reply, stops: list[str]) -> None:
    cuts = [reply.text.find(stop) for stop in stops if stop and stop in reply.text]
    if cuts:
        reply.text = reply.text[: min(cuts)]
        reply.finish = "stop"
        reply.completion_tokens = count_tokens(reply.text)


def _text(content: Any) -> str:
    """The text of a message's content: a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def schema_instance(schema: dict[str, Any]) -> Any:
    """A value satisfying a simple JSON schema: every required property with a value of its type."""
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for combinator in ("anyOf", "oneOf"):
        if schema.get(combinator):
            return schema_instance(schema[combinator][0])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        required = schema.get("required") or list(properties)
        return {name: _property_value(name, properties.get(name) or {}) for name in required}
    if kind == "array":
        return [schema_instance(schema.get("items") or {"type": "string"})]
    return _property_value("value", schema)


def _property_value(name: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type", "string")
    if kind in ("object", "array") or "enum" in schema or "anyOf" in schema or "oneOf" in schema:
        return schema_instance(schema)
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"{name}-value"


def _embedding_inputs(value: Any) -> tuple[list[str], int]:
    """The texts to embed and the prompt tokens they cost, or OpenAI's 400 for a bad ``input``."""
    invalid = ApiError(
        400,
        "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
    )
    if isinstance(value, str):
        if not value:
            raise invalid
        return [value], count_tokens(value) or 1
    if not isinstance(value, list) or not value:
        raise invalid
    if all(isinstance(item, str) for item in value):
        if any(not item for item in value):
            raise invalid
        return list(value), sum(count_tokens(item) or 1 for item in value)
    if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        return ["tokens:" + ",".join(map(str, value))], len(value)
    if all(isinstance(item, list) and item and all(isinstance(t, int) for t in item) for item in value):
        return ["tokens:" + ",".join(map(str, item)) for item in value], sum(len(item) for item in value)
    raise invalid


def embedding_vector(text: str, size: int) -> list[float]:
    """A deterministic unit vector for a text."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    rng = random.Random(seed)
    values = [rng.gauss(0.0, 1.0) for _ in range(size)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    # round-trip through float32 so the float and base64 encodings carry the same numbers
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in values]


# ---------------------------------------------------------------------- response pieces


def _usage(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _compact(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, separators=(",", ":"))


def _content_filter_results() -> dict[str, Any]:
    safe = {"filtered": False, "severity": "safe"}
    return {"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe}


def _model_object(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 1_715_367_049, "owned_by": "system"}


async def _malformed(request: web.Request, *, stream: bool) -> web.StreamResponse:
    """A 200 whose body (or first stream event) is cut-off JSON."""
    if not stream:
        return web.Response(body=MALFORMED_JSON, content_type="application/json")
    response = web.StreamResponse(status=200, headers={"content-type": "text/event-stream; charset=utf-8"})
    await response.prepare(request)
    await response.write(b"data: " + MALFORMED_JSON + b"\n\n")
    await response.write_eof()
    return response


def _close_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.close()
