"""A fake of Google's Gemini API (generativelanguage.googleapis.com) that speaks the real wire format.

Routes (``v1beta`` and ``v1``):
  POST /v1beta/models/{model}:generateContent
  POST /v1beta/models/{model}:streamGenerateContent          JSON array of responses
  POST /v1beta/models/{model}:streamGenerateContent?alt=sse  ``data: {…}\\r\\n\\r\\n`` events
  POST /v1beta/models/{model}:batchEmbedContents
  POST /v1beta/models/{model}:embedContent

Shapes follow ``google.genai.types`` in camelCase (``GenerateContentResponse``, ``Candidate``,
``usageMetadata``…) and the ``google.rpc.Status`` error bodies Google really sends:

* no key (``x-goog-api-key`` header or ``?key=``): 403 ``PERMISSION_DENIED``; the key
  ``bad-key`` (or any key but ``api_key`` when one is set): 400 ``INVALID_ARGUMENT`` with reason
  ``API_KEY_INVALID``;
* unknown fields, missing ``contents``, empty ``parts``, roles other than user/model: 400
  ``INVALID_ARGUMENT`` with Google's messages, so a malformed translation fails loudly;
* models whose name starts with ``nonexistent``: 404 ``NOT_FOUND``; Gemini 3+ models reject a
  replayed function call without ``thoughtSignature`` as the real ones do;
* a prompt containing ``BLOCKME``: ``promptFeedback.blockReason = SAFETY`` and no candidates;
* 429 is ``RESOURCE_EXHAUSTED`` with ``QuotaFailure`` and ``RetryInfo`` details (Google sends the
  back-off in the body, not in a ``Retry-After`` header);
* a mid-stream failure ends the 200 stream with a bare, pretty-printed error object (no ``data:``),
  exactly as Gemini does when it sheds load after it started answering.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import re
import secrets
from typing import Any

from aiohttp import web

from .base import MALFORMED_JSON, STREAM_ONLY_FAULTS, FakeProvider, Fault, Reply, count_tokens, plan_reply

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
    "other valid authentication credential.",
    403: "The caller does not have permission",
    429: "You exceeded your current quota, please check your plan and billing details. For more information "
    "on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "The request timed out. Please try again.",
}
UNREGISTERED_CALLER = (
    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key "
    "or other form of API consumer identity to call this API."
)
QUOTA_METRIC = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
INVALID_KEY = "API key not valid. Please pass a valid API key."
EMBEDDING_SIZES = {"gemini-embedding-001": 3072, "text-embedding-004": 768, "embedding-001": 768}
DEFAULT_EMBEDDING_SIZE = 768

REQUEST_FIELDS = {
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
    "model",
    "serviceTier",
    "store",
}
GENERATION_CONFIG_FIELDS = {
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "mediaResolution",
}
CONTENT_FIELDS = {"role", "parts"}
PART_FIELDS = {
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "thought",
    "thoughtSignature",
    "videoMetadata",
    "partMetadata",
}
FUNCTION_DECLARATION_FIELDS = {
    "name",
    "description",
    "parameters",
    "parametersJsonSchema",
    "response",
    "responseJsonSchema",
    "behavior",
}
FUNCTION_CALLING_MODES = {"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"}
_GEMINI_MAJOR = re.compile(r"^gemini-(\d+)")


class ApiError(Exception):
    """A ``google.rpc.Status`` answer, raised anywhere in a handler and rendered once."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.status,
            "message": self.message,
            "status": STATUS_NAMES.get(self.status, "UNKNOWN"),
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}


def fault_error(fault: Fault, model: str | None) -> ApiError:
    """The error Gemini really answers for a status."""
    status = fault.status
    message = fault.message or DEFAULT_MESSAGES.get(status, "Internal error encountered.")
    if status == 429:
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": QUOTA_METRIC,
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaDimensions": {"location": "global", "model": model or "gemini-2.5-flash"},
                        "quotaValue": "10",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
        ]
        if fault.retry_after is not None:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{_seconds_text(fault.retry_after)}s",
                }
            )
        return ApiError(429, message, details=details)
    if status == 404:
        return _model_not_found(model or "unknown", "generateContent")
    return ApiError(status, message)


