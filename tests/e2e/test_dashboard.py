"""The live dashboard end to end: the real server, traffic through the OpenAI SDK, headless Chromium.

Chromium is Debian's (``apt-get install chromium``), driven by Playwright for Python with
``executable_path``: no browser is downloaded. Without either, the browser test is skipped and
says why; the JSON API is still checked. A screenshot is kept in ``$BASTION_ARTEFACTS`` (else
the test's temporary directory); with ``BASTION_UPDATE_DOCS_SCREENSHOT=1`` it also replaces
``docs/img/dashboard.png``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.conftest import Fakes, Server, start_server, stop_server
from tests.e2e.limits_support import ADMIN_KEY, PROVIDER_ENV, oai, providers_yaml, wait_until

CLIENT_KEY = "sk-dashboard-e2e-0123456789"
CHROMIUM = os.environ.get("BASTION_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "dashboard.png"


def dashboard_yaml(fakes: Fakes, tmp: Path) -> str:
    return f"""
server:
  admin_key: "{ADMIN_KEY}"
  api_keys: ["{CLIENT_KEY}"]
  graceful_shutdown_seconds: 2
storage:
  url: sqlite:///{tmp}/bastion.db
  ledger_flush_ms: 50
{providers_yaml(fakes)}
models:
  gpt-fake: {{provider: openai, model: gpt-4o-mini}}
  claude-fake: {{provider: anthropic, model: claude-sonnet-4-5}}
  flaky:
    retry: {{max_attempts: 1}}
    fallbacks: [claude-fake]
    deployments: [{{provider: openai, model: gpt-fault-503}}]
  broken: {{provider: openai, model: gpt-fault-400}}
