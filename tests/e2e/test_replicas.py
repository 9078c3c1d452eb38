"""Three ``bastion serve`` replicas sharing one PostgreSQL schema and one Redis: limits hold in total.

Each run gets a fresh PostgreSQL schema (chosen with ``?search_path=`` in the storage URL, which
asyncpg passes to the server) and an empty Redis database (the counters' key prefix is not a
config setting), both removed afterwards. The replicas share keys, ledger and audit log
(PostgreSQL) and limits and the exact cache (Redis). Requests are spread round-robin over the
replicas, concurrently, streams included, and the totals are checked against what the provider
fakes billed. ``test_one_scenario_*`` checks the five things replicas must agree on in one run:
limits without overshoot, a cache entry shared, a revocation seen everywhere, the ledger exact,
the audit log verifying. Skipped, saying why, only when PostgreSQL or Redis cannot be reached.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from bastion.accounting.pricing import ModelPrice, PriceTable, request_cost
from bastion.accounting.tokens import TokenCounter
from bastion.limits.memory import to_nano
from tests.e2e.conftest import Fakes, Server, start_server, stop_server
from tests.e2e.limits_support import (
    ADMIN_KEY,
    DEAR_RATE,
    PROVIDER_ENV,
    AdminClient,
    WebhookReceiver,
    metric_value,
    providers_yaml,
    run_cli,
    status_of,
    wait_until,
)

asyncpg = pytest.importorskip("asyncpg")
redis = pytest.importorskip("redis")

POSTGRES_DSN = os.environ.get("BASTION_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BASTION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REPLICAS = 3
REFRESH_SECONDS = 0.5
DEAR_PRICE = ModelPrice(input=DEAR_RATE, output=DEAR_RATE)
AUDIT_KEY = secrets.token_urlsafe(32)
CACHE_PREFIX = "bastion-e2e-cache:"


@dataclass
class Cluster:
    replicas: list[Server]
    admin: AdminClient  # on the first replica
    webhook: WebhookReceiver
    config_path: Path  # the first replica's (they all have the same)
    schema: str
    redis: Any  # a client on the replicas' Redis database

    @property
    def urls(self) -> list[str]:
        return [replica.url for replica in self.replicas]


def _run(coroutine: Any) -> Any:
    """Run a coroutine to completion on a loop of its own (whatever loop this thread may have)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _postgres(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _query(schema: str, statement: str, *arguments: Any) -> list[Any]:
    connection = await asyncpg.connect(POSTGRES_DSN, timeout=5, server_settings={"search_path": schema})
    try:
        return list(await connection.fetch(statement, *arguments))
    finally:
        await connection.close()


def _redis_database() -> tuple[str, Any]:
    """A URL to an empty Redis database other than the one given, and a client on it."""
    parts = urlsplit(REDIS_URL)
    for number in random.sample(range(1, 16), 15):
        url = urlunsplit(parts._replace(path=f"/{number}"))
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        if client.dbsize() == 0:
            return url, client
        client.close()
    pytest.skip("no empty Redis database among 1-15 for the counters")


def replica_yaml(fakes: Fakes, storage_url: str, redis_url: str, webhook_url: str) -> str:
    return f"""
server:
  admin_key: "{ADMIN_KEY}"
  graceful_shutdown_seconds: 2
{providers_yaml(fakes)}
models:
  gpt-fake: {{provider: openai, model: gpt-4o-mini}}
  gpt-tpm: {{provider: openai, model: gpt-tpm-upstream, pricing: {{input: 0, output: 0}}}}
  priced:
    provider: openai
    model: gpt-dear
    pricing: {{input: {DEAR_RATE}, output: {DEAR_RATE}}}
storage:
  url: "{storage_url}"
  pool_max_size: 4
  ledger_flush_ms: 20
limits:
  backend: redis
  redis_url: "{redis_url}"
  on_backend_error: fail_closed
  identity_refresh_seconds: {REFRESH_SECONDS}
  alerts: {{thresholds: [0.8, 1.0], webhook_url: "{webhook_url}"}}
cache:
  backend: redis
  redis_url: "{redis_url}"
  redis_prefix: "{CACHE_PREFIX}"
audit:
  enabled: true
  signing_key: "{AUDIT_KEY}"
  flush_ms: 20
  checkpoint_every: 50
"""


@pytest.fixture(scope="module")
def cluster(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    try:
        _run(_postgres("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_DSN}: {error}")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {error}")

    schema = f"bastion_e2e_{secrets.token_hex(6)}"
    _run(_postgres(f"CREATE SCHEMA {schema}"))
    redis_url, counters = _redis_database()
    separator = "&" if "?" in POSTGRES_DSN else "?"
    webhook = WebhookReceiver()
    config = replica_yaml(fakes, f"{POSTGRES_DSN}{separator}search_path={schema}", redis_url, webhook.url)
    folders = [tmp_path_factory.mktemp(f"replica{n}") for n in range(REPLICAS)]
    replicas: list[Server] = []
    try:
        # started together: their migrations race on one empty schema, as a rollout's would
        with concurrent.futures.ThreadPoolExecutor(REPLICAS) as pool:
            starting = [pool.submit(start_server, config, folder, PROVIDER_ENV) for folder in folders]
            for future in starting:
                try:
                    replicas.append(future.result())
                except RuntimeError as error:
                    pytest.fail(str(error))
        admin = AdminClient(replicas[0].url)
        yield Cluster(replicas, admin, webhook, folders[0] / "bastion.yaml", schema, counters)
        admin.close()
    finally:
        for replica in replicas:
            stop_server(replica)
        webhook.close()
        _run(_postgres(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        counters.flushdb()
        counters.close()


@pytest.fixture(autouse=True)
def healthy_fakes(fakes: Fakes) -> Iterator[None]:
    fakes.clear()
    yield
    fakes.openai.chunk_gap_seconds = 0.0
    fakes.clear()


def known_everywhere(cluster: Cluster, secret: str) -> None:
    """Wait until every replica knows the key (an invalid body is a 400 once the key is known, else 401)."""

    def known() -> bool:
        for url in cluster.urls:
            response = httpx.post(
                f"{url}/v1/chat/completions",
                headers={"authorization": f"Bearer {secret}"},
                json={},
                timeout=5,
            )
            if response.status_code != 400:
                return False
        return True

    wait_until(known, REFRESH_SECONDS + 5, "every replica knows the key")


@dataclass
class Outcome:
    status: int
    code: str | None
    text: str
    request_id: str = ""


async def hammer(urls: list[str], secret: str, bodies: list[dict[str, Any]]) -> tuple[list[Outcome], float]:
    """Send every body at once, round-robin over the replicas; return the outcomes and the seconds it took."""
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(
        headers={"authorization": f"Bearer {secret}"}, timeout=30, limits=limits
    ) as client:

        async def one(index: int, body: dict[str, Any]) -> Outcome:
            url = f"{urls[index % len(urls)]}/v1/chat/completions"
            async with client.stream("POST", url, json=body) as response:
                raw = (await response.aread()).decode()
            request_id = response.headers["x-request-id"]
            if response.status_code != 200:
                return Outcome(response.status_code, json.loads(raw)["error"]["code"], raw, request_id)
            if body.get("stream"):
                assert raw.rstrip().endswith("data: [DONE]"), raw[-200:]
                text = "".join(
                    part["delta"].get("content") or ""
                    for line in raw.splitlines()
                    if line.startswith("data: {")
                    for part in json.loads(line[6:])["choices"]
                )
            else:
                text = json.loads(raw)["choices"][0]["message"]["content"]
            return Outcome(200, None, text, request_id)

        started = time.monotonic()
        outcomes = await asyncio.gather(*(one(i, body) for i, body in enumerate(bodies)))
        return list(outcomes), time.monotonic() - started


def bodies(model: str, count: int, text: str, max_tokens: int) -> list[dict[str, Any]]:
    """``count`` chat bodies, every other one streamed."""
    return [
        {
            "model": model,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": max_tokens,
            "stream": index % 2 == 1,
        }
        for index in range(count)
    ]


def _usage(bill: tuple[str, int, int]) -> dict[str, int]:
    return {"prompt_tokens": bill[1], "completion_tokens": bill[2]}


# --------------------------------------------------------------------------- tests


def test_requests_per_minute_is_exact_across_replicas_and_the_ledger_matches_the_bills(
    cluster: Cluster, fakes: Fakes
) -> None:
    limit = 30
    secret, created = cluster.admin.create_key(name="rpm", limits={"requests_per_minute": limit})
    known_everywhere(cluster, secret)
    outcomes, elapsed = asyncio.run(hammer(cluster.urls, secret, bodies("gpt-fake", 90, "hello there", 20)))

    passed = [o for o in outcomes if o.status == 200]
    refused = [o for o in outcomes if o.status != 200]
    # GCRA refills limit/60 a second: at most that many more than the limit can pass meanwhile
    assert limit <= len(passed) <= limit + int(elapsed * limit / 60), (len(passed), elapsed)
    assert {(o.status, o.code) for o in refused} == {(429, "requests_limit_exceeded")}
    assert {o.text for o in passed} == {"Echo: hello there"}
    assert len(fakes.openai.requests) == len(passed)  # nothing refused went upstream

    bills = list(fakes.openai.billed)
    assert len(bills) == len(passed)
    price = PriceTable.builtin().lookup("gpt-4o-mini")
    assert price is not None
    expected = (90, sum(b[1] for b in bills), sum(b[2] for b in bills))

    def totals(url: str) -> list[dict[str, Any]]:
        # (the probes of known_everywhere are on the ledger too, as 400s without a model)
        rows = AdminClient(url).usage(group_by="model", key_id=created["id"], model="gpt-fake")
        got = [(r["requests"], r["prompt_tokens"], r["completion_tokens"]) for r in rows]
        return rows if got == [expected] else []

    # every replica reports the ledger all of them wrote
    for url in cluster.urls:
        rows, _ = wait_until(lambda url=url: totals(url), 5, f"ledger totals on {url}")
        assert rows[0]["model"] == "gpt-fake" and rows[0]["errors"] == len(refused)
        assert rows[0]["cost_usd"] == pytest.approx(sum(request_cost(_usage(b), price).total for b in bills))


def test_token_limit_holds_across_replicas_under_concurrency(cluster: Cluster, fakes: Fakes) -> None:
    limit = 600
    secret, created = cluster.admin.create_key(name="tpm", limits={"tokens_per_minute": limit})
    known_everywhere(cluster, secret)
    text = "please repeat every single one of these twenty words back to me right now without any change"
    max_tokens = 5
    body = bodies("gpt-tpm", 1, text, max_tokens)[0]
    reservation = TokenCounter().count_chat(body) + max_tokens

    outcomes, elapsed = asyncio.run(hammer(cluster.urls, secret, bodies("gpt-tpm", 60, text, max_tokens)))

    passed = [o for o in outcomes if o.status == 200]
    refused = [o for o in outcomes if o.status != 200]
    bills = [b for b in fakes.openai.billed if b[0] == "gpt-tpm-upstream"]
    assert len(bills) == len(passed) >= 1 and refused
    assert {(o.status, o.code) for o in refused} == {(429, "tokens_limit_exceeded")}
    used = [b[1] + b[2] for b in bills]
    assert max(used) <= reservation  # each request stayed inside its reservation...
    # ...so all of them together stayed inside the limit (and what refilled meanwhile), though
    # 60 requests of this size would use several times the limit
    assert sum(used) <= limit + int(elapsed * limit / 60), (sum(used), elapsed)
    assert 60 * min(used) > 2 * limit

    def ledger() -> list[dict[str, Any]]:
        rows = cluster.admin.usage(group_by="key_id", key_id=created["id"], model="gpt-tpm")
        return rows if rows and rows[0]["requests"] == 60 else []

    rows, _ = wait_until(ledger, 5, "the key's ledger rows")
    assert rows[0]["prompt_tokens"] + rows[0]["completion_tokens"] == sum(used)


def test_hard_budget_holds_across_replicas_under_concurrency(cluster: Cluster, fakes: Fakes) -> None:
    budget = 3.0
    cluster.admin.create_team("t-replicas", limits={"budget": {"day": budget}})
    secret, _ = cluster.admin.create_key(name="budget", team_id="t-replicas")
    known_everywhere(cluster, secret)
    fakes.openai.chunk_gap_seconds = 0.02  # streams overlap for a while

    outcomes, _ = asyncio.run(hammer(cluster.urls, secret, bodies("priced", 40, "hi", 2)))

    passed = [o for o in outcomes if o.status == 200]
    refused = [o for o in outcomes if o.status != 200]
    assert passed and refused
    assert {(o.status, o.code) for o in refused} == {(429, "budget_exceeded")}
    bills = [b for b in fakes.openai.billed if b[0] == "gpt-dear"]
    assert len(bills) == len(passed)
    spent = sum(to_nano(request_cost(_usage(b), DEAR_PRICE).total) for b in bills)
    assert spent <= to_nano(budget)

    def ledger() -> list[dict[str, Any]]:
        rows = cluster.admin.usage(group_by="team_id", team_id="t-replicas", model="priced")
        return rows if rows and rows[0]["requests"] == 40 else []

    rows, _ = wait_until(ledger, 5, "the team's ledger rows")
    assert to_nano(rows[0]["cost_usd"]) == spent and rows[0]["errors"] == len(refused)
    # the shared counter holds exactly what was spent once every reservation is settled
    for url in cluster.urls:
        team = AdminClient(url).call("GET", "/admin/teams/t-replicas", expect=200).json()
        assert to_nano(team["budgets"][0]["spent_usd"]) == spent, url


def test_soft_budget_alerts_once_per_threshold_across_replicas(cluster: Cluster, fakes: Fakes) -> None:
    cluster.admin.create_team("t-soft-replicas", limits={"budget": {"day": 0.5, "mode": "soft"}})
    secret, _ = cluster.admin.create_key(name="soft", team_id="t-soft-replicas")
    known_everywhere(cluster, secret)

    def alerts() -> dict[str, float]:
        totals = {"0.8": 0.0, "1": 0.0}
        for url in cluster.urls:
            text = httpx.get(f"{url}/metrics", timeout=5).text
            for threshold in totals:
                labels = {"scope": "team", "period": "day", "threshold": threshold}
                totals[threshold] += metric_value(text, "bastion_budget_alerts_total", labels)
        return totals

    before = alerts()
    outcomes, _ = asyncio.run(hammer(cluster.urls, secret, bodies("priced", 12, "hi", 2)))
    assert {o.status for o in outcomes} == {200}  # soft: over budget, still served

    def mine() -> list[dict[str, Any]]:
        return cluster.webhook.received(lambda event: event.get("id") == "t-soft-replicas")

    wait_until(lambda: len(mine()) >= 2, 5, "the alerts")
    time.sleep(0.3)  # a duplicate from another replica would have arrived by now
    assert sorted(event["threshold"] for event in mine()) == [0.8, 1.0]
    after = alerts()
    assert {t: after[t] - before[t] for t in after} == {"0.8": 1.0, "1": 1.0}
    logged = [
        line
        for replica in cluster.replicas
        for line in replica.log().splitlines()
        if "budget alert: team t-soft-replicas" in line
    ]
    assert len(logged) == 2, logged


def test_concurrency_limit_is_shared_by_the_replicas(cluster: Cluster, fakes: Fakes) -> None:
    secret, _ = cluster.admin.create_key(name="conc", limits={"max_concurrent": 2})
    known_everywhere(cluster, secret)
    fakes.openai.chunk_gap_seconds = 0.15
    headers = {"authorization": f"Bearer {secret}"}
    body = {
        "model": "gpt-fake",
        "stream": True,
        "messages": [{"role": "user", "content": "one two three four"}],
    }
    with httpx.Client(headers=headers, timeout=20) as client:
        with (
            client.stream("POST", f"{cluster.urls[0]}/v1/chat/completions", json=body) as first,
            client.stream("POST", f"{cluster.urls[1]}/v1/chat/completions", json=body) as second,
        ):
            assert first.status_code == second.status_code == 200
            third = client.post(f"{cluster.urls[2]}/v1/chat/completions", json=body)
            assert third.status_code == 429 and third.json()["error"]["code"] == "concurrency_limit_exceeded"
            for stream in (first, second):
                assert stream.read().rstrip().endswith(b"data: [DONE]")
        fakes.openai.chunk_gap_seconds = 0.0
        # the slots are released on the replicas that held them
        wait_until(
            lambda: client.post(f"{cluster.urls[2]}/v1/chat/completions", json=body).status_code == 200,
            3,
            "a free slot",
        )
    assert len(fakes.openai.requests) == 3


def test_a_key_revoked_on_one_replica_is_refused_by_all(cluster: Cluster) -> None:
    secret, created = cluster.admin.create_key(name="doomed")
    known_everywhere(cluster, secret)
    for url in cluster.urls:
        assert status_of(url, secret) == (200, None)
    cluster.admin.revoke_key(created["id"])
    assert status_of(cluster.urls[0], secret) == (401, "revoked_api_key")
    for url in cluster.urls[1:]:
        _, took = wait_until(
            lambda url=url: status_of(url, secret) == (401, "revoked_api_key"), 5, f"revoked on {url}"
        )
        assert took < REFRESH_SECONDS + 2.0, f"{url} refused it only after {took:.2f} s"


class RoundRobin:
    """The tiny load balancer in front of the replicas: each request goes to the next one in turn."""

    def __init__(self, urls: list[str], secret: str) -> None:
        self.urls = urls
        self.turn = 0
        self.http = httpx.Client(headers={"authorization": f"Bearer {secret}"}, timeout=20)

    def chat(self, body: dict[str, Any]) -> httpx.Response:
        url = self.urls[self.turn % len(self.urls)]
        self.turn += 1
        response = self.http.post(f"{url}/v1/chat/completions", json=body)
        response.read()
        return response

    def close(self) -> None:
        self.http.close()


def _dropped_rows(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    samples = [line for line in text.splitlines() if line.startswith("bastion_ledger_rows_dropped_total ")]
    return float(samples[0].split()[1]) if samples else 0.0


def test_one_scenario_limits_cache_revocation_ledger_and_audit_hold_across_replicas(
    cluster: Cluster, fakes: Fakes
) -> None:
    limit = 30
    limited_secret, limited = cluster.admin.create_key(
        name="all-limited", limits={"requests_per_minute": limit}
    )
    secret, cached = cluster.admin.create_key(name="all-cached")
    known_everywhere(cluster, limited_secret)
    known_everywhere(cluster, secret)

    # 1. limits: 90 requests at once, round-robin, half of them streamed; none past the shared limit
    outcomes, elapsed = asyncio.run(
        hammer(cluster.urls, limited_secret, bodies("gpt-fake", 90, "all of you", 20))
    )
    passed = [o for o in outcomes if o.status == 200]
    refused = [o for o in outcomes if o.status != 200]
    assert limit <= len(passed) <= limit + int(elapsed * limit / 60), (len(passed), elapsed)
    assert {(o.status, o.code) for o in refused} == {(429, "requests_limit_exceeded")}
    assert len(fakes.openai.requests) == len(fakes.openai.billed) == len(passed)  # nothing refused went up
    price = PriceTable.builtin().lookup("gpt-4o-mini")
    assert price is not None
    limited_cost = sum(request_cost(_usage(bill), price).total for bill in fakes.openai.billed)

    # 2. cache: what replica 0 stored in Redis is a hit on replicas 1 and 2, streamed or not
    balancer = RoundRobin(cluster.urls, secret)
    mark = secrets.token_hex(6)
    question = {
        "model": "gpt-fake",
        "temperature": 0,
        "max_tokens": 20,
        "messages": [{"role": "user", "content": f"remember {mark}"}],
    }
    entries = len(list(cluster.redis.scan_iter(f"{CACHE_PREFIX}*")))
    first = balancer.chat(question)
    assert (first.status_code, first.headers["x-bastion-cache"]) == (200, "miss")
    wait_until(lambda: len(list(cluster.redis.scan_iter(f"{CACHE_PREFIX}*"))) > entries, 5, "the cache entry")
    second = balancer.chat(question)
    third = balancer.chat({**question, "stream": True})
    assert (second.status_code, second.headers["x-bastion-cache"]) == (200, "hit")
    assert (third.status_code, third.headers["x-bastion-cache"]) == (200, "hit")
    answer = first.json()["choices"][0]["message"]["content"]
    assert second.json()["choices"][0]["message"]["content"] == answer
    assert answer in "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in third.text.splitlines()
        if line.startswith("data: {") and json.loads(line[6:])["choices"]
    )
    asked = [request for request in fakes.openai.requests if mark in json.dumps(request.json)]
    assert len(asked) == 1  # one upstream call for three answers
    cache_bill = fakes.openai.billed[-1]

    # 3. a key revoked on replica 1 is refused by every replica within seconds, cached answers too
    AdminClient(cluster.urls[1]).revoke_key(cached["id"])
    for url in cluster.urls:
        _, took = wait_until(
            lambda url=url: status_of(url, secret) == (401, "revoked_api_key"), 5, f"revoked on {url}"
        )
        assert took < REFRESH_SECONDS + 2.0, f"{url} refused it only after {took:.2f} s"
    for _ in cluster.urls:
        assert balancer.chat(question).status_code == 401
    balancer.close()

    # 4. the ledger in PostgreSQL: one row per request sent, costs as billed, nothing dropped
    sent = {o.request_id for o in outcomes}
    assert len(sent) == 90

    def limited_rows() -> list[Any]:
        rows = _run(
            _query(
                cluster.schema,
                "SELECT request_id, status, cost_usd FROM ledger WHERE key_id = $1 AND model = 'gpt-fake'",
                limited["id"],
            )
        )
        return rows if len(rows) >= 90 else []

    rows, _ = wait_until(limited_rows, 10, "the limited key's ledger rows")
    assert {row["request_id"] for row in rows} == sent and len(rows) == 90
    assert sum(1 for row in rows if row["status"] == 429) == len(refused)
    assert sum(row["cost_usd"] for row in rows) == pytest.approx(limited_cost, rel=1e-12, abs=1e-12)
    cache_ids = [response.headers["x-request-id"] for response in (first, second, third)]
    cache_rows = _run(
        _query(
            cluster.schema,
            "SELECT request_id, cache_hit, cost_usd, cost_saved_usd FROM ledger WHERE request_id = ANY($1)",
            cache_ids,
        )
    )
    by_id = {row["request_id"]: row for row in cache_rows}
    assert by_id[cache_ids[0]]["cost_usd"] == pytest.approx(request_cost(_usage(cache_bill), price).total)
    for request_id in cache_ids[1:]:
        assert by_id[request_id]["cache_hit"] == "hit" and by_id[request_id]["cost_usd"] == 0
        assert by_id[request_id]["cost_saved_usd"] == pytest.approx(by_id[cache_ids[0]]["cost_usd"])
    assert [_dropped_rows(url) for url in cluster.urls] == [0.0] * len(cluster.urls)

    # 5. the audit log: every one of those requests is chained, and `bastion audit verify` passes
    wanted = sent | set(cache_ids)

    def audited() -> bool:
        found = _run(
            _query(
                cluster.schema,
                "SELECT DISTINCT request_id FROM audit_entries "
                "WHERE kind = 'request' AND request_id = ANY($1)",
                list(wanted),
            )
        )
        return len(found) == len(wanted)

    wait_until(audited, 10, "the scenario's audit entries")
    chains = _run(_query(cluster.schema, "SELECT count(DISTINCT chain_id) FROM audit_entries"))[0][0]
    assert chains >= len(cluster.urls)  # each replica writes its own chains
    verified = run_cli("audit", "verify", "--json", "--config", str(cluster.config_path), timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"]


def test_the_replicas_keep_a_week_of_ledger_partitions_ahead(cluster: Cluster) -> None:
    def partitions() -> list[str]:
        rows = _run(
            _query(
                cluster.schema,
                "SELECT c.relname FROM pg_inherits JOIN pg_class c ON c.oid = inhrelid "
                "WHERE inhparent = 'ledger'::regclass AND c.relname LIKE 'ledger_p%' ORDER BY 1",
            )
        )
        names = [row[0] for row in rows]
        return names if len(names) >= 9 else []

    names, _ = wait_until(partitions, 10, "the partitions made at start-up")
    today = datetime.now(UTC).date()  # a week ahead from start-up: from today, six more (midnight may pass)
    days = {f"ledger_p{today + timedelta(days=offset):%Y%m%d}" for offset in range(7)}
    assert days <= set(names), (sorted(days), names)
    empty = _run(_query(cluster.schema, "SELECT count(*) FROM ledger_default"))[0][0]
    assert empty == 0  # every row went to its day
