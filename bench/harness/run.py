#!/usr/bin/env python3
# ruff: noqa: UP031
# (copied harness: printf-style formatting throughout)
"""Measure the overhead an LLM gateway adds in front of an OpenAI-compatible API.

Starts a mock upstream (nginx + echo module, see mock/gen_nginx_conf.py), then
for each scenario runs wrk (closed loop, fixed connection count) directly
against the mock (baseline) and through each gateway, and prints one table:
added p50/p99 latency (gateway minus direct) and the throughput ratio.

CPU pinning (default): the gateway process tree gets core 0 (taskset -c 0),
nginx, wrk and this driver get core 1.

Standard library only.  Example:

  python3 bench/run.py \\
    --gateway litellm 4000 'bench/gateways/litellm/start.sh default'

A gateway must be configured with two model names that point at the mock:
  --model       (default gpt-4o-mini)      -> api_base http://127.0.0.1:BASE_PORT/v1   (0 ms)
  --model-slow  (default gpt-4o-mini-slow) -> api_base http://127.0.0.1:BASE_PORT+1/v1 (--slow-ms)
and accept `Authorization: Bearer <--api-key>`.

Copied from the shared gateway benchmark (../shared/bench/run.py) into Bastion's bench/harness/ so
the project runs it on its own. Changes for Bastion:
  * the mock also serves Anthropic (/v1/messages) and Gemini (/v1beta/models/*:generateContent,
    :streamGenerateContent) answers, and the mock self-check covers them;
  * per-gateway model names and scenario lists (--gateway-models, --gateway-scenarios), so a
    translated path (OpenAI in, Anthropic/Gemini upstream) runs in the same invocation, against
    the same direct baseline:
      --gateway bastion-anthropic 8080 CMD --gateway-models bastion-anthropic claude-mock claude-mock-slow
      --gateway-scenarios bastion-anthropic lat_c1,thr_c64,stream_c1,stream_c64
    (the direct baseline stays the OpenAI route of the mock: both answer from the same nginx at the
    same cost, so "added" is still what the gateway adds);
  * the slow smoke check is skipped when a gateway's slow model is its fast model.
"""

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "mock"))
import gen_nginx_conf  # noqa: E402

LUA = os.path.join(HERE, "wrk", "chat.lua")
DEFAULT_RUNS_DIR = os.environ.get("BENCH_RUNS_DIR", "/tmp/bastion-scratch/bench-runs")

# name -> (stream, slow upstream, connections, description)
SCENARIOS = {
    "lat_c1": (False, False, 1, "non-stream, 0 ms upstream, c=1: pure added latency"),
    "thr_c64": (False, False, 64, "non-stream, 0 ms upstream, c=64: max throughput"),
    "slow_c256": (False, True, 256, "non-stream, SLOW ms upstream, c=256: queueing with many in flight"),
    "stream_c1": (True, False, 1, "stream (20 chunks + [DONE]), 0 ms upstream, c=1"),
    "stream_c64": (True, False, 64, "stream (20 chunks + [DONE]), 0 ms upstream, c=64"),
    # only with --wrk2 and --wrk2-rate: constant arrival rate, latency corrected for coordinated omission;
    # connections = --wrk2-conns
    "rate": (False, False, None, "non-stream, 0 ms upstream, wrk2 constant rate R rps over N connections"),
}
DEFAULT_SCENARIOS = "lat_c1,thr_c64,slow_c256,stream_c1,stream_c64"


def log(*a):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- helpers


