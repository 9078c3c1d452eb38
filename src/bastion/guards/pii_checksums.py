"""Check-digit algorithms shared by the PII validators (cards, IBANs, national ids).

Each takes the digits as a string and says whether the check digit(s) agree; length and format
rules belong to the caller. Written out here rather than taken from python-stdnum (LGPL, 6 MB of
data files we do not need); the tests cross-check them against python-stdnum.
"""

from __future__ import annotations

# Verhoeff's dihedral-group tables (multiplication and position permutation)
_VERHOEFF_MULTIPLY = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_PERMUTE = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn (mod 10) checksum."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def verhoeff_valid(digits: str) -> bool:
    """Whether a digit string passes the Verhoeff checksum (catches all transpositions)."""
    check = 0
    for index, char in enumerate(reversed(digits)):
        check = _VERHOEFF_MULTIPLY[check][_VERHOEFF_PERMUTE[index % 8][ord(char) - 48]]
    return check == 0


def mod11_10_valid(digits: str) -> bool:
    """Whether a digit string passes ISO 7064 MOD 11,10 (the hybrid system of the German tax id)."""
    check = 5
    for char in digits:
        check = (((check or 10) * 2) % 11 + ord(char) - 48) % 10
    return check == 1


def mod97_remainder(alphanumeric: str) -> int:
    """The remainder mod 97 of a string read as a number, letters counting 10-35 (ISO 7064 MOD 97-10).

    Raises ``ValueError`` on a character that is neither a digit nor an ASCII letter.
    """
    remainder = 0
    for char in alphanumeric:
        value = int(char, 36)
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder
