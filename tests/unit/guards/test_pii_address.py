"""Postal addresses: US and UK street addresses, labelled address lines, and what is left alone."""

from __future__ import annotations

import re

import pytest

from bastion.guards.pii import PiiDetector
from bastion.guards.pii_address import UK_POSTCODE

DETECTOR = PiiDetector()


def found(text: str) -> list[tuple[str, str]]:
    return [(f.kind, f.text) for f in DETECTOR.find(text)]


@pytest.mark.parametrize(
    "value",
    [
        "1600 Amphitheatre Parkway, Mountain View, CA 94043",
        "350 5th Ave, New York, NY 10118",
        "42 N. Main St. Apt 4B, Springfield, IL 62704-1234",
        "1 Infinite Loop, Cupertino, CA 95014",
        "221B Baker Street, London NW1 6XE",
        "10 Downing Street SW1A 2AA",
        "12 St. James Street",
        "742 Evergreen Terrace",
        "4059 Mt Lee Dr",
    ],
)
def test_street_addresses_detected(value: str) -> None:
    assert found(f"please ship it to {value} before Friday") == [("ADDRESS", value)]


def test_city_on_the_next_line_is_part_of_the_address() -> None:
    text = "Send it to:\n1600 Amphitheatre Parkway\nMountain View, CA 94043\nThanks"
    assert found(text) == [("ADDRESS", "1600 Amphitheatre Parkway\nMountain View, CA 94043")]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Address: 12 rue de la Paix, 75002 Paris. Please hurry", "12 rue de la Paix, 75002 Paris"),
        ("Shipping address is Calle Mayor 5, 28013 Madrid please", "Calle Mayor 5, 28013 Madrid"),
        ("Adresse: Hauptstraße 5, 10115 Berlin\nDanke", "Hauptstraße 5, 10115 Berlin"),
        ("billing address - Flat 3, 27 Old Gloucester St., London", "Flat 3, 27 Old Gloucester St., London"),
    ],
)
def test_labelled_address_lines_detected(text: str, value: str) -> None:
    assert found(text) == [("ADDRESS", value)]


def test_labelled_address_stops_where_another_finding_starts() -> None:
    text = "My address is 10 Main Road, Leeds LS1 4AP, mobile +44 7911 123456"
    assert found(text) == [("ADDRESS", "10 Main Road, Leeds LS1 4AP"), ("PHONE", "+44 7911 123456")]


@pytest.mark.parametrize(
    "text",
    [
        "I waited 2 Hours. Way too long",
        "we shipped 300 units on Main Street",  # no house number before the street
        "postcode SW1A 2AA only",  # a postcode alone is not an address
        "Mountain View, CA 94043 is where they are",  # a city, state and ZIP alone
        "email address: jane.doe is wrong",  # not postal, and no digit
        "IP address: 10.0.0.1",
        "my address is on file, order 12345",  # starts in lower case: prose
        "Address: N/A",
        "the top 10 Drive Tips",  # no street name word before the type
    ],
)
def test_non_addresses_ignored(text: str) -> None:
    assert [kind for kind, _ in found(text)] in ([], ["IP"])


@pytest.mark.parametrize(
    "postcode", ["SW1A 2AA", "EC1A 1BB", "W1A 0AX", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "GIR 0AA"]
)
def test_uk_postcode_pattern_accepts_the_official_formats(postcode: str) -> None:
    assert re.fullmatch(UK_POSTCODE, postcode)


@pytest.mark.parametrize("postcode", ["QA1 1AA", "AI1 1AA", "A1 1AC", "SW1A 2CA", "1AA 1AA"])
def test_uk_postcode_pattern_applies_the_letter_rules(postcode: str) -> None:
    assert not re.fullmatch(UK_POSTCODE, postcode)
