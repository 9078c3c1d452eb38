#!/usr/bin/env python3
"""The multi-core benchmark's table of ratios and targets, from the harness's results.json (and streams.json).

  python3 bench/workers/report.py HARNESS_RESULTS_JSON [STREAMS_JSON]

Gateway labels it reads (as bench/workers.sh names them): bastion-1w-core0 (one worker held to one
core), bastion-1w, bastion-2w, floor-1p (the floor, one process), floor-2p (two
floor processes on SO_REUSEPORT), floor-uvicorn-2w (the floor on uvicorn --workers 2), litellm-2w.
The floor reference is the faster of the two floor rows. Exit code 1 if a target is missed.
"""

from __future__ import annotations

import json
import os
import statistics
import sys


def cells(results, label, scenario):
    found = [g["cells"].get(scenario) for g in results["gateways"] if g["label"] == label]
    return [c for c in found if c and not c.get("failed")]


def mean(values):
    values = [v for v in values if v is not None]
    return statistics.mean(values) if values else None


def value(results, label, scenario, key):
    return mean([c.get(key) for c in cells(results, label, scenario)])


def direct(results, scenario, key):
    return mean([r[scenario].get(key) for r in results["direct_runs"] if scenario in r])


def errors(results, label):
    return sum(
        c.get("errors_total", 0) + c.get("non2xx_text", 0)
        for g in results["gateways"]
        if g["label"] == label
        for c in g["cells"].values()
        if c and not c.get("failed")
    )


def main():
    with open(sys.argv[1]) as f:
        results = json.load(f)
    streams = None
    if len(sys.argv) > 2 and os.path.exists(sys.argv[2]):
        with open(sys.argv[2]) as f:
            streams = json.load(f)
    labels = []
    for g in results["gateways"]:
        if g["label"] not in labels:
            labels.append(g["label"])
    L = ["### Throughput and latency, every process on both cores", ""]
    L.append(
        "| gateway | thr_c64 req/s | lat_c1 p50 / p99 ms | lat_c1 added p50 / p99 ms | stream_c64 streams/s "
        "| CPU ms/req (thr_c64) | errors |"
    )
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    d50, d99 = direct(results, "lat_c1", "p50_us"), direct(results, "lat_c1", "p99_us")
    drps, dsrps = direct(results, "thr_c64", "rps"), direct(results, "stream_c64", "rps")

    def ms(us):
        return "n/a" if us is None else f"{us / 1000:.3f}"

    def added(us, base):
        return "n/a" if us is None or base is None else f"{(us - base) / 1000:+.3f}"

    def num(x, fmt="{:,.0f}"):
        return "n/a" if x is None else fmt.format(x)

    L.append(f"| direct (wrk to the mock) | {num(drps)} | {ms(d50)} / {ms(d99)} | | {num(dsrps)} | | |")
    for label in labels:
        p50, p99 = value(results, label, "lat_c1", "p50_us"), value(results, label, "lat_c1", "p99_us")
        L.append(
            f"| {label} | {num(value(results, label, 'thr_c64', 'rps'))} | {ms(p50)} / {ms(p99)} "
            f"| {added(p50, d50)} / {added(p99, d99)} | {num(value(results, label, 'stream_c64', 'rps'))} "
            f"| {num(value(results, label, 'thr_c64', 'gw_cpu_ms_per_req'), '{:.2f}')} "
            f"| {errors(results, label)} |"
        )
    L.append("")

    rows = []

    def target(name, measured, ok, note=""):
        rows.append((name, measured, "n/a" if ok is None else ("yes" if ok else "**NO**"), note))

    one, two = value(results, "bastion-1w", "thr_c64", "rps"), value(results, "bastion-2w", "thr_c64", "rps")
    one_core = value(results, "bastion-1w-core0", "thr_c64", "rps")
    if one_core and two:
        ratio = f"{two / one_core:.2f} x ({two:,.0f} / {one_core:,.0f})"
        target("2 workers >= 1.7 x 1 worker held to one core (thr_c64)", ratio, two / one_core >= 1.7)
    floors = {lab: value(results, lab, "thr_c64", "rps") for lab in ("floor-2p", "floor-uvicorn-2w")}
    floors = {k: v for k, v in floors.items() if v}
    litellm = value(results, "litellm-2w", "thr_c64", "rps")
    if one and two:
        target(
            "2 workers >= 1.7 x 1 worker free to use both cores (thr_c64)",
            f"{two / one:.2f} x ({two:,.0f} / {one:,.0f})",
            two / one >= 1.7,
        )
    floor_one, floor_two = value(results, "floor-1p", "thr_c64", "rps"), floors.get("floor-2p")
    if floor_one and floor_two:
        target(
            "for comparison: the floor's own scaling, 2 processes / 1 (thr_c64)",
            f"{floor_two / floor_one:.2f} x ({floor_two:,.0f} / {floor_one:,.0f})",
            None,
        )
    if two and litellm:
        target(
            ">= 20 x LiteLLM's proxy, 2 workers each (thr_c64)",
            f"{two / litellm:.0f} x ({two:,.0f} / {litellm:,.1f})",
            two / litellm >= 20,
        )
        l50 = value(results, "litellm-2w", "lat_c1", "p50_us")
        b50 = value(results, "bastion-2w", "lat_c1", "p50_us")
        if l50 and b50 and d50 is not None:
            theirs, ours = (l50 - d50) / 1000, (b50 - d50) / 1000
            target(
                "lat_c1 added p50: LiteLLM / Bastion (2 workers each)",
                f"{theirs / max(0.001, ours):.0f} x ({theirs:.2f} / {ours:.3f} ms)",
                None,
            )
    if two and floors:
        best = max(floors, key=floors.get)
        target(
            ">= 70 % of two floor processes (thr_c64)",
            f"{100 * two / floors[best]:.0f} % of {best} ({floors[best]:,.0f})",
            two / floors[best] >= 0.70,
            ", ".join(f"{k} {v:,.0f}" for k, v in floors.items()),
        )
    if streams:
        for label, r in streams["runs"].items():
            if label == "direct":
                continue
            target(
                f"{streams['streams']} concurrent streams <= 300 MB RSS total ({label})",
                f"{r['rss_at_peak_mb']:.1f} MB at {r['peak_open']} open, {r['errors']} errors",
                r["rss_at_peak_mb"] <= 300
                and not r["errors"]
                and r["peak_open"] >= 0.95 * streams["streams"],
                f"PSS {r['pss_at_peak_mb']} MB; added TTFT p50 {r.get('added_ttft_p50', 'n/a')} ms, "
                f"p99 {r.get('added_ttft_p99', 'n/a')} ms",
            )
        for label, r in streams["runs"].items():
            if r.get("ready_median_s") is not None:
                target(
                    f"start-up <= 2 s ({label}, to the first completion)",
                    f"{r['ready_median_s']:.2f} s (median of {len(r['ready_s'])})",
                    r["ready_median_s"] <= 2,
                    "all: " + ", ".join(f"{x:.2f}" for x in r["ready_s"]),
                )
    L += ["### Targets", "", "| target | this run | met | notes |", "|---|---|:---:|---|"]
    L += [f"| {n} | {m} | {ok} | {note} |" for n, m, ok, note in rows]
    print("\n".join(L))
    return 1 if any(ok == "**NO**" for _, _, ok, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
