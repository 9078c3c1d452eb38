"""Fill a store with a realistic ledger (1M requests by default) for the dashboard benchmark.

Rows go through ``Store.write_ledger`` in batches of 1000, the path the gateway's ledger writer
takes, so the rollup tables are filled as in production and the write rate printed includes
them. Then, on the same data:

- the write overhead of the rollups: of the last 200 batches, every other one is written without
  them (same data, same moment, so machine noise hits both sides alike);
- the backfill that migration 7 runs on an existing ledger: the rollups are emptied and rebuilt
  from the whole ledger with the migration's own statements, and checked against the live totals.

    .venv/bin/python bench/dashboard/generate.py --sqlite /tmp/bastion-bench/dashboard.db
    .venv/bin/python bench/dashboard/generate.py \\
        --postgres postgresql://postgres@127.0.0.1:5432/test --schema bastion_bench_dashboard

The requests cover the last ``--days`` days up to now (a daily cycle, 5 model groups, 8
deployments, 12 features, 400 keys of 300 users in 20 teams, 4% errors, 2% fallbacks, 15% cache
hits, 40% streamed), plus a score for 1% of them. Existing data in the target is replaced.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bastion.store.base import Store
from bastion.store.postgres import PostgresStore
from bastion.store.records import FeedbackRecord, KeyRecord, LedgerRow, TeamRecord, UserRecord
from bastion.store.rollups import backfill_sql
from bastion.store.sqlite import SQLiteStore

BATCH = 1000
#: model group -> its deployments (provider, upstream model, median latency ms, $ per 1k tokens)
GROUPS = {
    "chat-fast": [("openai", "gpt-4o-mini", 450, 0.0004), ("azure", "gpt-4o-mini-eu", 520, 0.0004)],
    "chat-smart": [("anthropic", "claude-sonnet-4-5", 1400, 0.009), ("openai", "gpt-4o", 1100, 0.006)],
    "reasoning": [("openai", "o3", 6500, 0.02)],
    "summaries": [("gemini", "gemini-2.5-flash", 380, 0.0003)],
    "embeddings": [
        ("openai", "text-embedding-3-small", 60, 0.00002),
        ("gemini", "gemini-embedding-001", 55, 0.00002),
    ],
}
GROUP_WEIGHTS = [40, 25, 5, 20, 10]
FEATURES = [f"feature-{n:02d}" for n in range(12)]
TEAMS = [f"team-{n:02d}" for n in range(20)]
USERS = [(f"user-{n:03d}@example.com", TEAMS[n % len(TEAMS)]) for n in range(300)]
KEYS = [(f"key_{n:04x}", *USERS[n % len(USERS)]) for n in range(400)]


def rows(count: int, days: float, end: float, seed: int, prefix: str) -> Iterator[list[LedgerRow]]:
    """``count`` requests over ``days`` days before ``end``, oldest first, in batches."""
    rng = random.Random(seed)
    span = days * 86_400
    groups = list(GROUPS)
    batch: list[LedgerRow] = []
    # in time order, as the gateway writes them: a batch spans minutes, not the whole week
    for number, ts in enumerate(sorted(_moment(rng, end - span, span) for _ in range(count))):
        group = rng.choices(groups, GROUP_WEIGHTS)[0]
        provider, deployment, median, rate = rng.choice(GROUPS[group])
        key_id, user_id, team_id = rng.choice(KEYS)
        status = rng.choices((200, 429, 502, 503, 400, 500), (960, 15, 6, 5, 10, 4))[0]
        cached = status == 200 and group != "reasoning" and rng.random() < 0.15
        fallback = status == 200 and not cached and rng.random() < 0.02
        stream = group.startswith("chat") and rng.random() < 0.4
        prompt = int(rng.lognormvariate(6.5, 0.9))
        completion = 0 if group == "embeddings" or status != 200 else int(rng.lognormvariate(5.2, 0.8))
        latency = 2.0 if cached else rng.lognormvariate(math.log(median), 0.45) * (1.8 if fallback else 1.0)
        cost = 0.0 if cached or status != 200 else (prompt + 3 * completion) / 1000 * rate
        batch.append(
            LedgerRow(
                request_id=f"{prefix}{number:08d}",
                ts=ts,
                key_id=key_id,
                user_id=user_id,
                team_id=team_id,
                end_user=f"end-{rng.randrange(20_000)}",
                feature=rng.choice(FEATURES),
                model=group,
                provider=provider,
                deployment=deployment,
                route="embeddings" if group == "embeddings" else "chat",
                stream=stream,
                prompt_tokens=0 if cached else prompt,
                completion_tokens=0 if cached else completion,
                cached_tokens=0 if cached else int(prompt * rng.random() * 0.3),
                cost_usd=cost,
                cache_hit="hit" if cached else None,
                cost_saved_usd=(prompt + 3 * completion) / 1000 * rate if cached else 0.0,
                latency_ms=latency,
                ttft_ms=latency * rng.uniform(0.1, 0.4) if stream and status == 200 and not cached else None,
                status=status,
                error_code=None if status == 200 else "upstream_error",
                attempts=1 + (status >= 500) + (rng.random() < 0.03) + fallback,
                fallbacks="chat-fast" if fallback else None,
            )
        )
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _moment(rng: random.Random, start: float, span: float) -> float:
    """A random time in [start, start + span) on a daily cycle: twice as busy at 15:00 UTC as at 03:00."""
    while True:
        ts = start + rng.random() * span
        if rng.random() < 0.5 + 0.5 * (1 + math.sin((ts / 86_400 - 0.375) * 2 * math.pi)) / 2:
            return ts


def _remove_sqlite(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def open_target(args: argparse.Namespace) -> Store:
    if args.sqlite:
        _remove_sqlite(Path(args.sqlite))
        store: Store = SQLiteStore(args.sqlite)
    else:
        connection = await asyncpg.connect(args.postgres)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{args.schema}" CASCADE')
        finally:
            await connection.close()
        store = PostgresStore(args.postgres, max_size=4, schema=args.schema)
    await store.open()
    return store


async def write(store: Store, batches: Iterator[list[LedgerRow]], total: int, compare_last: int) -> Timings:
    """Write every batch; of the last ``compare_last``, every other one without the rollups."""
    timings = Timings()
    started = time.perf_counter()
    for index, batch in enumerate(batches):
        compared = index >= total // BATCH - compare_last
        skip = compared and index % 2 == 1
        if skip:  # an instance attribute hides the store's method for this one call
            store._write_rollups = _no_rollups  # type: ignore[attr-defined]
        began = time.perf_counter()
        try:
            await store.write_ledger(batch)
        finally:
            if skip:
                del store._write_rollups  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - began
        if compared:
            timings.add(skip, len(batch), elapsed)
        written = (index + 1) * BATCH
        if written % 100_000 == 0:
            rate = written / (time.perf_counter() - started)
            print(
                f"  {written:>9,} rows  {time.perf_counter() - started:6.1f} s  {rate:8,.0f} rows/s",
                flush=True,
            )
    timings.total = time.perf_counter() - started
    return timings


@dataclass
class Timings:
    total: float = 0.0
    with_rows: int = 0
    with_seconds: float = 0.0
    without_rows: int = 0
    without_seconds: float = 0.0

    def add(self, skipped: bool, rows: int, seconds: float) -> None:
        if skipped:
            self.without_rows += rows
            self.without_seconds += seconds
        else:
            self.with_rows += rows
            self.with_seconds += seconds


async def identities(store: Store) -> None:
    """The teams, users and keys the rows name, so the dashboard can say whose key spent what."""
    for team in TEAMS:
        await store.upsert_team(TeamRecord(team, name=team.replace("-", " ").title()))
    for user_id, team_id in USERS:
        await store.upsert_user(UserRecord(user_id, team_id=team_id))
    for key_id, user_id, team_id in KEYS:
        digest = hashlib.sha256(key_id.encode()).hexdigest()
        await store.create_key(
            KeyRecord(key_id, digest, f"bst_{digest[:4]}", user_id=user_id, team_id=team_id)
        )


async def feedback(store: Store, count: int, seed: int) -> None:
    rng = random.Random(seed)
    for number in rng.sample(range(count), count // 100):
        row = await store.get_ledger_row(f"r{number:08d}")
        if row is None:
            continue
        score = rng.choices((1.0, -1.0, 0.5), (70, 20, 10))[0]
        record = FeedbackRecord(
            id=f"fb_{number:08d}",
            request_id=row.request_id,
            ts=row.ts,
            score=score,
            key_id=row.key_id,
            model=row.model,
            deployment=row.deployment,
            provider=row.provider,
            feature=row.feature,
            user_id=row.user_id,
            team_id=row.team_id,
        )
        await store.upsert_feedback(record)


async def rollup_totals(store: Store) -> tuple[int, float]:
    (total,) = await store.rollup_traffic(0, time.time() + 86_400, grain=3600)
    return total["requests"], total["cost_usd"]


async def backfill(store: Store) -> float:
    """Empty the rollups and rebuild them with migration 7's statements; the seconds it took."""
    statements = ["DELETE FROM rollup_traffic", "DELETE FROM rollup_spend", *backfill_sql(store.dialect)]
    started = time.perf_counter()
    async with store._transaction("backfill") as connection:  # type: ignore[attr-defined]
        for statement in statements:
            await connection.execute(statement)
    return time.perf_counter() - started


