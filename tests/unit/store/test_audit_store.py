"""The audit part of the store contract, on both databases: batches, heads, subject keys, pruning, expiry."""

from __future__ import annotations

import asyncio

import pytest

from bastion.store.audit_base import (
    AuditBatch,
    AuditCheckpointRow,
    AuditEntryRow,
    AuditHeadRow,
    AuditPayloadRow,
    AuditPruneRow,
    SubjectKeyRow,
)
from bastion.store.base import Store, StoreError
from bastion.store.migrations import LATEST_VERSION
from bastion.store.records import LedgerRow
from tests.unit.store.test_store_contract import DAY, T0, StoreMaker, make_store, store  # noqa: F401  (fixtures)


def entry(chain_id: str, seq: int, subject: str | None = None) -> AuditEntryRow:
    return AuditEntryRow(
        chain_id, seq, T0 + seq, "request", f'{{"seq":{seq}}}', f"p{seq}", f"h{seq}", subject, f"r{seq}"
    )


def head(chain_id: str, seq: int, ts: float = T0) -> AuditHeadRow:
    return AuditHeadRow(chain_id, seq, f"h{seq}", ts, 0, False, "k", "sig", T0)


async def test_schema_has_the_audit_migration(store: Store) -> None:  # noqa: F811
    assert LATEST_VERSION >= 6 and await store.schema_version() == LATEST_VERSION


async def test_a_batch_lands_whole_and_reads_back(store: Store) -> None:  # noqa: F811
    batch = AuditBatch(
        entries=[entry("c/requests", seq, "user:bob") for seq in (1, 2, 3)],
        payloads=[AuditPayloadRow("c/requests", 2, "r2", "user:bob", "sk_1", T0, b"\x00sealed")],
        checkpoints=[
            AuditCheckpointRow("c/requests", 0, "0" * 64, T0, None, [{"chain": "x", "seq": 1}], "k", "s")
        ],
        heads=[head("c/requests", 3)],
    )
    await store.append_audit(batch)
    assert [row.seq for row in await store.audit_entries("c/requests", 1, 10)] == [2, 3]
    assert await store.audit_entries("c/requests", 0, 1) == [batch.entries[0]]
    assert await store.audit_checkpoints("c/requests") == batch.checkpoints
    assert await store.audit_head("c/requests") == batch.heads[0]
    assert [row.seq for row in await store.audit_subject_entries("user:bob")] == [1, 2, 3]
    assert await store.audit_payloads("c/requests", [1, 2]) == batch.payloads
    assert await store.audit_subject_payloads("user:bob") == batch.payloads
    [summary] = await store.audit_chains()
    assert (summary.chain_id, summary.entries, summary.first_seq, summary.last_seq) == ("c/requests", 3, 1, 3)

    # an entry already there refuses the whole batch: the head does not move
    with pytest.raises(StoreError):
        await store.append_audit(AuditBatch(entries=[entry("c/requests", 3)], heads=[head("c/requests", 9)]))
    assert (await store.audit_head("c/requests")).seq == 3  # type: ignore[union-attr]
    await store.append_audit(AuditBatch(heads=[head("c/requests", 3, T0 + 50)]))
    assert [h.chain_id for h in await store.audit_heads(since=T0 + 10)] == ["c/requests"]
    assert await store.audit_heads(since=T0 + 100) == []


async def test_chains_show_even_when_only_a_head_or_checkpoint_is_left(store: Store) -> None:  # noqa: F811
    await store.append_audit(AuditBatch(heads=[head("only-head", 4)]))
    await store.append_audit(
        AuditBatch(checkpoints=[AuditCheckpointRow("only-checkpoint", 0, "h", T0, None, [], "k", "s")])
    )
    assert {(s.chain_id, s.entries) for s in await store.audit_chains()} == {
        ("only-head", 0),
        ("only-checkpoint", 0),
    }


async def test_one_active_key_per_subject_and_erasure(make_store: StoreMaker) -> None:  # noqa: F811
    first, second = make_store(), make_store()
    await asyncio.gather(first.open(), second.open())
    # two replicas making a key for the same subject at once: one wins, both then read it
    await asyncio.gather(
        first.add_subject_keys([SubjectKeyRow("sk_a", "user:bob", b"wrapped-a", T0)]),
        second.add_subject_keys([SubjectKeyRow("sk_b", "user:bob", b"wrapped-b", T0)]),
    )
    [active] = await first.active_subject_keys(["user:bob", "user:nobody"])
    assert active.key_id in ("sk_a", "sk_b") and active.wrapped in (b"wrapped-a", b"wrapped-b")
    assert await first.erase_subject_keys("user:bob", T0 + 1) == 1
    assert await first.erase_subject_keys("user:bob", T0 + 2) == 0
    assert await first.active_subject_keys(["user:bob"]) == []
    await first.add_subject_keys([SubjectKeyRow("sk_c", "user:bob", b"wrapped-c", T0 + 3)])
    keys = await first.subject_keys("user:bob")
    assert [(k.key_id, k.wrapped, k.erased_at) for k in keys] == [
        (active.key_id, None, T0 + 1),
        ("sk_c", b"wrapped-c", None),
    ]


async def test_pruning_deletes_a_prefix_and_never_goes_back(store: Store) -> None:  # noqa: F811
    await store.append_audit(
        AuditBatch(
            entries=[entry("c/requests", seq) for seq in range(1, 7)],
            payloads=[AuditPayloadRow("c/requests", 2, "r2", "user:bob", "sk", T0, b"x")],
            checkpoints=[
                AuditCheckpointRow("c/requests", seq, f"h{seq}", T0, None, [], "k", "s") for seq in (0, 3, 6)
            ],
            heads=[head("c/requests", 6)],
        )
    )
    assert await store.prune_audit(AuditPruneRow("c/requests", 3, "h3", T0, "k", "s")) == 3
    assert [row.seq for row in await store.audit_entries("c/requests", 0, 10)] == [4, 5, 6]
    assert [c.seq for c in await store.audit_checkpoints("c/requests")] == [3, 6]
    assert await store.audit_subject_payloads("user:bob") == []
    assert await store.prune_audit(AuditPruneRow("c/requests", 2, "h2", T0, "k", "s")) == 0
    [marker] = await store.audit_prunes()
    assert (marker.through_seq, marker.hash) == (3, "h3")


async def test_expired_payloads_and_ledger_rows_are_deleted(store: Store) -> None:  # noqa: F811
    await store.append_audit(
        AuditBatch(
            entries=[entry("c/requests", 1), entry("c/requests", 2)],
            payloads=[
                AuditPayloadRow("c/requests", 1, "r1", "user:bob", "sk", T0 - 10 * DAY, b"old"),
                AuditPayloadRow("c/requests", 2, "r2", "user:bob", "sk", T0, b"new"),
            ],
        )
    )
    await store.write_ledger([LedgerRow("old", ts=T0 - 10 * DAY), LedgerRow("new", ts=T0)])
    assert await store.delete_audit_payloads_before(T0 - DAY) == 1
    assert await store.delete_ledger_before(T0 - DAY) == 1
    assert [p.request_id for p in await store.audit_subject_payloads("user:bob")] == ["r2"]
    assert await store.get_ledger_row("old") is None and await store.get_ledger_row("new") is not None


async def test_a_subjects_ledger_rows(store: Store) -> None:  # noqa: F811
    await store.write_ledger(
        [
            LedgerRow("a", ts=T0, key_id="key_1", team_id="search", user_id="bob", end_user="alice"),
            LedgerRow("b", ts=T0 + 1, key_id="key_2", team_id=None, user_id=None, end_user="alice"),
            LedgerRow("c", ts=T0 + 2, key_id="key_3", team_id="ads", user_id="bob", end_user="alice"),
        ]
    )
    assert [r.request_id for r in await store.subject_ledger_rows("alice", "search", None, None)] == ["a"]
    assert [r.request_id for r in await store.subject_ledger_rows("alice", "key_2", None, None)] == ["b"]
    assert [r.request_id for r in await store.subject_ledger_rows(None, None, "bob", None)] == ["a", "c"]
    rows = await store.subject_ledger_rows(None, None, None, "key_3")
    assert [r.request_id for r in rows] == ["c"] and rows[0].stream is False
