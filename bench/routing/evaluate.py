#!/usr/bin/env python3
"""Evaluate the shipped ``model: auto`` classifier: accuracy, latency and the cost it saves.

  1. accuracy, confusion matrix, per-tier precision and recall and premium-or-not accuracy of
     the weights shipped in the package on two held-out sets that fit.py never trains or tunes
     on: the test split of bench/routing/prompts.jsonl, and the external set
     bench/routing/external_heldout.jsonl (the WizardLM test set, labelled by the rule declared
     in external_heldout.py), with accuracy per source difficulty for the latter;
  2. classification latency, p50 / p99 / max in microseconds, over every prompt of both files
     (--rounds passes, one call timed at a time), plus a 200 KB prompt for the worst case;
  3. the estimated cost against sending everything to the premium tier, on an assumed traffic
     mix (MIX, with typical token counts per class, TOKENS) and two price ladders from the
     shipped price table (LADDERS): each class's traffic is spread over the tiers as a
     held-out confusion matrix spreads it (each set's own), and priced at the tier's model with that class's
     tokens. Misroutes downwards (hard to small or medium) are counted apart: they are the
     quality risk that the saving is bought with.
With --embedding it does the same for EmbeddingComplexityClassifier (needs the semantic extra).
Prints markdown.

    .venv/bin/python bench/routing/evaluate.py [--rounds 20] [--embedding]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit import LABELS, TIERS, load_records, precision_recall

from bastion.accounting.pricing import PriceTable
from bastion.routing.complexity import ComplexityClassifier, Decision

EXTERNAL = Path(__file__).with_name("external_heldout.jsonl")

#: assumed share of traffic per class: most production chat traffic is short and simple
MIX = {"simple": 0.55, "medium": 0.30, "hard": 0.15}
#: assumed typical (input, output) tokens of a request of each class
TOKENS = {"simple": (200, 150), "medium": (800, 500), "hard": (2000, 1200)}
#: models per tier (small, medium, premium)
LADDERS = {
    "OpenAI": ("gpt-4.1-nano", "gpt-4.1-mini", "gpt-4.1"),
    "mixed": ("gpt-4o-mini", "claude-haiku-4-5", "claude-sonnet-4-5"),
}


def confusion(records: list[dict], classify: Callable[[dict], Decision]) -> list[list[int]]:
    matrix = [[0, 0, 0] for _ in LABELS]
    for record in records:
        decision = classify(record["body"])
        matrix[LABELS.index(record["label"])][TIERS.index(decision.tier)] += 1
    return matrix


def print_accuracy(name: str, matrix: list[list[int]]) -> float:
    total = sum(map(sum, matrix))
    correct = sum(matrix[i][i] for i in range(3))
    print(f"\n### {name}: accuracy {correct / total:.3f} ({correct}/{total})\n")
    print("| label \\ tier | " + " | ".join(TIERS) + " |\n|---|---|---|---|")
    for index, label in enumerate(LABELS):
        print(f"| {label} | " + " | ".join(str(v) for v in matrix[index]) + " |")
    print("\n" + precision_recall(matrix).replace("; ", "\n"))
    return correct / total


def print_by_difficulty(records: list[dict], classify: Callable[[dict], Decision]) -> None:
    """Accuracy and the tiers chosen per source difficulty (external set)."""
    print("\n| difficulty | label | n | right | small | medium | premium |\n|---|---|---|---|---|---|---|")
    for difficulty in sorted({r["difficulty"] for r in records}):
        rows = [r for r in records if r["difficulty"] == difficulty]
        tiers = [classify(r["body"]).tier for r in rows]
        right = sum(TIERS[LABELS.index(r["label"])] == t for r, t in zip(rows, tiers, strict=True))
        counts = " | ".join(str(tiers.count(t)) for t in TIERS)
        print(f"| {difficulty} | {rows[0]['label']} | {len(rows)} | {right} | {counts} |")


def request_cost(model: str, tokens: tuple[int, int], table: PriceTable) -> float:
    price = table.lookup(model)
    assert price is not None, model
    return (tokens[0] * price.input + tokens[1] * price.output) / 1_000_000


def print_cost(matrix: list[list[int]]) -> None:
    table = PriceTable.builtin()
    print(f"\nTraffic mix {MIX}; tokens (in, out) per class {TOKENS}; prices: table {table.version}.\n")
    print(
        "| ladder (small / medium / premium) | always premium $/1k req | routed $/1k req | saved | "
        "perfect routing saves | hard -> small | hard -> medium |"
    )
    print("|---|---|---|---|---|---|---|")
    rows = [[count / sum(row) for count in row] for row in matrix]
    for name, models in LADDERS.items():
        premium = routed = oracle = 0.0
        for index, label in enumerate(LABELS):
            share, tokens = MIX[label], TOKENS[label]
            premium += share * request_cost(models[2], tokens, table)
            oracle += share * request_cost(models[index], tokens, table)
            routed += share * sum(
                p * request_cost(models[tier], tokens, table) for tier, p in enumerate(rows[index])
            )
        print(
            f"| {name}: {' / '.join(models)} | {premium * 1000:.3f} | {routed * 1000:.3f} | "
            f"{1 - routed / premium:.1%} | {1 - oracle / premium:.1%} | "
            f"{rows[2][0] * MIX['hard']:.2%} of traffic | {rows[2][1] * MIX['hard']:.2%} of traffic |"
        )


def latency(records: list[dict], classify: Callable[[dict], Decision], rounds: int) -> None:
    """Wall-clock and thread CPU time per call. On a shared machine the wall clock also counts
    time spent descheduled; the CPU time is the classifier's own work."""
    timings: list[float] = []
    cpu: list[float] = []
    for _ in range(rounds):
        for record in records:
            start, cpu_start = time.perf_counter_ns(), time.thread_time_ns()
            classify(record["body"])
            cpu.append((time.thread_time_ns() - cpu_start) / 1000)
            timings.append((time.perf_counter_ns() - start) / 1000)
    for name, values in (("wall clock", timings), ("thread CPU", cpu)):
        values.sort()
        p50 = statistics.median(values)
        p99 = values[int(len(values) * 0.99) - 1]
        print(
            f"\nlatency ({name}) over {len(values)} calls: p50 {p50:.0f} us, p99 {p99:.0f} us, "
            f"max {values[-1]:.0f} us"
        )
    huge = {
        "messages": [{"role": "user", "content": ("Please review this log line by line. " * 6000)[:200_000]}]
    }
    worst = []
    for _ in range(50):
        start = time.perf_counter_ns()
        classify(huge)
        worst.append((time.perf_counter_ns() - start) / 1000)
    print(f"a 200 KB prompt: median {statistics.median(worst):.0f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--embedding", action="store_true", help="also evaluate EmbeddingComplexityClassifier"
    )
    args = parser.parse_args()
    records = load_records()
    external = load_records(EXTERNAL) if EXTERNAL.exists() else []  # CC BY-NC: built locally, not shipped
    splits = {"test split of prompts.jsonl": [r for r in records if r["split"] == "test"]}
    if external:
        splits["external (WizardLM test set)"] = external
    classifier = ComplexityClassifier()
    print(f"prompts {len(records)} + external {len(external)}; tiers {classifier.thresholds}")
    for name, held_out in splits.items():
        matrix = confusion(held_out, classifier.classify)
        print_accuracy(f"features (shipped), {name}", matrix)
        if held_out is external:
            print_by_difficulty(external, classifier.classify)
        print_cost(matrix)
    latency(records + external, classifier.classify, args.rounds)
    if args.embedding:
        from bastion.routing.complexity import EmbeddingComplexityClassifier

        embedding = EmbeddingComplexityClassifier()
        embedding.embedder.load()
        for name, held_out in splits.items():
            matrix = confusion(held_out, embedding.classify_sync)
            print_accuracy(f"embedding + features, {name}", matrix)
            print_cost(matrix)
        latency(records[:200], embedding.classify_sync, 1)


if __name__ == "__main__":
    main()
