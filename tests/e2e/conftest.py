"""End-to-end fixtures: the three provider fakes, and the real ``bastion serve`` process in front of them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.fakes.anthropic_fake import AnthropicFake
from tests.fakes.gemini_fake import GeminiFake
from tests.fakes.openai_fake import OpenAIFake

CLIENT_KEY = "sk-bastion-test-0123456789"
PROVIDER_KEYS = {
    "openai": "sk-upstream-openai-SECRET-1111",
    "anthropic": "sk-ant-upstream-SECRET-2222",
    "gemini": "AIza-upstream-SECRET-3333",
}


@dataclass
class Fakes:
    openai: OpenAIFake
    anthropic: AnthropicFake
    gemini: GeminiFake

    def clear(self) -> None:
        for fake in (self.openai, self.anthropic, self.gemini):
            fake.clear()


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(config_text: str, tmp: Path, env: dict[str, str] | None = None) -> Server:
    """Run ``bastion serve`` as a real process and wait until /readyz says ready."""
    port = free_port()
    config_path = tmp / "bastion.yaml"
    config_path.write_text(config_text)
    log_path = tmp / "server.log"
    process_env = {**os.environ, **(env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bastion.cli", "serve", "--config", str(config_path), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=process_env,
            cwd=tmp,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bastion exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return Server(url=url, process=process, log_path=log_path)
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"bastion did not become ready:\n{log_path.read_text()}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()


@pytest.fixture(scope="session")
def fakes() -> Iterator[Fakes]:
    started = Fakes(OpenAIFake().start(), AnthropicFake().start(), GeminiFake().start())
    yield started
    for fake in (started.openai, started.anthropic, started.gemini):
        fake.stop()


def gateway_config(fakes: Fakes) -> str:
    return f"""
server:
  api_keys: ["{CLIENT_KEY}"]
  max_body_bytes: 65536
  graceful_shutdown_seconds: 5
providers:
  openai:
    type: openai
    base_url: {fakes.openai.url}/v1
    api_key: ${{TEST_OPENAI_KEY}}
  azure:
    type: openai
    preset: azure
    base_url: {fakes.openai.url}/openai
    api_key: ${{TEST_OPENAI_KEY}}
    api_version: "2024-10-21"
  anthropic:
    type: anthropic
    base_url: {fakes.anthropic.url}
    api_key: ${{TEST_ANTHROPIC_KEY}}
  gemini:
    type: gemini
    base_url: {fakes.gemini.url}/v1beta
    api_key: ${{TEST_GEMINI_KEY}}
  sim:
    type: simulator
    seed: 7
  lastresort:
    type: static
    content: "The assistant is unavailable right now. Please try again later."
models:
  gpt-fake: {{provider: openai, model: gpt-4o-mini}}
  azure-fake: {{provider: azure, model: my-gpt4o-deployment}}
  claude-fake: {{provider: anthropic, model: claude-sonnet-4-5}}
  gemini-fake: {{provider: gemini, model: gemini-2.5-flash}}
  sim: {{provider: sim, model: sim-1}}
  static: {{provider: lastresort, model: canned}}
  broken-429: {{provider: openai, model: gpt-fault-429}}
  broken-401: {{provider: openai, model: gpt-fault-401}}
  broken-503: {{provider: anthropic, model: claude-fault-529}}
  failover:
    strategy: priority
    deployments:
      - {{provider: openai, model: gpt-fault-503}}
      - {{provider: anthropic, model: claude-sonnet-4-5}}
  emb-openai: {{provider: openai, model: text-embedding-3-small, kind: embeddings}}
  emb-gemini: {{provider: gemini, model: gemini-embedding-001, kind: embeddings}}
"""


@pytest.fixture(scope="session")
def server(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "TEST_OPENAI_KEY": PROVIDER_KEYS["openai"],
        "TEST_ANTHROPIC_KEY": PROVIDER_KEYS["anthropic"],
        "TEST_GEMINI_KEY": PROVIDER_KEYS["gemini"],
    }
    running = start_server(gateway_config(fakes), tmp_path_factory.mktemp("gateway"), env)
    yield running
    stop_server(running)


@pytest.fixture
def oai(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)


@pytest.fixture
def claude(server: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=CLIENT_KEY, max_retries=0, timeout=20)
