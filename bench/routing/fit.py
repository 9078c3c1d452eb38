#!/usr/bin/env python3
"""Fit the ``model: auto`` complexity classifier's weights on the train split of prompts.jsonl.

The model is two L2-regularised logistic regressions over the features of
``bastion.routing.complexity.extract_features``: "harder than simple" (medium or hard) and
"hard", each with its own weights (Newton's method, numpy). Its score is the mean of their two
probabilities, half the expected tier index; the tier bounds on that score start at 0.25 / 0.75
(expected tier 0.5 / 1.5). Two weight vectors rather than the one of a proportional-odds model
let a feature mark the middle tier (writing, role-play, explanations) without pushing it to the
top one; on train that is worth about three points of cross-validated accuracy.

The L2 strength is chosen by 5-fold cross-validation on train, folds by the ``group`` field (a
prompt's variants never straddle folds); the tier bounds are then tuned (grid of 0.005) on the
out-of-fold scores of train at that strength, never on test.

It never reads bench/routing/external_heldout.jsonl, the external held-out set (evaluate.py
scores it). Then it reports, on the held-out test split only: accuracy, the confusion matrix, per-tier
precision and recall, and accuracy per category and per source. With --embedding (needs
bastion-gateway[semantic] and the model) it fits an ordinal (all-threshold) head on the last user
turn's MiniLM embedding, alone and together with the features; the second ships, for the
optional EmbeddingComplexityClassifier.

    .venv/bin/python bench/routing/fit.py [--embedding] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from bastion.routing.complexity import (  # noqa: E402
    EMBEDDING_WEIGHTS_PATH,
    FEATURE_NAMES,
    WEIGHTS_PATH,
    extract_features,
)

PROMPTS = Path(__file__).with_name("prompts.jsonl")
LABELS = ("simple", "medium", "hard")
TIERS = ("small", "medium", "premium")
LAMBDAS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
EMBEDDING_LAMBDAS = (0.03, 0.1, 0.3, 1.0, 3.0)
EMBEDDING_MAX_CHARS = 2000


def load_records(path: Path = PROMPTS) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def feature_matrix(records: list[dict]) -> np.ndarray:
    rows = []
    for record in records:
        features = extract_features(record["body"])
        rows.append([getattr(features, name) for name in FEATURE_NAMES])
    return np.array(rows, dtype=np.float64)


def label_vector(records: list[dict]) -> np.ndarray:
    return np.array([LABELS.index(r["label"]) for r in records])


# --------------------------------------------------------------------- two logistic regressions


def fit_logistic(
    x: np.ndarray, target: np.ndarray, l2: float, iterations: int = 60
) -> tuple[np.ndarray, float]:
    """Weights and bias of one binary logistic regression; L2 on the weights only, Newton's method."""
    design = np.hstack([x, np.ones((len(x), 1))])
    theta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 1e-6
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ theta)))
        gradient = design.T @ (p - target) + penalty * theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return theta[:-1], float(theta[-1])


@dataclass(frozen=True)
class TwoLogits:
    """ "harder than simple" (up) and "hard" logistic regressions; score = mean probability."""

    up: np.ndarray
    up_bias: float
    hard: np.ndarray
    hard_bias: float

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, l2: float) -> TwoLogits:
        up, up_bias = fit_logistic(x, (y > 0).astype(np.float64), l2)
        hard, hard_bias = fit_logistic(x, (y > 1).astype(np.float64), l2)
        return cls(up, up_bias, hard, hard_bias)

    def score(self, x: np.ndarray) -> np.ndarray:
        return (sigmoid(x @ self.up + self.up_bias) + sigmoid(x @ self.hard + self.hard_bias)) / 2


NATURAL_BOUNDS = (0.25, 0.75)


