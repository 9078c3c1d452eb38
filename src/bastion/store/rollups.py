"""Pre-aggregated ledger totals (rollups), so a dashboard page load never scans the ledger.

Two tables, filled in the transaction that writes each ledger batch:

- ``rollup_traffic``: per minute, per 5 minutes and per hour (``grain`` 60, 300, 3600), per
  model group, provider, deployment and status class (200, 400, 500…): requests, fallbacks,
  retries, cache hits, tokens, cost, cost saved, and latency and time-to-first-token histograms
  as fixed bucket counts (``lat_0…``, ``ttft_0…``), so P50/P95/P99 of any window come from sums.
  Minute rows are kept a day and 5-minute rows two days (the 1 h and 24 h views need no more);
  hour rows are kept.
- ``rollup_spend``: per UTC day and per value of one dimension (model, feature, user, key,
  team): requests, errors, cache hits, tokens, cost and cost saved. One row per dimension
  value, not per combination: a combination table grows with keys × features × models and
  would have to be scanned whole for "top spenders"; this one holds days × values, so a month's
  top keys read a few thousand rows whatever the traffic. Cross-dimension questions (a user's
  cost per feature) stay with ``/admin/usage``, which reads the ledger.

End users are in neither table: they are unbounded and personal, and erasing one must not
touch totals.

Every write is an additive upsert (``ON CONFLICT … DO UPDATE SET n = n + excluded.n``), so
replicas writing at once add up; rows are sorted by key so concurrent transactions lock them in
one order (no deadlock on PostgreSQL). A ledger batch retried after a commit that reported an
error would count twice, so rows whose (request_id, ts) is already in the ledger are left out.

A new rollup table is filled from the ledger by the migration that creates it (``INSERT …
SELECT`` statements, see ``rollup_migration``), so upgrading an existing database needs no
separate step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import add
from typing import Any

from bastion.store.records import LedgerRow

#: upper bounds (ms) of the latency and TTFT histogram buckets; one more bucket holds the rest
BOUNDS_MS: tuple[float, ...] = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700,
    1_000, 1_500, 2_000, 3_000, 5_000, 7_000, 10_000, 15_000, 20_000, 30_000, 60_000, 120_000,
)  # fmt: skip
BUCKETS = len(BOUNDS_MS) + 1
LATENCY_COLUMNS = tuple(f"lat_{index}" for index in range(BUCKETS))
TTFT_COLUMNS = tuple(f"ttft_{index}" for index in range(BUCKETS))

#: the time grains of ``rollup_traffic`` (seconds)
MINUTE, FIVE_MINUTES, HOUR, DAY = 60, 300, 3600, 86_400
GRAINS = (MINUTE, FIVE_MINUTES, HOUR)
#: how long rows of a fine grain are kept (seconds of ledger time); coarser grains are kept
RETENTION = {MINUTE: DAY, FIVE_MINUTES: 2 * DAY}

TRAFFIC_KEYS = ("grain", "bucket", "model", "provider", "deployment", "status_class")
TRAFFIC_DIMENSIONS = ("model", "provider", "deployment", "status_class")
TRAFFIC_SUMS = (
    "requests",
    "fallbacks",  # answered by a fallback model group
    "retried",  # took more than one upstream attempt
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "cost_saved_usd",
    "latency_sum_ms",
    "ttft_count",
    "ttft_sum_ms",
    *LATENCY_COLUMNS,
    *TTFT_COLUMNS,
)
_FIRST_LATENCY = TRAFFIC_SUMS.index(LATENCY_COLUMNS[0])
_FIRST_TTFT = TRAFFIC_SUMS.index(TTFT_COLUMNS[0])
#: the ledger columns ``rollup_spend`` is kept per value of
SPEND_DIMENSIONS = ("model", "feature", "key_id", "user_id", "team_id")  # RollupDeltas relies on this order
SPEND_KEYS = ("dimension", "day", "value")
SPEND_SUMS = (
    "requests",
    "errors",
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "cost_saved_usd",
)
FLOAT_SUMS = frozenset({"cost_usd", "cost_saved_usd", "latency_sum_ms", "ttft_sum_ms"})
_INTEGER_COLUMNS = frozenset({*TRAFFIC_SUMS, *SPEND_SUMS, "t", "day", "status_class"}) - FLOAT_SUMS
#: two timestamps of one request closer than this are the same (PostgreSQL keeps microseconds)
_SAME_TS = 1e-5


def bucket_index(value_ms: float) -> int:
    """The histogram bucket of a duration: the first bound at or above it (the last bucket past all)."""
    return bisect_left(BOUNDS_MS, value_ms)


def quantile(counts: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0…1) of a histogram of BUCKETS counts, interpolated within its bucket.

    Error is bounded by the bucket's width (a 1-2-3-5-7 series: at most about 40% of the
    value, far less in practice); past the last bound the last bound is returned.
    """
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index >= len(BOUNDS_MS):
                return float(BOUNDS_MS[-1])
            lower = BOUNDS_MS[index - 1] if index else 0.0
            return lower + (BOUNDS_MS[index] - lower) * max(0.0, rank - seen) / count
        seen += count
    return float(BOUNDS_MS[-1])


