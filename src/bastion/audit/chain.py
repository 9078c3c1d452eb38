"""Hash-chain arithmetic shared by the writer and the verifier: entries, checkpoints, heads, prune markers.

An entry's stored body is the canonical JSON of everything it says *and* of its place
(``chain``, ``seq``, ``prev``: the previous entry's hash); its hash is the SHA-256 of those
bytes. Editing, inserting, deleting or reordering entries breaks a hash or a link, and
recomputing the hashes after an edit breaks the signed checkpoints and head, which only the
key holder can make.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bastion.audit.canonical import GENESIS_HASH, canonical, sha256_hex, signed_message
from bastion.audit.signing import Signer
from bastion.store.audit_base import AuditCheckpointRow, AuditEntryRow, AuditHeadRow, AuditPruneRow

#: the body format; a later format bumps it and the verifier reads both
ENTRY_VERSION = 1


@dataclass(frozen=True, slots=True)
class ChainState:
    """Where a chain stands: its last entry and its last checkpoint (None before the opening one)."""

    chain_id: str
    seq: int = 0
    hash: str = GENESIS_HASH
    checkpoint_seq: int | None = None
    checkpoint_ts: float = 0.0
    created_at: float = 0.0

    def append(
        self, kind: str, ts: float, fields: dict[str, Any], subject: str | None, request_id: str | None
    ) -> tuple[AuditEntryRow, ChainState]:
        """The next entry, and the state after it (this state is left as it was)."""
        seq = self.seq + 1
        record = {
            **fields,
            "v": ENTRY_VERSION,
            "chain": self.chain_id,
            "seq": seq,
            "prev": self.hash,
            "ts": ts,
            "kind": kind,
            "subject": subject,
            "request_id": request_id,
        }
        body = canonical(record)
        digest = sha256_hex(body)
        entry = AuditEntryRow(
            chain_id=self.chain_id,
            seq=seq,
            ts=ts,
            kind=kind,
            body=body.decode(),
            prev_hash=self.hash,
            hash=digest,
            subject=subject,
            request_id=request_id,
        )
        return entry, replace(self, seq=seq, hash=digest)

    def checkpoint(
        self, signer: Signer, ts: float, witness: list[dict[str, Any]]
    ) -> tuple[AuditCheckpointRow, ChainState]:
        """A signed checkpoint at the current entry, linked to the previous checkpoint."""
        row = AuditCheckpointRow(
            chain_id=self.chain_id,
            seq=self.seq,
            hash=self.hash,
            ts=ts,
            prev_seq=self.checkpoint_seq,
            witness=witness,
            key_id="",
            signature="",
        )
        row.key_id, row.signature = signer.sign(checkpoint_message(row))
        return row, replace(self, checkpoint_seq=self.seq, checkpoint_ts=ts)

    def head(self, signer: Signer, ts: float, closed: bool = False) -> AuditHeadRow:
        assert self.checkpoint_seq is not None, "a chain opens with a checkpoint before its first head"
        row = AuditHeadRow(
            chain_id=self.chain_id,
            seq=self.seq,
            hash=self.hash,
            ts=ts,
            checkpoint_seq=self.checkpoint_seq,
            closed=closed,
            key_id="",
            signature="",
            created_at=self.created_at,
        )
        row.key_id, row.signature = signer.sign(head_message(row))
        return row


def checkpoint_message(row: AuditCheckpointRow) -> bytes:
    return signed_message(
        "checkpoint",
        {
            "chain": row.chain_id,
            "seq": row.seq,
            "hash": row.hash,
            "ts": row.ts,
            "prev_seq": row.prev_seq,
            "witness": row.witness,
        },
    )


def head_message(row: AuditHeadRow) -> bytes:
    return signed_message(
        "head",
        {
            "chain": row.chain_id,
            "seq": row.seq,
            "hash": row.hash,
            "ts": row.ts,
            "checkpoint_seq": row.checkpoint_seq,
            "closed": row.closed,
            "created_at": row.created_at,
        },
    )


def prune_message(row: AuditPruneRow) -> bytes:
    return signed_message(
        "prune", {"chain": row.chain_id, "through_seq": row.through_seq, "hash": row.hash, "ts": row.ts}
    )


def sign_prune(signer: Signer, chain_id: str, through_seq: int, hash_: str, ts: float) -> AuditPruneRow:
    row = AuditPruneRow(
        chain_id=chain_id, through_seq=through_seq, hash=hash_, ts=ts, key_id="", signature=""
    )
    row.key_id, row.signature = signer.sign(prune_message(row))
    return row


def witness_of(heads: list[AuditHeadRow]) -> list[dict[str, Any]]:
    """Other chains' heads as a checkpoint records them: deleting or truncating one later shows."""
    return [{"chain": head.chain_id, "seq": head.seq, "hash": head.hash} for head in heads]
