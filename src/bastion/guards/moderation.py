"""Moderation of answers by operator-configured term lists and an optional classifier hook.

Terms are words or phrases matched case-insensitively on word boundaries after a light
normalisation (NFKC, case folding, invisible format characters dropped), so ``Ｋｉｌｌ`` and
``k\u200bill`` match ``kill``. A term written ``re:...`` is a regular expression applied to
the normalised (lower-case) text. Literal terms of a category are compiled into one regex shaped
like a trie, so a long list costs about as much as a short one. Verdicts name categories only,
never the matched text: it is what the guard exists to keep out of logs.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "FoldedText",
    "ModerationClassifier",
    "ModerationVerdict",
    "Moderator",
    "TermMatch",
    "fold",
    "load_moderation_classifier",
]

PATTERN_PREFIX = "re:"
#: terms are cut to this many characters when the stream guard looks for a partial one at the end
PREFIX_LIMIT = 100
#: longer literal terms are refused (the trie regex nests once per character); use a pattern
MAX_TERM_LENGTH = 200

# zero-width and other invisible format characters (Unicode category Cf) used to split words,
# including the "tag" block used to smuggle ASCII text invisibly
_FORMAT_CHARS_RE = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)
_WHITESPACE = object()  # the trie unit for a run of whitespace inside a phrase


@runtime_checkable
class ModerationClassifier(Protocol):
    """A model that scores a text: category name -> probability in [0, 1]."""

    def __call__(self, text: str) -> Mapping[str, float]: ...


@dataclass(frozen=True, slots=True)
class ModerationVerdict:
    """Which categories an answer hit: names and classifier scores, never the matched text."""

    categories: tuple[str, ...] = ()  # term categories in configuration order, then classifier ones
    scores: Mapping[str, float] = field(default_factory=dict)  # classifier scores at or over the threshold
    error: str | None = None  # the classifier failed (its exception type); term lists still applied

    @property
    def flagged(self) -> bool:
        return bool(self.categories)


@dataclass(frozen=True, slots=True)
class TermMatch:
    """A term hit in a text: its category and span (in the coordinates of the text searched)."""

    category: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class FoldedText:
    """A text after normalisation, with the way back to offsets in the original."""

    text: str
    original_length: int
    _starts: tuple[int, ...] | None = None  # original offset of each folded character; None: identity
    _ends: tuple[int, ...] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the folded span ``[start, end)``."""
        if self._starts is None or self._ends is None:
            return start, end
        if start >= end:
            position = self._starts[start] if start < len(self._starts) else self.original_length
            return position, position
        return self._starts[start], self._ends[end - 1]

    def original(self, position: int) -> int:
        """The original offset of the folded character at ``position`` (the length at the end)."""
        if self._starts is None:
            return position
        return self._starts[position] if position < len(self._starts) else self.original_length


def fold(text: str) -> FoldedText:
    """``text`` normalised for matching: NFKC, case-folded, invisible format characters removed."""
    if text.isascii():
        return FoldedText(text.lower(), len(text))
    if _FORMAT_CHARS_RE.search(text) is None and unicodedata.is_normalized("NFKC", text):
        folded = text.casefold()
        if len(folded) == len(text):  # every character folded to exactly one: offsets unchanged
            return FoldedText(folded, len(text))
    return _fold_mapped(text)


def _fold_mapped(text: str) -> FoldedText:
    # a base character and the combining marks after it are normalised together, so that
    # composition still happens; each output character remembers the cluster it came from
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    cluster_start = -1
    cluster: list[str] = []

    def flush(end: int) -> None:
        if cluster:
            piece = unicodedata.normalize("NFKC", "".join(cluster)).casefold()
            out.append(piece)
            starts.extend([cluster_start] * len(piece))
            ends.extend([end] * len(piece))
            cluster.clear()

    for index, char in enumerate(text):
        if _FORMAT_CHARS_RE.match(char):
            continue
        if cluster and unicodedata.combining(char):
            cluster.append(char)
            continue
        flush(index)
        cluster_start = index
        cluster.append(char)
    flush(len(text))
    return FoldedText("".join(out), len(text), tuple(starts), tuple(ends))


class Moderator:
    """Flags answers that contain configured terms or that a classifier scores over a threshold."""

    def __init__(
        self,
        categories: Mapping[str, Sequence[str]],
        classifier: ModerationClassifier | None = None,
        threshold: float = 0.5,
    ) -> None:
        self.classifier = classifier
        self.threshold = threshold
        self.has_patterns = False  # whether a category uses ``re:`` terms (their extent cannot be foreseen)
        self._regexes: list[tuple[str, re.Pattern[str]]] = []
        prefix_trie: dict[Any, Any] = {}
        for category, terms in categories.items():
            if isinstance(terms, str):
                raise ValueError(f"moderation category {category!r}: terms must be a list, not a string")
            literal_trie: dict[Any, Any] = {}
            patterns: list[str] = []
            for term in terms:
                if term.startswith(PATTERN_PREFIX):
                    patterns.append(_checked_pattern(category, term[len(PATTERN_PREFIX) :]))
                    continue
                units = _units(term)
                if not units:
                    raise ValueError(f"moderation category {category!r}: empty term")
                if len(units) > MAX_TERM_LENGTH:
                    raise ValueError(
                        f"moderation category {category!r}: a term longer than {MAX_TERM_LENGTH} characters"
                    )
                _insert(literal_trie, units)
                _insert(prefix_trie, units[:PREFIX_LIMIT])
            alternatives = [rf"(?<!\w)(?:{_trie_regex(literal_trie)})(?!\w)"] if literal_trie else []
            alternatives.extend(f"(?:{pattern})" for pattern in patterns)
            self.has_patterns = self.has_patterns or bool(patterns)
            if alternatives:
                self._regexes.append((category, re.compile("|".join(alternatives))))
        self._partial = (
            re.compile(rf"(?<!\w)(?:{_trie_regex(prefix_trie, partial=True)})\Z") if prefix_trie else None
        )

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(category for category, _ in self._regexes)

    def check(self, text: str) -> ModerationVerdict:
        """The categories ``text`` hits: term lists first, then the classifier."""
        folded = fold(text).text
        hit = [category for category, regex in self._regexes if regex.search(folded)]
        if self.classifier is None:
            return ModerationVerdict(tuple(hit)) if hit else _CLEAN
        scores, error = self.classify(text)
        hit.extend(category for category in scores if category not in hit)
        return ModerationVerdict(tuple(hit), scores, error)

    def classify(self, text: str) -> tuple[dict[str, float], str | None]:
        """The classifier's scores at or over the threshold, and its error if it failed.

        A failing classifier does not fail the answer (it is an optional signal next to the term
        lists); the error is returned so the caller can log and count it.
        """
        if self.classifier is None:
            return {}, None
        try:
            scores = self.classifier(text)
            flagged = {str(name): float(score) for name, score in scores.items() if score >= self.threshold}
        except Exception as exc:  # a plug-in: any failure is reported, not raised
            return {}, f"classifier: {type(exc).__name__}"
        return flagged, None

    def find_terms(self, folded: str) -> list[TermMatch]:
        """Every term hit in an already folded text, in folded coordinates, sorted by position."""
        found = [
            TermMatch(category, match.start(), match.end())
            for category, regex in self._regexes
            for match in regex.finditer(folded)
            if match.end() > match.start()
        ]
        found.sort(key=lambda m: (m.start, m.end))
        return found

    def partial_start(self, folded: str, start: int = 0) -> int | None:
        """Where a literal term that the end of ``folded`` has begun but not finished starts, if any.

        The stream guard holds text back from there: ``...how to ma`` may become a phrase.
        """
        if self._partial is None:
            return None
        match = self._partial.search(folded, start)
        return match.start() if match else None


_CLEAN = ModerationVerdict()


def load_moderation_classifier(path: str) -> ModerationClassifier:
    """The classifier named ``package.module:attribute``; a class is instantiated without arguments."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"moderation classifier {path!r}: expected 'package.module:attribute'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"moderation classifier {path!r}: cannot import {module_name!r}: {exc}") from exc
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError as exc:
            raise ValueError(f"moderation classifier {path!r}: {module_name!r} has no {attribute!r}") from exc
    if isinstance(target, type):
        target = target()
    if not callable(target):
        raise ValueError(f"moderation classifier {path!r} is not callable")
    return target  # type: ignore[no-any-return]


# --- compiling term lists ---------------------------------------------------------------------


def _checked_pattern(category: str, pattern: str) -> str:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"moderation category {category!r}: invalid pattern {pattern!r}: {exc}") from exc
    if compiled.match(""):
        raise ValueError(f"moderation category {category!r}: pattern {pattern!r} matches the empty string")
    return pattern


def _units(term: str) -> list[Any]:
    """A term as trie units: folded characters, with each whitespace run as one unit."""
    units: list[Any] = []
    for char in fold(term.strip()).text:
        if char.isspace():
            if units and units[-1] is not _WHITESPACE:
                units.append(_WHITESPACE)
        else:
            units.append(char)
    return units


def _insert(trie: dict[Any, Any], units: list[Any]) -> None:
    node = trie
    for unit in units:
        node = node.setdefault(unit, {})
    node[None] = True  # the end of a term


def _trie_regex(node: dict[Any, Any], partial: bool = False) -> str:
    """A regex matching the terms of a trie; with ``partial``, any non-empty prefix of one.

    The trie shape lets the regex engine reject most positions on the first character.
    """
    alternatives = []
    for unit in sorted((u for u in node if u is not None), key=_unit_sort_key):
        head = r"\s+" if unit is _WHITESPACE else re.escape(unit)
        alternatives.append(head + _subtrie_regex(node[unit], partial))
    return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"


def _subtrie_regex(node: dict[Any, Any], partial: bool) -> str:
    children = [unit for unit in node if unit is not None]
    if not children:
        return ""
    body = _trie_regex(node, partial)
    # longer terms first is implicit: the optional group is greedy
    return f"(?:{body})?" if partial or None in node else body


def _unit_sort_key(unit: Any) -> str:
    return " " if unit is _WHITESPACE else unit
