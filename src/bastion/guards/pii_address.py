"""Postal addresses, where a rule can find them with good precision: US and UK street addresses
and the value of an ``Address:`` line.

Addresses have no checksum, so the rules ask for structure instead of guessing: a house number,
capitalised street name words and a street-type word (``1600 Amphitheatre Parkway``), optionally
a unit and then a city with a US state and ZIP code or a UK postcode in the official format.
A postcode or ZIP code alone, a city alone, or a street name without a number is not taken.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_STREET_TYPES = (
    "Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Parkway|Pkwy"
    "|Way|Terrace|Ter|Circle|Cir|Highway|Hwy|Square|Sq|Trail|Trl|Crescent|Cres|Close|Alley|Plaza"
    "|Row|Loop|Pike|Turnpike|Expressway|Expy|Freeway|Fwy|Mews|Gardens|Grove|Hill|Walk|Green"
)
_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ"
    "|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|MP"
)
#: the outward and inward code of a UK postcode, with the letter rules of the official format
UK_POSTCODE = (
    r"(?:GIR ?0AA|(?:[A-PR-UWYZ](?:\d{1,2}|[A-HK-Y]\d{1,2}|\d[A-HJKPS-UW]|[A-HK-Y]\d[ABEHMNPRV-Y]))"
    r" ?\d[ABD-HJLNP-UW-Z]{2})"
)
_CITY = r"[A-Z][A-Za-z.'\u2019-]*(?: [A-Z][A-Za-z.'\u2019-]*){0,3}"

_STREET_RE = re.compile(
    r"\d(?<![\w.,/:-]\d)\d{0,5}[A-Z]?(?:-\d{1,5})?[ \t]+"  # house number: 1600, 221B, 10-12
    r"(?:(?:[NSEW]|N[EW]|S[EW]|North|South|East|West)\.?[ \t]+)?"
    # street name words: capitalised, an ordinal (5th) or an abbreviation with its dot (St. James)
    r"(?:(?:(?:St|Mt|Ft|[A-Z])\.|[A-Z][A-Za-z'\u2019]*|\d{1,3}(?:st|nd|rd|th))[ \t]+){1,4}"
    rf"(?:{_STREET_TYPES})\.?"
    r"(?![\w-])"
    # a unit: Apt 4B, Suite 200, Unit 7, #12
    r"(?:,?[ \t]+(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|#)\.?[ \t]*#?[A-Za-z0-9-]{1,6}\b)?"
    # a US city, state and ZIP code, or a UK town and postcode, on the same line or the next
    rf"(?:(?:,[ \t]*|[ \t]*\n[ \t]*){_CITY},?[ \t]+(?:{_US_STATES})[ \t]+\d{{5}}(?:-\d{{4}})?(?!\d)"
    rf"|(?:(?:,[ \t]*|[ \t]*\n[ \t]*){_CITY})?,?[ \t]+{UK_POSTCODE}\b)?",
    re.ASCII,
)

#: label words (lower case) that introduce an address
LABELS = frozenset({"address", "adresse", "anschrift", "dirección", "direccion", "indirizzo", "endereço"})

# "e-mail address:", "IP address:" and their kin are not postal
_NOT_POSTAL_BEFORE_RE = re.compile(
    r"(?i)(?:e-?mail|ip|ipv[46]|mac|web|wallet|bitcoin|btc|eth|ethereum|server|memory|hex|contract"
    r"|url|site|network|broadcast|loopback|return-path|sender|recipient|reply-to|mailing list)\W{0,2}$"
)
_LABEL_VALUE_RE = re.compile(r"[ \t]*(?::|\bis\b|-)[ \t]*")
_HARD_STOP_RE = re.compile(r"[\n\r;|()\"<>]")
_SENTENCE_END_RE = re.compile(r"[.!?](?=\s|$)")
_ABBREVIATION_RE = re.compile(r"(?:\b(?:St|Ave|Rd|Dr|Apt|No|Ste|Blvd|Ln|Ct|Mt|Ft)|\b[A-Z])$")
_CLAUSE_RE = re.compile(
    r"(?i)[ \t,]+(?:please|thanks|thank you|and|but|if|so|because|for|when|asap"
    r"|call|phone|tel|mobile|cell|fax|e-?mail|contact)\b"
)
_MAX_VALUE = 120
_NOT_AN_ADDRESS = frozenset(
    {"n/a", "na", "none", "unknown", "same", "see", "tbd", "tba", "pending", "changed"}
)


def find_street_addresses(text: str) -> Iterator[tuple[int, int]]:
    """Spans of US or UK street addresses: number, capitalised name words, street type, rest."""
    for match in _STREET_RE.finditer(text):
        yield match.span()


def find_after_label(
    text: str, label_start: int, label_end: int, limit: int | None = None
) -> tuple[int, int] | None:
    """The span of the address after an ``Address:`` label, or None when it does not read as one.

    The value starts with a digit or a capital (not ``N/A``, ``Unknown``, ``Same as ...``), has a
    digit in its first three words (the house number, wherever a country puts it) and two words
    with letters, and ends within ``_MAX_VALUE`` characters: at a line or sentence end (not the
    dot of ``St.``), before a clause word such as ``please``, or at ``limit`` (where the caller
    found something else, e.g. a phone number).
    """
    if _NOT_POSTAL_BEFORE_RE.search(text, max(0, label_start - 16), label_start):
        return None
    lead = _LABEL_VALUE_RE.match(text, label_end)
    if lead is None:
        return None
    start = lead.end()
    if start >= len(text) or not (text[start].isdigit() or text[start].isupper()):
        return None
    window_end = min(len(text), start + _MAX_VALUE + 1)
    stop = _HARD_STOP_RE.search(text, start, window_end)
    end = stop.start() if stop is not None else window_end
    for sentence_end in _SENTENCE_END_RE.finditer(text, start, end):
        if _ABBREVIATION_RE.search(text, start, sentence_end.start()) is None:
            end = sentence_end.start()
            break
    if end - start > _MAX_VALUE:
        return None  # no end in sight: prose, not an address
    clause = _CLAUSE_RE.search(text, start, end)
    if clause is not None:
        end = clause.start()
    if limit is not None:
        end = min(end, limit)
    while end > start and text[end - 1] in " \t,:-":
        end -= 1
    raw = text[start:end]
    words = raw.split()
    if (
        sum(1 for word in words if any(char.isalpha() for char in word)) < 2
        or "@" in raw
        or not any(char.isdigit() for char in " ".join(words[:3]))  # a house number comes early
        or words[0].lower().rstrip(".,:") in _NOT_AN_ADDRESS
    ):
        return None
    return start, end
