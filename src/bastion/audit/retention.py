"""Retention: a background task that deletes what has outlived its period, without breaking ``verify``.

Payloads are simply deleted by age (the chain holds only their digests). Ledger rows (nothing
of them is chained) go the cheapest way the database allows: on PostgreSQL whole day partitions
are dropped, so a row outlives ``ledger_days`` by up to a day; on SQLite rows are deleted.
Audit entries cannot be deleted one by one without breaking the chain, so a chain is pruned
by whole segments: up to its newest signed checkpoint older than the cut-off (every entry
before a checkpoint is older than it). The
pruned chain keeps that checkpoint, and a signed prune marker records ``(chain, through_seq,
hash)``: verify then starts the chain there, and a prefix deleted without the key still shows.
Each chain category has its own period (``/requests`` chains: ``request_days``; ``/admin``
chains: ``admin_days``). Every replica runs the task; pruning is idempotent and a marker
never moves back, so replicas racing each other do no harm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable

from bastion.audit.chain import checkpoint_message, sign_prune
from bastion.audit.config import RetentionConfig
from bastion.audit.signing import Signer
from bastion.audit.writer import AuditLog
from bastion.store.base import Store

log = logging.getLogger("bastion.audit")

DAY = 86_400.0


class Retention:
    def __init__(
        self,
        config: RetentionConfig,
        store: Store,
        signer: Signer | None,
        audit: AuditLog | None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.store = store
        self.signer = signer if signer is not None and signer.can_sign else None
        self.audit = audit
        self.clock = clock
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-retention")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        # replicas started together should not all prune at the same moment
        await self._sleep(random.uniform(0.05, 0.2) * self.config.interval_seconds)
        while True:
            try:
                await self.run_once()
            except Exception as error:
                log.warning("retention: this run failed, trying again next interval: %s", error)
            await self._sleep(self.config.interval_seconds)

    async def run_once(self) -> dict[str, int]:
        """Delete everything past its retention now; how much of each category went."""
        config, now = self.config, self.clock()
        deleted: dict[str, int] = {}
        if config.payload_days is not None:
            deleted["payloads"] = await self.store.delete_audit_payloads_before(
                now - config.payload_days * DAY
            )
        if config.ledger_days is not None:
            deleted["ledger_rows"] = await self.store.expire_ledger_before(now - config.ledger_days * DAY)
        if self.signer is not None and (config.request_days is not None or config.admin_days is not None):
            deleted["audit_entries"] = await self._prune_chains(now)
        if any(deleted.values()):
            log.info("retention: deleted %s", ", ".join(f"{count} {what}" for what, count in deleted.items()))
            if self.audit is not None:
                self.audit.record_system("retention", {"deleted": deleted})
        return deleted

    async def _prune_chains(self, now: float) -> int:
        assert self.signer is not None
        pruned = {marker.chain_id: marker.through_seq for marker in await self.store.audit_prunes()}
        total = 0
        for head in await self.store.audit_heads():
            days = self._days(head.chain_id)
            if days is None:
                continue
            cutoff = now - days * DAY
            floor = pruned.get(head.chain_id, 0)
            eligible = [
                checkpoint
                for checkpoint in await self.store.audit_checkpoints(head.chain_id)
                if checkpoint.ts < cutoff and floor < checkpoint.seq <= head.seq
            ]
            for anchor in sorted(eligible, key=lambda checkpoint: checkpoint.seq, reverse=True):
                # a forged checkpoint must not become the anchor that blesses what follows it
                problem = self.signer.verify(anchor.key_id, checkpoint_message(anchor), anchor.signature)
                if problem is None:
                    marker = sign_prune(self.signer, head.chain_id, anchor.seq, anchor.hash, now)
                    total += await self.store.prune_audit(marker)
                    break
                log.error(
                    "retention: chain %s: checkpoint %d fails verification (%s); not pruning to it",
                    head.chain_id,
                    anchor.seq,
                    problem,
                )
        return total

    def _days(self, chain_id: str) -> float | None:
        category = chain_id.rsplit("/", 1)[-1]
        if category == "requests":
            return self.config.request_days
        if category == "admin":
            return self.config.admin_days
        return None
