"""Chaos scenarios: the real ``bastion serve`` in front of a faulty primary and a healthy secondary.

A scenario builds a ``Rig`` (two fakes of different providers, one model group with
``strategy: priority`` so the primary is preferred, and the server), breaks the primary
(``fake.chaos`` or ``fake.pause()``), drives a bounded burst of requests through the official
``openai`` and ``anthropic`` SDKs, and judges what the clients saw (``Outcome``) and what the
providers received (``fake.requests``, ``/admin/deployments``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.e2e.conftest import Server, start_server, stop_server
from tests.fakes.anthropic_fake import AnthropicFake
from tests.fakes.base import FakeProvider
from tests.fakes.gemini_fake import GeminiFake
from tests.fakes.openai_fake import OpenAIFake

GROUP = "chat"
FAKES: dict[str, type[FakeProvider]] = {
    "openai": OpenAIFake,
    "anthropic": AnthropicFake,
    "gemini": GeminiFake,
}
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}
BASE_PATHS = {"openai": "/v1", "anthropic": "", "gemini": "/v1beta"}

#: the tuned group every scenario starts from; a scenario overrides what it studies. The idle
#: limit is loose: no scenario here studies it but the stall one (which sets its own), and half a
#: second without a chunk from a healthy fake happened on a busy CI machine.
GROUP_SETTINGS: dict[str, Any] = {
    "timeouts": {"connect_seconds": 0.5, "ttft_seconds": 1.5, "idle_seconds": 2.0, "total_seconds": 10},
    "retry": {"max_attempts": 3, "backoff_base_ms": 20, "backoff_max_ms": 200, "max_retry_after_seconds": 2},
    "breaker": {
        "consecutive_failures": 5,
        "error_rate": 0.25,
        "min_requests": 20,
        "window_seconds": 10,
        "open_seconds": 0.5,
        "half_open_probes": 1,
    },
}


@dataclass
class Outcome:
    """What one client saw."""

    index: int
    sdk: str  # "openai" | "anthropic"
    stream: bool
    started: float  # monotonic
    elapsed: float = 0.0
    ok: bool = False
    provider: str | None = None
    attempts: int = 0
    hedged: bool = False
    got_first_byte: bool = False  # the stream had started (headers and a first event) when it failed
    error: str | None = None

    @property
    def midstream_failure(self) -> bool:
        return not self.ok and self.stream and self.got_first_byte


@dataclass
class Rig:
    server: Server
    primary: FakeProvider
    secondary: FakeProvider
    settings: dict[str, Any]
    oai: openai.AsyncOpenAI = field(init=False)
    claude: anthropic.AsyncAnthropic = field(init=False)

    def __post_init__(self) -> None:
        self.oai = openai.AsyncOpenAI(base_url=f"{self.server.url}/v1", api_key="sk-chaos", max_retries=0)
        self.claude = anthropic.AsyncAnthropic(base_url=self.server.url, api_key="sk-chaos", max_retries=0)

    @property
    def breaker(self) -> dict[str, Any]:
        return self.settings["breaker"]

    def primary_snapshot(self) -> dict[str, Any]:
        """The primary deployment's breaker and stats from ``GET /admin/deployments``."""
        answer = httpx.get(f"{self.server.url}/admin/deployments", timeout=5).json()
        return answer["groups"][GROUP]["deployments"][0]

    def primary_state(self) -> str:
        return self.primary_snapshot()["breaker"]["state"]

    async def drive(
        self, count: int, *, concurrency: int = 12, streams: float = 0.5, anthropic_share: float = 0.25
    ) -> list[Outcome]:
        """Send ``count`` requests, ``concurrency`` at a time; a mix of SDKs, streams and non-streams."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(count):
            queue.put_nowait(index)
        outcomes: list[Outcome] = []
        stream_every = round(1 / streams) if streams else 0
        anthropic_every = round(1 / anthropic_share) if anthropic_share else 0

        async def worker() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                stream = bool(stream_every) and index % stream_every == 0
                # pairs of neighbours share an SDK, so each SDK gets streams and non-streams
                sdk = "anthropic" if anthropic_every and (index // 2) % anthropic_every == 1 else "openai"
                outcomes.append(await self.one(index, sdk=sdk, stream=stream))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return sorted(outcomes, key=lambda o: o.started)

    async def one(self, index: int, *, sdk: str, stream: bool) -> Outcome:
        outcome = Outcome(index=index, sdk=sdk, stream=stream, started=time.monotonic())
        prompt = f"chaos request {index}"
        try:
            if sdk == "openai":
                text = await self._openai(outcome, prompt)
            else:
                text = await self._anthropic(outcome, prompt)
            outcome.ok = text == f"Echo: {prompt}"
            if not outcome.ok:
                outcome.error = f"wrong answer {text!r}"
        except (openai.APIError, anthropic.APIError) as error:
            outcome.error = f"{type(error).__name__}: {error}"
        outcome.elapsed = time.monotonic() - outcome.started
        return outcome

    async def _openai(self, outcome: Outcome, prompt: str) -> str:
        messages: Any = [{"role": "user", "content": prompt}]
        raw = await self.oai.chat.completions.with_raw_response.create(
            model=GROUP, messages=messages, stream=outcome.stream, max_tokens=50, timeout=15
        )
        _read_headers(outcome, raw.headers)
        if not outcome.stream:
            completion: Any = raw.parse()
            return completion.choices[0].message.content or ""
        pieces = []
        async for chunk in raw.parse():  # type: ignore[union-attr]
            outcome.got_first_byte = True
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
        return "".join(pieces)

    async def _anthropic(self, outcome: Outcome, prompt: str) -> str:
        messages: Any = [{"role": "user", "content": prompt}]
        raw = await self.claude.messages.with_raw_response.create(
            model=GROUP, messages=messages, max_tokens=50, stream=outcome.stream, timeout=15
        )
        _read_headers(outcome, raw.headers)
        if not outcome.stream:
            message: Any = await raw.parse()
            return "".join(block.text for block in message.content if block.type == "text")
        pieces = []
        async for event in await raw.parse():  # type: ignore[union-attr]
            outcome.got_first_byte = True
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                pieces.append(event.delta.text)
        return "".join(pieces)

    def watch(self) -> BreakerWatch:
        return BreakerWatch(self.server.url)

    async def wait_for_recovery(self, deadline_seconds: float) -> float:
        """After healing: seconds until a request is served by the primary in one attempt again."""
        healed = time.monotonic()
        index = 10_000
        while time.monotonic() - healed < deadline_seconds:
            outcome = await self.one(index, sdk="openai", stream=False)
            index += 1
            assert outcome.ok, outcome.error
            if outcome.provider == "primary" and outcome.attempts == 1 and self.primary_state() == "closed":
                return time.monotonic() - healed
            await asyncio.sleep(0.05)
        raise AssertionError(f"traffic did not return to the primary within {deadline_seconds} s")


class BreakerWatch:
    """Polls ``/admin/deployments`` in the background: when did the primary's breaker first open?

    ``async with rig.watch() as watch: ...`` then ``watch.opened_at`` (monotonic, or None).
    """

    def __init__(self, url: str, interval: float = 0.05) -> None:
        self.url = f"{url}/admin/deployments"
        self.interval = interval
        self.opened_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BreakerWatch:
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _poll(self) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            while self.opened_at is None:
                answer = (await client.get(self.url)).json()
                breaker = answer["groups"][GROUP]["deployments"][0]["breaker"]
                if breaker["state"] != "closed" and breaker["seconds_since_opened"] is not None:
                    self.opened_at = time.monotonic() - breaker["seconds_since_opened"]
                await asyncio.sleep(self.interval)


def _read_headers(outcome: Outcome, headers: httpx.Headers) -> None:
    outcome.provider = headers.get("x-bastion-provider")
    outcome.attempts = int(headers.get("x-bastion-attempts", "0"))
    outcome.hedged = headers.get("x-bastion-hedged") == "true"


# ---------------------------------------------------------------------- judging


def failures(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if not o.ok]


def success_rate(outcomes: list[Outcome]) -> float:
    return sum(o.ok for o in outcomes) / len(outcomes)


def primary_attempts(outcomes: list[Outcome]) -> int:
    """Attempts that went to the primary, from the clients' headers (works when it refuses connections).

    Without hedging every attempt but the last of a request failed; the last one served it.
    """
    total = 0
    for outcome in outcomes:
        assert not outcome.hedged, "primary_attempts needs a scenario without hedging"
        failed_before = max(0, outcome.attempts - 1)
        total += failed_before + (1 if outcome.provider == "primary" else 0)
    return total


def probe_allowance(breaker: dict[str, Any], seconds: float) -> int:
    """Most probes a breaker that keeps failing them can let through in ``seconds`` after opening.

    Each failed probe doubles the rest (up to 8x), so the half-open windows start at
    o, o+2o, o+2o+4o, then every 8o.
    """
    rest, elapsed, windows, multiplier = breaker["open_seconds"], 0.0, 0, 1
    while True:
        elapsed += rest * multiplier
        if elapsed > seconds:
            return windows * breaker["half_open_probes"]
        windows += 1
        multiplier = min(multiplier * 2, 8)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(outcomes: list[Outcome]) -> str:
    """One line for the test log (``pytest -rA`` or a failure shows it)."""
    latencies = [o.elapsed for o in outcomes]
    attempts = sum(o.attempts for o in outcomes) / len(outcomes)
    return (
        f"{len(outcomes)} requests, success {success_rate(outcomes):.2%}, "
        f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms, {attempts:.2f} attempts/request"
    )


# ---------------------------------------------------------------------- building rigs


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and key in base else value
    return merged


def _yaml(value: Any) -> str:
    """Flow-style YAML for the small nested dicts of the group settings (JSON is valid YAML)."""
    import json

    return json.dumps(value)


def config_text(
    primary: tuple[str, FakeProvider], secondary: tuple[str, FakeProvider], settings: dict
) -> str:
    lines = ["server:", "  graceful_shutdown_seconds: 1", "routing:"]
    lines.append(f"  retry_budget: {_yaml(settings.get('retry_budget', {}))}")
    lines.append("providers:")
    for name, (kind, fake) in (("primary", primary), ("secondary", secondary)):
        lines.append(f"  {name}: {{type: {kind}, base_url: '{fake.url}{BASE_PATHS[kind]}', api_key: sk-up}}")
    lines += [
        "models:",
        f"  {GROUP}:",
        "    strategy: priority",
        "    deployments:",
        f"      - {{provider: primary, model: {MODELS[primary[0]]}}}",
        f"      - {{provider: secondary, model: {MODELS[secondary[0]]}}}",
    ]
    for key in ("timeouts", "retry", "breaker", "hedge"):
        if key in settings:
            lines.append(f"    {key}: {_yaml(settings[key])}")
    return "\n".join(lines) + "\n"


RigFactory = Any


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[RigFactory]:
    """``make_rig("openai", "anthropic", breaker={...})``: fresh fakes and a server for one scenario."""
    started: list[Rig] = []

    def build(primary_kind: str, secondary_kind: str, **overrides: Any) -> Rig:
        primary = FAKES[primary_kind]().start()
        secondary = FAKES[secondary_kind]().start()
        settings = _merge(GROUP_SETTINGS, overrides)
        text = config_text((primary_kind, primary), (secondary_kind, secondary), settings)
        server = start_server(text, tmp_path)
        rig = Rig(server, primary, secondary, settings)
        started.append(rig)
        return rig

    yield build
    for rig in started:
        # close the SDK clients on this loop: a transport left to the garbage collector closes its
        # socket behind the selector's back, and the next socket to reuse that fd is never woken
        await rig.oai.close()
        await rig.claude.close()
        stop_server(rig.server)
        rig.primary.stop()
        rig.secondary.stop()
