"""The primary breaks while the secondary is healthy: clients must not notice.

Every scenario: a healthy warm-up on the primary, then the fault and a burst of mixed
requests (openai and anthropic SDKs, streams and non-streams, 12 at a time), then the heal
and the primary taking traffic back. Asserted each time: every request succeeds, the breaker
opens within a bounded number of requests, a dead primary gets no more than the breaker's
probes once it is open, nobody waits for a time-out, and traffic returns after recovery.
"""

from __future__ import annotations

import time

from tests.chaos.conftest import (
    Rig,
    RigFactory,
    failures,
    percentile,
    primary_attempts,
    probe_allowance,
    summary,
)
from tests.fakes.base import Chaos

WARMUP = 20
BURST = 300
CONCURRENCY = 12


async def warm_up(rig: Rig) -> None:
    outcomes = await rig.drive(WARMUP, concurrency=4)
    assert not failures(outcomes), summary(outcomes)
    assert {o.provider for o in outcomes} == {"primary"}


def first_skip(outcomes: list) -> int:
    """Position (in start order) of the first request the breaker sent straight to the secondary."""
    for position, outcome in enumerate(outcomes):
        if outcome.provider == "secondary" and outcome.attempts == 1:
            return position
    raise AssertionError("the breaker never opened: every request tried the primary first")


def assert_bounded_by_breaker(rig: Rig, outcomes: list, attempts_on_primary: int, started: float) -> None:
    """The breaker opened within a bounded number of requests; after it, only probes reached the primary."""
    consecutive = rig.breaker["consecutive_failures"]
    assert first_skip(outcomes) <= consecutive + CONCURRENCY, summary(outcomes)
    probes = probe_allowance(rig.breaker, time.monotonic() - started)
    # before opening: the failures that open it, plus the requests already in flight then
    assert attempts_on_primary <= consecutive + CONCURRENCY + probes, (attempts_on_primary, probes)


async def test_primary_hard_down(make_rig: RigFactory) -> None:
    rig = make_rig("openai", "anthropic")
    await warm_up(rig)
    rig.primary.pause()  # connections refused, pooled ones cut
    started = time.monotonic()
    outcomes = await rig.drive(BURST, concurrency=CONCURRENCY)
    assert not failures(outcomes), [o.error for o in failures(outcomes)][:5]
    assert rig.primary_state() in ("open", "half_open")
    attempts = primary_attempts(outcomes)
    assert_bounded_by_breaker(rig, outcomes, attempts, started)
    # a refused connection fails over at once: nobody waits for the connect or TTFT time-out
    assert max(o.elapsed for o in outcomes) < rig.settings["timeouts"]["connect_seconds"], summary(outcomes)
    assert sum(o.attempts for o in outcomes) / len(outcomes) <= 1.25

    rig.primary.resume()
    recovered = await rig.wait_for_recovery(deadline_seconds=8 * rig.breaker["open_seconds"] + 2)
    after = await rig.drive(40, concurrency=4)
    assert not failures(after) and {o.provider for o in after} == {"primary"}, summary(after)
    print(f"hard down: {summary(outcomes)}; primary attempts {attempts}; recovered in {recovered:.2f} s")


async def test_primary_erroring_30_percent(make_rig: RigFactory) -> None:
    """A share of errors: each one fails over at once; the error-rate rule opens the breaker."""
    rig = make_rig("gemini", "openai")
    await warm_up(rig)
    rig.primary.chaos = Chaos(error_rate=0.3, error_status=503, seed=7)
    received = len(rig.primary.requests)
    outcomes = await rig.drive(BURST, concurrency=CONCURRENCY)
    assert not failures(outcomes), [o.error for o in failures(outcomes)][:5]
    sent_to_primary = len(rig.primary.requests) - received
    # 30% of what reached the primary needed a second attempt, and the breaker cut that further
    assert sum(o.attempts for o in outcomes) / len(outcomes) <= 1.25, summary(outcomes)
    assert sent_to_primary < BURST, "the error-rate rule never moved traffic off the primary"
    rig.primary.chaos = None
    recovered = await rig.wait_for_recovery(deadline_seconds=8 * rig.breaker["open_seconds"] + 2)
    print(f"30% errors: {summary(outcomes)}; primary got {sent_to_primary}; recovered in {recovered:.2f} s")


async def test_primary_rate_limited_with_long_retry_after(make_rig: RigFactory) -> None:
    """429 + Retry-After: 30 (beyond max_retry_after_seconds): fail over now, never wait 30 s."""
    rig = make_rig("openai", "anthropic")
    await warm_up(rig)
    rig.primary.chaos = Chaos(error_rate=1.0, error_status=429, retry_after=30)
    received = len(rig.primary.requests)
    started = time.monotonic()
    outcomes = await rig.drive(BURST, concurrency=CONCURRENCY)
    assert not failures(outcomes), [o.error for o in failures(outcomes)][:5]
    assert max(o.elapsed for o in outcomes) < 1.0, summary(outcomes)
    assert_bounded_by_breaker(rig, outcomes, len(rig.primary.requests) - received, started)
    rig.primary.chaos = None
    recovered = await rig.wait_for_recovery(deadline_seconds=8 * rig.breaker["open_seconds"] + 2)
    print(f"429 retry-after 30: {summary(outcomes)}; recovered in {recovered:.2f} s")


async def test_primary_slow_first_token(make_rig: RigFactory) -> None:
    """TTFT degraded to 3 s: the latency breaker moves traffic; hedging spares the early requests."""
    ttft_timeout = 1.5
    rig = make_rig(
        "gemini",
        "anthropic",
        timeouts={"ttft_seconds": ttft_timeout},
        breaker={"ttft_threshold_ms": 250},
        hedge={"enabled": True, "after_ms": 300},
        # hedges spend the retry budget; this burst is small, so the default floor of 10 would run
        # out before the breaker opens (at production volume the 20% share covers it)
        retry_budget={"min_retries_per_second": 5},
    )
    await warm_up(rig)
    rig.primary.chaos = Chaos(ttft_seconds=3.0)
    started = time.monotonic()
    outcomes = await rig.drive(BURST, concurrency=CONCURRENCY)
    assert not failures(outcomes), [o.error for o in failures(outcomes)][:5]
    snapshot = rig.primary_snapshot()
    assert snapshot["breaker"]["state"] in ("open", "half_open"), snapshot
    # with a healthy secondary, nobody waits for the primary's TTFT time-out
    assert max(o.elapsed for o in outcomes) < ttft_timeout, summary(outcomes)
    # the first wave of requests finds the breaker closed; after it, only probes meet the slow primary
    slow = [o for o in outcomes if o.hedged or o.attempts > 1]
    bound = CONCURRENCY + probe_allowance(rig.breaker, time.monotonic() - started) + 2
    assert len(slow) <= bound, summary(outcomes)
    served = [o.elapsed for o in outcomes if not o.hedged and o.attempts == 1]
    assert percentile(served, 0.95) < 0.25, summary(outcomes)
    rig.primary.chaos = None
    recovered = await rig.wait_for_recovery(deadline_seconds=8 * rig.breaker["open_seconds"] + 3)
    print(f"slow TTFT: {summary(outcomes)}; {len(slow)} hedged; recovered in {recovered:.2f} s")
