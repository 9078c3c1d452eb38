"""Bastion's resilience under load: break the primary mid-run, measure what clients see.

    .venv/bin/python bench/chaos/run.py                       # every scenario, 200 req/s, 20 s each
    .venv/bin/python bench/chaos/run.py --scenarios hard_down,slow_ttft --duration 12
    .venv/bin/python bench/chaos/run.py --doc docs/resilience-bench.md   # also write the report

Per scenario, on 127.0.0.1 only, every step bounded in time:
  1. two provider fakes as their own processes (``python -m tests.fakes.serve``): the primary
     (OpenAI) and the secondary (Anthropic), both with a healthy latency profile;
  2. ``bastion serve`` (pinned to core 0 with taskset when there are two cores or more; the fakes
     and this load generator go to core 1) with one group, ``strategy: priority``;
  3. an open-loop load of ``--rate`` requests/s for ``--duration`` seconds (a third of them
     streams) through Bastion; at 15% of the run the primary breaks (``POST /_chaos`` or
     ``POST /_pause``), at 55% it heals;
  4. the same load and timeline straight at the primary fake ("direct"), with fresh fakes.

Reported per run: client success rate, p50/p95/p99 latency (whole request, last byte), upstream
attempts per client request (``x-bastion-attempts``, over the fault window), and for Bastion the
time to detect (breaker open, from ``/admin/deployments`` polled every 50 ms; and the first
request sent straight to the secondary) and to recover (first request served by the primary
again after the heal). Raw results: ``--run-dir`` (default /tmp/bastion-scratch/chaos-runs/<stamp>).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
CLIENT_TIMEOUT = 10.0  # a request still unanswered after this counts as failed
HEALTHY = {"ttft_seconds": 0.1, "token_gap_seconds": 0.01}  # both providers, when healthy
FAULT_AT, HEAL_AT = 0.15, 0.55  # shares of the run: the rest shows the recovery

GROUP_SETTINGS = """\
    timeouts: {connect_seconds: 1, ttft_seconds: 2, idle_seconds: 1, total_seconds: 30}
    retry: {max_attempts: 3, backoff_base_ms: 25, backoff_max_ms: 250, max_retry_after_seconds: 2}
    breaker: {consecutive_failures: 5, error_rate: 0.25, min_requests: 20, window_seconds: 5,
              ttft_threshold_ms: 300, open_seconds: 1, half_open_probes: 1}
    hedge: {enabled: true, after_ms: 400}
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    fault: dict[str, Any] | None  # chaos settings for the primary, on top of HEALTHY
    pause: bool = False  # hard down instead: the primary stops listening
    rate: float | None = None  # overrides --rate


SCENARIOS = [
    Scenario("hard_down", "primary hard down (connection refused)", None, pause=True),
    Scenario("errors_30", "primary answers 30% of requests with 503", {"error_rate": 0.3, "seed": 1}),
    Scenario(
        "rate_limited",
        "primary answers 429 with Retry-After: 30",
        {"error_rate": 1.0, "error_status": 429, "retry_after": 30},
    ),
    Scenario("slow_ttft", "primary's TTFT degraded to 3 s", {"ttft_seconds": 3.0}),
    Scenario("slow_ttft_50", "primary's TTFT degraded to 3 s, at 50 req/s", {"ttft_seconds": 3.0}, rate=50),
    Scenario(
        "stall",
        "primary stalls every answer (streams after 2 chunks) for 5 s",
        {"stall_after_chunks": 2, "stall_seconds": 5},
    ),
]


@dataclass
class Result:
    index: int
    started: float  # seconds since the run began
    stream: bool
    elapsed: float = 0.0
    ok: bool = False
    status: int = 0
    provider: str | None = None
    attempts: int | None = None
    error: str | None = None

    @property
    def midstream(self) -> bool:
        """A stream that broke after its first chunk (it had a 200): no gateway can fail that over."""
        return self.stream and self.status == 200 and not self.ok


@dataclass
class Run:
    scenario: str
    target: str  # "bastion" | "direct"
    rate: float
    duration: float
    fault_at: float
    heal_at: float
    results: list[Result] = field(default_factory=list)
    breaker: list[tuple[float, str, float | None]] = field(default_factory=list)  # (t, state, opened t)
    received: dict[str, int] = field(default_factory=dict)  # requests each fake got during the run


# ---------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pinned(command: list[str], core: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core), *command]
    return command


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{process.args} did not start:\n{log.read_text()}")


