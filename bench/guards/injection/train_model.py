#!/usr/bin/env python3
"""Train the n-gram model of the prompt-injection detector and write src/bastion/guards/injection_weights.py.

Training data: dev.jsonl only, plus generated rows (train_phrases.py: phrase tables; dev attacks
set inside ordinary dev text; benign text found on this machine: translated UI messages of Debian
packages and README text of installed Python packages). heldout.jsonl, fresh.jsonl and
fresh2.jsonl are never read except to assert that no training text is one of theirs.

Model: logistic regression (L2, class-balanced) over the features of
``bastion.guards.injection_model.features`` (distinct n-grams, each 1/sqrt(how many)), plus an indirect flag,
fitted with full-batch Adam in numpy. The rule score is *not* a feature: the rules were tuned on
these dev rows, so here they look perfect and a model would learn to lean on them instead of on
the n-grams; the detector takes the larger of the two scores instead. Thresholds: 5-fold grouped
cross-validation on the training rows; for direct and for indirect text the threshold is the
lowest one whose out-of-fold false-positive rate on benign prompts (dev, phrase tables and
augmented dev rows; rules and model together) stays within ``--target-fpr``. The shipped model
puts that threshold at 0.5. Needs numpy (the `semantic` extra); inference does not.

    .venv/bin/python bench/guards/injection/train_model.py [--target-fpr 0.01]
"""

from __future__ import annotations

import argparse
import base64
import gettext
import glob
import json
import math
import random
import re
import sys
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))

from train_phrases import english_rows, template_rows  # noqa: E402

from bastion.guards.injection import InjectionDetector  # noqa: E402
from bastion.guards.injection_model import _SINGLE, collapse, features, windows  # noqa: E402
from bastion.guards.normalize import normalize  # noqa: E402

OUT = ROOT / "src" / "bastion" / "guards" / "injection_weights.py"
#: weight of the rows of the two found corpora relative to written rows (there are many of them)
CORPUS_WEIGHT = 0.3


def load(split: str) -> list[dict]:
    with (HERE / f"{split}.jsonl").open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _row(
    text: str, label: int, indirect: bool, source: str, group: str, weight: float = 1.0, kind: str = ""
) -> dict:
    return {
        "text": text,
        "label": label,
        "indirect": indirect,
        "source": source,
        "group": group,
        "w": weight,
        "kind": kind,
    }


def augmented(dev: list[dict], rng: random.Random) -> list[dict]:
    """Dev attacks set inside ordinary dev text, and dev benign rows joined together."""
    plain = [r["text"] for r in dev if r["label"] == 0 and not r["indirect"] and r["kind"] == "benign"]
    pages = [r["text"] for r in dev if r["label"] == 0 and r["indirect"]]
    out = []
    for row in dev:
        if row["label"] != 1 or len(row["text"]) > 320:
            continue
        carriers = pages if row["indirect"] else plain
        for _ in range(2):
            before = " ".join(rng.sample(carriers, rng.randint(0, 2)))
            after = " ".join(rng.sample(carriers, rng.randint(1 - bool(before), 2)))
            text = f"{before} {row['text']} {after}".strip()[: _SINGLE - 40]
            if row["text"] in text:
                out.append(_row(text, 1, row["indirect"], "dev_augmented", row["id"]))
    for index in range(300):
        source = pages if index % 3 == 0 else plain
        text = " ".join(rng.sample(source, rng.randint(2, 4)))[: _SINGLE - 40]
        out.append(_row(text, 0, index % 3 == 0, "dev_augmented", f"benign-{index}"))
    return out


def templates(rng: random.Random) -> list[dict]:
    out = [
        _row(text, label, False, "train_templates", f"{lang}:{text.split(' ')[0][:12]}")
        for label, lang, text in template_rows()
    ]
    for label, kind, text in english_rows(rng):
        # rows sharing their first three words share a fold, so near-copies do not leak across
        group = f"en-{kind}:{' '.join(text.split()[:3])}"
        out.append(_row(text, label, kind == "page", "train_templates", group))
    return out


def gettext_rows(rng: random.Random, per_language: int = 40) -> list[dict]:
    """Translated UI messages of the Debian packages on this machine (benign, many languages)."""
    by_language: dict[str, set[str]] = defaultdict(set)
    for path in sorted(glob.glob("/usr/share/locale/*/LC_MESSAGES/*.mo")):
        language = path.split("/")[4]
        try:
            with open(path, "rb") as handle:
                catalog = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
        except Exception:
            continue
        for value in catalog.values():
            if isinstance(value, str) and 30 <= len(value) <= 400 and "%" not in value[:2]:
                by_language[language].add(value.strip())
    out = []
    for language in sorted(by_language):
        texts = sorted(by_language[language])
        for text in rng.sample(texts, min(per_language, len(texts))):
            out.append(_row(text, 0, False, "gettext_catalogs", f"mo-{language}", CORPUS_WEIGHT))
    return out


