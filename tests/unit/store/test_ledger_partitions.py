"""The PostgreSQL ledger partitioned by day: the upgrade of a populated ledger, partitions made
ahead, stray rows moved out of the default partition, retention by dropping whole days.

SQLite has no partitions: there retention deletes rows, and making partitions is a no-op.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bastion.store.base import Store
from bastion.store.migrations import LATEST_VERSION
from bastion.store.records import LedgerRow
from bastion.store.sqlite import SQLiteStore
from tests.unit.store.test_store_contract import _postgres_skip_reason

POSTGRES_DSN = os.environ.get("BASTION_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
DAY = 86_400.0
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC).timestamp()  # the clock the tests pass in
MIDNIGHT = datetime(2026, 3, 10, tzinfo=UTC).timestamp()

Maker = Callable[[], Any]


@pytest.fixture
async def make_postgres() -> AsyncIterator[Maker]:
    """Makes unopened PostgresStores sharing one fresh schema, dropped afterwards."""
    reason = await _postgres_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    import asyncpg

    from bastion.store.postgres import PostgresStore

    schema = f"bastion_test_{uuid.uuid4().hex[:16]}"
    made: list[PostgresStore] = []

    def make() -> PostgresStore:
        made.append(PostgresStore(POSTGRES_DSN, min_size=1, max_size=4, schema=schema))
        return made[-1]

    try:
        yield make
    finally:
        for store in made:
            await store.close()
        connection = await asyncpg.connect(POSTGRES_DSN)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()


async def sql(store: Any, statement: str, *arguments: Any) -> list[Any]:
    """Run SQL past the Store interface, on the store's own pool (its schema)."""
    return list(await store._require_pool().fetch(statement, *arguments))


async def partitions(store: Any) -> dict[str, int]:
    """The ledger's partitions and how many rows each holds."""
    names = [
        row[0]
        for row in await sql(
            store,
            "SELECT c.relname FROM pg_inherits JOIN pg_class c ON c.oid = inhrelid "
            "WHERE inhparent = 'ledger'::regclass",
        )
    ]
    return {name: (await sql(store, f"SELECT count(*) FROM {name}"))[0][0] for name in sorted(names)}


def rows_over(days: list[float], per_day: int, prefix: str = "r") -> list[LedgerRow]:
    return [
        LedgerRow(
            f"{prefix}-{index}-{n}",
            ts=start + n * (DAY / per_day),
            key_id=f"key-{n % 3}",
            model="gpt",
            status=429 if n % 5 == 0 else 200,
            prompt_tokens=10,
            cost_usd=0.25,
        )
        for index, start in enumerate(days)
        for n in range(per_day)
    ]


async def test_upgrading_a_populated_ledger_keeps_every_row_in_its_day(
    make_postgres: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bastion.store import migrations

    days = [MIDNIGHT - 40 * DAY, MIDNIGHT - 2 * DAY, MIDNIGHT]
    written = rows_over(days, per_day=20)
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:8])  # the release before
        old = make_postgres()
        await old.open()
        await old.write_ledger(written)
        before = await old.usage_report(["key_id"])
        spend_before = await old.rollup_spend(days[0], NOW + DAY, "key_id")
        await old.close()

    new = make_postgres()
    await new.open()
    assert await new.schema_version() == LATEST_VERSION
    found = await partitions(new)
    for start in days:
        assert found[f"ledger_p{datetime.fromtimestamp(start, UTC):%Y%m%d}"] == 20
    assert found["ledger_default"] == 0
    assert sum(found.values()) == len(written)
    assert await new.usage_report(["key_id"]) == before
    assert await new.rollup_spend(days[0], NOW + DAY, "key_id") == spend_before

    # the primary key and every index are on each partition
    day_partition = f"ledger_p{datetime.fromtimestamp(days[1], UTC):%Y%m%d}"
    indexes = {
        row[0]
        for row in await sql(new, "SELECT indexdef FROM pg_indexes WHERE tablename = $1", day_partition)
    }
    columns = {definition.split("(", 1)[1].rstrip(")") for definition in indexes}
    assert columns == {
        "ts, request_id",
        "request_id",
        "key_id, ts",
        "user_id, ts",
        "team_id, ts",
        "feature, ts",
        "model, ts",
        "status, ts",
    }

    # a retried batch is still harmless, and the rollups still count each row once
    await new.write_ledger(written[:10])
    assert await new.usage_report(["key_id"]) == before
    assert await new.rollup_spend(days[0], NOW + DAY, "key_id") == spend_before


async def test_partitions_are_made_ahead_once_and_stray_rows_move_into_their_day(
    make_postgres: Maker,
) -> None:
    store = make_postgres()
    await store.open()
    # rows of a day without a partition land in the default partition
    stray = rows_over([MIDNIGHT + 3 * DAY], per_day=4, prefix="stray")
    await store.write_ledger(stray)
    assert (await partitions(store))["ledger_default"] == 4

    created = await store.create_ledger_partitions(days_ahead=7, now=NOW)
    wanted = [f"ledger_p{datetime.fromtimestamp(NOW + n * DAY, UTC):%Y%m%d}" for n in range(-1, 8)]
    assert created == wanted
    found = await partitions(store)
    assert found["ledger_default"] == 0
    assert found[f"ledger_p{datetime.fromtimestamp(MIDNIGHT + 3 * DAY, UTC):%Y%m%d}"] == 4
    assert len(await store.list_requests(start=MIDNIGHT, limit=100)) == 4  # still read through the parent

    # a stray row far from now gets a partition of its own
    await store.write_ledger([LedgerRow("ancient", ts=MIDNIGHT - 300 * DAY)])
    assert await store.create_ledger_partitions(days_ahead=7, now=NOW) == [
        f"ledger_p{datetime.fromtimestamp(MIDNIGHT - 300 * DAY, UTC):%Y%m%d}"
    ]
    assert await store.create_ledger_partitions(days_ahead=7, now=NOW) == []


