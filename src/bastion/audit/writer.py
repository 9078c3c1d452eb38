"""The audit stage: entries queued from the request path and admin actions, chained and signed in batches.

``record_request`` and ``record_admin`` only append to a bounded in-process queue (the
ledger's ``BatchWriter``); a background task turns each batch into chain entries, seals
payloads, signs checkpoints and the chain heads, and writes it all in one transaction.

Every writer process owns its chains (``<replica>-<start time>-<random>/requests`` and
``…/admin``), so replicas never contend for a chain and need no shared sequence. A chain opens
with a signed checkpoint at seq 0 that witnesses the other chains' heads; later checkpoints
(every ``checkpoint_every`` entries or ``checkpoint_seconds``) witness them again; the head
is re-signed with every batch. A write that failed after it may have committed is settled by
reading the heads back, so a retried batch is written exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.accounting.ledger import BatchWriter
from bastion.audit.canonical import canonical, sha256_hex
from bastion.audit.chain import ChainState, witness_of
from bastion.audit.config import AuditConfig
from bastion.audit.payloads import PayloadVault, VaultError, sealed_digest
from bastion.audit.signing import AuditKeyError, Signer
from bastion.audit.subjects import subject_of
from bastion.store.audit_base import AuditBatch, AuditPayloadRow, AuditStore
from bastion.store.records import LedgerRow

if TYPE_CHECKING:
    from bastion.context import GuardDecision, RequestContext

log = logging.getLogger("bastion.audit")

#: which chain of the writer each kind of entry goes to (retention is per chain category)
CATEGORY = {"request": "requests", "admin": "admin", "system": "admin"}
#: a chain's opening checkpoint witnesses the heads written this recently (later ones: a few intervals)
_OPENING_WITNESS_SECONDS = 7 * 86_400.0
_MAX_WITNESSES = 1000


@dataclass(slots=True, eq=False)
class PendingEntry:
    kind: str  # "request" | "admin" | "system"
    ts: float
    subject: str | None = None
    request_id: str | None = None
    fields: dict[str, Any] | None = None  # admin and system entries: what they say
    row: LedgerRow | None = None  # request entries: the ledger row they are built from
    guards: tuple[GuardDecision, ...] = ()
    prompt: Any = None  # the request as the client sent it
    answer: str | None = None
    prepared: dict[str, Any] | None = None  # the entry's fields, payload digests included (computed once)
    sealed: tuple[str, bytes] | None = None  # (subject key id, sealed payload) when payloads are stored
    written: bool = False


def new_writer_id(replica_id: str | None) -> str:
    """A chain-id prefix no other process has: replica name, start time, random."""
    replica = replica_id or host_name()
    return f"{replica}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}"


def host_name() -> str:
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in socket.gethostname())
    return name or "bastion"


class AuditLog:
    def __init__(
        self,
        config: AuditConfig,
        store: AuditStore,
        signer: Signer,
        vault: PayloadVault | None = None,
        *,
        writer_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not signer.can_sign:
            raise AuditKeyError("the audit log needs a signing key (audit.signing_key)")
        if config.payloads == "full" and vault is None:
            raise AuditKeyError("payloads: full needs a master key (audit.master_key)")
        self.config = config
        self.store = store
        self.signer = signer
        self.vault = vault
        self.payloads = config.payloads
        #: whether the output path must collect the answer text for this stage
        self.captures_answer = config.payloads != "off"
        self.writer_id = writer_id or new_writer_id(config.replica_id)
        self.clock = clock
        self.queue: BatchWriter[PendingEntry] = BatchWriter(
            self._write,
            name="audit",
            batch_size=config.batch_size,
            flush_interval=config.flush_ms / 1000,
            max_queue=config.max_queue,
        )
        self._states: dict[str, ChainState] = {}
        self._attempt: tuple[list[PendingEntry], dict[str, ChainState], int] | None = None
        self._dropped_reported = 0
        self._vault_error_logged = False

    @classmethod
    def build(cls, config: AuditConfig, store: AuditStore, *, writer_id: str | None = None) -> AuditLog:
        """From the config; raises ``AuditKeyError`` naming the setting when a key is missing or unusable."""
        signer = Signer.from_config(config)
        vault = None
        if config.payloads == "full":
            try:
                master = config.resolved_master_key()
            except ValueError as error:
                raise AuditKeyError(str(error)) from None
            if master is None:
                raise AuditKeyError("payloads: full needs master_key or master_key_file")
            vault = PayloadVault(master)
        return cls(config, store, signer, vault, writer_id=writer_id)

    # ----------------------------------------------------------------- the request path
    def record_request(self, ctx: RequestContext, row: LedgerRow) -> None:
        """Queue the entry of a finished request (no I/O, no hashing here)."""
        pending = PendingEntry(
            kind="request",
            ts=row.ts,
            subject=subject_of(row.end_user, row.team_id, row.key_id, row.user_id),
            request_id=row.request_id,
            row=row,
            guards=tuple(ctx.guards),
        )
        if self.payloads != "off":
            pending.prompt = ctx.client_body if ctx.client_body is not None else ctx.request_body
            pending.answer = ctx.answer_text
        self.queue.submit(pending)

    def record_admin(
        self,
        actor: str,
        action: str,
        target: str | None,
        summary: dict[str, Any],
        *,
        status: int = 200,
        subject: str | None = None,
        source: str | None = None,
    ) -> None:
        """Queue an admin action: who, what, on what, and a summary that must hold no secret."""
        fields = {"actor": actor, "action": action, "target": target, "status": status, "summary": summary}
        if source is not None:
            fields["source"] = source
        self.queue.submit(PendingEntry(kind="admin", ts=self.clock(), subject=subject, fields=fields))

    def record_system(self, event: str, details: dict[str, Any]) -> None:
        """Queue something the gateway itself did to the log (retention pruning, for one)."""
        fields = {"event": event, **details}
        self.queue.submit(PendingEntry(kind="system", ts=self.clock(), fields=fields))

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self.queue.start()

    async def flush(self) -> None:
        await self.queue.flush()

    async def close(self) -> None:
        """Write what is queued, then a last checkpoint and a closed head for each chain."""
        await self.queue.close()
        if not self._states:
            return
        now = self.clock()
        batch = AuditBatch()
        for chain_id, state in self._states.items():
            if state.checkpoint_seq is not None and state.seq > state.checkpoint_seq:
                checkpoint, state = state.checkpoint(self.signer, now, [])
                batch.checkpoints.append(checkpoint)
            batch.heads.append(state.head(self.signer, now, closed=True))
            self._states[chain_id] = state
        try:
            await self.store.append_audit(batch)
        except Exception as error:
            log.error("audit: could not write the closing heads: %s", error)

    # ----------------------------------------------------------------- background
    async def _write(self, items: Sequence[PendingEntry]) -> None:
        await self._settle_previous_attempt()
        todo = [item for item in items if not item.written]
        dropped = self.queue.dropped - self._dropped_reported
        if not todo and not dropped:
            return
        await self._prepare(todo)
        now = self.clock()
        if dropped:
            notice = {"event": "entries_dropped", "count": dropped, "reason": "queue full or unwritable"}
            todo = [*todo, PendingEntry(kind="system", ts=now, fields=notice, prepared=notice)]
        witness = await self._witness(todo, now)
        batch, states = self._build(todo, now, witness)
        self._attempt = (todo, states, dropped)
        await self.store.append_audit(batch)
        self._attempt = None
        self._commit(todo, states, dropped)

    async def _settle_previous_attempt(self) -> None:
        """After a failed write: if it committed anyway (the heads say so), count it as written."""
        attempt = self._attempt
        if attempt is None:
            return
        items, states, dropped = attempt
        for chain_id, state in states.items():
            if self._states.get(chain_id) == state:
                continue
            head = await self.store.audit_head(chain_id)
            if head is None or head.seq != state.seq or head.hash != state.hash:
                self._attempt = None
                return
        self._attempt = None
        self._commit(items, states, dropped)

    def _commit(self, items: list[PendingEntry], states: dict[str, ChainState], dropped: int) -> None:
        for item in items:
            item.written = True
        self._states = states
        self._dropped_reported += dropped

    def _chain_id(self, kind: str) -> str:
        return f"{self.writer_id}/{CATEGORY[kind]}"

    async def _witness(self, todo: list[PendingEntry], now: float) -> list[dict[str, Any]]:
        """Other chains' recent heads, read only when this batch signs a checkpoint."""
        counts: dict[str, int] = {}
        for item in todo:
            chain_id = self._chain_id(item.kind)
            counts[chain_id] = counts.get(chain_id, 0) + 1
        opening = any(chain_id not in self._states for chain_id in counts)
        if not opening and not any(self._checkpoint_due(self._states[c], n, now) for c, n in counts.items()):
            return []
        window = _OPENING_WITNESS_SECONDS if opening else max(3 * self.config.checkpoint_seconds, 600.0)
        heads = [
            head
            for head in await self.store.audit_heads(since=now - window)
            if not head.chain_id.startswith(self.writer_id + "/")
        ]
        heads.sort(key=lambda head: head.ts, reverse=True)
        return witness_of(heads[:_MAX_WITNESSES])

    def _checkpoint_due(self, state: ChainState, added: int, now: float) -> bool:
        since = state.seq + added - (state.checkpoint_seq or 0)
        return since >= self.config.checkpoint_every or (
            since > 0 and now - state.checkpoint_ts >= self.config.checkpoint_seconds
        )

    def _build(
        self, todo: list[PendingEntry], now: float, witness: list[dict[str, Any]]
    ) -> tuple[AuditBatch, dict[str, ChainState]]:
        batch = AuditBatch()
        states = dict(self._states)
        for item in todo:
            chain_id = self._chain_id(item.kind)
            state = states.get(chain_id) or ChainState(chain_id, created_at=now)
            if state.checkpoint_seq is None:
                opening, state = state.checkpoint(self.signer, now, witness)
                batch.checkpoints.append(opening)
            assert item.prepared is not None
            entry, state = state.append(item.kind, item.ts, item.prepared, item.subject, item.request_id)
            batch.entries.append(entry)
            if item.sealed is not None and item.subject is not None and item.request_id is not None:
                key_id, sealed = item.sealed
                batch.payloads.append(
                    AuditPayloadRow(
                        chain_id, entry.seq, item.request_id, item.subject, key_id, item.ts, sealed
                    )
                )
            states[chain_id] = state
        for chain_id, state in states.items():
            if self._states.get(chain_id) == state:
                continue  # untouched by this batch
            if self._checkpoint_due(state, 0, now) and state.checkpoint_seq != state.seq:
                checkpoint, state = state.checkpoint(self.signer, now, witness)
                batch.checkpoints.append(checkpoint)
                states[chain_id] = state
            batch.heads.append(state.head(self.signer, now))
        return batch, states

    # ----------------------------------------------------------------- payloads
    async def _prepare(self, todo: list[PendingEntry]) -> None:
        """Each entry's fields with its payload digests (and sealed payload), once per entry."""
        fresh = [item for item in todo if item.prepared is None]
        if not fresh:
            return
        keys: dict[str, tuple[str, bytes]] = {}
        if self.vault is not None:
            subjects = {item.subject for item in fresh if item.kind == "request" and item.subject}
            keys = await self._subject_keys(subjects)
        # hashing and sealing a batch of bodies is CPU work: off the event loop
        await asyncio.to_thread(self._prepare_all, fresh, keys)

    def _prepare_all(self, items: list[PendingEntry], keys: dict[str, tuple[str, bytes]]) -> None:
        for item in items:
            if item.kind != "request":
                item.prepared = item.fields or {}
                continue
            fields = _request_fields(item)
            if self.payloads == "hashed":
                fields["payload"] = {
                    "mode": "hashed",
                    "prompt_sha256": sha256_hex(canonical(item.prompt)) if item.prompt is not None else None,
                    "answer_sha256": sha256_hex(item.answer.encode()) if item.answer is not None else None,
                }
            elif self.payloads == "full":
                fields["payload"] = self._seal(item, keys.get(item.subject or ""))
            item.prompt = item.answer = None  # the queue need not hold the bodies any longer
            item.prepared = fields

    def _seal(self, item: PendingEntry, key: tuple[str, bytes] | None) -> dict[str, Any]:
        if key is None or item.request_id is None:
            return {"mode": "full", "error": "no subject key"}
        key_id, data_key = key
        plaintext = canonical({"request": item.prompt, "answer": item.answer})
        sealed = PayloadVault.seal(data_key, key_id, item.request_id, plaintext)
        item.sealed = (key_id, sealed)
        # only the digest of the sealed bytes is chained: erasing the key leaves nothing readable
        return {"mode": "full", "key_id": key_id, "sealed_sha256": sealed_digest(sealed)}

    async def _subject_keys(self, subjects: set[str]) -> dict[str, tuple[str, bytes]]:
        """Each subject's current data key, made (and stored wrapped) for subjects that have none."""
        vault = self.vault
        assert vault is not None
        if not subjects:
            return {}
        rows = {row.subject: row for row in await self.store.active_subject_keys(sorted(subjects))}
        missing = subjects - set(rows)
        if missing:
            now = self.clock()
            await self.store.add_subject_keys([vault.new_key(subject, now)[0] for subject in sorted(missing)])
            # another replica may have made one meanwhile: whichever is stored is the one to use
            rows.update({row.subject: row for row in await self.store.active_subject_keys(sorted(missing))})
        keys: dict[str, tuple[str, bytes]] = {}
        for subject, row in rows.items():
            try:
                data_key = vault.unwrap(row)
            except VaultError as error:
                if not self._vault_error_logged:
                    self._vault_error_logged = True
                    log.error("audit: payloads are not stored: %s", error)
                continue
            if data_key is not None:
                keys[subject] = (row.key_id, data_key)
        return keys


def _request_fields(item: PendingEntry) -> dict[str, Any]:
    row = item.row
    assert row is not None
    return {
        "actor": {"key_id": row.key_id, "user_id": row.user_id, "team_id": row.team_id},
        "end_user": row.end_user,
        "feature": row.feature,
        "route": row.route,
        "stream": row.stream,
        "model": row.model,
        "provider": row.provider,
        "deployment": row.deployment,
        "route_rule": row.route_rule,
        "variant": row.variant,
        "status": row.status,
        "error_code": row.error_code,
        "attempts": row.attempts,
        "cache": row.cache_hit,
        "tokens": {"prompt": row.prompt_tokens, "completion": row.completion_tokens},
        "cost_usd": row.cost_usd,
        "usage_estimated": row.usage_estimated,
        "latency_ms": row.latency_ms,
        "guards": [
            {"guard": g.guard, "stage": g.stage, "action": g.action, "detail": g.detail} for g in item.guards
        ],
    }
