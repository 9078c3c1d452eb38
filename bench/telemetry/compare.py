#!/usr/bin/env python3
"""Each telemetry configuration of ``bench/telemetry.sh`` against the one with everything off.

Reads the harness's results.json (several rounds are averaged per configuration and cell) and
prints, per scenario, requests per second, p50 and p99, and the ratio to ``off``: throughput
``ratio`` below 1 is the share kept, ``added`` latency is the configuration minus ``off``. The
gateway's CPU time per request is printed too: at saturation throughput is its inverse, and it
moves less than throughput when other processes share the machine.
Standard library only.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from typing import Any

BASELINE = "off"
TARGET = ("metrics-ledger", 0.90)  # the target: metrics + request log keep >= 90% of throughput


def cells(results: dict[str, Any]) -> dict[tuple[str, str], dict[str, float]]:
    runs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for gateway in results.get("gateways", []):
        for scenario, cell in (gateway.get("cells") or {}).items():
            if cell and not cell.get("failed") and cell.get("rps"):
                runs[(gateway["label"], scenario)].append(cell)
    return {
        key: {
            "rps": statistics.mean(c["rps"] for c in found),
            "p50_ms": statistics.mean(c["p50_us"] for c in found) / 1000,
            "p99_ms": statistics.mean(c["p99_us"] for c in found) / 1000,
            "cpu_ms": statistics.mean(c.get("gw_cpu_ms_per_req") or float("nan") for c in found),
            "rounds": len(found),
        }
        for key, found in runs.items()
    }


def main(path: str) -> int:
    with open(path) as handle:
        measured = cells(json.load(handle))
    labels = list(dict.fromkeys(label for label, _ in measured))
    scenarios = list(dict.fromkeys(scenario for _, scenario in measured))
    print(
        "| scenario | configuration | RPS | RPS vs off | p50 ms | p99 ms | added p50 ms | added p99 ms "
        "| gateway CPU ms/req | CPU vs off | rounds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    verdict = None
    for scenario in scenarios:
        base = measured.get((BASELINE, scenario))
        for label in labels:
            cell = measured.get((label, scenario))
            if cell is None:
                continue
            ratio = cell["rps"] / base["rps"] if base else float("nan")
            added50 = cell["p50_ms"] - base["p50_ms"] if base else float("nan")
            added99 = cell["p99_ms"] - base["p99_ms"] if base else float("nan")
            cpu = cell["cpu_ms"] / base["cpu_ms"] if base else float("nan")
            print(
                f"| {scenario} | {label} | {cell['rps']:.0f} | {ratio:.3f} | {cell['p50_ms']:.2f} | "
                f"{cell['p99_ms']:.2f} | {added50:+.3f} | {added99:+.3f} | {cell['cpu_ms']:.3f} | "
                f"{cpu:.3f} | {cell['rounds']} |"
            )
            if scenario == "thr_c64" and label == TARGET[0]:
                verdict = ratio
    if verdict is not None:
        state = "met" if verdict >= TARGET[1] else "MISSED"
        print(
            f"\ntarget (metrics + request log keep >= {TARGET[1]:.0%} of thr_c64 throughput): "
            f"{verdict:.1%} kept, {state}"
        )
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: compare.py RESULTS_JSON")
    sys.exit(main(sys.argv[1]))
