"""The dashboard's rollup tables on both databases: filled with each ledger batch, backfilled, read back."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import fields, replace
from typing import Any

import pytest

from bastion.store.base import Store
from bastion.store.records import LedgerRow
from bastion.store.rollups import (
    BOUNDS_MS,
    BUCKETS,
    DAY,
    FIVE_MINUTES,
    HOUR,
    LATENCY_COLUMNS,
    MINUTE,
    SPEND_DIMENSIONS,
    SPEND_SUMS,
    TRAFFIC_SUMS,
    TTFT_COLUMNS,
    Pruner,
    RollupDeltas,
    bucket_index,
    not_yet_stored,
    quantile,
)
from tests.unit.store.test_store_contract import StoreMaker, make_store, store  # noqa: F401  (fixtures)

T0 = 1_780_000_020.0  # 20 s past a minute, mid-hour and mid-day: buckets are cut, not aligned


def _rows(count: int, seed: int = 7, start: float = T0) -> list[LedgerRow]:
    """Requests spread over two days, several models, deployments, statuses and features."""
    rng = random.Random(seed)
    rows = []
    for number in range(count):
        status = rng.choice((200, 200, 200, 200, 429, 503, 400))
        cached = rng.random() < 0.2
        rows.append(
            LedgerRow(
                f"req-{seed}-{number}",
                ts=start + number * 173.3,
                key_id=rng.choice(("key_a", "key_b", None)),
                user_id=rng.choice(("alice", "bob", None)),
                team_id=rng.choice(("search", None)),
                feature=rng.choice(("chat", "summaries", None)),
                model=rng.choice(("gpt", "claude")),
                provider=rng.choice(("openai", "anthropic")),
                deployment=rng.choice(("gpt-4o", "sonnet", None)),
                status=status,
                prompt_tokens=rng.randrange(1000),
                completion_tokens=rng.randrange(500),
                cached_tokens=rng.randrange(50),
                cost_usd=rng.random() / 100,
                cost_saved_usd=rng.random() / 100 if cached else 0.0,
                cache_hit="hit" if cached else None,
                latency_ms=rng.choice((0.4, 1.0, 2.5, 80.0, 999.9, 1000.0, 45_000.0, 200_000.0)),
                ttft_ms=rng.choice((None, 0.9, 30.0, 700.0, 130_000.0)),
                attempts=rng.choice((1, 1, 2, 3)),
                fallbacks=rng.choice((None, None, "claude")),
            )
        )
    return rows


# --------------------------------------------------------------------------- pure functions


def test_bucket_index_puts_a_bound_in_its_own_bucket() -> None:
    assert bucket_index(0) == 0
    assert bucket_index(1) == 0
    assert bucket_index(1.0001) == 1
    assert bucket_index(BOUNDS_MS[-1]) == BUCKETS - 2
    assert bucket_index(BOUNDS_MS[-1] + 1) == BUCKETS - 1


def test_quantile_interpolates_within_the_bucket() -> None:
    counts = [0] * BUCKETS
    counts[bucket_index(100)] = 100  # everything in (70, 100]
    assert quantile(counts, 0.5) == pytest.approx(85.0)
    assert quantile(counts, 1.0) == pytest.approx(100.0)
    counts[BUCKETS - 1] = 100  # half of it past the last bound
    assert quantile(counts, 0.99) == BOUNDS_MS[-1]
    assert quantile([0] * BUCKETS, 0.5) is None


def test_quantile_is_close_to_the_exact_percentile() -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(6, 0.8) for _ in range(20_000)]  # median about 400 ms
    counts = [0] * BUCKETS
    for value in values:
        counts[bucket_index(value)] += 1
    ordered = sorted(values)
    for q in (0.5, 0.95, 0.99):
        exact = ordered[int(q * len(ordered)) - 1]
        assert quantile(counts, q) == pytest.approx(exact, rel=0.15)


def test_a_retried_batch_and_repeated_rows_are_left_out() -> None:
    rows = [LedgerRow("a", ts=T0), LedgerRow("a", ts=T0 + 1), LedgerRow("b", ts=T0), LedgerRow("b", ts=T0)]
    fresh = not_yet_stored(rows, [("a", T0 + 0.000001)])
    assert [(row.request_id, row.ts) for row in fresh] == [("a", T0 + 1), ("b", T0)]


def test_deltas_are_sorted_by_key_so_writers_lock_rows_in_one_order() -> None:
    deltas = RollupDeltas.of(_rows(200))
    keys = [row[:6] for row in deltas.traffic]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert {row[0] for row in deltas.traffic} == {MINUTE, FIVE_MINUTES, HOUR}
    spend_keys = [row[:3] for row in deltas.spend]
    assert spend_keys == sorted(spend_keys) and {key[0] for key in spend_keys} == set(SPEND_DIMENSIONS)


def test_the_pruner_runs_once_per_hour_of_ledger_time() -> None:
    pruner = Pruner()
    assert pruner.due([]) == []
    assert pruner.due([LedgerRow("a", ts=T0)]) == [(MINUTE, int(T0) - DAY), (FIVE_MINUTES, int(T0) - 2 * DAY)]
    assert pruner.due([LedgerRow("b", ts=T0 + 60)]) == []  # same hour
    assert pruner.due([LedgerRow("c", ts=T0 - 7200)]) == []  # a late row: time does not go back
    assert pruner.due([LedgerRow("d", ts=T0 + HOUR)])[0] == (MINUTE, int(T0) + HOUR - DAY)


# --------------------------------------------------------------------------- both databases


async def test_traffic_totals_series_and_percentiles(store: Store) -> None:  # noqa: F811
    rows = _rows(300)
    await store.write_ledger(rows[:120])
    await store.write_ledger(rows[120:])
    end = rows[-1].ts + 1
    for grain in (MINUTE, FIVE_MINUTES, HOUR):
        (total,) = await store.rollup_traffic(T0, end, grain=grain)
        assert total["requests"] == 300
        assert total["fallbacks"] == sum(1 for row in rows if row.fallbacks)
        assert total["retried"] == sum(1 for row in rows if row.attempts > 1)
        assert total["cache_hits"] == sum(1 for row in rows if row.cache_hit)
        assert total["prompt_tokens"] == sum(row.prompt_tokens for row in rows)
        assert total["cost_usd"] == pytest.approx(sum(row.cost_usd for row in rows))
        assert total["cost_saved_usd"] == pytest.approx(sum(row.cost_saved_usd for row in rows))
        assert total["ttft_count"] == sum(1 for row in rows if row.ttft_ms is not None)
        assert sum(total[name] for name in LATENCY_COLUMNS) == 300
        assert sum(total[name] for name in TTFT_COLUMNS) == total["ttft_count"]
        assert total[LATENCY_COLUMNS[-1]] == sum(1 for row in rows if row.latency_ms > BOUNDS_MS[-1])

    series = await store.rollup_traffic(T0, end, grain=MINUTE, step=3600)
    assert [point["t"] % 3600 for point in series] == [0] * len(series)
    assert sum(point["requests"] for point in series) == 300
    per_hour: dict[int, int] = {}
    for row in rows:
        per_hour[int(row.ts) // 3600 * 3600] = per_hour.get(int(row.ts) // 3600 * 3600, 0) + 1
    assert {point["t"]: point["requests"] for point in series} == per_hour

    by_deployment = await store.rollup_traffic(T0, end, group_by=["model", "deployment", "status_class"])
    expected: dict[tuple[Any, ...], int] = {}
    for row in rows:
        key = (row.model, row.deployment, row.status // 100 * 100)
        expected[key] = expected.get(key, 0) + 1
    assert {
        (r["model"], r["deployment"], r["status_class"]): r["requests"] for r in by_deployment
    } == expected

    # a window that starts after the first rows leaves them out
    later = await store.rollup_traffic(rows[100].ts, end, grain=MINUTE)
    assert later[0]["requests"] == 200


async def test_spend_per_day_and_per_value(store: Store) -> None:  # noqa: F811
    rows = _rows(300)
    await store.write_ledger(rows)
    end = rows[-1].ts + 1
    per_day = await store.rollup_spend(T0, end, "model", by_day=True)
    expected: dict[tuple[int, str | None], float] = {}
    for row in rows:
        key = (int(row.ts) // DAY * DAY, row.model)
        expected[key] = expected.get(key, 0.0) + row.cost_usd
    assert {(r["day"], r["value"]): r["cost_usd"] for r in per_day} == pytest.approx(expected)
    costs = [r["cost_usd"] for r in per_day]
    assert costs == sorted(costs, reverse=True)

    for dimension in SPEND_DIMENSIONS:
        totals = {r["value"]: r for r in await store.rollup_spend(T0, end, dimension)}
        assert set(totals) == {getattr(row, dimension) for row in rows}  # "" reads back as None
        assert sum(r["requests"] for r in totals.values()) == 300
        assert sum(r["errors"] for r in totals.values()) == sum(1 for row in rows if row.status >= 400)
        assert sum(r["cost_usd"] for r in totals.values()) == pytest.approx(sum(row.cost_usd for row in rows))

    top = await store.rollup_spend(T0, end, "key_id", limit=2)
    assert len(top) == 2 and top[0]["cost_usd"] >= top[1]["cost_usd"]
    assert await store.rollup_spend(end + 3 * DAY, end + 4 * DAY, "model") == []
    with pytest.raises(ValueError, match="unknown spend dimension"):
        await store.rollup_spend(T0, end, "end_user")


async def test_fine_grains_are_pruned_as_ledger_time_moves_on(store: Store) -> None:  # noqa: F811
    await store.write_ledger(_rows(20))
    later = _rows(5, seed=3, start=T0 + 3 * DAY)
    await store.write_ledger(later)
    for grain, expected in ((MINUTE, 5), (FIVE_MINUTES, 5), (HOUR, 25)):
        (total,) = await store.rollup_traffic(T0, later[-1].ts + 1, grain=grain)
        assert total["requests"] == expected, grain


async def test_a_retried_batch_counts_once(store: Store) -> None:  # noqa: F811
    rows = _rows(50)
    await store.write_ledger(rows)
    await store.write_ledger(rows)  # committed, but the writer saw an error and tried again
    await store.write_ledger([*rows[:10], *_rows(5, seed=8)])  # a batch half old, half new
    (total,) = await store.rollup_traffic(T0, rows[-1].ts + 1, grain=HOUR)
    assert total["requests"] == 55
    assert sum(r["requests"] for r in await store.rollup_spend(T0, rows[-1].ts + 1, "team_id")) == 55


async def test_recent_requests_newest_first(store: Store) -> None:  # noqa: F811
    rows = _rows(30)
    await store.write_ledger(rows)
    recent = await store.recent_requests(5)
    assert [row.request_id for row in recent] == [row.request_id for row in reversed(rows[-5:])]
    assert recent[0] == rows[-1]


async def test_concurrent_writers_add_up(make_store: StoreMaker) -> None:  # noqa: F811
    writers = [make_store() for _ in range(3)]
    for writer in writers:
        await writer.open()
    batches = [_rows(100, seed=seed, start=T0) for seed in range(9)]  # same minutes, same deployments
    await asyncio.gather(*(writers[i % 3].write_ledger(batch) for i, batch in enumerate(batches)))
    (total,) = await writers[0].rollup_traffic(T0, T0 + 2 * DAY, grain=HOUR)
    assert total["requests"] == 900
    assert total["cost_usd"] == pytest.approx(sum(row.cost_usd for batch in batches for row in batch))


async def test_the_migration_backfills_what_the_writer_would_have_written(
    make_store: StoreMaker,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bastion.store import migrations

    recent = _rows(30, seed=5, start=time.time() - 3 * HOUR)
    rows = [*_rows(300), *recent]
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:6])  # the release before rollups
        old = make_store()
        await old.open()
        # an old release writes no fallbacks column and no rollups
        await _insert_without_fallbacks(old, rows)
        await old.close()
    upgraded = make_store()
    await upgraded.open()  # migration 7 builds the rollups from the ledger

    end = rows[-1].ts + 1
    # hours and days from the whole ledger, minutes and 5 minutes only from the recent rows
    for grain, built_from in ((HOUR, rows), (FIVE_MINUTES, recent), (MINUTE, recent)):
        expected = RollupDeltas.of([_without_fallbacks(row) for row in built_from])
        got = await upgraded.rollup_traffic(T0, end, grain=grain, step=grain, group_by=_TRAFFIC_GROUPS)
        want = [_traffic(row) for row in expected.traffic if row[0] == grain]
        assert sorted(map(_rounded, got), key=repr) == sorted(map(_rounded, want), key=repr)
    expected = RollupDeltas.of([_without_fallbacks(row) for row in rows])
    for dimension in SPEND_DIMENSIONS:
        got_spend = await upgraded.rollup_spend(T0, end, dimension, by_day=True)
        want_spend = [_spend(row) for row in expected.spend if row[0] == dimension]
        assert sorted(map(_rounded, got_spend), key=repr) == sorted(map(_rounded, want_spend), key=repr)

    # new writes add to the backfilled totals
    await upgraded.write_ledger(_rows(10, seed=9))
    (total,) = await upgraded.rollup_traffic(T0, end + DAY, grain=HOUR)
    assert total["requests"] == 340


_TRAFFIC_GROUPS = ("model", "provider", "deployment", "status_class")


def _without_fallbacks(row: LedgerRow) -> LedgerRow:
    return replace(row, fallbacks=None)


def _traffic(values: tuple[Any, ...]) -> dict[str, Any]:
    _grain, bucket, model, provider, deployment, status_class, *sums = values
    row = {"t": bucket, "model": model or None, "provider": provider or None}
    row.update(deployment=deployment or None, status_class=status_class)
    row.update(zip(TRAFFIC_SUMS, sums, strict=True))
    return row


def _spend(values: tuple[Any, ...]) -> dict[str, Any]:
    _dimension, day, value, *sums = values
    return {"day": day, "value": value or None, **dict(zip(SPEND_SUMS, sums, strict=True))}


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {name: round(value, 6) if isinstance(value, float) else value for name, value in row.items()}


async def _insert_without_fallbacks(old: Store, rows: list[LedgerRow]) -> None:
    every = [field.name for field in fields(LedgerRow)]
    names = every[: every.index("fallbacks")]  # the columns of release 6: later ones came after
    values = [tuple(getattr(row, name) for name in names) for row in rows]
    if old.dialect == "sqlite":
        async with old._transaction("test") as connection:  # type: ignore[attr-defined]
            await connection.executemany(
                f"INSERT INTO ledger ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", values
            )
        return
    placeholders = ", ".join(
        f"to_timestamp(${i})" if name == "ts" else f"${i}" for i, name in enumerate(names, start=1)
    )
    async with old._transaction("test") as connection:  # type: ignore[attr-defined]
        await connection.executemany(
            f"INSERT INTO ledger ({', '.join(names)}) VALUES ({placeholders})", values
        )
