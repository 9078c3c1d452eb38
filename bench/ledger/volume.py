"""The PostgreSQL ledger at volume: partitioned by day (migration 9) against the single table before it.

Three measurements, each on both layouts (two fresh schemas, dropped afterwards):

1. **write throughput** of ``Store.write_ledger`` (the ledger writer's path: batches of 1,000 rows,
   one transaction each with their rollup totals), one writer, rows timed "now";
2. **request-log reads** (``Store.list_requests``, what ``GET /admin/requests`` runs) on a ledger of
   ``--rows`` rows over ``--days`` days, generated in SQL: the median of ``--repeat`` runs of each;
3. **expiring the oldest five days**: ``expire_ledger_before`` (drop their partitions) on the
   partitioned table against ``DELETE … WHERE ts < cut-off`` and the ``VACUUM`` it calls for on the
   single table;

and the time migration 9 takes to convert the populated single table.

    .venv/bin/python bench/ledger/volume.py --rows 2000000 --days 30

The single table is made by migrations 1-8 (the release before), the partitioned one by all of
them, so both have exactly the indexes a real database has.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from bastion.store import migrations
from bastion.store.postgres import PostgresStore
from bastion.store.records import LedgerRow

DAY = 86_400.0
BATCH = 1000
KEYS, USERS, TEAMS, FEATURES, MODELS = 1000, 5000, 50, 12, 8


def _rows(count: int, start: float, seed: int) -> list[LedgerRow]:
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        status = 200 if rng.random() > 0.03 else rng.choice((429, 500, 502))
        rows.append(
            LedgerRow(
                request_id=f"w{seed}-{index}",
                ts=start + index * 0.001,
                key_id=f"key-{rng.randrange(KEYS)}",
                user_id=f"user-{rng.randrange(USERS)}",
                team_id=f"team-{rng.randrange(TEAMS)}",
                feature=f"feature-{rng.randrange(FEATURES)}",
                model=f"model-{rng.randrange(MODELS)}",
                provider="openai",
                deployment="gpt-4o-mini",
                route="chat",
                stream=rng.random() < 0.4,
                prompt_tokens=rng.randint(20, 2000),
                completion_tokens=rng.randint(5, 600),
                cost_usd=rng.random() / 100,
                latency_ms=rng.uniform(50, 3000),
                ttft_ms=rng.uniform(20, 800),
                status=status,
                attempts=1,
            )
        )
    return rows


# 0.1% of rows are 500s (a rare status to filter on), 3% 429s
_GENERATE = f"""
INSERT INTO ledger (ts, request_id, key_id, user_id, team_id, feature, model, provider, deployment,
    route, stream, prompt_tokens, completion_tokens, cost_usd, latency_ms, ttft_ms, status, attempts)
SELECT to_timestamp($1::float8 + i * $2::float8), 'g-' || i, 'key-' || (i * 7919 % {KEYS}),
    'user-' || (i * 104729 % {USERS}), 'team-' || (i % {TEAMS}), 'feature-' || (i % {FEATURES}),
    'model-' || (i % {MODELS}), 'openai', 'gpt-4o-mini', 'chat', i % 5 < 2, 20 + i % 1980, 5 + i % 600,
    (i % 1000) / 100000.0, 50 + i % 2950, 20 + i % 780,
    CASE WHEN i % 1000 = 7 THEN 500 WHEN i % 100 < 3 THEN 429 ELSE 200 END, 1
