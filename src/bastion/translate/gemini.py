"""OpenAI chat/embeddings schema <-> Gemini ``generateContent``/``batchEmbedContents`` (pure, no I/O).

Request: system/developer messages become ``systemInstruction`` (Gemini has no system turn, so
a mid-conversation system message joins it too); ``assistant`` becomes role ``model``; tool
results become ``functionResponse`` parts in a user turn, named after the assistant tool call
they answer; consecutive turns of one role are merged because Gemini wants them alternating.
Tool and ``json_schema`` schemas go through as JSON Schema (``parametersJsonSchema``,
``responseJsonSchema``), which Gemini accepts natively, so nothing is stripped or rewritten.

Thought signatures: Gemini 2.5+/3 attach an opaque ``thoughtSignature`` to function-call parts
and Gemini 3 rejects a replayed function call without it. OpenAI's schema has nowhere to keep
it, so it rides inside the tool call id (``<id>__sig__<base64url>``), which every OpenAI client
echoes back verbatim; a replayed call without one gets Google's documented placeholder on
Gemini 3+ models.

Response: text parts are joined (``thought`` parts dropped), ``functionCall`` parts become
tool calls, a prompt blocked by ``promptFeedback`` becomes an answer with ``content: null`` and
``finish_reason: content_filter`` (what OpenAI clients expect of a filtered answer), and
``usageMetadata`` becomes OpenAI usage (thinking tokens count as completion tokens, as OpenAI
counts reasoning tokens).
"""

from __future__ import annotations

import base64
import mimetypes
import re
import secrets
import struct
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import orjson

from bastion.errors import InvalidRequest

Json = dict[str, Any]

#: accepted but ignored: Gemini has no equivalent and the answer does not change without them
DROPPED_PARAMS = frozenset(
    {
        "user",
        "metadata",
        "store",
        "service_tier",
        "parallel_tool_calls",
        "prediction",
        "verbosity",
        "prompt_cache_key",
        "safety_identifier",
    }
)
#: refused with a 400, because silently dropping them would change the answer
UNSUPPORTED_PARAMS = frozenset({"logit_bias", "audio", "functions", "function_call", "web_search_options"})

SIGNATURE_SEPARATOR = "__sig__"
#: Google's documented stand-in for a signature the client never had (e.g. history from another model)
PLACEHOLDER_SIGNATURE = "skip_thought_signature_validator"

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MODEL_ARMOR": "content_filter",
}
TOOL_CHOICE_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
#: Gemini 2.x thinking budgets for OpenAI's reasoning_effort (what Google's own OpenAI endpoint uses)
THINKING_BUDGETS = {"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576}
THINKING_LEVELS = {
    "none": "minimal",
    "minimal": "minimal",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
}
AUDIO_MIME_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}

_GEMINI_MAJOR = re.compile(r"(?:^|/)gemini-(\d+)")
_TO_URLSAFE = str.maketrans("+/", "-_")
_FROM_URLSAFE = str.maketrans("-_", "+/")


def random_hex() -> str:
    return secrets.token_hex(12)


# --------------------------------------------------------------------------- request


def to_gemini_request(body: Json, model: str) -> Json:
    """Translate a validated OpenAI chat body into a ``GenerateContentRequest``."""
    modalities = body.get("modalities")
    if modalities and any(modality != "text" for modality in modalities):
        raise InvalidRequest(
            "Gemini adapter only returns text; 'modalities' must be [\"text\"]",
            param="modalities",
            code="unsupported_parameter",
        )
    system_parts, contents = _contents(body.get("messages") or [], _needs_signature(model))
    if not contents:
        raise InvalidRequest("Gemini needs at least one user or assistant message", param="messages")
    request: Json = {"contents": contents}
    if system_parts:
        request["systemInstruction"] = {"parts": system_parts}
    tools, tool_config = _tools(body.get("tools"), body.get("tool_choice"))
    if tools:
        request["tools"] = tools
    if tool_config:
        request["toolConfig"] = tool_config
    generation_config = _generation_config(body, model)
    if generation_config:
        request["generationConfig"] = generation_config
    return request


def _needs_signature(model: str) -> bool:
    match = _GEMINI_MAJOR.search(model)
    return match is not None and int(match.group(1)) >= 3


