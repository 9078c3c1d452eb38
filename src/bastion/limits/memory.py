"""Limit counters in this process's memory: exact for one process, gone on restart.

This module also holds the arithmetic both backends share (GCRA, nano-dollars, how a check's
state becomes a ``CheckResult``), so the Redis backend's Lua script only decides and writes, and
its answers are turned into results by the very functions used here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from bastion.limits.checks import (
    Adjustment,
    BudgetAdjustment,
    BudgetCheck,
    Check,
    CheckResult,
    ConcurrencyCheck,
    ConcurrencyRelease,
    Counters,
    Decision,
    RateAdjustment,
    RateCheck,
)

NANO_PER_USD = 1_000_000_000

# Slack in the GCRA comparison, in seconds. A TAT near 1.7e9 s carries ~1e-7 s of float rounding
# per addition, which would otherwise flip requests that arrive exactly on the emission schedule;
# one microsecond is also the resolution of Redis TIME. The Lua script uses the same constant.
SLACK_SECONDS = 1e-6


def to_nano(usd: float) -> int:
    """USD as integer nano-dollars: budgets add integers, so 1000 x $0.000001 is exactly $0.001."""
    return round(usd * NANO_PER_USD)


def to_usd(nano: int) -> float:
    return nano / NANO_PER_USD


def rate_parameters(limit: int, period: float, burst: int) -> tuple[float, int]:
    """The emission interval T and the tolerance in units; a limit or period <= 0 admits nothing.

    Admitting nothing is expressed as a tolerance of -1 (no request, not even of cost 0, fits).
    """
    if limit <= 0 or period <= 0:
        return 1.0, -1
    return period / limit, burst


def rate_result(
    check: RateCheck, interval: float, tolerance: int, base: float, now: float, passed: bool, applied: bool
) -> CheckResult:
    """A rate check's result from max(TAT, now) before the decision (``applied``: reserved)."""
    # Conditionals rather than max/min/floor: this runs once per rate check on the hot path.
    tat = base + check.cost * interval if applied else base
    ahead = tat - now
    units = (tolerance * interval - ahead + SLACK_SECONDS) / interval
    remaining = int(units) if units >= 1.0 else 0  # floor, for the values that matter
    if remaining > tolerance:
        remaining = tolerance if tolerance > 0 else 0
    retry_after = 0.0
    # A cost above the burst can never pass: waiting does not help, so no retry time is given.
    if not passed and check.cost <= tolerance:
        retry_after = base + check.cost * interval - tolerance * interval - now
        if retry_after < 0.0:
            retry_after = 0.0
    return CheckResult(passed, check.limit, remaining, ahead, retry_after)


def concurrency_result(
    check: ConcurrencyCheck, live: int, held: bool, passed: bool, applied: bool
) -> CheckResult:
    """A concurrency check's result from the live leases before the decision (``held``: ours is one)."""
    free = check.limit - (live + 1 if applied and not held else live)
    return CheckResult(passed, check.limit, free if free > 0 else 0, 0.0, 0.0)


def budget_result(
    check: BudgetCheck, limit: int, spent: int, amount: int, now: float, passed: bool, applied: bool
) -> CheckResult:
    """A budget check's result from the nano-dollars counted before the decision (limit in nano too)."""
    left = limit - (spent + amount if applied else spent)
    resets_at = check.expires_at if check.resets_at is None else check.resets_at
    reset = resets_at - now if resets_at else 0.0
    if reset < 0.0:
        reset = 0.0
    return CheckResult(
        passed, check.limit_usd, left / NANO_PER_USD if left > 0 else 0.0, reset, 0.0 if passed else reset
    )


def decision(allowed: bool, results: list[CheckResult]) -> Decision:
    """The decision over all results: the first refusal, and the longest wait among refusals."""
    if allowed:
        return Decision(True, results)
    denied_index = None
    retry_after = 0.0
    for index, result in enumerate(results):
        if not result.allowed:
            if denied_index is None:
                denied_index = index
            retry_after = max(retry_after, result.retry_after_seconds)
    return Decision(False, results, denied_index, retry_after)