class GeminiFake(FakeProvider):
    """Gemini on a local port; see the module doc for routes and reserved names.

    ``api_key`` (when set) is the only key accepted; ``thoughts_tokens`` adds that many thinking
    tokens to every answer's ``usageMetadata``, as the 2.5 models report them.
    """

    def __init__(self, *, api_key: str | None = None, thoughts_tokens: int = 0) -> None:
        super().__init__()
        self.api_key = api_key
        self.thoughts_tokens = thoughts_tokens

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1beta/models/{call}", self.models_call),
            web.post("/v1/models/{call}", self.models_call),
        ]

    # ------------------------------------------------------------------ dispatch

    async def models_call(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        model, _, method = request.match_info["call"].rpartition(":")
        try:
            self._authenticate(request)
            if not model or method not in (
                "generateContent",
                "streamGenerateContent",
                "batchEmbedContents",
                "embedContent",
            ):
                raise ApiError(404, f"Method not found: {request.match_info['call']}")
            if model.startswith("nonexistent"):
                raise _model_not_found(model, method)
            if not isinstance(body, dict):
                raise ApiError(400, "Invalid JSON payload received. Unexpected token.")
            if method in ("batchEmbedContents", "embedContent"):
                return await self._embed(request, body, model, batch=method == "batchEmbedContents")
            return await self._generate(request, body, model, stream=method == "streamGenerateContent")
        except ApiError as error:
            return web.json_response(error.body(), status=error.status, headers=error.headers)

    def _authenticate(self, request: web.Request) -> None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            raise ApiError(403, UNREGISTERED_CALLER)
        if key == "bad-key" or (self.api_key is not None and key != self.api_key):
            raise ApiError(
                400,
                INVALID_KEY,
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                        "locale": "en-US",
                        "message": INVALID_KEY,
                    },
                ],
            )

    async def _apply_fault(self, request: web.Request, fault: Fault, model: str) -> web.StreamResponse | None:
        """Answer a fault, or return None when the request should go on (after a stall)."""
        if fault.kind == "stall":
            await asyncio.sleep(fault.delay_seconds)
            return None
        if fault.kind == "drop":
            _close_connection(request)
            return web.Response(status=204)  # never delivered: the connection is gone
        raise fault_error(fault, model)

    # ------------------------------------------------------------------ generateContent

    async def _generate(
        self, request: web.Request, body: dict[str, Any], model: str, *, stream: bool
    ) -> web.StreamResponse:
        _validate_generate(body, model)
        fault = await self.take_fault(model, stream=stream)
        sse = request.query.get("alt") == "sse"
        if fault is not None and fault.kind == "malformed":
            return await _malformed(request, stream=stream, sse=sse)
        if fault is not None and fault.kind not in STREAM_ONLY_FAULTS:
            early = await self._apply_fault(request, fault, model)
            if early is not None:
                return early
        responses = self._responses(body, model, stream=stream)
        final = responses[-1].get("usageMetadata") or {}
        self.bill(
            model,
            int(final.get("promptTokenCount", 0)),
            int(final.get("candidatesTokenCount", 0)) + int(final.get("thoughtsTokenCount", 0)),
        )
        if not stream:
            await self.generation_delay(responses[0].get("usageMetadata", {}).get("candidatesTokenCount", 0))
            return web.json_response(responses[0])
        midstream = fault if fault is not None and fault.kind in STREAM_ONLY_FAULTS else None
        return await self._stream(request, responses, sse=sse, fault=midstream)

    def _responses(self, body: dict[str, Any], model: str, *, stream: bool) -> list[dict[str, Any]]:
        """The ``GenerateContentResponse`` objects for this request: one, or one per stream event."""
        conversation = _Conversation(body)
        response_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        common = {"modelVersion": model, "responseId": response_id}
        if "BLOCKME" in conversation.prompt_text:
            prompt_tokens = max(1, count_tokens(conversation.prompt_text))
            return [
                {
                    "promptFeedback": {
                        "blockReason": "SAFETY",
                        "safetyRatings": _safety_ratings(blocked=True),
                    },
                    "usageMetadata": {
                        "promptTokenCount": prompt_tokens,
                        "totalTokenCount": prompt_tokens,
                        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
                    },
                    **common,
                }
            ]
        reply = conversation.reply()
        config = body.get("generationConfig") or {}
        candidates = int(config.get("candidateCount") or 1)
        logprobs = int(config.get("logprobs") or 0) if config.get("responseLogprobs") else None
        if not stream:
            parts = _reply_parts(reply, reply.text)
            candidate = _candidate(parts, reply, finished=True, logprobs=logprobs, words=reply.text_pieces())
            return [
                {
                    "candidates": _replicate(candidate, candidates),
                    "usageMetadata": self._usage(reply, reply.completion_tokens),
                    **common,
                }
            ]
        events = []
        pieces = reply.text_pieces() if not reply.tool_calls else [""]
        pieces = pieces or [""]
        produced = 0
        for number, piece in enumerate(pieces):
            last = number == len(pieces) - 1
            produced = reply.completion_tokens if last else produced + count_tokens(piece)
            candidate = _candidate(
                _reply_parts(reply, piece),
                reply,
                finished=last,
                logprobs=logprobs,
                words=[piece] if piece else [],
            )
            events.append(
                {
                    "candidates": _replicate(candidate, candidates),
                    "usageMetadata": self._usage(reply, produced),
                    **common,
                }
            )
        return events

    def _usage(self, reply: Reply, completion_tokens: int) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "promptTokenCount": reply.prompt_tokens,
            "candidatesTokenCount": completion_tokens,
            "totalTokenCount": reply.prompt_tokens + completion_tokens + self.thoughts_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.prompt_tokens}],
        }
        if self.thoughts_tokens:
            usage["thoughtsTokenCount"] = self.thoughts_tokens
        return usage

    async def _stream(
        self, request: web.Request, events: list[dict[str, Any]], *, sse: bool, fault: Fault | None
    ) -> web.StreamResponse:
        content_type = "text/event-stream" if sse else "application/json; charset=UTF-8"
        response = web.StreamResponse(status=200, headers={"content-type": content_type})
        await response.prepare(request)
        # a failure always comes before the event that carries finishReason
        fail_at = min(fault.after_chunks, len(events) - 1) if fault is not None else None
        gap = self.chunk_gap()
        for number, event in enumerate(events):
            if fail_at is not None and fault is not None and number >= fail_at:
                if fault.kind == "hang":
                    await self.hang(request, fault.delay_seconds)
                    return response
                if fault.status == 0:
                    _close_connection(request)
                    return response
                error = json.dumps(fault_error(fault, event.get("modelVersion")).body(), indent=2)
                await response.write((error + "\n").encode() if sse else (",\r\n" + error + "]").encode())
                await response.write_eof()
                return response
            if gap and number:
                await asyncio.sleep(gap)
            payload = json.dumps(event)
            if sse:
                await response.write(b"data: " + payload.encode() + b"\r\n\r\n")
            else:
                await response.write((("[" if number == 0 else ",\r\n") + payload).encode())
        if not sse:
            await response.write(b"]")
        await response.write_eof()
        return response

    # ------------------------------------------------------------------ embeddings

    async def _embed(
        self, request: web.Request, body: dict[str, Any], model: str, *, batch: bool
    ) -> web.StreamResponse:
        if batch:
            requests = body.get("requests")
            if not isinstance(requests, list) or not requests:
                raise ApiError(400, "* BatchEmbedContentsRequest.requests: requests is not specified\n")
            for number, item in enumerate(requests):
                if not isinstance(item, dict):
                    raise ApiError(400, f"Invalid value at 'requests[{number}]'")
                if item.get("model") != f"models/{model}":
                    raise ApiError(
                        400,
                        f"* BatchEmbedContentsRequest.requests[{number}].model: the model in "
                        "each request must match the model of the batch request.\n",
                    )
        else:
            requests = [body]
        fault = await self.take_fault(model)
        if fault is not None and fault.kind == "malformed":
            return await _malformed(request, stream=False, sse=False)
        if fault is not None and fault.kind not in STREAM_ONLY_FAULTS:
            early = await self._apply_fault(request, fault, model)
            if early is not None:
                return early
        size = EMBEDDING_SIZES.get(model, DEFAULT_EMBEDDING_SIZE)
        embeddings = []
        for number, item in enumerate(requests):
            text = _embedding_text(item, number)
            dimensions = item.get("outputDimensionality")
            if dimensions is not None and (not isinstance(dimensions, int) or not 1 <= dimensions <= size):
                raise ApiError(
                    400, f"* EmbedContentRequest.output_dimensionality: must be between 1 and {size}.\n"
                )
            embeddings.append({"values": embedding_vector(text, dimensions or size)})
        return web.json_response({"embeddings": embeddings} if batch else {"embedding": embeddings[0]})


