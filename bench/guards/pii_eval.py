#!/usr/bin/env python3
"""Evaluate the PII detector on bench/guards/pii_cases.jsonl: per-entity precision/recall and cost.

Each line holds a support-ticket text, its labelled PII ``spans`` (kind, start, end) and the
``negatives``: hard lookalikes (order ids, ISBNs, timestamps, versions, hashes, UUIDs, product
codes, Luhn-failing cards, bad IBAN checksums, invalid SSNs, national ids with a wrong check
digit or without their label, id labels followed by other numbers, non-postal "address" lines,
key placeholders and code that only names a secret) that must not be flagged.
A finding counts as a true positive when its kind and exact span match a label; any other
finding is a false positive.

Cost, timed one call at a time over --rounds passes after a warm-up call (p50 / p99):
  * 1 KB prompts: a 336-byte instruction followed by ticket texts, cut at 1024 bytes (about six
    PII values and seven lookalikes each): the prompt size the input guard's budget is set for;
  * ticket texts one at a time, per KB;
  * a 64 KB text without PII, per KB.
Prints markdown.

    .venv/bin/python bench/guards/pii_eval.py [--rounds 20] [--show-errors] [--cases FILE]
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
#: the entities with a validator or a fixed format, which the accuracy targets apply to
STRUCTURED = ("EMAIL", "PHONE", "CARD", "IBAN", "SSN", "NATIONAL_ID", "IP")
PREFACE = (
    "You are a helpful support assistant for an online store. Answer politely and briefly, in the "
    "customer's language. Use the order history and the customer's message below; never invent "
    "tracking numbers, refunds or delivery dates, and hand over to a human when the customer is "
    "upset or asks for a manager. The customer's message follows.\n\n"
)


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


def call_ms(
    detector: PiiDetector, texts: list[str], rounds: int, per_kb: bool
) -> tuple[list[float], list[float]]:
    """Wall-clock and thread-CPU milliseconds per ``find`` call (or per KB), one text at a time.

    CPU time leaves out the time the process waited for a core, which dominates the wall-clock
    tail on a shared machine.
    """
    for text in texts:
        detector.find(text)  # warm up: the phone library loads its metadata on first use
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(rounds):
        for text in texts:
            scale = len(text.encode()) / 1024 if per_kb else 1.0
            started, started_cpu = time.perf_counter(), time.thread_time()
            detector.find(text)
            cpu.append((time.thread_time() - started_cpu) * 1000 / scale)
            wall.append((time.perf_counter() - started) * 1000 / scale)
    return wall, cpu


def one_kb_prompts(texts: list[str]) -> list[str]:
    """Prompts of exactly 1024 bytes: the instruction, then tickets in turn, cut at a character."""
    prompts = []
    for first in range(0, len(texts), 3):
        body = PREFACE + " ".join(texts[first:] + texts[:first])
        prompts.append(body.encode()[:1024].decode(errors="ignore"))
    return prompts


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--show-errors", action="store_true", help="list every false positive/negative")
    parser.add_argument("--cases", type=Path, default=CASES, help="the labelled set (JSON lines)")
    args = parser.parse_args()

    cases = load(args.cases)
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
    prompts = one_kb_prompts(texts)
    print(f"\ncost, one call at a time ({args.rounds} rounds); wall clock, and thread CPU time in brackets:")
    for label, samples, unit in (
        (
            f"1 KB prompt ({len(prompts)} prompts)",
            call_ms(detector, prompts, args.rounds, per_kb=False),
            "ms",
        ),
        (f"ticket texts ({len(texts)})", call_ms(detector, texts, args.rounds, per_kb=True), "ms/KB"),
    ):
        (wall_p50, wall_p99), (cpu_p50, cpu_p99) = percentiles(samples[0]), percentiles(samples[1])
        print(
            f"- {label}: p50 {wall_p50:.3f} ({cpu_p50:.3f}) {unit}, p99 {wall_p99:.3f} ({cpu_p99:.3f}) {unit}"
        )
    plain = ("The customer asked about the refund policy and the delivery window for the order. " * 800)[
        : 64 * 1024
    ]
    wall, cpu = call_ms(detector, [plain], 5, per_kb=True)
    print(f"- 64 KB text without PII: {statistics.median(wall):.3f} ({statistics.median(cpu):.3f}) ms/KB")


if __name__ == "__main__":
    main()