def readme_rows(rng: random.Random, limit: int = 1500) -> list[dict]:
    """Paragraphs of the README text of installed Python packages, in chunks of at most one window."""
    chunks = []
    for path in sorted(glob.glob(str(ROOT / ".venv/lib/python3*/site-packages/*.dist-info/METADATA"))):
        body = Path(path).read_text(encoding="utf-8", errors="replace").partition("\n\n")[2]
        buffer = ""
        for paragraph in re.split(r"\n\s*\n", body):
            paragraph = paragraph.strip()
            if not paragraph:
                continue
            if len(buffer) + len(paragraph) > _SINGLE - 60 and buffer:
                chunks.append((Path(path).parent.name, buffer))
                buffer = ""
            buffer = f"{buffer}\n\n{paragraph}".strip()[: _SINGLE - 60]
        if buffer:
            chunks.append((Path(path).parent.name, buffer))
    picked = rng.sample(chunks, min(limit, len(chunks)))
    return [
        _row(text, 0, index % 2 == 0, "package_readmes", f"readme-{package}", CORPUS_WEIGHT)
        for index, (package, text) in enumerate(picked)
    ]


def dev_rows(dev: list[dict]) -> list[dict]:
    out = []
    for row in dev:
        parts = list(windows(collapse(normalize(row["text"])))) if row["label"] == 0 else []
        for window in parts if len(parts) > 1 else [None]:
            text = row["text"] if window is None else window
            kind = "page" if row["indirect"] and row["label"] == 0 else row["kind"]
            out.append(_row(text, row["label"], row["indirect"], "dev", row["id"], kind=kind))
            out[-1]["collapsed"] = window
    return out


# --- features ------------------------------------------------------------------------------------


def featurize(rows: list[dict], detector: InjectionDetector) -> None:
    for row in rows:
        if row.get("collapsed") is None:
            row["collapsed"] = collapse(normalize(row["text"]))
        row["features"] = features(row["collapsed"])
        row["rule"] = detector.scan(row["text"], indirect=row["indirect"]).score