# --------------------------------------------------------------------------- the request, read back


class _Conversation:
    """What the brain needs to know about a ``GenerateContentRequest``."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        contents = body.get("contents") or []
        texts = [part.get("text", "") for part in (body.get("systemInstruction") or {}).get("parts") or []]
        for content in contents:
            for part in content.get("parts") or []:
                if "text" in part and not part.get("thought"):
                    texts.append(part["text"])
                elif "functionResponse" in part:
                    texts.append(_response_text(part["functionResponse"]))
        self.prompt_text = " ".join(text for text in texts if text)
        last = contents[-1] if contents else {}
        self.tool_results = [
            p["functionResponse"] for p in last.get("parts") or [] if "functionResponse" in p
        ]
        users = [content for content in contents if content.get("role", "user") == "user"]
        self.last_user_text = " ".join(
            part["text"] for part in (users[-1].get("parts") if users else []) or [] if "text" in part
        )

    def reply(self) -> Reply:
        config = self.body.get("generationConfig") or {}
        tools, tool_choice = self._tools()
        return plan_reply(
            prompt_text=self.prompt_text,
            last_user_text=self.last_user_text,
            tools=tools,
            tool_choice=tool_choice,
            last_is_tool_result=bool(self.tool_results),
            tool_result_text="; ".join(_response_text(result) for result in self.tool_results),
            max_tokens=config.get("maxOutputTokens"),
            json_mode=config.get("responseMimeType") == "application/json",
        )

    def _tools(self) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
        tools = []
        for tool in self.body.get("tools") or []:
            for declaration in tool.get("functionDeclarations") or []:
                schema = declaration.get("parametersJsonSchema") or declaration.get("parameters") or {}
                tools.append((declaration["name"], _lower_types(schema)))
        calling = (self.body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        if calling.get("mode") == "NONE":
            return tools, "none"
        allowed = calling.get("allowedFunctionNames")
        if allowed:
            tools = [tool for tool in tools if tool[0] in allowed]
        return tools, None


def _response_text(function_response: dict[str, Any]) -> str:
    response = function_response.get("response") or {}
    for key in ("output", "content", "result"):
        if key in response:
            value = response[key]
            return value if isinstance(value, str) else json.dumps(value)
    return json.dumps(response)


def _lower_types(schema: dict[str, Any]) -> dict[str, Any]:
    """Gemini's OpenAPI ``Schema`` spells types in capitals (``STRING``); the brain reads JSON Schema."""
    properties = {
        name: {**prop, "type": str(prop.get("type", "string")).lower()}
        for name, prop in (schema.get("properties") or {}).items()
    }
    return {**schema, "properties": properties}


