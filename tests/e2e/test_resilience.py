"""Resilience end to end: strategies, retries, breakers, timeouts, fallbacks, hedging and reloads.

Every test drives the real ``bastion serve`` process with the official SDKs and checks what a
client sees (status, body, ``x-bastion-*`` headers, stream content) and what the upstream fakes
received. Most tests share one server whose model groups each stage one scenario, so the
breakers and statistics of one test never leak into another; tests that need a global setting
(retry budget) or change the config (reloads) start their own.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.e2e.conftest import CLIENT_KEY, PROVIDER_KEYS, Fakes, Server, start_server, stop_server
from tests.fakes.base import Fault, RecordedRequest

ADMIN_KEY = "adm-resilience-0123456789"
USER = [{"role": "user", "content": "hello there"}]
ECHO = "Echo: hello there"
STATIC_TEXT = "We are degraded right now; please try again in a minute."


def resilience_config(fakes: Fakes) -> str:
    return f"""
server:
  api_keys: ["{CLIENT_KEY}"]
  admin_key: "{ADMIN_KEY}"
  graceful_shutdown_seconds: 2
routing:
  # generous, so that the scenarios below never run out of retries; the budget has its own test
  retry_budget: {{ratio: 1.0, min_retries_per_second: 20}}
providers:
  openai: {{type: openai, base_url: "{fakes.openai.url}/v1", api_key: "{PROVIDER_KEYS["openai"]}"}}
  anthropic: {{type: anthropic, base_url: "{fakes.anthropic.url}", api_key: "{PROVIDER_KEYS["anthropic"]}"}}
  gemini: {{type: gemini, base_url: "{fakes.gemini.url}/v1beta", api_key: "{PROVIDER_KEYS["gemini"]}"}}
  sim-a: {{type: simulator, reply: "answer from a"}}
  sim-b: {{type: simulator, reply: "answer from b"}}
  fast: {{type: simulator, ttft_ms: 5, reply: "fast answer"}}
  slow: {{type: simulator, ttft_ms: 200, reply: "slow answer"}}
  stuck: {{type: simulator, ttft_ms: 2000, reply: "stuck answer"}}
  sluggish: {{type: simulator, ttft_ms: 1500, reply: "sluggish answer"}}
  down: {{type: simulator, error_rate: 1.0, error_status: 503}}
models:
  priority:
    strategy: priority
    deployments: [{{provider: sim-a, model: a}}, {{provider: sim-b, model: b}}]
  priority-sick:
    strategy: priority
    breaker: {{consecutive_failures: 1, open_seconds: 60}}
    deployments: [{{provider: down, model: d}}, {{provider: sim-a, model: a}}, {{provider: sim-b, model: b}}]
  weighted:
    strategy: weighted
    deployments: [{{provider: sim-a, model: a, weight: 3}}, {{provider: sim-b, model: b, weight: 1}}]
  least-inflight:
    strategy: least_inflight
    deployments: [{{provider: slow, model: s}}, {{provider: fast, model: f}}]
  lowest-latency:
    strategy: lowest_latency
    deployments: [{{provider: slow, model: s}}, {{provider: fast, model: f}}]
  p2c:
    deployments: [{{provider: slow, model: s}}, {{provider: fast, model: f}}]
  retry-same:
    retry: {{backoff_base_ms: 10, backoff_max_ms: 50}}
    deployments: [{{provider: openai, model: gpt-4o-retry}}]
  bad-request:
    strategy: priority
    deployments: [{{provider: openai, model: gpt-4o-bad}}, {{provider: fast, model: f}}]
  retry-after:
    strategy: priority
    retry: {{max_retry_after_seconds: 1}}
    deployments: [{{provider: openai, model: gpt-4o-ra}}, {{provider: fast, model: f}}]
  retry-after-single:
    retry: {{max_retry_after_seconds: 1}}
    deployments: [{{provider: openai, model: gpt-4o-ra-single}}]
  bad-key:
    strategy: priority
    deployments: [{{provider: openai, model: gpt-fault-401}}, {{provider: fast, model: f}}]
  fragile:
    strategy: priority
    breaker: {{consecutive_failures: 3, open_seconds: 0.8}}
    deployments: [{{provider: openai, model: gpt-4o-fragile}}, {{provider: fast, model: f}}]
  ttft:
    strategy: priority
    timeouts: {{ttft_seconds: 0.3}}
    deployments: [{{provider: stuck, model: s}}, {{provider: fast, model: f}}]
  idle:
    timeouts: {{idle_seconds: 0.2}}
    deployments: [{{provider: openai, model: gpt-4o-idle}}]
  all-down:
    strategy: priority
    retry: {{max_attempts: 2}}
    fallbacks: [backup]
    deployments:
      - {{provider: openai, model: gpt-fault-503}}
      - {{provider: anthropic, model: claude-fault-529}}
  backup: {{provider: gemini, model: gemini-2.5-flash}}
  small-window:
    fallbacks: [backup]
    deployments: [{{provider: openai, model: gpt-4o-small, context_window: 50}}]
  guarded:
    fallbacks: [claude]
    deployments: [{{provider: gemini, model: gemini-2.5-flash}}]
  unguarded: {{provider: gemini, model: gemini-2.5-flash}}
  claude: {{provider: anthropic, model: claude-sonnet-4-5}}
  degraded:
    retry: {{max_attempts: 2, backoff_base_ms: 1, backoff_max_ms: 1}}
    static_reply: "{STATIC_TEXT}"
    deployments: [{{provider: down, model: d}}]
  not-degraded:
    retry: {{max_attempts: 2, backoff_base_ms: 1, backoff_max_ms: 1}}
    deployments: [{{provider: down, model: d}}]
  hedged:
    strategy: priority
    hedge: {{enabled: true, after_ms: 100}}
    deployments: [{{provider: sluggish, model: s}}, {{provider: fast, model: f}}]