def port_in_use(host, port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_port(host, port, timeout, proc=None):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            return False
        if port_in_use(host, port):
            return True
        time.sleep(0.2)
    return False


def read_proc_stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    rest = s[s.rindex(")") + 2 :].split()
    # rest[0] = state (field 3); pgrp = field 5 -> rest[2]; utime/stime = fields 14/15 -> rest[11]/rest[12]
    return {"pgrp": int(rest[2]), "utime": int(rest[11]), "stime": int(rest[12])}


def group_pids(pgid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if read_proc_stat(int(d))["pgrp"] == pgid:
                    out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def group_cpu_ticks(pgid):
    tot = 0
    for p in group_pids(pgid):
        try:
            st = read_proc_stat(p)
            tot += st["utime"] + st["stime"]
        except (OSError, ValueError, IndexError):
            pass
    return tot


def wait_idle(gateway, threshold, timeout, window=1.0):
    """Wait until the gateway process group uses < threshold cores over `window` s.

    A saturated gateway keeps working on queued requests after wrk has gone; without
    this, that backlog would be charged to the next cell.  Returns seconds waited,
    or None if still busy after `timeout`."""
    hz = os.sysconf("SC_CLK_TCK")
    t_start = time.time()
    while True:
        a = gateway.cpu_ticks()
        time.sleep(window)
        b = gateway.cpu_ticks()
        if (b - a) / hz / window < threshold:
            return round(time.time() - t_start, 1)
        if time.time() - t_start > timeout or not gateway.alive():
            return None


def core_busy(cpus, seconds=1.0):
    """Mean busy % of the given cores (comma list) over `seconds`."""
    names = ["cpu%s" % c for c in cpus.split(",") if c.strip().isdigit()]
    a = cpu_times()
    time.sleep(seconds)
    u = cpu_util(a, cpu_times())
    vals = [u[n] for n in names if u.get(n) is not None]
    return round(statistics.mean(vals), 1) if vals else None


def busy_ticks():
    """user+nice+system ticks over all CPUs (irq/softirq/steal excluded) from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2]


def own_ticks(groups):
    """CPU ticks of this driver, its reaped children (wrk) and the given process groups."""
    import resource

    hz = os.sysconf("SC_CLK_TCK")
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = (me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime) * hz
    for g in groups:
        if g:
            t += group_cpu_ticks(g)
    return t


class ForeignMeter:
    """CPU used by everything that is not this run: all busy time minus ours.

    Counts short-lived processes too (they show in /proc/stat even after exiting);
    kernel threads count as foreign, so the figure is conservative."""

    def __init__(self, groups):
        self.groups = groups
        self.t0, self.b0, self.o0 = time.time(), busy_ticks(), own_ticks(groups)

    def cores(self):
        hz = os.sysconf("SC_CLK_TCK")
        dt_ = time.time() - self.t0
        used = (busy_ticks() - self.b0) - (own_ticks(self.groups) - self.o0)
        return max(0.0, used / hz / dt_) if dt_ > 0 else 0.0


def wait_quiet(groups, limit_cores, timeout, window=1.0):
    """Wait until processes that are not ours use < limit_cores; returns (seconds waited, last level)."""
    t0 = time.time()
    while True:
        m = ForeignMeter(groups)
        time.sleep(window)
        level = m.cores()
        if level < limit_cores or time.time() - t0 > timeout:
            return round(time.time() - t0, 1), round(level, 3)
        log(
            "other processes are using %.0f%% of a core; waiting for the machine to be quiet ..."
            % (100 * level)
        )
        time.sleep(4)


def cpus_allowed(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def proc_name(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:120]
    except OSError:
        return "?"


def cpu_times():
    """{cpuN: (busy, total, steal)} from /proc/stat (busy includes steal)."""
    res = {}
    with open("/proc/stat") as f:
        for line in f:
            if re.match(r"cpu\d+ ", line):
                parts = line.split()
                vals = [int(x) for x in parts[1:]]
                idle = vals[3] + vals[4]  # idle + iowait
                res[parts[0]] = (sum(vals[:8]) - idle, sum(vals[:8]), vals[7], vals[0] + vals[1] + vals[2])
    return res


def cpu_usersys(before, after):
    """user+nice+system % per core: process work only (no irq/softirq/steal)."""
    out = {}
    for k in after:
        dt_ = after[k][1] - before[k][1]
        out[k] = round(100.0 * (after[k][3] - before[k][3]) / dt_, 1) if dt_ > 0 else None
    return out


def cpu_steal(before, after):
    """Steal time % per core: time the hypervisor gave this vCPU's slot to someone else."""
    out = {}
    for k in after:
        dt_ = after[k][1] - before[k][1]
        out[k] = round(100.0 * (after[k][2] - before[k][2]) / dt_, 1) if dt_ > 0 else None
    return out


def cpu_util(before, after):
    out = {}
    for k in after:
        db = after[k][0] - before[k][0]
        dt_ = after[k][1] - before[k][1]
        out[k] = round(100.0 * db / dt_, 1) if dt_ > 0 else None
    return out


PROBE = (
    "import time,hashlib\n"
    "t=time.perf_counter()\n"
    "h=b'x'\n"
    "for i in range(300000): h=hashlib.sha256(h).digest()\n"
    "s=sum(i*i for i in range(2000000))\n"
    "print(round((time.perf_counter()-t)*1000,1))"
)


def speed_probe(cpus):
    """Fixed single-threaded Python work on the given core(s), in ms: compares machine speed between runs
    (a slower host, e.g. busy neighbours, shows here even when steal time is 0)."""
    try:
        r = subprocess.run(
            ["taskset", "-c", cpus, sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120
        )
        return float(r.stdout.strip())
    except Exception:
        return None


def version_of(cmd):
    try:
        r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60)
        txt = (r.stdout + r.stderr).strip().splitlines()
        return txt[0] if txt else "?"
    except Exception as e:
        return "? (%s)" % e


def fmt_ms(us):
    if us is None:
        return "n/a"
    ms = us / 1000.0
    if abs(ms) < 1:
        return "%.3f" % ms
    if abs(ms) < 100:
        return "%.2f" % ms
    return "%.0f" % ms


def fmt_signed_ms(us):
    if us is None:
        return "n/a"
    s = fmt_ms(abs(us))
    return ("+" if us >= 0 else "-") + s


# --------------------------------------------------------------------------- HTTP smoke checks


def http_post(host, port, path, body, headers, timeout=30):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    t0 = time.time()
    conn.request("POST", path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    el = time.time() - t0
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    return r.status, hdrs, data, el


def request_body(model, stream):
    b = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say something short."},
        ],
        "max_tokens": 256,
        "temperature": 0.7,
    }
    if stream:
        b["stream"] = True
        b["stream_options"] = {"include_usage": True}
    return json.dumps(b).encode()


def smoke(host, port, path, model, api_key, stream, expected, min_latency_s=0.0):
    """Return (ok, message, details) after one real request."""
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + api_key}
    try:
        st, hd, data, el = http_post(host, port, path, request_body(model, stream), headers)
    except Exception as e:
        return False, "request failed: %r" % e, {}
    det = {
        "status": st,
        "elapsed_s": round(el, 4),
        "content_type": hd.get("content-type"),
        "bytes": len(data),
        "body_head": data[:600].decode(errors="replace"),
    }
    if st != 200:
        return False, "HTTP %d: %s" % (st, data[:300].decode(errors="replace")), det
    if el < min_latency_s:
        return (
            False,
            "answered in %.3fs, faster than the upstream delay %.3fs: not the slow mock?"
            % (el, min_latency_s),
            det,
        )
    txt = data.decode(errors="replace")
    if not stream:
        try:
            obj = json.loads(txt)
            content = obj["choices"][0]["message"]["content"]
        except Exception as e:
            return False, "bad JSON: %r" % e, det
        det["usage"] = obj.get("usage")
        if content != expected:
            return False, "content mismatch: %r" % content, det
        return True, "ok", det
    if "text/event-stream" not in (hd.get("content-type") or ""):
        return False, "content-type %r is not text/event-stream" % hd.get("content-type"), det
    events = [ln[5:].strip() for ln in txt.splitlines() if ln.startswith("data:")]
    det["events"] = len(events)
    if not events or events[-1] != "[DONE]":
        return False, "stream does not end with data: [DONE]", det
    content, usage = "", None
    for e in events[:-1]:
        try:
            o = json.loads(e)
        except Exception:
            return False, "non-JSON SSE event: %r" % e[:200], det
        for ch in o.get("choices") or []:
            content += (ch.get("delta") or {}).get("content") or ""
        if o.get("usage"):
            usage = o["usage"]
    det["usage"] = usage
    if content != expected:
        return False, "stream content mismatch: %r" % content, det
    return True, "ok", det