def _contents(messages: list[Json], needs_signature: bool) -> tuple[list[Json], list[Json]]:
    system_parts: list[Json] = []
    turns: list[Json] = []
    tool_names: dict[str, str] = {}
    for position, message in enumerate(messages):
        role = message.get("role")
        if role in ("system", "developer"):
            system_parts.extend({"text": text} for text in _texts(message.get("content"), position))
        elif role == "user":
            turns.append({"role": "user", "parts": _user_parts(message.get("content"), position)})
        elif role == "assistant":
            parts = _assistant_parts(message, position, tool_names, needs_signature)
            turns.append({"role": "model", "parts": parts})
        elif role in ("tool", "function"):
            turns.append({"role": "user", "parts": [_function_response(message, tool_names, position)]})
        else:
            raise InvalidRequest(f"unsupported message role '{role}'", param=f"messages[{position}].role")
    return system_parts, _merge_turns(turns)


def _merge_turns(turns: list[Json]) -> list[Json]:
    """Drop empty turns and merge neighbours of one role (Gemini wants user/model alternating)."""
    merged: list[Json] = []
    for turn in turns:
        if not turn["parts"]:
            continue
        if merged and merged[-1]["role"] == turn["role"]:
            merged[-1]["parts"].extend(turn["parts"])
        else:
            merged.append({"role": turn["role"], "parts": list(turn["parts"])})
    return merged


def _texts(content: Any, position: int) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    texts = []
    for part in content:
        if part.get("type") in ("text", "refusal"):
            texts.append(part.get("text") or part.get("refusal") or "")
        else:
            raise InvalidRequest(
                f"content part type '{part.get('type')}' is only allowed in user messages",
                param=f"messages[{position}].content",
            )
    return texts


def _user_parts(content: Any, position: int) -> list[Json]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    parts: list[Json] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            parts.append({"text": part.get("text") or ""})
        elif kind == "image_url":
            url = (
                part["image_url"]["url"] if isinstance(part.get("image_url"), dict) else part.get("image_url")
            )
            parts.append(_media_part(str(url), "image/jpeg"))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            mime = AUDIO_MIME_TYPES.get(str(audio.get("format")), f"audio/{audio.get('format')}")
            parts.append({"inlineData": {"mimeType": mime, "data": audio.get("data", "")}})
        elif kind == "file":
            parts.append(_file_part(part.get("file") or {}, position))
        else:
            raise InvalidRequest(
                f"content part type '{kind}' is not supported by Gemini",
                param=f"messages[{position}].content",
            )
    return parts


def _media_part(url: str, default_mime: str) -> Json:
    """A data URL becomes ``inlineData``; any other URL becomes ``fileData`` (Gemini fetches it)."""
    if url.startswith("data:"):
        header, _, payload = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        data = (
            payload
            if encoding == "base64"
            else base64.b64encode(urllib.parse.unquote_to_bytes(payload)).decode("ascii")
        )
        return {"inlineData": {"mimeType": mime or default_mime, "data": data}}
    guessed = mimetypes.guess_type(urllib.parse.urlparse(url).path)[0]
    return {"fileData": {"mimeType": guessed or default_mime, "fileUri": url}}


def _file_part(file: Json, position: int) -> Json:
    data = file.get("file_data")
    if not data:
        raise InvalidRequest(
            "Gemini cannot read OpenAI file ids; send the file as 'file_data'",
            param=f"messages[{position}].content",
        )
    if str(data).startswith("data:"):
        return _media_part(str(data), "application/pdf")
    mime = mimetypes.guess_type(str(file.get("filename") or ""))[0] or "application/pdf"
    return {"inlineData": {"mimeType": mime, "data": data}}


def _assistant_parts(
    message: Json, position: int, tool_names: dict[str, str], needs_signature: bool
) -> list[Json]:
    parts: list[Json] = [{"text": text} for text in _texts(message.get("content"), position) if text]
    for number, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        call_id = str(call.get("id") or "")
        tool_names[call_id] = function.get("name", "")
        arguments = _arguments(function, position)
        part: Json = {"functionCall": {"name": function.get("name", ""), "args": arguments}}
        signature = decode_signature(call_id)
        if signature is None and number == 0 and needs_signature:
            signature = PLACEHOLDER_SIGNATURE
        if signature is not None:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _arguments(function: Json, position: int) -> Json:
    raw = function.get("arguments") or "{}"
    try:
        arguments = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        raise InvalidRequest(
            "tool call arguments must be a JSON object", param=f"messages[{position}].tool_calls"
        )
    return arguments