"""


@pytest.fixture(scope="module")
def gateway(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(resilience_config(fakes), tmp_path_factory.mktemp("resilience"))
    yield running
    stop_server(running)


@pytest.fixture
def upstreams(fakes: Fakes) -> Iterator[Fakes]:
    """The fakes with no queued fault or recorded request left over from an earlier test."""
    fakes.clear()
    yield fakes
    fakes.clear()
    fakes.openai.chunk_gap_seconds = 0.0


@pytest.fixture
def client(gateway: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)


@pytest.fixture
def claude_client(gateway: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=CLIENT_KEY, max_retries=0, timeout=20)


# ------------------------------------------------------------------ helpers


def chat(client: openai.OpenAI, model: str, content: str = "hello there") -> tuple[httpx.Headers, Any]:
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": content}]
    )
    return raw.headers, raw.parse()


def stream_chat(client: openai.OpenAI, model: str) -> tuple[httpx.Headers, str, float]:
    """Headers, the streamed text, and the seconds until the stream started (its headers arrived)."""
    started = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(model=model, messages=USER, stream=True)
    waited = time.monotonic() - started
    text = "".join(chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices)
    return raw.headers, text, waited


def providers_of(client: openai.OpenAI, model: str, total: int, concurrency: int = 1) -> Counter[str]:
    """How many of ``total`` requests each provider answered (``x-bastion-provider``)."""

    def one(_: int) -> str:
        return chat(client, model)[0]["x-bastion-provider"]

    with ThreadPoolExecutor(concurrency) as pool:
        return Counter(pool.map(one, range(total)))


def sent(requests: list[RecordedRequest], model: str) -> list[RecordedRequest]:
    """The requests an upstream fake received for one upstream model name."""
    return [r for r in requests if isinstance(r.json, dict) and r.json.get("model") == model]


def admin_get(server: Server, path: str, key: str | None = ADMIN_KEY) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.get(server.url + path, headers=headers, timeout=10)


def breaker_of(server: Server, group: str, index: int) -> dict[str, Any]:
    deployments = admin_get(server, "/admin/deployments").json()["groups"][group]["deployments"]
    breaker: dict[str, Any] = deployments[index]["breaker"]
    return breaker


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# ------------------------------------------------------------------ strategies


def test_priority_always_picks_the_first_healthy_deployment(client: openai.OpenAI) -> None:
    assert providers_of(client, "priority", 20) == {"sim-a": 20}

    # The first deployment fails: that request fails over, its breaker opens (threshold 1), and
    # from then on the first *healthy* deployment takes everything, without another attempt.
    headers, reply = chat(client, "priority-sick")
    assert (headers["x-bastion-provider"], headers["x-bastion-attempts"]) == ("sim-a", "2")
    assert reply.choices[0].message.content == "answer from a"
    for _ in range(10):
        headers, _ = chat(client, "priority-sick")
        assert (headers["x-bastion-provider"], headers["x-bastion-attempts"]) == ("sim-a", "1")


def test_weighted_splits_traffic_by_weight(client: openai.OpenAI) -> None:
    counts = providers_of(client, "weighted", 200, concurrency=4)
    assert set(counts) == {"sim-a", "sim-b"}
    # weights 3:1 → 150 expected, σ ≈ 6: the bounds are ~3σ wide, a 50/50 split is far outside
    assert 130 <= counts["sim-a"] <= 170, counts


@pytest.mark.parametrize("model", ["least-inflight", "lowest-latency", "p2c"])
def test_load_aware_strategies_prefer_the_fast_deployment(client: openai.OpenAI, model: str) -> None:
    # The slow deployment is listed first, so config order alone would pick it.
    providers_of(client, model, 16, concurrency=4)  # warm-up: both get measured
    counts = providers_of(client, model, 80, concurrency=4)
    assert counts["fast"] >= 0.8 * 80, counts


# ------------------------------------------------------------------ retries


def test_retryable_503_is_retried_on_the_same_deployment(client: openai.OpenAI, upstreams: Fakes) -> None:
    upstreams.openai.inject(Fault(status=503))
    headers, reply = chat(client, "retry-same")
    assert reply.choices[0].message.content == ECHO
    assert headers["x-bastion-attempts"] == "2"
    assert len(sent(upstreams.openai.requests, "gpt-4o-retry")) == 2


def test_short_retry_after_is_waited_for_before_the_retry(client: openai.OpenAI, upstreams: Fakes) -> None:
    upstreams.openai.inject(Fault(status=503, retry_after=0.4))
    started = time.monotonic()
    headers, reply = chat(client, "retry-same")
    assert time.monotonic() - started >= 0.4  # the provider said when: the retry waited for it
    assert reply.choices[0].message.content == ECHO
    assert headers["x-bastion-attempts"] == "2"


def test_non_retryable_400_is_returned_at_once(client: openai.OpenAI, upstreams: Fakes) -> None:
    upstreams.openai.inject(Fault(status=400, message="Invalid 'temperature'."))
    with pytest.raises(openai.BadRequestError) as caught:
        chat(client, "bad-request")
    assert "Invalid 'temperature'." in caught.value.body["message"]
    assert caught.value.response.headers["x-bastion-attempts"] == "1"
    assert caught.value.response.headers["x-bastion-provider"] == "openai"
    assert len(sent(upstreams.openai.requests, "gpt-4o-bad")) == 1  # the healthy second one was not used


def test_long_retry_after_fails_over_at_once(client: openai.OpenAI, upstreams: Fakes) -> None:
    upstreams.openai.inject(Fault(status=429, retry_after=30))
    started = time.monotonic()
    headers, reply = chat(client, "retry-after")
    assert time.monotonic() - started < 1.0
    assert (headers["x-bastion-provider"], headers["x-bastion-attempts"]) == ("fast", "2")
    assert reply.choices[0].message.content == "fast answer"

    # With nowhere to fail over to, the 429 comes back at once instead of holding the client 30 s.
    upstreams.openai.inject(Fault(status=429, retry_after=30))
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client, "retry-after-single")
    assert time.monotonic() - started < 1.0
    assert caught.value.response.headers["retry-after"] == "30"
    assert len(sent(upstreams.openai.requests, "gpt-4o-ra-single")) == 1


def test_rejected_provider_key_opens_the_breaker_and_fails_over(
    client: openai.OpenAI, upstreams: Fakes, gateway: Server
) -> None:
    headers, reply = chat(client, "bad-key")
    assert (headers["x-bastion-provider"], headers["x-bastion-attempts"]) == ("fast", "2")
    assert reply.choices[0].message.content == "fast answer"
    breaker = breaker_of(gateway, "bad-key", 0)
    assert breaker["state"] == "open"
    assert "key" in breaker["reason"]
    assert breaker_of(gateway, "bad-key", 1)["state"] == "closed"

    headers, _ = chat(client, "bad-key")  # no second try of a key the provider refused
    assert (headers["x-bastion-provider"], headers["x-bastion-attempts"]) == ("fast", "1")
    assert len(sent(upstreams.openai.requests, "gpt-fault-401")) == 1


# ------------------------------------------------------------------ circuit breaker


def test_breaker_opens_skips_probes_and_closes(
    client: openai.OpenAI, upstreams: Fakes, gateway: Server
) -> None:
    upstreams.openai.inject(Fault(status=503, times=3))
    for _ in range(3):
        headers, _ = chat(client, "fragile")
        assert (headers["x-bastion-provider"], headers["x-bastion-attempts"]) == ("fast", "2")
    breaker = breaker_of(gateway, "fragile", 0)
    assert breaker["state"] == "open"
    assert "consecutive_failures" in breaker["reason"]

    for _ in range(5):  # open: skipped without an attempt
        headers, _ = chat(client, "fragile")
        assert (headers["x-bastion-provider"], headers["x-bastion-attempts"]) == ("fast", "1")
    assert len(sent(upstreams.openai.requests, "gpt-4o-fragile")) == 3

    assert wait_until(lambda: breaker_of(gateway, "fragile", 0)["state"] == "half_open", timeout=3)
    headers, reply = chat(client, "fragile")  # the probe: the fake is healthy again
    assert (headers["x-bastion-provider"], headers["x-bastion-attempts"]) == ("openai", "1")
    assert reply.choices[0].message.content == ECHO
    assert breaker_of(gateway, "fragile", 0)["state"] == "closed"
    assert len(sent(upstreams.openai.requests, "gpt-4o-fragile")) == 4


# ------------------------------------------------------------------ timeouts


def test_ttft_timeout_fails_a_stream_over_before_the_client_gets_a_byte(client: openai.OpenAI) -> None:
    headers, text, waited = stream_chat(client, "ttft")
    assert waited < 1.0  # the stuck deployment would have taken 2 s
    assert text == "fast answer"
    assert (headers["x-bastion-provider"], headers["x-bastion-attempts"]) == ("fast", "2")


def test_idle_timeout_ends_a_stalled_stream_with_an_error_event(
    client: openai.OpenAI, upstreams: Fakes
) -> None:
    upstreams.openai.chunk_gap_seconds = 0.6
    received = []
    started = time.monotonic()
    stream = client.chat.completions.create(model="idle", messages=USER, stream=True)
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert received  # the first chunk arrived before the stall
    assert "stalled" in str(caught.value)
    assert time.monotonic() - started < 2.0


# ------------------------------------------------------------------ fallbacks


def test_exhausted_group_falls_back_to_the_next_group(client: openai.OpenAI, upstreams: Fakes) -> None:
    headers, reply = chat(client, "all-down")
    assert reply.choices[0].message.content == ECHO
    assert headers["x-bastion-fallback"] == "backup"
    assert headers["x-bastion-provider"] == "gemini"
    assert len(sent(upstreams.openai.requests, "gpt-fault-503")) == 1
    assert len(sent(upstreams.anthropic.requests, "claude-fault-529")) == 1
    assert len(upstreams.gemini.requests) == 1


def test_prompt_too_large_for_the_context_window_goes_straight_to_the_fallback(
    client: openai.OpenAI, upstreams: Fakes
) -> None:
    headers, reply = chat(client, "small-window")  # a short prompt fits
    assert "x-bastion-fallback" not in headers
    assert len(sent(upstreams.openai.requests, "gpt-4o-small")) == 1

    long_prompt = " ".join(["tell me everything"] * 80)  # ~240 tokens by the gateway's estimate
    headers, reply = chat(client, "small-window", long_prompt)
    assert reply.choices[0].message.content == f"Echo: {long_prompt}"
    assert headers["x-bastion-fallback"] == "backup"
    assert headers["x-bastion-provider"] == "gemini"
    assert len(sent(upstreams.openai.requests, "gpt-4o-small")) == 1  # nothing more reached it


def test_content_policy_refusal_falls_back_or_is_returned(client: openai.OpenAI, upstreams: Fakes) -> None:
    prompt = "please BLOCKME now"
    headers, reply = chat(client, "guarded", prompt)
    assert reply.choices[0].message.content == f"Echo: {prompt}"
    assert reply.choices[0].finish_reason == "stop"
    assert headers["x-bastion-fallback"] == "claude"
    assert headers["x-bastion-provider"] == "anthropic"
    assert len(upstreams.gemini.requests) == 1

    headers, reply = chat(client, "unguarded", prompt)  # no fallback: the refusal itself
    assert reply.choices[0].finish_reason == "content_filter"
    assert not reply.choices[0].message.content
    assert "x-bastion-fallback" not in headers


# ------------------------------------------------------------------ static last resort


def test_static_reply_answers_when_everything_failed(
    client: openai.OpenAI, claude_client: anthropic.Anthropic
) -> None:
    headers, reply = chat(client, "degraded")
    assert reply.choices[0].message.content == STATIC_TEXT
    assert headers["x-bastion-degraded"] == "static"

    headers, text, _ = stream_chat(client, "degraded")
    assert text == STATIC_TEXT
    assert headers["x-bastion-degraded"] == "static"

    raw = claude_client.messages.with_raw_response.create(model="degraded", max_tokens=50, messages=USER)
    message = raw.parse()
    assert message.content[0].text == STATIC_TEXT  # type: ignore[union-attr]
    assert raw.headers["x-bastion-degraded"] == "static"

    raw_stream = claude_client.messages.with_raw_response.create(
        model="degraded", max_tokens=50, messages=USER, stream=True
    )
    streamed = "".join(
        event.delta.text
        for event in raw_stream.parse()
        if event.type == "content_block_delta" and event.delta.type == "text_delta"
    )
    assert streamed == STATIC_TEXT
    assert raw_stream.headers["x-bastion-degraded"] == "static"


def test_without_static_reply_the_failure_reaches_the_client_in_its_shape(
    client: openai.OpenAI, claude_client: anthropic.Anthropic
) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        chat(client, "not-degraded")
    assert caught.value.status_code == 503
    assert caught.value.body["type"] == "service_unavailable_error"
    assert "x-bastion-degraded" not in caught.value.response.headers

    with pytest.raises(openai.InternalServerError):
        list(client.chat.completions.create(model="not-degraded", messages=USER, stream=True))

    with pytest.raises(anthropic.APIStatusError) as anthropic_caught:
        claude_client.messages.create(model="not-degraded", max_tokens=50, messages=USER)
    assert anthropic_caught.value.status_code == 503
    assert anthropic_caught.value.body["type"] == "error"
    assert anthropic_caught.value.body["error"]["type"] == "overloaded_error"


# ------------------------------------------------------------------ hedging


def test_hedge_answers_from_the_fast_deployment(client: openai.OpenAI) -> None:
    started = time.monotonic()
    headers, reply = chat(client, "hedged")
    assert time.monotonic() - started < 1.0  # the primary alone takes 1.5 s
    assert reply.choices[0].message.content == "fast answer"
    assert headers["x-bastion-hedged"] == "true"
    assert (headers["x-bastion-provider"], headers["x-bastion-attempts"]) == ("fast", "2")

    headers, text, waited = stream_chat(client, "hedged")
    assert waited < 1.0
    assert text == "fast answer"
    assert headers["x-bastion-hedged"] == "true"
    assert (headers["x-bastion-provider"], headers["x-bastion-attempts"]) == ("fast", "2")


# ------------------------------------------------------------------ admin API


def test_admin_api_needs_the_admin_key(gateway: Server) -> None:
    for key in (None, "wrong-admin-key", CLIENT_KEY):
        assert admin_get(gateway, "/admin/deployments", key).status_code == 401, key
        reload = httpx.post(
            gateway.url + "/admin/reload", headers={"authorization": f"Bearer {key}"} if key else {}
        )
        assert reload.status_code == 401, key
        assert reload.json()["error"]["type"] == "authentication_error"
    response = admin_get(gateway, "/admin/deployments")
    assert response.status_code == 200
    assert "weighted" in response.json()["groups"]


# ------------------------------------------------------------------ retry budget (own server)


def test_spent_retry_budget_stops_retries(fakes: Fakes, tmp_path: Path) -> None:
    # The retry budget is the outage brake: extra attempts may only be a share of recent client
    # requests. When a provider goes down, every request would otherwise turn into max_attempts
    # upstream requests and multiply the load on the provider that is struggling. With ratio 0
    # and no floor the budget is always spent, so a failed first attempt is answered as it is
    # even though a healthy second deployment exists.
    server = start_server(
        f"""
