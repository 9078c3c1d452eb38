"""Keys, rate limits, budgets and the usage ledger, through one real ``bastion serve`` process.

The gateway keeps its keys and ledger in a SQLite file and its counters in memory. Every test
makes its own key (or team) through the admin API, so the tests share the server and not their
limits; they speak to it only through the official OpenAI and Anthropic SDKs, the admin HTTP
API and the ``bastion`` CLI, and check what reached the provider fakes.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from bastion.accounting.pricing import ModelPrice, PriceTable, estimate_cost, request_cost
from bastion.accounting.tokens import TokenCounter
from bastion.limits.memory import to_nano
from tests.e2e.conftest import Fakes, Server, start_server, stop_server
from tests.e2e.limits_support import (
    ADMIN_KEY,
    DEAR_RATE,
    PROVIDER_ENV,
    AdminClient,
    WebhookReceiver,
    claude,
    metric_value,
    oai,
    providers_yaml,
    run_cli,
    status_of,
    wait_until,
)

REFRESH_SECONDS = 0.5
END_USER_RPM = 2
CAPPED_MODEL_RPM = 3
FEATURE_BUDGET_USD = 2.0
MODEL_BUDGET_USD = 1.5
DEAR_PRICE = ModelPrice(input=DEAR_RATE, output=DEAR_RATE)
#: public model group -> the upstream model the fakes bill it under
UPSTREAM = {
    "gpt-fake": "gpt-4o-mini",
    "claude-fake": "claude-sonnet-4-5",
    "gemini-fake": "gemini-2.5-flash",
    "emb-openai": "text-embedding-3-small",
    "priced": "gpt-dear",
    "gpt-capped": "gpt-capped-upstream",
}


def gateway_yaml(fakes: Fakes, tmp: Path, webhook_url: str) -> str:
    return f"""
server:
  admin_key: "{ADMIN_KEY}"
  graceful_shutdown_seconds: 2
{providers_yaml(fakes)}
models:
  gpt-fake: {{provider: openai, model: gpt-4o-mini}}
  claude-fake: {{provider: anthropic, model: claude-sonnet-4-5}}
  gemini-fake: {{provider: gemini, model: gemini-2.5-flash}}
  emb-openai: {{provider: openai, model: text-embedding-3-small, kind: embeddings}}
  gpt-capped: {{provider: openai, model: gpt-capped-upstream}}
  priced:
    provider: openai
    model: gpt-dear
    pricing: {{input: {DEAR_RATE}, output: {DEAR_RATE}}}
  priced-capped:
    provider: openai
    model: gpt-dear
    pricing: {{input: {DEAR_RATE}, output: {DEAR_RATE}}}
storage:
  url: sqlite:///{tmp}/bastion.db
  ledger_flush_ms: 20
limits:
  identity_refresh_seconds: {REFRESH_SECONDS}
  end_users: {{requests_per_minute: {END_USER_RPM}}}
  models:
    gpt-capped: {{requests_per_minute: {CAPPED_MODEL_RPM}}}
    priced-capped: {{budget: {{day: {MODEL_BUDGET_USD}}}}}
  features:
    billing-report: {{budget: {{day: {FEATURE_BUDGET_USD}}}}}
  alerts:
    thresholds: [0.8, 1.0]
    webhook_url: {webhook_url}
