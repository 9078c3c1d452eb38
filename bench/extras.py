#!/usr/bin/env python3
"""Bastion numbers the wrk harness does not give (run by bench/run.sh after the harness).

(a) Added time to first byte of a stream at concurrency 1: the same streamed request straight to
    the mock and through Bastion, interleaved in blocks of --block so drift hits both alike,
    >= 2000 streams each. Measured: time to the response headers, to the first complete SSE event
    (the first byte a client can use; Bastion sends its headers only once the upstream's first event
    is in) and to the last byte. Added = Bastion percentile - direct percentile. One row per
    Bastion model: gpt-4o-mini (OpenAI upstream), claude-mock (Anthropic), gemini-mock (Gemini),
    each against the mock route its adapter calls.
(b) Bastion's memory: RSS summed over its process tree (from /proc), right after start, and after
    load (wrk: c=64 JSON, c=64 streams, 256 in flight on the 300 ms upstream, the translated
    paths); also the peak (VmHWM) and PSS (shared pages counted once).
(c) Time from process start (fork of `taskset ... bastion serve`) to the first successful
    completion, polled every 5 ms; median of --starts starts.

Bastion is pinned to --gw-cpus (core 0), this script, the mock and wrk to --load-cpus (core 1).
The mock (nginx, bench/harness/mock/gen_nginx_conf.py) is started here unless one already answers
on --mock-base-port. All traffic is on 127.0.0.1; every loop is bounded. Standard library + wrk.

With --harness-results (the harness's results.json) the script also prints one table that checks
every target in docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import http.client
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "harness"))
import run as harness  # noqa: E402  (bench/harness/run.py: mock, smoke checks, wrk runner)

API_KEY = "sk-bench-0123456789"
RUNS_DIR = os.environ.get("BENCH_RUNS_DIR", "/tmp/bastion-scratch/bench-runs")
# Bastion model name -> (label, direct path on the mock, direct body)
DIRECT = {
    "gpt-4o-mini": ("openai", "/v1/chat/completions", None),
    "claude-mock": (
        "anthropic",
        "/v1/messages",
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 256,
            "system": "You are a helpful assistant.",
            "messages": [{"role": "user", "content": "Say something short."}],
            "stream": True,
        },
    ),
    "gemini-mock": (
        "gemini",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        {
            "systemInstruction": {"parts": [{"text": "You are a helpful assistant."}]},
            "contents": [{"role": "user", "parts": [{"text": "Say something short."}]}],
            "generationConfig": {"maxOutputTokens": 256, "temperature": 0.7},
        },
    ),
}


def log(*a):
    print("[extras {}]".format(time.strftime("%H:%M:%S")), *a, file=sys.stderr, flush=True)


def pct(values, q):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100.0 * len(s) + 0.5) - 1))]


# --------------------------------------------------------------------------- processes


def tree_pids(root):
    """root and all its descendants (from /proc/*/stat ppid)."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    s = f.read()
                ppid = int(s[s.rindex(")") + 2 :].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory_mb(root):
    """{rss, hwm, pss} in MB summed over the process tree of root."""
    rss = hwm = pss = 0
    for p in tree_pids(root):
        with contextlib.suppress(OSError, ValueError):
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        hwm += int(line.split()[1])
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
    return {"rss": round(rss / 1024, 1), "hwm": round(hwm / 1024, 1), "pss": round(pss / 1024, 1)}


class Bastion:
    def __init__(self, cmd, port, cpus, log_path):
        self.cmd, self.port, self.cpus, self.log_path = cmd, port, cpus, log_path
        self.proc = None

    def start(self, timeout=60.0):
        """Start, poll a real completion every 5 ms; returns (seconds to port open, seconds to ready)."""
        if harness.port_in_use("127.0.0.1", self.port):
            raise SystemExit(f"port {self.port} already in use: stop whatever listens there first")
        logf = open(self.log_path, "a")  # noqa: SIM115 (handed to the child)
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            ["taskset", "-c", self.cpus, *shlex.split(self.cmd)],
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logf.close()
        body = harness.request_body("gpt-4o-mini", False)
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + API_KEY}
        t_open = None
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"bastion exited with {self.proc.returncode}; see {self.log_path}")
            if time.perf_counter() - t0 > timeout:
                self.stop()
                raise SystemExit(f"bastion not ready after {timeout:.0f} s; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.connect()
                if t_open is None:
                    t_open = time.perf_counter() - t0
                conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                conn.close()
                if r.status == 200:
                    return t_open, time.perf_counter() - t0
            except OSError:
                pass
            time.sleep(0.005)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        t0 = time.time()
        while harness.port_in_use("127.0.0.1", self.port) and time.time() - t0 < 15:
            time.sleep(0.1)


# --------------------------------------------------------------------------- (a) time to first byte


class StreamClient:
    """One keep-alive connection; times one streamed POST: headers, first SSE event, last byte."""

    def __init__(self, port, path, body, headers):
        self.port, self.path, self.body, self.headers = port, path, body, headers
        self.conn = None

    def once(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        t0 = time.perf_counter()
        self.conn.request("POST", self.path, body=self.body, headers=self.headers)
        r = self.conn.getresponse()
        t_hdr = time.perf_counter()
        if r.status != 200:
            data = r.read()
            self.conn.close()
            self.conn = None
            raise RuntimeError(f"HTTP {r.status} from :{self.port}{self.path}: {data[:200]!r}")
        buf, t_first = b"", None
        while True:
            chunk = r.read1(65536)
            if not chunk:
                break
            if t_first is None:
                buf += chunk
                if b"\n\n" in buf or b"\r\n\r\n" in buf:
                    t_first = time.perf_counter()
        t_end = time.perf_counter()
        if r.will_close:
            self.conn.close()
            self.conn = None
        if t_first is None:
            raise RuntimeError(f"stream from :{self.port}{self.path} had no complete event")
        return t_hdr - t0, t_first - t0, t_end - t0


def measure_ttfb(args, models):
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        "Authorization": "Bearer " + API_KEY,
    }
    rows = []
    for model in models:
        kind, dpath, dbody = DIRECT[model]
        direct_body = json.dumps(dbody).encode() if dbody else harness.request_body("gpt-4o-mini", True)
        direct = StreamClient(args.mock_base_port, dpath, direct_body, headers)
        gw = StreamClient(args.port, "/v1/chat/completions", harness.request_body(model, True), headers)
        for _ in range(args.warmup_streams):
            direct.once()
            gw.once()
        res = {"direct": [], "gw": []}
        blocks = -(-args.streams // args.block)
        gc.collect()
        gc.disable()
        try:
            for b in range(blocks):
                order = (("direct", direct), ("gw", gw)) if b % 2 == 0 else (("gw", gw), ("direct", direct))
                for name, client in order:
                    for _ in range(args.block):
                        res[name].append(client.once())
        finally:
            gc.enable()
        row = {"model": model, "upstream": kind, "n": len(res["gw"])}
        for name in ("direct", "gw"):
            for i, what in enumerate(("hdr", "first", "last")):
                vals = [x[i] * 1000 for x in res[name]]
                row[f"{name}_{what}_p50"] = pct(vals, 50)
                row[f"{name}_{what}_p99"] = pct(vals, 99)
        for what in ("hdr", "first", "last"):
            for q in ("p50", "p99"):
                row[f"added_{what}_{q}"] = row[f"gw_{what}_{q}"] - row[f"direct_{what}_{q}"]
        log(
            f"TTFB {model:<12} n={row['n']}  first event: "
            f"direct p50 {row['direct_first_p50']:.3f} p99 {row['direct_first_p99']:.3f} ms, "
            f"bastion p50 {row['gw_first_p50']:.3f} p99 {row['gw_first_p99']:.3f} ms"
        )
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- (b) load for the memory figure


def load(args, run_dir, models):
    """wrk against Bastion (bounded: --load-seconds per step); returns a list of step summaries."""
    wrk_args = SimpleNamespace(
        wrk=args.wrk, wrk2=None, wrk2_conns=16, timeout=30, load_cpus=args.load_cpus, api_key=API_KEY
    )
    steps = []
    plan = [("thr_c64", "gpt-4o-mini"), ("stream_c64", "gpt-4o-mini"), ("slow_c256", "gpt-4o-mini")]
    plan += [(sc, m) for m in models if m != "gpt-4o-mini" for sc in ("thr_c64", "stream_c64")]
    for sc, model in plan:
        slow_model = model + "-slow"
        res = harness.run_wrk(
            wrk_args,
            sc,
            "127.0.0.1",
            args.port,
            "/v1/chat/completions",
            args.load_seconds,
            os.path.join(run_dir, f"load-{sc}-{model}.txt"),
            models=(model, slow_model),
        )
        errs = (
            res.get("errors_total", 0) + res.get("non2xx_text", 0) if not res.get("failed") else "wrk failed"
        )
        step = {"scenario": sc, "model": model, "rps": round(res.get("rps", 0), 1), "errors": errs}
        log(f"load {sc:<10} {model:<12} {step['rps']:8.1f} req/s  errors {errs}")
        steps.append(step)
    return steps


# --------------------------------------------------------------------------- targets


def harness_cell(results, label, scenario):
    cells = [g["cells"].get(scenario) for g in results["gateways"] if g["label"] == label]
    cells = [c for c in cells if c and not c.get("failed")]
    return cells


def mean_key(cells, key):
    vals = [c[key] for c in cells if c.get(key) is not None]
    return statistics.mean(vals) if vals else None


def targets(harness_results, extras, bastion_label, floor_label):
    """Rows (target, measured, ok) for every target of docs/performance.md."""
    rows = []

    def add(name, value, ok, fmt):
        rows.append(
            (name, "n/a" if value is None else fmt % value, "n/a" if ok is None else ("yes" if ok else "NO"))
        )

    if harness_results:
        with open(harness_results) as f:
            hr = json.load(f)

        def direct(sc, key):
            return mean_key([r[sc] for r in hr["direct_runs"] if sc in r and not r[sc].get("failed")], key)

        def gw(label, sc, key):
            return mean_key(harness_cell(hr, label, sc), key)

        def errors(label, sc):
            cells = harness_cell(hr, label, sc)
            if not cells:
                return None
            return sum(c["errors_total"] + c.get("non2xx_text", 0) + (c["warmup_errors"] or 0) for c in cells)

        for label in [bastion_label] + [
            lab for lab in ("bastion-anthropic", "bastion-gemini") if lab != bastion_label
        ]:
            if not harness_cell(hr, label, "lat_c1") and not harness_cell(hr, label, "thr_c64"):
                continue
            tag = "" if label == bastion_label else f" ({label})"
            g50, d50 = gw(label, "lat_c1", "p50_us"), direct("lat_c1", "p50_us")
            g99, d99 = gw(label, "lat_c1", "p99_us"), direct("lat_c1", "p99_us")
            a50 = (g50 - d50) / 1000 if g50 is not None and d50 is not None else None
            a99 = (g99 - d99) / 1000 if g99 is not None and d99 is not None else None
            add(
                "c=1, 0 ms upstream: added p50 <= 0.6 ms" + tag,
                a50,
                None if a50 is None else a50 <= 0.6,
                "%.3f ms",
            )
            add(
                "c=1, 0 ms upstream: added p99 <= 2 ms" + tag,
                a99,
                None if a99 is None else a99 <= 2,
                "%.3f ms",
            )
            rps = gw(label, "thr_c64", "rps")
            add("c=64: >= 2,000 req/s" + tag, rps, None if rps is None else rps >= 2000, "%.0f req/s")
            floor = gw(floor_label, "thr_c64", "rps")
            ratio = rps / floor if rps is not None and floor else None
            add(
                f"c=64: >= 70% of the floor ({floor_label}) in the same run{tag}",
                None if ratio is None else 100 * ratio,
                None if ratio is None else ratio >= 0.70,
                "%.0f %%",
            )
            if harness_cell(hr, label, "slow_c256"):
                r, dr = gw(label, "slow_c256", "rps"), direct("slow_c256", "rps")
                sr = r / dr if r and dr else None
                add(
                    "256 in flight, 300 ms upstream: >= 95% of direct throughput" + tag,
                    None if sr is None else 100 * sr,
                    None if sr is None else sr >= 0.95,
                    "%.1f %%",
                )
                g99s, d99s = gw(label, "slow_c256", "p99_us"), direct("slow_c256", "p99_us")
                a = (g99s - d99s) / 1000 if g99s is not None and d99s is not None else None
                add("256 in flight: added p99 <= 15 ms" + tag, a, None if a is None else a <= 15, "%.2f ms")
                e = errors(label, "slow_c256")
                add("256 in flight: zero errors" + tag, e, None if e is None else e == 0, "%d")
            srps = gw(label, "stream_c64", "rps")
            add(
                "streams c=64: >= 1,000 streams/s" + tag,
                srps,
                None if srps is None else srps >= 1000,
                "%.0f /s",
            )
            e = sum(errors(label, sc) or 0 for sc in ("lat_c1", "thr_c64", "stream_c1", "stream_c64"))
            add("no errors in the other cells" + tag, e, e == 0, "%d")
    for row in extras.get("ttfb", []):
        a = row["added_first_p99"]
        add("stream c=1: added TTFB p99 <= 2 ms ({} upstream)".format(row["upstream"]), a, a <= 2, "%.3f ms")
    mem = extras.get("memory", {}).get("after_load")
    if mem:
        add("RSS after load <= 150 MB", mem["rss"], mem["rss"] <= 150, "%.1f MB")
    ready = extras.get("ready", {}).get("median_s")
    if ready is not None:
        add("ready <= 1.5 s after start (median)", ready, ready <= 1.5, "%.3f s")
    # translated paths run fewer scenarios: leave out what was not measured for them
    return [r for r in rows if not (r[1] == "n/a" and "(bastion-" in r[0])]


# --------------------------------------------------------------------------- report


def report(extras, target_rows):
    L = ["## Bastion extras", ""]
    L.append(
        "Bastion pinned to core {}; client, mock and wrk on core {}. {}. Times in ms.".format(
            extras["gw_cpus"], extras["load_cpus"], extras["date"]
        )
    )
    L.append("")
    if extras.get("ttfb"):
        L.append("### (a) Streams at c=1: time to first SSE event (TTFB) and to last byte, direct vs Bastion")
        L.append("")
        L.append(
            "| Bastion model (upstream) | streams each | direct TTFB p50 / p99 | Bastion TTFB p50 / p99 "
            "| **added TTFB p50 / p99** | added headers p50 / p99 | added last byte p50 / p99 |"
        )
        L.append("|---|---:|---:|---:|---:|---:|---:|")
        foreign = extras.get("ttfb_foreign_cpu_pct")
        for r in extras["ttfb"]:
            cells = [f"{r['model']} ({r['upstream']})", str(r["n"])]
            for key, sign in (
                ("direct_first", ""),
                ("gw_first", ""),
                ("added_first", "+"),
                ("added_hdr", "+"),
            ):
                cells.append(f"{r[key + '_p50']:{sign}.3f} / {r[key + '_p99']:{sign}.3f}")
            cells.append(f"{r['added_last_p50']:+.3f} / {r['added_last_p99']:+.3f}")
            cells[4] = f"**{cells[4]}**"
            L.append("| " + " | ".join(cells) + " |")
        L.append("")
        if foreign is not None:
            L.append(
                f"Processes this script did not start used {foreign}% of a core meanwhile"
                + (" (more than 5%: the p99 may carry their noise)." if foreign > 5 else ".")
                + f" Blocks of {extras.get('block', 0)} streams, direct and Bastion alternating."
            )
            L.append("")
    mem = extras.get("memory")
    if mem:
        L.append(f"### (b) Memory of Bastion's process tree ({mem['processes']} process(es))")
        L.append("")
        L.append("| when | RSS MB | PSS MB | peak RSS (VmHWM) MB |")
        L.append("|---|---:|---:|---:|")
        for when in ("after_start", "after_load"):
            m = mem[when]
            L.append(
                "| {} | {:.1f} | {:.1f} | {:.1f} |".format(
                    when.replace("_", " "), m["rss"], m["pss"], m["hwm"]
                )
            )
        L.append("")
        steps = "; ".join(
            f"{s['scenario']} {s['model']} {s['rps']:.0f}/s, {s['errors']} errors" for s in extras["load"]
        )
        L.append(f"Load before the second row (wrk, {extras['load_seconds']} s each): {steps}.")
        L.append("")
    ready = extras.get("ready")
    if ready:
        L.append("### (c) Start-up: process start to first successful completion")
        L.append("")
        L.append("| starts | median s | min s | max s | port open (median) s |")
        L.append("|---:|---:|---:|---:|---:|")
        vals = (
            ready["median_s"],
            min(ready["ready_s"]),
            max(ready["ready_s"]),
            statistics.median(ready["port_open_s"]),
        )
        L.append(f"| {len(ready['ready_s'])} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
        L.append("")
    if target_rows:
        L.append("### Targets")
        L.append("")
        L.append("| target | measured | met |")
        L.append("|---|---:|:---:|")
        for name, value, ok in target_rows:
            L.append("| {} | {} | {} |".format(name, value, "**NO**" if ok == "NO" else ok))
        L.append("")
    return "\n".join(L)


# --------------------------------------------------------------------------- main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--bastion-cmd",
        default=f"{REPO}/.venv/bin/bastion serve --config {REPO}/bench/bastion.yaml --port 8080",
        help="command that runs Bastion in the foreground (no shell; split with shlex)",
    )
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--models", default="gpt-4o-mini,claude-mock,gemini-mock", help="Bastion models for (a)")
    p.add_argument("--streams", type=int, default=3000, help="measured streams per path and model (>= 2000)")
    p.add_argument("--warmup-streams", type=int, default=300)
    p.add_argument("--block", type=int, default=100, help="streams per block; direct and Bastion alternate")
    p.add_argument("--starts", type=int, default=5, help="starts for the ready-time median")
    p.add_argument(
        "--load-seconds", type=int, default=8, help="seconds per wrk load step before the RSS reading"
    )
    p.add_argument("--skip", default="", help="comma list of parts to skip: ttfb,memory,ready")
    p.add_argument("--mock-base-port", type=int, default=18080)
    p.add_argument("--slow-ms", type=int, default=300)
    p.add_argument("--gw-cpus", default="0")
    p.add_argument("--load-cpus", default="1")
    p.add_argument("--nginx", default="/usr/sbin/nginx")
    p.add_argument("--echo-module", default=None)
    p.add_argument("--wrk", default="wrk")
    p.add_argument("--harness-results", help="the harness's results.json: also print the targets table")
    p.add_argument("--bastion-label", default="bastion", help="Bastion's label in --harness-results")
    p.add_argument("--floor-label", default="floor", help="the floor's label in --harness-results")
    p.add_argument("--run-dir", default=None, help="default $BENCH_RUNS_DIR/extras-<timestamp>")
    args = p.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in DIRECT:
            p.error("no direct route known for model {} (known: {})".format(m, ", ".join(DIRECT)))

    def _stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    run_dir = args.run_dir or os.path.join(RUNS_DIR, "extras-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(run_dir, exist_ok=True)
    with contextlib.suppress(OSError, ValueError):
        os.sched_setaffinity(0, {int(x) for x in args.load_cpus.split(",") if x.strip().isdigit()})
    extras = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "gw_cpus": args.gw_cpus,
        "load_cpus": args.load_cpus,
        "bastion_cmd": args.bastion_cmd,
        "load_seconds": args.load_seconds,
        "block": args.block,
    }
    expected = "".join(harness.gen_nginx_conf.split_pieces(21))
    mock = None
    bastion = Bastion(args.bastion_cmd, args.port, args.gw_cpus, os.path.join(run_dir, "bastion.log"))
    try:
        if harness.port_in_use("127.0.0.1", args.mock_base_port):
            ok, msg, _ = harness.smoke(
                "127.0.0.1", args.mock_base_port, "/v1/chat/completions", "x", API_KEY, True, expected
            )
            ok = ok and harness.smoke_native("127.0.0.1", args.mock_base_port, "anthropic", True, expected)[0]
            if not ok:
                raise SystemExit(
                    f"something else listens on :{args.mock_base_port} (not the bench mock): {msg}"
                )
            log(f"using the mock already running on :{args.mock_base_port}")
        else:
            ns = SimpleNamespace(
                mock_base_port=args.mock_base_port,
                slow_ms=args.slow_ms,
                chunk_gap_ms=0.0,
                stream_events=21,
                echo_module=args.echo_module,
                nginx=args.nginx,
                load_cpus=args.load_cpus,
            )
            mock = harness.Mock(ns, run_dir)
            mock.start()

        if "ready" not in skip:
            ready, opened = [], []
            for i in range(args.starts):
                t_open, t_ready = bastion.start()
                bastion.stop()
                ready.append(t_ready)
                opened.append(t_open)
                log(f"start {i + 1}: port open after {t_open:.3f} s, first completion after {t_ready:.3f} s")
                time.sleep(0.5)
            extras["ready"] = {"ready_s": ready, "port_open_s": opened, "median_s": statistics.median(ready)}

        if not {"ttfb", "memory"} <= skip:
            bastion.start()
            time.sleep(1.0)
            after_start = memory_mb(bastion.proc.pid)
            if "ttfb" not in skip:
                groups = [bastion.proc.pid] + ([mock.proc.pid] if mock is not None else [])
                meter = harness.ForeignMeter(groups)
                extras["ttfb"] = measure_ttfb(args, models)
                extras["ttfb_foreign_cpu_pct"] = round(100 * meter.cores(), 1)
            if "memory" not in skip:
                extras["load"] = load(args, run_dir, models)
                time.sleep(2.0)
                extras["memory"] = {
                    "after_start": after_start,
                    "after_load": memory_mb(bastion.proc.pid),
                    "processes": len(tree_pids(bastion.proc.pid)),
                }
                log(
                    "RSS after start {:.1f} MB, after load {:.1f} MB".format(
                        after_start["rss"], extras["memory"]["after_load"]["rss"]
                    )
                )
            extras["bastion_alive_at_end"] = bastion.proc.poll() is None
    except KeyboardInterrupt as e:
        log(f"interrupted ({e})")
        return 130
    finally:
        bastion.stop()
        if mock is not None:
            mock.stop()
        with open(os.path.join(run_dir, "extras.json"), "w") as f:
            json.dump(extras, f, indent=1)

    rows = targets(args.harness_results, extras, args.bastion_label, args.floor_label)
    text = report(extras, rows)
    with open(os.path.join(run_dir, "extras.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    print(f"extras.json, extras.md, bastion.log and the wrk output of the load: {run_dir}")
    return 1 if any(ok == "NO" for _, _, ok in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
