"""The rollup tables on SQLite: mixed into ``SQLiteStore`` (its connections, its write transaction)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from bastion.store.records import LedgerRow, ledger_row_from_sqlite
from bastion.store.rollups import (
    MINUTE,
    PRUNE_SQL,
    UPSERT_SPEND,
    UPSERT_TRAFFIC,
    Pruner,
    RollupDeltas,
    RollupStore,
    check_spend_dimension,
    day_range,
    not_yet_stored,
    result_row,
    spend_query,
    traffic_query,
    upsert_sql,
)

if TYPE_CHECKING:
    import aiosqlite


def _question_mark(position: int) -> str:
    return "?"


_UPSERT_TRAFFIC = upsert_sql(*UPSERT_TRAFFIC, _question_mark)
_UPSERT_SPEND = upsert_sql(*UPSERT_SPEND, _question_mark)
_LEDGER_FIELDS = ", ".join(field.name for field in fields(LedgerRow))
#: request ids per lookup of already-stored rows (SQLite allows 32766 parameters)
_IN_CHUNK = 500


class SQLiteRollupStore(RollupStore):
    if TYPE_CHECKING:  # provided by SQLiteStore

        async def _read(self, sql: str, parameters: Sequence[Any]) -> list[Any]: ...

    _rollup_pruner: Pruner | None = None  # this store's, made at its first write

    async def _write_rollups(self, connection: aiosqlite.Connection, rows: Sequence[LedgerRow]) -> None:
        """Add ``rows`` to the rollups, inside the transaction about to insert them into the ledger."""
        ids = list({row.request_id for row in rows})
        stored: list[tuple[str, float]] = []
        for offset in range(0, len(ids), _IN_CHUNK):
            chunk = ids[offset : offset + _IN_CHUNK]
            found = await connection.execute_fetchall(
                f"SELECT request_id, ts FROM ledger WHERE request_id IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            stored.extend((row[0], row[1]) for row in found)
        fresh = not_yet_stored(rows, stored)
        deltas = RollupDeltas.of(fresh)
        if deltas.traffic:
            await connection.executemany(_UPSERT_TRAFFIC, deltas.traffic)
        if deltas.spend:
            await connection.executemany(_UPSERT_SPEND, deltas.spend)
        if self._rollup_pruner is None:
            self._rollup_pruner = Pruner()
        for grain, cutoff in self._rollup_pruner.due(fresh):
            await connection.execute(PRUNE_SQL.format(grain=grain, cutoff=cutoff))

    async def rollup_traffic(
        self,
        start: float,
        end: float,
        *,
        grain: int = MINUTE,
        step: int | None = None,
        group_by: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        sql, columns = traffic_query(group_by, step, _question_mark)
        rows = await self._read(sql, (grain, int(start) // grain * grain, math.ceil(end)))
        return [result_row(columns, row) for row in rows]

    async def rollup_spend(
        self, start: float, end: float, dimension: str, *, by_day: bool = False, limit: int = 1000
    ) -> list[dict[str, Any]]:
        check_spend_dimension(dimension)
        sql, columns = spend_query(by_day, _question_mark)
        rows = await self._read(sql, (dimension, *day_range(start, end), limit))
        return [result_row(columns, row) for row in rows]

    async def recent_requests(self, limit: int = 50) -> list[LedgerRow]:
        rows = await self._read(f"SELECT {_LEDGER_FIELDS} FROM ledger ORDER BY ts DESC LIMIT ?", (limit,))
        return [ledger_row_from_sqlite(values) for values in rows]
