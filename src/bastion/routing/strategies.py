"""Load balancing: which of a group's available deployments takes the next attempt.

Each strategy is a plain function of the candidates (already filtered by the breakers)
and an injected ``random.Random``, so a seeded generator makes every choice reproducible
in tests. Deterministic strategies break ties by the lower ``order`` (the order in the
config); p2c breaks them at random, so identical deployments share the load evenly.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from bastion.routing.stats import DeploymentStats

P2C_EPSILON_S = 0.001  # keeps in-flight counts meaningful for deployments with no latency yet


class Candidate(Protocol):
    """What a strategy needs to see of a deployment."""

    @property
    def stats(self) -> DeploymentStats: ...

    @property
    def weight(self) -> float: ...

    @property
    def order(self) -> int: ...


C = TypeVar("C", bound=Candidate)
Strategy = Callable[[Sequence[C], random.Random], C]


def _require(candidates: Sequence[C]) -> None:
    if not candidates:
        raise ValueError("no candidate deployments to choose from")


def priority(candidates: Sequence[C], rng: random.Random) -> C:
    """The first deployment in config order: a primary with fallbacks."""
    _require(candidates)
    return min(candidates, key=lambda c: c.order)


def weighted(candidates: Sequence[C], rng: random.Random) -> C:
    """Random, in proportion to ``weight``; weight 0 (or less) only serves when every weight is 0."""
    _require(candidates)
    weights = [max(c.weight, 0.0) for c in candidates]
    total = sum(weights)
    if total <= 0:
        return rng.choice(candidates)
    point = rng.random() * total
    for candidate, weight in zip(candidates, weights, strict=True):
        if point < weight:
            return candidate
        point -= weight
    # Rounding can leave the point a hair past the last boundary: take the last positive weight.
    return next(c for c, w in zip(reversed(candidates), reversed(weights), strict=True) if w > 0)


def least_inflight(candidates: Sequence[C], rng: random.Random) -> C:
    """The deployment with the fewest attempts in flight."""
    _require(candidates)
    return min(candidates, key=lambda c: (c.stats.in_flight, c.order))


def lowest_latency(candidates: Sequence[C], rng: random.Random) -> C:
    """The deployment with the lowest latency EWMA; an unmeasured one counts as 0, so it gets tried."""
    _require(candidates)
    return min(candidates, key=lambda c: (c.stats.ewma_latency_s or 0.0, c.order))


def p2c_score(candidate: Candidate) -> float:
    """Expected wait: latency EWMA scaled by the queue the new attempt would join."""
    stats = candidate.stats
    return ((stats.ewma_latency_s or 0.0) + P2C_EPSILON_S) * (stats.in_flight + 1)


def p2c(candidates: Sequence[C], rng: random.Random) -> C:
    """Power of two choices: sample two distinct deployments, take the lower ``p2c_score``.

    Comparing only two random ones (rather than always the global best) avoids herding every
    request onto the deployment that happened to look best a moment ago.
    """
    _require(candidates)
    if len(candidates) == 1:
        return candidates[0]
    first, second = (candidates[i] for i in rng.sample(range(len(candidates)), 2))
    # The pair is in random order, so a tie goes to a random one of the two.
    return second if p2c_score(second) < p2c_score(first) else first


STRATEGIES: dict[str, Strategy[Any]] = {
    "priority": priority,
    "weighted": weighted,
    "least_inflight": least_inflight,
    "lowest_latency": lowest_latency,
    "p2c": p2c,
}
DEFAULT_STRATEGY = "p2c"


def choose(name: str, candidates: Sequence[C], rng: random.Random) -> C:
    """Pick with the strategy called ``name``."""
    strategy = STRATEGIES.get(name)
    if strategy is None:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    chosen: C = strategy(candidates, rng)
    return chosen
