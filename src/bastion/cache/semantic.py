"""The semantic cache's two halves: what text of a request is embedded, and the vector index.

A request is semantically cacheable when its last message is a user turn with text (and no
image). That text is embedded; everything else that shapes the answer (system and developer
prompts, earlier turns, tools, response format, sampling parameters, non-text parts) is hashed
into ``context_hash``, which the caller folds into the partition with the model group and the
tenant. Two requests are compared only inside one partition, so a different system prompt, a
different conversation or another tenant can never match, however close the last turns are.

The index keeps one normalised float32 matrix per partition and searches it exactly with one
matrix-vector product: cheap up to ~100k rows (see docs/caching.md for the measured cost).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike

__all__ = ["MAX_TEXT_CHARS", "MissingExtra", "SemanticIndex", "details_agree", "semantic_text"]

#: longer last turns are not semantically cacheable: the local model reads only its first
#: 256 word pieces, so two long prompts differing past that point would embed the same
MAX_TEXT_CHARS = 1000

#: body fields that change how an answer is delivered or billed, not what it says
_DELIVERY_FIELDS = frozenset(
    {
        "model",
        "stream",
        "stream_options",
        "user",
        "metadata",
        "store",
        "service_tier",
        "prompt_cache_key",
        "safety_identifier",
    }
)
_IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})


class MissingExtra(RuntimeError):
    """The semantic cache was configured but its optional dependencies are not installed."""


def require_numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise MissingExtra("the semantic cache needs numpy: install bastion-gateway[semantic]") from None
    return numpy


# ---------------------------------------------------------------------------------- request text


def semantic_text(body: dict[str, Any], max_chars: int = MAX_TEXT_CHARS) -> tuple[str, str] | None:
    """Split a chat body into ``(context_hash, text)``: the last user turn's text and a hash of the rest.

    None when the request is not semantically cacheable: no messages, the last message is not
    the user's, it has no text, it carries an image, or its text is longer than ``max_chars``.
    Works on OpenAI chat bodies and on Anthropic Messages bodies (top-level ``system``).
    """
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        return None
    split = _split_content(last.get("content"))
    if split is None:
        return None
    text, other_parts = split
    text = text.strip()
    if not text or len(text) > max_chars:
        return None
    last_rest = {key: value for key, value in last.items() if key != "content"}
    context = {
        "body": {
            key: value for key, value in body.items() if key not in _DELIVERY_FIELDS and key != "messages"
        },
        "earlier": messages[:-1],
        "last": last_rest,
        "parts": other_parts,
    }
    digest = hashlib.sha256(orjson.dumps(context, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return digest, text


def _split_content(content: Any) -> tuple[str, list[Any]] | None:
    """The text of a message's content and its non-text parts; None when it has an image."""
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        return None
    texts: list[str] = []
    others: list[Any] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in _IMAGE_PARTS:
            return None
        else:
            others.append(part)
    return "\n".join(texts), others


# ---------------------------------------------------------------------------------- detail guard

# Sentence embeddings capture the topic of a question and are nearly blind to its details: "2 + 2"
# and "2 + 3", "enable" and "disable", "from A to B" and "from B to A" score 0.9 to 0.99. So a
# candidate above the threshold is served only when the details the embedding cannot see agree.
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})
_CONTRACTIONS = (
    (re.compile(r"\b(can't|cannot)\b"), "can not"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"n't\b"), " not"),
)
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")
_WITHOUT = re.compile(r"\b-free\b")  # gluten-free, sugar-free: "without gluten"


def _split(words: str) -> list[str]:
    return words.split()


_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        _split(
            "zero _ two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
            "sixteen seventeen eighteen nineteen twenty"
        )
    )
    if word != "_"
} | {"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000", "million": "1000000"}
_NEGATIONS = frozenset(
    _split("not no never without unable none nothing nobody neither nor nicht kein keine pas jamais nunca")
)
#: words of one group are alternatives: one on each side (and not on both) means different questions
_ALTERNATIVES = [
    frozenset(_split(group))
    for group in (
        "on off",
        "in out",
        "up down",
        "add remove",
        "increase decrease",
        "raise lower",
        "higher lower",
        "upgrade downgrade",
        "push pull",
        "show hide",
        "start stop",
        "minimum maximum min max",
        "fast slow",
        "heat cool",
        "before after",
        "open close closed",
        "allow block deny",
        "compress extract",
        "import export",
        "upload download",
        "buy sell",
        "win lose",
        "more less",
        "first last",
        "synonym antonym",
        "pass fail",
        "good bad",
        "best worst",
        "accept reject",
        "include exclude",
        "above below",
        "send receive",
        "positive negative",
        "true false",
        "encrypt decrypt",
        "encode decode",
        "encrypted decrypted",
        "monday tuesday wednesday thursday friday saturday sunday weekend weekday",
        "january february march april may june july august september october november december",
        "today tonight tomorrow yesterday now this last next ago current",
        "second minute hour day week month year decade century",
        "byte kb mb gb tb kilobyte megabyte gigabyte terabyte",
        "gram kilogram kg pound ounce oz cup tablespoon teaspoon liter litre milliliter",
        "celsius fahrenheit kelvin",
        "mile kilometer km meter metre foot feet inch yard",
    )
]
_ALTERNATIVE_OF = {word: group for group in _ALTERNATIVES for word in group}
#: a word and the same stem under another of these prefixes mean opposites (the empty prefix included)
_PREFIXES = ("", "en", "em", "un", "dis", "de", "in", "im", "ir", "il", "non", "des", "dés")
_STOPWORDS = frozenset(
    _split(
        "a an the is are was were be been am do does did i me my you your we our it its of to from in on at "
        "for with by and or but how what which who whom where when why can could should would will shall "
        "please there that these those this as into about any some"
    )
)


