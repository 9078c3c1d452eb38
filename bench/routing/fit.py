#!/usr/bin/env python3
"""Fit the ``model: auto`` complexity classifier's weights on the train split of prompts.jsonl.

The model is an ordinal logistic regression in its all-threshold form: one linear score
``z = w . x`` over the features of ``bench.routing.complexity.extract_features`` and two cut
points c1 < c2, fitted as the two binary problems "harder than simple" (z - c1) and "hard"
(z - c2) stacked into one L2-regularised logistic regression (Newton's method, numpy). The L2
strength is chosen by 5-fold cross-validation on train, folds by the ``group`` field (a prompt's
variants never straddle folds). The score shipped is sigmoid(z + bias) with the bias centring
the two cut points on 0.5; the tier bounds are then tuned on train (grid of 0.005) for accuracy.

Then it reports, on the held-out test split only: accuracy, the confusion matrix, and accuracy
per category and per source. With --embedding (needs bastion-gateway[semantic] and the model)
it fits the same kind of head on the last user turn's MiniLM embedding, alone and together
with the features; the second ships, for the optional EmbeddingComplexityClassifier.

    .venv/bin/python bench/routing/fit.py [--embedding] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from collections import Counter, defaultdict
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


# ------------------------------------------------------------------------- all-threshold logit


def _stack(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two binary rows per sample: [x, -1, 0] -> y > 0 and [x, 0, -1] -> y > 1."""
    n = len(x)
    first = np.hstack([x, -np.ones((n, 1)), np.zeros((n, 1))])
    second = np.hstack([x, np.zeros((n, 1)), -np.ones((n, 1))])
    return np.vstack([first, second]), np.concatenate([(y > 0), (y > 1)]).astype(np.float64)


def fit_ordinal(
    x: np.ndarray, y: np.ndarray, l2: float, iterations: int = 50
) -> tuple[np.ndarray, float, float]:
    """Weights and the two cut points; L2 on the weights only, Newton's method."""
    design, target = _stack(x, y)
    dims = design.shape[1]
    theta = np.zeros(dims)
    theta[-2:] = [-0.5, 0.5]
    penalty = np.full(dims, l2)
    penalty[-2:] = 1e-6
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ theta)))
        gradient = design.T @ (p - target) + penalty * theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return theta[:-2], float(theta[-2]), float(theta[-1])


def predict(z: np.ndarray, c1: float, c2: float) -> np.ndarray:
    return (z > c1).astype(int) + (z > c2).astype(int)


def fold_of(record: dict, folds: int = 5) -> int:
    return zlib.crc32(("fold:" + record["group"]).encode()) % folds


def choose_l2(x: np.ndarray, y: np.ndarray, records: list[dict], lambdas: tuple[float, ...]) -> float:
    folds = np.array([fold_of(r) for r in records])
    best, best_accuracy = lambdas[0], -1.0
    for l2 in lambdas:
        correct = 0
        for fold in range(5):
            train, valid = folds != fold, folds == fold
            w, c1, c2 = fit_ordinal(x[train], y[train], l2)
            correct += int((predict(x[valid] @ w, c1, c2) == y[valid]).sum())
        accuracy = correct / len(y)
        print(f"  l2={l2:<5} cross-validated accuracy {accuracy:.3f}")
        if accuracy > best_accuracy + 1e-9:
            best, best_accuracy = l2, accuracy
    return best


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


def report(name: str, records: list[dict], y: np.ndarray, predicted: np.ndarray) -> dict:
    matrix = confusion(y, predicted)
    accuracy = float((y == predicted).mean())
    print(f"\n### {name}: held-out accuracy {accuracy:.3f} ({int((y == predicted).sum())}/{len(y)})")
    print("\n| label \\ tier | " + " | ".join(TIERS) + " |\n|---|---|---|---|")
    for index, label in enumerate(LABELS):
        print(f"| {label} | " + " | ".join(str(v) for v in matrix[index]) + " |")
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
    l2 = choose_l2(x_train, y_train, train, LAMBDAS)
    w, c1, c2 = fit_ordinal(x_train, y_train, l2)
    bias = -(c1 + c2) / 2
    fitted = (float(sigmoid(np.array(c1 + bias))), float(sigmoid(np.array(c2 + bias))))
    t1, t2 = tune_bounds(sigmoid(x_train @ w + bias), y_train, fitted)
    print(f"l2 {l2}; fitted bounds {fitted[0]:.3f} / {fitted[1]:.3f}; tuned on train {t1:.3f} / {t2:.3f}")
    bounds = lambda s: (s > t1).astype(int) + (s > t2).astype(int)  # noqa: E731
    train_accuracy = float((bounds(sigmoid(x_train @ w + bias)) == y_train).mean())
    result = report("features", test, y_test, bounds(sigmoid(x_test @ w + bias)))
    print(
        "\nweights: "
        + ", ".join(
            f"{n} {v:+.2f}" for n, v in sorted(zip(FEATURE_NAMES, w, strict=True), key=lambda i: -i[1])
        )
    )
    weights = {
        "model": "ordinal (all-threshold) logistic regression over bastion.routing.complexity.Features",
        "fitted_by": "bench/routing/fit.py on the train split of bench/routing/prompts.jsonl",
        "l2": l2,
        "bias": round(bias, 4),
        "coefficients": {name: round(float(v), 4) for name, v in zip(FEATURE_NAMES, w, strict=True)},
        "means": {
            name: round(float(v), 4) for name, v in zip(FEATURE_NAMES, x_train.mean(axis=0), strict=True)
        },
        "thresholds": [["small", round(t1, 3)], ["medium", round(t2, 3)], ["premium", 1.0]],
        "train": {"n": len(train), "accuracy": round(train_accuracy, 4)},
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
    """Two heads on the MiniLM embedding: alone, and with the features (the one shipped)."""
    train = [r for r in records if r["split"] == "train"]
    test = [r for r in records if r["split"] == "test"]
    vectors = embed_records(records)
    features = feature_matrix(records)
    is_train = np.array([r["split"] == "train" for r in records])
    y_train, y_test = label_vector(train), label_vector(test)
    for name, x in (("embedding alone", vectors), ("embedding + features", np.hstack([vectors, features]))):
        print(f"\n{name}:")
        x_train, x_test = x[is_train], x[~is_train]
        l2 = choose_l2(x_train, y_train, train, EMBEDDING_LAMBDAS)
        w, c1, c2 = fit_ordinal(x_train, y_train, l2)
        bias = -(c1 + c2) / 2
        fitted = (float(sigmoid(np.array(c1 + bias))), float(sigmoid(np.array(c2 + bias))))
        t1, t2 = tune_bounds(sigmoid(x_train @ w + bias), y_train, fitted)
        scores = sigmoid(x_test @ w + bias)
        result = report(name, test, y_test, (scores > t1).astype(int) + (scores > t2).astype(int))
    dims = vectors.shape[1]
    head = {
        "model": "ordinal (all-threshold) logistic regression over the all-MiniLM-L6-v2 embedding of the "
        "last user turn and bastion.routing.complexity.Features",
        "fitted_by": "bench/routing/fit.py --embedding on the train split of bench/routing/prompts.jsonl",
        "l2": l2,
        "max_chars": EMBEDDING_MAX_CHARS,
        "bias": round(bias, 5),
        "embedding": [round(float(v), 5) for v in w[:dims]],
        "features": {n: round(float(v), 5) for n, v in zip(FEATURE_NAMES, w[dims:], strict=True)},
        "thresholds": [["small", round(t1, 3)], ["medium", round(t2, 3)], ["premium", 1.0]],
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