routing:
  retry_budget: {{ratio: 0, min_retries_per_second: 0}}
providers:
  openai: {{type: openai, base_url: "{fakes.openai.url}/v1", api_key: "{PROVIDER_KEYS["openai"]}"}}
  fast: {{type: simulator, ttft_ms: 5, reply: "fast answer"}}
models:
  braked:
    strategy: priority
    deployments: [{{provider: openai, model: gpt-4o-budget}}, {{provider: fast, model: f}}]
""",
        tmp_path,
    )
    fakes.clear()
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="dev", max_retries=0, timeout=20)
        fakes.openai.inject(Fault(status=503))
        with pytest.raises(openai.InternalServerError) as caught:
            chat(client, "braked")
        assert caught.value.status_code == 503
        assert caught.value.response.headers["x-bastion-attempts"] == "1"
        assert len(sent(fakes.openai.requests, "gpt-4o-budget")) == 1

        headers, reply = chat(client, "braked")  # first attempts are never braked
        assert reply.choices[0].message.content == ECHO
        assert headers["x-bastion-attempts"] == "1"
    finally:
        stop_server(server)
        fakes.clear()


# ------------------------------------------------------------------ hot reload (own servers)


def reload_config(fakes: Fakes, version: int) -> str:
    """Version 1 serves ``alpha``; version 2 also ``beta`` and changes the provider's headers, so the
    provider (and its connection pool) is rebuilt and the old one must drain before it is closed."""
    beta = "  beta: {provider: openai, model: gpt-4o-beta}\n" if version > 1 else ""
    return f"""
server: {{graceful_shutdown_seconds: 5}}
providers:
  openai:
    type: openai
    base_url: "{fakes.openai.url}/v1"
    api_key: "{PROVIDER_KEYS["openai"]}"
    headers: {{x-config-version: "{version}"}}
models:
  alpha: {{provider: openai, model: gpt-4o-alpha}}
{beta}"""


def test_sighup_reload_adds_a_model_and_lets_the_running_stream_finish(
    upstreams: Fakes, tmp_path: Path
) -> None:
    server = start_server(reload_config(upstreams, 1), tmp_path)
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="dev", max_retries=0, timeout=20)
        with pytest.raises(openai.NotFoundError):
            chat(client, "beta")
        upstreams.openai.chunk_gap_seconds = 0.15  # the stream below takes ~1.5 s
        prompt = "one two three four five six seven eight"
        pieces: list[str] = []
        failures: list[BaseException] = []
        done = threading.Event()

        def consume() -> None:
            try:
                messages = [{"role": "user", "content": prompt}]
                for chunk in client.chat.completions.create(model="alpha", messages=messages, stream=True):
                    if chunk.choices and chunk.choices[0].delta.content:
                        pieces.append(chunk.choices[0].delta.content)
            except BaseException as error:  # reported by the main thread
                failures.append(error)
            done.set()

        consumer = threading.Thread(target=consume)
        consumer.start()
        assert wait_until(lambda: bool(pieces)), "the stream never started"

        (tmp_path / "bastion.yaml").write_text(reload_config(upstreams, 2))
        server.process.send_signal(signal.SIGHUP)

        def beta_works() -> bool:
            try:
                return chat(client, "beta")[1].choices[0].message.content == ECHO
            except openai.NotFoundError:
                return False

        assert wait_until(beta_works), server.log()
        assert not done.is_set(), "the stream ended before the reload; the test proves nothing"
        consumer.join(10)
        assert not failures
        assert "".join(pieces) == f"Echo: {prompt}"
        versions = {r.json["model"]: r.headers["x-config-version"] for r in upstreams.openai.requests}
        assert versions == {"gpt-4o-alpha": "1", "gpt-4o-beta": "2"}
    finally:
        stop_server(server)


RELOAD_SIMULATED = """
server: {graceful_shutdown_seconds: 5}
providers:
  sim: {type: simulator, reply: "still serving"}
