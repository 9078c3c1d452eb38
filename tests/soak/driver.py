"""The soak driver: a steady mix of requests through one real ``bastion serve``, and what it holds over time.

The gateway runs as its own process in front of the OpenAI fake, with limits (a key limit, a
budget and a model limit, all on Redis), the exact cache on Redis and the ledger on PostgreSQL
(SQLite when PostgreSQL is not reachable). Requests start at a fixed rate whatever the answers
take (an open loop): half of them streamed, a third repeatable (temperature 0, from a small set
of prompts, so the cache answers most of them after the first round), with end users and
features. Every ``sample_seconds`` the gateway's resident memory, open file descriptors and
TCP sockets (by peer: clients, upstream, Redis, PostgreSQL) are read from ``/proc``.

After ``warmup_seconds`` the run must hold: resident memory grows by at most ``max_rss_growth``
(the median of the last three samples against the median of the first three after warm-up),
file descriptors and sockets end within a few of where they started, no request fails, and the
ledger holds one row per request with none dropped. Linux only (``/proc``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from tests.e2e.conftest import Server, start_server, stop_server
from tests.fakes.openai_fake import OpenAIFake

POSTGRES_DSN = os.environ.get("BASTION_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BASTION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CLIENT_KEY = "sk-bastion-soak-0123456789"
ADMIN_KEY = "adm-bastion-soak-0123456789abcdef"
#: distinct repeatable prompts: the cache holds them all after the first round
REPEATABLE_PROMPTS = 40
END_USERS = 20
FEATURES = ("search", "chat", "summary", "triage")
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")


class SoakUnavailable(RuntimeError):
    """Something the soak needs (Redis, /proc) is not there."""


@dataclass(frozen=True)
class SoakSettings:
    seconds: float = 60.0
    rate: float = 25.0  # requests started per second
    warmup_seconds: float | None = None  # default: a fifth of the run, between 10 s and 120 s
    sample_seconds: float = 2.0
    storage: str = "auto"  # "postgres", "sqlite" or "auto" (PostgreSQL when reachable)
    max_rss_growth: float = 0.05
    fd_slack: int = 12  # file descriptors the end may hold above the start (requests in flight)
    socket_slack: int = 12
    chunk_gap_seconds: float = 0.005  # between the fake's stream chunks: streams stay open a while
    max_in_flight: int = 256

    @property
    def warmup(self) -> float:
        if self.warmup_seconds is not None:
            return self.warmup_seconds
        return min(120.0, max(10.0, self.seconds / 5))


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the load started
    rss_bytes: int
    fds: int
    sockets: dict[str, int]  # by peer: clients, upstream, redis, postgres, listening, other

    @property
    def connections(self) -> int:
        return sum(count for peer, count in self.sockets.items() if peer != "listening")


@dataclass
class SoakReport:
    settings: SoakSettings
    storage: str
    samples: list[Sample] = field(default_factory=list)
    sent: int = 0
    answered: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    cache: Counter[str] = field(default_factory=Counter)
    load_seconds: float = 0.0
    ledger_rows: int | None = None
    ledger_dropped: float | None = None

    # ----------------------------------------------------------------- judgement
    def _after_warmup(self) -> list[Sample]:
        return [sample for sample in self.samples if sample.t >= self.settings.warmup]

    def _ends(self, value: Any) -> tuple[float, float]:
        """(start, end) of a measure after warm-up: medians of the first and of the last three samples."""
        after = self._after_warmup()
        return statistics.median(map(value, after[:3])), statistics.median(map(value, after[-3:]))

    @property
    def rss_growth(self) -> float:
        start, end = self._ends(lambda sample: sample.rss_bytes)
        return (end - start) / start

    def problems(self) -> list[str]:
        """Every way the run failed its bounds; empty when it passed."""
        settings = self.settings
        found: list[str] = []
        if len(self._after_warmup()) < 6:
            return [
                f"only {len(self._after_warmup())} samples after warm-up: run longer or sample more often"
            ]
        if self.errors:
            found.append(f"{sum(self.errors.values())} requests failed: {dict(self.errors.most_common(5))}")
        if self.rss_growth > settings.max_rss_growth:
            start, end = self._ends(lambda sample: sample.rss_bytes)
            found.append(
                f"resident memory grew {self.rss_growth:.1%} after warm-up "
                f"({start / 2**20:.1f} -> {end / 2**20:.1f} MiB; bound {settings.max_rss_growth:.0%})"
            )
        fds = self._ends(lambda sample: sample.fds)
        if fds[1] - fds[0] > settings.fd_slack:
            found.append(f"open file descriptors grew from {fds[0]:.0f} to {fds[1]:.0f}")
        for peer in ("clients", "upstream", "redis", "postgres", "other"):
            start, end = self._ends(lambda sample, peer=peer: sample.sockets.get(peer, 0))
            if end - start > settings.socket_slack:
                found.append(f"sockets to {peer} grew from {start:.0f} to {end:.0f}")
        if self.ledger_dropped:
            found.append(f"the ledger dropped {self.ledger_dropped:.0f} rows")
        if self.ledger_rows is not None and self.ledger_rows != self.sent:
            found.append(f"the ledger holds {self.ledger_rows} rows for {self.sent} requests")
        return found

    # ----------------------------------------------------------------- figures
    def figures(self) -> dict[str, Any]:
        after = self._after_warmup()
        rss = self._ends(lambda sample: sample.rss_bytes)
        fds = self._ends(lambda sample: sample.fds)
        ordered = sorted(self.latencies_ms)

        def percentile(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

        hits = self.cache.get("hit", 0)
        return {
            "storage": self.storage,
            "seconds": round(self.load_seconds, 1),
            "warmup_seconds": self.settings.warmup,
            "sent": self.sent,
            "answered": self.answered,
            "errors": sum(self.errors.values()),
            "rate_per_second": round(self.sent / self.load_seconds, 1) if self.load_seconds else 0.0,
            "latency_ms": {"p50": round(percentile(0.5), 1), "p99": round(percentile(0.99), 1)},
            "cache_hit_share": round(hits / self.answered, 3) if self.answered else 0.0,
            "rss_mib": {
                "after_warmup": round(rss[0] / 2**20, 1),
                "end": round(rss[1] / 2**20, 1),
                "max": round(max(sample.rss_bytes for sample in after) / 2**20, 1),
                "growth": round(self.rss_growth, 4),
            },
            "fds": {"after_warmup": fds[0], "end": fds[1], "max": max(sample.fds for sample in after)},
            "sockets_end": after[-1].sockets,
            "connections": {
                "after_warmup": after[0].connections,
                "end": after[-1].connections,
                "max": max(sample.connections for sample in after),
            },
            "ledger_rows": self.ledger_rows,
            "ledger_dropped": self.ledger_dropped,
        }

    def table(self) -> str:
        """The samples, one line each (for the log of a run)."""
        lines = ["     t   rss MiB   fds  clients upstream redis postgres other"]
        for sample in self.samples:
            peers = sample.sockets
            lines.append(
                f"{sample.t:6.0f} {sample.rss_bytes / 2**20:9.1f} {sample.fds:5d} "
                f"{peers.get('clients', 0):8d} {peers.get('upstream', 0):8d} {peers.get('redis', 0):5d} "
                f"{peers.get('postgres', 0):8d} {peers.get('other', 0):5d}"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------- /proc


def _require_proc() -> None:
    if not os.path.isdir("/proc/self/fd"):
        raise SoakUnavailable("the soak reads /proc (Linux)")


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _socket_inodes(pid: int) -> tuple[int, set[int]]:
    """(open file descriptors, inodes of the sockets among them)."""
    fds = 0
    inodes: set[int] = set()
    folder = f"/proc/{pid}/fd"
    for name in os.listdir(folder):
        try:
            target = os.readlink(f"{folder}/{name}")
        except OSError:
            continue  # closed meanwhile
        fds += 1
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return fds, inodes


def _tcp_sockets(pid: int) -> dict[int, tuple[int, int, str]]:
    """Every TCP socket of the process's network namespace: inode -> (local port, remote port, state)."""
    sockets: dict[int, tuple[int, int, str]] = {}
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(FileNotFoundError), open(f"/proc/{pid}/net/{table}") as lines:
            next(lines)
            for line in lines:
                parts = line.split()
                local, remote, state, inode = parts[1], parts[2], parts[3], int(parts[9])
                sockets[inode] = (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16), state)
    return sockets


