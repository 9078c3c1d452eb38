"""Shared machinery of the provider fakes: a thread-hosted aiohttp server, request recording,
fault injection, and one deterministic "brain" so every fake answers the same prompt alike.

Each fake (openai_fake, anthropic_fake, gemini_fake) only translates the brain's reply into
its provider's real wire format. Tests start a fake, point Bastion's config at ``fake.url``,
and inspect ``fake.requests`` to see exactly what Bastion sent upstream.

Fault injection, four ways (checked in this order for every request):
  * an upstream model name carrying ``fault-<status>`` (e.g. ``gpt-fault-429``) always fails
    that way, so a config can describe a permanently broken deployment;
  * ``fake.inject(Fault(...))`` queues faults consumed by the next matching requests;
  * ``fake.chaos = Chaos(...)`` applies standing faults to every request while set (an error
    rate, slow first token, slow tokens, stalls and resets mid-stream, malformed JSON);
  * ``fake.pause()`` / ``fake.resume()`` close and reopen the listening socket on the same port:
    while paused, connections are refused and open ones are cut (a provider that is hard down).
``fake.requests`` records every request that reached the fake, whatever was done to it.

Every fake also answers ``/_chaos`` (GET: the settings; POST: new settings, ``{}`` or ``null``
to heal), ``GET /_stats`` (requests received) and ``POST /_pause`` (``{"seconds": s}``: hard down
for ``s`` seconds), so a fake running as its own process (``tests.fakes.serve``) can be broken
and healed at run time. These control requests are not recorded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import threading
import time
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
                      (or, with ``status`` 0, just close the connection);
      ``hang``        streams only: send ``after_chunks`` chunks, then fall silent with the connection
                      open for ``delay_seconds`` (or until the client hangs up), then close it;
      ``malformed``   answer 200 with a body (or a first stream event) that is not JSON.
    """

    kind: str = "status"
    status: int = 500
    retry_after: float | None = None
    delay_seconds: float = 0.0
    after_chunks: int = 2
    times: int = 1
    message: str | None = None