# --------------------------------------------------------------------------- validation


def _validate_generate(body: dict[str, Any], model: str) -> None:
    _known(body, REQUEST_FIELDS, "")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise ApiError(400, "* GenerateContentRequest.contents: contents is not specified\n")
    for number, content in enumerate(contents):
        if not isinstance(content, dict):
            raise ApiError(
                400,
                f"Invalid value at 'contents[{number}]' (type.googleapis.com/google.ai."
                "generativelanguage.v1beta.Content)",
            )
        _known(content, CONTENT_FIELDS, f"contents[{number}]")
        if content.get("role", "user") not in ("user", "model"):
            raise ApiError(400, "Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise ApiError(
                400, f"* GenerateContentRequest.contents[{number}].parts: contents.parts must not be empty.\n"
            )
        for index, part in enumerate(parts):
            _validate_part(part, f"contents[{number}].parts[{index}]")
    system = body.get("systemInstruction")
    if system is not None:
        _known(system, CONTENT_FIELDS, "system_instruction")
        for index, part in enumerate(system.get("parts") or []):
            _validate_part(part, f"system_instruction.parts[{index}]")
    _known(body.get("generationConfig") or {}, GENERATION_CONFIG_FIELDS, "generation_config")
    _validate_tools(body)
    _validate_signatures(contents, model)