FROM generate_series($3::bigint, $4::bigint) AS i
"""


_SORTED_BY_ALIAS = (
    "SELECT extract(epoch FROM ts)::float8 AS ts, request_id FROM ledger ORDER BY ts DESC LIMIT 100"
)
#: the UTC midnight at or before the unix time $1
_MIDNIGHT = "date_trunc('day', to_timestamp($1) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


async def _timed(action: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    """The median milliseconds of ``repeat`` runs (after one warm-up run), and the last result."""
    result = await action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = await action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


async def _store(dsn: str, schema: str, partitioned: bool) -> PostgresStore:
    store = PostgresStore(dsn, min_size=1, max_size=4, schema=schema)
    saved = migrations.MIGRATIONS
    if not partitioned:
        migrations.MIGRATIONS = tuple(m for m in saved if m.version <= 8)
    try:
        await store.open()
    finally:
        migrations.MIGRATIONS = saved
    return store


async def write_throughput(dsn: str, rows: int) -> dict[str, float]:
    results = {}
    for label, partitioned in (("single table (v8)", False), ("partitioned by day (v9)", True)):
        schema = f"bench_ledger_write_{'p' if partitioned else 's'}"
        store = await _store(dsn, schema, partitioned)
        try:
            batches = [_rows(BATCH, time.time() + n, seed=n) for n in range(rows // BATCH)]
            await store.write_ledger(batches[0])  # warm-up: prepared statements, first pages
            started = time.perf_counter()
            for batch in batches[1:]:
                await store.write_ledger(batch)
            elapsed = time.perf_counter() - started
            results[label] = (len(batches) - 1) * BATCH / elapsed
        finally:
            await store.close()
            await _drop(dsn, schema)
    return results


async def _fill(store: PostgresStore, rows: int, days: int, now: float) -> float:
    """``rows`` rows evenly over the ``days`` days before ``now``; seconds it took."""
    start = now - days * DAY
    step = days * DAY / rows
    pool = store._require_pool()
    started = time.perf_counter()
    chunk = 250_000
    for first in range(0, rows, chunk):
        await pool.execute(_GENERATE, start, step, first, min(rows, first + chunk) - 1)
    await pool.execute("ANALYZE ledger")
    return time.perf_counter() - started


async def reads_and_expiry(
    dsn: str, rows: int, days: int, repeat: int, expire_days: int = 5
) -> dict[str, dict[str, float]]:
    now = time.time()
    queries: dict[str, dict[str, Any]] = {
        "newest 100": {},
        "key_id, newest 100": {"filters": {"key_id": "key-42"}},
        "key_id, one day": {"filters": {"key_id": "key-42"}, "start": now - 3 * DAY, "end": now - 2 * DAY},
        "user_id, newest 100": {"filters": {"user_id": "user-1234"}},
        "team_id + model, newest 100": {"filters": {"team_id": "team-7", "model": "model-7"}},
        "feature, newest 100": {"filters": {"feature": "feature-3"}},
        "status 500 (0.1%), newest 100": {"filters": {"status": 500}},
        "status 500, one day": {"filters": {"status": 500}, "start": now - 3 * DAY, "end": now - 2 * DAY},
        "status 500 + key_id": {"filters": {"status": 500, "key_id": "key-7"}},
        "one request id": {"request_id": "g-123456"},
    }
    results: dict[str, dict[str, float]] = {}
    for label, partitioned in (("single table (v8)", False), ("partitioned by day (v9)", True)):
        schema = f"bench_ledger_read_{'p' if partitioned else 's'}"
        store = await _store(dsn, schema, partitioned)
        measured: dict[str, float] = {}
        try:
            if partitioned:  # the days the data covers, as the background task would have made them
                for day in range(days + 1):
                    await store.create_ledger_partitions(days_ahead=2, now=now - day * DAY)
            measured["fill seconds"] = await _fill(store, rows, days, now)
            size = await store._require_pool().fetchval(
                "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), pg_total_relation_size('ledger')) "
                "FROM pg_inherits WHERE inhparent = 'ledger'::regclass"
            )
            measured["bytes per row on disk (table and indexes)"] = size / rows
            for name, query in queries.items():
                milliseconds, found = await _timed(
                    lambda store=store, query=query: store.list_requests(limit=100, **query), repeat
                )
                measured[f"{name} (ms, {len(found)} rows)"] = milliseconds
            pool = store._require_pool()
            # how list_requests ordered before: by the select list's float ``ts``, not the column
            milliseconds, _ = await _timed(lambda pool=pool: pool.fetch(_SORTED_BY_ALIAS), 3)
            measured["newest 100, sorted by the select list's ts (ms)"] = milliseconds
            cutoff = now - (days - expire_days) * DAY  # the oldest days
            expired = await pool.fetchval(f"SELECT count(*) FROM ledger WHERE ts < {_MIDNIGHT}", cutoff)
            started = time.perf_counter()
            if partitioned:
                removed = await store.expire_ledger_before(cutoff)
            else:  # what retention did before: delete the same whole days' rows
                status = await pool.execute(f"DELETE FROM ledger WHERE ts < {_MIDNIGHT}", cutoff)
                removed = int(status.rsplit(" ", 1)[-1])
            measured[f"expire {expired} rows (ms)"] = (time.perf_counter() - started) * 1000
            assert removed == expired, (removed, expired)
            if not partitioned:  # the deleted rows stay in the table and its indexes until a vacuum
                started = time.perf_counter()
                await pool.execute("VACUUM ledger")
                measured["then VACUUM, as autovacuum would (ms)"] = (time.perf_counter() - started) * 1000
            if not partitioned:  # migration 9 on this populated single table
                left = await pool.fetchval("SELECT count(*) FROM ledger")
                await store.close()
                started = time.perf_counter()
                store = await _store(dsn, schema, partitioned=True)
                measured[f"migration 9 on {left} rows (s)"] = time.perf_counter() - started
                pool = store._require_pool()
                assert await pool.fetchval("SELECT count(*) FROM ledger") == left
        finally:
            await store.close()
            await _drop(dsn, schema)
        results[label] = measured
    return results


async def _drop(dsn: str, schema: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rows", type=int, default=2_000_000, help="ledger size for the reads")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--write-rows", type=int, default=200_000, help="0 skips the write measurement")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    if args.write_rows:
        for label, rate in (await write_throughput(args.postgres, args.write_rows)).items():
            print(f"write_ledger, {label}: {rate:,.0f} rows/s")
    for label, measured in (await reads_and_expiry(args.postgres, args.rows, args.days, args.repeat)).items():
        print(f"\n{label}, {args.rows:,} rows over {args.days} days:")
        for name, value in measured.items():
            print(f"  {name:45s} {value:10.1f}")


if __name__ == "__main__":
    asyncio.run(main())