#: how many of the closest entries the detail guard may look at before a search gives up
_GUARD_CANDIDATES = 16
_ARTICLES = frozenset(_split("a an the is are do does did please"))


@dataclass(frozen=True, slots=True)
class _Details:
    words: tuple[str, ...]  # lower-case, stemmed, in order
    numbers: tuple[str, ...]  # sorted
    negated: bool
    names: frozenset[str]  # capitalised words past the first (proper nouns, German nouns), lower-cased


def _details(text: str) -> _Details:
    text = text.translate(_APOSTROPHES)
    lowered = text.lower()
    for pattern, replacement in _CONTRACTIONS:
        lowered = pattern.sub(replacement, lowered)
    lowered = _WITHOUT.sub(" without", lowered)
    raw = _TOKEN.findall(text)
    words = tuple(_stem(token) for token in _TOKEN.findall(lowered))
    numbers = sorted(
        token.replace(",", "") if token[0].isdigit() else _NUMBER_WORDS[token]
        for token in words
        if token[0].isdigit() or token in _NUMBER_WORDS
    )
    names = frozenset(token.lower() for token in raw[1:] if token[0].isupper() and token != "I")
    return _Details(words, tuple(numbers), any(word in _NEGATIONS for word in words), names)


def _stem(word: str) -> str:
    """A plural to its singular, roughly; function words and lexicon words stay as they are."""
    if word in _STOPWORDS or word in _ALTERNATIVE_OF:
        return word
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def details_agree(text: str, other: str) -> bool:
    """Whether two texts agree on what embeddings overlook: numbers, negation, opposites, names, order."""
    a, b = _details(text), _details(other)
    if a.numbers != b.numbers or a.negated != b.negated:
        return False
    words_a, words_b = set(a.words), set(b.words)
    only_a, only_b = words_a - words_b, words_b - words_a
    for word in only_a:
        group = _ALTERNATIVE_OF.get(word)
        if group is not None and not group.isdisjoint(only_b):
            return False
        for other_word in only_b:
            if _flips(word, other_word):
                return False
    if (a.names - words_b) and (b.names - words_a):
        return False  # each side names something the other does not: France / Germany
    # the same words in another order: "from A to B" / "from B to A", "X beat Y" / "Y beat X"
    order_a = [word for word in a.words if word not in _ARTICLES]
    order_b = [word for word in b.words if word not in _ARTICLES]
    return order_a == order_b or sorted(order_a) != sorted(order_b)


def _flips(word: str, other: str) -> bool:
    """The two words differ by a polarity prefix: enable / disable, encrypt / decrypt, lock / unlock."""
    stems = {rest: prefix for prefix, rest in _prefixed(word)}
    return any(rest in stems and stems[rest] != prefix for prefix, rest in _prefixed(other))


def _prefixed(word: str) -> list[tuple[str, str]]:
    return [
        (prefix, word[len(prefix) :])
        for prefix in _PREFIXES
        if word.startswith(prefix) and len(word) - len(prefix) >= 3
    ]


# ---------------------------------------------------------------------------------- vector index


@dataclass(eq=False)
class _Partition:
    """One partition's rows: a growing matrix, its keys and expiry times (dead rows expire at -inf)."""

    matrix: np.ndarray
    expires: np.ndarray
    keys: list[str | None] = field(default_factory=list)
    texts: list[str | None] = field(default_factory=list)  # what was embedded, for the detail guard
    rows: dict[str, int] = field(default_factory=dict)  # live entry key -> row

    @property
    def used(self) -> int:
        return len(self.keys)

    def append(self, vector: np.ndarray, entry_key: str, expires_at: float, text: str | None) -> None:
        np = require_numpy()
        row = self.used
        if row == self.matrix.shape[0]:
            capacity = max(16, 2 * row)
            matrix = np.empty((capacity, self.matrix.shape[1]), dtype=np.float32)
            matrix[:row] = self.matrix[:row]
            expires = np.full(capacity, -np.inf)
            expires[:row] = self.expires[:row]
            self.matrix, self.expires = matrix, expires
        self.matrix[row] = vector
        self.expires[row] = expires_at
        self.keys.append(entry_key)
        self.texts.append(text)
        self.rows[entry_key] = row

    def kill(self, entry_key: str) -> None:
        row = self.rows.pop(entry_key)
        self.keys[row] = self.texts[row] = None
        self.expires[row] = float("-inf")
        dead = self.used - len(self.rows)
        if dead > 64 and dead > len(self.rows):
            self._compact()

    def _compact(self) -> None:
        live = [row for row, key in enumerate(self.keys) if key is not None]
        self.matrix = self.matrix[live].copy()
        self.expires = self.expires[live].copy()
        self.keys = [self.keys[row] for row in live]
        self.texts = [self.texts[row] for row in live]
        self.rows = {key: row for row, key in enumerate(self.keys) if key is not None}


