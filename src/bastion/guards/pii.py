"""PII detection, reversible masking and irreversible redaction of free text.

``PiiDetector.find`` returns validated, non-overlapping findings; ``Masker`` swaps them for stable
per-request placeholders (``<EMAIL_1>``, ``<NATIONAL_ID_1>``) and restores them in answers,
streamed ones included. National ids, addresses, secrets, phones, label words and the optional
name detector live in the ``pii_*`` modules beside this one.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from bastion.guards import pii_address, pii_national, pii_secrets
from bastion.guards.pii_checksums import luhn_valid, mod97_remainder
from bastion.guards.pii_names import NAME_KINDS, ORG, PERSON, NameDetector, valid_name_spans
from bastion.guards.pii_phones import PhoneFinder
from bastion.guards.pii_scan import Label, LabelFinder
from bastion.guards.pii_secrets import shannon_entropy

__all__ = [
    "ADDRESS",
    "ALL_KINDS",
    "CARD",
    "DOB",
    "EMAIL",
    "IBAN",
    "IP",
    "NAME_KINDS",
    "NATIONAL_ID",
    "ORG",
    "PERSON",
    "PHONE",
    "SECRET",
    "SSN",
    "Finding",
    "Masker",
    "NameDetector",
    "PiiDetector",
    "StreamUnmasker",
    "card_valid",
    "iban_valid",
    "luhn_valid",
    "shannon_entropy",
    "ssn_valid",
]

EMAIL = "EMAIL"
PHONE = "PHONE"
CARD = "CARD"
IBAN = "IBAN"
SSN = "SSN"
NATIONAL_ID = "NATIONAL_ID"
IP = "IP"
DOB = "DOB"
ADDRESS = "ADDRESS"
SECRET = "SECRET"

#: the kinds the built-in detectors find; PERSON and ORG (``NAME_KINDS``) need a name detector
ALL_KINDS: frozenset[str] = frozenset({EMAIL, PHONE, CARD, IBAN, SSN, NATIONAL_ID, IP, DOB, ADDRESS, SECRET})

#: when two candidates overlap, the lower rank wins (then the longer one): validated kinds
#: before heuristic ones (addresses), and those before a model's guesses (names); a national id
#: (taken only after its label, or with letters in it) before a card that passed Luhn by chance
_RANK = {
    SECRET: 0, EMAIL: 1, IBAN: 2, NATIONAL_ID: 3, CARD: 4, SSN: 5, DOB: 6, IP: 7, PHONE: 8,
    ADDRESS: 9, PERSON: 10, ORG: 11,
}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One detected entity: its kind and where it sits in the text."""

    kind: str
    start: int
    end: int
    text: str


# --- validators -------------------------------------------------------------------------------

_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[0689]|35|6011|65|64[4-9]|62")


def card_valid(digits: str) -> bool:
    """Whether a digit string is a plausible payment card number: length, issuer prefix, Luhn."""
    return 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) is not None and luhn_valid(digits)


#: IBAN length per country (ISO 13616 registry)
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_valid(compact: str) -> bool:
    """Whether an IBAN without spaces has its country's length and a mod-97 remainder of 1."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isascii() or not compact.isalnum():
        return False
    return mod97_remainder(compact[4:] + compact[:4]) == 1


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """US SSN rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


# --- patterns ---------------------------------------------------------------------------------

# each pattern opens with one character class and only then looks behind it: re then skips ahead
# in C to the next place the class matches (see pii_scan)
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9](?<![\w.%+-][A-Za-z0-9])(?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
# 13-19 digits, optionally grouped by one kind of separator (space or dash)
_CARD_RE = re.compile(r"\d(?<![\w.-]\d)(?:\d|[ -](?=\d)){11,22}\d(?![\w-]|\.\d)")
_IBAN_RE = re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d\d(?: ?[A-Z0-9]){11,30}(?![a-z0-9])")
_CARD_GROUP_SPLIT_RE = re.compile(r"[ -]")
_SSN_RE = re.compile(r"(\d(?<![\w-]\d)\d\d)([- ])(\d\d)\2(\d{4})(?![\w-])")
#: after an "SSN" / "social security" label: nine digits without separators
_SSN_VALUE_RE = re.compile(
    r"(?i:\s*(?:number|no\.?)?\s*(?:#|no\.?|number|is)?\s*[:=]?\s*)(\d{3})(\d{2})(\d{4})\b"
)
_SSN_LABELS = frozenset({"ssn", "social security"})
_IPV4_RE = re.compile(r"\d(?<![\w.]\d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\w]|\.\d)")
_IPV6_RE = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?(?![\w:])")
_VERSION_BEFORE_RE = re.compile(r"(?i)(?:\bv|\b(?:version|release|build)\s*[:=]?\s*)$")
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = (
    r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}"
    rf"|{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS},?\s+\d{{4}}"
)
#: after a date-of-birth label: the date
_DOB_VALUE_RE = re.compile(rf"(?i:\s*(?:is\s+|was\s+|on\s+|le\s+|am\s+|[:=\-]\s*)?)(?i:({_DATE}))(?!\d)")
_DOB_LABELS = frozenset({
    "dob", "d.o.b", "d.o.b.", "date of birth", "birth date", "birthdate", "birthday", "born",
    "geburtsdatum", "geboren", "date de naissance", "né", "née", "fecha de nacimiento",
    "data di nascita",
})  # fmt: skip