def _function_response(message: Json, tool_names: dict[str, str], position: int) -> Json:
    name = tool_names.get(str(message.get("tool_call_id") or "")) or message.get("name")
    if not name:
        raise InvalidRequest(
            f"tool message answers unknown tool_call_id '{message.get('tool_call_id')}'",
            param=f"messages[{position}].tool_call_id",
        )
    text = "".join(_texts(message.get("content"), position))
    try:
        output: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        output = text
    # Google's FunctionResponse doc: put the function's result under "output" (errors under "error").
    return {"functionResponse": {"name": name, "response": {"output": output}}}


def _tools(tools: list[Json] | None, tool_choice: Any) -> tuple[list[Json], Json | None]:
    if not tools:
        return [], None
    declarations = []
    for position, tool in enumerate(tools):
        if tool.get("type", "function") != "function":
            raise InvalidRequest(
                f"tool type '{tool.get('type')}' is not supported by Gemini", param=f"tools[{position}]"
            )
        function = tool.get("function") or {}
        declaration: Json = {"name": function.get("name", "")}
        if function.get("description"):
            declaration["description"] = function["description"]
        if function.get("parameters"):
            declaration["parametersJsonSchema"] = function["parameters"]
        declarations.append(declaration)
    config, allowed = _function_calling_config(tool_choice)
    if allowed is not None:
        declarations = [declaration for declaration in declarations if declaration["name"] in allowed]
    tool_config = {"functionCallingConfig": config} if config else None
    return [{"functionDeclarations": declarations}], tool_config


def _function_calling_config(tool_choice: Any) -> tuple[Json | None, set[str] | None]:
    """Gemini's ``functionCallingConfig``, and the tool names to keep when the choice narrows them."""
    if tool_choice is None:
        return None, None
    if isinstance(tool_choice, str):
        if tool_choice not in TOOL_CHOICE_MODES:
            raise InvalidRequest(f"unknown tool_choice '{tool_choice}'", param="tool_choice")
        return {"mode": TOOL_CHOICE_MODES[tool_choice]}, None
    if tool_choice.get("type") == "function":
        return {"mode": "ANY", "allowedFunctionNames": [tool_choice["function"]["name"]]}, None
    if tool_choice.get("type") == "allowed_tools":
        allowed = tool_choice.get("allowed_tools") or {}
        names = {str((tool.get("function") or {}).get("name")) for tool in allowed.get("tools") or []}
        # Gemini takes allowedFunctionNames only with ANY, so the declarations are narrowed instead
        return {"mode": TOOL_CHOICE_MODES.get(allowed.get("mode", "auto"), "AUTO")}, names
    raise InvalidRequest("unsupported tool_choice", param="tool_choice")


def _generation_config(body: Json, model: str) -> Json:
    config: Json = {}
    for source, target in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if body.get(source) is not None:
            config[target] = body[source]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("n") not in (None, 1):
        config["candidateCount"] = body["n"]
    if body.get("logprobs"):
        config["responseLogprobs"] = True
        if body.get("top_logprobs"):
            config["logprobs"] = body["top_logprobs"]
    config.update(_response_format(body.get("response_format")))
    effort = body.get("reasoning_effort")
    if effort is not None:
        if _needs_signature(model):  # Gemini 3+: thinking levels
            config["thinkingConfig"] = {"thinkingLevel": THINKING_LEVELS.get(effort, "high")}
        else:
            config["thinkingConfig"] = {"thinkingBudget": THINKING_BUDGETS.get(effort, 8192)}
    return config


def _response_format(response_format: Json | None) -> Json:
    if not response_format or response_format.get("type") == "text":
        return {}
    if response_format.get("type") == "json_object":
        return {"responseMimeType": "application/json"}
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        config: Json = {"responseMimeType": "application/json"}
        if schema:
            config["responseJsonSchema"] = schema
        return config
    raise InvalidRequest(
        f"unsupported response_format type '{response_format.get('type')}'", param="response_format"
    )


# --------------------------------------------------------------------------- tool call ids


def encode_call_id(part: Json, new_id: Callable[[], str]) -> str:
    """The OpenAI tool call id for a ``functionCall`` part, carrying its thought signature."""
    call_id = str((part.get("functionCall") or {}).get("id") or f"call_{new_id()}")
    signature = part.get("thoughtSignature")
    if not signature:
        return call_id
    # base64url without padding keeps the id within [A-Za-z0-9_-] (Anthropic's tool_use id alphabet)
    return f"{call_id}{SIGNATURE_SEPARATOR}{str(signature).translate(_TO_URLSAFE).rstrip('=')}"


