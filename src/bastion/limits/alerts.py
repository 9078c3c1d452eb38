"""Budget alerts: a log line, a metric and an optional webhook when spend crosses a threshold.

Each threshold of each budget period alerts once, across every replica (the counters
backend de-duplicates), so a soft budget at 100% does not page on every request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp

from bastion.limits.admission import BudgetRef, Ticket
from bastion.limits.checks import BudgetCheck, Counters
from bastion.telemetry.usage_metrics import USAGE

log = logging.getLogger("bastion.budget")


class BudgetAlerts:
    def __init__(self, thresholds: list[float], webhook_url: str | None) -> None:
        self.thresholds = thresholds
        self.webhook_url = webhook_url
        self._session: aiohttp.ClientSession | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def check(self, counters: Counters, ticket: Ticket, totals: dict[str, float]) -> None:
        for key, total in totals.items():
            ref = ticket.budgets.get(key)
            if ref is None or ref.limit_usd <= 0:
                continue
            for threshold in self.thresholds:
                if total + 1e-12 < threshold * ref.limit_usd:
                    break
                budget = next(b for b in ticket.budget_checks if b.key == key)
                if not await counters.first_time(f"alert:{key}:{threshold:g}", budget.expires_at):
                    continue
                event = {
                    "type": "budget.threshold_crossed",
                    "scope": ref.scope.kind,
                    "id": ref.scope.ident,
                    "period": ref.period,
                    "threshold": threshold,
                    "budget_usd": ref.limit_usd,
                    "spent_usd": round(total, 9),
                    "mode": "hard" if ref.hard else "soft",
                    "at": time.time(),
                }
                USAGE.budget_alerts.labels(ref.scope.kind, ref.period, f"{threshold:g}").inc()
                log.warning(
                    "budget alert: %s %s spent $%.4f of its %s budget $%g (%d%%, %s)",
                    ref.scope.kind,
                    ref.scope.ident,
                    total,
                    ref.period,
                    ref.limit_usd,
                    round(threshold * 100),
                    event["mode"],
                )
                self._send(event)

    async def refused(self, check: BudgetCheck, ref: BudgetRef, counters: Counters) -> None:
        """A hard budget refused its first request this period: alert once, even if spend is under 100%.

        Reservations can refuse a request before settled spend reaches the limit; without this the
        budget would be stopping traffic with no alert at all.
        """
        if not await counters.first_time(f"alert:{check.key}:refused", check.expires_at):
            return
        event = {
            "type": "budget.exhausted",
            "scope": ref.scope.kind,
            "id": ref.scope.ident,
            "period": ref.period,
            "budget_usd": ref.limit_usd,
            "mode": "hard",
            "at": time.time(),
        }
        USAGE.budget_alerts.labels(ref.scope.kind, ref.period, "refused").inc()
        log.warning(
            "budget alert: %s %s reached its %s budget $%g: requests are refused until it resets",
            ref.scope.kind,
            ref.scope.ident,
            ref.period,
            ref.limit_usd,
        )
        self._send(event)

    def _send(self, event: dict[str, Any]) -> None:
        if self.webhook_url:
            task = asyncio.create_task(self._post(event))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _post(self, event: dict[str, Any]) -> None:
        assert self.webhook_url is not None
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        try:
            async with self._session.post(self.webhook_url, json=event) as response:
                if response.status >= 300:
                    log.warning("budget alert webhook answered %d", response.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("budget alert webhook failed: %s", type(error).__name__)

    async def close(self) -> None:
        if self._pending:
            await asyncio.wait(self._pending, timeout=5)
        if self._session is not None:
            await self._session.close()
