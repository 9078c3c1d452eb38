"""PII detection, reversible masking and irreversible redaction of free text.

``PiiDetector.find`` returns validated, non-overlapping findings; ``Masker`` swaps them for stable
per-request placeholders (``<EMAIL_1>``) and restores them in answers, streamed ones included.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import phonenumbers

EMAIL = "EMAIL"
PHONE = "PHONE"
CARD = "CARD"
IBAN = "IBAN"
SSN = "SSN"
IP = "IP"
DOB = "DOB"
SECRET = "SECRET"

ALL_KINDS: frozenset[str] = frozenset({EMAIL, PHONE, CARD, IBAN, SSN, IP, DOB, SECRET})

#: when two candidates overlap, the lower rank wins (then the longer one)
_RANK = {SECRET: 0, EMAIL: 1, IBAN: 2, CARD: 3, SSN: 4, DOB: 5, IP: 6, PHONE: 7}


@dataclass(frozen=True)
class Finding:
    """One detected entity: its kind and where it sits in the text."""

    kind: str
    start: int
    end: int
    text: str


# --- validators -------------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


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
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1
    except ValueError:
        return False


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """US SSN rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def shannon_entropy(token: str) -> float:
    """Bits per character of a token's character distribution."""
    length = len(token)
    return -sum(n / length * math.log2(n / length) for n in Counter(token).values())


# --- patterns ---------------------------------------------------------------------------------

_EMAIL_RE = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
# 13-19 digits, optionally grouped by one kind of separator (space or dash)
_CARD_RE = re.compile(r"(?<![\w.-])\d(?:\d|[ -](?=\d)){11,22}\d(?![\w-]|\.\d)")
_IBAN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![a-z0-9])")
_SSN_RE = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-])")
_SSN_LABELLED_RE = re.compile(
    r"(?i:\b(?:ssn|social security(?: number| no\.?)?)\s*(?:#|no\.?|number)?\s*[:=]?\s*)"
    r"(\d{3})(\d{2})(\d{4})\b"
)
_IPV4_RE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
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
_DOB_RE = re.compile(
    r"(?i:\b(?:dob|d\.o\.b\.?|date\s+of\s+birth|birth\s*date|birthday|born\s+on|born)"
    r"\s*(?:is\s+|was\s+|[:=\-]\s*)?)"
    rf"(?i:({_DATE}))(?!\d)"
)
_SECRET_PREFIX_RE = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"
    r"|(?<![\w-])(?:"
    r"sk-ant-[A-Za-z0-9_-]{20,}"
    r"|sk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}"
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36,}"
    r"|github_pat_[A-Za-z0-9_]{22,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|glpat-[A-Za-z0-9_-]{20,}"
    r")(?![\w-])"
)
_TOKEN_RE = re.compile(r"(?<![\w+/-])[A-Za-z0-9+/_-]{32,}={0,2}(?![\w+/=-])")
_PHONE_HINT_RE = re.compile(r"(?<![\w-])\d[\d \t().-]{5,}\d(?![A-Za-z_])")
_DATE_HEAD_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: digits-only candidates the phone library would otherwise accept in dates and times
_DATE_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}|^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}$|^\d{1,2}:\d{2}")

Candidate = tuple[str, int, int]


class PiiDetector:
    """Finds validated PII in text: email, phone, card, IBAN, SSN, IP, labelled DOB and secrets."""

    def __init__(self, kinds: set[str] | None = None, default_region: str = "US") -> None:
        selected = set(ALL_KINDS if kinds is None else kinds)
        unknown = selected - ALL_KINDS
        if unknown:
            raise ValueError(f"unknown PII kinds: {sorted(unknown)}")
        self.kinds = frozenset(selected)
        self.default_region = default_region
        scanners: dict[str, Callable[[str], Iterator[Candidate]]] = {
            SECRET: self._secrets,
            EMAIL: self._emails,
            IBAN: self._ibans,
            CARD: self._cards,
            SSN: self._ssns,
            DOB: self._dobs,
            IP: self._ips,
        }
        self._scanners = [scan for kind, scan in scanners.items() if kind in self.kinds]
        self._find_phones = PHONE in self.kinds

    def find(self, text: str) -> list[Finding]:
        """Validated findings in ``text``, non-overlapping and sorted by position."""
        candidates = [c for scan in self._scanners for c in scan(text)]
        if self._find_phones:
            candidates.extend(self._phones(text, candidates))
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

    def _emails(self, text: str) -> Iterator[Candidate]:
        if "@" not in text:
            return
        for match in _EMAIL_RE.finditer(text):
            local = match.group().split("@", 1)[0]
            if ".." not in local:
                yield EMAIL, match.start(), match.end()

    def _cards(self, text: str) -> Iterator[Candidate]:
        for match in _CARD_RE.finditer(text):
            raw = match.group()
            if " " in raw and "-" in raw:
                continue
            digits = raw.replace(" ", "").replace("-", "")
            if card_valid(digits) and not _after_iban_head(text, match.start()):
                yield CARD, match.start(), match.end()

    def _ibans(self, text: str) -> Iterator[Candidate]:
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

    def _ssns(self, text: str) -> Iterator[Candidate]:
        for match in _SSN_RE.finditer(text):
            if ssn_valid(match.group(1), match.group(3), match.group(4)):
                yield SSN, match.start(), match.end()
        for match in _SSN_LABELLED_RE.finditer(text):
            if ssn_valid(match.group(1), match.group(2), match.group(3)):
                yield SSN, match.start(1), match.end(3)

    def _dobs(self, text: str) -> Iterator[Candidate]:
        for match in _DOB_RE.finditer(text):
            yield DOB, match.start(1), match.end(1)

    def _ips(self, text: str) -> Iterator[Candidate]:
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

    def _phones(self, text: str, found: list[Candidate]) -> Iterator[Candidate]:
        # the phone library costs ~50 us a call: only hand it short windows around digit runs
        # that hold enough digits for a phone number and that no other detector has claimed
        hints = [
            (match.start(), match.end())
            for match in _PHONE_HINT_RE.finditer(text)
            if _worth_parsing(text, match)
            and not any(s <= match.start() and match.end() <= e for _, s, e in found)
        ]
        for window_start, window_end in _merged_windows(hints, len(text), pad=4):
            window = text[window_start:window_end]
            matcher = phonenumbers.PhoneNumberMatcher(
                window, self.default_region, leniency=phonenumbers.Leniency.VALID
            )
            for match in matcher:
                start = window_start + match.start
                if _DATE_TIME_RE.match(match.raw_string) or _after_iban_head(text, start):
                    continue
                if _plausible_phone(text, start, match):
                    yield PHONE, start, window_start + match.end

    def _secrets(self, text: str) -> Iterator[Candidate]:
        known = [(match.start(), match.end()) for match in _SECRET_PREFIX_RE.finditer(text)]
        for start, end in known:
            yield SECRET, start, end
        for match in _TOKEN_RE.finditer(text):
            start, end = match.span()
            if _looks_random(match.group()) and all(end <= s or start >= e for s, e in known):
                yield SECRET, start, end


