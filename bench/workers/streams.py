#!/usr/bin/env python3
"""1,000 concurrent streams through `bastion serve --workers N`: memory and added time to first token.

The mock (bench/harness/mock, nginx + echo) sleeps --chunk-gap-ms between the events of a stream, so a
21-event stream lasts ~20 gaps (4 s at 200 ms). The client opens --streams streams at a steady rate over
--ramp-seconds, so all of them are open at once before the first ones end, and times each one: time to
the first complete SSE event (TTFT, counted from before connect) and to the last byte. It does this
straight to the mock (direct) and through Bastion with each --workers count, in that order.

While Bastion carries the streams, the RSS of its whole process tree (supervisor and workers) is
sampled every 50 ms; the table gives it at the moment the most streams were open, its PSS then
(shared pages counted once), the idle RSS before the run, and (peak - idle) / streams per stream.
Before that, each worker count is started --starts times and timed from the start of the process to
its first successful completion (polled every 5 ms, as bench/extras.py does).

Everything shares --cpus (default: both cores): Bastion, nginx and this client (one asyncio
thread). Standard library only; imports bench/harness/run.py (mock) and bench/extras.py (processes).

  python3 bench/workers/streams.py --run-dir DIR [--streams 1000] [--workers 1,2] ...
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import os
import shlex
import statistics
import sys
import time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(BENCH, "harness"))
import extras  # noqa: E402  (bench/extras.py: Bastion start/stop, process tree, memory)
import run as harness  # noqa: E402  (bench/harness/run.py: the mock)

API_KEY = extras.API_KEY


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def log(*a):
    print("[streams {}]".format(time.strftime("%H:%M:%S")), *a, file=sys.stderr, flush=True)


class Tree:
    """RSS of a fixed set of processes (the Bastion tree does not change while streams run)."""

    def __init__(self, root):
        self.pids = extras.tree_pids(root)

    def rss_mb(self):
        total = 0
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
                            break
            except OSError:
                pass
        return total / 1024

    def pss_mb(self):
        total = 0
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
                            break
            except OSError:
                pass
        return total / 1024


class Run:
    """One batch of streams against one server, with the count of streams open at each moment."""

    def __init__(self, port, body, streams, ramp_seconds, tree=None):
        self.port, self.streams, self.ramp = port, streams, ramp_seconds
        self.request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Accept: text/event-stream\r\nAuthorization: Bearer " + API_KEY.encode() + b"\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        self.tree = tree
        self.open = 0
        self.ttft, self.last, self.errors = [], [], []
        self.timeline = []  # (start offset s, open streams then, TTFT ms)
        self.start = 0.0
        self.peak = {"open": 0, "rss": 0.0, "pss": None}
        self.samples = []

    async def one(self):
        t0 = time.perf_counter()
        counted = False
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)
            self.open += 1
            opened_with = self.open
            counted = True
            writer.write(self.request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            body, first = b"", None
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                body += data
                if first is None and b"\n\n" in body:
                    first = time.perf_counter() - t0
            end = time.perf_counter() - t0
            writer.close()
            if status != 200 or first is None or b"[DONE]" not in body:
                self.errors.append(f"status {status}, {len(body)} bytes: {body[:120]!r}")
                return
            self.ttft.append(first * 1000)
            self.timeline.append((round(t0 - self.start, 4), opened_with, round(first * 1000, 3)))
            self.last.append(end * 1000)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            self.errors.append(repr(error))
        finally:
            if counted:
                self.open -= 1

    async def sample(self):
        """RSS every 50 ms; PSS once, when the most streams are open."""
        while True:
            rss = self.tree.rss_mb()
            self.samples.append((round(time.perf_counter(), 3), self.open, round(rss, 1)))
            if self.open > self.peak["open"] or (self.open == self.peak["open"] and rss > self.peak["rss"]):
                self.peak = {"open": self.open, "rss": rss, "pss": None}
                if self.open >= self.streams * 0.98:
                    self.peak["pss"] = self.tree.pss_mb()
            await asyncio.sleep(0.05)

    async def go(self):
        sampler = asyncio.ensure_future(self.sample()) if self.tree else None
        tasks = []
        start = self.start = time.perf_counter()
        for i in range(self.streams):
            delay = start + i * self.ramp / self.streams - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(self.one()))
        await asyncio.gather(*tasks)
        if sampler:
            sampler.cancel()
        return time.perf_counter() - start


def run_batch(port, body, streams, ramp, tree=None):
    gc.collect()
    gc.disable()
    try:
        batch = Run(port, body, streams, ramp, tree)
        seconds = asyncio.run(batch.go())
    finally:
        gc.enable()
    return batch, seconds


def summary(batch, seconds):
    out = {"n": len(batch.ttft), "errors": len(batch.errors), "seconds": round(seconds, 2)}
    if batch.errors:
        out["first_errors"] = batch.errors[:5]
    for name, values in (("ttft", batch.ttft), ("last", batch.last)):
        if values:
            for q in (50, 90, 99):
                out[f"{name}_p{q}"] = round(extras.pct(values, q), 3)
            out[f"{name}_max"] = round(max(values), 3)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--ramp-seconds", type=float, default=2.0, help="the streams start evenly over this time")
    p.add_argument("--chunk-gap-ms", type=float, default=200.0, help="mock sleep between stream events")
    p.add_argument("--workers", default="1,2", help="comma list of Bastion worker counts to measure")
    p.add_argument("--warmup-streams", type=int, default=200)
    p.add_argument("--starts", type=int, default=5, help="starts timed (to the first completion) per count")
    p.add_argument("--cpus", default="0,1", help="Bastion, the mock and this client all run here")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--mock-base-port", type=int, default=18080)
    p.add_argument("--nginx", default="/usr/sbin/nginx")
    p.add_argument("--echo-module", default=None)
    p.add_argument(
        "--bastion-cmd",
        default=os.path.join(HERE, "bastion.sh") + " {workers}",
        help="command that runs Bastion in the foreground; {workers} is replaced",
    )
    p.add_argument("--run-dir", required=True)
    args = p.parse_args()
    os.makedirs(args.run_dir, exist_ok=True)
    os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    result = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg_before": loadavg(),
        "streams": args.streams,
        "ramp_seconds": args.ramp_seconds,
        "chunk_gap_ms": args.chunk_gap_ms,
        "cpus": args.cpus,
        "runs": {},
    }
    ns = SimpleNamespace(
        mock_base_port=args.mock_base_port,
        slow_ms=300,
        chunk_gap_ms=args.chunk_gap_ms,
        stream_events=21,
        echo_module=args.echo_module,
        nginx=args.nginx,
        load_cpus=args.cpus,
    )
    mock = harness.Mock(ns, args.run_dir)
    mock.start()
    body = harness.request_body("gpt-4o-mini", True)
    try:
        log(f"direct: {args.streams} streams over {args.ramp_seconds} s")
        run_batch(args.mock_base_port, body, args.warmup_streams, args.ramp_seconds)
        batch, seconds = run_batch(args.mock_base_port, body, args.streams, args.ramp_seconds)
        result["runs"]["direct"] = summary(batch, seconds)
        log("direct:", json.dumps(result["runs"]["direct"]))
        for count in [int(w) for w in args.workers.split(",")]:
            label = f"bastion-{count}w"
            env_cmd = f"env PORT={args.port} BENCH_GATEWAY_DIR={shlex.quote(args.run_dir)} "
            cmd = env_cmd + args.bastion_cmd.format(workers=count)
            bastion = extras.Bastion(cmd, args.port, args.cpus, os.path.join(args.run_dir, label + ".log"))
            ready = []
            for _ in range(args.starts):
                ready.append(bastion.start()[1])
                bastion.stop()
                time.sleep(0.5)
            log(f"{label}: first completion after {', '.join(f'{r:.3f}' for r in ready)} s")
            bastion.start()
            try:
                time.sleep(1.0)
                run_batch(args.port, body, args.warmup_streams, args.ramp_seconds)
                time.sleep(1.0)
                tree = Tree(bastion.proc.pid)
                idle, idle_pss = tree.rss_mb(), tree.pss_mb()
                log(f"{label}: {len(tree.pids)} processes, {idle:.1f} MB RSS idle; {args.streams} streams")
                batch, seconds = run_batch(args.port, body, args.streams, args.ramp_seconds, tree)
                row = summary(batch, seconds)
                row.update(
                    ready_s=[round(r, 3) for r in ready],
                    ready_median_s=round(statistics.median(ready), 3) if ready else None,
                    processes=len(tree.pids),
                    rss_idle_mb=round(idle, 1),
                    pss_idle_mb=round(idle_pss, 1),
                    peak_open=batch.peak["open"],
                    rss_at_peak_mb=round(batch.peak["rss"], 1),
                    pss_at_peak_mb=None if batch.peak["pss"] is None else round(batch.peak["pss"], 1),
                    kb_per_stream=round(1024 * (batch.peak["rss"] - idle) / max(1, batch.peak["open"]), 1),
                    rss_after_mb=round(tree.rss_mb(), 1),
                )
                for key in ("ttft", "last"):
                    for q in ("p50", "p90", "p99"):
                        d, g = result["runs"]["direct"].get(f"{key}_{q}"), row.get(f"{key}_{q}")
                        if d is not None and g is not None:
                            row[f"added_{key}_{q}"] = round(g - d, 3)
                result["runs"][label] = row
                with open(os.path.join(args.run_dir, label + "-samples.json"), "w") as f:
                    json.dump({"rss": batch.samples, "streams": batch.timeline}, f)
                log(f"{label}:", json.dumps(row))
            finally:
                bastion.stop()
            time.sleep(1.0)
    finally:
        mock.stop()
    result["loadavg_after"] = loadavg()
    with open(os.path.join(args.run_dir, "streams.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(report(result))
    return 0 if all(not r["errors"] for r in result["runs"].values()) else 1


def report(result):
    L = [
        "### {} concurrent streams ({} ms between events, 21 events; started over {} s)".format(
            result["streams"], result["chunk_gap_ms"], result["ramp_seconds"]
        ),
        "",
        "{}; everything on cores {}; load average before {} / after {}. TTFT = time to the first "
        "SSE event from before connect; added = Bastion - direct. Times in ms.".format(
            result["date"],
            result["cpus"],
            " ".join(result["loadavg_before"]),
            " ".join(result["loadavg_after"]),
        ),
        "",
        "| path | streams ok / errors | most open at once | TTFT p50 / p90 / p99 | added TTFT p50 / p99 "
        "| RSS idle MB | RSS at peak MB | PSS at peak MB | KB per stream | start to first answer, median s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in result["runs"].items():
        ttft = " / ".join(f"{r.get('ttft_' + q, float('nan')):.2f}" for q in ("p50", "p90", "p99"))
        if label == "direct":
            L.append(f"| direct | {r['n']} / {r['errors']} | | {ttft} | | | | | | |")
            continue
        added = f"{r.get('added_ttft_p50', float('nan')):+.2f} / {r.get('added_ttft_p99', float('nan')):+.2f}"
        pss = "n/a" if r["pss_at_peak_mb"] is None else f"{r['pss_at_peak_mb']:.1f}"
        L.append(
            f"| {label} ({r['processes']} processes) | {r['n']} / {r['errors']} | {r['peak_open']} | {ttft} "
            f"| {added} | {r['rss_idle_mb']:.1f} | **{r['rss_at_peak_mb']:.1f}** | {pss} "
            f"| {r['kb_per_stream']:.0f} | {r['ready_median_s']} |"
        )
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
