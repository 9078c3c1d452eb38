"""The scaled-out store: PostgreSQL through a bounded asyncpg pool, shared by every replica.

Times are ``timestamptz`` in the database and unix seconds (floats) in Python; the clock is
the database's ``now()``, so replicas on hosts with drifting clocks still agree on what
changed when. JSON columns are JSONB. Each call takes a pooled connection for one statement
(or one short read-only snapshot) and gives it back: no transaction waits on anything but
the database.

Ledger batches go in with one pipelined ``executemany`` of ``INSERT … ON CONFLICT DO
NOTHING``: asyncpg sends every row's bind/execute in one round trip and one implicit
transaction, so a batch is atomic and a retried batch is harmless (request ids already
stored are skipped). ``COPY`` into a temporary table and ``INSERT … SELECT`` would be faster
for very large batches, but it costs three round trips and a temporary table (catalog churn)
per batch, which batches of about a thousand rows every 100 ms do not need. The batch's
rollup totals (``store/rollups.py``) are added in the same transaction.

The ledger is partitioned by UTC day (migration 9). ``create_ledger_partitions`` makes the
days ahead (a background task of every replica, serialised by an advisory lock) and moves any
rows the default partition caught into their day; ``expire_ledger_before`` drops whole days.
Both take their table locks with a short ``lock_timeout``: a long report holding the ledger
makes them give up and try again next time rather than queue every writer behind them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import fields
from datetime import UTC, date, datetime, time, timedelta
from operator import attrgetter
from typing import Any

import asyncpg
import orjson

from bastion.store.audit_postgres import PostgresAuditStore
from bastion.store.base import (
    FEEDBACK_TOTALS,
    VARIANT_COLUMNS,
    VARIANT_TOTALS,
    Store,
    StoreError,
    check_feedback_query,
    check_usage_query,
    feedback_report_row,
    redact_secrets,
    usage_report_row,
)
from bastion.store.migrations import (
    ADVISORY_LOCK_CLASS,
    LEDGER_DEFAULT_PARTITION,
    LEDGER_PARTITION_PREFIX,
    migrate_postgres,
    quote_identifier,
)
from bastion.store.records import (
    FeedbackRecord,
    IdentitySnapshot,
    KeyRecord,
    LedgerRow,
    TeamRecord,
    UserRecord,
)
from bastion.store.rollups_postgres import PostgresRollupStore


def _epochs(*columns: str) -> str:
    return ", ".join(f"extract(epoch FROM {column})::float8 AS {column}" for column in columns)


_TEAM_COLUMNS = "id, name, limits, metadata, " + _epochs("created_at", "updated_at", "deleted_at")
_USER_COLUMNS = "id, name, team_id, limits, metadata, " + _epochs("created_at", "updated_at", "deleted_at")
_KEY_COLUMNS = "id, digest, prefix, name, user_id, team_id, models, limits, metadata, " + _epochs(
    "expires_at", "created_at", "updated_at", "revoked_at"
)
# every LedgerRow field, in order: a new field needs only the migration that adds its column
_LEDGER_FIELDS = tuple(field.name for field in fields(LedgerRow))
_LEDGER_VALUES = attrgetter(*_LEDGER_FIELDS)
_INSERT_LEDGER = "INSERT INTO ledger ({}) VALUES ({}) ON CONFLICT DO NOTHING".format(
    ", ".join(_LEDGER_FIELDS),
    ", ".join(
        f"to_timestamp(${position})" if name == "ts" else f"${position}"
        for position, name in enumerate(_LEDGER_FIELDS, start=1)
    ),
)
_SELECT_LEDGER_COLUMNS = "SELECT " + ", ".join(
    "extract(epoch FROM ts)::float8 AS ts" if name == "ts" else name for name in _LEDGER_FIELDS
)
# ``ledger.ts``, not ``ts``: ORDER BY would take the select list's float ``ts`` and sort every
# matching row by it instead of reading the index on the column newest first
_SELECT_LEDGER = (
    f"{_SELECT_LEDGER_COLUMNS} FROM ledger WHERE request_id = $1 AND ($2::text IS NULL OR key_id = $2) "
    "ORDER BY ledger.ts DESC LIMIT 1"
)
_FEEDBACK_COLUMNS = (
    "request_id, id, key_id, score, comment, metadata, model, deployment, provider, feature, variant, "
    "route_rule, user_id, team_id, " + _epochs("ts", "created_at", "updated_at")
)
# one score per request and key (a client may reuse a request id); ``xmax = 0`` only on an insert
_UPSERT_FEEDBACK = (
    "INSERT INTO feedback (request_id, id, ts, key_id, score, comment, metadata, model, deployment, "
    "provider, feature, variant, route_rule, user_id, team_id, created_at, updated_at) "
    "VALUES ($1, $2, to_timestamp($3), $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, now(), now()) "
    "ON CONFLICT (request_id, key_id) DO UPDATE SET score = EXCLUDED.score, comment = EXCLUDED.comment, "
    "metadata = EXCLUDED.metadata, updated_at = now() "
    f"RETURNING {_FEEDBACK_COLUMNS}, (xmax = 0) AS created"
)
_TOTALS = """count(*) AS requests,
    sum(prompt_tokens) AS prompt_tokens,
    sum(completion_tokens) AS completion_tokens,
    sum(cached_tokens) AS cached_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(cost_usd) AS cost_usd,
    sum(cost_saved_usd) AS cost_saved_usd,
    count(*) FILTER (WHERE cache_hit IS NOT NULL AND cache_hit <> 'miss') AS cache_hits,
    count(*) FILTER (WHERE status >= 400) AS errors,
    avg(latency_ms) AS avg_latency_ms"""
_INTEGER_DIMENSIONS = frozenset({"status"})
_CLOSE_TIMEOUT_SECONDS = 10.0
#: second key of the advisory lock that serialises partition changes (the first is ADVISORY_LOCK_CLASS)
_PARTITION_LOCK = "ledger partitions"
#: how long partition DDL waits for its table locks before giving up until the next run
_PARTITION_LOCK_TIMEOUT = "2s"
_LEDGER_COLUMNS = ", ".join(_LEDGER_FIELDS)
_PARTITIONS = (
    "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
    "WHERE pg_inherits.inhparent = 'ledger'::regclass"
)

log = logging.getLogger("bastion.store")


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError as error:
        raise StoreError(f"limits, metadata and models must be JSON: {error}") from error


async def _init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec("jsonb", encoder=_json, decoder=orjson.loads, schema="pg_catalog")


@contextmanager
def _errors(action: str) -> Iterator[None]:
    """Driver and server failures as StoreError, with any password masked."""
    try:
        yield
    except StoreError:
        raise
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as error:
        raise StoreError(redact_secrets(f"{action}: {error}")) from error


class PostgresStore(PostgresAuditStore, PostgresRollupStore, Store):
    dialect = "postgres"

    def __init__(
        self,
        dsn: str,
        min_size: int = 1,
        max_size: int = 10,
        schema: str | None = None,
        *,
        connect_timeout: float = 10.0,
        command_timeout: float | None = 60.0,
    ) -> None:
        self._dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.schema = schema
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._open_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"PostgresStore({redact_secrets(self._dsn)!r}, schema={self.schema!r})"

    # ----------------------------------------------------------------- lifecycle
    async def open(self) -> None:
        async with self._open_lock:
            if self._pool is not None:
                return
            server_settings = {"application_name": "bastion"}
            if self.schema is not None:
                server_settings["search_path"] = quote_identifier(self.schema)
            with _errors(f"cannot connect to PostgreSQL at {self._dsn}"):
                pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=self.min_size,
                    max_size=self.max_size,
                    init=_init_connection,
                    server_settings=server_settings,
                    timeout=self.connect_timeout,
                    command_timeout=self.command_timeout,
                )
            try:
                with _errors("cannot migrate the PostgreSQL schema"):
                    async with pool.acquire() as connection:
                        await migrate_postgres(connection, self.schema)
            except BaseException:
                pool.terminate()
                raise
            self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), _CLOSE_TIMEOUT_SECONDS)
        except TimeoutError:
            pool.terminate()

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the PostgreSQL store is not open")
        return self._pool

    async def _fetch(self, action: str, sql: str, *arguments: Any) -> list[asyncpg.Record]:
        pool = self._require_pool()
        with _errors(action):
            return await pool.fetch(sql, *arguments)

    async def _fetchrow(self, action: str, sql: str, *arguments: Any) -> asyncpg.Record | None:
        pool = self._require_pool()
        with _errors(action):
            return await pool.fetchrow(sql, *arguments)

    @asynccontextmanager
    async def _transaction(self, action: str) -> AsyncIterator[asyncpg.Connection]:
        """One pooled connection in one transaction, for writes that must land together."""
        pool = self._require_pool()
        with _errors(action):
            async with pool.acquire() as connection, connection.transaction():
                yield connection

    async def schema_version(self) -> int:
        row = await self._fetchrow("cannot read the schema", "SELECT max(version) FROM schema_migrations")
        return int(row[0] or 0) if row is not None else 0

    # ----------------------------------------------------------------- identity
    async def upsert_team(self, team: TeamRecord) -> TeamRecord:
        row = await self._fetchrow(
            f"cannot save team {team.id!r}",
            "INSERT INTO teams (id, name, limits, metadata, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, now(), now()) "
            "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, limits = EXCLUDED.limits, "
            "metadata = EXCLUDED.metadata, updated_at = now(), deleted_at = NULL "
            f"RETURNING {_TEAM_COLUMNS}",
            team.id,
            team.name,
            team.limits,
            team.metadata,
        )
        assert row is not None
        return _team(row)

    async def upsert_user(self, user: UserRecord) -> UserRecord:
        row = await self._fetchrow(
            f"cannot save user {user.id!r}",
            "INSERT INTO users (id, name, team_id, limits, metadata, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, now(), now()) "
            "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, team_id = EXCLUDED.team_id, "
            "limits = EXCLUDED.limits, metadata = EXCLUDED.metadata, updated_at = now(), deleted_at = NULL "
            f"RETURNING {_USER_COLUMNS}",
            user.id,
            user.name,
            user.team_id,
            user.limits,
            user.metadata,
        )
        assert row is not None
        return _user(row)

    async def create_key(self, key: KeyRecord) -> KeyRecord:
        try:
            row = await self._fetchrow(
                f"cannot create key {key.id!r}",
                "INSERT INTO keys (id, digest, prefix, name, user_id, team_id, models, limits, metadata, "
                "expires_at, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10), now(), now()) "
                f"RETURNING {_KEY_COLUMNS}",
                key.id,
                key.digest,
                key.prefix,
                key.name,
                key.user_id,
                key.team_id,
                key.models,
                key.limits,
                key.metadata,
                key.expires_at,
            )
        except StoreError as error:
            if isinstance(error.__cause__, asyncpg.UniqueViolationError):
                constraint = error.__cause__.constraint_name
                reason = "another key has the same digest" if constraint == "keys_digest" else "it exists"
                raise StoreError(f"cannot create key {key.id!r}: {reason}") from None
            raise
        assert row is not None
        return _key(row)

    async def update_key(self, key: KeyRecord) -> KeyRecord:
        row = await self._fetchrow(
            f"cannot update key {key.id!r}",
            "UPDATE keys SET name = $1, models = $2, limits = $3, metadata = $4, "
            "expires_at = to_timestamp($5), updated_at = now() "
            f"WHERE id = $6 RETURNING {_KEY_COLUMNS}",
            key.name,
            key.models,
            key.limits,
            key.metadata,
            key.expires_at,
            key.id,
        )
        if row is None:
            raise StoreError(f"no key {key.id!r}")
        return _key(row)

    async def revoke_key(self, key_id: str) -> KeyRecord | None:
        row = await self._fetchrow(
            f"cannot revoke key {key_id!r}",
            # the first revocation wins: a second one changes nothing, not even updated_at
            "UPDATE keys SET updated_at = CASE WHEN revoked_at IS NULL THEN now() ELSE updated_at END, "
            "revoked_at = coalesce(revoked_at, now()) "
            f"WHERE id = $1 RETURNING {_KEY_COLUMNS}",
            key_id,
        )
        return _key(row) if row is not None else None

    async def delete_team(self, team_id: str) -> bool:
        return await self._soft_delete("teams", team_id)

    async def delete_user(self, user_id: str) -> bool:
        return await self._soft_delete("users", user_id)

    async def _soft_delete(self, table: str, row_id: str) -> bool:
        rows = await self._fetch(
            f"cannot delete {row_id!r} from {table}",
            f"UPDATE {table} SET deleted_at = now(), updated_at = now() "
            "WHERE id = $1 AND deleted_at IS NULL RETURNING id",
            row_id,
        )
        return bool(rows)

    async def get_team(self, team_id: str) -> TeamRecord | None:
        row = await self._fetchrow(
            f"cannot read team {team_id!r}", f"SELECT {_TEAM_COLUMNS} FROM teams WHERE id = $1", team_id
        )
        return _team(row) if row is not None else None

    async def get_user(self, user_id: str) -> UserRecord | None:
        row = await self._fetchrow(
            f"cannot read user {user_id!r}", f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1", user_id
        )
        return _user(row) if row is not None else None

    async def get_key(self, key_id: str) -> KeyRecord | None:
        row = await self._fetchrow(
            f"cannot read key {key_id!r}", f"SELECT {_KEY_COLUMNS} FROM keys WHERE id = $1", key_id
        )
        return _key(row) if row is not None else None

    async def list_teams(self) -> list[TeamRecord]:
        rows = await self._fetch(
            "cannot read teams", f"SELECT {_TEAM_COLUMNS} FROM teams WHERE deleted_at IS NULL ORDER BY id"
        )
        return [_team(row) for row in rows]

    async def list_users(self, team_id: str | None = None) -> list[UserRecord]:
        rows = await self._fetch(
            "cannot read users",
            f"SELECT {_USER_COLUMNS} FROM users WHERE deleted_at IS NULL "
            "AND ($1::text IS NULL OR team_id = $1) ORDER BY id",
            team_id,
        )
        return [_user(row) for row in rows]

    async def list_keys(
        self, user_id: str | None = None, team_id: str | None = None, include_revoked: bool = False
    ) -> list[KeyRecord]:
        rows = await self._fetch(
            "cannot read keys",
            f"SELECT {_KEY_COLUMNS} FROM keys "
            "WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR team_id = $2 "
            "OR (team_id IS NULL AND user_id IN (SELECT id FROM users WHERE team_id = $2))) "
            "AND ($3 OR revoked_at IS NULL) ORDER BY created_at, id",
            user_id,
            team_id,
            include_revoked,
        )
        return [_key(row) for row in rows]

    async def identity_changes(self, since: float) -> IdentitySnapshot:
        pool = self._require_pool()
        with _errors("cannot read identity changes"):
            async with (
                pool.acquire() as connection,
                connection.transaction(isolation="repeatable_read", readonly=True),
            ):
                # now() is the transaction's start, at or before its snapshot: a change the
                # snapshot misses has updated_at >= as_of and is read next time
                as_of = await connection.fetchval("SELECT extract(epoch FROM now())::float8")
                changed = "WHERE updated_at >= to_timestamp($1) ORDER BY updated_at"
                teams = await connection.fetch(f"SELECT {_TEAM_COLUMNS} FROM teams {changed}", since)
                users = await connection.fetch(f"SELECT {_USER_COLUMNS} FROM users {changed}", since)
                keys = await connection.fetch(f"SELECT {_KEY_COLUMNS} FROM keys {changed}", since)
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
        sql, arguments, columns, positions = _grouped(
            "ledger", _TOTALS, dimensions, bucket, start, end, filters
        )
        cost_position = len(columns) + 7  # requests, 5 token totals, then cost_usd
        order = [f"{cost_position} DESC"]
        if bucket is not None:
            order.append(str(len(columns)))
        order.extend(positions[: len(dimensions)])
        arguments.append(limit)
        sql += f" ORDER BY {', '.join(order)} LIMIT ${len(arguments)}"
        rows = await self._fetch("cannot read the usage report", sql, *arguments)
        return [usage_report_row(row, dimensions, bucket is not None) for row in rows if row["requests"]]

    async def variant_totals(
        self, start: float | None = None, end: float | None = None
    ) -> list[dict[str, Any]]:
        where, arguments = _where(start, end, None)
        where = f"{where} AND variant IS NOT NULL" if where else " WHERE variant IS NOT NULL"
        sql = f"SELECT {VARIANT_TOTALS} FROM ledger{where} GROUP BY route_rule, variant"
        rows = await self._fetch("cannot read the variant totals", sql, *arguments)
        return [dict(zip(VARIANT_COLUMNS, row, strict=True)) for row in rows]

    async def spend_since(self, dimension: str, start: float) -> dict[str, float]:
        check_usage_query((dimension,), None, None)
        rows = await self._fetch(
            "cannot read spend",
            f"SELECT {dimension}, sum(cost_usd) FROM ledger "
            f"WHERE ts >= to_timestamp($1) AND {dimension} IS NOT NULL GROUP BY 1",
            start,
        )
        return {row[0]: float(row[1]) for row in rows}

    # ----------------------------------------------------------------- ledger partitions
    async def create_ledger_partitions(self, days_ahead: int = 7, now: float | None = None) -> list[str]:
        """Make the day partitions from yesterday to ``days_ahead`` days after ``now`` (default: the
        database's clock), and one for each day the default partition holds rows of (they move in);
        return the names made. Idempotent: replicas racing each other make each partition once.
        """
        pool = self._require_pool()
        created: list[str] = []
        with _errors("cannot create ledger partitions"):
            async with pool.acquire() as connection:
                today = await connection.fetchval(
                    "SELECT (coalesce(to_timestamp($1::float8), now()) AT TIME ZONE 'UTC')::date", now
                )
                stray = await connection.fetch(
                    f"SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date FROM {LEDGER_DEFAULT_PARTITION}"
                )
                wanted = {today + timedelta(days=offset) for offset in range(-1, days_ahead + 1)}
                wanted.update(row[0] for row in stray)
                existing = _partition_days(await connection.fetch(_PARTITIONS))
                for day in sorted(wanted - existing.keys()):
                    name = await _create_partition(connection, day)
                    if name is not None:
                        created.append(name)
        if created:
            log.info("ledger: created partitions %s", ", ".join(created))
        return created

    async def expire_ledger_before(self, ts: float) -> int:
        """Drop the day partitions that end at or before ``ts`` and delete the default partition's
        rows older than ``ts``; return the rows removed.

        Whole days go: a row is kept until its day is past the cut-off (at most a day longer).
        """
        pool = self._require_pool()
        cutoff = datetime.fromtimestamp(ts, UTC).date()
        removed = 0
        with _errors("cannot expire ledger partitions"):
            async with pool.acquire() as connection:
                existing = _partition_days(await connection.fetch(_PARTITIONS))
                for day, name in sorted(existing.items()):
                    if day >= cutoff:
                        break
                    removed += await _drop_partition(connection, name)
                async with connection.transaction():
                    status = await connection.execute(
                        f"DELETE FROM {LEDGER_DEFAULT_PARTITION} WHERE ts < to_timestamp($1)", ts
                    )
                removed += int(status.rsplit(" ", 1)[-1])
        return removed

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
        where, arguments = _where(
            start, end, {**(filters or {}), **({"request_id": request_id} if request_id else {})}
        )
        newest_first = f"ORDER BY ledger.ts DESC LIMIT ${len(arguments) + 1}"  # see _SELECT_LEDGER
        sql = f"{_SELECT_LEDGER_COLUMNS} FROM ledger{where} {newest_first}"
        rows = await self._fetch("cannot read the request log", sql, *arguments, limit)
        return [LedgerRow(*row) for row in rows]

    async def get_ledger_row(self, request_id: str, key_id: str | None = None) -> LedgerRow | None:
        row = await self._fetchrow(f"cannot read request {request_id!r}", _SELECT_LEDGER, request_id, key_id)
        return LedgerRow(*row) if row is not None else None

    async def upsert_feedback(self, record: FeedbackRecord) -> tuple[FeedbackRecord, bool]:
        action = f"cannot save feedback for request {record.request_id!r}"
        row = await self._fetchrow(
            action,
            _UPSERT_FEEDBACK,
            record.request_id,
            record.id,
            record.ts,
            record.key_id,
            record.score,
            record.comment,
            record.metadata,
            record.model,
            record.deployment,
            record.provider,
            record.feature,
            record.variant,
            record.route_rule,
            record.user_id,
            record.team_id,
        )
        assert row is not None  # an upsert always returns its row
        return _feedback(row), bool(row["created"])

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
        sql, arguments, columns, positions = _grouped(
            "feedback", FEEDBACK_TOTALS, dimensions, bucket, start, end, filters
        )
        order = [f"{len(columns) + 1} DESC", *positions[len(dimensions) :], *positions[: len(dimensions)]]
        arguments.append(limit)
        sql += f" ORDER BY {', '.join(order)} LIMIT ${len(arguments)}"
        rows = await self._fetch("cannot read the feedback report", sql, *arguments)
        return [feedback_report_row(row, dimensions, bucket is not None) for row in rows if row["count"]]


def _partition_days(rows: Sequence[asyncpg.Record]) -> dict[date, str]:
    """The day partitions among the ledger's partitions (by name), by day."""
    days: dict[date, str] = {}
    for (name,) in rows:
        suffix = name[len(LEDGER_PARTITION_PREFIX) :]
        if name.startswith(LEDGER_PARTITION_PREFIX) and len(suffix) == 8 and suffix.isdigit():
            days[datetime.strptime(suffix, "%Y%m%d").date()] = name
    return days


async def _lock_partitions(connection: asyncpg.Connection) -> None:
    """Inside a transaction: one partition change at a time per schema, and short table-lock waits."""
    await connection.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext(current_schema() || $2))",
        ADVISORY_LOCK_CLASS,
        _PARTITION_LOCK,
    )
    await connection.execute(f"SET LOCAL lock_timeout = '{_PARTITION_LOCK_TIMEOUT}'")


