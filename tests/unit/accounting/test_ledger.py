"""BatchWriter: rows leave the request path at once and reach storage in batches, even through failures."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from bastion.accounting.ledger import BatchWriter
from bastion.store.records import LedgerRow
from bastion.store.sqlite import SQLiteStore


class Sink:
    """A ``write`` recording each batch; it can fail before or after storing (like a lost commit reply)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.stored: dict[int, int] = {}  # idempotent on the row, like the ledger's request_id
        self.fail_before = 0  # the next N writes fail without storing
        self.fail_after = 0  # the next N writes store, then fail
        self.broken = False  # every write fails until repaired
        self.error = ConnectionError("connection to postgresql://bastion:hunter2@db:5432/bastion lost")

    async def probe(self) -> None:
        """Like the gateway's probe (``schema_version``): fails while the database is away."""
        if self.broken:
            raise self.error

    async def write(self, rows: Sequence[int]) -> None:
        await asyncio.sleep(0)
        if self.broken or self.fail_before:
            self.fail_before = max(0, self.fail_before - 1)
            raise self.error
        self.batches.append(list(rows))
        for row in rows:
            self.stored.setdefault(row, row)
        if self.fail_after:
            self.fail_after -= 1
            raise self.error

    @property
    def rows(self) -> list[int]:
        return [row for batch in self.batches for row in batch]