def _validate_part(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise ApiError(
            400, f"Invalid value at '{where}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Part)"
        )
    _known(part, PART_FIELDS, where)
    response = part.get("functionResponse")
    if response is not None:
        if not response.get("name"):
            raise ApiError(
                400, f"* GenerateContentRequest.{where}.function_response.name: Name cannot be empty.\n"
            )
        if not isinstance(response.get("response"), dict):
            raise ApiError(
                400,
                f"Invalid value at '{where}.function_response.response' "
                "(type.googleapis.com/google.protobuf.Struct)",
            )
    call = part.get("functionCall")
    if call is not None and not isinstance(call.get("args", {}), dict):
        raise ApiError(
            400, f"Invalid value at '{where}.function_call.args' (type.googleapis.com/google.protobuf.Struct)"
        )
    for blob in ("inlineData", "fileData"):
        if blob in part and not (part[blob].get("mimeType") or part[blob].get("mime_type")):
            raise ApiError(
                400, f"* GenerateContentRequest.{where}.{blob}.mime_type: mime_type is required.\n"
            )


def _validate_tools(body: dict[str, Any]) -> None:
    names = set()
    for number, tool in enumerate(body.get("tools") or []):
        for index, declaration in enumerate(tool.get("functionDeclarations") or []):
            where = f"tools[{number}].function_declarations[{index}]"
            _known(declaration, FUNCTION_DECLARATION_FIELDS, where)
            if not declaration.get("name"):
                raise ApiError(400, f"* GenerateContentRequest.{where}.name: Name cannot be empty.\n")
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                raise ApiError(
                    400,
                    f"* GenerateContentRequest.{where}: parameters and parameters_json_schema "
                    "are mutually exclusive.\n",
                )
            names.add(declaration["name"])
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if calling.get("mode", "AUTO") not in FUNCTION_CALLING_MODES:
        raise ApiError(
            400, f"Invalid value at 'tool_config.function_calling_config.mode' ({calling.get('mode')})"
        )
    if calling.get("allowedFunctionNames") and calling.get("mode") not in ("ANY", "VALIDATED"):
        raise ApiError(
            400,
            "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
            "allowed_function_names is only supported when mode is ANY.\n",
        )
    for name in calling.get("allowedFunctionNames") or []:
        if name not in names:
            raise ApiError(
                400,
                f"* GenerateContentRequest.tool_config.function_calling_config: function "
                f"'{name}' is not declared.\n",
            )


def _validate_signatures(contents: list[dict[str, Any]], model: str) -> None:
    """Gemini 3 refuses a replayed function call whose first part lost its thought signature."""
    match = _GEMINI_MAJOR.match(model)
    if not match or int(match.group(1)) < 3:
        return
    for number, content in enumerate(contents):
        calls = [part for part in content.get("parts") or [] if "functionCall" in part]
        if content.get("role") == "model" and calls and not calls[0].get("thoughtSignature"):
            raise ApiError(
                400,
                "Function call is missing a thought_signature in functionCall parts. This is "
                "required for tools to work correctly, and missing thought_signature may lead to "
                f"degraded model performance. Additional data, function call "
                f"`default_api:{calls[0]['functionCall'].get('name')}` , position {number + 1}. "
                "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for "
                "more details.",
            )


def _known(value: Any, fields: set[str], where: str) -> None:
    if not isinstance(value, dict):
        return
    for name in value:
        if name not in fields and _camel(name) not in fields:
            at = f" at '{where}'" if where else ""
            raise ApiError(
                400,
                f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.',
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [
                            {
                                "field": where,
                                "description": f"Invalid JSON payload received. Unknown name "
                                f'"{name}"{at}: Cannot find field.',
                            }
                        ],
                    }
                ],
            )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


