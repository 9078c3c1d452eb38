"""The phone pre-filter: it may only spare the library work, never change what is found."""

from __future__ import annotations

import phonenumbers
import pytest

from bastion.guards.pii_phones import PhoneFinder, national_groupings

FORMATS = (phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def test_national_groupings_come_from_the_library_formats() -> None:
    us = national_groupings("US")
    assert us is not None and ((3, 3), (3, 3), (4, 4)) in us  # (415) 555-2671
    gb = national_groupings("GB")
    assert (
        gb is not None and ((3, 3), (4, 4), (4, 4)) in gb
    )  # 020 7946 0958: the trunk 0 joins the first group
    assert national_groupings("XX") is None


def _examples(region: str) -> list[str]:
    texts = []
    for number_type in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
        number = phonenumbers.example_number_for_type(region, number_type)
        if number is not None:
            texts.extend(phonenumbers.format_number(number, number_format) for number_format in FORMATS)
    return texts


@pytest.mark.parametrize("region", sorted(phonenumbers.SUPPORTED_REGIONS))
def test_prefilter_finds_what_the_library_alone_finds(region: str) -> None:
    """Every region's example numbers, nationally and internationally written, with and without
    a phone word: the pre-filtered finder and one that asks the library about every digit run agree."""
    filtered = PhoneFinder(region)
    unfiltered = PhoneFinder(region)
    unfiltered._groupings = None  # no pre-filter: every grouped run goes to the library
    for number in _examples(region):
        for text in (f"ref {number} ok", f"call me on {number} ok"):
            assert list(filtered.find(text, [])) == list(unfiltered.find(text, [])), text


def test_prefilter_spares_the_library_ids_and_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    windows: list[str] = []
    original = phonenumbers.PhoneNumberMatcher

    def counting(text: str, *args: object, **kwargs: object) -> phonenumbers.PhoneNumberMatcher:
        windows.append(text)
        return original(text, *args, **kwargs)

    monkeypatch.setattr(phonenumbers, "PhoneNumberMatcher", counting)
    text = "SKU 4651-8624-08, ISBN 978-2-802-44494-5, version 6.4.10.641, call (201) 555-9252"
    assert [text[s:e] for s, e in PhoneFinder("US").find(text, [])] == ["(201) 555-9252"]
    assert len(windows) == 1