@dataclass(slots=True)
class RollupDeltas:
    """What one ledger batch adds to the rollup tables, keyed and sorted (the order rows are locked in)."""

    traffic: list[tuple[Any, ...]]  # TRAFFIC_KEYS then TRAFFIC_SUMS
    spend: list[tuple[Any, ...]]  # SPEND_KEYS then SPEND_SUMS

    @classmethod
    def of(cls, rows: Iterable[LedgerRow]) -> RollupDeltas:
        # Rows are summed once per minute and per spend combination, then folded into the coarser
        # grains and into each spend dimension: a batch spans a few minutes, so this is far
        # fewer additions than summing every row into every grain and dimension.
        minutes: dict[tuple[Any, ...], list[float]] = {}
        combinations: dict[tuple[Any, ...], list[float]] = {}
        width = len(TRAFFIC_SUMS)
        for row in rows:
            second = int(row.ts)
            model = row.model or ""  # "" for NULL: NULLs in a key column never conflict
            key = (
                second // MINUTE * MINUTE,
                model,
                row.provider or "",
                row.deployment or "",
                row.status // 100 * 100,
            )
            sums = minutes.get(key)
            if sums is None:
                sums = minutes[key] = [0] * width
            cache_hit = 1 if row.cache_hit else 0
            sums[0] += 1
            if row.fallbacks:
                sums[1] += 1
            if row.attempts > 1:
                sums[2] += 1
            sums[3] += cache_hit
            sums[4] += row.prompt_tokens
            sums[5] += row.completion_tokens
            sums[6] += row.cached_tokens
            sums[7] += row.cost_usd
            sums[8] += row.cost_saved_usd
            sums[9] += row.latency_ms
            sums[_FIRST_LATENCY + bisect_left(BOUNDS_MS, row.latency_ms)] += 1
            ttft = row.ttft_ms
            if ttft is not None:
                sums[10] += 1
                sums[11] += ttft
                sums[_FIRST_TTFT + bisect_left(BOUNDS_MS, ttft)] += 1
            key = (
                second // DAY * DAY,
                model,
                row.feature or "",
                row.key_id or "",
                row.user_id or "",
                row.team_id or "",
            )
            sums = combinations.get(key)
            if sums is None:
                sums = combinations[key] = [0] * len(SPEND_SUMS)
            sums[0] += 1
            if row.status >= 400:
                sums[1] += 1
            sums[2] += cache_hit
            sums[3] += row.prompt_tokens
            sums[4] += row.completion_tokens
            sums[5] += row.cost_usd
            sums[6] += row.cost_saved_usd
        traffic: dict[tuple[Any, ...], list[float]] = {}
        for (minute, *dimensions), sums in minutes.items():
            traffic[(MINUTE, minute, *dimensions)] = sums
            for grain in GRAINS[1:]:
                _add(traffic, (grain, minute // grain * grain, *dimensions), sums)
        spend: dict[tuple[Any, ...], list[float]] = {}
        for (day, *values), sums in combinations.items():
            for dimension, value in zip(SPEND_DIMENSIONS, values, strict=True):
                _add(spend, (dimension, day, value), sums)
        return cls(
            traffic=[(*key, *traffic[key]) for key in sorted(traffic)],
            spend=[(*key, *spend[key]) for key in sorted(spend)],
        )


def _add(totals: dict[tuple[Any, ...], list[float]], key: tuple[Any, ...], sums: list[float]) -> None:
    existing = totals.get(key)
    totals[key] = list(sums) if existing is None else list(map(add, existing, sums))


def not_yet_stored(rows: Sequence[LedgerRow], stored: Iterable[tuple[str, float]]) -> list[LedgerRow]:
    """``rows`` less those whose (request_id, ts) is in ``stored`` or earlier in ``rows``.

    A batch retried after a commit that reported an error finds its rows stored already.
    """
    seen: dict[str, list[float]] = {}
    for request_id, ts in stored:
        seen.setdefault(request_id, []).append(ts)
    fresh: list[LedgerRow] = []
    for row in rows:
        times = seen.setdefault(row.request_id, [])
        if any(abs(ts - row.ts) < _SAME_TS for ts in times):
            continue
        times.append(row.ts)
        fresh.append(row)
    return fresh


class Pruner:
    """Says, at most once per hour of ledger time, which fine-grain rows have outlived RETENTION.

    Ledger time (the newest ``ts`` written), not a clock: replicas and tests agree on it, and
    an idle gateway deletes nothing.
    """

    __slots__ = ("_hour",)

    def __init__(self) -> None:
        self._hour = -1

    def due(self, rows: Sequence[LedgerRow]) -> list[tuple[int, int]]:
        """(grain, oldest bucket kept) pairs to delete below, or none when this hour was pruned."""
        if not rows:
            return []
        newest = int(max(row.ts for row in rows))
        if newest // HOUR <= self._hour:
            return []
        self._hour = newest // HOUR
        return [(grain, newest - kept) for grain, kept in sorted(RETENTION.items())]


PRUNE_SQL = "DELETE FROM rollup_traffic WHERE grain = {grain} AND bucket < {cutoff}"


# --------------------------------------------------------------------------- SQL, both dialects
Placeholder = Callable[[int], str]  # position (1-based) -> "?" or "$n"


def upsert_sql(table: str, keys: Sequence[str], sums: Sequence[str], placeholder: Placeholder) -> str:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` adding ``sums``: the same text on SQLite and PostgreSQL."""
    columns = (*keys, *sums)
    values = ", ".join(placeholder(position) for position in range(1, len(columns) + 1))
    additions = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in sums)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {additions}"
    )


UPSERT_TRAFFIC = "rollup_traffic", TRAFFIC_KEYS, TRAFFIC_SUMS
UPSERT_SPEND = "rollup_spend", SPEND_KEYS, SPEND_SUMS


def _histogram_sql(column: str) -> list[str]:
    parts = []
    for index in range(BUCKETS):
        if index == 0:
            condition = f"{column} <= {BOUNDS_MS[0]}"
        elif index < len(BOUNDS_MS):
            condition = f"{column} > {BOUNDS_MS[index - 1]} AND {column} <= {BOUNDS_MS[index]}"
        else:
            condition = f"{column} > {BOUNDS_MS[-1]}"
        parts.append(f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)")
    return parts


def _flag(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def backfill_sql(dialect: str) -> tuple[str, ...]:
    """``INSERT … SELECT`` statements that build both rollup tables from the ledger.

    They compute what ``RollupDeltas`` computes in Python (same buckets, same empty strings for
    NULL), so a backfilled table and one filled at write time hold the same numbers. Fine
    grains are built for their RETENTION only (up to now), the rest for the whole ledger.
    """
    if dialect == "sqlite":
        second = "CAST(ts AS INTEGER)"
        recent = "ts >= CAST(strftime('%s', 'now') AS INTEGER) - {seconds}"
    else:
        second = "floor(extract(epoch FROM ts))::bigint"
        recent = "ts >= now() - interval '{seconds} seconds'"
    traffic_sums = [
        "COUNT(*)",
        _flag("fallbacks IS NOT NULL AND fallbacks <> ''"),
        _flag("attempts > 1"),
        _flag("cache_hit IS NOT NULL"),
        "SUM(prompt_tokens)",
        "SUM(completion_tokens)",
        "SUM(cached_tokens)",
        "SUM(cost_usd)",
        "SUM(cost_saved_usd)",
        "SUM(latency_ms)",
        "COUNT(ttft_ms)",
        "COALESCE(SUM(ttft_ms), 0)",
        *_histogram_sql("latency_ms"),
        *_histogram_sql("ttft_ms"),
    ]
    statements = []
    for grain in GRAINS:
        where = f" WHERE {recent.format(seconds=RETENTION[grain])}" if grain in RETENTION else ""
        statements.append(
            f"INSERT INTO rollup_traffic ({', '.join((*TRAFFIC_KEYS, *TRAFFIC_SUMS))}) "
            f"SELECT {grain}, {second} / {grain} * {grain}, COALESCE(model, ''), COALESCE(provider, ''), "
            f"COALESCE(deployment, ''), status / 100 * 100, {', '.join(traffic_sums)} "
            f"FROM ledger{where} GROUP BY 2, 3, 4, 5, 6"
        )
    spend_sums = [
        "COUNT(*)",
        _flag("status >= 400"),
        _flag("cache_hit IS NOT NULL"),
        "SUM(prompt_tokens)",
        "SUM(completion_tokens)",
        "SUM(cost_usd)",
        "SUM(cost_saved_usd)",
    ]
    for dimension in SPEND_DIMENSIONS:
        statements.append(
            f"INSERT INTO rollup_spend ({', '.join((*SPEND_KEYS, *SPEND_SUMS))}) "
            f"SELECT '{dimension}', {second} / {DAY} * {DAY}, COALESCE({dimension}, ''), "
            f"{', '.join(spend_sums)} FROM ledger GROUP BY 2, 3"
        )
    return tuple(statements)


def rollup_migration(dialect: str) -> tuple[str, ...]:
    """Migration 7: the ledger's ``fallbacks`` column, both rollup tables, and their backfill."""
    # SQLite: clustered on the primary key, so a time range is one contiguous read. PostgreSQL:
    # room left on each page, so the constant updates stay heap-only (no index write per update).
    if dialect == "sqlite":
        text, integer, real, tail = "TEXT", "INTEGER", "REAL", " WITHOUT ROWID"
    else:
        text, integer, real, tail = "text", "bigint", "double precision", " WITH (fillfactor = 70)"

    def column(name: str) -> str:
        return f"{name} {real if name in FLOAT_SUMS else integer} NOT NULL DEFAULT 0"

    traffic = ",\n        ".join(column(name) for name in TRAFFIC_SUMS)
    spend = ",\n        ".join(column(name) for name in SPEND_SUMS)
    return (
        f"ALTER TABLE ledger ADD COLUMN fallbacks {text}",
        f"""CREATE TABLE rollup_traffic (
        grain {integer} NOT NULL,
        bucket {integer} NOT NULL,
        model {text} NOT NULL,
        provider {text} NOT NULL,
        deployment {text} NOT NULL,
        status_class {integer} NOT NULL,
        {traffic},
        PRIMARY KEY ({", ".join(TRAFFIC_KEYS)})
    ){tail}""",
        f"""CREATE TABLE rollup_spend (
        dimension {text} NOT NULL,
        day {integer} NOT NULL,
        value {text} NOT NULL,
        {spend},
        PRIMARY KEY ({", ".join(SPEND_KEYS)})
    ){tail}""",
        *backfill_sql(dialect),
    )


def traffic_query(
    group_by: Sequence[str], step: int | None, placeholder: Placeholder
) -> tuple[str, tuple[str, ...]]:
    """SELECT over ``rollup_traffic`` for one grain and [start, end): the SQL and its result columns.

    Parameters, in order: grain, start, end. Rows are per ``t`` (the start of each ``step``
    seconds, when given) and per ``group_by`` (checked against TRAFFIC_DIMENSIONS).
    """
    unknown = [name for name in group_by if name not in TRAFFIC_DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown traffic dimension {unknown[0]!r}")
    if step is not None and step <= 0:
        raise ValueError("step must be positive")
    groups = [*([f"bucket / {int(step)} * {int(step)}"] if step else []), *group_by]
    columns = (*(["t"] if step else []), *group_by, *TRAFFIC_SUMS)
    selected = [*groups, *(f"SUM({name})" for name in TRAFFIC_SUMS)]
    sql = (
        f"SELECT {', '.join(selected)} FROM rollup_traffic "
        f"WHERE grain = {placeholder(1)} AND bucket >= {placeholder(2)} AND bucket < {placeholder(3)}"
    )
    if groups:
        positions = ", ".join(str(position) for position in range(1, len(groups) + 1))
        sql += f" GROUP BY {positions} ORDER BY {positions}"
    return sql, columns


def spend_query(by_day: bool, placeholder: Placeholder) -> tuple[str, tuple[str, ...]]:
    """SELECT over ``rollup_spend`` for one dimension and days in [start, end): SQL and result columns.

    Parameters, in order: dimension, start, end, limit. Rows are per value (and day, first, when
    ``by_day``), ordered by cost, highest first.
    """
    groups = ("day", "value") if by_day else ("value",)
    selected = [*groups, *(f"SUM({name})" for name in SPEND_SUMS)]
    positions = ", ".join(str(position) for position in range(1, len(groups) + 1))
    cost = len(groups) + SPEND_SUMS.index("cost_usd") + 1
    sql = (
        f"SELECT {', '.join(selected)} FROM rollup_spend WHERE dimension = {placeholder(1)} "
        f"AND day >= {placeholder(2)} AND day < {placeholder(3)} "
        f"GROUP BY {positions} ORDER BY {cost} DESC, {positions} LIMIT {placeholder(4)}"
    )
    return sql, (*groups, *SPEND_SUMS)


def result_row(columns: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """A result row as a dict: "" back to None in text columns, sums as int or float."""
    row: dict[str, Any] = {}
    for name, value in zip(columns, values, strict=True):
        if name in FLOAT_SUMS:
            row[name] = float(value or 0.0)
        elif name in _INTEGER_COLUMNS:
            row[name] = int(value or 0)
        else:
            row[name] = value or None
    return row


def day_range(start: float, end: float) -> tuple[int, int]:
    """The [first, last) day starts covering [start, end)."""
    first = int(start) // DAY * DAY
    last = -(-int(end) // DAY) * DAY
    return first, max(last, first + DAY)


class RollupStore(ABC):
    """The reads the dashboard makes: rollup totals and the latest ledger rows (never a ledger scan)."""

    @abstractmethod
    async def rollup_traffic(
        self,
        start: float,
        end: float,
        *,
        grain: int = MINUTE,
        step: int | None = None,
        group_by: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Traffic totals of [start, end) at ``grain`` (one of GRAINS), per ``step`` seconds and ``group_by``.

        Each row: ``t`` (when ``step`` is given), the ``group_by`` columns, then TRAFFIC_SUMS;
        ordered by ``t`` then the groups. A bucket counts when it starts in [start rounded down to
        the grain, end): the bucket in progress at ``end`` is included.
        """

    @abstractmethod
    async def rollup_spend(
        self, start: float, end: float, dimension: str, *, by_day: bool = False, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Spend of the UTC days overlapping [start, end) per value of ``dimension`` (SPEND_DIMENSIONS).

        Each row: ``day`` (the unix time of its start, when ``by_day``), ``value`` (None for
        requests without one), then SPEND_SUMS; ordered by cost, highest first.
        """

    @abstractmethod
    async def recent_requests(self, limit: int = 50) -> list[LedgerRow]:
        """The latest ledger rows, newest first (read through the index on ``ts``)."""


def check_spend_dimension(dimension: str) -> None:
    """Refuse a name outside SPEND_DIMENSIONS (it is compared, never interpolated, but must exist)."""
    if dimension not in SPEND_DIMENSIONS:
        raise ValueError(
            f"unknown spend dimension {dimension!r}; expected one of {', '.join(SPEND_DIMENSIONS)}"
        )
