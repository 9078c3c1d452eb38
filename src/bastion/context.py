"""The per-request context every stage reads and adds to.

It ends up in the request log, the trace and the audit entry, so it carries the
decisions stages take (which deployment, how many attempts) and the usage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bastion.identity.principal import Principal

if TYPE_CHECKING:
    from bastion.routing.residency import Residency

__all__ = ["GuardDecision", "Principal", "RequestContext"]


@dataclass(frozen=True, slots=True)
class GuardDecision:
    """One guard's verdict on one request: logged, counted, audited and (when it acted) a header."""

    guard: str  # "injection" | "pii" | "json_schema" | "moderation" | "pii_leak" | "canary"
    stage: str  # "input" | "output"
    action: str  # "pass" | "block" | "mask" | "redact" | "warn" | "on_premise" | "consent" | "retry"
    detail: str = ""  # short, secret-free: entity counts, score and families, schema error path


@dataclass(slots=True)
class RequestContext:
    request_id: str
    ingress: str  # "openai" | "anthropic"
    principal: Principal | None = None
    started: float = field(default_factory=time.perf_counter)
    model: str | None = None
    feature: str | None = None
    provider: str | None = None
    upstream_model: str | None = None
    attempts: int = 0
    usage: dict[str, Any] | None = None
    first_byte_at: float | None = None
    last_byte_at: float | None = None  # when a stream's last chunk arrived (time per output token)
    upstream_seconds: float = 0.0  # time spent waiting on provider adapters: overhead = total - this
    fallbacks: list[str] = field(default_factory=list)  # model groups fallen back to, in order
    breaker_skips: int = 0  # deployments passed over because their breaker was open
    hedged: bool = False
    degraded: str | None = None  # "static" when the last-resort reply answered
    budget_exhausted: bool = False  # the retry budget, not a USD budget
    route: str = ""  # "chat" | "messages" | "embeddings"
    end_user: str | None = None  # OpenAI `user` / Anthropic metadata.user_id
    stream: bool = False
    ticket: Any = None  # the admission reservation to settle after the response
    request_body: Any = None  # the validated chat body (sizes a stream cut before its usage arrived)
    rate_limit_headers: list[tuple[bytes, bytes]] | None = None
    error_code: str | None = None
    cache_status: str | None = None  # "hit" | "semantic-hit" | "miss"; None when the cache is off
    cache_similarity: float | None = None  # cosine similarity of a semantic hit
    cost_saved_usd: float = 0.0  # what a cache hit would have cost upstream
    sensitive: set[str] = field(default_factory=set)  # flags guards raise (e.g. "pii") for routing rules
    route_rule: str | None = None  # the routing rules (then the alias) that decided, comma-separated
    route_reason: str | None = None
    variant: str | None = None  # the A/B variant this request was assigned
    residency: Residency | None = None  # deployments allowed by residency rules; None = any
    guards: list[GuardDecision] = field(default_factory=list)  # what each guard saw and did, in order
    client_body: Any = None  # the request as the client sent it, before any guard rewrote it
    capture_answer: bool = False  # collect the answer text (audit hashes or stores it)
    answer_text: str | None = None  # the answer the client received, when capture_answer is on
    output_guard: Any = None  # this request's OutputGuard: the executor asks it to check whole answers

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        """The ``x-request-id`` and ``x-bastion-*`` headers every answer carries."""
        headers = [(b"x-request-id", self.request_id.encode())]
        if self.provider is not None:
            headers.append((b"x-bastion-provider", self.provider.encode()))
        if self.upstream_model is not None:
            headers.append((b"x-bastion-model", self.upstream_model.encode()))
        if self.attempts:
            headers.append((b"x-bastion-attempts", str(self.attempts).encode()))
        if self.fallbacks:
            headers.append((b"x-bastion-fallback", ",".join(self.fallbacks).encode()))
        if self.hedged:
            headers.append((b"x-bastion-hedged", b"true"))
        if self.degraded is not None:
            headers.append((b"x-bastion-degraded", self.degraded.encode()))
        if self.cache_status is not None:
            headers.append((b"x-bastion-cache", self.cache_status.encode()))
        if self.route_rule is not None:
            headers.append((b"x-bastion-route", self.route_rule.encode()))
            if self.route_reason is not None:
                headers.append((b"x-bastion-route-reason", self.route_reason.encode("ascii", "replace")))
            if self.variant is not None:
                headers.append((b"x-bastion-variant", self.variant.encode()))
        if self.guards:
            acted = [f"{d.guard}={d.action}" for d in self.guards if d.action != "pass"]
            if acted:
                headers.append((b"x-bastion-guard", ",".join(acted).encode()))
        if self.rate_limit_headers:
            headers.extend(self.rate_limit_headers)
        return headers
