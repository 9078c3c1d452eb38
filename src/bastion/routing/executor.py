"""Execute a request on a model group: choose a deployment, attempt, recover.

The order of recovery, per request:
  1. pick a deployment of the group by its strategy, skipping open breakers and deployments
     whose context window the request does not fit;
  2. attempt it under the group's timeouts (a stream's TTFT timeout fails over before the
     client has a byte); optionally hedge a slow first attempt on a second deployment;
  3. on a retryable failure, fail over to an untried deployment at once, or retry the same one
     after jittered backoff (honouring Retry-After up to a bound); every attempt after the
     first spends the shared retry budget, so an outage cannot multiply upstream load;
  4. when the group is exhausted, walk its fallback chain of other groups (also for a refusal
     on content-policy grounds and for prompts too large for every deployment);
  5. when everything failed, answer the group's static reply (``x-bastion-degraded: static``).
Streams fail over only before their first chunk; after it, a failure ends the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from bastion.config import StaticProviderConfig
from bastion.context import RequestContext
from bastion.errors import ProviderError
from bastion.providers.base import ChatRequest, Deployment, EmbeddingsRequest, Json
from bastion.providers.static import StaticProvider
from bastion.routing.residency import UNSATISFIABLE
from bastion.routing.retry import RetryBudget, wait_before_retry
from bastion.routing.router import DeploymentState, ModelGroup, Router
from bastion.routing.strategies import STRATEGIES
from bastion.routing.tokens import estimate_request_tokens
from bastion.telemetry.metrics import METRICS
from bastion.telemetry.state import TELEMETRY

log = logging.getLogger("bastion.routing")

T = TypeVar("T")
Call = Callable[[DeploymentState], Awaitable[T]]
Batch = list[Json]
Stream = tuple[Batch, AsyncIterator[Batch]]

#: failures after which another model group may still succeed
_FALLBACK_CODES = frozenset(
    {"upstream_auth_failed", "context_window_exceeded", "no_available_deployment", "content_policy"}
)
_STATIC_DEPLOYMENT = Deployment("static-reply", "static")


class Executor:
    def __init__(
        self,
        router: Router,
        budget: RetryBudget,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.router = router
        self.budget = budget
        self.rng = rng or random.Random()
        self.clock = clock
        self.sleep = sleep
        self._static: dict[str, StaticProvider] = {}

    # ------------------------------------------------------------------ public operations

    async def chat(self, ctx: RequestContext, group: ModelGroup, request: ChatRequest) -> Json:
        response = await self._chat(ctx, group, request)
        guard = ctx.output_guard
        if guard is not None and guard.schemas is not None and ctx.degraded is None:
            # structured output that does not match its schema is re-asked with the error fed back

            async def again(body: Json) -> Json:
                return await self._chat(ctx, group, ChatRequest(body, request.model, False))

            response = await guard.enforce_schema(request.body, response, again)
            ctx.usage = response.get("usage")
        return response

    async def _chat(self, ctx: RequestContext, group: ModelGroup, request: ChatRequest) -> Json:
        async def call(state: DeploymentState) -> Json:
            return await state.provider.chat(request, state.deployment)

        try:
            response: Json = await self._execute(ctx, group, request.body, call, streaming=False)
        except ProviderError as error:
            static = self._last_resort(group, error)
            if static is None:
                raise
            ctx.degraded = "static"
            ctx.provider, ctx.upstream_model = static.name, _STATIC_DEPLOYMENT.model
            response = await static.chat(request, _STATIC_DEPLOYMENT)
        ctx.usage = response.get("usage")
        return response

    async def open_stream(self, ctx: RequestContext, group: ModelGroup, request: ChatRequest) -> Stream:
        """Start a stream; return its first batch of chunks and the rest (failures here can fail over)."""

        async def call(state: DeploymentState) -> Stream:
            chunks = state.provider.stream_batches(request, state.deployment)
            try:
                first = await anext(chunks)
            except StopAsyncIteration:
                raise ProviderError(
                    f"{state.provider.name}: upstream ended the stream without sending anything",
                    provider=state.provider.name,
                    retryable=True,
                    code="upstream_empty_stream",
                ) from None
            except BaseException:
                await _close(chunks)
                raise
            return first, chunks

        try:
            return await self._execute(ctx, group, request.body, call, streaming=True)
        except ProviderError as error:
            static = self._last_resort(group, error)
            if static is None:
                raise
            ctx.degraded = "static"
            ctx.provider, ctx.upstream_model = static.name, _STATIC_DEPLOYMENT.model
            chunks = static.stream_batches(request, _STATIC_DEPLOYMENT)
            return await anext(chunks), chunks

    async def embeddings(self, ctx: RequestContext, group: ModelGroup, request: EmbeddingsRequest) -> Json:
        async def call(state: DeploymentState) -> Json:
            return await state.provider.embeddings(request, state.deployment)

        response: Json = await self._execute(ctx, group, request.body, call, streaming=False)
        ctx.usage = response.get("usage")
        return response

    # ------------------------------------------------------------------ groups and fallbacks

    async def _execute(
        self, ctx: RequestContext, group: ModelGroup, body: Json, call: Call[T], *, streaming: bool
    ) -> T:
        tracing = TELEMETRY.tracing
        if tracing is None:
            return await self._execute_chain(ctx, group, body, call, streaming=streaming)
        with tracing.stage("execute", {"bastion.model_group": group.name}):
            return await self._execute_chain(ctx, group, body, call, streaming=streaming)

    async def _execute_chain(
        self, ctx: RequestContext, group: ModelGroup, body: Json, call: Call[T], *, streaming: bool
    ) -> T:
        self.budget.record_request()
        chain = [group, *(self.router.groups[name] for name in group.config.fallbacks)]
        needs_tokens = any(s.context_window for g in chain for s in g.deployments)
        tokens = estimate_request_tokens(body) if needs_tokens else 0
        last_error: ProviderError | None = None
        upstream_error: ProviderError | None = None  # the last failure of a deployment that was allowed
        for position, current in enumerate(chain):
            is_last = position == len(chain) - 1
            if position:
                ctx.fallbacks.append(current.name)
                METRICS.fallbacks.labels(group.name, current.name).inc()
                log.info("request %s falls back to model group %s", ctx.request_id, current.name)
            try:
                result = await self._run_group(ctx, current, call, streaming, tokens, is_last)
            except ProviderError as error:
                last_error = error
                if error.code != UNSATISFIABLE:
                    upstream_error = error
                moves_on = error.retryable or error.code in _FALLBACK_CODES or error.code == UNSATISFIABLE
                if is_last or not moves_on:
                    if ctx.residency is not None and moves_on:
                        # fail closed, and say why nothing else was tried
                        if upstream_error is None:
                            raise
                        raise ctx.residency.unavailable(upstream_error) from error
                    raise
                continue
            if not streaming and not is_last and current.config.content_policy_fallback and _refused(result):
                last_error = ProviderError(
                    f"{ctx.provider}: the answer was refused on content-policy grounds",
                    provider=ctx.provider or current.name,
                    code="content_policy",
                )
                continue
            return result
        assert last_error is not None
        raise last_error

    def _last_resort(self, group: ModelGroup, error: ProviderError) -> StaticProvider | None:
        """The static reply for an upstream failure (client errors such as a 400 are not masked)."""
        if error.status < 429 and error.code not in _FALLBACK_CODES:
            return None
        for name in (group.name, *group.config.fallbacks):
            text = self.router.groups[name].config.static_reply
            if text is not None:
                if name not in self._static:
                    config = StaticProviderConfig(type="static", content=text)
                    self._static[name] = StaticProvider(f"{name}-static-reply", config)
                log.warning("model group %s: every upstream failed; answering the static reply", group.name)
                METRICS.static_replies.labels(group.name).inc()
                return self._static[name]
        return None

    # ------------------------------------------------------------------ one group

    async def _run_group(
        self,
        ctx: RequestContext,
        group: ModelGroup,
        call: Call[T],
        streaming: bool,
        tokens: int,
        is_last: bool,
    ) -> T:
        settings = group.retry
        tried: list[DeploymentState] = []
        last_error: ProviderError | None = None
        attempts = 0
        while attempts < settings.max_attempts:
            if ctx.attempts and not self.budget.try_spend():
                ctx.budget_exhausted = True
                METRICS.budget_exhausted.inc()
                log.warning("request %s: retry budget exhausted; not retrying", ctx.request_id)
                raise last_error or _budget_error(group)
            picked = self._pick(ctx, group, tried, tokens, allow_open=is_last)
            if picked is None:
                raise last_error or _unavailable(group)
            state, probe = picked
            attempts += 1
            try:
                if attempts == 1 and group.config.hedge.enabled and len(group.deployments) > 1:
                    return await self._hedged(ctx, group, state, probe, call, streaming, tokens)
                return await self._attempt(ctx, group, state, probe, call, streaming)
            except ProviderError as error:
                last_error = error
                if not (error.retryable or error.code == "upstream_auth_failed"):
                    raise
                tried.append(state)
                if error.code == "upstream_auth_failed" or self._untried(ctx, group, tried, tokens):
                    continue  # fail over at once: another deployment does not need the backoff
                delay = wait_before_retry(error.retry_after_seconds, attempts, settings, self.rng)
                if delay is None:
                    raise  # the provider asks for a longer wait than we allow: let fallbacks answer
                if attempts < settings.max_attempts:
                    await self.sleep(delay)
        assert last_error is not None
        raise last_error

    def _fits(self, state: DeploymentState, tokens: int) -> bool:
        return state.context_window is None or tokens <= state.context_window

    def _untried(
        self, ctx: RequestContext, group: ModelGroup, tried: list[DeploymentState], tokens: int
    ) -> bool:
        return any(
            s not in tried and self._fits(s, tokens) and s.breaker.state != "open"
            for s in _allowed(ctx, group)
        )

    def _pick(
        self,
        ctx: RequestContext,
        group: ModelGroup,
        tried: list[DeploymentState],
        tokens: int,
        *,
        allow_open: bool,
    ) -> tuple[DeploymentState, bool] | None:
        """A deployment for the next attempt and whether it is a half-open probe."""
        deployments = _allowed(ctx, group)
        if not deployments:
            raise ctx.residency.unsatisfiable(group.name)  # type: ignore[union-attr]
        fitting = [s for s in deployments if self._fits(s, tokens)]
        if not fitting:
            raise ProviderError(
                f"model group {group.name}: the request (~{tokens} tokens) exceeds every deployment's "
                "context window",
                provider=group.name,
                status=400,
                kind="invalid_request_error",
                code="context_window_exceeded",
            )
        candidates = [s for s in fitting if s not in tried] or fitting
        available = [s for s in candidates if s.breaker.state != "open"]
        ctx.breaker_skips += len(candidates) - len(available)
        strategy = STRATEGIES[group.config.strategy]
        while available:
            choice = strategy(available, self.rng)
            probe = choice.breaker.state == "half_open"
            if choice.breaker.try_acquire():
                return choice, probe
            available.remove(choice)
        if allow_open and group.config.breaker.when_all_open == "least_recently_failed" and not tried:
            # every breaker is open and nothing is left after this group: one try beats a certain error
            return min(candidates, key=lambda s: s.breaker.last_failure_at or 0.0), False
        return None

    # ------------------------------------------------------------------ one attempt

    async def _attempt(
        self,
        ctx: RequestContext,
        group: ModelGroup,
        state: DeploymentState,
        probe: bool,
        call: Call[T],
        streaming: bool,
    ) -> T:
        tracing = TELEMETRY.tracing
        run = self._run_attempt(ctx, group, state, probe, call, streaming)
        if tracing is None:
            return await run
        return await tracing.attempt(ctx, group.name, state, streaming, run)

    async def _run_attempt(
        self,
        ctx: RequestContext,
        group: ModelGroup,
        state: DeploymentState,
        probe: bool,
        call: Call[T],
        streaming: bool,
    ) -> T:
        ctx.attempts += 1
        ctx.provider, ctx.upstream_model = state.provider.name, state.deployment.model
        breaker, stats = state.breaker, state.stats
        timeouts = group.config.timeouts
        # a stream's first chunk and a whole answer are both "the first byte the client can get"
        limit = _smallest(timeouts.ttft_seconds, timeouts.total_seconds)
        started = self.clock()
        upstream_since = time.perf_counter()  # for the overhead metric: time here is the provider's
        stats.started()
        slow_timer = self._watch_slow(state, started)
        handed_over = False
        try:
            if limit is None:
                result = await call(state)
            else:
                async with asyncio.timeout(limit):
                    result = await call(state)
        except TimeoutError:
            breaker.record_failure("timeout")
            METRICS.attempt(group.name, state.provider.name, state.deployment.model, "timeout")
            what = "first token" if streaming else "answer"
            raise _timeout(state, f"no {what} within {limit:g} s", "upstream_timeout") from None
        except ProviderError as error:
            self._record_error(state, error, probe)
            METRICS.attempt(group.name, state.provider.name, state.deployment.model, "error")
            raise
        except BaseException:
            if probe:
                breaker.release_probe()
            self._report_abandoned(state, started)
            raise
        else:
            elapsed = self.clock() - started
            if streaming:
                first, chunks = result  # type: ignore[misc]
                METRICS.attempt(group.name, state.provider.name, state.deployment.model, "ok")
                guarded = self._guard(state, chunks, started, elapsed, group, probe)
                handed_over = True
                return (first, guarded)  # type: ignore[return-value]
            breaker.record_success(elapsed)
            METRICS.attempt(group.name, state.provider.name, state.deployment.model, "ok")
            return result
        finally:
            ctx.upstream_seconds += time.perf_counter() - upstream_since
            if slow_timer is not None:
                slow_timer.cancel()
            if not handed_over:
                stats.finished()

    def _record_error(self, state: DeploymentState, error: ProviderError, probe: bool) -> None:
        breaker = state.breaker
        if error.code == "upstream_auth_failed":
            breaker.trip("the provider rejected the gateway's key")
        elif error.retryable:
            breaker.record_failure(error.code or "error")
        elif probe:
            breaker.release_probe()  # a client error says nothing about the deployment's health

    def _report_abandoned(self, state: DeploymentState, started: float) -> None:
        """An attempt given up without an answer (a hedge won, the client left) still shows how slow it was.

        The slow timer reported it at the threshold, and samples at the threshold alone cannot
        lift the average above it: without this, a deployment whose slow attempts are always
        abandoned would look slow to its breaker only after many of them.
        """
        threshold = state.breaker.settings.ttft_threshold_s
        elapsed = self.clock() - started
        if threshold is not None and elapsed > threshold:
            state.breaker.record_slow(elapsed)

    def _watch_slow(self, state: DeploymentState, started: float) -> asyncio.TimerHandle | None:
        """Tell the breaker about a slow first token while the attempt is still waiting for it."""
        threshold = state.breaker.settings.ttft_threshold_s
        if threshold is None:
            return None
        loop = asyncio.get_running_loop()
        return loop.call_later(threshold, lambda: state.breaker.record_slow(self.clock() - started))

    async def _guard(
        self,
        state: DeploymentState,
        chunks: AsyncIterator[Batch],
        started: float,
        ttft: float,
        group: ModelGroup,
        probe: bool,
    ) -> AsyncIterator[Batch]:
        """The rest of a stream, under the idle and total time-outs, with its outcome recorded."""
        timeouts = group.config.timeouts
        idle, total = timeouts.idle_seconds, timeouts.total_seconds
        deadline = started + total if total else None
        finished = False
        try:
            while True:
                wait = idle
                if deadline is not None:
                    left = max(0.0, deadline - self.clock())
                    wait = left if wait is None else min(wait, left)
                try:
                    if wait is None:
                        chunk = await anext(chunks)
                    else:
                        async with asyncio.timeout(wait):
                            chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise _timeout(state, "the stream stalled", "upstream_stream_stalled") from None
                yield chunk
            finished = True
        except ProviderError as error:
            state.breaker.record_failure(error.code or "midstream")
            METRICS.midstream_failures.labels(group.name, state.provider.name).inc()
            raise
        finally:
            state.stats.finished()
            if finished:
                state.breaker.record_success(self.clock() - started, ttft)
            elif probe and state.breaker.state == "half_open":
                state.breaker.release_probe()
            await _close(chunks)

    # ------------------------------------------------------------------ hedging

    async def _hedged(
        self,
        ctx: RequestContext,
        group: ModelGroup,
        state: DeploymentState,
        probe: bool,
        call: Call[T],
        streaming: bool,
        tokens: int,
    ) -> T:
        """Race a slow first attempt against one hedge on another deployment; the first answer wins."""
        delay = self._hedge_delay(group, state)
        primary = asyncio.create_task(self._attempt(ctx, group, state, probe, call, streaming))
        tasks = {primary: state}
        winner: asyncio.Task[T] | None = primary
        try:
            if delay is not None:
                await asyncio.wait({primary}, timeout=delay)
            if primary.done() or delay is None:
                return await primary
            picked = self._pick(ctx, group, [state], tokens, allow_open=False)
            if picked is None or picked[0] is state or not self.budget.try_spend():
                if picked is not None and picked[1]:
                    picked[0].breaker.release_probe()
                return await primary
            second, second_probe = picked
            winner = None
            ctx.hedged = True
            METRICS.hedges.labels(group.name).inc()
            log.info("request %s: hedging %s with %s", ctx.request_id, state.key, second.key)
            hedge = asyncio.create_task(self._attempt(ctx, group, second, second_probe, call, streaming))
            tasks[hedge] = second
            pending: set[asyncio.Task[T]] = {primary, hedge}
            last_error: BaseException | None = None
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    error = task.exception()
                    if error is None:
                        winner = task
                        chosen = tasks[task]
                        ctx.provider, ctx.upstream_model = chosen.provider.name, chosen.deployment.model
                        return task.result()
                    last_error = error
            assert last_error is not None
            raise last_error
        finally:
            for task in tasks:
                if task is not winner or not task.done():  # an unfinished winner means we were cancelled
                    await _discard(task)

    def _hedge_delay(self, group: ModelGroup, state: DeploymentState) -> float | None:
        hedge = group.config.hedge
        if hedge.after_ms != "p95":
            return float(hedge.after_ms) / 1000
        observed = state.stats.ttft_quantile(0.95)
        if observed is None:
            return None  # nothing observed yet: no basis for a hedge
        return max(observed, hedge.min_after_ms / 1000)


def _allowed(ctx: RequestContext, group: ModelGroup) -> list[DeploymentState]:
    """The group's deployments this request may reach (residency rules); all of them without one."""
    residency = ctx.residency
    if residency is None:
        return group.deployments
    return [s for s in group.deployments if residency.allows(s.provider.name)]


