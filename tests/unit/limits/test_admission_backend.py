"""Admission when the counters backend fails: skip it for a second, then try it again."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bastion.limits.admission import Admission, LimitsUnavailable, Scope
from bastion.limits.checks import Check, Decision
from bastion.limits.errors import CountersUnavailable
from bastion.limits.memory import MemoryCounters
from bastion.limits.spec import LimitSpec


class Flaky(MemoryCounters):
    """Memory counters that fail the first ``failures`` acquires, like a Redis blip."""

    def __init__(self, clock: object, failures: int) -> None:
        super().__init__(clock)  # type: ignore[arg-type]
        self.failures = failures
        self.calls = 0

    async def acquire(self, checks: Sequence[Check], lease_id: str) -> Decision:
        self.calls += 1
        if self.calls <= self.failures:
            raise CountersUnavailable("connection refused")
        return await super().acquire(checks, lease_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


SCOPES = [Scope("key", "k", LimitSpec(requests_per_minute=1000))]


@pytest.mark.parametrize("fail_closed", [True, False])
async def test_one_blip_does_not_keep_the_backend_off(fail_closed: bool) -> None:
    clock = Clock()
    backend = Flaky(clock, failures=1)
    admission = Admission(
        end_users=LimitSpec(),
        models={},
        features={},
        counters=backend,
        fallback=None if fail_closed else MemoryCounters(clock),
        fail_closed=fail_closed,
        clock=clock,
    )
    outcomes = []
    for _ in range(8):  # a request every 0.5 s: the skip window must not keep sliding forward
        try:
            ticket = await admission.admit(SCOPES, 0, 0.0)
            outcomes.append("backend" if ticket.counters is backend else "fallback")
        except LimitsUnavailable:
            outcomes.append("refused")
        clock.now += 0.5
    failed = "refused" if fail_closed else "fallback"
    # the blip, one skipped request inside the second that follows, then the backend again
    assert outcomes[:2] == [failed, failed]
    assert outcomes[2:] == ["backend"] * 6
    assert backend.calls == 7  # the skipped request did not call it
