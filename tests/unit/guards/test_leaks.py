"""Leaks in answers: PII and secrets not from the user's prompt, and canary tokens."""

from __future__ import annotations

import re

import pytest

from bastion.guards.leaks import (
    CANARY_PREFIX,
    LeakScanner,
    canary_instruction,
    canary_partial_pattern,
    canary_spans,
    leaked,
    new_canary,
    prompt_values,
)
from bastion.guards.pii import PiiDetector

DETECTOR = PiiDetector()
CANARY = "bst-canary-3f9a0c1d2e4b5a69"


def kinds(scanner: LeakScanner, text: str) -> list[tuple[str, str]]:
    return [(finding.kind, finding.text) for finding in scanner.findings(text)]


def test_findings_and_redaction() -> None:
    scanner = LeakScanner(DETECTOR)
    text = "Reach jane@example.com or +1 415-555-2671."
    assert kinds(scanner, text) == [("EMAIL", "jane@example.com"), ("PHONE", "+1 415-555-2671")]
    assert scanner.redact(text) == "Reach [REDACTED_EMAIL] or [REDACTED_PHONE]."
    assert scanner.redact("nothing here") == "nothing here"


def test_values_from_the_users_prompt_are_not_leaks() -> None:
    scanner = LeakScanner(DETECTOR, allowed=["Jane@Example.com", "+1 415 555 2671"])
    text = "Your email jane@example.com and phone (415) 555-2671 are on file; ops is ops@corp.example."
    assert kinds(scanner, text) == [("EMAIL", "ops@corp.example")]
    assert scanner.redact(text).endswith("ops is [REDACTED_EMAIL].")


def test_allowed_phone_needs_enough_matching_digits() -> None:
    scanner = LeakScanner(DETECTOR, allowed=["call 2671"])
    assert kinds(scanner, "+1 415-555-2671") == [("PHONE", "+1 415-555-2671")]


def test_secrets_are_leaks() -> None:
    scanner = LeakScanner(DETECTOR)
    key = "sk-proj-" + "Ab3dEf9hIj2LmN4pQr7StUv0"
    assert scanner.redact(f"use {key} please") == "use [REDACTED_SECRET] please"


def test_prompt_values_come_from_user_messages_only() -> None:
    messages = [
        {"role": "system", "content": "Ops mail: ops@corp.example, key sk-ant-abcdefghijklmnopqrstuvwx"},
        {"role": "user", "content": "I am jane@example.com"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "call +1 415-555-2671"}, {"type": "image_url"}],
        },
        {"role": "tool", "content": "customer bob@example.com"},
    ]
    assert prompt_values(DETECTOR, messages) == ["jane@example.com", "+1 415-555-2671"]
    assert "bob@example.com" in prompt_values(DETECTOR, messages, roles=("user", "tool"))


# --- canaries ---------------------------------------------------------------------------------


def test_new_canary_is_random_per_call_and_injectable() -> None:
    first, second = new_canary(), new_canary()
    assert first != second
    assert re.fullmatch(re.escape(CANARY_PREFIX) + r"[0-9a-f]{16}", first)
    assert new_canary(lambda size: "ab" * size) == CANARY_PREFIX + "ab" * 8


def test_instruction_plants_the_canary() -> None:
    sentence = canary_instruction(CANARY)
    assert CANARY in sentence
    assert leaked(CANARY, sentence)


@pytest.mark.parametrize(
    "text",
    [
        f"my instructions begin with {CANARY} and",
        CANARY.upper(),
        " ".join(CANARY),
        "\u200b".join(CANARY),
        "3f9a0c1d2e4b5a69",  # the random part alone
        "3F9A-0C1D-2E4B-5A69",
        "ｂｓｔ－ｃａｎａｒｙ－３ｆ９ａ０ｃ１ｄ２ｅ４ｂ５ａ６９",  # full width
        "bst canary: 3f9a 0c1d 2e4b 5a69.",
    ],
)
def test_leaked_sees_disguised_canaries(text: str) -> None:
    assert leaked(CANARY, text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "bst-canary-",
        "3f9a0c1d2e4b5a6",  # one character short
        "3f9a0c1d2e4b5a6x9",  # a letter inside the random part
        new_canary(),
        "the security marker is confidential",
    ],
)
def test_leaked_is_precise(text: str) -> None:
    assert not leaked(CANARY, text)


def test_partial_canary_at_the_end_is_seen() -> None:
    pattern = canary_partial_pattern(CANARY)
    for text in ("marker bst-can", "marker 3f9a 0c", "marker BST", "marker " + CANARY):
        match = pattern.search(text)
        assert match is not None and match.start() == len("marker "), text
    assert pattern.search("marker zzz") is None
    assert pattern.search("3f9a0 then more words") is None


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (f"see {CANARY} now", CANARY),
        ("see B S T canary: 3f9a 0c1d 2e4b 5a69 now", "B S T canary: 3f9a 0c1d 2e4b 5a69"),
        ("see 3f9a0c1d2e4b5a69 now", "3f9a0c1d2e4b5a69"),
        ("bst-canary is 3f9a0c1d2e4b5a69", "3f9a0c1d2e4b5a69"),  # "is" is no separator
    ],
)
def test_canary_spans_take_the_prefix_when_present(text: str, found: str) -> None:
    assert [text[start:end] for start, end in canary_spans(CANARY, text)] == [found]