def smoke_native(host, port, kind, stream, expected):
    """Check the mock's Anthropic / Gemini routes (what Bastion's adapters call upstream): (ok, message)."""
    if kind == "anthropic":
        path = "/v1/messages"
        body = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 256,
            "messages": [{"role": "user", "content": "Hi"}],
        }
        if stream:
            body["stream"] = True
    else:
        path = "/v1beta/models/gemini-2.5-flash:" + (
            "streamGenerateContent?alt=sse" if stream else "generateContent"
        )
        body = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    try:
        st, hd, data, _ = http_post(
            host, port, path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        if st != 200:
            return False, "HTTP %d" % st
        txt = data.decode()
        if not stream:
            o = json.loads(txt)
            if kind == "anthropic":
                content = "".join(b["text"] for b in o["content"] if b["type"] == "text")
            else:
                content = "".join(p_["text"] for p_ in o["candidates"][0]["content"]["parts"])
        else:
            if "text/event-stream" not in hd.get("content-type", ""):
                return False, "content-type %r" % hd.get("content-type")
            datas = [json.loads(ln[5:]) for ln in txt.splitlines() if ln.startswith("data:")]
            if kind == "anthropic":
                types = [d["type"] for d in datas]
                if types[:2] != ["message_start", "content_block_start"] or types[-3:] != [
                    "content_block_stop",
                    "message_delta",
                    "message_stop",
                ]:
                    return False, "unexpected event sequence %s" % types
                content = "".join(d["delta"]["text"] for d in datas if d["type"] == "content_block_delta")
            else:
                if (
                    "usageMetadata" not in datas[-1]
                    or datas[-1]["candidates"][0].get("finishReason") != "STOP"
                ):
                    return False, "last chunk lacks usageMetadata/finishReason"
                content = "".join(p_["text"] for d in datas for p_ in d["candidates"][0]["content"]["parts"])
        if content != expected:
            return False, "content mismatch: %r" % content
        return True, "ok"
    except Exception as e:
        return False, "request failed: %r" % e


# --------------------------------------------------------------------------- processes


class Mock:
    def __init__(self, args, run_dir):
        self.args = args
        self.dir = os.path.join(run_dir, "mock")
        self.proc = None

    def start(self):
        a = self.args
        os.makedirs(self.dir, exist_ok=True)
        conf_args = [
            "--run-dir",
            self.dir,
            "--base-port",
            str(a.mock_base_port),
            "--delays-ms",
            "0,%d" % a.slow_ms,
            "--chunk-gap-ms",
            str(a.chunk_gap_ms),
            "--stream-events",
            str(a.stream_events),
        ]
        if a.echo_module:
            conf_args += ["--echo-module", a.echo_module]
        gen_nginx_conf.main(conf_args)
        conf = os.path.join(self.dir, "nginx.conf")
        for p in (a.mock_base_port, a.mock_base_port + 1):
            if port_in_use("127.0.0.1", p):
                raise SystemExit("port %d already in use: stop whatever listens there first" % p)
        r = subprocess.run([a.nginx, "-t", "-c", conf, "-p", self.dir], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("nginx -t failed:\n" + r.stderr)
        self.proc = subprocess.Popen(
            ["taskset", "-c", a.load_cpus, a.nginx, "-c", conf, "-p", self.dir, "-g", "daemon off;"],
            stdout=open(os.path.join(self.dir, "nginx.out"), "w"),  # noqa: SIM115 (lives as long as nginx)
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for p in (a.mock_base_port, a.mock_base_port + 1):
            if not wait_port("127.0.0.1", p, 10, self.proc):
                raise SystemExit("mock nginx did not start, see %s" % self.dir)
        log(
            "mock nginx pid %d on 127.0.0.1:%d (0 ms) and :%d (%d ms)"
            % (self.proc.pid, a.mock_base_port, a.mock_base_port + 1, a.slow_ms)
        )

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


class Gateway:
    def __init__(self, label, port, cmd, args, run_dir, repeat=1):
        self.label, self.port, self.cmd, self.args = label, int(port), cmd, args
        self.models = args.gw_models.get(label, (args.model, args.model_slow))
        self.scenarios = args.gw_scenarios.get(label, args.scenarios)
        self.dir = os.path.join(run_dir, safe(label) + ("" if repeat == 1 else "-run%d" % repeat))
        self.proc = None
        self.logf = None

    def start(self):
        a = self.args
        os.makedirs(self.dir, exist_ok=True)
        if port_in_use(a.gateway_host, self.port):
            raise RuntimeError(
                "port %d already in use before starting %s: a stale gateway would give "
                "false numbers, stop it first" % (self.port, self.label)
            )
        self.logf = open(os.path.join(self.dir, "gateway.log"), "w")  # noqa: SIM115 (closed in stop())
        log(
            "starting %s: taskset -c %s bash -c %s" % (self.label, a.gw_cpus, shlex.quote("exec " + self.cmd))
        )
        env = dict(os.environ, BENCH_GATEWAY_DIR=self.dir)  # scratch dir the start command may use
        self.proc = subprocess.Popen(
            ["taskset", "-c", a.gw_cpus, "bash", "-c", "exec " + self.cmd],
            env=env,
            stdout=self.logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        t0 = time.time()
        if not wait_port(a.gateway_host, self.port, a.startup_timeout, self.proc):
            raise RuntimeError(
                "gateway did not open port %d (exit code %s); log tail:\n%s"
                % (self.port, self.proc.poll(), self.log_tail())
            )
        # the port may open before the app is ready: poll a real request
        while True:
            ok, msg, _ = smoke(
                a.gateway_host, self.port, a.gateway_path, self.models[0], a.api_key, False, a.expected
            )
            if ok:
                break
            if self.proc.poll() is not None or time.time() - t0 > a.startup_timeout:
                raise RuntimeError("gateway not ready: %s; log tail:\n%s" % (msg, self.log_tail()))
            time.sleep(0.5)
        self.startup_s = round(time.time() - t0, 1)
        log("%s ready after %.1fs (pid %d)" % (self.label, self.startup_s, self.proc.pid))

    def affinity_report(self):
        return [{"pid": p, "cpus": cpus_allowed(p), "cmd": proc_name(p)} for p in group_pids(self.proc.pid)]

    def cpu_ticks(self):
        return group_cpu_ticks(self.proc.pid)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=30):
        try:
            self.logf.flush()
            with open(os.path.join(self.dir, "gateway.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        # leftovers of the group (workers that outlived the leader)
        for p in group_pids(self.proc.pid):
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
        if self.logf:
            self.logf.close()
        t0 = time.time()
        while port_in_use(self.args.gateway_host, self.port) and time.time() - t0 < 15:
            time.sleep(0.3)


def safe(s):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s)


# --------------------------------------------------------------------------- wrk


def parse_wrk(text):
    m = re.search(r"^BENCH_RESULT (\{.*\})\s*$", text, re.M)
    if not m:
        return None
    r = json.loads(m.group(1))
    # cross-check with wrk's own text lines
    m2 = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    r["non2xx_text"] = int(m2.group(1)) if m2 else 0
    m3 = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["socket_errors_text"] = [int(x) for x in m3.groups()] if m3 else [0, 0, 0, 0]
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
    r["bytes_per_resp"] = r["bytes"] / r["requests"] if r["requests"] else 0
    r["errors_total"] = r["err_status"] + r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
    return r


def run_wrk(args, scenario, host, port, path, duration, out_file, rate=None, models=None):
    stream, slow, conns, _ = SCENARIOS[scenario]
    model, model_slow = models or (args.model, args.model_slow)
    conns = conns or args.wrk2_conns
    env = dict(os.environ)
    env["BENCH_STREAM"] = "1" if stream else "0"
    env["BENCH_API_KEY"] = args.api_key
    env["BENCH_MODEL"] = model_slow if slow else model
    url = "http://%s:%d%s" % (host, port, path)
    if rate is not None:
        dur = duration + 10 + conns * 0.005  # wrk2 spends ~10 s calibrating before it records
        cmd = [
            args.wrk2,
            "-t1",
            "-c%d" % conns,
            "-d%ds" % round(dur),
            "-R%d" % rate,
            "--latency",
            "--timeout",
            "%ds" % args.timeout,
            "-s",
            LUA,
            url,
        ]
    else:
        cmd = [
            args.wrk,
            "-t1",
            "-c%d" % conns,
            "-d%ds" % duration,
            "--latency",
            "--timeout",
            "%ds" % args.timeout,
            "-s",
            LUA,
            url,
        ]
    full = ["taskset", "-c", args.load_cpus, *cmd]
    r = subprocess.run(full, env=env, capture_output=True, text=True, timeout=duration + 120)
    text = r.stdout + ("\n[stderr]\n" + r.stderr if r.stderr.strip() else "")
    if out_file:
        with open(out_file, "w") as f:
            f.write(
                "$ BENCH_STREAM=%s BENCH_MODEL=%s BENCH_API_KEY=... %s\n\n"
                % (env["BENCH_STREAM"], env["BENCH_MODEL"], " ".join(shlex.quote(c) for c in full))
            )
            f.write(text)
    res = parse_wrk(text)
    if res is None:
        res = {"failed": True, "raw_tail": text[-800:], "requests": 0, "errors_total": 0}
    res["cmd"] = " ".join(shlex.quote(c) for c in full)
    res["model"] = env["BENCH_MODEL"]
    res["rc"] = r.returncode
    return res


def measure_cell(args, label, scenario, host, port, path, cell_dir, gateway=None):
    # gateway.models: its own model names (--gateway-models); direct runs use the mock's defaults
    """measure_once(), repeated (up to --retries times) while other processes disturbed the window."""
    tries = []
    for attempt in range(args.retries + 1):
        res = measure_once(args, label, scenario, host, port, path, cell_dir, gateway)
        tries.append(
            {k: res.get(k) for k in ("rps", "p50_us", "p99_us", "requests", "foreign_cpu_pct", "flags")}
        )
        foreign_only = res["flags"] and all(
            f.startswith(("other procs", "other processes used", "other load on", "gateway core"))
            for f in res["flags"]
        )
        if not foreign_only or attempt == args.retries:
            break
        log(
            "%-16s %-11s disturbed by other processes; measuring again (%d/%d)"
            % (label, scenario, attempt + 1, args.retries)
        )
    res["attempts"] = tries
    if len(tries) > 1:
        res["notes"].append(
            "measured %d times, kept the last (earlier ones disturbed by other processes)" % len(tries)
        )
    return res


def measure_once(args, label, scenario, host, port, path, cell_dir, gateway=None):
    rate = args.wrk2_rate if scenario == "rate" else None
    groups = [args.mock_pgid] + ([gateway.proc.pid] if gateway else [])
    quiet_s, quiet_level = wait_quiet(groups, args.foreign_pct / 100.0, args.quiet_timeout)
    log("%-16s %-11s warm-up %ds ..." % (label, scenario, args.warmup))
    models = gateway.models if gateway is not None else None
    warm = run_wrk(
        args,
        scenario,
        host,
        port,
        path,
        args.warmup,
        os.path.join(cell_dir, scenario + ".warmup.txt"),
        models=models,
    )
    drain_warm = wait_idle(gateway, args.idle_threshold, args.drain_timeout) if gateway else 0
    time.sleep(args.pause)
    c0 = cpu_times()
    fm = ForeignMeter(groups)
    g0 = gateway.cpu_ticks() if gateway else None
    res = run_wrk(
        args,
        scenario,
        host,
        port,
        path,
        args.duration,
        os.path.join(cell_dir, scenario + ".txt"),
        rate=rate,
        models=models,
    )
    c1 = cpu_times()
    foreign_cores = fm.cores()
    g1 = gateway.cpu_ticks() if gateway else None
    util = cpu_util(c0, c1)
    res["cpu_util"] = util
    res["cpu_steal"] = cpu_steal(c0, c1)
    usersys = cpu_usersys(c0, c1)
    res["drain_after_warmup_s"] = drain_warm
    res["quiet_wait_s"], res["foreign_before_cores"] = quiet_s, quiet_level
    res["foreign_cpu_pct"] = round(100 * foreign_cores, 1)
    res["drain_after_s"] = wait_idle(gateway, args.idle_threshold, args.drain_timeout) if gateway else 0
    res["warmup_errors"] = warm.get("errors_total", 0) if not warm.get("failed") else "wrk failed"
    res["warmup_requests"] = warm.get("requests", 0)
    res["scenario"] = scenario
    res["label"] = label
    if gateway is not None:
        hz = os.sysconf("SC_CLK_TCK")
        secs = (g1 - g0) / hz
        dur_s = res.get("duration_us", 0) / 1e6 or args.duration
        res["gw_cpu_s"] = round(secs, 2)
        res["gw_cpu_pct"] = round(100 * secs / dur_s, 1)
        res["gw_cpu_ms_per_req"] = round(1000 * secs / res["requests"], 3) if res.get("requests") else None
        res["gw_alive_after"] = gateway.alive()
    flags = []
    if res.get("failed"):
        flags.append("wrk failed (rc %s)" % res.get("rc"))
    else:
        if res["err_status"] or res["non2xx_text"]:
            flags.append("%d non-2xx" % max(res["err_status"], res["non2xx_text"]))
        se = [res["err_connect"], res["err_read"], res["err_write"], res["err_timeout"]]
        if any(se):
            flags.append("socket errors c/r/w/t=%s" % "/".join(map(str, se)))
        if res["requests"] == 0:
            flags.append("0 requests")
    if res["warmup_errors"]:
        flags.append("warm-up errors: %s" % res["warmup_errors"])
    if gateway is not None and not gateway.alive():
        flags.append("gateway died")
    if gateway is not None and (res["drain_after_s"] is None or drain_warm is None):
        flags.append("gateway still busy %ds after load stopped" % args.drain_timeout)
    if res["foreign_cpu_pct"] > args.foreign_pct:
        flags.append("other procs %.0f%% of a core" % res["foreign_cpu_pct"])
    notes = []
    gw_cores = ["cpu%s" % c for c in args.gw_cpus.split(",") if c.strip().isdigit()]
    load_cores = ["cpu%s" % c for c in args.load_cpus.split(",") if c.strip().isdigit()]
    core_pct = [usersys.get(k) for k in gw_cores if usersys.get(k) is not None]
    if core_pct:
        core_pct = statistics.mean(core_pct)
        if gateway is None and core_pct > 50:
            flags.append("gateway core %.0f%% busy during a direct run (leftover process?)" % core_pct)
        elif gateway is None and core_pct > args.interference_pct:
            notes.append("gateway core %.0f%% busy during this direct run" % core_pct)
        if (
            gateway is not None
            and res.get("gw_cpu_pct") is not None
            and core_pct - res["gw_cpu_pct"] / len(gw_cores) > args.interference_pct
        ):
            flags.append(
                "other load on gateway core (core %.0f%%, gateway %.0f%%)" % (core_pct, res["gw_cpu_pct"])
            )
    load_pct = [util.get(k) for k in load_cores if util.get(k) is not None]
    if gateway is not None and load_pct and statistics.mean(load_pct) >= 95:
        notes.append(
            "load-generator core %.0f%% busy: wrk/nginx may be the limit, not the gateway"
            % statistics.mean(load_pct)
        )
    steal = [v for v in res["cpu_steal"].values() if v is not None]
    if steal and max(steal) > 5:
        notes.append("hypervisor steal up to %.0f%% of a core" % max(steal))
    if not res.get("failed") and 0 < res["requests"] < args.min_requests:
        notes.append("only %d requests: percentiles are coarse" % res["requests"])
    res["notes"] = notes
    res["flags"] = flags
    if res.get("failed"):
        log("%-16s %-11s FAILED: %s" % (label, scenario, res.get("raw_tail", "")[-300:]))
    else:
        log(
            "%-16s %-11s %8.1f rps  p50 %s ms  p99 %s ms  cpu %s %s"
            % (
                label,
                scenario,
                res["rps"],
                fmt_ms(res["p50_us"]),
                fmt_ms(res["p99_us"]),
                util,
                ("FLAGS: " + "; ".join(flags) if flags else "")
                + (" notes: " + "; ".join(notes) if notes else ""),
            )
        )
    if gateway is not None:
        log(
            "%-16s %-11s gateway idle again %ss after warm-up, %ss after measurement"
            % (label, scenario, drain_warm, res["drain_after_s"])
        )
    time.sleep(args.pause)
    return res


# --------------------------------------------------------------------------- report


def mean_of(cells, key):
    vals = [c[key] for c in cells if c and not c.get("failed") and c.get(key) is not None]
    return statistics.mean(vals) if vals else None


def gw_labels(gw_results):
    seen = []
    for g in gw_results:
        if g["label"] not in seen:
            seen.append(g["label"])
    return seen


def fmt_range(vals, f):
    if len(vals) < 2:
        return ""
    return "%s–%s" % (f(min(vals)), f(max(vals)))


def build_report(args, meta, direct_runs, gw_results):
    L = []
    a = L.append
    labels = gw_labels(gw_results)
    a("## Gateway overhead: %s" % ", ".join(labels))
    a("")
    a(
        "Date: %s. Host: %s, %s CPUs. CPU pinning: gateway -> core(s) %s; "
        "nginx mock + wrk (+ driver) -> core(s) %s."
        " Speed probe on the gateway core (fixed Python work, lower = faster) at start / end: %s ms."
        % (
            meta["date"],
            meta["cpu_model"],
            meta["ncpu"],
            args.gw_cpus,
            args.load_cpus,
            " / ".join(str(x) for x in meta.get("speed_probe_ms", [])) or "n/a",
        )
    )
    a(
        "Each cell: %ds warm-up (discarded), gateway idle again, then %ds measured; wrk -t1, closed loop "
        "(fixed connections). Direct = the same wrk request straight to the mock; reference = mean of %d "
        "direct run(s). Gateway values = mean of %d run(s) (gateway restarted for each, runs interleaved); "
        "range = min–max over runs. "
        "Added = gateway - direct. Ratio = gateway RPS / direct RPS. Latency in ms."
        % (args.warmup, args.duration, len(direct_runs), args.repeats)
    )
    a("")
    a(
        "| scenario | gateway | direct p50 | direct p99 | gw p50 | gw p99 | added p50 | added p99 "
        "| direct RPS | gw RPS | RPS ratio | gw CPU ms/req | gw p50 range | gw RPS range "
        "| flags (bold) / notes |"
    )
    a("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for sc in args.scenarios:
        dcells = [run.get(sc) for run in direct_runs]
        d50, d99, drps = mean_of(dcells, "p50_us"), mean_of(dcells, "p99_us"), mean_of(dcells, "rps")
        dflags = sorted({f for c in dcells if c for f in c.get("flags", [])})
        for label in labels:
            runs = [g for g in gw_results if g["label"] == label and sc in g.get("scenarios", args.scenarios)]
            if not runs:  # not asked for this gateway (--gateway-scenarios)
                continue
            cells = [g["cells"].get(sc) for g in runs]
            ok = [c for c in cells if c and not c.get("failed")]
            errs = [g.get("error") for g in runs if g.get("error")]
            flags, notes = [], []
            for i, (g, c) in enumerate(zip(runs, cells, strict=True)):
                tag = "run %d: " % (i + 1) if len(runs) > 1 else ""
                if c is None:
                    flags.append(tag + (g.get("error") or "not run"))
                    continue
                flags += [tag + f for f in c.get("flags", [])]
                notes += [tag + n for n in c.get("notes", [])]
            if dflags:
                flags.append("direct run flagged, see below")
            flagtxt = "; ".join(
                ([("**FLAGGED: " + "; ".join(flags) + "**")] if flags else ["0"])
                + (["note: " + "; ".join(notes)] if notes else [])
            )
            if not ok:
                a(
                    "| %s | %s | %s | %s | FAIL | FAIL | | | %s | | | | | | %s |"
                    % (
                        sc,
                        label,
                        fmt_ms(d50),
                        fmt_ms(d99),
                        "%.0f" % drps if drps else "n/a",
                        flagtxt if flags else "**FAILED: %s**" % "; ".join(errs),
                    )
                )
                continue
            g50 = statistics.mean(c["p50_us"] for c in ok)
            g99 = statistics.mean(c["p99_us"] for c in ok)
            grps = statistics.mean(c["rps"] for c in ok)
            cpu = [c["gw_cpu_ms_per_req"] for c in ok if c.get("gw_cpu_ms_per_req") is not None]
            add50 = g50 - d50 if d50 is not None else None
            add99 = g99 - d99 if d99 is not None else None
            ratio = grps / drps if drps else None
            a(
                "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
                % (
                    sc,
                    label,
                    fmt_ms(d50),
                    fmt_ms(d99),
                    fmt_ms(g50),
                    fmt_ms(g99),
                    fmt_signed_ms(add50),
                    fmt_signed_ms(add99),
                    "%.0f" % drps if drps else "n/a",
                    "%.1f" % grps,
                    "%.4f" % ratio if ratio is not None else "n/a",
                    "%.1f" % statistics.mean(cpu) if cpu else "?",
                    fmt_range([c["p50_us"] for c in ok], fmt_ms),
                    fmt_range([c["rps"] for c in ok], lambda v: "%.1f" % v),
                    flagtxt,
                )
            )
    a("")
    custom = [
        g for g in gw_results if g.get("models") and tuple(g["models"]) != (args.model, args.model_slow)
    ]
    if custom:
        a(
            "Model names: %s; others `%s` / `%s` (fast / slow upstream)."
            % (
                "; ".join(
                    sorted({"%s `%s` / `%s`" % (g["label"], g["models"][0], g["models"][1]) for g in custom})
                ),
                args.model,
                args.model_slow,
            )
        )
        a("")
    a(
        "Scenarios: "
        + "; ".join(
            "`%s` = %s"
            % (
                s_,
                SCENARIOS[s_][3]
                .replace("SLOW", str(args.slow_ms))
                .replace(" R ", " %s " % args.wrk2_rate)
                .replace(" N ", " %s " % args.wrk2_conns),
            )
            for s_ in args.scenarios
        )
        + "."
    )
    a("")
    # noise table
    if len(direct_runs) >= 1:
        a("### Direct (no gateway) runs: run-to-run spread")
        a("")
        hdr = "| scenario | " + " | ".join(
            "run %d p50 / p99 / RPS" % (i + 1) for i in range(len(direct_runs))
        )
        a(hdr + " | RPS spread | p99 spread |")
        a("|---|" + "---|" * len(direct_runs) + "---:|---:|")
        for sc in args.scenarios:
            cells = [run.get(sc) for run in direct_runs]
            parts = []
            for c in cells:
                if not c or c.get("failed"):
                    parts.append("FAIL")
                else:
                    parts.append(
                        "%s / %s / %.0f%s"
                        % (
                            fmt_ms(c["p50_us"]),
                            fmt_ms(c["p99_us"]),
                            c["rps"],
                            (" (" + "; ".join(c["flags"]) + ")") if c["flags"] else "",
                        )
                    )
            ok = [c for c in cells if c and not c.get("failed")]
            if len(ok) >= 2:
                rps = [c["rps"] for c in ok]
                p99 = [c["p99_us"] for c in ok]
                sp = "%.1f%%" % (100 * (max(rps) - min(rps)) / statistics.mean(rps))
                sp99 = "%.1f%%" % (100 * (max(p99) - min(p99)) / statistics.mean(p99))
            else:
                sp = sp99 = "n/a"
            a("| %s | %s | %s | %s |" % (sc, " | ".join(parts), sp, sp99))
        a("")
    # detail table
    a("### All cells (raw)")
    a("")
    a(
        "| run | scenario | requests | RPS | p50 | p75 | p90 | p99 | p99.9 | max | non-2xx "
        "| sock err c/r/w/t | bytes/resp | gw CPU %% of core | core util %% %s | steal %% | other procs %% "
        "| drain s |" % "/".join(sorted(cpu_times().keys()))
    )
    a("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---|---:|---|")
    allruns = [("direct-%d" % (i + 1), r, args.scenarios) for i, r in enumerate(direct_runs)] + [
        ("%s#%d" % (g["label"], g.get("repeat", 1)), g["cells"], g.get("scenarios", args.scenarios))
        for g in gw_results
    ]
    for name, cells, scenarios in allruns:
        for sc in [s_ for s_ in args.scenarios if s_ in scenarios]:
            c = cells.get(sc)
            if not c or c.get("failed"):
                a("| %s | %s | FAIL | | | | | | | | | | | | | | | |" % (name, sc))
                continue
            a(
                "| %s | %s | %d | %.1f | %s | %s | %s | %s | %s | %s | %d | %d/%d/%d/%d | %.0f "
                "| %s | %s | %s | %s | %s |"
                % (
                    name,
                    sc,
                    c["requests"],
                    c["rps"],
                    fmt_ms(c["p50_us"]),
                    fmt_ms(c["p75_us"]),
                    fmt_ms(c["p90_us"]),
                    fmt_ms(c["p99_us"]),
                    fmt_ms(c["p999_us"]),
                    fmt_ms(c["lat_max_us"]),
                    max(c["err_status"], c["non2xx_text"]),
                    c["err_connect"],
                    c["err_read"],
                    c["err_write"],
                    c["err_timeout"],
                    c["bytes_per_resp"],
                    c.get("gw_cpu_pct", "-"),
                    "/".join(str(c["cpu_util"].get(k)) for k in sorted(c["cpu_util"])),
                    "/".join(str(c.get("cpu_steal", {}).get(k, "?")) for k in sorted(c["cpu_util"])),
                    c.get("foreign_cpu_pct", "?"),
                    "%s / %s" % (c.get("drain_after_warmup_s", 0), c.get("drain_after_s", 0)),
                )
            )
    a("")
    for g in gw_results:
        if g.get("affinity"):
            a(
                "Affinity of %s#%d process group: %s"
                % (
                    g["label"],
                    g.get("repeat", 1),
                    "; ".join(
                        "pid %d cpus %s (%s)" % (x["pid"], x["cpus"], x["cmd"][:60]) for x in g["affinity"]
                    ),
                )
            )
    a("")
    return "\n".join(L)


# --------------------------------------------------------------------------- main


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--gateway",
        nargs=3,
        action="append",
        metavar=("LABEL", "PORT", "CMD"),
        default=[],
        help="gateway to measure: label, port, shell command that runs it in the foreground "
        "(repeatable; each is started, measured, stopped in turn)",
    )
    p.add_argument("--gateway-host", default="127.0.0.1")
    p.add_argument("--gateway-path", default="/v1/chat/completions")
    p.add_argument("--model", default="gpt-4o-mini", help="gateway model name routed to the 0 ms mock")
    p.add_argument(
        "--model-slow", default="gpt-4o-mini-slow", help="gateway model name routed to the slow mock"
    )
    p.add_argument(
        "--gateway-models",
        nargs=3,
        action="append",
        default=[],
        metavar=("LABEL", "MODEL", "MODEL_SLOW"),
        help="model names for one gateway (default --model/--model-slow); repeatable",
    )
    p.add_argument(
        "--gateway-scenarios",
        nargs=2,
        action="append",
        default=[],
        metavar=("LABEL", "SCENARIOS"),
        help="comma list of scenarios for one gateway (default --scenarios, must be a subset)",
    )
    p.add_argument("--api-key", default=os.environ.get("BENCH_API_KEY", "sk-bench-0123456789"))
    p.add_argument("--scenarios", default=DEFAULT_SCENARIOS)
    p.add_argument("--duration", type=int, default=15, help="measured seconds per cell")
    p.add_argument("--warmup", type=int, default=5, help="warm-up seconds per cell (discarded)")
    p.add_argument("--pause", type=float, default=1.0, help="idle seconds around each measurement")
    p.add_argument(
        "--timeout", type=int, default=30, help="wrk --timeout seconds (late replies count as errors)"
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="run every gateway this many times (restarted each time, interleaved: A B A B)",
    )
    p.add_argument(
        "--direct-runs",
        type=int,
        default=2,
        help="direct baseline repetitions (first before the gateways, the others after)",
    )
    p.add_argument("--mock-base-port", type=int, default=18080)
    p.add_argument("--slow-ms", type=int, default=300)
    p.add_argument("--chunk-gap-ms", type=float, default=0.0, help="sleep between SSE chunks in the mock")
    p.add_argument(
        "--stream-events", type=int, default=21, help="SSE data: events per mock stream, incl. [DONE]"
    )
    p.add_argument("--gw-cpus", default="0")
    p.add_argument("--load-cpus", default="1")
    p.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    p.add_argument("--echo-module", default=None)
    p.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    p.add_argument(
        "--wrk2",
        default=os.environ.get("BENCH_WRK2"),
        help="path to a wrk2 binary (optional); with --wrk2-rate enables scenario `rate`",
    )
    p.add_argument("--wrk2-rate", type=int, default=None, help="requests/s for scenario rate (wrk2 -R)")
    p.add_argument(
        "--wrk2-conns",
        type=int,
        default=16,
        help="connections for scenario rate. wrk2 paces each connection at R/N and starts them "
        "5 ms apart, so below ~200 rps arrivals come in bursts of N every N/R s: keep N small "
        "for slow gateways",
    )
    p.add_argument("--startup-timeout", type=float, default=180)
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=120,
        help="max seconds to wait for the gateway to go idle between cells",
    )
    p.add_argument(
        "--idle-threshold",
        type=float,
        default=0.05,
        help="gateway counts as idle below this many cores of CPU",
    )
    p.add_argument(
        "--interference-pct",
        type=float,
        default=10.0,
        help="flag cells where the gateway core does this much work beyond the gateway",
    )
    p.add_argument(
        "--foreign-pct",
        type=float,
        default=5.0,
        help="flag cells where processes not started by this run use more than this %% of a core; "
        "also wait (up to --quiet-timeout) for the machine to be below it before each cell",
    )
    p.add_argument("--quiet-timeout", type=float, default=600)
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="measure a cell again (up to this many times) when other processes disturbed it",
    )
    p.add_argument(
        "--min-requests", type=int, default=200, help="flag cells with fewer measured requests than this"
    )
    p.add_argument(
        "--gateway-version-cmd",
        action="append",
        default=[],
        metavar="CMD",
        help="shell command whose first output line is recorded as a version (repeatable)",
    )
    p.add_argument(
        "--run-dir", default=None, help="default: $BENCH_RUNS_DIR/<timestamp> (%s)" % DEFAULT_RUNS_DIR
    )
    p.add_argument(
        "--report",
        metavar="RESULTS_JSON",
        help="only print the tables again from a results.json of an earlier run",
    )
    args = p.parse_args()

    def _stop(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)

    # also when started in the background (where SIGINT is ignored): clean up on INT/TERM
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    if args.report:
        with open(args.report) as f:
            saved = json.load(f)
        for k, v in saved["args"].items():
            if k not in ("report",):
                setattr(args, k, v)
        for k, v in (("repeats", 1), ("wrk2_conns", 64)):
            if not hasattr(args, k) or getattr(args, k) is None:
                setattr(args, k, v)
        if "rate_c64" in args.scenarios:  # results of the first version of this script
            args.scenarios = ["rate" if x == "rate_c64" else x for x in args.scenarios]
            args.wrk2_conns = 64
            for run in saved["direct_runs"] + [g["cells"] for g in saved["gateways"]]:
                if "rate_c64" in run:
                    run["rate"] = run.pop("rate_c64")
        print(build_report(args, saved["meta"], saved["direct_runs"], saved["gateways"]))
        return 0

    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for s in args.scenarios:
        if s not in SCENARIOS:
            p.error("unknown scenario %s (known: %s)" % (s, ", ".join(SCENARIOS)))
    args.gw_models = {label: (m, ms) for label, m, ms in args.gateway_models}
    args.gw_scenarios = {}
    for label, lst in args.gateway_scenarios:
        scs = [s.strip() for s in lst.split(",") if s.strip()]
        bad = [s for s in scs if s not in args.scenarios]
        if bad:
            p.error("--gateway-scenarios %s: %s not in --scenarios" % (label, ",".join(bad)))
        args.gw_scenarios[label] = [s for s in args.scenarios if s in scs]
    known = {g[0] for g in args.gateway}
    for label in list(args.gw_models) + list(args.gw_scenarios):
        if label not in known:
            p.error("--gateway-models/--gateway-scenarios: no --gateway labelled %s" % label)
    if "rate" in args.scenarios and not (args.wrk2 and args.wrk2_rate):
        p.error("scenario rate needs --wrk2 PATH and --wrk2-rate N")
    if args.wrk2 and args.wrk2_rate and "rate" not in args.scenarios:
        args.scenarios.append("rate")
    for tool in ("taskset", args.nginx, args.wrk):
        if not shutil.which(tool):
            p.error("%s not found" % tool)
    ncpu = os.cpu_count()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = args.run_dir or os.path.join(DEFAULT_RUNS_DIR, stamp)
    os.makedirs(run_dir, exist_ok=True)
    if ncpu < 2:
        log("WARNING: fewer than 2 CPUs, pinning cannot separate gateway from load generator")
    # keep this driver off the gateway's core
    try:
        os.sched_setaffinity(0, {int(x) for x in re.split(r"[,]", args.load_cpus) if x.isdigit()})
    except (OSError, ValueError):
        log("could not pin the driver to %s" % args.load_cpus)

    # assistant content the mock sends (same text for stream and non-stream)
    args.expected = "".join(gen_nginx_conf.split_pieces(args.stream_events))

    cpu_model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    meta = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": cpu_model,
        "ncpu": ncpu,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "nginx": version_of("%s -v" % shlex.quote(args.nginx)),
        "wrk": version_of("%s -v" % shlex.quote(args.wrk)),
        "wrk2": version_of("%s -v" % shlex.quote(args.wrk2)) if args.wrk2 else None,
        "gateway_versions": {c: version_of(c) for c in args.gateway_version_cmd},
        "argv": sys.argv,
        "gw_cpus": args.gw_cpus,
        "load_cpus": args.load_cpus,
    }
    log("run dir %s" % run_dir)
    log("CPU pinning: gateway -> core %s; nginx + wrk + driver -> core %s" % (args.gw_cpus, args.load_cpus))

    mock = Mock(args, run_dir)
    direct_runs, gw_results = [], []
    results_path = os.path.join(run_dir, "results.json")

    def save():
        with open(results_path, "w") as f:
            json.dump(
                {
                    "meta": meta,
                    "args": {k: v for k, v in vars(args).items()},
                    "direct_runs": direct_runs,
                    "gateways": gw_results,
                },
                f,
                indent=1,
                default=str,
            )

    def direct_run(i):
        d = os.path.join(run_dir, "direct-%d" % i)
        os.makedirs(d, exist_ok=True)
        cells = {}
        for sc in args.scenarios:
            slow = SCENARIOS[sc][1]
            port = args.mock_base_port + (1 if slow else 0)
            cells[sc] = measure_cell(args, "direct-%d" % i, sc, "127.0.0.1", port, "/v1/chat/completions", d)
            if not mock.alive():
                raise SystemExit("mock nginx died during direct run")
        direct_runs.append(cells)
        save()

    try:
        mock.start()
        args.mock_pgid = mock.proc.pid
        for stream in (False, True):
            ok, msg, det = smoke(
                "127.0.0.1",
                args.mock_base_port,
                "/v1/chat/completions",
                "x",
                args.api_key,
                stream,
                args.expected,
            )
            if not ok:
                raise SystemExit("mock smoke test failed (stream=%s): %s %s" % (stream, msg, det))
        ok, msg, det = smoke(
            "127.0.0.1",
            args.mock_base_port + 1,
            "/v1/chat/completions",
            "x",
            args.api_key,
            False,
            args.expected,
            min_latency_s=args.slow_ms / 1000.0 * 0.95,
        )
        if not ok:
            raise SystemExit("slow mock smoke test failed: %s" % msg)
        for kind in ("anthropic", "gemini"):
            for stream in (False, True):
                ok, msg = smoke_native("127.0.0.1", args.mock_base_port, kind, stream, args.expected)
                if not ok:
                    raise SystemExit("mock smoke test failed (%s, stream=%s): %s" % (kind, stream, msg))
        log(
            "mock smoke tests ok (openai json, stream, %d ms; anthropic and gemini json, stream)"
            % args.slow_ms
        )

        meta["speed_probe_ms"] = [speed_probe(args.gw_cpus)]
        log("speed probe on core %s: %s ms" % (args.gw_cpus, meta["speed_probe_ms"][0]))
        busy = core_busy(args.gw_cpus)
        meta["gateway_core_busy_before_pct"] = busy
        if busy is not None and busy > args.interference_pct:
            log(
                "WARNING: gateway core(s) %s already %.0f%% busy before any gateway started"
                % (args.gw_cpus, busy)
            )
        if args.direct_runs > 0:
            direct_run(1)
        order = [(r, gw) for r in range(1, args.repeats + 1) for gw in args.gateway]
        for rep, (label, port, cmd) in order:
            g = Gateway(label, port, cmd, args, run_dir, rep)
            entry = {
                "label": label,
                "repeat": rep,
                "port": int(port),
                "cmd": cmd,
                "cells": {},
                "smoke": {},
                "models": list(g.models),
                "scenarios": list(g.scenarios),
            }
            gw_results.append(entry)
            try:
                busy = core_busy(args.gw_cpus)
                entry["core_busy_before_start_pct"] = busy
                if busy is not None and busy > args.interference_pct:
                    log("WARNING: gateway core busy %.0f%% before starting %s" % (busy, label))
                g.start()
                entry["startup_s"] = g.startup_s
                entry["affinity"] = g.affinity_report()
                log("affinity: %s" % "; ".join("%d:%s" % (x["pid"], x["cpus"]) for x in entry["affinity"]))
                checks = [("json", g.models[0], False, 0), ("stream", g.models[0], True, 0)]
                if g.models[1] != g.models[0]:
                    checks.append(("slow", g.models[1], False, args.slow_ms / 1000.0 * 0.95))
                for name, model, stream, minlat in checks:
                    ok, msg, det = smoke(
                        args.gateway_host,
                        g.port,
                        args.gateway_path,
                        model,
                        args.api_key,
                        stream,
                        args.expected,
                        min_latency_s=minlat,
                    )
                    entry["smoke"][name] = {"ok": ok, "msg": msg, "details": det}
                    if not ok:
                        raise RuntimeError("smoke test %s through %s failed: %s" % (name, label, msg))
                log("%s smoke tests ok (%s)" % (label, ", ".join(c[0] for c in checks)))
                for sc in g.scenarios:
                    if not g.alive():
                        raise RuntimeError("gateway exited; log tail:\n" + g.log_tail())
                    entry["cells"][sc] = measure_cell(
                        args,
                        "%s#%d" % (label, rep),
                        sc,
                        args.gateway_host,
                        g.port,
                        args.gateway_path,
                        g.dir,
                        gateway=g,
                    )
                entry["log_tail"] = g.log_tail(15)
            except Exception as e:
                entry["error"] = "ERROR: %s" % str(e).splitlines()[0]
                log("gateway %s FAILED: %s" % (label, e))
            finally:
                g.stop()
                save()
        for i in range(2, args.direct_runs + 1):
            direct_run(i)
        meta["speed_probe_ms"].append(speed_probe(args.gw_cpus))
        log("speed probe on core %s: %s ms" % (args.gw_cpus, meta["speed_probe_ms"][-1]))
    finally:
        mock.stop()
        save()

    report = build_report(args, meta, direct_runs, gw_results)
    with open(os.path.join(run_dir, "summary.md"), "w") as f:
        f.write(report + "\n")
        f.write(
            "\nVersions: %s\n"
            % json.dumps(
                {k: meta[k] for k in ("python", "nginx", "wrk", "wrk2", "gateway_versions", "kernel")}
            )
        )
    print(report)
    print(
        "Versions:",
        json.dumps({k: meta[k] for k in ("python", "nginx", "wrk", "wrk2", "gateway_versions", "kernel")}),
    )
    print("Raw wrk output, gateway logs and results.json: %s" % run_dir)
    flagged = any(c.get("flags") for run in direct_runs for c in run.values()) or any(
        g.get("error") or any(c.get("flags") for c in g["cells"].values()) for g in gw_results
    )
    if flagged:
        print("\nWARNING: some cells are FLAGGED (errors, non-2xx or failures); see the table.")
    return 1 if flagged else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as e:
        log("interrupted (%s); stopped the gateway and mock this run started; partial results.json kept" % e)
        sys.exit(130)