_IBAN_HEAD_RE = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4})* ?$")
_PHONE_LABEL_RE = re.compile(
    r"(?i)\b(?:phone|tel|telephone|call|mobile|cell|fax|whatsapp|sms|text)\b\W{0,3}"
    r"(?:\w+\W+){0,3}$"
)
_DIGIT_GROUPS_RE = re.compile(r"\d+")


def _span_of_characters(raw: str, count: int) -> int | None:
    """Length of the prefix of ``raw`` that holds ``count`` characters other than spaces."""
    seen = 0
    for offset, char in enumerate(raw):
        if char != " ":
            seen += 1
            if seen == count:
                return offset + 1
    return None


def _worth_parsing(text: str, hint: re.Match[str]) -> bool:
    """Cheap checks that spare the phone library digit runs it would reject or we would drop."""
    raw = hint.group()
    if sum(c.isdigit() for c in raw) < 7 or _DATE_HEAD_RE.match(raw):
        return False
    if raw.isdigit() and not text.startswith("+", hint.start() - 1):
        return _PHONE_LABEL_RE.search(text, max(0, hint.start() - 40), hint.start()) is not None
    return True


def _after_iban_head(text: str, start: int) -> bool:
    """Whether ``start`` continues an IBAN-shaped code, e.g. the body of one with a bad checksum."""
    return _IBAN_HEAD_RE.search(text, max(0, start - 40), start) is not None


def _plausible_phone(text: str, start: int, match: phonenumbers.PhoneNumberMatch) -> bool:
    """Whether a number the phone library accepts is written like a phone number.

    Order ids and SKUs are often valid numbering-plan digits; a phone is taken when written in
    international form, grouped as the national format groups it, or introduced by a phone word.
    """
    raw = match.raw_string
    if raw.startswith(("+", "(")):
        return True
    national = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.NATIONAL)
    groups = [len(g) for g in _DIGIT_GROUPS_RE.findall(raw)]
    if len(groups) > 1 and groups == [len(g) for g in _DIGIT_GROUPS_RE.findall(national)]:
        return True
    return _PHONE_LABEL_RE.search(text, max(0, start - 40), start) is not None


def _looks_random(token: str) -> bool:
    """A long token mixing upper case, lower case and digits with high entropy, e.g. a bare key.

    Hex hashes and UUIDs have no upper case (or no lower case) and are left alone.
    """
    upper = sum(c.isupper() for c in token)
    lower = sum(c.islower() for c in token)
    digits = sum(c.isdigit() for c in token)
    if upper < 2 or lower < 2 or digits < 2:
        return False
    return shannon_entropy(token) >= 4.0


def _merged_windows(spans: list[tuple[int, int]], length: int, pad: int) -> Iterator[tuple[int, int]]:
    """The sorted ``spans`` widened by ``pad`` and merged where they touch."""
    current: tuple[int, int] | None = None
    for span_start, span_end in spans:
        start, end = max(0, span_start - pad), min(length, span_end + pad)
        if current is not None and start <= current[1]:
            current = (current[0], end)
            continue
        if current is not None:
            yield current
        current = (start, end)
    if current is not None:
        yield current


# --- masking ----------------------------------------------------------------------------------

_PLACEHOLDER_RE = re.compile(r"<([A-Z]+)_(\d+)>")


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