class FastSleep:
    """Backoff without waiting: records the delays asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


async def wait_until(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


def writer(sink: Sink, **options: Any) -> BatchWriter[int]:
    options.setdefault("sleep", FastSleep())
    return BatchWriter(sink.write, name="test-ledger", **options)


async def test_a_full_batch_is_written_without_waiting_for_the_interval() -> None:
    sink = Sink()
    batches = writer(sink, batch_size=10, flush_interval=60.0)
    batches.start()
    assert all(batches.submit(row) for row in range(25))
    await wait_until(lambda: batches.written == 20)
    await asyncio.sleep(0.05)
    assert sink.batches == [list(range(10)), list(range(10, 20))]
    assert batches.queued == 5  # a partial batch waits for the interval (or close)
    await batches.close()
    assert sink.batches[-1] == list(range(20, 25))
    assert (batches.written, batches.dropped, batches.failed_batches) == (25, 0, 0)


async def test_a_partial_batch_is_written_after_the_flush_interval() -> None:
    sink = Sink()
    batches = writer(sink, batch_size=1000, flush_interval=0.05)
    batches.start()
    started = time.monotonic()
    for row in range(3):
        batches.submit(row)
    await asyncio.sleep(0.01)
    assert sink.batches == []  # rows wait for company, up to the interval
    await wait_until(lambda: batches.written == 3)
    assert time.monotonic() - started >= 0.04
    assert sink.batches == [[0, 1, 2]]
    batches.submit(3)
    await wait_until(lambda: batches.written == 4)
    assert sink.batches == [[0, 1, 2], [3]]
    await batches.close()


async def test_submit_refuses_and_counts_rows_when_the_queue_is_full(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = Sink()
    batches = writer(sink, max_queue=3)
    with caplog.at_level(logging.WARNING, logger="bastion.accounting"):
        assert [batches.submit(row) for row in range(5)] == [True, True, True, False, False]
    assert (batches.queued, batches.dropped) == (3, 2)
    assert len([r for r in caplog.records if "queue full" in r.getMessage()]) == 1  # once per streak
    await batches.flush()
    assert sink.rows == [0, 1, 2] and batches.queued == 0
    assert batches.submit(5) is True


async def test_a_failed_write_is_retried_with_backoff_without_losing_or_duplicating_rows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = Sink()
    sleep = FastSleep()
    sink.fail_before = 3
    batches = writer(sink, batch_size=4, flush_interval=0.01, sleep=sleep, retry_initial=0.1, retry_max=1.0)
    with caplog.at_level(logging.WARNING, logger="bastion.accounting"):
        batches.start()
        for row in range(10):
            batches.submit(row)
        await wait_until(lambda: batches.written == 10)
        await batches.close()
    assert sink.rows == list(range(10))  # each row once, in order
    assert batches.failed_batches == 3 and batches.dropped == 0
    assert len(sleep.delays) == 3
    assert all(0.05 <= delay <= 1.0 for delay in sleep.delays)
    assert sleep.delays[2] > sleep.delays[0]  # backs off (jitter is at most half the step)
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 1  # once per failure streak
    assert "hunter2" not in caplog.text and "bastion:***@db" in caplog.text


async def test_a_write_that_stored_but_reported_an_error_is_not_duplicated() -> None:
    sink = Sink()
    sink.fail_after = 1
    batches = writer(sink, batch_size=5, flush_interval=0.01)
    batches.start()
    for row in range(5):
        batches.submit(row)
    await wait_until(lambda: batches.written == 5)
    await batches.close()
    assert sink.batches == [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]  # the same batch again, not a new one
    assert sorted(sink.stored) == [0, 1, 2, 3, 4]


async def test_rows_held_for_a_retry_count_against_the_queue_bound() -> None:
    sink = Sink()
    sink.broken = True
    # with the probe the gateway gives it: without one, rows written one by one while the sink
    # came back could go in out of order, which is not what this test is about
    batches = writer(sink, batch_size=2, max_queue=5, flush_interval=0.01, probe=sink.probe)
    batches.start()
    assert [batches.submit(row) for row in range(6)] == [True] * 5 + [False]
    await wait_until(lambda: batches.failed_batches >= 3)
    assert batches.queued == 5 and batches.submit(6) is False
    assert batches.dropped == 2
    sink.broken = False
    await wait_until(lambda: batches.written == 5)
    assert sink.rows == [0, 1, 2, 3, 4]
    assert batches.submit(7) is True
    await batches.close()
    assert sink.rows == [0, 1, 2, 3, 4, 7]


async def test_close_writes_everything_left() -> None:
    sink = Sink()
    batches = writer(sink, batch_size=3, flush_interval=60.0)
    batches.start()
    for row in range(7):
        batches.submit(row)
    await batches.close()
    assert sink.rows == list(range(7)) and batches.written == 7
    assert batches.submit(8) is False and batches.dropped == 1  # closed
    await batches.close()  # twice is fine


async def test_close_without_start_still_flushes() -> None:
    sink = Sink()
    batches = writer(sink)
    batches.submit(1)
    await batches.close()
    assert sink.rows == [1]


async def test_close_is_bounded_when_writes_keep_failing() -> None:
    sink = Sink()
    sink.broken = True
    batches = BatchWriter(
        sink.write, name="test-ledger", close_timeout=0.2, retry_initial=0.01, flush_interval=0.01
    )
    batches.start()
    for row in range(3):
        batches.submit(row)
    started = time.monotonic()
    await batches.close()
    assert time.monotonic() - started < 1.0
    assert (batches.written, batches.dropped, batches.queued) == (0, 3, 0)
    assert batches.failed_batches >= 1


async def test_close_cuts_a_long_backoff_short() -> None:
    sink = Sink()
    sink.fail_before = 1
    batches = BatchWriter(
        sink.write,
        name="test-ledger",
        retry_initial=30.0,
        retry_max=30.0,
        flush_interval=0.01,
        close_timeout=2.0,
    )
    batches.start()
    batches.submit(1)
    await wait_until(lambda: batches.failed_batches == 1)
    started = time.monotonic()
    await batches.close()
    assert time.monotonic() - started < 1.0
    assert sink.rows == [1] and batches.dropped == 0


async def test_flush_writes_now_and_raises_when_the_write_fails() -> None:
    sink = Sink()
    batches = writer(sink, batch_size=2, flush_interval=60.0)
    for row in range(5):
        batches.submit(row)
    await batches.flush()
    assert sink.batches == [[0, 1], [2, 3], [4]]
    sink.broken = True
    batches.submit(5)
    with pytest.raises(ConnectionError):
        await batches.flush()
    assert batches.queued == 1 and batches.failed_batches == 1
    sink.broken = False
    await batches.flush()
    assert sink.rows == [0, 1, 2, 3, 4, 5]


def test_options_are_checked() -> None:
    with pytest.raises(ValueError):
        BatchWriter(Sink().write, name="x", batch_size=0)
    with pytest.raises(ValueError):
        BatchWriter(Sink().write, name="x", flush_interval=0)


async def test_ledger_rows_reach_sqlite_in_batches(tmp_path: Any) -> None:
    store = SQLiteStore(str(tmp_path / "ledger.db"))
    await store.open()
    try:
        batches = BatchWriter(store.write_ledger, name="ledger", batch_size=1000, flush_interval=0.02)
        batches.start()
        for index in range(2500):
            batches.submit(LedgerRow(f"req-{index}", ts=1_767_225_600.0 + index, model="m", cost_usd=0.25))
        await batches.close()
        report = await store.usage_report(["model"])
        assert [(row["model"], row["requests"], row["cost_usd"]) for row in report] == [("m", 2500, 625.0)]
        assert batches.written == 2500
    finally:
        await store.close()


async def test_a_row_the_database_always_refuses_is_dropped_and_the_rest_written() -> None:
    stored: list[int] = []

    async def write(rows: Sequence[int]) -> None:
        if -1 in rows:  # a value this "database" can never store
            raise ValueError("invalid byte sequence")
        stored.extend(rows)

    writer: BatchWriter[int] = BatchWriter(
        write, "test", batch_size=10, flush_interval=0.01, retry_initial=0.001, retry_max=0.002
    )
    writer.start()
    for row in (1, 2, -1, 3):
        assert writer.submit(row)
    await writer.close()
    assert stored == [1, 2, 3]
    assert writer.dropped == 1 and writer.written == 3


async def test_a_batch_is_kept_whole_while_the_database_refuses_every_row() -> None:
    calls = 0

    async def write(rows: Sequence[int]) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("database away")

    writer: BatchWriter[int] = BatchWriter(
        write, "test", batch_size=10, flush_interval=0.01, close_timeout=0.3
    )
    writer.start()
    for row in (1, 2, 3):
        writer.submit(row)
    await asyncio.sleep(0.1)
    assert writer.written == 0 and writer.dropped == 0  # nothing dropped for the database being away
    await writer.close()


class Database:
    """A ``write`` and a ``probe`` over one switchable database that never stores a negative row."""

    def __init__(self) -> None:
        self.up = True
        self.stored: list[int] = []
        self.writes = 0
        self.probes = 0
        self.down_after_writes: int | None = None  # goes away after this many more successful writes

    async def write(self, rows: Sequence[int]) -> None:
        await asyncio.sleep(0)
        self.writes += 1
        if not self.up:
            raise ConnectionError("database away")
        if any(row < 0 for row in rows):
            raise ValueError("invalid byte sequence")
        self.stored.extend(rows)
        if self.down_after_writes is not None:
            self.down_after_writes -= 1
            if self.down_after_writes <= 0:
                self.up = False

    async def probe(self) -> int:
        self.probes += 1
        if not self.up:
            raise ConnectionError("database away")
        return 9


def probed_writer(database: Database, **options: Any) -> BatchWriter[int]:
    settings: dict[str, Any] = {"batch_size": 100, "flush_interval": 0.01, "sleep": FastSleep()}
    settings.update(options)
    return BatchWriter(database.write, "test", probe=database.probe, **settings)


async def test_while_the_database_is_away_rows_are_not_tried_one_by_one() -> None:
    database = Database()
    database.up = False
    batches = probed_writer(database)
    for row in range(100):
        batches.submit(row)
    for _ in range(8):  # past ISOLATE_AFTER_FAILURES
        with pytest.raises(ConnectionError):
            await batches.flush()
    assert database.writes == 8  # one batch write per attempt, never a hundred single rows
    assert database.probes >= 3 and batches.failing and batches.queued == 100
    database.up = True
    await batches.flush()
    assert database.stored == list(range(100)) and not batches.failing and batches.dropped == 0


async def test_rows_refused_while_the_database_went_away_are_kept_not_dropped() -> None:
    database = Database()
    batches = probed_writer(database)
    rows = [0, 1, -2, 3, 4, 5]
    for row in rows:
        batches.submit(row)
    for _ in range(5):  # the negative row fails the batch until it is written row by row
        with pytest.raises(ValueError):
            await batches.flush()
    database.down_after_writes = 2  # rows 0 and 1 go in one by one, then the database goes away
    with pytest.raises(ValueError):
        await batches.flush()
    assert batches.dropped == 0 and batches.queued == 4  # nothing dropped: the refusals say nothing
    database.up = True
    database.down_after_writes = None
    await batches.flush()  # up again: the bad row alone is dropped
    assert database.stored == [0, 1, 3, 4, 5]
    assert batches.dropped == 1 and batches.queued == 0 and batches.written == 5


async def test_a_batch_of_only_refused_rows_is_dropped_when_the_database_answers() -> None:
    database = Database()
    batches = probed_writer(database)
    for row in (-1, -2):
        batches.submit(row)
    for _ in range(5):
        with pytest.raises(ValueError):
            await batches.flush()
    await batches.flush()  # the probe answers: these rows can never be stored, so they go
    assert batches.dropped == 2 and batches.queued == 0
    batches.submit(7)
    await batches.flush()
    assert database.stored == [7]
