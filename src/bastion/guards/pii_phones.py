"""Phone numbers, found and validated by the ``phonenumbers`` library but only where worth asking.

The library costs 50-150 us a call, more than every regex detector together, so it only sees
short windows around digit runs that could be phone numbers written as phone numbers: in
international form (``+44 ...``), with a bracketed area code, grouped the way the default
region's national format groups its numbers, or after a phone word (``tel``, ``call me on``).
Order ids, SKUs, ISBNs and version strings fail these cheap checks and never reach it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers

_HINT_RE = re.compile(r"\d(?<![\w-]\d)[\d \t().-]{5,}\d(?![A-Za-z_])")
_LABEL_RE = re.compile(
    r"(?i)\b(?:phone|tel|telephone|call|mobile|cell|fax|whatsapp|sms|text)\b\W{0,3}"
    r"(?:\w+\W+){0,3}$"
)
_DATE_HEAD_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: digits-only candidates the phone library would otherwise accept in dates and times
_DATE_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}|^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}$|^\d{1,2}:\d{2}")
_DIGIT_GROUPS_RE = re.compile(r"\d+")
_FORMAT_GROUP_RE = re.compile(r"\(\\d(?:\{(\d+)(?:,(\d+))?\})?\)")
_FORMAT_TOKEN_RE = re.compile(r"\\(\d)|(\d)|[^\d\\]")

Grouping = tuple[tuple[int, int], ...]


class PhoneFinder:
    """Finds phone numbers of any region written internationally, and of ``region`` nationally."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._groupings = national_groupings(region)

    def find(self, text: str, claimed: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
        """Spans of phone numbers outside the ``claimed`` spans other detectors already took."""
        hints = [
            match.span()
            for match in _HINT_RE.finditer(text)
            if self._worth_parsing(text, match)
            and not any(s <= match.start() and match.end() <= e for s, e in claimed)
        ]
        for window_start, window_end in _merged_windows(hints, len(text), pad=4):
            window = text[window_start:window_end]
            matcher = phonenumbers.PhoneNumberMatcher(
                window, self.region, leniency=phonenumbers.Leniency.VALID
            )
            for match in matcher:
                start = window_start + match.start
                if not _DATE_TIME_RE.match(match.raw_string) and _written_as_phone(text, start, match):
                    yield start, window_start + match.end

    def _worth_parsing(self, text: str, hint: re.Match[str]) -> bool:
        """Cheap checks that spare the phone library digit runs it would reject or we would drop.

        Mirrors ``_written_as_phone``: a run with no ``+`` or ``(`` before it and no phone word
        must be grouped like one of the region's national formats somewhere along it.
        """
        raw = hint.group()
        if sum(c.isdigit() for c in raw) < 7 or _DATE_HEAD_RE.match(raw):
            return False
        start = hint.start()
        if start and text[start - 1] in "+(":
            return True
        groups = [len(group) for group in _DIGIT_GROUPS_RE.findall(raw)]
        if len(groups) > 1 and (self._groupings is None or _grouped_like(groups, self._groupings)):
            return True
        return _LABEL_RE.search(text, max(0, start - 40), start) is not None


def _written_as_phone(text: str, start: int, match: phonenumbers.PhoneNumberMatch) -> bool:
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
    return _LABEL_RE.search(text, max(0, start - 40), start) is not None


def national_groupings(region: str) -> frozenset[Grouping] | None:
    """The digit-group lengths (as ranges) of the national number formats the region dials in.

    Derived from the library's own format patterns (``(\\d{3})(\\d{3})(\\d{4})`` written as
    ``(\\1) \\2-\\3``), with and without the national prefix, for every region sharing the
    region's country code: Guernsey numbers are formatted by the UK's rules, Canada's by the
    US's. None when the region is unknown.
    """
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return None
    groupings = set()
    for sibling in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(metadata.country_code, (region,)):
        sibling_metadata = phonenumbers.PhoneMetadata.metadata_for_region(sibling)
        for number_format in sibling_metadata.number_format if sibling_metadata is not None else ():
            ranges = [
                (int(low or 1), int(high or low or 1))
                for low, high in _FORMAT_GROUP_RE.findall(number_format.pattern)
            ]
            templates = {number_format.format}
            rule = number_format.national_prefix_formatting_rule
            first = re.search(r"\\\d", number_format.format)
            if rule and first is not None:
                # the national prefix rule (e.g. a 0 before the first group) replaces the first reference
                templates.add(
                    number_format.format[: first.start()] + rule + number_format.format[first.end() :]
                )
            groupings.update(_grouping(template, ranges) for template in templates)
    return frozenset(groupings)


def _grouping(template: str, ranges: list[tuple[int, int]]) -> Grouping:
    """Digit-group length ranges of a format template; literal digits join the group they touch."""
    groups: list[tuple[int, int]] = []
    low = high = 0
    for match in _FORMAT_TOKEN_RE.finditer(template):
        reference, digit = match.groups()
        if reference is not None and int(reference) <= len(ranges):
            low, high = low + ranges[int(reference) - 1][0], high + ranges[int(reference) - 1][1]
        elif digit is not None:
            low, high = low + 1, high + 1
        elif high:
            groups.append((low, high))
            low = high = 0
    if high:
        groups.append((low, high))
    return tuple(groups)


def _grouped_like(groups: list[int], groupings: frozenset[Grouping]) -> bool:
    """Whether some run of consecutive ``groups`` fits one of the national ``groupings``."""
    for grouping in groupings:
        size = len(grouping)
        if size < 2 or size > len(groups):
            continue
        for offset in range(len(groups) - size + 1):
            if all(low <= groups[offset + i] <= high for i, (low, high) in enumerate(grouping)):
                return True
    return False


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