class _Leases:
    """The leases of one concurrency key: lease id -> expiry, and a lower bound of the expiries."""

    __slots__ = ("holders", "soonest")

    def __init__(self) -> None:
        self.holders: dict[str, float] = {}
        self.soonest = math.inf

    def purge(self, now: float) -> None:
        if now >= self.soonest:
            self.holders = {lease: expiry for lease, expiry in self.holders.items() if expiry > now}
            self.soonest = min(self.holders.values(), default=math.inf)


class MemoryCounters(Counters):
    """Counters in plain dicts. ``acquire`` never awaits, so it is atomic on the event loop.

    Idle entries (a TAT in the past, a budget past ``expires_at``, expired leases and markers)
    read as absent immediately and are dropped by a sweep at most every ``sweep_seconds``.
    """

    def __init__(self, clock: Callable[[], float] = time.time, sweep_seconds: float = 10.0) -> None:
        self._clock = clock
        self._sweep_seconds = sweep_seconds
        self._next_sweep = clock() + sweep_seconds
        self._tats: dict[str, float] = {}
        self._leases: dict[str, _Leases] = {}
        self._budgets: dict[str, list] = {}  # key -> [nano-dollars, expires_at]
        self._markers: dict[str, float] = {}  # marker -> expires_at

    async def acquire(self, checks: Sequence[Check], lease_id: str) -> Decision:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        tats = self._tats
        budgets = self._budgets
        # Evaluate every check against the state before the decision (the hot path: helpers are
        # inlined where a call would cost as much as the work).
        states: list[tuple] = []
        allowed = True
        for check in checks:
            kind = type(check)
            if kind is RateCheck:
                interval, tolerance = rate_parameters(check.limit, check.period, check.burst)
                tat = tats.get(check.key, now)
                base = tat if tat > now else now
                passed = base + check.cost * interval - now <= tolerance * interval + SLACK_SECONDS
                states.append((check, passed, interval, tolerance, base))
            elif kind is BudgetCheck:
                entry = budgets.get(check.key)
                if entry is not None and 0 < entry[1] <= now:  # the period ended: a new counter
                    del budgets[check.key]
                    entry = None
                spent = 0 if entry is None else entry[0]
                amount = round(check.amount_usd * NANO_PER_USD)
                limit = round(check.limit_usd * NANO_PER_USD)
                passed = not check.hard or spent + amount <= limit
                states.append((check, passed, limit, spent, amount))
            else:
                leases = self._leases.get(check.key)
                if leases is None:
                    live, held = 0, False
                else:
                    leases.purge(now)
                    live, held = len(leases.holders), lease_id in leases.holders
                passed = held or live < check.limit
                states.append((check, passed, live, held, None))
            if not passed:
                allowed = False
        if allowed:
            return Decision(True, self._reserve(states, lease_id, now))
        results = []
        for check, passed, first, second, third in states:
            kind = type(check)
            if kind is RateCheck:
                results.append(rate_result(check, first, second, third, now, passed, False))
            elif kind is BudgetCheck:
                results.append(budget_result(check, first, second, third, now, passed, False))
            else:
                results.append(concurrency_result(check, first, second, passed, False))
        return decision(False, results)

    def _reserve(self, states: list[tuple], lease_id: str, now: float) -> list[CheckResult]:
        """Apply every reservation; return the results after them."""
        tats = self._tats
        results = []
        for check, _, first, second, third in states:
            kind = type(check)
            if kind is RateCheck:
                # Add to the current TAT, not the one evaluated: two checks on one key both count,
                # as in the Lua script.
                tat = tats.get(check.key, now)
                tats[check.key] = (tat if tat > now else now) + check.cost * first
                results.append(rate_result(check, first, second, third, now, True, True))
            elif kind is BudgetCheck:
                entry = self._budgets.get(check.key)
                if entry is None:
                    self._budgets[check.key] = [third, check.expires_at]
                else:  # live: the evaluation dropped an ended one
                    entry[0] += third
                    if check.expires_at > 0:
                        entry[1] = check.expires_at
                results.append(budget_result(check, first, second, third, now, True, True))
            else:
                leases = self._leases.get(check.key)
                if leases is None:
                    leases = self._leases[check.key] = _Leases()
                expiry = now + check.lease_seconds
                leases.holders[lease_id] = expiry
                if expiry < leases.soonest:
                    leases.soonest = expiry
                results.append(concurrency_result(check, first, second, True, True))
        return results

    async def settle(self, adjustments: Sequence[Adjustment], lease_id: str) -> dict[str, float]:
        now = self._clock()
        totals: dict[str, float] = {}
        for adjustment in adjustments:
            if isinstance(adjustment, RateAdjustment):
                self._adjust_rate(adjustment, now)
            elif isinstance(adjustment, BudgetAdjustment):
                spent = self._spent(adjustment.key, now)
                total = max(0, spent + to_nano(adjustment.delta_usd))  # a refund stops at zero
                if total != spent or adjustment.key in self._budgets:
                    self._add_spent(adjustment.key, total - spent, adjustment.expires_at)
                totals[adjustment.key] = to_usd(total)
            elif isinstance(adjustment, ConcurrencyRelease):
                leases = self._leases.get(adjustment.key)
                if leases is not None:
                    leases.holders.pop(lease_id, None)
                    if not leases.holders:
                        del self._leases[adjustment.key]
        return totals

    def _adjust_rate(self, adjustment: RateAdjustment, now: float) -> None:
        interval, tolerance = rate_parameters(adjustment.limit, adjustment.period, 1)
        if tolerance < 0 or adjustment.delta == 0:
            return
        tat = self._tats.get(adjustment.key, now)
        base = tat if tat > now else now
        if adjustment.delta > 0:
            tat = base + adjustment.delta * interval
        else:
            tat = max(now, tat + adjustment.delta * interval)
        if tat > now:
            self._tats[adjustment.key] = tat
        else:
            self._tats.pop(adjustment.key, None)

    async def budget_totals(self, keys: Sequence[str]) -> dict[str, float]:
        now = self._clock()
        return {key: to_usd(self._spent(key, now)) for key in keys}

    async def seed_budget(self, key: str, spent_usd: float, expires_at: float) -> None:
        now = self._clock()
        if self._live_budget(key, now) is None and not 0 < expires_at <= now:
            self._budgets[key] = [to_nano(spent_usd), expires_at]

    async def first_time(self, marker: str, expires_at: float) -> bool:
        now = self._clock()
        expiry = self._markers.get(marker)
        if expiry is not None and (expiry == 0 or expiry > now):
            return False
        if 0 < expires_at <= now:
            self._markers.pop(marker, None)
        else:
            self._markers[marker] = expires_at
        return True

    def _live_budget(self, key: str, now: float) -> list | None:
        entry = self._budgets.get(key)
        if entry is not None and 0 < entry[1] <= now:
            del self._budgets[key]
            return None
        return entry

    def _spent(self, key: str, now: float) -> int:
        entry = self._live_budget(key, now)
        return 0 if entry is None else entry[0]

    def _add_spent(self, key: str, amount: int, expires_at: float) -> None:
        """Add to a live (or missing) budget counter, like INCRBY; a positive expires_at replaces the old."""
        entry = self._budgets.get(key)
        if entry is None:
            self._budgets[key] = [amount, expires_at]
        else:
            entry[0] += amount
            if expires_at > 0:
                entry[1] = expires_at

    def _sweep(self, now: float) -> None:
        """Drop every entry that already reads as absent, so memory follows live keys only."""
        self._next_sweep = now + self._sweep_seconds
        self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        self._budgets = {key: entry for key, entry in self._budgets.items() if not 0 < entry[1] <= now}
        self._markers = {key: expiry for key, expiry in self._markers.items() if not 0 < expiry <= now}
        for leases in self._leases.values():
            leases.purge(now)
        self._leases = {key: leases for key, leases in self._leases.items() if leases.holders}
