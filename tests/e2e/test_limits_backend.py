"""When Redis, the limits backend, cannot be reached: fail open on per-process limits, or fail closed.

The server is configured with ``limits.backend: redis`` at a port where nothing listens, so
every admission's round trip fails. ``fail_open`` must keep limiting (in memory) and answer;
``fail_closed`` must refuse with 503 before any provider is called.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.conftest import CLIENT_KEY, Fakes, Server, free_port, start_server, stop_server
from tests.e2e.limits_support import PROVIDER_ENV, providers_yaml


def _config(fakes: Fakes, tmp: Path, mode: str) -> str:
    return f"""
server:
  api_keys: ["{CLIENT_KEY}"]
storage: {{url: "sqlite:///{tmp}/bastion.db"}}
{providers_yaml(fakes)}
models:
  gpt-fake: {{provider: openai, model: gpt-4o-mini}}
limits:
  backend: redis
  redis_url: redis://127.0.0.1:{free_port()}/0
  on_backend_error: {mode}
  keys: {{requests_per_minute: 2}}
"""


@pytest.fixture(params=["fail_open", "fail_closed"])
def server(request: pytest.FixtureRequest, fakes: Fakes, tmp_path: Path) -> Iterator[tuple[str, Server]]:
    running = start_server(_config(fakes, tmp_path, request.param), tmp_path, PROVIDER_ENV)
    yield request.param, running
    stop_server(running)


def test_unreachable_redis_fails_open_on_local_limits_or_closed(
    server: tuple[str, Server], fakes: Fakes
) -> None:
    mode, running = server
    fakes.clear()
    client = openai.OpenAI(base_url=f"{running.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)
    outcomes = []
    for _ in range(3):
        try:
            client.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "hi"}])
            outcomes.append(200)
        except openai.APIStatusError as error:
            outcomes.append(error.status_code)
            last_error = error
    upstream = len(fakes.openai.requests)
    if mode == "fail_open":
        # the requests-per-minute limit still holds, enforced by this process alone
        assert outcomes == [200, 200, 429]
        assert upstream == 2
    else:
        assert outcomes == [503, 503, 503]
        assert upstream == 0
        body = last_error.response.json()
        assert body["error"]["code"] == "limits_unavailable"
        assert last_error.response.headers["retry-after"] == "1"
    metrics = httpx.get(f"{running.url}/metrics", timeout=5).text
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("bastion_limits_backend_errors_total") and f'action="{mode}"' in line
    ]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 3
    log = running.log()
    assert log.count("limits backend unreachable at start-up") == 1
    assert log.count("limits backend unreachable, ") == 1  # once per outage, not per request
    assert "redis://" not in log or "@" not in log  # no credentials in the log
