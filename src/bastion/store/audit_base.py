"""The audit log's rows and the part of the store interface that keeps them (both databases implement it).

Chains, checkpoints, signed heads and prune markers are written by ``bastion.audit``; the
store only keeps them. A batch of entries, their payloads, checkpoints and the new heads go
in one transaction, so a head never points past entries that are not there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bastion.store.records import LedgerRow


@dataclass(slots=True)
class AuditEntryRow:
    chain_id: str
    seq: int  # 1, 2, 3… within the chain
    ts: float  # unix seconds (the request's start; the action's time)
    kind: str  # "request" | "admin" | "system"
    body: str  # canonical JSON of the whole entry (chain, seq and prev_hash included): what is hashed
    prev_hash: str
    hash: str  # sha256 of ``body``
    subject: str | None = None
    request_id: str | None = None


@dataclass(slots=True)
class AuditCheckpointRow:
    """A signed (chain, seq, hash): what an attacker without the key cannot move or recompute."""

    chain_id: str
    seq: int  # 0 for a chain's opening checkpoint
    hash: str
    ts: float
    prev_seq: int | None  # the chain's previous checkpoint: deleting one breaks the list
    witness: list[dict[str, Any]]  # other chains' heads seen when signing: (chain_id, seq, hash)
    key_id: str
    signature: str


@dataclass(slots=True)
class AuditHeadRow:
    """A chain's signed last entry, rewritten with every batch: a deleted tail no longer reaches it."""

    chain_id: str
    seq: int
    hash: str
    ts: float
    checkpoint_seq: int  # the chain's latest checkpoint
    closed: bool  # the writer stopped cleanly; nothing may follow
    key_id: str
    signature: str
    created_at: float = 0.0


@dataclass(slots=True)
class AuditPruneRow:
    """Signed: entries up to ``through_seq`` were removed by retention; ``hash`` was the last one's."""

    chain_id: str
    through_seq: int
    hash: str
    ts: float
    key_id: str
    signature: str


@dataclass(slots=True)
class AuditPayloadRow:
    """A request's prompt and answer, sealed under its subject's data key."""

    chain_id: str
    seq: int
    request_id: str
    subject: str
    key_id: str  # the subject key that sealed it
    ts: float
    sealed: bytes = field(repr=False)


@dataclass(slots=True)
class SubjectKeyRow:
    key_id: str
    subject: str
    wrapped: bytes | None = field(repr=False)  # None once erased
    created_at: float = 0.0
    erased_at: float | None = None


@dataclass(slots=True)
class AuditBatch:
    entries: list[AuditEntryRow] = field(default_factory=list)
    payloads: list[AuditPayloadRow] = field(default_factory=list)
    checkpoints: list[AuditCheckpointRow] = field(default_factory=list)
    heads: list[AuditHeadRow] = field(default_factory=list)


@dataclass(slots=True)
class AuditChainSummary:
    """What the database holds for one chain id, whatever table it appears in."""

    chain_id: str
    entries: int
    first_seq: int | None
    last_seq: int | None


class AuditStore(ABC):
    @abstractmethod
    async def append_audit(self, batch: AuditBatch) -> None:
        """Insert entries, payloads and checkpoints and upsert heads, in one transaction."""

    @abstractmethod
    async def audit_chains(self) -> list[AuditChainSummary]:
        """Every chain id found in entries, checkpoints, heads or prune markers (a deleted head shows)."""

    @abstractmethod
    async def audit_heads(self, since: float | None = None) -> list[AuditHeadRow]:
        """Signed heads (those written at or after ``since``, a unix time, when given)."""

    @abstractmethod
    async def audit_head(self, chain_id: str) -> AuditHeadRow | None: ...

    @abstractmethod
    async def audit_entries(self, chain_id: str, after_seq: int, limit: int) -> list[AuditEntryRow]:
        """Entries with ``seq > after_seq`` in seq order (keyset pages)."""

    @abstractmethod
    async def audit_checkpoints(self, chain_id: str) -> list[AuditCheckpointRow]: ...

    @abstractmethod
    async def audit_prunes(self) -> list[AuditPruneRow]: ...

    @abstractmethod
    async def audit_subject_entries(self, subject: str) -> list[AuditEntryRow]: ...

    @abstractmethod
    async def audit_payloads(self, chain_id: str, seqs: Sequence[int]) -> list[AuditPayloadRow]: ...

    @abstractmethod
    async def audit_subject_payloads(self, subject: str) -> list[AuditPayloadRow]: ...

    @abstractmethod
    async def active_subject_keys(self, subjects: Sequence[str]) -> list[SubjectKeyRow]:
        """The current (not erased) key of each subject that has one."""

    @abstractmethod
    async def add_subject_keys(self, rows: Sequence[SubjectKeyRow]) -> None:
        """Insert new keys; one for a subject that meanwhile got one elsewhere is skipped (re-read it)."""

    @abstractmethod
    async def subject_keys(self, subject: str) -> list[SubjectKeyRow]:
        """Every key the subject ever had, erased ones included."""

    @abstractmethod
    async def erase_subject_keys(self, subject: str, now: float) -> int:
        """Destroy the subject's wrapped keys (crypto-shredding); how many were destroyed."""

    @abstractmethod
    async def prune_audit(self, marker: AuditPruneRow) -> int:
        """Delete the chain's entries and payloads up to ``marker.through_seq`` and its checkpoints before it,
        and record the marker (a later one never goes back); how many entries were deleted."""

    @abstractmethod
    async def delete_audit_payloads_before(self, ts: float) -> int: ...

    @abstractmethod
    async def delete_ledger_before(self, ts: float) -> int: ...

    @abstractmethod
    async def subject_ledger_rows(
        self, end_user: str | None, tenant: str | None, user_id: str | None, key_id: str | None
    ) -> list[LedgerRow]:
        """Ledger rows of an end user within a tenant (team, else key), or of a user, or of a key."""
