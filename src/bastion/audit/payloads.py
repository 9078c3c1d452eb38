"""Prompts and answers stored encrypted under one data key per subject, so erasing a subject is one delete.

Each subject (an end user, a user, or a key) gets a random AES-256 data key. The database
holds it only wrapped (AES-GCM) under a key derived from ``audit.master_key`` with HKDF, so a
database dump alone opens nothing. A payload is sealed with AES-GCM under its subject's data
key; the audit entry holds only the SHA-256 of the sealed bytes. Erasing a subject destroys
its wrapped keys (crypto-shredding): the sealed payloads stay where they are, unreadable, and
the chain that hashed them still verifies.
"""

from __future__ import annotations

import hashlib
import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bastion.store.audit_base import SubjectKeyRow

_NONCE_BYTES = 12
_WRAP_INFO = b"bastion-audit subject-key wrapping v1"


class VaultError(Exception):
    """A key or payload cannot be opened (wrong master key, or altered bytes); never names key material."""


class PayloadVault:
    def __init__(self, master_key: str) -> None:
        wrapping = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_WRAP_INFO).derive(
            master_key.encode()
        )
        self._wrapper = AESGCM(wrapping)

    def new_key(self, subject: str, now: float) -> tuple[SubjectKeyRow, bytes]:
        """A fresh data key for ``subject``: the row to store (key wrapped) and the key itself."""
        key_id = "sk_" + uuid.uuid4().hex
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE_BYTES)
        wrapped = nonce + self._wrapper.encrypt(nonce, data_key, _key_context(key_id, subject))
        return SubjectKeyRow(key_id=key_id, subject=subject, wrapped=wrapped, created_at=now), data_key

    def unwrap(self, row: SubjectKeyRow) -> bytes | None:
        """The data key of ``row``; None once erased."""
        if row.wrapped is None:
            return None
        nonce, sealed = row.wrapped[:_NONCE_BYTES], row.wrapped[_NONCE_BYTES:]
        try:
            return self._wrapper.decrypt(nonce, sealed, _key_context(row.key_id, row.subject))
        except InvalidTag:
            raise VaultError(
                f"subject key {row.key_id} does not open with this master key (a new key, or an altered row)"
            ) from None

    @staticmethod
    def seal(data_key: bytes, key_id: str, request_id: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + AESGCM(data_key).encrypt(nonce, plaintext, _payload_context(key_id, request_id))

    @staticmethod
    def open(data_key: bytes, key_id: str, request_id: str, sealed: bytes) -> bytes:
        nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            return AESGCM(data_key).decrypt(nonce, body, _payload_context(key_id, request_id))
        except InvalidTag:
            raise VaultError(f"the payload of request {request_id} was altered") from None


def sealed_digest(sealed: bytes) -> str:
    """What the chain records for a stored payload: the SHA-256 of its sealed bytes."""
    return hashlib.sha256(sealed).hexdigest()


def _key_context(key_id: str, subject: str) -> bytes:
    # binds a wrapped key to its row: swapping wrapped keys between subjects fails to open
    return f"subject-key\n{key_id}\n{subject}".encode()


def _payload_context(key_id: str, request_id: str) -> bytes:
    return f"payload\n{key_id}\n{request_id}".encode()