def _timeout(state: DeploymentState, what: str, code: str) -> ProviderError:
    """A retryable 504 for an attempt that ran out of time (the breaker was told already)."""
    name = state.provider.name
    return ProviderError(
        f"{name}: {what}", provider=name, retryable=True, status=504, kind="timeout_error", code=code
    )


def _smallest(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _refused(response: Any) -> bool:
    choices = response.get("choices") if isinstance(response, dict) else None
    if not choices:
        return False
    choice = choices[0]
    message = choice.get("message") or {}
    return choice.get("finish_reason") == "content_filter" and not message.get("content")


def _budget_error(group: ModelGroup) -> ProviderError:
    return ProviderError(
        f"model group {group.name}: retry budget exhausted (too many upstream failures right now)",
        provider=group.name,
        status=503,
        kind="overloaded_error",
        code="retry_budget_exhausted",
    )


def _unavailable(group: ModelGroup) -> ProviderError:
    return ProviderError(
        f"model group {group.name}: no deployment available (every circuit breaker is open)",
        provider=group.name,
        status=503,
        kind="overloaded_error",
        code="no_available_deployment",
    )


async def _close(chunks: AsyncIterator[Any]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()


async def _discard(task: asyncio.Task[Any]) -> None:
    """Cancel a losing attempt; if it had already produced a stream, close that stream."""
    if not task.done():
        task.cancel()
    with contextlib.suppress(BaseException):
        result = await task
        if isinstance(result, tuple) and len(result) == 2:
            await _close(result[1])
