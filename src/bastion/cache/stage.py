"""The cache stage the chat endpoints call between admission and the executor.

Per request, in order:
  1. ``plan``: is the group's cache on, and is this request cacheable? (repeatable — temperature
     0 or a seed — unless the group caches ``always`` or the request says ``x-bastion-cache:
     force``; one choice; no logprobs). Not cacheable: ``x-bastion-cache: bypass`` and the
     usual path. The group's cache off: nothing at all (one dict lookup).
  2. ``serve``: look the key up (exact, then semantic); a hit is replayed in the client's
     protocol, as JSON or as a stream, whichever way it was stored. A miss joins an identical
     request in flight, or leads a new upstream call whose answer is stored once complete.

What is stored: complete single-choice answers that finished with ``stop``, ``length`` or
``tool_calls``. Never an error, a stream cut short (client gone, upstream failure, no finish
reason), a content-filter refusal, or the group's static last-resort reply.

On a hit, ``x-bastion-provider`` / ``x-bastion-model`` name the deployment that produced the
stored answer, ``x-bastion-attempts`` is absent (nothing went upstream), and the ledger row
costs $0 with ``cost_saved_usd`` set to what the stored usage costs at that deployment's price.
A request that joined an identical request in flight is a ``hit`` too: it cost nothing upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.accounting.catalog import PriceCatalog
from bastion.accounting.pricing import request_cost
from bastion.api.asgi import JSON_CONTENT_TYPE, Receive, Scope, Send, send_bytes
from bastion.api.streaming import StreamEncoder, relay_stream
from bastion.cache.coalesce import Flight, FlightReader
from bastion.cache.entry import (
    CacheEntry,
    StreamAssembler,
    make_entry,
    replay_chunks,
    replay_response,
    storable,
)
from bastion.cache.keys import (
    cache_key,
    group_fingerprint,
    is_repeatable,
    partition_of,
    tenant_of,
    uncacheable_reason,
)
from bastion.cache.state import CacheState
from bastion.config import BastionConfig
from bastion.context import RequestContext
from bastion.errors import InvalidRequest, ProviderError
from bastion.providers.base import ChatRequest, Json
from bastion.telemetry.cache_metrics import CACHE

if TYPE_CHECKING:
    from bastion.gateway import Gateway
    from bastion.routing.executor import Executor
    from bastion.routing.router import ModelGroup

log = logging.getLogger("bastion.cache")

Render = Callable[[Json], bytes]
_DIRECTIVES = frozenset({"no-cache", "no-store", "force"})


@dataclass(frozen=True, slots=True)
class GroupPolicy:
    """A model group's effective cache settings (the group's own over the top-level defaults)."""

    always: bool  # cache every request, not only repeatable ones
    ttl_seconds: float
    shared: bool
    semantic: bool
    fingerprint: str


@dataclass(slots=True)
class CachePlan:
    """What the cache does for one cacheable request."""

    group: str
    key: str
    partition: str
    ttl_seconds: float
    lookup: bool  # False for x-bastion-cache: no-cache
    store: bool  # False for x-bastion-cache: no-store
    semantic_partition: str | None = None
    semantic_text: str | None = None
    vector: Any = None


class SemanticLookup:
    """The semantic side: an embedder, the vector index, and the similarity a match needs.

    ``index`` is this process's ``SemanticIndex``; ``shared_index``, with the Redis backend, is the
    ``RedisSemanticIndex`` that keeps it in step with the other replicas (searches and additions
    then go through it).
    """

    def __init__(
        self,
        index: Any,
        embedder: Any,
        threshold: float,
        text_of: Callable[[Json], Any],
        shared_index: Any = None,
    ) -> None:
        self.index = index
        self.shared_index = shared_index
        self.embedder = embedder
        self.threshold = threshold
        self.text_of = text_of
        # vectors of two embedders are not comparable, even of equal length: each embedder gets
        # its own partitions (a reload, or replicas on different configs, may change it)
        self.space = getattr(embedder, "name", "")

    def prefetch(self) -> None:
        """Start reading the other replicas' new entries, if due, while the caller embeds."""
        if self.shared_index is not None:
            self.shared_index.prefetch()

    async def search(self, partition: str, vector: Any, text: str) -> tuple[str, float] | None:
        """The closest entry that passes the threshold and the detail guard (call ``prefetch`` first)."""
        if self.shared_index is not None:
            return await self.shared_index.search(
                partition, vector, text=text, threshold=self.threshold, prefetched=True
            )
        return self.index.search(partition, vector, text=text, threshold=self.threshold)

    async def add(self, partition: str, vector: Any, key: str, expires_at: float, text: str) -> None:
        if self.shared_index is not None:
            await self.shared_index.add(partition, vector, key, expires_at, text)
        else:
            self.index.add(partition, vector, key, expires_at, text=text)

    async def vector(self, text: str) -> Any:
        try:
            return (await self.embedder.embed([text]))[0]
        except Exception as error:
            log.warning("semantic cache: embedding failed (%s); exact cache only for this request", error)
            return None


