"""JSON-schema validation of answers, for ``response_format`` schemas and strict tools.

``expected_schemas(body)`` reads what the request asked for and returns ``None`` when there is
nothing to check (the common case, no allocation). Otherwise ``OutputSchemas.check_response``
returns the first ``SchemaViolation`` of an answer, and ``repair_messages`` builds the request
body of the one retry that feeds the error back to the model.

Schemas come from clients, so they are never trusted: compiled validators are cached by the
SHA-256 of their canonical JSON in a bounded LRU, ``$ref`` never fetches anything remote (the
default of ``jsonschema`` would, which is a server-side request forgery hole), and a malformed
schema becomes a non-retryable violation (or a 400 through ``schema_problem``), never an exception.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012, specification_with

__all__ = [
    "OutputSchemas",
    "SchemaViolation",
    "expected_schemas",
    "repair_messages",
    "schema_problem",
    "unfence",
]

MESSAGE_LIMIT = 300
#: how much of an invalid tool call's arguments the repair message quotes back to the model
ARGUMENTS_QUOTE_LIMIT = 4000
CACHE_SIZE = 512

#: an empty registry: ``$ref`` resolves inside the schema only, never over the network
_NO_RETRIEVAL: Registry[Any] = Registry()
_FENCE_RE = re.compile(r"\A\s*```[\w+.-]*[ \t]*\r?\n(.*?)\r?\n?[ \t]*```\s*\Z", re.DOTALL)
_NOT_SCHEMA_KEYS = frozenset({"enum", "const", "examples", "default"})


@dataclass(frozen=True, slots=True)
class SchemaViolation:
    """Why an answer does not match what the request asked for; short and human."""

    # "content" or "tool_calls[0].function.arguments (get_weather)"; "choices[1]." first when n > 1
    where: str
    path: str  # JSON pointer of the first error, "/" for the root, "" when the answer is not JSON
    message: str  # never more than MESSAGE_LIMIT characters
    choice: int = 0  # the index of the choice that failed
    tool_call: int | None = None  # the index of the failing tool call; None for the content
    retryable: bool = True  # False when the client's schema itself is broken: a retry cannot help

    def __str__(self) -> str:
        at = f" at {self.path}" if self.path else ""
        return f"{self.where}{at}: {self.message}"


@dataclass(frozen=True, slots=True)
class _Check:
    """One expectation: a compiled schema, or only "a JSON object", or a broken client schema."""

    validator: Validator | None
    require_object: bool = False
    problem: str | None = None


class OutputSchemas:
    """What one request's answers must look like: a content schema and strict tools' parameters."""

    __slots__ = ("allow_fences", "content", "tools")

    def __init__(
        self, content: _Check | None, tools: Mapping[str, _Check], allow_fences: bool = False
    ) -> None:
        self.content = content
        self.tools = tools
        self.allow_fences = allow_fences

    def check_response(self, response: Mapping[str, Any]) -> SchemaViolation | None:
        """The first violation over every choice of a chat completion, or None when all match."""
        choices = response.get("choices") or []
        for position, choice in enumerate(choices):
            message = choice.get("message") if isinstance(choice, Mapping) else None
            if not isinstance(message, Mapping):
                continue
            violation = self.check_message(message)
            if violation is not None:
                index = choice.get("index", position)
                index = index if isinstance(index, int) else position
                where = f"choices[{index}].{violation.where}" if len(choices) > 1 else violation.where
                return replace(violation, where=where, choice=index)
        return None

    def check_message(self, message: Mapping[str, Any]) -> SchemaViolation | None:
        """The first violation in one full assistant message, or None.

        A refusal (``message.refusal``, OpenAI's structured-output refusal) is not a violation:
        clients handle it. A message that only calls tools has no content to check.
        """
        if message.get("refusal"):
            return None
        tool_calls = message.get("tool_calls") or []
        if self.tools:
            for index, call in enumerate(tool_calls):
                violation = self._check_tool_call(index, call)
                if violation is not None:
                    return violation
        if self.content is None:
            return None
        content = _text_of(message.get("content"))
        if not content and tool_calls:
            return None
        return _check_text(self.content, content, "content", None, self.allow_fences)

    def unfence_message(self, message: dict[str, Any]) -> dict[str, Any]:
        """``message`` with a tolerated code fence removed from its content, so the client gets bare JSON.

        Returns ``message`` itself when there is nothing to remove (or fences are not tolerated).
        """
        content = message.get("content")
        if not self.allow_fences or self.content is None or not isinstance(content, str):
            return message
        inner = unfence(content)
        return message if inner is None else {**message, "content": inner}

    def _check_tool_call(self, index: int, call: Any) -> SchemaViolation | None:
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping):
            return None
        name = function.get("name")
        check = self.tools.get(name) if isinstance(name, str) else None
        if check is None:
            return None
        where = f"tool_calls[{index}].function.arguments ({name})"
        arguments = function.get("arguments")
        text = arguments if isinstance(arguments, str) else ""
        return _check_text(check, text, where, index, allow_fences=False)


def expected_schemas(
    body: Mapping[str, Any], *, allow_fences: bool = False, check_formats: bool = False
) -> OutputSchemas | None:
    """What the answers to ``body`` must match, or None when the request asks for nothing checkable.

    ``response_format`` ``json_schema`` (strict or not) and ``json_object`` check the content; a
    tool whose ``function.strict`` is true has its call arguments checked against its
    ``parameters``. ``allow_fences`` accepts content wrapped in a markdown code fence;
    ``check_formats`` turns on ``format`` assertions (off, as in OpenAI's structured outputs).
    """
    response_format = body.get("response_format")
    tools = body.get("tools")
    if not response_format and not tools:
        return None
    content = _content_check(response_format, check_formats)
    strict_tools = {
        name: _compiled(_tool_parameters(function), check_formats)
        for name, function in _strict_functions(tools)
    }
    if content is None and not strict_tools:
        return None
    return OutputSchemas(content, strict_tools, allow_fences=allow_fences)


def schema_problem(body: Mapping[str, Any]) -> str | None:
    """What is wrong with a schema the client sent (to answer 400 before calling upstream), or None."""
    response_format = body.get("response_format")
    if isinstance(response_format, Mapping) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, Mapping):
            return "response_format.json_schema must be an object"
        problem = _compiled(spec.get("schema", {}), False).problem
        if problem is not None:
            return f"response_format.json_schema.schema: {problem}"
    for name, function in _strict_functions(body.get("tools")):
        problem = _compiled(_tool_parameters(function), False).problem
        if problem is not None:
            return f"tools[{name}].function.parameters: {problem}"
    return None


def repair_messages(
    body: Mapping[str, Any], response: Mapping[str, Any], violation: SchemaViolation
) -> dict[str, Any]:
    """The request body of the one retry: the conversation, the invalid answer and the error.

    For content, the invalid answer goes back as an assistant message and the error as a user
    message. For a tool call, only a user message is added, quoting the call: an assistant
    message carrying ``tool_calls`` must be answered by a tool result for every call id (OpenAI
    rejects the request otherwise, Anthropic needs a ``tool_result`` per ``tool_use``) and the
    other calls of that turn were never run; a plain user message is accepted by every provider.
    ``body`` is not changed.
    """
    message = _choice_message(response, violation.choice)
    finish_reason = _choice_finish_reason(response, violation.choice)
    added: list[dict[str, Any]] = []
    if violation.tool_call is None:
        content = _text_of(message.get("content"))
        if content.strip():
            added.append({"role": "assistant", "content": content})
        added.append({"role": "user", "content": _content_repair_text(violation, finish_reason, content)})
    else:
        added.append({"role": "user", "content": _tool_repair_text(violation, message)})
    return {**body, "messages": [*body.get("messages", []), *added]}


def unfence(text: str) -> str | None:
    """The inside of a markdown code fence that wraps all of ``text``, or None when it is not fenced."""
    if "```" not in text:
        return None
    match = _FENCE_RE.match(text)
    return match.group(1) if match else None


# --- checking ---------------------------------------------------------------------------------


def _check_text(
    check: _Check, text: str, where: str, tool_call: int | None, allow_fences: bool
) -> SchemaViolation | None:
    if check.problem is not None:
        return SchemaViolation(where, "", check.problem, tool_call=tool_call, retryable=False)
    if not text.strip():
        return SchemaViolation(
            where, "", "the answer is empty; a JSON value is required", tool_call=tool_call
        )
    inner = unfence(text)
    if inner is not None:
        if not allow_fences:
            message = "the JSON is wrapped in a markdown code fence; it must be bare JSON, without ```"
            return SchemaViolation(where, "", message, tool_call=tool_call)
        text = inner
    try:
        instance = orjson.loads(text)
    except orjson.JSONDecodeError:
        return SchemaViolation(where, "", _json_error(text), tool_call=tool_call)
    if check.require_object and not isinstance(instance, dict):
        message = f"a JSON object is required, not {_json_type(instance)}"
        return SchemaViolation(where, "/", message, tool_call=tool_call)
    validator = check.validator
    if validator is None:
        return None
    try:
        if validator.is_valid(instance):
            return None
        error = best_match(validator.iter_errors(instance))
    except (Unresolvable, RecursionError) as exc:
        message = _shorten(f"the schema could not be applied: {type(exc).__name__}: {exc}")
        return SchemaViolation(where, "", message, tool_call=tool_call, retryable=False)
    if error is None:  # pragma: no cover - is_valid said otherwise
        return None
    return SchemaViolation(where, _pointer(error.absolute_path), _shorten(error.message), tool_call=tool_call)


def _json_error(text: str) -> str:
    # orjson's messages are terse; the standard library names what it expected and where
    try:
        json.loads(text)
    except ValueError as exc:
        return _shorten(f"the answer is not valid JSON: {exc}")
    return "the answer is not valid JSON"  # e.g. an integer too large for orjson


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _pointer(parts: Iterable[Any]) -> str:
    escaped = [str(part).replace("~", "~0").replace("/", "~1") for part in parts]
    return "/" + "/".join(escaped)


def _shorten(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """``message`` cut in the middle: the start and the end (which names the rule) both matter."""
    if len(message) <= limit:
        return message
    head = limit * 2 // 3
    tail = limit - head - 5
    return f"{message[:head]} ... {message[-tail:]}"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return ""


# --- reading the request ----------------------------------------------------------------------


def _content_check(response_format: Any, check_formats: bool) -> _Check | None:
    if not isinstance(response_format, Mapping):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return _Check(None, require_object=True)
    if kind != "json_schema":
        return None
    spec = response_format.get("json_schema")
    if not isinstance(spec, Mapping):
        return _Check(None, problem="response_format.json_schema must be an object")
    return _compiled(spec.get("schema", {}), check_formats)


def _strict_functions(tools: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if not isinstance(tools, list):
        return
    for tool in tools:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and function.get("strict") is True:
            name = function.get("name")
            if isinstance(name, str):
                yield name, function


def _tool_parameters(function: Mapping[str, Any]) -> Any:
    # a function without parameters takes an empty object
    return function.get("parameters", {"type": "object"})


# --- compiling, cached --------------------------------------------------------------------------


class _ValidatorCache:
    """A bounded LRU of compiled checks keyed by the SHA-256 of a schema's canonical JSON."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[bytes, bool], _Check] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, schema: Any, check_formats: bool) -> _Check:
        try:
            canonical = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # e.g. integers beyond 64 bits
            canonical = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
        key = (hashlib.sha256(canonical).digest(), check_formats)
        with self._lock:
            check = self._entries.get(key)
            if check is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return check
        check = _compile(schema, check_formats)  # outside the lock: a schema can take ms to check
        with self._lock:
            self.misses += 1
            self._entries[key] = check
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return check

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


_CACHE = _ValidatorCache(CACHE_SIZE)


def _compiled(schema: Any, check_formats: bool) -> _Check:
    return _CACHE.get(schema, check_formats)


def _compile(schema: Any, check_formats: bool) -> _Check:
    if not isinstance(schema, dict | bool):
        return _Check(None, problem=f"a schema must be an object or a boolean, not {_json_type(schema)}")
    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        return _Check(
            None, problem=_shorten(f"not a valid JSON schema: {exc.message} (at {_pointer(exc.path)})")
        )
    problem = _unresolvable_reference(schema) if isinstance(schema, dict) else None
    if problem is not None:
        return _Check(None, problem=problem)
    format_checker = cls.FORMAT_CHECKER if check_formats else None
    return _Check(cls(schema, registry=_NO_RETRIEVAL, format_checker=format_checker))


def _unresolvable_reference(schema: dict[str, Any]) -> str | None:
    """The first ``$ref`` that does not resolve inside the schema (remote ones never do)."""
    specification = specification_with(schema.get("$schema", ""), default=DRAFT202012)
    resource = specification.create_resource(schema)
    resolver = _NO_RETRIEVAL.with_resource("", resource).resolver(base_uri="")
    for reference in _references(schema, root=True):
        try:
            resolver.lookup(reference)
        except Unresolvable:
            return _shorten(
                f"$ref {reference!r} does not resolve inside the schema (remote references are not fetched)"
            )
    return None


def _references(node: Any, root: bool = False) -> Iterator[str]:
    """``$ref`` values in a schema, skipping data keywords and sub-schemas with their own ``$id``."""
    if isinstance(node, dict):
        if not root and "$id" in node:
            return  # relative references there resolve against another base: leave them to validation
        reference = node.get("$ref")
        if isinstance(reference, str):
            yield reference
        for key, value in node.items():
            if key not in _NOT_SCHEMA_KEYS:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


# --- repair messages ----------------------------------------------------------------------------


def _choice(response: Mapping[str, Any], index: int) -> Mapping[str, Any]:
    choices = response.get("choices") or []
    for position, choice in enumerate(choices):
        if isinstance(choice, Mapping) and choice.get("index", position) == index:
            return choice
    return {}


def _choice_message(response: Mapping[str, Any], index: int) -> Mapping[str, Any]:
    message = _choice(response, index).get("message")
    return message if isinstance(message, Mapping) else {}


def _choice_finish_reason(response: Mapping[str, Any], index: int) -> str | None:
    reason = _choice(response, index).get("finish_reason")
    return reason if isinstance(reason, str) else None


def _error_line(violation: SchemaViolation) -> str:
    at = f" at {violation.path}" if violation.path not in ("", "/") else ""
    return f"Validation error{at}: {violation.message}"


def _content_repair_text(violation: SchemaViolation, finish_reason: str | None, content: str) -> str:
    lines = ["Your previous answer does not match the required JSON format.", _error_line(violation)]
    if not content.strip():
        lines[0] = "Your previous answer was empty."
    if finish_reason == "length":
        lines.append("The answer was cut off at the output token limit: keep it shorter.")
    lines.append(
        "Reply again with only the corrected JSON, matching the schema exactly: no explanation, no markdown."
    )
    return "\n".join(lines)


def _tool_repair_text(violation: SchemaViolation, message: Mapping[str, Any]) -> str:
    calls = message.get("tool_calls") or []
    index = violation.tool_call or 0
    call = calls[index] if index < len(calls) and isinstance(calls[index], Mapping) else {}
    function = call.get("function") if isinstance(call.get("function"), Mapping) else {}
    name = function.get("name", "?")
    arguments = function.get("arguments")
    quoted = _shorten(arguments if isinstance(arguments, str) else "", ARGUMENTS_QUOTE_LIMIT)
    return "\n".join(
        [
            f"Your previous reply called the tool `{name}` with arguments that do not match its "
            "parameters schema, so no tool was run.",
            f"The arguments were: {quoted}",
            _error_line(violation),
            f"Call `{name}` again with corrected arguments that match its schema exactly.",
        ]
    )
