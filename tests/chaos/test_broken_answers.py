"""The primary answers, but badly: malformed JSON, or streams that stall or reset mid-way.

Malformed JSON (a 200 whose body or first event is not JSON) is a failure of that deployment,
not of the request: Bastion fails over like for a 5xx.

A stream that breaks *after* its first chunk cannot fail over: the client already has the
response headers and part of the answer, and a second deployment would answer differently.
By design Bastion ends such a stream with the protocol's error event (the OpenAI SDK raises
``APIError``, the Anthropic SDK raises ``APIStatusError``). Those are the only failures allowed
here, they are counted separately, and the breaker bounds how many there are.
"""

from __future__ import annotations

import time

import pytest

from tests.chaos.conftest import RigFactory, failures, probe_allowance, summary
from tests.chaos.test_failover import CONCURRENCY, warm_up
from tests.fakes.base import Chaos


@pytest.mark.parametrize(
    ("primary", "secondary"), [("openai", "anthropic"), ("anthropic", "gemini"), ("gemini", "openai")]
)
async def test_primary_sends_malformed_json(make_rig: RigFactory, primary: str, secondary: str) -> None:
    rig = make_rig(primary, secondary)
    await warm_up(rig)
    rig.primary.chaos = Chaos(malformed_json=True)
    received = len(rig.primary.requests)
    started = time.monotonic()
    outcomes = await rig.drive(150, concurrency=CONCURRENCY)
    assert not failures(outcomes), [o.error for o in failures(outcomes)][:5]
    sent_to_primary = len(rig.primary.requests) - received
    allowance = probe_allowance(rig.breaker, time.monotonic() - started)
    assert sent_to_primary <= rig.breaker["consecutive_failures"] + CONCURRENCY + allowance, summary(outcomes)
    assert max(o.elapsed for o in outcomes) < 1.0, summary(outcomes)
    print(f"malformed {primary}: {summary(outcomes)}; primary got {sent_to_primary}")


@pytest.mark.parametrize(
    ("primary", "secondary", "chaos"),
    [
        ("openai", "anthropic", Chaos(stall_after_chunks=2)),
        ("anthropic", "openai", Chaos(reset_after_chunks=3)),
    ],
    ids=["stall", "reset"],
)
async def test_primary_breaks_mid_stream(
    make_rig: RigFactory, primary: str, secondary: str, chaos: Chaos
) -> None:
    ttft_timeout = 2.0  # well clear of the idle time-out below: stalls must end at the idle one
    rig = make_rig(
        primary,
        secondary,
        timeouts={"ttft_seconds": ttft_timeout, "idle_seconds": 0.4},
        hedge={"enabled": True, "after_ms": 300},
        retry_budget={"min_retries_per_second": 5},
    )
    await warm_up(rig)
    rig.primary.chaos = chaos
    received = len(rig.primary.requests)
    async with rig.watch() as watch:
        started = time.monotonic()
        outcomes = await rig.drive(200, concurrency=CONCURRENCY)
    broken = [o for o in outcomes if o.midstream_failure]
    assert [o for o in failures(outcomes) if not o.midstream_failure] == [], summary(outcomes)
    assert {o.sdk for o in outcomes if o.stream} == {"openai", "anthropic"}
    assert all(o.provider == "primary" for o in broken)
    assert watch.opened_at is not None, "the breaker never opened"
    # only streams already running on the primary before the breaker opened, and probes, broke
    allowance = probe_allowance(rig.breaker, time.monotonic() - watch.opened_at)
    assert len(broken) <= rig.breaker["consecutive_failures"] + CONCURRENCY + allowance, summary(outcomes)
    late = [o for o in broken if o.started > watch.opened_at]
    assert len(late) <= allowance, late
    # a stalled stream ends at the idle time-out, not never; nobody waits for the TTFT time-out
    assert max(o.elapsed for o in outcomes) < ttft_timeout, summary(outcomes)
    sent_to_primary = len(rig.primary.requests) - received
    rig.primary.chaos = None
    recovered = await rig.wait_for_recovery(deadline_seconds=8 * rig.breaker["open_seconds"] + 2)
    print(
        f"mid-stream {chaos}: {summary(outcomes)}; {len(broken)} broken after the first byte "
        f"({sum(o.sdk == 'anthropic' for o in broken)} anthropic SDK) "
        f"({len(late)} after opening); breaker open after {watch.opened_at - started:.2f} s; "
        f"primary got {sent_to_primary}; recovered in {recovered:.2f} s"
    )