class Processes:
    """The fakes and Bastion of one run; stopped (by pid) when the run ends."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, command: list[str], url: str) -> None:
        log = self.run_dir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        self.started.append(process)
        wait_ready(url, process, log)

    def fake(self, name: str, kind: str) -> str:
        port = free_port()
        healthy = json.dumps(HEALTHY)
        command = [PYTHON, "-m", "tests.fakes.serve", "--kind", kind, "--port", str(port), "--chaos", healthy]
        self.start(name, pinned(command, 1), f"http://127.0.0.1:{port}")
        return f"http://127.0.0.1:{port}"

    def bastion(self, primary: str, secondary: str) -> str:
        port = free_port()
        config = self.run_dir / "bastion.yaml"
        config.write_text(
            "server: {log_level: warning, graceful_shutdown_seconds: 1}\n"
            "providers:\n"
            f"  primary: {{type: openai, base_url: '{primary}/v1', api_key: sk-up}}\n"
            f"  secondary: {{type: anthropic, base_url: '{secondary}', api_key: sk-up}}\n"
            "models:\n"
            "  chat:\n"
            "    strategy: priority\n"
            "    deployments:\n"
            "      - {provider: primary, model: gpt-4o-mini}\n"
            "      - {provider: secondary, model: claude-sonnet-4-5}\n" + GROUP_SETTINGS
        )
        bastion = str(REPO / ".venv" / "bin" / "bastion")
        command = [bastion, "serve", "--config", str(config), "--port", str(port)]
        self.start("bastion", pinned(command, 0), f"http://127.0.0.1:{port}")
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


# ---------------------------------------------------------------------- load


async def one(session: aiohttp.ClientSession, url: str, model: str, index: int, t0: float) -> Result:
    stream = index % 3 == 0
    result = Result(index=index, started=time.monotonic() - t0, stream=stream)
    prompt = f"bench request {index}"
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 16}
    if stream:
        body["stream"] = True
    try:
        async with asyncio.timeout(CLIENT_TIMEOUT):
            async with session.post(url, json=body, headers={"authorization": "Bearer sk-bench"}) as response:
                result.status = response.status
                result.provider = response.headers.get("x-bastion-provider")
                attempts = response.headers.get("x-bastion-attempts")
                result.attempts = int(attempts) if attempts else None
                raw = await response.read()
        result.ok, result.error = judge(result.status, raw, stream, f"Echo: {prompt}")
    except TimeoutError:
        result.error = f"no answer within {CLIENT_TIMEOUT:g} s"
    except aiohttp.ClientError as error:
        result.error = f"{type(error).__name__}: {error}"
    result.elapsed = time.monotonic() - t0 - result.started
    return result


def judge(status: int, raw: bytes, stream: bool, expected: str) -> tuple[bool, str | None]:
    if status != 200:
        return False, f"HTTP {status}: {raw[:200]!r}"
    if not stream:
        try:
            text = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            return False, f"bad body {raw[:200]!r}"
        return text == expected, None if text == expected else f"wrong answer {text!r}"
    pieces, done = [], False
    for line in raw.decode(errors="replace").splitlines():
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            done = True
            continue
        chunk = json.loads(data)
        if "error" in chunk:
            return False, f"stream error event: {chunk['error'].get('message')}"
        for choice in chunk.get("choices") or []:
            pieces.append((choice.get("delta") or {}).get("content") or "")
    text = "".join(pieces)
    if not done:
        return False, "stream ended without [DONE]"
    return text == expected, None if text == expected else f"wrong answer {text!r}"


async def post_json(session: aiohttp.ClientSession, url: str, body: Any) -> Any:
    async with session.post(url, json=body) as response:
        return await response.json()


async def stats(session: aiohttp.ClientSession, fake: str) -> int:
    async with session.get(f"{fake}/_stats") as response:
        return int((await response.json())["requests"])


async def watch_breaker(session: aiohttp.ClientSession, bastion: str, run: Run, t0: float) -> None:
    while True:
        with contextlib.suppress(aiohttp.ClientError, KeyError, ValueError):
            async with session.get(f"{bastion}/admin/deployments") as response:
                answer = await response.json()
            breaker = answer["groups"]["chat"]["deployments"][0]["breaker"]
            now = time.monotonic() - t0
            since = breaker["seconds_since_opened"]
            run.breaker.append((now, breaker["state"], None if since is None else now - since))
        await asyncio.sleep(0.05)


async def drive(run: Run, url: str, model: str, primary: str, secondary: str, bastion: str | None) -> None:
    """The open-loop load, the fault and the heal, on one timeline."""
    scenario = next(s for s in SCENARIOS if s.name == run.scenario)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session, aiohttp.ClientSession() as control:
        before = {"primary": await stats(control, primary), "secondary": await stats(control, secondary)}
        t0 = time.monotonic()
        watcher = asyncio.create_task(watch_breaker(control, bastion, run, t0)) if bastion else None
        tasks: list[asyncio.Task[Result]] = []
        total = int(run.rate * run.duration)
        broken = healed = False
        for index in range(total):
            due = index / run.rate
            now = time.monotonic() - t0
            if not broken and now >= run.fault_at:
                broken = True
                if scenario.pause:
                    await post_json(control, f"{primary}/_pause", {"seconds": run.heal_at - run.fault_at})
                else:
                    await post_json(control, f"{primary}/_chaos", {**HEALTHY, **(scenario.fault or {})})
            if not healed and now >= run.heal_at:
                healed = True
                if not scenario.pause:
                    await post_json(control, f"{primary}/_chaos", HEALTHY)
            if due > now:
                await asyncio.sleep(due - now)
            tasks.append(asyncio.create_task(one(session, url, model, index, t0)))
        run.results = list(await asyncio.gather(*tasks))
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        after = {"primary": await stats(control, primary), "secondary": await stats(control, secondary)}
        run.received = {name: after[name] - before[name] for name in after}


def execute(scenario: Scenario, target: str, args: argparse.Namespace, run_dir: Path) -> Run:
    rate = scenario.rate or args.rate
    run = Run(scenario.name, target, rate, args.duration, args.duration * FAULT_AT, args.duration * HEAL_AT)
    directory = run_dir / f"{scenario.name}-{target}"
    directory.mkdir(parents=True, exist_ok=True)
    processes = Processes(directory)
    try:
        primary = processes.fake("primary", "openai")
        secondary = processes.fake("secondary", "anthropic")
        if target == "bastion":
            bastion = processes.bastion(primary, secondary)
            url, model = f"{bastion}/v1/chat/completions", "chat"
        else:
            bastion, url, model = None, f"{primary}/v1/chat/completions", "gpt-4o-mini"
        asyncio.run(drive(run, url, model, primary, secondary, bastion))
    finally:
        processes.stop()
    (directory / "run.json").write_text(json.dumps(asdict(run)))
    return run


# ---------------------------------------------------------------------- report


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Numbers:
    success: float
    success_whole: float  # not counting streams broken after their first chunk
    p50: float | None
    p95: float | None
    p99: float | None
    attempts_fault: float | None
    received_per_request: float
    p95_healthy: float | None = None
    p95_after_open: float | None = None
    detect_breaker: float | None = None
    detect_routing: float | None = None
    recover: float | None = None
    breaker_closed: float | None = None
    failures: dict[str, int] = field(default_factory=dict)


def numbers(run: Run) -> Numbers:
    results = run.results
    latencies = [r.elapsed for r in results]
    in_fault = [r for r in results if run.fault_at <= r.started < run.heal_at]
    counted = [r.attempts for r in in_fault if r.attempts is not None]
    failures: dict[str, int] = {}
    for result in results:
        if not result.ok:
            kind = (result.error or "?").split(":")[0][:60]
            failures[kind] = failures.get(kind, 0) + 1
    out = Numbers(
        success=sum(r.ok for r in results) / len(results),
        success_whole=sum(r.ok for r in results) / max(1, sum(not r.midstream for r in results)),
        p50=percentile(latencies, 0.5),
        p95=percentile(latencies, 0.95),
        p99=percentile(latencies, 0.99),
        attempts_fault=sum(counted) / len(counted) if counted else None,
        received_per_request=sum(run.received.values()) / len(results),
        failures=failures,
    )
    # after the first second (connections warm), finished before the fault began
    healthy = [r.elapsed for r in results if r.started >= 1.0 and r.started + r.elapsed < run.fault_at]
    out.p95_healthy = percentile(healthy, 0.95)
    if run.target != "bastion":
        return out
    opened = next((o for t, s, o in run.breaker if t >= run.fault_at and s != "closed" and o), None)
    if opened is not None:
        out.detect_breaker = opened - run.fault_at
        after_open = [r.elapsed for r in results if opened <= r.started < run.heal_at]
        out.p95_after_open = percentile(after_open, 0.95)
    skipped = next(
        (r for r in in_fault if r.provider == "secondary" and r.attempts == 1),
        None,
    )
    if skipped is not None:
        out.detect_routing = skipped.started - run.fault_at
    back = next(
        (r for r in results if r.started >= run.heal_at and r.provider == "primary" and r.attempts == 1),
        None,
    )
    if back is not None:
        out.recover = back.started - run.heal_at
    closed = next((t for t, s, _ in run.breaker if t >= run.heal_at and s == "closed"), None)
    if closed is not None:
        out.breaker_closed = closed - run.heal_at
    return out


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:,.0f} ms"


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def table(scenario: Scenario, bastion: Run, direct: Run) -> str:
    b, d = numbers(bastion), numbers(direct)
    rows = [
        ("client success rate", f"{b.success:.2%}", f"{d.success:.2%}"),
        (
            "… not counting streams broken after their first chunk",
            f"{b.success_whole:.2%}",
            f"{d.success_whole:.2%}",
        ),
        ("latency p50", _ms(b.p50), _ms(d.p50)),
        ("latency p95", _ms(b.p95), _ms(d.p95)),
        ("latency p99", _ms(b.p99), _ms(d.p99)),
        ("latency p95 before the fault", _ms(b.p95_healthy), _ms(d.p95_healthy)),
        ("latency p95 from breaker open to heal", _ms(b.p95_after_open), "—"),
        (
            "upstream attempts per client request (fault window)",
            f"{b.attempts_fault:.3f}" if b.attempts_fault else "—",
            "1.000",
        ),
        ("requests the fakes received per client request", f"{b.received_per_request:.3f}", "—"),
        ("time to detect: breaker open", _s(b.detect_breaker), "—"),
        ("time to detect: first request sent straight to the secondary", _s(b.detect_routing), "—"),
        ("time to recover: first request served by the primary again", _s(b.recover), "—"),
        ("time to recover: breaker closed (50 ms polling)", _s(b.breaker_closed), "—"),
    ]
    rate = bastion.rate
    lines = [
        f"### {scenario.name}: {scenario.title}",
        "",
        f"{rate:g} req/s for {bastion.duration:g} s ({int(rate * bastion.duration)} requests, "
        f"a third of them streams); fault at {bastion.fault_at:g} s, heal at {bastion.heal_at:g} s.",
        "",
        "| | Bastion (primary + secondary) | direct to the primary |",
        "|---|---|---|",
        *(f"| {name} | {left} | {right} |" for name, left, right in rows),
    ]
    for label, counts in (("Bastion", b.failures), ("direct", d.failures)):
        if counts:
            detail = ", ".join(f"{count} × {kind}" for kind, count in sorted(counts.items()))
            lines.append(f"\nFailures, {label}: {detail}.")
    return "\n".join(lines) + "\n"


def targets(runs: dict[str, tuple[Run, Run]]) -> str:
    """The issue's targets, checked against this run."""
    lines = ["| target | measured | met |", "|---|---|---|"]
    worst = min(numbers(b).success_whole for b, _ in runs.values())
    lines.append(
        "| client success ≥ 99.9% with one healthy provider left (streams broken after their first "
        f"chunk aside) | worst {worst:.2%} | {'yes' if worst >= 0.999 else 'no'} |"
    )
    for name in ("slow_ttft", "slow_ttft_50"):
        if name not in runs:
            continue
        b = numbers(runs[name][0])
        if b.p95_after_open and b.p95_healthy:
            ratio = b.p95_after_open / b.p95_healthy
            lines.append(
                f"| {name}: p95 after breaker open ≤ 1.3 × healthy p95 | {ratio:.2f}× "
                f"({_ms(b.p95_after_open)} vs {_ms(b.p95_healthy)}) | {'yes' if ratio <= 1.3 else 'no'} |"
            )
        if name == "slow_ttft_50":
            met = b.detect_breaker is not None and b.detect_breaker <= 2.0
            lines.append(
                f"| breaker opens ≤ 2 s into the degradation at 50 req/s | {_s(b.detect_breaker)} | "
                f"{'yes' if met else 'no'} |"
            )
    if "hard_down" in runs:
        attempts = numbers(runs["hard_down"][0]).attempts_fault or 0.0
        lines.append(
            f"| upstream attempts per client request ≤ 1.25 during a hard outage | {attempts:.3f} | "
            f"{'yes' if attempts <= 1.25 else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (default 200)")
    parser.add_argument("--duration", type=float, default=24.0, help="seconds per run, at most 30")
    parser.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS))
    parser.add_argument("--run-dir", type=Path)
    parser.add_argument("--doc", type=Path, help="also write the report (markdown) to this file")
    args = parser.parse_args()
    if not 5 <= args.duration <= 30:
        parser.error("--duration must be between 5 and 30 seconds")
    chosen = [s for s in SCENARIOS if s.name in args.scenarios.split(",")]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = args.run_dir or Path("/tmp/bastion-scratch/chaos-runs") / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"run dir: {run_dir}", file=sys.stderr)
    runs: dict[str, tuple[Run, Run]] = {}
    sections = []
    for scenario in chosen:
        print(f"{scenario.name}: Bastion ...", file=sys.stderr)
        bastion = execute(scenario, "bastion", args, run_dir)
        print(f"{scenario.name}: direct ...", file=sys.stderr)
        direct = execute(scenario, "direct", args, run_dir)
        runs[scenario.name] = (bastion, direct)
        sections.append(table(scenario, bastion, direct))
        print(sections[-1])
    summary = targets(runs)
    print(summary)
    (run_dir / "report.md").write_text("\n".join(sections) + "\n" + summary)
    if args.doc:
        command = " ".join(["bench/chaos/run.py", *sys.argv[1:]])
        args.doc.write_text(report(command, sections, summary))
        print(f"wrote {args.doc}", file=sys.stderr)
    return 0


