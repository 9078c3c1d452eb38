"""Routing end to end: rules, residency under failover, A/B splits and ``model: auto``.

Drives the real ``bastion serve`` process with the official SDKs in front of the provider
fakes, and checks what the client sees (``x-bastion-route*`` headers, status, error shape)
and what each fake received — in particular that a request under a residency rule never
reaches a provider outside it, even while its allowed providers fail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.e2e.conftest import CLIENT_KEY, PROVIDER_KEYS, Fakes, Server, start_server, stop_server

ADMIN_KEY = "adm-routing-0123456789"
HARD_PROMPT = (
    "You are reviewing a distributed payments system. First, prove that the two-phase commit "
    "protocol described below cannot guarantee progress when the coordinator crashes after the "
    "prepare phase, and give a step-by-step counterexample. Second, derive the expected number of "
    "message rounds under a Poisson failure model with rate lambda, showing every integral. Third, "
    "design a replacement based on Raft-replicated coordinators, write the state machine in Python "
    "with type hints, and analyse its time and space complexity. Finally, compare both designs in a "
    "table covering safety, liveness, latency and operational cost, and justify each cell.\n\n"
    + "\n".join(
        f"Step {n}: service-{n} sends PREPARE(txn, ledger-shard-{n % 7}) and waits for VOTE; on timeout "
        f"it retries with exponential backoff up to {n + 2} times, then aborts and writes an audit entry."
        for n in range(40)
    )
)


def routing_config(fakes: Fakes) -> str:
    return f"""
server:
  api_keys: ["{CLIENT_KEY}"]
  admin_key: "{ADMIN_KEY}"
  graceful_shutdown_seconds: 2
storage:
  ledger_flush_ms: 20
routing:
  retry_budget: {{ratio: 1.0, min_retries_per_second: 20}}
  rules:
    - name: block-tools-for-trial
      match: {{feature: trial, has_tools: true}}
      reject: "tools are not available on the trial plan"
    - name: eu-data-stays-in-eu
      match: {{region: eu}}
      require: {{region: eu}}
    - name: cap-autocomplete
      match: {{feature: autocomplete}}
      set: {{max_tokens: 16}}
    - name: cheap-for-summaries
      match: {{feature: summarise}}
      model: claude-fake
  aliases:
    auto:
      tiers:
        - {{name: small, model: gpt-fake}}
        - {{name: medium, model: claude-fake}}
        - {{name: premium, model: big}}
    auto-window:
      thresholds: [0.99]
      tiers: [{{name: small, model: tiny-window}}, {{name: premium, model: big}}]
    chat-ab:
      variants:
        - {{name: control, model: gpt-fake, weight: 70}}
        - {{name: candidate, model: claude-fake, weight: 30}}
providers:
  openai:
    type: openai
    base_url: "{fakes.openai.url}/v1"
    api_key: "{PROVIDER_KEYS["openai"]}"
    region: us
  anthropic:
    type: anthropic
    base_url: "{fakes.anthropic.url}"
    api_key: "{PROVIDER_KEYS["anthropic"]}"
    region: eu
  gemini:
    type: gemini
    base_url: "{fakes.gemini.url}/v1beta"
    api_key: "{PROVIDER_KEYS["gemini"]}"
    region: eu
models:
  gpt-fake: {{provider: openai, model: gpt-4o-mini}}
  big: {{provider: openai, model: gpt-4o}}
  claude-fake: {{provider: anthropic, model: claude-sonnet-4-5}}
  tiny-window: {{provider: openai, model: gpt-4o-tiny, context_window: 50}}
  eu-down:
    strategy: priority
    retry: {{max_attempts: 2, backoff_base_ms: 1, backoff_max_ms: 1}}
    fallbacks: [gpt-fake]
    deployments:
      - {{provider: openai, model: gpt-4o-us}}
      - {{provider: anthropic, model: claude-fault-529}}
  eu-secondary:
    strategy: priority
    retry: {{backoff_base_ms: 1, backoff_max_ms: 1}}
    deployments:
      - {{provider: openai, model: gpt-4o-us}}
      - {{provider: anthropic, model: claude-fault-503}}
      - {{provider: gemini, model: gemini-2.5-flash}}
