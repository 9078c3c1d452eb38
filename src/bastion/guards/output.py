"""The output side of the guards: what the client receives, whole answers and streams alike.

Two domains meet here. Upstream, the answer is in the *masked* domain (placeholders such as
``<EMAIL_1>``): that is what the cache stores and what JSON-schema validation checks, so a
retry can feed the provider its own words back. Towards the client, placeholders are restored
first, then moderation, PII-leak and canary scanners look at what the client would see, then
the answer is captured for the audit log when asked.

Streams keep streaming: a chunk's text is released as soon as no scanner could still be in the
middle of a match (a bounded hold-back), and a block ends the stream with the protocol's error
event. JSON-schema validation of a stream happens at its end (nothing can be retried once
text has reached the client): in block mode the stream ends with an error event instead of
its normal end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bastion.context import GuardDecision, RequestContext
from bastion.errors import GatewayError, InvalidRequest
from bastion.guards.messages import rewrite_answer
from bastion.telemetry.guard_metrics import GUARDS

if TYPE_CHECKING:
    from bastion.api.streaming import StreamEncoder
    from bastion.guards.pii import Masker, StreamUnmasker
    from bastion.guards.schema import OutputSchemas, SchemaViolation
    from bastion.guards.stage import InputOutcome
    from bastion.guards.stream_scan import StreamTextGuard

Json = dict[str, Any]
Render = Callable[[Json], bytes]

#: what each scanner's violation is called in errors, and the stable code a block carries
_VIOLATION_CODES = {
    "moderation": ("content_policy_violation", "the answer was withheld by the content policy"),
    "pii_leak": ("pii_leak_detected", "the answer contained personal data or a secret"),
    "canary": ("system_prompt_leak_detected", "the answer revealed the system prompt"),
}


class OutputGuard:
    """One request's output guards: built after admission, used by the renderer or the stream encoder."""

    def __init__(self, ctx: RequestContext, outcome: InputOutcome | None, canary: str | None) -> None:
        self.ctx = ctx
        self.masker: Masker | None = outcome.masker if outcome is not None else None
        self.schemas: OutputSchemas | None = None
        self.schema_mode = "off"
        self.retries = 0
        self._scanner_specs: list[tuple[str, dict[str, Any]]] = []
        self._recorded: set[str] = set()
        if outcome is None:
            return
        plan = outcome.plan
        guards = plan.guards
        if guards.json_schema.mode != "off":
            from bastion.guards.schema import expected_schemas

            self.schemas = expected_schemas(ctx.client_body or {})
            self.schema_mode = guards.json_schema.mode
            self.retries = guards.json_schema.retries
        by_mode: dict[str, dict[str, Any]] = {}
        if plan.output_moderator is not None:
            by_mode.setdefault(guards.moderation.mode, {})["moderator"] = plan.output_moderator
        if plan.leak_detector is not None:
            from bastion.guards.leaks import LeakScanner

            allowed = set(outcome.prompt_values)
            if self.masker is not None:
                allowed.update(self.masker.placeholders.values())
            by_mode.setdefault(guards.pii_leak.mode, {})["leaks"] = LeakScanner(plan.leak_detector, allowed)
        if guards.canary.mode != "off" and canary is not None:
            by_mode.setdefault(guards.canary.mode, {})["canary"] = canary
        self._scanner_specs = list(by_mode.items())

    @property
    def active(self) -> bool:
        """Whether anything would happen to the answer (else the endpoint skips the wrappers)."""
        return bool(
            self.masker is not None
            or self.schemas is not None
            or self._scanner_specs
            or self.ctx.capture_answer
        )

    # --------------------------------------------------------------------------- pieces

    def text_guards(self) -> list[StreamTextGuard]:
        """Fresh scanners for one answer text (one per mode: block, redact and warn differ)."""
        if not self._scanner_specs:
            return []
        from bastion.guards.stream_scan import StreamTextGuard

        return [
            StreamTextGuard(
                moderator=parts.get("moderator"),
                leaks=parts.get("leaks"),
                canary=parts.get("canary"),
                mode=mode,
            )
            for mode, parts in self._scanner_specs
        ]

    def violation_error(self, guards: list[StreamTextGuard]) -> GatewayError | None:
        """Record new violations; the error to end the answer with when one of them blocks."""
        for guard in guards:
            violation = guard.violation
            if violation is None:
                continue
            name = violation.split(":", 1)[0]
            if violation not in self._recorded:
                self._recorded.add(violation)
                detail = violation.split(":", 1)[1] if ":" in violation else ""
                _decide(self.ctx, name, guard.mode, detail)
            if guard.mode == "block":
                code, what = _VIOLATION_CODES.get(name, ("output_blocked", "the answer was withheld"))
                return InvalidRequest(f"The answer was withheld: {what} ({violation}).", code=code)
        return None

    def restore(self, text: str) -> str:
        return self.masker.unmask(text) if self.masker is not None else text

    # --------------------------------------------------------------------------- whole answers

    def render(self, inner: Render) -> Render:
        """``inner`` applied to the answer as the client should see it; raises when a guard blocks it."""

        def render(response: Json) -> bytes:
            return inner(self.client_answer(response))

        return render

    def client_answer(self, response: Json) -> Json:
        captured: list[str] = []

        def transform(text: str) -> str:
            text = self.restore(text)
            guards = self.text_guards()
            for guard in guards:
                text = guard.feed(text) + guard.finish()
            error = self.violation_error(guards)
            if error is not None:
                raise error
            captured.append(text)
            return text

        answer = rewrite_answer(response, transform)
        if self.ctx.capture_answer:
            self.ctx.answer_text = "\n".join(captured)
        return answer

    async def enforce_schema(
        self, request_body: Json, response: Json, call: Callable[[Json], Awaitable[Json]]
    ) -> Json:
        """Validate a whole (masked) answer; re-ask with the error fed back, up to ``retries`` times."""
        schemas = self.schemas
        if schemas is None:
            return response
        from bastion.guards.schema import repair_messages

        attempts = 1
        violation = schemas.check_response(response)
        while violation is not None and violation.retryable and attempts <= self.retries:
            body = repair_messages(request_body, response, violation)
            spent = response.get("usage")
            response = await call(body)
            response = {**response, "usage": _add_usage(spent, response.get("usage"))}
            attempts += 1
            violation = schemas.check_response(response)
        if violation is None:
            if attempts > 1:
                _decide(self.ctx, "json_schema", "retry", f"valid after {attempts} attempts")
            return response
        detail = _violation_text(violation)
        if self.schema_mode == "block":
            _decide(self.ctx, "json_schema", "block", detail[:200])
            raise InvalidRequest(
                f"The model's answer did not match the requested JSON schema after {attempts} "
                f"attempt{'s' if attempts > 1 else ''}: {detail}",
                code="output_schema_mismatch",
                status=422,
            )
        _decide(self.ctx, "json_schema", "warn", detail[:200])
        return response

    # --------------------------------------------------------------------------- streams

    def encoder(self, inner: StreamEncoder) -> GuardedEncoder:
        return GuardedEncoder(inner, self)


