"""The audit tables on SQLite: mixed into ``SQLiteStore`` (same connections, same write lock)."""

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
from bastion.store.records import LedgerRow, ledger_row_from_sqlite

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    import aiosqlite

_ENTRY_COLUMNS = "chain_id, seq, ts, kind, body, prev_hash, hash, subject, request_id"
_CHECKPOINT_COLUMNS = "chain_id, seq, hash, ts, prev_seq, witness, key_id, signature"
_HEAD_COLUMNS = "chain_id, seq, hash, ts, checkpoint_seq, closed, key_id, signature, created_at"
_PRUNE_COLUMNS = "chain_id, through_seq, hash, ts, key_id, signature"
_PAYLOAD_COLUMNS = "chain_id, seq, request_id, subject, key_id, ts, sealed"
_KEY_COLUMNS = "key_id, subject, wrapped, created_at, erased_at"
_LEDGER_FIELDS = ", ".join(field.name for field in fields(LedgerRow))
#: SQLite's default limit on ``?`` parameters in one statement is 32766; stay far below it
_IN_CHUNK = 500


class SQLiteAuditStore(AuditStore):
    if TYPE_CHECKING:  # provided by SQLiteStore
        clock: Callable[[], float]
        _writer: aiosqlite.Connection | None
        _write_lock: asyncio.Lock

        def _transaction(self, action: str) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...
        async def _read(self, sql: str, parameters: Sequence[Any]) -> list[Any]: ...
        def _connection(self, connection: aiosqlite.Connection | None) -> aiosqlite.Connection: ...

    async def append_audit(self, batch: AuditBatch) -> None:
        async with self._transaction(f"cannot write {len(batch.entries)} audit entries") as connection:
            await connection.executemany(
                f"INSERT INTO audit_entries ({_ENTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (e.chain_id, e.seq, e.ts, e.kind, e.body, e.prev_hash, e.hash, e.subject, e.request_id)
                    for e in batch.entries
                ],
            )
            await connection.executemany(
                f"INSERT INTO audit_payloads ({_PAYLOAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (p.chain_id, p.seq, p.request_id, p.subject, p.key_id, p.ts, p.sealed)
                    for p in batch.payloads
                ],
            )
            await connection.executemany(
                f"INSERT INTO audit_checkpoints ({_CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
            await connection.executemany(
                f"INSERT INTO audit_heads ({_HEAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (chain_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
                "ts = excluded.ts, checkpoint_seq = excluded.checkpoint_seq, closed = excluded.closed, "
                "key_id = excluded.key_id, signature = excluded.signature",
                [
                    (
                        h.chain_id,
                        h.seq,
                        h.hash,
                        h.ts,
                        h.checkpoint_seq,
                        int(h.closed),
                        h.key_id,
                        h.signature,
                        h.created_at,
                    )
                    for h in batch.heads
                ],
            )

    async def audit_chains(self) -> list[AuditChainSummary]:
        rows = await self._read(
            "SELECT chain_id, SUM(entries), MIN(first_seq), MAX(last_seq) FROM ("
            "SELECT chain_id, COUNT(*) AS entries, MIN(seq) AS first_seq, MAX(seq) AS last_seq "
            "FROM audit_entries GROUP BY chain_id "
            "UNION ALL SELECT chain_id, 0, NULL, NULL FROM audit_heads "
            "UNION ALL SELECT DISTINCT chain_id, 0, NULL, NULL FROM audit_checkpoints "
            "UNION ALL SELECT chain_id, 0, NULL, NULL FROM audit_prunes"
            ") GROUP BY chain_id ORDER BY chain_id",
            (),
        )
        return [AuditChainSummary(row[0], int(row[1] or 0), row[2], row[3]) for row in rows]

    async def audit_heads(self, since: float | None = None) -> list[AuditHeadRow]:
        rows = await self._read(
            f"SELECT {_HEAD_COLUMNS} FROM audit_heads WHERE ? IS NULL OR ts >= ? ORDER BY chain_id",
            (since, since),
        )
        return [_head(row) for row in rows]

    async def audit_head(self, chain_id: str) -> AuditHeadRow | None:
        rows = await self._read(f"SELECT {_HEAD_COLUMNS} FROM audit_heads WHERE chain_id = ?", (chain_id,))
        return _head(rows[0]) if rows else None

    async def audit_entries(self, chain_id: str, after_seq: int, limit: int) -> list[AuditEntryRow]:
        rows = await self._read(
            f"SELECT {_ENTRY_COLUMNS} FROM audit_entries WHERE chain_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (chain_id, after_seq, limit),
        )
        return [AuditEntryRow(*row) for row in rows]

    async def audit_checkpoints(self, chain_id: str) -> list[AuditCheckpointRow]:
        rows = await self._read(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE chain_id = ? ORDER BY seq",
            (chain_id,),
        )
        return [_checkpoint(row) for row in rows]

    async def audit_prunes(self) -> list[AuditPruneRow]:
        rows = await self._read(f"SELECT {_PRUNE_COLUMNS} FROM audit_prunes ORDER BY chain_id", ())
        return [AuditPruneRow(*row) for row in rows]

    async def audit_subject_entries(self, subject: str) -> list[AuditEntryRow]:
        rows = await self._read(
            f"SELECT {_ENTRY_COLUMNS} FROM audit_entries WHERE subject = ? ORDER BY ts, chain_id, seq",
            (subject,),
        )
        return [AuditEntryRow(*row) for row in rows]

    async def audit_payloads(self, chain_id: str, seqs: Sequence[int]) -> list[AuditPayloadRow]:
        found: list[AuditPayloadRow] = []
        for start in range(0, len(seqs), _IN_CHUNK):
            chunk = list(seqs[start : start + _IN_CHUNK])
            rows = await self._read(
                f"SELECT {_PAYLOAD_COLUMNS} FROM audit_payloads WHERE chain_id = ? "
                f"AND seq IN ({', '.join('?' * len(chunk))}) ORDER BY seq",
                (chain_id, *chunk),
            )
            found.extend(_payload(row) for row in rows)
        return found

    async def audit_subject_payloads(self, subject: str) -> list[AuditPayloadRow]:
        rows = await self._read(
            f"SELECT {_PAYLOAD_COLUMNS} FROM audit_payloads WHERE subject = ? ORDER BY ts, chain_id, seq",
            (subject,),
        )
        return [_payload(row) for row in rows]

    async def active_subject_keys(self, subjects: Sequence[str]) -> list[SubjectKeyRow]:
        found: list[SubjectKeyRow] = []
        unique = list(dict.fromkeys(subjects))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            rows = await self._read(
                f"SELECT {_KEY_COLUMNS} FROM audit_subject_keys WHERE erased_at IS NULL "
                f"AND subject IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            found.extend(_subject_key(row) for row in rows)
        return found

    async def add_subject_keys(self, rows: Sequence[SubjectKeyRow]) -> None:
        if not rows:
            return
        async with self._transaction(f"cannot store {len(rows)} subject keys") as connection:
            await connection.executemany(
                f"INSERT INTO audit_subject_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, NULL) "
                "ON CONFLICT DO NOTHING",
                [(row.key_id, row.subject, row.wrapped, row.created_at) for row in rows],
            )

    async def subject_keys(self, subject: str) -> list[SubjectKeyRow]:
        rows = await self._read(
            f"SELECT {_KEY_COLUMNS} FROM audit_subject_keys WHERE subject = ? ORDER BY created_at, key_id",
            (subject,),
        )
        return [_subject_key(row) for row in rows]

    async def erase_subject_keys(self, subject: str, now: float) -> int:
        async with self._transaction(f"cannot erase the keys of subject {subject!r}") as connection:
            # overwrite freed pages with zeros, so the wrapped key does not linger in the file
            await connection.execute("PRAGMA secure_delete=ON")
            try:
                cursor = await connection.execute(
                    "UPDATE audit_subject_keys SET wrapped = NULL, erased_at = ? "
                    "WHERE subject = ? AND erased_at IS NULL",
                    (now, subject),
                )
                erased = cursor.rowcount
            finally:
                await connection.execute("PRAGMA secure_delete=OFF")
        # the old page can still sit in the write-ahead log: copy it back and truncate the log
        connection = self._connection(self._writer)
        async with self._write_lock:
            await connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return erased

    async def prune_audit(self, marker: AuditPruneRow) -> int:
        async with self._transaction(f"cannot prune audit chain {marker.chain_id!r}") as connection:
            rows = await connection.execute_fetchall(
                "SELECT through_seq FROM audit_prunes WHERE chain_id = ?", (marker.chain_id,)
            )
            if rows and rows[0][0] >= marker.through_seq:
                return 0  # another replica pruned as far already
            cursor = await connection.execute(
                "DELETE FROM audit_entries WHERE chain_id = ? AND seq <= ?",
                (marker.chain_id, marker.through_seq),
            )
            deleted = cursor.rowcount
            await connection.execute(
                "DELETE FROM audit_payloads WHERE chain_id = ? AND seq <= ?",
                (marker.chain_id, marker.through_seq),
            )
            await connection.execute(
                "DELETE FROM audit_checkpoints WHERE chain_id = ? AND seq < ?",
                (marker.chain_id, marker.through_seq),
            )
            await connection.execute(
                f"INSERT INTO audit_prunes ({_PRUNE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (chain_id) DO UPDATE SET through_seq = excluded.through_seq, "
                "hash = excluded.hash, ts = excluded.ts, key_id = excluded.key_id, "
                "signature = excluded.signature",
                (
                    marker.chain_id,
                    marker.through_seq,
                    marker.hash,
                    marker.ts,
                    marker.key_id,
                    marker.signature,
                ),
            )
        return deleted

    async def delete_audit_payloads_before(self, ts: float) -> int:
        async with self._transaction("cannot delete expired audit payloads") as connection:
            cursor = await connection.execute("DELETE FROM audit_payloads WHERE ts < ?", (ts,))
            return cursor.rowcount

    async def delete_ledger_before(self, ts: float) -> int:
        async with self._transaction("cannot delete expired ledger rows") as connection:
            cursor = await connection.execute("DELETE FROM ledger WHERE ts < ?", (ts,))
            return cursor.rowcount

    async def subject_ledger_rows(
        self, end_user: str | None, tenant: str | None, user_id: str | None, key_id: str | None
    ) -> list[LedgerRow]:
        if end_user is not None:
            where = "end_user = ? AND (team_id = ? OR (team_id IS NULL AND key_id = ?))"
            parameters: tuple[Any, ...] = (end_user, tenant, tenant)
        elif user_id is not None:
            where, parameters = "user_id = ?", (user_id,)
        else:
            where, parameters = "key_id = ?", (key_id,)
        rows = await self._read(f"SELECT {_LEDGER_FIELDS} FROM ledger WHERE {where} ORDER BY ts", parameters)
        return [ledger_row_from_sqlite(row) for row in rows]


def _head(row: Any) -> AuditHeadRow:
    head = AuditHeadRow(*row)
    head.closed = bool(head.closed)
    return head


def _checkpoint(row: Any) -> AuditCheckpointRow:
    checkpoint = AuditCheckpointRow(*row)
    checkpoint.witness = orjson.loads(checkpoint.witness)  # type: ignore[arg-type]
    return checkpoint


def _payload(row: Any) -> AuditPayloadRow:
    payload = AuditPayloadRow(*row)
    payload.sealed = bytes(payload.sealed)
    return payload


def _subject_key(row: Any) -> SubjectKeyRow:
    key = SubjectKeyRow(*row)
    key.wrapped = bytes(key.wrapped) if key.wrapped is not None else None
    return key
