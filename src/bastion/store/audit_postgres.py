"""The audit tables on PostgreSQL: mixed into ``PostgresStore`` (same pool).

A batch goes in one transaction with pipelined ``executemany`` per table. Chains belong to one
writer each, so appends from several replicas never contend for the same rows; retention
prunes take a row lock on the chain's prune marker, so two replicas pruning at once serialise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import orjson

from bastion.store.audit_base import (
    AuditBatch,
    AuditChainSummary,
    AuditCheckpointRow,
    AuditEntryRow,
    AuditHeadRow,
    AuditPayloadRow,
    AuditPruneRow,
    AuditStore,
    SubjectKeyRow,
)
from bastion.store.records import LedgerRow

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    import asyncpg

_ENTRY_COLUMNS = "chain_id, seq, ts, kind, body, prev_hash, hash, subject, request_id"
_CHECKPOINT_COLUMNS = "chain_id, seq, hash, ts, prev_seq, witness, key_id, signature"
_HEAD_COLUMNS = "chain_id, seq, hash, ts, checkpoint_seq, closed, key_id, signature, created_at"
_PRUNE_COLUMNS = "chain_id, through_seq, hash, ts, key_id, signature"
_PAYLOAD_COLUMNS = "chain_id, seq, request_id, subject, key_id, ts, sealed"
_KEY_COLUMNS = "key_id, subject, wrapped, created_at, erased_at"
_LEDGER_SELECT = ", ".join(
    "extract(epoch FROM ts)::float8 AS ts" if field.name == "ts" else field.name
    for field in fields(LedgerRow)
)


def _placeholders(count: int) -> str:
    return ", ".join(f"${position}" for position in range(1, count + 1))


def _affected(status: str) -> int:
    """The row count of a command status such as ``DELETE 12``."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError:
        return 0


