"""Budget alerts: a hard budget that starts refusing alerts once, even before spend reaches 100%."""

from __future__ import annotations

import logging

import pytest

from bastion.limits.admission import Admission, BudgetExceeded, Scope
from bastion.limits.alerts import BudgetAlerts
from bastion.limits.memory import MemoryCounters
from bastion.limits.spec import BudgetSpec, LimitSpec


async def test_first_refusal_of_a_hard_budget_alerts_once(caplog: pytest.LogCaptureFixture) -> None:
    counters = MemoryCounters()
    admission = Admission(
        end_users=LimitSpec(), models={}, features={}, counters=counters, fallback=None, fail_closed=True
    )
    alerts = BudgetAlerts([0.8, 1.0], webhook_url=None)
    scopes = [Scope("team", "search", LimitSpec(budget=BudgetSpec(day=1.0)))]
    await admission.admit(scopes, 10, 0.6)  # reserved 60%: nothing settled yet
    refusals = 0
    with caplog.at_level(logging.WARNING, logger="bastion.budget"):
        for _ in range(3):
            try:
                await admission.admit(scopes, 10, 0.6)
            except BudgetExceeded as error:
                refusals += 1
                assert error.budget is not None
                await alerts.refused(*error.budget)
    assert refusals == 3
    lines = [r.getMessage() for r in caplog.records if "requests are refused" in r.getMessage()]
    assert len(lines) == 1 and "team search" in lines[0]