"""


@pytest.fixture(scope="module")
def gateway(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(routing_config(fakes), tmp_path_factory.mktemp("routing"))
    yield running
    stop_server(running)


@pytest.fixture
def upstreams(fakes: Fakes) -> Iterator[Fakes]:
    fakes.clear()
    yield fakes
    fakes.clear()


@pytest.fixture
def client(gateway: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)


@pytest.fixture
def claude_client(gateway: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=CLIENT_KEY, max_retries=0, timeout=20)


def chat(
    client: openai.OpenAI,
    model: str,
    content: str = "hello there",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> tuple[httpx.Headers, Any]:
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": content}], extra_headers=headers, **extra
    )
    return raw.headers, raw.parse()


def models_sent(requests: list[Any]) -> list[str]:
    return [r.json.get("model") for r in requests if isinstance(r.json, dict)]


# ------------------------------------------------------------------ rules


def test_rule_routes_to_another_group(client: openai.OpenAI, upstreams: Fakes) -> None:
    headers, reply = chat(client, "gpt-fake", headers={"x-bastion-feature": "summarise"})
    assert headers["x-bastion-route"] == "cheap-for-summaries"
    assert (
        headers["x-bastion-route-reason"] == "rule cheap-for-summaries (feature=summarise): model claude-fake"
    )
    assert headers["x-bastion-provider"] == "anthropic"
    assert reply.choices[0].message.content == "Echo: hello there"
    assert models_sent(upstreams.anthropic.requests) == ["claude-sonnet-4-5"]
    assert upstreams.openai.requests == []

    headers, _ = chat(client, "gpt-fake")  # no rule matches: as asked, and no route headers
    assert headers["x-bastion-provider"] == "openai"
    assert "x-bastion-route" not in headers


def test_rule_caps_max_tokens_as_the_provider_sees_it(
    client: openai.OpenAI, claude_client: anthropic.Anthropic, upstreams: Fakes
) -> None:
    auto = {"x-bastion-feature": "autocomplete"}
    chat(client, "gpt-fake", headers=auto, max_tokens=500)
    chat(client, "gpt-fake", headers=auto, max_tokens=8)
    chat(client, "gpt-fake", headers=auto)
    assert [r.json.get("max_tokens") for r in upstreams.openai.requests] == [16, 8, 16]

    raw = claude_client.messages.with_raw_response.create(
        model="claude-fake", max_tokens=1000, messages=[{"role": "user", "content": "hi"}], extra_headers=auto
    )
    assert raw.headers["x-bastion-route"] == "cap-autocomplete"
    assert upstreams.anthropic.requests[-1].json["max_tokens"] == 16


def test_reject_rule_answers_403_in_each_protocol(
    client: openai.OpenAI, claude_client: anthropic.Anthropic, upstreams: Fakes
) -> None:
    tools: Any = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    trial = {"x-bastion-feature": "trial"}
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(client, "gpt-fake", headers=trial, tools=tools)
    assert caught.value.status_code == 403
    assert caught.value.body["message"] == "tools are not available on the trial plan"
    assert caught.value.body["code"] == "rejected_by_rule"
    assert caught.value.response.headers["x-bastion-route"] == "block-tools-for-trial"

    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        claude_client.messages.create(
            model="claude-fake",
            max_tokens=50,
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"name": "lookup", "input_schema": {"type": "object"}}],
            extra_headers=trial,
        )
    assert refused.value.body["type"] == "error"
    assert refused.value.body["error"]["type"] == "permission_error"
    assert "trial plan" in refused.value.body["error"]["message"]

    headers, _ = chat(client, "gpt-fake", headers=trial)  # no tools: allowed
    assert "x-bastion-route" not in headers
    assert len(upstreams.openai.requests) == 1 and upstreams.anthropic.requests == []


# ------------------------------------------------------------------ residency under failover


def test_residency_fails_closed_when_its_only_provider_fails(client: openai.OpenAI, upstreams: Fakes) -> None:
    eu = {"x-bastion-region": "eu"}
    with pytest.raises(openai.APIStatusError) as caught:
        chat(client, "eu-down", headers=eu)
    assert caught.value.status_code == 503
    assert caught.value.body["code"] == "residency_unavailable"
    assert "'eu-data-stays-in-eu'" in caught.value.body["message"]
    assert "region eu" in caught.value.body["message"]
    assert caught.value.response.headers["x-bastion-route"] == "eu-data-stays-in-eu"
    assert upstreams.openai.requests == []  # neither the US deployment nor the US fallback group
    assert models_sent(upstreams.anthropic.requests) == ["claude-fault-529"] * 2  # retried in the EU

    headers, _ = chat(client, "eu-down")  # without the rule, the US deployment serves as usual
    assert headers["x-bastion-provider"] == "openai"


def test_residency_fails_closed_for_streams_and_the_anthropic_ingress(
    claude_client: anthropic.Anthropic, upstreams: Fakes
) -> None:
    request: Any = {
        "model": "eu-down",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}],
        "extra_headers": {"x-bastion-region": "eu"},
    }
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        claude_client.messages.stream(**request) as stream,
    ):
        stream.get_final_message()
    assert caught.value.status_code == 503
    assert "eu-data-stays-in-eu" in str(caught.value.body)
    assert upstreams.openai.requests == []


def test_residency_fails_over_to_a_secondary_in_the_same_region(
    client: openai.OpenAI, upstreams: Fakes
) -> None:
    for stream in (False, True):
        raw = client.chat.completions.with_raw_response.create(
            model="eu-secondary",
            messages=[{"role": "user", "content": "hello there"}],
            extra_headers={"x-bastion-region": "eu"},
            stream=stream,
        )
        assert raw.headers["x-bastion-provider"] == "gemini"
        assert raw.headers["x-bastion-attempts"] == "2"
    assert upstreams.openai.requests == []
    assert models_sent(upstreams.anthropic.requests) == ["claude-fault-503"] * 2
    assert len(upstreams.gemini.requests) == 2


def test_residency_with_no_deployment_in_region_is_refused_without_a_call(
    client: openai.OpenAI, upstreams: Fakes
) -> None:
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(client, "gpt-fake", headers={"x-bastion-region": "eu"})
    assert caught.value.body["code"] == "residency_unsatisfiable"
    assert "eu-data-stays-in-eu" in caught.value.body["message"]
    assert upstreams.openai.requests == []


# ------------------------------------------------------------------ A/B splits


def test_ab_split_is_sticky_split_by_weight_and_compared(
    client: openai.OpenAI, upstreams: Fakes, gateway: Server
) -> None:
    seen = set()
    for _ in range(50):
        headers, _ = chat(client, "chat-ab", user="alice")
        seen.add((headers["x-bastion-variant"], headers["x-bastion-provider"]))
        assert headers["x-bastion-route"] == "chat-ab"
    assert len(seen) == 1
    assert seen <= {("control", "openai"), ("candidate", "anthropic")}

    def variant(index: int) -> str:
        return chat(client, "chat-ab", user=f"end-user-{index}")[0]["x-bastion-variant"]

    with ThreadPoolExecutor(8) as pool:
        counts = Counter(pool.map(variant, range(400)))
    # 30% of 400 = 120, sigma ~9.2: a 50/50 or a 90/10 split is far outside
    assert 90 <= counts["candidate"] <= 150, counts
    assert counts["control"] + counts["candidate"] == 400

    response = httpx.get(
        f"{gateway.url}/admin/experiments/chat-ab",
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["control"] == "control"
    control, candidate = report["variants"]
    assert (control["name"], candidate["name"]) == ("control", "candidate")
    assert control["requests"] + candidate["requests"] == 450
    for entry in (control, candidate):
        assert entry["model"] in ("gpt-fake", "claude-fake")
        assert entry["latency_ms"]["mean"] > 0
        low, high = entry["latency_ms"]["ci95"]
        assert low <= entry["latency_ms"]["mean"] <= high
        assert entry["error_rate"]["value"] == 0 and entry["error_rate"]["ci95"][0] == 0
        assert entry["feedback"] == {"n": 0, "mean": None, "ci95": None, "positive_share": None}
    assert set(candidate["vs_control"]) == {"latency_ms", "cost_usd", "error_rate", "feedback"}
    assert len(candidate["vs_control"]["latency_ms"]["ci95"]) == 2
    assert report["feedback"]["n"] == 0  # no feedback sent in this module: see test_feedback.py

    listing = httpx.get(
        f"{gateway.url}/admin/experiments", headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=10
    )
    assert [e["experiment"] for e in listing.json()["data"]] == ["chat-ab"]
    assert httpx.get(f"{gateway.url}/admin/experiments").status_code == 401


# ------------------------------------------------------------------ model: auto


def test_auto_picks_the_tier_by_complexity(client: openai.OpenAI, upstreams: Fakes) -> None:
    headers, _ = chat(client, "auto", "hi")
    assert headers["x-bastion-route"] == "auto"
    assert headers["x-bastion-route-reason"].startswith("tier small")
    assert models_sent(upstreams.openai.requests) == ["gpt-4o-mini"]

    headers, _ = chat(client, "auto", HARD_PROMPT)
    assert headers["x-bastion-route-reason"].startswith("tier premium"), headers["x-bastion-route-reason"]
    assert models_sent(upstreams.openai.requests)[-1] == "gpt-4o"


def test_auto_moves_up_when_the_tier_cannot_hold_the_request(client: openai.OpenAI, upstreams: Fakes) -> None:
    headers, _ = chat(client, "auto-window", "hi", max_tokens=10)
    assert models_sent(upstreams.openai.requests) == ["gpt-4o-tiny"]
    headers, _ = chat(client, "auto-window", "hi", max_tokens=200)
    assert "moved up from small" in headers["x-bastion-route-reason"]
    assert models_sent(upstreams.openai.requests)[-1] == "gpt-4o"


def test_aliases_are_listed_as_models(client: openai.OpenAI) -> None:
    names = {model.id for model in client.models.list()}
    assert {"auto", "chat-ab", "gpt-fake"} <= names


def test_ledger_rows_carry_the_rule_and_variant(gateway: Server, tmp_path: Path) -> None:
    response = httpx.get(
        f"{gateway.url}/admin/usage?group_by=route_rule,variant",
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    rows = {(r["route_rule"], r["variant"]): r["requests"] for r in response.json()["data"]}
    assert rows.get(("chat-ab", "control"), 0) + rows.get(("chat-ab", "candidate"), 0) >= 450
    assert rows.get(("cheap-for-summaries", None), 0) >= 1
