"""The demo's clients: a few teams' applications calling the gateway with their own virtual keys.

Each feature is one application's way of calling: a support bot that streams answers to
customers (some of whom write their email address into the chat), a search box that embeds
queries and answers frequent questions deterministically (the cache's case), a summariser and
an autocomplete. Requests go through the gateway's public API exactly as an OpenAI SDK would
send them; what happened to each one is read from the answer and its ``x-bastion-*`` headers.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

#: team id -> (team name, [(user id, user name)])
TEAMS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "support": ("Customer support", [("alice@acme.test", "Alice"), ("bob@acme.test", "Bob")]),
    "search": ("Search", [("carol@acme.test", "Carol")]),
    "content": ("Content", [("dave@acme.test", "Dave"), ("erin@acme.test", "Erin")]),
}

CUSTOMER_MESSAGES = [
    "My order never arrived, can you check what happened?",
    "How do I change the delivery address on an open order?",
    "Can I get a refund for a damaged item?",
    "Your app logs me out every time I open it.",
    "Do you ship to Canada, and how long does it take?",
]
# what customers write when they add their contact details; the PII guard masks these
CONTACT_LINES = [
    "You can reach me at jane.doe@example.com.",
    "My email is k.tanaka@example.org if you need it.",
    "Call me back on +1 415 555 0134 please.",
]
SEARCH_QUESTIONS = [
    "What is the return window for electronics?",
    "Which payment methods do you accept?",
    "How do I reset my password?",
    "Is there a student discount?",
    "Where is my nearest store?",
    "How long does standard shipping take?",
]
SEARCH_QUERIES = ["wireless headphones", "running shoes size 42", "espresso machine", "usb-c charger"]
DOCUMENTS = [
    "Quarterly update: revenue grew 12% on strong demand for the new product line; churn fell.",
    "Incident report: the payments API returned errors for 14 minutes after a config change.",
    "Meeting notes: the team agreed to ship the beta in March and to hire two more engineers.",
    "Release notes: faster search, a dark theme, and a fix for the login loop on Android.",
]
SNIPPETS = ["def parse_config(path):", "SELECT name, email FROM", "for (const item of", "class Repository"]


@dataclass(frozen=True)
class Call:
    """One request as a client builds it: which endpoint, which body, and how to read the answer."""

    feature: str
    user: str
    path: str
    body: dict[str, Any]

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def kind(self) -> str:
        if self.path.endswith("/embeddings"):
            return "embeddings"
        return "stream" if self.stream else "chat"


@dataclass(frozen=True)
class Feature:
    """An application of one team: its share of the traffic and how it builds a request."""

    name: str
    team: str
    share: float
    build: Callable[[random.Random, str], Call]


def _chat(feature: str, caller: str, model: str, prompt: str, /, **options: Any) -> Call:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}], **options}
    if body.get("stream"):
        body["stream_options"] = {"include_usage": True}
    return Call(feature, caller, "/v1/chat/completions", body)


def support_bot(rng: random.Random, user: str) -> Call:
    prompt = rng.choice(CUSTOMER_MESSAGES)
    if rng.random() < 0.3:
        prompt += " " + rng.choice(CONTACT_LINES)
    customer = f"customer-{rng.randrange(1000, 1040)}"  # the app's own end user, in the `user` field
    return _chat("support-bot", user, "demo-chat", prompt, stream=rng.random() < 0.75, user=customer)


def search(rng: random.Random, user: str) -> Call:
    if rng.random() < 0.45:
        body = {"model": "demo-embed", "input": rng.choice(SEARCH_QUERIES)}
        return Call("search", user, "/v1/embeddings", body)
    # answers are deterministic (temperature 0): frequent questions repeat and the cache answers
    # them; the long tail of specific ones does not
    if rng.random() < 0.65:
        question = rng.choice(SEARCH_QUESTIONS)
    else:
        question = f"Is the {rng.choice(SEARCH_QUERIES)} in stock at store {rng.randrange(1, 500)}?"
    return _chat("search", user, "demo-mini", question, temperature=0)


def summarise(rng: random.Random, user: str) -> Call:
    document = rng.choice(DOCUMENTS)
    temperature = 0 if rng.random() < 0.5 else 0.4
    prompt = f"Summarise in one sentence:\n\n{document}"
    return _chat("summarise", user, "demo-mini", prompt, temperature=temperature)


def autocomplete(rng: random.Random, user: str) -> Call:
    return _chat(
        "autocomplete", user, "demo-chat", f"Complete: {rng.choice(SNIPPETS)}", stream=True, max_tokens=16
    )


FEATURES = [
    Feature("support-bot", "support", 0.4, support_bot),
    Feature("search", "search", 0.3, search),
    Feature("summarise", "content", 0.15, summarise),
    Feature("autocomplete", "content", 0.15, autocomplete),
]


@dataclass
class Outcome:
    """What one request did, as the client saw it."""

    feature: str
    model: str
    kind: str  # "stream", "chat", "embeddings"
    status: int
    seconds: float
    first_byte_seconds: float
    provider: str = "-"
    attempts: int = 0
    fallback: str = ""
    degraded: str = ""
    cache: str = ""
    guards: str = ""
    tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.status == 200


async def send(session: aiohttp.ClientSession, base: str, call: Call, key: str) -> Outcome:
    """Send one request and read its answer to the end (a stream chunk by chunk)."""
    headers = {"authorization": f"Bearer {key}", "x-bastion-feature": call.feature}
    started = time.perf_counter()
    first_byte = 0.0
    tokens = 0
    try:
        async with session.post(base + call.path, data=orjson.dumps(call.body), headers=headers) as response:
            if call.stream and response.status == 200:
                async for line in response.content:
                    if not first_byte:
                        first_byte = time.perf_counter() - started
                    if line.startswith(b"data: {") and b'"usage":{' in line:
                        tokens = orjson.loads(line[6:])["usage"].get("completion_tokens", 0)
            else:
                data = orjson.loads(await response.read())
                first_byte = time.perf_counter() - started
                tokens = (data.get("usage") or {}).get("completion_tokens", 0)
            get = response.headers.get
            return Outcome(
                feature=call.feature,
                model=call.body["model"],
                kind=call.kind,
                status=response.status,
                seconds=time.perf_counter() - started,
                first_byte_seconds=first_byte,
                provider=get("x-bastion-provider", "-"),
                attempts=int(get("x-bastion-attempts", "0")),
                fallback=get("x-bastion-fallback", ""),
                degraded=get("x-bastion-degraded", ""),
                cache=get("x-bastion-cache", ""),
                guards=get("x-bastion-guard", ""),
                tokens=tokens,
            )
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return Outcome(call.feature, call.body["model"], call.kind, 0, time.perf_counter() - started, 0.0)


@dataclass
class Traffic:
    """Several concurrent clients sending the feature mix until the time (or request count) is up.

    ``keys`` maps user id to that user's virtual key. Randomness and the clock are injected so
    a run's mix is reproducible; ``outcomes`` grows as answers arrive, for the progress bar.
    """

    base: str
    keys: dict[str, str]
    seconds: float | None = 60.0
    requests: int | None = None
    concurrency: int = 8
    think_seconds: float = 0.05
    rng: random.Random = field(default_factory=lambda: random.Random(42))
    clock: Callable[[], float] = time.monotonic
    should_stop: Callable[[], bool] = lambda: False  # e.g. the server is shutting down (Ctrl-C)
    outcomes: list[Outcome] = field(default_factory=list)
    started_at: float = 0.0
    sent: int = 0

    def elapsed(self) -> float:
        return self.clock() - self.started_at if self.started_at else 0.0

    def progress(self) -> float:
        """How far the run is, 0 to 1: by time, or by requests when only a count was given."""
        fractions = []
        if self.seconds:
            fractions.append(self.elapsed() / self.seconds)
        if self.requests:
            fractions.append(len(self.outcomes) / self.requests)
        return min(1.0, max(fractions, default=1.0))

    def _more(self) -> bool:
        if self.should_stop() or (self.requests is not None and self.sent >= self.requests):
            return False
        return self.seconds is None or self.elapsed() < self.seconds

    def next_call(self) -> Call:
        feature = self.rng.choices(FEATURES, weights=[f.share for f in FEATURES])[0]
        users = [user for user, _ in TEAMS[feature.team][1]]
        return feature.build(self.rng, self.rng.choice(users))

    async def run(self) -> list[Outcome]:
        self.started_at = self.clock()
        timeout = aiohttp.ClientTimeout(total=60)
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

            async def client() -> None:
                while self._more():
                    self.sent += 1
                    call = self.next_call()
                    self.outcomes.append(await send(session, self.base, call, self.keys[call.user]))
                    await asyncio.sleep(self.rng.uniform(0, self.think_seconds))

            await asyncio.gather(*(client() for _ in range(self.concurrency)))
        return self.outcomes
