"""Numbered schema migrations for each dialect, applied at ``open()`` and recorded in ``schema_migrations``.

A migration is only ever added, never edited once released: version N means the same
tables everywhere. Each pending migration runs in the transaction that records it, so a
crash leaves the schema at a known version. Several processes opening at once serialise on
a lock (``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock on PostgreSQL)
and the later ones find nothing left to do.

The ledger is the table that grows. On PostgreSQL its primary key is ``(ts, request_id)``:
it doubles as the index on ``ts`` and is already the shape a table partitioned by time
needs (a partitioned table's unique keys must contain the partition column). The
separate unique index on ``request_id`` is what makes retried batches idempotent today;
inserts use ``ON CONFLICT DO NOTHING`` without a target, so they keep working when that
index gives way to partitioning.

Since version 9 the PostgreSQL ledger is partitioned by range on ``ts``, one partition per UTC
day (``ledger_pYYYYMMDD``) and a default partition as a safety net for rows no day partition
takes. Retention drops whole days instead of deleting rows; the store creates the days ahead
(``PostgresStore.create_ledger_partitions``). Migration 9 rewrites an existing ledger once, in
its transaction: the old table is renamed, the partitioned one is created with the same
columns, a partition is made for every day that has rows (and for the days around now), the
rows are copied, the old table dropped, and the primary key and indexes built on the
partitions in bulk. Writers wait on the table lock meanwhile (their rows stay queued).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bastion.store.rollups import rollup_migration

log = logging.getLogger("bastion.store")

#: first key of the PostgreSQL advisory lock taken while migrating (the second is the schema's hash)
ADVISORY_LOCK_CLASS = 0x62617374  # "bast"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


_LEDGER_DIMENSION_INDEXES = ("key_id", "user_id", "team_id", "feature", "model")
#: dimensions most ledger rows leave empty
_SPARSE_LEDGER_DIMENSIONS = ("user_id", "team_id", "feature")

_SQLITE_V1 = (
    """CREATE TABLE teams (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        limits TEXT NOT NULL DEFAULT '{}',
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        deleted_at REAL
    )""",
    "CREATE INDEX teams_updated_at ON teams (updated_at)",
    """CREATE TABLE users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        team_id TEXT,
        limits TEXT NOT NULL DEFAULT '{}',
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        deleted_at REAL
    )""",
    "CREATE INDEX users_updated_at ON users (updated_at)",
    "CREATE INDEX users_team_id ON users (team_id)",
    """CREATE TABLE keys (
        id TEXT PRIMARY KEY,
        digest TEXT NOT NULL,
        prefix TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        user_id TEXT,
        team_id TEXT,
        models TEXT NOT NULL DEFAULT '[]',
        limits TEXT NOT NULL DEFAULT '{}',
        metadata TEXT NOT NULL DEFAULT '{}',
        expires_at REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        revoked_at REAL
    )""",
    "CREATE UNIQUE INDEX keys_digest ON keys (digest)",
    "CREATE INDEX keys_updated_at ON keys (updated_at)",
    "CREATE INDEX keys_user_id ON keys (user_id)",
    "CREATE INDEX keys_team_id ON keys (team_id)",
    """CREATE TABLE ledger (
        request_id TEXT NOT NULL,
        ts REAL NOT NULL,
        key_id TEXT,
        user_id TEXT,
        team_id TEXT,
        end_user TEXT,
        feature TEXT,
        model TEXT,
        provider TEXT,
        deployment TEXT,
        route TEXT,
        stream INTEGER NOT NULL DEFAULT 0,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        usage_estimated INTEGER NOT NULL DEFAULT 0,
        cache_hit TEXT,
        cost_saved_usd REAL NOT NULL DEFAULT 0,
        latency_ms REAL NOT NULL DEFAULT 0,
        ttft_ms REAL,
        status INTEGER NOT NULL DEFAULT 200,
        error_code TEXT,
        attempts INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE UNIQUE INDEX ledger_request_id ON ledger (request_id)",
    "CREATE INDEX ledger_ts ON ledger (ts)",
    *(f"CREATE INDEX ledger_{column}_ts ON ledger ({column}, ts)" for column in _LEDGER_DIMENSION_INDEXES),
)

