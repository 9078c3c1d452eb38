"""Added latency of the input guards on a typical (1 KB) and a large (100 KB) prompt.

Times ``GuardStage.check_input`` — the whole input stage as a request runs it: walking the
messages, normalising and scoring each user turn for prompt injection, finding PII and
rewriting the body with placeholders — for prompts with and without personal data. The
configuration is the one in examples/safety.yaml (injection block, PII mask, canary on).

    .venv/bin/python bench/guards/input_bench.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from bastion.config import BastionConfig
from bastion.context import RequestContext
from bastion.guards.stage import GuardStage
from bastion.providers.base import ChatRequest

_PROSE = (
    "Our quarterly review covers the migration of the billing service to the new cluster, the "
    "latency regressions we saw in the search API after the March release, and the plan for the "
    "customer-facing status page. Please summarise the risks, list the owners of each action item "
    "and suggest which items can slip to next quarter without affecting the launch date. "
)
_PII = (
    "Customer Jane Roe (jane.roe@example.com, +44 20 7946 0958) paid with card 4111 1111 1111 1111 "
    "from IP 203.0.113.42 and asked for a refund to IBAN GB82 WEST 1234 5698 7654 32. "
)


def prompt(size: int, with_pii: bool) -> str:
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        parts.append(_PII if with_pii and len(parts) % 4 == 1 else _PROSE)
    return "".join(parts)[:size]


def measure(stage: GuardStage, text: str, rounds: int) -> tuple[float, float]:
    timings: list[float] = []
    body = {
        "model": "gpt",
        "messages": [
            {"role": "system", "content": "You are a helpful analyst."},
            {"role": "user", "content": text},
        ],
    }
    scope = {"type": "http", "headers": []}
    for _ in range(rounds):
        ctx = RequestContext(request_id="bench", ingress="openai")
        request = ChatRequest(body, "gpt", False)
        started = time.perf_counter()
        stage.check_input(ctx, scope, request, "chat")
        timings.append(time.perf_counter() - started)
    timings.sort()
    return statistics.median(timings) * 1000, timings[int(len(timings) * 0.99) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    config = BastionConfig.model_validate(
        {
            "guards": {
                "injection": {"mode": "block"},
                "pii": {"mode": "mask"},
                "canary": {"mode": "block", "token": "bst-canary-0123456789abcdef"},
            }
        }
    )
    stage = GuardStage.build(config)
    assert stage is not None
    print("| prompt | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for size, label in ((1024, "1 KB"), (100 * 1024, "100 KB")):
        rounds = args.rounds if size <= 4096 else max(20, args.rounds // 50)
        for with_pii in (False, True):
            stage.check_input(
                RequestContext("warm", "openai"),
                {"type": "http", "headers": []},
                ChatRequest({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}, "gpt", False),
                "chat",
            )
            p50, p99 = measure(stage, prompt(size, with_pii), rounds)
            print(f"| {label}{' with PII' if with_pii else ''} | {p50:.3f} | {p99:.3f} |")


if __name__ == "__main__":
    main()
