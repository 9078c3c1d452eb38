"""The streaming output guard: matches split across chunks at every position, bounded hold, modes."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from bastion.guards.leaks import LeakScanner
from bastion.guards.moderation import Moderator
from bastion.guards.pii import PiiDetector
from bastion.guards.stream_scan import StreamTextGuard

DETECTOR = PiiDetector()
MODERATOR = Moderator({"violence": ["kill", "how to make a bomb"], "drugs": ["cocaine"]})
CANARY = "bst-canary-3f9a0c1d2e4b5a69"

# one sample per kind of match: (text, the entity inside it, its violation label, its marker)
SAMPLES = [
    ("Write to jane.doe@example.com today.", "jane.doe@example.com", "pii_leak:EMAIL", "[REDACTED_EMAIL]"),
    ("Call +1 415-555-2671 now.", "+1 415-555-2671", "pii_leak:PHONE", "[REDACTED_PHONE]"),
    ("Card 4111 1111 1111 1111 on file.", "4111 1111 1111 1111", "pii_leak:CARD", "[REDACTED_CARD]"),
    ("IBAN GB82 WEST 1234 5698 7654 32 ok.", "GB82 WEST 1234 5698 7654 32", "pii_leak:IBAN",
     "[REDACTED_IBAN]"),
    ("Her SSN is 123-45-6789, sadly.", "123-45-6789", "pii_leak:SSN", "[REDACTED_SSN]"),
    ("She was born on March 14, 1985 in Rome.", "March 14, 1985", "pii_leak:DOB", "[REDACTED_DOB]"),
    ("Key sk-proj-Ab3dEf9hIj2LmN4pQr7StUv0 works.", "sk-proj-Ab3dEf9hIj2LmN4pQr7StUv0", "pii_leak:SECRET",
     "[REDACTED_SECRET]"),
    ("Here is how to make a bomb quickly.", "how to make a bomb", "moderation:violence", "[REDACTED]"),
    ("They will kill it.", "kill", "moderation:violence", "[REDACTED]"),
    (f"The marker is {CANARY} indeed.", CANARY, "canary", "[REDACTED]"),
    ("The marker is 3f9a 0c1d 2e4b 5a69 indeed.", "3f9a 0c1d 2e4b 5a69", "canary", "[REDACTED]"),
]  # fmt: skip
SAMPLE_IDS = [label + ":" + entity[:12] for _, entity, label, _ in SAMPLES]


def guard(mode: str = "redact", **options: Any) -> StreamTextGuard:
    parts: dict[str, Any] = {"moderator": MODERATOR, "leaks": LeakScanner(DETECTOR), "canary": CANARY}
    parts.update(options)
    return StreamTextGuard(mode=mode, **parts)  # type: ignore[arg-type]


def stream(scanner: StreamTextGuard, chunks: Iterable[str]) -> list[str]:
    """What the client receives, chunk by chunk (the last item is what finish released)."""
    released = [scanner.feed(chunk) for chunk in chunks]
    released.append(scanner.finish())
    return released


def splits(text: str) -> Iterable[list[str]]:
    """The text in two chunks at every position, and one character at a time."""
    for position in range(len(text) + 1):
        yield [text[:position], text[position:]]
    yield list(text)


@pytest.mark.parametrize(("text", "entity", "label", "marker"), SAMPLES, ids=SAMPLE_IDS)
def test_redact_at_every_split(text: str, entity: str, label: str, marker: str) -> None:
    expected = text.replace(entity, marker)
    for chunks in splits(text):
        scanner = guard("redact")
        assert "".join(stream(scanner, chunks)) == expected, chunks
        assert scanner.violation == label


@pytest.mark.parametrize(("text", "entity", "label", "marker"), SAMPLES, ids=SAMPLE_IDS)
def test_block_at_every_split_releases_only_the_text_before(
    text: str, entity: str, label: str, marker: str
) -> None:
    before = text[: text.index(entity)]
    for chunks in splits(text):
        scanner = guard("block")
        released = stream(scanner, chunks)
        assert "".join(released) == before, chunks
        assert scanner.violation == label


@pytest.mark.parametrize(("text", "entity", "label", "marker"), SAMPLES, ids=SAMPLE_IDS)
def test_warn_releases_everything_at_once_and_records(
    text: str, entity: str, label: str, marker: str
) -> None:
    for chunks in splits(text):
        scanner = guard("warn")
        released = stream(scanner, chunks)
        assert released[:-1] == chunks and released[-1] == ""
        assert scanner.violation == label


@pytest.mark.parametrize(
    "text",
    [
        "A perfectly ordinary answer, with no personal data at all.\nSecond line: skills, killers.",
        "Version 2.1 shipped on 2024-01-02 with 3 fixes; see commit a3f9c2e.",
        "The bst team and the canary in the coal mine.",
        "東京は日本の首都です。人口は約1400万人です。",
    ],
)
def test_clean_text_passes_unchanged_at_every_split(text: str) -> None:
    for chunks in splits(text):
        for mode in ("block", "redact"):
            scanner = guard(mode)
            assert "".join(stream(scanner, chunks)) == text
            assert scanner.violation is None


def test_no_false_hit_from_a_match_that_the_next_chunk_undoes() -> None:
    # a valid card number, until a 17th digit arrives; "kill" until "er" arrives
    for text in ("4111 1111 1111 11112 is a part number", "a killer feature"):
        for chunks in splits(text):
            scanner = guard("block")
            assert "".join(stream(scanner, chunks)) == text
            assert scanner.violation is None


def test_released_text_lags_by_about_a_word() -> None:
    scanner = guard("redact")
    assert scanner.feed("Hello there my ") == "Hello there my "
    assert scanner.feed("friend, how") == ""  # "friend," may still be the start of something
    assert scanner.feed(" are") == "friend, how "
    assert scanner.finish() == "are"


def test_text_without_spaces_is_not_held_whole() -> None:
    scanner = guard("redact")
    assert scanner.feed("東京は日本の首都です。") == "東京は日本の首都です。"


def test_hold_never_exceeds_holdback() -> None:
    url = "https://example.com/" + "segment/" * 40
    scanner = guard("redact", holdback=32)
    received = ""
    for position in range(0, len(url), 5):
        received += scanner.feed(url[position : position + 5])
        assert len(url[: position + 5]) - len(received) <= 32
    assert received + scanner.finish() == url


def test_long_secret_past_the_holdback_is_redacted_once() -> None:
    secret = "Zx9" + "aB3dEf9hIj2LmN4pQr7StUv0Wy5" * 6  # 165 random-looking characters
    text = f"token: {secret} done"
    for size in (1, 4, 7, 50):
        scanner = guard("redact", holdback=40)
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        out = "".join(stream(scanner, chunks))
        assert out == "token: [REDACTED_SECRET] done", size


def test_private_key_header_is_a_leak_before_the_key_arrives() -> None:
    scanner = guard("block")
    released = scanner.feed("Sure:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow")
    assert released == "Sure:\n"
    assert scanner.violation == "pii_leak:SECRET"


def test_overlapping_term_and_entity_redact_as_one() -> None:
    moderator = Moderator({"brand": ["example"]})
    scanner = guard("redact", moderator=moderator)
    out = "".join(stream(scanner, ["mail jane@exam", "ple.com now"]))
    assert out == "mail [REDACTED_EMAIL] now"
    assert scanner.hits == ["pii_leak:EMAIL", "moderation:brand"]


def test_block_stops_releasing_after_the_hit() -> None:
    scanner = guard("block")
    assert scanner.feed("They will kill ") == "They will "
    assert scanner.violation == "moderation:violence"
    assert scanner.feed("more text") == ""
    assert scanner.finish() == ""


def test_redact_goes_on_and_records_every_hit() -> None:
    scanner = guard("redact")
    out = "".join(stream(scanner, ["kill ", "and cocaine and ", "jane@example.com ", "end"]))
    assert out == "[REDACTED] and [REDACTED] and [REDACTED_EMAIL] end"
    assert scanner.violation == "moderation:violence"
    assert scanner.hits == ["moderation:violence", "moderation:drugs", "pii_leak:EMAIL"]


def test_allowed_values_are_released() -> None:
    scanner = guard("block", leaks=LeakScanner(DETECTOR, allowed=["jane@example.com"]))
    assert "".join(stream(scanner, ["Your mail is jane@", "example.com, right?"])) == (
        "Your mail is jane@example.com, right?"
    )
    assert scanner.violation is None


def test_unicode_offsets_survive_folding() -> None:
    text = "Die Straße: ｋｉｌｌ now"
    for chunks in splits(text):
        assert "".join(stream(guard("redact"), chunks)) == "Die Straße: [REDACTED] now"


def test_nothing_configured_is_a_pass_through() -> None:
    scanner = StreamTextGuard(moderator=None, leaks=None, canary=None, mode="block")
    assert scanner.feed("jane@") == "jane@"
    assert scanner.finish() == ""


def test_windows_stay_small_whatever_the_answer_length() -> None:
    seen: list[int] = []

    class CountingDetector(PiiDetector):
        def find(self, text: str) -> list[Any]:
            seen.append(len(text))
            return super().find(text)

    scanner = guard("redact", leaks=LeakScanner(CountingDetector()), holdback=64)
    text = "Order 12345 shipped to room 42 on floor 3. " * 200  # 8.6 KB with digits everywhere
    chunk = 4
    out = "".join(stream(scanner, (text[i : i + chunk] for i in range(0, len(text), chunk))))
    assert out == text
    assert max(seen) <= scanner.lookbehind + scanner.holdback + chunk
    assert sum(seen) <= len(text) * (scanner.lookbehind + scanner.holdback + chunk) / chunk


def test_scan_every_trades_latency_for_fewer_scans() -> None:
    scans: list[int] = []

    class CountingDetector(PiiDetector):
        def find(self, text: str) -> list[Any]:
            scans.append(len(text))
            return super().find(text)

    text = "Please write to jane.doe@example.com today and we will get back to you very soon. " * 3
    chunks = [text[i : i + 4] for i in range(0, len(text), 4)]
    counts = []
    for scan_every in (0, 16):
        scans.clear()
        scanner = guard("redact", leaks=LeakScanner(CountingDetector()), scan_every=scan_every)
        assert "".join(stream(scanner, chunks)) == text.replace("jane.doe@example.com", "[REDACTED_EMAIL]")
        counts.append(len(scans))
    assert counts[1] * 2 < counts[0]


# --- classifier ---------------------------------------------------------------------------------


class Classifier:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, text: str) -> Mapping[str, float]:
        self.calls.append(text)
        return {"spam": 1.0 if "buy now" in text else 0.0}


def test_classifier_runs_on_segments_and_can_stop_a_stream() -> None:
    classifier = Classifier()
    moderator = Moderator({}, classifier)
    scanner = guard("block", moderator=moderator, leaks=None, canary=None, classify_every=50)
    released = stream(scanner, ["calm words " * 6, "buy now " * 8, "tail"])
    assert scanner.violation == "moderation:spam"
    assert "buy now" not in "".join(released)
    assert len(classifier.calls) == 2


def test_classifier_sees_the_end_of_the_answer() -> None:
    classifier = Classifier()
    scanner = guard("warn", moderator=Moderator({}, classifier), classify_every=10_000)
    stream(scanner, ["short answer, buy now"])
    assert classifier.calls == ["short answer, buy now"]
    assert scanner.violation == "moderation:spam"


def test_failing_classifier_does_not_break_the_stream() -> None:
    def broken(text: str) -> Mapping[str, float]:
        raise RuntimeError("down")

    scanner = guard("block", moderator=Moderator({}, broken), leaks=None, canary=None, classify_every=5)
    assert "".join(stream(scanner, ["hello world", " again"])) == "hello world again"
    assert scanner.violation is None


# --- randomised: any chunking gives the result of scanning the whole text ------------------------

PIECES = [
    "hello", "world", "Kill", "killer", "how to make a bomb", "how to", "jane@example.com",
    "+1 415-555-2671", "4111 1111 1111 1111", "123-45-6789", "born on March 14, 1985", CANARY,
    "3f9a 0c1d 2e4b 5a69", "Straße", "ｋｉｌｌ", "東京", "cocaine", "call", "2024-01-02", ",", "\n",
    "k\u200bill", "cafe\u0301", "_",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(3))
def test_random_chunkings_match_whole_text_scanning(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(100):
        text = "".join(
            rng.choice(PIECES) + rng.choice([" ", "", "\n", ", "]) for _ in range(rng.randint(1, 10))
        )
        cuts = sorted(rng.sample(range(len(text) + 1), min(len(text) + 1, rng.randint(0, 8))))
        chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        for mode in ("redact", "block"):
            whole = guard(mode)
            expected = "".join(stream(whole, [text]))
            scanner = guard(mode, scan_every=rng.choice([0, 16]))
            assert "".join(stream(scanner, chunks)) == expected, (mode, chunks)
            assert scanner.violation == whole.violation