_POSTGRES_V1 = (
    """CREATE TABLE teams (
        id text PRIMARY KEY,
        name text NOT NULL DEFAULT '',
        limits jsonb NOT NULL DEFAULT '{}',
        metadata jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz
    )""",
    "CREATE INDEX teams_updated_at ON teams (updated_at)",
    """CREATE TABLE users (
        id text PRIMARY KEY,
        name text NOT NULL DEFAULT '',
        team_id text,
        limits jsonb NOT NULL DEFAULT '{}',
        metadata jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz
    )""",
    "CREATE INDEX users_updated_at ON users (updated_at)",
    "CREATE INDEX users_team_id ON users (team_id)",
    """CREATE TABLE keys (
        id text PRIMARY KEY,
        digest text NOT NULL,
        prefix text NOT NULL,
        name text NOT NULL DEFAULT '',
        user_id text,
        team_id text,
        models jsonb NOT NULL DEFAULT '[]',
        limits jsonb NOT NULL DEFAULT '{}',
        metadata jsonb NOT NULL DEFAULT '{}',
        expires_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
    )""",
    "CREATE UNIQUE INDEX keys_digest ON keys (digest)",
    "CREATE INDEX keys_updated_at ON keys (updated_at)",
    "CREATE INDEX keys_user_id ON keys (user_id)",
    "CREATE INDEX keys_team_id ON keys (team_id)",
    """CREATE TABLE ledger (
        ts timestamptz NOT NULL,
        request_id text NOT NULL,
        key_id text,
        user_id text,
        team_id text,
        end_user text,
        feature text,
        model text,
        provider text,
        deployment text,
        route text,
        stream boolean NOT NULL DEFAULT false,
        prompt_tokens integer NOT NULL DEFAULT 0,
        completion_tokens integer NOT NULL DEFAULT 0,
        cached_tokens integer NOT NULL DEFAULT 0,
        cache_write_tokens integer NOT NULL DEFAULT 0,
        reasoning_tokens integer NOT NULL DEFAULT 0,
        cost_usd double precision NOT NULL DEFAULT 0,
        usage_estimated boolean NOT NULL DEFAULT false,
        cache_hit text,
        cost_saved_usd double precision NOT NULL DEFAULT 0,
        latency_ms double precision NOT NULL DEFAULT 0,
        ttft_ms double precision,
        status integer NOT NULL DEFAULT 200,
        error_code text,
        attempts integer NOT NULL DEFAULT 0,
        PRIMARY KEY (ts, request_id)
    )""",
    # the primary key (ts, request_id) serves range scans on ts: no separate index on (ts)
    "CREATE UNIQUE INDEX ledger_request_id ON ledger (request_id)",
    *(f"CREATE INDEX ledger_{column}_ts ON ledger ({column}, ts)" for column in _LEDGER_DIMENSION_INDEXES),
)

# One row per request (its latest score). The request's attributes are copied from its ledger
# row so that quality reports never join the ledger; ``ts`` is the request's start, as in the
# ledger, so feedback and ledger totals over the same window describe the same requests.
_FEEDBACK_DIMENSION_INDEXES = ("model", "feature", "variant")

_SQLITE_V4 = (
    """CREATE TABLE feedback (
        request_id TEXT NOT NULL,
        id TEXT NOT NULL,
        ts REAL NOT NULL,
        key_id TEXT NOT NULL,
        score REAL NOT NULL CHECK (score >= -1 AND score <= 1),
        comment TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        model TEXT,
        deployment TEXT,
        provider TEXT,
        feature TEXT,
        variant TEXT,
        route_rule TEXT,
        user_id TEXT,
        team_id TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (request_id, key_id)
    )""",
    "CREATE UNIQUE INDEX feedback_id ON feedback (id)",
    "CREATE INDEX feedback_ts ON feedback (ts)",
    *(
        f"CREATE INDEX feedback_{column}_ts ON feedback ({column}, ts)"
        for column in _FEEDBACK_DIMENSION_INDEXES
    ),
)

_POSTGRES_V4 = (
    """CREATE TABLE feedback (
        request_id text NOT NULL,
        id text NOT NULL,
        ts timestamptz NOT NULL,
        key_id text NOT NULL,
        score double precision NOT NULL CHECK (score >= -1 AND score <= 1),
        comment text,
        metadata jsonb NOT NULL DEFAULT '{}',
        model text,
        deployment text,
        provider text,
        feature text,
        variant text,
        route_rule text,
        user_id text,
        team_id text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (request_id, key_id)
    )""",
    "CREATE UNIQUE INDEX feedback_id ON feedback (id)",
    "CREATE INDEX feedback_ts ON feedback (ts)",
    *(
        f"CREATE INDEX feedback_{column}_ts ON feedback ({column}, ts)"
        for column in _FEEDBACK_DIMENSION_INDEXES
    ),
)

