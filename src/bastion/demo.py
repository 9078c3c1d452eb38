"""``bastion demo``: the gateway on simulated providers, one of them flaky, under realistic traffic.

It shows what Bastion does without any provider key: requests that fail on the flaky
deployment are served by the next one, streams arrive token by token, repeated questions
are answered from the cache, and the report says how many requests needed a second attempt,
what latency clients saw, what each feature spent and what the cache saved. The simulated
deployments carry illustrative prices (a small and a mid-size model's list rates) so the
spend is realistic in shape; the ledger goes to a temporary SQLite file.
"""

from __future__ import annotations

import asyncio
import logging
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass

import aiohttp
import orjson

from bastion.config import BastionConfig

DEMO_CONFIG = {
    "server": {"log_level": "warning"},
    "providers": {
        "steady": {"type": "simulator", "ttft_ms": 120, "tokens_per_second": 150, "seed": 1},
        "flaky": {
            "type": "simulator",
            "ttft_ms": 60,
            "tokens_per_second": 200,
            "error_rate": 0.3,
            "error_status": 503,
            "seed": 2,
        },
    },
    "models": {
        "demo-chat": {
            "strategy": "priority",
            "deployments": [
                # illustrative prices, USD per 1M tokens: a small model's and a mid-size model's rates
                {"provider": "flaky", "model": "flaky-sim-1", "pricing": {"input": 0.15, "output": 0.60}},
                {"provider": "steady", "model": "steady-sim-1", "pricing": {"input": 0.40, "output": 1.60}},
            ],
            "static_reply": "The assistant is busy right now; please try again in a minute.",
        },
        "demo-steady": {"provider": "steady", "model": "steady-sim-1"},
        "demo-embed": {"provider": "steady", "model": "embed-sim-1", "kind": "embeddings"},
    },
}

PROMPTS = [
    "Summarise our refund policy in two sentences.",
    "Write a haiku about latency.",
    "What is the capital of France?",
    "Explain circuit breakers to a new engineer.",
    "Translate 'good morning' into Spanish.",
    "List three uses of an LLM gateway.",
]


FEATURES = ["support-bot", "search", "summarise"]
USERS = [f"user-{n}" for n in range(1, 7)]


@dataclass
class Outcome:
    status: int
    provider: str
    attempts: int
    seconds: float
    first_byte_seconds: float
    stream: bool
    tokens: int
    cache: str = "-"