def decode_signature(call_id: str) -> str | None:
    """The thought signature (standard base64) hidden in a tool call id, if any."""
    _, separator, encoded = call_id.partition(SIGNATURE_SEPARATOR)
    if not separator or not encoded:
        return None
    return encoded.translate(_FROM_URLSAFE) + "=" * (-len(encoded) % 4)


# --------------------------------------------------------------------------- response


def usage_from_metadata(metadata: Json) -> Json:
    """OpenAI usage from Gemini ``usageMetadata`` (thinking tokens are completion tokens)."""
    prompt = int(metadata.get("promptTokenCount") or 0) + int(metadata.get("toolUsePromptTokenCount") or 0)
    thoughts = int(metadata.get("thoughtsTokenCount") or 0)
    completion = int(metadata.get("candidatesTokenCount") or 0) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(metadata.get("totalTokenCount") or prompt + completion),
        "prompt_tokens_details": {"cached_tokens": int(metadata.get("cachedContentTokenCount") or 0)},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def finish_reason(gemini_reason: str | None, has_tool_calls: bool) -> str | None:
    if not gemini_reason:
        return None
    reason = FINISH_REASONS.get(gemini_reason, "stop")
    return "tool_calls" if reason == "stop" and has_tool_calls else reason


def from_gemini_response(
    data: Json, model: str, *, created: int | None = None, new_id: Callable[[], str] = random_hex
) -> Json:
    """Translate a ``GenerateContentResponse`` into an OpenAI ``chat.completion``."""
    choices = []
    for position, candidate in enumerate(data.get("candidates") or []):
        text, tool_calls = _candidate_output(candidate, new_id)
        message: Json = {"role": "assistant", "content": text, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        choices.append(
            {
                "index": candidate.get("index", position),
                "message": message,
                "logprobs": _logprobs(candidate.get("logprobsResult")),
                "finish_reason": finish_reason(candidate.get("finishReason") or "STOP", bool(tool_calls)),
            }
        )
    if not choices:  # the prompt itself was blocked (promptFeedback.blockReason)
        choices.append(
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": None},
                "logprobs": None,
                "finish_reason": "content_filter",
            }
        )
    completion: Json = {
        "id": f"chatcmpl-{data.get('responseId') or new_id()}",
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": data.get("modelVersion") or model,
        "choices": choices,
    }
    if data.get("usageMetadata"):
        completion["usage"] = usage_from_metadata(data["usageMetadata"])
    return completion


def _candidate_output(candidate: Json, new_id: Callable[[], str]) -> tuple[str | None, list[Json]]:
    texts: list[str] = []
    tool_calls: list[Json] = []
    for part in (candidate.get("content") or {}).get("parts") or []:
        if part.get("thought"):
            continue
        if "text" in part:
            texts.append(part["text"])
        elif "functionCall" in part:
            tool_calls.append(_tool_call(part, new_id))
    return ("".join(texts) if texts else None), tool_calls


def _tool_call(part: Json, new_id: Callable[[], str]) -> Json:
    call = part["functionCall"]
    return {
        "id": encode_call_id(part, new_id),
        "type": "function",
        "function": {
            "name": call.get("name", ""),
            "arguments": orjson.dumps(call.get("args") or {}).decode(),
        },
    }


def _logprobs(result: Json | None) -> Json | None:
    if not result:
        return None
    top = result.get("topCandidates") or []
    content = []
    for position, chosen in enumerate(result.get("chosenCandidates") or []):
        alternatives = top[position].get("candidates") or [] if position < len(top) else []
        entry = _token_logprob(chosen)
        entry["top_logprobs"] = [_token_logprob(alternative) for alternative in alternatives]
        content.append(entry)
    return {"content": content, "refusal": None}


def _token_logprob(candidate: Json) -> Json:
    token = str(candidate.get("token", ""))
    return {
        "token": token,
        "logprob": float(candidate.get("logProbability", 0.0)),
        "bytes": list(token.encode("utf-8")),
    }


# --------------------------------------------------------------------------- stream


