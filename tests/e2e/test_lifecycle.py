"""Process-level behaviour: dev mode, refusing to expose an open gateway, graceful SIGTERM, config check."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai

from tests.e2e.conftest import free_port, start_server, stop_server

SLOW_SIM = """
providers:
  sim: {type: simulator, ttft_ms: 50, tokens_per_second: 40, max_reply_tokens: 40, reply: "%s"}
models:
  slow: {provider: sim, model: slow-1}
"""
REPLY = " ".join(f"w{i}" for i in range(40))


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 30, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bastion.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def test_dev_mode_accepts_any_token_and_says_so(tmp_path: Path) -> None:
    server = start_server(SLOW_SIM % "hi there", tmp_path)
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="anything-goes", max_retries=0)
        reply = client.chat.completions.create(model="slow", messages=[{"role": "user", "content": "x"}])
        assert reply.choices[0].message.content == "hi there"
        assert "LOCAL DEVELOPMENT MODE" in server.log()
    finally:
        stop_server(server)


def test_refuses_to_bind_publicly_without_keys(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(SLOW_SIM % "x")
    result = run_cli("serve", "--config", str(config), "--host", "0.0.0.0", "--port", str(free_port()))
    assert result.returncode == 2
    assert "refusing to bind 0.0.0.0" in result.stderr


def test_sigterm_lets_in_flight_stream_finish(tmp_path: Path) -> None:
    server = start_server(SLOW_SIM % REPLY, tmp_path)
    received: list[str] = []
    finished = threading.Event()

    def consume() -> None:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0, timeout=30)
        for chunk in client.chat.completions.create(
            model="slow", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
        finished.set()

    consumer = threading.Thread(target=consume)
    consumer.start()
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        time.sleep(0.01)
    assert received, "the stream never started"
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # new connections are refused while the stream drains
    try:
        httpx.get(server.url + "/healthz", timeout=1)
        refused = False
    except httpx.HTTPError:
        refused = True
    consumer.join(20)
    assert finished.is_set()
    assert "".join(received).split() == REPLY.split()  # every token arrived
    assert server.process.wait(10) == 0
    assert refused


def test_config_check_accepts_every_example() -> None:
    examples = sorted(Path(__file__).parents[2].joinpath("examples").glob("*.yaml"))
    assert len(examples) >= 5
    names = [
        "BASTION_CLIENT_KEY",
        "BASTION_ADMIN_KEY",
        "OPENAI_API_KEY",
        "AZURE_OPENAI_RESOURCE",
        "AZURE_OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "GROQ_API_KEY",
        "TOGETHER_API_KEY",
        "MISTRAL_API_KEY",
        "DEEPSEEK_API_KEY",
    ]
    env = {name: "dummy-value" for name in names}
    for example in examples:
        result = run_cli("config", "check", str(example), env=env)
        assert result.returncode == 0, f"{example}: {result.stderr}"
        assert "OK" in result.stdout


def test_config_check_names_key_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "server:\n  port: 8080\n  prot: 1\nproviders:\n  p:\n    type: openai\n    timeout: fast\n"
        "models:\n  m: {provider: nope, model: x}\n"
    )
    result = run_cli("config", "check", str(bad))
    assert result.returncode == 1
    assert "server.prot (line 3): unknown key" in result.stderr
    assert "providers.p.timeout (line 7): unknown key" in result.stderr


def test_config_check_reports_unknown_provider_reference(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers:\n  p: {type: static, content: hi}\nmodels:\n  m: {provider: nope, model: x}\n")
    result = run_cli("config", "check", str(bad))
    assert result.returncode == 1
    assert "unknown provider 'nope'" in result.stderr


def test_zero_config_serves_the_simulator_loudly(tmp_path: Path) -> None:
    port = free_port()
    env_clean = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    process = subprocess.Popen(
        [sys.executable, "-m", "bastion.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env_clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=10)[0]
    assert "SIMULATOR" in output


def test_unreadable_key_file_stops_start_up_with_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "providers:\n  oa: {type: openai, api_key_file: /nonexistent/openai.key}\n"
        "models:\n  m: {provider: oa, model: x}\n"
    )
    result = run_cli("serve", "--config", str(config), "--port", str(free_port()))
    assert result.returncode == 1
    assert "providers.oa: api_key_file /nonexistent/openai.key: cannot read it" in result.stderr
    assert "Traceback" not in result.stderr


def test_azure_preset_without_base_url_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "providers:\n  az: {type: openai, preset: azure, api_key: k}\n"
        "models:\n  m: {provider: az, model: x}\n"
    )
    result = run_cli("serve", "--config", str(config), "--port", str(free_port()))
    assert result.returncode == 1
    assert "providers.az: base_url is required for preset 'azure'" in result.stderr