def tiers_of(scores: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    return (scores > bounds[0]).astype(int) + (scores > bounds[1]).astype(int)


def out_of_fold_scores(x: np.ndarray, y: np.ndarray, records: list[dict], l2: float) -> np.ndarray:
    folds = np.array([fold_of(r) for r in records])
    scores = np.zeros(len(y))
    for fold in range(5):
        train, valid = folds != fold, folds == fold
        scores[valid] = TwoLogits.fit(x[train], y[train], l2).score(x[valid])
    return scores


#: a stronger L2 within this much cross-validated accuracy of the best is preferred: differences
#: that small are noise on ~540 prompts, and the stronger penalty gives steadier weights
L2_TOLERANCE = 0.005


def choose_l2(
    x: np.ndarray, y: np.ndarray, records: list[dict], lambdas: tuple[float, ...] = LAMBDAS
) -> tuple[float, np.ndarray]:
    """The strongest L2 whose cross-validated accuracy is within L2_TOLERANCE of the best, with
    its out-of-fold scores."""
    results = []
    for l2 in lambdas:
        scores = out_of_fold_scores(x, y, records, l2)
        accuracy = float((tiers_of(scores, NATURAL_BOUNDS) == y).mean())
        print(f"  l2={l2:<5} cross-validated accuracy {accuracy:.3f}")
        results.append((accuracy, l2, scores))
    best = max(accuracy for accuracy, _, _ in results)
    _, l2, scores = max((r for r in results if r[0] >= best - L2_TOLERANCE), key=lambda r: r[1])
    return l2, scores


def fold_of(record: dict, folds: int = 5) -> int:
    return zlib.crc32(("fold:" + record["group"]).encode()) % folds


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def tune_bounds(scores: np.ndarray, y: np.ndarray, start: tuple[float, float]) -> tuple[float, float]:
    """Score bounds with the best train accuracy (ties: nearest to the fitted ones)."""
    grid = np.round(np.arange(0.02, 0.985, 0.005), 3)
    best = (-1.0, 0.0, start)
    for t1 in grid:
        for t2 in grid[grid > t1]:
            accuracy = float((((scores > t1).astype(int) + (scores > t2)) == y).mean())
            closeness = -abs(t1 - start[0]) - abs(t2 - start[1])
            if (accuracy, closeness) > best[:2]:
                best = (accuracy, closeness, (float(t1), float(t2)))
    return best[2]


# --------------------------------------------------------------------------------- reporting


def confusion(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    matrix = np.zeros((3, 3), dtype=int)
    for truth, guess in zip(y, predicted, strict=True):
        matrix[truth, guess] += 1
    return matrix


def precision_recall(matrix: np.ndarray | list[list[int]]) -> str:
    """Per-tier precision and recall, and the premium-or-not accuracy, as markdown lines."""
    m = np.asarray(matrix)
    lines = []
    for index, tier in enumerate(TIERS):
        chosen, actual = m[:, index].sum(), m[index, :].sum()
        precision = m[index, index] / chosen if chosen else 0.0
        recall = m[index, index] / actual if actual else 0.0
        lines.append(f"{tier}: precision {precision:.3f} recall {recall:.3f}")
    premium_right = m[2, 2] + m[:2, :2].sum()
    lines.append(f"premium or not (2-way) accuracy {premium_right / m.sum():.3f}")
    return "; ".join(lines)


def report(name: str, records: list[dict], y: np.ndarray, predicted: np.ndarray) -> dict:
    matrix = confusion(y, predicted)
    accuracy = float((y == predicted).mean())
    print(f"\n### {name}: held-out accuracy {accuracy:.3f} ({int((y == predicted).sum())}/{len(y)})")
    print("\n| label \\ tier | " + " | ".join(TIERS) + " |\n|---|---|---|---|")
    for index, label in enumerate(LABELS):
        print(f"| {label} | " + " | ".join(str(v) for v in matrix[index]) + " |")
    print("\n" + precision_recall(matrix))
    for field in ("category", "source"):
        groups: dict[str, list[bool]] = defaultdict(list)
        for record, truth, guess in zip(records, y, predicted, strict=True):
            groups[record[field]].append(bool(truth == guess))
        print(f"\nper {field}: " + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in sorted(groups.items())))
    return {"accuracy": round(accuracy, 4), "confusion": matrix.tolist(), "n": len(y)}


# ------------------------------------------------------------------------------------- main


def fit_features(records: list[dict], dry_run: bool) -> None:
    train = [r for r in records if r["split"] == "train"]
    test = [r for r in records if r["split"] == "test"]
    x_train, y_train = feature_matrix(train), label_vector(train)
    x_test, y_test = feature_matrix(test), label_vector(test)
    print(f"train {len(train)} {dict(Counter(r['label'] for r in train))}")
    print(f"test  {len(test)} {dict(Counter(r['label'] for r in test))}")
    l2, oof = choose_l2(x_train, y_train, train)
    bounds = tune_bounds(oof, y_train, NATURAL_BOUNDS)
    cv_accuracy = float((tiers_of(oof, bounds) == y_train).mean())
    model = TwoLogits.fit(x_train, y_train, l2)
    train_accuracy = float((tiers_of(model.score(x_train), bounds) == y_train).mean())
    print(
        f"l2 {l2}; bounds tuned on out-of-fold train scores {bounds[0]:.3f} / {bounds[1]:.3f} "
        f"(cross-validated accuracy {cv_accuracy:.3f}, in-sample {train_accuracy:.3f})"
    )
    result = report("features", test, y_test, tiers_of(model.score(x_test), bounds))
    for name, weights in (("harder than simple", model.up), ("hard", model.hard)):
        ranked = sorted(zip(FEATURE_NAMES, weights, strict=True), key=lambda item: -item[1])
        print(f"\n{name} weights: " + ", ".join(f"{n} {v:+.2f}" for n, v in ranked))
    weights = {
        "model": "two logistic regressions over bastion.routing.complexity.Features: 'harder than simple' "
        "(bias, coefficients) and 'hard' (hard_bias, hard_coefficients); score = mean of their probabilities",
        "fitted_by": "bench/routing/fit.py on the train split of bench/routing/prompts.jsonl",
        "l2": l2,
        "bias": round(model.up_bias, 4),
        "coefficients": {name: round(float(v), 4) for name, v in zip(FEATURE_NAMES, model.up, strict=True)},
        "hard_bias": round(model.hard_bias, 4),
        "hard_coefficients": {
            name: round(float(v), 4) for name, v in zip(FEATURE_NAMES, model.hard, strict=True)
        },
        "means": {
            name: round(float(v), 4) for name, v in zip(FEATURE_NAMES, x_train.mean(axis=0), strict=True)
        },
        "thresholds": [["small", round(bounds[0], 3)], ["medium", round(bounds[1], 3)], ["premium", 1.0]],
        "train": {
            "n": len(train),
            "accuracy": round(train_accuracy, 4),
            "cv_accuracy": round(cv_accuracy, 4),
        },
        "heldout": result,
    }
    if not dry_run:
        WEIGHTS_PATH.write_text(json.dumps(weights, indent=1) + "\n")
        print(f"wrote {WEIGHTS_PATH.relative_to(ROOT)}")


def embed_records(records: list[dict]) -> np.ndarray:
    from bastion.cache.embedders import LocalEmbedder
    from bastion.routing.complexity import _read_conversation

    embedder = LocalEmbedder()
    texts = [_read_conversation(r["body"]["messages"]).last_user[:EMBEDDING_MAX_CHARS] for r in records]
    return np.vstack([embedder.embed_sync(texts[i : i + 32]) for i in range(0, len(texts), 32)]).astype(
        np.float64
    )


def fit_embedding(records: list[dict], dry_run: bool) -> None:
    """Two heads on the MiniLM embedding: alone, and with the features (the one shipped); the
    same two-logit form, L2 choice and bound tuning as the features alone."""
    train = [r for r in records if r["split"] == "train"]
    test = [r for r in records if r["split"] == "test"]
    vectors = embed_records(records)
    features = feature_matrix(records)
    is_train = np.array([r["split"] == "train" for r in records])
    y_train, y_test = label_vector(train), label_vector(test)
    for name, x in (("embedding alone", vectors), ("embedding + features", np.hstack([vectors, features]))):
        print(f"\n{name}:")
        x_train, x_test = x[is_train], x[~is_train]
        l2, oof = choose_l2(x_train, y_train, train, EMBEDDING_LAMBDAS)
        bounds = tune_bounds(oof, y_train, NATURAL_BOUNDS)
        print(f"l2 {l2}; cross-validated accuracy {float((tiers_of(oof, bounds) == y_train).mean()):.3f}")
        model = TwoLogits.fit(x_train, y_train, l2)
        result = report(name, test, y_test, tiers_of(model.score(x_test), bounds))
    dims = vectors.shape[1]
    head = {
        "model": "two logistic regressions ('harder than simple', 'hard') over the all-MiniLM-L6-v2 "
        "embedding of the last user turn and bastion.routing.complexity.Features; score = mean of their "
        "probabilities",
        "fitted_by": "bench/routing/fit.py --embedding on the train split of bench/routing/prompts.jsonl",
        "l2": l2,
        "max_chars": EMBEDDING_MAX_CHARS,
        "bias": round(model.up_bias, 5),
        "embedding": [round(float(v), 5) for v in model.up[:dims]],
        "features": {n: round(float(v), 5) for n, v in zip(FEATURE_NAMES, model.up[dims:], strict=True)},
        "hard_bias": round(model.hard_bias, 5),
        "hard_embedding": [round(float(v), 5) for v in model.hard[:dims]],
        "hard_features": {
            n: round(float(v), 5) for n, v in zip(FEATURE_NAMES, model.hard[dims:], strict=True)
        },
        "thresholds": [["small", round(bounds[0], 3)], ["medium", round(bounds[1], 3)], ["premium", 1.0]],
        "heldout": result,
    }
    if not dry_run:
        EMBEDDING_WEIGHTS_PATH.write_text(json.dumps(head) + "\n")
        print(f"wrote {EMBEDDING_WEIGHTS_PATH.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding", action="store_true", help="also fit the embedding head")
    parser.add_argument("--dry-run", action="store_true", help="report only; write no weights")
    args = parser.parse_args()
    records = load_records()
    fit_features(records, args.dry_run)
    if args.embedding:
        fit_embedding(records, args.dry_run)


if __name__ == "__main__":
    main()