def run_demo(*, port: int = 8080, requests: int = 200, keep_serving: bool = True) -> int:
    """Start the gateway in-process, drive traffic, print the report, then (by default) keep serving."""
    import uvicorn

    from bastion.app import BastionApp
    from bastion.gateway import Gateway

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import tempfile

    ledger_dir = tempfile.mkdtemp(prefix="bastion-demo-")
    config = BastionConfig.model_validate(
        {
            **DEMO_CONFIG,
            "server": {**DEMO_CONFIG["server"], "port": port},
            "storage": {"url": f"sqlite:///{ledger_dir}/demo.db", "ledger_flush_ms": 50},
        }
    )
    gateway = Gateway.from_config(config)
    server = uvicorn.Server(
        uvicorn.Config(BastionApp(gateway), host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    )

    async def main() -> int:
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                print(f"could not start the gateway on port {port}", file=sys.stderr)
                return 1
            await asyncio.sleep(0.02)
        base = f"http://127.0.0.1:{port}"
        print(f"Bastion demo: gateway on {base} serving simulated providers (no key needed).")
        print(
            f"Sending {requests} requests (a third streamed) to 'demo-chat': flaky simulator first, "
            "steady simulator second (priority), a static reply last.\n"
        )
        started = time.perf_counter()
        outcomes = await drive(base, requests)
        report(outcomes, time.perf_counter() - started)
        await report_spend(base)
        for state in gateway.router.groups["demo-chat"].deployments:
            breaker = state.breaker.snapshot()
            print(f"breaker         {state.key}: {breaker['state']}")
        if keep_serving:
            print(
                f"\nThe gateway keeps running on {base} (Ctrl-C to stop). Try:\n"
                f"  curl -s {base}/v1/chat/completions -H 'authorization: Bearer demo' "
                '-d \'{"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}]}\''
            )
            await serving
        else:
            server.should_exit = True
            await serving
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0


async def drive(base: str, total: int, concurrency: int = 8) -> list[Outcome]:
    rng = random.Random(42)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(total):
        queue.put_nowait(index)
    outcomes: list[Outcome] = []
    async with aiohttp.ClientSession(headers={"authorization": "Bearer demo"}) as session:

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                # two in five are the deterministic (temperature 0) kind of request a cache can answer
                repeatable = rng.random() < 0.4
                outcomes.append(
                    await one_request(
                        session,
                        base,
                        rng.choice(PROMPTS),
                        rng.random() < 0.33,
                        feature=rng.choice(FEATURES),
                        user=rng.choice(USERS),
                        temperature=0.0 if repeatable else 0.8,
                    )
                )

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


async def one_request(
    session: aiohttp.ClientSession,
    base: str,
    prompt: str,
    stream: bool,
    *,
    feature: str = "demo",
    user: str = "user-1",
    temperature: float = 0.8,
) -> Outcome:
    body = {
        "model": "demo-chat",
        "messages": [{"role": "user", "content": prompt}],
        "stream": stream,
        "stream_options": {"include_usage": True} if stream else None,
        "temperature": temperature,
        "user": user,
    }
    started = time.perf_counter()
    first_byte = 0.0
    tokens = 0
    url, headers = f"{base}/v1/chat/completions", {"x-bastion-feature": feature}
    async with session.post(url, data=orjson.dumps(body), headers=headers) as response:
        if stream and response.status == 200:
            async for line in response.content:
                if not first_byte:
                    first_byte = time.perf_counter() - started
                if line.startswith(b"data: {") and b'"usage":{' in line:
                    tokens = orjson.loads(line[6:])["usage"]["completion_tokens"]
        else:
            data = orjson.loads(await response.read())
            first_byte = time.perf_counter() - started
            tokens = (data.get("usage") or {}).get("completion_tokens", 0)
        return Outcome(
            status=response.status,
            provider=response.headers.get("x-bastion-provider", "-"),
            attempts=int(response.headers.get("x-bastion-attempts", "0")),
            seconds=time.perf_counter() - started,
            first_byte_seconds=first_byte,
            stream=stream,
            tokens=tokens,
            cache=response.headers.get("x-bastion-cache", "-"),
        )


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(outcomes: list[Outcome], elapsed: float) -> None:
    ok = [o for o in outcomes if o.status == 200]
    failovers = [o for o in ok if o.attempts > 1]
    providers = Counter(o.provider for o in ok)
    latencies = [o.seconds * 1000 for o in ok]
    first_bytes = [o.first_byte_seconds * 1000 for o in ok if o.stream]
    print(f"requests        {len(outcomes)} in {elapsed:.1f} s ({len(outcomes) / elapsed:.1f}/s)")
    print(f"succeeded       {len(ok)}   failed {len(outcomes) - len(ok)}")
    print(
        f"failovers       {len(failovers)} requests needed more than one attempt "
        f"(flaky provider errors absorbed; client saw none)"
    )
    print("served by       " + ", ".join(f"{name} {count}" for name, count in providers.most_common()))
    p50, p95 = statistics.median(latencies), _percentile(latencies, 0.95)
    print(f"latency         p50 {p50:.0f} ms   p95 {p95:.0f} ms")
    if first_bytes:
        ttft50, ttft95 = statistics.median(first_bytes), _percentile(first_bytes, 0.95)
        print(
            f"streams         {len(first_bytes)}   time to first token "
            f"p50 {ttft50:.0f} ms   p95 {ttft95:.0f} ms"
        )
    print(f"tokens out      {sum(o.tokens for o in ok)}")
    hits = sum(1 for o in ok if o.cache in ("hit", "semantic-hit"))
    cacheable = sum(1 for o in ok if o.cache in ("hit", "semantic-hit", "miss"))
    print(f"cache           {hits} of {cacheable} repeatable requests answered from the cache")


async def report_spend(base: str) -> None:
    """Spend per feature and what the cache saved, from the usage ledger (``/admin/usage``)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/admin/usage?group_by=feature") as response,
    ):
        if response.status != 200:
            return
        rows = orjson.loads(await response.read())["data"]
    spent = sum(row["cost_usd"] for row in rows)
    saved = sum(row["cost_saved_usd"] for row in rows)
    print(f"spend           ${spent:.6f} in all (illustrative prices), cache saved ${saved:.6f}")
    for row in rows:
        print(
            f"  {row['feature'] or '-':<13} {row['requests']:>4} requests  ${row['cost_usd']:.6f}"
            f"  saved ${row['cost_saved_usd']:.6f}"
        )