Candidate = tuple[str, int, int]
Scanner = Callable[[str, list[Label]], Iterator[Candidate]]


class PiiDetector:
    """Finds validated PII in text: email, phone, card, IBAN, SSN and other national ids, IP,
    labelled dates of birth, postal addresses and secrets; names when given a name detector."""

    def __init__(
        self,
        kinds: set[str] | frozenset[str] | None = None,
        default_region: str = "US",
        name_detector: NameDetector | None = None,
    ) -> None:
        available = ALL_KINDS if name_detector is None else ALL_KINDS | NAME_KINDS
        selected = set(available if kinds is None else kinds)
        if selected & NAME_KINDS and name_detector is None:
            raise ValueError("PERSON and ORG findings need a name_detector")
        unknown = selected - available
        if unknown:
            raise ValueError(f"unknown PII kinds: {sorted(unknown)}")
        self.kinds = frozenset(selected)
        self.default_region = default_region
        self.name_detector = name_detector
        scanners: dict[str, Scanner] = {
            SECRET: self._secrets,
            EMAIL: self._emails,
            IBAN: self._ibans,
            CARD: self._cards,
            SSN: self._ssns,
            NATIONAL_ID: self._national_ids,
            DOB: self._dobs,
            IP: self._ips,
        }
        self._scanners = [scan for kind, scan in scanners.items() if kind in self.kinds]
        self._phones = PhoneFinder(default_region) if PHONE in self.kinds else None
        self._national_labels = {
            **pii_national.LABELS,
            **{word.lower(): schemes for word, schemes in pii_national.CASED_LABELS.items()},
        }
        label_words: dict[str, Iterable[str]] = {
            SSN: _SSN_LABELS,
            NATIONAL_ID: pii_national.LABELS,
            DOB: _DOB_LABELS,
            ADDRESS: pii_address.LABELS,
            SECRET: pii_secrets.LABELS,
        }
        words = [word for kind, group in label_words.items() if kind in self.kinds for word in group]
        cased = pii_national.CASED_LABELS if NATIONAL_ID in self.kinds else {}
        self._labels = LabelFinder(words, cased) if words or cased else None

    def find(self, text: str) -> list[Finding]:
        """Validated findings in ``text``, non-overlapping and sorted by position."""
        labels = self._labels.find(text) if self._labels is not None else []
        candidates = [c for scan in self._scanners for c in scan(text, labels)]
        if self._phones is not None:
            claimed = [(start, end) for _, start, end in candidates]
            candidates.extend(
                (PHONE, start, end)
                for start, end in self._phones.find(text, claimed)
                if not _after_iban_head(text, start)
            )
        if ADDRESS in self.kinds:
            candidates.extend(self._addresses(text, labels, list(candidates)))
        if self.name_detector is not None:
            names = valid_name_spans(self.name_detector.find_names(text), len(text))
            candidates.extend((kind, start, end) for kind, start, end in names if kind in self.kinds)
        if not candidates:
            return []
        candidates.sort(key=lambda c: (_RANK[c[0]], c[1] - c[2], c[1]))
        taken: list[Candidate] = []
        for candidate in candidates:
            _, start, end = candidate
            if all(end <= s or start >= e for _, s, e in taken):
                taken.append(candidate)
        taken.sort(key=lambda c: c[1])
        return [Finding(kind, start, end, text[start:end]) for kind, start, end in taken]

    # each scanner yields (kind, start, end) for candidates that passed their validator

    def _emails(self, text: str, labels: list[Label]) -> Iterator[Candidate]:
        # a local part is at most 64 characters and a domain 255: look only around each "@"
        searched_to = 0
        at = text.find("@")
        while at >= 0:
            position = max(searched_to, at - 64)
            endpos = min(len(text), at + 256)
            match = _EMAIL_RE.search(text, position, endpos)
            if match is not None and match.end() == endpos:
                match = _EMAIL_RE.match(text, match.start())  # the window may have cut the domain
            if match is None:
                searched_to = at + 1
            else:
                searched_to = match.end()
                if ".." not in match.group().split("@", 1)[0]:
                    yield EMAIL, match.start(), match.end()
            at = text.find("@", searched_to)

    def _cards(self, text: str, labels: list[Label]) -> Iterator[Candidate]:
        for match in _CARD_RE.finditer(text):
            raw = match.group()
            if " " in raw and "-" in raw:
                continue
            # cards are printed in groups of 4-6 (4-4-4-4, Amex 4-6-5): "2 76 11 61 108" is not one
            if (" " in raw or "-" in raw) and min(map(len, _CARD_GROUP_SPLIT_RE.split(raw))) < 3:
                continue
            digits = raw.replace(" ", "").replace("-", "")
            if card_valid(digits) and not _after_iban_head(text, match.start()):
                yield CARD, match.start(), match.end()

    def _ibans(self, text: str, labels: list[Label]) -> Iterator[Candidate]:
        for match in _IBAN_RE.finditer(text):
            raw = match.group()
            expected = IBAN_LENGTHS.get(raw[:2])
            if expected is None:
                continue
            # the greedy pattern may run into a following code; cut at the country's length
            length = _span_of_characters(raw, expected)
            if length is None:
                continue
            end = match.start() + length
            if end < len(text) and text[end].isalnum():
                continue
            if iban_valid(raw[:length].replace(" ", "")):
                yield IBAN, match.start(), end

    def _ssns(self, text: str, labels: list[Label]) -> Iterator[Candidate]:
        for match in _SSN_RE.finditer(text):
            if ssn_valid(match.group(1), match.group(3), match.group(4)):
                yield SSN, match.start(), match.end()
        for label in labels:
            if label.word in _SSN_LABELS:
                value = _SSN_VALUE_RE.match(text, label.end)
                if value is not None and ssn_valid(value.group(1), value.group(2), value.group(3)):
                    yield SSN, value.start(1), value.end(3)

    def _national_ids(self, text: str, labels: list[Label]) -> Iterator[Candidate]:
        for start, end in pii_national.find_unlabelled(text):
            yield NATIONAL_ID, start, end
        for label in labels:
            schemes = self._national_labels.get(label.word)
            if schemes is not None:
                span = pii_national.find_after_label(text, label.end, schemes)
                if span is not None:
                    yield NATIONAL_ID, *span

    def _dobs(self, text: str, labels: list[Label]) -> Iterator[Candidate]:
        for label in labels:
            if label.word in _DOB_LABELS:
                value = _DOB_VALUE_RE.match(text, label.end)
                if value is not None:
                    yield DOB, value.start(1), value.end(1)

    def _ips(self, text: str, labels: list[Label]) -> Iterator[Candidate]:
        if "." in text:
            for match in _IPV4_RE.finditer(text):
                if _VERSION_BEFORE_RE.search(text, max(0, match.start() - 16), match.start()):
                    continue
                try:
                    ipaddress.IPv4Address(match.group())
                except ValueError:
                    continue
                yield IP, match.start(), match.end()
        if "::" in text or text.count(":") >= 7:
            for match in _IPV6_RE.finditer(text):
                raw = match.group()
                if sum(1 for group in raw.split(":") if group) < 2 and raw not in ("::1",):
                    continue
                try:
                    ipaddress.IPv6Address(raw)
                except ValueError:
                    continue
                yield IP, match.start(), match.end()

    def _secrets(self, text: str, labels: list[Label]) -> Iterator[Candidate]:
        for start, end in pii_secrets.find_secrets(text):
            yield SECRET, start, end
        for label in labels:
            if label.word in pii_secrets.LABELS:
                span = pii_secrets.find_after_label(text, label.word, label.end)
                if span is not None:
                    yield SECRET, *span

    def _addresses(self, text: str, labels: list[Label], found: list[Candidate]) -> Iterator[Candidate]:
        # after the other detectors: an "Address:" value is cut where another finding starts
        for start, end in pii_address.find_street_addresses(text):
            yield ADDRESS, start, end
        for label in labels:
            if label.word in pii_address.LABELS:
                limit = min((s for _, s, _ in found if s > label.end), default=len(text))
                span = pii_address.find_after_label(text, label.start, label.end, limit)
                if span is not None:
                    yield ADDRESS, *span


_IBAN_HEAD_RE = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4})* ?$")


def _span_of_characters(raw: str, count: int) -> int | None:
    """Length of the prefix of ``raw`` that holds ``count`` characters other than spaces."""
    seen = 0
    for offset, char in enumerate(raw):
        if char != " ":
            seen += 1
            if seen == count:
                return offset + 1
    return None


def _after_iban_head(text: str, start: int) -> bool:
    """Whether ``start`` continues an IBAN-shaped code, e.g. the body of one with a bad checksum."""
    return _IBAN_HEAD_RE.search(text, max(0, start - 40), start) is not None


# --- masking ----------------------------------------------------------------------------------

_PLACEHOLDER_RE = re.compile(r"<([A-Z]+(?:_[A-Z]+)*)_(\d+)>")


class Masker:
    """Per-request reversible masking: the same value gets the same placeholder in every text."""

    def __init__(self, detector: PiiDetector) -> None:
        self.detector = detector
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counts: Counter[str] = Counter()
        self._longest = 0

    @property
    def placeholders(self) -> dict[str, str]:
        """Issued placeholders and the originals they stand for."""
        return dict(self._by_placeholder)

    @property
    def longest_placeholder(self) -> int:
        return self._longest

    def mask(self, text: str) -> str:
        """``text`` with every finding replaced by its placeholder, e.g. ``<EMAIL_1>``."""
        return self._replace(text, self._placeholder_for)

    def redact(self, text: str) -> str:
        """``text`` with every finding replaced irreversibly by ``[REDACTED_<KIND>]``."""
        return self._replace(text, lambda finding: f"[REDACTED_{finding.kind}]")

    def unmask(self, text: str) -> str:
        """``text`` with the placeholders this masker issued restored; unknown ones are left as they are."""
        if "<" not in text or not self._by_placeholder:
            return text
        return _PLACEHOLDER_RE.sub(lambda m: self._by_placeholder.get(m.group(), m.group()), text)

    def stream_unmasker(self) -> StreamUnmasker:
        """A restorer for one streamed answer."""
        return StreamUnmasker(self)

    def is_partial_placeholder(self, tail: str) -> bool:
        """Whether ``tail`` is a proper prefix of a placeholder this masker issued."""
        return any(p.startswith(tail) and p != tail for p in self._by_placeholder)

    def _replace(self, text: str, replacement: Callable[[Finding], str]) -> str:
        findings = self.detector.find(text)
        if not findings:
            return text
        parts: list[str] = []
        position = 0
        for finding in findings:
            parts.append(text[position : finding.start])
            parts.append(replacement(finding))
            position = finding.end
        parts.append(text[position:])
        return "".join(parts)

    def _placeholder_for(self, finding: Finding) -> str:
        key = (finding.kind, finding.text)
        placeholder = self._by_value.get(key)
        if placeholder is None:
            self._counts[finding.kind] += 1
            placeholder = f"<{finding.kind}_{self._counts[finding.kind]}>"
            self._by_value[key] = placeholder
            self._by_placeholder[placeholder] = finding.text
            self._longest = max(self._longest, len(placeholder))
        return placeholder


class StreamUnmasker:
    """Restores placeholders in a streamed answer, including ones split across chunk boundaries.

    A chunk's tail that could be the start of an issued placeholder (``<EMA``) is held back until
    the next chunk settles it; never more than the longest placeholder's length is held.
    """

    def __init__(self, masker: Masker) -> None:
        self._masker = masker
        self._held = ""

    def feed(self, chunk: str) -> str:
        """The restored text that can be released after ``chunk``."""
        text = self._held + chunk
        cut = len(text)
        last_open = text.rfind("<", max(0, len(text) - self._masker.longest_placeholder))
        if last_open >= 0 and self._masker.is_partial_placeholder(text[last_open:]):
            cut = last_open
        self._held = text[cut:]
        return self._masker.unmask(text[:cut])

    def finish(self) -> str:
        """Whatever is still held back, at the end of the stream."""
        rest, self._held = self._held, ""
        return self._masker.unmask(rest)
