"""``model: auto`` and other tier aliases: a complexity score picks a tier, the context window may lift it.

The decision comes from ``bastion.routing.complexity.ComplexityClassifier``, built per alias
with the alias's ``thresholds`` when it has them (``score <= thresholds[0]`` is the first,
cheapest tier, and so on; the last tier takes the rest). Without thresholds the classifier's
default tiers (small, medium, premium) apply; an alias whose tier names differ gets the
classifier's tiers by position, or the score spread evenly over its tiers.
A tier whose model group cannot hold the request (estimated prompt + ``max_tokens`` over every
allowed deployment's ``context_window``) is passed over for the next larger one that can.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from bastion.config import RouteAlias
from bastion.routing.residency import Residency
from bastion.routing.router import ModelGroup
from bastion.routing.tokens import estimate_request_tokens

log = logging.getLogger("bastion.routing")


class Classification(Protocol):
    tier: str
    score: float
    reason: str


class Classifier(Protocol):
    def classify(self, body: dict[str, Any]) -> Classification: ...


@dataclass(frozen=True, slots=True)
class _Fallback:
    tier: str
    score: float
    reason: str


class LengthClassifier:
    """Stands in while ``bastion.routing.complexity`` is not installed: longer prompts score higher."""

    def classify(self, body: dict[str, Any]) -> Classification:
        from bastion.routing.tokens import estimate_prompt_tokens

        tokens = estimate_prompt_tokens(body)
        score = min(1.0, tokens / 2000)
        tier = "small" if score < 0.35 else "medium" if score < 0.7 else "premium"
        return _Fallback(tier, score, f"~{tokens} prompt tokens (length heuristic)")


def make_classifier(thresholds: list[tuple[str, float]] | None = None) -> Classifier:
    """The complexity classifier with these (tier, upper bound) pairs; the length heuristic without it."""
    try:
        from bastion.routing.complexity import ComplexityClassifier
    except ImportError:
        log.warning("bastion.routing.complexity is missing: tier aliases use a prompt-length heuristic")
        return LengthClassifier()
    classifier: Classifier = ComplexityClassifier(thresholds)
    return classifier


@dataclass(frozen=True, slots=True)
class TierChoice:
    group: str
    tier: str
    reason: str


class TierAlias:
    def __init__(
        self,
        name: str,
        alias: RouteAlias,
        groups: dict[str, ModelGroup],
        classifier: Classifier | None = None,
    ) -> None:
        assert alias.tiers is not None
        self.name = name
        self.tiers = [(tier.name, groups[tier.model]) for tier in alias.tiers]
        self.names = [tier.name for tier in alias.tiers]
        self.thresholds = alias.thresholds
        # a classifier handed in (tests, benchmarks) knows nothing of this alias's thresholds
        self.by_score = classifier is not None and alias.thresholds is not None
        if classifier is None:
            bounds = None
            if alias.thresholds is not None:
                bounds = list(zip(self.names, [*alias.thresholds, 1.0], strict=True))
            classifier = make_classifier(bounds)
        self.classifier = classifier
        self.positions: list[str] = list(getattr(classifier, "tiers", []))
        self.windowed = any(s.context_window for _, g in self.tiers for s in g.deployments)

    def choose(self, body: dict[str, Any], residency: Residency | None) -> TierChoice:
        decision = self.classifier.classify(body)
        index = self._index(decision)
        reason = f"tier {self.names[index]}: {decision.reason}"
        if "score" not in decision.reason:
            reason += f" (score {decision.score:.2f})"
        if self.windowed or residency is not None:
            tokens = estimate_request_tokens(body) if self.windowed else 0
            for position in range(index, len(self.tiers)):
                if _fits(self.tiers[position][1], tokens, residency):
                    if position != index:
                        skipped = self.tiers[index][1]
                        why = (
                            f"~{tokens} tokens exceed its context window"
                            if _fits(skipped, 0, residency)
                            else "no deployment allowed by residency"
                        )
                        reason += f"; moved up from {self.names[index]} to {self.names[position]} ({why})"
                        index = position
                    break
        name, group = self.tiers[index]
        return TierChoice(group.name, name, reason)

    def _index(self, decision: Classification) -> int:
        if self.by_score and self.thresholds is not None:
            return bisect.bisect_left(self.thresholds, decision.score)
        if decision.tier in self.names:
            return self.names.index(decision.tier)
        if len(self.positions) == len(self.names) and decision.tier in self.positions:
            return self.positions.index(decision.tier)
        if self.thresholds is not None:
            return bisect.bisect_left(self.thresholds, decision.score)
        # the classifier's tiers do not line up with the alias's: spread the score evenly
        return min(int(decision.score * len(self.tiers)), len(self.tiers) - 1)


def fits(group: ModelGroup, tokens: int, residency: Residency | None) -> bool:
    """Some deployment of ``group`` holds ``tokens`` and is allowed by ``residency``."""
    return _fits(group, tokens, residency)


def _fits(group: ModelGroup, tokens: int, residency: Residency | None) -> bool:
    return any(
        (state.context_window is None or tokens <= state.context_window)
        and (residency is None or residency.allows(state.provider.name))
        for state in group.deployments
    )