# The audit log. Entries keep their canonical JSON as TEXT (JSONB would reorder keys and
# normalise numbers, and the hash is over the exact bytes); times are epoch seconds as floats on
# both databases because the same value sits inside the hashed body. One active key per subject
# (a partial unique index); an erased key keeps its row with ``wrapped`` NULL.
_AUDIT_TABLES = {
    "sqlite": {"text": "TEXT", "int": "INTEGER", "float": "REAL", "bytes": "BLOB", "bool": "INTEGER"},
    "postgres": {
        "text": "text",
        "int": "bigint",
        "float": "double precision",
        "bytes": "bytea",
        "bool": "boolean",
    },
}


def _audit_v6(dialect: str) -> tuple[str, ...]:
    t = _AUDIT_TABLES[dialect]
    return (
        f"""CREATE TABLE audit_entries (
            chain_id {t["text"]} NOT NULL,
            seq {t["int"]} NOT NULL,
            ts {t["float"]} NOT NULL,
            kind {t["text"]} NOT NULL,
            subject {t["text"]},
            request_id {t["text"]},
            body {t["text"]} NOT NULL,
            prev_hash {t["text"]} NOT NULL,
            hash {t["text"]} NOT NULL,
            PRIMARY KEY (chain_id, seq)
        )""",
        "CREATE INDEX audit_entries_subject ON audit_entries (subject) WHERE subject IS NOT NULL",
        f"""CREATE TABLE audit_checkpoints (
            chain_id {t["text"]} NOT NULL,
            seq {t["int"]} NOT NULL,
            hash {t["text"]} NOT NULL,
            ts {t["float"]} NOT NULL,
            prev_seq {t["int"]},
            witness {t["text"]} NOT NULL,
            key_id {t["text"]} NOT NULL,
            signature {t["text"]} NOT NULL,
            PRIMARY KEY (chain_id, seq)
        )""",
        f"""CREATE TABLE audit_heads (
            chain_id {t["text"]} PRIMARY KEY,
            seq {t["int"]} NOT NULL,
            hash {t["text"]} NOT NULL,
            ts {t["float"]} NOT NULL,
            checkpoint_seq {t["int"]} NOT NULL,
            closed {t["bool"]} NOT NULL,
            key_id {t["text"]} NOT NULL,
            signature {t["text"]} NOT NULL,
            created_at {t["float"]} NOT NULL
        )""",
        "CREATE INDEX audit_heads_ts ON audit_heads (ts)",
        f"""CREATE TABLE audit_prunes (
            chain_id {t["text"]} PRIMARY KEY,
            through_seq {t["int"]} NOT NULL,
            hash {t["text"]} NOT NULL,
            ts {t["float"]} NOT NULL,
            key_id {t["text"]} NOT NULL,
            signature {t["text"]} NOT NULL
        )""",
        f"""CREATE TABLE audit_payloads (
            chain_id {t["text"]} NOT NULL,
            seq {t["int"]} NOT NULL,
            request_id {t["text"]} NOT NULL,
            subject {t["text"]} NOT NULL,
            key_id {t["text"]} NOT NULL,
            ts {t["float"]} NOT NULL,
            sealed {t["bytes"]} NOT NULL,
            PRIMARY KEY (chain_id, seq)
        )""",
        "CREATE INDEX audit_payloads_subject ON audit_payloads (subject)",
        "CREATE INDEX audit_payloads_ts ON audit_payloads (ts)",
        f"""CREATE TABLE audit_subject_keys (
            key_id {t["text"]} PRIMARY KEY,
            subject {t["text"]} NOT NULL,
            wrapped {t["bytes"]},
            created_at {t["float"]} NOT NULL,
            erased_at {t["float"]}
        )""",
        "CREATE UNIQUE INDEX audit_subject_keys_active ON audit_subject_keys (subject) "
        "WHERE erased_at IS NULL",
        "CREATE INDEX audit_subject_keys_subject ON audit_subject_keys (subject)",
    )


