"""``bastion serve --workers 2`` as a real process tree, driven with the openai SDK.

Each worker logs with a ``[worker N]`` prefix and the supervisor logs every worker's pid and
readiness, so the log says which worker answered each request (``server.access_log``). Every
client below is a new connection: the kernel spreads connections over the workers' sockets.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.conftest import CLIENT_KEY, PROVIDER_KEYS, free_port
from tests.fakes.openai_fake import OpenAIFake

SERVE = [sys.executable, "-m", "bastion.cli", "serve"]
START_SECONDS = 20


@dataclass
class Workers:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    config_path: Path
    tmp: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pids(self) -> dict[int, int]:
        """The current pid of each worker slot, from the supervisor's log."""
        return {int(slot): int(pid) for slot, pid in re.findall(r"worker (\d+): pid (\d+)", self.log())}

    def answered_by(self) -> list[str]:
        return re.findall(r"\[worker (\d+)\] bastion\.access: ", self.log())

    def wait_for(self, pattern: str, count: int = 1) -> None:
        wait_until(lambda: len(re.findall(pattern, self.log())) >= count, f"{count} x {pattern!r}", self)


def wait_until(condition: Callable[[], bool], what: str, workers: Workers, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}; log:\n{workers.log()}")
        time.sleep(0.05)


def config_text(fake: OpenAIFake, *, models: str = "", limits: str = "limits: {per_process: true}") -> str:
    return f"""
server:
  api_keys: ["{CLIENT_KEY}"]
  access_log: true
  graceful_shutdown_seconds: 5
providers:
  openai: {{type: openai, base_url: "{fake.url}/v1", api_key: "{PROVIDER_KEYS["openai"]}"}}
models:
  gpt-fake: {{provider: openai, model: gpt-4o-mini}}
{models}
storage: {{url: "sqlite:///bastion.db"}}
{limits}
"""


def start_workers(config: str, tmp: Path, count: int = 2) -> Workers:
    port = free_port()
    config_path = tmp / "bastion.yaml"
    config_path.write_text(config)
    log_path = tmp / "server.log"
    (tmp / "scratch").mkdir(exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*SERVE, "--config", str(config_path), "--port", str(port), "--workers", str(count)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TMPDIR": str(tmp / "scratch")},  # where the metrics directory goes
            cwd=tmp,
        )
    workers = Workers(f"http://127.0.0.1:{port}", process, log_path, config_path, tmp)
    workers.wait_for(r"worker \d+ \(pid \d+\) ready", count)
    return workers


def stop(workers: Workers) -> int:
    if workers.process.poll() is None:
        workers.process.send_signal(signal.SIGTERM)
    return workers.process.wait(15)


def complete(workers: Workers, model: str = "gpt-fake", *, stream: bool = False) -> str:
    """One chat completion on a connection of its own; the answer's text."""
    with openai.OpenAI(base_url=f"{workers.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20) as client:
        messages = [{"role": "user", "content": "Say hello"}]
        if not stream:
            answer = client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
            return answer.choices[0].message.content or ""
        chunks = client.chat.completions.create(model=model, messages=messages, stream=True)  # type: ignore[arg-type]
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def attempts_total(workers: Workers) -> float:
    """Successful upstream attempts counted by all workers together, as one scrape reports them."""
    text = httpx.get(f"{workers.url}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("bastion_upstream_attempts_total{") and 'outcome="ok"' in line
    )


@pytest.fixture(scope="module")
def fake() -> Iterator[OpenAIFake]:
    started = OpenAIFake().start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def workers(fake: OpenAIFake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    running = start_workers(config_text(fake), tmp_path_factory.mktemp("workers"))
    yield running
    stop(running)


def test_both_workers_answer_and_metrics_add_up(workers: Workers) -> None:
    before_requests, before_attempts = len(workers.answered_by()), attempts_total(workers)
    for index in range(16):
        assert complete(workers, stream=index % 2 == 1)
    workers.wait_for(r"bastion\.access: ", before_requests + 16)
    answered = workers.answered_by()[before_requests:]
    assert sorted(set(answered)) == ["0", "1"], answered
    # each worker moves its counts into the shared files at least every second (telemetry/deferred.py)
    wait_until(lambda: attempts_total(workers) - before_attempts >= 16, "every worker's counts", workers, 3)
    for _ in range(4):  # whichever worker a scrape reaches, it reports every worker's counts
        assert attempts_total(workers) - before_attempts == 16


def test_sighup_reloads_every_worker(workers: Workers, fake: OpenAIFake) -> None:
    before = workers.log().count("config reloaded")
    workers.config_path.write_text(config_text(fake, models="  gpt-new: {provider: openai, model: gpt-4o}"))
    workers.process.send_signal(signal.SIGHUP)
    wait_until(lambda: workers.log().count("config reloaded") >= before + 2, "two reloads", workers)
    assert re.search(r"\[worker 0\] bastion: config reloaded", workers.log())
    assert re.search(r"\[worker 1\] bastion: config reloaded", workers.log())
    for _ in range(8):
        assert complete(workers, "gpt-new")


def test_a_killed_worker_is_replaced(workers: Workers) -> None:
    time.sleep(1.2)  # every worker has flushed its counts (a killed one loses at most its last second)
    attempts = attempts_total(workers)
    victim = workers.pids()[0]
    os.kill(victim, signal.SIGKILL)
    workers.wait_for(rf"worker 0 \(pid {victim}\) died \(signal SIGKILL\)")
    wait_until(lambda: workers.pids()[0] != victim, "a new worker 0", workers)
    workers.wait_for(rf"worker 0 \(pid {workers.pids()[0]}\) ready")
    for _ in range(10):
        assert complete(workers)
    # the dead worker's counts stay in the totals
    wait_until(lambda: attempts_total(workers) - attempts >= 10, "the new counts", workers, 3)
    assert attempts_total(workers) - attempts == 10


def test_sigterm_lets_streams_finish_and_exits_0(fake: OpenAIFake, tmp_path: Path) -> None:
    running = start_workers(config_text(fake), tmp_path)
    fake.chunk_gap_seconds = 0.05
    try:
        expected = complete(running, stream=True)
        fake.clear()
        results: list[str] = []
        streams = [
            threading.Thread(target=lambda: results.append(complete(running, stream=True))) for _ in range(4)
        ]
        for thread in streams:
            thread.start()
        wait_until(lambda: len(fake.requests) >= 4, "4 streams under way", running)
        time.sleep(0.1)
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(15) == 0
        for thread in streams:
            thread.join(5)
    finally:
        fake.chunk_gap_seconds = 0.0
        fake.clear()
    assert results == [expected] * 4
    assert "died" not in running.log()
    assert not list((tmp_path / "scratch").iterdir())  # the metrics directory is gone


def test_memory_limits_refuse_several_workers(fake: OpenAIFake, tmp_path: Path) -> None:
    config = tmp_path / "bastion.yaml"
    config.write_text(config_text(fake, limits="limits: {keys: {requests_per_minute: 100}}"))
    done = subprocess.run(
        [*SERVE, "--config", str(config), "--workers", "2", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=START_SECONDS,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "limits.backend: memory" in done.stderr
    assert "limits.per_process: true" in done.stderr
