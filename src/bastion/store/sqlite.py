"""The default store: one SQLite file in WAL mode, nothing to install or run.

Writes go through one connection, one transaction at a time (``BEGIN IMMEDIATE``, so a
second process on the same file waits on ``busy_timeout`` instead of failing half-way);
reads use a second, read-only connection, so a long usage report does not hold up ledger
batches. Times are unix seconds (REAL) from ``clock`` (``time.time``); JSON columns are TEXT.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import fields
from operator import attrgetter
from typing import Any

import aiosqlite
import orjson

from bastion.store.audit_sqlite import SQLiteAuditStore
from bastion.store.base import (
    FEEDBACK_TOTALS,
    VARIANT_COLUMNS,
    VARIANT_TOTALS,
    Store,
    StoreError,
    check_feedback_query,
    check_usage_query,
    feedback_report_row,
    usage_report_row,
)
from bastion.store.migrations import migrate_sqlite
from bastion.store.records import (
    FeedbackRecord,
    IdentitySnapshot,
    KeyRecord,
    LedgerRow,
    TeamRecord,
    UserRecord,
    ledger_row_from_sqlite,
)
from bastion.store.rollups_sqlite import SQLiteRollupStore

# sqlite3 binds only exact int, float, str and bytes directly; every other parameter (None and
# bool: half a ledger row) goes through its adapter lookup, which on CPython 3.11 raises and
# clears two AttributeErrors per value when no adapter is registered. Registered ones are a
# C call each: the ledger insert costs half the CPU per row. Same values are stored.
sqlite3.register_adapter(type(None), {}.get)  # None -> None (NULL)
sqlite3.register_adapter(bool, int)  # True -> 1, as sqlite3 stores it anyway

_TEAM_COLUMNS = "id, name, limits, metadata, created_at, updated_at, deleted_at"
_USER_COLUMNS = "id, name, team_id, limits, metadata, created_at, updated_at, deleted_at"
_KEY_COLUMNS = (
    "id, digest, prefix, name, user_id, team_id, models, limits, metadata, "
    "expires_at, created_at, updated_at, revoked_at"
)
# every LedgerRow field, in order: a new field needs only the migration that adds its column
_LEDGER_FIELDS = tuple(field.name for field in fields(LedgerRow))
_LEDGER_VALUES = attrgetter(*_LEDGER_FIELDS)
_SELECT_LEDGER = (
    f"SELECT {', '.join(_LEDGER_FIELDS)} FROM ledger WHERE request_id = ? AND (? IS NULL OR key_id = ?) "
    "ORDER BY ts DESC LIMIT 1"
)
_INSERT_LEDGER = (
    f"INSERT INTO ledger ({', '.join(_LEDGER_FIELDS)}) VALUES ({', '.join('?' * len(_LEDGER_FIELDS))}) "
    "ON CONFLICT DO NOTHING"
)
_FEEDBACK_COLUMNS = (
    "request_id, id, ts, key_id, score, comment, metadata, model, deployment, provider, feature, "
    "variant, route_rule, user_id, team_id, created_at, updated_at"
)
_UPSERT_FEEDBACK = (
    f"INSERT INTO feedback ({_FEEDBACK_COLUMNS}) VALUES ({', '.join('?' * 17)}) "
    "ON CONFLICT (request_id, key_id) DO UPDATE SET score = excluded.score, comment = excluded.comment, "
    "metadata = excluded.metadata, updated_at = excluded.updated_at"
)
#: epoch seconds of the (UTC) start of each bucket; weeks start on Monday (1970-01-05 was one)
_BUCKET_START = {
    "hour": "(CAST(ts AS INTEGER) / 3600) * 3600",
    "day": "(CAST(ts AS INTEGER) / 86400) * 86400",
    "week": "((CAST(ts AS INTEGER) - 345600) / 604800) * 604800 + 345600",
    "month": "CAST(strftime('%s', ts, 'unixepoch', 'start of month') AS INTEGER)",
}
_TOTALS = """COUNT(*) AS requests,
    SUM(prompt_tokens) AS prompt_tokens,
    SUM(completion_tokens) AS completion_tokens,
    SUM(cached_tokens) AS cached_tokens,
    SUM(cache_write_tokens) AS cache_write_tokens,
    SUM(reasoning_tokens) AS reasoning_tokens,
    SUM(cost_usd) AS cost_usd,
    SUM(cost_saved_usd) AS cost_saved_usd,
    SUM(CASE WHEN cache_hit IS NOT NULL AND cache_hit <> 'miss' THEN 1 ELSE 0 END) AS cache_hits,
    SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors,
    AVG(latency_ms) AS avg_latency_ms"""


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError as error:
        raise StoreError(f"limits, metadata and models must be JSON: {error}") from error


@contextmanager
def _errors(action: str) -> Iterator[None]:
    """sqlite3 failures as StoreError (its messages name tables and constraints, never secrets)."""
    try:
        yield
    except (sqlite3.Error, OSError) as error:
        raise StoreError(f"{action}: {error}") from error


class SQLiteStore(SQLiteAuditStore, SQLiteRollupStore, Store):
    dialect = "sqlite"

    def __init__(
        self, path: str, *, busy_timeout_ms: int = 5000, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.clock = clock
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._snapshot_lock = asyncio.Lock()
        self._open_lock = asyncio.Lock()

    # ----------------------------------------------------------------- lifecycle
    async def open(self) -> None:
        async with self._open_lock:
            if self._writer is None:
                await self._open()

    async def _open(self) -> None:
        in_memory = self.path == ":memory:" or self.path.startswith("file::memory:")
        if not in_memory:
            with _errors(f"cannot create the directory of {self.path}"):
                _make_parent_directory(self.path)
        writer = await self._connect()
        try:
            with _errors(f"cannot open {self.path}"):
                await self._migrate(writer)
            if in_memory:  # one connection: snapshots must not interleave with write transactions
                reader, self._snapshot_lock = writer, self._write_lock
            else:
                reader = await self._connect()
                await reader.execute("PRAGMA query_only=ON")
        except BaseException:
            await writer.close()
            raise
        self._writer, self._reader = writer, reader

    async def _migrate(self, connection: aiosqlite.Connection) -> None:
        """Switch to WAL and migrate, again while another process opening the same new file holds it.

        In that window SQLite answers "database is locked" at once instead of waiting on busy_timeout.
        """
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                await connection.execute("PRAGMA journal_mode=WAL")
                await migrate_sqlite(connection, self.clock)
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(random.uniform(0.005, 0.05))

    async def _connect(self) -> aiosqlite.Connection:
        with _errors(f"cannot open {self.path}"):
            connection = await aiosqlite.connect(self.path, isolation_level=None)
            try:
                connection.row_factory = aiosqlite.Row
                await connection.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
                await connection.execute("PRAGMA synchronous=NORMAL")
            except BaseException:
                await connection.close()
                raise
        return connection

    async def close(self) -> None:
        writer, reader = self._writer, self._reader
        self._writer = self._reader = None
        if reader is not None and reader is not writer:
            await reader.close()
        if writer is not None:
            await writer.close()

    async def schema_version(self) -> int:
        rows = await self._read("SELECT MAX(version) FROM schema_migrations", ())
        return int(rows[0][0] or 0)

    def _connection(self, connection: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if connection is None:
            raise StoreError("the SQLite store is not open")
        return connection

    @asynccontextmanager
    async def _transaction(self, action: str) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction at a time on the write connection."""
        connection = self._connection(self._writer)
        async with self._write_lock:
            with _errors(action):
                if connection.in_transaction:  # an earlier rollback was itself interrupted
                    await connection.execute("ROLLBACK")
                await connection.execute("BEGIN IMMEDIATE")
                try:
                    yield connection
                except BaseException:
                    if connection.in_transaction:
                        await connection.execute("ROLLBACK")
                    raise
                await connection.execute("COMMIT")

    async def _read(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        connection = self._connection(self._reader)
        with _errors("reading from SQLite failed"):
            return list(await connection.execute_fetchall(sql, parameters))

    # ----------------------------------------------------------------- identity
    async def upsert_team(self, team: TeamRecord) -> TeamRecord:
        async with self._transaction(f"cannot save team {team.id!r}") as connection:
            now = self.clock()
            await connection.execute(
                "INSERT INTO teams (id, name, limits, metadata, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, limits = excluded.limits, "
                "metadata = excluded.metadata, updated_at = excluded.updated_at, deleted_at = NULL",
                (team.id, team.name, _json(team.limits), _json(team.metadata), now, now),
            )
            rows = await _by_id(connection, _TEAM_COLUMNS, "teams", team.id)
        return _team(rows[0])

    async def upsert_user(self, user: UserRecord) -> UserRecord:
        async with self._transaction(f"cannot save user {user.id!r}") as connection:
            now = self.clock()
            await connection.execute(
                "INSERT INTO users (id, name, team_id, limits, metadata, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, team_id = excluded.team_id, "
                "limits = excluded.limits, metadata = excluded.metadata, updated_at = excluded.updated_at, "
                "deleted_at = NULL",
                (user.id, user.name, user.team_id, _json(user.limits), _json(user.metadata), now, now),
            )
            rows = await _by_id(connection, _USER_COLUMNS, "users", user.id)
        return _user(rows[0])

    async def create_key(self, key: KeyRecord) -> KeyRecord:
        try:
            async with self._transaction(f"cannot create key {key.id!r}") as connection:
                now = self.clock()
                await connection.execute(
                    f"INSERT INTO keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    (
                        key.id,
                        key.digest,
                        key.prefix,
                        key.name,
                        key.user_id,
                        key.team_id,
                        _json(key.models),
                        _json(key.limits),
                        _json(key.metadata),
                        key.expires_at,
                        now,
                        now,
                    ),
                )
                rows = await _by_id(connection, _KEY_COLUMNS, "keys", key.id)
        except StoreError as error:
            cause = str(error.__cause__)
            if "keys.digest" in cause:
                raise StoreError(f"cannot create key {key.id!r}: another key has the same digest") from None
            if "keys.id" in cause:
                raise StoreError(f"cannot create key {key.id!r}: a key with this id exists") from None
            raise
        return _key(rows[0])

    async def update_key(self, key: KeyRecord) -> KeyRecord:
        async with self._transaction(f"cannot update key {key.id!r}") as connection:
            cursor = await connection.execute(
                "UPDATE keys SET name = ?, models = ?, limits = ?, metadata = ?, expires_at = ?, "
                "updated_at = ? WHERE id = ?",
                (
                    key.name,
                    _json(key.models),
                    _json(key.limits),
                    _json(key.metadata),
                    key.expires_at,
                    self.clock(),
                    key.id,
                ),
            )
            if cursor.rowcount == 0:
                raise StoreError(f"no key {key.id!r}")
            rows = await _by_id(connection, _KEY_COLUMNS, "keys", key.id)
        return _key(rows[0])

    async def revoke_key(self, key_id: str) -> KeyRecord | None:
        async with self._transaction(f"cannot revoke key {key_id!r}") as connection:
            await connection.execute(
                "UPDATE keys SET revoked_at = ?, updated_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now := self.clock(), now, key_id),
            )
            rows = await _by_id(connection, _KEY_COLUMNS, "keys", key_id)
        return _key(rows[0]) if rows else None

    async def delete_team(self, team_id: str) -> bool:
        return await self._soft_delete("teams", team_id)

    async def delete_user(self, user_id: str) -> bool:
        return await self._soft_delete("users", user_id)

    async def _soft_delete(self, table: str, row_id: str) -> bool:
        async with self._transaction(f"cannot delete {row_id!r} from {table}") as connection:
            cursor = await connection.execute(
                f"UPDATE {table} SET deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL",
                (now := self.clock(), now, row_id),
            )
            return cursor.rowcount > 0

    async def get_team(self, team_id: str) -> TeamRecord | None:
        rows = await self._read(f"SELECT {_TEAM_COLUMNS} FROM teams WHERE id = ?", (team_id,))
        return _team(rows[0]) if rows else None

    async def get_user(self, user_id: str) -> UserRecord | None:
        rows = await self._read(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,))
        return _user(rows[0]) if rows else None

    async def get_key(self, key_id: str) -> KeyRecord | None:
        rows = await self._read(f"SELECT {_KEY_COLUMNS} FROM keys WHERE id = ?", (key_id,))
        return _key(rows[0]) if rows else None

    async def list_teams(self) -> list[TeamRecord]:
        rows = await self._read(f"SELECT {_TEAM_COLUMNS} FROM teams WHERE deleted_at IS NULL ORDER BY id", ())
        return [_team(row) for row in rows]

    async def list_users(self, team_id: str | None = None) -> list[UserRecord]:
        sql = f"SELECT {_USER_COLUMNS} FROM users WHERE deleted_at IS NULL"
        parameters: tuple[Any, ...] = ()
        if team_id is not None:
            sql, parameters = sql + " AND team_id = ?", (team_id,)
        return [_user(row) for row in await self._read(sql + " ORDER BY id", parameters)]

    async def list_keys(
        self, user_id: str | None = None, team_id: str | None = None, include_revoked: bool = False
    ) -> list[KeyRecord]:
        conditions: list[str] = []
        parameters: list[Any] = []
        if user_id is not None:
            conditions.append("user_id = ?")
            parameters.append(user_id)
        if team_id is not None:
            # a key without a team of its own belongs to its user's team
            conditions.append(
                "(team_id = ? OR (team_id IS NULL AND user_id IN (SELECT id FROM users WHERE team_id = ?)))"
            )
            parameters.extend([team_id, team_id])
        if not include_revoked:
            conditions.append("revoked_at IS NULL")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = await self._read(f"SELECT {_KEY_COLUMNS} FROM keys{where} ORDER BY created_at, id", parameters)
        return [_key(row) for row in rows]

    async def identity_changes(self, since: float) -> IdentitySnapshot:
        connection = self._connection(self._reader)
        # one read transaction: the three tables from the same snapshot
        async with self._snapshot_lock:
            with _errors("reading identities from SQLite failed"):
                as_of = self.clock()
                await connection.execute("BEGIN")
                try:
                    changed = "WHERE updated_at >= ? ORDER BY updated_at"
                    teams = await connection.execute_fetchall(
                        f"SELECT {_TEAM_COLUMNS} FROM teams {changed}", (since,)
                    )
                    users = await connection.execute_fetchall(
                        f"SELECT {_USER_COLUMNS} FROM users {changed}", (since,)
                    )
                    keys = await connection.execute_fetchall(
                        f"SELECT {_KEY_COLUMNS} FROM keys {changed}", (since,)
                    )
                finally:
                    await connection.execute("COMMIT")
        return IdentitySnapshot(
            teams=[_team(row) for row in teams],
            users=[_user(row) for row in users],
            keys=[_key(row) for row in keys],
            as_of=as_of,
        )

    # ----------------------------------------------------------------- ledger
    async def write_ledger(self, rows: Sequence[LedgerRow]) -> None:
        if not rows:
            return
        values = [_LEDGER_VALUES(row) for row in rows]
        async with self._transaction(f"cannot write {len(rows)} ledger rows") as connection:
            await self._write_rollups(connection, rows)  # same transaction: both or neither
            await connection.executemany(_INSERT_LEDGER, values)

    async def usage_report(
        self,
        group_by: Sequence[str],
        start: float | None = None,
        end: float | None = None,
        bucket: str | None = None,
        filters: dict[str, Any] | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        dimensions = check_usage_query(group_by, bucket, filters)
        sql, parameters, columns, positions = _grouped(
            "ledger", _TOTALS, dimensions, bucket, start, end, filters
        )
        cost_position = len(columns) + 7  # requests, 5 token totals, then cost_usd
        order = [f"{cost_position} DESC"]
        if bucket is not None:
            order.append(str(len(columns)))
        order.extend(positions[: len(dimensions)])
        sql += f" ORDER BY {', '.join(order)} LIMIT ?"
        rows = await self._read(sql, [*parameters, limit])
        return [usage_report_row(row, dimensions, bucket is not None) for row in rows if row["requests"]]

    async def variant_totals(
        self, start: float | None = None, end: float | None = None
    ) -> list[dict[str, Any]]:
        where, parameters = _where(start, end, None)
        where = f"{where} AND variant IS NOT NULL" if where else " WHERE variant IS NOT NULL"
        sql = f"SELECT {VARIANT_TOTALS} FROM ledger{where} GROUP BY route_rule, variant"
        return [dict(zip(VARIANT_COLUMNS, row, strict=True)) for row in await self._read(sql, parameters)]

    async def spend_since(self, dimension: str, start: float) -> dict[str, float]:
        check_usage_query((dimension,), None, None)
        rows = await self._read(
            f"SELECT {dimension}, SUM(cost_usd) FROM ledger WHERE ts >= ? AND {dimension} IS NOT NULL "
            f"GROUP BY {dimension}",
            (start,),
        )
        return {row[0]: float(row[1]) for row in rows}

    # ----------------------------------------------------------------- feedback
    async def list_requests(
        self,
        start: float | None = None,
        end: float | None = None,
        filters: dict[str, Any] | None = None,
        request_id: str | None = None,
        limit: int = 100,
    ) -> list[LedgerRow]:
        check_usage_query((), None, filters)
        where, parameters = _where(
            start, end, {**(filters or {}), **({"request_id": request_id} if request_id else {})}
        )
        sql = f"SELECT {', '.join(_LEDGER_FIELDS)} FROM ledger{where} ORDER BY ts DESC LIMIT ?"
        rows = await self._read(sql, (*parameters, limit))
        return [ledger_row_from_sqlite(row) for row in rows]

    async def get_ledger_row(self, request_id: str, key_id: str | None = None) -> LedgerRow | None:
        rows = await self._read(_SELECT_LEDGER, (request_id, key_id, key_id))
        if not rows:
            return None
        return ledger_row_from_sqlite(rows[0])

    async def upsert_feedback(self, record: FeedbackRecord) -> tuple[FeedbackRecord, bool]:
        action = f"cannot save feedback for request {record.request_id!r}"
        async with self._transaction(action) as connection:
            existing = await connection.execute_fetchall(
                "SELECT 1 FROM feedback WHERE request_id = ? AND key_id = ?",
                (record.request_id, record.key_id),
            )
            now = self.clock()
            await connection.execute(
                _UPSERT_FEEDBACK,
                (
                    record.request_id,
                    record.id,
                    record.ts,
                    record.key_id,
                    record.score,
                    record.comment,
                    _json(record.metadata),
                    record.model,
                    record.deployment,
                    record.provider,
                    record.feature,
                    record.variant,
                    record.route_rule,
                    record.user_id,
                    record.team_id,
                    now,
                    now,
                ),
            )
            rows = await connection.execute_fetchall(
                f"SELECT {_FEEDBACK_COLUMNS} FROM feedback WHERE request_id = ? AND key_id = ?",
                (record.request_id, record.key_id),
            )
        return _feedback(rows[0]), not existing

    async def feedback_report(
        self,
        group_by: Sequence[str],
        start: float | None = None,
        end: float | None = None,
        bucket: str | None = None,
        filters: dict[str, Any] | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        dimensions = check_feedback_query(group_by, bucket, filters)
        sql, parameters, columns, positions = _grouped(
            "feedback", FEEDBACK_TOTALS, dimensions, bucket, start, end, filters
        )
        order = [f"{len(columns) + 1} DESC", *positions[len(dimensions) :], *positions[: len(dimensions)]]
        sql += f" ORDER BY {', '.join(order)} LIMIT ?"
        rows = await self._read(sql, [*parameters, limit])
        return [feedback_report_row(row, dimensions, bucket is not None) for row in rows if row["count"]]


def _make_parent_directory(path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)


async def _by_id(connection: aiosqlite.Connection, columns: str, table: str, row_id: str) -> list[Any]:
    return list(await connection.execute_fetchall(f"SELECT {columns} FROM {table} WHERE id = ?", (row_id,)))


def _grouped(
    table: str,
    totals: str,
    dimensions: Sequence[str],
    bucket: str | None,
    start: float | None,
    end: float | None,
    filters: dict[str, Any] | None,
) -> tuple[str, list[Any], list[str], list[str]]:
    """``SELECT dimensions[, bucket], totals FROM table WHERE … GROUP BY …`` (checked names only).

    Returns the SQL, its parameters, the selected columns and their positions (for ORDER BY).
    """
    columns = list(dimensions)
    if bucket is not None:
        columns.append(f"{_BUCKET_START[bucket]} AS bucket")
    where, parameters = _where(start, end, filters)
    sql = f"SELECT {', '.join([*columns, totals])} FROM {table}{where}"
    positions = [str(position) for position in range(1, len(columns) + 1)]
    if positions:
        sql += f" GROUP BY {', '.join(positions)}"
    return sql, parameters, columns, positions


def _where(start: float | None, end: float | None, filters: dict[str, Any] | None) -> tuple[str, list[Any]]:
    conditions: list[str] = []
    parameters: list[Any] = []
    if start is not None:
        conditions.append("ts >= ?")
        parameters.append(start)
    if end is not None:
        conditions.append("ts < ?")
        parameters.append(end)
    for dimension, value in (filters or {}).items():
        if value is None:
            conditions.append(f"{dimension} IS NULL")
        else:
            conditions.append(f"{dimension} = ?")
            parameters.append(value)
    return (f" WHERE {' AND '.join(conditions)}" if conditions else ""), parameters


def _team(row: Any) -> TeamRecord:
    return TeamRecord(
        id=row["id"],
        name=row["name"],
        limits=orjson.loads(row["limits"]),
        metadata=orjson.loads(row["metadata"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
    )


def _user(row: Any) -> UserRecord:
    return UserRecord(
        id=row["id"],
        name=row["name"],
        team_id=row["team_id"],
        limits=orjson.loads(row["limits"]),
        metadata=orjson.loads(row["metadata"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
    )


def _key(row: Any) -> KeyRecord:
    return KeyRecord(
        id=row["id"],
        digest=row["digest"],
        prefix=row["prefix"],
        name=row["name"],
        user_id=row["user_id"],
        team_id=row["team_id"],
        models=orjson.loads(row["models"]),
        limits=orjson.loads(row["limits"]),
        metadata=orjson.loads(row["metadata"]),
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        revoked_at=row["revoked_at"],
    )


def _feedback(row: Any) -> FeedbackRecord:
    return FeedbackRecord(
        id=row["id"],
        request_id=row["request_id"],
        ts=row["ts"],
        score=row["score"],
        key_id=row["key_id"],
        comment=row["comment"],
        metadata=orjson.loads(row["metadata"]),
        model=row["model"],
        deployment=row["deployment"],
        provider=row["provider"],
        feature=row["feature"],
        variant=row["variant"],
        route_rule=row["route_rule"],
        user_id=row["user_id"],
        team_id=row["team_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
