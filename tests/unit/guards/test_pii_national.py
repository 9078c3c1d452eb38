"""National ids: validators (cross-checked against python-stdnum), labelled and unlabelled detection."""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable

import pytest

from bastion.guards import pii_national as national
from bastion.guards.pii import PiiDetector
from bastion.guards.pii_checksums import luhn_valid, mod11_10_valid, mod97_remainder, verhoeff_valid

DETECTOR = PiiDetector()


def found(text: str) -> list[tuple[str, str]]:
    return [(f.kind, f.text) for f in DETECTOR.find(text)]


@pytest.mark.parametrize(
    ("validator", "valid", "invalid"),
    [
        # published examples (HMRC, the issuers' specimen numbers, python-stdnum's doctests)
        (national.uk_nino_valid, "AB123456C", "QQ123456C"),  # Q never leads a NINO
        (national.uk_nino_valid, "CE123456D", "BG123456A"),  # BG, GB, NK, KN, TN, NT, ZZ unused
        (national.uk_nino_valid, "JR123456A", "AO123456A"),  # O is never second
        (national.uk_nino_valid, "TW123456B", "TW123456E"),  # suffix A-D
        (national.es_dni_valid, "54362315K", "54362315Z"),
        (national.es_dni_valid, "X2482300W", "X2482300A"),  # NIE
        (national.it_codice_fiscale_valid, "RCCMNL83S18D969H", "RCCMNL83S18D969A"),
        (
            national.it_codice_fiscale_valid,
            "CNTCHR83T41D969D",
            "CNTCHR83S71D969E",
        ),  # check letter right, but 31 November
        (national.fr_nir_valid, "295109912611193", "295109912611199"),
        (national.fr_nir_valid, "253072B07300470", "253072C07300470"),  # Corsica 2B
        (national.de_tax_id_valid, "36574261809", "36574261890"),
        (national.de_tax_id_valid, "36574261809", "36554266806"),  # too many repeated digits
        (national.nl_bsn_valid, "111222333", "111252333"),
        (national.br_cpf_valid, "39053344705", "39053344704"),
        (national.br_cpf_valid, "39053344705", "11111111111"),  # repeated digits pass the check, not issued
        (national.ca_sin_valid, "123456782", "123456789"),
        (national.ca_sin_valid, "123456782", "046454286"),  # 0 is not a first digit
        (national.in_aadhaar_valid, "234123412346", "234123412347"),
        (national.in_aadhaar_valid, "234123412346", "123412341234"),  # no leading 0 or 1
        (national.se_personnummer_valid, "8803200016", "8803200018"),
        (national.se_personnummer_valid, "198803200016", "8813200016"),  # month 13
    ],
)
def test_validators_accept_and_reject(validator: Callable[[str], bool], valid: str, invalid: str) -> None:
    assert validator(valid)
    assert not validator(invalid)


def test_checksum_primitives() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert verhoeff_valid("2363") and not verhoeff_valid("2364")
    assert mod11_10_valid("36574261809") and not mod11_10_valid("36574261808")
    assert mod97_remainder("WEST12345698765432GB82") == 1  # GB82 WEST 1234 5698 7654 32, rearranged


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _cases(rng: random.Random) -> list[tuple[Callable[[str], bool], str, Callable[[], str]]]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [
        (national.es_dni_valid, "stdnum.es.dni", lambda: _digits(rng, 8) + rng.choice(letters)),
        (
            national.es_dni_valid,
            "stdnum.es.nie",
            lambda: rng.choice("XYZ") + _digits(rng, 7) + rng.choice(letters),
        ),
        (national.nl_bsn_valid, "stdnum.nl.bsn", lambda: _digits(rng, 9)),
        (national.ca_sin_valid, "stdnum.ca.sin", lambda: _digits(rng, 9)),
        (national.in_aadhaar_valid, "stdnum.in_.aadhaar", lambda: _digits(rng, 12)),
        (national.de_tax_id_valid, "stdnum.de.idnr", lambda: _digits(rng, 11)),
        (
            national.it_codice_fiscale_valid,
            "stdnum.it.codicefiscale",
            lambda: (
                "".join(rng.choice(letters) for _ in range(6))
                + _digits(rng, 2)
                + rng.choice("ABCDEHLMPRST")
                + f"{rng.choice([rng.randrange(1, 32), rng.randrange(41, 72)]):02d}"
                + rng.choice(letters)
                + _digits(rng, 3)
                + rng.choice(letters)
            ),
        ),
    ]