class _ChoiceState:
    """One choice of a streamed answer: its restorer, its scanners and what it has said so far."""

    __slots__ = ("guards", "masked", "released", "tool_args", "tool_names", "tool_unmaskers", "unmasker")

    def __init__(self, guard: OutputGuard) -> None:
        self.unmasker: StreamUnmasker | None = guard.masker.stream_unmasker() if guard.masker else None
        self.guards = guard.text_guards()
        self.masked: list[str] = []  # as upstream wrote it (schema validation)
        self.released: list[str] = []  # as the client received it (audit capture)
        self.tool_args: dict[int, list[str]] = {}
        self.tool_names: dict[int, str] = {}  # from each call's first delta: strict tools are checked by name
        self.tool_unmaskers: dict[int, StreamUnmasker] = {}

    def feed(self, text: str) -> str:
        self.masked.append(text)
        if self.unmasker is not None:
            text = self.unmasker.feed(text)
        for guard in self.guards:
            text = guard.feed(text)
        self.released.append(text)
        return text

    def flush(self) -> str:
        text = self.unmasker.finish() if self.unmasker is not None else ""
        for guard in self.guards:
            text = guard.feed(text) + guard.finish()
        self.released.append(text)
        return text

    def message(self) -> Json:
        message: Json = {"role": "assistant", "content": "".join(self.masked) or None}
        if self.tool_args:
            message["tool_calls"] = [
                {
                    "type": "function",
                    "function": {"name": self.tool_names.get(position, ""), "arguments": "".join(parts)},
                }
                for position, parts in sorted(self.tool_args.items())
            ]
        return message


