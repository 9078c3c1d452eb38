"""The one small interface both databases implement (SQLite by default, PostgreSQL at scale).

Nothing on the request path calls it: identities are cached in memory and refreshed, and
ledger rows arrive in batches from an in-process queue.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bastion.store.audit_base import AuditStore
from bastion.store.records import (
    FeedbackRecord,
    IdentitySnapshot,
    KeyRecord,
    LedgerRow,
    TeamRecord,
    UserRecord,
)
from bastion.store.rollups import RollupStore

#: dimensions the usage report can group and filter by (ledger columns)
USAGE_DIMENSIONS = (
    "key_id",
    "user_id",
    "team_id",
    "end_user",
    "feature",
    "model",
    "provider",
    "deployment",
    "status",
    "route_rule",
    "variant",
)
TIME_BUCKETS = ("hour", "day", "week", "month")
#: the totals every usage-report row carries, after its group columns (and ``bucket``)
USAGE_METRICS = (
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cost_saved_usd",
    "cache_hits",
    "errors",
    "avg_latency_ms",
)

#: per (route_rule, variant) of the A/B-split rows: sums and sums of squares, so means and variances
#: come out of one aggregate query (latency and cost over answered, uncached requests only)
VARIANT_TOTALS = """route_rule, variant,
    COUNT(*) AS requests,
    SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors,
    SUM(CASE WHEN cache_hit IS NOT NULL THEN 1 ELSE 0 END) AS cache_hits,
    SUM(CASE WHEN status < 400 AND cache_hit IS NULL THEN 1 ELSE 0 END) AS measured,
    SUM(CASE WHEN status < 400 AND cache_hit IS NULL THEN latency_ms ELSE 0 END) AS latency_sum,
    SUM(CASE WHEN status < 400 AND cache_hit IS NULL THEN latency_ms * latency_ms ELSE 0 END)
        AS latency_squares,
    SUM(CASE WHEN status < 400 AND cache_hit IS NULL THEN cost_usd ELSE 0 END) AS cost_sum,
    SUM(CASE WHEN status < 400 AND cache_hit IS NULL THEN cost_usd * cost_usd ELSE 0 END) AS cost_squares"""
VARIANT_COLUMNS = (
    "route_rule",
    "variant",
    "requests",
    "errors",
    "cache_hits",
    "measured",
    "latency_sum",
    "latency_squares",
    "cost_sum",
    "cost_squares",
)

#: dimensions the feedback report can group and filter by (columns copied from the ledger row)
FEEDBACK_DIMENSIONS = (
    "model",
    "deployment",
    "provider",
    "feature",
    "variant",
    "route_rule",
    "team_id",
    "user_id",
    "key_id",
)
#: per group: the count, sum and sum of squares of the scores (a mean and its interval), and the
#: positive and negative counts; the same SQL on both databases
FEEDBACK_TOTALS = """COUNT(*) AS count,
    SUM(score) AS score_sum,
    SUM(score * score) AS score_squares,
    SUM(CASE WHEN score > 0 THEN 1 ELSE 0 END) AS positives,
    SUM(CASE WHEN score < 0 THEN 1 ELSE 0 END) AS negatives"""
#: what every feedback-report row carries after its group columns (and ``bucket``)
FEEDBACK_METRICS = (
    "count",
    "mean_score",
    "positive_share",
    "positives",
    "negatives",
    "score_sum",
    "score_squares",
)

_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


def redact_secrets(text: str) -> str:
    """``text`` with passwords in URLs (``scheme://user:secret@host``) and ``password=...`` masked."""
    return _KEYWORD_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def check_usage_query(
    group_by: Sequence[str], bucket: str | None, filters: dict[str, Any] | None
) -> tuple[str, ...]:
    """Refuse names outside USAGE_DIMENSIONS and TIME_BUCKETS (they become SQL); ``group_by`` deduplicated."""
    unknown = [name for name in (*group_by, *(filters or {})) if name not in USAGE_DIMENSIONS]
    if unknown:
        expected = ", ".join(USAGE_DIMENSIONS)
        raise ValueError(f"unknown usage dimension {unknown[0]!r}; expected one of {expected}")
    if bucket is not None and bucket not in TIME_BUCKETS:
        raise ValueError(f"unknown time bucket {bucket!r}; expected one of {', '.join(TIME_BUCKETS)}")
    return tuple(dict.fromkeys(group_by))


def check_feedback_query(
    group_by: Sequence[str], bucket: str | None, filters: dict[str, Any] | None
) -> tuple[str, ...]:
    """Refuse names outside FEEDBACK_DIMENSIONS and TIME_BUCKETS (they become SQL); dedupe ``group_by``."""
    unknown = [name for name in (*group_by, *(filters or {})) if name not in FEEDBACK_DIMENSIONS]
    if unknown:
        expected = ", ".join(FEEDBACK_DIMENSIONS)
        raise ValueError(f"unknown feedback dimension {unknown[0]!r}; expected one of {expected}")
    if bucket is not None and bucket not in TIME_BUCKETS:
        raise ValueError(f"unknown time bucket {bucket!r}; expected one of {', '.join(TIME_BUCKETS)}")
    return tuple(dict.fromkeys(group_by))


#: usage totals that are sums of money or averages of time; the others are counts
USAGE_FLOAT_TOTALS = frozenset({"cost_usd", "cost_saved_usd", "avg_latency_ms"})


def usage_report_row(row: Mapping[str, Any], dimensions: Sequence[str], bucketed: bool) -> dict[str, Any]:
    """A usage-report row from the database's: group columns, ``bucket`` (ISO), USAGE_METRICS."""
    result = {dimension: row[dimension] for dimension in dimensions}
    if bucketed:
        result["bucket"] = datetime.fromtimestamp(row["bucket"], UTC).isoformat()
    for name in USAGE_METRICS:
        result[name] = float(row[name] or 0.0) if name in USAGE_FLOAT_TOTALS else int(row[name] or 0)
    return result


def feedback_report_row(row: Mapping[str, Any], dimensions: Sequence[str], bucketed: bool) -> dict[str, Any]:
    """A feedback-report row from the database's: group columns, ``bucket`` (ISO), FEEDBACK_METRICS."""
    result = {dimension: row[dimension] for dimension in dimensions}
    if bucketed:
        result["bucket"] = datetime.fromtimestamp(row["bucket"], UTC).isoformat()
    count = int(row["count"] or 0)
    positives, negatives = int(row["positives"] or 0), int(row["negatives"] or 0)
    score_sum = float(row["score_sum"] or 0.0)
    result.update(
        count=count,
        mean_score=score_sum / count if count else None,
        positive_share=positives / count if count else None,
        positives=positives,
        negatives=negatives,
        score_sum=score_sum,
        score_squares=float(row["score_squares"] or 0.0),
    )
    return result


class StoreError(Exception):
    """The database refused or could not be reached; the message is safe to show an admin."""


class Store(AuditStore, RollupStore, ABC):
    #: "sqlite" | "postgres"
    dialect: str

    @abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations (idempotent; safe when several replicas start at once)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def schema_version(self) -> int: ...

    # ----------------------------------------------------------------- identity
    @abstractmethod
    async def upsert_team(self, team: TeamRecord) -> TeamRecord:
        """Create or update; sets ``created_at`` (on create) and ``updated_at`` from the store's clock."""

    @abstractmethod
    async def upsert_user(self, user: UserRecord) -> UserRecord: ...

    @abstractmethod
    async def create_key(self, key: KeyRecord) -> KeyRecord: ...

    @abstractmethod
    async def update_key(self, key: KeyRecord) -> KeyRecord:
        """Change a key's name, models, limits, metadata or expiry (not its digest)."""

    @abstractmethod
    async def revoke_key(self, key_id: str) -> KeyRecord | None:
        """Set ``revoked_at`` and ``updated_at``; None if no such key. Revoking twice keeps the first time."""

    @abstractmethod
    async def delete_team(self, team_id: str) -> bool:
        """Soft delete (``deleted_at``), so replicas see the change."""

    @abstractmethod
    async def delete_user(self, user_id: str) -> bool: ...

    @abstractmethod
    async def get_team(self, team_id: str) -> TeamRecord | None: ...

    @abstractmethod
    async def get_user(self, user_id: str) -> UserRecord | None: ...

    @abstractmethod
    async def get_key(self, key_id: str) -> KeyRecord | None: ...

    @abstractmethod
    async def list_teams(self) -> list[TeamRecord]:
        """Teams not deleted."""

    @abstractmethod
    async def list_users(self, team_id: str | None = None) -> list[UserRecord]: ...

    @abstractmethod
    async def list_keys(
        self, user_id: str | None = None, team_id: str | None = None, include_revoked: bool = False
    ) -> list[KeyRecord]: ...

    @abstractmethod
    async def identity_changes(self, since: float) -> IdentitySnapshot:
        """Every team, user and key with ``updated_at >= since`` (0 = all), deleted and revoked included."""

    # ----------------------------------------------------------------- ledger
    @abstractmethod
    async def write_ledger(self, rows: Sequence[LedgerRow]) -> None:
        """Insert a batch in one transaction; a request id already stored is ignored (idempotent retry)."""

    @abstractmethod
    async def usage_report(
        self,
        group_by: Sequence[str],
        start: float | None = None,
        end: float | None = None,
        bucket: str | None = None,
        filters: dict[str, Any] | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Totals grouped by ``group_by`` (from USAGE_DIMENSIONS) and an optional time ``bucket`` (UTC).

        Each row: the group columns, ``bucket`` (ISO start of the bucket) when asked, and
        ``requests``, ``prompt_tokens``, ``completion_tokens``, ``cached_tokens``,
        ``cache_write_tokens``, ``reasoning_tokens``, ``cost_usd``, ``cost_saved_usd``, ``cache_hits``,
        ``errors`` (status >= 400), ``avg_latency_ms``; ordered by cost descending (then bucket).
        ``filters`` maps a dimension to a required value.
        """

    @abstractmethod
    async def variant_totals(
        self, start: float | None = None, end: float | None = None
    ) -> list[dict[str, Any]]:
        """Rows with a ``variant``, totalled per (route_rule, variant): VARIANT_COLUMNS, for A/B reports."""

    @abstractmethod
    async def spend_since(self, dimension: str, start: float) -> dict[str, float]:
        """Sum of ``cost_usd`` per value of ``dimension`` since ``start`` (seeds budget counters)."""

    async def create_ledger_partitions(self, days_ahead: int = 7, now: float | None = None) -> list[str]:
        """Make the ledger's partitions up to ``days_ahead`` days after ``now``; the names made.

        Only PostgreSQL partitions the ledger (by day); elsewhere there is nothing to make.
        """
        return []

    async def expire_ledger_before(self, ts: float) -> int:
        """Remove ledger rows older than ``ts`` the cheapest way the database allows; how many went.

        PostgreSQL drops whole day partitions (a row may outlive ``ts`` by up to a day); SQLite
        deletes the rows.
        """
        return await self.delete_ledger_before(ts)

    @abstractmethod
    async def list_requests(
        self,
        start: float | None = None,
        end: float | None = None,
        filters: dict[str, Any] | None = None,
        request_id: str | None = None,
        limit: int = 100,
    ) -> list[LedgerRow]:
        """The request log: ledger rows newest first, with ``start <= ts < end`` and ``filters``
        (USAGE_DIMENSIONS -> value); ``end`` is also the cursor of the next page."""

    # ----------------------------------------------------------------- feedback
    @abstractmethod
    async def get_ledger_row(self, request_id: str, key_id: str | None = None) -> LedgerRow | None:
        """The latest ledger row of ``request_id`` (made by ``key_id`` when given); None if not written yet.

        Clients may reuse an ``x-request-id``, so an id can have several rows.
        """

    @abstractmethod
    async def upsert_feedback(self, record: FeedbackRecord) -> tuple[FeedbackRecord, bool]:
        """Store the score for ``record.request_id``; True when created, False when it replaced one.

        A replacement keeps the first ``id`` and ``created_at`` and takes the new score, comment
        and metadata; ``updated_at`` comes from the store's clock. A stored score given by another
        key is never replaced (StoreError).
        """

    @abstractmethod
    async def feedback_report(
        self,
        group_by: Sequence[str],
        start: float | None = None,
        end: float | None = None,
        bucket: str | None = None,
        filters: dict[str, Any] | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Scores grouped by ``group_by`` (from FEEDBACK_DIMENSIONS) and an optional time ``bucket`` (UTC).

        Time is the request's start (``ts``). Each row: the group columns, ``bucket`` when asked,
        and FEEDBACK_METRICS; ordered by count descending (then bucket, then the groups).
        """
