"""The counters admission checks, as plain values a backend evaluates atomically.

Admission turns a request into a list of checks (one per scope and limit), a ``Counters``
backend evaluates them all-or-nothing in one step (one Redis round trip), and after the
response the reservations are settled to what the provider reported.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(slots=True, frozen=True)
class RateCheck:
    """GCRA: ``limit`` units per ``period`` seconds, at most ``burst`` at once; reserves ``cost`` units.

    Requests per minute are ``cost=1``; tokens per minute reserve the request's estimate.
    """

    key: str
    limit: int
    period: float
    burst: int
    cost: int


@dataclass(slots=True, frozen=True)
class ConcurrencyCheck:
    """At most ``limit`` requests in flight; a slot a crashed holder never released frees after its lease."""

    key: str
    limit: int
    lease_seconds: float = 3600.0  # longer than any stream runs; a crashed holder frees within the hour


@dataclass(slots=True, frozen=True)
class BudgetCheck:
    """USD spent plus reserved in one budget period; a hard budget rejects, a soft one only records.

    ``key`` names the scope and the period instance (``...:day:20261127``); ``expires_at`` (unix
    seconds, 0 = never) is when the counter may be dropped, after the period ended; ``resets_at``
    is when the period ends, what a refusal's Retry-After counts to (None: ``expires_at``).
    """

    key: str
    limit_usd: float
    amount_usd: float
    hard: bool
    expires_at: float = 0.0
    resets_at: float | None = None


Check = RateCheck | ConcurrencyCheck | BudgetCheck


@dataclass(slots=True)
class CheckResult:
    """One check's state after the decision (what ``x-ratelimit-*`` headers report)."""

    allowed: bool
    limit: float
    remaining: float  # units (or USD) still available right now, after this request's reservation
    reset_seconds: float  # until the counter is back to its full allowance (or the budget period ends)
    retry_after_seconds: float = 0.0  # when denied: the earliest moment the same request could pass


@dataclass(slots=True)
class Decision:
    allowed: bool
    results: list[CheckResult] = field(default_factory=list)  # aligned with the checks
    denied_index: int | None = None  # the first check that refused
    retry_after_seconds: float = 0.0


@dataclass(slots=True, frozen=True)
class RateAdjustment:
    """Settle a ``RateCheck`` reservation: ``delta`` units more (or fewer, negative) than reserved."""

    key: str
    limit: int
    period: float
    delta: int


@dataclass(slots=True, frozen=True)
class BudgetAdjustment:
    """Settle a ``BudgetCheck`` reservation: ``delta_usd`` is actual cost minus the amount reserved."""

    key: str
    delta_usd: float
    expires_at: float = 0.0


@dataclass(slots=True, frozen=True)
class ConcurrencyRelease:
    key: str


Adjustment = RateAdjustment | BudgetAdjustment | ConcurrencyRelease


class Counters(ABC):
    """A store of limit counters: in memory (one process) or Redis (exact across replicas)."""

    @abstractmethod
    async def acquire(self, checks: Sequence[Check], lease_id: str) -> Decision:
        """Evaluate every check; reserve all of them only if all pass (atomically)."""

    @abstractmethod
    async def settle(self, adjustments: Sequence[Adjustment], lease_id: str) -> dict[str, float]:
        """Apply reconciliations and releases; return the new USD total of every budget key adjusted."""

    @abstractmethod
    async def budget_totals(self, keys: Sequence[str]) -> dict[str, float]:
        """USD spent plus reserved per budget key (missing keys are 0)."""

    @abstractmethod
    async def seed_budget(self, key: str, spent_usd: float, expires_at: float) -> None:
        """Set a budget counter from the ledger if no counter exists yet (start-up)."""

    @abstractmethod
    async def first_time(self, marker: str, expires_at: float) -> bool:
        """True once per marker across every replica (alert de-duplication)."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect (Redis) or nothing (memory)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