def sample_process(pid: int, t: float, ports: dict[str, int]) -> Sample:
    """One reading of ``pid``: memory, descriptors, and its TCP sockets by peer (``ports``: name -> port)."""
    fds, inodes = _socket_inodes(pid)
    tcp = _tcp_sockets(pid)
    by_port = {port: name for name, port in ports.items() if name != "clients"}
    peers: Counter[str] = Counter()
    for inode in inodes:
        found = tcp.get(inode)
        if found is None:
            peers["other"] += 1  # a Unix or UDP socket
            continue
        local_port, remote_port, state = found
        if state == "0A":
            peers["listening"] += 1
        elif local_port == ports["clients"]:
            peers["clients"] += 1
        else:
            peers[by_port.get(remote_port, "other")] += 1
    return Sample(t=t, rss_bytes=_rss_bytes(pid), fds=fds, sockets=dict(peers))


# --------------------------------------------------------------------------- state stores


def _redis_database() -> tuple[str, Any]:
    """A URL to an empty Redis database (the counters' key prefix is not configurable) and a client."""
    import redis

    parts = urlsplit(REDIS_URL)
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        raise SoakUnavailable(f"Redis unreachable at {REDIS_URL}: {error}") from None
    for number in random.sample(range(1, 16), 15):
        url = urlunsplit(parts._replace(path=f"/{number}"))
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        if client.dbsize() == 0:
            return url, client
        client.close()
    raise SoakUnavailable("no empty Redis database among 1-15")