async def test_replicas_making_partitions_at_once_make_each_once(make_postgres: Maker) -> None:
    stores = [make_postgres() for _ in range(3)]
    for store in stores:
        await store.open()
    made = await asyncio.gather(*(store.create_ledger_partitions(days_ahead=5, now=NOW) for store in stores))
    names = [name for created in made for name in created]
    assert len(names) == len(set(names)) == 7


async def test_retention_drops_whole_days_and_the_default_partitions_old_rows(make_postgres: Maker) -> None:
    store = make_postgres()
    await store.open()
    await store.create_ledger_partitions(days_ahead=1, now=MIDNIGHT - 5 * DAY)  # days -6 .. -4
    await store.create_ledger_partitions(days_ahead=1, now=NOW)  # days -1 .. +1
    written = rows_over([MIDNIGHT - n * DAY for n in (6, 5, 4)], per_day=10)
    written += rows_over([MIDNIGHT - 9 * DAY], per_day=3, prefix="default")  # no partition: the default one
    written += rows_over([MIDNIGHT], per_day=10, prefix="today")
    await store.write_ledger(written)
    assert (await partitions(store))["ledger_default"] == 3

    # 3.5 days ago: days -6 and -5 are past entirely, day -4 only partly, so it stays whole
    removed = await store.expire_ledger_before(MIDNIGHT - 3.5 * DAY)
    assert removed == 10 + 10 + 3
    left = await partitions(store)
    assert f"ledger_p{datetime.fromtimestamp(MIDNIGHT - 6 * DAY, UTC):%Y%m%d}" not in left
    assert f"ledger_p{datetime.fromtimestamp(MIDNIGHT - 5 * DAY, UTC):%Y%m%d}" not in left
    assert left[f"ledger_p{datetime.fromtimestamp(MIDNIGHT - 4 * DAY, UTC):%Y%m%d}"] == 10
    assert left["ledger_default"] == 0
    assert (await store.usage_report([]))[0]["requests"] == 20
    assert await store.expire_ledger_before(MIDNIGHT - 3.5 * DAY) == 0  # a second replica finds nothing

    # the rollups keep what the dropped days added (the dashboard's history outlives the ledger)
    spend = await store.rollup_spend(MIDNIGHT - 10 * DAY, NOW, "model")
    assert spend[0]["requests"] == len(written)


async def test_a_query_with_a_time_range_reads_only_its_days(make_postgres: Maker) -> None:
    store = make_postgres()
    await store.open()
    await store.create_ledger_partitions(days_ahead=3, now=NOW)
    start, end = MIDNIGHT, MIDNIGHT + DAY
    plan = "\n".join(
        row[0]
        for row in await sql(
            store,
            "EXPLAIN SELECT * FROM ledger WHERE ts >= to_timestamp($1) AND ts < to_timestamp($2) "
            "AND key_id = 'k' ORDER BY ts DESC LIMIT 100",
            start,
            end,
        )
    )
    today = f"ledger_p{datetime.fromtimestamp(start, UTC):%Y%m%d}"
    assert today in plan
    assert f"ledger_p{datetime.fromtimestamp(start + DAY, UTC):%Y%m%d}" not in plan
    assert "ledger_default" not in plan


async def test_sqlite_deletes_expired_rows_and_has_no_partitions(tmp_path: Any) -> None:
    store: Store = SQLiteStore(str(tmp_path / "bastion.db"))
    await store.open()
    try:
        await store.write_ledger(rows_over([MIDNIGHT - 6 * DAY, MIDNIGHT], per_day=4))
        assert await store.create_ledger_partitions(now=NOW) == []
        assert await store.expire_ledger_before(MIDNIGHT - 4.5 * DAY) == 4
        assert (await store.usage_report([]))[0]["requests"] == 4
    finally:
        await store.close()


async def test_sqlite_sparse_dimension_indexes_skip_empty_rows_and_still_serve_filters(tmp_path: Any) -> None:
    store = SQLiteStore(str(tmp_path / "bastion.db"))
    await store.open()
    try:
        rows = rows_over([MIDNIGHT - DAY, MIDNIGHT], per_day=4)
        rows[0].user_id, rows[0].feature = "u1", "search"
        await store.write_ledger(rows)
        for column, value in (("user_id", "u1"), ("team_id", "t1"), ("feature", "search")):
            plan = " ".join(
                str(row[-1])
                for row in await store._read(
                    f"EXPLAIN QUERY PLAN SELECT request_id FROM ledger WHERE {column} = ? ORDER BY ts DESC",
                    (value,),
                )
            )
            assert f"INDEX ledger_{column}_ts" in plan, plan  # the partial index serves the filter
            [(sql,)] = await store._read(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (f"ledger_{column}_ts",)
            )
            assert sql.endswith(f"WHERE {column} IS NOT NULL")  # rows without a value are not in it
        [row] = await store.list_requests(filters={"user_id": "u1"})
        assert row.request_id == rows[0].request_id
    finally:
        await store.close()
