"""What a limit says: requests and tokens per minute, concurrency, and USD budgets per period.

One shape serves every scope (key, user, team, end user, model group, feature) and both
homes of a limit: the config file and the JSON stored with a key, user or team.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Period = Literal["day", "week", "month", "lifetime"]
PERIODS: tuple[Period, ...] = ("day", "week", "month", "lifetime")
#: bounds that keep counters exact: budgets are kept as integer nano-dollars (Redis: 64-bit)
MAX_BUDGET_USD = 1e9
MAX_RATE = 10**12


class BudgetSpec(BaseModel):
    """USD a scope may spend per calendar period (UTC); ``hard`` rejects, ``soft`` alerts only."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    day: float | None = Field(None, ge=0, le=MAX_BUDGET_USD)
    week: float | None = Field(None, ge=0, le=MAX_BUDGET_USD)
    month: float | None = Field(None, ge=0, le=MAX_BUDGET_USD)
    lifetime: float | None = Field(None, ge=0, le=MAX_BUDGET_USD)
    mode: Literal["hard", "soft"] = "hard"

    def periods(self) -> list[tuple[Period, float]]:
        return [(period, usd) for period in PERIODS if (usd := getattr(self, period)) is not None]


class LimitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    requests_per_minute: int | None = Field(None, ge=0, le=MAX_RATE)
    tokens_per_minute: int | None = Field(
        None, ge=0, le=MAX_RATE, description="input + output tokens, reserved up front"
    )
    max_concurrent: int | None = Field(
        None, ge=0, le=MAX_RATE, description="requests in flight (streams until they end)"
    )
    budget: BudgetSpec | None = None

    @property
    def empty(self) -> bool:
        return (
            self.requests_per_minute is None
            and self.tokens_per_minute is None
            and self.max_concurrent is None
            and (self.budget is None or not self.budget.periods())
        )


EMPTY = LimitSpec()


def parse_limits(raw: object) -> LimitSpec:
    """A stored limits dict as a ``LimitSpec`` (validated: a bad row is an error at load, not per request)."""
    if not raw:
        return EMPTY
    return LimitSpec.model_validate(raw)


_windows: dict[Period, tuple[str, float, float]] = {}


def period_window(period: Period, now: float) -> tuple[str, float, float]:
    """The period instance ``now`` falls in: its id, start and end (unix seconds, UTC); memoised."""
    cached = _windows.get(period)
    if cached is not None and cached[1] <= now < cached[2]:
        return cached
    window = _compute_window(period, now)
    _windows[period] = window
    return window


def _compute_window(period: Period, now: float) -> tuple[str, float, float]:
    if period == "lifetime":
        return "all", 0.0, 0.0
    day = dt.datetime.fromtimestamp(now, dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        start = day
        end = start + dt.timedelta(days=1)
        label = start.strftime("%Y%m%d")
    elif period == "week":
        start = day - dt.timedelta(days=day.weekday())  # ISO weeks start on Monday
        end = start + dt.timedelta(days=7)
        year, week, _ = start.isocalendar()
        label = f"{year}W{week:02d}"
    else:
        start = day.replace(day=1)
        end = start + dt.timedelta(days=calendar.monthrange(start.year, start.month)[1])
        label = start.strftime("%Y%m")
    return label, start.timestamp(), end.timestamp()
