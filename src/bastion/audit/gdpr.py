"""``bastion audit export|erase --subject S``: everything held about a data subject, and crypto-shredding.

Export gathers the subject's audit entries, stored payloads (decrypted when the master key is
configured and the subject's key still exists), ledger rows and identity record. Erase destroys
the subject's data keys: the sealed payloads stay in place, unreadable by anyone, and the
chain, which hashed only their sealed bytes, still verifies. The erasure itself is audited.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict
from typing import Any

import orjson

from bastion.audit.payloads import PayloadVault, VaultError
from bastion.audit.subjects import parse_subject
from bastion.audit.writer import AuditLog
from bastion.store.audit_base import AuditPayloadRow, SubjectKeyRow
from bastion.store.base import Store


def _iso(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat() if ts is not None else None


async def export_subject(store: Store, subject: str, vault: PayloadVault | None) -> dict[str, Any]:
    """Everything stored about ``subject`` as one JSON-able document."""
    parsed = parse_subject(subject)
    entries = await store.audit_subject_entries(subject)
    keys = await store.subject_keys(subject)
    payloads = await store.audit_subject_payloads(subject)
    ledger = await store.subject_ledger_rows(
        end_user=parsed.ident if parsed.kind == "end_user" else None,
        tenant=parsed.tenant,
        user_id=parsed.ident if parsed.kind == "user" else None,
        key_id=parsed.ident if parsed.kind == "key" else None,
    )
    identity: dict[str, Any] | None = None
    if parsed.kind == "user":
        user = await store.get_user(parsed.ident)
        identity = asdict(user) if user is not None else None
    elif parsed.kind == "key":
        key = await store.get_key(parsed.ident)
        if key is not None:
            identity = asdict(key)
            identity.pop("digest")  # a digest of the secret is no business of the export
    by_id = {key.key_id: key for key in keys}
    return {
        "subject": subject,
        "exported_at": _iso(time.time()),
        "identity": identity,
        "subject_keys": [
            {
                "key_id": key.key_id,
                "created_at": _iso(key.created_at),
                "erased_at": _iso(key.erased_at),
                "status": "erased" if key.wrapped is None else "active",
            }
            for key in keys
        ],
        "audit_entries": [
            {"chain_id": entry.chain_id, "seq": entry.seq, "hash": entry.hash, **orjson.loads(entry.body)}
            for entry in entries
        ],
        "payloads": [_payload(row, by_id.get(row.key_id), vault) for row in payloads],
        "ledger": [asdict(row) for row in ledger],
    }


def _payload(row: AuditPayloadRow, key: SubjectKeyRow | None, vault: PayloadVault | None) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "chain_id": row.chain_id,
        "seq": row.seq,
        "request_id": row.request_id,
        "ts": _iso(row.ts),
    }
    if key is None or key.wrapped is None:
        return {**shown, "status": "unreadable", "reason": "the subject's key was erased"}
    if vault is None:
        return {**shown, "status": "encrypted", "reason": "no master key configured (audit.master_key)"}
    try:
        data_key = vault.unwrap(key)
        assert data_key is not None
        plaintext = orjson.loads(PayloadVault.open(data_key, key.key_id, row.request_id, row.sealed))
    except VaultError as error:
        return {**shown, "status": "unreadable", "reason": str(error)}
    return {
        **shown,
        "status": "decrypted",
        "request": plaintext.get("request"),
        "answer": plaintext.get("answer"),
    }


async def erase_subject(store: Store, subject: str, audit: AuditLog | None, actor: str) -> dict[str, Any]:
    """Destroy ``subject``'s data keys and audit it; report what became unreadable and what is kept."""
    parse_subject(subject)
    payloads = await store.audit_subject_payloads(subject)
    readable = {key.key_id for key in await store.subject_keys(subject) if key.wrapped is not None}
    destroyed = await store.erase_subject_keys(subject, time.time())
    unreadable = sum(1 for payload in payloads if payload.key_id in readable)
    entries = await store.audit_subject_entries(subject)
    summary = {"keys_destroyed": destroyed, "payloads_unreadable": unreadable}
    if audit is not None:
        audit.record_admin(actor, "audit.erase", subject, summary, subject=subject)
    return {
        "subject": subject,
        **summary,
        "kept": {
            "audit_entries": len(entries),
            "note": (
                "audit entries (metadata and digests, no prompt or answer) and ledger rows stay until "
                "their retention period ends; they keep the chain verifiable and the accounts whole"
            ),
        },
    }
