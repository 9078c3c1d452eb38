"""Admission: the stage that says yes or no before any upstream call, and settles afterwards.

For each request it lists the limits that bind it (the key's, its user's and team's, the
end user's, the model group's and the feature's), turns them into counter checks and asks
the counters backend to reserve all of them at once: requests, the request's token estimate
(prompt + max output), a concurrency slot and the estimated dollars. One round trip on Redis.
After the response, the reservation is settled to what the provider reported, so a token
limit or a hard budget can only be overshot by what was in flight, never by the N-th request
that slipped through while usage was uncounted.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bastion.errors import GatewayError
from bastion.identity.principal import Principal
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
from bastion.limits.errors import CountersUnavailable
from bastion.limits.spec import LimitSpec, Period, period_window
from bastion.telemetry.usage_metrics import USAGE

log = logging.getLogger("bastion.limits")

MINUTE = 60.0
#: after the counters backend failed, requests skip it (fail open or closed at once) this long
BACKEND_RETRY_SECONDS = 1.0
#: budget counters are kept a day past their period, so a late settlement still finds them
BUDGET_GRACE_SECONDS = 86_400.0


class _Skipped(CountersUnavailable):
    """The backend was not asked: it failed less than ``BACKEND_RETRY_SECONDS`` ago."""


class RateLimited(GatewayError):
    status = 429
    kind = "rate_limit_error"


class BudgetExceeded(GatewayError):
    status = 429
    kind = "insufficient_quota"
    #: the refusing budget check, its owner and the counters that hold it (for the alert)
    budget: tuple[BudgetCheck, BudgetRef, Counters] | None = None


class LimitsUnavailable(GatewayError):
    status = 503
    kind = "api_error"


@dataclass(slots=True, frozen=True)
class Scope:
    """One holder of limits: a key, user, team, end user, model group or feature, and its limits."""

    kind: str
    ident: str
    spec: LimitSpec


@dataclass(slots=True)
class BudgetRef:
    """What a budget counter belongs to, for alerts and error messages."""

    scope: Scope
    period: Period
    limit_usd: float
    hard: bool


@dataclass(slots=True)
class Ticket:
    """A reservation to settle after the response."""

    counters: Counters
    lease_id: str
    reserved_tokens: int
    reserved_usd: float
    token_checks: list[RateCheck] = field(default_factory=list)
    budget_checks: list[BudgetCheck] = field(default_factory=list)
    concurrency_checks: list[ConcurrencyCheck] = field(default_factory=list)
    budgets: dict[str, BudgetRef] = field(default_factory=dict)  # by counter key
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)  # x-ratelimit-* for the response


class Admission:
    def __init__(
        self,
        *,
        end_users: LimitSpec,
        models: dict[str, LimitSpec],
        features: dict[str, LimitSpec],
        counters: Counters,
        fallback: Counters | None,
        fail_closed: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.end_users = None if end_users.empty else end_users
        self.models = {name: spec for name, spec in models.items() if not spec.empty}
        self.features = {name: spec for name, spec in features.items() if not spec.empty}
        self.counters = counters
        self.fallback = fallback
        self.fail_closed = fail_closed
        self.clock = clock
        self._backend_down = False
        self._skip_backend_until = 0.0

    def scopes(
        self, principal: Principal | None, model: str, end_user: str | None, feature: str | None
    ) -> list[Scope]:
        """Every holder of limits this request answers to (empty: admission is skipped)."""
        scopes: list[Scope] = []
        if principal is not None:
            if principal.key_limits is not None:
                scopes.append(Scope("key", principal.key_id, principal.key_limits))
            if principal.user_limits is not None and principal.user_id:
                scopes.append(Scope("user", principal.user_id, principal.user_limits))
            if principal.team_limits is not None and principal.team_id:
                scopes.append(Scope("team", principal.team_id, principal.team_limits))
        if self.end_users is not None and end_user:
            # end users are per tenant: the same `user` string under two teams is two people
            tenant = (principal.team_id or principal.key_id) if principal else "-"
            scopes.append(Scope("end_user", f"{tenant}/{end_user}", self.end_users))
        model_spec = self.models.get(model)
        if model_spec is not None:
            scopes.append(Scope("model", model, model_spec))
        if feature:
            feature_spec = self.features.get(feature)
            if feature_spec is not None:
                scopes.append(Scope("feature", feature, feature_spec))
        return scopes

    @staticmethod
    def needs_estimate(scopes: list[Scope]) -> tuple[bool, bool]:
        """(tokens, dollars): whether any scope limits tokens or spend, i.e. what the caller must estimate."""
        tokens = any(s.spec.tokens_per_minute is not None for s in scopes)
        dollars = any(s.spec.budget is not None and s.spec.budget.periods() for s in scopes)
        return tokens, dollars

    async def admit(self, scopes: list[Scope], reserved_tokens: int, reserved_usd: float) -> Ticket:
        """Reserve everything or nothing; raise ``RateLimited``/``BudgetExceeded`` when a limit refuses."""
        now = self.clock()
        ticket = Ticket(
            counters=self.counters,
            lease_id=os.urandom(8).hex(),
            reserved_tokens=reserved_tokens,
            reserved_usd=reserved_usd,
        )
        checks: list[Check] = []
        owners: list[tuple[Scope, str]] = []
        for scope in scopes:
            self._checks_for(scope, ticket, now, checks, owners)
        decision = await self._acquire(ticket, checks)
        ticket.headers = rate_limit_headers(decision, owners)
        if not decision.allowed:
            assert decision.denied_index is not None
            scope, limit = owners[decision.denied_index]
            USAGE.rejections.labels(scope.kind, limit).inc()
            refused = checks[decision.denied_index]
            error = self._refusal(scope, limit, refused, decision)
            for name, value in ticket.headers:
                error.headers[name.decode()] = value.decode()
            if isinstance(error, BudgetExceeded) and isinstance(refused, BudgetCheck):
                error.budget = (refused, ticket.budgets[refused.key], ticket.counters)
            raise error
        return ticket

    def _checks_for(
        self, scope: Scope, ticket: Ticket, now: float, checks: list[Check], owners: list[tuple[Scope, str]]
    ) -> None:
        spec = scope.spec
        base = f"{scope.kind}:{scope.ident}"
        if spec.requests_per_minute is not None:
            limit = spec.requests_per_minute
            checks.append(RateCheck(f"{base}:rpm", limit, MINUTE, limit, 1))
            owners.append((scope, "requests"))
        if spec.tokens_per_minute is not None:
            limit = spec.tokens_per_minute
            token_check = RateCheck(f"{base}:tpm", limit, MINUTE, limit, ticket.reserved_tokens)
            checks.append(token_check)
            owners.append((scope, "tokens"))
            ticket.token_checks.append(token_check)
        if spec.max_concurrent is not None:
            concurrency = ConcurrencyCheck(f"{base}:concurrent", spec.max_concurrent)
            checks.append(concurrency)
            owners.append((scope, "concurrency"))
            ticket.concurrency_checks.append(concurrency)
        if spec.budget is not None:
            hard = spec.budget.mode == "hard"
            for period, usd in spec.budget.periods():
                label, _, end = period_window(period, now)
                expires = end + BUDGET_GRACE_SECONDS if end else 0.0
                budget = BudgetCheck(
                    f"{base}:usd:{period}:{label}", usd, ticket.reserved_usd, hard, expires, resets_at=end
                )
                checks.append(budget)
                owners.append((scope, f"budget_{period}"))
                ticket.budget_checks.append(budget)
                ticket.budgets[budget.key] = BudgetRef(scope, period, usd, hard)

    async def _acquire(self, ticket: Ticket, checks: list[Check]) -> Decision:
        try:
            if self.clock() < self._skip_backend_until:
                # down a moment ago: do not make every request wait for its own time-out (and do not
                # push the window further: the first request after it tries the backend again)
                raise _Skipped("skipped: the limits backend failed less than a second ago")
            decision = await self.counters.acquire(checks, ticket.lease_id)
        except CountersUnavailable as error:
            if not isinstance(error, _Skipped):
                self._skip_backend_until = self.clock() + BACKEND_RETRY_SECONDS
            if self.fail_closed or self.fallback is None:
                USAGE.backend_errors.labels("fail_closed").inc()
                self._note_down(error)
                raise LimitsUnavailable(
                    "rate limits cannot be checked right now (the limits backend is unreachable); "
                    "retry shortly",
                    code="limits_unavailable",
                    retry_after_seconds=1,
                ) from None
            USAGE.backend_errors.labels("fail_open").inc()
            self._note_down(error)
            ticket.counters = self.fallback
            return await self.fallback.acquire(checks, ticket.lease_id)
        if self._backend_down:
            self._backend_down = False
            log.warning("limits backend reachable again; limits are global again")
        return decision

    def _note_down(self, error: Exception) -> None:
        if not self._backend_down:
            self._backend_down = True
            mode = (
                "refusing requests (fail_closed)"
                if self.fail_closed
                else "using per-process limits (fail_open)"
            )
            log.error("limits backend unreachable, %s: %s", mode, error)

    def _refusal(self, scope: Scope, limit: str, check: Check, decision: Decision) -> GatewayError:
        retry_after = decision.retry_after_seconds
        who = _describe(scope)
        if isinstance(check, BudgetCheck):
            period = limit.removeprefix("budget_")
            when = "" if period == "lifetime" else f"; it resets in {_duration(retry_after)}"
            return BudgetExceeded(
                f"Budget exceeded: {who} has a {period} budget of ${check.limit_usd:g}, and this request "
                f"(up to ${check.amount_usd:.6f}) would go over it{when}.",
                code="budget_exceeded",
                retry_after_seconds=retry_after if period != "lifetime" else None,
            )
        if isinstance(check, ConcurrencyCheck):
            return RateLimited(
                f"Rate limit reached: {who} allows {check.limit} concurrent requests. "
                "Retry when one finishes.",
                code="concurrency_limit_exceeded",
                retry_after_seconds=max(1.0, retry_after),
            )
        assert isinstance(check, RateCheck)
        if limit == "tokens" and check.cost > check.burst:
            return RateLimited(
                f"Request too large for the tokens-per-minute limit of {who}: it reserves "
                f"{check.cost} tokens (prompt estimate + max_tokens) and the limit is {check.limit} "
                "per minute. Lower max_tokens.",
                code="tokens_limit_exceeded",
            )
        unit = "requests" if limit == "requests" else "tokens"
        return RateLimited(
            f"Rate limit reached: {who} allows {check.limit} {unit} per minute. "
            f"Retry after {_duration(retry_after)}.",
            code=f"{unit}_limit_exceeded",
            retry_after_seconds=retry_after,
        )

    async def settle(self, ticket: Ticket, used_tokens: int, cost_usd: float) -> dict[str, float]:
        """Replace the reservation by what was used, free the concurrency slot; return budget totals."""
        adjustments: list[Adjustment] = []
        delta_tokens = used_tokens - ticket.reserved_tokens
        if delta_tokens:
            for check in ticket.token_checks:
                adjustments.append(RateAdjustment(check.key, check.limit, check.period, delta_tokens))
        delta_usd = cost_usd - ticket.reserved_usd
        for budget in ticket.budget_checks:
            adjustments.append(BudgetAdjustment(budget.key, delta_usd, budget.expires_at))
        for concurrency in ticket.concurrency_checks:
            adjustments.append(ConcurrencyRelease(concurrency.key))
        if not adjustments:
            return {}
        try:
            return await ticket.counters.settle(adjustments, ticket.lease_id)
        except CountersUnavailable as error:
            # the reservation stays charged (tokens, dollars) and the lease frees itself when it expires
            self._note_down(error)
            return {}


_HEADER_NAMES = {
    kind: (
        f"x-ratelimit-limit-{kind}".encode(),
        f"x-ratelimit-remaining-{kind}".encode(),
        f"x-ratelimit-reset-{kind}".encode(),
    )
    for kind in ("requests", "tokens")
}


def rate_limit_headers(decision: Decision, owners: list[tuple[Scope, str]]) -> list[tuple[bytes, bytes]]:
    """OpenAI's ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, from the tightest of each kind."""
    tightest: dict[str, CheckResult] = {}
    results = decision.results
    for index, (_, limit) in enumerate(owners):
        if limit == "requests" or limit == "tokens":
            result = results[index]
            best = tightest.get(limit)
            if best is None or result.remaining < best.remaining:
                tightest[limit] = result
    headers: list[tuple[bytes, bytes]] = []
    for kind, result in tightest.items():
        limit_name, remaining_name, reset_name = _HEADER_NAMES[kind]
        headers.append((limit_name, b"%d" % int(result.limit)))
        headers.append((remaining_name, b"%d" % max(0, int(result.remaining))))
        headers.append((reset_name, reset_value(result.reset_seconds).encode()))
    return headers


def reset_value(seconds: float) -> str:
    """OpenAI's reset format: ``20ms``, ``1.5s``, ``6m0s``, ``1h2m3s``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s" if hours else f"{minutes}m{secs}s"


def _describe(scope: Scope) -> str:
    names = {
        "key": "this API key",
        "user": f"user {scope.ident!r}",
        "team": f"team {scope.ident!r}",
        "end_user": f"end user {scope.ident.partition('/')[2]!r}",
        "model": f"model {scope.ident!r}",
        "feature": f"feature {scope.ident!r}",
    }
    return names.get(scope.kind, scope.kind)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    if seconds < 120:
        return f"{math.ceil(seconds)}s"
    if seconds < 7200:
        return f"{math.ceil(seconds / 60)} minutes"
    return f"{seconds / 3600:.1f} hours"
