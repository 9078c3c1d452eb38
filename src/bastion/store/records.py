"""The rows Bastion keeps: teams, users, virtual keys, and one ledger row per request.

Limits and budgets travel as plain JSON-able dicts (validated by ``bastion.limits.spec``
when loaded) so the store never needs a migration for a new kind of limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class TeamRecord:
    id: str  # chosen by the admin, e.g. "search"
    name: str = ""
    limits: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0  # unix seconds
    updated_at: float = 0.0
    deleted_at: float | None = None


@dataclass(slots=True)
class UserRecord:
    id: str  # chosen by the admin, e.g. "alice@example.com"
    name: str = ""
    team_id: str | None = None
    limits: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    deleted_at: float | None = None


@dataclass(slots=True)
class KeyRecord:
    """A virtual key. The secret itself is never stored: only its SHA-256 ``digest``, a visible ``prefix``."""

    id: str  # "key_" + random, what admins and logs use
    digest: str  # sha256 hex of the full key
    prefix: str  # first characters of the key, e.g. "bst_3kQ9", to recognise it
    name: str = ""
    user_id: str | None = None
    team_id: str | None = None
    models: list[str] = field(default_factory=list)  # allowed model groups; empty = all
    limits: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    expires_at: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    revoked_at: float | None = None


@dataclass(slots=True)
class IdentitySnapshot:
    """Rows changed at or after a point in time (revoked and deleted ones included)."""

    teams: list[TeamRecord]
    users: list[UserRecord]
    keys: list[KeyRecord]
    as_of: float  # the store's clock when read: the caller's next ``since`` (minus an overlap)


@dataclass(slots=True)
class LedgerRow:
    """What one request used and cost; written off the hot path in batches."""

    request_id: str
    ts: float  # unix seconds when the request started
    key_id: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    end_user: str | None = None  # OpenAI's `user` field / Anthropic metadata.user_id
    feature: str | None = None  # x-bastion-feature
    model: str | None = None  # the public model group asked for
    provider: str | None = None  # the provider that answered
    deployment: str | None = None  # the upstream model that answered
    route: str | None = None  # "chat" | "embeddings" | "messages"
    stream: bool = False
    prompt_tokens: int = 0  # all input tokens, cached and cache-written included
    completion_tokens: int = 0  # all output tokens, reasoning included
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    usage_estimated: bool = False  # True when the provider reported no usage (interrupted stream)
    cache_hit: str | None = None  # None | "hit" | "semantic-hit"
    cost_saved_usd: float = 0.0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    status: int = 200
    error_code: str | None = None
    attempts: int = 0
    cache_similarity: float | None = None  # cosine similarity of a semantic hit
    route_rule: str | None = None  # the routing rules, then the alias, that chose the model group
    variant: str | None = None  # the A/B variant of the alias (last name in route_rule)
    fallbacks: str | None = None  # model groups fallen back to, comma-separated, in order
    guards: str | None = None  # guard decisions, e.g. "input:pii=mask(EMAIL=1);output:pii_leak=redact"
    breaker_skips: int = 0  # deployments passed over because their breaker was open
    hedged: bool = False
    degraded: str | None = None  # "static" when the last-resort reply answered
    upstream_ms: float | None = None  # time spent waiting on providers (latency minus this: Bastion's own)
    limit_state: str | None = None  # what the rate limits had left after admission, e.g. "requests 59/60"


def ledger_row_from_sqlite(values: Sequence[Any]) -> LedgerRow:
    """A ledger row read from SQLite, which keeps booleans as 0/1."""
    row = LedgerRow(*values)
    row.stream, row.usage_estimated, row.hedged = (
        bool(row.stream),
        bool(row.usage_estimated),
        bool(row.hedged),
    )
    return row


@dataclass(slots=True)
class FeedbackRecord:
    """A quality score for one request, given by the key that made it (the latest one replaces the first).

    The request's attributes are copied from its ledger row when the feedback arrives, so
    quality is aggregated from this table alone, never by a join over the ledger.
    """

    id: str  # "fb_" + random, kept when a later score replaces this one
    request_id: str
    ts: float  # when the request started (its ledger ``ts``): what time ranges and buckets use
    score: float  # in [-1, 1]; thumbs up / down are 1 / -1
    key_id: str | None = None
    comment: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    deployment: str | None = None
    provider: str | None = None
    feature: str | None = None
    variant: str | None = None
    route_rule: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    created_at: float = 0.0  # when the first score for the request arrived (store clock)
    updated_at: float = 0.0  # when the current score arrived