models:
  alpha: {provider: sim, model: s}
"""


def test_invalid_config_reload_is_refused_and_the_old_config_keeps_serving(tmp_path: Path) -> None:
    server = start_server(RELOAD_SIMULATED, tmp_path)
    try:
        broken = RELOAD_SIMULATED.replace("alpha: {", "alpha: {strategy: fastest, ")
        broken = broken.replace("graceful_shutdown_seconds: 5", "graceful_shutdown_seconds: 5, retries: 3")
        (tmp_path / "bastion.yaml").write_text(broken)
        response = httpx.post(server.url + "/admin/reload", timeout=10)
        assert response.status_code == 422
        body = response.json()
        assert body["reloaded"] is False
        assert len(body["problems"]) == 2, body  # every problem at once, each with its path and line
        assert any(p.startswith("models.alpha.strategy (line 6)") for p in body["problems"])
        assert any(p.startswith("server.retries (line 2)") for p in body["problems"])

        (tmp_path / "bastion.yaml").write_text("models: [unclosed\n")
        response = httpx.post(server.url + "/admin/reload", timeout=10)
        assert response.status_code == 422
        assert any("line" in problem for problem in response.json()["problems"])

        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="dev", max_retries=0, timeout=20)
        assert chat(client, "alpha")[1].choices[0].message.content == "still serving"
    finally:
        stop_server(server)
