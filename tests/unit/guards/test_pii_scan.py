"""Scanning helpers: the one-pass label finder and boundary-checked matching."""

from __future__ import annotations

import re

from bastion.guards.pii_scan import Label, LabelFinder, matches_after, word_char

FINDER = LabelFinder(
    ["ssn", "date of birth", "numéro de sécu", "sécurité sociale", "tax id", "password"], cased=["SIN"]
)


def words(text: str) -> list[str]:
    return [label.word for label in FINDER.find(text)]


def test_labels_found_case_insensitively_with_offsets() -> None:
    text = "My SSN and Date of Birth"
    assert FINDER.find(text) == [Label("ssn", 3, 6), Label("date of birth", 11, 24)]


def test_whitespace_inside_a_label_may_vary() -> None:
    assert words("date  of\nbirth: 1 May 1990") == ["date of birth"]


def test_labels_must_stand_alone_but_may_follow_an_underscore() -> None:
    assert words("lessn, passwords, taxidermy") == []
    assert words("DB_PASSWORD=x and (ssn)") == ["password", "ssn"]


def test_cased_labels_count_only_as_written() -> None:
    assert words("SIN 123") == ["sin"]
    assert words("sin(x) and Sin") == []


def test_a_rejected_shorter_label_does_not_hide_a_longer_one() -> None:
    # "numéro de sécu" matches first but is glued to "rité": "sécurité sociale" must still be seen
    assert words("numéro de sécurité sociale") == ["sécurité sociale"]


def test_text_that_grows_when_lower_cased_keeps_offsets() -> None:
    text = "İİ tax id: 1"  # "İ".lower() is two characters
    assert FINDER.find(text) == [Label("tax id", 3, 9)]


def test_matches_after_retries_one_past_a_refused_start() -> None:
    pattern = re.compile(r"\d{4}")
    # "1234" and "2345" inside "x12345" are both glued to a word character; "6789" is not
    assert [m.group() for m in matches_after(pattern, "x12345 6789", word_char)] == ["6789"]
    assert [m.group() for m in matches_after(pattern, "a-1234", lambda c: c.isalpha())] == ["1234"]
