"""Fast scanning for the PII detectors: label words in one pass, and regex matches at word starts.

Python's ``re`` scans quickly only for patterns that open with a plain character or character
class: it then skips ahead in C to the next position where that class matches. A pattern that
opens with a lookbehind, a repeat (``\\d{3}``) or a case-insensitive alternation tries every
position and costs 2-10 times more. So patterns here open with one class, and the "not preceded
by a word character" rule is checked in Python by ``matches_after``.

Labels: a case-insensitive alternation of a few dozen words costs ~120 us per KB; the same words
as a prefix tree, matched against the lower-cased text, ~13 us. Detectors that need a label
(``SSN``, ``DOB``, ``BSN``, ``address``, ``password`` ...) then look only right after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass


def matches_after(
    pattern: re.Pattern[str],
    text: str,
    rejects: Callable[[str], bool],
    start: int = 0,
    end: int | None = None,
) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text, start, end)`` for matches whose preceding character ``rejects`` does
    not refuse.

    The same matches as a lookbehind in the pattern would give: after a refused start the search
    resumes one character later, not at the refused match's end.
    """
    position = start
    endpos = len(text) if end is None else end
    while (match := pattern.search(text, position, endpos)) is not None:
        match_start, match_end = match.span()
        if match_start and rejects(text[match_start - 1]):
            position = match_start + 1
            continue
        yield match
        position = match_end if match_end > match_start else match_start + 1


def word_char(char: str) -> bool:
    """Letters, digits and underscore, as ``\\w`` counts them."""
    return char.isalnum() or char == "_"


def word_or_dash(char: str) -> bool:
    """``[\\w-]``: the usual "not glued to a word" rule."""
    return char.isalnum() or char in "_-"


@dataclass(frozen=True)
class Label:
    """A label word found in a text: its normalised form (lower case, single spaces) and span."""

    word: str
    start: int
    end: int


class LabelFinder:
    """Finds whole-word occurrences of a fixed set of label words, case-insensitively.

    A label may follow an underscore, as in environment variable names (``DB_PASSWORD``).

    ``cased`` words count only when written exactly so: ``SIN`` is a label, ``sin`` is a word.
    Spaces inside a label match any run of whitespace (``date  of\\nbirth``).
    """

    def __init__(self, words: Iterable[str], cased: Iterable[str] = ()) -> None:
        self._cased = {word.lower(): word for word in cased}
        vocabulary = {" ".join(word.lower().split()) for word in words} | set(self._cased)
        self._words = frozenset(vocabulary)
        self._pattern = re.compile(_trie_pattern(sorted(vocabulary)))
        self._pattern_ignore_case = re.compile(self._pattern.pattern, re.IGNORECASE)

    def find(self, text: str) -> list[Label]:
        """Labels in ``text``, in order, each bounded by non-word characters on both sides."""
        lowered = text.lower()
        # a few characters (e.g. "İ") grow when lower-cased, which would shift the offsets
        source, pattern = (lowered, self._pattern)
        if len(lowered) != len(text):
            source, pattern = (text, self._pattern_ignore_case)
        labels = []
        position = 0
        while (match := pattern.search(source, position)) is not None:
            start, end = match.span()
            # an underscore may come before a label (DB_PASSWORD=, user_ssn:) but not after it
            if (start and text[start - 1].isalnum()) or (end < len(text) and word_char(text[end])):
                position = start + 1  # "numéro de sécu|rité": a longer label may start here too
                continue
            position = end
            word = " ".join(match.group().lower().split())
            cased = self._cased.get(word)
            if cased is not None and text[start:end] != cased:
                continue
            if word in self._words:
                labels.append(Label(word, start, end))
        return labels


def _trie_pattern(words: list[str]) -> str:
    """A regex matching any of ``words``, as a prefix tree so each position tries one branch."""
    tree: dict[str, dict] = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _branch(tree)


def _branch(node: dict[str, dict]) -> str:
    ends_here = "" in node
    alternatives = [
        (r"\s+" if char == " " else re.escape(char)) + _branch(child)
        for char, child in sorted(node.items())
        if char
    ]
    if not alternatives:
        return ""
    body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
    return f"(?:{body})?" if ends_here else body