class CacheStage:
    def __init__(
        self,
        *,
        state: CacheState,
        policies: dict[str, GroupPolicy],
        executor: Executor,
        catalog: PriceCatalog,
        coalesce: bool,
        max_ttl_seconds: float,
        max_entry_bytes: int,
        semantic: SemanticLookup | None = None,
    ) -> None:
        self.state = state
        self.backend = state.backend
        self.inflight = state.inflight
        self.policies = policies
        self.executor = executor
        self.catalog = catalog
        self.coalesce = coalesce
        self.max_ttl_seconds = max_ttl_seconds
        self.max_entry_bytes = max_entry_bytes
        self.semantic = semantic
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def build(cls, config: BastionConfig, state: CacheState, gateway: Gateway) -> CacheStage | None:
        """The stage for this config, or None when no chat group caches anything."""
        cache = config.cache
        if cache.mode == "off":
            return None
        policies: dict[str, GroupPolicy] = {}
        for name, group in config.models.items():
            own = group.cache
            mode = own.mode or cache.mode
            if group.kind != "chat" or not own.enabled or mode == "off":
                continue
            deployments = [(d.provider, d.model, d.params) for d in group.deployments]
            policies[name] = GroupPolicy(
                always=mode == "always",
                ttl_seconds=own.ttl_seconds or cache.default_ttl_seconds,
                shared=own.shared,
                semantic=cache.semantic.enabled if own.semantic is None else own.semantic,
                fingerprint=group_fingerprint(deployments),
            )
        if not policies:
            return None
        semantic = None
        if any(p.semantic for p in policies.values()):
            semantic = _semantic_lookup(config, state, gateway)
            if semantic is None:
                policies = {n: _without_semantic(p) for n, p in policies.items()}
        return cls(
            state=state,
            policies=policies,
            executor=gateway.executor,
            catalog=gateway.accounting.catalog,
            coalesce=cache.coalesce,
            max_ttl_seconds=cache.max_ttl_seconds,
            max_entry_bytes=cache.max_entry_bytes,
            semantic=semantic,
        )

    # ------------------------------------------------------------------ planning

    def plan(self, ctx: RequestContext, scope: Scope, group: str, body: Json) -> CachePlan | None:
        """The plan for a cacheable request; None (with ``cache_status`` "bypass" or unset) otherwise."""
        policy = self.policies.get(group)
        if policy is None:
            return None
        directives, ttl = _request_headers(scope, self.max_ttl_seconds)
        lookup = "no-cache" not in directives
        store = "no-store" not in directives
        if (
            not (lookup or store)
            or not (policy.always or "force" in directives or is_repeatable(body))
            or uncacheable_reason(body) is not None
        ):
            ctx.cache_status = "bypass"
            CACHE.lookup(group, "bypass")
            return None
        partition = partition_of(group, policy.fingerprint, tenant_of(ctx.principal, policy.shared))
        plan = CachePlan(
            group=group,
            key=cache_key(partition, body),
            partition=partition,
            ttl_seconds=ttl or policy.ttl_seconds,
            lookup=lookup,
            store=store,
        )
        if policy.semantic and self.semantic is not None:
            found = self.semantic.text_of(body)
            if found is not None:
                context_hash, text = found
                # the context hash covers everything but the last user turn: system prompt, earlier
                # turns, tools, sampling parameters; so only the question itself may differ
                plan.semantic_partition = f"{partition}|{context_hash}|{self.semantic.space}"
                plan.semantic_text = text
        return plan

    # ------------------------------------------------------------------ serving

    async def serve(
        self,
        ctx: RequestContext,
        plan: CachePlan,
        group: ModelGroup,
        request: ChatRequest,
        receive: Receive,
        send: Send,
        render: Render,
        encoder: StreamEncoder,
    ) -> int:
        """Answer from the cache, from an identical request in flight, or upstream (and store it)."""
        if plan.lookup:
            entry = await self._lookup(ctx, plan)
            if entry is not None:
                CACHE.lookup(plan.group, ctx.cache_status or "hit")
                return await self._replay(ctx, plan, entry, request.stream, receive, send, render, encoder)
            flight = self.inflight.get(plan.key) if self.coalesce else None
            if flight is not None:
                status = await self._follow(ctx, plan, flight, request, receive, send, render, encoder)
                if status is not None:
                    return status
                # the leader failed: errors are not shared, this request makes its own call
                ctx.cache_status = "miss"
                CACHE.lookup(plan.group, "miss")
                return await self._lead(ctx, plan, group, request, receive, send, render, encoder, False)
        ctx.cache_status = "miss"
        CACHE.lookup(plan.group, "miss")
        return await self._lead(ctx, plan, group, request, receive, send, render, encoder, self.coalesce)

    async def _lookup(self, ctx: RequestContext, plan: CachePlan) -> CacheEntry | None:
        entry = await self.backend.get(plan.key)
        if entry is not None and entry.partition == plan.partition:
            ctx.cache_status = "hit"
            return entry
        semantic = self.semantic
        if semantic is None or plan.semantic_partition is None or plan.semantic_text is None:
            return None
        semantic.prefetch()  # the read of other replicas' entries overlaps the embedding
        plan.vector = await semantic.vector(plan.semantic_text)
        if plan.vector is None:
            return None
        found = await semantic.search(plan.semantic_partition, plan.vector, plan.semantic_text)
        if found is None or found[1] < semantic.threshold:
            return None
        key, similarity = found
        entry = await self.backend.get(key)
        if entry is None:  # expired or evicted: forget the vector here
            semantic.index.remove(key)
            return None
        if entry.partition != plan.partition:
            return None
        ctx.cache_status = "semantic-hit"
        ctx.cache_similarity = float(similarity)
        log.info("request %s: semantic cache hit, similarity %.4f", ctx.request_id, similarity)
        return entry

    async def _replay(
        self,
        ctx: RequestContext,
        plan: CachePlan,
        entry: CacheEntry,
        stream: bool,
        receive: Receive,
        send: Send,
        render: Render,
        encoder: StreamEncoder,
    ) -> int:
        ctx.provider, ctx.upstream_model = entry.provider, entry.upstream_model
        self._count_saving(ctx, plan, entry)
        if stream:
            first, rest = replay_chunks(entry.response)
            await relay_stream(ctx, receive, send, first, _once(rest), encoder)
        else:
            body = render(replay_response(entry))
            await send_bytes(send, 200, body, [JSON_CONTENT_TYPE, *ctx.response_headers()])
        return 200

    def _count_saving(self, ctx: RequestContext, plan: CachePlan, entry: CacheEntry) -> None:
        price = self.catalog.for_answer(entry.provider, entry.upstream_model)
        if price is None or entry.usage is None:
            return
        saved = request_cost(entry.usage, price).total
        ctx.cost_saved_usd = saved
        if saved:
            CACHE.saved.labels(plan.group).inc(saved)

    # ------------------------------------------------------------------ coalescing

    async def _follow(
        self,
        ctx: RequestContext,
        plan: CachePlan,
        flight: Flight,
        request: ChatRequest,
        receive: Receive,
        send: Send,
        render: Render,
        encoder: StreamEncoder,
    ) -> int | None:
        """Ride on a flight in progress; None when it failed before answering."""
        if request.stream and flight.streaming:
            if not await flight.wait_started():
                return None
            ctx.cache_status = "hit"
            CACHE.lookup(plan.group, "hit")
            CACHE.coalesced.labels(plan.group).inc()
            ctx.provider, ctx.upstream_model = flight.provider, flight.upstream_model
            reader = FlightReader(flight, 1)
            try:
                await relay_stream(ctx, receive, send, flight.batches[0], reader, encoder)
            finally:
                await reader.aclose()
            if flight.entry is not None:
                self._count_saving(ctx, plan, flight.entry)
            return 200
        entry = await flight.result()
        if entry is None:
            return None
        ctx.cache_status = "hit"
        CACHE.lookup(plan.group, "hit")
        CACHE.coalesced.labels(plan.group).inc()
        return await self._replay(ctx, plan, entry, request.stream, receive, send, render, encoder)

    async def _lead(
        self,
        ctx: RequestContext,
        plan: CachePlan,
        group: ModelGroup,
        request: ChatRequest,
        receive: Receive,
        send: Send,
        render: Render,
        encoder: StreamEncoder,
        register: bool,
    ) -> int:
        flight = self.inflight.start(plan.key, request.stream, register=register)
        if request.stream:
            return await self._lead_stream(ctx, plan, flight, group, request, receive, send, encoder)
        try:
            response = await self.executor.chat(ctx, group, request)
            if ctx.degraded is not None:  # the static reply stands in for an error: not shared
                flight.fail()
                entry = None
            else:
                entry = make_entry(
                    plan.partition, response, ctx.provider, ctx.upstream_model, plan.ttl_seconds
                )
                flight.succeed(entry)
            await send_bytes(send, 200, render(response), [JSON_CONTENT_TYPE, *ctx.response_headers()])
            if entry is not None:
                await self._fill(plan, entry)
            else:
                CACHE.not_stored.labels("degraded").inc()
        finally:
            flight.fail()  # a no-op after success
            self.inflight.discard(flight)
        return 200

    async def _lead_stream(
        self,
        ctx: RequestContext,
        plan: CachePlan,
        flight: Flight,
        group: ModelGroup,
        request: ChatRequest,
        receive: Receive,
        send: Send,
        encoder: StreamEncoder,
    ) -> int:
        try:
            first, batches = await self.executor.open_stream(ctx, group, request)
        except BaseException:
            flight.fail()
            self.inflight.discard(flight)
            raise
        if ctx.degraded is not None:
            flight.fail()
            self.inflight.discard(flight)
            CACHE.not_stored.labels("degraded").inc()
            await relay_stream(ctx, receive, send, first, batches, encoder)
            return 200
        flight.provider, flight.upstream_model = ctx.provider, ctx.upstream_model
        assembler = StreamAssembler()
        for chunk in first:
            assembler.feed(chunk)
        flight.publish(first)
        reader = FlightReader(flight, 1)
        pump = asyncio.create_task(self._pump(plan, flight, batches, assembler))
        flight.pump = pump
        self._tasks.add(pump)
        pump.add_done_callback(self._tasks.discard)
        try:
            await relay_stream(ctx, receive, send, first, reader, encoder)
        finally:
            await reader.aclose()
        return 200

    async def _pump(
        self, plan: CachePlan, flight: Flight, batches: AsyncIterator[list[Json]], assembler: StreamAssembler
    ) -> None:
        """Read the rest of a stream upstream into the flight; store the answer after its terminal event."""
        try:
            try:
                async for batch in batches:
                    for chunk in batch:
                        assembler.feed(chunk)
                    flight.publish(batch)
            except ProviderError as error:
                flight.fail(error)
                CACHE.not_stored.labels("error").inc()
                return
            except asyncio.CancelledError:
                flight.fail(
                    ProviderError("stream abandoned", provider="bastion", code="upstream_interrupted")
                )
                CACHE.not_stored.labels("interrupted").inc()
                raise
            except Exception as error:
                log.exception("cache: reading stream %s failed", plan.key)
                flight.fail(
                    ProviderError(f"stream failed: {error}", provider="bastion", code="upstream_interrupted")
                )
                CACHE.not_stored.labels("error").inc()
                return
            finally:
                with contextlib.suppress(Exception):
                    close = getattr(batches, "aclose", None)
                    if close is not None:
                        await close()
            response = assembler.result()
            if response is None:  # ended without saying how: not a complete answer
                flight.fail()
                CACHE.not_stored.labels("interrupted").inc()
                return
            entry = make_entry(
                plan.partition, response, flight.provider, flight.upstream_model, plan.ttl_seconds
            )
            flight.succeed(entry)
            await self._fill(plan, entry)
        finally:
            self.inflight.discard(flight)

    # ------------------------------------------------------------------ filling

    async def _fill(self, plan: CachePlan, entry: CacheEntry) -> None:
        if not plan.store:
            return
        if not storable(entry.response):
            CACHE.not_stored.labels("finish_reason").inc()
            return
        if entry.size > self.max_entry_bytes:
            CACHE.not_stored.labels("too_large").inc()
            return
        await self.backend.put(plan.key, entry)
        CACHE.stores.labels(plan.group).inc()
        semantic = self.semantic
        if semantic is not None and plan.semantic_partition is not None and plan.semantic_text is not None:
            vector = plan.vector if plan.vector is not None else await semantic.vector(plan.semantic_text)
            if vector is not None:
                await semantic.add(
                    plan.semantic_partition, vector, plan.key, entry.expires_at, plan.semantic_text
                )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task


