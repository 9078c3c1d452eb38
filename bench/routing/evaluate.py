#!/usr/bin/env python3
"""Evaluate the shipped ``model: auto`` classifier: accuracy, latency and the cost it saves.

  1. held-out accuracy, confusion matrix, per-tier precision and recall and premium-or-not
     accuracy of the weights shipped in the package, on the test split of
     bench/routing/prompts.jsonl (the split fit.py never trains or tunes on);
  2. classification latency, p50 / p99 / max in microseconds, over every prompt of the file
     (--rounds passes, one call timed at a time), plus a 200 KB prompt for the worst case;
  3. the estimated cost against sending everything to the premium tier, on an assumed traffic
     mix (MIX, with typical token counts per class, TOKENS) and two price ladders from the
     shipped price table (LADDERS): each class's traffic is spread over the tiers as the
     held-out confusion matrix spreads it, and priced at the tier's model with that class's
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
    print(f"\n### {name}: held-out accuracy {correct / total:.3f} ({correct}/{total})\n")
    print("| label \\ tier | " + " | ".join(TIERS) + " |\n|---|---|---|---|")
    for index, label in enumerate(LABELS):
        print(f"| {label} | " + " | ".join(str(v) for v in matrix[index]) + " |")
    print("\n" + precision_recall(matrix).replace("; ", "\n"))
    return correct / total


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
    timings: list[float] = []
    for _ in range(rounds):
        for record in records:
            start = time.perf_counter_ns()
            classify(record["body"])
            timings.append((time.perf_counter_ns() - start) / 1000)
    timings.sort()
    p50 = statistics.median(timings)
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(
        f"\nlatency over {len(timings)} calls: p50 {p50:.0f} us, p99 {p99:.0f} us, max {timings[-1]:.0f} us"
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
    test = [r for r in records if r["split"] == "test"]
    classifier = ComplexityClassifier()
    print(f"prompts {len(records)}, held-out {len(test)}; tiers {classifier.thresholds}")
    matrix = confusion(test, classifier.classify)
    print_accuracy("features (shipped)", matrix)
    print_cost(matrix)
    latency(records, classifier.classify, args.rounds)
    if args.embedding:
        from bastion.routing.complexity import EmbeddingComplexityClassifier

        embedding = EmbeddingComplexityClassifier()
        embedding.embedder.load()
        matrix = confusion(test, embedding.classify_sync)
        print_accuracy("embedding + features", matrix)
        print_cost(matrix)
        latency(records[:200], embedding.classify_sync, 1)


if __name__ == "__main__":
    main()