NOTES = """\
## Reading the numbers

* **Streams broken after their first chunk** are the only Bastion failures, in `hard_down` (streams
  that were relaying the primary's answer when its connections were cut) and `stall` (streams that
  started on the primary before its breaker opened, and failed probes). Failover after the first
  byte is impossible by design: the client already holds part of one provider's answer. Bastion
  ends such a stream with the protocol's error event instead of leaving it hanging (the direct
  client waits out the stall). Every other request, stream or not, succeeded.
* **Time to recover** is set by the half-open back-off, not by detection: every failed probe
  doubles the breaker's rest (`open_seconds` 1 s, then 2, 4, 8 s at most), so after a 9.6 s outage
  the next probe may come up to 8 s after the heal. A smaller `open_seconds` recovers sooner at
  the price of more probes sent to a provider that is still down.
* **`errors_30` is detected late on purpose**: the error-rate rule judges the breaker's window
  (5 s here), which still holds the healthy traffic from before the fault, so 30% errors cross the
  25% threshold after about 4 s. Until then each failed attempt fails over at once (the extra
  attempts and the higher p95). The retry budget (20% of requests plus 1/s) is smaller than a
  30% error rate: the breaker has to open before the budget is spent, or clients get
  `503 retry_budget_exhausted`. In a trial with a 10 s breaker window, 4 of 600 requests failed
  that way; keep `breaker.window_seconds` short (or `error_rate` low) next to the budget's ratio.
* **Latency breaker and hedging**: the hedge delay (400 ms) is above `ttft_threshold_ms` (300 ms)
  on purpose. An attempt abandoned by a winning hedge before the threshold tells the breaker
  nothing, so a hedge that fires earlier than the threshold hides a slow provider from its breaker
  (every request would be hedged until the retry budget runs out). The p99 of about 550 ms in the
  slow scenarios is the requests in flight when the TTFT degraded, and the probes: both are hedged
  after 400 ms.

"""


