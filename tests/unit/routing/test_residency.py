"""Residency in the executor: retries, failover, fallback groups and hedges never reach a provider
outside the allowed set; when nothing allowed can answer, the request fails closed."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest

from bastion.config_loader import load_config_text
from bastion.context import RequestContext
from bastion.errors import ProviderError
from bastion.providers.base import ChatRequest
from bastion.providers.registry import build_providers
from bastion.routing.executor import Executor
from bastion.routing.residency import Residency
from bastion.routing.retry import RetryBudget
from bastion.routing.router import Router

CONFIG = """
providers:
  eu-down: {type: simulator, region: eu, error_rate: 1.0}
  eu-ok: {type: simulator, region: eu, reply: "from the eu"}
  eu-slow: {type: simulator, region: eu, ttft_ms: 300, reply: "slow eu"}
  us: {type: simulator, region: us, reply: "from the us"}
  us-fast: {type: simulator, region: us, reply: "fast us"}
models:
  us-first:
    strategy: priority
    retry: {max_attempts: 3, backoff_base_ms: 0, backoff_max_ms: 0}
    fallbacks: [us-only]
    deployments: [{provider: us, model: a}, {provider: eu-down, model: b}]
  us-only: {provider: us, model: c}
  with-eu-backup:
    strategy: priority
    deployments: [{provider: eu-down, model: a}, {provider: us, model: b}, {provider: eu-ok, model: c}]
  falls-back-to-eu:
    fallbacks: [us-only, eu-group]
    deployments: [{provider: eu-down, model: a}]
  eu-group: {provider: eu-ok, model: d}
  degraded:
    static_reply: "local canned answer"
    deployments: [{provider: eu-down, model: a}, {provider: us, model: b}]
  hedged:
    strategy: priority
    hedge: {enabled: true, after_ms: 20}
    deployments: [{provider: eu-slow, model: a}, {provider: us-fast, model: b}]
"""

EU = Residency(("eu-only",), "region eu", frozenset({"eu-down", "eu-ok", "eu-slow"}))


@pytest.fixture
def setup() -> tuple[Executor, Router, Counter[str]]:
    config = load_config_text(CONFIG)
    providers = build_providers(config)
    calls: Counter[str] = Counter()
    for provider in providers.values():
        for method in ("chat", "stream_batches"):
            original = getattr(provider, method)

            def counting(*args: Any, _original: Any = original, _name: str = provider.name) -> Any:
                calls[_name] += 1
                return _original(*args)

            setattr(provider, method, counting)
    router = Router(config, providers)
    budget = RetryBudget(ratio=10, min_retries_per_second=100)

    async def no_sleep(_: float) -> None:
        return None

    return Executor(router, budget, rng=random.Random(1), sleep=no_sleep), router, calls


def request() -> ChatRequest:
    return ChatRequest({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, "m", False)


def context(residency: Residency | None = EU) -> RequestContext:
    ctx = RequestContext(request_id="r", ingress="openai")
    ctx.residency = residency
    return ctx


async def test_failing_eu_deployment_fails_closed_without_touching_the_us(setup: Any) -> None:
    executor, router, calls = setup
    with pytest.raises(ProviderError) as caught:
        await executor.chat(context(), router.groups["us-first"], request())
    assert caught.value.code == "residency_unavailable"
    assert caught.value.status == 503
    assert "'eu-only'" in caught.value.message and "region eu" in caught.value.message
    assert calls["us"] == 0
    assert calls["eu-down"] == 3  # retried within what is allowed


async def test_without_residency_the_same_group_uses_the_us(setup: Any) -> None:
    executor, router, _ = setup
    response = await executor.chat(context(None), router.groups["us-first"], request())
    assert response["choices"][0]["message"]["content"] == "from the us"


async def test_failover_skips_the_us_and_lands_on_the_allowed_secondary(setup: Any) -> None:
    executor, router, calls = setup
    ctx = context()
    response = await executor.chat(ctx, router.groups["with-eu-backup"], request())
    assert response["choices"][0]["message"]["content"] == "from the eu"
    assert ctx.provider == "eu-ok"
    assert calls == {"eu-down": 1, "eu-ok": 1}


async def test_fallback_chain_skips_groups_with_nothing_allowed(setup: Any) -> None:
    executor, router, calls = setup
    ctx = context()
    response = await executor.chat(ctx, router.groups["falls-back-to-eu"], request())
    assert response["choices"][0]["message"]["content"] == "from the eu"
    assert calls["us"] == 0
    assert ctx.fallbacks == ["us-only", "eu-group"]


async def test_a_group_with_no_allowed_deployment_is_a_403(setup: Any) -> None:
    executor, router, calls = setup
    with pytest.raises(ProviderError) as caught:
        await executor.chat(context(), router.groups["us-only"], request())
    assert caught.value.status == 403
    assert caught.value.code == "residency_unsatisfiable"
    assert sum(calls.values()) == 0


async def test_streams_fail_closed_too(setup: Any) -> None:
    executor, router, calls = setup
    stream = ChatRequest({**request().body, "stream": True}, "m", True)
    with pytest.raises(ProviderError) as caught:
        await executor.open_stream(context(), router.groups["us-first"], stream)
    assert caught.value.code == "residency_unavailable"
    assert calls["us"] == 0


async def test_the_local_static_reply_is_still_allowed(setup: Any) -> None:
    executor, router, calls = setup
    ctx = context()
    response = await executor.chat(ctx, router.groups["degraded"], request())
    assert response["choices"][0]["message"]["content"] == "local canned answer"
    assert ctx.degraded == "static"
    assert calls["us"] == 0


async def test_hedges_stay_inside_the_allowed_set(setup: Any) -> None:
    executor, router, calls = setup
    ctx = context()
    response = await asyncio.wait_for(executor.chat(ctx, router.groups["hedged"], request()), 5)
    assert response["choices"][0]["message"]["content"] == "slow eu"
    assert not ctx.hedged
    assert calls["us-fast"] == 0
    # without residency the hedge goes to the fast US deployment and wins
    ctx = context(None)
    response = await executor.chat(ctx, router.groups["hedged"], request())
    assert ctx.hedged and response["choices"][0]["message"]["content"] == "fast us"
