"""``bastion demo`` as a user runs it: a short run whose report must add up, then the dashboard left up."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import httpx

from tests.e2e.conftest import free_port

FEATURES = ("support-bot", "search", "summarise", "autocomplete")
TEAMS = ("support", "search", "content")
USERS = ("alice@acme.test", "bob@acme.test", "carol@acme.test", "dave@acme.test", "erin@acme.test")


def number(text: str) -> int:
    return int(text.replace(",", ""))


def field(report: str, label: str) -> str:
    """The text after a report line's label."""
    match = re.search(rf"^  {re.escape(label)} +(.*)$", report, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{report}"
    return match.group(1)


def section(report: str, label: str) -> list[str]:
    """The rows of a table section: its labelled line and the unlabelled lines that follow it."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {label} "))
    rows = [lines[start][len(label) + 2 :].strip()]
    for line in lines[start + 1 :]:
        if not line.startswith(" " * 20):
            break
        rows.append(line.strip())
    return rows


def read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """stdout up to and including the first line containing ``marker``."""
    assert process.stdout is not None
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if marker in line:
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    assert found.wait(timeout), "".join(lines)
    return "".join(lines)


def test_demo_reports_consistent_numbers_and_leaves_the_dashboard_up() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bastion.cli", "demo", "--seconds", "5", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        out = read_until(process, "dashboard", timeout=40)
        admin_key = re.search(r"admin key: (\S+)", out).group(1)  # type: ignore[union-attr]

        requests = number(
            re.match(r"([\d,]+) from 5 users in 3 teams, 4 features", field(out, "requests"))[1]
        )  # type: ignore[index]
        assert requests > 30
        assert field(out, "answered").split()[:3] == [f"{requests:,}", "failed", "0"]
        # every request the clients sent is one row in the usage ledger
        assert field(out, "ledger") == f"{requests:,} rows, one row per request sent"
        assert number(field(out, "failovers").split()[0]) > 0  # the flaky provider's 503s were absorbed
        # the slow provider's breaker opened on its time to first token; its traffic fell back
        assert number(field(out, "fallbacks").split()[0]) > 0
        assert "demo-mini -> demo-steady" in field(out, "fallbacks")
        assert number(field(out, "breaker trips")) >= 1
        assert re.search(r"^ +slow +\d+x +ttft_threshold", out, re.MULTILINE), out
        hits = field(out, "cache")
        assert number(hits.split()[0]) > 0
        assert float(hits.split("saving $")[1]) > 0
        assert number(field(out, "personal data").split()[0]) > 0  # emails in support chats were masked
        assert re.match(r"p50 [\d,]+ ms +p95 [\d,]+ ms +p99 [\d,]+ ms", field(out, "latency"))
        assert re.match(r"p50 [\d,]+ ms +p95 [\d,]+ ms", field(out, "first token"))
        assert float(field(out, "spend").split()[0].lstrip("$")) > 0

        by_feature = section(out, "by feature")
        assert sorted(row.split()[0] for row in by_feature) == sorted(FEATURES)
        assert sum(number(row.split()[1]) for row in by_feature) == requests
        assert sorted(row.split()[0] for row in section(out, "by team")) == sorted(TEAMS)
        assert sorted(row.split()[0] for row in section(out, "by user")) == sorted(USERS)

        # the dashboard stays up, and its data agrees with the report
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/dashboard", timeout=5).status_code == 200
        assert httpx.get(f"{base}/dashboard/api/overview?range=1h", timeout=5).status_code == 401
        overview = httpx.get(
            f"{base}/dashboard/api/overview?range=1h",
            headers={"authorization": f"Bearer {admin_key}"},
            timeout=5,
        )
        assert overview.status_code == 200
        totals = overview.json()["totals"]
        assert totals["requests"] == requests
        assert totals["cache_hits"] == number(hits.split()[0])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0
    assert process.stderr is not None
    progress = process.stderr.read()
    # not a terminal: a progress line at the end of the run (and every 10 s of a longer one)
    assert re.search(
        r"\[#{20}\] +\d+(/\d+)? s +[\d,]+ req .* p95 \d+ ms .* failovers .* breaker trip", progress
    )
    assert "Traceback" not in progress


def test_demo_with_a_request_count_sends_exactly_that_many_and_exits() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bastion.cli",
            "demo",
            "--exit",
            "--requests",
            "40",
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=40,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert field(out, "requests").startswith("40 from 5 users")
    assert field(out, "ledger") == "40 rows, one row per request sent"
    assert "dashboard" not in out  # --exit: no server left behind