async def _no_rollups(connection: object, rows: object) -> None:
    return None


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--sqlite", help="path of the SQLite file to (re)create")
    target.add_argument("--postgres", help="PostgreSQL DSN, e.g. postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--schema", default="bastion_bench_dashboard", help="PostgreSQL schema to (re)create")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--skip-extras", action="store_true", help="no overhead or backfill measurement")
    args = parser.parse_args()

    store = await open_target(args)
    end = time.time()
    compare = 0 if args.skip_extras else 200
    try:
        print(f"{store.dialect}: writing {args.rows:,} requests over {args.days:g} days")
        await identities(store)
        timings = await write(store, rows(args.rows, args.days, end, 1, "r"), args.rows, compare)
        print(f"wrote {args.rows:,} rows in {timings.total:.1f} s: {args.rows / timings.total:,.0f} rows/s")
        await feedback(store, args.rows, seed=2)
        if compare:
            with_rate = timings.with_rows / timings.with_seconds
            without_rate = timings.without_rows / timings.without_seconds
            print(
                f"write rate, last {compare} batches interleaved: with rollups {with_rate:,.0f} rows/s, "
                f"without {without_rate:,.0f} rows/s ({without_rate / with_rate - 1:+.0%} time with them)"
            )
            live = await rollup_totals(store)
            seconds = await backfill(store)
            rebuilt = await rollup_totals(store)
            print(f"backfill of {args.rows:,} ledger rows (what migration 7 runs): {seconds:.1f} s")
            print(
                f"  live rollups {live[0]:,} requests; rebuilt {rebuilt[0]:,} "
                f"(written without them: {timings.without_rows:,})"
            )
            if rebuilt[0] != live[0] + timings.without_rows:
                print("  MISMATCH between the backfill and the live rollups", file=sys.stderr)
                return 1
        requests, cost = await rollup_totals(store)
        print(f"rollups: {requests:,} requests, ${cost:,.2f}")
    finally:
        await store.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
