#!/usr/bin/env python3
"""Choose the semantic cache's similarity threshold and measure its false-hit rate and recall.

Embeds both sides of every pair in bench/semantic/pairs.jsonl with the local embedder
(all-MiniLM-L6-v2); a pair is served from the cache when its cosine is at or above the threshold
and the detail guard (``bastion.cache.semantic.details_agree``) accepts it. Then it:
  1. sweeps thresholds on the dev split, finds the lowest one whose false-hit rate (must-miss
     pairs that would be served / all must-miss pairs) is at most --max-false-hit-rate, and adds
     --margin (0.02): with ~90 must-miss pairs a dev set cannot place the boundary more finely;
  2. reports, on the held-out test split only, the false-hit rate (with a 95% Wilson upper bound,
     the sample being small), the recall (should-hit pairs at or above it / all should-hit pairs),
     and both per kind of pair and per domain;
  3. lists the held-out false hits and the closest misses, so a reader can judge them.
Prints markdown; --out also writes it to a file. Needs bastion-gateway[semantic] and the model.

    .venv/bin/python bench/semantic/evaluate.py [--max-false-hit-rate 0.01] [--out results.md]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from bastion.cache.embedders import DEFAULT_THRESHOLD, LocalEmbedder
from bastion.cache.semantic import details_agree

PAIRS = Path(__file__).with_name("pairs.jsonl")


def load_pairs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def score_pairs(pairs: list[dict], embedder: LocalEmbedder) -> np.ndarray:
    texts = sorted({text for pair in pairs for text in (pair["a"], pair["b"])})
    vectors = embedder.embed_sync(texts)
    row = {text: index for index, text in enumerate(texts)}
    return np.array([float(vectors[row[p["a"]]] @ vectors[row[p["b"]]]) for p in pairs])


def rates(pairs: list[dict], scores: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    """(false hits, must-miss pairs, true hits, should-hit pairs) at ``threshold``.

    A guard-rejected pair carries a score of -1 (see ``guarded``), so it never hits.
    """
    false_hits = misses = true_hits = hits = 0
    for pair, score in zip(pairs, scores, strict=True):
        if pair["label"] == "miss":
            misses += 1
            false_hits += score >= threshold
        else:
            hits += 1
            true_hits += score >= threshold
    return false_hits, misses, true_hits, hits


def guarded(pairs: list[dict], scores: np.ndarray) -> np.ndarray:
    """The scores the cache acts on: -1 where the detail guard rejects the pair."""
    agree = np.array([details_agree(p["a"], p["b"]) for p in pairs])
    return np.where(agree, scores, -1.0)


def wilson_upper(successes: int, total: int, z: float = 1.96) -> float:
    if total == 0:
        return 1.0
    p = successes / total
    centre = p + z * z / (2 * total)
    margin = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return min(1.0, (centre + margin) / (1 + z * z / total))


def choose_threshold(pairs: list[dict], scores: np.ndarray, max_rate: float) -> float:
    for step in range(500, 1000, 5):
        threshold = step / 1000
        false_hits, misses, _, _ = rates(pairs, scores, threshold)
        if false_hits <= max_rate * misses:
            return threshold
    return 1.0


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}% ({part}/{whole})" if whole else "n/a"


def breakdown(
    pairs: list[dict], scores: np.ndarray, raw: np.ndarray, threshold: float, field: str
) -> list[str]:
    groups: dict[str, list[int]] = defaultdict(list)
    for index, pair in enumerate(pairs):
        groups[f"{pair['label']}: {pair[field]}"].append(index)
    lines = [
        f"| {field} | pairs | served from cache | turned away by the guard | mean cosine |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in sorted(groups):
        members = groups[name]
        served = sum(scores[i] >= threshold for i in members)
        rejected = sum(scores[i] < 0 <= raw[i] - threshold for i in members)
        mean = float(np.mean([raw[i] for i in members]))
        lines.append(
            f"| {name} | {len(members)} | {percent(int(served), len(members))} | {rejected} | {mean:.3f} |"
        )
    return lines


def sweep(
    pairs: list[dict], scores: np.ndarray, max_rate: float, margin: float, title: str
) -> tuple[float, list[str]]:
    dev = [i for i, p in enumerate(pairs) if p["split"] == "dev"]
    test = [i for i, p in enumerate(pairs) if p["split"] == "test"]
    dev_pairs, dev_scores = [pairs[i] for i in dev], scores[dev]
    test_pairs, test_scores = [pairs[i] for i in test], scores[test]
    lowest = choose_threshold(dev_pairs, dev_scores, max_rate)
    chosen = min(1.0, round(lowest + margin, 3))
    out = [
        f"### {title}",
        "",
        f"Lowest threshold (step 0.005) with a dev false-hit rate <= {100 * max_rate:g}%: {lowest:.3f}; "
        f"plus the {margin:g} margin: **{chosen:.3f}**.",
        "",
        "| threshold | dev false hits | dev recall | held-out false hits | held-out FHR 95% upper | "
        "held-out recall |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    candidates = sorted({0.7, 0.75, 0.8, 0.85, 0.9, 0.95, lowest, chosen, DEFAULT_THRESHOLD})
    for threshold in candidates:
        dfh, dm, dth, dh = rates(dev_pairs, dev_scores, threshold)
        tfh, tm, tth, th = rates(test_pairs, test_scores, threshold)
        mark = " chosen" if threshold == chosen else ""
        mark += " default" if threshold == DEFAULT_THRESHOLD else ""
        out.append(
            f"| {threshold:.3f}{mark} | {percent(dfh, dm)} | {percent(dth, dh)} | {percent(tfh, tm)} "
            f"| {100 * wilson_upper(tfh, tm):.1f}% | {percent(tth, th)} |"
        )
    return chosen, out


def report(pairs: list[dict], raw: np.ndarray, max_rate: float, margin: float, load_seconds: float) -> str:
    scores = guarded(pairs, raw)
    dev = sum(p["split"] == "dev" for p in pairs)
    out = [
        f"Pairs: {len(pairs)} ({dev} dev, {len(pairs) - dev} held-out); model load {load_seconds:.2f} s; "
        f"DEFAULT_THRESHOLD in the code: {DEFAULT_THRESHOLD}.",
        "",
    ]
    _, lines = sweep(pairs, scores, max_rate, margin, "Cosine and the detail guard (what the cache does)")
    out += [*lines, ""]
    _, lines = sweep(pairs, raw, max_rate, margin, "Cosine alone (for comparison)")
    out += lines
    test = [i for i, p in enumerate(pairs) if p["split"] == "test"]
    test_pairs, test_scores, test_raw = [pairs[i] for i in test], scores[test], raw[test]
    threshold = DEFAULT_THRESHOLD
    out += [
        "",
        f"Held-out split at the default threshold {threshold} (turned away: cosine above it, guard says no):",
        "",
    ]
    out += breakdown(test_pairs, test_scores, test_raw, threshold, "kind")
    out += ["", "Per domain:", ""]
    out += breakdown(test_pairs, test_scores, test_raw, threshold, "domain")
    order = np.argsort(-scores)
    false_hits = [i for i in order if pairs[i]["label"] == "miss" and scores[i] >= threshold]
    out += ["", "Must-miss pairs that pass at the default threshold (all splits):", ""]
    out += ["| cosine | split | kind | a | b |", "|---:|---|---|---|---|"]
    for i in false_hits:
        p = pairs[i]
        out.append(f"| {scores[i]:.3f} | {p['split']} | {p['kind']} | {p['a']} | {p['b']} |")
    lost = [i for i in order if pairs[i]["label"] == "hit" and raw[i] >= threshold and scores[i] < 0]
    out += ["", "Should-hit pairs above the threshold that the guard turns away (all splits):", ""]
    out += ["| cosine | split | kind | a | b |", "|---:|---|---|---|---|"]
    for i in lost:
        p = pairs[i]
        out.append(f"| {raw[i]:.3f} | {p['split']} | {p['kind']} | {p['a']} | {p['b']} |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--max-false-hit-rate", type=float, default=0.01)
    parser.add_argument(
        "--margin", type=float, default=0.02, help="added to the rule's threshold: the dev set is small"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    pairs = load_pairs(args.pairs)
    embedder = LocalEmbedder()
    started = time.perf_counter()
    embedder.load()
    load_seconds = time.perf_counter() - started
    text = report(pairs, score_pairs(pairs, embedder), args.max_false_hit_rate, args.margin, load_seconds)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
