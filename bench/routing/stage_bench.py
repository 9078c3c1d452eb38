"""What the routing stage costs per request, in process: µs p50 / p99 per ``RoutingStage.route``.

Scenarios: no stage (the plain router lookup it replaces), ten rules of which one matches,
ten rules with a residency match, an A/B split, and ``model: auto`` with the complexity
classifier on a short and on a long prompt. Run: ``python bench/routing/stage_bench.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from bastion.config_loader import load_config_text
from bastion.context import RequestContext
from bastion.identity.principal import Principal
from bastion.providers.base import ChatRequest
from bastion.providers.registry import build_providers
from bastion.routing.router import Router
from bastion.routing.stage import RoutingStage

CONFIG = """
providers:
  us: {type: simulator, region: us}
  eu: {type: simulator, region: eu}
  basement: {type: simulator, on_premise: true}
models:
  gpt-4o-mini: {provider: us, model: mini, context_window: 128000}
  gpt-4o: {deployments: [{provider: us, model: big}, {provider: eu, model: big-eu}]}
  claude-haiku: {provider: eu, model: haiku, context_window: 200000}
  vision: {provider: us, model: vision}
  local: {provider: basement, model: llama}
routing:
  rules:
    - {name: trial-tools, match: {team: trial, has_tools: true}, reject: "no tools on trial"}
    - {name: eu-sales, match: {team: eu-sales}, require: {region: eu}}
    - {name: pii, match: {sensitive: pii}, model: local, require: {on_premise: true}}
    - {name: autocomplete, match: {feature: autocomplete}, set: {max_tokens: 256}}
    - {name: summaries, match: {feature: summarise}, model: gpt-4o-mini}
    - {name: images, match: {has_images: true}, model: vision}
    - {name: long, match: {min_prompt_tokens: 50000}, model: claude-haiku}
    - {name: gold, match: {metadata: {tier: gold}}, model: gpt-4o}
    - {name: free-plan, match: {key_metadata: {plan: free}}, set: {max_tokens: 100}}
    - {name: eu-header, match: {region: eu}, require: {region: eu}}
  aliases:
    auto:
      tiers:
        - {name: small, model: gpt-4o-mini}
        - {name: medium, model: claude-haiku}
        - {name: premium, model: gpt-4o}
    chat-ab:
      variants:
        - {name: control, model: gpt-4o, weight: 90}
        - {name: candidate, model: claude-haiku, weight: 10}
"""

LONG = "Prove step by step that the algorithm below terminates, then analyse its complexity.\n" + (
    "def step(state):\n    return [x * 2 for x in state if x % 3]\n" * 200
)


def scenario(
    model: str, content: str, team: str | None = None, feature: str | None = None, user: str | None = None
):
    def make() -> tuple[RequestContext, ChatRequest]:
        ctx = RequestContext(request_id="r", ingress="openai", principal=Principal(key_id="k", team_id=team))
        ctx.feature, ctx.end_user = feature, user
        body = {"model": model, "messages": [{"role": "user", "content": content}]}
        return ctx, ChatRequest(body, model, False)

    return make


def measure(
    call: Callable[[RequestContext, ChatRequest], Any], make: Callable[[], Any], n: int
) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        ctx, request = make()
        started = time.perf_counter_ns()
        call(ctx, request)
        samples.append((time.perf_counter_ns() - started) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20_000)
    args = parser.parse_args()
    config = load_config_text(CONFIG)
    router = Router(config, build_providers(config))
    stage = RoutingStage(config, router)

    def route(ctx: RequestContext, request: ChatRequest) -> Any:
        return stage.route(ctx, request, None)

    def plain(ctx: RequestContext, request: ChatRequest) -> Any:
        return router.resolve(request.model, "chat")

    cases = [
        ("no stage (router.resolve only)", plain, scenario("gpt-4o", "hi")),
        ("10 rules, none match", route, scenario("gpt-4o", "hi there")),
        ("10 rules, one routes (feature)", route, scenario("gpt-4o", "hi", feature="summarise")),
        ("10 rules, residency (team)", route, scenario("gpt-4o", "hi", team="eu-sales")),
        ("10 rules + A/B split", route, scenario("chat-ab", "hi", user="alice")),
        ("10 rules + auto, short prompt", route, scenario("auto", "what is the capital of France?")),
        (f"10 rules + auto, {len(LONG)} chars", route, scenario("auto", LONG)),
    ]
    for _, call, make in cases:  # warm-up
        measure(call, make, 500)
    print(f"{'scenario':<40} {'p50 µs':>8} {'p99 µs':>8}")
    for name, call, make in cases:
        p50, p99 = measure(call, make, args.n)
        print(f"{name:<40} {p50:8.1f} {p99:8.1f}")


if __name__ == "__main__":
    main()