class GuardedEncoder:
    """Wraps a protocol's stream encoder: restores, scans and validates each chunk's text on the way out."""

    def __init__(self, inner: StreamEncoder, guard: OutputGuard) -> None:
        self.inner = inner
        self.guard = guard
        self.ended = False  # a guard blocked: relay_stream stops reading upstream
        self._choices: dict[int, _ChoiceState] = {}
        self._last: Json | None = None
        self._tools: dict[int, dict[int, Json]] = {}  # per choice: tool index -> call head seen

    def feed(self, chunk: Json) -> bytes:
        if self.ended:
            return b""
        choices = chunk.get("choices")
        if not choices:
            return self.inner.feed(chunk)
        self._last = chunk
        new_choices: list[Json] = []
        for choice in choices:
            index = choice.get("index", 0)
            state = self._choices.get(index)
            if state is None:
                state = self._choices[index] = _ChoiceState(self.guard)
            delta = choice.get("delta")
            new_delta = dict(delta) if isinstance(delta, dict) else {}
            content = new_delta.get("content")
            if isinstance(content, str) and content:
                new_delta["content"] = state.feed(content)
            calls = new_delta.get("tool_calls")
            if isinstance(calls, list):
                new_delta["tool_calls"] = [self._tool_delta(state, call) for call in calls]
            finish_reason = choice.get("finish_reason")
            if finish_reason is not None:
                tail = state.flush()
                if tail:
                    new_delta["content"] = (new_delta.get("content") or "") + tail
                self._flush_tools(state, new_delta)
            error = self.guard.violation_error(state.guards)
            if error is None and finish_reason is not None:
                error = self._check_schema(state)
            if error is not None:
                return self._end(error)
            if new_delta.get("content") == "" and set(new_delta) <= {"content"} and finish_reason is None:
                continue  # everything held back for now: nothing to send for this choice
            new_choices.append({**choice, "delta": new_delta})
        if not new_choices and not chunk.get("usage"):
            return b""
        return self.inner.feed({**chunk, "choices": new_choices})

    def finish(self) -> bytes:
        if self.ended:
            return b""
        parts: list[bytes] = []
        for index, state in self._choices.items():
            tail = state.flush()
            delta: Json = {"content": tail} if tail else {}
            self._flush_tools(state, delta)
            error = self.guard.violation_error(state.guards) or self._check_schema(state)
            if error is not None:
                return b"".join(parts) + self._end(error)
            if delta and self._last is not None:
                synthetic = {
                    **self._last,
                    "choices": [{"index": index, "delta": delta, "finish_reason": None}],
                }
                synthetic.pop("usage", None)
                parts.append(self.inner.feed(synthetic))
        self._capture()
        parts.append(self.inner.finish())
        return b"".join(parts)

    def error(self, error: GatewayError) -> bytes:
        self._capture()
        return self.inner.error(error)

    # --------------------------------------------------------------------------- helpers

    def _tool_delta(self, state: _ChoiceState, call: Any) -> Any:
        if not isinstance(call, dict):
            return call
        function = call.get("function")
        position = call.get("index", 0)
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            state.tool_names.setdefault(position, function["name"])
        arguments = function.get("arguments") if isinstance(function, dict) else None
        if not isinstance(arguments, str) or not arguments:
            return call
        state.tool_args.setdefault(position, []).append(arguments)
        if state.unmasker is None:
            released = arguments
        else:
            unmasker = state.tool_unmaskers.get(position)
            if unmasker is None:
                assert self.guard.masker is not None
                unmasker = state.tool_unmaskers[position] = self.guard.masker.stream_unmasker()
            released = unmasker.feed(arguments)
        state.released.append(released)
        return {**call, "function": {**function, "arguments": released}}

    def _flush_tools(self, state: _ChoiceState, delta: Json) -> None:
        rests = []
        for position, unmasker in state.tool_unmaskers.items():
            rest = unmasker.finish()
            if rest:
                rests.append({"index": position, "function": {"arguments": rest}})
                state.released.append(rest)
        if rests:
            delta["tool_calls"] = [*(delta.get("tool_calls") or []), *rests]

    def _check_schema(self, state: _ChoiceState) -> GatewayError | None:
        guard = self.guard
        if guard.schemas is None:
            return None
        violation = guard.schemas.check_message(state.message())
        if violation is None:
            return None
        detail = _violation_text(violation)
        if guard.schema_mode == "block":
            _decide(guard.ctx, "json_schema", "block", detail[:200])
            return InvalidRequest(
                f"The model's answer did not match the requested JSON schema: {detail}",
                code="output_schema_mismatch",
                status=422,
            )
        _decide(guard.ctx, "json_schema", "warn", detail[:200])
        return None

    def _end(self, error: GatewayError) -> bytes:
        self.ended = True
        self.guard.ctx.error_code = error.code
        self._capture()
        return self.inner.error(error)

    def _capture(self) -> None:
        if self.guard.ctx.capture_answer:
            self.guard.ctx.answer_text = "\n".join(
                "".join(state.released) for _, state in sorted(self._choices.items())
            )


def _decide(ctx: RequestContext, guard: str, action: str, detail: str) -> None:
    ctx.guards.append(GuardDecision(guard, "output", action, detail))
    GUARDS.decisions.labels(guard, "output", action).inc()


def _violation_text(violation: SchemaViolation) -> str:
    path = violation.path or "/"
    return f"{violation.where} at {path}: {violation.message}"


def _add_usage(first: Any, second: Any) -> Any:
    """Both attempts' token counts: the client and the ledger pay for the retry too."""
    if not isinstance(first, dict) or not isinstance(second, dict):
        return second if isinstance(second, dict) else first
    total = dict(second)
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        a, b = first.get(name), second.get(name)
        if isinstance(a, int) and isinstance(b, int):
            total[name] = a + b
    return total
