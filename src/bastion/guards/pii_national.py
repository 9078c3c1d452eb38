"""National identity numbers: format rules and check digits per scheme, and where they are taken.

Ids whose shape mixes letters and digits (Spanish DNI/NIE, Italian codice fiscale), a UK NINO in
its printed, spaced form (``AB 12 34 56 C``) and the punctuated Brazilian CPF are distinctive
enough to be taken anywhere once they validate. The rest are not: a compact NINO looks like a
product code (``CX123456A``), and with a one-in-ten or one-in-eleven check digit an order number
passes a Canadian SIN, Dutch BSN or Aadhaar check far too often. Those are taken only right after
a label naming the scheme (``BSN:``, ``NI number``, ``Aadhaar no.``, ``Steuer-ID ist``,
``tax id``), with nothing but filler words (``number``, ``no.``, ``is``, ``:``) in between.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from bastion.guards.pii_checksums import luhn_valid, mod11_10_valid, verhoeff_valid

# --- validators (``compact``: the id without separators) --------------------------------------

_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def uk_nino_valid(compact: str) -> bool:
    """UK National Insurance number: HMRC prefix rules, six digits, suffix A-D (no check digit)."""
    return (
        len(compact) == 9
        and compact[0] not in "DFIQUV"
        and compact[1] not in "DFIOQUV"
        and compact[:2].isalpha()
        and compact[:2] not in _NINO_BAD_PREFIXES
        and compact[2:8].isdigit()
        and compact[8] in "ABCD"
    )


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_dni_valid(compact: str) -> bool:
    """Spanish DNI (8 digits) or NIE (X/Y/Z and 7 digits): check letter of the number mod 23."""
    if len(compact) != 9 or not compact[1:8].isdigit():
        return False
    head = compact[0]
    if head in "XYZ":
        number = str("XYZ".index(head)) + compact[1:8]
    elif head.isdigit():
        number = compact[:8]
    else:
        return False
    return _DNI_LETTERS[int(number) % 23] == compact[8]


_CF_ODD = dict(zip("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", (
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21,
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
), strict=True))  # fmt: skip
_CF_EVEN = {char: int(char, 36) % 10 if char.isdigit() else int(char, 36) - 10 for char in _CF_ODD}
# omocodia: digits of the date and place may be replaced by letters to tell twins apart
_CF_DIGIT = {char: index for index, char in enumerate("0123456789")} | {
    char: index for index, char in enumerate("LMNPQRSTUV")
}
_CF_MONTHS = "ABCDEHLMPRST"
_CF_RE = re.compile(r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]")


def it_codice_fiscale_valid(compact: str) -> bool:
    """Italian codice fiscale: the 16-character layout, a real birth date and the check letter."""
    if len(compact) != 16 or _CF_RE.fullmatch(compact) is None:
        return False
    total = sum(_CF_ODD[c] if i % 2 == 0 else _CF_EVEN[c] for i, c in enumerate(compact[:15]))
    if chr(65 + total % 26) != compact[15]:
        return False
    day = (_CF_DIGIT[compact[9]] * 10 + _CF_DIGIT[compact[10]]) % 40  # women: day + 40
    month = _CF_MONTHS.index(compact[8]) + 1
    year = 2000 + _CF_DIGIT[compact[6]] * 10 + _CF_DIGIT[compact[7]]  # a leap-year-safe century
    return _real_date(year, month, day)


def fr_nir_valid(compact: str) -> bool:
    """French NIR (INSEE number): sex digit, birth month, then 97 minus the first 13 digits mod 97.

    Corsican departments 2A and 2B count as 19 and 18 for the key.
    """
    if len(compact) != 15 or compact[0] not in "1234578" or not compact[13:].isdigit():
        return False
    body = compact[:13]
    department = body[5:7]
    if department in ("2A", "2B"):
        body = body[:5] + ("19" if department == "2A" else "18") + body[7:]
    if not body.isdigit():
        return False
    month = int(body[3:5])
    # 1-12, 20 and 30-42 (unknown month), 50-99 (born abroad, provisional)
    if month == 0 or 13 <= month <= 19 or 21 <= month <= 29 or 43 <= month <= 49:
        return False
    return 97 - int(body) % 97 == int(compact[13:])


def de_tax_id_valid(compact: str) -> bool:
    """German Steuer-IdNr: 11 digits, no leading 0, one digit repeated 2-3 times in the first 10,
    ISO 7064 MOD 11,10 check digit."""
    if len(compact) != 11 or not compact.isdigit() or compact[0] == "0":
        return False
    counts = [compact[:10].count(digit) for digit in set(compact[:10])]
    repeated = [count for count in counts if count > 1]
    return len(repeated) == 1 and repeated[0] in (2, 3) and mod11_10_valid(compact)


def nl_bsn_valid(compact: str) -> bool:
    """Dutch BSN: 9 digits passing the "elfproef" (weights 9..2 and -1, sum divisible by 11)."""
    if len(compact) != 9 or not compact.isdigit() or int(compact) == 0:
        return False
    total = sum((9 - index) * (ord(char) - 48) for index, char in enumerate(compact[:8]))
    return (total - (ord(compact[8]) - 48)) % 11 == 0


def br_cpf_valid(compact: str) -> bool:
    """Brazilian CPF: 11 digits, two mod-11 check digits; repeated-digit numbers are not issued."""
    if len(compact) != 11 or not compact.isdigit() or compact == compact[0] * 11:
        return False
    digits = [ord(char) - 48 for char in compact]
    first = (11 - sum((10 - i) * digits[i] for i in range(9))) % 11 % 10
    second = (11 - sum((11 - i) * digits[i] for i in range(9)) - 2 * first) % 11 % 10
    return digits[9] == first and digits[10] == second


def ca_sin_valid(compact: str) -> bool:
    """Canadian SIN: 9 digits, Luhn; 0 and 8 are not issued as first digits."""
    return len(compact) == 9 and compact.isdigit() and compact[0] not in "08" and luhn_valid(compact)


def in_aadhaar_valid(compact: str) -> bool:
    """Indian Aadhaar: 12 digits not starting with 0 or 1, not a palindrome, Verhoeff check digit."""
    return (
        len(compact) == 12
        and compact.isdigit()
        and compact[0] not in "01"
        and compact != compact[::-1]
        and verhoeff_valid(compact)
    )


def se_personnummer_valid(compact: str) -> bool:
    """Swedish personnummer: (YY)YYMMDD + 4 digits, a real birth date, Luhn over the last ten."""
    if len(compact) not in (10, 12) or not compact.isdigit():
        return False
    ten = compact[-10:]
    year = int(compact[:4]) if len(compact) == 12 else 2000 + int(ten[:2])
    return _real_date(year, int(ten[2:4]), int(ten[4:6])) and luhn_valid(ten)


def _real_date(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


# --- schemes: shape, validator, labels ----------------------------------------------------------


@dataclass(frozen=True)
class Scheme:
    """One national id scheme: the shape it is written in and the validator of its compact form."""

    name: str
    shape: re.Pattern[str]
    valid: Callable[[str], bool]


_SEPARATORS = str.maketrans("", "", " .-/")


def _compact(raw: str) -> str:
    return raw.translate(_SEPARATORS).upper()


def _scheme(name: str, shape: str, valid: Callable[[str], bool]) -> Scheme:
    return Scheme(name, re.compile(shape, re.ASCII), valid)


# digit-run schemes, written with or without the separators their issuers print
SCHEMES: dict[str, Scheme] = {
    scheme.name: scheme
    for scheme in (
        _scheme("gb_nino", r"[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]", uk_nino_valid),
        _scheme("ca_sin", r"\d{3}([- ]?)\d{3}\1\d{3}", ca_sin_valid),
        _scheme("in_aadhaar", r"\d{4}([- ]?)\d{4}\1\d{4}", in_aadhaar_valid),
        _scheme("fr_nir", r"\d( ?)\d{2}\1\d{2}\1(?:\d{2}|2[AB])\1\d{3}\1\d{3}\1\d{2}", fr_nir_valid),
        _scheme("de_tax_id", r"\d{2}([ /]?)\d{3}\1\d{3}\1\d{3}", de_tax_id_valid),
        _scheme("nl_bsn", r"\d{4}\.\d{2}\.\d{3}|\d{3}([ .-]?)\d{3}\1\d{3}", nl_bsn_valid),
        _scheme("br_cpf", r"\d{3}\.?\d{3}\.?\d{3}[-.]?\d{2}", br_cpf_valid),
        _scheme("se_personnummer", r"(?:\d{2})?\d{6}[-+]?\d{4}", se_personnummer_valid),
    )
}

#: label words (lower case) and the schemes a number right after them is checked against
LABELS: dict[str, tuple[str, ...]] = {
    "national insurance": ("gb_nino",),
    "ni number": ("gb_nino",),
    "ni no": ("gb_nino",),
    "nino": ("gb_nino",),
    "social insurance": ("ca_sin",),
    "numéro d'assurance sociale": ("ca_sin",),
    "aadhaar": ("in_aadhaar",),
    "aadhar": ("in_aadhaar",),
    "uidai": ("in_aadhaar",),
    "insee": ("fr_nir",),
    "sécurité sociale": ("fr_nir",),
    "securite sociale": ("fr_nir",),
    "numéro de sécu": ("fr_nir",),
    "social security": ("fr_nir",),  # 9 digits after it are a US SSN: the SSN detector's job
    "steuer-id": ("de_tax_id",),
    "steuer id": ("de_tax_id",),
    "steuerid": ("de_tax_id",),
    "steuer-idnr": ("de_tax_id",),
    "steueridentifikationsnummer": ("de_tax_id",),
    "identifikationsnummer": ("de_tax_id",),
    "bsn": ("nl_bsn",),
    "burgerservicenummer": ("nl_bsn",),
    "sofinummer": ("nl_bsn",),
    "sofi-nummer": ("nl_bsn",),
    "cpf": ("br_cpf",),
    "personnummer": ("se_personnummer",),
    "personal identity number": ("se_personnummer",),
}
_ALL_DIGIT_SCHEMES = tuple(name for name in SCHEMES if name != "gb_nino")
for _generic in (
    "national id",
    "national identity number",
    "national identification number",
    "tax id",
    "tax identification number",
    "taxpayer id",
    "personal id number",
    "citizen id",
    "id card number",
):
    LABELS[_generic] = _ALL_DIGIT_SCHEMES
#: labels that are ordinary words in lower case ("sin", "nir", "tin") count only in capitals
CASED_LABELS: dict[str, tuple[str, ...]] = {
    "SIN": ("ca_sin",),
    "NAS": ("ca_sin",),
    "UID": ("in_aadhaar",),
    "NI": ("gb_nino",),
    "NIR": ("fr_nir",),
    "IdNr": ("de_tax_id",),
    "TIN": _ALL_DIGIT_SCHEMES,
}

# between a label and its number: "number", "no.", "is", ":", "(BSN)", in a few languages
_FILLER_RE = re.compile(
    r"(?:[\s:#=\-\u2013()]|n°|(?i:number|no|nr|num|is|was|ist|lautet|est|es|é|è|är|er|of|my|the)\b\.?)*"
)
_VALUE_END_RE = re.compile(r"(?![\w-]|[.,/]\d)")

# shapes that validate strongly enough to be taken without a label; each branch is entered on its
# first character, a capital or a digit (one opening class keeps the scan fast, see pii_scan)
_UNLABELLED_RE = re.compile(
    r"[A-Z\d](?<![\w-][A-Z\d])(?:(?<=[A-Z])(?:"
    r"(?P<gb_nino>[A-CEGHJ-NPR-TW-Z] \d{2} \d{2} \d{2} [A-D])"  # as printed; AB123456C needs a label
    r"|(?P<it_codice_fiscale>[A-Z]{5}[0-9LMNPQRSTUV]{2}[A-EHLMPR-T][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z])"
    r"|(?P<es_nie>-?\d{7}-?[A-Z]))"
    r"|(?<=\d)(?:(?P<es_dni>\d{7}-?[A-Z])|(?P<br_cpf>\d\d\.\d{3}\.\d{3}-\d{2})))"
    r"(?![\w-])",
    re.ASCII,
)
_UNLABELLED_VALID: dict[str, Callable[[str], bool]] = {
    "gb_nino": uk_nino_valid,
    "es_dni": es_dni_valid,
    "es_nie": es_dni_valid,
    "it_codice_fiscale": it_codice_fiscale_valid,
    "br_cpf": br_cpf_valid,
}


def find_unlabelled(text: str) -> Iterator[tuple[int, int]]:
    """Spans of letter-bearing (and punctuated CPF) national ids that pass their validator."""
    for match in _UNLABELLED_RE.finditer(text):
        scheme = match.lastgroup
        if scheme is not None and _UNLABELLED_VALID[scheme](_compact(match.group())):
            yield match.span()


def find_after_label(text: str, label_end: int, schemes: Iterable[str]) -> tuple[int, int] | None:
    """The span of a valid id of one of ``schemes`` right after a label ending at ``label_end``."""
    start = _FILLER_RE.match(text, label_end).end()  # type: ignore[union-attr]  # matches empty
    if start >= len(text) or not text[start].isalnum():
        return None
    for name in schemes:
        scheme = SCHEMES[name]
        match = scheme.shape.match(text, start)
        if match is None or _VALUE_END_RE.match(text, match.end()) is None:
            continue
        if scheme.valid(_compact(match.group())):
            return start, match.end()
    return None