class SemanticIndex:
    """An in-memory vector index: per partition, exact cosine search over normalised rows.

    Bounded by ``max_entries`` over all partitions; past it the oldest entry goes. Expired rows
    are never returned and are dropped when a search meets them. Per process: ``semantic_redis``
    keeps the indexes of several replicas in step.
    """

    def __init__(self, max_entries: int = 100_000, *, clock: Callable[[], float] = time.time) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._np = require_numpy()
        self.max_entries = max_entries
        self.clock = clock  # the clock ``expires_at`` is on
        self._partitions: dict[str, _Partition] = {}
        self._order: OrderedDict[str, str] = OrderedDict()  # entry key -> partition, oldest first

    def __len__(self) -> int:
        return len(self._order)

    def search(
        self,
        partition: str,
        vector: ArrayLike,
        *,
        text: str | None = None,
        threshold: float | None = None,
    ) -> tuple[str, float] | None:
        """The closest live entry of ``partition`` and its cosine similarity; None when there is none.

        With ``threshold``, only entries at or above it count. With ``text`` (the query's text),
        entries added with a text must also pass ``details_agree``: the best of them that does wins,
        so a cached "2 + 3" next to "2 + 2" does not hide the right answer.
        """
        part = self._partitions.get(partition)
        if part is None or not part.rows:
            return None
        query = self._normalise(vector, part.matrix.shape[1])
        if query is None:
            return None
        used = part.used
        scores = part.matrix[:used] @ query
        stale = part.expires[:used] <= self.clock()  # expired rows, and removed ones (at -inf)
        stale_count = int(stale.sum())
        if stale_count:
            scores[stale] = -self._np.inf
        found = self._best(part, scores, text, -self._np.inf if threshold is None else threshold)
        if stale_count > used - len(part.rows):
            self._reap(part, stale)
        return found

    def add(
        self, partition: str, vector: ArrayLike, entry_key: str, expires_at: float, text: str | None = None
    ) -> None:
        """Index ``entry_key`` under ``partition`` (replacing an entry of that key) until ``expires_at``.

        ``text`` is what was embedded; keeping it lets ``search`` run the detail guard.
        """
        if entry_key in self._order:
            self.remove(entry_key)
        part = self._partitions.get(partition)
        dimensions = part.matrix.shape[1] if part is not None else None
        row = self._normalise(vector, dimensions)
        if row is None:
            return
        if part is None:
            np = self._np
            part = _Partition(np.empty((0, row.shape[0]), dtype=np.float32), np.empty(0))
            self._partitions[partition] = part
        part.append(row, entry_key, expires_at, text)
        self._order[entry_key] = partition
        while len(self._order) > self.max_entries:
            self.remove(next(iter(self._order)))

    def remove(self, entry_key: str) -> None:
        """Forget ``entry_key``; nothing happens when it is not indexed."""
        partition = self._order.pop(entry_key, None)
        if partition is None:
            return
        part = self._partitions[partition]
        part.kill(entry_key)
        if not part.rows:
            del self._partitions[partition]

    def _best(
        self, part: _Partition, scores: np.ndarray, text: str | None, threshold: float
    ) -> tuple[str, float] | None:
        np = self._np
        if text is None:
            best = int(scores.argmax())
            candidates = [best] if scores[best] >= threshold and scores[best] > -np.inf else []
        else:
            above = np.flatnonzero(scores >= max(threshold, -1.0))
            if above.size > _GUARD_CANDIDATES:
                above = above[np.argpartition(scores[above], -_GUARD_CANDIDATES)[-_GUARD_CANDIDATES:]]
            candidates = above[np.argsort(-scores[above], kind="stable")].tolist()
        for row in candidates:
            key, stored = part.keys[row], part.texts[row]
            if key is None:
                continue
            if text is None or stored is None or details_agree(text, stored):
                return key, min(float(scores[row]), 1.0)
        return None

    def _reap(self, part: _Partition, stale: np.ndarray) -> None:
        # keys first: removing may compact the partition, which renumbers its rows
        keys = [part.keys[row] for row in self._np.flatnonzero(stale)]
        for key in keys:
            if key is not None:
                self.remove(key)

    def _normalise(self, vector: ArrayLike, dimensions: int | None) -> np.ndarray | None:
        np = self._np
        row = np.asarray(vector, dtype=np.float32).reshape(-1)
        if dimensions is not None and row.shape[0] != dimensions:
            raise ValueError(f"expected a vector of {dimensions} dimensions, got {row.shape[0]}")
        norm = float(np.linalg.norm(row))
        if not norm or not np.isfinite(norm):
            return None
        return row / norm
