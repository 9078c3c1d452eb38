"""Moderation by term lists (normalised, on word boundaries) and the classifier hook."""

from __future__ import annotations

import time
from collections.abc import Mapping

import pytest

from bastion.guards.moderation import (
    PREFIX_LIMIT,
    ModerationVerdict,
    Moderator,
    fold,
    load_moderation_classifier,
)

CATEGORIES = {
    "violence": ["kill", "how to make a bomb", "re:blood(?:bath|shed)"],
    "drugs": ["cocaine", "Straße"],
}
MODERATOR = Moderator(CATEGORIES)


def categories(text: str, moderator: Moderator = MODERATOR) -> tuple[str, ...]:
    return moderator.check(text).categories


@pytest.mark.parametrize(
    "text",
    [
        "I will kill it",
        "KILL.",
        "Kill, then",
        "(kill)",
        "ｋｉｌｌ",  # full-width, NFKC
        "k\u200bi\u200dll",  # zero-width characters inside
        "\u00adkill\u00ad",  # soft hyphens
        "how to make a bomb",
        "How  To\nMake\ta BOMB?",
        "a bloodbath",
    ],
)
def test_terms_match_after_normalisation(text: str) -> None:
    assert categories(text) == ("violence",)


@pytest.mark.parametrize(
    "text",
    ["skill", "killer", "overkilled", "how to make a bombastic speech", "blood type"],
)
def test_terms_match_whole_words_only(text: str) -> None:
    assert categories(text) == ()


def test_patterns_apply_as_written() -> None:
    # no word boundaries are added around a ``re:`` term: the operator writes them if wanted
    assert categories("bloodshedding") == ("violence",)
    assert categories("a Bloodbath") == ("violence",)  # applied to the folded (lower-case) text


def test_case_folding_handles_expanding_letters() -> None:
    assert categories("STRASSE") == ("drugs",)
    assert categories("die straße") == ("drugs",)


def test_every_category_hit_is_reported_in_configuration_order() -> None:
    assert categories("cocaine and a kill") == ("violence", "drugs")


def test_verdict_names_categories_never_the_text() -> None:
    verdict = MODERATOR.check("I will kill it")
    assert verdict.flagged
    assert "kill" not in repr(verdict)


def test_clean_text() -> None:
    verdict = MODERATOR.check("A perfectly pleasant answer.")
    assert verdict == ModerationVerdict()
    assert not verdict.flagged


@pytest.mark.parametrize(
    ("categories_config", "message"),
    [
        ({"x": ["re:("]}, "invalid pattern"),
        ({"x": ["re:a*"]}, "matches the empty string"),
        ({"x": ["   "]}, "empty term"),
        ({"x": "kill"}, "must be a list"),
        ({"x": ["a" * 201]}, "longer than 200"),
    ],
)
def test_bad_configuration_is_refused_with_the_category_named(
    categories_config: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as error:
        Moderator(categories_config)  # type: ignore[arg-type]
    assert "'x'" in str(error.value)


def test_terms_sharing_prefixes() -> None:
    moderator = Moderator({"c": ["kill", "killer", "kills", "ki"]})
    for word in ("ki", "kill", "killer", "kills"):
        assert categories(f"the {word} here", moderator) == ("c",)
    assert categories("the killing", moderator) == ()


def test_longest_terms_compile_and_match() -> None:
    term = " ".join(["word"] * 40)  # 199 characters
    moderator = Moderator({"c": [term, "x" * 200]})
    assert categories(f"so {term} end", moderator) == ("c",)
    assert moderator.partial_start("so " + term[:90]) == 3
    # past PREFIX_LIMIT characters a partial is looked for only in the last ones (the hold is bounded anyway)
    text = "so " + term[:150]
    position = moderator.partial_start(text)
    assert position is not None and 0 < len(text) - position <= PREFIX_LIMIT


def test_term_with_punctuation_at_the_edges() -> None:
    moderator = Moderator({"c": ["c++", "#tag"]})
    assert categories("I write c++ daily", moderator) == ("c",)
    assert categories("see #tag", moderator) == ("c",)


def test_long_lists_stay_cheap() -> None:
    moderator = Moderator({"big": [f"term{n:05d}x" for n in range(5000)] + ["needle"]})
    text = "lorem ipsum dolor sit amet " * 40 + "needle"
    started = time.perf_counter()
    for _ in range(20):
        assert moderator.check(text).categories == ("big",)
    assert (time.perf_counter() - started) / 20 < 0.005


# --- spans for the stream guard ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["Straße kill now", "ﬁne kill now", "cafe\u0301 kill now", "a\u200b\u200bb kill now", "plain kill now"],
)
def test_folded_spans_map_back_to_the_original(text: str) -> None:
    folded = fold(text)
    matches = [m for m in MODERATOR.find_terms(folded.text) if m.category == "violence"]
    assert len(matches) == 1
    start, end = folded.span(matches[0].start, matches[0].end)
    assert text[start:end] == "kill"


def test_partial_term_at_the_end() -> None:
    folded = "and then how to ma"
    position = MODERATOR.partial_start(folded)
    assert position == folded.index("how")
    assert MODERATOR.partial_start("and then") is None
    assert MODERATOR.partial_start("a ski") is None  # not at a word start
    assert MODERATOR.partial_start("the k") == 4


# --- classifier ---------------------------------------------------------------------------------


def test_classifier_scores_over_the_threshold_flag() -> None:
    def classifier(text: str) -> Mapping[str, float]:
        return {"harassment": 0.9, "self_harm": 0.2}

    moderator = Moderator(CATEGORIES, classifier, threshold=0.5)
    verdict = moderator.check("you are awful")
    assert verdict.categories == ("harassment",)
    assert verdict.scores == {"harassment": 0.9}


def test_term_and_classifier_categories_merge() -> None:
    moderator = Moderator(CATEGORIES, lambda text: {"violence": 0.99, "hate": 0.7})
    assert moderator.check("kill").categories == ("violence", "hate")


def test_failing_classifier_does_not_fail_the_check() -> None:
    def broken(text: str) -> Mapping[str, float]:
        raise TimeoutError("model server down")

    verdict = Moderator(CATEGORIES, broken).check("kill it")
    assert verdict.categories == ("violence",)
    assert verdict.error == "classifier: TimeoutError"


class FakeClassifier:
    def __call__(self, text: str) -> Mapping[str, float]:
        return {"spam": 1.0 if "buy now" in text else 0.0}


def score_nothing(text: str) -> Mapping[str, float]:
    return {}


def test_load_classifier_function_and_class() -> None:
    function = load_moderation_classifier(f"{__name__}:score_nothing")
    assert function("x") == {}
    instance = load_moderation_classifier(f"{__name__}:FakeClassifier")
    assert Moderator({}, instance).check("buy now!").categories == ("spam",)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_colon_here", "expected 'package.module:attribute'"),
        ("bastion.no_such_module:x", "cannot import"),
        (f"{__name__}:missing", "has no"),
        (f"{__name__}:CATEGORIES", "not callable"),
    ],
)
def test_load_classifier_errors_are_clear(path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_moderation_classifier(path)