class PostgresAuditStore(AuditStore):
    if TYPE_CHECKING:  # provided by PostgresStore

        def _transaction(self, action: str) -> AbstractAsyncContextManager[asyncpg.Connection]: ...
        async def _fetch(self, action: str, sql: str, *arguments: Any) -> list[asyncpg.Record]: ...
        async def _fetchrow(self, action: str, sql: str, *arguments: Any) -> asyncpg.Record | None: ...

    async def append_audit(self, batch: AuditBatch) -> None:
        async with self._transaction(f"cannot write {len(batch.entries)} audit entries") as connection:
            if batch.entries:
                await connection.executemany(
                    f"INSERT INTO audit_entries ({_ENTRY_COLUMNS}) VALUES ({_placeholders(9)})",
                    [
                        (
                            e.chain_id,
                            e.seq,
                            e.ts,
                            e.kind,
                            e.body,
                            e.prev_hash,
                            e.hash,
                            e.subject,
                            e.request_id,
                        )
                        for e in batch.entries
                    ],
                )
            if batch.payloads:
                await connection.executemany(
                    f"INSERT INTO audit_payloads ({_PAYLOAD_COLUMNS}) VALUES ({_placeholders(7)})",
                    [
                        (p.chain_id, p.seq, p.request_id, p.subject, p.key_id, p.ts, p.sealed)
                        for p in batch.payloads
                    ],
                )
            if batch.checkpoints:
                await connection.executemany(
                    f"INSERT INTO audit_checkpoints ({_CHECKPOINT_COLUMNS}) VALUES ({_placeholders(8)})",
                    [
                        (
                            c.chain_id,
                            c.seq,
                            c.hash,
                            c.ts,
                            c.prev_seq,
                            orjson.dumps(c.witness).decode(),
                            c.key_id,
                            c.signature,
                        )
                        for c in batch.checkpoints
                    ],
                )
            if batch.heads:
                await connection.executemany(
                    f"INSERT INTO audit_heads ({_HEAD_COLUMNS}) VALUES ({_placeholders(9)}) "
                    "ON CONFLICT (chain_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, "
                    "ts = EXCLUDED.ts, checkpoint_seq = EXCLUDED.checkpoint_seq, closed = EXCLUDED.closed, "
                    "key_id = EXCLUDED.key_id, signature = EXCLUDED.signature",
                    [
                        (
                            h.chain_id,
                            h.seq,
                            h.hash,
                            h.ts,
                            h.checkpoint_seq,
                            h.closed,
                            h.key_id,
                            h.signature,
                            h.created_at,
                        )
                        for h in batch.heads
                    ],
                )

    async def audit_chains(self) -> list[AuditChainSummary]:
        rows = await self._fetch(
            "cannot list audit chains",
            "SELECT chain_id, sum(entries), min(first_seq), max(last_seq) FROM ("
            "SELECT chain_id, count(*) AS entries, min(seq) AS first_seq, max(seq) AS last_seq "
            "FROM audit_entries GROUP BY chain_id "
            "UNION ALL SELECT chain_id, 0, NULL::bigint, NULL::bigint FROM audit_heads "
            "UNION ALL SELECT DISTINCT chain_id, 0, NULL::bigint, NULL::bigint FROM audit_checkpoints "
            "UNION ALL SELECT chain_id, 0, NULL::bigint, NULL::bigint FROM audit_prunes"
            ") AS found GROUP BY chain_id ORDER BY chain_id",
        )
        return [AuditChainSummary(row[0], int(row[1] or 0), row[2], row[3]) for row in rows]

    async def audit_heads(self, since: float | None = None) -> list[AuditHeadRow]:
        rows = await self._fetch(
            "cannot read audit heads",
            f"SELECT {_HEAD_COLUMNS} FROM audit_heads WHERE $1::float8 IS NULL OR ts >= $1 ORDER BY chain_id",
            since,
        )
        return [AuditHeadRow(*row) for row in rows]

    async def audit_head(self, chain_id: str) -> AuditHeadRow | None:
        row = await self._fetchrow(
            "cannot read an audit head",
            f"SELECT {_HEAD_COLUMNS} FROM audit_heads WHERE chain_id = $1",
            chain_id,
        )
        return AuditHeadRow(*row) if row is not None else None

    async def audit_entries(self, chain_id: str, after_seq: int, limit: int) -> list[AuditEntryRow]:
        rows = await self._fetch(
            "cannot read audit entries",
            f"SELECT {_ENTRY_COLUMNS} FROM audit_entries WHERE chain_id = $1 AND seq > $2 "
            "ORDER BY seq LIMIT $3",
            chain_id,
            after_seq,
            limit,
        )
        return [AuditEntryRow(*row) for row in rows]

    async def audit_checkpoints(self, chain_id: str) -> list[AuditCheckpointRow]:
        rows = await self._fetch(
            "cannot read audit checkpoints",
            f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE chain_id = $1 ORDER BY seq",
            chain_id,
        )
        return [_checkpoint(row) for row in rows]

    async def audit_prunes(self) -> list[AuditPruneRow]:
        rows = await self._fetch(
            "cannot read audit prune markers", f"SELECT {_PRUNE_COLUMNS} FROM audit_prunes ORDER BY chain_id"
        )
        return [AuditPruneRow(*row) for row in rows]

    async def audit_subject_entries(self, subject: str) -> list[AuditEntryRow]:
        rows = await self._fetch(
            "cannot read audit entries",
            f"SELECT {_ENTRY_COLUMNS} FROM audit_entries WHERE subject = $1 ORDER BY ts, chain_id, seq",
            subject,
        )
        return [AuditEntryRow(*row) for row in rows]

    async def audit_payloads(self, chain_id: str, seqs: Sequence[int]) -> list[AuditPayloadRow]:
        rows = await self._fetch(
            "cannot read audit payloads",
            f"SELECT {_PAYLOAD_COLUMNS} FROM audit_payloads WHERE chain_id = $1 AND seq = ANY($2::bigint[]) "
            "ORDER BY seq",
            chain_id,
            list(seqs),
        )
        return [AuditPayloadRow(*row) for row in rows]

    async def audit_subject_payloads(self, subject: str) -> list[AuditPayloadRow]:
        rows = await self._fetch(
            "cannot read audit payloads",
            f"SELECT {_PAYLOAD_COLUMNS} FROM audit_payloads WHERE subject = $1 ORDER BY ts, chain_id, seq",
            subject,
        )
        return [AuditPayloadRow(*row) for row in rows]

    async def active_subject_keys(self, subjects: Sequence[str]) -> list[SubjectKeyRow]:
        rows = await self._fetch(
            "cannot read subject keys",
            f"SELECT {_KEY_COLUMNS} FROM audit_subject_keys "
            "WHERE erased_at IS NULL AND subject = ANY($1::text[])",
            list(dict.fromkeys(subjects)),
        )
        return [SubjectKeyRow(*row) for row in rows]

    async def add_subject_keys(self, rows: Sequence[SubjectKeyRow]) -> None:
        if not rows:
            return
        async with self._transaction(f"cannot store {len(rows)} subject keys") as connection:
            await connection.executemany(
                f"INSERT INTO audit_subject_keys ({_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, NULL) "
                "ON CONFLICT DO NOTHING",
                [(row.key_id, row.subject, row.wrapped, row.created_at) for row in rows],
            )

    async def subject_keys(self, subject: str) -> list[SubjectKeyRow]:
        rows = await self._fetch(
            "cannot read subject keys",
            f"SELECT {_KEY_COLUMNS} FROM audit_subject_keys WHERE subject = $1 ORDER BY created_at, key_id",
            subject,
        )
        return [SubjectKeyRow(*row) for row in rows]

    async def erase_subject_keys(self, subject: str, now: float) -> int:
        # the old row version stays on disk until vacuumed and overwritten: it is still wrapped by
        # the master key, which the database never holds (docs/audit.md)
        rows = await self._fetch(
            f"cannot erase the keys of subject {subject!r}",
            "UPDATE audit_subject_keys SET wrapped = NULL, erased_at = $1 "
            "WHERE subject = $2 AND erased_at IS NULL RETURNING key_id",
            now,
            subject,
        )
        return len(rows)

    async def prune_audit(self, marker: AuditPruneRow) -> int:
        async with self._transaction(f"cannot prune audit chain {marker.chain_id!r}") as connection:
            # the marker row (created first if missing) serialises replicas pruning the same chain
            await connection.execute(
                f"INSERT INTO audit_prunes ({_PRUNE_COLUMNS}) VALUES ($1, 0, '', 0, '', '') "
                "ON CONFLICT (chain_id) DO NOTHING",
                marker.chain_id,
            )
            current = await connection.fetchval(
                "SELECT through_seq FROM audit_prunes WHERE chain_id = $1 FOR UPDATE", marker.chain_id
            )
            if current >= marker.through_seq:
                return 0
            status = await connection.execute(
                "DELETE FROM audit_entries WHERE chain_id = $1 AND seq <= $2",
                marker.chain_id,
                marker.through_seq,
            )
            await connection.execute(
                "DELETE FROM audit_payloads WHERE chain_id = $1 AND seq <= $2",
                marker.chain_id,
                marker.through_seq,
            )
            await connection.execute(
                "DELETE FROM audit_checkpoints WHERE chain_id = $1 AND seq < $2",
                marker.chain_id,
                marker.through_seq,
            )
            await connection.execute(
                "UPDATE audit_prunes SET through_seq = $2, hash = $3, ts = $4, key_id = $5, signature = $6 "
                "WHERE chain_id = $1",
                marker.chain_id,
                marker.through_seq,
                marker.hash,
                marker.ts,
                marker.key_id,
                marker.signature,
            )
        return _affected(status)

    async def delete_audit_payloads_before(self, ts: float) -> int:
        rows = await self._fetch(
            "cannot delete expired audit payloads", "DELETE FROM audit_payloads WHERE ts < $1 RETURNING 1", ts
        )
        return len(rows)

    async def delete_ledger_before(self, ts: float) -> int:
        async with self._transaction("cannot delete expired ledger rows") as connection:
            status = await connection.execute("DELETE FROM ledger WHERE ts < to_timestamp($1)", ts)
        return _affected(status)

    async def subject_ledger_rows(
        self, end_user: str | None, tenant: str | None, user_id: str | None, key_id: str | None
    ) -> list[LedgerRow]:
        if end_user is not None:
            where = "end_user = $1 AND (team_id = $2 OR (team_id IS NULL AND key_id = $2))"
            arguments: tuple[Any, ...] = (end_user, tenant)
        elif user_id is not None:
            where, arguments = "user_id = $1", (user_id,)
        else:
            where, arguments = "key_id = $1", (key_id,)
        rows = await self._fetch(
            "cannot read ledger rows",
            f"SELECT {_LEDGER_SELECT} FROM ledger WHERE {where} ORDER BY ts",
            *arguments,
        )
        return [LedgerRow(*row) for row in rows]


def _checkpoint(row: Any) -> AuditCheckpointRow:
    checkpoint = AuditCheckpointRow(*row)
    checkpoint.witness = orjson.loads(checkpoint.witness)  # type: ignore[arg-type]
    return checkpoint
