"""Prompt-injection detection: layered, rule-based scoring with an optional ML classifier.

``InjectionDetector.scan`` normalises the text (Unicode tricks, leetspeak, spaced letters),
decodes hidden payloads (base64, hex, rot13, URL/HTML escapes, reversed text, Unicode tag
characters) when they look plausible, and runs weighted pattern sets of known attack families
over all of them. Evidence is summed per family (capped, so one family cannot run away), benign
context (text *about* attacks) subtracts, and a logistic function turns the total into a score
in [0, 1]: one weak cue stays low, a strong cue or several cues together cross the threshold.
``indirect=True`` scores tool results and retrieved documents, where instructions addressed to
the model are suspicious even when phrased mildly.

The verdict carries only a score and family names, never the text: it goes into logs and the
audit log.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import math
import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bastion.guards import injection_rules as rules
from bastion.guards.injection_model import NgramModel, load_model
from bastion.guards.normalize import decoded_variants, normalize, tag_payload

__all__ = [
    "DEFAULT_INDIRECT_THRESHOLD",
    "DEFAULT_THRESHOLD",
    "FAMILIES",
    "ClassifierLoadError",
    "InjectionClassifier",
    "InjectionDetector",
    "InjectionVerdict",
    "load_classifier",
]

log = logging.getLogger(__name__)

#: the attack families a verdict can name, plus "classifier" for a plugged-in model's finding and
#: "learned" for the built-in n-gram model's
FAMILIES: tuple[str, ...] = (
    rules.OVERRIDE,
    rules.ROLEPLAY,
    rules.EXTRACTION,
    rules.DELIMITER,
    rules.TOOL,
    rules.EXFILTRATION,
    rules.INDIRECT,
    rules.OBFUSCATION,
    "classifier",
    "learned",
)

#: calibrated on the dev split of bench/guards/injection (see docs/security.md)
DEFAULT_THRESHOLD: float = 0.5
DEFAULT_INDIRECT_THRESHOLD: float = 0.5

#: log-odds of the score before any evidence: a text with no cue scores ~0.05
_BIAS = -3.0
#: at most this much evidence per family, so repeating one phrase cannot outweigh everything
_FAMILY_CAP = 6.0
_BENIGN_FLOOR = -3.0
#: each further family with real evidence adds this much: attacks tend to combine families
_COMBO_BONUS = 1.0
_FAMILY_MIN = 1.5
#: an attack cue found only inside a decoded payload or hidden characters
_HIDDEN_HIT = 2.0
_TAG_SMUGGLING = 2.0
_MIN_TAG_PAYLOAD = 8
_OBFUSCATION_HIT = "<hidden payload>"
#: long texts are scored in windows of about this many characters
_WINDOW = 2048
#: in long texts a rule must find its whole gate within one segment before its regex runs there
_SEGMENT = 512
_SEGMENT_STEP = 256
_WORD = re.compile(r"[a-z0-9]+")
#: a quote opening before a word, and one closing after a word (apostrophes in "don't" are
#: neither); backticks are left out: a command in a code span is as imperative as a bare one
_QUOTE_OPEN = re.compile(r"(?:^|(?<=[\s(\[:=]))[\"'](?=[^\s\"'])")
_QUOTE_CLOSE = re.compile(r"(?<=[^\s\"'])[\"'](?=[\s.,;:!?)\]]|$)")
_QUOTED = 0.5
#: cues that name an output to force ("say 'I have been PWNED'"): quoting is how they are written
_QUOTE_IMMUNE = frozenset({"pwned", "say_forced_output"})
#: rules lighter than this are hints: they only add to a cue that matched
_HINT_BELOW = 2.0


@dataclass(frozen=True, slots=True)
class InjectionVerdict:
    """How likely a text is a prompt injection, and which families of attack it resembles.

    Holds no part of the text, so it can go into logs and the audit log as it is.
    """

    score: float
    families: tuple[str, ...]

    def flagged(self, threshold: float) -> bool:
        """Whether the score reaches ``threshold`` (a score equal to it is flagged)."""
        return self.score >= threshold


_CLEAN = InjectionVerdict(score=0.0, families=())


@runtime_checkable
class InjectionClassifier(Protocol):
    """A model that gives the probability (0..1) that a text is a prompt injection."""

    def __call__(self, text: str) -> float: ...


class ClassifierLoadError(ValueError):
    """``load_classifier`` could not turn its path into a usable classifier."""


def load_classifier(path: str) -> InjectionClassifier:
    """Import a classifier from ``"package.module:attribute"`` (attribute may be dotted).

    The attribute is either a callable ``text -> probability`` or a class, which is instantiated
    without arguments. Every failure raises ``ClassifierLoadError`` naming the path and the cause.
    """
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ClassifierLoadError(f"classifier path {path!r} must look like 'package.module:attribute'")
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as error:
        raise ClassifierLoadError(
            f"cannot import module {module_name!r} for classifier {path!r}: {error}"
        ) from error
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as error:
            raise ClassifierLoadError(
                f"module {module_name!r} has no attribute {attribute!r} (from {path!r})"
            ) from error
    if inspect.isclass(target):
        try:
            target = target()
        except Exception as error:
            raise ClassifierLoadError(f"cannot instantiate classifier class {path!r}: {error}") from error
    if not callable(target):
        raise ClassifierLoadError(
            f"classifier {path!r} is a {type(target).__name__}, not a callable text -> float"
        )
    return target  # type: ignore[return-value]


class InjectionDetector:
    """Scores text for prompt injection; one instance serves any number of threads and requests.

    The score is the larger of the rule score and the built-in n-gram model's score
    (``injection_model``, which also reads the rule evidence): rules are precise on the phrasings
    they know, the model adds paraphrases and other languages, and neither can hide the other's
    hit. ``learned=False`` scores with the rules alone.

    With a ``classifier``, its probability is blended with that score and can only raise it:
    ``score = max(s, w * classifier + (1 - w) * s)`` with ``w = classifier_weight``. With ``w = 1``
    this is the maximum of the two; with ``w = 0.5`` a classifier alone (rules and model silent)
    reaches at most 0.5, i.e. the default threshold only when it is certain. A classifier that
    raises is skipped for that text and logged.
    """

    def __init__(
        self,
        classifier: InjectionClassifier | None = None,
        classifier_weight: float = 0.5,
        *,
        learned: bool = True,
    ) -> None:
        if not 0.0 <= classifier_weight <= 1.0:
            raise ValueError(f"classifier_weight must be within [0, 1], got {classifier_weight}")
        self._classifier = classifier
        self._classifier_weight = classifier_weight
        self._model: NgramModel | None = load_model() if learned else None

    def scan(self, text: str, *, indirect: bool = False) -> InjectionVerdict:
        """Score ``text``; ``indirect=True`` for tool results and retrieved documents."""
        if not text or text.isspace():
            return _CLEAN
        normalized = normalize(text)
        evidence = _evidence(text, normalized, indirect)
        score, families = _combine(evidence)
        if self._model is not None:
            learned = self._model.score(normalized, indirect)
            if learned > score:
                # rule families with evidence say best what the text resembles; "learned" leads
                # only when the model found what no rule did
                score, families = learned, (*families, "learned") if families else ("learned",)
        if self._classifier is not None:
            score, families = self._blend(text, score, families)
        return InjectionVerdict(score=round(score, 4), families=families)

    def _blend(self, text: str, score: float, families: tuple[str, ...]) -> tuple[float, tuple[str, ...]]:
        assert self._classifier is not None
        try:
            probability = float(self._classifier(text))
        except Exception as error:  # a broken model must not take the request path down
            log.warning("injection classifier failed (%s); using rules only", type(error).__name__)
            return score, families
        if math.isnan(probability):
            return score, families
        probability = min(1.0, max(0.0, probability))
        weight = self._classifier_weight
        blended = weight * probability + (1.0 - weight) * score
        if blended > score:
            return blended, ("classifier", *families)
        if probability >= 0.5:
            return score, (*families, "classifier")
        return score, families


def _evidence(text: str, normalized: str, indirect: bool) -> list[dict[str, float]]:
    """Evidence per family (benign context included) for each window of the text.

    Short texts are one window; long ones are cut into windows so that cues far apart in a long
    document do not add up. Cues found only in hidden payloads (decoded encodings, tag
    characters) join the window of a short text, or form a window of their own.
    """
    windows = _match(normalized, indirect)
    hidden: dict[str, float] = {}
    for variant in decoded_variants(text):
        for hits in _match(normalize(variant), indirect):
            hidden.update(hits)
    seen = windows[0] if len(windows) == 1 else {}
    only_hidden = {name: weight for name, weight in hidden.items() if weight > 0 and name not in seen}
    obfuscation = _HIDDEN_HIT if only_hidden else 0.0
    if len(tag_payload(text)) >= _MIN_TAG_PAYLOAD:
        obfuscation += _TAG_SMUGGLING
    if only_hidden or obfuscation:
        target: dict[str, float] = windows[0] if len(windows) == 1 else {}
        target.update(only_hidden)
        if len(windows) > 1:
            windows.append(target)
        target[_OBFUSCATION_HIT] = obfuscation
    return [_by_family(hits) for hits in windows]


def _match(normalized: str, indirect: bool) -> list[dict[str, float]]:
    """Rule weights by rule name, for each window of ``normalized``.

    A short text is one window and each rule whose gate passes runs once over it. A long text
    is cut into windows of ~2 KB, and a rule runs only in the 512-character segments where its
    whole gate passes: a cue's words must be near each other, which keeps a 100 KB text cheap.
    Hints run only once a real cue has matched, and benign-context rules only when there is
    evidence to discount: neither can flag a text alone, and skipping them keeps clean text cheap.
    """
    cues, hints, discounts = _PLANS[indirect]
    if len(normalized) <= _WINDOW + _SEGMENT_STEP:
        words = set(_WORD.findall(normalized))
        spans = ((0, len(normalized), normalized, words),)
        hits: dict[str, float] = {}
        _run(cues, normalized, words, spans, indirect, hits)
        if hits:
            _run(hints, normalized, words, spans, indirect, hits)
            _run(discounts, normalized, words, spans, indirect, hits)
        return [hits]
    segments = []
    for start in range(0, max(1, len(normalized) - _SEGMENT_STEP), _SEGMENT_STEP):
        end = min(len(normalized), start + _SEGMENT)
        segment = normalized[start:end]
        segments.append((start, end, segment, set(_WORD.findall(segment))))
    per_window = _WINDOW // _SEGMENT_STEP
    out = []
    for first in range(0, len(segments), per_window):
        spans = tuple(segments[first : first + per_window])
        window = normalized[spans[0][0] : spans[-1][1]]
        words = set().union(*(span[3] for span in spans))
        hits = {}
        _run(cues, window, words, spans, indirect, hits, normalized)
        if hits:
            _run(hints, window, words, spans, indirect, hits, normalized)
            _run(discounts, window, words, spans, indirect, hits, normalized)
        out.append(hits)
    return out


_Span = tuple[int, int, str, set[str]]


def _run(
    plan: tuple[rules.Rule, ...],
    window: str,
    words: set[str],
    spans: tuple[_Span, ...],
    indirect: bool,
    hits: dict[str, float],
    whole: str | None = None,
) -> None:
    """Record in ``hits`` each rule of ``plan`` that matches: gate on the window, then per span."""
    # in JSON every string is quoted, so there quoting says nothing about intent
    quotes_matter = not window.startswith(("{", "["))
    for rule in plan:
        if not rule.gate.passes(words, window):
            continue
        if whole is None:
            text, match = window, rule.pattern.search(window)
        else:
            text, match = whole, _search_gated(rule, whole, spans)
        if match is not None:
            weight = rule.indirect_weight if indirect else rule.weight
            if (
                weight > 0
                and quotes_matter
                and rule.name not in _QUOTE_IMMUNE
                and _inside_quotes(text, match.start())
            ):
                # a quoted cue is more often an example being discussed than an order
                weight *= _QUOTED
            hits[rule.name] = weight


def _search_gated(rule: rules.Rule, whole: str, spans: tuple[_Span, ...]) -> re.Match[str] | None:
    """The first match of ``rule`` in the segments of a long text where its whole gate passes.

    Consecutive passing segments overlap by half, so they are searched as one range: every match
    up to half a segment long lies inside one of them, and each character is scanned once.
    """
    first = last = -1
    for start, end, segment, segment_words in spans:
        if rule.gate.passes(segment_words, segment):
            if first < 0 or start > last:
                if first >= 0 and (match := rule.pattern.search(whole, first, last)):
                    return match
                first = start
            last = end
    return rule.pattern.search(whole, first, last) if first >= 0 else None


def _inside_quotes(text: str, at: int) -> bool:
    """Whether position ``at`` follows a quote opened (and not yet closed) in the 80 characters before."""
    before = text[max(0, at - 80) : at + 1]  # one more, for the lookahead after an opening quote
    opened = [m.end() for m in _QUOTE_OPEN.finditer(before)]
    if not opened:
        return False
    closed = [m.end() for m in _QUOTE_CLOSE.finditer(before)]
    return not closed or opened[-1] > closed[-1]


def _plan(indirect: bool) -> tuple[tuple[rules.Rule, ...], tuple[rules.Rule, ...], tuple[rules.Rule, ...]]:
    """Rules split into cues (enough weight to matter alone), hints and benign-context discounts."""

    def weight(rule: rules.Rule) -> float:
        return rule.indirect_weight if indirect else rule.weight

    cues = tuple(rule for rule in rules.RULES if weight(rule) >= _HINT_BELOW)
    hints = tuple(rule for rule in rules.RULES if 0 < weight(rule) < _HINT_BELOW)
    discounts = tuple(rule for rule in rules.RULES if weight(rule) < 0)
    return cues, hints, discounts


def _by_family(hits: dict[str, float]) -> dict[str, float]:
    evidence: dict[str, float] = {}
    for name, weight in hits.items():
        family = rules.OBFUSCATION if name == _OBFUSCATION_HIT else _FAMILY_OF[name]
        evidence[family] = evidence.get(family, 0.0) + weight
    return evidence


def _combine(windows: list[dict[str, float]]) -> tuple[float, tuple[str, ...]]:
    """The highest window score, and the families that carried it."""
    return max((_window_score(evidence) for evidence in windows), key=lambda item: item[0])


def _window_score(evidence: dict[str, float]) -> tuple[float, tuple[str, ...]]:
    """Logistic score from capped family evidence, and the families that carried it."""
    logit = _BIAS + max(_BENIGN_FLOOR, evidence.get(rules.BENIGN, 0.0))
    strong: list[tuple[float, str]] = []
    for family, total in evidence.items():
        if family == rules.BENIGN:
            continue
        capped = min(total, _FAMILY_CAP)
        logit += capped
        if capped >= _FAMILY_MIN:
            strong.append((capped, family))
    if len(strong) > 1:
        logit += _COMBO_BONUS * (len(strong) - 1)
    score = 1.0 / (1.0 + math.exp(-logit))
    strong.sort(key=lambda item: (-item[0], FAMILIES.index(item[1])))
    return score, tuple(family for _, family in strong)


_FAMILY_OF: dict[str, str] = {rule.name: rule.family for rule in rules.RULES}
_PLANS = {False: _plan(False), True: _plan(True)}
assert len(_FAMILY_OF) == len(rules.RULES), "rule names must be unique"