def report(command: str, sections: list[str], summary: str) -> str:
    cores = os.cpu_count()
    return f"""# Resilience benchmark

What a client sees when Bastion's preferred provider breaks under load, against calling that
provider directly. Produced by `bench/chaos/run.py` (see its docstring for the method); every
number below comes from one run of:

```
.venv/bin/python {command}
```

Setup: 127.0.0.1 only, {cores} CPU cores; Bastion pinned to core 0, the two provider fakes
(`python -m tests.fakes.serve`, separate processes) and the load generator (aiohttp, open loop)
to core 1. Both fakes answer with a healthy profile of 100 ms TTFT and 10 ms between stream
chunks; the fault is applied to the primary (OpenAI fake) at run time through its `/_chaos` or
`/_pause` control route, and removed later. Bastion's group:

```yaml
  chat:
    strategy: priority                  # primary (OpenAI fake) first, secondary (Anthropic fake) on failure
{GROUP_SETTINGS}```

Latency is the whole request, to the last byte; a request unanswered after {CLIENT_TIMEOUT:g} s
counts as failed. "Direct" sends the same load and timeline straight at the primary fake, so it
shows what the fault does to a client without a gateway. Streams that break after their first
chunk cannot fail over (the client already has part of an answer); Bastion ends them with an
error event.

## Targets

{summary}
{NOTES}## Scenarios

""" + "\n".join(sections)


if __name__ == "__main__":
    sys.exit(main())
