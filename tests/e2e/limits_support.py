"""Helpers for the keys, limits, budgets and replica end-to-end tests.

The admin API client, a webhook receiver for budget alerts, the ``bastion`` CLI as a subprocess,
bounded polling, and the providers/models part of the configs both test modules start from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import httpx
import openai

from tests.e2e.conftest import Fakes

ADMIN_KEY = "adm-e2e-limits-0123456789abcdef"
PROVIDER_ENV = {
    "TEST_OPENAI_KEY": "sk-upstream-openai-SECRET-1111",
    "TEST_ANTHROPIC_KEY": "sk-ant-upstream-SECRET-2222",
    "TEST_GEMINI_KEY": "AIza-upstream-SECRET-3333",
}
#: USD per 1M tokens on the "priced" deployments: every token costs ten cents, so a request costs dollars
DEAR_RATE = 100_000.0

T = TypeVar("T")


def providers_yaml(fakes: Fakes) -> str:
    return f"""
providers:
  openai:
    type: openai
    base_url: {fakes.openai.url}/v1
    api_key: ${{TEST_OPENAI_KEY}}
  anthropic:
    type: anthropic
    base_url: {fakes.anthropic.url}
    api_key: ${{TEST_ANTHROPIC_KEY}}
  gemini:
    type: gemini
    base_url: {fakes.gemini.url}/v1beta
    api_key: ${{TEST_GEMINI_KEY}}
"""


class AdminClient:
    """The ``/admin/{keys,users,teams,usage}`` API with the admin key; every call checks its status."""

    def __init__(self, url: str, admin_key: str | None = ADMIN_KEY) -> None:
        headers = {"authorization": f"Bearer {admin_key}"} if admin_key else {}
        self.http = httpx.Client(base_url=url, headers=headers, timeout=10)

    def call(self, method: str, path: str, body: Any = None, expect: int | None = None) -> httpx.Response:
        response = self.http.request(method, path, json=body)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response

    def create_team(self, team_id: str, limits: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.call("POST", "/admin/teams", {"id": team_id, "limits": limits}, 201).json()

    def create_user(
        self, user_id: str, team_id: str | None = None, limits: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = {"id": user_id, "team_id": team_id, "limits": limits}
        return self.call("POST", "/admin/users", body, 201).json()

    def create_key(self, **fields: Any) -> tuple[str, dict[str, Any]]:
        """A new key: its secret and what the API answered (secret included, this once)."""
        created = self.call("POST", "/admin/keys", fields, 201).json()
        return created["key"], created

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        return self.call("DELETE", f"/admin/keys/{key_id}", expect=200).json()

    def usage(self, **query: str) -> list[dict[str, Any]]:
        response = self.http.get("/admin/usage", params=query)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def close(self) -> None:
        self.http.close()


class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        events: list[dict[str, Any]] = []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                payload = json.loads(self.rfile.read(length) or b"null")
                with lock:
                    events.append(payload)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.events = events
        self._lock = lock
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/budget-alerts"

    def received(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._lock:
            return [event for event in self.events if predicate(event)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bastion.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **PROVIDER_ENV},
    )


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> tuple[T, float]:
    """Poll ``check`` until it returns something truthy; return it and the seconds it took."""
    started = time.monotonic()
    while True:
        result = check()
        elapsed = time.monotonic() - started
        if result:
            return result, elapsed
        if elapsed > timeout:
            raise AssertionError(f"{what}: not within {timeout} s (last: {result!r})")
        time.sleep(interval)


def oai(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=20)


def claude(url: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, timeout=20)


def status_of(url: str, key: str, model: str = "gpt-fake") -> tuple[int, str | None]:
    """One chat request: the status and the error code (None on success)."""
    response = httpx.post(
        f"{url}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 5},
        timeout=10,
    )
    code = None if response.status_code == 200 else response.json()["error"]["code"]
    return response.status_code, code


def metric_value(metrics_text: str, name: str, labels: dict[str, str]) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    for line in metrics_text.splitlines():
        if not line.startswith(name + "{"):
            continue
        label_text = line[len(name) + 1 : line.index("}")]
        found = dict(part.split("=", 1) for part in label_text.split(",") if part)
        if {k: v.strip('"') for k, v in found.items()} == labels:
            return float(line.rsplit(" ", 1)[1])
    return 0.0
