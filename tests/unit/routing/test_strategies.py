"""Load-balancing strategies, checked for their choices and, with a seeded rng, their spread."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import pytest

from bastion.routing.stats import DeploymentStats
from bastion.routing.strategies import DEFAULT_STRATEGY, STRATEGIES, choose, p2c, p2c_score, weighted

DRAWS = 10_000


@dataclass(frozen=True)
class Fake:
    name: str
    order: int
    weight: float = 1.0
    stats: DeploymentStats = field(default_factory=DeploymentStats)


def deployment(
    name: str, order: int, *, weight: float = 1.0, latency_s: float | None = None, in_flight: int = 0
) -> Fake:
    fake = Fake(name, order, weight)
    if latency_s is not None:
        fake.stats.record_success(latency_s)
    for _ in range(in_flight):
        fake.stats.started()
    return fake


def tally(strategy: str, candidates: list[Fake], seed: int = 7, draws: int = DRAWS) -> Counter[str]:
    rng = random.Random(seed)
    return Counter(choose(strategy, candidates, rng).name for _ in range(draws))


def test_registry() -> None:
    assert set(STRATEGIES) == {"priority", "weighted", "least_inflight", "lowest_latency", "p2c"}
    assert DEFAULT_STRATEGY == "p2c"


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_empty_candidates_raise(name: str) -> None:
    with pytest.raises(ValueError, match="no candidate"):
        choose(name, [], random.Random(0))


def test_unknown_strategy_raises() -> None:
    with pytest.raises(ValueError, match="unknown strategy 'fastest'"):
        choose("fastest", [deployment("a", 0)], random.Random(0))


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_single_candidate_is_chosen(name: str) -> None:
    only = deployment("a", 0, weight=0.0, latency_s=9.0, in_flight=9)
    assert choose(name, [only], random.Random(0)) is only


# --------------------------------------------------------------------------- priority


def test_priority_takes_the_lowest_order_whatever_the_list_order() -> None:
    candidates = [deployment("b", 2), deployment("a", 1, latency_s=9.0, in_flight=50), deployment("c", 3)]
    assert tally("priority", candidates, draws=100) == {"a": 100}


# --------------------------------------------------------------------------- weighted


def test_weighted_follows_the_weights() -> None:
    candidates = [deployment("a", 0, weight=1), deployment("b", 1, weight=3), deployment("c", 2, weight=6)]
    counts = tally("weighted", candidates)
    assert counts["a"] / DRAWS == pytest.approx(0.1, abs=0.015)
    assert counts["b"] / DRAWS == pytest.approx(0.3, abs=0.015)
    assert counts["c"] / DRAWS == pytest.approx(0.6, abs=0.015)


def test_weighted_never_picks_weight_zero() -> None:
    candidates = [
        deployment("off", 0, weight=0),
        deployment("a", 1, weight=1),
        deployment("off2", 2, weight=0),
    ]
    assert tally("weighted", candidates) == {"a": DRAWS}


def test_weighted_treats_negative_weight_as_zero() -> None:
    candidates = [deployment("neg", 0, weight=-5), deployment("a", 1, weight=1)]
    assert tally("weighted", candidates, draws=1000) == {"a": 1000}


def test_weighted_with_all_zero_weights_spreads_evenly() -> None:
    candidates = [deployment("a", 0, weight=0), deployment("b", 1, weight=0)]
    counts = tally("weighted", candidates)
    assert counts["a"] / DRAWS == pytest.approx(0.5, abs=0.02)


def test_weighted_survives_a_draw_at_the_top_edge() -> None:
    class TopOfRange(random.Random):
        def random(self) -> float:
            return 0.9999999999999999

    candidates = [
        deployment("a", 0, weight=0.1),
        deployment("b", 1, weight=0.2),
        deployment("z", 2, weight=0),
    ]
    assert weighted(candidates, TopOfRange()).name == "b"


# --------------------------------------------------------------------------- least in flight


def test_least_inflight_picks_the_idle_one() -> None:
    candidates = [
        deployment("busy", 0, in_flight=3),
        deployment("idle", 1),
        deployment("some", 2, in_flight=1),
    ]
    assert tally("least_inflight", candidates, draws=100) == {"idle": 100}


def test_least_inflight_ties_go_to_the_lower_order() -> None:
    candidates = [deployment("second", 1, in_flight=2), deployment("first", 0, in_flight=2)]
    assert choose("least_inflight", candidates, random.Random(0)).name == "first"


# --------------------------------------------------------------------------- lowest latency


def test_lowest_latency_picks_the_fastest() -> None:
    candidates = [deployment("slow", 0, latency_s=2.0), deployment("fast", 1, latency_s=0.3)]
    assert choose("lowest_latency", candidates, random.Random(0)).name == "fast"


def test_lowest_latency_explores_an_unmeasured_deployment() -> None:
    candidates = [deployment("known", 0, latency_s=0.01), deployment("new", 1)]
    assert choose("lowest_latency", candidates, random.Random(0)).name == "new"


def test_lowest_latency_ties_go_to_the_lower_order() -> None:
    candidates = [deployment("b", 1, latency_s=0.5), deployment("a", 0, latency_s=0.5)]
    assert choose("lowest_latency", candidates, random.Random(0)).name == "a"


# --------------------------------------------------------------------------- power of two choices


def test_p2c_score() -> None:
    assert p2c_score(deployment("a", 0, latency_s=0.5, in_flight=3)) == pytest.approx((0.5 + 0.001) * 4)
    assert p2c_score(deployment("new", 0)) == pytest.approx(0.001)
    assert p2c_score(deployment("new", 0, in_flight=1)) > p2c_score(deployment("new", 0))


def test_p2c_sends_most_traffic_away_from_a_slow_deployment() -> None:
    slow = deployment("slow", 0, latency_s=1.0)
    fast = [deployment(f"fast{i}", i + 1, latency_s=0.1) for i in range(3)]
    candidates = [slow, *fast]
    rng = random.Random(11)
    counts: Counter[str] = Counter()
    # Requests pile up as in flight, so the fast ones lose their edge once loaded 10x deeper.
    for step in range(DRAWS):
        chosen = p2c(candidates, rng)
        chosen.stats.started()
        counts[chosen.name] += 1
        if step % 4 == 3:  # drain everything now and then, keeping queues short
            for candidate in candidates:
                while candidate.stats.in_flight:
                    candidate.stats.finished()
    assert counts["slow"] / DRAWS < 0.05
    assert all(counts[f.name] / DRAWS > 0.25 for f in fast)


def test_p2c_with_two_always_compares_both() -> None:
    candidates = [deployment("slow", 0, latency_s=1.0), deployment("fast", 1, latency_s=0.1)]
    assert tally("p2c", candidates, draws=1000) == {"fast": 1000}


def test_p2c_prefers_an_idle_slow_deployment_to_a_deeply_queued_fast_one() -> None:
    candidates = [deployment("slow", 0, latency_s=1.0), deployment("fast", 1, latency_s=0.1, in_flight=20)]
    assert choose("p2c", candidates, random.Random(0)).name == "slow"


def test_p2c_spreads_evenly_over_identical_deployments() -> None:
    candidates = [deployment(name, i) for i, name in enumerate("abcd")]
    counts = tally("p2c", candidates)
    # Equal scores: the tie goes to a random one of the pair, not always to the lower order.
    for name in "abcd":
        assert counts[name] / DRAWS == pytest.approx(0.25, abs=0.02)


def test_p2c_is_reproducible_with_a_seed() -> None:
    candidates = [deployment(name, i, latency_s=0.1 * (i + 1)) for i, name in enumerate("abcde")]
    assert tally("p2c", candidates, seed=3, draws=200) == tally("p2c", candidates, seed=3, draws=200)