async def _create_partition(connection: asyncpg.Connection, day: date) -> str | None:
    """Make ``day``'s partition, moving in the default partition's rows of that day; None if it exists.

    Built beside the table and then attached: ATTACH locks the ledger only against other schema
    changes (SHARE UPDATE EXCLUSIVE), so writers carry on; it locks the default partition while
    checking that no row of the day is left there.
    """
    name = f"{LEDGER_PARTITION_PREFIX}{day:%Y%m%d}"
    start = datetime.combine(day, time(), UTC)
    end = start + timedelta(days=1)
    async with connection.transaction():
        await _lock_partitions(connection)
        if await connection.fetchval("SELECT to_regclass($1)", name) is not None:
            return None  # another replica made it meanwhile
        await connection.execute(f"CREATE TABLE {name} (LIKE ledger INCLUDING DEFAULTS)")
        await connection.execute(
            f"WITH moved AS (DELETE FROM {LEDGER_DEFAULT_PARTITION} WHERE ts >= $1 AND ts < $2 "
            f"RETURNING {_LEDGER_COLUMNS}) INSERT INTO {name} ({_LEDGER_COLUMNS}) SELECT * FROM moved",
            start,
            end,
        )
        await connection.execute(
            f"ALTER TABLE ledger ATTACH PARTITION {name} "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    return name


async def _drop_partition(connection: asyncpg.Connection, name: str) -> int:
    """Drop a day partition; the rows it held."""
    async with connection.transaction():
        await _lock_partitions(connection)
        if await connection.fetchval("SELECT to_regclass($1)", name) is None:
            return 0  # another replica dropped it meanwhile
        rows = await connection.fetchval(f"SELECT count(*) FROM {name}")
        await connection.execute(f"DROP TABLE {name}")
    return int(rows)


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

    Returns the SQL, its arguments, the selected columns and their positions (for ORDER BY).
    """
    columns = list(dimensions)
    if bucket is not None:
        # bucket is one of TIME_BUCKETS (checked by the caller), safe to inline
        start_of_bucket = f"date_trunc('{bucket}', ts AT TIME ZONE 'UTC')"
        columns.append(f"extract(epoch FROM {start_of_bucket})::float8 AS bucket")
    where, arguments = _where(start, end, filters)
    sql = f"SELECT {', '.join([*columns, totals])} FROM {table}{where}"
    positions = [str(position) for position in range(1, len(columns) + 1)]
    if positions:
        sql += f" GROUP BY {', '.join(positions)}"
    return sql, arguments, columns, positions


def _where(start: float | None, end: float | None, filters: dict[str, Any] | None) -> tuple[str, list[Any]]:
    conditions: list[str] = []
    arguments: list[Any] = []
    if start is not None:
        arguments.append(start)
        conditions.append(f"ts >= to_timestamp(${len(arguments)})")
    if end is not None:
        arguments.append(end)
        conditions.append(f"ts < to_timestamp(${len(arguments)})")
    for dimension, value in (filters or {}).items():
        if value is None:
            conditions.append(f"{dimension} IS NULL")
        else:
            arguments.append(int(value) if dimension in _INTEGER_DIMENSIONS else str(value))
            conditions.append(f"{dimension} = ${len(arguments)}")
    return (f" WHERE {' AND '.join(conditions)}" if conditions else ""), arguments


def _team(row: asyncpg.Record) -> TeamRecord:
    return TeamRecord(
        id=row["id"],
        name=row["name"],
        limits=row["limits"],
        metadata=row["metadata"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
    )


def _user(row: asyncpg.Record) -> UserRecord:
    return UserRecord(
        id=row["id"],
        name=row["name"],
        team_id=row["team_id"],
        limits=row["limits"],
        metadata=row["metadata"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
    )


def _key(row: asyncpg.Record) -> KeyRecord:
    return KeyRecord(
        id=row["id"],
        digest=row["digest"],
        prefix=row["prefix"],
        name=row["name"],
        user_id=row["user_id"],
        team_id=row["team_id"],
        models=row["models"],
        limits=row["limits"],
        metadata=row["metadata"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        revoked_at=row["revoked_at"],
    )


def _feedback(row: asyncpg.Record) -> FeedbackRecord:
    return FeedbackRecord(
        id=row["id"],
        request_id=row["request_id"],
        ts=row["ts"],
        score=row["score"],
        key_id=row["key_id"],
        comment=row["comment"],
        metadata=row["metadata"],
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
