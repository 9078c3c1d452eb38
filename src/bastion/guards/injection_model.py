"""The learned part of the prompt-injection detector: a linear model over character and word n-grams.

Rules match phrasings; this model scores the *vocabulary and shape* of a text, which survives
paraphrase, other languages and typos better. It is a logistic regression over character 4-grams
and word unigrams and bigrams of the normalised text (whitespace collapsed), trained offline on the
dev split and generated training rows (``bench/guards/injection/train_model.py``). Inference is
pure Python: the weights are a dict from n-gram to weight shipped in ``injection_weights.py``, and
a window's logit is

    bias + sum(weight of each distinct n-gram) / sqrt(number of distinct n-grams)
         + indirect_bias * indirect - offset

where the offset puts the threshold calibrated by cross-validation at 0.5. The detector takes the
larger of this score and the rule score (the rules were tuned on the same dev rows, so as a
feature they would look perfect in training and crowd out the n-grams).

Texts longer than about 1 KB are scored in 512-character windows (stride 256) and the best window
counts, so an attack sentence inside a long document is not diluted by the rest of it. Past
``_FULL_SCAN`` characters a cheap pass (the 4-grams at every fourth position) ranks the windows
and only the best few are scored in full, which keeps a 100 KB text at a few milliseconds.
"""

from __future__ import annotations

import base64
import functools
import heapq
import json
import math
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import accumulate, pairwise, repeat

__all__ = ["NgramModel", "collapse", "features", "load_model", "windows"]

_WORD = re.compile(r"\w+")
_GRAM = re.compile(".{4}", re.DOTALL)
#: texts up to this long (a 1 KB prompt) are one window; longer ones are cut into windows
_SINGLE = 1100
_WINDOW = 512
_STRIDE = 256
#: past this length windows are ranked by a cheap pass first and only the best are scored in full
_FULL_SCAN = 8192
_SHORTLIST = 4
#: word features are prefixed so a word never meets a character 4-gram with the same letters
_WORD_MARK = "\x01"
_BIGRAM_MARK = "\x02"


def collapse(normalized: str) -> str:
    """The text the model reads: normalised text with whitespace runs made one space, padded.

    ``normalize`` already collapses whitespace, so this is usually just the padding.
    """
    if "  " in normalized or not normalized.isprintable():
        normalized = " ".join(normalized.split())
    return f" {normalized.strip()} "


def features(window: str) -> set[str]:
    """The distinct n-grams of one window of collapsed text.

    Presence, not counts: a log, a CSV or a JSON list that repeats one line a thousand times says
    no more than the line once. The training script builds its rows with this function, so
    training and inference read text the same way.
    """
    distinct: set[str] = set()
    for offset in range(4):
        distinct.update(_GRAM.findall(window, offset))
    words = _WORD.findall(window)
    distinct.update(map(_WORD_MARK.__add__, words))
    distinct.update(map(_BIGRAM_MARK.__add__, map(" ".join, pairwise(words))))
    return distinct


@dataclass(frozen=True, slots=True)
class NgramModel:
    """Weights of the n-gram model and the offsets that put its operating points at 0.5."""

    weights: dict[str, float]
    #: the weights for indirect text (tool results, documents): shared weights plus indirect deltas
    indirect_weights: dict[str, float]
    bias: float
    indirect_bias: float
    #: subtracted from the logit so that the threshold calibrated for each kind of text is 0.5
    direct_offset: float
    indirect_offset: float

    def score(self, normalized: str, indirect: bool) -> float:
        """Probability-like score in [0, 1] of normalised text; 0.5 is the calibrated threshold."""
        weights = self.indirect_weights if indirect else self.weights
        logit = self._best_window(collapse(normalized), weights)
        if indirect:
            logit += self.indirect_bias - self.indirect_offset
        else:
            logit -= self.direct_offset
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))

    def _best_window(self, text: str, weights: dict[str, float]) -> float:
        """``bias`` plus the n-gram term of the best-scoring window of ``text``."""
        if len(text) <= _SINGLE:
            return self.bias + _window(text, weights)
        if len(text) > _FULL_SCAN:
            starts: Iterable[int] = _shortlist(text, weights)
        else:
            starts = range(0, len(text) - _STRIDE, _STRIDE)
        return self.bias + max(_window(text[start : start + _WINDOW], weights) for start in starts)


def _window(window: str, weights: dict[str, float]) -> float:
    """The n-gram term of one window: summed weights of its distinct n-grams over sqrt(how many)."""
    distinct = features(window)
    if not distinct:
        return 0.0
    return sum(map(weights.get, distinct, repeat(0.0))) / math.sqrt(len(distinct))


def _shortlist(text: str, weights: dict[str, float]) -> list[int]:
    """The window starts whose cheap score (the 4-grams at every fourth position) is highest."""
    grams = _GRAM.findall(text)
    sums = [0.0, *accumulate(map(weights.get, grams, repeat(0.0)))]
    last = len(grams)

    def cheap(start: int) -> float:
        return sums[min(last, (start + _WINDOW) // 4)] - sums[min(last, start // 4)]

    return heapq.nlargest(_SHORTLIST, range(0, len(text) - _STRIDE, _STRIDE), key=cheap)


def _decode(blob: tuple[str, ...]) -> dict[str, object]:
    return json.loads(zlib.decompress(base64.b64decode("".join(blob))))  # type: ignore[no-any-return]


@functools.cache
def load_model() -> NgramModel:
    """The shipped model (``injection_weights.py``), decoded once per process."""
    from bastion.guards import injection_weights

    data = _decode(injection_weights.BLOB)
    scale = float(data["scale"])  # type: ignore[arg-type]
    keys: list[str] = data["features"]  # type: ignore[assignment]
    quantized: list[int] = data["weights"]  # type: ignore[assignment]
    weights = {key: value * scale for key, value in zip(keys, quantized, strict=True)}
    indirect_weights = dict(weights)
    deltas: list[int] = data["indirect_deltas"]  # type: ignore[assignment]
    for key, delta in zip(data["indirect_features"], deltas, strict=True):  # type: ignore[call-overload]
        indirect_weights[key] = indirect_weights.get(key, 0.0) + delta * scale
    return NgramModel(
        weights=weights,
        indirect_weights=indirect_weights,
        bias=float(data["bias"]),  # type: ignore[arg-type]
        indirect_bias=float(data["indirect_bias"]),  # type: ignore[arg-type]
        direct_offset=float(data["direct_offset"]),  # type: ignore[arg-type]
        indirect_offset=float(data["indirect_offset"]),  # type: ignore[arg-type]
    )


def windows(text: str) -> Iterator[str]:
    """The windows of collapsed text that training treats as rows (all of them, no shortlist)."""
    if len(text) <= _SINGLE:
        yield text
        return
    for start in range(0, len(text) - _STRIDE, _STRIDE):
        yield text[start : start + _WINDOW]