def test_validators_agree_with_python_stdnum() -> None:
    """Random candidates (about 1 in 10 valid): our verdict must equal python-stdnum's."""
    pytest.importorskip("stdnum")
    rng = random.Random(7)
    for validator, module_name, generate in _cases(rng):
        reference = importlib.import_module(module_name)
        valid = 0
        for _ in range(3000):
            candidate = generate()
            expected = reference.is_valid(candidate)
            assert validator(candidate) == expected, (module_name, candidate)
            valid += expected
        assert valid >= 5, module_name  # the sample did exercise the accepting path


def test_stricter_validators_accept_a_subset_of_python_stdnum() -> None:
    """CPF repdigits and French NIRs with an impossible sex or month are refused only by us."""
    pytest.importorskip("stdnum")
    from stdnum.br import cpf
    from stdnum.fr import nir
    from stdnum.se import personnummer

    rng = random.Random(11)
    for _ in range(3000):
        number = _digits(rng, 11)
        assert national.br_cpf_valid(number) == (cpf.is_valid(number) and number != number[0] * 11)
        number = rng.choice("12") + _digits(rng, 2) + f"{rng.randrange(1, 13):02d}" + _digits(rng, 10)
        assert national.fr_nir_valid(number) == nir.is_valid(number), number
        number = f"{rng.randrange(100):02d}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}" + _digits(
            rng, 4
        )
        assert national.se_personnummer_valid(number) == personnummer.is_valid(f"{number[:6]}-{number[6:]}")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("my NI number is AB 12 34 56 C, thanks", "AB 12 34 56 C"),
        ("NINO: JR123456A", "JR123456A"),
        ("mi DNI es 54362315K", "54362315K"),
        ("NIE X-2482300-W adjunto", "X-2482300-W"),
        ("codice fiscale RCCMNL83S18D969H", "RCCMNL83S18D969H"),
        ("CPF 390.533.447-05 do cliente", "390.533.447-05"),
    ],
)
def test_distinctive_ids_found_without_a_label(text: str, value: str) -> None:
    assert found(text) == [("NATIONAL_ID", value)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("BSN: 111222333", "111222333"),
        ("burgerservicenummer 1112.22.333", "1112.22.333"),
        ("Aadhaar no. 2341 2341 2346", "2341 2341 2346"),
        ("UID 234123412346", "234123412346"),
        ("meine Steuer-ID ist 36 574 261 809", "36 574 261 809"),
        ("IdNr: 36574261809", "36574261809"),
        ("SIN: 123 456 782", "123 456 782"),
        ("social insurance number 123-456-782", "123-456-782"),
        ("numéro de sécurité sociale : 2 95 10 99 126 111 93", "2 95 10 99 126 111 93"),
        ("INSEE 253072B07300470", "253072B07300470"),
        ("CPF: 39053344705", "39053344705"),
        ("personnummer 880320-0016", "880320-0016"),
        ("tax id is 111222333", "111222333"),
        ("TIN 36574261809", "36574261809"),
    ],
)
def test_digit_ids_found_after_their_label(text: str, value: str) -> None:
    assert found(text) == [("NATIONAL_ID", value)]


@pytest.mark.parametrize(
    "text",
    [
        "order 111222333 shipped",  # a valid BSN, but no label
        "ticket 2341 2341 2346 closed",  # a valid Aadhaar, no label
        "invoice 39053344705",  # a valid CPF, no label
        "BSN lookup failed for order 111222333",  # label, but other words before the number
        "BSN: 111222334",  # bad check digit
        "Aadhaar 2341 2341 2347",
        "Steuer-ID 36574261890",
        "SIN 123 456 789",
        "sin 123456782 is a small number",  # "sin" in lower case is a word, not the label
        "NINO QQ123456C",  # prefix rules
        "part AB123456E",  # suffix E
        "DNI 54362315Z",  # wrong check letter
        "codice RCCMNL83S18D969A",  # wrong check character
        "CPF 390.533.447-04",
        "personnummer 881320-0016",  # month 13
        "build SKU12345678Z",  # glued to a word
    ],
)
def test_lookalikes_and_bad_checksums_ignored(text: str) -> None:
    assert found(text) == []


def test_tax_id_label_before_a_us_ssn_keeps_the_ssn_kind() -> None:
    assert found("tax id 123-45-6789") == [("SSN", "123-45-6789")]