# --------------------------------------------------------------------------- answers


def _reply_parts(reply: Reply, text: str) -> list[dict[str, Any]]:
    if not reply.tool_calls:
        return [{"text": text}]
    parts = []
    for number, call in enumerate(reply.tool_calls):
        part: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.arguments}}
        if number == 0:  # parallel calls: only the first part carries the signature
            part["thoughtSignature"] = base64.b64encode(
                hashlib.sha256(call.name.encode()).digest() * 3
            ).decode()
        parts.append(part)
    return parts


def _candidate(
    parts: list[dict[str, Any]], reply: Reply, *, finished: bool, logprobs: int | None, words: list[str]
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finished:
        candidate["finishReason"] = "MAX_TOKENS" if reply.finish == "length" else "STOP"
        if reply.tool_calls:
            candidate["finishMessage"] = "Model generated function call(s)."
    if logprobs is not None and not reply.tool_calls:
        chosen: list[dict[str, Any]] = [
            {"token": word, "logProbability": -0.25 * (1 + n % 3)} for n, word in enumerate(words)
        ]
        candidate["logprobsResult"] = {
            "topCandidates": [
                {
                    "candidates": [entry]
                    + [{"token": f"alt{k}", "logProbability": -3.0 - k} for k in range(max(0, logprobs - 1))]
                }
                for entry in chosen
            ],
            "chosenCandidates": chosen,
        }
        candidate["avgLogprobs"] = sum(entry["logProbability"] for entry in chosen) / max(1, len(chosen))
    return candidate


def _replicate(candidate: dict[str, Any], count: int) -> list[dict[str, Any]]:
    return [{**candidate, "index": index} for index in range(max(1, count))]


def _safety_ratings(*, blocked: bool) -> list[dict[str, Any]]:
    categories = (
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
    )
    ratings: list[dict[str, Any]] = [{"category": c, "probability": "NEGLIGIBLE"} for c in categories]
    if blocked:
        ratings[3] = {"category": categories[3], "probability": "HIGH", "blocked": True}
    return ratings


def _model_not_found(model: str, method: str) -> ApiError:
    return ApiError(
        404,
        f"models/{model} is not found for API version v1beta, or is not supported for {method}. "
        "Call ListModels to see the list of available models and their supported methods.",
    )


def _embedding_text(item: dict[str, Any], number: int) -> str:
    parts = (item.get("content") or {}).get("parts")
    if not isinstance(parts, list) or not parts:
        raise ApiError(
            400, f"* BatchEmbedContentsRequest.requests[{number}].content: content is not specified\n"
        )
    return " ".join(str(part.get("text", "")) for part in parts)


def embedding_vector(text: str, size: int) -> list[float]:
    """A deterministic unit vector for a text (same text, same vector)."""
    seed = hashlib.sha256(text.encode()).digest()
    values = [((seed[i % 32] ^ (i * 131 % 256)) - 127.5) / 127.5 for i in range(size)]
    norm = math.sqrt(sum(value * value for value in values)) or 1.0
    return [value / norm for value in values]


def _seconds_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


async def _malformed(request: web.Request, *, stream: bool, sse: bool) -> web.StreamResponse:
    """A 200 whose body (or first stream event) is cut-off JSON."""
    if not stream:
        return web.Response(body=MALFORMED_JSON, content_type="application/json")
    content_type = "text/event-stream" if sse else "application/json; charset=UTF-8"
    response = web.StreamResponse(status=200, headers={"content-type": content_type})
    await response.prepare(request)
    await response.write(b"data: " + MALFORMED_JSON + b"\r\n\r\n" if sse else b"[" + MALFORMED_JSON)
    await response.write_eof()
    return response


def _close_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.close()