@contextlib.asynccontextmanager
async def _storage(kind: str, folder: Path) -> AsyncIterator[tuple[str, str]]:
    """(storage URL, "postgres" | "sqlite"): a fresh PostgreSQL schema (dropped after) or a SQLite file."""
    if kind in ("postgres", "auto"):
        try:
            import asyncpg

            connection = await asyncpg.connect(POSTGRES_DSN, timeout=5)
        except Exception as error:
            if kind == "postgres":
                raise SoakUnavailable(f"PostgreSQL unreachable at {POSTGRES_DSN}: {error}") from None
        else:
            schema = f"bastion_soak_{secrets.token_hex(6)}"
            await connection.execute(f"CREATE SCHEMA {schema}")
            separator = "&" if "?" in POSTGRES_DSN else "?"
            try:
                yield f"{POSTGRES_DSN}{separator}search_path={schema}", "postgres"
            finally:
                await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                await connection.close()
            return
    yield f"sqlite:///{folder / 'bastion.db'}", "sqlite"


def config_yaml(upstream: str, storage_url: str, redis_url: str, cache_prefix: str) -> str:
    return f"""
server:
  api_keys: ["{CLIENT_KEY}"]
  admin_key: "{ADMIN_KEY}"
  graceful_shutdown_seconds: 5
providers:
  openai: {{type: openai, base_url: "{upstream}/v1", api_key: "sk-soak-upstream-0000"}}
models:
  gpt: {{provider: openai, model: gpt-4o-mini}}
storage:
  url: "{storage_url}"
  pool_max_size: 4
limits:
  backend: redis
  redis_url: "{redis_url}"
  keys:
    requests_per_minute: 1000000
    tokens_per_minute: 1000000000
    max_concurrent: 1000
    budget: {{day: 100000}}
  models:
    gpt: {{requests_per_minute: 1000000}}
cache:
  backend: redis
  redis_url: "{redis_url}"
  redis_prefix: "{cache_prefix}"
"""


# --------------------------------------------------------------------------- load