async def _once(batch: list[Json]) -> AsyncIterator[list[Json]]:
    yield batch


def _request_headers(scope: Scope, max_ttl_seconds: float) -> tuple[frozenset[str], float | None]:
    """``x-bastion-cache`` directives and the ``x-bastion-cache-ttl`` seconds (400 when malformed)."""
    directives: frozenset[str] = frozenset()
    ttl: float | None = None
    for name, value in scope["headers"]:
        if name == b"x-bastion-cache":
            words = {w.strip().lower() for w in value.decode("latin-1").split(",") if w.strip()}
            unknown = words - _DIRECTIVES
            if unknown:
                raise InvalidRequest(
                    f"x-bastion-cache: unknown directive {sorted(unknown)[0]!r} "
                    "(use no-cache, no-store or force)",
                    code="invalid_cache_directive",
                )
            directives = directives | words
        elif name == b"x-bastion-cache-ttl":
            try:
                ttl = float(value)
            except ValueError:
                ttl = math.nan
            if not 0 < ttl <= max_ttl_seconds:  # also refuses nan and inf
                raise InvalidRequest(
                    f"x-bastion-cache-ttl must be a number of seconds in (0, {max_ttl_seconds:g}]",
                    code="invalid_cache_ttl",
                )
    return directives, ttl


def _without_semantic(policy: GroupPolicy) -> GroupPolicy:
    return GroupPolicy(policy.always, policy.ttl_seconds, policy.shared, False, policy.fingerprint)


def _semantic_lookup(config: BastionConfig, state: CacheState, gateway: Gateway) -> SemanticLookup | None:
    """The semantic side, or None (logged) when its modules or the embedder are not available."""
    settings = config.cache.semantic
    try:
        from bastion.cache.embedders import DEFAULT_THRESHOLD, build_embedder
        from bastion.cache.semantic import semantic_text
    except ImportError as error:
        log.error("semantic cache unavailable (%s): the exact cache still works", error)
        return None
    try:
        if settings.embedder == "local":
            if state.local_embedder is None:
                state.local_embedder = build_embedder("local", gateway)
            embedder = state.local_embedder
        else:
            embedder = build_embedder(settings.embedder, gateway)
        index = state.semantic_index(settings.max_entries, settings.refresh_ms)
    except Exception as error:
        log.error("semantic cache unavailable (%s): the exact cache still works", error)
        return None
    threshold = settings.threshold if settings.threshold is not None else DEFAULT_THRESHOLD
    return SemanticLookup(index, embedder, threshold, semantic_text, shared_index=state.shared_index)