#: the name of the ledger's partition for one UTC day: this prefix and the day as YYYYMMDD
LEDGER_PARTITION_PREFIX = "ledger_p"
LEDGER_DEFAULT_PARTITION = "ledger_default"
#: day partitions made by migration 9 around the day it runs (the store makes the rest ahead)
_DAYS_AROUND_NOW = "generate_series(-1, 2)"

# A partitioned table's unique keys must contain the partition column: the primary key
# (ts, request_id) already does. Indexes are declared on the parent and built on every partition.
_POSTGRES_V9 = (
    "ALTER TABLE ledger RENAME TO ledger_v8",
    "CREATE TABLE ledger (LIKE ledger_v8 INCLUDING DEFAULTS) PARTITION BY RANGE (ts)",
    f"CREATE TABLE {LEDGER_DEFAULT_PARTITION} PARTITION OF ledger DEFAULT",
    f"""DO $$
    DECLARE
        d date;
    BEGIN
        FOR d IN
            SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date FROM ledger_v8
            UNION SELECT (now() AT TIME ZONE 'UTC')::date + n FROM {_DAYS_AROUND_NOW} AS n
        LOOP
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF ledger FOR VALUES FROM (%L) TO (%L)',
                '{LEDGER_PARTITION_PREFIX}' || to_char(d, 'YYYYMMDD'),
                d::timestamp AT TIME ZONE 'UTC',
                (d + 1)::timestamp AT TIME ZONE 'UTC'
            );
        END LOOP;
    END $$""",
    "INSERT INTO ledger SELECT * FROM ledger_v8",
    "DROP TABLE ledger_v8",  # its constraint and index names are free again
    "ALTER TABLE ledger ADD PRIMARY KEY (ts, request_id)",
    "CREATE INDEX ledger_request_id ON ledger (request_id)",
    *(f"CREATE INDEX ledger_{column}_ts ON ledger ({column}, ts)" for column in _LEDGER_DIMENSION_INDEXES),
    # the request log filters by status (errors, 429s) newest first
    "CREATE INDEX ledger_status_ts ON ledger (status, ts)",
)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "teams, users, keys and the usage ledger", _SQLITE_V1, _POSTGRES_V1),
    # a nullable column without a default: a catalogue change only, instant on a large ledger
    Migration(
        2,
        "ledger: similarity of a semantic cache hit",
        ("ALTER TABLE ledger ADD COLUMN cache_similarity REAL",),
        ("ALTER TABLE ledger ADD COLUMN cache_similarity double precision",),
    ),
    Migration(
        3,
        "ledger: the routing rule and A/B variant of each request",
        ("ALTER TABLE ledger ADD COLUMN route_rule TEXT", "ALTER TABLE ledger ADD COLUMN variant TEXT"),
        ("ALTER TABLE ledger ADD COLUMN route_rule text", "ALTER TABLE ledger ADD COLUMN variant text"),
    ),
    Migration(4, "feedback: quality scores per request", _SQLITE_V4, _POSTGRES_V4),
    # Clients may reuse an x-request-id (a trace or session id): each request still gets its row.
    # A retried batch repeats (request_id, ts) exactly, so it stays idempotent.
    Migration(
        5,
        "ledger: request ids unique per start time, not alone",
        (
            "DROP INDEX ledger_request_id",
            "CREATE UNIQUE INDEX ledger_request_id_ts ON ledger (request_id, ts)",
        ),
        (
            "DROP INDEX ledger_request_id",  # the primary key (ts, request_id) keeps pairs unique
            "CREATE INDEX ledger_request_id ON ledger (request_id)",
        ),
    ),
    Migration(
        6,
        "audit log: chained entries, signed checkpoints and heads, encrypted payloads, subject keys",
        _audit_v6("sqlite"),
        _audit_v6("postgres"),
    ),
    # the dashboard's pre-aggregated totals, filled from the existing ledger here (see store/rollups.py)
    Migration(
        7,
        "ledger: fallbacks; rollup tables for the dashboard, backfilled from the ledger",
        rollup_migration("sqlite"),
        rollup_migration("postgres"),
    ),
    # the request log's decision trail; constant defaults keep the ALTERs instant on PostgreSQL 11+
    Migration(
        8,
        "ledger: guard decisions, breaker skips, hedge, degraded reply, upstream time, limit state",
        (
            "ALTER TABLE ledger ADD COLUMN guards TEXT",
            "ALTER TABLE ledger ADD COLUMN breaker_skips INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE ledger ADD COLUMN hedged INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE ledger ADD COLUMN degraded TEXT",
            "ALTER TABLE ledger ADD COLUMN upstream_ms REAL",
            "ALTER TABLE ledger ADD COLUMN limit_state TEXT",
        ),
        (
            "ALTER TABLE ledger ADD COLUMN guards text",
            "ALTER TABLE ledger ADD COLUMN breaker_skips integer NOT NULL DEFAULT 0",
            "ALTER TABLE ledger ADD COLUMN hedged boolean NOT NULL DEFAULT false",
            "ALTER TABLE ledger ADD COLUMN degraded text",
            "ALTER TABLE ledger ADD COLUMN upstream_ms double precision",
            "ALTER TABLE ledger ADD COLUMN limit_state text",
        ),
    ),
    Migration(
        9,
        "ledger: partitioned by day on PostgreSQL; an index for the request log's status filter",
        ("CREATE INDEX ledger_status_ts ON ledger (status, ts)",),
        _POSTGRES_V9,
    ),
    # Most requests carry no user, team or feature (a key of its own, no tag): indexing their
    # NULLs cost every ledger insert three B-tree writes for rows no filter can ask for (a filter
    # ``user_id = ?`` implies ``user_id IS NOT NULL``, so the planner still uses these). SQLite
    # only: it writes the ledger in the gateway's own process; PostgreSQL does it on its server.
    Migration(
        10,
        "ledger: user, team and feature indexes leave out rows without one (SQLite)",
        tuple(
            statement
            for column in _SPARSE_LEDGER_DIMENSIONS
            for statement in (
                f"DROP INDEX ledger_{column}_ts",
                f"CREATE INDEX ledger_{column}_ts ON ledger ({column}, ts) WHERE {column} IS NOT NULL",
            )
        ),
        (),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version

_SQLITE_MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at REAL NOT NULL
)"""

_POSTGRES_MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


def quote_identifier(name: str) -> str:
    """``name`` as a PostgreSQL identifier that is never parsed as anything else."""
    return '"' + name.replace('"', '""') + '"'


def _warn_if_newer(version: int) -> None:
    if version > LATEST_VERSION:
        # a rolling upgrade: a newer replica migrated first; migrations only add, so carry on
        log.warning(
            "database schema is at version %d, newer than this release knows (%d)", version, LATEST_VERSION
        )


async def migrate_sqlite(connection: Any, clock: Callable[[], float]) -> int:
    """Apply pending migrations on an aiosqlite connection in autocommit mode; return the schema version."""
    await connection.execute("BEGIN IMMEDIATE")
    try:
        await connection.execute(_SQLITE_MIGRATIONS_TABLE)
        async with connection.execute("SELECT version FROM schema_migrations") as cursor:
            applied = {row[0] for row in await cursor.fetchall()}
        for migration in MIGRATIONS:
            if migration.version in applied:
                continue
            for statement in migration.sqlite:
                await connection.execute(statement)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, clock()),
            )
            applied.add(migration.version)
            log.info("sqlite schema migrated to version %d: %s", migration.version, migration.name)
        await connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            await connection.execute("ROLLBACK")
        raise
    version = max(applied, default=0)
    _warn_if_newer(version)
    return version


async def migrate_postgres(connection: Any, schema: str | None) -> int:
    """Apply pending migrations on an asyncpg connection; return the schema version.

    ``schema`` (created if missing) must be first on the connection's search_path.
    """
    async with connection.transaction():
        lock_name = schema if schema is not None else await connection.fetchval("SELECT current_schema()")
        await connection.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", ADVISORY_LOCK_CLASS, lock_name or ""
        )
        if schema is not None:
            await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
        await connection.execute(_POSTGRES_MIGRATIONS_TABLE)
        applied = {row[0] for row in await connection.fetch("SELECT version FROM schema_migrations")}
        for migration in MIGRATIONS:
            if migration.version in applied:
                continue
            for statement in migration.postgres:
                await connection.execute(statement)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
            applied.add(migration.version)
            log.info("postgres schema migrated to version %d: %s", migration.version, migration.name)
    version = max(applied, default=0)
    _warn_if_newer(version)
    return version
