"""Shared machinery of the provider fakes: a thread-hosted aiohttp server, request recording,
fault injection, and one deterministic "brain" so every fake answers the same prompt alike.

Each fake (openai_fake, anthropic_fake, gemini_fake) only translates the brain's reply into
its provider's real wire format. Tests start a fake, point Bastion's config at ``fake.url``,
and inspect ``fake.requests`` to see exactly what Bastion sent upstream.

Fault injection, two ways:
  * ``fake.inject(Fault(...))`` queues faults consumed by the next matching requests;
  * an upstream model name carrying ``fault-<status>`` (e.g. ``gpt-fault-429``) always fails
    that way, so a config can describe a permanently broken deployment.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_FAULT_IN_MODEL = re.compile(r"fault-(\d{3})")


@dataclass
class Fault:
    """One injected failure.

    kind:
      ``status``      answer ``status`` with the provider's real error body (and retry-after if set);
      ``drop``        close the connection without an answer;
      ``stall``       wait ``delay_seconds`` before answering normally (latency degradation);
      ``midstream``   streams only: send ``after_chunks`` chunks, then the provider's error event
                      (or, with ``status`` 0, just close the connection).
    """

    kind: str = "status"
    status: int = 500
    retry_after: float | None = None
    delay_seconds: float = 0.0
    after_chunks: int = 2
    times: int = 1
    message: str | None = None


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any


@dataclass
class ToolCallPlan:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class Reply:
    """What the brain decided to answer, before any wire format."""

    text: str = ""
    tool_calls: list[ToolCallPlan] = field(default_factory=list)
    finish: str = "stop"  # stop | length | tool_calls
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def text_pieces(self) -> list[str]:
        """The text cut into stream deltas: one word (with its leading space) per piece."""
        words = self.text.split(" ")
        return [words[0]] + [" " + word for word in words[1:]] if self.text else []


def count_tokens(text: str) -> int:
    """A stable stand-in for a tokenizer: whitespace-separated words."""
    return len(text.split())


def plan_reply(
    *,
    prompt_text: str,
    last_user_text: str,
    tools: list[tuple[str, dict[str, Any]]],
    tool_choice: str | None,
    last_is_tool_result: bool,
    tool_result_text: str,
    max_tokens: int | None,
    json_mode: bool = False,
) -> Reply:
    """Decide the reply deterministically from the conversation.

    * tools offered, ``tool_choice`` not ``none`` and the last turn is the user's: call the
      first tool, and also the second one when two or more are offered (parallel calls);
      arguments fill each required string property with ``"<name>-value"`` (``city`` gets
      ``"Paris"`` so examples read naturally), integers with 1, booleans with true;
    * the last turn is a tool result: ``"Tool said: <result>"``;
    * JSON mode: ``{"echo": "<last user text>"}``;
    * otherwise: ``"Echo: <last user text>"``, cut at ``max_tokens`` words (finish ``length``).
    """
    prompt_tokens = max(1, count_tokens(prompt_text))
    if tools and tool_choice != "none" and not last_is_tool_result:
        calls = []
        for index, (name, schema) in enumerate(tools[:2]):
            calls.append(ToolCallPlan(id=f"call_{index}_{name}"[:40], name=name, arguments=_fill(schema)))
        return Reply(
            tool_calls=calls,
            finish="tool_calls",
            prompt_tokens=prompt_tokens,
            completion_tokens=sum(3 + len(c.arguments) for c in calls),
        )
    if last_is_tool_result:
        text = f"Tool said: {tool_result_text}"
    elif json_mode:
        import json

        text = json.dumps({"echo": last_user_text})
    else:
        text = f"Echo: {last_user_text}"
    words = text.split(" ")
    finish = "stop"
    if max_tokens is not None and len(words) > max_tokens and not json_mode:
        words = words[:max_tokens]
        finish = "length"
    text = " ".join(words)
    return Reply(text=text, finish=finish, prompt_tokens=prompt_tokens, completion_tokens=len(words))


def _fill(schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    required = schema.get("required") or list(properties)
    arguments: dict[str, Any] = {}
    for name in required:
        kind = (properties.get(name) or {}).get("type", "string")
        if kind == "integer" or kind == "number":
            arguments[name] = 1
        elif kind == "boolean":
            arguments[name] = True
        else:
            arguments[name] = "Paris" if name == "city" else f"{name}-value"
    return arguments


class FakeProvider:
    """Base class: owns the server thread, the request log and the fault queue."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------------ to implement

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers for fakes

    async def record(self, request: web.Request) -> Any:
        try:
            body = await request.json() if request.can_read_body else None
        except ValueError:
            body = None
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers={k.lower(): v for k, v in request.headers.items()},
                json=body,
            )
        )
        return body

    def next_fault(self, model: str | None) -> Fault | None:
        """The fault to apply to this request, if any (model-name faults never run out)."""
        if model:
            match = _FAULT_IN_MODEL.search(model)
            if match:
                return Fault(kind="status", status=int(match.group(1)), retry_after=1)
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self._faults.popleft()
            return fault

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
        self.requests.clear()

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeProvider:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.add_routes(self.routes())
            self._runner = web.AppRunner(app, access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None
