#!/usr/bin/env python3
"""Evaluate the PII detector on bench/guards/pii_cases.jsonl: per-entity precision/recall and cost.

Each line holds a support-ticket text, its labelled PII ``spans`` (kind, start, end) and the
``negatives``: hard lookalikes (order ids, ISBNs, timestamps, versions, hashes, UUIDs, product
codes, Luhn-failing cards, bad IBAN checksums, invalid SSNs) that must not be flagged.
A finding counts as a true positive when its kind and exact span match a label; any other
finding is a false positive. Cost is the time of ``PiiDetector.find`` per KB of text, timed one
text at a time over --rounds passes (p50 / p99), plus a 64 KB text without PII.
Prints markdown.

    .venv/bin/python bench/guards/pii_eval.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from bastion.guards.pii import PiiDetector

CASES = Path(__file__).resolve().parent / "pii_cases.jsonl"
STRUCTURED = ("EMAIL", "PHONE", "CARD", "IBAN", "SSN", "IP")


def load(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def score(detector: PiiDetector, cases: list[dict]) -> tuple[Counter, Counter, Counter, list[str]]:
    true_pos: Counter[str] = Counter()
    false_pos: Counter[str] = Counter()
    labelled: Counter[str] = Counter()
    mistakes: list[str] = []
    for case in cases:
        gold = {(s["kind"], s["start"], s["end"]) for s in case["spans"]}
        labelled.update(kind for kind, _, _ in gold)
        found = {(f.kind, f.start, f.end) for f in detector.find(case["text"])}
        for kind, start, end in found:
            if (kind, start, end) in gold:
                true_pos[kind] += 1
            else:
                false_pos[kind] += 1
                mistakes.append(f"FP {kind} {case['text'][start:end]!r}")
        for kind, start, end in gold - found:
            mistakes.append(f"FN {kind} {case['text'][start:end]!r}")
    return true_pos, false_pos, labelled, mistakes


def ratio(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def cost_per_kb(detector: PiiDetector, texts: list[str], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            detector.find(text)
            elapsed = time.perf_counter() - started
            samples.append(elapsed * 1000 / (len(text.encode()) / 1024))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--show-errors", action="store_true", help="list every false positive/negative")
    args = parser.parse_args()

    cases = load(CASES)
    detector = PiiDetector()
    true_pos, false_pos, labelled, mistakes = score(detector, cases)
    negatives = sum(len(case.get("negatives", [])) for case in cases)
    print(f"{len(cases)} texts, {sum(labelled.values())} labelled spans, {negatives} hard negatives\n")
    print("| entity | labelled | found | true pos | precision | recall |")
    print("|---|---:|---:|---:|---:|---:|")
    kinds = sorted(set(labelled) | set(false_pos), key=lambda k: (k not in STRUCTURED, k))
    for kind in [*kinds, "structured", "all"]:
        members = STRUCTURED if kind == "structured" else kinds if kind == "all" else (kind,)
        tp = sum(true_pos[k] for k in members)
        fp = sum(false_pos[k] for k in members)
        n = sum(labelled[k] for k in members)
        print(f"| {kind} | {n} | {tp + fp} | {tp} | {ratio(tp, tp + fp)} | {ratio(tp, n)} |")
    if args.show_errors:
        print("\n" + "\n".join(mistakes))

    texts = [case["text"] for case in cases]
    samples = cost_per_kb(detector, texts, args.rounds)
    quantiles = statistics.quantiles(samples, n=100)
    plain = ("The customer asked about the refund policy and the delivery window for the order. " * 800)[
        : 64 * 1024
    ]
    big = statistics.median(cost_per_kb(detector, [plain], 5))
    print(
        f"\ncost per KB of ticket text (one text per call, {len(samples)} calls): "
        f"p50 {quantiles[49]:.3f} ms, p99 {quantiles[98]:.3f} ms; 64 KB text without PII: {big:.3f} ms/KB"
    )


if __name__ == "__main__":
    main()
