#!/usr/bin/env python3
"""The exact cache through the real server: hit latency against the direct mock, and hit throughput.

Starts, all on 127.0.0.1: the OpenAI fake (``tests.fakes.serve``) as "the provider", and
``bastion serve`` in front of it with the default cache (in memory, repeatable requests).
Then, for the same ~200-token chat request (temperature 0, answer ~200 tokens):

* latency, one request at a time on a keep-alive connection (stdlib ``http.client``, so the
  client costs little and the same for every row): the mock directly; Bastion answering from
  its cache (hit); Bastion going upstream with the cache bypassed (temperature 0.7);
* throughput with wrk (if installed): cache hits through Bastion, and the mock directly.

Printed: p50 / p99 per row, the hit's difference to the direct mock, and requests per second.

    .venv/bin/python bench/cache.py [--requests 3000] [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROMPT = (
    "Please summarise the following text in two sentences for a busy engineering manager. "
    "Our team spent the last quarter migrating the order processing service from a single "
    "monolithic database to a set of smaller services, each owning its own storage. The "
    "migration was planned in four phases: first we added change data capture on the old "
    "tables, then we built read models in the new services, then we moved writes behind a "
    "feature flag, and finally we removed the old code paths. Most of the work went as planned."
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, path: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a benchmark process exited early ({process.args})")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", path)
            if connection.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} never became ready")


def body(temperature: float) -> bytes:
    return json.dumps(
        {
            "model": "gpt-4o-mini",
            "temperature": temperature,
            "max_tokens": 200,
            "messages": [{"role": "user", "content": PROMPT}],
        }
    ).encode()


def latencies(port: int, path: str, payload: bytes, requests: int, expect_cache: str | None) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
    samples = []
    for index in range(requests + requests // 10):
        start = time.perf_counter()
        connection.request("POST", path, payload, headers)
        response = connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - start
        if response.status != 200:
            raise SystemExit(f"status {response.status} from port {port}")
        if expect_cache is not None and response.getheader("x-bastion-cache") != expect_cache:
            raise SystemExit(
                f"expected x-bastion-cache: {expect_cache}, got {response.getheader('x-bastion-cache')}"
            )
        if index >= requests // 10:  # the first tenth warms up
            samples.append(elapsed * 1000)
    connection.close()
    return samples


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def wrk(port: int, path: str, payload: bytes, seconds: int, connections: int) -> float | None:
    if shutil.which("wrk") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(payload.decode())}\n"
            'wrk.headers["content-type"] = "application/json"\n'
            'wrk.headers["authorization"] = "Bearer sk-bench"\n'
        )
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "-s",
                script.name,
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
        ).stdout
    finally:
        os.unlink(script.name)
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(found.group(1)) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bastion-cache-bench-"))
    mock_port, gateway_port = free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        mock = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.serve", "--kind", "openai", "--port", str(mock_port)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(mock)
        wait_ready(mock_port, "/_stats", mock)
        config = work / "bastion.yaml"
        config.write_text(
            "providers:\n"
            f"  mock: {{type: openai, base_url: 'http://127.0.0.1:{mock_port}/v1', api_key: sk-mock}}\n"
            "models:\n"
            "  gpt-4o-mini: {provider: mock, model: gpt-4o-mini}\n"
            "server: {log_level: warning}\n"
        )
        gateway = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bastion.cli",
                "serve",
                "--config",
                str(config),
                "--port",
                str(gateway_port),
            ],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(gateway)
        wait_ready(gateway_port, "/readyz", gateway)

        cached, uncached = body(0), body(0.7)
        latencies(gateway_port, "/v1/chat/completions", cached, 1, None)  # fill the cache
        rows = {
            "direct mock": latencies(mock_port, "/v1/chat/completions", cached, args.requests, None),
            "bastion, cache hit": latencies(
                gateway_port, "/v1/chat/completions", cached, args.requests, "hit"
            ),
            "bastion, bypass (upstream)": latencies(
                gateway_port, "/v1/chat/completions", uncached, args.requests, "bypass"
            ),
        }
        print(f"latency, one request at a time, {args.requests} requests each (ms):")
        for name, samples in rows.items():
            print(f"  {name:28s} p50 {quantile(samples, 0.5):7.3f}   p99 {quantile(samples, 0.99):7.3f}")
        direct, hit = rows["direct mock"], rows["bastion, cache hit"]
        print(
            "  hit - direct mock          "
            f"p50 {quantile(hit, 0.5) - quantile(direct, 0.5):+7.3f}   "
            f"p99 {quantile(hit, 0.99) - quantile(direct, 0.99):+7.3f}"
        )
        hits_rps = wrk(gateway_port, "/v1/chat/completions", cached, args.seconds, args.connections)
        direct_rps = wrk(mock_port, "/v1/chat/completions", cached, args.seconds, args.connections)
        if hits_rps is None or direct_rps is None:
            print("throughput: skipped (install wrk)")
        else:
            print(f"throughput, wrk -c{args.connections} for {args.seconds} s (requests/s):")
            print(f"  bastion, cache hits          {hits_rps:10.0f}")
            print(f"  direct mock                  {direct_rps:10.0f}")
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