"""


@dataclass
class Gateway:
    server: Server
    admin: AdminClient
    webhook: WebhookReceiver
    config_text: str
    folder: Path
    secrets: list[str] = field(default_factory=list)  # every key secret made, to check none leaks

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def config_path(self) -> Path:
        return self.folder / "bastion.yaml"

    def key(self, **fields: Any) -> tuple[str, dict[str, Any]]:
        secret, created = self.admin.create_key(**fields)
        self.secrets.append(secret)
        return secret, created

    def restart(self) -> None:
        """Stop the server and start a fresh process on the same config and database."""
        self.admin.close()
        stop_server(self.server)
        self.server = start_server(self.config_text, self.folder, PROVIDER_ENV)
        self.admin = AdminClient(self.server.url)


@pytest.fixture(scope="module")
def gw(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("limits")
    webhook = WebhookReceiver()
    config = gateway_yaml(fakes, tmp, webhook.url)
    server = start_server(config, tmp, PROVIDER_ENV)
    gateway = Gateway(server, AdminClient(server.url), webhook, config, tmp)
    try:
        yield gateway
    finally:
        gateway.admin.close()
        stop_server(gateway.server)
        webhook.close()


@pytest.fixture(autouse=True)
def healthy_fakes(fakes: Fakes) -> Iterator[None]:
    fakes.clear()
    yield
    fakes.openai.chunk_gap_seconds = 0.0
    fakes.clear()


def chat(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


def reset_seconds(value: str) -> float:
    """OpenAI's x-ratelimit-reset-* value (``20ms``, ``1.5s``, ``6m0s``) in seconds."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?", value)
    assert match is not None and value, f"not an OpenAI reset value: {value!r}"
    hours, minutes, seconds, millis = (float(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


# --------------------------------------------------------------------------- 1. keys


def test_admin_api_keys_work_once_shown_and_obey_models_expiry_and_revocation(
    gw: Gateway, fakes: Fakes
) -> None:
    gw.admin.create_team("t-keys", limits={"requests_per_minute": 1000})
    gw.admin.create_user("ann@example.com", team_id="t-keys")
    secret, created = gw.key(name="app", user_id="ann@example.com")
    assert secret.startswith("bst_") and len(secret) > 40
    # the key has no team of its own: it follows its user's team (also if the user moves later)
    assert (
        created["prefix"] == secret[:12]
        and created["team_id"] is None
        and created["user_id"] == "ann@example.com"
    )
    assert created["status"] == "active" and "digest" not in created

    reply = oai(gw.url, secret).chat.completions.create(model="gpt-fake", **chat("hello there"))
    assert reply.choices[0].message.content == "Echo: hello there"

    # the secret is shown once: neither a key's page nor the list carries it or its digest
    digest = hashlib.sha256(secret.encode()).hexdigest()
    shown = gw.admin.call("GET", f"/admin/keys/{created['id']}", expect=200)
    listed = gw.admin.call("GET", "/admin/keys?team_id=t-keys", expect=200)
    for response in (shown, listed):
        assert secret not in response.text and digest not in response.text
        assert secret[12:20] not in response.text  # not even a piece beyond the visible prefix
    assert "key" not in shown.json() and "digest" not in shown.json()
    assert [k["id"] for k in listed.json()["data"]] == [created["id"]]

    # a key limited to one model group gets 403 on another, before anything goes upstream
    narrow, _ = gw.key(name="narrow", models=["gpt-fake"])
    oai(gw.url, narrow).chat.completions.create(model="gpt-fake", **chat())
    with pytest.raises(openai.PermissionDeniedError) as refused:
        oai(gw.url, narrow).chat.completions.create(model="claude-fake", **chat())
    assert refused.value.code == "model_not_allowed"
    with pytest.raises(anthropic.PermissionDeniedError):
        claude(gw.url, narrow).messages.create(
            model="gemini-fake", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert not fakes.anthropic.requests and not fakes.gemini.requests

    # an expiring key works until its time, then gets 401 expired_api_key
    expires_at = time.time() + 1.0
    expiring, made = gw.key(name="short-lived", expires_at=expires_at)
    assert status_of(gw.url, expiring) == (200, None)
    time.sleep(max(0.0, expires_at - time.time()) + 0.05)
    with pytest.raises(openai.AuthenticationError) as expired:
        oai(gw.url, expiring).chat.completions.create(model="gpt-fake", **chat())
    assert expired.value.code == "expired_api_key"
    assert gw.admin.call("GET", f"/admin/keys/{made['id']}", expect=200).json()["status"] == "expired"

    # revoking through the API refuses the very next request on this server
    revoked = gw.admin.revoke_key(created["id"])
    assert revoked["status"] == "revoked" and revoked["revoked_at"]
    with pytest.raises(openai.AuthenticationError) as gone:
        oai(gw.url, secret).chat.completions.create(model="gpt-fake", **chat())
    assert gone.value.code == "revoked_api_key"
    with pytest.raises(anthropic.AuthenticationError) as gone_too:
        claude(gw.url, secret).messages.create(
            model="claude-fake", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert gone_too.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert status_of(gw.url, "bst_never-issued") == (401, "invalid_api_key")


def test_key_changes_and_team_deletion_apply_at_once(gw: Gateway) -> None:
    gw.admin.create_team("t-doomed")
    secret, created = gw.key(name="changing", team_id="t-doomed", limits={"requests_per_minute": 1})
    assert status_of(gw.url, secret) == (200, None)
    assert status_of(gw.url, secret) == (429, "requests_limit_exceeded")
    changed = gw.admin.call(
        "PATCH",
        f"/admin/keys/{created['id']}",
        {"limits": {"requests_per_minute": 100}, "models": ["gpt-fake"]},
    )
    assert changed.status_code == 200 and changed.json()["limits"] == {"requests_per_minute": 100}
    assert status_of(gw.url, secret, model="claude-fake") == (403, "model_not_allowed")
    # GCRA keeps time, not a count: the one request made at 1/min holds the full minute, which at
    # 100/min is 100 requests' worth, so room opens one emission interval (0.6 s) later
    _, took = wait_until(lambda: status_of(gw.url, secret) == (200, None), 3, "the raised limit")
    assert took < 1.5
    gw.admin.call("DELETE", "/admin/teams/t-doomed", expect=200)
    assert status_of(gw.url, secret) == (401, "disabled_api_key")
    # a new team under the old id does not bring the old team's keys back
    gw.admin.create_team("t-doomed")
    assert status_of(gw.url, secret) == (401, "revoked_api_key")
    assert gw.admin.call("GET", f"/admin/keys/{created['id']}", expect=200).json()["status"] == "revoked"


def test_cli_keys_reach_the_running_server_within_the_refresh_interval(gw: Gateway) -> None:
    made = run_cli("keys", "create", "--config", str(gw.config_path), "--name", "from-cli", "--rpm", "100")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    gw.secrets.append(secret)
    key_id = re.search(r"key id (key_[0-9a-f]+)", made.stderr).group(1)  # type: ignore[union-attr]
    assert secret.startswith("bst_") and "\n" not in secret

    _, took = wait_until(lambda: status_of(gw.url, secret) == (200, None), 5, "the CLI-made key is accepted")
    assert took < REFRESH_SECONDS + 1.5, f"accepted only after {took:.2f} s"

    listed = run_cli("keys", "list", "--config", str(gw.config_path))
    assert listed.returncode == 0, listed.stderr
    assert key_id in listed.stdout and secret[:12] in listed.stdout and secret not in listed.stdout

    revoked = run_cli("keys", "revoke", key_id, "--config", str(gw.config_path))
    assert revoked.returncode == 0, revoked.stderr
    _, took = wait_until(
        lambda: status_of(gw.url, secret) == (401, "revoked_api_key"), 5, "the CLI-revoked key is refused"
    )
    assert took < REFRESH_SECONDS + 1.5, f"refused only after {took:.2f} s"
    assert key_id not in run_cli("keys", "list", "--config", str(gw.config_path)).stdout
    everything = run_cli("keys", "list", "--all", "--config", str(gw.config_path)).stdout
    assert re.search(rf"{key_id}\s.*\srevoked\s", everything), everything

    unknown = run_cli("keys", "revoke", "key_0000000000000000", "--config", str(gw.config_path))
    assert unknown.returncode == 1 and "no key 'key_0000000000000000'" in unknown.stderr


# --------------------------------------------------------------------------- 2. requests per minute


def test_requests_per_minute_then_429_in_each_protocol_without_an_upstream_call(
    gw: Gateway, fakes: Fakes
) -> None:
    secret, _ = gw.key(name="rpm", limits={"requests_per_minute": 3})
    client = oai(gw.url, secret)
    for sent in range(1, 4):
        raw = client.chat.completions.with_raw_response.create(model="gpt-fake", **chat())
        assert raw.status_code == 200
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        assert raw.headers["x-ratelimit-remaining-requests"] == str(3 - sent)
        # GCRA: each request moves the full-allowance point 20 s (60 s / 3) further out
        assert 20 * sent - 1 < reset_seconds(raw.headers["x-ratelimit-reset-requests"]) <= 20 * sent
        assert raw.parse().choices[0].message.content == "Echo: hello there"
    assert len(fakes.openai.requests) == 3

    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="gpt-fake", **chat())
    error = limited.value
    assert error.status_code == 429 and error.code == "requests_limit_exceeded"
    assert error.type == "rate_limit_error"
    assert error.body["code"] == "requests_limit_exceeded"  # type: ignore[index]
    assert "3 requests per minute" in error.body["message"]  # type: ignore[index]
    assert 1 <= int(error.response.headers["retry-after"]) <= 20
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"

    with pytest.raises(anthropic.RateLimitError) as also_limited:
        claude(gw.url, secret).messages.create(
            model="claude-fake", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    body = also_limited.value.body
    assert also_limited.value.status_code == 429
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert "requests per minute" in body["error"]["message"]  # type: ignore[index]
    assert 1 <= int(also_limited.value.response.headers["retry-after"]) <= 20

    assert len(fakes.openai.requests) == 3 and not fakes.anthropic.requests


# --------------------------------------------------------------------------- 3. tokens per minute


def test_tokens_per_minute_reserves_up_front_and_reconciles_to_reported_usage(
    gw: Gateway, fakes: Fakes
) -> None:
    limit = 1500
    refill_per_second = limit / 60
    secret, _ = gw.key(name="tpm", limits={"tokens_per_minute": limit})
    client = oai(gw.url, secret)
    started = time.monotonic()

    first = client.chat.completions.with_raw_response.create(model="gpt-fake", max_tokens=1000, **chat())
    assert first.headers["x-ratelimit-limit-tokens"] == str(limit)
    reserved = limit - int(first.headers["x-ratelimit-remaining-tokens"])
    prompt_estimate = reserved - 1000
    assert 1 <= prompt_estimate <= 30, reserved  # "hello there" plus the chat framing
    used = [sum(fakes.openai.billed[-1][1:])]
    assert first.parse().usage.total_tokens == used[0]  # type: ignore[union-attr]

    # two reservations of ~1009 do not fit in 1500: only the reconciliation lets this one pass
    second = client.chat.completions.with_raw_response.create(model="gpt-fake", max_tokens=1000, **chat())
    used.append(sum(fakes.openai.billed[-1][1:]))
    floor = limit - used[0] - reserved
    refill = int((time.monotonic() - started) * refill_per_second) + 1
    assert floor <= int(second.headers["x-ratelimit-remaining-tokens"]) <= floor + refill

    # a stream settles too, to the usage in its last chunk
    streamed = client.chat.completions.with_raw_response.create(
        model="gpt-fake", max_tokens=1000, stream=True, stream_options={"include_usage": True}, **chat()
    )
    chunks = list(streamed.parse())
    used.append(sum(fakes.openai.billed[-1][1:]))
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == used[-1]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: hello there"

    after = client.chat.completions.with_raw_response.create(model="gpt-fake", max_tokens=1000, **chat())
    used.append(sum(fakes.openai.billed[-1][1:]))
    floor = limit - sum(used[:3]) - reserved
    refill = int((time.monotonic() - started) * refill_per_second) + 1
    assert floor <= int(after.headers["x-ratelimit-remaining-tokens"]) <= floor + refill
    # a long prompt really uses ~400 tokens, which take 16 s to refill at 25 a second
    client.chat.completions.create(model="gpt-fake", max_tokens=5, **chat(" ".join(["word"] * 400)))
    assert sum(fakes.openai.billed[-1][1:]) == 405
    upstream = len(fakes.openai.requests)
    assert upstream == 5

    # so a request reserving the whole 1500 is refused, before any upstream call
    with pytest.raises(openai.RateLimitError) as too_much:
        client.chat.completions.create(model="gpt-fake", max_tokens=limit - prompt_estimate, **chat())
    assert too_much.value.code == "tokens_limit_exceeded"
    assert int(too_much.value.response.headers["retry-after"]) >= 1
    # one that could never fit is told so (and given no Retry-After: waiting would not help)
    with pytest.raises(openai.RateLimitError) as never:
        client.chat.completions.create(model="gpt-fake", max_tokens=5000, **chat())
    assert never.value.code == "tokens_limit_exceeded"
    assert "Request too large" in never.value.message and "retry-after" not in never.value.response.headers
    assert len(fakes.openai.requests) == upstream


# --------------------------------------------------------------------------- 4. concurrency


def test_concurrency_limit_counts_open_streams(gw: Gateway, fakes: Fakes) -> None:
    secret, _ = gw.key(name="conc", limits={"max_concurrent": 2})
    client = oai(gw.url, secret)
    fakes.openai.chunk_gap_seconds = 0.15
    words = "one two three four five six"
    streams = [client.chat.completions.create(model="gpt-fake", stream=True, **chat(words)) for _ in range(2)]
    with pytest.raises(openai.RateLimitError) as third:
        client.chat.completions.create(model="gpt-fake", stream=True, **chat(words))
    assert third.value.code == "concurrency_limit_exceeded"
    assert "2 concurrent requests" in third.value.message
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-fake", **chat(words))
    assert len(fakes.openai.requests) == 2

    for stream in streams:
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == f"Echo: {words}"
    fakes.openai.chunk_gap_seconds = 0.0
    # both slots are free again
    assert client.chat.completions.create(model="gpt-fake", **chat()).choices[0].message.content
    replies = list(
        concurrent.futures.ThreadPoolExecutor(2).map(
            lambda _: client.chat.completions.create(model="gpt-fake", **chat()), range(2)
        )
    )
    assert len(replies) == 2


# --------------------------------------------------------------------------- 5. end users, models, features


def test_end_user_limits_are_per_end_user_per_tenant_and_across_protocols(gw: Gateway, fakes: Fakes) -> None:
    secret, _ = gw.key(name="end-users")
    client = oai(gw.url, secret)
    for _ in range(END_USER_RPM):
        client.chat.completions.create(model="gpt-fake", user="alice", **chat())
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="gpt-fake", user="alice", **chat())
    assert limited.value.code == "requests_limit_exceeded" and "end user 'alice'" in limited.value.message
    with pytest.raises(anthropic.RateLimitError):
        claude(gw.url, secret).messages.create(
            model="claude-fake",
            max_tokens=10,
            metadata={"user_id": "alice"},
            messages=[
                {"role": "user", "content": "hi"},
            ],
        )
    # bob, requests without an end user, and alice under another tenant are not affected
    client.chat.completions.create(model="gpt-fake", user="bob", **chat())
    client.chat.completions.create(model="gpt-fake", **chat())
    other_tenant, _ = gw.key(name="other-tenant")
    oai(gw.url, other_tenant).chat.completions.create(model="gpt-fake", user="alice", **chat())
    # Anthropic's metadata.user_id is the same end user as OpenAI's `user`
    for _ in range(END_USER_RPM):
        claude(gw.url, secret).messages.create(
            model="claude-fake",
            max_tokens=10,
            metadata={"user_id": "carol"},
            messages=[{"role": "user", "content": "hi"}],
        )
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-fake", user="carol", **chat())
    assert len(fakes.openai.requests) == END_USER_RPM + 3
    assert len(fakes.anthropic.requests) == END_USER_RPM


def test_model_group_limit_binds_every_caller_together(gw: Gateway, fakes: Fakes) -> None:
    first, _ = gw.key(name="capped-1")
    second, _ = gw.key(name="capped-2")
    oai(gw.url, first).chat.completions.create(model="gpt-capped", **chat())
    oai(gw.url, second).chat.completions.create(model="gpt-capped", **chat())
    oai(gw.url, first).chat.completions.create(model="gpt-capped", **chat())
    for secret in (first, second):
        with pytest.raises(openai.RateLimitError) as limited:
            oai(gw.url, secret).chat.completions.create(model="gpt-capped", **chat())
        assert "model 'gpt-capped'" in limited.value.message
    oai(gw.url, second).chat.completions.create(model="gpt-fake", **chat())  # other groups are free
    assert [r.json["model"] for r in fakes.openai.requests] == ["gpt-capped-upstream"] * 3 + ["gpt-4o-mini"]


def test_feature_budget_applies_to_requests_tagged_with_the_feature(gw: Gateway, fakes: Fakes) -> None:
    secret, created = gw.key(name="features")
    client = oai(gw.url, secret)
    body = chat("hi", max_tokens=2)
    reservation = to_nano(estimate_cost(TokenCounter().count_chat(body), 2, DEAR_PRICE))
    spent = 0
    passed = 0
    while True:
        try:
            client.chat.completions.create(
                model="priced", extra_headers={"x-bastion-feature": "billing-report"}, **body
            )
        except openai.RateLimitError as error:
            refusal = error
            break
        passed += 1
        spent += to_nano(request_cost(_usage(fakes.openai.billed[-1]), DEAR_PRICE).total)
        assert spent <= to_nano(FEATURE_BUDGET_USD) and passed < 20
    # it passed exactly while spent + this request's reservation fitted in the budget
    assert spent + reservation > to_nano(FEATURE_BUDGET_USD)
    assert passed == len(fakes.openai.requests) and passed >= 2
    assert refusal.type == "insufficient_quota" and refusal.code == "budget_exceeded"
    assert "feature 'billing-report'" in refusal.message and "day budget of $2" in refusal.message
    # untagged requests and other features are not charged to it
    client.chat.completions.create(model="priced", **body)
    client.chat.completions.create(model="priced", extra_headers={"x-bastion-feature": "search"}, **body)

    def by_feature() -> dict[str | None, dict[str, Any]]:
        rows = {r["feature"]: r for r in gw.admin.usage(group_by="feature", key_id=created["id"])}
        return rows if len(rows) == 3 and sum(r["requests"] for r in rows.values()) == passed + 3 else {}

    rows, _ = wait_until(by_feature, 3, "ledger rows")
    assert to_nano(rows["billing-report"]["cost_usd"]) == spent
    assert rows["billing-report"]["requests"] == passed + 1  # the refusal is on the ledger too
    assert rows["billing-report"]["errors"] == 1
    assert rows[None]["requests"] == rows["search"]["requests"] == 1


def _usage(billed: tuple[str, int, int]) -> dict[str, int]:
    return {"prompt_tokens": billed[1], "completion_tokens": billed[2]}


# --------------------------------------------------------------------------- 6. budgets


def _dear_requests_until_refused(
    client: openai.OpenAI, fakes: Fakes, budget_usd: float, model: str = "priced", limit: int = 30
) -> tuple[int, int, openai.RateLimitError]:
    """Priced requests one after another until one is refused: (passed, nano-dollars spent, the refusal)."""
    spent = 0
    for passed in range(limit):
        try:
            client.chat.completions.create(model=model, **chat("hi", max_tokens=2))
        except openai.RateLimitError as error:
            return passed, spent, error
        spent += to_nano(request_cost(_usage(fakes.openai.billed[-1]), DEAR_PRICE).total)
        assert spent <= to_nano(budget_usd)
    raise AssertionError(f"no refusal within {limit} requests")


def test_hard_team_budget_refuses_before_the_reservation_would_exceed_it(gw: Gateway, fakes: Fakes) -> None:
    budget = 3.0
    gw.admin.create_team("t-hard", limits={"budget": {"day": budget}})
    secret, _ = gw.key(name="hard", team_id="t-hard")
    client = oai(gw.url, secret)
    reservation = to_nano(estimate_cost(TokenCounter().count_chat(chat("hi")), 2, DEAR_PRICE))
    passed, spent, refusal = _dear_requests_until_refused(client, fakes, budget)
    assert passed >= 2 and spent + reservation > to_nano(budget) >= spent
    assert refusal.status_code == 429
    assert refusal.type == "insufficient_quota" and refusal.code == "budget_exceeded"
    assert "team 't-hard' has a day budget of $3" in refusal.message
    # it may pass again when the day ends (UTC midnight), not when the counter is dropped
    until_midnight = 86_400 - time.time() % 86_400
    assert abs(int(refusal.response.headers["retry-after"]) - until_midnight) <= 2
    with pytest.raises(anthropic.RateLimitError) as also:
        claude(gw.url, secret).messages.create(
            model="priced", max_tokens=2, messages=[{"role": "user", "content": "hi"}]
        )
    assert also.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert len(fakes.openai.requests) == passed
    assert len(fakes.anthropic.requests) == 0

    team = gw.admin.call("GET", "/admin/teams/t-hard", expect=200).json()
    assert team["budgets"] == [
        {
            "period": "day",
            "limit_usd": budget,
            "spent_usd": pytest.approx(spent / 1e9, abs=1e-9),
            "mode": "hard",
            "resets_at": team["budgets"][0]["resets_at"],
        }
    ]
    ledger = wait_until(
        lambda: [
            r for r in gw.admin.usage(group_by="team_id", team_id="t-hard") if r["requests"] >= passed + 2
        ],
        3,
        "ledger rows",
    )[0]
    assert to_nano(ledger[0]["cost_usd"]) == spent


def test_hard_budget_under_concurrent_requests_never_overspends(gw: Gateway, fakes: Fakes) -> None:
    budget = 3.0
    gw.admin.create_team("t-burst", limits={"budget": {"day": budget}})
    secret, _ = gw.key(name="burst", team_id="t-burst")
    fakes.openai.chunk_gap_seconds = 0.05  # non-stream answers are instant; streams overlap for a while

    def one(index: int) -> int:
        response = httpx.post(
            f"{gw.url}/v1/chat/completions",
            headers={"authorization": f"Bearer {secret}"},
            json={"model": "priced", "stream": index % 2 == 0, **chat("hi", max_tokens=2)},
            timeout=20,
        )
        return response.status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(one, range(32)))
    assert set(statuses) == {200, 429}, statuses
    passed = statuses.count(200)
    assert passed == len(fakes.openai.billed)
    spent = sum(to_nano(request_cost(_usage(b), DEAR_PRICE).total) for b in fakes.openai.billed)
    assert spent <= to_nano(budget)
    rows = wait_until(
        lambda: [r for r in gw.admin.usage(group_by="team_id", team_id="t-burst") if r["requests"] == 32],
        3,
        "ledger rows",
    )[0]
    assert to_nano(rows[0]["cost_usd"]) == spent <= to_nano(budget)
    assert rows[0]["errors"] == 32 - passed


def test_soft_budget_passes_and_alerts_once_per_threshold(gw: Gateway, fakes: Fakes) -> None:
    budget = 0.5
    gw.admin.create_team("t-soft", limits={"budget": {"day": budget, "mode": "soft"}})
    secret, _ = gw.key(name="soft", team_id="t-soft")
    client = oai(gw.url, secret)

    def alerts(threshold: str) -> float:
        text = httpx.get(f"{gw.url}/metrics", timeout=5).text
        return metric_value(
            text, "bastion_budget_alerts_total", {"scope": "team", "period": "day", "threshold": threshold}
        )

    before = {t: alerts(t) for t in ("0.8", "1")}
    costs = []
    for _ in range(5):  # $0.30 each: 60%, then 120% (both thresholds at once), then well over
        client.chat.completions.create(model="priced", **chat("hi", max_tokens=2))
        costs.append(request_cost(_usage(fakes.openai.billed[-1]), DEAR_PRICE).total)
    assert costs[0] < 0.8 * budget < costs[0] + costs[1]

    wait_until(lambda: len(gw.webhook.received(lambda e: e.get("id") == "t-soft")) >= 2, 5, "both alerts")
    time.sleep(0.3)  # anything extra would have arrived by now
    events = sorted(gw.webhook.received(lambda e: e.get("id") == "t-soft"), key=lambda e: e["threshold"])
    assert [(e["threshold"], e["mode"], e["scope"], e["period"]) for e in events] == [
        (0.8, "soft", "team", "day"),
        (1.0, "soft", "team", "day"),
    ]
    assert events[0]["type"] == "budget.threshold_crossed" and events[0]["budget_usd"] == budget
    assert events[0]["spent_usd"] == pytest.approx(costs[0] + costs[1], abs=1e-9)
    assert {t: alerts(t) - before[t] for t in before} == {"0.8": 1.0, "1": 1.0}
    lines = [line for line in gw.server.log().splitlines() if "budget alert: team t-soft" in line]
    assert len(lines) == 2 and "(80%, soft)" in lines[0] and "(100%, soft)" in lines[1], lines
    assert len(fakes.openai.requests) == 5


# --------------------------------------------------------------------------- 7. ledger and usage


def test_usage_report_matches_what_the_providers_billed(gw: Gateway, fakes: Fakes) -> None:
    secret, created = gw.key(name="ledger")
    client = oai(gw.url, secret)
    messages = claude(gw.url, secret)
    billed_by: dict[str, list[tuple[str, int, int]]] = {}  # feature -> the bills of its requests
    fake_of = {"gpt-fake": fakes.openai, "emb-openai": fakes.openai}
    fake_of |= {"claude-fake": fakes.anthropic, "gemini-fake": fakes.gemini}

    def sent(model: str, feature: str) -> None:
        fake = fake_of[model]
        assert fake.billed, f"{model}: nothing billed"
        billed_by.setdefault(feature, []).append(fake.billed[-1])

    def tag(feature: str) -> dict[str, Any]:
        return {"extra_headers": {"x-bastion-feature": feature}}

    for model in ("gpt-fake", "claude-fake", "gemini-fake"):
        client.chat.completions.create(model=model, **chat("count these five words"), **tag("chat"))
        sent(model, "chat")
        stream = client.chat.completions.create(
            model=model, stream=True, **chat("a streamed question of seven words"), **tag("chat-stream")
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        sent(model, "chat-stream")
        messages.messages.create(
            model=model,
            max_tokens=50,
            messages=[{"role": "user", "content": "from the anthropic sdk"}],
            **tag("messages"),
        )
        sent(model, "messages")
        with messages.messages.stream(
            model=model,
            max_tokens=50,
            messages=[{"role": "user", "content": "streamed via messages"}],
            **tag("messages"),
        ) as events:
            assert events.get_final_text()
        sent(model, "messages")
    client.embeddings.create(model="emb-openai", input=["embed me please", "and me"], **tag("embed"))
    sent("emb-openai", "embed")
    bills = [bill for group in billed_by.values() for bill in group]
    assert len(bills) == 13
    assert sum(len(f.billed) for f in (fakes.openai, fakes.anthropic, fakes.gemini)) == 13

    table = PriceTable.builtin()

    def cost(bill: tuple[str, int, int]) -> float:
        price = table.lookup(bill[0])
        assert price is not None
        return request_cost(_usage(bill), price).total

    expected_by_model = {}
    for model, upstream in UPSTREAM.items():
        mine = [b for b in bills if b[0] == upstream]
        if mine:
            expected_by_model[model] = (
                len(mine),
                sum(b[1] for b in mine),
                sum(b[2] for b in mine),
                sum(cost(b) for b in mine),
            )

    def report(rows: list[dict[str, Any]], dimension: str) -> dict[str, tuple[int, int, int, float]]:
        return {
            r[dimension]: (r["requests"], r["prompt_tokens"], r["completion_tokens"], r["cost_usd"])
            for r in rows
        }

    def settled() -> dict[str, tuple[int, int, int, float]]:
        rows = report(gw.admin.usage(group_by="model", key_id=created["id"]), "model")
        return (
            rows
            if {m: r[:3] for m, r in rows.items()} == {m: e[:3] for m, e in expected_by_model.items()}
            else {}
        )

    by_model, _ = wait_until(settled, 3, "ledger totals equal to the providers' bills")
    for model, expected in expected_by_model.items():
        assert by_model[model][3] == pytest.approx(expected[3], rel=1e-9, abs=1e-15), model
    assert set(by_model) == {"gpt-fake", "claude-fake", "gemini-fake", "emb-openai"}

    expected_by_feature = {
        feature: (len(b), sum(x[1] for x in b), sum(x[2] for x in b), sum(cost(x) for x in b))
        for feature, b in billed_by.items()
    }
    by_feature = report(gw.admin.usage(group_by="feature", key_id=created["id"]), "feature")
    cli = run_cli(
        "usage", "--json", "--group-by", "feature", "--key-id", created["id"], "--config", str(gw.config_path)
    )
    assert cli.returncode == 0, cli.stderr
    from_cli = report(json.loads(cli.stdout), "feature")
    for rows in (by_feature, from_cli):
        assert {f: r[:3] for f, r in rows.items()} == {f: e[:3] for f, e in expected_by_feature.items()}
        for feature, expected in expected_by_feature.items():
            assert rows[feature][3] == pytest.approx(expected[3], rel=1e-9, abs=1e-15), feature


# --------------------------------------------------------------------------- admin API hygiene


def test_admin_api_refuses_bad_input_and_unknown_ids_and_needs_the_admin_key(gw: Gateway) -> None:
    cases = [
        ("/admin/keys", {"limits": {"requests_per_minute": -1}}, "limits.requests_per_minute"),
        ("/admin/keys", {"limits": {"rpm": 5}}, "limits.rpm"),
        ("/admin/teams", {"id": "t-bad", "limits": {"budget": {"day": "lots"}}}, "limits.budget.day"),
        ("/admin/users", {"id": "u-bad", "limits": {"budget": {"mode": "maybe"}}}, "limits.budget.mode"),
        ("/admin/keys", {"models": "gpt-fake"}, "models"),
        ("/admin/keys", {"expires_in_days": -3}, "expires_in_days"),
        ("/admin/teams", {"id": "has spaces"}, "id"),
    ]
    for path, body, field_name in cases:
        response = gw.admin.call("POST", path, body, 400)
        error = response.json()["error"]
        assert error["param"] == field_name, (body, error)
        assert field_name in error["message"] or field_name == "id", (body, error)
    assert gw.admin.call("GET", "/admin/teams/t-bad").status_code == 404

    for method in ("GET", "PATCH", "DELETE"):
        response = gw.admin.call(method, "/admin/keys/key_doesnotexist", {} if method == "PATCH" else None)
        assert response.status_code == 404 and response.json()["error"]["code"] == "key_not_found"
    assert gw.admin.call("GET", "/admin/users/nobody").status_code == 404
    assert gw.admin.call("GET", "/admin/usage?group_by=secret_column").status_code == 400

    some_key, _ = gw.key(name="not-an-admin")
    for credential in (None, "wrong-admin-key", some_key):
        outsider = AdminClient(gw.url, credential)
        try:
            for method, path in (("GET", "/admin/keys"), ("POST", "/admin/keys"), ("GET", "/admin/usage")):
                assert outsider.call(method, path, {} if method == "POST" else None).status_code == 401
        finally:
            outsider.close()


def test_no_secret_or_digest_leaks_anywhere(gw: Gateway) -> None:
    _, revoked = gw.key(name="leak-check-revoked")
    gw.admin.revoke_key(revoked["id"])
    gw.key(name="leak-check")
    listed = gw.admin.call("GET", "/admin/keys?include_revoked=true", expect=200)
    pages = [gw.admin.call("GET", f"/admin/keys/{k['id']}", expect=200) for k in listed.json()["data"]]
    cli = run_cli("keys", "list", "--all", "--config", str(gw.config_path)).stdout
    texts = [listed.text, *(page.text for page in pages), cli, gw.server.log()]
    for secret in gw.secrets:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        for text in texts:
            assert secret not in text and digest not in text
    for item in listed.json()["data"]:
        assert "digest" not in item and "key" not in item


def test_budgets_survive_a_restart_seeded_from_the_ledger(gw: Gateway, fakes: Fakes) -> None:
    """Counters live in memory here: a new process starts each budget from what the ledger says was spent."""
    gw.admin.create_team("t-restart", limits={"budget": {"day": 1.5}})
    secret, _ = gw.key(name="restart", team_id="t-restart")
    anyone, _ = gw.key(name="model-budget")
    passed, spent, _ = _dear_requests_until_refused(oai(gw.url, secret), fakes, 1.5)
    model_passed, _, refusal = _dear_requests_until_refused(
        oai(gw.url, anyone), fakes, MODEL_BUDGET_USD, model="priced-capped"
    )
    assert passed >= 1 and model_passed >= 1 and "model 'priced-capped'" in refusal.message

    def written() -> bool:
        team = gw.admin.usage(group_by="team_id", team_id="t-restart", model="priced")
        model = gw.admin.usage(group_by="model", model="priced-capped")
        return team[0]["requests"] == passed + 1 and model[0]["requests"] == model_passed + 1

    wait_until(written, 3, "the ledger rows")
    gw.restart()
    team = gw.admin.call("GET", "/admin/teams/t-restart", expect=200).json()
    assert to_nano(team["budgets"][0]["spent_usd"]) == spent
    for key, model in ((secret, "priced"), (anyone, "priced-capped")):
        with pytest.raises(openai.RateLimitError) as refused:
            oai(gw.url, key).chat.completions.create(model=model, **chat("hi", max_tokens=2))
        assert refused.value.code == "budget_exceeded", model
    assert len(fakes.openai.requests) == passed + model_passed
