"""The accounting stage: reserve before the call, settle and record after it.

``admit`` runs on the request path (after validation, before routing): it sizes the request
(prompt tokens from the tokenizer plus the output it may produce, and the dollars that could
cost at the dearest deployment that may answer) only when some limit needs those numbers,
then asks admission to reserve. ``finish`` runs after the response has gone: it prices what
the provider reported, settles the reservation, raises budget alerts and queues the ledger row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from bastion.accounting.catalog import PriceCatalog
from bastion.accounting.ledger import BatchWriter
from bastion.accounting.pricing import BilledTokens, Cost, estimate_cost, tokens_cost
from bastion.accounting.tokens import TokenCounter
from bastion.context import RequestContext
from bastion.limits.admission import Admission, BudgetExceeded, Ticket
from bastion.limits.alerts import BudgetAlerts
from bastion.store.records import LedgerRow
from bastion.telemetry.deferred import deferred
from bastion.telemetry.request_metrics import observe_request
from bastion.telemetry.usage_metrics import USAGE

if TYPE_CHECKING:
    from bastion.audit.writer import AuditLog

log = logging.getLogger("bastion.accounting")

ZERO_COST = Cost()
NO_TOKENS = BilledTokens(0, 0, 0, 0, 0)
#: distinct x-bastion-feature values that get their own metric label (per process)
MAX_FEATURE_LABELS = 100


class UsageRecorder:
    def __init__(
        self,
        *,
        admission: Admission,
        alerts: BudgetAlerts,
        catalog: PriceCatalog,
        tokens: TokenCounter,
        ledger: BatchWriter[LedgerRow] | None,
        default_output_tokens: int,
        families: dict[str, str],
        audit: AuditLog | None = None,
    ) -> None:
        self.admission = admission
        self.alerts = alerts
        self.catalog = catalog
        self.tokens = tokens
        self.ledger = ledger
        self.default_output_tokens = default_output_tokens
        self.families = families  # model group -> tokenizer family of its first deployment
        self.audit = audit  # the audit stage: one entry per finished request, queued in ``finish``
        self._unpriced_logged: set[tuple[str, str]] = set()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._feature_labels: set[str] = set()

    async def admit(self, ctx: RequestContext, group: str, body: dict[str, Any], kind: str) -> None:
        """Reserve against every limit that binds this request; raises 429 when one refuses."""
        if self.audit is not None and self.audit.captures_answer:
            ctx.capture_answer = True  # the output path then keeps the answer text for the audit entry
        scopes = self.admission.scopes(ctx.principal, group, ctx.end_user, ctx.feature)
        if not scopes:
            return
        wants_tokens, wants_dollars = self.admission.needs_estimate(scopes)
        reserved_tokens = 0
        reserved_usd = 0.0
        if wants_tokens or wants_dollars:
            family = self.families.get(group, "openai")
            if kind == "embeddings":
                prompt = self.tokens.count_embedding_input(body.get("input"))
                output = 0
            else:
                prompt = self.tokens.count_chat(body, family)
                output = _max_output(body, self.default_output_tokens)
            reserved_tokens = prompt + output
            if wants_dollars:
                reserved_usd = self.catalog.reservation_usd(group, prompt, output)
        try:
            ticket = await self.admission.admit(scopes, reserved_tokens, reserved_usd)
        except BudgetExceeded as error:
            if error.budget is not None:
                await self.alerts.refused(*error.budget)
            raise
        ctx.ticket = ticket
        ctx.rate_limit_headers = ticket.headers

    def finish(self, ctx: RequestContext, status: int) -> Coroutine[Any, Any, None] | None:
        """Price the answer, queue the ledger row and audit entry, and settle the reservation. Never raises.

        All of it is done on the spot, except settling a reservation (limits in a shared counter
        backend): that is returned as a coroutine for the caller to await. Without limits a
        request ends with no await and no task.
        """
        try:
            # the usage split once into billed counts: for the metrics, the cost and the ledger row
            served_from_cache = ctx.cache_status in ("hit", "semantic-hit")
            usage = None if served_from_cache or not isinstance(ctx.usage, dict) else ctx.usage
            tokens = NO_TOKENS if usage is None else BilledTokens.from_usage(usage)
        except Exception:
            log.exception("reading the usage of request %s failed", ctx.request_id)
            usage, tokens = None, NO_TOKENS
        observe_request(ctx, status, (tokens.prompt, tokens.completion))  # the request's timings end here
        try:
            return self._finish(ctx, status, usage, tokens)
        except Exception:
            log.exception("accounting failed for request %s", ctx.request_id)
            return None

    def _finish(
        self, ctx: RequestContext, status: int, usage: dict[str, Any] | None, tokens: BilledTokens
    ) -> Coroutine[Any, Any, None] | None:
        now = time.perf_counter()
        duration = now - ctx.started
        ticket = ctx.ticket
        estimated = False
        served_from_cache = ctx.cache_status in ("hit", "semantic-hit")
        price = None if ctx.degraded else self.catalog.for_answer(ctx.provider, ctx.upstream_model)
        if served_from_cache:
            # nothing went upstream: no tokens used, no cost (the saving is on the ledger row)
            used_tokens = 0
            cost = ZERO_COST
        elif usage is not None:
            cost = tokens_cost(tokens, price, duration) if price is not None else ZERO_COST
            used_tokens = tokens.prompt + tokens.completion
        elif ctx.first_byte_at is not None and ctx.provider and not ctx.degraded:
            # a stream cut short before its usage arrived: the provider billed something we cannot
            # see, so the request is charged its reservation (prompt + the output it may produce),
            # priced at the deployment that answered, and the row says it is an estimate
            estimated = True
            prompt, output = self._reservation_tokens(ctx)
            used_tokens = prompt + output
            charged = estimate_cost(prompt, output, price) if price is not None else 0.0
            if ticket is not None:
                used_tokens = max(used_tokens, ticket.reserved_tokens)
                charged = max(charged, ticket.reserved_usd)
            cost = Cost(total=charged, input=charged)
        else:
            used_tokens = 0
            cost = ZERO_COST
        if (
            price is None
            and usage is not None
            and ctx.provider
            and not ctx.degraded
            and not served_from_cache
        ):
            self._note_unpriced(ctx.provider, ctx.upstream_model or "?")
        try:
            row = self._row(ctx, status, tokens, cost, estimated, duration)
            self._count(row)
            if self.ledger is not None and not self.ledger.submit(row):
                USAGE.ledger_dropped.inc()
            if self.audit is not None:
                self.audit.record_request(ctx, row)  # a queue append: hashing and sealing come later
        except Exception:  # the reservation is settled all the same: no slot may outlive its request
            log.exception("recording request %s failed", ctx.request_id)
        if ticket is None:
            return None
        return self._settle(ctx, ticket, used_tokens, cost.total)

    async def _settle(self, ctx: RequestContext, ticket: Ticket, used_tokens: int, cost_usd: float) -> None:
        """Turn the reservation into what was used; raise budget alerts that crossed a threshold."""
        try:
            totals = await self.admission.settle(ticket, used_tokens, cost_usd)
            if totals:
                await self.alerts.check(ticket.counters, ticket, totals)
        except Exception:
            log.exception("settling the limits of request %s failed", ctx.request_id)

    def _reservation_tokens(self, ctx: RequestContext) -> tuple[int, int]:
        body = ctx.request_body if isinstance(ctx.request_body, dict) else {}
        family = self.families.get(ctx.model or "", "openai")
        return self.tokens.count_chat(body, family), _max_output(body, self.default_output_tokens)

    def _row(
        self,
        ctx: RequestContext,
        status: int,
        tokens: BilledTokens,
        cost: Cost,
        estimated: bool,
        duration: float,
    ) -> LedgerRow:
        principal = ctx.principal
        cache_status = ctx.cache_status
        return LedgerRow(
            request_id=ctx.request_id,
            ts=time.time() - duration,
            key_id=principal.key_id if principal is not None else None,
            user_id=principal.user_id if principal is not None else None,
            team_id=principal.team_id if principal is not None else None,
            end_user=ctx.end_user,
            feature=ctx.feature,
            model=ctx.model,
            provider=ctx.provider,
            deployment=ctx.upstream_model,
            route=ctx.route,
            stream=ctx.stream,
            prompt_tokens=tokens.prompt,
            completion_tokens=tokens.completion,
            cached_tokens=tokens.cached_input,
            cache_write_tokens=tokens.cache_write,
            reasoning_tokens=tokens.reasoning,
            cost_usd=cost.total,
            usage_estimated=estimated,
            cache_hit=cache_status if cache_status in ("hit", "semantic-hit") else None,
            cost_saved_usd=ctx.cost_saved_usd,
            latency_ms=duration * 1000,
            ttft_ms=(ctx.first_byte_at - ctx.started) * 1000 if ctx.first_byte_at is not None else None,
            status=status,
            error_code=ctx.error_code,
            attempts=ctx.attempts,
            cache_similarity=ctx.cache_similarity if cache_status == "semantic-hit" else None,
            route_rule=ctx.route_rule,
            variant=ctx.variant,
            fallbacks=",".join(ctx.fallbacks) if ctx.fallbacks else None,
            guards=_guards(ctx) if ctx.guards else None,
            breaker_skips=ctx.breaker_skips,
            hedged=ctx.hedged,
            degraded=ctx.degraded,
            upstream_ms=ctx.upstream_seconds * 1000 if ctx.upstream_seconds else None,
            limit_state=_limit_state(ctx.rate_limit_headers) if ctx.rate_limit_headers else None,
        )

    def _count(self, row: LedgerRow) -> None:
        group = row.model or ""
        if row.prompt_tokens or row.completion_tokens:
            for kind, value in (
                ("input", row.prompt_tokens),
                ("output", row.completion_tokens),
                ("cached_input", row.cached_tokens),
                ("cache_write", row.cache_write_tokens),
                ("reasoning", row.reasoning_tokens),
            ):
                if value:
                    self._child(USAGE.tokens, group, kind).inc(value)
        if row.cost_usd:
            self._child(USAGE.cost, group, self._feature_label(row.feature)).inc(row.cost_usd)

    def _feature_label(self, feature: str | None) -> str:
        """The feature as a metric label: the first ``MAX_FEATURE_LABELS`` tags seen, then ``other``.

        Feature tags come from a client header; a label per value would let any client grow the
        metrics without bound. The ledger keeps every tag.
        """
        if not feature:
            return ""
        if feature in self._feature_labels:
            return feature
        if len(self._feature_labels) < MAX_FEATURE_LABELS:
            self._feature_labels.add(feature)
            return feature
        return "other"

    def _child(self, metric: Counter, *labels: str) -> Counter:
        """A metric's labelled child, cached: ``labels()`` is too slow to call per request."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            if len(self._children) > 10_000:  # unbounded feature tags must not grow memory forever
                self._children.clear()
            child = self._children[key] = deferred(metric.labels(*labels))
        return child

    def _note_unpriced(self, provider: str, model: str) -> None:
        USAGE.unpriced.labels(provider, model).inc()
        if (provider, model) not in self._unpriced_logged:
            self._unpriced_logged.add((provider, model))
            log.warning(
                "no price for %s/%s: its requests are counted at $0 (set pricing: in the config)",
                provider,
                model,
            )


def _max_output(body: dict[str, Any], default: int) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return default


def _guards(ctx: RequestContext) -> str | None:
    """The guard decisions as one short, secret-free line for the request log."""
    if not ctx.guards:
        return None
    return ";".join(
        f"{d.stage}:{d.guard}={d.action}" + (f"({d.detail})" if d.detail else "") for d in ctx.guards
    )[:1000]


def _limit_state(headers: list[tuple[bytes, bytes]] | None) -> str | None:
    """``requests 59/60, tokens 1200/150000``: what the binding rate limits had left after admission."""
    if not headers:
        return None
    values = {name.decode(): value.decode() for name, value in headers}
    parts = []
    for kind in ("requests", "tokens"):
        remaining = values.get(f"x-ratelimit-remaining-{kind}")
        limit = values.get(f"x-ratelimit-limit-{kind}")
        if remaining is not None and limit is not None:
            parts.append(f"{kind} {remaining}/{limit}")
    return ", ".join(parts) or None