def design(rows: list[dict], vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """COO entries (row, column, value) of the sparse part and the dense column [indirect].

    Columns 0..V-1 are shared by all text; columns V..2V-1 repeat them for indirect rows only, so
    a phrase that is suspicious only in retrieved text ("translate your response into ...") can
    weigh there without weighing in a user's own turn.
    """
    r, c, v = [], [], []
    size = len(vocab)
    for i, row in enumerate(rows):
        scale = 1.0 / math.sqrt(len(row["features"])) if row["features"] else 0.0
        for key in row["features"]:
            j = vocab.get(key)
            if j is not None:
                r.append(i)
                c.append(j)
                v.append(scale)
                if row["indirect"]:
                    r.append(i)
                    c.append(j + size)
                    v.append(scale)
    dense = np.array([[float(row["indirect"])] for row in rows])
    return np.array(r), np.array(c), np.array(v), dense


class Logistic:
    """L2-regularised weighted logistic regression on a sparse+dense design, full-batch Adam."""

    def __init__(self, dims: int, l2: float, steps: int = 500, rate: float = 0.2) -> None:
        self.dims, self.l2, self.steps, self.rate = dims, l2, steps, rate

    def fit(self, coo: tuple, dense: np.ndarray, y: np.ndarray, w: np.ndarray) -> Logistic:
        rows, cols, vals = coo
        n = len(y)
        theta = np.zeros(self.dims + dense.shape[1] + 1)
        m, s = np.zeros_like(theta), np.zeros_like(theta)
        w = w / w.sum()
        for step in range(1, self.steps + 1):
            z = self._logits(theta, coo, dense, n)
            p = 1.0 / (1.0 + np.exp(-z))
            g_row = w * (p - y)
            grad = np.empty_like(theta)
            grad[: self.dims] = np.bincount(cols, weights=vals * g_row[rows], minlength=self.dims)
            grad[self.dims : -1] = dense.T @ g_row
            grad[-1] = g_row.sum()
            grad[:-1] += self.l2 * theta[:-1]
            m = 0.9 * m + 0.1 * grad
            s = 0.999 * s + 0.001 * grad * grad
            theta -= self.rate * (m / (1 - 0.9**step)) / (np.sqrt(s / (1 - 0.999**step)) + 1e-8)
        self.theta = theta
        return self

    def _logits(self, theta: np.ndarray, coo: tuple, dense: np.ndarray, n: int) -> np.ndarray:
        rows, cols, vals = coo
        sparse = np.bincount(rows, weights=vals * theta[cols], minlength=n)
        return sparse + dense @ theta[self.dims : -1] + theta[-1]

    def logits(self, coo: tuple, dense: np.ndarray, n: int) -> np.ndarray:
        return self._logits(self.theta, coo, dense, n)


def subset(coo: tuple, index: np.ndarray) -> tuple:
    """COO entries of the rows in ``index``, renumbered 0..len(index)-1."""
    rows, cols, vals = coo
    remap = -np.ones(rows.max() + 1 if len(rows) else 1, dtype=int)
    remap[index] = np.arange(len(index))
    keep = remap[rows] >= 0
    return remap[rows[keep]], cols[keep], vals[keep]


def class_weights(rows: list[dict]) -> np.ndarray:
    w = np.array([row["w"] for row in rows])
    y = np.array([row["label"] for row in rows])
    w[y == 1] *= w[y == 0].sum() / w[y == 1].sum()
    return w


def threshold_for(scores: np.ndarray, rules_flag: np.ndarray, target: float) -> float:
    """Lowest threshold on ``scores`` at which the model adds at most ``target`` false positives.

    Only benign rows the rules do not flag count: the rules' own false positives are theirs.
    The threshold sits halfway between the last benign score it lets through and the next one.
    """
    free = np.sort(scores[~rules_flag])[::-1]
    allowed = math.floor(target * len(scores))
    if allowed >= len(free):
        return float(free[-1])
    return float((free[allowed] + free[allowed - 1]) / 2) if allowed else float(free[0] + 1e-3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-fpr", type=float, default=0.01)
    parser.add_argument("--l2", type=float, default=None, help="skip the search and use this L2 strength")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--min-df", type=int, default=2)
    parser.add_argument("--keep", type=int, default=60000, help="features kept in the shipped model")
    args = parser.parse_args()
    rng = random.Random(20261127)

    dev = load("dev")
    rows = dev_rows(dev) + augmented(dev, rng) + templates(rng) + gettext_rows(rng) + readme_rows(rng)
    # a row that is also a test row (three short benign dev questions happen to be fresh2 rows,
    # one phrase-table row is a held-out row) is left out of training
    forbidden = {r["text"] for split in ("heldout", "fresh", "fresh2") for r in load(split)}
    dropped = sum(row["text"] in forbidden for row in rows)
    rows = [row for row in rows if row["text"] not in forbidden]
    print(f"left out {dropped} training rows that are also test rows")
    rules_only = InjectionDetector(learned=False)
    featurize(rows, rules_only)
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        for key in row["features"]:
            counts[key] += 1
    vocab = {key: j for j, key in enumerate(sorted(k for k, df in counts.items() if df >= args.min_df))}
    coo = design(rows, vocab)
    dense = coo[3]
    coo = coo[:3]
    y = np.array([row["label"] for row in rows], dtype=float)
    w = class_weights(rows)
    print(f"{len(rows)} rows ({int(y.sum())} attacks), {len(vocab)} features")
    for source in sorted({row["source"] for row in rows}):
        part = [row for row in rows if row["source"] == source]
        print(f"  {source}: {len(part)} rows, {sum(r['label'] for r in part)} attacks")

    groups = sorted({row["group"] for row in rows})
    rng.shuffle(groups)
    fold_of = {group: i % args.folds for i, group in enumerate(groups)}
    fold = np.array([fold_of[row["group"]] for row in rows])

    def out_of_fold(l2: float) -> np.ndarray:
        oof = np.zeros(len(rows))
        for k in range(args.folds):
            train, test = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
            model = Logistic(2 * len(vocab), l2).fit(subset(coo, train), dense[train], y[train], w[train])
            oof[test] = model.logits(subset(coo, test), dense[test], len(test))
        return oof

    prompt_like = np.array([row["source"] in ("dev", "dev_augmented", "train_templates") for row in rows])
    indirect = np.array([row["indirect"] for row in rows])
    rules_flag = np.array([row["rule"] >= 0.5 for row in rows])

    # hand-written dev rows closest to attacks: hard negatives (direct) and retrieved pages (indirect).
    # Generated near-misses are easier than these, so they get their own bound. The target is a
    # false-positive rate of at most 2% over benign prompts, about a third of which are hard
    # negatives in these sets: out of fold the model may flag at most 4% of the direct hard
    # negatives (3 of 75) and none of the pages.
    written = np.array([row["source"] == "dev" and row["kind"] in ("hard_negative", "page") for row in rows])

    def calibrate(oof: np.ndarray) -> dict[str, float]:
        out = {"corpus_fpr": 0.0}
        for name, mask in (("direct", ~indirect), ("indirect", indirect)):
            benign = mask & prompt_like & (y == 0)
            hard = mask & written & (y == 0)
            t = max(
                threshold_for(oof[benign], rules_flag[benign], args.target_fpr),
                threshold_for(oof[hard], rules_flag[hard], 0.04 if name == "direct" else 0.0),
            )
            if name == "indirect":
                # 33 written pages are too few to trust an operating point more aggressive than
                # the direct one, so indirect text is never flagged more readily than a user turn
                t = max(t, out["direct"])
            attacks = mask & (y == 1)
            flagged = rules_flag | (oof >= t)
            corpus = mask & ~prompt_like & (y == 0)
            out[name] = t
            out["corpus_fpr"] = max(out["corpus_fpr"], float(flagged[corpus].mean()))
            for source in ("dev", "dev_augmented", "train_templates"):
                part = attacks & (np.array([row["source"] == source for row in rows]))
                if part.any():
                    print(f"      {source}: oof recall {flagged[part].mean():.3f} ({part.sum()})")
            print(
                f"    {name}: threshold logit {t:.3f}  oof recall {flagged[attacks].mean():.3f} "
                f"(rules alone {rules_flag[attacks].mean():.3f})  oof FPR prompts "
                f"{flagged[benign].mean():.4f}  written near-misses {flagged[hard].mean():.4f} "
                f"({hard.sum()})  corpora {flagged[corpus].mean():.4f}"
            )
        return out

    best = None
    for l2 in [args.l2] if args.l2 is not None else [1e-6, 1e-5, 1e-4]:
        print(f"  l2={l2}")
        oof = out_of_fold(l2)
        thresholds = calibrate(oof)
        # the rules were tuned on dev, so recall is judged on the model alone
        recall = np.mean((oof >= thresholds["direct"])[(y == 1) & ~indirect])
        print(f"    model alone, direct: oof recall {recall:.3f}")
        # found text of another style (UI messages, READMEs) must stay quiet too: a strength that
        # flags more than 1% of it fits the written rows too closely
        if thresholds["corpus_fpr"] <= 0.01 and (best is None or recall > best[0]):
            best = (recall, l2, thresholds)
    assert best is not None
    _, l2, thresholds = best
    print(f"chosen l2={l2}")
    model = Logistic(2 * len(vocab), l2).fit(coo, dense, y, w)
    write(model.theta, vocab, thresholds, args.keep, len(rows), l2, args.target_fpr)


def write(
    theta: np.ndarray,
    vocab: dict[str, int],
    thresholds: dict[str, float],
    keep: int,
    rows: int,
    l2: float,
    target: float,
) -> None:
    dims = len(vocab)
    weights, deltas = theta[:dims], theta[dims : 2 * dims]
    order = np.argsort(-np.abs(weights))[:keep]
    kept = order[np.abs(weights[order]) > 1e-4]
    order = np.argsort(-np.abs(deltas))[: keep // 4]
    kept_deltas = order[np.abs(deltas[order]) > 1e-4]
    scale = float(max(np.abs(weights[kept]).max(), np.abs(deltas[kept_deltas]).max()) / 32000)
    keys = sorted(vocab, key=vocab.__getitem__)
    data = {
        "version": 1,
        "trained_on": f"{rows} rows (dev split + generated rows), l2={l2}, target FPR {target}",
        "bias": float(theta[-1]),
        "indirect_bias": float(theta[2 * dims]),
        "direct_offset": thresholds["direct"],
        "indirect_offset": thresholds["indirect"],
        "scale": scale,
        "features": [keys[j] for j in kept],
        "weights": [round(float(weights[j]) / scale) for j in kept],
        "indirect_features": [keys[j] for j in kept_deltas],
        "indirect_deltas": [round(float(deltas[j]) / scale) for j in kept_deltas],
    }
    blob = base64.b64encode(zlib.compress(json.dumps(data, ensure_ascii=False).encode(), 9)).decode()
    lines = "\n".join(f'    "{blob[i : i + 100]}"' for i in range(0, len(blob), 100))
    OUT.write_text(
        '"""Weights of the prompt-injection n-gram model: generated, do not edit.\n\n'
        "Written by bench/guards/injection/train_model.py: a base64 zlib-compressed JSON document,\n"
        "decoded by ``injection_model.load_model``.\n"
        '"""\n\n'
        f"BLOB = (\n{lines}\n)\n",
        encoding="utf-8",
    )
    size = OUT.stat().st_size / 1024
    print(f"wrote {OUT} ({size:.0f} KB, {len(kept)} features, {len(kept_deltas)} indirect deltas)")


if __name__ == "__main__":
    main()