class StreamTranslator:
    """Turns the ``GenerateContentResponse`` events of one stream into OpenAI chunks.

    Gemini sends whole function calls in one event, so each becomes one tool-call delta with
    its id, name and complete arguments. ``usageMetadata`` repeats with running totals on every
    event, so the last one seen is the usage, sent in a final chunk by ``finish()``.
    """

    def __init__(
        self,
        model: str,
        *,
        choices: int = 1,
        created: int | None = None,
        new_id: Callable[[], str] = random_hex,
    ) -> None:
        self.model = model
        self.created = int(time.time()) if created is None else created
        self.choices = max(1, choices)
        self.id = ""
        self.usage: Json | None = None
        self._new_id = new_id
        self._started = False
        self._tool_counts: dict[int, int] = {}
        self._finished: set[int] = set()

    @property
    def complete(self) -> bool:
        """True once every choice got its finish reason (a stream cut short never does)."""
        return self._started and len(self._finished) >= self.choices

    def feed(self, event: Json) -> list[Json]:
        chunks: list[Json] = []
        if not self._started:
            self._started = True
            self.id = f"chatcmpl-{event.get('responseId') or self._new_id()}"
            self.model = event.get("modelVersion") or self.model
            chunks.extend(
                self._chunk(index, {"role": "assistant", "content": ""}) for index in range(self.choices)
            )
        if event.get("usageMetadata"):
            self.usage = usage_from_metadata(event["usageMetadata"])
        candidates = event.get("candidates") or []
        for position, candidate in enumerate(candidates):
            chunks.extend(self._candidate_chunks(candidate.get("index", position), candidate))
        if not candidates and (event.get("promptFeedback") or {}).get("blockReason"):
            for index in range(self.choices):
                if index not in self._finished:
                    self._finished.add(index)
                    chunks.append(self._chunk(index, {}, "content_filter"))
        return chunks

    def finish(self) -> list[Json]:
        """The closing usage chunk (``choices`` empty), when the upstream reported usage."""
        if self.usage is None:
            return []
        return [
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": self.usage,
            }
        ]

    def _candidate_chunks(self, index: int, candidate: Json) -> list[Json]:
        chunks: list[Json] = []
        texts = []
        calls = []
        for part in (candidate.get("content") or {}).get("parts") or []:
            if part.get("thought"):
                continue
            if part.get("text"):
                texts.append(part["text"])
            elif "functionCall" in part:
                number = self._tool_counts.get(index, 0)
                self._tool_counts[index] = number + 1
                calls.append({"index": number, **_tool_call(part, self._new_id)})
        logprobs = _logprobs(candidate.get("logprobsResult"))
        if texts:
            chunks.append(self._chunk(index, {"content": "".join(texts)}, logprobs=logprobs))
        if calls:
            chunks.append(self._chunk(index, {"tool_calls": calls}))
        reason = finish_reason(candidate.get("finishReason"), self._tool_counts.get(index, 0) > 0)
        if reason is not None:
            self._finished.add(index)
            chunks.append(self._chunk(index, {}, reason))
        return chunks

    def _chunk(
        self, index: int, delta: Json, finish: str | None = None, logprobs: Json | None = None
    ) -> Json:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}],
        }


# --------------------------------------------------------------------------- embeddings


def embedding_inputs(body: Json) -> list[str]:
    """OpenAI's ``input`` as a list of strings (Gemini embeds text, not token ids)."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    raise InvalidRequest(
        "Gemini embeddings take a string or a list of strings (not token ids)", param="input"
    )


def to_gemini_embeddings_request(body: Json, model: str) -> Json:
    """A ``batchEmbedContents`` body: one request per input, each naming the model."""
    model_name = model_path(model)
    requests = []
    for text in embedding_inputs(body):
        request: Json = {"model": model_name, "content": {"parts": [{"text": text}]}}
        if body.get("dimensions") is not None:
            request["outputDimensionality"] = body["dimensions"]
        requests.append(request)
    return {"requests": requests}


def from_gemini_embeddings(
    data: Json, model: str, *, encoding_format: str | None = None, inputs: list[str] | None = None
) -> Json:
    """OpenAI's embeddings list; ``base64`` packs float32 little-endian exactly as OpenAI does.

    ``batchEmbedContents`` reports no usage, yet spend tracking needs a count: without
    ``usageMetadata`` the prompt tokens are estimated from ``inputs`` (about 4 characters a token).
    """
    items = []
    for index, embedding in enumerate(data.get("embeddings") or []):
        values = [float(value) for value in embedding.get("values") or []]
        encoded: Any = values
        if encoding_format == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")
        items.append({"object": "embedding", "index": index, "embedding": encoded})
    prompt_tokens = int((data.get("usageMetadata") or {}).get("promptTokenCount") or 0)
    if not prompt_tokens and inputs:
        prompt_tokens = sum(max(1, -(-len(text) // 4)) for text in inputs)
    return {
        "object": "list",
        "data": items,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def model_path(model: str) -> str:
    """``models/<name>`` unless the name already carries its collection (``tunedModels/…``)."""
    return model if "/" in model else f"models/{model}"
