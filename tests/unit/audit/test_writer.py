"""The writer: what an entry holds, when checkpoints are signed, and a batch written exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from bastion.accounting.catalog import PriceCatalog
from bastion.accounting.recorder import UsageRecorder
from bastion.accounting.tokens import TokenCounter
from bastion.audit.canonical import canonical, sha256_hex
from bastion.audit.verify import Verifier
from bastion.audit.writer import AuditLog
from bastion.config import BastionConfig
from bastion.limits.admission import Admission
from bastion.limits.alerts import BudgetAlerts
from bastion.limits.memory import MemoryCounters
from bastion.store.audit_base import AuditBatch
from bastion.store.base import Store, StoreError
from bastion.store.sqlite import SQLiteStore
from tests.unit.audit.conftest import MASTER_KEY, Clock, audit_config, populate, request_context, signer

StoreMaker = Callable[[], Store]


async def entries(store: Store, chain_id: str) -> list[dict[str, Any]]:
    return [orjson.loads(row.body) for row in await store.audit_entries(chain_id, 0, 10_000)]


async def test_a_request_entry_records_who_what_and_hashes_not_text(store: Store) -> None:
    log = AuditLog.build(audit_config(), store, writer_id="w")
    ctx, row = request_context("req-1", prompt="my secret plan", answer="the answer")
    log.record_request(ctx, row)
    await log.flush()
    [entry] = await entries(store, "w/requests")
    assert entry["actor"] == {"key_id": "key_1", "user_id": "bob", "team_id": "search"}
    assert (entry["subject"], entry["request_id"], entry["model"], entry["deployment"]) == (
        "end_user:search/alice",
        "req-1",
        "gpt",
        "gpt-4o-mini",
    )
    assert entry["guards"] == [{"guard": "pii", "stage": "input", "action": "mask", "detail": "email=1"}]
    assert (entry["status"], entry["cost_usd"], entry["tokens"]) == (
        200,
        0.0012,
        {"prompt": 10, "completion": 3},
    )
    assert entry["payload"] == {
        "mode": "hashed",
        "prompt_sha256": sha256_hex(canonical(ctx.client_body)),
        "answer_sha256": sha256_hex(b"the answer"),
    }
    assert "my secret plan" not in orjson.dumps(entry).decode()


async def test_payloads_off_records_no_digest_and_does_not_ask_for_the_answer(store: Store) -> None:
    log = AuditLog.build(audit_config(payloads="off"), store, writer_id="w")
    assert not log.captures_answer
    ctx, row = request_context("req-1")
    log.record_request(ctx, row)
    await log.flush()
    assert "payload" not in (await entries(store, "w/requests"))[0]


async def test_full_payloads_chain_only_the_sealed_digest(store: Store) -> None:
    log = AuditLog.build(audit_config(payloads="full", master_key=MASTER_KEY), store, writer_id="w")
    ctx, row = request_context("req-1", prompt="my secret plan")
    log.record_request(ctx, row)
    await log.flush()
    [entry] = await entries(store, "w/requests")
    [payload] = await store.audit_subject_payloads("end_user:search/alice")
    assert entry["payload"] == {
        "mode": "full",
        "key_id": payload.key_id,
        "sealed_sha256": sha256_hex(payload.sealed),
    }
    assert b"my secret plan" not in payload.sealed
    [key] = await store.subject_keys("end_user:search/alice")
    assert key.key_id == payload.key_id and key.wrapped is not None and MASTER_KEY.encode() not in key.wrapped


async def test_checkpoints_every_n_entries_and_a_closed_head(store: Store) -> None:
    clock = Clock()
    log = AuditLog.build(audit_config(checkpoint_every=5, batch_size=5), store, writer_id="w")
    log.clock = clock
    await populate(log, requests=12, admin=0)
    assert [c.seq for c in await store.audit_checkpoints("w/requests")] == [0, 5, 10]
    head = await store.audit_head("w/requests")
    assert head is not None and (head.seq, head.checkpoint_seq, head.closed) == (12, 10, False)
    clock.now += 3600  # time-based checkpoints too
    ctx, row = request_context("late")
    log.record_request(ctx, row)
    await log.flush()
    assert [c.seq for c in await store.audit_checkpoints("w/requests")][-1] == 13
    await log.close()
    head = await store.audit_head("w/requests")
    assert head is not None and head.closed
    assert (await Verifier(store, signer()).run()).ok


async def test_a_new_chain_witnesses_the_others_recent_heads(store: Store) -> None:
    first = AuditLog.build(audit_config(), store, writer_id="one")
    await populate(first, requests=3, admin=1)
    second = AuditLog.build(audit_config(), store, writer_id="two")
    await populate(second, requests=1, admin=0)
    opening = (await store.audit_checkpoints("two/requests"))[0]
    assert {(w["chain"], w["seq"]) for w in opening.witness} == {("one/requests", 3), ("one/admin", 1)}


async def test_replicas_write_their_own_chains_at_once(make_store: StoreMaker) -> None:
    stores = [make_store() for _ in range(3)]
    await asyncio.gather(*(store.open() for store in stores))
    logs = [
        AuditLog.build(audit_config(payloads="full", master_key=MASTER_KEY), store, writer_id=f"replica-{n}")
        for n, store in enumerate(stores)
    ]
    await asyncio.gather(*(populate(log, requests=20, admin=4) for log in logs))
    await asyncio.gather(*(log.close() for log in logs))
    report = await Verifier(stores[0], signer()).run()
    assert report.ok, [str(p) for p in report.all_problems]
    assert len(report.chains) == 6 and sum(chain.entries for chain in report.chains) == 72
    # the subjects' keys were made once, whichever replica got there first
    assert len(await stores[0].subject_keys("end_user:search/alice")) == 1


class FlakyStore:
    """Wraps a store: the next append commits and then reports an error (a lost reply)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lose_reply = False
        self.fail = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def append_audit(self, batch: AuditBatch) -> None:
        if self.fail:
            raise StoreError("database away")
        await self.store.append_audit(batch)
        if self.lose_reply:
            self.lose_reply = False
            raise StoreError("connection lost after commit")


async def test_a_batch_that_committed_before_its_reply_was_lost_is_not_written_twice(store: Store) -> None:
    flaky = FlakyStore(store)
    log = AuditLog.build(audit_config(), flaky, writer_id="w")  # type: ignore[arg-type]
    for number in range(3):
        log.record_request(*request_context(f"req-{number}"))
    flaky.lose_reply = True
    with pytest.raises(StoreError):
        await log.flush()
    await log.flush()  # the retry finds the batch committed (the head says so) and moves on
    for number in range(3, 5):
        log.record_request(*request_context(f"req-{number}"))
    await log.flush()
    assert [e["request_id"] for e in await entries(store, "w/requests")] == [f"req-{n}" for n in range(5)]
    assert (await Verifier(store, signer()).run()).ok


async def test_a_failed_batch_is_retried_whole_and_drops_are_recorded(store: Store) -> None:
    flaky = FlakyStore(store)
    config = audit_config(max_queue=3)
    log = AuditLog.build(config, flaky, writer_id="w")  # type: ignore[arg-type]
    flaky.fail = True
    for number in range(5):  # two do not fit in the queue
        log.record_request(*request_context(f"req-{number}"))
    with pytest.raises(StoreError):
        await log.flush()
    flaky.fail = False
    await log.flush()
    written = await entries(store, "w/requests")
    notices = await entries(store, "w/admin")
    assert [e["request_id"] for e in written] == ["req-0", "req-1", "req-2"]
    assert notices[0]["event"] == "entries_dropped" and notices[0]["count"] == 2
    assert (await Verifier(store, signer()).run()).ok


async def test_the_recorder_queues_an_entry_and_asks_for_the_answer(tmp_path: Any) -> None:
    store = SQLiteStore(str(tmp_path / "r.db"))
    await store.open()
    try:
        log = AuditLog.build(audit_config(), store, writer_id="w")
        config = BastionConfig()
        recorder = UsageRecorder(
            admission=Admission(
                end_users=config.limits.end_users,
                models={},
                features={},
                counters=MemoryCounters(),
                fallback=None,
                fail_closed=False,
            ),
            alerts=BudgetAlerts([1.0], None),
            catalog=PriceCatalog(config),
            tokens=TokenCounter(),
            ledger=None,
            default_output_tokens=100,
            families={},
            audit=log,
        )
        ctx, _ = request_context("req-9")
        ctx.client_body = {"messages": [{"role": "user", "content": "hi"}]}
        await recorder.admit(ctx, "gpt", ctx.client_body, "chat")
        assert ctx.capture_answer
        assert recorder.finish(ctx, 200) is None  # no limits: nothing left to settle
        assert log.queue.queued == 1
        await log.flush()
        [entry] = await entries(store, "w/requests")
        assert entry["request_id"] == "req-9" and entry["payload"]["answer_sha256"] == sha256_hex(b"hi there")
    finally:
        await store.close()
