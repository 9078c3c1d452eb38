"""Incremental output guarding of a streamed answer: moderation terms, PII and secret leaks, canary.

Each ``feed`` scans a small window and releases what can no longer become part of a match.
What is held is the tail that could: the last token and any digit or capitalised groups before
it (a phone, a card, an IBAN being written), the start of a configured term or phrase, the
start of the canary, and matches that the next characters may still change (``4111 1111 1111
1111`` followed by ``1`` is no card). With ``re:`` terms the whole ``holdback`` is held, since a
pattern's prefix cannot be recognised. The hold never exceeds ``holdback`` characters: past that
the oldest text is released, and a match it cuts is acted on at once (so an entity longer than
``holdback`` is caught, but its head may already be out).

The cost is linear in the answer, never a rescan of it: the PII detector sees the released
text's last ``lookbehind`` characters (for labels such as "phone:" before a number) plus the held
text; terms and the canary see the held text and the word it continues. A chunk that only
extends the last token is not scanned at all while leak detection holds that token anyway;
``scan_every`` trades latency for fewer scans (scan once per that many characters).

Modes: ``block`` stops releasing at the first hit (the text before it is released, the caller
ends the stream with an error); ``redact`` replaces hits with ``[REDACTED_<KIND>]`` (PII,
secrets) or ``[REDACTED]`` (terms, the canary) and goes on; ``warn`` releases everything
unchanged, at once, and only records hits. The optional moderation classifier scores the text
in segments of ``classify_every`` characters before they are released; it can stop a stream
but not redact.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from bastion.guards.leaks import LeakScanner, canary_partial_pattern, canary_spans
from bastion.guards.moderation import FoldedText, Moderator, fold

__all__ = ["Mode", "StreamTextGuard"]

Mode = Literal["block", "redact", "warn"]

#: a match ending this close to the end of the text seen may still change: the PII patterns look
#: up to two characters ahead (``4111...1111.5`` is no card), terms one (``kill`` / ``killer``);
#: a complete canary is final
_SETTLE_PII = 2
_SETTLE_TERM = 1
#: the classifier sees this much of the previous segment again, for text split between segments
_CLASSIFY_OVERLAP = 200
#: a chunk with none of these only extends the last token (see _can_wait)
_TOKEN_END_RE = re.compile(r"[\s\x80-\U0010ffff]")
_PRIVATE_KEY_HEADER_RE = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_MONTH_RE = re.compile(r"(?i)(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?,?")


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    end: int
    label: str  # "moderation:violence", "pii_leak:EMAIL", "canary"
    marker: str  # what replaces it in redact mode
    settle: int  # characters after it that must be known before it is final


class StreamTextGuard:
    """Scans a streamed answer incrementally and releases only text that is settled.

    ``feed(text)`` returns the text that may be sent now; ``finish()`` returns the rest. After
    each call the caller checks ``violation`` (the first hit, e.g. ``"moderation:violence"``,
    ``"pii_leak:EMAIL"``, ``"canary"``): in block mode it ends the stream, in redact mode the
    released text is already redacted, in warn mode it only logs. ``hits`` lists every distinct
    hit in order.
    """

    def __init__(
        self,
        *,
        moderator: Moderator | None,
        leaks: LeakScanner | None,
        canary: str | None,
        mode: Mode,
        holdback: int = 64,
        lookbehind: int = 64,
        classify_every: int = 1024,
        scan_every: int = 0,
    ) -> None:
        if mode not in ("block", "redact", "warn"):
            raise ValueError(f"unknown mode {mode!r}")
        if holdback < 1:
            raise ValueError("holdback must be at least 1")
        self.mode = mode
        self.holdback = holdback
        self.lookbehind = lookbehind
        self.classify_every = classify_every
        self.scan_every = scan_every
        self.violation: str | None = None
        self.hits: list[str] = []
        self._moderator = moderator
        self._leaks = leaks
        self._canary = canary or None
        self._canary_partial = canary_partial_pattern(canary) if canary else None
        self._classifier_on = moderator is not None and moderator.classifier is not None
        self._active = moderator is not None or leaks is not None or canary is not None
        self._context = ""  # the end of the released (original) text, for look-behind
        self._pending = ""  # received, not yet released
        self._stopped = False  # block mode, after a hit
        self._open_redaction = False  # the last release ended with a redaction marker
        self._forced = False  # the last release went past a hold (the holdback bound)
        self._unscanned = 0  # characters received since the last scan
        self._unclassified: list[str] = []
        self._unclassified_length = 0
        self._classified_tail = ""

    def feed(self, text: str) -> str:
        """The text that can be released after ``text`` arrived (possibly empty)."""
        if not self._active:
            return text
        if self._stopped or not text:
            return ""
        self._pending += text
        self._unscanned += len(text)
        if self._can_wait(text):
            return text if self.mode == "warn" else ""
        released = self._advance(final=False)
        return text if self.mode == "warn" else released

    def finish(self) -> str:
        """Everything still held, checked, at the end of the stream."""
        if not self._active or self._stopped:
            return ""
        released = self._advance(final=True)
        return "" if self.mode == "warn" else released

    # --- one step -----------------------------------------------------------------------------

    def _can_wait(self, text: str) -> bool:
        """Whether the scan can wait for the next chunk (nothing is released meanwhile).

        With leak scanning on, the last token is always held; a chunk that only extends it (no
        space, no character that ends an entity) would move nothing out of the hold. With
        ``scan_every``, scans wait for that many new characters: fewer scans, more latency.
        """
        if len(self._pending) > self.holdback:
            return False
        if self._unscanned < self.scan_every:
            return True
        return self._leaks is not None and _TOKEN_END_RE.search(text) is None

    def _advance(self, final: bool) -> str:
        self._unscanned = 0
        window = self._context + self._pending
        offset = len(self._context)
        hits, partial = self._scan(window, offset)
        cut = len(window) if final else self._cut(window, offset, hits, partial)
        acted = [hit for hit in hits if hit.start < cut]
        for hit in acted:
            if hit.label not in self.hits:
                self.hits.append(hit.label)
        if acted and self.violation is None:
            self.violation = acted[0].label
        if acted and self.mode == "block":
            released = window[offset : max(offset, acted[0].start)]
            self._stop()
            return released
        original = window[offset:cut]
        released = self._redacted(window, offset, cut, acted) if self.mode == "redact" else original
        self._context = window[max(0, cut - self.lookbehind) : cut]
        self._pending = window[cut:]
        if self._classifier_on and not self._classify(original, final) and self.mode == "block":
            self._stop()
            return ""
        return released

    def _stop(self) -> None:
        self._stopped = True
        self._pending = self._context = ""
        self._unclassified.clear()

    def _scan(self, window: str, offset: int) -> tuple[list[_Hit], int]:
        """Matches that reach into the held text (sorted), and where an unfinished one starts."""
        hits: list[_Hit] = []
        partial = len(window)
        if self._moderator is not None or self._canary is not None:
            # term and canary starts are always held (see _partial_start), so the released text
            # matters only for the word boundary: back to the start of the word it ends in
            wide = self._forced or (self._moderator is not None and self._moderator.has_patterns)
            floor = max(0, offset - self.lookbehind)
            base = floor if wide else _word_start(window, offset, floor)
            folded = fold(window[base:])
            if self._moderator is not None:
                for term in self._moderator.find_terms(folded.text):
                    start, end = folded.span(term.start, term.end)
                    label = f"moderation:{term.category}"
                    hits.append(_Hit(base + start, base + end, label, "[REDACTED]", _SETTLE_TERM))
            if self._canary is not None:
                for span in canary_spans(self._canary, folded.text):
                    start, end = folded.span(*span)
                    hits.append(_Hit(base + start, base + end, "canary", "[REDACTED]", 0))
            partial = base + self._partial_start(folded)
            if self._moderator is not None and self._moderator.has_patterns:
                # whether a pattern may still match cannot be told from its prefix: hold it all
                partial = min(partial, len(window) - self.holdback)
        if self._leaks is not None:
            for finding in self._leaks.findings(window):
                label = f"pii_leak:{finding.kind}"
                hits.append(_Hit(finding.start, finding.end, label, _marker(finding.kind), _SETTLE_PII))
            # a private key block is far longer than any hold: its first line is the leak
            if "-----BEGIN" in window:
                for match in _PRIVATE_KEY_HEADER_RE.finditer(window):
                    hits.append(_Hit(match.start(), match.end(), "pii_leak:SECRET", _marker("SECRET"), 0))
            partial = min(partial, _entity_tail(window, offset))
        hits = [hit for hit in hits if hit.end > offset]
        hits.sort(key=lambda hit: (hit.start, -hit.end))
        return hits, partial

    def _cut(self, window: str, offset: int, hits: list[_Hit], partial: int) -> int:
        """Where the released part ends: before anything that may still become a match."""
        length = len(window)
        natural = partial
        for hit in hits:
            if length - hit.end < hit.settle:
                natural = min(natural, hit.start)
        for hit in reversed(hits):  # never cut through a match: cut before it
            if hit.start < natural < hit.end:
                natural = hit.start
        cut = max(natural, offset, length - self.holdback)
        for hit in hits:  # a forced release (or a match begun in released text) takes whole matches
            if hit.start < cut < hit.end:
                cut = hit.end
        self._forced = cut > max(natural, offset)
        return cut

    def _partial_start(self, folded: FoldedText) -> int:
        """Where an unfinished term, phrase or canary at the end of ``folded`` starts (original offset)."""
        start = folded.original_length
        search_from = max(0, len(folded.text) - self.holdback - 1)
        if self._moderator is not None:
            position = self._moderator.partial_start(folded.text, search_from)
            if position is not None:
                start = folded.original(position)
        if self._canary_partial is not None:
            match = self._canary_partial.search(folded.text, search_from)
            if match is not None:
                start = min(start, folded.original(match.start()))
        return start

    def _redacted(self, window: str, offset: int, cut: int, acted: list[_Hit]) -> str:
        """The released part with hits replaced; overlapping hits (a term inside an email) merge."""
        spans: list[list[int | str | bool]] = []  # start, end, marker, continues a released one
        for hit in acted:
            start = max(hit.start, offset)
            if spans and start < int(spans[-1][1]):
                spans[-1][1] = max(int(spans[-1][1]), hit.end)
                continue
            spans.append([start, hit.end, hit.marker, hit.start < offset])
        parts: list[str] = []
        position = offset
        for start, end, marker, continues in spans:
            parts.append(window[position : int(start)])
            if not (continues and self._open_redaction):  # one marker for a match cut in two
                parts.append(str(marker))
            position = int(end)
        parts.append(window[position:cut])
        self._open_redaction = bool(spans) and int(spans[-1][1]) >= cut
        return "".join(parts)

    def _classify(self, text: str, final: bool) -> bool:
        """Feed released text to the classifier by segments; False when a segment is flagged."""
        assert self._moderator is not None
        if text:
            self._unclassified.append(text)
            self._unclassified_length += len(text)
        if not self._unclassified or (self._unclassified_length < self.classify_every and not final):
            return True
        segment = "".join(self._unclassified)
        self._unclassified.clear()
        self._unclassified_length = 0
        scores, _error = self._moderator.classify(self._classified_tail + segment)
        self._classified_tail = segment[-_CLASSIFY_OVERLAP:]
        if not scores:
            return True
        for category in scores:
            label = f"moderation:{category}"
            if label not in self.hits:
                self.hits.append(label)
        if self.violation is None:
            self.violation = f"moderation:{next(iter(scores))}"
        return False


def _marker(kind: str) -> str:
    return f"[REDACTED_{kind}]"


def _entity_tail(text: str, floor: int) -> int:
    """Where the trailing run that could still grow into an entity starts (not before ``floor``).

    That run is the last token, extended back over the tokens before it unless the whitespace in
    between is a line break or follows a plain lower-case word: entities with spaces inside are
    digit groups (phones, cards, SSNs), upper-case groups (IBANs) and dates (``March 14, 1985``).
    Entities are written in ASCII (and digits), so any other character ends the run too: text in
    scripts without spaces is not held whole.
    """
    end = len(text)
    while end > floor:
        space_start = end
        while space_start > floor and text[space_start - 1].isspace():
            space_start -= 1
        if space_start < end and (
            space_start == floor or "\n" in text[space_start:end] or _plain_word_before(text, space_start)
        ):
            return end
        token_start = space_start
        while token_start > floor and _entity_char(text[token_start - 1]):
            token_start -= 1
        if token_start > floor and not text[token_start - 1].isspace():
            return token_start
        end = token_start
    return floor


def _entity_char(char: str) -> bool:
    return (char.isascii() and not char.isspace()) or char.isdigit()


def _plain_word_before(text: str, end: int) -> bool:
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start:end]
    return word.isalpha() and word[-1].islower() and _MONTH_RE.fullmatch(word) is None


def _word_start(text: str, position: int, floor: int) -> int:
    """The start of the word that ``text[:position]`` ends in, and the character before it."""
    start = position
    while start > floor and _word_char(text[start - 1]):
        start -= 1
    return max(floor, start - 1)


def _word_char(char: str) -> bool:
    # what folding may turn into a word character: letters, digits, marks, invisible format characters
    return char.isalnum() or char == "_" or (not char.isascii() and unicodedata.category(char)[0] in "MC")