@dataclass
class Chaos:
    """Standing faults for every request while ``fake.chaos`` is set (queued faults go first).

    error_rate          share of requests answered ``error_status`` with the provider's real error
                        body (``retry_after`` adds the provider's back-off hint, e.g. Retry-After);
    ttft_seconds        wait before answering anything: a stream's first byte, a whole answer, an error;
    token_gap_seconds   wait between stream chunks (a non-stream answer waits as long per token);
    stall_after_chunks  streams: send that many chunks, then fall silent (``Fault(kind="hang")``)
                        for ``stall_seconds`` or until the client hangs up; a non-stream answer
                        stalls before it starts (``Fault(kind="stall")``);
    reset_after_chunks  streams: send that many chunks, then close the connection; a non-stream
                        request has its connection closed without an answer (``Fault(kind="drop")``);
    malformed_json      answer 200 with a body, or a first stream event, that is not JSON;
    seed                seeds the error-rate dice, so a run is repeatable.
    """

    error_rate: float = 0.0
    error_status: int = 503
    retry_after: float | None = None
    ttft_seconds: float = 0.0
    token_gap_seconds: float = 0.0
    stall_after_chunks: int | None = None
    stall_seconds: float = 300.0
    reset_after_chunks: int | None = None
    malformed_json: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.error_rate <= 1:
            raise ValueError(f"error_rate must be in [0, 1], got {self.error_rate}")
        if not 400 <= self.error_status <= 599:
            raise ValueError(f"error_status must be an HTTP error status, got {self.error_status}")
        for name in ("ttft_seconds", "token_gap_seconds", "stall_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @classmethod
    def from_json(cls, data: Any) -> Chaos | None:
        """Settings from a JSON object (unknown keys are an error); ``None`` or ``{}`` means healthy."""
        if not data:
            return None
        if not isinstance(data, dict):
            raise ValueError("chaos settings must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown chaos settings: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        return cls(**data)

    def fault(self, rng: random.Random, *, stream: bool) -> Fault | None:
        """The fault for one request, rolling the error-rate dice."""
        if self.error_rate and rng.random() < self.error_rate:
            return Fault(kind="status", status=self.error_status, retry_after=self.retry_after)
        if self.malformed_json:
            return Fault(kind="malformed")
        if self.reset_after_chunks is not None:
            if not stream:
                return Fault(kind="drop")
            return Fault(kind="midstream", status=0, after_chunks=self.reset_after_chunks)
        if self.stall_after_chunks is not None:
            if not stream:
                return Fault(kind="stall", delay_seconds=self.stall_seconds)
            return Fault(kind="hang", after_chunks=self.stall_after_chunks, delay_seconds=self.stall_seconds)
        return None


#: fault kinds that only apply to streams (a non-stream request with one is answered normally)
STREAM_ONLY_FAULTS = frozenset({"midstream", "hang"})

#: what a fake sends for ``Fault(kind="malformed")``: JSON cut off in the middle
MALFORMED_JSON = b'{"id": "truncated-by-chaos", "object": "chat.completion", "choices": [{"index": 0, "mess'


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
        #: what each answered request was billed: (model, input tokens, output tokens), in the
        #: provider's own accounting (cache reads and writes included in input)
        self.billed: list[tuple[str, int, int]] = []
        #: seconds between stream chunks (a slow generation), 0 = as fast as possible
        self.chunk_gap_seconds = 0.0
        self._faults: deque[Fault] = deque()
        self._chaos: Chaos | None = None
        self._chaos_rng = random.Random(0)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._thread: threading.Thread | None = None
        self._resume_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._host = "127.0.0.1"
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

    def next_fault(self, model: str | None, *, stream: bool = False) -> Fault | None:
        """The fault to apply to this request, if any (model-name faults never run out)."""
        if model:
            match = _FAULT_IN_MODEL.search(model)
            if match:
                return Fault(kind="status", status=int(match.group(1)), retry_after=1)
        with self._lock:
            if self._faults:
                fault = self._faults[0]
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.popleft()
                return fault
            chaos = self._chaos
            return chaos.fault(self._chaos_rng, stream=stream) if chaos is not None else None

    async def take_fault(self, model: str | None, *, stream: bool = False) -> Fault | None:
        """``next_fault``, after the chaos settings' time to first token (a slow provider is slow at all)."""
        chaos = self._chaos
        if chaos is not None and chaos.ttft_seconds:
            await asyncio.sleep(chaos.ttft_seconds)
        return self.next_fault(model, stream=stream)

    def chunk_gap(self) -> float:
        """Seconds to wait between two stream chunks."""
        chaos = self._chaos
        return max(self.chunk_gap_seconds, chaos.token_gap_seconds if chaos is not None else 0.0)

    async def generation_delay(self, tokens: int) -> None:
        """A non-stream answer takes as long as its stream would have: the token gap per token."""
        chaos = self._chaos
        if chaos is not None and chaos.token_gap_seconds and tokens > 0:
            await asyncio.sleep(chaos.token_gap_seconds * tokens)

    async def hang(self, request: web.Request, seconds: float) -> None:
        """Fall silent with the connection open until ``seconds`` pass or the client hangs up, then cut it."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            await asyncio.sleep(0.05)
        if request.transport is not None:
            request.transport.close()

    @property
    def chaos(self) -> Chaos | None:
        return self._chaos

    @chaos.setter
    def chaos(self, settings: Chaos | None) -> None:
        with self._lock:
            self._chaos = settings
            self._chaos_rng = random.Random(settings.seed if settings is not None else 0)

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def bill(self, model: str, input_tokens: int, output_tokens: int) -> None:
        with self._lock:
            self.billed.append((model, input_tokens, output_tokens))

    def clear(self) -> None:
        """Forget recorded requests and queued faults, and heal standing chaos."""
        with self._lock:
            self._faults.clear()
            self.billed.clear()
        self.chaos = None
        self.requests.clear()

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        """The fake's routes plus the chaos control routes."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.add_routes(self.routes())
        app.add_routes(
            [
                web.get("/_chaos", self._get_chaos),
                web.post("/_chaos", self._set_chaos),
                web.get("/_stats", self._stats),
                web.post("/_pause", self._pause_for),
            ]
        )
        return app

    def start(self, port: int = 0, host: str = "127.0.0.1") -> FakeProvider:
        """Serve on a thread of its own (``port`` 0 picks a free one)."""
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self.serve(port, host))
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    async def serve(self, port: int = 0, host: str = "127.0.0.1") -> None:
        """Start serving on the running loop (what ``start`` does on its thread)."""
        self._loop = asyncio.get_running_loop()
        # a client that hangs up cancels its handler, as it does on a real server
        self._runner = web.AppRunner(
            self.app(), access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await self._runner.setup()
        self._host = host
        await self._listen(port)

    async def shutdown(self) -> None:
        """Stop serving (the counterpart of ``serve``)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner, self._site = None, None

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self._host, port, reuse_address=True)
        await self._site.start()
        self.port = self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def pause(self) -> None:
        """Hard down: stop listening (new connections are refused) and cut every open connection."""
        self._call(self._pause())

    def resume(self) -> None:
        """Listen again on the same port."""
        self._call(self._resume())

    @property
    def paused(self) -> bool:
        return self._site is None

    async def _pause(self) -> None:
        if self._site is None or self._runner is None:
            return
        await self._site.stop()
        self._site = None
        server = self._runner.server
        for connection in server.connections if server is not None else []:
            connection.force_close()

    async def _resume(self) -> None:
        if self._resume_timer is not None:
            self._resume_timer.cancel()
            self._resume_timer = None
        if self._site is None and self._runner is not None:
            await self._listen(self.port)

    def _call(self, coroutine: Any) -> None:
        loop = self._loop
        if loop is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        asyncio.run_coroutine_threadsafe(coroutine, loop).result(10)

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

    # ------------------------------------------------------------------ control routes

    async def _get_chaos(self, request: web.Request) -> web.Response:
        chaos = self._chaos
        return web.json_response(dataclasses.asdict(chaos) if chaos is not None else None)

    async def _set_chaos(self, request: web.Request) -> web.Response:
        try:
            data = await request.json() if request.can_read_body else None
            self.chaos = Chaos.from_json(data)
        except (ValueError, TypeError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return await self._get_chaos(request)

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": len(self.requests), "paused": self.paused})

    async def _pause_for(self, request: web.Request) -> web.Response:
        """Go hard down for ``seconds`` (the answer comes first: this connection is cut too)."""
        try:
            seconds = float((await request.json())["seconds"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'send {"seconds": <number>}'}, status=400)
        loop = asyncio.get_running_loop()

        def run(coroutine: Any) -> None:
            task = loop.create_task(coroutine)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        def resume() -> None:
            self._resume_timer = None
            run(self._resume())

        loop.call_later(0.05, lambda: run(self._pause()))
        self._resume_timer = loop.call_later(0.05 + seconds, resume)
        return web.json_response({"paused_seconds": seconds})
