"""The stage's semantic side: a close question hits within a tenant and context, never across them.

The embedder is a stand-in that maps every text to nearly the same vector, so any two questions
look alike to the index: only the partition (group, tenant, context) can keep them apart.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

np = pytest.importorskip("numpy")
semantic = pytest.importorskip("bastion.cache.semantic")

from bastion.accounting.catalog import PriceCatalog  # noqa: E402
from bastion.api.openai_routes import OpenAIStreamEncoder  # noqa: E402
from bastion.cache.stage import CacheStage, GroupPolicy, SemanticLookup  # noqa: E402
from bastion.cache.state import CacheState  # noqa: E402
from bastion.config import BastionConfig, CacheConfig  # noqa: E402
from bastion.context import RequestContext  # noqa: E402
from bastion.providers.base import ChatRequest  # noqa: E402
from tests.unit.cache.test_coalesce import Exchange, Upstream, context  # noqa: E402


class AlikeEmbedder:
    """Every text embeds to the same direction (a tiny wobble by length)."""

    async def embed(self, texts: list[str]) -> Any:
        rows = np.array([[1.0, 0.001 * len(t), 0.0] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def make_stage(upstream: Upstream) -> CacheStage:
    policy = GroupPolicy(always=False, ttl_seconds=60, shared=False, semantic=True, fingerprint="f")
    lookup = SemanticLookup(semantic.SemanticIndex(100), AlikeEmbedder(), 0.9, semantic.semantic_text)
    return CacheStage(
        state=CacheState(CacheConfig()),
        policies={"g": policy},
        executor=upstream,  # type: ignore[arg-type]
        catalog=PriceCatalog(BastionConfig()),
        coalesce=True,
        max_ttl_seconds=3600,
        max_entry_bytes=1 << 20,
        semantic=lookup,
    )


async def ask(stage: CacheStage, question: str, team: str, system: str = "Be brief.") -> RequestContext:
    ctx = context(team)
    exchange = Exchange()
    body = {
        "model": "g",
        "temperature": 0,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
    }
    plan = stage.plan(ctx, {"headers": []}, "g", body)
    assert plan is not None
    request = ChatRequest(body=body, model="g", stream=False)
    await stage.serve(
        ctx,
        plan,
        None,
        request,
        exchange.receive,
        exchange.send,
        orjson.dumps,
        OpenAIStreamEncoder(False),  # type: ignore[arg-type]
    )
    return ctx


async def test_semantic_hits_stay_within_the_tenant_and_the_context() -> None:
    upstream = Upstream()
    upstream.release.set()
    stage = make_stage(upstream)
    assert (await ask(stage, "What is the capital of France?", "a")).cache_status == "miss"
    close = await ask(stage, "what is the capital of france", "a")
    assert close.cache_status == "semantic-hit"
    assert close.cache_similarity is not None and close.cache_similarity >= 0.9
    # the same close question from another tenant, or under another system prompt: a miss
    assert (await ask(stage, "what is the capital of france", "b")).cache_status == "miss"
    assert (await ask(stage, "what is the capital of france", "a", system="Be long.")).cache_status == "miss"
    assert upstream.calls == 3
