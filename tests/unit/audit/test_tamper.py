"""Every way of tampering with the stored log is caught by verify, naming the chain, seq and what is wrong.

Three writers (replicas) write on one database, on SQLite and on PostgreSQL; then each test
changes the database the way someone with write access but without the signing key could,
and checks verify's first problem for that chain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
import pytest

from bastion.audit.canonical import canonical, sha256_hex
from bastion.audit.chain import checkpoint_message, head_message, prune_message
from bastion.audit.verify import Problem, Verifier, VerifyReport
from bastion.audit.writer import AuditLog
from bastion.store.audit_base import AuditCheckpointRow, AuditHeadRow, AuditPruneRow
from bastion.store.base import Store
from tests.unit.audit.conftest import (
    MASTER_KEY,
    OTHER_HMAC_KEY,
    Clock,
    audit_config,
    populate,
    raw,
    signer,
)

A = "replica-a/requests"  # 23 entries, payloads stored
A_ADMIN = "replica-a/admin"
B = "replica-b/requests"  # 6 entries
C = "replica-c/requests"  # 2 entries; opened last, so it witnessed A and B


async def verify(store: Store, key: str | None = None) -> VerifyReport:
    return await (Verifier(store, signer(key) if key else signer())).run()


@pytest.fixture
async def written(store: Store) -> Store:
    clock = Clock()
    for writer_id, requests, admin, payloads in (
        ("replica-a", 23, 7, "full"),
        ("replica-b", 6, 2, "hashed"),
        ("replica-c", 2, 1, "hashed"),
    ):
        log = AuditLog.build(
            audit_config(payloads=payloads, master_key=MASTER_KEY), store, writer_id=writer_id
        )
        log.clock = clock
        await populate(log, requests, admin)
        await log.close()
        clock.now += 60
    report = await verify(store)
    assert report.ok, [str(p) for p in report.all_problems]
    return store


def first(report: VerifyReport, chain_id: str) -> Problem:
    problems = [p for p in report.all_problems if p.chain_id == chain_id]
    assert problems, f"no problem reported for {chain_id}: {[str(p) for p in report.all_problems]}"
    return problems[0]


async def body_of(store: Store, chain_id: str, seq: int) -> dict:
    rows = await raw(store, "SELECT body FROM audit_entries WHERE chain_id = ? AND seq = ?", chain_id, seq)
    return orjson.loads(rows[0][0])


async def put_entry(store: Store, chain_id: str, seq: int, body: dict) -> str:
    """Write ``body`` at (chain, seq) with a correct hash, as an attacker who knows the format can."""
    text = canonical(body).decode()
    digest = sha256_hex(text.encode())
    await raw(
        store,
        "UPDATE audit_entries SET body = ?, hash = ?, prev_hash = ?, subject = ?, request_id = ?, ts = ?, "
        "kind = ? WHERE chain_id = ? AND seq = ?",
        text,
        digest,
        body["prev"],
        body.get("subject"),
        body.get("request_id"),
        body["ts"],
        body["kind"],
        chain_id,
        seq,
    )
    return digest


async def insert_entry(store: Store, chain_id: str, seq: int, body: dict) -> str:
    text = canonical(body).decode()
    digest = sha256_hex(text.encode())
    await raw(
        store,
        "INSERT INTO audit_entries (chain_id, seq, ts, kind, subject, request_id, body, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        chain_id,
        seq,
        body["ts"],
        body["kind"],
        body.get("subject"),
        body.get("request_id"),
        text,
        body["prev"],
        digest,
    )
    return digest


async def checkpoint_seqs(store: Store, chain_id: str) -> list[int]:
    return [checkpoint.seq for checkpoint in await store.audit_checkpoints(chain_id)]


# --------------------------------------------------------------------------- tampering cases


async def edit_a_field(store: Store) -> None:
    await raw(
        store,
        "UPDATE audit_entries SET body = replace(body, '\"status\":200', '\"status\":500') "
        "WHERE chain_id = ? AND seq = 5",
        A,
    )


async def edit_and_rehash_the_entry(store: Store) -> None:
    body = await body_of(store, A, 5)
    body["cost_usd"] = 0.0
    await put_entry(store, A, 5, body)


async def edit_and_rehash_the_rest_of_the_chain(store: Store) -> None:
    body = await body_of(store, A, 5)
    body["status"] = 403
    digest = await put_entry(store, A, 5, body)
    for seq in range(6, 24):
        following = await body_of(store, A, seq)
        following["prev"] = digest
        digest = await put_entry(store, A, seq, following)


async def edit_the_hash_column(store: Store) -> None:
    await raw(store, "UPDATE audit_entries SET hash = ? WHERE chain_id = ? AND seq = 5", "f" * 64, A)


async def edit_an_indexed_column(store: Store) -> None:
    # hides the entry from the subject's export without touching the hashed body
    await raw(store, "UPDATE audit_entries SET subject = 'end_user:x/y' WHERE chain_id = ? AND seq = 5", A)


async def delete_from_the_middle(store: Store) -> None:
    await raw(store, "DELETE FROM audit_entries WHERE chain_id = ? AND seq = 5", A)


async def delete_the_tail(store: Store) -> None:
    await raw(store, "DELETE FROM audit_entries WHERE chain_id = ? AND seq >= 21", A)


async def delete_the_start(store: Store) -> None:
    await raw(store, "DELETE FROM audit_entries WHERE chain_id = ? AND seq <= 5", A)


async def insert_at_the_end(store: Store) -> None:
    last = await body_of(store, A, 23)
    forged = {**last, "seq": 24, "prev": sha256_hex(canonical(last)), "request_id": "forged"}
    await insert_entry(store, A, 24, forged)


async def insert_in_the_middle(store: Store) -> None:
    await raw(store, "UPDATE audit_entries SET seq = seq + 1000 WHERE chain_id = ? AND seq >= 10", A)
    await raw(store, "UPDATE audit_entries SET seq = seq - 999 WHERE chain_id = ? AND seq >= 1000", A)
    previous = await body_of(store, A, 9)
    forged = {**previous, "seq": 10, "prev": sha256_hex(canonical(previous)), "request_id": "forged"}
    forged.pop("payload")
    await insert_entry(store, A, 10, forged)


async def reorder_two_entries(store: Store) -> None:
    await raw(store, "UPDATE audit_entries SET seq = 1000 WHERE chain_id = ? AND seq = 7", A)
    await raw(store, "UPDATE audit_entries SET seq = 7 WHERE chain_id = ? AND seq = 8", A)
    await raw(store, "UPDATE audit_entries SET seq = 8 WHERE chain_id = ? AND seq = 1000", A)


async def move_an_entry_to_another_chain(store: Store) -> None:
    await raw(store, "UPDATE audit_entries SET chain_id = ?, seq = 7 WHERE chain_id = ? AND seq = 5", B, A)


async def swap_chain_heads(store: Store) -> None:
    await raw(store, "UPDATE audit_heads SET chain_id = 'swap' WHERE chain_id = ?", A)
    await raw(store, "UPDATE audit_heads SET chain_id = ? WHERE chain_id = ?", A, B)
    await raw(store, "UPDATE audit_heads SET chain_id = ? WHERE chain_id = 'swap'", B)


async def forge_a_checkpoint(store: Store) -> None:
    seq = (await checkpoint_seqs(store, A))[2]
    await raw(store, "UPDATE audit_checkpoints SET hash = ? WHERE chain_id = ? AND seq = ?", "e" * 64, A, seq)


async def sign_a_checkpoint_with_another_key(store: Store) -> None:
    checkpoint = (await store.audit_checkpoints(A))[2]
    key_id, signature = signer(OTHER_HMAC_KEY).sign(checkpoint_message(checkpoint))
    await raw(
        store,
        "UPDATE audit_checkpoints SET key_id = ?, signature = ? WHERE chain_id = ? AND seq = ?",
        key_id,
        signature,
        A,
        checkpoint.seq,
    )


async def delete_a_checkpoint(store: Store) -> None:
    seq = (await checkpoint_seqs(store, A))[2]
    await raw(store, "DELETE FROM audit_checkpoints WHERE chain_id = ? AND seq = ?", A, seq)


async def delete_the_head(store: Store) -> None:
    await raw(store, "DELETE FROM audit_heads WHERE chain_id = ?", A)


async def roll_back_to_an_older_head(store: Store) -> None:
    """Cut the tail and put back a genuinely signed older head (a copy kept from an earlier backup)."""
    kept = [seq for seq in await checkpoint_seqs(store, A) if seq <= 20]
    body = await body_of(store, A, 20)
    head = await store.audit_head(A)
    assert head is not None
    older = AuditHeadRow(
        A, 20, sha256_hex(canonical(body)), head.ts, kept[-1], False, "", "", head.created_at
    )
    older.key_id, older.signature = signer().sign(head_message(older))
    await raw(store, "DELETE FROM audit_entries WHERE chain_id = ? AND seq > 20", A)
    await raw(store, "DELETE FROM audit_checkpoints WHERE chain_id = ? AND seq > 20", A)
    await raw(
        store,
        "UPDATE audit_heads SET seq = 20, hash = ?, checkpoint_seq = ?, closed = ?, key_id = ?, "
        "signature = ? WHERE chain_id = ?",
        older.hash,
        older.checkpoint_seq,
        False,
        older.key_id,
        older.signature,
        A,
    )


async def delete_a_whole_chain(store: Store) -> None:
    for table in ("audit_entries", "audit_checkpoints", "audit_heads"):
        await raw(store, f"DELETE FROM {table} WHERE chain_id = ?", B)


async def delete_the_start_with_a_forged_prune_marker(store: Store) -> None:
    await raw(store, "DELETE FROM audit_entries WHERE chain_id = ? AND seq <= 5", A)
    body = await body_of(store, A, 6)
    marker = AuditPruneRow(A, 5, body["prev"], body["ts"], "", "")
    marker.key_id, marker.signature = signer(OTHER_HMAC_KEY).sign(prune_message(marker))
    await raw(
        store,
        "INSERT INTO audit_prunes (chain_id, through_seq, hash, ts, key_id, signature) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        A,
        5,
        marker.hash,
        marker.ts,
        marker.key_id,
        marker.signature,
    )


async def edit_a_stored_payload(store: Store) -> None:
    rows = await raw(store, "SELECT seq, sealed FROM audit_payloads WHERE chain_id = ? ORDER BY seq", A)
    seq, sealed = rows[3][0], bytes(rows[3][1])
    await raw(
        store,
        "UPDATE audit_payloads SET sealed = ? WHERE chain_id = ? AND seq = ?",
        sealed[:-1] + bytes([sealed[-1] ^ 1]),
        A,
        seq,
    )


async def move_a_payload_to_another_subject(store: Store) -> None:
    rows = await raw(store, "SELECT seq FROM audit_payloads WHERE chain_id = ? ORDER BY seq", A)
    await raw(
        store,
        "UPDATE audit_payloads SET subject = 'end_user:search/mallory' WHERE chain_id = ? AND seq = ?",
        A,
        rows[2][0],
    )


@dataclass(frozen=True)
class Case:
    tamper: Callable[[Store], Awaitable[None]]
    chain_id: str
    seq: int | Callable[[list[int]], int] | None  # a function of the checkpoint seqs; None: not checked
    kinds: tuple[str, ...]


CASES = {
    "edit a field": Case(edit_a_field, A, 5, ("edited",)),
    "edit and re-hash the entry": Case(edit_and_rehash_the_entry, A, 5, ("edited",)),
    "edit and re-hash the rest of the chain": Case(
        edit_and_rehash_the_rest_of_the_chain, A, lambda seqs: min(s for s in seqs if s >= 5), ("edited",)
    ),
    "edit the hash column": Case(edit_the_hash_column, A, 5, ("edited",)),
    "edit an indexed column": Case(edit_an_indexed_column, A, 5, ("edited",)),
    "delete from the middle": Case(delete_from_the_middle, A, 5, ("missing",)),
    "delete the tail": Case(delete_the_tail, A, 21, ("missing",)),
    "delete the start": Case(delete_the_start, A, 1, ("missing",)),
    "insert at the end": Case(insert_at_the_end, A, 24, ("inserted",)),
    "insert in the middle": Case(insert_in_the_middle, A, 11, ("inserted",)),
    "reorder two entries": Case(reorder_two_entries, A, 7, ("reordered",)),
    "move an entry to another chain (source)": Case(move_an_entry_to_another_chain, A, 5, ("missing",)),
    "move an entry to another chain (target)": Case(
        move_an_entry_to_another_chain, B, 7, ("inserted", "moved")
    ),
    "swap the heads of two chains": Case(swap_chain_heads, A, 6, ("bad_signature",)),  # B's head, at 6
    "forge a checkpoint": Case(forge_a_checkpoint, A, lambda seqs: seqs[2], ("bad_signature",)),
    "sign a checkpoint with another key": Case(
        sign_a_checkpoint_with_another_key, A, lambda seqs: seqs[2], ("unknown_key",)
    ),
    "delete a checkpoint": Case(delete_a_checkpoint, A, lambda seqs: seqs[2], ("checkpoint_missing",)),
    "delete the head": Case(delete_the_head, A, None, ("no_head",)),
    "roll back to an older signed head": Case(roll_back_to_an_older_head, A, 23, ("rolled_back",)),
    "delete a whole chain": Case(delete_a_whole_chain, B, 6, ("chain_missing",)),
    "delete the start behind a forged prune marker": Case(
        delete_the_start_with_a_forged_prune_marker, A, 5, ("unknown_key",)
    ),
    "edit a stored payload": Case(edit_a_stored_payload, A, None, ("payload_edited",)),  # seq: below
    "move a payload to another subject": Case(
        move_a_payload_to_another_subject, A, None, ("payload_edited",)
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_verify_catches_and_locates_tampering(written: Store, name: str) -> None:
    case = CASES[name]
    seqs_before = await checkpoint_seqs(written, case.chain_id)
    await case.tamper(written)
    report = await verify(written)
    assert not report.ok
    problem = first(report, case.chain_id)
    assert problem.kind in case.kinds, str(problem)
    if callable(case.seq):
        assert problem.seq == case.seq(seqs_before), str(problem)
    elif case.seq is not None:
        assert problem.seq == case.seq, str(problem)
    assert case.chain_id in str(problem)


async def test_a_payload_edit_names_its_entry(written: Store) -> None:
    rows = await raw(written, "SELECT seq FROM audit_payloads WHERE chain_id = ? ORDER BY seq", A)
    await edit_a_stored_payload(written)
    problem = first(await verify(written), A)
    assert (problem.kind, problem.seq) == ("payload_edited", rows[3][0])


async def test_a_wrong_key_fails_every_signature(written: Store) -> None:
    report = await verify(written, OTHER_HMAC_KEY)
    assert not report.ok
    chains = {chain.chain_id for chain in report.chains}
    assert chains == {A, A_ADMIN, B, "replica-b/admin", C, "replica-c/admin"}
    for chain_id in chains:
        assert first(report, chain_id).kind == "unknown_key"


async def test_every_case_is_caught(written: Store) -> None:
    """The target: 100% of the tampering cases above are detected (counted in one place)."""
    assert len(CASES) >= 20
    # each case runs on its own database in the parametrized test; this one checks the list covers
    # edits, deletions, insertions, reordering, chain swaps, forged signatures and a wrong key
    kinds = {kind for case in CASES.values() for kind in case.kinds}
    assert {
        "edited",
        "missing",
        "inserted",
        "reordered",
        "bad_signature",
        "unknown_key",
        "rolled_back",
    } <= kinds


async def test_checkpoint_rows_are_signed_over_their_witnesses(written: Store) -> None:
    checkpoint: AuditCheckpointRow = (await written.audit_checkpoints(C))[0]
    assert {w["chain"] for w in checkpoint.witness} >= {A, B}
    await raw(written, "UPDATE audit_checkpoints SET witness = '[]' WHERE chain_id = ? AND seq = 0", C)
    problem = first(await verify(written), C)
    assert (problem.kind, problem.seq) == ("bad_signature", 0)