def request_for(index: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``index``-th request of the mix: its body and extra headers."""
    kind = index % 6
    headers: dict[str, str] = {}
    if kind in (2, 3):  # repeatable: the cache answers after the first round
        body: dict[str, Any] = {
            "temperature": 0,
            "messages": [{"role": "user", "content": f"repeatable question {index % REPEATABLE_PROMPTS}"}],
        }
    else:
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 30)))
        body = {"messages": [{"role": "user", "content": f"request {index}: {words}"}]}
    body.update(model="gpt", max_tokens=24, stream=kind in (0, 3, 4))
    if kind == 4:
        body["user"] = f"end-user-{index % END_USERS}"
    if kind == 5:
        headers["x-bastion-feature"] = FEATURES[index % len(FEATURES)]
    return body, headers


async def _one(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str], report: SoakReport
) -> None:
    started = time.perf_counter()
    try:
        async with client.stream("POST", url, json=body, headers=headers) as response:
            raw = await response.aread()
        if response.status_code != 200:
            report.errors[f"status {response.status_code}"] += 1
            return
        if body["stream"]:
            if not raw.rstrip().endswith(b"data: [DONE]") or b'"content"' not in raw:
                report.errors["incomplete stream"] += 1
                return
        elif not json.loads(raw)["choices"][0]["message"]["content"]:
            report.errors["empty answer"] += 1
            return
    except (httpx.HTTPError, ValueError, KeyError) as error:
        report.errors[type(error).__name__] += 1
        return
    report.answered += 1
    report.latencies_ms.append((time.perf_counter() - started) * 1000)
    report.cache[response.headers.get("x-bastion-cache", "none")] += 1


async def drive(server: Server, settings: SoakSettings, report: SoakReport, ports: dict[str, int]) -> None:
    """Start ``rate`` requests a second for ``seconds``, sampling the gateway meanwhile."""
    loop = asyncio.get_running_loop()
    rng = random.Random(7)
    url = f"{server.url}/v1/chat/completions"
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    in_flight: set[asyncio.Task[None]] = set()
    started = loop.time()

    async def sampler() -> None:
        while True:
            report.samples.append(sample_process(server.process.pid, loop.time() - started, ports))
            await asyncio.sleep(settings.sample_seconds)

    async with httpx.AsyncClient(
        headers={"authorization": f"Bearer {CLIENT_KEY}"}, timeout=30, limits=limits
    ) as client:
        sampling = asyncio.create_task(sampler())
        index = 0
        while (now := loop.time()) < started + settings.seconds:
            due = started + index / settings.rate
            if due > now:
                await asyncio.sleep(due - now)
            if len(in_flight) >= settings.max_in_flight:
                report.errors["client backlog (gateway too slow)"] += 1
            else:
                body, headers = request_for(index, rng)
                task = asyncio.create_task(_one(client, url, body, headers, report))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                report.sent += 1
            index += 1
        if in_flight:
            await asyncio.wait(in_flight, timeout=30)
        report.load_seconds = loop.time() - started
        report.samples.append(sample_process(server.process.pid, loop.time() - started, ports))
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling


async def _ledger(server: Server, report: SoakReport) -> None:
    """The ledger's row count (the admin usage report writes this replica's queue first) and drops."""
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=30) as client:
        usage = await client.get(f"{server.url}/admin/usage", params={"group_by": "model"})
        usage.raise_for_status()
        report.ledger_rows = sum(row["requests"] for row in usage.json()["data"])
        metrics = (await client.get(f"{server.url}/metrics")).text
    dropped = [line for line in metrics.splitlines() if line.startswith("bastion_ledger_rows_dropped_total ")]
    report.ledger_dropped = float(dropped[0].split()[1]) if dropped else 0.0


async def run_soak(settings: SoakSettings, folder: Path) -> SoakReport:
    """Start the fake and the gateway, drive the load, read the ledger: the report (see ``problems()``)."""
    _require_proc()
    redis_url, redis_client = _redis_database()
    fake = OpenAIFake().start()
    fake.chunk_gap_seconds = settings.chunk_gap_seconds
    server: Server | None = None
    try:
        async with _storage(settings.storage, folder) as (storage_url, storage):
            config = config_yaml(fake.url, storage_url, redis_url, f"bastion-soak-{secrets.token_hex(4)}:")
            server = await asyncio.to_thread(start_server, config, folder)
            report = SoakReport(settings=settings, storage=storage)
            ports = {
                "clients": int(server.url.rsplit(":", 1)[1]),
                "upstream": fake.port,
                "redis": urlsplit(redis_url).port or 6379,
                "postgres": urlsplit(POSTGRES_DSN).port or 5432,
            }
            clearing = asyncio.create_task(_clear_periodically(fake))
            try:
                await drive(server, settings, report, ports)
            finally:
                clearing.cancel()
            await _ledger(server, report)
            await asyncio.to_thread(stop_server, server)
            return report
    finally:
        if server is not None:
            await asyncio.to_thread(stop_server, server)
        fake.stop()
        redis_client.flushdb()
        redis_client.close()


async def _clear_periodically(fake: OpenAIFake) -> None:
    """The fake remembers every request; forget them now and then (the driver's memory is not measured,
    but it need not grow either)."""
    while True:
        await asyncio.sleep(30)
        fake.clear()  # keeps chunk_gap_seconds