"""


@pytest.fixture(scope="module")
def gateway(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("dashboard")
    running = start_server(dashboard_yaml(fakes, tmp), tmp, env=PROVIDER_ENV)
    yield running
    stop_server(running)


def _chat(gateway: Server, model: str, feature: str, stream: bool = False) -> str:
    client = oai(gateway.url, CLIENT_KEY)
    messages = [{"role": "user", "content": f"hello from {feature}"}]
    headers = {"x-bastion-feature": feature}
    if stream:
        with client.chat.completions.with_streaming_response.create(
            model=model, messages=messages, stream=True, extra_headers=headers
        ) as response:
            for _ in response.iter_lines():
                pass
            return response.headers["x-request-id"]
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=messages, extra_headers=headers
    )
    raw.parse()
    return raw.headers["x-request-id"]


@pytest.fixture(scope="module")
def traffic(gateway: Server) -> dict[str, Any]:
    """Requests of every kind the panels show: plain, streamed, fallen back, failed, scored."""
    ids = [_chat(gateway, "gpt-fake", "chat") for _ in range(4)]
    ids += [_chat(gateway, "gpt-fake", "search", stream=True) for _ in range(2)]
    ids += [_chat(gateway, "claude-fake", "summaries") for _ in range(3)]
    ids += [_chat(gateway, "flaky", "chat") for _ in range(2)]  # answered by claude-fake, a fallback
    with pytest.raises(openai.BadRequestError):
        _chat(gateway, "broken", "chat")
    feedback = httpx.post(
        f"{gateway.url}/v1/feedback",
        headers={"authorization": f"Bearer {CLIENT_KEY}"},
        json={"request_id": ids[0], "score": 1},
        timeout=10,
    )
    assert feedback.status_code == 200, feedback.text
    return {"sent": len(ids) + 1, "ids": ids}


def _api(gateway: Server, path: str, key: str | None = ADMIN_KEY) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.get(f"{gateway.url}/dashboard/api/{path}", headers=headers, timeout=10)


def _overview(gateway: Server) -> dict[str, Any]:
    response = _api(gateway, "overview?range=1h")
    assert response.status_code == 200, response.text
    return response.json()


def test_the_api_reports_the_traffic_from_rollups(gateway: Server, traffic: dict[str, Any]) -> None:
    sent = traffic["sent"]
    overview, _ = wait_until(
        lambda: (data := _overview(gateway))["totals"]["requests"] == sent and data,
        10,
        "the overview counts every request sent",
    )
    totals = overview["totals"]
    assert totals["fallbacks"] == 2 and totals["errors"] == 1
    assert totals["prompt_tokens"] > 0 and totals["cost_usd"] > 0
    assert totals["latency_ms"]["p50"] is not None and totals["ttft_ms"]["p95"] is not None
    assert sum(overview["series"]["requests"]) == sent

    deployments = {(row["model"], row["deployment"]): row for row in overview["deployments"]}
    assert deployments[("gpt-fake", "gpt-4o-mini")]["requests"] == 6
    assert deployments[("gpt-fake", "gpt-4o-mini")]["live"]["breaker"]["state"] == "closed"
    # the fallback's answers count under the group asked for, beside the deployment that answered
    assert deployments[("flaky", "claude-sonnet-4-5")]["fallbacks"] == 2

    spend = _api(gateway, "spend?days=7&by=feature").json()
    assert {row["value"] for row in spend["models"]} >= {"gpt-fake", "claude-fake", "flaky"}
    (spender,) = spend["spenders"]  # the one static key from the config (no user or team)
    assert (spender["requests"], spender["user_id"]) == (sent, None)
    assert {series["name"] for series in spend["series"]} == {"chat", "search", "summaries"}
    assert spend["totals"]["requests"] == sent

    requests = _api(gateway, "requests?limit=50").json()["data"]
    assert len(requests) == sent
    flaky = [row for row in requests if row["model"] == "flaky"]
    assert [row["fallbacks"] for row in flaky] == [["claude-fake"], ["claude-fake"]]
    assert "end_user" not in requests[0]

    (scored,) = _api(gateway, "feedback?range=1h").json()["data"]
    assert (scored["model"], scored["count"], scored["mean_score"]) == ("gpt-fake", 1, 1.0)


def test_the_api_refuses_a_missing_or_wrong_key(gateway: Server) -> None:
    for key in (None, "not-the-admin-key", CLIENT_KEY):
        response = _api(gateway, "overview", key)
        assert response.status_code == 401, (key, response.text)
    assert _api(gateway, "overview?range=2y").status_code == 400


def test_the_page_is_public_and_holds_no_data(gateway: Server, traffic: dict[str, Any]) -> None:
    page = httpx.get(f"{gateway.url}/dashboard", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "gpt-fake" not in page.text and traffic["ids"][0] not in page.text
    script = httpx.get(f"{gateway.url}/dashboard/dashboard.js", headers={"accept-encoding": "gzip"})
    assert script.status_code == 200 and script.headers["content-encoding"] == "gzip"
    again = httpx.get(
        f"{gateway.url}/dashboard/dashboard.js", headers={"if-none-match": script.headers["etag"]}
    )
    assert again.status_code == 304


def _browser() -> Any:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set BASTION_CHROMIUM)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'"
    )
    return sync_api


def test_the_dashboard_in_headless_chromium(gateway: Server, traffic: dict[str, Any], tmp_path: Path) -> None:
    sync_api = _browser()
    sent = traffic["sent"]
    wait_until(lambda: _overview(gateway)["totals"]["requests"] == sent, 10, "the rollups are written")
    urls: list[str] = []
    page_errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: urls.append(request.url))
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.goto(f"{gateway.url}/dashboard")
            page.wait_for_selector("#login-form", state="visible")

            # a wrong key is refused and the numbers stay hidden
            page.fill("#admin-key", "not-the-admin-key")
            page.click("#login-form button[type=submit]")
            sync_api.expect(page.locator("#login-error")).to_contain_text("Refused", timeout=10_000)
            assert page.locator("#board").is_hidden()

            page.fill("#admin-key", ADMIN_KEY)
            page.click("#login-form button[type=submit]")
            requests_tile = page.locator("#tile-requests .value")
            sync_api.expect(requests_tile).to_have_text(str(sent), timeout=10_000)
            sync_api.expect(page.locator("#requests")).to_contain_text("gpt-fake")
            sync_api.expect(page.locator("#requests")).to_contain_text("fallback → claude-fake")
            sync_api.expect(page.locator("#deployments")).to_contain_text("closed")
            sync_api.expect(page.locator("#feedback")).to_contain_text("gpt-fake")
            sync_api.expect(page.locator("#features")).to_contain_text("summaries")
            assert page.locator("#chart-latency svg path").count() >= 1

            # it refreshes by itself: one more request shows up without a reload
            _chat(gateway, "gpt-fake", "chat")
            sync_api.expect(requests_tile).to_have_text(str(sent + 1), timeout=15_000)

            shot = _artefacts(tmp_path) / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("BASTION_UPDATE_DOCS_SCREENSHOT") == "1":
                DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shot, DOCS_SCREENSHOT)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    assert not page_errors, page_errors
    assert not [url for url in urls if ADMIN_KEY in url], "the admin key must never be in a URL"
    assert all(url.startswith(gateway.url) or url.startswith("data:") for url in urls), urls


def _artefacts(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("BASTION_ARTEFACTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory
