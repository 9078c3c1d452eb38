"""Zero requests lost from the request log under load: count in = count stored.

Starts ``bastion serve`` on the in-process simulator with the request log (ledger) and metrics
on, sends a fixed number of requests (a quarter of them streams) at a fixed concurrency, stops
the server with SIGTERM (graceful: the writer flushes what is queued), then counts the rows the
database holds. Every request must be there exactly once.

    .venv/bin/python bench/telemetry/ledger_count.py [--requests 20000] [--concurrency 64]
        [--storage postgresql://postgres@127.0.0.1:5432/test?search_path=ledger_count]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

KEY = "sk-ledger-count-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _drive(url: str, total: int, concurrency: int) -> tuple[int, int]:
    sent = answered = 0
    headers = {"authorization": f"Bearer {KEY}"}

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal sent, answered
        while sent < total:
            sent += 1
            n = sent
            body = {
                "model": "sim",
                "messages": [{"role": "user", "content": f"request {n}: summarise the ledger design"}],
                "stream": n % 4 == 0,
            }
            async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as response:
                await response.read()
                answered += response.status == 200

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return sent, answered


async def _count_postgres(url: str) -> int:
    import asyncpg

    schema = url.split("search_path=", 1)[1] if "search_path=" in url else "public"
    connection = await asyncpg.connect(url.split("?", 1)[0], server_settings={"search_path": schema})
    try:
        return int(await connection.fetchval("SELECT count(*) FROM ledger"))
    finally:
        await connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--storage", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ledger-count-"))
    storage = args.storage or f"sqlite:///{workdir}/ledger.db"
    config = workdir / "bastion.yaml"
    config.write_text(
        f"""server: {{api_keys: ["{KEY}"], log_level: warning}}
providers: {{sim: {{type: simulator, seed: 1}}}}
models: {{sim: {{provider: sim, model: sim-1}}}}
cache: {{mode: "off"}}
storage: {{url: "{storage}", ledger: true}}
"""
    )
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bastion.cli", "serve", "--config", str(config), "--port", str(port)],
        cwd=workdir,
        env={**os.environ},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        started = time.perf_counter()
        sent, answered = asyncio.run(_drive(url, args.requests, args.concurrency))
        elapsed = time.perf_counter() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    if storage.startswith("sqlite"):
        with sqlite3.connect(workdir / "ledger.db") as connection:
            stored = connection.execute("SELECT count(*) FROM ledger").fetchone()[0]
    else:
        stored = asyncio.run(_count_postgres(storage))
    lost = answered - stored
    print(
        f"sent {sent:,}  answered {answered:,}  stored {stored:,}  lost {lost:,}  "
        f"({sent / elapsed:,.0f} req/s, concurrency {args.concurrency}, {storage.split(':', 1)[0]})"
    )
    return 0 if lost == 0 and answered == sent else 1


if __name__ == "__main__":
    raise SystemExit(main())
