"""Time the dashboard over a filled store: its JSON endpoints, and the page in headless Chromium.

Starts ``bastion serve`` on the store that ``generate.py`` filled (simulated providers named
like the generated deployments, so breakers line up with the traffic), then:

- each ``/dashboard/api/*`` call, per time range: median and worst of ``--calls`` calls;
- the page, cold (a new browser context each run, the admin key already in sessionStorage):
  first contentful paint, and the first paint with the numbers in (the ``dashboard-data``
  mark the page sets), median and worst of ``--runs`` runs per range.

    .venv/bin/python bench/dashboard/measure.py --storage sqlite:////tmp/bastion-bench/dashboard.db
    .venv/bin/python bench/dashboard/measure.py \\
        --storage 'postgresql://postgres@127.0.0.1:5432/test?search_path=bastion_bench_dashboard'

Chromium is Debian's (``apt-get install chromium``), driven by Playwright (``pip install -e '.[test]'``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ADMIN_KEY = "adm-bench-dashboard-0123456789"
RANGES = ("1h", "24h", "7d", "30d")
CONFIG = """
server:
  admin_key: "{admin_key}"
storage:
  url: "{storage}"
providers:
  openai: {{type: simulator, seed: 1}}
  azure: {{type: simulator, seed: 2}}
  anthropic: {{type: simulator, seed: 3}}
  gemini: {{type: simulator, seed: 4}}
models:
  chat-fast:
    deployments: [{{provider: openai, model: gpt-4o-mini}}, {{provider: azure, model: gpt-4o-mini-eu}}]
  chat-smart:
    deployments: [{{provider: anthropic, model: claude-sonnet-4-5}}, {{provider: openai, model: gpt-4o}}]
  reasoning: {{provider: openai, model: o3}}
  summaries: {{provider: gemini, model: gemini-2.5-flash}}
  embeddings:
    kind: embeddings
    deployments:
      - {{provider: openai, model: text-embedding-3-small}}
      - {{provider: gemini, model: gemini-embedding-001}}
"""


def serve(storage: str, directory: Path, port: int) -> subprocess.Popen[bytes]:
    config = directory / "bastion.yaml"
    config.write_text(CONFIG.format(admin_key=ADMIN_KEY, storage=storage))
    log = (directory / "server.log").open("wb")
    command = [sys.executable, "-m", "bastion.cli", "serve", "--config", str(config), "--port", str(port)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
    deadline = time.monotonic() + 600  # a first start on an old database runs the backfill
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bastion exited:\n{(directory / 'server.log').read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit("bastion did not become ready")


def api_timings(url: str, calls: int) -> None:
    client = httpx.Client(base_url=url, headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
    paths = [f"overview?range={name}" for name in RANGES]
    paths += ["spend?days=7&by=model", "spend?days=30&by=user_id", "feedback?range=7d", "requests?limit=50"]
    print(f"\nJSON endpoints ({calls} calls each, after one warm-up): median / worst ms, bytes")
    for path in paths:
        response = client.get(f"/dashboard/api/{path}")
        response.raise_for_status()
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            client.get(f"/dashboard/api/{path}").raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
        print(
            f"  {path:28} {statistics.median(times):7.1f} / {max(times):7.1f}   {len(response.content):>7,}"
        )
    requests = client.get("/dashboard/api/overview?range=30d").json()["totals"]["requests"]
    print(f"  (the 30d overview counts {requests:,} requests)")
    client.close()


def page_timings(url: str, runs: int, chromium: str, screenshot: Path | None) -> None:
    from playwright.sync_api import sync_playwright

    print(f"\nPage, cold, {runs} runs per range: median / worst ms from navigation start")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        for name in RANGES:
            paints, data = [], []
            for _ in range(runs):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.add_init_script(
                    f"sessionStorage.setItem('bastion.dashboard.adminKey', '{ADMIN_KEY}')"
                )
                page = context.new_page()
                page.goto(f"{url}/dashboard#{name}")
                page.wait_for_selector("body[data-loaded]", timeout=30_000)
                paints.append(
                    page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
                )
                data.append(page.evaluate("performance.getEntriesByName('dashboard-data')[0].startTime"))
                if screenshot is not None and name == "7d" and len(data) == runs:
                    page.set_viewport_size({"width": 1280, "height": 1640})  # down to the spend panel
                    page.wait_for_timeout(600)  # the charts redraw at the new size
                    page.screenshot(path=str(screenshot))
                context.close()
            print(
                f"  {name:4} first paint {statistics.median(paints):6.0f} / {max(paints):6.0f}   "
                f"with numbers {statistics.median(data):6.0f} / {max(data):6.0f}"
            )
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--storage", required=True, help="storage URL of the filled store")
    parser.add_argument("--port", type=int, default=18_771)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--screenshot", type=Path, help="save the 7d view here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bastion-bench-dashboard-") as directory:
        started = time.perf_counter()
        process = serve(args.storage, Path(directory), args.port)
        print(f"server ready in {time.perf_counter() - started:.1f} s on {args.storage}")
        url = f"http://127.0.0.1:{args.port}"
        try:
            api_timings(url, args.calls)
            if os.path.exists(args.chromium):
                page_timings(url, args.runs, args.chromium, args.screenshot)
            else:
                print(f"\nno Chromium at {args.chromium}: page timings skipped (apt-get install chromium)")
        finally:
            process.terminate()
            process.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
