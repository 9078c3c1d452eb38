"""Retention deletes by category and keeps the log verifiable; export shows a subject; erase shreds it."""

from __future__ import annotations

import pytest

from bastion.audit.config import RetentionConfig
from bastion.audit.gdpr import erase_subject, export_subject
from bastion.audit.payloads import PayloadVault
from bastion.audit.retention import DAY, Retention
from bastion.audit.verify import Verifier
from bastion.audit.writer import AuditLog
from bastion.store.base import Store
from bastion.store.records import LedgerRow
from tests.unit.audit.conftest import MASTER_KEY, T0, Clock, audit_config, populate, raw, signer


async def write_log(store: Store, clock: Clock, writer_id: str = "w") -> AuditLog:
    log = AuditLog.build(audit_config(payloads="full", master_key=MASTER_KEY), store, writer_id=writer_id)
    log.clock = clock
    await populate(log, requests=12, admin=3)
    return log


async def test_retention_prunes_whole_segments_and_verify_still_passes(store: Store) -> None:
    clock = Clock()
    log = await write_log(store, clock)
    await log.close()
    checkpoints = [c.seq for c in await store.audit_checkpoints("w/requests")]
    clock.now += 40 * DAY
    fresh = AuditLog.build(audit_config(), store, writer_id="later")
    fresh.clock = clock
    await populate(fresh, requests=2, admin=1)
    retention = Retention(
        RetentionConfig(request_days=30, admin_days=365), store, signer(), fresh, clock=clock
    )
    deleted = await retention.run_once()
    assert deleted == {"audit_entries": 12}  # the old requests chain up to its last checkpoint (its head)
    assert checkpoints[-1] == 12
    assert await store.audit_entries("w/requests", 0, 100) == []
    assert len(await store.audit_entries("w/admin", 0, 100)) == 3  # admin entries are kept a year
    report = await Verifier(store, signer()).run()
    assert report.ok, [str(p) for p in report.all_problems]
    pruned = next(chain for chain in report.chains if chain.chain_id == "w/requests")
    assert pruned.pruned_through == 12 and pruned.entries == 0
    assert await retention.run_once() == {"audit_entries": 0}  # idempotent, as for a second replica
    await fresh.flush()
    events = [e.body for e in await store.audit_entries("later/admin", 0, 100)]
    assert any('"event":"retention"' in body for body in events)


async def test_a_partly_expired_chain_is_cut_at_a_checkpoint(store: Store) -> None:
    clock = Clock()
    log = await write_log(store, clock)
    clock.now += 40 * DAY
    await populate(log, requests=3, admin=0)  # the same chain goes on, 40 days later
    await log.close()
    retention = Retention(RetentionConfig(request_days=30), store, signer(), None, clock=clock)
    assert (await retention.run_once())["audit_entries"] == 12
    remaining = await store.audit_entries("w/requests", 0, 100)
    assert [entry.seq for entry in remaining] == [13, 14, 15]
    assert (await Verifier(store, signer()).run()).ok


async def test_payloads_and_ledger_rows_expire_on_their_own_periods(store: Store) -> None:
    clock = Clock()
    log = await write_log(store, clock)
    await log.close()
    await store.write_ledger([LedgerRow("old", ts=T0 - 10 * DAY), LedgerRow("new", ts=T0)])
    retention = Retention(RetentionConfig(payload_days=7, ledger_days=5), store, None, None, clock=clock)
    clock.now += 8 * DAY
    deleted = await retention.run_once()
    assert deleted == {"payloads": 12, "ledger_rows": 2}
    assert await store.audit_subject_payloads("end_user:search/alice") == []
    assert (await Verifier(store, signer()).run()).ok  # the chain only held the payloads' digests


async def test_retention_refuses_a_forged_checkpoint_as_its_anchor(store: Store) -> None:
    clock = Clock()
    log = await write_log(store, clock)
    await log.close()
    seqs = [c.seq for c in await store.audit_checkpoints("w/requests")]
    await raw(
        store, "UPDATE audit_checkpoints SET hash = ? WHERE chain_id = 'w/requests' AND seq = 12", "0" * 64
    )
    clock.now += 40 * DAY
    retention = Retention(RetentionConfig(request_days=30), store, signer(), None, clock=clock)
    assert (await retention.run_once())["audit_entries"] == seqs[-2]  # to the genuine checkpoint before it


async def test_export_then_erase_a_subject(store: Store) -> None:
    clock = Clock()
    log = await write_log(store, clock)
    await store.write_ledger(
        [
            LedgerRow("req-1", ts=T0, key_id="key_1", team_id="search", end_user="alice"),
            LedgerRow(
                "req-x", ts=T0, key_id="key_2", team_id="ads", end_user="alice"
            ),  # another tenant's alice
        ]
    )
    subject = "end_user:search/alice"
    vault = PayloadVault(MASTER_KEY)
    exported = await export_subject(store, subject, vault)
    assert len(exported["audit_entries"]) == 6 and [row["request_id"] for row in exported["ledger"]] == [
        "req-1"
    ]
    assert [p["status"] for p in exported["payloads"]] == ["decrypted"] * 6
    first_payload = exported["payloads"][0]
    assert (
        first_payload["request"]["messages"][0]["content"] == "hello"
        and first_payload["answer"] == "hi there"
    )
    locked = await export_subject(store, subject, None)
    assert {p["status"] for p in locked["payloads"]} == {"encrypted"}

    report = await erase_subject(store, subject, log, "cli:test")
    assert (report["keys_destroyed"], report["payloads_unreadable"]) == (1, 6)
    await log.flush()
    after = await export_subject(store, subject, vault)
    assert {p["status"] for p in after["payloads"]} == {"unreadable"}
    assert "hello" not in str(after["payloads"])
    assert after["subject_keys"][0]["status"] == "erased"
    assert any(entry.get("action") == "audit.erase" for entry in after["audit_entries"])
    assert (await export_subject(store, "end_user:search/carol", vault))["payloads"][0][
        "status"
    ] == "decrypted"
    assert (await Verifier(store, signer()).run()).ok

    # the subject's next request gets a fresh key; the erased payloads stay unreadable
    await populate(log, requests=2, admin=0)
    statuses = [p["status"] for p in (await export_subject(store, subject, vault))["payloads"]]
    assert statuses == ["unreadable"] * 6 + ["decrypted"]
    await log.close()


async def test_export_of_a_user_includes_the_identity_without_secrets(store: Store) -> None:
    from bastion.store.records import UserRecord

    await store.upsert_user(UserRecord("bob", "Bob"))
    await store.write_ledger([LedgerRow("r", ts=T0, user_id="bob")])
    exported = await export_subject(store, "user:bob", None)
    assert exported["identity"]["id"] == "bob" and len(exported["ledger"]) == 1
    with pytest.raises(ValueError):
        await export_subject(store, "bob", None)
